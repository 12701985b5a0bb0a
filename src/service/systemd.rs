//! systemd: the unit file (one template for the user and the system unit), its
//! quoting rules, the `systemctl` argument vectors and the parsing of
//! `systemctl show`. Plain functions, tested on every platform; running
//! `systemctl` is the caller's business (see `service::manager_tool`).

use super::{Scope, UnitSpec};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub(crate) const UNIT_NAME: &str = "rogue-hunter.service";
/// Drop-in written by `perms install --system` (capabilities for forensics).
pub(crate) const CAPABILITIES_DROP_IN: &str = "forensics-capabilities.conf";
/// Properties `service status` asks `systemctl show` for.
pub(crate) const SHOW_PROPERTIES: &str = "LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainStartTimestamp,NRestarts,Result,StatusText,FragmentPath";

/// Quote one word for a unit file: inside double quotes, `\` and `"` escaped,
/// `%` doubled (specifiers) and, for command lines, `$` doubled (variables).
pub(crate) fn quote(word: &str, command_line: bool) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if command_line => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path_word(p: &Path) -> String {
    quote(&p.to_string_lossy(), false)
}

/// The unit for `spec`. User units run in the user's session manager with the
/// user's XDG directories; the system unit keeps its files in `/var/lib`,
/// `/var/log` and `/run` (created by systemd) and runs as `spec.user` when set.
pub(crate) fn unit(spec: &UnitSpec) -> String {
    let mut u = String::new();
    let how = match spec.scope {
        Scope::User => "service install",
        Scope::System => "service install --system",
    };
    let _ = writeln!(
        u,
        "# Written by `rogue-hunter {how}`; `rogue-hunter service uninstall` removes it.\n\
         # Local changes are reported, not overwritten, unless --force is given."
    );
    u.push_str("[Unit]\n");
    u.push_str(
        "Description=rogue-hunter: finds the process behind a slow machine and keeps the evidence\n",
    );
    u.push_str("Documentation=man:rogue-hunter(1)\n");
    if spec.scope == Scope::System {
        u.push_str("After=local-fs.target\n");
    }
    u.push_str("\n[Service]\n");
    u.push_str("Type=notify\nNotifyAccess=main\n");
    let _ = writeln!(
        u,
        "ExecStart={} daemon",
        quote(&spec.exe.to_string_lossy(), true)
    );
    if let Some(user) = &spec.user {
        let _ = writeln!(u, "User={user}");
    }
    let env: Vec<String> = spec
        .environment()
        .into_iter()
        .map(|(k, v)| quote(&format!("{k}={}", v.to_string_lossy()), false))
        .collect();
    let _ = writeln!(u, "Environment={}", env.join(" "));
    let _ = writeln!(u, "WatchdogSec={}", spec.watchdog_sec);
    u.push_str("Restart=on-failure\nRestartSec=5\n");
    // A capture in progress finishes within its timeouts before exit.
    u.push_str("TimeoutStopSec=45\n");
    u.push_str("# The live-stream socket's directory ($XDG_RUNTIME_DIR/rogue-hunter or /run/rogue-hunter).\n");
    u.push_str("RuntimeDirectory=rogue-hunter\nRuntimeDirectoryMode=0700\n");
    if spec.scope == Scope::System {
        u.push_str("StateDirectory=rogue-hunter\nStateDirectoryMode=0700\n");
        u.push_str("LogsDirectory=rogue-hunter\nLogsDirectoryMode=0700\n");
    }
    u.push_str("# Hardening: read-only system and home, writable only where rogue-hunter keeps its files.\n");
    u.push_str(
        "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\n",
    );
    // `-`: a missing directory does not stop the unit (the daemon then names it).
    let rw: Vec<String> = [&spec.paths.data_dir, &spec.paths.state_dir]
        .into_iter()
        .map(|p| format!("-{}", path_word(p)))
        .collect();
    let _ = writeln!(u, "ReadWritePaths={}", rw.join(" "));
    u.push_str("\n[Install]\n");
    let _ = writeln!(
        u,
        "WantedBy={}",
        match spec.scope {
            Scope::User => "default.target",
            Scope::System => "multi-user.target",
        }
    );
    u
}

