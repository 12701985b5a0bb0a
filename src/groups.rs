//! Groups: processes folded into process trees, cgroups and applications, each
//! scored as one entity by the same capacity-aware formula as a process.
//!
//! Pure: scored processes and their links (parent, session leadership,
//! executable) in, the top groups of each kind out; no clock, no I/O. A process
//! belongs to at most one group of each kind, so a group's sums never count a
//! process twice, and the machine totals are the processes' (docs/scoring.md).

use crate::config::{BandsConfig, ScoringConfig};
use crate::model::{GroupKind, GroupMetrics, GroupScore, ProcessScore};
use crate::score::{self, Capacity, RESOURCES, Totals};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// What grouping needs to know about a process beyond its score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub ppid: Option<u32>,
    /// Leads its session: with a shell's name, a terminal's shell (an anchor).
    pub session_leader: bool,
    /// Executable path, when readable.
    pub exe: Option<Arc<str>>,
}

/// Members named per group.
const TOP_MEMBERS: usize = 5;

/// Processes whose children each start a tree of their own.
const ANCHORS: &[&str] = &[
    "systemd",
    "init",
    "launchd",
    "kthreadd",
    "runit",
    "runsv",
    "runsvdir",
    "s6-svscan",
    "s6-supervise",
    "supervisord",
    "containerd-shim",
    "conmon",
    "tini",
    "docker-init",
    "dumb-init",
    "sshd",
    "sshd-session",
    "login",
    "tmux",
    "screen",
    "SCREEN",
];

/// A terminal's shell is an anchor when it leads its session.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "nu", "elvish",
];

/// The program name in a command line: the file name of its first word
/// (`-bash` → `bash`, `sshd: u@pts/0` → `sshd`).
pub fn program_name(command: &str) -> &str {
    let first = command.split([' ', '\t']).next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    base.trim_start_matches('-').trim_end_matches(':')
}

/// Whether a process is an anchor: its children root trees of their own.
pub fn is_anchor(pid: u32, command: &str, link: &Link) -> bool {
    if pid <= 2 || link.ppid.is_none_or(|p| p == 0) {
        return true;
    }
    let name = program_name(command);
    ANCHORS.contains(&name)
        || name.starts_with("containerd-shim")
        || (link.session_leader && SHELLS.contains(&name))
}

