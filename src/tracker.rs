//! Event tracking: owns the lifecycle of DESIGN.md §5 (open, peak, checkpoint,
//! escalate, forensics trigger, hysteresis close, cooldown) and turns each sample
//! of scored processes into [`TrackerCommand`]s for the daemon to persist and act on.
//! Pure: no clock, no I/O, no database; time comes in as `now` (Unix seconds).
//!
//! Notes:
//! - Forensics are debounced tracker-wide (all events). A trigger suppressed by the
//!   debounce is dropped, never retried: that escalation gets no capture.
//! - A clock that steps backwards ends any wait (checkpoint, debounce, cooldown)
//!   instead of stretching it.
//! - Bands are computed from `score` with the tracker's own `BandsConfig` (the rule
//!   the scorer applies), so thresholds and bands never disagree.
//! - Groups (trees, cgroups, apps) have events too, one incident one event
//!   (docs/scoring.md): a group whose top member accounts for at least
//!   [`CONCENTRATED`] of its dominant resource opens no event (that member's
//!   own event tells the story); a spread group opens one, and its top members
//!   open no process events of their own while it is open. A group is known by
//!   kind and key (a tree's key is its root's `pid:start_time`, so a reused PID
//!   names another tree); one missing from a sample's groups is gone.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::config::BandsConfig;
use crate::model::{
    Band, CloseReason, EventMember, GroupKind, GroupScore, GroupSubject, ProcessKey, ProcessScore,
};

/// A group whose top member holds at least this fraction of the group's use
/// of its dominant resource is that member's incident, not the group's.
/// Calibrated in docs/scoring.md: one spinner is ~1.0 of its tree, each of
/// four spinners on two cores ~0.25.
pub(crate) const CONCENTRATED: f64 = 0.8;

/// What an event is about: one process, or one group by kind and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Subject {
    Process(ProcessKey),
    Group(GroupKind, String),
}

/// Identifies an event: consecutive from [`Tracker::numbered_from`] (the
/// daemon starts after the database's highest id, so keys are row ids).
pub(crate) type EventId = u64;

/// What the daemon must do after a sample, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TrackerCommand {
    /// Score reached the tracking band: open an event, entry snapshot = `process`.
    /// For every command: `group` is `Some` for a group's event, and then
    /// `process` is the group's top member as sampled with it (the score,
    /// band and dominant resource are the group's: see `score`, `band`).
    Open {
        event: EventId,
        process: ProcessScore,
        group: Option<Box<GroupSubject>>,
    },
    /// New highest score for the event: update peak score/band and store a peak snapshot.
    Peak {
        event: EventId,
        process: ProcessScore,
        group: Option<Box<GroupSubject>>,
    },
    /// Periodic snapshot at a band-dependent cadence.
    Checkpoint {
        event: EventId,
        process: ProcessScore,
        group: Option<Box<GroupSubject>>,
    },
    /// The event's band rose above the highest band it had reached so far.
    Escalate {
        event: EventId,
        from: Band,
        to: Band,
        process: ProcessScore,
        group: Option<Box<GroupSubject>>,
    },
    /// Take one forensic capture now (entered or escalated into the forensics band;
    /// debounced).
    TriggerForensics {
        event: EventId,
        process: ProcessScore,
        group: Option<Box<GroupSubject>>,
    },
    /// Event over. `Recovered`: `process` is the exit snapshot. `Gone`: `None`.
    /// `Shutdown`: the last sample seen of the process.
    Close {
        event: EventId,
        reason: CloseReason,
        process: Option<ProcessScore>,
        group: Option<Box<GroupSubject>>,
    },
}

/// A process or a group as the tracker sees it in one sample.
#[derive(Debug, Clone, Copy)]
struct Seen<'a> {
    process: &'a ProcessScore,
    group: Option<&'a GroupScore>,
    /// A group's top members, worst first.
    members: &'a [EventMember],
}

impl Seen<'_> {
    fn score(&self) -> f64 {
        self.group.map_or(self.process.score, |g| g.score)
    }

    fn subject(&self) -> Subject {
        match self.group {
            Some(g) => Subject::Group(g.kind, g.key.clone()),
            None => Subject::Process(self.process.key()),
        }
    }

    fn group(&self) -> Option<Box<GroupSubject>> {
        self.group.map(|g| {
            Box::new(GroupSubject {
                group: g.clone(),
                members: self.members.to_vec(),
            })
        })
    }
}

impl TrackerCommand {
    /// The group, for a group's event.
    pub(crate) fn group(&self) -> Option<&GroupSubject> {
        match self {
            TrackerCommand::Open { group, .. }
            | TrackerCommand::Peak { group, .. }
            | TrackerCommand::Checkpoint { group, .. }
            | TrackerCommand::Escalate { group, .. }
            | TrackerCommand::TriggerForensics { group, .. }
            | TrackerCommand::Close { group, .. } => group.as_deref(),
        }
    }

    /// The event this command is about.
    #[cfg(test)]
    pub(crate) fn event(&self) -> EventId {
        match self {
            TrackerCommand::Open { event, .. }
            | TrackerCommand::Peak { event, .. }
            | TrackerCommand::Checkpoint { event, .. }
            | TrackerCommand::Escalate { event, .. }
            | TrackerCommand::TriggerForensics { event, .. }
            | TrackerCommand::Close { event, .. } => *event,
        }
    }
}

/// State of one open event.
#[derive(Debug, Clone)]
struct OpenEvent {
    id: EventId,
    peak_score: f64,
    /// Highest band reached so far (the band of `peak_score`).
    highest_band: Band,
    /// When the last entry, peak or checkpoint snapshot was taken.
    last_snapshot_at: f64,
    /// Consecutive samples below the tracking threshold.
    samples_below: u32,
    /// The latest sample of the process (a group's top member), for the
    /// shutdown close.
    last_seen: ProcessScore,
    /// The latest sample of the group, for a group's event.
    last_group: Option<Box<GroupSubject>>,
}

/// The event lifecycle state machine. Feed it every sample with [`Tracker::update`].
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    bands: BandsConfig,
    forensics_debounce: f64,
    next_id: EventId,
    open: BTreeMap<Subject, OpenEvent>,
    /// Identity → when its last event closed as recovered (cooldown start).
    cooldowns: BTreeMap<Subject, f64>,
    last_forensics_at: Option<f64>,
    /// The monitor's own processes: never the subject of an event.
    excluded: HashSet<u32>,
}

impl Tracker {
    pub(crate) fn new(bands: BandsConfig, forensics_debounce: f64) -> Tracker {
        Tracker {
            bands,
            forensics_debounce,
            next_id: 1,
            open: BTreeMap::new(),
            cooldowns: BTreeMap::new(),
            last_forensics_at: None,
            excluded: HashSet::new(),
        }
    }

    /// Number events from `first` on (default 1).
    pub(crate) fn numbered_from(mut self, first: EventId) -> Tracker {
        self.next_id = first.max(1);
        self
    }

