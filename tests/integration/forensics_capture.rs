//! Forensic captures end to end: a real daemon in an isolated XDG sandbox, a
//! real multi-threaded hog, and the capture read back through `events show
//! --forensics` — as root (kernel stacks), as nobody (denied, still recorded),
//! with a hostile process name, and without journalctl/dmesg on PATH.

use crate::common::{Hog, Sandbox, poll};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bands low enough that the hog (two spinning threads and a waking one) turns
/// critical within a second or two. `critical` stays above what a one-core
/// process can score (~58 on a 2-core machine), because the debounce is global:
/// on a shared machine another busy process reaching critical first would take
/// the daemon's only capture (`run_until_captured` retries when that happens).
const CONFIG: &str = "\
[bands]
medium = 20.0
elevated = 30.0
high = 45.0
critical = 58.0
exit_stability_samples = 3
event_cooldown_seconds = 0.0

[system]
forensics_debounce = 600.0

[forensics]
source_timeout = 5.0
log_window_minutes = 1.0
";

const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

struct Daemon {
    child: Child,
}

impl Daemon {
    /// Start the daemon in `sb`, optionally as nobody and with extra env.
    fn start(sb: &Sandbox, as_nobody: bool, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let mut c = sb.cmd();
        c.arg("daemon");
        for (k, v) in env {
            c.env(k, v);
        }
        let mut cmd = if as_nobody {
            let mut w = Command::new("setpriv");
            w.args(NOBODY).arg(c.get_program()).arg("daemon");
            for (k, v) in c.get_envs() {
                match v {
                    Some(v) => w.env(k, v),
                    None => w.env_remove(k),
                };
            }
            w
        } else {
            c
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn daemon");
        let d = Daemon { child };
        let lock = sb.path().join("data/rogue-hunter/daemon.lock");
        let pid = d.child.id();
        let up = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|t| t.trim() == pid.to_string())
        });
        assert!(up.is_some(), "daemon did not take its lock");
        d
    }

    /// SIGTERM and wait: the exit code.
    fn stop(mut self) -> Option<i32> {
        // SAFETY: kill with a valid pid and signal number.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start this test binary in hog role `kind`: as nobody (through setpriv) or
/// with `argv[0]` replaced.
fn spawn_hog(kind: &str, as_nobody: bool, arg0: Option<&str>) -> Hog {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().expect("test binary path");
    let mut c = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(NOBODY).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    if let Some(name) = arg0 {
        c.arg0(name);
    }
    crate::common::hog_role(&mut c, kind);
    Hog {
        child: c.spawn().expect("spawn hog"),
    }
}

fn cli(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut c = sb.cmd();
    c.args(args);
    c.output().expect("run rogue-hunter")
}

fn events(sb: &Sandbox) -> Vec<Value> {
    let o = cli(sb, &["events", "--json", "--limit", "1000"]);
    if !o.status.success() {
        return vec![];
    }
    crate::common::json_list(&o.stdout, "events")
}

fn show_forensics(sb: &Sandbox, id: i64) -> Value {
    let o = cli(
        sb,
        &["events", "show", &id.to_string(), "--forensics", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!o.stdout.contains(&0x1b), "raw ESC in JSON");
    serde_json::from_slice(&o.stdout).expect("show json")
}

/// What a finished scenario leaves for the assertions.
struct Captured {
    sb: Sandbox,
    daemon: Daemon,
    hog: Hog,
    event_id: i64,
    detail: Value,
}

impl Captured {
    fn capture(&self) -> &Value {
        &self.detail["forensics"][0]
    }

    fn source(&self, name: &str) -> &Value {
        &self.capture()["sources"][name]
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.sb.path().join("state/rogue-hunter/daemon.log"))
            .unwrap_or_default()
    }
}

/// Start a daemon and a hog until the hog's event has a finished capture.
/// When another busy process takes the daemon's one (debounced) capture
/// first, start over in a fresh sandbox (at most three attempts).
fn run_until_captured(
    kind: &str,
    nobody: bool,
    arg0: Option<&str>,
    env: &[(&str, &std::ffi::OsStr)],
    prepare: impl Fn(&Sandbox),
) -> Captured {
    for attempt in 1..=3 {
        let sb = Sandbox::new();
        sb.write_config(CONFIG);
        prepare(&sb);
        let hog = spawn_hog(kind, nobody, arg0);
        let daemon = Daemon::start(&sb, nobody, env);
        let pid = hog.child.id();
        // The hog's event with a capture, or another event that took it.
        let found = poll(Duration::from_secs(25), Duration::from_millis(200), || {
            let all = events(&sb);
            if let Some(e) = all
                .iter()
                .find(|e| e["pid"] == pid && e["forensics_count"].as_u64() >= Some(1))
            {
                return Some(Ok(e["id"].as_i64().expect("id")));
            }
            all.iter()
                .find(|e| e["forensics_count"].as_u64() >= Some(1))
                .map(|e| Err(e["command"].clone()))
        });
        let event_id = match found {
            Some(Ok(id)) => id,
            Some(Err(other)) => {
                eprintln!("attempt {attempt}: {other} took the capture first; retrying");
                continue;
            }
            None => panic!(
                "no capture for the hog within 25s; daemon log:\n{}",
                std::fs::read_to_string(sb.path().join("state/rogue-hunter/daemon.log"))
                    .unwrap_or_default()
            ),
        };
        let detail = poll(Duration::from_secs(20), Duration::from_millis(200), || {
            let d = show_forensics(&sb, event_id);
            (d["forensics"][0]["status"] != "pending").then_some(d)
        })
        .expect("capture finished");
        return Captured {
            sb,
            daemon,
            hog,
            event_id,
            detail,
        };
    }
    panic!("three attempts, and another process always took the capture first");
}

fn is_root() -> bool {
    rogue_hunter::sys::current_uid() == 0
}

#[test]
fn a_critical_hog_gets_one_full_capture() {
    if !is_root() {
        eprintln!("skipped: needs root for kernel stacks and setpriv");
        return;
    }
    let _m = crate::common::machine();
    let c = run_until_captured("threads", false, None, &[], |_| {});
    let cap = c.capture().clone();
    let pid = c.hog.child.id();
    assert_ne!(cap["status"], "failed", "{cap:#}");
    assert_eq!(cap["trigger"], "entered critical");

    // Every thread, with its state and CPU time.
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .count();
    let threads = cap["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), tasks, "{threads:#?}");
    assert!(
        threads.len() >= 4,
        "main + 2 spinners + waker: {threads:#?}"
    );
    assert!(threads.iter().any(|t| t["tid"] == pid));
    for t in threads {
        assert!(t["state"].is_string() && t["cpu_time_s"].is_number(), "{t}");
        assert!(t["name"].is_string());
    }
    let running = threads.iter().filter(|t| t["state"] == "running").count();
    let spun = threads
        .iter()
        .filter(|t| t["cpu_time_s"].as_f64().unwrap_or(0.0) > 0.1)
        .count();
    assert!(running >= 1 && spun >= 2, "spinning threads: {threads:#?}");
    // Kernel stacks (root): the sleeping threads have one.
    assert_eq!(c.source("kernel_stacks")["status"], "ok", "{cap:#}");
    assert!(
        threads
            .iter()
            .any(|t| t["kernel_stack"].as_array().is_some_and(|s| !s.is_empty())),
        "{threads:#?}"
    );
    // Pressure, system snapshots and the per-process files.
    for r in ["cpu", "memory", "io"] {
        assert!(
            cap["pressure"][r]["some"]["avg10"].is_number(),
            "{:#}",
            cap["pressure"]
        );
    }
    for key in [
        "loadavg",
        "meminfo",
        "vmstat_delta",
        "process.status",
        "process.fd_count",
    ] {
        assert!(cap["system"].get(key).is_some(), "system lacks {key}");
    }
    for s in [
        "threads",
        "status",
        "smaps_rollup",
        "fd_count",
        "cgroup",
        "io",
        "pressure",
    ] {
        assert_eq!(c.source(s)["status"], "ok", "{s}: {:#}", c.source(s));
    }
    // The frozen ring buffer and the culprits named from it.
    let ctx = &cap["buffer_context"];
    assert!(ctx["samples"].as_u64() >= Some(1), "{ctx}");
    assert_eq!(
        ctx["frozen"].as_array().map(Vec::len),
        ctx["samples"].as_u64().map(|n| n as usize)
    );
    assert!(
        cap["culprits"]
            .as_array()
            .expect("culprits")
            .iter()
            .any(|k| k["pid"] == pid && k["resource"] == "cpu"),
        "{:#}",
        cap["culprits"]
    );
    let ms = cap["duration_ms"].as_f64().expect("duration");
    assert!(ms < 15_000.0, "{ms} ms");

    // Debounced: still exactly one capture a moment later, for the whole daemon.
    std::thread::sleep(Duration::from_secs(2));
    let again = show_forensics(&c.sb, c.event_id);
    assert_eq!(again["forensics"].as_array().map(Vec::len), Some(1));
    let total: u64 = events(&c.sb)
        .iter()
        .filter_map(|e| e["forensics_count"].as_u64())
        .sum();
    assert_eq!(total, 1, "one capture per debounce window");

    // The human summary.
    let o = cli(
        &c.sb,
        &["events", "show", &c.event_id.to_string(), "--forensics"],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for needle in [
        "forensic capture",
        "threads:",
        "hottest kernel stack",
        "pressure",
        "culprits",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    eprintln!("capture took {ms:.0} ms\n{text}");
    assert_eq!(c.daemon.stop(), Some(0), "clean stop with forensics on");
}

#[test]
fn unprivileged_capture_records_denied_kernel_stacks_and_completes() {
    if !is_root() {
        eprintln!("skipped: needs root to switch to nobody");
        return;
    }
    let _m = crate::common::machine();
    let c = run_until_captured("threads", true, None, &[], |sb| {
        std::fs::set_permissions(
            sb.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod sandbox");
    });
    let cap = c.capture();
    let status = cap["status"].as_str().expect("status");
    assert!(matches!(status, "partial" | "complete"), "{cap:#}");
    eprintln!("as nobody: {status}; error: {}", cap["error"]);
    let stacks = c.source("kernel_stacks");
    assert_eq!(stacks["status"], "denied", "{cap:#}");
    let detail = stacks["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("permission denied") && detail.contains("root"),
        "{detail}"
    );
    if status == "partial" {
        assert!(
            cap["error"]
                .as_str()
                .unwrap_or("")
                .contains("kernel_stacks: denied")
        );
    }
    // Everything else that nobody may read was still gathered.
    assert_eq!(c.source("threads")["status"], "ok");
    assert!(cap["threads"].as_array().is_some_and(|t| t.len() >= 4));
    assert!(
        cap["threads"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["kernel_stack"].is_null())
    );
    assert!(cap["pressure"]["cpu"]["some"].is_object());
    assert!(cap["buffer_context"]["samples"].as_u64() >= Some(1));
    let log = c.daemon_log();
    assert_eq!(c.daemon.stop(), Some(0), "{log}");
}

#[test]
fn hostile_process_names_reach_no_shell_and_no_terminal() {
    if !is_root() {
        eprintln!("skipped: runs with the root scenarios");
        return;
    }
    let _m = crate::common::machine();
    let marker = std::env::temp_dir().join(format!(
        "pwned-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let _ = std::fs::remove_file(&marker);
    let arg0 = format!(
        "evil;$(touch {});`touch {}`;\x1b[31mRED\x1b]0;title\x07\x1b[2J",
        marker.display(),
        marker.display()
    );
    let c = run_until_captured("evil_threads", false, Some(&arg0), &[], |_| {});
    let cap = c.capture();
    assert_ne!(cap["status"], "failed", "{cap:#}");
    assert!(
        c.detail["command"]
            .as_str()
            .unwrap_or("")
            .contains("$(touch"),
        "stored raw"
    );
    let names: Vec<&str> = cap["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("$(id)") && n.contains('\x1b')),
        "{names:?}"
    );

    let id = c.event_id.to_string();
    for args in [
        vec!["events", "show", &id, "--forensics"],
        vec!["events", "show", &id, "--forensics", "--threads", "--logs"],
        vec!["events"],
    ] {
        let o = cli(&c.sb, &args);
        assert!(o.status.success(), "{args:?}");
        assert!(!o.stdout.contains(&0x1b), "raw ESC in {args:?}");
        assert!(!o.stdout.contains(&0x07), "raw BEL in {args:?}");
        let text = String::from_utf8_lossy(&o.stdout);
        if args.len() > 1 {
            assert!(
                text.contains("\\u{1b}"),
                "escapes shown, not dropped: {text}"
            );
        }
        if args.len() > 4 {
            eprintln!("{text}");
        }
    }
    assert!(!marker.exists(), "a shell ran the process name");
    drop(c);
    assert!(!marker.exists());
}

#[test]
fn missing_journalctl_and_dmesg_make_a_partial_capture_that_says_so() {
    if !is_root() {
        eprintln!("skipped: runs with the root scenarios");
        return;
    }
    let _m = crate::common::machine();
    let empty_dir = tempfile::tempdir().expect("tempdir");
    let path = empty_dir.path().as_os_str().to_owned();
    let c = run_until_captured("threads", false, None, &[("PATH", &path)], |_| {});
    let cap = c.capture();
    assert_eq!(cap["status"], "partial", "{cap:#}");
    let kernel = c.source("kernel_log");
    assert_eq!(kernel["status"], "missing", "{kernel}");
    let detail = kernel["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("dmesg") && detail.contains("journalctl"),
        "{detail}"
    );
    assert_eq!(c.source("journal")["status"], "missing");
    let error = cap["error"].as_str().expect("the reason is recorded");
    eprintln!("without the tools: {}; error: {error}", cap["status"]);
    assert!(
        error.contains("journal: missing (journalctl not found"),
        "{error}"
    );
    // The rest of the capture is intact.
    assert_eq!(c.source("threads")["status"], "ok");
    assert!(cap["pressure"]["io"]["some"].is_object());
}
