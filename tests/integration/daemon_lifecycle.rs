//! The daemon as a user runs it: real processes open and close events in a
//! real SQLite file; a second daemon refuses; kill -9 loses nothing; bad
//! databases and directories give clear errors.

use crate::common::{Daemon, Sandbox, poll, spawn_hog};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

/// Quick exits and no cooldown so scenarios finish in seconds; no groups, so
/// a group holding the hog (the tree of whatever runs the tests, busy with
/// tests beside this one) cannot open first and stand in for its own event.
const FAST: &str = "[bands]\nexit_stability_samples = 3\nevent_cooldown_seconds = 0.0\n\
                    [selection]\ntop_groups = 0\n";

fn events_json(sb: &Sandbox) -> Vec<Value> {
    let mut c = sb.cmd();
    c.args(["events", "--json", "--limit", "1000"]);
    let o = c.output().expect("events");
    if !o.status.success() {
        return vec![];
    }
    crate::common::json_list(&o.stdout, "events")
}

/// The events of `pid` itself. A group event whose top member it is (the
/// tree of whatever runs the tests, busy with tests beside this one) is
/// another subject.
fn events_for(sb: &Sandbox, pid: u32) -> Vec<Value> {
    events_json(sb)
        .into_iter()
        .filter(|e| e["pid"] == pid && e["subject_kind"] == "process")
        .collect()
}

fn show(sb: &Sandbox, id: i64) -> Value {
    let mut c = sb.cmd();
    c.args(["events", "show", &id.to_string(), "--json"]);
    let o = c.output().expect("events show");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("show json")
}

#[test]
fn cpu_burst_opens_one_event_that_closes_with_an_exit_snapshot() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("burst:6");
    let closed = poll(Duration::from_secs(30), Duration::from_millis(500), || {
        let ev = events_for(&sb, hog.pid());
        ev.first().filter(|e| !e["exit_time_s"].is_null()).cloned()
    })
    .expect("event opened and closed");
    let ev = events_for(&sb, hog.pid());
    assert_eq!(ev.len(), 1, "one event, not flapping: {ev:?}");
    assert_eq!(closed["close_reason"], "recovered");
    assert_eq!(closed["dominant_resource"], "cpu");
    assert!(closed["peak_score"].as_f64().unwrap_or(0.0) >= 45.0);
    for key in [
        "id",
        "start_time_ms",
        "command",
        "boot_time_ms",
        "entry_time_s",
        "entry_band",
        "peak_band",
        "forensics_count",
    ] {
        assert!(closed.get(key).is_some(), "events --json lacks {key}");
    }
    let detail = show(&sb, closed["id"].as_i64().expect("id"));
    let snaps = detail["snapshots"].as_array().expect("snapshots");
    assert_eq!(
        snaps.first().map(|s| s["snapshot_type"].clone()),
        Some("entry".into())
    );
    assert_eq!(
        snaps.last().map(|s| s["snapshot_type"].clone()),
        Some("exit".into())
    );
    assert_eq!(snaps[0]["process"]["pid"], hog.pid());
    let times: Vec<f64> = snaps
        .iter()
        .filter_map(|s| s["captured_at_s"].as_f64())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timeline in order");
    let out = d.stop();
    assert_eq!(out.status.code(), Some(0), "SIGTERM exits 0");
}

#[test]
fn process_killed_mid_event_closes_as_gone() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("cpu");
    let pid = hog.pid();
    poll(Duration::from_secs(20), Duration::from_millis(300), || {
        events_for(&sb, pid).first().cloned()
    })
    .expect("event opened");
    drop(hog);
    let closed = poll(Duration::from_secs(10), Duration::from_millis(300), || {
        events_for(&sb, pid)
            .into_iter()
            .find(|e| !e["exit_time_s"].is_null())
    })
    .expect("event closed");
    assert_eq!(closed["close_reason"], "gone");
    let detail = show(&sb, closed["id"].as_i64().expect("id"));
    let kinds: Vec<&str> = detail["snapshots"]
        .as_array()
        .expect("snaps")
        .iter()
        .filter_map(|s| s["snapshot_type"].as_str())
        .collect();
    assert!(
        !kinds.contains(&"exit"),
        "gone means no exit snapshot: {kinds:?}"
    );
    drop(d);
}

#[test]
fn second_daemon_refuses_naming_the_first() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = sb.cmd();
    c.arg("daemon");
    let o = c.output().expect("second daemon");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("already running (pid {})", d.pid())),
        "{err}"
    );

    let mut c = sb.cmd();
    c.args(["status", "--json"]);
    let o = c.output().expect("status");
    let v: Value = serde_json::from_slice(&o.stdout).expect("status json");
    assert_eq!(v["running"], true);
    assert_eq!(v["pid"], d.pid());
    for key in [
        "uptime_s",
        "sample_count",
        "open_events",
        "db_path",
        "db_bytes",
        "worst",
    ] {
        assert!(v.get(key).is_some(), "status --json lacks {key}");
    }
    let out = d.stop();
    assert_eq!(out.status.code(), Some(0));
    let mut c = sb.cmd();
    c.args(["status", "--json"]);
    let o = c.output().expect("status");
    assert_eq!(o.status.code(), Some(3), "not running is exit 3: {o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["running"], false);
}

