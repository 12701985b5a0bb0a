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
    // user nice system idle iowait irq softirq steal: steal is time the
    // hypervisor gave to another guest, no process of this machine's.
    let busy = f[0] + f[1] + f[2] + f[5] + f[6];
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
fn a_two_second_job_is_scored_on_its_first_sample() {
    let _m = machine();
    let mut s = sampler();
    s.sample(rogue_hunter::unix_now());
    std::thread::sleep(Duration::from_millis(100));
    let mut job = crate::common::spawn_hog("spin_for:2");
    let pid = job.pid();
    // Long enough for its start-up (exec, the test harness) to be a small
    // part of its life on a loaded machine; still its first sample.
    std::thread::sleep(Duration::from_millis(700));
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
    // All three in, and each has touched its 32 MiB (a loaded machine can
    // put the sample between the move and the touching).
    let out = sample_until(&mut s, Duration::from_secs(20), |o| {
        o.groups.iter().any(|g| {
            g.kind == GroupKind::Cgroup
                && g.name == name
                && g.member_count == 3
                && g.metrics.mem.is_some_and(|m| m >= 3.0 * 32.0 * 1048576.0)
        })
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

// ---- events for groups: one incident, one event --------------------------------

/// Default bands, captures from `high` on (a saturated tree reaches high),
/// quick exits and no cooldown.
const EVENTS_CONFIG: &str = "\
[bands]
forensics_band = \"high\"
exit_stability_samples = 3
event_cooldown_seconds = 0.0

[forensics]
source_timeout = 5.0
log_window_minutes = 1.0
";

fn cli_json(sb: &crate::common::Sandbox, args: &[&str]) -> Option<serde_json::Value> {
    let mut c = sb.cmd();
    c.args(args);
    let o = c.output().expect("run rogue-hunter");
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

fn recorded_events(sb: &crate::common::Sandbox) -> Vec<serde_json::Value> {
    cli_json(sb, &["events", "--json", "--limit", "1000"])
        .and_then(|v| v["events"].as_array().cloned())
        .unwrap_or_default()
}

/// Children of every thread of `pid` (a test harness starts hogs from a
/// thread, and `children` lists a thread's own).
fn children_of_any_thread(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|t| {
            t.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn member_pids(e: &serde_json::Value) -> Vec<u64> {
    e["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["pid"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn four_spinners_from_one_parent_are_one_tree_event_with_a_capture_of_its_members() {
    use crate::common::{Daemon, Sandbox, poll};
    let _m = machine();
    let sb = Sandbox::new();
    sb.write_config(EVENTS_CONFIG);
    let session = hog_in_session("spawn4");
    // The program (the session shell's child) and its four spinners.
    let (program, spinners) = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let program = *children_of(session.pid()).first()?;
        let kids = children_of_any_thread(program);
        (kids.len() == 4).then_some((program, kids))
    })
    .expect("spawn4 started four spinners");
    // Started once all four run: a sample that caught the first spinner
    // alone (the rest too young to rate) would open its own event before
    // the tree's.
    let d = Daemon::start_quiet(&sb);
    let spinner_pids: Vec<u64> = spinners.iter().map(|&p| u64::from(p)).collect();
    let tree = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        recorded_events(&sb).into_iter().find(|e| {
            e["subject_kind"] == "tree"
                && e["group_key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with(&format!("{program}:")))
        })
    })
    .unwrap_or_else(|| panic!("no tree event; events: {:#?}", recorded_events(&sb)));
    let members = member_pids(&tree);
    assert!(
        spinner_pids.iter().all(|p| members.contains(p)),
        "the tree event names the four spinners: {members:?} vs {spinner_pids:?}"
    );
    // Let the incident run a few more seconds: still one event for it.
    std::thread::sleep(Duration::from_secs(4));
    let all = recorded_events(&sb);
    let for_incident: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| {
            spinner_pids.contains(&e["pid"].as_u64().unwrap_or(0))
                || member_pids(e).iter().any(|p| spinner_pids.contains(p))
        })
        .collect();
    assert_eq!(
        for_incident.len(),
        1,
        "one event for the incident, not one per spinner or kind: {for_incident:#?}"
    );
    // Its capture covers the members: the group and their threads.
    let id = tree["id"].as_i64().expect("id");
    let detail = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        let d = cli_json(
            &sb,
            &["events", "show", &id.to_string(), "--forensics", "--json"],
        )?;
        let status = d["forensics"][0]["status"].as_str()?.to_string();
        (status != "pending").then_some(d)
    })
    .unwrap_or_else(|| panic!("no finished capture for tree event {id}"));
    let cap = &detail["forensics"][0];
    let group = &cap["system"]["group"];
    assert_eq!(group["kind"], "tree", "{cap:#}");
    let captured: Vec<u64> = group["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["pid"].as_u64())
        .collect();
    assert!(
        spinner_pids.iter().all(|p| captured.contains(p)),
        "{captured:?}"
    );
    let thread_pids: std::collections::HashSet<u64> = cap["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter_map(|t| t["pid"].as_u64())
        .collect();
    assert!(
        spinner_pids.iter().all(|p| thread_pids.contains(p)),
        "threads of every spinner: {thread_pids:?}"
    );
    assert_eq!(cap["sources"]["member_threads"]["status"], "ok", "{cap:#}");
    // Calibration: the top member's share of the tree's CPU.
    if let Some(snap) = detail["snapshots"].as_array().and_then(|s| s.last()) {
        let g = snap["group"]["cpu_share"].as_f64().unwrap_or(0.0);
        let p = snap["process"]["cpu_share"].as_f64().unwrap_or(0.0);
        eprintln!(
            "four spinners: tree score {} cpu {:?}, top member's share of the tree's cpu {:.2}",
            snap["score"],
            snap["group"]["metrics"]["cpu"],
            if g > 0.0 { p / g } else { f64::NAN }
        );
    }
    drop(session);
    drop(d);
}

#[test]
fn one_spinner_is_one_process_event_and_its_log_lines_carry_its_database_id() {
    use crate::common::{Daemon, Sandbox, poll};
    let _m = machine();
    let sb = Sandbox::new();
    sb.write_config(EVENTS_CONFIG);
    let d = Daemon::start_quiet(&sb);
    let session = hog_in_session("cpu");
    let spinner = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        children_of(session.pid()).first().copied()
    })
    .expect("spinner started");
    let event = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        recorded_events(&sb)
            .into_iter()
            .find(|e| e["pid"] == spinner && e["subject_kind"] == "process")
    })
    .unwrap_or_else(|| panic!("no process event; events: {:#?}", recorded_events(&sb)));
    std::thread::sleep(Duration::from_secs(3));
    let groups: Vec<serde_json::Value> = recorded_events(&sb)
        .into_iter()
        .filter(|e| e["subject_kind"] != "process")
        .filter(|e| member_pids(e).contains(&u64::from(spinner)))
        .collect();
    assert!(
        groups.is_empty(),
        "no group event for one spinner: {groups:#?}"
    );
    // The daemon's log names the event by the id `events` shows.
    let id = event["id"].as_i64().expect("id");
    let log_path = sb.path().join("state/rogue-hunter/daemon.log");
    let logged = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        let text = std::fs::read_to_string(&log_path).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["event_name"] == "rogue_enter" && l["pid"] == spinner)
    })
    .expect("a rogue_enter line for the spinner");
    assert_eq!(logged["event"].as_i64(), Some(id), "{logged}");
    assert_eq!(logged["subject"], "process");
    drop(session);
    drop(d);
}
