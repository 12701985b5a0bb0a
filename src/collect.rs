//! Collection: raw counters from a platform source become `ProcessScore`s with
//! rates, then scores, then the top N as `ProcessSamples`.
//!
//! Owns the rate math (`derive`, a plain function of now, previous and the time
//! between) and the choice of which processes get the expensive reads. Does no
//! OS calls itself: those belong to the `ProcessSource` in `platform`.

pub mod system;

use crate::config::Config;
use crate::groups::{Grouper, Link};
use crate::model::{ProcessKey, ProcessSamples, ProcessScore, ProcessState, metric};
use crate::platform::{DeepCounters, ProcessSource, RawMachine, RawProcess, SystemInfo};
use crate::score::{self, Capacity};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Cumulative totals of a process's own work and its reaped children's, the
/// part a parent's counters absorb when the process is reaped: its CPU and
/// major faults plus its children's (`cutime`/`cstime`, `cmajflt`), and its
/// disk bytes and syscalls (`/proc/PID/io` already holds reaped children's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    pub cpu_ns: u64,
    pub pageins: u64,
    pub disk_bytes: u64,
    pub syscalls: u64,
}

impl Lifetime {
    pub fn add(&mut self, other: &Lifetime) {
        self.cpu_ns = self.cpu_ns.saturating_add(other.cpu_ns);
        self.pageins = self.pageins.saturating_add(other.pageins);
        self.disk_bytes = self.disk_bytes.saturating_add(other.disk_bytes);
        self.syscalls = self.syscalls.saturating_add(other.syscalls);
    }
}

/// What `derive_with` needs beyond one process's readings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DeriveContext {
    /// Last-seen lifetimes of this process's children that vanished since the
    /// previous sample: already counted as their own rates while they lived
    /// (or before the window), so they are subtracted from the jump in this
    /// process's children counters and `io` when it reaps them.
    pub reaped: Lifetime,
    /// Unix time of the previous sample: a process that started after it has
    /// no previous reading, and its first rates come from its lifetime.
    pub previous_sample_at: Option<f64>,
}

/// What `derive` remembers about a process between samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Previous {
    pub at: f64,
    pub ppid: Option<u32>,
    pub cpu_time_ns: Option<u64>,
    pub children_cpu_ns: Option<u64>,
    pub children_pageins: Option<u64>,
    /// What reaped children's lifetimes still have to be subtracted: the part
    /// of last sample's that its counters had not absorbed yet (a child can
    /// vanish from the listing before its parent's `stat` shows the reap).
    pub reaped_carry: Lifetime,
    pub faults: Option<u64>,
    pub pageins: Option<u64>,
    pub disk_bytes: Option<u64>,
    pub syscalls: Option<u64>,
    pub gpu_time_ns: Option<u64>,
    pub mach_msgs: Option<u64>,
    pub instructions: Option<u64>,
    pub cycles: Option<u64>,
    pub energy_nj: Option<u64>,
    pub qos_interactive_ns: Option<u64>,
    pub deep: Option<DeepCounters>,
    /// Rates from the last two deep reads: csw, wakeups, runnable, gpu time.
    pub(crate) deep_rates: [Option<f64>; 4],
    /// Sampling round of the last deep read, and how many there have been.
    pub(crate) deep_round: Option<u64>,
    pub(crate) deep_reads: u32,
    /// CPU time at the last deep read: a process that has not run since then
    /// cannot have switched or woken enough to matter, so its periodic deep
    /// read is skipped.
    pub(crate) deep_cpu_time_ns: Option<u64>,
    pub(crate) seen_round: u64,
}

fn rate(now: Option<u64>, prev: Option<u64>, dt: f64) -> Option<f64> {
    match (now, prev) {
        (Some(n), Some(p)) if dt > 0.0 => Some(n.saturating_sub(p) as f64 / dt),
        _ => None,
    }
}

/// The delta of a cumulative counter minus what of it was already counted
/// (`debt`), and the debt left over.
fn net(now: Option<u64>, prev: Option<u64>, debt: u64) -> (Option<u64>, u64) {
    match (now, prev) {
        (Some(n), Some(p)) => {
            let delta = n.saturating_sub(p);
            let credit = delta.min(debt);
            (Some(delta - credit), debt - credit)
        }
        _ => (None, debt),
    }
}

fn per_second(delta: Option<u64>, dt: f64) -> Option<f64> {
    delta.filter(|_| dt > 0.0).map(|d| d as f64 / dt)
}

impl Previous {
    /// The lifetime totals a parent absorbs when this process is reaped, as
    /// last seen.
    pub fn lifetime(&self) -> Lifetime {
        let sum = |a: Option<u64>, b: Option<u64>| a.unwrap_or(0).saturating_add(b.unwrap_or(0));
        Lifetime {
            cpu_ns: sum(self.cpu_time_ns, self.children_cpu_ns),
            pageins: sum(self.pageins, self.children_pageins),
            disk_bytes: self.disk_bytes.unwrap_or(0),
            syscalls: self.syscalls.unwrap_or(0),
        }
    }
}

