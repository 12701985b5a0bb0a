//! Stall detection: notice when the machine (or the monitor itself) could not
//! make progress, say who likely caused it and who suffered, and hand the
//! daemon complete records. Pure: the daemon feeds one `Observation` per
//! sample (clock readings, PSI totals, the monitor's own counters, every
//! scored process) and persists the `StallCommand`s that come out.
//!
//! Detectors (docs/stalls.md):
//! - scheduling (`clock`): the loop's wake-up came late on the monotonic
//!   clock, suspend subtracted, with the monitor's own run delay, quota
//!   throttling, faults and a SIGCONT telling why;
//! - pressure (`pressure`): runs of intervals whose PSI `total` grew by at
//!   least a share of the interval;
//! - stuck (`stuck`): a process continuously in `D`.
//!
//! While the machine is healthy a sample costs three counter comparisons and
//! one pass over the processes' states; attribution (`attribution`) runs only
//! while a stall is under way.

pub mod attribution;
pub mod clock;
pub mod kernel;
pub mod pressure;
pub mod stuck;

pub use crate::config::StallsConfig;
use crate::model::{ProcessScore, Stall, StallCause, StallKind};
pub use crate::platform::OwnCounters;
use attribution::Window;
use clock::{ClockReading, GapEvidence};
use pressure::{PressureTracker, PsiTotals, RunChange};
use stuck::{StuckChange, StuckTracker};

/// One sample's worth of input.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// Unix seconds when the sample was taken.
    pub wall_s: f64,
    pub clock: ClockReading,
    /// The sampling interval, seconds.
    pub interval_s: f64,
    /// Seconds the sample's rates cover (since the previous sample).
    pub rates_over_s: f64,
    pub own: OwnCounters,
    /// A SIGCONT arrived since the previous sample.
    pub continued: bool,
    pub psi: PsiTotals,
    /// Every scored process of the sample.
    pub processes: &'a [ProcessScore],
}

/// Identifies a stall within one detector (the writer maps it to a row id).
pub type StallKey = u64;

#[derive(Debug, Clone, PartialEq)]
pub enum StallCommand {
    /// A stall that was over when it was seen: record it whole.
    Record { key: StallKey, stall: Stall },
    /// A stall under way: record it now (flush), its end comes later.
    Open { key: StallKey, stall: Stall },
    /// The end of an opened stall, with its final numbers and parties.
    Close { key: StallKey, stall: Stall },
}

const PRESSURE_KINDS: [StallKind; 3] = [StallKind::Memory, StallKind::Io, StallKind::Cpu];

struct Open {
    key: StallKey,
    window: Window,
    /// The stall as reported when it opened (`None` until it qualifies).
    opened: Option<Stall>,
}

pub struct StallDetector {
    config: StallsConfig,
    exclude: Vec<u32>,
    prev_clock: Option<ClockReading>,
    prev_own: OwnCounters,
    pressure: [PressureTracker; 3],
    pressure_open: [Option<Open>; 3],
    stuck: StuckTracker,
    stuck_open: std::collections::HashMap<crate::model::ProcessKey, Open>,
    /// A scheduling stall with no cause yet, held one sample: the SIGCONT
    /// handler runs on whichever thread the kernel picks, and on a busy
    /// machine the sampler can wake from a stop and reach its next sample
    /// before that thread has set the flag.
    held: Option<(Stall, Window)>,
    next_key: StallKey,
}

fn base(kind: StallKind, start_s: f64) -> Stall {
    Stall {
        kind,
        start_s,
        end_s: None,
        duration_s: 0.0,
        suspended_s: 0.0,
        cause: None,
        pressure_kind: None,
        peak_pressure_pct: None,
        window_pressure_pct: None,
        verdict: String::new(),
        holders: Vec::new(),
        victims: Vec::new(),
        pid: None,
        command: None,
    }
}

fn finish(mut s: Stall, w: &Window) -> Stall {
    s.holders = w.holders(s.kind, s.cause);
    s.victims = w.victims();
    if s.kind == StallKind::Stuck {
        // The stuck process is the one that suffered; it is not its own cause.
        s.holders.retain(|h| Some(h.pid) != s.pid);
    }
    s.verdict = attribution::verdict(&s);
    s
}

