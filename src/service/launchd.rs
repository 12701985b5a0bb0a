//! launchd: the property list (one template for the LaunchAgent and the
//! LaunchDaemon), the `launchctl` argument vectors and the parsing of
//! `launchctl print`. Plain functions, compiled and tested on every platform;
//! only the calls to `launchctl` are macOS-only (in `service`).

use super::{Scope, UnitSpec};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) const LABEL: &str = "com.rogue-hunter.daemon";
pub(crate) const PLIST_NAME: &str = "com.rogue-hunter.daemon.plist";
pub(crate) const LAUNCHCTL: &str = "/bin/launchctl";

/// Escape text for an XML text node.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The property list for `spec`: run `rogue-hunter daemon` at load, restart it
/// when it exits with a failure (not after a clean SIGTERM), log its console
/// output next to its JSON log.
pub(crate) fn plist(spec: &UnitSpec) -> String {
    let s = |p: &std::path::Path| xml_escape(&p.to_string_lossy());
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    // (No double hyphen may appear inside an XML comment.)
    let how = match spec.scope {
        Scope::User => "service install",
        Scope::System => "service install, machine-wide",
    };
    let _ = writeln!(
        x,
        "<!-- Written by rogue-hunter ({how}); rogue-hunter service uninstall removes it. -->"
    );
    x.push_str("<plist version=\"1.0\">\n<dict>\n");
    let _ = writeln!(x, "  <key>Label</key>\n  <string>{LABEL}</string>");
    x.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    let _ = writeln!(x, "    <string>{}</string>", s(&spec.exe));
    x.push_str("    <string>daemon</string>\n  </array>\n");
    if let Some(user) = &spec.user {
        let _ = writeln!(
            x,
            "  <key>UserName</key>\n  <string>{}</string>",
            xml_escape(user)
        );
    }
    x.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
    for (k, v) in spec.environment() {
        let _ = writeln!(
            x,
            "    <key>{k}</key>\n    <string>{}</string>",
            xml_escape(&v.to_string_lossy())
        );
    }
    x.push_str("  </dict>\n");
    x.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    x.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    x.push_str("  <key>ThrottleInterval</key>\n  <integer>10</integer>\n");
    // A capture in progress finishes within its timeouts before exit.
    x.push_str("  <key>ExitTimeOut</key>\n  <integer>45</integer>\n");
    let log = spec.paths.state_dir.join("launchd.log");
    let _ = writeln!(
        x,
        "  <key>StandardOutPath</key>\n  <string>{}</string>",
        s(&log)
    );
    let _ = writeln!(
        x,
        "  <key>StandardErrorPath</key>\n  <string>{}</string>",
        s(&log)
    );
    x.push_str("</dict>\n</plist>\n");
    x
}

/// The launchd domain of `scope`: `gui/<uid>` or `system`.
pub(crate) fn domain(scope: Scope, uid: u32) -> String {
    match scope {
        Scope::User => format!("gui/{uid}"),
        Scope::System => "system".into(),
    }
}

/// `launchctl bootstrap <domain> <plist>`.
pub(crate) fn bootstrap_args(scope: Scope, uid: u32, plist: &std::path::Path) -> Vec<String> {
    vec![
        "bootstrap".into(),
        domain(scope, uid),
        plist.to_string_lossy().into_owned(),
    ]
}

/// `launchctl <verb> <domain>/<label>` (bootout, print, kickstart).
pub(crate) fn service_args(verb: &str, scope: Scope, uid: u32) -> Vec<String> {
    vec![verb.into(), format!("{}/{LABEL}", domain(scope, uid))]
}

/// The top-level `key = value` lines of `launchctl print` (nested blocks
/// skipped).
pub(crate) fn parse_print(text: &str) -> BTreeMap<String, String> {
    let mut depth = 0usize;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if t.ends_with('{') {
            depth += 1;
            continue;
        }
        if t == "}" {
            depth = depth.saturating_sub(1);
            continue;
        }
        if depth == 1
            && let Some((k, v)) = t.split_once(" = ")
        {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// One line summing up `launchctl print`, e.g. "running, pid 501, last exit code 0".
pub(crate) fn describe(print: &BTreeMap<String, String>) -> String {
    let mut parts = vec![
        print
            .get("state")
            .cloned()
            .unwrap_or_else(|| "unknown state".into()),
    ];
    if let Some(pid) = print.get("pid") {
        parts.push(format!("pid {pid}"));
    }
    if let Some(runs) = print.get("runs") {
        parts.push(format!("{runs} runs"));
    }
    if let Some(code) = print.get("last exit code") {
        parts.push(format!("last exit code {code}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_args() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(
            bootstrap_args(Scope::User, 501, std::path::Path::new("/p.plist")),
            ["bootstrap", "gui/501", "/p.plist"]
        );
        assert_eq!(
            service_args("bootout", Scope::System, 0),
            ["bootout", "system/com.rogue-hunter.daemon"]
        );
    }

    #[test]
    fn print_output_is_summed_up() {
        let text = "gui/501/com.rogue-hunter.daemon = {\n\tactive count = 1\n\tpath = /Users/a/Library/LaunchAgents/com.rogue-hunter.daemon.plist\n\
                    \tstate = running\n\n\tprogram = /usr/local/bin/rogue-hunter\n\targuments = {\n\t\t/usr/local/bin/rogue-hunter\n\t\tdaemon\n\t}\n\
                    \truns = 2\n\tpid = 812\n\tlast exit code = 0\n}\n";
        let p = parse_print(text);
        assert_eq!(p.get("state").map(String::as_str), Some("running"));
        assert_eq!(describe(&p), "running, pid 812, 2 runs, last exit code 0");
    }
}
