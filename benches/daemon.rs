//! The daemon's own cost at 3 Hz: the release binary runs in a sandboxed XDG
//! tree with N extra sleeping processes for S seconds; CPU time (utime+stime
//! from /proc) and peak RSS (VmHWM) are read before it stops. The same run
//! measures `sample` for one round as a reference point.
//!
//! Run: `cargo bench --bench daemon` (`-- --extra N` default 1000, `-- --seconds S` default 30).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn main() {
    let extra = arg("--extra", 1000);
    let seconds = arg("--seconds", 30);
    let bin = env!("CARGO_BIN_EXE_rogue-hunter");
    let mut sleepers: Vec<Child> = (0..extra)
        .filter_map(|_| {
            Command::new("sleep")
                .arg("3600")
                .stdin(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = |c: &mut Command| {
        c.env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("XDG_RUNTIME_DIR", dir.path().join("run"))
            .env("ROGUE_HUNTER_SYSTEM_CONFIG", "");
    };
    let _ = std::fs::create_dir_all(dir.path().join("run"));
    let mut cmd = Command::new(bin);
    cmd.arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env(&mut cmd);
    let mut daemon = cmd.spawn().expect("daemon");
    let pid = daemon.id();
    // Let it prime (newcomers get two deep reads) before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let ticks_per_s = 100.0;
    let t0 = Instant::now();
    let c0 = cpu_ticks(pid).expect("daemon alive");
    std::thread::sleep(Duration::from_secs(seconds));
    let c1 = cpu_ticks(pid).expect("daemon alive");
    let wall = t0.elapsed().as_secs_f64();
    let rss_peak = status_kb(pid, "VmHWM").unwrap_or(0);
    let rss_now = status_kb(pid, "VmRSS").unwrap_or(0);
    let processes = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0);
    // SAFETY: kill with the daemon's pid.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = daemon.wait().expect("wait");
    let cpu_pct = (c1 - c0) as f64 / ticks_per_s / wall * 100.0;
    println!(
        "daemon at 3 Hz, {processes} processes ({extra} extra sleepers), {seconds} s measured\n"
    );
    println!("| measure | value | goal |");
    println!("|---|---:|---:|");
    println!("| CPU, % of one core | {cpu_pct:.2} | < 2 |");
    println!(
        "| peak RSS (VmHWM) | {:.1} MiB | < 30 MiB |",
        rss_peak as f64 / 1024.0
    );
    println!("| RSS at the end | {:.1} MiB | |", rss_now as f64 / 1024.0);
    println!("\ndaemon exited with {status}");
    for c in &mut sleepers {
        let _ = c.kill();
        let _ = c.wait();
    }
}
