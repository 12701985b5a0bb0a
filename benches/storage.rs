//! Sustained snapshot rate of the writer thread (batched transactions), side
//! by side in the same run with a reference that writes each snapshot in its
//! own transaction on the caller's thread.
//!
//! Then the cost of a durable commit: one history-block upsert per
//! transaction (the recorder's 5 s write) with the WAL at `synchronous`
//! NORMAL and FULL, and the same write through the writer thread (FULL), as
//! wall time per commit.
//!
//! Run: `cargo bench --bench storage` (`-- --snapshots N`, default 20000;
//! `--commits N`, default 200).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;

use rogue_hunter::model::SnapshotType;
use rogue_hunter::model::{MetricValue, ProcessScore};
use rogue_hunter::storage::{Store, WriteOp, Writer};
use std::time::{Duration, Instant};

/// Median and 95th percentile of `v`, milliseconds.
fn median_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] * 1e3;
    (at(0.5), at(0.95))
}

/// Wall time of `n` transactions each upserting a `size`-byte blob, with
/// `PRAGMA synchronous = level` on a WAL database.
fn commits(path: &std::path::Path, level: &str, n: usize, size: usize) -> Vec<f64> {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", level)
        .expect("sync");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS b (start REAL PRIMARY KEY, data BLOB NOT NULL)")
        .expect("table");
    let data: Vec<u8> = (0..size).map(|i| (i * 7919 % 251) as u8).collect();
    (0..n)
        .map(|i| {
            let t = Instant::now();
            let tx = conn.unchecked_transaction().expect("begin");
            tx.execute(
                "INSERT INTO b (start, data) VALUES (?1, ?2)
                 ON CONFLICT(start) DO UPDATE SET data = excluded.data",
                rusqlite::params![(i / 24) as f64, data],
            )
            .expect("upsert");
            tx.commit().expect("commit");
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn process(i: usize) -> ProcessScore {
    let mut p = ProcessScore::new(
        1000 + (i % 50) as u32,
        1,
        format!("worker-{}", i % 50),
        i as f64,
    );
    p.cpu = Some(MetricValue::new(50.0 + (i % 50) as f64));
    p.mem = Some(MetricValue::new(1e8));
    p.disk_io_rate = Some(MetricValue::new(1e6));
    p.wakeups_rate = Some(MetricValue::new(100.0));
    p.score = 55.0;
    p
}

fn main() {
    let n = arg("--snapshots", 20000);
    let dir = tempfile::tempdir().expect("tempdir");

    // Writer thread: events opened, then snapshots streamed through the queue.
    let path = dir.path().join("writer.db");
    let writer = Writer::spawn(path.clone(), 4096).expect("writer");
    for key in 0..50u64 {
        while writer
            .send(WriteOp::OpenEvent {
                group: None,
                event_key: key,
                process: Box::new(process(key as usize)),
                boot_time: 0,
                entry_time: 0.0,
            })
            .is_err()
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    writer.flush(Duration::from_secs(30)).expect("flush");
    let t = Instant::now();
    let mut dropped_retries = 0u64;
    for i in 0..n {
        let mut op = WriteOp::Snapshot {
            group: None,
            event_key: (i % 50) as u64,
            kind: SnapshotType::Checkpoint,
            process: Box::new(process(i)),
        };
        // A producer faster than the disk: wait for room (the daemon would drop).
        loop {
            match writer.send(op) {
                Ok(()) => break,
                Err(_) => {
                    dropped_retries += 1;
                    std::thread::sleep(Duration::from_micros(100));
                    op = WriteOp::Snapshot {
                        group: None,
                        event_key: (i % 50) as u64,
                        kind: SnapshotType::Checkpoint,
                        process: Box::new(process(i)),
                    };
                }
            }
        }
    }
    writer.flush(Duration::from_secs(120)).expect("flush");
    let batched = n as f64 / t.elapsed().as_secs_f64();
    let stats = writer.shutdown().expect("shutdown");

    // Reference: one transaction per snapshot on this thread.
    let mut store = Store::open(&dir.path().join("direct.db")).expect("store");
    let ids: Vec<i64> = (0..50)
        .map(|k| store.open_event(&process(k), 0, 0.0).expect("open"))
        .collect();
    let m = (n / 10).max(500);
    let t = Instant::now();
    for i in 0..m {
        store
            .add_snapshot(ids[i % 50], SnapshotType::Checkpoint, &process(i))
            .expect("snapshot");
    }
    let direct = m as f64 / t.elapsed().as_secs_f64();

    println!("snapshots: {n} through the writer, {m} direct\n");
    println!("| writer | snapshots/s | vs one transaction each |");
    println!("|---|---:|---:|");
    println!(
        "| writer thread, batched transactions | {batched:.0} | {:.1}× |",
        batched / direct
    );
    println!("| one transaction per snapshot (reference) | {direct:.0} | 1.0× |");
    println!(
        "\nwriter: {} ops applied in {} batches, {} failed; the producer waited for room {} times",
        stats.applied, stats.batches, stats.failed, dropped_retries
    );
    println!(
        "at 3 Hz with every tracked process in the high band (a snapshot each sample), the writer keeps up with {:.0} tracked processes",
        batched / 3.0
    );

    // Durable commits: a 20 KB block (an open history block at ~2 minutes).
    let c = arg("--commits", 200);
    let size = 20_000;
    let normal = median_p95(commits(&dir.path().join("normal.db"), "NORMAL", c, size));
    let full = median_p95(commits(&dir.path().join("full.db"), "FULL", c, size));
    let writer = Writer::spawn(dir.path().join("through-writer.db"), 64).expect("writer");
    let data = vec![7u8; size];
    let through: Vec<f64> = (0..c)
        .map(|i| {
            let t = Instant::now();
            writer
                .send(WriteOp::HistoryBlock {
                    start: (i / 24) as f64,
                    end: i as f64,
                    frames: 1,
                    encoding: 2,
                    data: data.clone(),
                })
                .expect("queued");
            writer.flush(Duration::from_secs(30)).expect("flush");
            t.elapsed().as_secs_f64()
        })
        .collect();
    let through = median_p95(through);
    println!("\none {size}-byte block upsert per transaction, {c} commits, wall ms (median, p95):");
    println!("| commit | median ms | p95 ms |");
    println!("|---|---:|---:|");
    println!(
        "| WAL, synchronous=NORMAL | {:.3} | {:.3} |",
        normal.0, normal.1
    );
    println!("| WAL, synchronous=FULL | {:.3} | {:.3} |", full.0, full.1);
    println!(
        "| writer thread (FULL), queue + commit + acknowledgement | {:.3} | {:.3} |",
        through.0, through.1
    );
}
