//! The live stream: latency from `publish_sample` to a client having parsed the
//! line, with 1 and with 50 connected clients, against a reference measured in
//! the same run (a JSON encode + decode of the same sample in-process, the
//! floor any socket transport pays); then the dashboard's CPU use at 3 Hz,
//! connected to a running daemon in a pseudo-terminal.
//!
//! Run: `cargo bench --bench live_stream` (`-- --samples N`, default 60).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::arg;
use common::{cpu_ticks, median};

use rogue_hunter::ipc::hub::Hub;
use rogue_hunter::ipc::protocol::{DaemonInfo, ServerMessage};
use rogue_hunter::ipc::server::{EventQuery, Server, ServerConfig};
use rogue_hunter::model::{MetricValue, ProcessSamples, ProcessScore};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sample(n: usize) -> ProcessSamples {
    let rogues = (0..n)
        .map(|i| {
            let mut p = ProcessScore::new(100 + i as u32, 1, format!("process-{i} --flag"), 0.0);
            for (j, m) in p.metrics_mut().into_iter().enumerate() {
                *m = Some(MetricValue::new((i * 31 + j) as f64));
            }
            p.score = 50.0 - i as f64;
            p
        })
        .collect();
    ProcessSamples {
        timestamp_s: 0.0,
        elapsed_ms: 5.0,
        process_count: 1000,
        max_score: 50.0,
        rogues,
        groups: Vec::new(),
        system: None,
    }
}

fn p99(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.99) as usize).min(v.len() - 1)]
}

/// Latency publish → parsed, in ms, seen by the first of `clients` readers.
fn broadcast(clients: usize, samples: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("run/daemon.sock");
    let hub = Hub::new(DaemonInfo {
        pid: std::process::id(),
        started_at: rogue_hunter::unix_now(),
        sample_interval: 1.0 / 3.0,
        sample_count: 0,
        boot_time: 0,
        open_events: 0,
        last_stall: None,
        health: Default::default(),
    });
    let events: EventQuery = Arc::new(|_| Ok(vec![]));
    let server =
        Server::start(ServerConfig::new(socket.clone()), hub.clone(), events).expect("server");
    let mut readers = Vec::new();
    for i in 0..clients {
        let stream = UnixStream::connect(&socket).expect("connect");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("initial_state");
        readers.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            for _ in 0..samples {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Ok(ServerMessage::Sample { samples }) = serde_json::from_str(&line) {
                    lat.push((rogue_hunter::unix_now() - samples.timestamp_s) * 1000.0);
                }
            }
            if i == 0 { lat } else { Vec::new() }
        }));
    }
    while hub.client_count() < clients {
        std::thread::sleep(Duration::from_millis(10));
    }
    let template = sample(20);
    for _ in 0..samples {
        let mut s = template.clone();
        s.timestamp_s = rogue_hunter::unix_now();
        hub.publish_sample(Arc::new(s));
        std::thread::sleep(Duration::from_millis(333));
    }
    let mut first = Vec::new();
    for r in readers {
        let lat = r.join().unwrap_or_default();
        if !lat.is_empty() {
            first = lat;
        }
    }
    server.shutdown();
    first
}