fn delta(now: Option<u64>, prev: Option<u64>) -> Option<f64> {
    Some(now?.checked_sub(prev?)? as f64)
}

impl StallDetector {
    /// `exclude`: the monitor's own pids, never named as holders or victims.
    pub fn new(config: StallsConfig, exclude: Vec<u32>) -> StallDetector {
        let q = config.pressure_quiet_samples;
        let (share, cpu_share, min) = (
            config.pressure_share,
            config.cpu_pressure_share,
            config.min_seconds,
        );
        StallDetector {
            pressure: [
                PressureTracker::new(StallKind::Memory, share, min, q),
                PressureTracker::new(StallKind::Io, share, min, q),
                PressureTracker::new(StallKind::Cpu, cpu_share, min, q),
            ],
            pressure_open: [None, None, None],
            stuck: StuckTracker::new(config.stuck_seconds),
            stuck_open: Default::default(),
            held: None,
            config,
            exclude,
            prev_clock: None,
            prev_own: OwnCounters::default(),
            next_key: 1,
        }
    }

    pub fn config(&self) -> &StallsConfig {
        &self.config
    }

    fn key(&mut self) -> StallKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    pub fn update(&mut self, obs: &Observation<'_>) -> Vec<StallCommand> {
        let mut out = Vec::new();
        if !self.config.enabled {
            return out;
        }
        self.release_held(obs.continued, &mut out);
        self.scheduling(obs, &mut out);
        self.pressure_runs(obs, &mut out);
        self.stuck_tasks(obs, &mut out);
        self.prev_clock = Some(obs.clock);
        self.prev_own = obs.own;
        out
    }

    fn scheduling(&mut self, obs: &Observation<'_>, out: &mut Vec<StallCommand>) {
        let Some(prev) = self.prev_clock else {
            return;
        };
        let gap = clock::classify_gap(prev, obs.clock, obs.interval_s, self.config.min_seconds);
        if gap.suspended_s > 0.0 && gap.stalled_s.is_none() {
            tracing::info!(
                event_name = "suspended",
                seconds = gap.suspended_s,
                "the machine was suspended; not a stall"
            );
        }
        let Some(stalled_s) = gap.stalled_s else {
            return;
        };
        let evidence = GapEvidence {
            continued: obs.continued,
            run_delay_s: delta(obs.own.run_delay_ns, self.prev_own.run_delay_ns).map(|n| n / 1e9),
            throttled_s: delta(obs.own.throttled_ns, self.prev_own.throttled_ns).map(|n| n / 1e9),
            major_faults: delta(obs.own.major_faults, self.prev_own.major_faults),
            memory_stalled_s: self.pressure[0].peek_stalled_s(obs.psi.memory),
            io_stalled_s: self.pressure[1].peek_stalled_s(obs.psi.io),
        };
        let cause = clock::cause(stalled_s, &evidence);
        let mut w = Window::new(&self.exclude);
        w.add(obs.rates_over_s, obs.processes);
        let mut s = base(
            StallKind::Scheduling,
            obs.wall_s - gap.elapsed_s - gap.suspended_s,
        );
        s.end_s = Some(obs.wall_s);
        s.duration_s = stalled_s;
        s.suspended_s = gap.suspended_s;
        s.cause = Some(cause);
        if cause == StallCause::Unknown && !obs.continued {
            self.held = Some((s, w));
            return;
        }
        self.record(s, &w, out);
    }

    fn record(&mut self, s: Stall, w: &Window, out: &mut Vec<StallCommand>) {
        let key = self.key();
        out.push(StallCommand::Record {
            key,
            stall: finish(s, w),
        });
    }

    /// Record the held scheduling stall, as a stop if a SIGCONT has been seen
    /// since.
    fn release_held(&mut self, continued: bool, out: &mut Vec<StallCommand>) {
        let Some((mut s, w)) = self.held.take() else {
            return;
        };
        if continued {
            s.cause = Some(StallCause::Stopped);
        }
        self.record(s, &w, out);
    }

