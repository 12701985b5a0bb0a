//! Real stalls recorded by a real daemon: the daemon stopped with SIGSTOP,
//! the daemon starved by a CPU-quota cgroup, a reader thrashing a memory
//! cgroup, and a process stuck in uninterruptible sleep. Each judges the
//! whole machine: they hold the machine lock, and every process and cgroup
//! they make is removed by a guard even when an assertion fails.

use crate::common::{Daemon, Hog, Sandbox, pin_to_core, poll, spawn_hog, spawn_hog_with};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn stalls(sb: &Sandbox) -> Vec<Value> {
    let o = sb
        .cmd()
        .args(["stalls", "--json"])
        .output()
        .expect("stalls");
    if !o.status.success() {
        // Shown with the test's output if it fails.
        eprintln!(
            "stalls --json: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
        return Vec::new();
    }
    crate::common::json_list(&o.stdout, "stalls")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A cgroup v1 directory of one controller, made for one test; on drop its
/// processes go back to the controller's root and the directory is removed.
struct Cgroup {
    dir: PathBuf,
    root: PathBuf,
}

impl Cgroup {
    fn create(controller: &str) -> Option<Cgroup> {
        let root = Path::new("/sys/fs/cgroup").join(controller);
        if !is_root() || !root.join("cgroup.procs").exists() {
            return None;
        }
        let dir = root.join(format!("rogue-hunter-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        Some(Cgroup { dir, root })
    }

    fn set(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("write {value} to {}: {e}", self.dir.join(file).display()));
    }

    fn add(&self, pid: u32) {
        self.set("cgroup.procs", &pid.to_string());
    }

    /// Move `pid` back to the controller's root.
    fn remove(&self, pid: u32) {
        let procs = self.root.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .unwrap_or_else(|e| panic!("write {pid} to {}: {e}", procs.display()));
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        // The kernel may take a moment to let go of the last task.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_stopped_daemon_records_one_scheduling_stall_caused_by_the_stop() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let daemon = Daemon::start_quiet(&sb);
    // A few samples first, so the loop has a rhythm to miss.
    std::thread::sleep(Duration::from_secs(2));
    daemon.signal(libc::SIGSTOP);
    // While stopped, status says so at once instead of waiting on the socket.
    let started = std::time::Instant::now();
    let status = sb.cmd().arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("STOPPED"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "status waited on a stopped daemon"
    );
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()));
    daemon.signal(libc::SIGCONT);
    // Tests beside this one may load the machine into a pressure stall of
    // its own; the stop is the daemon's only scheduling stall.
    let scheduling = || -> Vec<Value> {
        stalls(&sb)
            .into_iter()
            .filter(|s| s["kind"] == "scheduling")
            .collect()
    };
    let found = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        Some(scheduling()).filter(|s| !s.is_empty())
    })
    .expect("no scheduling stall recorded after a 3 s SIGSTOP");
    // Let a few more samples pass: exactly one stall, not a burst of them.
    std::thread::sleep(Duration::from_secs(2));
    let all = scheduling();
    assert_eq!(all.len(), 1, "{all:#?} (first seen: {found:#?})");
    let s = &all[0];
    assert_eq!(s["cause"], "stopped", "{s:#}");
    let d = s["duration_s"].as_f64().expect("duration");
    assert!((2.5..=3.5).contains(&d), "stalled {d} s for a 3 s stop");
    assert_eq!(s["suspended_s"], 0.0);
    assert!(
        s["verdict"].as_str().unwrap_or("").contains("stopped"),
        "{s:#}"
    );
    // The monitor never opens an event about itself (the catch-up sample
    // used to rate its own CPU at hundreds of percent).
    let o = sb
        .cmd()
        .args(["events", "--json"])
        .output()
        .expect("events");
    let events: Vec<Value> = crate::common::json_list(&o.stdout, "events");
    assert!(
        events.iter().all(|e| e["pid"] != daemon.pid()),
        "the daemon opened an event on itself: {events:#?}"
    );
    let status = sb.cmd().arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("last stall"), "{text}");
    // `status` shows the latest stall: the stop's, unless a pressure stall
    // of the machine's came after it.
    if stalls(&sb).len() == 1 {
        assert!(text.contains("monitor stalled"), "{text}");
    }
}

#[test]
fn a_daemon_starved_by_a_cpu_quota_records_a_scheduling_stall() {
    let _m = crate::common::machine();
    let Some(cg) = Cgroup::create("cpu") else {
        eprintln!("SKIP: needs root and the cgroup v1 cpu controller");
        return;
    };
    // A spinner in the group and, once the monitor has moved in, a quota of
    // 10 ms of CPU per second for everything in it, which the spinner drains
    // each period. Both run on one core, so they draw on one core's share of
    // the quota whatever the number of cores.
    cg.set("cpu.cfs_period_us", "1000000");
    let sb = Sandbox::new();
    sb.write_config("[stalls]\nmin_seconds = 0.3\n");
    let hog = spawn_hog_with("cpu", |c| pin_to_core(c, 0));
    cg.add(hog.pid());
    let daemon = Daemon::start_with(&sb, |c| pin_to_core(c, 0));
    std::thread::sleep(Duration::from_secs(1));
    // Moved in while it runs: the monitor follows its cgroup. It reads the
    // new cgroup at its next sample, before the quota starves it (a monitor
    // that got no sample in before it would have one gap across the move,
    // whose throttling before that first reading is not its to count).
    let moved_in = rogue_hunter::unix_now();
    cg.add(daemon.pid());
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let o = sb.cmd().args(["status", "--json"]).output().ok()?;
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        (v["last_sample_at_s"].as_f64()? > moved_in + 0.4).then_some(())
    })
    .expect("the daemon took no sample in its new cgroup");
    cg.set("cpu.cfs_quota_us", "10000");
    // Starved for 6 s (a sample every second or two, or none at all), then
    // let go by lifting the quota, which ends the throttle under way and adds
    // it to `cpu.stat`: the stalls it saw are stored once it has CPU again.
    std::thread::sleep(Duration::from_secs(6));
    cg.set("cpu.cfs_quota_us", "-1");
    poll(Duration::from_secs(20), Duration::from_millis(300), || {
        stalls(&sb)
            .into_iter()
            .find(|s| s["kind"] == "scheduling" && s["cause"] == "throttled")
    })
    .unwrap_or_else(|| {
        panic!(
            "no scheduling stall blamed on the CPU quota after 6 s of it exhausted: {:#?}",
            stalls(&sb)
        )
    });
    drop(daemon);
    drop(hog);
}

