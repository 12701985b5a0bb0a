//! Hostile input, signals, crashes and resource limits (issue 15): processes
//! with lying names, a daemon killed or hung up on, damaged or unwritable
//! databases, full disks and connection storms. Each test reproduces one way
//! the monitor could be fooled or lose data.

use crate::common::{Hog, Sandbox, hex, poll, spawn_hog};
use serde_json::Value;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// Quick exits and no cooldown so scenarios finish in seconds; no groups, so
/// a group holding the hog (the tree of whatever runs the tests, busy with
/// tests beside this one) cannot open first and stand in for its own event.
const FAST: &str = "[bands]\nexit_stability_samples = 3\nevent_cooldown_seconds = 0.0\n\
                    [selection]\ntop_groups = 0\n";

/// A daemon in a sandbox, killed by PID on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(sb: &Sandbox) -> Daemon {
        Daemon::start_cmd(sb, sb.cmd())
    }

    /// Start `c` (a sandboxed command) as the daemon.
    fn start_cmd(sb: &Sandbox, mut c: std::process::Command) -> Daemon {
        c.arg("daemon").stdout(Stdio::null()).stderr(Stdio::piped());
        let child = c.spawn().expect("spawn daemon");
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill with a valid pid and signal number.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Send `sig` and wait (with a deadline) for the daemon to exit.
    fn stop_with(mut self, sig: i32) -> Output {
        self.signal(sig);
        let exited = poll(Duration::from_secs(15), Duration::from_millis(50), || {
            self.child.try_wait().ok().flatten()
        });
        assert!(exited.is_some(), "daemon did not exit after signal {sig}");
        let child = std::mem::replace(
            &mut self.child,
            std::process::Command::new("true").spawn().expect("true"),
        );
        child.wait_with_output().expect("wait daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(sb: &Sandbox, args: &[&str]) -> Output {
    let mut c = sb.cmd();
    c.args(args);
    c.output().expect("run rogue-hunter")
}

/// The events of `pid` itself, not those of a group it leads (the tree of
/// whatever runs the tests can be one, busy with tests beside this one).
fn events_for(sb: &Sandbox, pid: u32) -> Vec<Value> {
    let o = run(sb, &["events", "--json", "--limit", "1000"]);
    if !o.status.success() {
        return vec![];
    }
    crate::common::json_list(&o.stdout, "events")
        .into_iter()
        .filter(|e| e["pid"] == pid && e["subject_kind"] == "process")
        .collect()
}

/// A spinning process whose command line and name are `cmd` and `comm`,
/// returned once its command line reads as `cmd` (it starts as the test
/// binary's and rewrites itself).
fn hostile(cmd: &[u8], comm: &[u8]) -> Hog {
    let hog = spawn_hog(&format!("hostile:{}:{}", hex(cmd), hex(comm)));
    let path = format!("/proc/{}/cmdline", hog.pid());
    poll(Duration::from_secs(10), Duration::from_millis(10), || {
        std::fs::read(&path)
            .ok()
            .filter(|b| b.starts_with(cmd))
            .map(drop)
    })
    .unwrap_or_else(|| panic!("the hog {} did not rewrite its command line", hog.pid()));
    hog
}

/// Wait until the daemon has an event about `pid`.
fn wait_event(sb: &Sandbox, pid: u32) -> Value {
    poll(Duration::from_secs(30), Duration::from_millis(300), || {
        events_for(sb, pid).into_iter().next()
    })
    .unwrap_or_else(|| panic!("no event opened for pid {pid}"))
}

#[test]
fn invalid_utf8_command_line_is_not_shown_as_a_kernel_thread() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let hog = hostile(b"/usr/sbin/cryptominer\0--pool\0x\xff\0", b"kworker/1:2");
    let want = "/usr/sbin/cryptominer --pool x\\xff";
    // One-shot sampling sees it as it is.
    let o = run(&sb, &["sample", "--json", "--count", "2", "--top", "50"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let seen: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| v["rogues"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["pid"] == hog.pid())
        .filter_map(|p| p["command"].as_str().map(str::to_string))
        .collect();
    assert!(
        !seen.is_empty(),
        "the spinning hog is among the rogues: {text}"
    );
    assert!(seen.iter().all(|c| c == want), "{seen:?}");
    // And so do the daemon, its database and `events`.
    let d = Daemon::start(&sb);
    let ev = wait_event(&sb, hog.pid());
    assert_eq!(ev["command"], want, "{ev}");
    assert!(!text.contains("[kworker/1:2]"));
    drop(d);
}

#[test]
fn history_csv_of_a_hostile_name_cannot_drive_the_terminal_or_a_spreadsheet() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let hog = hostile(b"=\x1b]0;title\x07\x1b[2J\0x", b"=\x1b]0;t\x07\x1b[2J");
    let d = Daemon::start(&sb);
    wait_event(&sb, hog.pid());
    let o = run(&sb, &["history", "--snapshots", "--format", "csv"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).expect("utf-8");
    // captured_at_s,event_id,pid,command,...: the hog's rows by their PID
    // field (a count elsewhere in a row can equal it).
    let pid = hog.pid().to_string();
    let row = csv
        .lines()
        .find(|l| l.split(',').nth(2) == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("a row for the hog: {csv}"));
    assert!(
        !csv.bytes().any(|b| b == 0x1b || b == 0x07),
        "raw ESC or BEL in csv: {csv:?}"
    );
    let command = row.split(',').nth(3).expect("command field");
    assert!(command.starts_with("'="), "formula not neutralised: {row}");
    assert!(command.contains("\\u{1b}]0;title\\u{7}"), "{row}");
    // The continuous recording's CSV too (written in blocks every 5 s).
    let recorded = poll(Duration::from_secs(15), Duration::from_millis(500), || {
        let o = run(&sb, &["history", "--format", "csv"]);
        let csv = String::from_utf8(o.stdout).ok()?;
        csv.lines()
            .any(|l| l.split(',').nth(1) == Some(pid.as_str()))
            .then_some(csv)
    })
    .expect("the hog in the recorded history");
    assert!(
        !recorded.bytes().any(|b| b == 0x1b || b == 0x07),
        "raw ESC or BEL in the recorded csv: {recorded:?}"
    );
    assert!(
        recorded
            .lines()
            .filter(|l| l.split(',').nth(1) == Some(pid.as_str()))
            .all(|l| l.contains(",'=")),
        "formula not neutralised in the recorded csv: {recorded}"
    );
    drop(d);
}

/// A child process killed and reaped by PID on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_huge_argument_is_stored_capped() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    // A shell spinning with one 100 KB argument.
    let huge = "A".repeat(100_000);
    let sh = Killed(
        std::process::Command::new("sh")
            .args(["-c", "while :; do :; done", "sh", &huge])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh"),
    );
    let d = Daemon::start(&sb);
    let ev = wait_event(&sb, sh.0.id());
    let command = ev["command"].as_str().expect("command");
    assert!(command.len() <= 4096 + 3, "stored {} bytes", command.len());
    assert!(command.ends_with('…'), "a cut is marked: {command}");
    assert!(command.starts_with("sh -c while :; do :; done sh AAAA"));
    drop(d);
}

/// True when `text` holds a raw bidirectional or C1 control character.
fn has_raw_bidi_or_c1(text: &str) -> bool {
    text.chars().any(
        |c| matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'),
    )
}

#[test]
fn bidi_and_c1_controls_are_escaped_in_every_json_output() {
    use std::io::{BufRead, BufReader};
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let name = "/tmp/evil\u{202e}\u{2066}fdp.exe\u{2069}\u{9b}2J";
    let hog = hostile(format!("{name}\0").as_bytes(), b"evil\xe2\x80\xae");
    let d = Daemon::start(&sb);
    let ev = wait_event(&sb, hog.pid());
    assert_eq!(ev["command"], name, "the value survives escaping");
    let pid = hog.pid().to_string();
    let mut outputs = Vec::new();
    for args in [
        &["events", "--json"][..],
        &["history", "--snapshots", "--format", "json"],
        &["sample", "--json", "--top", "50"],
        &["status", "--json"],
    ] {
        let o = run(&sb, args);
        assert!(o.status.success(), "{args:?}");
        outputs.push((
            format!("{args:?}"),
            String::from_utf8(o.stdout).expect("utf-8"),
        ));
    }
    // The live stream: the first lines after connecting.
    let sock = sb.path().join("run/rogue-hunter/daemon.sock");
    let stream = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut live = String::new();
    for line in BufReader::new(stream).lines().take(4) {
        live.push_str(&line.expect("live line"));
        live.push('\n');
    }
    outputs.push(("live stream".into(), live));
    let log = sb.path().join("state/rogue-hunter/daemon.log");
    drop(d);
    outputs.push((
        "daemon.log".into(),
        String::from_utf8(std::fs::read(&log).expect("log")).expect("utf-8 log"),
    ));
    for (what, text) in &outputs {
        assert!(
            !has_raw_bidi_or_c1(text),
            "{what} holds raw controls: {text}"
        );
    }
    for (what, text) in &outputs[..3] {
        assert!(
            text.contains(&pid) && text.contains("\\u202e"),
            "{what} names the hog with the override escaped: {text}"
        );
    }
}

#[test]
fn log_and_lock_files_are_private_under_umask_022() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let d = Daemon::start_cmd(&sb, c);
    let log = sb.path().join("state/rogue-hunter/daemon.log");
    let lock = sb.path().join("data/rogue-hunter/daemon.lock");
    let logged = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        std::fs::metadata(&log).ok().filter(|m| m.len() > 0)
    });
    assert!(logged.is_some(), "daemon.log written");
    for path in [&log, &lock] {
        let mode = std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
    }
    drop(d);
}