/// The drop-in `perms install --system` writes next to the system unit: the
/// capabilities that let an unprivileged service read other users' /proc
/// files (never sudo).
pub(crate) fn capabilities_drop_in() -> String {
    "# Written by `rogue-hunter perms install --system`; `rogue-hunter perms uninstall --system` removes it.\n\
     # Lets the service read other users' /proc/PID/{io,fd,smaps_rollup,stack} for forensic captures:\n\
     #   CAP_SYS_PTRACE      ptrace-mode read access to other users' processes\n\
     #   CAP_DAC_READ_SEARCH read and list their 0400/0500 /proc files and directories\n\
     # (kernel stacks also need CAP_SYS_ADMIN, which this rule does not grant).\n\
     [Service]\n\
     AmbientCapabilities=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n\
     CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n"
        .to_string()
}

/// `systemctl` arguments for `scope`, then `rest`.
pub(crate) fn systemctl_args(scope: Scope, rest: &[&str]) -> Vec<String> {
    let mut args = Vec::with_capacity(rest.len() + 1);
    if scope == Scope::User {
        args.push("--user".to_string());
    }
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// `KEY=VALUE` lines of `systemctl show`.
pub(crate) fn parse_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// One line summing up `systemctl show`, e.g. "active (running) since …, pid
/// 1234, enabled, 0 restarts".
pub(crate) fn describe(show: &BTreeMap<String, String>) -> String {
    let get = |k: &str| show.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("LoadState") == Some("not-found") {
        return "not loaded (systemd does not know the unit: run `daemon-reload`?)".into();
    }
    let mut parts = Vec::new();
    match (get("ActiveState"), get("SubState")) {
        (Some(a), Some(s)) => parts.push(format!("{a} ({s})")),
        (Some(a), None) => parts.push(a.to_string()),
        _ => parts.push("unknown state".into()),
    }
    if let Some(t) = get("ExecMainStartTimestamp") {
        parts[0] = format!("{} since {t}", parts[0]);
    }
    if let Some(pid) = get("MainPID").filter(|p| *p != "0") {
        parts.push(format!("pid {pid}"));
    }
    if let Some(f) = get("UnitFileState") {
        parts.push(f.to_string());
    }
    if let Some(n) = get("NRestarts") {
        parts.push(format!("{n} restarts"));
    }
    if let Some(r) = get("Result").filter(|r| *r != "success") {
        parts.push(format!("last result {r}"));
    }
    if let Some(s) = get("StatusText") {
        parts.push(format!("\"{}\"", crate::format::escape(s)));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/opt/a b/rh", true), "\"/opt/a b/rh\"");
        assert_eq!(quote("100%$x\"\\", true), "\"100%%$$x\\\"\\\\\"");
        assert_eq!(quote("$x", false), "\"$x\"");
    }

    #[test]
    fn systemctl_scopes() {
        assert_eq!(
            systemctl_args(Scope::User, &["enable", "--now", UNIT_NAME]),
            ["--user", "enable", "--now", "rogue-hunter.service"]
        );
        assert_eq!(
            systemctl_args(Scope::System, &["daemon-reload"]),
            ["daemon-reload"]
        );
    }

    #[test]
    fn show_output_is_summed_up() {
        let show = parse_show(
            "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=4321\n\
             ExecMainStartTimestamp=Tue 2026-11-24 17:00:00 UTC\nNRestarts=0\nResult=success\nStatusText=9 samples, 0 open events\n",
        );
        assert_eq!(
            describe(&show),
            "active (running) since Tue 2026-11-24 17:00:00 UTC, pid 4321, enabled, 0 restarts, \"9 samples, 0 open events\""
        );
        let failed = parse_show(
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nResult=watchdog\n",
        );
        assert_eq!(describe(&failed), "failed (failed), last result watchdog");
        assert!(describe(&parse_show("LoadState=not-found\n")).starts_with("not loaded"));
    }
}