/// A first reading as if the process had been read at its start with every
/// counter at zero (the kernel starts them there): rates over its lifetime.
fn from_birth(raw: &RawProcess, started_at_s: f64) -> Previous {
    let zero = |v: Option<u64>| v.map(|_| 0);
    Previous {
        at: started_at_s,
        ppid: raw.ppid,
        cpu_time_ns: zero(raw.cpu_time_ns),
        children_cpu_ns: zero(raw.children_cpu_ns),
        children_pageins: zero(raw.children_pageins),
        faults: zero(raw.faults),
        pageins: zero(raw.pageins),
        disk_bytes: zero(raw.disk_bytes),
        syscalls: zero(raw.syscalls),
        gpu_time_ns: zero(raw.gpu_time_ns),
        mach_msgs: zero(raw.mach_msgs),
        instructions: zero(raw.instructions),
        cycles: zero(raw.cycles),
        energy_nj: zero(raw.energy_nj),
        qos_interactive_ns: zero(raw.qos_interactive_ns),
        deep: raw.deep.as_ref().map(|d| DeepCounters {
            read_at: started_at_s,
            csw: zero(d.csw),
            wakeups: zero(d.wakeups),
            runnable_ns: zero(d.runnable_ns),
            gpu_time_ns: zero(d.gpu_time_ns),
            peak_resident_bytes: None,
            cgroup: None,
        }),
        ..Previous::default()
    }
}

fn as_f64(v: Option<u64>) -> Option<f64> {
    v.map(|x| x as f64)
}

/// Rates are computed only over windows at least this long (seconds).
pub const MIN_RATE_WINDOW_S: f64 = 0.005;

/// A process born since the last sample gets lifetime rates once it is this
/// old (seconds): younger, one 10 ms clock tick would read as a whole core.
pub const NEWBORN_MIN_AGE_S: f64 = 0.05;

/// Turn one raw reading (and the previous one of the same identity) into a
/// `ProcessScore` with rates. Pure. Scores are filled later by `score`.
/// The first sight of a process has no rates (`None`): it primes the deltas.
pub fn derive(raw: &RawProcess, prev: Option<&Previous>, now: f64) -> (ProcessScore, Previous) {
    derive_with(raw, prev, &DeriveContext::default(), now)
}

/// `derive` with what the sampler knows across processes: the reaped
/// children to subtract, and when the previous sample was (a process born
/// since then gets rates over its lifetime on its first sample).
pub fn derive_with(
    raw: &RawProcess,
    prev: Option<&Previous>,
    ctx: &DeriveContext,
    now: f64,
) -> (ProcessScore, Previous) {
    // A window too short for clock-tick counters (two samples taken back to
    // back): gauges only, and the previous reading is kept so the next sample
    // has a proper window.
    if let Some(pr) = prev
        && now - pr.at < MIN_RATE_WINDOW_S
    {
        let (p, _) = derive(raw, None, now);
        let mut kept = pr.clone();
        kept.reaped_carry.add(&ctx.reaped);
        return (p, kept);
    }
    // Born since the previous sample: its counters started at zero at its
    // start, so its first rates are over its lifetime.
    let started_at_s = raw
        .started_at_s
        .unwrap_or(raw.start_time_ms as f64 / 1000.0);
    let birth;
    let (prev, newborn) = match (prev, ctx.previous_sample_at) {
        (None, Some(last)) if started_at_s > last && now - started_at_s >= NEWBORN_MIN_AGE_S => {
            birth = from_birth(raw, started_at_s);
            (Some(&birth), true)
        }
        _ => (prev, false),
    };
    let mut p = ProcessScore::new(raw.pid, raw.start_time_ms, raw.command.clone(), now);
    p.state = raw.state;
    p.priority = raw.priority;
    p.ppid = raw.ppid;
    p.uid = raw.uid;
    p.cpu_time_s = raw.cpu_time_ns.map(|ns| ns as f64 / 1e9);
    let dt = prev.map_or(0.0, |pr| now - pr.at);
    let pr = |f: fn(&Previous) -> Option<u64>| prev.and_then(f);
    // What reaped children's lifetimes still owe (subtracted once, never twice).
    let mut debt = prev.map_or(Lifetime::default(), |x| x.reaped_carry);
    debt.add(&ctx.reaped);
    let (children_cpu, cpu_left) = net(raw.children_cpu_ns, pr(|x| x.children_cpu_ns), debt.cpu_ns);
    let (children_pageins, pageins_left) = net(
        raw.children_pageins,
        pr(|x| x.children_pageins),
        debt.pageins,
    );
    let (disk, disk_left) = net(raw.disk_bytes, pr(|x| x.disk_bytes), debt.disk_bytes);
    let (syscalls, syscalls_left) = net(raw.syscalls, pr(|x| x.syscalls), debt.syscalls);
    // Only this sample's new debt carries over, for one sample.
    let reaped_carry = Lifetime {
        cpu_ns: cpu_left.min(ctx.reaped.cpu_ns),
        pageins: pageins_left.min(ctx.reaped.pageins),
        disk_bytes: disk_left.min(ctx.reaped.disk_bytes),
        syscalls: syscalls_left.min(ctx.reaped.syscalls),
    };

    p.cpu = metric(
        rate(raw.cpu_time_ns, pr(|x| x.cpu_time_ns), dt)
            .map(|ns| ns / 1e7)
            // A process cannot run on more cores than it has threads; clock
            // ticks can make it look so over a short window.
            .map(|c| raw.threads.map_or(c, |t| c.min(100.0 * t as f64))),
    );
    p.children_cpu = metric(per_second(children_cpu, dt).map(|ns| ns / 1e7));
    p.mem = metric(as_f64(raw.resident_bytes));
    p.pageins = metric(as_f64(raw.pageins));
    // Major faults: its own plus those of children it reaped since the last
    // sample (beyond what was seen of them alive).
    p.pageins_rate = metric(
        rate(raw.pageins, pr(|x| x.pageins), dt)
            .map(|own| own + per_second(children_pageins, dt).unwrap_or(0.0)),
    );
    p.faults = metric(as_f64(raw.faults));
    p.faults_rate = metric(rate(raw.faults, pr(|x| x.faults), dt));
    p.disk_io = metric(as_f64(raw.disk_bytes));
    p.disk_io_rate = metric(per_second(disk, dt));
    p.syscalls = metric(as_f64(raw.syscalls));
    p.syscalls_rate = metric(per_second(syscalls, dt));
    p.threads = metric(as_f64(raw.threads));
    p.mach_msgs = metric(as_f64(raw.mach_msgs));
    p.mach_msgs_rate = metric(rate(raw.mach_msgs, pr(|x| x.mach_msgs), dt));
    p.instructions = metric(as_f64(raw.instructions));
    p.cycles = metric(as_f64(raw.cycles));
    p.ipc = metric(ipc(raw, prev));
    p.energy = metric(as_f64(raw.energy_nj));
    p.energy_rate = metric(rate(raw.energy_nj, pr(|x| x.energy_nj), dt));
    p.qos_interactive = metric(as_f64(raw.qos_interactive_ns));
    p.qos_interactive_rate = metric(rate(
        raw.qos_interactive_ns,
        pr(|x| x.qos_interactive_ns),
        dt,
    ));
    p.gpu_time = metric(as_f64(raw.gpu_time_ns));
    p.gpu_time_rate = metric(rate(raw.gpu_time_ns, pr(|x| x.gpu_time_ns), dt));

    // Deep counters: fresh rates when they were read again, else carried.
    let prev_deep = prev.and_then(|x| x.deep.as_ref());
    let mut deep_rates = prev.map_or([None; 4], |x| x.deep_rates);
    if let Some(d) = &raw.deep {
        match prev_deep {
            Some(old) if old.read_at < d.read_at => {
                let ddt = d.read_at - old.read_at;
                deep_rates = [
                    rate(d.csw, old.csw, ddt),
                    rate(d.wakeups, old.wakeups, ddt),
                    rate(d.runnable_ns, old.runnable_ns, ddt),
                    rate(d.gpu_time_ns, old.gpu_time_ns, ddt),
                ];
            }
            Some(_) if newborn => deep_rates = [None; 4],
            Some(_) => {}
            None => deep_rates = [None; 4],
        }
        p.csw = metric(as_f64(d.csw));
        p.wakeups = metric(as_f64(d.wakeups));
        p.runnable_time = metric(as_f64(d.runnable_ns));
        p.mem_peak = metric(as_f64(d.peak_resident_bytes.max(raw.resident_bytes)));
        p.cgroup = d.cgroup.clone();
        // GPU time read in the deep pass (Linux), when the cheap pass has none.
        if raw.gpu_time_ns.is_none() {
            p.gpu_time = metric(as_f64(d.gpu_time_ns));
            p.gpu_time_rate = metric(deep_rates[3]);
        }
    } else {
        deep_rates = [None; 4];
    }
    p.csw_rate = metric(deep_rates[0]);
    p.wakeups_rate = metric(deep_rates[1]);
    p.runnable_time_rate = metric(deep_rates[2]);

    let next = Previous {
        at: now,
        ppid: raw.ppid,
        cpu_time_ns: raw.cpu_time_ns,
        children_cpu_ns: raw.children_cpu_ns,
        children_pageins: raw.children_pageins,
        reaped_carry,
        faults: raw.faults,
        pageins: raw.pageins,
        disk_bytes: raw.disk_bytes,
        syscalls: raw.syscalls,
        gpu_time_ns: raw.gpu_time_ns,
        mach_msgs: raw.mach_msgs,
        instructions: raw.instructions,
        cycles: raw.cycles,
        energy_nj: raw.energy_nj,
        qos_interactive_ns: raw.qos_interactive_ns,
        deep: raw.deep.clone(),
        deep_rates,
        deep_round: prev.and_then(|x| x.deep_round),
        deep_cpu_time_ns: prev.and_then(|x| x.deep_cpu_time_ns),
        deep_reads: prev.map_or(0, |x| x.deep_reads),
        seen_round: prev.map_or(0, |x| x.seen_round),
    };
    (p, next)
}