#[test]
fn kill_9_keeps_the_database_sound_and_the_next_start_closes_what_was_open() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("cpu");
    let open = poll(Duration::from_secs(20), Duration::from_millis(300), || {
        events_for(&sb, hog.pid())
            .first()
            .filter(|e| e["exit_time_s"].is_null())
            .cloned()
    })
    .expect("open event");
    let id = open["id"].clone();
    d.signal(libc::SIGKILL);
    drop(d);
    let db = sb.path().join("data/rogue-hunter/data.db");
    let store = rogue_hunter::storage::Store::open(&db).expect("reopen after kill -9");
    assert_eq!(store.integrity_check().expect("integrity"), "ok");
    drop(store);
    drop(hog);
    let d = Daemon::start(&sb);
    let closed = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        events_json(&sb)
            .into_iter()
            .find(|e| e["id"] == id && !e["exit_time_s"].is_null())
    })
    .expect("dangling event closed");
    assert_eq!(closed["close_reason"], "daemon_restart");
    drop(d);
}

#[test]
fn corrupt_database_is_a_clear_error_not_a_panic() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let dir = sb.path().join("data/rogue-hunter");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("data.db"), vec![0x42u8; 8192]).expect("garbage");
    let mut c = sb.cmd();
    c.arg("daemon");
    let o = c.output().expect("daemon");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("data.db") && err.contains("not a usable"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let mut c = sb.cmd();
    c.args(["events"]);
    let o = c.output().expect("events");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("data.db"));
    // Nothing was lost: the file is still there, untouched.
    assert_eq!(
        std::fs::read(dir.join("data.db")).expect("kept").len(),
        8192
    );
}

#[test]
fn unusable_data_directory_is_a_clear_error() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    // The data "directory" is a regular file.
    std::fs::write(sb.path().join("data"), "not a dir").expect("file");
    let mut c = sb.cmd();
    c.arg("daemon");
    let o = c.output().expect("daemon");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("data/rogue-hunter"), "{err}");

    // A directory the user may not write (as an unprivileged user).
    if rogue_hunter::sys::current_uid() == 0 {
        let sb = Sandbox::new();
        std::fs::set_permissions(
            sb.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let data = sb.path().join("data/rogue-hunter");
        std::fs::create_dir_all(&data).expect("mkdir");
        let c = sb.cmd();
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .arg("daemon");
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let o = cmd.output().expect("daemon as nobody");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("rogue-hunter"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn prune_asks_and_refuses_without_a_terminal() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let d = Daemon::start(&sb);
    let hog = spawn_hog("burst:2");
    poll(Duration::from_secs(20), Duration::from_millis(300), || {
        events_for(&sb, hog.pid())
            .into_iter()
            .find(|e| !e["exit_time_s"].is_null())
    })
    .expect("closed event");
    // A clean stop closes whatever else the daemon tracked (other processes on
    // the machine may have gone rogue too), so every event is prunable.
    assert_eq!(d.stop().status.code(), Some(0));
    let recorded = events_json(&sb).len();
    assert!(recorded >= 1);
    // Nothing is older than a day yet.
    let mut c = sb.cmd();
    c.args(["prune", "--dry-run"]);
    let o = c.output().expect("prune");
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to prune"));
    // Age the event by rewriting its times (a test-only shortcut through SQLite).
    let db = sb.path().join("data/rogue-hunter/data.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute("UPDATE process_events SET entry_time = entry_time - 40*86400, exit_time = exit_time - 40*86400", [])
        .expect("age");
    drop(conn);
    let mut c = sb.cmd();
    c.args(["prune", "--dry-run"]);
    let o = c.output().expect("prune dry");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("would delete {recorded} events")),
        "{:?}",
        o
    );
    let mut c = sb.cmd();
    c.args(["prune"]).stdin(Stdio::null());
    let o = c.output().expect("prune no tty");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    let mut c = sb.cmd();
    c.args(["prune", "--yes"]);
    let o = c.output().expect("prune yes");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("deleted {recorded} events")),
        "{:?}",
        o
    );
    assert!(events_json(&sb).is_empty());
}

#[test]
fn daemon_log_is_json_lines_rotated_by_size_in_a_private_directory() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(
        "[logging]\nmax_file_bytes = 4096\nkeep_files = 2\n[system]\nheartbeat_samples = 1\n",
    );
    let d = Daemon::start(&sb);
    let dir = sb.path().join("state/rogue-hunter");
    let rotated = poll(Duration::from_secs(20), Duration::from_millis(200), || {
        dir.join("daemon.log.2").exists().then_some(())
    });
    assert!(
        rotated.is_some(),
        "no rotation after 2 files' worth of heartbeats"
    );
    assert_eq!(d.stop().status.code(), Some(0));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec!["daemon.log", "daemon.log.1", "daemon.log.2"],
        "keep_files = 2"
    );
    let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let mut heartbeats = 0;
    for f in &files {
        let text = std::fs::read_to_string(dir.join(f)).expect("log");
        for line in text.lines() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{f}: {e}: {line}"));
            assert!(v["timestamp"].is_string() && v["level"].is_string());
            if v["event_name"] == "heartbeat" {
                heartbeats += 1;
                assert!(v["samples"].is_u64() && v.get("max_lateness_ms").is_some());
            }
        }
    }
    assert!(heartbeats > 3);
}