/// The part of a cgroup path that is one unit as users know it, and its name:
/// `/system.slice/nginx.service` → `nginx.service`; slices are dropped
/// (`…/user@1000.service/app.slice/app-x.scope` → `user@1000.service/app-x.scope`);
/// a container is its runtime and short id (`docker:3f2a5b6c7d8e`,
/// `podman:…`), whatever cgroups it made below; a Kubernetes pod is
/// `kubepods/<qos>/pod<uid>` (systemd and cgroupfs drivers).
pub fn cgroup_unit(path: &str) -> (&str, String) {
    let segments: Vec<(usize, &str)> = path
        .match_indices(|_| true)
        .filter(|(_, c)| *c == "/")
        .map(|(i, _)| i)
        .chain(std::iter::once(path.len()))
        .scan(0usize, |start, end| {
            let seg = (*start, &path[*start..end]);
            *start = end + 1;
            Some(seg)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let through = |i: usize| {
        let (start, seg) = segments[i];
        &path[..start + seg.len()]
    };
    let short = |id: &str| id.chars().take(12).collect::<String>();
    for (i, &(_, seg)) in segments.iter().enumerate() {
        for (prefix, runtime) in [("docker-", "docker"), ("libpod-", "podman")] {
            if let Some(id) = seg
                .strip_prefix(prefix)
                .and_then(|s| s.strip_suffix(".scope"))
            {
                return (through(i), format!("{runtime}:{}", short(id)));
            }
        }
        if seg == "docker"
            && let Some(&(_, id)) = segments.get(i + 1)
        {
            return (through(i + 1), format!("docker:{}", short(id)));
        }
        if seg.starts_with("kubepods") {
            // The pod: `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid>.slice`.
            for (j, &(_, s)) in segments.iter().enumerate().skip(i) {
                let s = s.strip_suffix(".slice").unwrap_or(s);
                let at = if s.starts_with("pod") {
                    Some(0)
                } else {
                    s.rfind("-pod").map(|a| a + 1)
                };
                let Some(at) = at else {
                    continue;
                };
                let qos = segments[i + 1..j]
                    .iter()
                    .map(|(_, q)| q.strip_suffix(".slice").unwrap_or(q))
                    .map(|q| q.rsplit('-').next().unwrap_or(q))
                    .next_back();
                let pod = s[at..].replace('_', "-");
                let name = match qos {
                    Some(q) => format!("kubepods/{q}/{pod}"),
                    None => format!("kubepods/{pod}"),
                };
                return (through(j), name);
            }
        }
    }
    let kept: Vec<&str> = segments
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| !s.ends_with(".slice"))
        .collect();
    let name = if kept.is_empty() {
        segments
            .last()
            .map_or("/".to_string(), |(_, s)| s.to_string())
    } else {
        kept.join("/")
    };
    (path, name)
}

/// `cgroup_unit`'s key alone, without building the name (per process, per
/// sample: most paths name no container and are their own key).
pub fn cgroup_key(path: &str) -> &str {
    if path.contains("docker") || path.contains("libpod-") || path.contains("kubepods") {
        cgroup_unit(path).0
    } else {
        path
    }
}

/// A fast hasher for PIDs and short strings (FNV-1a; SipHash's DoS resistance
/// buys nothing here and costs per process).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// One group while members are added.
#[derive(Debug, Clone, Default)]
struct Acc {
    /// Index of the process that names the group (tree root, first member).
    first: usize,
    members: u32,
    /// Uses in `Resource::ALL` order, each member's times its state multiplier.
    uses: [Option<f64>; 5],
    metrics: [Option<f64>; METRIC_SUMS],
    /// Worst members: (score, index), worst first; `top_len` of them.
    top: [(f64, usize); TOP_MEMBERS],
    top_len: usize,
}

const METRIC_SUMS: usize = 9;

fn add(slot: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

impl Acc {
    fn add(&mut self, i: usize, p: &ProcessScore, uses: &[Option<f64>; 5], m: &[Option<f64>; 9]) {
        if self.members == 0 {
            self.first = i;
        }
        self.members += 1;
        for (slot, &u) in self.uses.iter_mut().zip(uses) {
            add(slot, u);
        }
        for (slot, &v) in self.metrics.iter_mut().zip(m) {
            add(slot, v);
        }
        let len = self.top_len;
        if len < TOP_MEMBERS || p.score > self.top[len - 1].0 {
            let at = self.top[..len].partition_point(|&(s, _)| s >= p.score);
            let end = len.min(TOP_MEMBERS - 1);
            self.top.copy_within(at..end, at + 1);
            self.top[at] = (p.score, i);
            self.top_len = (len + 1).min(TOP_MEMBERS);
        }
    }

    fn top(&self) -> &[(f64, usize)] {
        &self.top[..self.top_len]
    }
}

/// Folds processes into groups, keeping its buffers between samples.
#[derive(Default)]
pub struct Grouper {
    by_pid: FastMap<u32, usize>,
    root: Vec<usize>,
    /// Per process: 0 not known yet, 1 an anchor, 2 not.
    anchor: Vec<u8>,
    stack: Vec<usize>,
    /// Per root index, its tree's slot.
    trees: Vec<usize>,
    cgroups: FastMap<Box<str>, usize>,
    apps: FastMap<Box<str>, usize>,
    accs: [Vec<Acc>; 3],
    order: Vec<usize>,
    /// Processes counted in no group (the monitor and its dashboards).
    left_out: FastMap<u32, ()>,
}

const UNKNOWN: usize = usize::MAX;

impl Grouper {
    pub fn new() -> Grouper {
        Grouper::default()
    }

    /// Count these processes in no group from the next `group` on: the
    /// monitor and the dashboards connected to it are not part of any
    /// incident, so a tree that holds them (a terminal that started both
    /// the daemon and a culprit) is judged by the others alone.
    pub fn leave_out(&mut self, pids: impl IntoIterator<Item = u32>) {
        self.left_out.clear();
        self.left_out.extend(pids.into_iter().map(|p| (p, ())));
    }

    fn anchor_at(&mut self, i: usize, procs: &[ProcessScore], links: &[Link]) -> bool {
        if self.anchor[i] == 0 {
            self.anchor[i] = if is_anchor(procs[i].pid, &procs[i].command, &links[i]) {
                1
            } else {
                2
            };
        }
        self.anchor[i] == 1
    }

    /// The index of the root of `i`'s tree: the highest ancestor-or-self below
    /// the nearest anchor (an anchor roots a tree of its own). Memoised.
    fn tree_root(&mut self, i: usize, procs: &[ProcessScore], links: &[Link]) -> usize {
        self.stack.clear();
        let mut cur = i;
        let root = loop {
            if self.root[cur] != UNKNOWN {
                break self.root[cur];
            }
            let parent = links[cur].ppid.and_then(|pp| self.by_pid.get(&pp).copied());
            let stop = self.anchor_at(cur, procs, links)
                || match parent {
                    None => true,
                    Some(pi) => pi == cur || self.anchor_at(pi, procs, links),
                };
            // A cycle (a PID reused by a descendant mid-scan) ends the walk.
            if stop || self.stack.len() > procs.len() {
                break cur;
            }
            self.stack.push(cur);
            cur = parent.unwrap_or(cur);
        };
        self.root[cur] = root;
        for &s in &self.stack {
            self.root[s] = root;
        }
        root
    }

    /// Group `procs` (scored, with `links` in the same order) and return the
    /// top `per_kind` groups of each kind, worst first within a kind.
    pub fn group(
        &mut self,
        procs: &[ProcessScore],
        links: &[Link],
        cap: &Capacity,
        cfg: &ScoringConfig,
        bands: &BandsConfig,
        per_kind: usize,
    ) -> Vec<GroupScore> {
        let n = procs.len().min(links.len());
        if per_kind == 0 || n == 0 {
            return Vec::new();
        }
        let totals: Totals = score::totals(&procs[..n], cfg);
        self.by_pid.clear();
        for (i, p) in procs[..n].iter().enumerate() {
            self.by_pid.insert(p.pid, i);
        }
        self.root.clear();
        self.root.resize(n, UNKNOWN);
        self.anchor.clear();
        self.anchor.resize(n, 0);
        self.trees.clear();
        self.trees.resize(n, UNKNOWN);
        self.cgroups.clear();
        self.apps.clear();
        for accs in &mut self.accs {
            accs.clear();
        }
        for i in 0..n {
            let p = &procs[i];
            if self.left_out.contains_key(&p.pid) {
                continue;
            }
            let multiplier = cfg.state_multipliers.get(p.state);
            let uses = RESOURCES.map(|r| score::raw_use(p, r).map(|u| u * multiplier));
            let cur = |m: &Option<crate::model::MetricValue>| m.map(|v| v.current);
            let metrics = [
                cur(&p.cpu),
                cur(&p.children_cpu),
                cur(&p.runnable_time_rate),
                cur(&p.mem),
                cur(&p.disk_io_rate),
                cur(&p.wakeups_rate),
                cur(&p.gpu_time_rate),
                cur(&p.pageins_rate),
                cur(&p.threads),
            ];
            let root = self.tree_root(i, procs, links);
            if self.trees[root] == UNKNOWN {
                self.accs[0].push(Acc::default());
                self.trees[root] = self.accs[0].len() - 1;
            }
            let slot = self.trees[root];
            self.accs[0][slot].add(i, p, &uses, &metrics);
            self.accs[0][slot].first = root;
            if let Some(path) = p.cgroup.as_deref() {
                let unit = cgroup_key(path);
                let slot = match self.cgroups.get(unit) {
                    Some(&s) => s,
                    None => {
                        self.accs[1].push(Acc::default());
                        self.cgroups.insert(unit.into(), self.accs[1].len() - 1);
                        self.accs[1].len() - 1
                    }
                };
                self.accs[1][slot].add(i, p, &uses, &metrics);
            }
            let app = match links[i].exe.as_deref() {
                Some(exe) => exe,
                None => program_name(&p.command),
            };
            if !app.is_empty() {
                let slot = match self.apps.get(app) {
                    Some(&s) => s,
                    None => {
                        self.accs[2].push(Acc::default());
                        self.apps.insert(app.into(), self.accs[2].len() - 1);
                        self.accs[2].len() - 1
                    }
                };
                self.accs[2][slot].add(i, p, &uses, &metrics);
            }
        }
        let mut out = Vec::new();
        for (k, kind) in [GroupKind::Tree, GroupKind::Cgroup, GroupKind::App]
            .into_iter()
            .enumerate()
        {
            let verdicts: Vec<score::Verdict> = self.accs[k]
                .iter()
                .map(|a| score::verdict(&a.uses, 1.0, cap, &totals, cfg, bands))
                .collect();
            self.order.clear();
            self.order.extend(0..verdicts.len());
            let rank = |a: &usize, b: &usize| {
                verdicts[*b]
                    .score
                    .total_cmp(&verdicts[*a].score)
                    .then(a.cmp(b))
            };
            if self.order.len() > per_kind {
                self.order.select_nth_unstable_by(per_kind, rank);
                self.order.truncate(per_kind);
            }
            self.order.sort_unstable_by(rank);
            for &g in &self.order {
                let acc = &self.accs[k][g];
                let v = &verdicts[g];
                let named = &procs[acc.first];
                let (key, name) = match kind {
                    GroupKind::Tree => (
                        format!("{}:{}", named.pid, named.start_time_ms),
                        named.command.clone(),
                    ),
                    GroupKind::Cgroup => {
                        let (unit, name) = cgroup_unit(named.cgroup.as_deref().unwrap_or("/"));
                        (unit.to_string(), name)
                    }
                    GroupKind::App => match links[acc.first].exe.as_deref() {
                        Some(exe) => (
                            exe.to_string(),
                            exe.rsplit('/').next().unwrap_or(exe).to_string(),
                        ),
                        None => {
                            let name = program_name(&named.command).to_string();
                            (name.clone(), name)
                        }
                    },
                };
                let m = acc.metrics;
                out.push(GroupScore {
                    kind,
                    key,
                    name,
                    member_count: acc.members,
                    top_members: acc.top().iter().map(|&(_, i)| procs[i].pid).collect(),
                    worst_member_score: acc.top().first().map_or(0.0, |&(s, _)| s),
                    metrics: GroupMetrics {
                        cpu: m[0],
                        children_cpu: m[1],
                        runnable_time_rate: m[2],
                        mem: m[3],
                        disk_io_rate: m[4],
                        wakeups_rate: m[5],
                        gpu_time_rate: m[6],
                        pageins_rate: m[7],
                        threads: m[8],
                    },
                    score: v.score,
                    band: v.band,
                    dominant_resource: v.dominant,
                    cpu_share: v.shares[0],
                    gpu_share: v.shares[1],
                    mem_share: v.shares[2],
                    disk_share: v.shares[3],
                    wakeups_share: v.shares[4],
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Band, MetricValue, ProcessState, Resource};

    fn machine() -> Capacity {
        Capacity {
            cpu_count: 2,
            mem_total_bytes: Some(24 << 30),
        }
    }

    struct Table {
        procs: Vec<ProcessScore>,
        links: Vec<Link>,
    }

    impl Table {
        fn new() -> Table {
            let mut t = Table {
                procs: vec![],
                links: vec![],
            };
            t.add(1, 0, "/sbin/init", 0.0);
            t
        }
        fn add(&mut self, pid: u32, ppid: u32, command: &str, cpu: f64) -> &mut ProcessScore {
            let mut p = ProcessScore::new(pid, 1000 + u64::from(pid), command.into(), 0.0);
            p.state = ProcessState::Running;
            p.cpu = Some(MetricValue::new(cpu));
            p.mem = Some(MetricValue::new(1e6));
            p.ppid = (ppid > 0).then_some(ppid);
            self.procs.push(p);
            self.links.push(Link {
                ppid: (ppid > 0).then_some(ppid),
                session_leader: false,
                exe: None,
            });
            self.procs.last_mut().expect("just pushed")
        }
        fn group(&mut self) -> Vec<GroupScore> {
            let c = Config::default();
            score::score_all(&mut self.procs, &machine(), &c.scoring, &c.bands);
            Grouper::new().group(
                &self.procs,
                &self.links,
                &machine(),
                &c.scoring,
                &c.bands,
                10,
            )
        }
    }

    fn of(groups: &[GroupScore], kind: GroupKind) -> Vec<&GroupScore> {
        groups.iter().filter(|g| g.kind == kind).collect()
    }

    #[test]
    fn four_spinners_under_a_terminal_shell_are_one_tree() {
        let mut t = Table::new();
        t.add(100, 1, "/usr/lib/gnome-terminal-server", 1.0);
        t.add(200, 100, "bash", 0.0);
        t.links.last_mut().unwrap().session_leader = true;
        t.add(300, 200, "./spin4", 0.5);
        for pid in 301..=304 {
            t.add(pid, 300, "./spin4 --worker", 50.0).runnable_time_rate =
                Some(MetricValue::new(0.5e9));
        }
        t.add(400, 200, "vim notes", 0.2);
        let groups = t.group();
        let trees = of(&groups, GroupKind::Tree);
        let top = trees[0];
        assert_eq!(top.name, "./spin4");
        assert_eq!(top.key, "300:1300");
        assert_eq!(top.member_count, 5);
        assert!((top.metrics.cpu.unwrap() - 200.5).abs() < 1e-9);
        assert_eq!(top.dominant_resource, Resource::Cpu);
        assert!(top.band >= Band::High, "{}", top.score);
        assert!(top.score > t.procs.iter().map(|p| p.score).fold(0.0, f64::max));
        assert_eq!(top.top_members.len(), 5);
        assert!((301..=304).contains(&top.top_members[0]));
        // The shell is a tree of its own; vim is another; the terminal another.
        let named: Vec<&str> = trees.iter().map(|g| g.name.as_str()).collect();
        for n in [
            "bash",
            "vim notes",
            "/usr/lib/gnome-terminal-server",
            "/sbin/init",
        ] {
            assert!(named.contains(&n), "{named:?}");
        }
        assert_eq!(trees.iter().map(|g| g.member_count).sum::<u32>(), 9);
    }

    #[test]
    fn the_monitor_and_its_dashboards_are_in_no_group() {
        // A terminal's shell started the daemon, a dashboard and a spinner.
        let mut t = Table::new();
        t.add(200, 1, "bash", 0.0);
        t.links.last_mut().unwrap().session_leader = true;
        t.add(210, 200, "make test", 0.1);
        t.add(300, 210, "rogue-hunter daemon", 30.0);
        t.add(301, 210, "rogue-hunter tui", 20.0);
        t.add(302, 210, "./spin", 100.0);
        let c = Config::default();
        score::score_all(&mut t.procs, &machine(), &c.scoring, &c.bands);
        let mut g = Grouper::new();
        g.leave_out([300, 301]);
        let groups = g.group(&t.procs, &t.links, &machine(), &c.scoring, &c.bands, 10);
        let tree = of(&groups, GroupKind::Tree)
            .into_iter()
            .find(|g| g.name == "make test")
            .expect("the make tree");
        assert_eq!(tree.member_count, 2, "make and the spinner only");
        assert!((tree.metrics.cpu.unwrap() - 100.1).abs() < 1e-9);
        assert!(!tree.top_members.contains(&300) && !tree.top_members.contains(&301));
        for g in &groups {
            assert!(!g.top_members.contains(&300), "{}", g.name);
        }
        // Left out only while asked: the next round counts them again.
        g.leave_out([]);
        let again = g.group(&t.procs, &t.links, &machine(), &c.scoring, &c.bands, 10);
        let tree = of(&again, GroupKind::Tree)
            .into_iter()
            .find(|g| g.name == "make test")
            .expect("the make tree");
        assert_eq!(tree.member_count, 4);
    }

    #[test]
    fn a_process_is_in_one_group_per_kind_and_sums_match() {
        let mut t = Table::new();
        t.add(10, 1, "make -j4", 1.0);
        for pid in 11..15 {
            t.add(pid, 10, "cc1 x.c", 90.0);
            t.links.last_mut().unwrap().exe = Some(Arc::from("/usr/lib/gcc/cc1"));
        }
        for p in &mut t.procs {
            p.cgroup = Some("/user.slice/user-1000.slice/session-2.scope".into());
        }
        let groups = t.group();
        for kind in [GroupKind::Tree, GroupKind::Cgroup, GroupKind::App] {
            let gs = of(&groups, kind);
            assert_eq!(gs.iter().map(|g| g.member_count).sum::<u32>(), 6, "{kind}");
            let cpu: f64 = gs.iter().filter_map(|g| g.metrics.cpu).sum();
            assert!((cpu - 361.0).abs() < 1e-9, "{kind}: {cpu}");
        }
        let app = of(&groups, GroupKind::App)[0];
        assert_eq!((app.name.as_str(), app.member_count), ("cc1", 4));
        let cg = of(&groups, GroupKind::Cgroup)[0];
        assert_eq!(cg.name, "session-2.scope");
        assert_eq!(cg.member_count, 6);
    }

    #[test]
    fn reused_pid_and_reparented_orphan_keep_totals_whole() {
        // A tree's root died; its child was re-parented to init (an orphan),
        // and the root's PID now belongs to an unrelated process under init.
        let mut t = Table::new();
        t.add(50, 1, "orphaned-worker", 80.0);
        t.add(60, 50, "worker-child", 20.0);
        // PID 70 was the dead root; the new 70 (another identity) is a
        // child of 60 — a stale parent link that makes a cycle through 60.
        t.add(70, 60, "new-owner-of-70", 10.0);
        t.links[1].ppid = Some(70);
        let groups = t.group();
        let trees = of(&groups, GroupKind::Tree);
        let members: u32 = trees.iter().map(|g| g.member_count).sum();
        assert_eq!(members, 4, "every process once");
        let cpu: f64 = trees.iter().filter_map(|g| g.metrics.cpu).sum();
        assert!((cpu - 110.0).abs() < 1e-9, "{cpu}");
        // The re-parented orphan roots its own tree, with its descendants.
        let orphan = trees.iter().find(|g| g.top_members.contains(&50)).unwrap();
        assert_eq!(orphan.member_count, 3);
    }

    #[test]
    fn zombie_members_add_no_use_and_unmeasured_metrics_stay_null() {
        let mut t = Table::new();
        t.add(10, 1, "app", 0.0);
        t.add(11, 10, "app", 100.0).state = ProcessState::Zombie;
        let groups = t.group();
        let tree = of(&groups, GroupKind::Tree)
            .into_iter()
            .find(|g| g.name == "app")
            .unwrap();
        assert_eq!(tree.cpu_share, Some(0.0));
        assert_eq!(tree.metrics.wakeups_rate, None);
        assert_eq!(tree.metrics.gpu_time_rate, None);
        assert_eq!(tree.gpu_share, None);
    }

    #[test]
    fn anchors() {
        let link = |leader| Link {
            ppid: Some(5),
            session_leader: leader,
            exe: None,
        };
        assert!(is_anchor(1, "/sbin/init splash", &link(false)));
        assert!(is_anchor(900, "/lib/systemd/systemd --user", &link(false)));
        assert!(is_anchor(901, "-bash", &link(true)));
        assert!(
            !is_anchor(902, "bash -c make", &link(false)),
            "a script's shell"
        );
        assert!(is_anchor(
            903,
            "/usr/bin/containerd-shim-runc-v2 -id x",
            &link(false)
        ));
        assert!(is_anchor(904, "sshd: alice@pts/0", &link(false)));
        assert!(!is_anchor(
            905,
            "/usr/sbin/nginx -g daemon off;",
            &link(true)
        ));
        assert_eq!(program_name("/usr/bin/python3 -m http.server"), "python3");
    }

    #[test]
    fn cgroup_names_as_users_know_them() {
        let cases = [
            (
                "/system.slice/nginx.service",
                "/system.slice/nginx.service",
                "nginx.service",
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-4242.scope",
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-4242.scope",
                "user@1000.service/app-firefox-4242.scope",
            ),
            (
                "/system.slice/docker-3f2a5b6c7d8e9f00112233.scope",
                "/system.slice/docker-3f2a5b6c7d8e9f00112233.scope",
                "docker:3f2a5b6c7d8e",
            ),
            (
                "/docker/3f2a5b6c7d8e9f00/sub",
                "/docker/3f2a5b6c7d8e9f00",
                "docker:3f2a5b6c7d8e",
            ),
            (
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_ab.slice/cri-containerd-99.scope",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_ab.slice",
                "kubepods/burstable/pod12-ab",
            ),
            (
                "/kubepods/besteffort/pod7f/abc",
                "/kubepods/besteffort/pod7f",
                "kubepods/besteffort/pod7f",
            ),
            (
                "/kubepods.slice/kubepods-pod9.slice/x",
                "/kubepods.slice/kubepods-pod9.slice",
                "kubepods/pod9",
            ),
            (
                "/machine.slice/libpod-abcdef0123456789.scope",
                "/machine.slice/libpod-abcdef0123456789.scope",
                "podman:abcdef012345",
            ),
            ("/user.slice", "/user.slice", "user.slice"),
            ("/", "/", "/"),
            ("/rh-test-42", "/rh-test-42", "rh-test-42"),
        ];
        for (path, key, name) in cases {
            assert_eq!(cgroup_unit(path), (key, name.to_string()), "{path}");
        }
    }
}
