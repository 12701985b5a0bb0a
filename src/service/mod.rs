//! Running rogue-hunter as a service: a systemd unit (Linux) or a launchd
//! property list (macOS), installed idempotently, enabled and started through
//! `systemctl`/`launchctl` (argument vectors, never a shell), removed on
//! uninstall, and reported on by `service status`.
//!
//! The file contents come from one template per service manager
//! (`systemd::unit`, `launchd::plist`), compiled and snapshot-tested on every
//! platform. This module owns where the files go, writing them without
//! clobbering local changes, and talking to the service manager.

// Compiled and snapshot-tested on every platform; only macOS calls launchctl.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) mod launchd;
pub(crate) mod systemd;

use crate::config::{self, Paths};
use crate::sys::{
    self,
    tool::{Tool, ToolEnv, ToolError, ToolOutput, find_in_path},
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds of `WatchdogSec=`: the daemon pings at half of it.
pub(crate) const WATCHDOG_SEC: u32 = 30;
/// How long a `systemctl`/`launchctl`/`visudo` call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment overrides (used by tests, and for unusual layouts).
pub(crate) const SYSTEMD_DIR_ENV: &str = "ROGUE_HUNTER_SYSTEMD_DIR";
pub(crate) const LAUNCHD_DIR_ENV: &str = "ROGUE_HUNTER_LAUNCHD_DIR";
pub(crate) const SYSTEMCTL_ENV: &str = "ROGUE_HUNTER_SYSTEMCTL";

/// Per-user service or machine-wide (root) service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    User,
    System,
}

/// Which service manager a platform has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    pub(crate) fn current() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    /// A root-only action run without root.
    #[error("{0}")]
    NeedsRoot(String),
    /// An existing file differs from what would be written (no --force).
    #[error(
        "{path} exists and differs from what this version would write (local changes?):\n{diff}\nnothing changed; run again with --force to overwrite it"
    )]
    Differs { path: PathBuf, diff: String },
    #[error("$HOME is not set: cannot place the user service")]
    NoHome,
    #[error("{} has no directory", .path.display())]
    NoDirectory { path: PathBuf },
    /// A file or directory could not be read, created, written or moved;
    /// `action` says which ("cannot {action} {path}").
    #[error("cannot {action} {}: {source}", .path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A checking tool (`visudo`) could not run.
    #[error("cannot run {}: {}", .tool.display(), .source.reason())]
    Tool { tool: PathBuf, source: ToolError },
    /// `visudo` refused the generated sudoers rule.
    #[error("visudo rejected the generated rule for {}: {why}", .file.display())]
    Rejected { file: PathBuf, why: String },
    #[error("{0}")]
    Usage(String),
}

/// Why the service manager (`systemctl`, `launchctl`) did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagerError {
    #[error("systemctl not found in PATH")]
    NoSystemctl,
    #[cfg(not(target_os = "macos"))]
    #[error("launchctl exists only on macOS")]
    NoLaunchctl,
    /// The call (shown as typed) could not run.
    #[error("{shown}: {}", .source.reason())]
    Run { shown: String, source: ToolError },
    /// The call ran and failed; `why` is its exit and first line, escaped.
    #[error("{shown}: {why}")]
    Failed { shown: String, why: String },
}

impl ManagerError {
    /// `shown` ran and failed with `output`.
    pub(crate) fn failed(shown: String, output: &ToolOutput) -> ManagerError {
        ManagerError::Failed {
            shown,
            why: crate::format::escape(&output.why()),
        }
    }
}

/// Everything a unit file or property list says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnitSpec {
    pub(crate) scope: Scope,
    /// The rogue-hunter binary to run.
    pub(crate) exe: PathBuf,
    /// The daemon's directories (the unit pins the XDG variables to them).
    pub(crate) paths: Paths,
    /// Run as this user (system units only).
    pub(crate) user: Option<String>,
    pub(crate) watchdog_sec: u32,
}

impl UnitSpec {
    /// XDG variables that make the daemon use `paths`. User services get
    /// `$XDG_RUNTIME_DIR` from their session; system services get it too.
    pub(crate) fn environment(&self) -> Vec<(&'static str, PathBuf)> {
        let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut env = vec![
            ("XDG_CONFIG_HOME", parent(&parent(&self.paths.config_file))),
            ("XDG_DATA_HOME", parent(&self.paths.data_dir)),
            ("XDG_STATE_HOME", parent(&self.paths.state_dir)),
        ];
        if self.scope == Scope::System {
            env.push(("XDG_RUNTIME_DIR", parent(&self.paths.runtime_dir)));
        }
        env
    }
}

