//! Tests of the orchestration: culprits, status and problem summaries, the
//! ring-buffer cap, hottest stacks, job timeouts, and the worker's queue
//! against a real storage writer.
// The capture tests run the Linux sources; elsewhere their helpers go unused.
#![cfg_attr(not(target_os = "linux"), allow(unused))]

use super::*;
use crate::model::{Band, MetricValue};
use crate::storage::{Store, Writer};

fn proc_with(pid: u32, cpu: Option<f64>, mem: Option<f64>) -> ProcessScore {
    let mut p = ProcessScore::new(pid, 1000 + u64::from(pid), format!("p{pid}"), 1.0);
    p.cpu_share = cpu;
    p.mem_share = mem;
    p.cpu = cpu.map(MetricValue::new);
    p
}

fn sample(at: f64, rogues: Vec<ProcessScore>) -> Arc<ProcessSamples> {
    Arc::new(ProcessSamples {
        timestamp_s: at,
        elapsed_ms: 1.0,
        process_count: 10,
        max_score: 0.0,
        rogues,
        groups: Vec::new(),
        system: None,
    })
}

#[test]
fn culprits_name_who_dominated_each_resource() {
    let frozen: Vec<Arc<ProcessSamples>> = (0..10)
        .map(|i| {
            let mut rogues = vec![
                proc_with(1, Some(90.0), Some(2.0)),
                proc_with(2, Some(5.0), Some(40.0)),
            ];
            // Process 3 spikes once: high peak, low mean.
            if i == 9 {
                rogues.push(proc_with(3, Some(95.0), None));
            }
            // Process 4 never uses more than a sliver.
            rogues.push(proc_with(4, Some(0.5), Some(0.2)));
            sample(f64::from(i), rogues)
        })
        .collect();
    let frozen = Frozen::from_samples(frozen).shares;
    let c = culprits(&frozen, 3);
    let cpu: Vec<&Culprit> = c.iter().filter(|c| c.resource == Resource::Cpu).collect();
    assert_eq!(cpu.iter().map(|c| c.pid).collect::<Vec<_>>(), [1, 3, 2]);
    assert_eq!(cpu[0].mean_share, 90.0);
    assert_eq!(cpu[0].led_fraction, 0.9);
    assert_eq!(cpu[0].samples, 10);
    assert_eq!(cpu[0].command, "p1");
    assert_eq!(
        (cpu[1].mean_share, cpu[1].peak_share, cpu[1].led_fraction),
        (9.5, 95.0, 0.1)
    );
    let mem: Vec<&Culprit> = c
        .iter()
        .filter(|c| c.resource == Resource::Memory)
        .collect();
    assert_eq!(mem.iter().map(|c| c.pid).collect::<Vec<_>>(), [2, 1]);
    assert!(c.iter().all(|c| c.pid != 4), "below the minimum share");
    assert!(!c.iter().any(|c| c.resource == Resource::Gpu), "unmeasured");
    assert_eq!(culprits(&frozen, 1).len(), 2);
    assert!(culprits(&[], 3).is_empty());
}

fn outcomes(list: &[(&str, SourceStatus)]) -> Sources {
    list.iter()
        .map(|(k, s)| {
            (
                k.to_string(),
                SourceOutcome {
                    status: *s,
                    detail: format!("{k} detail"),
                    bytes: 0,
                },
            )
        })
        .collect()
}

#[test]
fn status_is_complete_partial_or_failed() {
    use SourceStatus::*;
    let all_ok = outcomes(&[("threads", Ok), ("pressure", Ok), (BUFFER_SOURCE, Ok)]);
    assert_eq!(capture_status(&all_ok), CaptureStatus::Complete);
    assert_eq!(problems(&all_ok), None);
    let denied = outcomes(&[
        ("threads", Ok),
        ("kernel_stacks", Denied),
        (BUFFER_SOURCE, Ok),
    ]);
    assert_eq!(capture_status(&denied), CaptureStatus::Partial);
    assert_eq!(
        problems(&denied).as_deref(),
        Some("kernel_stacks: denied (kernel_stacks detail)")
    );
    let missing = outcomes(&[
        ("journal", Missing),
        ("kernel_log", Missing),
        ("loadavg", Ok),
    ]);
    assert_eq!(capture_status(&missing), CaptureStatus::Partial);
    let p = problems(&missing).unwrap();
    assert!(
        p.contains("journal: missing") && p.contains("kernel_log: missing"),
        "{p}"
    );
    // Only the ring buffer: nothing was gathered.
    let nothing = outcomes(&[
        ("threads", Error),
        ("pressure", Timeout),
        (BUFFER_SOURCE, Ok),
    ]);
    assert_eq!(capture_status(&nothing), CaptureStatus::Failed);
    assert_eq!(capture_status(&Sources::new()), CaptureStatus::Failed);
    // A buffer problem alone keeps the capture from being complete.
    let buffer = outcomes(&[("threads", Ok), (BUFFER_SOURCE, Missing)]);
    assert_eq!(capture_status(&buffer), CaptureStatus::Partial);
}

