//! The daemon with everything on, compared in one run with `top`, `atop`,
//! `pidstat` and `htop` on the same workloads (docs/performance.md, "Daemon
//! against other monitors").
//!
//! Workloads (issue "performance with everything on"):
//! - A: 1000 idle single-threaded processes;
//! - B: 200 idle processes with 20 threads each;
//! - C: 5000 idle processes;
//! - D: PID churn, ~200 short-lived processes a second while measuring;
//! - E: two spinners and a disk writer, plus A.
//!
//! Tools, each alone on the workload, primed, then measured for S seconds:
//! - `daemon`: the release daemon alone (3 Hz; groups, machine series, stall
//!   detectors, the recorder, forensics and the Prometheus endpoint on);
//! - `rogue-hunter`: the same daemon with one connected dashboard (`tui` in a
//!   120x40 pty, full table); both measured;
//! - `top -b -d 0.333` (3 Hz);
//! - `atop 1` and `pidstat -u -d -w 1` (1 Hz; their CPU is scaled ×3 to the
//!   same cadence, which assumes cost grows with the number of samples);
//! - `htop -d 3` in a 120x40 pty (3.3 Hz; scaled ×0.9).
//!
//! CPU is utime+stime from /proc over the measured window, % of one core;
//! RSS is the peak (VmHWM). Lateness: the daemon's worst sample lateness from
//! its own `daemon_stopped` log line (the whole run); for top, atop and pidstat
//! the worst gap between two reports minus the interval, seen on their output.
//! In D the daemon's RSS is also read before the churn and 5 s after it ends.
//!
//! Run: `cargo bench --bench daemon` (`-- --seconds S` default 20, `--churn-seconds`
//! default 60, `--workloads ABCDE`, `--tools daemon,rogue-hunter,top,atop,pidstat,htop`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::{arg, cpu_ticks, status_kb, ticks_per_s};

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "RH_BENCH_ROLE";
const PRIME: Duration = Duration::from_secs(4);

/// A spawned process killed and reaped on drop, whatever happens.
struct Guard(Child);