/// Where a system service keeps its files.
pub(crate) fn system_paths(manager: Manager) -> Paths {
    let (config, data, state, runtime) = match manager {
        Manager::Systemd => ("/etc", "/var/lib", "/var/log", "/run"),
        Manager::Launchd => (
            "/etc",
            "/Library/Application Support",
            "/Library/Logs",
            "/var/run",
        ),
    };
    let app = |base: &str| Path::new(base).join(config::APP);
    Paths {
        config_file: app(config).join("config.toml"),
        data_dir: app(data),
        state_dir: app(state),
        runtime_dir: app(runtime),
    }
}

/// The paths of the service in `scope`: the user's own, or the system ones.
pub(crate) fn scope_paths(scope: Scope, manager: Manager, user_paths: &Paths) -> Paths {
    match scope {
        Scope::User => user_paths.clone(),
        Scope::System => system_paths(manager),
    }
}

/// Directory holding the unit file or property list.
pub(crate) fn unit_dir(
    manager: Manager,
    scope: Scope,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ServiceError> {
    let abs = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let home = || abs("HOME").ok_or(ServiceError::NoHome);
    Ok(match (manager, scope) {
        (Manager::Systemd, _) if abs(SYSTEMD_DIR_ENV).is_some() => {
            abs(SYSTEMD_DIR_ENV).unwrap_or_default()
        }
        (Manager::Launchd, _) if abs(LAUNCHD_DIR_ENV).is_some() => {
            abs(LAUNCHD_DIR_ENV).unwrap_or_default()
        }
        (Manager::Systemd, Scope::User) => match abs("XDG_CONFIG_HOME") {
            Some(c) => c.join("systemd/user"),
            None => home()?.join(".config/systemd/user"),
        },
        (Manager::Systemd, Scope::System) => PathBuf::from("/etc/systemd/system"),
        (Manager::Launchd, Scope::User) => home()?.join("Library/LaunchAgents"),
        (Manager::Launchd, Scope::System) => PathBuf::from("/Library/LaunchDaemons"),
    })
}

/// The unit file or property list path.
pub(crate) fn unit_file(manager: Manager, dir: &Path) -> PathBuf {
    match manager {
        Manager::Systemd => dir.join(systemd::UNIT_NAME),
        Manager::Launchd => dir.join(launchd::PLIST_NAME),
    }
}

/// The file's content for `spec`.
pub(crate) fn render(manager: Manager, spec: &UnitSpec) -> String {
    match manager {
        Manager::Systemd => systemd::unit(spec),
        Manager::Launchd => launchd::plist(spec),
    }
}

/// Refuse paths a unit file cannot carry safely.
pub(crate) fn check_path(what: &str, p: &Path) -> Result<(), ServiceError> {
    let text = p
        .to_str()
        .ok_or_else(|| ServiceError::Usage(format!("{what} {} is not valid UTF-8", p.display())))?;
    if !p.is_absolute() || text.chars().any(char::is_control) {
        return Err(ServiceError::Usage(format!(
            "{what} {} must be an absolute path without control characters",
            crate::format::escape(text)
        )));
    }
    Ok(())
}

/// What `place_file` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileChange {
    Created,
    Unchanged,
    Replaced,
}

/// Write `content` to `path` unless it is already there; an existing file
/// with other content is kept (and its difference reported) unless `force`.
/// Writes go to a temporary file in the same directory, then rename.
pub(crate) fn place_file(
    path: &Path,
    content: &str,
    mode: u32,
    force: bool,
) -> Result<FileChange, ServiceError> {
    let change = match std::fs::read_to_string(path) {
        Ok(old) if old == content => return Ok(FileChange::Unchanged),
        Ok(old) if !force => {
            return Err(ServiceError::Differs {
                path: path.to_path_buf(),
                diff: line_diff(&old, content),
            });
        }
        Ok(_) => FileChange::Replaced,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileChange::Created,
        Err(source) => {
            return Err(ServiceError::File {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    write_atomic(path, content.as_bytes(), mode)?;
    Ok(change)
}

/// Write through a hidden temporary file in the same directory and rename.
pub(crate) fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), ServiceError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| ServiceError::NoDirectory {
        path: path.to_path_buf(),
    })?;
    std::fs::create_dir_all(dir).map_err(|source| ServiceError::File {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(content).and_then(|_| f.sync_all()))
        .and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        })
        .and_then(|_| std::fs::rename(&tmp, path));
    written.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ServiceError::File {
            action: "write",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Lines only in `old` (`-`) and only in `new` (`+`), in order (a longest
/// common subsequence diff; the files are small).
pub(crate) fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("  + {}", crate::format::escape(b[j])));
            j += 1;
        } else {
            out.push(format!("  - {}", crate::format::escape(a[i])));
            i += 1;
        }
    }
    out.join("\n")
}