#[test]
fn outcomes_serialise_as_the_documented_shape() {
    let s = outcomes(&[("journal", SourceStatus::Missing)]);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"journal": {"status": "missing", "detail": "journal detail", "bytes": 0}})
    );
    let denied = SourceOutcome::from_io("x", &std::io::Error::from_raw_os_error(libc::EACCES));
    assert_eq!(denied.status, SourceStatus::Denied);
    let eperm = SourceOutcome::from_io("x", &std::io::Error::from_raw_os_error(libc::EPERM));
    assert_eq!(eperm.status, SourceStatus::Denied);
    let gone = SourceOutcome::from_io("x", &std::io::Error::from_raw_os_error(libc::ENOENT));
    assert_eq!(gone.status, SourceStatus::Missing);
}

#[test]
fn frozen_buffer_is_kept_newest_first_within_the_cap() {
    let frozen: Vec<Arc<ProcessSamples>> = (0..20)
        .map(|i| sample(f64::from(i), vec![proc_with(1, Some(50.0), None)]))
        .collect();
    let one = serde_json::to_vec(frozen[19].as_ref()).unwrap().len() as u64 + 1;
    let (all, o) = trim_frozen(&frozen, u64::MAX);
    assert_eq!(all.len(), 20);
    assert_eq!(o.status, SourceStatus::Ok);
    assert_eq!(o.detail, "20 samples (19.0s)");
    let (some, o) = trim_frozen(&frozen, one * 5 + 3);
    assert_eq!(some.len(), 5);
    assert_eq!(some[0].timestamp_s, 15.0, "the newest five");
    assert!(
        o.detail.starts_with("kept the newest 5 of 20"),
        "{}",
        o.detail
    );
    assert!(o.bytes <= one * 5 + 3);
    let (none, o) = trim_frozen(&frozen, 10);
    assert!(none.is_empty());
    assert_eq!(o.status, SourceStatus::Error);
    let (_, o) = trim_frozen(&[], 10);
    assert_eq!(o.status, SourceStatus::Missing);
}

fn frame(parent: Option<usize>, symbol: &str, samples: u64) -> FrameRecord {
    FrameRecord {
        parent,
        symbol: Some(symbol.into()),
        samples: Some(samples),
        ..FrameRecord::default()
    }
}

#[test]
fn hottest_path_follows_the_most_samples() {
    let frames = vec![
        frame(None, "start", 10),
        frame(Some(0), "a", 3),
        frame(Some(0), "b", 7),
        frame(Some(2), "b1", 7),
        frame(None, "other", 2),
    ];
    assert_eq!(hottest_path(&frames), [0, 2, 3]);
    assert!(hottest_path(&[]).is_empty());
    // Ties go to the first frame.
    let tie = vec![frame(None, "x", 1), frame(None, "y", 1)];
    assert_eq!(hottest_path(&tie), [0]);
}

