//! Groups and children that live between samples, with real processes: a
//! shell fork loop, four spinners under one program, a one-second job, an
//! `xargs -P4` pool and three processes in a test cgroup. Whole-machine tests:
//! each holds the machine lock.

use crate::common::{HOG_ENV, Session, machine};
use rogue_hunter::collect::Sampler;
use rogue_hunter::config::Config;
use rogue_hunter::model::{Band, GroupKind, GroupScore, ProcessSamples, ProcessScore, Resource};
use rogue_hunter::platform::linux::LinuxSource;
use std::process::Command;
use std::time::{Duration, Instant};

fn sampler() -> Sampler<LinuxSource> {
    let mut config = Config::default();
    config.selection.top_n = 10;
    config.selection.top_groups = 100;
    Sampler::new(LinuxSource::new().expect("procfs"), config)
}

fn summary(s: &ProcessSamples) -> String {
    let procs: Vec<String> = s
        .rogues
        .iter()
        .take(5)
        .map(|p| {
            format!(
                "{} {:?} {} {} cpu {:?} children {:?}",
                p.pid,
                p.command,
                p.score,
                p.dominant_resource,
                p.cpu.map(|m| m.current),
                p.children_cpu.map(|m| m.current)
            )
        })
        .collect();
    let groups: Vec<String> = s
        .groups
        .iter()
        .filter(|g| g.kind == GroupKind::Tree)
        .take(3)
        .map(|g| format!("{} {:?} {} {:?}", g.kind, g.name, g.score, g.metrics.cpu))
        .collect();
    format!("{procs:#?}\n{groups:#?}")
}

/// Sample every 1/3 s until `accept` holds (returning that sample), or panic.
fn sample_until(
    s: &mut Sampler<LinuxSource>,
    timeout: Duration,
    mut accept: impl FnMut(&ProcessSamples) -> bool,
) -> ProcessSamples {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(333));
        let out = s.sample(rogue_hunter::unix_now());
        if accept(&out) {
            return out;
        }
        last = Some(out);
    }
    panic!(
        "condition not met within {timeout:?}; last: {}",
        last.map(|l| summary(&l)).unwrap_or_default()
    );
}

fn trees(s: &ProcessSamples) -> Vec<&GroupScore> {
    s.groups
        .iter()
        .filter(|g| g.kind == GroupKind::Tree)
        .collect()
}

/// The test binary in a hog role behind a session-leading shell: `sh` is the
/// terminal's shell, the hog the program it started.
fn hog_in_session(role: &str) -> Session {
    let exe = std::env::current_exe().expect("test binary path");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("\"$0\" --exact hog_entry --nocapture --test-threads=1 -q & wait")
        .arg(exe)
        .env(HOG_ENV, role);
    Session::spawn(c)
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|t| {
            t.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Busy CPU time of the whole machine from /proc/stat, seconds.
fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let line = stat.lines().next().expect("cpu line");
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = f[0] + f[1] + f[2] + f[5] + f[6] + f.get(7).copied().unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    busy / hz
}

fn cpu_total(p: &ProcessScore) -> f64 {
    p.cpu.map_or(0.0, |m| m.current) + p.children_cpu.map_or(0.0, |m| m.current)
}

#[test]
fn shell_fork_loop_ranks_first_with_dominant_cpu_and_its_cpu_matches_the_machine() {
    let _m = machine();
    let fork_loop = Session::shell("while :; do /bin/true; done");
    let pid = fork_loop.pid();
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    let out = sample_until(&mut s, Duration::from_secs(20), |o| {
        o.rogues.first().is_some_and(|p| {
            p.pid == pid && p.dominant_resource == Resource::Cpu && p.band >= Band::High
        })
    });
    assert!(out.rogues[0].children_cpu.is_some_and(|c| c.current > 30.0));

    // Over ~3 s: what the loop was charged (the shell, its reaped children and
    // any child alive at a sample) against what /proc/stat says the machine
    // spent, less every other process's share.
    let (mut charged, mut others, mut rounds) = (0.0, 0.0, 0);
    let busy0 = machine_busy_s();
    let t0 = Instant::now();
    let mut last = Instant::now();
    s.sample(rogue_hunter::unix_now());
    while t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(333));
        let (_, all) = s.sample_all(rogue_hunter::unix_now());
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        for p in all {
            let weight = cpu_total(p) / 100.0 * dt;
            if p.pid == pid || p.ppid == Some(pid) {
                charged += weight;
            } else {
                others += weight;
            }
        }
        rounds += 1;
    }
    let window = t0.elapsed().as_secs_f64();
    let busy = machine_busy_s() - busy0;
    let unexplained = busy - others;
    assert!(rounds >= 6);
    assert!(
        (charged - unexplained).abs() <= 0.2 * unexplained,
        "loop charged {charged:.2} s; machine busy {busy:.2} s, others {others:.2} s over {window:.2} s"
    );
    eprintln!(
        "fork loop: charged {:.1} % of a core, machine less others {:.1} %",
        charged / window * 100.0,
        unexplained / window * 100.0
    );
}