    /// PIDs that never open an event (the monitor itself, its dashboards and
    /// the tools it runs); their cost is reported in `status` instead. An
    /// event already open for one of them closes as gone at the next update.
    pub fn set_excluded(&mut self, pids: impl IntoIterator<Item = u32>) {
        self.excluded = pids.into_iter().collect();
    }

    /// Feed one sample of EVERY scored process (absence means the process is
    /// gone). Returns the commands in the order they must be applied. Process
    /// events only; see [`Tracker::update_with_groups`].
    #[cfg(test)]
    pub(crate) fn update(&mut self, now: f64, processes: &[ProcessScore]) -> Vec<TrackerCommand> {
        self.update_with_groups(now, processes, &[])
    }

    /// Feed one sample: EVERY scored process and the sample's groups (a
    /// process or group absent from them is gone). Groups are taken first, in
    /// the order given (the sampler's: trees, cgroups, apps), so a spread
    /// incident opens as its tree, and its members do not open events of
    /// their own. Returns the commands in the order they must be applied.
    pub(crate) fn update_with_groups(
        &mut self,
        now: f64,
        processes: &[ProcessScore],
        groups: &[GroupScore],
    ) -> Vec<TrackerCommand> {
        let mut present: HashSet<Subject> = processes
            .iter()
            .filter(|p| !self.excluded.contains(&p.pid))
            .map(|p| Subject::Process(p.key()))
            .collect();
        present.extend(groups.iter().map(|g| Subject::Group(g.kind, g.key.clone())));
        // A sample lists only its top groups of each kind: an open group
        // missing from them has fallen behind them, and is gone only when
        // what it was is gone (a tree's root; every member of another kind).
        let fallen_behind: Vec<Subject> = self
            .open
            .iter()
            .filter(|(subject, event)| {
                !present.contains(subject) && group_still_there(subject, event, &present)
            })
            .map(|(subject, _)| subject.clone())
            .collect();
        present.extend(fallen_behind.iter().cloned());
        let mut out = Vec::new();
        self.close_gone(&present, &mut out);
        self.prune_cooldowns(now, Some(&present));
        // Top members of open group events: no process event of their own.
        let mut covered: HashSet<u32> = HashSet::new();
        if !groups.is_empty() {
            let by_pid: HashMap<u32, &ProcessScore> =
                processes.iter().map(|p| (p.pid, p)).collect();
            let threshold = self.tracking_threshold();
            let mut handled = HashSet::new();
            for group in groups {
                let subject = Subject::Group(group.kind, group.key.clone());
                let is_open = self.open.contains_key(&subject);
                if !is_open && group.score < threshold {
                    continue;
                }
                let Some(top) = group.top_members.first().and_then(|pid| by_pid.get(pid)) else {
                    continue;
                };
                if self.excluded.contains(&top.pid) || !handled.insert(subject.clone()) {
                    continue;
                }
                // A group opens only when spread and not already another
                // open group's incident (its worst member is covered).
                let may_open =
                    !covered.contains(&top.pid) && concentration(group, top) < CONCENTRATED;
                let members: Vec<EventMember> = group
                    .top_members
                    .iter()
                    .filter_map(|pid| by_pid.get(pid))
                    .map(|p| EventMember {
                        pid: p.pid,
                        start_time_ms: p.start_time_ms,
                        command: p.command.clone(),
                        score: p.score,
                    })
                    .collect();
                let seen = Seen {
                    process: top,
                    group: Some(group),
                    members: &members,
                };
                match self.open.remove(&subject) {
                    Some(event) => self.advance(event, now, seen, &mut out),
                    None if may_open => self.try_open(now, seen, &mut out),
                    None => {}
                }
                // A spread group in cooldown is still that incident: its
                // members (and other groups led by them) stay quiet too.
                let cooling = may_open && self.in_cooldown(&subject, now);
                if cooling || self.open.contains_key(&subject) {
                    covered.extend(group.top_members.iter().copied());
                }
            }
        }
        for subject in fallen_behind {
            self.fall_behind(subject, now, processes, &mut covered, &mut out);
        }
        let mut handled = HashSet::with_capacity(processes.len());
        for process in processes {
            if self.excluded.contains(&process.pid) {
                continue;
            }
            if handled.insert(process.key()) {
                let seen = Seen {
                    process,
                    group: None,
                    members: &[],
                };
                match self.open.remove(&seen.subject()) {
                    Some(event) => self.advance(event, now, seen, &mut out),
                    None if !covered.contains(&process.pid) => self.try_open(now, seen, &mut out),
                    None => {}
                }
            }
        }
        out
    }