/// A service-manager call (`systemctl`, `launchctl`, `visudo`): our own
/// environment kept (`systemctl --user` needs the session bus address), at
/// most 30 s.
pub(crate) fn manager_tool(program: &Path) -> Tool {
    Tool::new(program)
        .env(ToolEnv::Inherit)
        .timeout(TOOL_TIMEOUT)
}

/// Fail unless running as root, naming the action.
pub(crate) fn require_root(action: &str) -> Result<(), ServiceError> {
    if sys::euid() == 0 {
        Ok(())
    } else {
        Err(ServiceError::NeedsRoot(format!(
            "`rogue-hunter {action}` changes the whole machine and needs root: run it with sudo"
        )))
    }
}

/// The user a root-run install is for: `$SUDO_USER` when it names a real
/// non-root user, else `None` (root itself).
pub(crate) fn invoking_user(var: impl Fn(&str) -> Option<OsString>) -> Option<(String, u32)> {
    let name = var("SUDO_USER")?.into_string().ok()?;
    if name.is_empty() || name == "root" {
        return None;
    }
    let uid = sys::lookup_user(&name)?;
    (uid != 0).then_some((name, uid))
}

/// The `systemctl` to call: `$ROGUE_HUNTER_SYSTEMCTL` (tests), else the one
/// in `$PATH`.
pub(crate) fn systemctl() -> Option<PathBuf> {
    match std::env::var_os(SYSTEMCTL_ENV).filter(|v| !v.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => find_in_path("systemctl"),
    }
}

/// Outcome of calling the service manager: `Ok` lines, or why it could not.
pub(crate) type ManagerResult = Result<Vec<String>, ManagerError>;

/// Run a sequence of `systemctl` calls, stopping at the first failure.
pub(crate) fn systemctl_steps(
    program: Option<&Path>,
    scope: Scope,
    steps: &[&[&str]],
) -> ManagerResult {
    let program = program.ok_or(ManagerError::NoSystemctl)?;
    let mut done = Vec::new();
    for step in steps {
        let args = systemd::systemctl_args(scope, step);
        let shown = format!("systemctl {}", args.join(" "));
        let r = match manager_tool(program).args(&args).output() {
            Ok(r) => r,
            Err(source) => return Err(ManagerError::Run { shown, source }),
        };
        if !r.success() {
            return Err(ManagerError::failed(shown, &r));
        }
        done.push(shown);
    }
    Ok(done)
}

/// How to do by hand what `service install` could not.
pub(crate) fn manual_start(manager: Manager, scope: Scope, file: &Path) -> String {
    match manager {
        Manager::Systemd => {
            let u = if scope == Scope::User { "--user " } else { "" };
            format!(
                "systemctl {u}daemon-reload && systemctl {u}enable --now {}",
                systemd::UNIT_NAME
            )
        }
        Manager::Launchd => {
            let domain = launchd::domain(scope, sys::current_uid());
            format!("launchctl bootstrap {domain} {}", file.display())
        }
    }
}