impl Guard {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stop `child` with SIGTERM, waiting up to 5 s before the guard's SIGKILL.
fn terminate(child: &mut Guard) {
    // SAFETY: kill with the pid of a child we have not reaped.
    unsafe { libc::kill(child.pid() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn self_role(role: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("bench exe"));
    c.env(ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The helper processes a workload is made of (the bench re-executed).
fn run_role(role: &str) {
    match role {
        "threads" => {
            for _ in 0..19 {
                std::thread::spawn(|| {
                    loop {
                        std::thread::park();
                    }
                });
            }
            loop {
                std::thread::park();
            }
        }
        "spin" => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "write" => {
            let path = std::env::var("RH_BENCH_FILE").expect("RH_BENCH_FILE");
            let mut f = std::fs::File::create(&path).expect("create");
            let buf = vec![0x5au8; 1 << 20];
            loop {
                for _ in 0..16 {
                    f.write_all(&buf).expect("write");
                }
                f.sync_data().expect("fsync");
                f.set_len(0).expect("truncate");
                use std::io::Seek;
                f.seek(std::io::SeekFrom::Start(0)).expect("seek");
            }
        }
        "churn" => {
            // ~200 short-lived processes a second.
            let period = Duration::from_millis(5);
            let mut next = Instant::now();
            loop {
                let _ = Command::new("/bin/true").status();
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                } else {
                    next = Instant::now();
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn sleepers(n: usize) -> Vec<Guard> {
    (0..n)
        .filter_map(|_| {
            Command::new("sleep")
                .arg("3600")
                .stdin(Stdio::null())
                .spawn()
                .ok()
                .map(Guard)
        })
        .collect()
}

/// What runs on the machine before the tool starts.
fn workload(w: char, scratch: &Path) -> Vec<Guard> {
    match w {
        'A' => sleepers(1000),
        'B' => (0..200)
            .filter_map(|_| self_role("threads").spawn().ok().map(Guard))
            .collect(),
        'C' => sleepers(5000),
        'D' => Vec::new(),
        'E' => {
            let mut v = sleepers(1000);
            for _ in 0..2 {
                v.push(Guard(self_role("spin").spawn().expect("spinner")));
            }
            let mut w = self_role("write");
            w.env("RH_BENCH_FILE", scratch.join("writer.bin"));
            v.push(Guard(w.spawn().expect("writer")));
            v
        }
        other => panic!("unknown workload {other}"),
    }
}

fn describe(w: char) -> &'static str {
    match w {
        'A' => "A: 1000 idle processes",
        'B' => "B: 200 idle processes × 20 threads",
        'C' => "C: 5000 idle processes",
        'D' => "D: churn, ~200 processes/s",
        'E' => "E: 2 spinners + disk writer + A",
        _ => "?",
    }
}

/// A pty pair whose slave becomes the child's controlling terminal; the master
/// is drained by a thread so the child never blocks on output.
fn spawn_in_pty(mut cmd: Command) -> (Guard, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds; name and termios may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just returned by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: fcntl on a valid fd: the master must not leak into the child.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    let s = slave.as_raw_fd();
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")))
        .env("TERM", "xterm-256color");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(s, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let child = Guard(cmd.spawn().expect("spawn in pty"));
    drop(slave);
    let reader = master.try_clone().expect("dup master");
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(reader);
        let mut buf = [0u8; 65536];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    (child, master)
}

/// Instants at which a tool printed the first line of a report.
fn watch_reports(child: &mut Child, marker: &'static str) -> Arc<Mutex<Vec<Instant>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().expect("piped stdout");
    let s = seen.clone();
    std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if String::from_utf8_lossy(&line).contains(marker) {
                        s.lock().unwrap().push(Instant::now());
                    }
                }
            }
        }
    });
    seen
}

/// Worst report gap after `from`, minus the interval, in ms.
fn worst_gap_ms(seen: &Mutex<Vec<Instant>>, from: Instant, interval: Duration) -> Option<f64> {
    let v = seen.lock().unwrap();
    let after: Vec<&Instant> = v.iter().filter(|t| **t >= from).collect();
    if after.len() < 2 {
        return None;
    }
    let worst = after.windows(2).map(|w| w[1].duration_since(*w[0])).max()?;
    Some((worst.as_secs_f64() - interval.as_secs_f64()).max(0.0) * 1000.0)
}

#[derive(Default, Clone)]
struct Row {
    tool: String,
    cpu_pct: f64,
    rss_mib: f64,
    lateness_ms: Option<f64>,
    note: String,
}

/// Measure `pids` over `secs` (or over the churn when `churn` is set).
fn measure(pids: &[u32], secs: u64, churn: Option<u64>) -> Vec<f64> {
    let tps = ticks_per_s();
    let c0: Vec<u64> = pids.iter().map(|p| cpu_ticks(*p).unwrap_or(0)).collect();
    let t0 = Instant::now();
    let mut churner = churn.map(|_| Guard(self_role("churn").spawn().expect("churn")));
    std::thread::sleep(Duration::from_secs(churn.unwrap_or(secs)));
    let c1: Vec<u64> = pids.iter().map(|p| cpu_ticks(*p).unwrap_or(0)).collect();
    let wall = t0.elapsed().as_secs_f64();
    if let Some(c) = churner.as_mut() {
        terminate(c);
    }
    c0.iter()
        .zip(&c1)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / tps / wall * 100.0)
        .collect()
}

fn sandbox_env(c: &mut Command, dir: &Path, metrics_port: u16) {
    c.env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("ROGUE_HUNTER_SYSTEM_CONFIG", "")
        .env("ROGUE_HUNTER_METRICS__ENABLED", "true")
        .env(
            "ROGUE_HUNTER_METRICS__LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        );
}

fn wait_for(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn daemon_log_field(state: &Path, event: &str, field: &str) -> Option<f64> {
    let log = std::fs::read_to_string(state.join("rogue-hunter").join("daemon.log")).ok()?;
    log.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let fields = v.get("fields").unwrap_or(&v);
        if fields.get("event_name")?.as_str()? != event {
            return None;
        }
        fields.get(field)?.as_f64()
    })
}

/// The daemon with everything on; with `dashboard`, one connected `tui` in a
/// pty too (both measured), else the daemon alone (its own cost).
fn run_rogue_hunter(secs: u64, churn: Option<u64>, port: u16, dashboard: bool) -> Vec<Row> {
    let bin = env!("CARGO_BIN_EXE_rogue-hunter");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("run")).expect("run dir");
    let mut cmd = Command::new(bin);
    let stderr_path = dir.path().join("daemon.stderr");
    cmd.arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    sandbox_env(&mut cmd, dir.path(), port);
    let mut daemon = Guard(cmd.spawn().expect("daemon"));
    let socket_dir = dir.path().join("run");
    if !wait_for(Duration::from_secs(30), || walk_has_socket(&socket_dir)) {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        panic!("timed out after 30 s waiting for the daemon's socket; its stderr:\n{err}");
    }
    let mut dash = dashboard.then(|| {
        let mut tui = Command::new(bin);
        tui.arg("tui");
        sandbox_env(&mut tui, dir.path(), port);
        spawn_in_pty(tui)
    });
    std::thread::sleep(PRIME);
    let rss_before = status_kb(daemon.pid(), "VmRSS").unwrap_or(0);
    let mut pids = vec![daemon.pid()];
    pids.extend(dash.as_ref().map(|(d, _)| d.pid()));
    let cpu = measure(&pids, secs, churn);
    let mut note = String::new();
    if churn.is_some() {
        std::thread::sleep(Duration::from_secs(5));
        let after = status_kb(daemon.pid(), "VmRSS").unwrap_or(0);
        note = format!(
            "RSS before churn {:.1} MiB, 5 s after {:.1} MiB",
            rss_before as f64 / 1024.0,
            after as f64 / 1024.0
        );
    }
    let d_rss = status_kb(daemon.pid(), "VmHWM").unwrap_or(0) as f64 / 1024.0;
    let d_now = status_kb(daemon.pid(), "VmRSS").unwrap_or(0) as f64 / 1024.0;
    let t_rss = dash
        .as_ref()
        .map(|(d, _)| status_kb(d.pid(), "VmHWM").unwrap_or(0) as f64 / 1024.0);
    if let Some((d, _)) = dash.as_mut() {
        terminate(d);
    }
    terminate(&mut daemon);
    let state = dir.path().join("state");
    let late = daemon_log_field(&state, "daemon_stopped", "max_lateness_ms");
    let late_samples = daemon_log_field(&state, "daemon_stopped", "late_samples");
    if let Some(n) = late_samples {
        if !note.is_empty() {
            note.push_str("; ");
        }
        note.push_str(&format!("{n} samples late by > 1 interval"));
    }
    if !note.is_empty() {
        note.push_str("; ");
    }
    note.push_str(&format!("RSS at the end {d_now:.1} MiB"));
    let mut rows = vec![Row {
        tool: if dashboard {
            "rogue-hunter daemon".into()
        } else {
            "rogue-hunter daemon, no dashboard".into()
        },
        cpu_pct: cpu[0],
        rss_mib: d_rss,
        lateness_ms: late,
        note,
    }];
    if let Some(t_rss) = t_rss {
        rows.push(Row {
            tool: "rogue-hunter tui (connected)".into(),
            cpu_pct: cpu[1],
            rss_mib: t_rss,
            lateness_ms: None,
            note: String::new(),
        });
    }
    rows
}

fn walk_has_socket(dir: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_socket() => true,
        Ok(t) if t.is_dir() => walk_has_socket(&e.path()),
        _ => false,
    })
}

