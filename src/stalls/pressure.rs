//! Pressure stalls from the PSI `total=` counters (microseconds stalled since
//! boot): the only PSI field that shows stalls shorter than the 2 s the
//! averages need. Pure: totals and times in, runs of stalled intervals out.

use crate::model::StallKind;
pub use crate::platform::{PsiTotal, PsiTotals, parse_psi};

/// Stalled microseconds between two readings of one resource, of the line
/// that means "stalled" for it: `full` for memory and io (every task waited),
/// `some` for cpu (at the system level `full` is not reported).
pub fn stalled_us(kind: StallKind, prev: PsiTotal, now: PsiTotal) -> Option<(u64, &'static str)> {
    let (a, b, line) = match kind {
        StallKind::Cpu => (prev.some_us, now.some_us, "some"),
        _ => match (prev.full_us, now.full_us) {
            (Some(a), Some(b)) => (Some(a), Some(b), "full"),
            _ => (prev.some_us, now.some_us, "some"),
        },
    };
    Some((b?.saturating_sub(a?), line))
}

/// A run of stalled intervals of one resource that reached the thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct PressureRun {
    pub kind: StallKind,
    /// Unix seconds: start of the first stalled interval.
    pub start_s: f64,
    /// Unix seconds: end of the last stalled interval so far.
    pub end_s: f64,
    /// Stalled time summed over the run, seconds.
    pub stalled_s: f64,
    /// Highest share of one interval stalled, 0-1.
    pub peak_share: f64,
    pub line: &'static str,
}

impl PressureRun {
    pub fn span_s(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }

    /// Share of the run's span stalled, 0-1.
    pub fn window_share(&self) -> f64 {
        let span = self.span_s();
        if span > 0.0 {
            (self.stalled_s / span).min(1.0)
        } else {
            0.0
        }
    }
}

/// What one sample did to a resource's run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    None,
    /// The run reached `min_s` of stalled time: report it now.
    Qualified(PressureRun),
    /// A qualified run ended.
    Ended(PressureRun),
}

/// Follows one resource's PSI total across samples.
#[derive(Debug, Clone)]
pub struct PressureTracker {
    kind: StallKind,
    /// An interval stalled at least this share (0-1) is part of a run.
    open_share: f64,
    /// A run is reported once it has this much stalled time, seconds.
    min_s: f64,
    /// Intervals below half of `open_share` that end a run.
    close_after: u32,
    prev: Option<(f64, PsiTotal)>,
    run: Option<PressureRun>,
    qualified: bool,
    quiet: u32,
}

impl PressureTracker {
    pub fn new(kind: StallKind, open_share: f64, min_s: f64, close_after: u32) -> Self {
        PressureTracker {
            kind,
            open_share,
            min_s,
            close_after: close_after.max(1),
            prev: None,
            run: None,
            qualified: false,
            quiet: 0,
        }
    }

    /// Whether an interval run (qualified or not) is in progress.
    pub fn in_run(&self) -> bool {
        self.run.is_some()
    }

    /// The run in progress, if it has qualified.
    pub fn current(&self) -> Option<&PressureRun> {
        self.run.as_ref().filter(|_| self.qualified)
    }

    /// Stalled seconds between the previous reading and `total`, without
    /// advancing (for the scheduling-stall evidence).
    pub fn peek_stalled_s(&self, total: Option<PsiTotal>) -> Option<f64> {
        let (_, prev) = self.prev?;
        stalled_us(self.kind, prev, total?).map(|(us, _)| us as f64 / 1e6)
    }

