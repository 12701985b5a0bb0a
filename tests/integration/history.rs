//! The continuous recording as a user reads it: a daemon records every
//! second, `history --at` answers for a moment before and after a spinner
//! started, a kill -9 loses at most the last 5 s, retention drops whole old
//! blocks, and a damaged block is reported and skipped.

use crate::common::{Sandbox, poll, spawn_hog};
use rogue_hunter::history::{ENCODING_VERSION, Frame, encode_block};
use rogue_hunter::model::ProcessScore;
use rogue_hunter::storage::Store;
use serde_json::Value;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// A daemon killed by PID (SIGKILL) and reaped on drop.
struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    fn start(sb: &Sandbox) -> Daemon {
        let mut c = sb.cmd();
        c.arg("daemon").stdout(Stdio::null()).stderr(Stdio::null());
        let d = Daemon {
            child: Some(c.spawn().expect("spawn daemon")),
        };
        let lock = sb.path().join("data/rogue-hunter/daemon.lock");
        let pid = d.pid();
        let up = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|t| t.trim() == pid.to_string())
        });
        assert!(up.is_some(), "daemon did not take its lock within 10 s");
        d
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL and reap; returns when it is gone.
    fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn history(sb: &Sandbox, args: &[&str]) -> Output {
    let mut c = sb.cmd();
    c.arg("history").args(args);
    c.output().expect("run history")
}

fn json(o: &Output) -> Option<Value> {
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

fn at(t: f64) -> String {
    format!("@{t}")
}

fn pids(frame: &Value) -> Vec<u64> {
    frame["rogues"]
        .as_array()
        .map(|r| r.iter().filter_map(|p| p["pid"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn at_before_the_spinner_shows_none_near_the_end_shows_it_first_and_kill_9_loses_at_most_5_s() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config("[bands]\nevent_cooldown_seconds = 0.0\n");
    let mut d = Daemon::start(&sb);
    let started = rogue_hunter::unix_now();
    // Ten seconds of recording without the spinner (on disk within 5 s more).
    let before = poll(Duration::from_secs(25), Duration::from_millis(500), || {
        let now = rogue_hunter::unix_now();
        let frames = json(&history(
            &sb,
            &["--from", &at(started), "--to", &at(now), "--format", "json"],
        ))?;
        let n = frames["samples"].as_array()?.len();
        (n >= 8 && now - started >= 10.0).then_some(now)
    })
    .expect("8 recorded seconds within 25 s of the daemon starting");
    let hog = spawn_hog("cpu");
    let spawned = rogue_hunter::unix_now();
    let mid = (started + before) / 2.0;
    let o = history(&sb, &["--at", &at(mid), "--json"]);
    let frame = json(&o).unwrap_or_else(|| panic!("history --at mid: {o:?}"));
    assert!(
        (frame["timestamp_s"].as_f64().unwrap_or(0.0) - mid).abs() <= 1.5,
        "{frame}"
    );
    assert!(
        !pids(&frame).is_empty(),
        "a recorded second has processes: {frame}"
    );
    assert!(
        !pids(&frame).contains(&u64::from(hog.pid())),
        "the spinner appears before it started: {frame}"
    );
    // Near the end: the spinner ranks first (polled: the open block is
    // written every 5 s, and at once when its event opens).
    let first = poll(Duration::from_secs(25), Duration::from_millis(500), || {
        let now = rogue_hunter::unix_now();
        if now - spawned < 8.0 {
            return None;
        }
        let frame = json(&history(&sb, &["--at", &at(now - 1.0), "--json"]))?;
        (pids(&frame).first() == Some(&u64::from(hog.pid()))).then_some(frame)
    });
    let last = json(&history(&sb, &["--at", "now", "--json"]));
    assert!(
        first.is_some(),
        "the spinner {} was not ranked first near the end within 25 s; last: {last:?}",
        hog.pid()
    );
    let table = history(&sb, &["--at", "-1s"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("processes") && text.contains("COMMAND"),
        "{text}"
    );
    // kill -9: everything but the last few seconds is on disk.
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = rogue_hunter::unix_now();
    d.kill_9();
    let o = history(
        &sb,
        &[
            "--from",
            &at(started),
            "--to",
            &at(killed_at + 1.0),
            "--format",
            "json",
        ],
    );
    let frames = json(&o).unwrap_or_else(|| panic!("history after kill -9: {o:?}"));
    let times: Vec<f64> = frames["samples"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["timestamp_s"].as_f64()).collect())
        .unwrap_or_default();
    let last_t = times.last().copied().unwrap_or(0.0);
    assert!(
        killed_at - last_t <= 5.0,
        "the last recorded second is {:.1} s before the kill -9",
        killed_at - last_t
    );
    // One frame a second, no holes: every second since the start is there.
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] < 2.5, "a hole in the recording: {pair:?}");
    }
    let csv = history(
        &sb,
        &[
            "--from",
            &at(spawned),
            "--to",
            &at(killed_at),
            "--pid",
            &hog.pid().to_string(),
            "--every",
            "2s",
            "--format",
            "csv",
        ],
    );
    let text = String::from_utf8_lossy(&csv.stdout);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(
        rows.len() >= 3,
        "csv rows for the spinner every 2 s: {text}"
    );
    assert!(
        rows.iter()
            .all(|r| r.split(',').nth(1) == Some(&hog.pid().to_string())),
        "{text}"
    );
}

fn frames(start: f64, n: usize, command: &str) -> Vec<Frame> {
    (0..n)
        .map(|i| {
            let t = start + i as f64;
            let mut p = ProcessScore::new(4242, 1, command.into(), t);
            p.score = 50.0;
            Frame {
                timestamp_s: t,
                elapsed_ms: 1.0,
                process_count: 1,
                max_score: 50.0,
                processes: vec![p],
                system: None,
                groups: Vec::new(),
                extra: serde_json::Map::new(),
            }
        })
        .collect()
}

fn put(store: &mut Store, f: &[Frame]) {
    let (first, last) = (f[0].timestamp_s, f[f.len() - 1].timestamp_s);
    store
        .put_history_block(
            first,
            last,
            f.len() as u32,
            ENCODING_VERSION,
            &encode_block(f),
        )
        .expect("put block");
}

fn db(sb: &Sandbox) -> std::path::PathBuf {
    sb.path().join("data/rogue-hunter/data.db")
}

#[test]
fn retention_drops_whole_old_blocks_in_prune_and_at_daemon_start() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let now = rogue_hunter::unix_now();
    let day = 86400.0;
    {
        let mut store = Store::open(&db(&sb)).expect("create db");
        put(&mut store, &frames(now - 10.0 * day, 60, "ten-days"));
        // Starts before the 7-day line and ends after it: kept whole.
        put(
            &mut store,
            &frames(now - 7.0 * day - 30.0, 120, "straddles"),
        );
        put(&mut store, &frames(now - 3.0 * day, 60, "three-days"));
        put(&mut store, &frames(now - 9.0 * day, 60, "nine-days"));
    }
    let mut c = sb.cmd();
    c.args(["prune", "--dry-run"]);
    let o = c.output().expect("prune --dry-run");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 recorded blocks"),
        "{o:?}"
    );
    let mut c = sb.cmd();
    c.args(["prune", "--yes", "--history-days", "9"]);
    let o = c.output().expect("prune");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 recorded blocks"),
        "{o:?}"
    );
    let summary = Store::open_read_only(&db(&sb)).and_then(|s| s.history_summary());
    assert_eq!(summary.map(|s| (s.blocks, s.frames)).ok(), Some((3, 240)));
    // The daemon prunes at start-up with the default 7 days.
    let _d = Daemon::start(&sb);
    let pruned = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        let s = Store::open_read_only(&db(&sb)).ok()?;
        let old = s.history_blocks(0.0, now - 5.0 * day).ok()?;
        (old.len() == 1).then_some(old)
    })
    .expect("the daemon pruned the 9-day-old block within 15 s");
    assert_eq!(pruned[0].frames, 120, "the straddling block is kept whole");
    let o = history(&sb, &["--at", &at(now - 7.0 * day - 30.0), "--json"]);
    let frame = json(&o).unwrap_or_else(|| panic!("{o:?}"));
    assert_eq!(frame["rogues"][0]["command"], "straddles");
}