#[test]
fn hottest_stack_prefers_shared_kernel_stacks() {
    let t = |tid: u64, state: &str, stack: Option<Vec<&str>>| ThreadRecord {
        tid,
        state: Some(state.into()),
        kernel_stack: stack.map(|s| s.into_iter().map(String::from).collect()),
        ..ThreadRecord::default()
    };
    let threads = vec![
        t(1, "sleeping", Some(vec!["futex_wait", "do_syscall_64"])),
        t(2, "running", Some(vec![])),
        t(
            3,
            "sleeping",
            Some(vec!["hrtimer_nanosleep", "do_syscall_64"]),
        ),
        t(
            4,
            "sleeping",
            Some(vec!["hrtimer_nanosleep", "do_syscall_64"]),
        ),
        t(5, "disk_sleep", None),
    ];
    let hot = hottest_stack(&threads).unwrap();
    assert_eq!(hot.kind, "kernel");
    assert_eq!(hot.frames[0], "hrtimer_nanosleep");
    assert_eq!(hot.weight, 2);
    let by_state = threads_by_state(&threads);
    assert_eq!(by_state["sleeping"], 3);
    assert_eq!(by_state["running"], 1);
    assert_eq!(by_state["disk_sleep"], 1);

    // No kernel stacks: the busiest thread's sampled path.
    let sampled = vec![ThreadRecord {
        tid: 9,
        samples: Some(10),
        frames: vec![
            frame(None, "start", 10),
            FrameRecord {
                parent: Some(0),
                kernel: true,
                module: Some("kernel".into()),
                offset: Some(4),
                samples: Some(10),
                ..FrameRecord::default()
            },
        ],
        ..ThreadRecord::default()
    }];
    let hot = hottest_stack(&sampled).unwrap();
    assert_eq!(hot.kind, "sampled");
    assert_eq!(hot.frames, ["start", "*??? (kernel + 4)"]);
    assert_eq!(hot.weight, 10);
    assert_eq!(hottest_stack(&[]), None);
}

#[test]
fn user_stacks_merge_into_known_threads() {
    let mut data = CaptureData {
        threads: vec![ThreadRecord {
            pid: Some(7),
            tid: 70,
            name: Some("main".into()),
            ..ThreadRecord::default()
        }],
        ..CaptureData::default()
    };
    let stacks = CaptureData {
        threads: vec![
            ThreadRecord {
                pid: Some(7),
                tid: 70,
                frames: vec![frame(None, "main", 1)],
                ..ThreadRecord::default()
            },
            ThreadRecord {
                pid: Some(7),
                tid: 71,
                frames: vec![frame(None, "late", 1)],
                ..ThreadRecord::default()
            },
        ],
        ..CaptureData::default()
    };
    merge_into(&mut data, stacks);
    assert_eq!(data.threads.len(), 2);
    assert_eq!(data.threads[0].name.as_deref(), Some("main"));
    assert_eq!(data.threads[0].frames.len(), 1);
    assert_eq!(data.threads[1].tid, 71);
}

#[test]
fn a_hung_job_times_out_without_holding_up_the_rest() {
    let t = Instant::now();
    let jobs = vec![
        Job::new(&["slow_a", "slow_b"], Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(3));
            Gathered::default()
        }),
        Job::new(&["fast"], Duration::from_secs(5), || {
            Gathered::system(
                "fast",
                SourceOutcome::ok("fine", 3),
                "k",
                serde_json::json!(1),
            )
        }),
    ];
    let (data, sources) = run_jobs(jobs);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(sources["slow_a"].status, SourceStatus::Timeout);
    assert_eq!(sources["slow_b"].status, SourceStatus::Timeout);
    assert_eq!(sources["fast"].status, SourceStatus::Ok);
    assert_eq!(data.system["k"], 1);
}