    /// Identities with an open event (the sampler reads these in depth every
    /// sample): each process's, and each group event's top member.
    pub(crate) fn tracked(&self) -> Vec<ProcessKey> {
        let mut keys: Vec<ProcessKey> = self.open.values().map(|e| e.last_seen.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Close every open event (daemon shutdown) with reason `Shutdown` and the last
    /// sample seen. Shutdown starts no cooldown: the process did not recover.
    pub(crate) fn close_all(&mut self, now: f64) -> Vec<TrackerCommand> {
        self.prune_cooldowns(now, None);
        std::mem::take(&mut self.open)
            .into_values()
            .map(|event| TrackerCommand::Close {
                event: event.id,
                reason: CloseReason::Shutdown,
                process: Some(event.last_seen),
                group: event.last_group,
            })
            .collect()
    }

    fn tracking_threshold(&self) -> f64 {
        self.bands.threshold(self.bands.tracking_band)
    }

    /// Close, as `Gone`, every open event whose subject is not in this sample.
    fn close_gone(&mut self, present: &HashSet<Subject>, out: &mut Vec<TrackerCommand>) {
        self.open.retain(|key, event| {
            let alive = present.contains(key);
            if !alive {
                out.push(TrackerCommand::Close {
                    event: event.id,
                    reason: CloseReason::Gone,
                    process: None,
                    group: None,
                });
            }
            alive
        });
    }

    /// Forget cooldowns that have expired or (when `present` is known) whose
    /// subject is gone for good.
    fn prune_cooldowns(&mut self, now: f64, present: Option<&HashSet<Subject>>) {
        let wait = self.bands.event_cooldown_seconds;
        self.cooldowns.retain(|key, closed_at| {
            let alive = present.is_none_or(|p| p.contains(key));
            alive && !wait_is_over(now, *closed_at, wait)
        });
    }

    fn in_cooldown(&self, key: &Subject, now: f64) -> bool {
        self.cooldowns.get(key).is_some_and(|closed_at| {
            !wait_is_over(now, *closed_at, self.bands.event_cooldown_seconds)
        })
    }

    fn try_open(&mut self, now: f64, seen: Seen<'_>, out: &mut Vec<TrackerCommand>) {
        let key = seen.subject();
        let score = seen.score();
        let reaches_tracking = score >= self.tracking_threshold();
        if !reaches_tracking || self.in_cooldown(&key, now) {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let band = self.bands.band_for(score);
        out.push(TrackerCommand::Open {
            event: id,
            process: seen.process.clone(),
            group: seen.group(),
        });
        self.open.insert(
            key,
            OpenEvent {
                id,
                peak_score: score,
                highest_band: band,
                last_snapshot_at: now,
                samples_below: 0,
                last_seen: seen.process.clone(),
                last_group: seen.group(),
            },
        );
        if band >= self.bands.forensics_band {
            self.trigger_forensics(now, id, seen, out);
        }
    }

    /// One more sample for an open event: close it, or record peak, escalation,
    /// checkpoint and forensics, then keep it open.
    fn advance(
        &mut self,
        mut event: OpenEvent,
        now: f64,
        seen: Seen<'_>,
        out: &mut Vec<TrackerCommand>,
    ) {
        event.last_seen = seen.process.clone();
        event.last_group = seen.group();
        if self.has_recovered(&mut event, seen.score()) {
            out.push(TrackerCommand::Close {
                event: event.id,
                reason: CloseReason::Recovered,
                process: Some(seen.process.clone()),
                group: seen.group(),
            });
            self.cooldowns.insert(seen.subject(), now);
            return;
        }
        let band = self.bands.band_for(seen.score());
        let peaked = record_peak(&mut event, now, seen, out);
        let entered_forensics = self.record_escalation(&mut event, band, seen, out);
        if !peaked {
            self.record_checkpoint(&mut event, now, band, seen, out);
        }
        if entered_forensics {
            self.trigger_forensics(now, event.id, seen, out);
        }
        self.open.insert(seen.subject(), event);
    }

    /// A sample in which an open group was not among the top groups: below
    /// the threshold (the top groups outscored it). Recovered after as many
    /// such samples as any other; the exit snapshot is its top member's
    /// current sample (the group's own numbers were not computed).
    fn fall_behind(
        &mut self,
        subject: Subject,
        now: f64,
        processes: &[ProcessScore],
        covered: &mut HashSet<u32>,
        out: &mut Vec<TrackerCommand>,
    ) {
        let Some(mut event) = self.open.remove(&subject) else {
            return;
        };
        if !self.has_recovered(&mut event, 0.0) {
            // Still that group's incident: its members open nothing of their own.
            if let Some(g) = &event.last_group {
                covered.extend(g.members.iter().map(|m| m.pid));
            }
            self.open.insert(subject, event);
            return;
        }
        let top = event.last_seen.key();
        let exit = processes
            .iter()
            .find(|p| p.key() == top)
            .cloned()
            .unwrap_or(event.last_seen);
        out.push(TrackerCommand::Close {
            event: event.id,
            reason: CloseReason::Recovered,
            process: Some(exit),
            group: None,
        });
        self.cooldowns.insert(subject, now);
    }

    /// Hysteresis: count samples below the threshold (any sample at or above it
    /// resets the count); true once the count reaches `exit_stability_samples`.
    fn has_recovered(&self, event: &mut OpenEvent, score: f64) -> bool {
        if score >= self.tracking_threshold() {
            event.samples_below = 0;
            return false;
        }
        event.samples_below = event.samples_below.saturating_add(1);
        event.samples_below >= self.bands.exit_stability_samples
    }

    /// Emit `Escalate` if `band` is above the highest band so far. Returns true
    /// when this escalation enters the forensics band for the first time.
    fn record_escalation(
        &self,
        event: &mut OpenEvent,
        band: Band,
        seen: Seen<'_>,
        out: &mut Vec<TrackerCommand>,
    ) -> bool {
        if band <= event.highest_band {
            return false;
        }
        let from = event.highest_band;
        event.highest_band = band;
        out.push(TrackerCommand::Escalate {
            event: event.id,
            from,
            to: band,
            process: seen.process.clone(),
            group: seen.group(),
        });
        let forensics = self.bands.forensics_band;
        from < forensics && band >= forensics
    }

    fn record_checkpoint(
        &self,
        event: &mut OpenEvent,
        now: f64,
        band: Band,
        seen: Seen<'_>,
        out: &mut Vec<TrackerCommand>,
    ) {
        let interval = self.bands.checkpoint_interval(band);
        if wait_is_over(now, event.last_snapshot_at, interval) {
            event.last_snapshot_at = now;
            out.push(TrackerCommand::Checkpoint {
                event: event.id,
                process: seen.process.clone(),
                group: seen.group(),
            });
        }
    }

    /// Emit `TriggerForensics` unless another was emitted less than
    /// `forensics_debounce` seconds ago (then the trigger is dropped).
    fn trigger_forensics(
        &mut self,
        now: f64,
        event: EventId,
        seen: Seen<'_>,
        out: &mut Vec<TrackerCommand>,
    ) {
        let allowed = self
            .last_forensics_at
            .is_none_or(|last| wait_is_over(now, last, self.forensics_debounce));
        if allowed {
            self.last_forensics_at = Some(now);
            out.push(TrackerCommand::TriggerForensics {
                event,
                process: seen.process.clone(),
                group: seen.group(),
            });
        }
    }
}

/// Whether the group of an open event still exists in a sample whose
/// subjects are `present`: a tree while its root process (the key's
/// `pid:start_time_ms`) does, another kind while one of its members does.
fn group_still_there(subject: &Subject, event: &OpenEvent, present: &HashSet<Subject>) -> bool {
    let alive = |pid: u32, start_time_ms: u64| {
        present.contains(&Subject::Process(ProcessKey { pid, start_time_ms }))
    };
    match subject {
        Subject::Process(_) => false,
        Subject::Group(GroupKind::Tree, key) => key
            .split_once(':')
            .and_then(|(pid, start)| Some((pid.parse().ok()?, start.parse().ok()?)))
            .is_some_and(|(pid, start)| alive(pid, start)),
        Subject::Group(_, _) => event
            .last_group
            .as_ref()
            .is_some_and(|g| g.members.iter().any(|m| alive(m.pid, m.start_time_ms))),
    }
}

/// How much of a group's use of its dominant resource its top member holds,
/// 0-1 (shares are proportional to use). A group whose dominant share was
/// not measured counts as concentrated: nothing says it is spread.
pub(crate) fn concentration(group: &GroupScore, top: &ProcessScore) -> f64 {
    let r = group.dominant_resource;
    let group_share = match r {
        crate::model::Resource::Cpu => group.cpu_share,
        crate::model::Resource::Gpu => group.gpu_share,
        crate::model::Resource::Memory => group.mem_share,
        crate::model::Resource::Disk => group.disk_share,
        crate::model::Resource::Wakeups => group.wakeups_share,
    };
    match (group_share, top.share(r)) {
        (Some(g), Some(m)) if g > 0.0 => (m / g).clamp(0.0, 1.0),
        _ => 1.0,
    }
}

/// Emit `Peak` if the score is strictly above the event's peak. Returns whether
/// a peak snapshot was taken.
fn record_peak(
    event: &mut OpenEvent,
    now: f64,
    seen: Seen<'_>,
    out: &mut Vec<TrackerCommand>,
) -> bool {
    let is_peak = seen.score() > event.peak_score;
    if !is_peak {
        return false;
    }
    event.peak_score = seen.score();
    event.last_snapshot_at = now;
    out.push(TrackerCommand::Peak {
        event: event.id,
        process: seen.process.clone(),
        group: seen.group(),
    });
    true
}

/// True once `wait` seconds have passed since `since`, or if the clock stepped
/// back before `since`.
fn wait_is_over(now: f64, since: f64, wait: f64) -> bool {
    now >= since + wait || now < since
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    // Default bands: medium 30, elevated 45, high 55, critical 70; tracking at
    // medium, forensics at critical; checkpoints 10 s / 5 s / every sample;
    // 9 samples to exit; 60 s cooldown.
    const MEDIUM: f64 = 35.0;
    const ELEVATED: f64 = 50.0;
    const HIGH: f64 = 60.0;
    const CRITICAL: f64 = 80.0;
    const LOW: f64 = 5.0;

    fn proc_at(pid: u32, start_time: u64, score: f64, now: f64) -> ProcessScore {
        let mut p = ProcessScore::new(pid, start_time, "x".into(), now);
        p.score = score;
        p.band = BandsConfig::default().band_for(score);
        p
    }

    fn key(pid: u32, start_time: u64) -> ProcessKey {
        ProcessKey {
            pid,
            start_time_ms: start_time,
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(BandsConfig::default(), 120.0)
    }

    fn tracker_with(edit: impl FnOnce(&mut BandsConfig), debounce: f64) -> Tracker {
        let mut bands = BandsConfig::default();
        edit(&mut bands);
        Tracker::new(bands, debounce)
    }

    /// One sample of a single process (pid 1, start 100).
    fn step(t: &mut Tracker, now: f64, score: f64) -> Vec<TrackerCommand> {
        t.update(now, &[proc_at(1, 100, score, now)])
    }

    fn kinds(cmds: &[TrackerCommand]) -> Vec<&'static str> {
        cmds.iter()
            .map(|c| match c {
                TrackerCommand::Open { .. } => "open",
                TrackerCommand::Peak { .. } => "peak",
                TrackerCommand::Checkpoint { .. } => "checkpoint",
                TrackerCommand::Escalate { .. } => "escalate",
                TrackerCommand::TriggerForensics { .. } => "forensics",
                TrackerCommand::Close { .. } => "close",
            })
            .collect()
    }

    /// Times (over a run of samples, one per second from 1 s on, constant score)
    /// at which a checkpoint was emitted.
    fn checkpoint_times(t: &mut Tracker, score: f64, seconds: u32) -> Vec<f64> {
        let mut times = Vec::new();
        for s in 1..=seconds {
            let now = f64::from(s);
            if kinds(&step(t, now, score)) == ["checkpoint"] {
                times.push(now);
            }
        }
        times
    }

    #[test]
    fn opens_at_tracking_threshold_with_entry_snapshot() {
        let mut t = tracker();
        let threshold = BandsConfig::default().medium;
        let cmds = step(&mut t, 0.0, threshold);
        assert_eq!(
            cmds,
            vec![TrackerCommand::Open {
                event: 1,
                process: proc_at(1, 100, threshold, 0.0),
                group: None,
            }]
        );
        assert_eq!(t.open_count(), 1);
        assert_eq!(t.tracked(), vec![key(1, 100)]);
    }

    #[test]
    fn stays_quiet_below_threshold() {
        let mut t = tracker();
        let just_below = BandsConfig::default().medium - 0.01;
        for s in 0..20 {
            assert!(step(&mut t, f64::from(s), just_below).is_empty());
        }
        assert_eq!(t.open_count(), 0);
        assert!(t.tracked().is_empty());
    }

    #[test]
    fn event_ids_are_sequential_across_processes() {
        let mut t = tracker();
        let cmds = t.update(
            0.0,
            &[proc_at(1, 100, MEDIUM, 0.0), proc_at(2, 200, MEDIUM, 0.0)],
        );
        let ids: Vec<EventId> = cmds.iter().map(TrackerCommand::event).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(t.tracked(), vec![key(1, 100), key(2, 200)]);
    }

    #[test]
    fn strictly_higher_score_is_a_peak_equal_is_not() {
        let mut t = tracker();
        step(&mut t, 0.0, 40.0);
        assert_eq!(
            step(&mut t, 1.0, 42.0),
            vec![TrackerCommand::Peak {
                event: 1,
                process: proc_at(1, 100, 42.0, 1.0),
                group: None,
            }]
        );
        assert!(step(&mut t, 2.0, 42.0).is_empty());
        assert!(step(&mut t, 3.0, 41.0).is_empty());
    }

    #[test]
    fn medium_band_checkpoints_every_ten_seconds() {
        let mut t = tracker();
        step(&mut t, 0.0, MEDIUM);
        assert_eq!(checkpoint_times(&mut t, MEDIUM, 25), vec![10.0, 20.0]);
    }

    #[test]
    fn elevated_band_checkpoints_every_five_seconds() {
        let mut t = tracker();
        step(&mut t, 0.0, ELEVATED);
        assert_eq!(checkpoint_times(&mut t, ELEVATED, 12), vec![5.0, 10.0]);
    }

    #[test]
    fn high_band_checkpoints_every_sample_but_not_with_open_or_peak() {
        let mut t = tracker();
        assert_eq!(kinds(&step(&mut t, 0.0, HIGH)), ["open"]);
        assert_eq!(kinds(&step(&mut t, 0.3, HIGH)), ["checkpoint"]);
        assert_eq!(kinds(&step(&mut t, 0.6, HIGH + 1.0)), ["peak"]);
        assert_eq!(kinds(&step(&mut t, 0.9, HIGH + 1.0)), ["checkpoint"]);
        assert_eq!(kinds(&step(&mut t, 1.2, HIGH)), ["checkpoint"]);
    }

    #[test]
    fn peak_resets_the_checkpoint_clock() {
        let mut t = tracker();
        step(&mut t, 0.0, MEDIUM);
        assert_eq!(kinds(&step(&mut t, 8.0, MEDIUM + 1.0)), ["peak"]);
        assert!(step(&mut t, 10.0, MEDIUM).is_empty());
        assert_eq!(kinds(&step(&mut t, 18.0, MEDIUM)), ["checkpoint"]);
    }

    #[test]
    fn checkpoint_cadence_follows_the_current_band() {
        let mut t = tracker();
        step(&mut t, 0.0, HIGH); // peak 60, highest band high
        // Down in medium: 10 s cadence even though the event once reached high.
        assert!(step(&mut t, 5.0, MEDIUM).is_empty());
        assert_eq!(kinds(&step(&mut t, 10.0, MEDIUM)), ["checkpoint"]);
    }

    #[test]
    fn escalation_into_forensics_band_triggers_capture_after_peak_and_escalate() {
        let mut t = tracker();
        step(&mut t, 0.0, MEDIUM);
        let cmds = step(&mut t, 1.0, ELEVATED);
        assert_eq!(kinds(&cmds), ["peak", "escalate"]);
        assert!(matches!(
            cmds[1],
            TrackerCommand::Escalate {
                event: 1,
                from: Band::Medium,
                to: Band::Elevated,
                ..
            }
        ));
        let cmds = step(&mut t, 2.0, CRITICAL);
        assert_eq!(kinds(&cmds), ["peak", "escalate", "forensics"]);
        assert!(matches!(
            cmds[1],
            TrackerCommand::Escalate {
                from: Band::Elevated,
                to: Band::Critical,
                ..
            }
        ));
        assert_eq!(
            cmds[2],
            TrackerCommand::TriggerForensics {
                event: 1,
                process: proc_at(1, 100, CRITICAL, 2.0),
                group: None,
            }
        );
    }

    #[test]
    fn dipping_and_returning_to_a_band_is_not_an_escalation() {
        let mut t = tracker();
        step(&mut t, 0.0, HIGH);
        step(&mut t, 1.0, MEDIUM);
        let cmds = step(&mut t, 2.0, HIGH);
        assert!(!kinds(&cmds).contains(&"escalate"), "{cmds:?}");
    }

    #[test]
    fn opening_inside_forensics_band_triggers_capture_after_open() {
        let mut t = tracker();
        assert_eq!(kinds(&step(&mut t, 0.0, CRITICAL)), ["open", "forensics"]);
        // Staying there, or peaking within it, triggers nothing more.
        assert_eq!(kinds(&step(&mut t, 1.0, CRITICAL + 5.0)), ["peak"]);
    }

    #[test]
    fn escalating_within_the_forensics_band_does_not_retrigger() {
        let mut t = tracker_with(|b| b.forensics_band = Band::High, 0.0);
        assert_eq!(kinds(&step(&mut t, 0.0, HIGH)), ["open", "forensics"]);
        assert_eq!(kinds(&step(&mut t, 1.0, CRITICAL)), ["peak", "escalate"]);
    }

    #[test]
    fn debounce_spans_events_and_drops_suppressed_triggers() {
        let mut t = tracker(); // 120 s debounce
        let first = t.update(0.0, &[proc_at(1, 100, CRITICAL, 0.0)]);
        assert_eq!(kinds(&first), ["open", "forensics"]);
        // A second process reaches critical within the debounce: no capture.
        let second = t.update(
            10.0,
            &[
                proc_at(1, 100, CRITICAL, 10.0),
                proc_at(2, 200, CRITICAL, 10.0),
            ],
        );
        assert_eq!(kinds(&second), ["checkpoint", "open"]);
        // Once the debounce has passed, the suppressed trigger is not re-sent...
        let later = t.update(
            200.0,
            &[
                proc_at(1, 100, CRITICAL, 200.0),
                proc_at(2, 200, CRITICAL, 200.0),
            ],
        );
        assert!(!kinds(&later).contains(&"forensics"), "{later:?}");
        // ...but a fresh entry into the forensics band is captured.
        let third = t.update(
            201.0,
            &[
                proc_at(1, 100, CRITICAL, 201.0),
                proc_at(2, 200, CRITICAL, 201.0),
                proc_at(3, 300, CRITICAL, 201.0),
            ],
        );
        assert_eq!(
            kinds(&third),
            ["checkpoint", "checkpoint", "open", "forensics"]
        );
        assert_eq!(third[3].event(), 3);
    }

    #[test]
    fn hysteresis_needs_consecutive_low_samples_and_resets() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 3, 120.0);
        step(&mut t, 0.0, HIGH);
        step(&mut t, 1.0, LOW);
        step(&mut t, 2.0, LOW);
        step(&mut t, 3.0, MEDIUM); // back above: counter resets
        step(&mut t, 4.0, LOW);
        assert!(!kinds(&step(&mut t, 5.0, LOW)).contains(&"close"));
        assert_eq!(t.open_count(), 1);
        let cmds = step(&mut t, 6.0, LOW);
        assert_eq!(kinds(&cmds), ["close"]);
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn recovered_close_carries_the_exit_snapshot() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 2, 120.0);
        step(&mut t, 0.0, MEDIUM);
        step(&mut t, 1.0, 12.0);
        let cmds = step(&mut t, 2.0, 7.0);
        assert_eq!(
            cmds,
            vec![TrackerCommand::Close {
                event: 1,
                reason: CloseReason::Recovered,
                process: Some(proc_at(1, 100, 7.0, 2.0)),
                group: None,
            }]
        );
    }