struct Piped {
    name: &'static str,
    argv: &'static [&'static str],
    marker: &'static str,
    interval: Duration,
    scale: f64,
}

const PIPED: &[Piped] = &[
    Piped {
        name: "top",
        argv: &["top", "-b", "-d", "0.333"],
        marker: "top - ",
        interval: Duration::from_millis(333),
        scale: 1.0,
    },
    Piped {
        name: "atop",
        argv: &["atop", "1"],
        marker: "ATOP - ",
        interval: Duration::from_secs(1),
        scale: 3.0,
    },
    Piped {
        name: "pidstat",
        argv: &["pidstat", "-u", "-d", "-w", "1"],
        marker: "%usr",
        interval: Duration::from_secs(1),
        scale: 3.0,
    },
];

fn run_piped(p: &Piped, secs: u64, churn: Option<u64>) -> Option<Row> {
    let mut cmd = Command::new(p.argv[0]);
    cmd.args(&p.argv[1..])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = match cmd.spawn() {
        Ok(c) => Guard(c),
        Err(e) => {
            eprintln!("{} not run: {e}", p.name);
            return None;
        }
    };
    let seen = watch_reports(&mut child.0, p.marker);
    std::thread::sleep(PRIME);
    let from = Instant::now();
    let cpu = measure(&[child.pid()], secs, churn)[0];
    let rss = status_kb(child.pid(), "VmHWM").unwrap_or(0) as f64 / 1024.0;
    let late = worst_gap_ms(&seen, from, p.interval);
    terminate(&mut child);
    Some(Row {
        tool: p.name.into(),
        cpu_pct: cpu * p.scale,
        rss_mib: rss,
        lateness_ms: late,
        note: if p.scale == 1.0 {
            String::new()
        } else {
            format!("measured at 1 Hz {cpu:.2} %, ×{} to 3 Hz", p.scale)
        },
    })
}