fn encode_decode_floor(samples: usize) -> Vec<f64> {
    let template = sample(20);
    (0..samples)
        .map(|_| {
            let t = Instant::now();
            let line = rogue_hunter::ipc::protocol::encode_sample(&template).expect("encode");
            let _: ServerMessage = serde_json::from_str(&line).expect("decode");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Decoding a full-table sample line of `n` processes: the tagged enum (serde
/// buffers the document into an untyped tree first) against `decode_server`'s
/// direct path, medians in ms.
fn decode_paths(n: usize, rounds: usize) -> (f64, f64, usize) {
    use rogue_hunter::ipc::protocol::{MAX_SERVER_LINE, decode, decode_server, encode_sample};
    let line = encode_sample(&sample(n)).expect("encode");
    let time = |f: &dyn Fn() -> ServerMessage| {
        let mut v: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        median(&mut v)
    };
    let tagged =
        time(&|| decode::<ServerMessage>(line.as_bytes(), MAX_SERVER_LINE).expect("decode"));
    let direct = time(&|| decode_server(line.as_bytes(), MAX_SERVER_LINE).expect("decode"));
    (tagged, direct, line.len())
}

/// The full table of `n` processes three ways, medians in ms and line sizes:
/// the full-table `sample`, the `table` keyframe, and a `table` delta with
/// `changed` rows changed (the daemon encodes, the dashboard decodes and
/// rebuilds the whole table).
fn table_paths(n: usize, changed: usize, rounds: usize) -> Vec<(String, f64, f64, usize)> {
    use rogue_hunter::ipc::protocol::{MAX_SERVER_LINE, decode_server, encode_sample};
    use rogue_hunter::ipc::table::{TableEncoder, TableState, encode_table};
    let full = sample(n);
    let plain = ProcessSamples {
        rogues: full.rogues[..20].to_vec(),
        ..full.clone()
    };
    let time = |f: &mut dyn FnMut()| {
        let mut v: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        median(&mut v)
    };
    let mut out = Vec::new();
    // The full-table sample.
    let line = encode_sample(&full).expect("encode");
    let enc = time(&mut || {
        std::hint::black_box(encode_sample(&full).expect("encode"));
    });
    let dec = time(&mut || {
        std::hint::black_box(decode_server(line.as_bytes(), MAX_SERVER_LINE).expect("decode"));
    });
    out.push(("full-table `sample`".into(), enc, dec, line.len()));
    // The keyframe.
    let mut encoder = TableEncoder::new(10_000);
    let key = {
        let r = encoder.round(&full.rogues, 0.0);
        encode_table(&plain, &r, true).expect("encode")
    };
    let enc = time(&mut || {
        let mut e = TableEncoder::new(10_000);
        let r = e.round(&full.rogues, 0.0);
        std::hint::black_box(encode_table(&plain, &r, true).expect("encode"));
    });
    let apply = |line: &str, state: &mut TableState| {
        let ServerMessage::Table(t) =
            decode_server(line.as_bytes(), MAX_SERVER_LINE).expect("decode")
        else {
            panic!("not a table");
        };
        std::hint::black_box(state.apply(*t).expect("apply"));
    };
    let dec = time(&mut || apply(&key, &mut TableState::default()));
    out.push(("`table` keyframe".into(), enc, dec, key.len()));
    // Deltas: the same table with `changed` rows moved each round.
    let mut round_no = 0u32;
    let mut next = full.rogues.clone();
    let mut step = |enc: &mut TableEncoder| {
        round_no += 1;
        for p in next.iter_mut().take(changed) {
            p.cpu = Some(MetricValue::new(f64::from(round_no)));
        }
        let r = enc.round(&next, 0.0);
        encode_table(&plain, &r, false).expect("encode")
    };
    let mut e = TableEncoder::new(10_000);
    let _ = e.round(&full.rogues, 0.0);
    let enc = time(&mut || {
        std::hint::black_box(step(&mut e));
    });
    // Decoding: a fresh state per delta (keyframe applied outside the timing).
    let mut e = TableEncoder::new(10_000);
    let key = {
        let r = e.round(&full.rogues, 0.0);
        encode_table(&plain, &r, true).expect("encode")
    };
    let delta = step(&mut e);
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let mut st = TableState::default();
            apply(&key, &mut st);
            let t = Instant::now();
            apply(&delta, &mut st);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let dec = median(&mut v);
    out.push((
        format!("`table` delta, {changed} rows changed"),
        enc,
        dec,
        delta.len(),
    ));
    out
}

/// CPU % of one core used by `rogue-hunter tui` connected to a daemon.
fn tui_cpu(seconds: u64) -> Option<f64> {
    let bin = env!("CARGO_BIN_EXE_rogue-hunter");
    let dir = tempfile::tempdir().ok()?;
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).ok()?;
    let env = |c: &mut Command| {
        c.env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("ROGUE_HUNTER_SYSTEM_CONFIG", "")
            .env("TERM", "xterm-256color");
    };
    let mut d = Command::new(bin);
    d.arg("daemon").stdout(Stdio::null()).stderr(Stdio::null());
    env(&mut d);
    let mut daemon = d.spawn().ok()?;
    let socket = runtime.join("rogue-hunter/daemon.sock");
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 45,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two fds; null name/termios are allowed.
    if unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    } != 0
    {
        return None;
    }
    // SAFETY: fresh fds from openpty, owned here.
    let (mut master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut t = Command::new(bin);
    t.arg("tui")
        .stdin(Stdio::from(slave.try_clone().ok()?))
        .stdout(Stdio::from(slave.try_clone().ok()?))
        .stderr(Stdio::from(slave.try_clone().ok()?));
    env(&mut t);
    let mut tui = t.spawn().ok()?;
    drop(t);
    drop(slave);
    // Drain the screen output like a terminal would.
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while matches!(master.read(&mut buf), Ok(n) if n > 0) {}
    });
    std::thread::sleep(Duration::from_secs(3));
    let c0 = cpu_ticks(tui.id())?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let c1 = cpu_ticks(tui.id())?;
    let pct = (c1 - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    let _ = tui.kill();
    let _ = tui.wait();
    // SAFETY: signal the daemon we started.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    Some(pct)
}

fn main() {
    let n = arg("--samples", 60);
    let mut floor = encode_decode_floor(n);
    let mut one = broadcast(1, n);
    let mut fifty = broadcast(50, n);
    println!(
        "live stream, {n} samples of 20 processes at 3 Hz (~{} KB a line)\n",
        rogue_hunter::ipc::protocol::encode_sample(&sample(20)).map_or(0, |l| l.len() / 1024)
    );
    println!("| path | median ms | p99 ms | vs floor (median) |");
    println!("|---|---:|---:|---:|");
    let f = median(&mut floor);
    println!(
        "| floor: encode + decode in-process | {f:.3} | {:.3} | 1.0× |",
        p99(&mut floor)
    );
    let o = median(&mut one);
    println!(
        "| publish → parsed, 1 client | {o:.3} | {:.3} | {:.1}× |",
        p99(&mut one),
        o / f
    );
    let m = median(&mut fifty);
    println!(
        "| publish → parsed, 50 clients (first reader) | {m:.3} | {:.3} | {:.1}× |",
        p99(&mut fifty),
        m / f
    );
    let (tagged, direct, len) = decode_paths(1000, n.max(20));
    println!(
        "\ndecoding a 1000-process sample line ({} KB): tagged enum {tagged:.2} ms, direct {direct:.2} ms ({:.1}× faster)",
        len / 1024,
        tagged / direct
    );
    println!(
        "\nthe full table of 1000 processes (the daemon encodes, the dashboard decodes and rebuilds):\n"
    );
    println!("| message | bytes | encode ms | decode (+ rebuild) ms |");
    println!("|---|---:|---:|---:|");
    for (what, enc, dec, len) in table_paths(1000, 50, n.max(20)) {
        println!("| {what} | {len} | {enc:.2} | {dec:.2} |");
    }
    match tui_cpu(20) {
        Some(pct) => println!(
            "\ndashboard (`tui`, release) connected to a daemon at 3 Hz, 160x45 pty: {pct:.2}% of one core"
        ),
        None => println!("\ndashboard CPU: could not be measured (no pty or daemon)"),
    }
}