#[test]
fn sighup_stops_the_daemon_cleanly_like_sigterm() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("cpu");
    let ev = wait_event(&sb, hog.pid());
    assert!(ev["exit_time_s"].is_null(), "event open: {ev}");
    let sock = sb.path().join("run/rogue-hunter/daemon.sock");
    let up = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        sock.exists().then_some(())
    });
    assert!(up.is_some(), "socket created");
    let out = d.stop_with(libc::SIGHUP);
    assert_eq!(out.status.code(), Some(0), "SIGHUP exits 0: {out:?}");
    assert!(!sock.exists(), "socket removed");
    let ev = events_for(&sb, hog.pid());
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["close_reason"], "shutdown", "{ev:?}");
}

#[test]
fn a_crash_leaves_no_pending_capture_and_open_events_end_when_last_seen() {
    use rogue_hunter::model::CaptureStatus;
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("cpu");
    let ev = wait_event(&sb, hog.pid());
    d.signal(libc::SIGKILL);
    drop(d);
    drop(hog);
    // What kill -9 in the middle of a capture leaves: a 'pending' capture.
    let db = sb.path().join("data/rogue-hunter/data.db");
    let id = ev["id"].as_i64().expect("id");
    let mut store = rogue_hunter::storage::Store::open(&db).expect("open");
    let capture = store
        .insert_capture(id, ev["entry_time_s"].as_f64().expect("entry"), "high")
        .expect("capture");
    let last_seen = store
        .event_detail(id)
        .expect("detail")
        .expect("event")
        .1
        .iter()
        .map(|s| s.captured_at_s)
        .fold(f64::MIN, f64::max);
    drop(store);
    // Let the restart be clearly later than the last snapshot.
    std::thread::sleep(Duration::from_millis(1500));
    let d = Daemon::start(&sb);
    let closed = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        events_for(&sb, ev["pid"].as_u64()? as u32)
            .into_iter()
            .find(|e| !e["exit_time_s"].is_null())
    })
    .expect("dangling event closed");
    assert_eq!(closed["close_reason"], "daemon_restart");
    // Within a microsecond: serde_json's default float parsing may land one
    // ulp (2.4e-7 s at today's Unix times) off the printed value.
    let exit = closed["exit_time_s"].as_f64().expect("exit_time_s");
    assert!(
        (exit - last_seen).abs() < 1e-6,
        "closed at {exit}, last seen {last_seen}: {closed}"
    );
    let store = rogue_hunter::storage::Store::open_read_only(&db).expect("open");
    let caps = store.captures(id).expect("captures");
    let cap = caps.iter().find(|c| c.id == capture).expect("capture row");
    assert_eq!(cap.status, CaptureStatus::Failed, "{cap:?}");
    assert!(
        cap.error.as_deref().unwrap_or("").contains("interrupted"),
        "{cap:?}"
    );
    drop(d);
}

