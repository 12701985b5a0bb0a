//! When the next sample is due: the one tick scheduler behind every sampling
//! loop (the daemon's, the dashboard's embedded sampler, `sample`).
//!
//! Pure: there is no clock inside. Callers pass `now` as a monotonic offset,
//! normally `epoch.elapsed()` of an `Instant` taken when the loop started.
//! Ticks keep the phase of the first one (a tick taken a little late does not
//! push the later ones back). A tick taken a whole interval or more after it was
//! due skips the intervals it missed, and says how many, instead of bursting to
//! catch up: the next tick is always due strictly after `now`, so two ticks are
//! never taken back to back.

use std::time::Duration;

/// A fixed-interval schedule. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    interval: Duration,
    next: Duration,
}

/// One tick taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick {
    /// When the tick was due: the earliest due time not taken yet.
    pub(crate) due: Duration,
    /// How long after `due` it was taken. More than an interval only when
    /// `skipped > 0`.
    pub(crate) late: Duration,
    /// Whole intervals missed since `due`: ticks that are not taken at all.
    pub(crate) skipped: u64,
}

impl Schedule {
    /// Ticks every `interval`, the first due at `first` (on the caller's
    /// monotonic offset).
    pub(crate) fn new(interval: Duration, first: Duration) -> Schedule {
        Schedule {
            interval,
            next: first,
        }
    }

    /// When the next tick is due (callers use `until_due`).
    #[cfg(test)]
    pub(crate) fn next_due(&self) -> Duration {
        self.next
    }

    /// How long from `now` until the next tick is due; zero when it is due.
    pub(crate) fn until_due(&self, now: Duration) -> Duration {
        self.next.saturating_sub(now)
    }

    /// Take the tick due at `now`, if one is: how late it is and how many whole
    /// intervals it missed. The next tick is then due on the original phase,
    /// strictly after `now`. `None` (nothing changes) when `now` is early.
    pub(crate) fn tick(&mut self, now: Duration) -> Option<Tick> {
        if now < self.next {
            return None;
        }
        let due = self.next;
        let late = now - due;
        let interval = self.interval.as_nanos();
        if interval == 0 {
            // No cadence to keep: due again at once, never "behind".
            self.next = now;
            return Some(Tick {
                due,
                late,
                skipped: 0,
            });
        }
        let behind = late.as_nanos();
        let skipped = u64::try_from(behind / interval).unwrap_or(u64::MAX);
        // The latest due time not after `now` is `now - into`; the next is one
        // interval on. `into < interval`, which fits a u64 of nanoseconds.
        let into = Duration::from_nanos(u64::try_from(behind % interval).unwrap_or(0));
        self.next = now - into + self.interval;
        Some(Tick { due, late, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn on_time_ticks_keep_the_cadence() {
        let mut s = Schedule::new(I, ms(0));
        for k in 0..5 {
            let now = I * k;
            let t = s.tick(now).unwrap();
            assert_eq!((t.due, t.late, t.skipped), (now, Duration::ZERO, 0));
            assert_eq!(s.next_due(), now + I);
            assert!(s.tick(now).is_none(), "one tick per due time");
        }
    }

    #[test]
    fn early_is_not_due_and_says_how_long_to_wait() {
        let mut s = Schedule::new(I, ms(100));
        assert_eq!(s.until_due(ms(30)), ms(70));
        assert_eq!(s.tick(ms(30)), None);
        assert_eq!(s.next_due(), ms(100), "an early poll changes nothing");
        assert_eq!(s.until_due(ms(100)), Duration::ZERO);
        assert_eq!(s.until_due(ms(150)), Duration::ZERO);
    }

    #[test]
    fn late_by_less_than_an_interval_skips_nothing_and_keeps_the_phase() {
        let mut s = Schedule::new(I, ms(0));
        let t = s.tick(ms(99)).unwrap();
        assert_eq!((t.due, t.late, t.skipped), (ms(0), ms(99), 0));
        assert_eq!(s.next_due(), ms(100), "not pushed back to 199");
        let t = s.tick(ms(100)).unwrap();
        assert_eq!((t.late, t.skipped), (Duration::ZERO, 0));
    }

    #[test]
    fn late_by_three_intervals_skips_them_without_bursting() {
        let mut s = Schedule::new(I, ms(0));
        let t = s.tick(ms(350)).unwrap();
        assert_eq!((t.due, t.late, t.skipped), (ms(0), ms(350), 3));
        // Ticks 100, 200 and 300 are gone; the next is 400, not now.
        assert_eq!(s.next_due(), ms(400));
        assert!(s.tick(ms(350)).is_none(), "no back-to-back catch-up tick");
        assert!(s.tick(ms(399)).is_none());
        assert_eq!(s.until_due(ms(350)), ms(50));
        let t = s.tick(ms(400)).unwrap();
        assert_eq!((t.late, t.skipped), (Duration::ZERO, 0));
        // Exactly three intervals late: the tick due now is taken, three skipped.
        let t = s.tick(ms(800)).unwrap();
        assert_eq!((t.due, t.late, t.skipped), (ms(500), ms(300), 3));
        assert_eq!(s.next_due(), ms(900));
    }

    #[test]
    fn a_sample_slower_than_the_interval_skips_what_it_overran() {
        // Every sample takes 250 ms of a 100 ms interval: each tick is taken as
        // the previous sample ends, skipping the overrun, never twice at once.
        let mut s = Schedule::new(I, ms(0));
        let mut now = ms(0);
        let mut taken = Vec::new();
        let mut skipped = 0;
        for _ in 0..4 {
            let t = s.tick(now).unwrap();
            skipped += t.skipped;
            taken.push(now);
            now += ms(250);
        }
        assert_eq!(taken, vec![ms(0), ms(250), ms(500), ms(750)]);
        assert_eq!(skipped, 1 + 2 + 1);
        assert_eq!(s.next_due(), ms(800));
    }

    #[test]
    fn clock_jitter_around_the_due_time_does_not_drift_or_skip() {
        let mut s = Schedule::new(I, ms(0));
        let mut skipped = 0;
        // Polls land a few ms either side of each due time (sleep granularity).
        for k in 0..100u32 {
            let due = I * k;
            let early = due.saturating_sub(ms(3));
            if k > 0 {
                assert!(s.tick(early).is_none(), "tick {k} taken early");
            }
            let jitter = ms(u64::from(k % 7));
            let t = s.tick(due + jitter).unwrap();
            assert_eq!(t.due, due);
            assert_eq!(t.late, jitter);
            skipped += t.skipped;
        }
        assert_eq!(skipped, 0);
        assert_eq!(s.next_due(), I * 100, "no drift after 100 jittery ticks");
    }

    #[test]
    fn odd_intervals_and_a_zero_interval_stay_sane() {
        let third = Duration::from_secs_f64(1.0 / 3.0);
        let mut s = Schedule::new(third, Duration::ZERO);
        let now = Duration::from_secs(10);
        let t = s.tick(now).unwrap();
        assert_eq!(t.skipped, 30);
        assert!(s.next_due() > now && s.next_due() <= now + third);
        let mut z = Schedule::new(Duration::ZERO, ms(5));
        assert_eq!(z.tick(ms(7)).map(|t| t.skipped), Some(0));
        assert_eq!(z.next_due(), ms(7));
    }
}
