//! Sustained snapshot rate of the writer thread (batched transactions), side
//! by side in the same run with a reference that writes each snapshot in its
//! own transaction on the caller's thread.
//!
//! Run: `cargo bench --bench storage` (`-- --snapshots N`, default 20000).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;

use rogue_hunter::model::SnapshotType;
use rogue_hunter::model::{MetricValue, ProcessScore};
use rogue_hunter::storage::{Store, WriteOp, Writer};
use std::time::{Duration, Instant};

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
}