#[test]
fn a_damaged_block_is_reported_and_skipped_the_rest_stays_readable() {
    let sb = Sandbox::new();
    let t = rogue_hunter::unix_now() - 3600.0;
    {
        let mut store = Store::open(&db(&sb)).expect("create db");
        put(&mut store, &frames(t, 10, "before"));
        let mut bad = encode_block(&frames(t + 10.0, 30, "lost"));
        let n = bad.len();
        for b in &mut bad[n / 2..] {
            *b ^= 0xA5;
        }
        store
            .put_history_block(t + 10.0, t + 39.0, 30, ENCODING_VERSION, &bad)
            .expect("put damaged");
        put(&mut store, &frames(t + 40.0, 10, "after"));
    }
    let o = history(
        &sb,
        &["--from", &at(t), "--to", &at(t + 60.0), "--format", "json"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("damaged") && err.contains("skipped"), "{err}");
    let frames = json(&o).unwrap_or_else(|| panic!("{o:?}"));
    let commands: Vec<&str> = frames["samples"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["rogues"][0]["command"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(commands.len(), 20, "{commands:?}");
    assert!(commands.iter().all(|c| *c != "lost"));
    let o = history(&sb, &["--at", &at(t + 45.0), "--json"]);
    assert_eq!(
        json(&o).map(|f| f["rogues"][0]["command"].clone()),
        Some("after".into())
    );
    // Inside the damaged block: nothing within 10 s, said so, exit 1.
    let o = history(&sb, &["--at", &at(t + 25.0)]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"));
}
