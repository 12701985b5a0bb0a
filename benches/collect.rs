//! Cost of one full collection + scoring round, per process, side by side with
//! references measured in the same run:
//!   - `sysinfo`'s process refresh (cpu + memory + disk usage),
//!   - a floor that only opens/reads/closes `/proc/PID/stat` for every process,
//!   - the same floor keeping one descriptor per process and `pread`ing it.
//!
//! Then the sampling pipeline's own CPU use at 3 Hz (getrusage over 15 s).
//!
//! Run: `cargo bench --bench collect` (add `-- --extra N` for N extra sleeping
//! processes, default 1000; `-- --rounds N`, default 60).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;
use common::median;

use rogue_hunter::collect::Sampler;
use rogue_hunter::config::Config;
use rogue_hunter::platform::ProcessSource;
use rogue_hunter::platform::linux::LinuxSource;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

fn stat_floor(buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for pid in pids() {
        if let Ok(mut f) = File::open(format!("/proc/{pid}/stat")) {
            buf.clear();
            if f.read_to_end(buf).is_ok() {
                n += 1;
            }
        }
    }
    n
}

fn stat_kept(files: &mut HashMap<u32, File>, buf: &mut [u8]) -> usize {
    // Keep descriptors across rounds; open newcomers. (Listing /proc included.)
    let mut n = 0;
    for pid in pids() {
        let f = match files.entry(pid) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => match File::open(format!("/proc/{pid}/stat")) {
                Ok(f) => v.insert(f),
                Err(_) => continue,
            },
        };
        if f.read_at(buf, 0).is_ok() {
            n += 1;
        }
    }
    n
}

fn stat_io_kept(files: &mut HashMap<u32, (File, Option<File>)>, buf: &mut [u8]) -> usize {
    let mut n = 0;
    for pid in pids() {
        let f = match files.entry(pid) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => match File::open(format!("/proc/{pid}/stat")) {
                Ok(f) => v.insert((f, File::open(format!("/proc/{pid}/io")).ok())),
                Err(_) => continue,
            },
        };
        if f.0.read_at(buf, 0).is_ok() {
            n += 1;
        }
        if let Some(io) = &f.1 {
            let _ = io.read_at(buf, 0);
        }
    }
    n
}