fn run_htop(secs: u64, churn: Option<u64>) -> Option<Row> {
    if Command::new("htop").arg("--version").output().is_err() {
        eprintln!("htop not installed; not run");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new("htop");
    // -d is in tenths of a second: 3 → 3.3 Hz; its own config stays in the sandbox.
    cmd.args(["-d", "3"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path());
    let (mut child, _master) = spawn_in_pty(cmd);
    std::thread::sleep(PRIME);
    let cpu = measure(&[child.pid()], secs, churn)[0];
    let rss = status_kb(child.pid(), "VmHWM").unwrap_or(0) as f64 / 1024.0;
    terminate(&mut child);
    Some(Row {
        tool: "htop".into(),
        cpu_pct: cpu * 0.9,
        rss_mib: rss,
        lateness_ms: None,
        note: format!("measured at 3.3 Hz {cpu:.2} %, ×0.9 to 3 Hz"),
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "—".into())
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        run_role(&role);
        return;
    }
    let secs: u64 = arg("--seconds", 20);
    let churn_secs: u64 = arg("--churn-seconds", 60);
    let workloads: String = arg("--workloads", "ABCDE".to_string());
    let tools: String = arg(
        "--tools",
        "daemon,rogue-hunter,top,atop,pidstat,htop".to_string(),
    );
    let tools: Vec<&str> = tools.split(',').collect();
    let scratch = tempfile::tempdir().expect("scratch");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "# daemon vs monitors: {cores} cores, measured {secs} s per tool ({churn_secs} s in D), primed {} s\n",
        PRIME.as_secs()
    );
    println!(
        "| workload | processes | tool | CPU % of a core | ratio to top | peak RSS MiB | worst lateness ms | note |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    let mut port = 19877u16;
    for w in workloads.chars() {
        let procs = workload(w, scratch.path());
        let count = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                    .count()
            })
            .unwrap_or(0);
        std::thread::sleep(Duration::from_secs(1));
        let churn = (w == 'D').then_some(churn_secs);
        let mut rows: Vec<Row> = Vec::new();
        for t in &tools {
            match *t {
                "rogue-hunter" | "daemon" => {
                    port += 1;
                    rows.extend(run_rogue_hunter(secs, churn, port, *t == "rogue-hunter"));
                }
                "htop" => rows.extend(run_htop(secs, churn)),
                name => {
                    if let Some(p) = PIPED.iter().find(|p| p.name == name) {
                        rows.extend(run_piped(p, secs, churn));
                    } else {
                        eprintln!("unknown tool {name}");
                    }
                }
            }
        }
        let top = rows.iter().find(|r| r.tool == "top").map(|r| r.cpu_pct);
        for r in &rows {
            let ratio = top
                .filter(|t| *t > 0.0)
                .map(|t| format!("{:.2}", r.cpu_pct / t))
                .unwrap_or_else(|| "—".into());
            println!(
                "| {} | {count} | {} | {:.2} | {ratio} | {:.1} | {} | {} |",
                describe(w),
                r.tool,
                r.cpu_pct,
                r.rss_mib,
                fmt_opt(r.lateness_ms),
                r.note
            );
        }
        let _ = std::io::stdout().flush();
        drop(procs);
    }
}