/// A config whose captures are quick.
fn quick() -> ForensicsConfig {
    ForensicsConfig {
        source_timeout: 3.0,
        log_window_minutes: 0.5,
        ..ForensicsConfig::default()
    }
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn capture_count(path: &std::path::Path, status: &str) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(path) else {
        return 0;
    };
    conn.query_row(
        "SELECT COUNT(*) FROM forensic_captures WHERE status = ?1 OR ?1 = '*'",
        [status],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[cfg(target_os = "linux")]
#[test]
fn the_worker_captures_one_at_a_time_and_drops_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let writer = Writer::spawn(path.clone(), 64).unwrap();
    // This test process is the "culprit".
    let me = {
        let stat = std::fs::read(format!("/proc/{}/stat", std::process::id())).unwrap();
        let ticks = crate::platform::parse::parse_stat(&stat)
            .unwrap()
            .start_ticks;
        let boot =
            crate::platform::parse::boot_time(&std::fs::read_to_string("/proc/stat").unwrap())
                .unwrap();
        let hz = crate::sys::params::clock_ticks().unwrap() as f64;
        let mut p = ProcessScore::new(
            std::process::id(),
            boot * 1000 + (ticks as f64 / hz * 1000.0) as u64,
            "cargo-test \u{1b}[31m$(touch /tmp/nope)".into(),
            crate::unix_now(),
        );
        p.band = Band::Critical;
        p.cpu_share = Some(50.0);
        p
    };
    writer
        .send(WriteOp::OpenEvent {
            group: None,
            event_key: 1,
            process: Box::new(me.clone()),
            boot_time: 1,
            entry_time: 1.0,
        })
        .unwrap();
    let forensics = Forensics::spawn(quick(), writer.sender());
    let frozen = Frozen::from_samples(vec![
        sample(1.0, vec![me.clone()]),
        sample(2.0, vec![me.clone()]),
    ]);
    let req = CaptureRequest::new(1, me.clone(), frozen, crate::unix_now());
    assert_eq!(req.trigger, "entered critical");
    assert!(forensics.trigger(req.clone()));
    // Once the first is running, one more may wait and the next is dropped.
    wait_for(|| (capture_count(&path, "pending") == 1).then_some(()));
    assert!(forensics.trigger(req.clone()));
    assert!(!forensics.trigger(req.clone()));
    assert_eq!(forensics.dropped(), 1);
    wait_for(|| {
        (capture_count(&path, "pending") == 0 && capture_count(&path, "*") == 2).then_some(())
    });
    forensics.shutdown();
    writer.flush(Duration::from_secs(10)).unwrap();
    drop(writer);

    let store = Store::open_read_only(&path).unwrap();
    let caps = store.captures(1).unwrap();
    assert_eq!(caps.len(), 2);
    let c = &caps[0];
    assert_eq!(c.trigger, "entered critical");
    assert_ne!(c.status, CaptureStatus::Failed, "{c:?}");
    let sources = c.sources.as_ref().unwrap();
    for s in [
        "threads",
        "kernel_stacks",
        "status",
        "pressure",
        "loadavg",
        "meminfo",
        "vmstat",
        BUFFER_SOURCE,
    ] {
        assert!(sources.get(s).is_some(), "{s} missing from {sources}");
    }
    assert_eq!(sources["threads"]["status"], "ok");
    assert!(
        c.duration_ms.unwrap() >= 900.0,
        "the vmstat delta spans ~1s"
    );
    let data = store.capture_data(c.id).unwrap();
    assert!(data.threads.iter().any(|t| t.tid == u64::from(me.pid)));
    assert!(data.system.contains_key("vmstat_delta"));
    assert!(data.system.contains_key("process.status"));
    let ctx = store.buffer_context(c.id).unwrap().unwrap();
    assert_eq!(ctx.frozen.len(), 2);
    let culprits = ctx.culprits.unwrap();
    assert_eq!(culprits[0]["pid"], me.pid);
    assert_eq!(culprits[0]["resource"], "cpu");
}

#[cfg(target_os = "linux")]
#[test]
fn a_vanished_culprit_still_yields_a_partial_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let writer = Writer::spawn(path.clone(), 64).unwrap();
    let mut gone = ProcessScore::new(u32::MAX - 7, 1, "ghost".into(), 1.0);
    gone.band = Band::Critical;
    writer
        .send(WriteOp::OpenEvent {
            group: None,
            event_key: 5,
            process: Box::new(gone.clone()),
            boot_time: 1,
            entry_time: 1.0,
        })
        .unwrap();
    let req = CaptureRequest::new(5, gone, Frozen::default(), crate::unix_now());
    capture(&quick(), &writer.sender(), 1, &req);
    writer.flush(Duration::from_secs(10)).unwrap();
    drop(writer);
    let store = Store::open_read_only(&path).unwrap();
    let c = &store.captures(5).unwrap()[0];
    assert_eq!(c.status, CaptureStatus::Partial);
    let err = c.error.as_deref().unwrap();
    assert!(
        err.contains("threads: error") && err.contains("is gone"),
        "{err}"
    );
    assert!(err.contains("buffer_context: missing"), "{err}");
    assert_eq!(c.sources.as_ref().unwrap()["pressure"]["status"], "ok");
}