#[test]
fn four_spinners_from_one_parent_are_one_tree_that_ranks_first() {
    let _m = machine();
    let session = hog_in_session("spawn4");
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    let out = sample_until(&mut s, Duration::from_secs(30), |o| {
        let program = children_of(session.pid());
        trees(o).first().is_some_and(|g| {
            g.member_count == 5
                && program.iter().any(|p| g.key.starts_with(&format!("{p}:")))
                && g.metrics.cpu.is_some_and(|c| c > 150.0)
                && g.band >= Band::High
                && g.dominant_resource == Resource::Cpu
        })
    });
    let tree = trees(&out)[0];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu = tree.metrics.cpu.unwrap_or(0.0);
    assert!(cpu <= cores * 100.0 + 5.0, "{cpu}");
    assert_eq!(tree.top_members.len(), 5);
    assert!(
        tree.score > out.rogues[0].score,
        "the tree outranks any member"
    );
}

#[test]
fn a_one_second_job_is_scored_on_its_first_sample() {
    let _m = machine();
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    std::thread::sleep(Duration::from_millis(100));
    let mut job = crate::common::spawn_hog("spin_for:1");
    let pid = job.pid();
    std::thread::sleep(Duration::from_millis(400));
    let out = s.sample(rogue_hunter::unix_now());
    let p = out
        .rogues
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("job not in the top: {}", summary(&out)));
    assert!(p.cpu.is_some_and(|c| c.current > 50.0), "{:?}", p.cpu);
    assert!(p.score > 30.0, "{}", p.score);
    let _ = job.child.wait();
}

#[test]
fn an_xargs_pool_of_one_second_jobs_is_named_by_its_tree() {
    let _m = machine();
    let exe = std::env::current_exe().expect("test binary path");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("seq 40 | xargs -P4 -n1 \"$0\" --exact hog_entry --nocapture --test-threads=1 -q; :")
        .arg(exe)
        .env(HOG_ENV, "spin_for:1");
    let _pool = Session::spawn(c);
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    let out = sample_until(&mut s, Duration::from_secs(20), |o| {
        trees(o).first().is_some_and(|g| {
            g.name.starts_with("xargs -P4") && g.member_count >= 3 && g.band >= Band::High
        })
    });
    let tree = trees(&out)[0];
    assert_eq!(tree.dominant_resource, Resource::Cpu);
}

/// A cgroup under the v2 hierarchy (pure v2, or the unified mount of a
/// hybrid machine), removed on drop.
struct TestCgroup {
    dir: std::path::PathBuf,
}

impl TestCgroup {
    fn create() -> Option<TestCgroup> {
        let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| {
                p.join("cgroup.procs").exists() && p.join("cgroup.type").exists()
                    || p.join("cgroup.controllers").exists()
            })?;
        let dir = root.join(format!("rh-groups-test-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        Some(TestCgroup { dir })
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).expect("move into cgroup");
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Emptied by the hogs' drops first (declared after this guard).
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_test_cgroup_group_sums_its_three_processes() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to make a cgroup");
        return;
    }
    let _m = machine();
    let Some(cgroup) = TestCgroup::create() else {
        eprintln!("skipped: no writable cgroup v2 hierarchy");
        return;
    };
    let hogs: Vec<_> = (0..3)
        .map(|_| crate::common::spawn_hog("mem:33554432"))
        .collect();
    for h in &hogs {
        cgroup.add(h.pid());
    }
    let name = cgroup
        .dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let pids: Vec<u32> = hogs.iter().map(|h| h.pid()).collect();
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    let out = sample_until(&mut s, Duration::from_secs(20), |o| {
        o.groups
            .iter()
            .any(|g| g.kind == GroupKind::Cgroup && g.name == name && g.member_count == 3)
    });
    let g = out
        .groups
        .iter()
        .find(|g| g.kind == GroupKind::Cgroup && g.name == name)
        .expect("the test cgroup");
    let mut members = g.top_members.clone();
    members.sort_unstable();
    let mut want = pids.clone();
    want.sort_unstable();
    assert_eq!(members, want);
    // Each holds 32 MiB it touched: the group's memory is their sum.
    let mem = g.metrics.mem.unwrap_or(0.0);
    assert!(mem >= 3.0 * 32.0 * 1048576.0, "{mem}");
    assert!(mem < 3.0 * 64.0 * 1048576.0, "{mem}");
    drop(hogs);
}