fn cpu_seconds() -> f64 {
    // SAFETY: ru is plain data filled by getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let extra = arg("--extra", 1000);
    let rounds = arg("--rounds", 60);
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..extra {
        match Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                eprintln!("could not spawn sleeper: {e}");
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut sampler = Sampler::new(LinuxSource::new().expect("procfs"), Config::default());
    // Profiling aid: `-- --profile N` runs only N full samples (for perf/callgrind).
    let profile = arg("--profile", 0);
    if profile > 0 {
        let scan_only = std::env::args().any(|a| a == "--scan-only");
        let mut source = LinuxSource::new().expect("procfs");
        let mut raws = Vec::new();
        std::thread::sleep(Duration::from_secs(2));
        for _ in 0..profile {
            if scan_only {
                source.scan(&mut raws);
            } else {
                sampler.sample(rogue_hunter::unix_now());
            }
        }
        for mut c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
        return;
    }
    let mut sys = System::new().expect("sysinfo");
    let kind = ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_disk_usage();
    let mut buf = Vec::with_capacity(4096);
    let mut kept_files = HashMap::new();
    let mut kept_buf = vec![0u8; 4096];
    let mut kept_io = HashMap::new();

    // Warm up: prime deltas, kept descriptors and newcomer deep reads.
    for _ in 0..3 {
        sampler.sample(rogue_hunter::unix_now());
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        stat_kept(&mut kept_files, &mut kept_buf);
    }

    let mut scan_only = LinuxSource::new().expect("procfs");
    let mut raws = Vec::new();
    scan_only.scan(&mut raws);
    let (mut ours, mut theirs, mut floor, mut kept, mut scans, mut kept_both) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut grouping = vec![];
    let mut count = 0usize;
    // Each method runs a block of rounds on its own (so one method's cache
    // footprint does not tax the next), and blocks alternate three times so
    // slow drifts of the machine hit every method alike.
    let block = (rounds / 3).max(1);
    let pause = Duration::from_millis(30);
    for _ in 0..3 {
        for _ in 0..block {
            let t = Instant::now();
            let s = sampler.sample(rogue_hunter::unix_now());
            ours.push(t.elapsed().as_secs_f64() * 1e6 / s.process_count.max(1) as f64);
            grouping.push(sampler.grouping_time_s() * 1e6 / s.process_count.max(1) as f64);
            count = s.process_count as usize;
            std::thread::sleep(pause);
        }
        for _ in 0..block {
            let t = Instant::now();
            scan_only.scan(&mut raws);
            scans.push(t.elapsed().as_secs_f64() * 1e6 / raws.len().max(1) as f64);
            std::thread::sleep(pause);
        }
        for _ in 0..block {
            let t = Instant::now();
            sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
            theirs.push(t.elapsed().as_secs_f64() * 1e6 / sys.processes().len().max(1) as f64);
            std::thread::sleep(pause);
        }
        for _ in 0..block {
            let t = Instant::now();
            let n = stat_floor(&mut buf).max(1) as f64;
            floor.push(t.elapsed().as_secs_f64() * 1e6 / n);
            std::thread::sleep(pause);
        }
        for _ in 0..block {
            let t = Instant::now();
            let n = stat_kept(&mut kept_files, &mut kept_buf).max(1) as f64;
            kept.push(t.elapsed().as_secs_f64() * 1e6 / n);
            std::thread::sleep(pause);
        }
        for _ in 0..block {
            let t = Instant::now();
            let n = stat_io_kept(&mut kept_io, &mut kept_buf).max(1) as f64;
            kept_both.push(t.elapsed().as_secs_f64() * 1e6 / n);
            std::thread::sleep(pause);
        }
    }
    let (o, s, f, k) = (
        median(&mut ours),
        median(&mut theirs),
        median(&mut floor),
        median(&mut kept),
    );
    let c = median(&mut scans);
    let b = median(&mut kept_both);
    let g = median(&mut grouping);
    println!(
        "processes: {count} ({extra} extra sleepers), rounds: {rounds}, median µs per process per round\n"
    );
    println!("| what | µs/process | vs rogue-hunter |");
    println!("|---|---:|---:|");
    println!("| rogue-hunter full sample (collect + score + deep reads) | {o:.2} | 1.00× |");
    println!(
        "| of which grouping (tree, cgroup and app groups, scored) | {g:.2} | {:.2}× |",
        g / o
    );
    println!(
        "| rogue-hunter cheap pass alone (listing + stat/schedstat + io, kept fds) | {c:.2} | {:.2}× |",
        c / o
    );
    println!(
        "| sysinfo refresh (cpu + memory + disk usage) | {s:.2} | {:.2}× |",
        s / o
    );
    println!(
        "| floor: open/read/close /proc/PID/stat | {f:.2} | {:.2}× |",
        f / o
    );
    println!(
        "| floor: kept fd + pread /proc/PID/stat | {k:.2} | {:.2}× |",
        k / o
    );
    println!(
        "| floor: kept fds + pread /proc/PID/stat and /proc/PID/io | {b:.2} | {:.2}× |",
        b / o
    );
    println!();
    println!(
        "rogue-hunter is {:.2}× cheaper than sysinfo and {:.2}× the open/read/close stat floor ({:.2}× the kept-fd floor)",
        s / o,
        o / f,
        o / k
    );

    // Pipeline CPU at 3 Hz.
    let secs = 15.0;
    let interval = Duration::from_secs_f64(1.0 / 3.0);
    let start_cpu = cpu_seconds();
    let start = Instant::now();
    let mut next = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        sampler.sample(rogue_hunter::unix_now());
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let used = cpu_seconds() - start_cpu;
    println!(
        "\nsampling pipeline at 3 Hz over {secs:.0} s with {count} processes: {:.2}% of one core",
        used / start.elapsed().as_secs_f64() * 100.0
    );

    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}