/// Instructions per cycle over the last interval (or since start, first time).
fn ipc(raw: &RawProcess, prev: Option<&Previous>) -> Option<f64> {
    let (i, c) = (raw.instructions?, raw.cycles?);
    let (di, dc) = match prev.and_then(|p| p.instructions.zip(p.cycles)) {
        Some((pi, pc)) => (i.saturating_sub(pi), c.saturating_sub(pc)),
        None => (i, c),
    };
    (dc > 0).then(|| di as f64 / dc as f64)
}

/// A table holding under a quarter of its capacity (and more than a few
/// hundred slots): worth shrinking.
pub(crate) fn sparse(capacity: usize, len: usize) -> bool {
    capacity > 256 && len < capacity / 4
}

/// Make a cleared buffer hold `n` items: an eighth to spare rather than
/// doubling (with 5000 processes, doubling left room for 3000 more rows of
/// ~1 KB each), and give most of it back after a crowd left.
fn fit<T>(v: &mut Vec<T>, n: usize) {
    if v.capacity() < n {
        v.reserve_exact(n + n / 8 - v.len());
    } else if sparse(v.capacity(), n) {
        v.shrink_to(n * 2);
    }
}

/// Spread the periodic deep reads of all processes evenly over the period.
fn due_for_refresh(pid: u32, round: u64, period: u64) -> bool {
    let slot = u64::from(pid.wrapping_mul(2_654_435_761)) % period;
    round % period == slot
}