    /// Feed the reading taken at Unix time `now_s`.
    pub fn update(&mut self, now_s: f64, total: Option<PsiTotal>) -> RunChange {
        let Some(total) = total else {
            return RunChange::None;
        };
        let prev = self.prev.replace((now_s, total));
        let Some((then_s, before)) = prev else {
            return RunChange::None;
        };
        let dt = now_s - then_s;
        let Some((us, line)) = stalled_us(self.kind, before, total) else {
            return RunChange::None;
        };
        if dt <= 0.0 {
            return RunChange::None;
        }
        let stalled = (us as f64 / 1e6).min(dt);
        let share = stalled / dt;
        if share >= self.open_share {
            self.quiet = 0;
            let run = self.run.get_or_insert(PressureRun {
                kind: self.kind,
                start_s: then_s,
                end_s: now_s,
                stalled_s: 0.0,
                peak_share: 0.0,
                line,
            });
            run.end_s = now_s;
            run.stalled_s += stalled;
            run.peak_share = run.peak_share.max(share);
            if !self.qualified && run.stalled_s >= self.min_s {
                self.qualified = true;
                return RunChange::Qualified(run.clone());
            }
            return RunChange::None;
        }
        if self.run.is_none() {
            return RunChange::None;
        }
        if share >= self.open_share / 2.0 {
            // Still pressured, just less: part of the run, not its end.
            if let Some(run) = self.run.as_mut() {
                run.end_s = now_s;
                run.stalled_s += stalled;
            }
            self.quiet = 0;
            return RunChange::None;
        }
        self.quiet += 1;
        if self.quiet < self.close_after {
            return RunChange::None;
        }
        self.quiet = 0;
        let run = self.run.take();
        let was = std::mem::replace(&mut self.qualified, false);
        match run {
            Some(run) if was => RunChange::Ended(run),
            _ => RunChange::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(us: u64) -> Option<PsiTotal> {
        Some(PsiTotal {
            some_us: Some(us * 2),
            full_us: Some(us),
            ..PsiTotal::default()
        })
    }

    #[test]
    fn parses_proc_pressure() {
        let text = "some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\n\
                    full avg10=0.50 avg60=0.10 avg300=0.00 total=65432\n";
        assert_eq!(
            parse_psi(text),
            Some(PsiTotal {
                some_us: Some(123456),
                full_us: Some(65432),
                some_avg10: Some(1.5),
                full_avg10: Some(0.5),
            })
        );
        let cpu_only = "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n";
        assert_eq!(parse_psi(cpu_only).and_then(|t| t.full_us), None);
        assert_eq!(parse_psi("garbage"), None);
    }

    #[test]
    fn a_run_qualifies_then_ends_with_its_span_and_share() {
        let mut t = PressureTracker::new(StallKind::Memory, 0.2, 1.0, 3);
        let mut us = 0;
        let mut at = 100.0;
        assert_eq!(t.update(at, full(us)), RunChange::None);
        // Quiet, then 6 intervals of 0.5 s with 80 % stalled.
        at += 0.5;
        us += 1_000;
        assert_eq!(t.update(at, full(us)), RunChange::None);
        let mut qualified = None;
        for _ in 0..6 {
            at += 0.5;
            us += 400_000;
            if let RunChange::Qualified(r) = t.update(at, full(us)) {
                qualified = Some(r);
            }
        }
        let q = qualified.expect("qualified after 1 s stalled");
        assert_eq!(q.start_s, 100.5);
        assert!(t.current().is_some());
        // Three quiet intervals end it.
        let mut ended = None;
        for _ in 0..3 {
            at += 0.5;
            us += 100;
            if let RunChange::Ended(r) = t.update(at, full(us)) {
                ended = Some(r);
            }
        }
        let r = ended.expect("ended");
        assert_eq!((r.start_s, r.end_s), (100.5, 103.5));
        assert!((r.stalled_s - 2.4).abs() < 1e-9, "{r:?}");
        assert!((r.peak_share - 0.8).abs() < 1e-9);
        assert!((r.window_share() - 0.8).abs() < 1e-9);
        assert_eq!(r.line, "full");
        assert!(t.current().is_none());
    }

    #[test]
    fn short_blips_never_qualify() {
        let mut t = PressureTracker::new(StallKind::Io, 0.2, 1.0, 2);
        let mut us = 0;
        t.update(0.0, full(us));
        for i in 1..40 {
            // One 0.3 s stall in every fourth 0.5 s interval.
            us += if i % 4 == 0 { 300_000 } else { 0 };
            let c = t.update(f64::from(i) * 0.5, full(us));
            assert!(
                !matches!(c, RunChange::Qualified(_) | RunChange::Ended(_)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn cpu_uses_some_and_missing_readings_change_nothing() {
        let mut t = PressureTracker::new(StallKind::Cpu, 0.5, 0.5, 1);
        let some = |us| {
            Some(PsiTotal {
                some_us: Some(us),
                ..PsiTotal::default()
            })
        };
        t.update(0.0, some(0));
        assert_eq!(t.update(1.0, None), RunChange::None);
        assert!(matches!(
            t.update(2.0, some(1_800_000)),
            RunChange::Qualified(_)
        ));
        assert!(matches!(
            t.update(3.0, some(1_800_000)),
            RunChange::Ended(_)
        ));
    }
}