/// `launchctl` calls (macOS only).
#[cfg(target_os = "macos")]
pub(crate) fn launchctl(args: &[String]) -> Result<ToolOutput, ManagerError> {
    manager_tool(Path::new(launchd::LAUNCHCTL))
        .args(args)
        .output()
        .map_err(|source| ManagerError::Run {
            shown: launchd::LAUNCHCTL.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scope: Scope, manager: Manager) -> UnitSpec {
        let user = Paths {
            config_file: "/home/ana/.config/rogue-hunter/config.toml".into(),
            data_dir: "/home/ana/.local/share/rogue-hunter".into(),
            state_dir: "/home/ana/.local/state/rogue-hunter".into(),
            runtime_dir: "/run/user/1000/rogue-hunter".into(),
        };
        UnitSpec {
            scope,
            exe: "/home/ana/.cargo/bin/rogue-hunter".into(),
            paths: scope_paths(scope, manager, &user),
            user: (scope == Scope::System && manager == Manager::Systemd)
                .then(|| "ana".to_string()),
            watchdog_sec: WATCHDOG_SEC,
        }
    }

    #[test]
    fn systemd_user_unit() {
        insta::assert_snapshot!(systemd::unit(&spec(Scope::User, Manager::Systemd)));
    }

    #[test]
    fn systemd_system_unit() {
        insta::assert_snapshot!(systemd::unit(&spec(Scope::System, Manager::Systemd)));
    }

    #[test]
    fn systemd_capabilities_drop_in() {
        insta::assert_snapshot!(systemd::capabilities_drop_in());
    }

    #[test]
    fn launchd_user_plist() {
        insta::assert_snapshot!(launchd::plist(&spec(Scope::User, Manager::Launchd)));
    }

    #[test]
    fn launchd_system_plist() {
        insta::assert_snapshot!(launchd::plist(&spec(Scope::System, Manager::Launchd)));
    }

    #[test]
    fn odd_paths_are_quoted_or_refused() {
        let mut s = spec(Scope::User, Manager::Systemd);
        s.exe = "/opt/my tools/100%/rogue-hunter".into();
        let unit = systemd::unit(&s);
        assert!(
            unit.contains("ExecStart=\"/opt/my tools/100%%/rogue-hunter\" daemon"),
            "{unit}"
        );
        s.exe = "/opt/<x>&/rh".into();
        assert!(launchd::plist(&s).contains("<string>/opt/&lt;x&gt;&amp;/rh</string>"));
        assert!(check_path("binary", Path::new("/a\nb")).is_err());
        assert!(check_path("binary", Path::new("rel/rh")).is_err());
        assert!(check_path("binary", Path::new("/usr/bin/rh")).is_ok());
    }

    #[test]
    fn unit_locations() {
        let env = |k: &str| -> Option<OsString> {
            match k {
                "HOME" => Some("/home/ana".into()),
                "XDG_CONFIG_HOME" => Some("/x/cfg".into()),
                _ => None,
            }
        };
        let d = unit_dir(Manager::Systemd, Scope::User, env).unwrap();
        assert_eq!(
            unit_file(Manager::Systemd, &d),
            PathBuf::from("/x/cfg/systemd/user/rogue-hunter.service")
        );
        let d = unit_dir(Manager::Systemd, Scope::System, env).unwrap();
        assert_eq!(d, PathBuf::from("/etc/systemd/system"));
        let d = unit_dir(Manager::Launchd, Scope::User, env).unwrap();
        assert_eq!(
            unit_file(Manager::Launchd, &d),
            PathBuf::from("/home/ana/Library/LaunchAgents/com.rogue-hunter.daemon.plist")
        );
        let over =
            |k: &str| -> Option<OsString> { (k == SYSTEMD_DIR_ENV).then(|| "/tmp/units".into()) };
        assert_eq!(
            unit_dir(Manager::Systemd, Scope::System, over).unwrap(),
            PathBuf::from("/tmp/units")
        );
        assert!(unit_dir(Manager::Launchd, Scope::User, |_| None).is_err());
    }

    #[test]
    fn place_file_is_idempotent_and_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/u.service");
        assert_eq!(
            place_file(&p, "a\nb\n", 0o644, false).unwrap(),
            FileChange::Created
        );
        assert_eq!(
            place_file(&p, "a\nb\n", 0o644, false).unwrap(),
            FileChange::Unchanged
        );
        std::fs::write(&p, "a\nlocal\nb\n").unwrap();
        let err = place_file(&p, "a\nb\nc\n", 0o644, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("u.service") && err.contains("  - local") && err.contains("  + c"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "a\nlocal\nb\n",
            "kept"
        );
        assert_eq!(
            place_file(&p, "a\nb\nc\n", 0o644, true).unwrap(),
            FileChange::Replaced
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\nc\n");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn tools_run_without_a_shell() {
        let r = manager_tool(Path::new("/bin/echo"))
            .args(["a;b", "$(id)"])
            .output()
            .unwrap();
        assert!(r.success());
        assert_eq!(r.stdout_text(), "a;b $(id)\n");
        let r = manager_tool(Path::new("/bin/false")).output().unwrap();
        assert!(!r.success() && r.why().starts_with("exit 1"));
        assert!(systemctl_steps(None, Scope::User, &[&["daemon-reload"]]).is_err());
        let ok = systemctl_steps(
            Some(Path::new("/bin/true")),
            Scope::User,
            &[&["daemon-reload"], &["enable", "--now", systemd::UNIT_NAME]],
        )
        .unwrap();
        assert_eq!(ok[1], "systemctl --user enable --now rogue-hunter.service");
    }
}