    #[test]
    fn low_samples_before_close_still_checkpoint_at_medium_cadence() {
        let mut t = tracker(); // 9 samples to exit, 10 s medium cadence
        step(&mut t, 0.0, MEDIUM);
        assert!(step(&mut t, 4.0, LOW).is_empty());
        assert_eq!(kinds(&step(&mut t, 10.0, LOW)), ["checkpoint"]);
    }

    #[test]
    fn vanished_process_closes_gone_without_snapshot() {
        let mut t = tracker();
        t.update(
            0.0,
            &[proc_at(1, 100, HIGH, 0.0), proc_at(2, 200, LOW, 0.0)],
        );
        let cmds = t.update(1.0, &[proc_at(2, 200, LOW, 1.0)]);
        assert_eq!(
            cmds,
            vec![TrackerCommand::Close {
                event: 1,
                reason: CloseReason::Gone,
                process: None,
                group: None,
            }]
        );
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn reused_pid_closes_old_event_and_opens_a_fresh_one() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 1, 120.0);
        step(&mut t, 0.0, HIGH);
        // Pid 1 recovers: its identity is now in cooldown.
        step(&mut t, 1.0, LOW);
        step(&mut t, 2.0, HIGH);
        assert_eq!(t.open_count(), 0);
        // Same pid, new start time: a different process, not in cooldown.
        let cmds = t.update(3.0, &[proc_at(1, 999, HIGH, 3.0)]);
        assert_eq!(kinds(&cmds), ["open"]);
        assert_eq!(t.tracked(), vec![key(1, 999)]);
        // And while open, another reuse closes it as gone before opening anew.
        let cmds = t.update(4.0, &[proc_at(1, 1000, HIGH, 4.0)]);
        assert!(matches!(
            cmds[0],
            TrackerCommand::Close {
                event: 2,
                reason: CloseReason::Gone,
                process: None,
                ..
            }
        ));
        assert!(matches!(cmds[1], TrackerCommand::Open { event: 3, .. }));
        assert_eq!(cmds.len(), 2);
    }

    #[test]
    fn cooldown_blocks_reopen_until_it_expires() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 1, 120.0); // 60 s cooldown
        step(&mut t, 0.0, HIGH);
        assert_eq!(kinds(&step(&mut t, 10.0, LOW)), ["close"]);
        assert!(step(&mut t, 11.0, CRITICAL).is_empty());
        assert!(step(&mut t, 69.9, HIGH).is_empty());
        assert_eq!(kinds(&step(&mut t, 70.0, HIGH)), ["open"]);
        assert_eq!(t.cooldowns.len(), 0);
    }

    #[test]
    fn cooldowns_of_vanished_processes_are_forgotten() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 1, 120.0);
        step(&mut t, 0.0, HIGH);
        step(&mut t, 1.0, LOW);
        assert_eq!(t.cooldowns.len(), 1);
        t.update(2.0, &[]);
        assert!(t.cooldowns.is_empty());
    }

    #[test]
    fn close_all_closes_every_event_with_its_last_sample() {
        let mut t = tracker();
        t.update(
            0.0,
            &[proc_at(1, 100, HIGH, 0.0), proc_at(2, 200, MEDIUM, 0.0)],
        );
        t.update(
            1.0,
            &[proc_at(1, 100, 58.0, 1.0), proc_at(2, 200, LOW, 1.0)],
        );
        let cmds = t.close_all(2.0);
        assert_eq!(
            cmds,
            vec![
                TrackerCommand::Close {
                    event: 1,
                    reason: CloseReason::Shutdown,
                    process: Some(proc_at(1, 100, 58.0, 1.0)),
                    group: None,
                },
                TrackerCommand::Close {
                    event: 2,
                    reason: CloseReason::Shutdown,
                    process: Some(proc_at(2, 200, LOW, 1.0)),
                    group: None,
                },
            ]
        );
        assert_eq!(t.open_count(), 0);
        assert!(t.close_all(3.0).is_empty());
        // No cooldown after a shutdown close: a still-rogue process reopens.
        assert_eq!(kinds(&step(&mut t, 4.0, HIGH)), ["open"]);
    }

    #[test]
    fn duplicate_identity_in_one_sample_counts_once() {
        let mut t = tracker();
        let cmds = t.update(
            0.0,
            &[proc_at(1, 100, HIGH, 0.0), proc_at(1, 100, 90.0, 0.0)],
        );
        assert_eq!(kinds(&cmds), ["open"]);
    }

    #[test]
    fn clock_stepping_back_does_not_stall_checkpoints() {
        let mut t = tracker();
        step(&mut t, 1000.0, MEDIUM);
        assert_eq!(kinds(&step(&mut t, 500.0, MEDIUM)), ["checkpoint"]);
        assert!(step(&mut t, 505.0, MEDIUM).is_empty());
        assert_eq!(kinds(&step(&mut t, 510.0, MEDIUM)), ["checkpoint"]);
    }

    #[test]
    fn the_monitors_own_processes_never_open_events() {
        let mut t = tracker();
        t.set_excluded([7]);
        let critical = |now| [proc_at(7, 70, CRITICAL, now), proc_at(8, 80, CRITICAL, now)];
        let cmds = t.update(0.0, &critical(0.0));
        assert!(
            cmds.iter()
                .all(|c| !matches!(c, TrackerCommand::Open { process, .. } if process.pid == 7))
        );
        assert!(
            cmds.iter()
                .any(|c| matches!(c, TrackerCommand::Open { process, .. } if process.pid == 8))
        );
        assert_eq!(t.tracked(), vec![key(8, 80)]);
        // Excluded later: its open event closes as gone.
        t.set_excluded([7, 8]);
        let cmds = t.update(1.0, &critical(1.0));
        assert!(matches!(
            &cmds[..],
            [TrackerCommand::Close {
                reason: CloseReason::Gone,
                ..
            }]
        ));
        assert!(t.tracked().is_empty());
    }

    #[test]
    fn close_reason_names() {
        for (reason, name) in [
            (CloseReason::Recovered, "recovered"),
            (CloseReason::Gone, "gone"),
            (CloseReason::Shutdown, "shutdown"),
        ] {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.to_string(), name);
            assert_eq!(serde_json::to_value(reason).unwrap(), name);
        }
    }

    // ---- groups: one incident, one event --------------------------------------

    /// A process with its score and CPU share (percent of the machine).
    fn member(pid: u32, score: f64, cpu_share: f64, now: f64) -> ProcessScore {
        let mut p = proc_at(pid, u64::from(pid) * 10, score, now);
        p.cpu_share = Some(cpu_share);
        p
    }

    fn group(kind: GroupKind, key: &str, score: f64, members: &[&ProcessScore]) -> GroupScore {
        GroupScore {
            kind,
            key: key.into(),
            name: format!("{kind} {key}"),
            member_count: members.len() as u32,
            top_members: members.iter().map(|p| p.pid).collect(),
            worst_member_score: members.first().map_or(0.0, |p| p.score),
            metrics: crate::model::GroupMetrics::default(),
            score,
            band: BandsConfig::default().band_for(score),
            dominant_resource: crate::model::Resource::Cpu,
            cpu_share: Some(members.iter().filter_map(|p| p.cpu_share).sum()),
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
        }
    }

    /// Four spinners sharing two cores (each ~25 % of the tree's CPU, each
    /// elevated alone), a tree that is high, and the same four as one app.
    fn four_spinners(now: f64) -> (Vec<ProcessScore>, Vec<GroupScore>) {
        let procs: Vec<ProcessScore> = (301..=304)
            .map(|pid| member(pid, ELEVATED, 50.0, now))
            .collect();
        let refs: Vec<&ProcessScore> = procs.iter().collect();
        let groups = vec![
            group(GroupKind::Tree, "300:3000", HIGH + 10.0, &refs),
            group(GroupKind::App, "/usr/bin/spin", HIGH + 10.0, &refs),
        ];
        (procs, groups)
    }

    fn opens(cmds: &[TrackerCommand]) -> Vec<(Option<GroupKind>, u32)> {
        cmds.iter()
            .filter_map(|c| match c {
                TrackerCommand::Open { process, group, .. } => {
                    Some((group.as_ref().map(|g| g.group.kind), process.pid))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_spread_group_opens_one_event_naming_its_members_and_they_open_none() {
        let mut t = tracker();
        let (procs, groups) = four_spinners(0.0);
        let cmds = t.update_with_groups(0.0, &procs, &groups);
        assert_eq!(opens(&cmds), [(Some(GroupKind::Tree), 301)], "{cmds:?}");
        let Some(TrackerCommand::Open { group: Some(g), .. }) = cmds.first() else {
            panic!("{cmds:?}");
        };
        let pids: Vec<u32> = g.members.iter().map(|m| m.pid).collect();
        assert_eq!(pids, [301, 302, 303, 304]);
        assert_eq!(g.members[0].start_time_ms, 3010);
        // The next samples: still one event, checkpointed; no member opens.
        for now in [1.0, 2.0, 6.0] {
            let (procs, groups) = four_spinners(now);
            let cmds = t.update_with_groups(now, &procs, &groups);
            assert!(opens(&cmds).is_empty(), "{cmds:?}");
        }
        assert_eq!(t.open_count(), 1);
        // The tree's top member is read in depth while the event is open.
        assert_eq!(t.tracked(), vec![key(301, 3010)]);
    }

    #[test]
    fn a_group_that_is_one_member_opens_only_that_members_event() {
        let mut t = tracker();
        let spinner = member(301, HIGH, 99.0, 0.0);
        let parent = member(300, LOW, 1.0, 0.0);
        let tree = group(
            GroupKind::Tree,
            "300:3000",
            HIGH + 1.0,
            &[&spinner, &parent],
        );
        assert!(concentration(&tree, &spinner) >= CONCENTRATED);
        let cmds = t.update_with_groups(0.0, &[parent, spinner], &[tree]);
        assert_eq!(opens(&cmds), [(None, 301)], "{cmds:?}");
    }

    #[test]
    fn the_threshold_sits_between_one_spinner_and_a_spread_pair() {
        let a = member(1, HIGH, 79.0, 0.0);
        let b = member(2, HIGH, 21.0, 0.0);
        let g = group(GroupKind::Tree, "1:10", HIGH, &[&a, &b]);
        assert!(concentration(&g, &a) < CONCENTRATED);
        let a = member(1, HIGH, 80.0, 0.0);
        let b = member(2, HIGH, 20.0, 0.0);
        let g = group(GroupKind::Tree, "1:10", HIGH, &[&a, &b]);
        assert!(concentration(&g, &a) >= CONCENTRATED);
        // Unmeasured: nothing says it is spread.
        let mut g = g;
        g.cpu_share = None;
        assert_eq!(concentration(&g, &a), 1.0);
    }

    #[test]
    fn a_process_event_already_open_stays_open_when_its_group_spreads() {
        let mut t = tracker();
        let first = member(301, HIGH, 99.0, 0.0);
        let tree = group(GroupKind::Tree, "300:3000", HIGH, &[&first]);
        let cmds = t.update_with_groups(0.0, std::slice::from_ref(&first), &[tree]);
        assert_eq!(opens(&cmds), [(None, 301)]);
        let (procs, groups) = four_spinners(1.0);
        let cmds = t.update_with_groups(1.0, &procs, &groups);
        assert_eq!(opens(&cmds), [(Some(GroupKind::Tree), 301)], "{cmds:?}");
        assert!(!kinds(&cmds).contains(&"close"), "{cmds:?}");
        assert_eq!(t.open_count(), 2);
    }

    #[test]
    fn a_group_event_closes_when_it_recovers_and_when_its_key_goes() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 2, 120.0);
        let (procs, groups) = four_spinners(0.0);
        t.update_with_groups(0.0, &procs, &groups);
        let calm = |now| {
            let procs: Vec<ProcessScore> =
                (301..=304).map(|pid| member(pid, LOW, 10.0, now)).collect();
            let refs: Vec<&ProcessScore> = procs.iter().collect();
            let groups = vec![group(GroupKind::Tree, "300:3000", LOW, &refs)];
            (procs, groups)
        };
        let (p, g) = calm(1.0);
        assert!(!kinds(&t.update_with_groups(1.0, &p, &g)).contains(&"close"));
        let (p, g) = calm(2.0);
        let cmds = t.update_with_groups(2.0, &p, &g);
        assert!(matches!(
            &cmds[..],
            [TrackerCommand::Close {
                reason: CloseReason::Recovered,
                group: Some(_),
                process: Some(_),
                ..
            }]
        ));
        // In cooldown: the same tree does not reopen at once...
        let (procs, groups) = four_spinners(3.0);
        assert!(opens(&t.update_with_groups(3.0, &procs, &groups)).is_empty());
        // ...but its root's PID reused by another tree is another key.
        let mut t = tracker();
        let (procs, groups) = four_spinners(0.0);
        t.update_with_groups(0.0, &procs, &groups);
        let (procs, mut groups) = four_spinners(1.0);
        groups[0].key = "300:9999".into();
        let cmds = t.update_with_groups(1.0, &procs, &groups);
        assert!(matches!(
            cmds[0],
            TrackerCommand::Close {
                event: 1,
                reason: CloseReason::Gone,
                ..
            }
        ));
        assert_eq!(opens(&cmds), [(Some(GroupKind::Tree), 301)]);
    }

    #[test]
    fn a_group_that_falls_behind_the_top_groups_recovers_and_is_not_gone() {
        let mut t = tracker_with(|b| b.exit_stability_samples = 2, 120.0);
        let root = |now| member(300, LOW, 0.0, now);
        let (mut procs, groups) = four_spinners(0.0);
        procs.push(root(0.0));
        t.update_with_groups(0.0, &procs, &groups);
        assert_eq!(t.open_count(), 1, "the tree (the app is its incident)");
        // Its root and members still run, but the sample's top groups are
        // others now: one quiet sample, then recovered, never gone.
        let calm = |now| -> Vec<ProcessScore> {
            let mut p: Vec<ProcessScore> =
                (301..=304).map(|pid| member(pid, LOW, 1.0, now)).collect();
            p.push(root(now));
            p
        };
        let cmds = t.update_with_groups(1.0, &calm(1.0), &[]);
        assert!(cmds.is_empty(), "{cmds:?}");
        let cmds = t.update_with_groups(2.0, &calm(2.0), &[]);
        let [
            TrackerCommand::Close {
                reason,
                process,
                group,
                ..
            },
        ] = &cmds[..]
        else {
            panic!("{cmds:?}");
        };
        assert_eq!(*reason, CloseReason::Recovered);
        // The exit snapshot is the top member now; the group's own numbers
        // were not computed in this sample.
        assert_eq!(process.as_ref().map(|p| (p.pid, p.score)), Some((301, LOW)));
        assert!(group.is_none());
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn a_group_missing_from_the_sample_is_gone_once_what_it_was_is_gone() {
        // The close comes first (members then may open their own events).
        let gone = |cmds: &[TrackerCommand]| {
            matches!(
                cmds.first(),
                Some(TrackerCommand::Close {
                    reason: CloseReason::Gone,
                    ..
                })
            )
        };
        // A tree whose root (300) is not in the sample is gone at once, even
        // with its members still there.
        let mut t = tracker();
        let (procs, groups) = four_spinners(0.0);
        t.update_with_groups(0.0, &procs, &groups[..1]);
        let (procs, _) = four_spinners(1.0);
        assert!(gone(&t.update_with_groups(1.0, &procs, &[])));
        // An app with one member left has only fallen behind; with none, it
        // is gone.
        let mut t = tracker();
        let (procs, groups) = four_spinners(0.0);
        t.update_with_groups(0.0, &procs, &groups[1..]);
        assert_eq!(t.open_count(), 1);
        let one = [member(302, LOW, 1.0, 1.0)];
        let cmds = t.update_with_groups(1.0, &one, &[]);
        assert!(cmds.is_empty(), "{cmds:?}");
        assert!(gone(&t.update_with_groups(2.0, &[], &[])));
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn a_group_led_by_the_monitor_opens_no_event() {
        let mut t = tracker();
        t.set_excluded([301]);
        let (procs, groups) = four_spinners(0.0);
        let cmds = t.update_with_groups(0.0, &procs, &groups);
        assert!(
            opens(&cmds)
                .iter()
                .all(|(g, pid)| g.is_none() && *pid != 301),
            "{cmds:?}"
        );
    }

    // ---- property test -------------------------------------------------------

    /// What happens to one of the (up to three) process slots in one sample.
    #[derive(Debug, Clone)]
    enum SlotStep {
        /// Present with this score.
        Score(f64),
        /// Absent this sample; the slot comes back later as a new process.
        Vanish,
        /// The pid is reused: a new start time, with this score.
        Reuse(f64),
    }

    fn slot_step() -> impl Strategy<Value = SlotStep> {
        // Whole-number scores, so equal scores (not a peak) come up often.
        let score = prop_oneof![0u8..30, 30u8..100].prop_map(f64::from);
        prop_oneof![
            8 => score.clone().prop_map(SlotStep::Score),
            1 => Just(SlotStep::Vanish),
            1 => score.prop_map(SlotStep::Reuse),
        ]
    }

    /// An event as seen from outside, by reading the commands.
    struct SeenEvent {
        key: ProcessKey,
        entry_time: f64,
        peak_score: f64,
        peak_time: f64,
    }

    /// Checks the command stream against the lifecycle invariants.
    struct Observer {
        bands: BandsConfig,
        debounce: f64,
        open: HashMap<EventId, SeenEvent>,
        open_by_key: HashMap<ProcessKey, EventId>,
        cooldown_from: HashMap<ProcessKey, f64>,
        ids_used: HashSet<EventId>,
        last_forensics: Option<f64>,
    }

    impl Observer {
        fn apply(&mut self, now: f64, cmd: &TrackerCommand) -> Result<(), TestCaseError> {
            let id = cmd.event();
            if let TrackerCommand::Open { process, .. } = cmd {
                return self.on_open(now, id, process);
            }
            prop_assert!(self.open.contains_key(&id), "{cmd:?} for a closed event");
            match cmd {
                TrackerCommand::Peak { process, .. } => {
                    let e = self.open.get_mut(&id).unwrap();
                    prop_assert!(process.score > e.peak_score);
                    e.peak_score = process.score;
                    e.peak_time = now;
                }
                TrackerCommand::Escalate { from, to, .. } => prop_assert!(from < to),
                TrackerCommand::TriggerForensics { .. } => {
                    if let Some(last) = self.last_forensics {
                        prop_assert!(now >= last + self.debounce);
                    }
                    self.last_forensics = Some(now);
                }
                TrackerCommand::Close {
                    reason, process, ..
                } => self.on_close(now, id, *reason, process.is_some())?,
                TrackerCommand::Checkpoint { .. } | TrackerCommand::Open { .. } => {}
            }
            Ok(())
        }

        fn on_open(
            &mut self,
            now: f64,
            id: EventId,
            process: &ProcessScore,
        ) -> Result<(), TestCaseError> {
            let key = process.key();
            prop_assert!(self.ids_used.insert(id), "event id {id} reused");
            prop_assert!(
                !self.open_by_key.contains_key(&key),
                "two events for {key:?}"
            );
            prop_assert!(process.score >= self.bands.threshold(self.bands.tracking_band));
            if let Some(closed) = self.cooldown_from.get(&key) {
                prop_assert!(
                    now >= closed + self.bands.event_cooldown_seconds,
                    "{key:?} reopened at {now} during cooldown from {closed}"
                );
            }
            self.open_by_key.insert(key, id);
            self.open.insert(
                id,
                SeenEvent {
                    key,
                    entry_time: now,
                    peak_score: process.score,
                    peak_time: now,
                },
            );
            Ok(())
        }

        fn on_close(
            &mut self,
            now: f64,
            id: EventId,
            reason: CloseReason,
            has_snapshot: bool,
        ) -> Result<(), TestCaseError> {
            let e = self.open.remove(&id).unwrap();
            self.open_by_key.remove(&e.key);
            prop_assert!(e.entry_time <= e.peak_time && e.peak_time <= now);
            prop_assert_eq!(has_snapshot, reason != CloseReason::Gone);
            if reason == CloseReason::Recovered {
                self.cooldown_from.insert(e.key, now);
            }
            Ok(())
        }
    }

    proptest! {
        #[test]
        fn lifecycle_invariants_hold(
            exit_samples in 1u32..4,
            cooldown in 0.0f64..20.0,
            debounce in 0.0f64..30.0,
            slots in 1usize..=3,
            steps in prop::collection::vec(
                (0.0f64..12.0, prop::collection::vec(slot_step(), 3)),
                1..80,
            ),
        ) {
            let bands = BandsConfig {
                exit_stability_samples: exit_samples,
                event_cooldown_seconds: cooldown,
                forensics_band: Band::High,
                ..BandsConfig::default()
            };
            let mut tracker = Tracker::new(bands.clone(), debounce);
            let mut observer = Observer {
                bands,
                debounce,
                open: HashMap::new(),
                open_by_key: HashMap::new(),
                cooldown_from: HashMap::new(),
                ids_used: HashSet::new(),
                last_forensics: None,
            };
            let mut start_times: Vec<u64> = (0..slots as u64).map(|s| s * 1000).collect();
            let mut now = 0.0;
            for (dt, slot_steps) in steps {
                now += dt;
                let mut sample = Vec::new();
                for (slot, what) in slot_steps.iter().take(slots).enumerate() {
                    let pid = slot as u32 + 1;
                    let score = match what {
                        SlotStep::Score(s) => *s,
                        SlotStep::Vanish => {
                            start_times[slot] += 1;
                            continue;
                        }
                        SlotStep::Reuse(s) => {
                            start_times[slot] += 1;
                            *s
                        }
                    };
                    sample.push(proc_at(pid, start_times[slot], score, now));
                }
                for cmd in tracker.update(now, &sample) {
                    observer.apply(now, &cmd)?;
                }
                let mut tracked = tracker.tracked();
                tracked.sort();
                let mut seen: Vec<ProcessKey> = observer.open_by_key.keys().copied().collect();
                seen.sort();
                prop_assert_eq!(&tracked, &seen);
                prop_assert_eq!(tracker.open_count(), observer.open.len());
                let present: HashSet<ProcessKey> = sample.iter().map(ProcessScore::key).collect();
                prop_assert!(tracked.iter().all(|k| present.contains(k)));
                prop_assert!(tracker.cooldowns.keys().all(|k| matches!(k, Subject::Process(p) if present.contains(p))));
            }
            let open_before = tracker.open_count();
            let closes = tracker.close_all(now);
            prop_assert_eq!(closes.len(), open_before);
            for cmd in &closes {
                observer.apply(now, cmd)?;
            }
            prop_assert!(observer.open.is_empty());
        }
    }
}