/// Samples a process source: scan, derive, score, deepen the candidates,
/// score again, keep the top N.
pub struct Sampler<S: ProcessSource> {
    source: S,
    config: Config,
    /// Last round's reading of each process (`previous_rows`, in last
    /// round's order), by identity. Rows stay in one vector, swapped with
    /// `nexts` each round, rather than moved in and out of a map: with 5000
    /// processes a map of readings held ~4 MiB twice over.
    previous: HashMap<ProcessKey, u32>,
    previous_rows: Vec<Previous>,
    /// Which of `previous_rows` were seen this round (the rest vanished).
    taken: Vec<bool>,
    pinned: HashSet<ProcessKey>,
    // Buffers reused every round (large: allocating them anew each round costs
    // page faults).
    raws: Vec<RawProcess>,
    scored: Vec<ProcessScore>,
    nexts: Vec<Previous>,
    /// Each process's row in `previous_rows`, if it was seen last round.
    prevs: Vec<Option<u32>>,
    /// Lifetimes of vanished children, by the parent PID they had.
    reaped: HashMap<u32, Lifetime>,
    last_sample_at: Option<f64>,
    links: Vec<Link>,
    grouper: Grouper,
    grouping_s: f64,
    order: Vec<usize>,
    deepen: Vec<bool>,
    round: u64,
    /// The machine's counters at the last round, and when (Unix seconds).
    machine_prev: Option<(RawMachine, f64)>,
}

impl<S: ProcessSource> Sampler<S> {
    /// Count these processes in no group from the next sample on (see
    /// [`Grouper::leave_out`]).
    pub fn leave_out_of_groups(&mut self, pids: impl IntoIterator<Item = u32>) {
        self.grouper.leave_out(pids);
    }

    pub fn new(source: S, config: Config) -> Self {
        Sampler {
            source,
            config,
            previous: HashMap::new(),
            previous_rows: Vec::new(),
            taken: Vec::new(),
            pinned: HashSet::new(),
            raws: Vec::new(),
            scored: Vec::new(),
            nexts: Vec::new(),
            prevs: Vec::new(),
            reaped: HashMap::new(),
            last_sample_at: None,
            links: Vec::new(),
            grouper: Grouper::new(),
            grouping_s: 0.0,
            order: Vec::new(),
            deepen: Vec::new(),
            round: 0,
            machine_prev: None,
        }
    }

    /// Processes that get the expensive reads every sample (tracked ones).
    pub(crate) fn set_pinned(&mut self, keys: impl IntoIterator<Item = ProcessKey>) {
        self.pinned = keys.into_iter().collect();
    }

    pub(crate) fn system(&mut self) -> SystemInfo {
        self.source.system()
    }

