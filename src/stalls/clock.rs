//! The scheduling-stall classifier: did the sampling loop oversleep, was the
//! machine suspended, and if the monitor could not run, why. Pure: clock
//! readings and counters in, a verdict out.

use crate::model::StallCause;

pub use crate::platform::ClockReading;

/// Differences below this are clock noise, not suspend.
const SUSPEND_NOISE_S: f64 = 0.05;

/// What happened between two samples of the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// Monotonic time between the samples (suspend excluded).
    pub elapsed_s: f64,
    /// Time the machine was suspended in between (0 when none).
    pub suspended_s: f64,
    /// Oversleep beyond the interval, when it reached `min_s`; else `None`.
    pub stalled_s: Option<f64>,
}

/// Compare two readings taken one sampling interval apart (by schedule).
pub fn classify_gap(prev: ClockReading, now: ClockReading, interval_s: f64, min_s: f64) -> Gap {
    let elapsed_s = (now.monotonic_s - prev.monotonic_s).max(0.0);
    let boot_elapsed = (now.boottime_s - prev.boottime_s).max(0.0);
    let suspended = boot_elapsed - elapsed_s;
    let suspended_s = if suspended > SUSPEND_NOISE_S {
        suspended
    } else {
        0.0
    };
    let over = elapsed_s - interval_s;
    Gap {
        elapsed_s,
        suspended_s,
        stalled_s: (over >= min_s).then_some(over),
    }
}

/// What the monitor itself went through across the gap. Each is `None` when
/// unmeasured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GapEvidence {
    /// A SIGCONT arrived: the monitor had been stopped.
    pub continued: bool,
    /// Its own time runnable but not running (schedstat run delay), seconds.
    pub run_delay_s: Option<f64>,
    /// Its cgroup's CPU-quota throttled time, seconds.
    pub throttled_s: Option<f64>,
    /// Its own major page faults.
    pub major_faults: Option<f64>,
    /// Machine-wide PSI stalled time across the gap, seconds: memory and io
    /// `full` (or `some` where `full` is not reported).
    pub memory_stalled_s: Option<f64>,
    pub io_stalled_s: Option<f64>,
}

/// Why the monitor could not run for `stalled_s`: the first explanation that
/// covers at least half of the stall, in order stopped, throttled, starved,
/// memory, I/O.
pub fn cause(stalled_s: f64, e: &GapEvidence) -> StallCause {
    let half = stalled_s / 2.0;
    let covers = |v: Option<f64>| v.is_some_and(|v| v >= half);
    if e.continued {
        StallCause::Stopped
    } else if covers(e.throttled_s) {
        StallCause::Throttled
    } else if covers(e.run_delay_s) {
        StallCause::Starved
    } else if covers(e.memory_stalled_s) || e.major_faults.is_some_and(|f| f >= 10.0) {
        StallCause::BlockedMemory
    } else if covers(e.io_stalled_s) {
        StallCause::BlockedIo
    } else {
        StallCause::Unknown
    }
}

/// A few words for the verdict line.
pub fn cause_text(c: StallCause) -> &'static str {
    match c {
        StallCause::Starved => "the monitor was runnable but got no CPU",
        StallCause::Throttled => "the monitor's CPU quota throttled it",
        StallCause::BlockedMemory => "the monitor was blocked on memory",
        StallCause::BlockedIo => "the monitor was blocked on I/O",
        StallCause::Stopped => "the monitor was stopped (SIGSTOP or a debugger)",
        StallCause::Unknown => {
            "the monitor did not run and was not waiting for a CPU, memory or I/O \
             (frozen, traced, or blocked on a lock)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: f64, b: f64) -> ClockReading {
        ClockReading {
            monotonic_s: m,
            boottime_s: b,
        }
    }

    #[test]
    fn on_time_is_nothing() {
        let g = classify_gap(r(10.0, 20.0), r(10.34, 20.34), 1.0 / 3.0, 1.0);
        assert_eq!(g.stalled_s, None);
        assert_eq!(g.suspended_s, 0.0);
    }

    #[test]
    fn suspend_only_is_not_a_stall() {
        // 60 s suspended: boottime jumps, monotonic does not.
        let g = classify_gap(r(10.0, 20.0), r(10.34, 80.34), 1.0 / 3.0, 1.0);
        assert_eq!(g.stalled_s, None);
        assert!((g.suspended_s - 60.0).abs() < 1e-9);
    }

    #[test]
    fn stall_only() {
        let g = classify_gap(r(10.0, 20.0), r(13.5, 23.5), 1.0 / 3.0, 1.0);
        let s = g.stalled_s.expect("a stall");
        assert!((s - (3.5 - 1.0 / 3.0)).abs() < 1e-9);
        assert_eq!(g.suspended_s, 0.0);
    }

    #[test]
    fn suspend_and_stall_in_one_gap() {
        // 30 s suspended plus 4 s the loop could not run.
        let g = classify_gap(r(10.0, 20.0), r(14.0, 54.0), 0.5, 1.0);
        assert!((g.stalled_s.expect("stall") - 3.5).abs() < 1e-9);
        assert!((g.suspended_s - 30.0).abs() < 1e-9);
    }

    #[test]
    fn clock_noise_is_neither() {
        let g = classify_gap(r(10.0, 20.0), r(10.5, 20.52), 0.5, 1.0);
        assert_eq!(g.suspended_s, 0.0);
        assert_eq!(g.stalled_s, None);
        // Just under the threshold, and a clock that went backwards.
        assert_eq!(
            classify_gap(r(0.0, 0.0), r(1.3, 1.3), 0.5, 1.0).stalled_s,
            None
        );
        assert_eq!(
            classify_gap(r(5.0, 5.0), r(4.0, 4.0), 0.5, 1.0).stalled_s,
            None
        );
    }

    #[test]
    fn causes_in_order() {
        let e = GapEvidence::default();
        assert_eq!(cause(3.0, &e), StallCause::Unknown);
        let stopped = GapEvidence {
            continued: true,
            run_delay_s: Some(3.0),
            ..e
        };
        assert_eq!(cause(3.0, &stopped), StallCause::Stopped);
        let starved = GapEvidence {
            run_delay_s: Some(2.0),
            ..e
        };
        assert_eq!(cause(3.0, &starved), StallCause::Starved);
        let throttled = GapEvidence {
            run_delay_s: Some(2.0),
            throttled_s: Some(2.5),
            ..e
        };
        assert_eq!(cause(3.0, &throttled), StallCause::Throttled);
        let memory = GapEvidence {
            run_delay_s: Some(0.1),
            memory_stalled_s: Some(2.0),
            ..e
        };
        assert_eq!(cause(3.0, &memory), StallCause::BlockedMemory);
        let io = GapEvidence {
            io_stalled_s: Some(2.9),
            ..e
        };
        assert_eq!(cause(3.0, &io), StallCause::BlockedIo);
    }
}