    fn pressure_runs(&mut self, obs: &Observation<'_>, out: &mut Vec<StallCommand>) {
        for (i, kind) in PRESSURE_KINDS.into_iter().enumerate() {
            let change = self.pressure[i].update(obs.wall_s, obs.psi.get(kind));
            let in_run = self.pressure[i].in_run();
            if in_run && self.pressure_open[i].is_none() {
                self.pressure_open[i] = Some(Open {
                    key: 0,
                    window: Window::new(&self.exclude),
                    opened: None,
                });
            }
            if let Some(open) = self.pressure_open[i].as_mut() {
                open.window.add(obs.rates_over_s, obs.processes);
            }
            let to_stall = |run: &pressure::PressureRun| {
                let mut s = base(kind, run.start_s);
                s.duration_s = run.span_s();
                s.pressure_kind = Some(run.line.to_string());
                s.peak_pressure_pct = Some(run.peak_share * 100.0);
                s.window_pressure_pct = Some(run.window_share() * 100.0);
                s
            };
            match change {
                RunChange::Qualified(run) => {
                    let key = self.key();
                    if let Some(open) = self.pressure_open[i].as_mut() {
                        open.key = key;
                        let s = finish(to_stall(&run), &open.window);
                        open.opened = Some(s.clone());
                        out.push(StallCommand::Open { key, stall: s });
                    }
                }
                RunChange::Ended(run) => {
                    if let Some(open) = self.pressure_open[i].take() {
                        let mut s = to_stall(&run);
                        s.end_s = Some(run.end_s);
                        out.push(StallCommand::Close {
                            key: open.key,
                            stall: finish(s, &open.window),
                        });
                    }
                }
                RunChange::None => {
                    if !in_run {
                        // A run that never qualified: forget what it gathered.
                        self.pressure_open[i] = None;
                    }
                }
            }
        }
    }

    fn stuck_tasks(&mut self, obs: &Observation<'_>, out: &mut Vec<StallCommand>) {
        for open in self.stuck_open.values_mut() {
            open.window.add(obs.rates_over_s, obs.processes);
        }
        for change in self.stuck.update(obs.wall_s, obs.processes) {
            match change {
                StuckChange::Became(t) => {
                    if self.exclude.contains(&t.key.pid) {
                        continue;
                    }
                    let key = self.key();
                    let mut window = Window::new(&self.exclude);
                    window.add(obs.rates_over_s, obs.processes);
                    let mut s = base(StallKind::Stuck, t.since_s);
                    s.duration_s = obs.wall_s - t.since_s;
                    s.pid = Some(t.key.pid);
                    s.command = Some(t.command.clone());
                    let s = finish(s, &window);
                    out.push(StallCommand::Open {
                        key,
                        stall: s.clone(),
                    });
                    self.stuck_open.insert(
                        t.key,
                        Open {
                            key,
                            window,
                            opened: Some(s),
                        },
                    );
                }
                StuckChange::Ended(t) => {
                    if let Some(open) = self.stuck_open.remove(&t.key) {
                        let end = t.until_s.unwrap_or(obs.wall_s);
                        let mut s = base(StallKind::Stuck, t.since_s);
                        s.end_s = Some(end);
                        s.duration_s = end - t.since_s;
                        s.pid = Some(t.key.pid);
                        s.command = Some(t.command);
                        out.push(StallCommand::Close {
                            key: open.key,
                            stall: finish(s, &open.window),
                        });
                    }
                }
            }
        }
    }

    /// A kernel verdict (hung task, lockup, OOM kill) seen at `wall_s`: a
    /// stall recorded whole, naming the task the kernel named.
    pub fn kernel(&mut self, v: &kernel::KernelVerdict, wall_s: f64) -> StallCommand {
        let seconds = v.seconds.unwrap_or(0.0);
        let mut s = base(v.kind, wall_s - seconds);
        s.end_s = Some(wall_s);
        s.duration_s = seconds;
        s.pid = v.pid;
        s.command = v.command.clone();
        s.verdict = format!(
            "kernel: {} — {}",
            match v.kind {
                StallKind::HungTask => "hung task",
                StallKind::Lockup => "CPU lockup",
                StallKind::OomKill => "out of memory, killed a process",
                _ => "stall",
            },
            crate::format::truncate(&v.message, 200)
        );
        let key = self.key();
        StallCommand::Record { key, stall: s }
    }

