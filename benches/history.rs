//! The continuous recording on a real machine: the real sampler at 1 Hz with
//! `--extra` sleeping processes (default 1000) and 20 busy workers (bursts of
//! CPU, memory churn, wakeups and small writes, so the top 20 changes every
//! second), each second fed to the recorder, the blocks written through the
//! writer thread into a real database. Reports bytes per recorded second
//! (blobs and the database file), the extrapolation to a day, and the
//! recorder's CPU: on the sampling thread (choosing the processes and
//! appending the frame: thread CPU time around `Recorder::record`) and on
//! the writer thread (its whole CPU time over the run, from its schedstat,
//! and the encoding and compression of the same block writes timed alone).
//! Then the same frames re-encoded other ways, to justify the layout: JSON
//! per second, the compact layout uncompressed, what the machine series and
//! the groups add, zstd levels and block lengths.
//!
//! Run: `cargo bench --bench history -- --seconds 600` (default 600;
//! `--extra N`, `--workers N`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;

use rogue_hunter::collect::Sampler;
use rogue_hunter::config::Config;
use rogue_hunter::history::encode::{Frame, encode_raw};
use rogue_hunter::history::{BLOCK_SECONDS, BlockWrite, Recorder};
use rogue_hunter::model::ProcessKey;
use rogue_hunter::platform::linux::LinuxSource;
use rogue_hunter::storage::{Store, WriteOp, Writer};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "RH_BENCH_HISTORY_WORKER";

/// Children killed by PID and reaped on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A busy worker: every 100 ms a burst of 0-3 ms of CPU, a few hundred KB
/// allocated or freed, a small write; about 1.5 % of a core each.
fn worker(seed: u64) -> ! {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut held: Vec<Vec<u8>> = Vec::new();
    let path = std::env::temp_dir().join(format!("rh-bench-history-{}", std::process::id()));
    loop {
        let burst = Duration::from_micros(next() % 3000);
        let t = Instant::now();
        let mut acc = 0u64;
        while t.elapsed() < burst {
            acc = std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if next() % 2 == 0 && held.len() < 64 {
            held.push(vec![1u8; 256 << 10]);
        } else {
            held.pop();
        }
        if next() % 10 == 0 {
            let _ = std::fs::write(&path, vec![0u8; (next() % 65536) as usize]);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU time of this process's thread named `name` (its schedstat run
/// time), seconds.
fn named_thread_cpu_s(name: &str) -> Option<f64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
            return Some(ns / 1e9);
        }
    }
    None
}

fn blocks_of(frames: &[Frame], seconds: f64) -> Vec<&[Frame]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=frames.len() {
        if i == frames.len() || frames[i].timestamp_s - frames[start].timestamp_s >= seconds {
            out.push(&frames[start..i]);
            start = i;
        }
    }
    out
}