/// A rogue-hunter database (schema current, one event) in the sandbox.
fn seeded_database(sb: &Sandbox) -> std::path::PathBuf {
    let db = sb.path().join("data/rogue-hunter/data.db");
    let mut store = rogue_hunter::storage::Store::open(&db).expect("create");
    let p = rogue_hunter::model::ProcessScore::new(77, 1, "seeded".into(), 50.0);
    store.open_event(&p, 1, 10.0).expect("event");
    drop(store);
    db
}

#[test]
fn a_negative_schema_version_is_refused_untouched_and_no_sql_is_logged() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let db = seeded_database(&sb);
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    conn.pragma_update(None, "journal_mode", "DELETE")
        .expect("journal");
    conn.pragma_update(None, "user_version", -3)
        .expect("version");
    drop(conn);
    let before = std::fs::read(&db).expect("read db");
    let o = run(&sb, &["daemon"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "refused: {err}");
    assert!(err.contains("schema version (-3)"), "{err}");
    for args in [&["events"][..], &["status"]] {
        let o = run(&sb, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("schema version (-3)") || o.status.success(),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read(&db).expect("read db"),
        before,
        "file unchanged"
    );
    assert!(!sb.path().join("data/rogue-hunter/data.db-wal").exists());
    let log = std::fs::read_to_string(sb.path().join("state/rogue-hunter/daemon.log"))
        .unwrap_or_default();
    assert!(!log.contains("CREATE TABLE"), "SQL in the log: {log}");
    assert!(!err.contains("CREATE TABLE"), "SQL in the message: {err}");
}

#[test]
fn the_advice_for_an_old_database_works() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let db = sb.path().join("data/rogue-hunter/data.db");
    rogue_hunter::storage::Store::create_at_version(&db, 1).expect("old database");
    let o = run(&sb, &["events"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("rogue-hunter prune --dry-run"), "{err}");
    // Follow the advice.
    let o = run(&sb, &["prune", "--dry-run"]);
    assert!(
        o.status.success(),
        "the advised command fails: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&sb, &["events", "--json"]);
    assert!(
        o.status.success(),
        "still refused: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn without_xdg_runtime_dir_the_socket_is_private_and_status_says_when_it_is_down() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.env_remove("XDG_RUNTIME_DIR");
    let d = Daemon::start_cmd(&sb, c);
    let sock = sb.path().join("state/rogue-hunter/run/daemon.sock");
    let up = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        sock.exists().then_some(())
    });
    assert!(up.is_some(), "socket under the private state directory");
    let status = |runtime: Option<&std::path::Path>| -> Value {
        let mut c = sb.cmd();
        match runtime {
            Some(r) => c.env("XDG_RUNTIME_DIR", r),
            None => c.env_remove("XDG_RUNTIME_DIR"),
        };
        let o = c.args(["status", "--json"]).output().expect("status");
        serde_json::from_slice(&o.stdout).expect("status json")
    };
    let live = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let v = status(None);
        (v["live"] == true).then_some(v)
    });
    assert!(live.is_some(), "status reaches the live stream");
    // A live stream that cannot be reached is named, in JSON and in text.
    let elsewhere = sb.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let v = status(Some(&elsewhere));
    assert_eq!(v["live"], false);
    assert!(
        v["live_error"]
            .as_str()
            .is_some_and(|e| e.contains("daemon.sock")),
        "{v}"
    );
    let mut c = sb.cmd();
    c.env("XDG_RUNTIME_DIR", &elsewhere).arg("status");
    let text = String::from_utf8_lossy(&c.output().expect("status").stdout).to_string();
    assert!(text.contains("live stream DOWN"), "{text}");
    drop(d);
}