#[test]
fn a_process_held_in_d_is_recorded_as_stuck() {
    let _m = crate::common::machine();
    let hog = spawn_hog("dstate");
    // The D task is the hog's forked child.
    let stuck_pid = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        child_in_d(hog.pid())
    })
    .expect("the hog's child never entered D");
    let sb = Sandbox::new();
    sb.write_config("[stalls]\nstuck_seconds = 1.0\n");
    let _daemon = Daemon::start_quiet(&sb);
    let found = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        stalls(&sb)
            .into_iter()
            .find(|s| s["kind"] == "stuck" && s["pid"] == stuck_pid)
    })
    .unwrap_or_else(|| panic!("no stuck stall for {stuck_pid} in D: {:#?}", stalls(&sb)));
    assert!(found["end_s"].is_null(), "still stuck: {found:#}");
    assert!(
        found["verdict"]
            .as_str()
            .unwrap_or("")
            .contains("uninterruptible"),
        "{found:#}"
    );
    drop(hog);
}

/// A child of `parent` whose state is `D`.
fn child_in_d(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("D") && ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_reader_thrashing_its_memory_cgroup_is_named_in_a_memory_stall() {
    let _m = crate::common::machine();
    if !Path::new("/proc/pressure/memory").exists() {
        eprintln!("SKIP: no PSI on this kernel");
        return;
    }
    let Some(cg) = Cgroup::create("memory") else {
        eprintln!("SKIP: needs root and the cgroup v1 memory controller");
        return;
    };
    // A 256 MiB file read through a 32 MiB memory limit: every pass
    // refaults what the last one evicted.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let file = dir.path().join("big");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&file).expect("create");
        let block = vec![0x5au8; 1 << 20];
        for _ in 0..256 {
            f.write_all(&block).expect("write");
        }
        f.sync_all().expect("sync");
        // Out of the page cache, so the reader's faults are charged to (and
        // evicted within) its cgroup.
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; advice has no memory effects.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    cg.set("memory.limit_in_bytes", &(32u64 << 20).to_string());
    let sb = Sandbox::new();
    sb.write_config("[stalls]\nmin_seconds = 0.5\npressure_share = 0.1\n");
    let _daemon = Daemon::start_quiet(&sb);
    std::thread::sleep(Duration::from_secs(1));
    let hog: Hog = spawn_hog(&format!("mmap_reader:{}", file.display()));
    cg.add(hog.pid());
    // Refaults are memory stalls (their reads also show as io pressure).
    // The memory stall the hog holds (a machine's own memory stall, from
    // tests beside this one, can come first).
    let hog_pid = u64::from(hog.pid());
    let found = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        stalls(&sb).into_iter().find(|s| {
            s["kind"] == "memory"
                && s["holders"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|p| p["pid"].as_u64() == Some(hog_pid)))
        })
    });
    let all = stalls(&sb);
    let found = found.unwrap_or_else(|| panic!("no memory stall while thrashing: {all:#?}"));
    let holders: Vec<u64> = found["holders"]
        .as_array()
        .map(|h| h.iter().filter_map(|p| p["pid"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(found["kind"], "memory", "{found:#}");
    assert_eq!(
        holders.first().copied(),
        Some(u64::from(hog.pid())),
        "{found:#}"
    );
    drop(hog);
}

#[test]
fn an_oom_kill_in_a_memory_cgroup_is_recorded_as_a_kernel_verdict() {
    let _m = crate::common::machine();
    if std::fs::File::open("/dev/kmsg").is_err() {
        eprintln!("SKIP: /dev/kmsg is not readable here");
        return;
    }
    let Some(cg) = Cgroup::create("memory") else {
        eprintln!("SKIP: needs root and the cgroup v1 memory controller");
        return;
    };
    cg.set("memory.limit_in_bytes", &(32u64 << 20).to_string());
    let sb = Sandbox::new();
    let _daemon = Daemon::start_quiet(&sb);
    std::thread::sleep(Duration::from_millis(500));
    // Asks for 256 MiB a second after it starts, inside a 32 MiB limit.
    let hog = spawn_hog(&format!("mem_later:{}", 256u64 << 20));
    cg.add(hog.pid());
    let found = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        stalls(&sb).into_iter().find(|s| s["kind"] == "oom_kill")
    })
    .expect("no oom_kill verdict recorded for a process killed in its memory cgroup");
    assert_eq!(found["pid"], hog.pid(), "{found:#}");
    assert!(
        found["verdict"]
            .as_str()
            .unwrap_or("")
            .contains("out of memory"),
        "{found:#}"
    );
    drop(hog);
}