fn main() {
    if let Ok(seed) = std::env::var(ROLE) {
        worker(seed.parse().unwrap_or(1));
    }
    let seconds: usize = arg("--seconds", 600);
    let extra: usize = arg("--extra", 1000);
    let workers: usize = arg("--workers", 20);
    let mut children = Children(Vec::new());
    for _ in 0..extra {
        match Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => children.0.push(c),
            Err(e) => {
                eprintln!("could not spawn sleeper: {e}");
                break;
            }
        }
    }
    let exe = std::env::current_exe().expect("bench binary");
    for i in 0..workers {
        match Command::new(&exe)
            .env(ROLE, (i + 1).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => children.0.push(c),
            Err(e) => eprintln!("could not spawn worker: {e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.db");
    let writer = Writer::spawn(db.clone(), 4096).expect("writer");
    // What an empty database weighs, to subtract.
    writer.flush(Duration::from_secs(10)).expect("flush");
    let empty_db = rogue_hunter::storage::db_bytes(&db);
    let writer_cpu_start = named_thread_cpu_s("rh-storage");

    let mut sampler = Sampler::new(LinuxSource::new().expect("procfs"), Config::default());
    let mut recorder = Recorder::new(20);
    // Three tracked processes (open events) outside the top 20, as on a
    // machine with a few slow-burning rogues.
    let tracked: HashSet<ProcessKey> = HashSet::new();
    let mut sent: Vec<BlockWrite> = Vec::new();
    let mut all_frames: Vec<Frame> = Vec::new();
    let mut cpu_s = 0.0;
    let mut writes = 0usize;
    let mut processes = Vec::new();
    let started = Instant::now();
    for i in 0..seconds {
        let due = started + Duration::from_secs(i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = rogue_hunter::unix_now();
        let (samples, all) = sampler.sample_all(now);
        processes.push(samples.process_count as f64);
        let tracked_now: HashSet<ProcessKey> = if tracked.is_empty() {
            // The three lowest-scored non-sleepers stand in for tracked ones.
            all.iter().rev().take(3).map(|p| p.key()).collect()
        } else {
            tracked.clone()
        };
        let t0 = thread_cpu_s();
        let blocks = recorder.record(&samples, all, &tracked_now);
        cpu_s += thread_cpu_s() - t0;
        for b in blocks {
            writes += 1;
            sent.push(b.clone());
            let _ = writer.send(WriteOp::HistoryFrames(b));
        }
        all_frames.push(Frame::from_samples(
            &samples,
            rogue_hunter::history::recorder::select(all, 20, &tracked_now),
        ));
        if (i + 1) % 60 == 0 {
            eprintln!("{} s recorded", i + 1);
        }
    }
    if let Some(b) = recorder.take() {
        writes += 1;
        sent.push(b.clone());
        let _ = writer.send(WriteOp::HistoryFrames(b));
    }
    writer.flush(Duration::from_secs(30)).expect("flush");
    let writer_cpu = writer_cpu_start
        .zip(named_thread_cpu_s("rh-storage"))
        .map(|(a, b)| b - a);
    drop(writer);
    // What the writer spent encoding and compressing, timed alone.
    let t0 = thread_cpu_s();
    let encoded: usize = sent.iter().map(|b| b.encode().len()).sum();
    let encode_cpu = thread_cpu_s() - t0;
    std::hint::black_box(encoded);
    drop(children);
    let store = Store::open_read_only(&db).expect("reopen");
    let summary = store.history_summary().expect("summary");
    let db_growth = rogue_hunter::storage::db_bytes(&db).saturating_sub(empty_db);
    let n = seconds as f64;
    let blobs = summary.bytes as usize;
    let per_s = blobs as f64 / n;
    let recorded_per_frame = all_frames.iter().map(|f| f.processes.len()).sum::<usize>() as f64 / n;
    processes.sort_by(f64::total_cmp);
    println!(
        "history: {seconds} s at 1 Hz, ~{:.0} processes, {recorded_per_frame:.1} recorded per second, \
         blocks of {BLOCK_SECONDS} s",
        processes[processes.len() / 2]
    );
    println!(
        "  stored blobs: {blobs} bytes = {per_s:.0} B per recorded second = {:.1} MB/day \
         ({} blocks, {} frames in the database)",
        per_s * 86400.0 / 1e6,
        summary.blocks,
        summary.frames
    );
    println!(
        "  database file growth (pages, WAL, index): {db_growth} bytes = {:.1} MB/day",
        db_growth as f64 / n * 86400.0 / 1e6
    );
    println!(
        "  recorder CPU on the sampling thread (select + frame append, {writes} block writes \
         handed over): {:.3} ms per second = {:.4} % of a core",
        cpu_s / n * 1e3,
        cpu_s / n * 100.0
    );
    println!(
        "  writer thread: encode + zstd of those writes {:.3} ms per second = {:.4} % of a core; \
         the thread in all (encode, SQLite, commits) {}",
        encode_cpu / n * 1e3,
        encode_cpu / n * 100.0,
        writer_cpu.map_or_else(
            || "not measured (no schedstat)".to_string(),
            |c| format!(
                "{:.3} ms per second = {:.4} % of a core",
                c / n * 1e3,
                c / n * 100.0
            )
        )
    );
    // The same frames, other ways.
    let per_day = |bytes: usize| bytes as f64 / n * 86400.0 / 1e6;
    let json: usize = all_frames
        .iter()
        .filter_map(|f| f.to_samples())
        .map(|s| serde_json::to_vec(&s).map_or(0, |v| v.len()))
        .sum();
    let mut json_zstd = 0;
    let mut raw = 0;
    for block in blocks_of(&all_frames, BLOCK_SECONDS) {
        let text: Vec<u8> = block
            .iter()
            .filter_map(|f| f.to_samples())
            .flat_map(|s| serde_json::to_vec(&s).unwrap_or_default())
            .collect();
        json_zstd += zstd::bulk::compress(&text, 3).map_or(0, |v| v.len());
        raw += encode_raw(block).len();
    }
    println!(
        "  alternatives over the same {} frames (MB/day):",
        all_frames.len()
    );
    println!(
        "    JSON per second, uncompressed      {:8.1}",
        per_day(json)
    );
    println!(
        "    JSON, zstd -3 per {BLOCK_SECONDS} s block      {:8.1}",
        per_day(json_zstd)
    );
    println!(
        "    compact layout, uncompressed       {:8.1}",
        per_day(raw)
    );
    // What each part of the frame adds (zstd -3, 120 s blocks).
    let mut parts = [0usize; 3];
    for block in blocks_of(&all_frames, BLOCK_SECONDS) {
        let strip = |system: bool, groups: bool| -> Vec<Frame> {
            block
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    if !system {
                        f.system = None;
                    }
                    if !groups {
                        f.groups.clear();
                    }
                    f
                })
                .collect()
        };
        for (i, (system, groups)) in [(false, false), (true, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            parts[i] +=
                zstd::bulk::compress(&encode_raw(&strip(system, groups)), 3).map_or(0, |v| v.len());
        }
    }
    println!(
        "    compact, zstd -3, 120 s: processes only {:.1}, + machine series {:.1}, + groups {:.1}",
        per_day(parts[0]),
        per_day(parts[1]),
        per_day(parts[2])
    );
    for level in [1, 3, 9, 19] {
        for secs in [30.0, 120.0, 600.0] {
            let t = Instant::now();
            let mut bytes = 0;
            for block in blocks_of(&all_frames, secs) {
                bytes += zstd::bulk::compress(&encode_raw(block), level).map_or(0, |v| v.len());
            }
            println!(
                "    compact, zstd -{level:<2} blocks of {secs:>3} s  {:8.1}   ({:.2} ms to encode {} s)",
                per_day(bytes),
                t.elapsed().as_secs_f64() * 1e3,
                seconds
            );
        }
    }
}