    /// One sampling round at Unix time `now`. Returns the top N and, for callers
    /// that want every process (the tracker), all scored processes.
    pub fn sample_all(&mut self, now: f64) -> (ProcessSamples, &[ProcessScore]) {
        let started = Instant::now();
        self.round += 1;
        let round = self.round;
        let system = self.source.system();
        let capacity = Capacity {
            cpu_count: system.cpu_count,
            mem_total_bytes: system.mem_total_bytes,
        };
        let raws = &mut self.raws;
        let scored = &mut self.scored;
        let nexts = &mut self.nexts;
        let prevs = &mut self.prevs;
        self.source.scan(raws);
        let machine = self.source.machine();
        scored.clear();
        nexts.clear();
        prevs.clear();
        fit(scored, raws.len());
        fit(nexts, raws.len());
        fit(prevs, raws.len());
        if sparse(raws.capacity(), raws.len()) {
            raws.shrink_to(raws.len() * 2);
        }
        let taken = &mut self.taken;
        taken.clear();
        taken.resize(self.previous_rows.len(), false);
        prevs.extend(raws.iter().map(|raw| {
            let row = self.previous.get(&raw.key()).copied();
            if let Some(slot) = row.and_then(|j| taken.get_mut(j as usize)) {
                *slot = true;
            }
            row
        }));
        // A row not taken vanished since the last sample: its parent reaped it
        // (or will), and absorbs its lifetime into its own counters.
        let reaped = &mut self.reaped;
        reaped.clear();
        let io_in_parent = self.source.reaped_io_in_parent();
        let rows = &self.previous_rows;
        let row = |j: &Option<u32>| j.and_then(|j| rows.get(j as usize));
        for gone in rows
            .iter()
            .zip(taken.iter())
            .filter(|(_, t)| !**t)
            .map(|(g, _)| g)
        {
            if let Some(ppid) = gone.ppid {
                let mut lifetime = gone.lifetime();
                if !io_in_parent {
                    (lifetime.disk_bytes, lifetime.syscalls) = (0, 0);
                }
                reaped.entry(ppid).or_default().add(&lifetime);
            }
        }
        let last_sample_at = self.last_sample_at;
        let context = |raw: &RawProcess, known: bool| DeriveContext {
            // Only a parent seen last round can have reaped those children.
            reaped: if known {
                reaped.get(&raw.pid).copied().unwrap_or_default()
            } else {
                Lifetime::default()
            },
            previous_sample_at: last_sample_at,
        };
        // Nor on more cores than the machine has.
        let max_cpu = 100.0 * system.cpu_count.max(1) as f64;
        let cap = |p: &mut ProcessScore| {
            for c in [p.cpu.as_mut(), p.children_cpu.as_mut()]
                .into_iter()
                .flatten()
            {
                c.current = c.current.min(max_cpu);
            }
        };
        for (raw, prev) in raws.iter().zip(prevs.iter()) {
            let ctx = context(raw, prev.is_some());
            let (mut p, n) = derive_with(raw, row(prev), &ctx, now);
            cap(&mut p);
            scored.push(p);
            nexts.push(n);
        }
        let cfg = &self.config;
        score::score_all(scored, &capacity, &cfg.scoring, &cfg.bands);

        // Who gets the expensive reads: the top candidates by score, pinned
        // processes, newcomers (two reads give them rates) and a rotating slice.
        let order = &mut self.order;
        order.clear();
        order.extend(0..scored.len());
        order.sort_unstable_by(|&a, &b| scored[b].score.total_cmp(&scored[a].score));
        let deepen = &mut self.deepen;
        deepen.clear();
        deepen.resize(scored.len(), false);
        for &i in order.iter().take(cfg.selection.deep_candidates) {
            deepen[i] = true;
        }
        let period = cfg.selection.deep_refresh_samples.max(1);
        for (i, next) in nexts.iter().enumerate() {
            // Skip the periodic read of a process that has not run since its last
            // deep read and whose last deep rates were already ~0: nothing to update.
            let idle_and_quiet = raws[i].cpu_time_ns.is_some()
                && raws[i].cpu_time_ns == next.deep_cpu_time_ns
                && next.deep_rates.iter().all(|r| r.is_none_or(|v| v < 1.0));
            if next.deep_reads < 2
                || self.pinned.contains(&raws[i].key())
                || (due_for_refresh(raws[i].pid, round, period) && !idle_and_quiet)
            {
                deepen[i] = true;
            }
        }
        let mut any_deep = false;
        for i in 0..raws.len() {
            if !deepen[i] {
                continue;
            }
            any_deep = true;
            self.source.deepen(&mut raws[i], now);
            let ctx = context(&raws[i], prevs[i].is_some());
            let (mut p, mut n) = derive_with(&raws[i], row(&prevs[i]), &ctx, now);
            cap(&mut p);
            n.deep_round = Some(round);
            n.deep_cpu_time_ns = raws[i].cpu_time_ns;
            n.deep_reads = nexts[i].deep_reads.saturating_add(1);
            scored[i] = p;
            nexts[i] = n;
        }
        if any_deep {
            score::score_all(scored, &capacity, &cfg.scoring, &cfg.bands);
        }

        // This round's readings become the previous ones.
        for next in nexts.iter_mut() {
            next.seen_round = round;
        }
        std::mem::swap(&mut self.previous_rows, nexts);
        nexts.clear();
        self.previous.clear();
        self.previous.extend(
            raws.iter()
                .enumerate()
                .map(|(i, raw)| (raw.key(), i as u32)),
        );
        // After a crowd leaves (a build, PID churn) the tables keep their
        // peak capacity: give most of it back.
        let live = raws.len();
        if sparse(self.previous.capacity(), self.previous.len()) {
            self.previous.shrink_to(live * 2);
        }
        if sparse(self.reaped.capacity(), self.reaped.len()) {
            self.reaped.shrink_to(self.reaped.len() * 2);
        }
        self.last_sample_at = Some(now);

        let process_count = scored.len() as u32;
        order.clear();
        order.extend(0..scored.len());
        order.sort_unstable_by(|&a, &b| {
            scored[b]
                .score
                .total_cmp(&scored[a].score)
                .then(scored[a].pid.cmp(&scored[b].pid))
        });
        let top: Vec<ProcessScore> = order
            .iter()
            .take(cfg.selection.top_n)
            .map(|&i| scored[i].clone())
            .collect();
        let max_score = top.first().map_or(0.0, |p| p.score);
        let grouping = Instant::now();
        self.links.clear();
        self.links.extend(self.raws.iter().map(|r| Link {
            ppid: r.ppid,
            session_leader: r.session_leader,
            exe: r.exe.clone(),
        }));
        let groups = self.grouper.group(
            &self.scored,
            &self.links,
            &capacity,
            &cfg.scoring,
            &cfg.bands,
            cfg.selection.top_groups,
        );
        self.grouping_s = grouping.elapsed().as_secs_f64();
        let system = machine.map(|m| {
            let mut counts = system::ProcessCounts {
                processes: process_count,
                ..Default::default()
            };
            // A sum that misses some processes (macOS: other users' without
            // root) is not the machine's count: `derive` then takes the
            // kernel's, if the platform reads one.
            let mut threads_complete = true;
            for r in &self.raws {
                match r.threads {
                    Some(t) => counts.threads = Some(counts.threads.unwrap_or(0) + t),
                    None => threads_complete = false,
                }
                match r.state {
                    ProcessState::Running => counts.running += 1,
                    ProcessState::DiskSleep => counts.blocked += 1,
                    _ => {}
                }
            }
            if !threads_complete {
                counts.threads = None;
            }
            let prev = self.machine_prev.as_ref().map(|(p, at)| (p, now - at));
            let mut sys = system::derive(&m, prev, counts);
            (sys.stress, sys.stress_cause) = score::machine_stress(&sys, max_score);
            self.machine_prev = Some((m, now));
            Box::new(sys)
        });
        let samples = ProcessSamples {
            timestamp_s: now,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            process_count,
            max_score,
            rogues: top,
            groups,
            system,
        };
        (samples, &self.scored)
    }

    /// How long the last round's grouping took, seconds (the benchmark).
    pub fn grouping_time_s(&self) -> f64 {
        self.grouping_s
    }

    /// One sampling round: the top N.
    pub fn sample(&mut self, now: f64) -> ProcessSamples {
        self.sample_all(now).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pid: u32, cpu_ns: u64, disk: u64) -> RawProcess {
        let mut r = RawProcess::new(pid, 1000, "x".into());
        r.cpu_time_ns = Some(cpu_ns);
        r.disk_bytes = Some(disk);
        r.resident_bytes = Some(4096);
        r
    }

    #[test]
    fn first_sight_has_no_rates() {
        let (p, _) = derive(&raw(1, 5_000_000_000, 10), None, 100.0);
        assert_eq!(p.cpu, None);
        assert_eq!(p.disk_io_rate, None);
        assert_eq!(p.mem.unwrap().current, 4096.0);
        assert_eq!(p.disk_io.unwrap().current, 10.0);
        // Cumulative CPU time and the owner need no previous reading.
        assert_eq!(p.cpu_time_s, Some(5.0));
        assert_eq!(p.uid, None);
        let mut owned = raw(1, 0, 0);
        owned.uid = Some(1000);
        assert_eq!(derive(&owned, None, 100.0).0.uid, Some(1000));
    }