    /// Stalls still under way, closed at `wall_s` with what is known (the
    /// daemon is stopping).
    pub fn close_all(&mut self, wall_s: f64) -> Vec<StallCommand> {
        let mut out = Vec::new();
        self.release_held(false, &mut out);
        let mut open: Vec<Open> = self
            .pressure_open
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        open.extend(std::mem::take(&mut self.stuck_open).into_values());
        open.into_iter()
            .filter_map(|o| {
                let mut s = o.opened?;
                s.end_s = Some(wall_s);
                s.duration_s = (wall_s - s.start_s).max(0.0);
                Some(StallCommand::Close {
                    key: o.key,
                    stall: finish(s, &o.window),
                })
            })
            .chain(out)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: f64 = 1.0 / 3.0;

    /// A sample at `at_s` on both clocks (no suspend).
    fn obs(at_s: f64, continued: bool, own: OwnCounters) -> Observation<'static> {
        Observation {
            wall_s: 1_000.0 + at_s,
            clock: ClockReading {
                monotonic_s: at_s,
                boottime_s: at_s,
            },
            interval_s: INTERVAL,
            rates_over_s: INTERVAL,
            own,
            continued,
            psi: PsiTotals::default(),
            processes: &[],
        }
    }

    fn detector() -> StallDetector {
        StallDetector::new(StallsConfig::default(), Vec::new())
    }

    /// Feed a sample at `at_s` with no counters measured.
    fn at(d: &mut StallDetector, at_s: f64, continued: bool) -> Vec<StallCommand> {
        d.update(&obs(at_s, continued, OwnCounters::default()))
    }

    fn causes(out: &[StallCommand]) -> Vec<Option<StallCause>> {
        out.iter()
            .map(|c| match c {
                StallCommand::Record { stall, .. } => stall.cause,
                other => panic!("not a record: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_stop_whose_sigcont_was_seen_in_time_is_recorded_at_once() {
        let mut d = detector();
        assert!(at(&mut d, 0.0, false).is_empty());
        let out = at(&mut d, 3.0, true);
        assert_eq!(causes(&out), [Some(StallCause::Stopped)]);
        let StallCommand::Record { stall, .. } = &out[0] else {
            unreachable!()
        };
        assert!((stall.duration_s - (3.0 - INTERVAL)).abs() < 1e-9);
        assert!(stall.verdict.contains("stopped"), "{}", stall.verdict);
    }

    #[test]
    fn a_sigcont_handled_after_the_late_sample_still_makes_it_a_stop() {
        let mut d = detector();
        at(&mut d, 0.0, false);
        // The gap is seen before the handler ran: held, nothing recorded.
        assert!(at(&mut d, 3.0, false).is_empty());
        let out = at(&mut d, 3.0 + INTERVAL, true);
        assert_eq!(causes(&out), [Some(StallCause::Stopped)]);
        let StallCommand::Record { stall, .. } = &out[0] else {
            unreachable!()
        };
        assert!(stall.verdict.contains("stopped"), "{}", stall.verdict);
        assert!(at(&mut d, 3.0 + 2.0 * INTERVAL, false).is_empty());
    }

    #[test]
    fn a_gap_nothing_explains_is_recorded_unknown_one_sample_later() {
        let mut d = detector();
        at(&mut d, 0.0, false);
        assert!(at(&mut d, 3.0, false).is_empty());
        let out = at(&mut d, 3.0 + INTERVAL, false);
        assert_eq!(causes(&out), [Some(StallCause::Unknown)]);
    }

    #[test]
    fn an_explained_gap_is_not_held() {
        let mut d = detector();
        let own = |delay_s: u64| OwnCounters {
            run_delay_ns: Some(delay_s * 1_000_000_000),
            ..OwnCounters::default()
        };
        d.update(&obs(0.0, false, own(0)));
        let out = d.update(&obs(3.0, false, own(3)));
        assert_eq!(causes(&out), [Some(StallCause::Starved)]);
    }

    #[test]
    fn stopping_the_daemon_records_a_held_gap() {
        let mut d = detector();
        at(&mut d, 0.0, false);
        assert!(at(&mut d, 3.0, false).is_empty());
        assert_eq!(causes(&d.close_all(1_003.1)), [Some(StallCause::Unknown)]);
        assert!(d.close_all(1_003.2).is_empty());
    }
}
