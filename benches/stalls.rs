//! The stall detectors' cost on a healthy machine and how soon a stall is on
//! record once it ends.
//!
//! 1. Cost: per sample, the daemon reads both clocks, the PSI totals and its
//!    own counters (`StallProbe`) and feeds `StallDetector::update` every
//!    scored process. Measured over the real process table of this machine,
//!    against the reference of the same run: one full `Sampler::sample_all`
//!    (the sample the detectors ride on). Reported as % of one core at 3 Hz.
//! 2. Delay: a real daemon is stopped with SIGSTOP for 2 s; from SIGCONT to
//!    the stall's row being readable in its database.
//!
//! Run: `cargo bench --bench stalls` (`-- --rounds N`, default 300;
//! `-- --extra N` idle processes added for the cost, default 1000).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::{arg, median};
use rogue_hunter::collect::Sampler;
use rogue_hunter::config::{Config, StallsConfig};
use rogue_hunter::platform::linux::LinuxSource;
use rogue_hunter::platform::probe::{self, StallProbe};
use rogue_hunter::stalls::{Observation, StallDetector};
use rogue_hunter::storage::Store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cost(rounds: usize) {
    let mut sampler = Sampler::new(LinuxSource::new().expect("procfs"), Config::default());
    let mut detector = StallDetector::new(StallsConfig::default(), vec![std::process::id()]);
    let mut probe = StallProbe::open();
    let mut sample_us = Vec::with_capacity(rounds);
    let mut detect_us = Vec::with_capacity(rounds);
    let mut processes = 0;
    let mut prev = rogue_hunter::unix_now();
    // Prime: rates need two samples.
    sampler.sample_all(prev);
    std::thread::sleep(Duration::from_millis(333));
    for _ in 0..rounds {
        let now = rogue_hunter::unix_now();
        let t0 = Instant::now();
        let (_, all) = sampler.sample_all(now);
        sample_us.push(t0.elapsed().as_secs_f64() * 1e6);
        processes = all.len();
        let t1 = Instant::now();
        let obs = Observation {
            wall_s: now,
            clock: probe::clocks(),
            interval_s: 1.0 / 3.0,
            rates_over_s: now - prev,
            own: probe.own(),
            continued: false,
            psi: probe.pressure(),
            processes: all,
        };
        let cmds = detector.update(&obs);
        detect_us.push(t1.elapsed().as_secs_f64() * 1e6);
        assert!(
            cmds.len() < 4,
            "this machine stalled during the benchmark: {cmds:?}"
        );
        prev = now;
        std::thread::sleep(Duration::from_millis(30));
    }
    // (The short sleep keeps consecutive rounds under the detector's
    // 1-second stall threshold; the interval given is the daemon's.)
    let s = median(&mut sample_us);
    let d = median(&mut detect_us);
    let pct = |us: f64| us * 3.0 / 1e6 * 100.0;
    println!("processes: {processes}, rounds: {rounds}");
    println!("| per sample | median µs | % of a core at 3 Hz | vs sample |");
    println!("|---|---:|---:|---:|");
    println!(
        "| reference: full sample (collect + score) | {s:.1} | {:.3} | 1.00× |",
        pct(s)
    );
    println!(
        "| stall detectors (clocks, PSI, own counters, detector over every process) | {d:.1} | {:.4} | {:.3}× |",
        pct(d),
        d / s
    );
}

fn delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let _ = std::fs::create_dir_all(&run);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_rogue-hunter"))
        .arg("daemon")
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_RUNTIME_DIR", &run)
        .env("ROGUE_HUNTER_SYSTEM_CONFIG", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let pid = daemon.id() as i32;
    let db = dir.path().join("data/rogue-hunter/data.db");
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_secs(2));
    let resumed = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let mut seen = None;
    while resumed.elapsed() < Duration::from_secs(10) {
        if let Ok(store) = Store::open_read_only(&db)
            && store.list_stalls(None, None).is_ok_and(|s| !s.is_empty())
        {
            seen = Some(resumed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    match seen {
        Some(d) => println!(
            "\nscheduling stall (2 s SIGSTOP): on record {:.0} ms after SIGCONT (goal < 1000 ms)",
            d.as_secs_f64() * 1000.0
        ),
        None => println!("\nscheduling stall: NOT recorded within 10 s"),
    }
}

fn main() {
    let rounds = arg("--rounds", 300);
    let extra = arg("--extra", 1000);
    // Idle processes so the table is the size the goals are stated for;
    // killed by PID when the measurement ends.
    let mut sleepers: Vec<std::process::Child> = (0..extra)
        .filter_map(|_| {
            Command::new("sleep")
                .arg("3600")
                .stdin(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    cost(rounds);
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    delay();
}