    #[test]
    fn rates_from_deltas() {
        let (_, prev) = derive(&raw(1, 1_000_000_000, 0), None, 100.0);
        // half a second of CPU in half a second = 100% of one core
        let (p, _) = derive(&raw(1, 1_500_000_000, 1_000_000), Some(&prev), 100.5);
        assert!((p.cpu.unwrap().current - 100.0).abs() < 1e-9);
        assert!((p.disk_io_rate.unwrap().current - 2_000_000.0).abs() < 1e-6);
    }

    #[test]
    fn back_to_back_samples_give_no_rates_and_keep_the_window() {
        let (_, prev) = derive(&raw(1, 1_000_000_000, 0), None, 100.0);
        // 1.6 ms later one 10 ms clock tick would read as 625 % of a core.
        let (p, kept) = derive(&raw(1, 1_010_000_000, 0), Some(&prev), 100.0016);
        assert_eq!(p.cpu, None, "no rate over 1.6 ms");
        assert_eq!(p.mem.unwrap().current, 4096.0, "gauges still read");
        assert_eq!(kept, prev, "the previous reading is kept");
        let (p, _) = derive(&raw(1, 1_100_000_000, 0), Some(&kept), 100.5);
        assert!((p.cpu.unwrap().current - 20.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_never_exceeds_the_threads_it_has() {
        let mut a = raw(1, 0, 0);
        a.threads = Some(1);
        let (_, prev) = derive(&a, None, 100.0);
        let mut b = raw(1, 300_000_000, 0);
        b.threads = Some(1);
        // 0.3 s of ticks counted in a 0.1 s window: clamped to one core.
        let (p, _) = derive(&b, Some(&prev), 100.1);
        assert_eq!(p.cpu.unwrap().current, 100.0);
    }

    #[test]
    fn counter_going_backwards_is_zero_not_negative() {
        let (_, prev) = derive(&raw(1, 2_000, 50), None, 1.0);
        let (p, _) = derive(&raw(1, 1_000, 10), Some(&prev), 2.0);
        assert_eq!(p.cpu.unwrap().current, 0.0);
        assert_eq!(p.disk_io_rate.unwrap().current, 0.0);
    }

    #[test]
    fn deep_rates_are_fresh_on_read_and_carried_between_reads() {
        let with_deep = |at: f64, wake: u64| {
            let mut r = raw(1, 0, 0);
            r.deep = Some(DeepCounters {
                read_at: at,
                wakeups: Some(wake),
                csw: Some(wake * 2),
                runnable_ns: Some(0),
                ..Default::default()
            });
            r
        };
        let (_, p1) = derive(&with_deep(10.0, 100), None, 10.0);
        let (s2, p2) = derive(&with_deep(11.0, 1100), Some(&p1), 11.0);
        assert_eq!(s2.wakeups_rate.unwrap().current, 1000.0);
        assert_eq!(s2.csw_rate.unwrap().current, 2000.0);
        // Not read again at 11.5: the carried counters keep the last rate.
        let (s3, _) = derive(&with_deep(11.0, 1100), Some(&p2), 11.5);
        assert_eq!(s3.wakeups_rate.unwrap().current, 1000.0);
    }

    #[test]
    fn deep_gpu_time_gives_gpu_rate_and_carries_between_reads() {
        let with_gpu = |at: f64, gpu: Option<u64>| {
            let mut r = raw(1, 0, 0);
            r.deep = Some(DeepCounters {
                read_at: at,
                gpu_time_ns: gpu,
                ..Default::default()
            });
            r
        };
        let (s1, p1) = derive(&with_gpu(10.0, Some(1_000)), None, 10.0);
        assert_eq!(s1.gpu_time.unwrap().current, 1_000.0);
        assert_eq!(s1.gpu_time_rate, None, "first read primes the delta");
        let (s2, p2) = derive(&with_gpu(12.0, Some(1_000_001_000)), Some(&p1), 12.0);
        assert_eq!(s2.gpu_time_rate.unwrap().current, 5e8);
        // Not read again: the carried counters keep the last rate.
        let (s3, _) = derive(&with_gpu(12.0, Some(1_000_001_000)), Some(&p2), 12.3);
        assert_eq!(s3.gpu_time_rate.unwrap().current, 5e8);
        // No DRM client: null, not zero.
        let (s4, _) = derive(&with_gpu(10.0, None), None, 10.0);
        assert_eq!((s4.gpu_time, s4.gpu_time_rate), (None, None));
        // A cheap-pass reading (macOS) wins over the deep one.
        let mut both = with_gpu(13.0, Some(5));
        both.gpu_time_ns = Some(2_000_001_000);
        let (s5, _) = derive(&both, Some(&p2), 13.0);
        assert_eq!(s5.gpu_time.unwrap().current, 2_000_001_000.0);
    }

    #[test]
    fn deep_gpu_time_ranks_a_gpu_hog_through_the_sampler() {
        struct GpuSource;
        impl ProcessSource for GpuSource {
            fn system(&mut self) -> SystemInfo {
                SystemInfo {
                    cpu_count: 2,
                    mem_total_bytes: Some(1 << 34),
                    boot_time_ms: 0,
                }
            }
            fn scan(&mut self, out: &mut Vec<RawProcess>) {
                *out = vec![raw(1, 0, 0), raw(2, 0, 0)];
            }
            fn deepen(&mut self, raw: &mut RawProcess, now: f64) {
                // pid 2 keeps the GPU 70 % busy; pid 1 holds no DRM client.
                raw.deep = Some(DeepCounters {
                    read_at: now,
                    gpu_time_ns: (raw.pid == 2).then_some((now * 0.7e9) as u64),
                    ..Default::default()
                });
            }
        }
        let mut s = Sampler::new(GpuSource, Config::default());
        s.sample(1.0);
        let out = s.sample(2.0);
        let top = &out.rogues[0];
        assert_eq!(top.pid, 2);
        assert_eq!(top.gpu_share, Some(70.0));
        assert_eq!(top.dominant_resource, crate::model::Resource::Gpu);
        assert!(top.score > 50.0, "{}", top.score);
        let other = &out.rogues[1];
        assert_eq!((other.gpu_time, other.gpu_share), (None, None));
    }

    #[test]
    fn ipc_uses_interval_deltas() {
        let mut a = raw(1, 0, 0);
        a.instructions = Some(1000);
        a.cycles = Some(1000);
        let (_, prev) = derive(&a, None, 1.0);
        a.instructions = Some(4000);
        a.cycles = Some(2000);
        let (p, _) = derive(&a, Some(&prev), 2.0);
        assert_eq!(p.ipc.unwrap().current, 3.0);
    }

    #[test]
    fn refresh_slots_cover_every_round_evenly() {
        let period = 30;
        let mut per_round = vec![0; period as usize];
        for pid in 1..3001u32 {
            let hits: Vec<u64> = (0..period)
                .filter(|&r| due_for_refresh(pid, r, period))
                .collect();
            assert_eq!(hits.len(), 1);
            per_round[hits[0] as usize] += 1;
        }
        assert!(
            per_round.iter().all(|&n| n > 50 && n < 150),
            "{per_round:?}"
        );
    }

    struct FakeSource {
        rounds: Vec<Vec<RawProcess>>,
        deepened: Vec<u32>,
    }

    impl ProcessSource for FakeSource {
        fn system(&mut self) -> SystemInfo {
            SystemInfo {
                cpu_count: 2,
                mem_total_bytes: Some(1 << 34),
                boot_time_ms: 0,
            }
        }
        fn scan(&mut self, out: &mut Vec<RawProcess>) {
            *out = self.rounds.remove(0);
        }
        fn reaped_io_in_parent(&self) -> bool {
            true
        }
        fn deepen(&mut self, raw: &mut RawProcess, now: f64) {
            self.deepened.push(raw.pid);
            raw.deep = Some(DeepCounters {
                read_at: now,
                ..Default::default()
            });
        }
    }

    #[test]
    fn idle_quiet_processes_skip_periodic_deep_reads_but_busy_ones_do_not() {
        let mut config = Config::default();
        config.selection.deep_candidates = 0;
        config.selection.deep_refresh_samples = 1; // every round is a refresh round
        let rounds = (0..6)
            .map(|r| vec![raw(1, 0, 0), raw(2, r * 10_000_000, 0)])
            .collect();
        let mut s = Sampler::new(
            FakeSource {
                rounds,
                deepened: vec![],
            },
            config,
        );
        for r in 0..6 {
            s.sample(f64::from(r));
        }
        let idle = s.source.deepened.iter().filter(|&&p| p == 1).count();
        let busy = s.source.deepened.iter().filter(|&&p| p == 2).count();
        assert_eq!(idle, 2, "newcomer reads only, then skipped while idle");
        assert_eq!(busy, 6, "a running process is read every refresh");
    }

    #[test]
    fn reused_pid_does_not_inherit_counters() {
        let old = raw(7, 0, 0);
        let mut new = raw(7, 10_000_000_000, 0);
        new.start_time_ms = 2000; // same PID, different process
        let source = FakeSource {
            rounds: vec![vec![old], vec![new]],
            deepened: vec![],
        };
        let mut s = Sampler::new(source, Config::default());
        s.sample(1.0);
        let out = s.sample(2.0);
        assert_eq!(out.rogues[0].start_time_ms, 2000);
        assert_eq!(out.rogues[0].cpu, None, "a new process has no rate yet");
    }

    fn family(pid: u32, ppid: u32, cpu_ns: u64, children_ns: u64, disk: u64) -> RawProcess {
        let mut r = raw(pid, cpu_ns, disk);
        r.ppid = Some(ppid);
        r.children_cpu_ns = Some(children_ns);
        r.children_pageins = Some(0);
        r.pageins = Some(0);
        r.started_at_s = Some(0.5);
        r
    }

    fn by_pid(out: &ProcessSamples, pid: u32) -> &ProcessScore {
        out.rogues
            .iter()
            .find(|p| p.pid == pid)
            .expect("pid in rogues")
    }

    #[test]
    fn reaped_children_cpu_goes_to_the_parent_once() {
        // pid 10 (a shell) runs child 11; between samples 2 and 3 the child
        // ends after 0.2 s more CPU and is reaped (its 0.7 s lifetime lands in
        // the shell's cutime), and children it never saw alive add 0.5 s.
        let rounds = vec![
            vec![family(10, 1, 0, 0, 0), family(11, 10, 0, 0, 0)],
            vec![
                family(10, 1, 10_000_000, 0, 0),
                family(11, 10, 500_000_000, 0, 4096),
            ],
            vec![family(
                10,
                1,
                20_000_000,
                700_000_000 + 500_000_000,
                4096 + 8192,
            )],
            // The next second the shell spawns children that live 0.9 s in all.
            vec![family(10, 1, 30_000_000, 2_100_000_000, 4096 + 8192)],
        ];
        let mut s = Sampler::new(
            FakeSource {
                rounds,
                deepened: vec![],
            },
            Config::default(),
        );
        s.sample(1.0);
        let second = s.sample(2.0);
        assert!((by_pid(&second, 11).cpu.unwrap().current - 50.0).abs() < 1e-9);
        let third = s.sample(3.0);
        let shell = by_pid(&third, 10);
        // 0.2 s of the child's end plus 0.5 s of unseen children: 70 % of a core.
        assert!(
            (shell.children_cpu.unwrap().current - 70.0).abs() < 1e-6,
            "{:?}",
            shell.children_cpu
        );
        // Its I/O: the child's 4 KiB were counted while it lived; 8 KiB are new.
        assert!((shell.disk_io_rate.unwrap().current - 8192.0).abs() < 1e-9);
        assert_eq!(
            shell.cpu_share,
            Some(35.5),
            "own 1 % + children 70 % of 2 cores"
        );
        let fourth = s.sample(4.0);
        let shell = by_pid(&fourth, 10);
        assert!((shell.children_cpu.unwrap().current - 90.0).abs() < 1e-6);
        assert_eq!(shell.disk_io_rate.unwrap().current, 0.0);
    }

    #[test]
    fn a_child_listed_gone_before_its_reap_shows_is_subtracted_next_sample() {
        let rounds = vec![
            vec![family(10, 1, 0, 0, 0), family(11, 10, 0, 0, 0)],
            vec![family(10, 1, 0, 0, 0), family(11, 10, 1_000_000_000, 0, 0)],
            // Child gone from the listing, but the shell's stat does not show
            // the reap yet.
            vec![family(10, 1, 0, 0, 0)],
            vec![family(10, 1, 0, 1_000_000_000, 0)],
            vec![family(10, 1, 0, 2_000_000_000, 0)],
        ];
        let mut s = Sampler::new(
            FakeSource {
                rounds,
                deepened: vec![],
            },
            Config::default(),
        );
        for t in 1..=3 {
            s.sample(f64::from(t));
        }
        let fourth = s.sample(4.0);
        assert_eq!(by_pid(&fourth, 10).children_cpu.unwrap().current, 0.0);
        // The debt is paid once: the next second's children count in full.
        let fifth = s.sample(5.0);
        assert_eq!(by_pid(&fifth, 10).children_cpu.unwrap().current, 100.0);
    }

    #[test]
    fn pid_reuse_of_a_parent_does_not_inherit_reaped_children() {
        let mut new_parent = family(10, 1, 0, 3_000_000_000, 0);
        new_parent.start_time_ms = 5000;
        new_parent.started_at_s = Some(5.0);
        let rounds = vec![
            vec![family(10, 1, 0, 0, 0), family(11, 10, 0, 0, 0)],
            vec![new_parent.clone()],
            vec![{
                let mut p = new_parent;
                p.children_cpu_ns = Some(3_500_000_000);
                p
            }],
        ];
        let mut s = Sampler::new(
            FakeSource {
                rounds,
                deepened: vec![],
            },
            Config::default(),
        );
        s.sample(1.0);
        s.sample(2.0);
        let third = s.sample(3.0);
        assert_eq!(by_pid(&third, 10).children_cpu.unwrap().current, 50.0);
    }

    #[test]
    fn a_process_born_since_the_last_sample_gets_lifetime_rates() {
        let mut newborn = raw(20, 400_000_000, 1 << 20);
        newborn.started_at_s = Some(1.5);
        let mut old = raw(21, 400_000_000, 0);
        old.started_at_s = Some(0.2);
        let rounds = vec![vec![], vec![newborn, old]];
        let mut s = Sampler::new(
            FakeSource {
                rounds,
                deepened: vec![],
            },
            Config::default(),
        );
        s.sample(1.0);
        let out = s.sample(2.0);
        let born = by_pid(&out, 20);
        assert!(
            (born.cpu.unwrap().current - 80.0).abs() < 1e-6,
            "{:?}",
            born.cpu
        );
        assert!((born.disk_io_rate.unwrap().current - 2.0 * f64::from(1 << 20)).abs() < 1e-3);
        assert!(born.score > 0.0);
        // Started before the last sample but never seen: no rate to invent.
        assert_eq!(by_pid(&out, 21).cpu, None);
    }

    #[test]
    fn newborn_lifetime_rates_need_the_minimum_window_and_cover_deep_counters() {
        let mut r = raw(5, 10_000_000, 0);
        r.started_at_s = Some(9.99);
        let ctx = DeriveContext {
            previous_sample_at: Some(9.4),
            ..Default::default()
        };
        let (p, _) = derive_with(&r, None, &ctx, 10.0);
        assert_eq!(p.cpu, None, "10 ms old: too young for a rate");
        r.started_at_s = Some(9.5);
        r.deep = Some(DeepCounters {
            read_at: 10.0,
            runnable_ns: Some(250_000_000),
            wakeups: Some(50),
            ..Default::default()
        });
        let (p, next) = derive_with(&r, None, &ctx, 10.0);
        assert!((p.cpu.unwrap().current - 2.0).abs() < 1e-9);
        assert!((p.runnable_time_rate.unwrap().current - 5e8).abs() < 1e-3);
        assert!((p.wakeups_rate.unwrap().current - 100.0).abs() < 1e-9);
        assert_eq!(next.at, 10.0);
    }

    #[test]
    fn sampler_ranks_and_truncates() {
        let mk = |cpu_a: u64, cpu_b: u64| vec![raw(1, cpu_a, 0), raw(2, cpu_b, 0)];
        let source = FakeSource {
            rounds: vec![mk(0, 0), mk(10_000_000, 1_000_000_000)],
            deepened: vec![],
        };
        let mut config = Config::default();
        config.selection.top_n = 1;
        let mut s = Sampler::new(source, config);
        s.sample(1.0);
        let out = s.sample(2.0);
        assert_eq!(out.process_count, 2);
        assert_eq!(out.rogues.len(), 1);
        assert_eq!(out.rogues[0].pid, 2);
        assert_eq!(out.max_score, out.rogues[0].score);
    }
}
