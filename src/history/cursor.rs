//! The replay cursor: where in the recording the dashboard stands, how keys
//! move it (a second, a minute, the previous or next event or stall), and
//! what the recording holds there (a recorded second, a gap, nothing yet,
//! nothing any more). Pure: times and recorded timestamps in, positions out;
//! the dashboard's replay source loads the blocks and formats the words.

use super::Frame;
use crate::model::{MetricValue, ProcessScore};

/// A recorded second stands for the cursor up to this long after it; beyond,
/// the cursor is in a gap (the recorder writes one second per second, so a
/// longer hole means the daemon was not running or was stopped).
pub const GAP_S: f64 = 2.5;

/// Marks (events, stalls) closer than this to the cursor's anchor are the
/// one it stands on, not the previous or the next.
const MARK_SLACK_S: f64 = 0.5;

/// The first and last recorded second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub first: f64,
    pub last: f64,
}

/// What a key asks of the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// This many seconds forward (negative: back).
    Seconds(i64),
    /// To the previous event or stall.
    PrevMark,
    /// To the next event or stall.
    NextMark,
}

/// How a move ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Moved,
    /// Stopped at the first recorded second.
    AtStart,
    /// Stopped at the last recorded second.
    AtEnd,
    /// Jumped to the mark at this time.
    Mark(f64),
    /// No event or stall before (`PrevMark`) or after (`NextMark`).
    NoMark,
    /// Nothing is recorded: the cursor stays.
    NothingRecorded,
}

/// What the recording holds at the cursor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// Nothing is recorded at all.
    Empty,
    /// Before the first recorded second.
    Before { first: f64 },
    /// After the last recorded second.
    After { last: f64 },
    /// The recorded second at this index of the frames looked at.
    At { index: usize },
    /// Between two recorded seconds more than `GAP_S` apart (`None`: that
    /// side was not among the frames looked at).
    Gap { from: Option<f64>, to: Option<f64> },
}

/// The cursor: a time, and the time marks are counted from (the mark it
/// jumped to, so that snapping onto the recorded second after a mark does not
/// make the same mark "previous" again).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    at: f64,
    anchor: f64,
    /// The last move was a jump to a mark: `settle` moves onto the first
    /// recorded second at or after it.
    snap: bool,
}

impl Cursor {
    pub fn new(at: f64) -> Cursor {
        Cursor {
            at,
            anchor: at,
            snap: false,
        }
    }

    /// Unix seconds.
    pub fn at(&self) -> f64 {
        self.at
    }

    /// Apply `mv` given the recorded span and the marks (Unix seconds, any
    /// order). A step never takes the cursor further outside the recording
    /// than it already is: inside, it stops at the first or last second.
    pub fn apply(&mut self, mv: Move, span: Option<Span>, marks: &[f64]) -> Outcome {
        self.snap = false;
        match mv {
            Move::Seconds(d) => {
                let Some(span) = span else {
                    return Outcome::NothingRecorded;
                };
                let wanted = self.at + d as f64;
                let lo = span.first.min(self.at);
                let hi = span.last.max(self.at);
                let got = wanted.clamp(lo, hi);
                self.at = got;
                self.anchor = got;
                if got > wanted {
                    Outcome::AtStart
                } else if got < wanted {
                    Outcome::AtEnd
                } else {
                    Outcome::Moved
                }
            }
            Move::PrevMark | Move::NextMark => {
                let target = if mv == Move::PrevMark {
                    marks
                        .iter()
                        .copied()
                        .filter(|m| m.is_finite() && *m < self.anchor - MARK_SLACK_S)
                        .max_by(f64::total_cmp)
                } else {
                    marks
                        .iter()
                        .copied()
                        .filter(|m| m.is_finite() && *m > self.anchor + MARK_SLACK_S)
                        .min_by(f64::total_cmp)
                };
                match target {
                    Some(m) => {
                        self.at = m;
                        self.anchor = m;
                        self.snap = true;
                        Outcome::Mark(m)
                    }
                    None => Outcome::NoMark,
                }
            }
        }
    }

    /// After a jump to a mark: move onto the first recorded second at or
    /// after it (within `GAP_S`), so the screen shows the moment the event
    /// was recorded rather than the second before. `timestamps` ascending.
    pub fn settle(&mut self, timestamps: &[f64]) {
        if !std::mem::take(&mut self.snap) {
            return;
        }
        if let Some(&t) = timestamps
            .iter()
            .find(|&&t| t >= self.at && t - self.at < GAP_S)
        {
            self.at = t;
        }
    }
}

/// What the recording holds at `at`: `timestamps` (ascending) are the
/// recorded seconds looked at around it, `span` the whole recording's.
pub fn locate(at: f64, timestamps: &[f64], span: Option<Span>) -> Position {
    let Some(span) = span else {
        return Position::Empty;
    };
    if at < span.first {
        return Position::Before { first: span.first };
    }
    if at > span.last + GAP_S {
        return Position::After { last: span.last };
    }
    let after = timestamps.partition_point(|&t| t <= at);
    if let Some(i) = after.checked_sub(1)
        && at - timestamps[i] < GAP_S
    {
        return Position::At { index: i };
    }
    Position::Gap {
        from: after.checked_sub(1).map(|i| timestamps[i]),
        to: timestamps.get(after).copied(),
    }
}

/// The cursor's processes with each metric's low and high taken over the
/// recorded window (the same process in `window`, oldest first, ending with
/// the cursor's frame): the detail pane's range columns, as live.
pub fn with_window_ranges<'a>(
    current: &Frame,
    window: impl IntoIterator<Item = &'a Frame> + Clone,
) -> Vec<ProcessScore> {
    let mut out = current.processes.clone();
    for p in &mut out {
        let key = p.key();
        let mut ranges: Vec<Option<(f64, f64)>> = p
            .metrics()
            .iter()
            .map(|m| m.as_ref().map(|v| (v.current, v.current)))
            .collect();
        for f in window.clone() {
            let Some(q) = f.processes.iter().find(|q| q.key() == key) else {
                continue;
            };
            for (r, m) in ranges.iter_mut().zip(q.metrics()) {
                if let (Some((lo, hi)), Some(v)) = (r.as_mut(), m) {
                    *lo = lo.min(v.current);
                    *hi = hi.max(v.current);
                }
            }
        }
        for (m, r) in p.metrics_mut().into_iter().zip(ranges) {
            if let (Some(v), Some((low, high))) = (m.as_mut(), r) {
                *v = MetricValue {
                    current: v.current,
                    low,
                    high,
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Option<Span> = Some(Span {
        first: 100.0,
        last: 200.0,
    });

    #[test]
    fn steps_move_by_seconds_and_stop_at_the_ends() {
        let mut c = Cursor::new(150.0);
        assert_eq!(c.apply(Move::Seconds(1), SPAN, &[]), Outcome::Moved);
        assert_eq!(c.at(), 151.0);
        assert_eq!(c.apply(Move::Seconds(-30), SPAN, &[]), Outcome::Moved);
        assert_eq!(c.at(), 121.0);
        assert_eq!(c.apply(Move::Seconds(-60), SPAN, &[]), Outcome::AtStart);
        assert_eq!(c.at(), 100.0);
        let mut c = Cursor::new(190.0);
        assert_eq!(c.apply(Move::Seconds(60), SPAN, &[]), Outcome::AtEnd);
        assert_eq!(c.at(), 200.0);
    }

    #[test]
    fn a_cursor_outside_never_moves_further_out_but_steps_back_in() {
        let mut c = Cursor::new(50.0);
        assert_eq!(c.apply(Move::Seconds(-1), SPAN, &[]), Outcome::AtStart);
        assert_eq!(c.at(), 50.0);
        assert_eq!(c.apply(Move::Seconds(60), SPAN, &[]), Outcome::Moved);
        assert_eq!(c.at(), 110.0);
        let mut c = Cursor::new(300.0);
        assert_eq!(c.apply(Move::Seconds(1), SPAN, &[]), Outcome::AtEnd);
        assert_eq!(c.apply(Move::Seconds(-60), SPAN, &[]), Outcome::Moved);
        assert_eq!(c.at(), 240.0);
        assert_eq!(
            Cursor::new(5.0).apply(Move::Seconds(1), None, &[]),
            Outcome::NothingRecorded
        );
    }

    #[test]
    fn marks_jump_to_the_previous_and_next_event_and_settle_on_the_recorded_second() {
        let marks = [160.2, 120.0, 180.0];
        let mut c = Cursor::new(150.0);
        assert_eq!(c.apply(Move::PrevMark, SPAN, &marks), Outcome::Mark(120.0));
        c.settle(&[118.7, 119.7, 120.7, 121.7]);
        assert_eq!(c.at(), 120.7);
        // The mark it stands on is neither previous nor next.
        assert_eq!(c.apply(Move::PrevMark, SPAN, &marks), Outcome::NoMark);
        assert_eq!(c.apply(Move::NextMark, SPAN, &marks), Outcome::Mark(160.2));
        // No recorded second near the mark: the cursor stays on the mark.
        c.settle(&[150.0, 170.0]);
        assert_eq!(c.at(), 160.2);
        assert_eq!(c.apply(Move::NextMark, SPAN, &marks), Outcome::Mark(180.0));
        assert_eq!(c.apply(Move::NextMark, SPAN, &marks), Outcome::NoMark);
        assert_eq!(c.at(), 180.0);
        // Settling only follows a jump.
        c.apply(Move::Seconds(1), SPAN, &marks);
        c.settle(&[182.0]);
        assert_eq!(c.at(), 181.0);
        assert_eq!(c.apply(Move::PrevMark, SPAN, &marks), Outcome::Mark(180.0));
    }

    #[test]
    fn positions_say_before_after_gap_or_the_recorded_second() {
        let ts = [100.3, 101.3, 102.3, 150.0, 151.0];
        assert_eq!(locate(120.0, &ts, None), Position::Empty);
        assert_eq!(locate(99.0, &ts, SPAN), Position::Before { first: 100.0 });
        assert_eq!(locate(100.3, &ts, SPAN), Position::At { index: 0 });
        assert_eq!(locate(101.9, &ts, SPAN), Position::At { index: 1 });
        assert_eq!(locate(104.0, &ts, SPAN), Position::At { index: 2 });
        assert_eq!(
            locate(120.0, &ts, SPAN),
            Position::Gap {
                from: Some(102.3),
                to: Some(150.0)
            }
        );
        // The cursor precedes every frame looked at: that side is unknown.
        assert_eq!(
            locate(100.1, &ts[3..], SPAN),
            Position::Gap {
                from: None,
                to: Some(150.0)
            }
        );
        assert_eq!(locate(201.0, &[200.0], SPAN), Position::At { index: 0 });
        assert_eq!(
            locate(203.0, &[200.0], SPAN),
            Position::After { last: 200.0 }
        );
    }

    #[test]
    fn meters_range_over_the_window() {
        let frame = |t: f64, cpu: f64| {
            let mut p = ProcessScore::new(7, 1, "x".into(), t);
            p.cpu = Some(MetricValue::new(cpu));
            let other = ProcessScore::new(8, 1, "y".into(), t);
            Frame {
                timestamp_s: t,
                elapsed_ms: 1.0,
                process_count: 2,
                max_score: 0.0,
                processes: vec![p, other],
                system: None,
                groups: Vec::new(),
                extra: serde_json::Map::new(),
            }
        };
        let window = [frame(1.0, 30.0), frame(2.0, 90.0), frame(3.0, 50.0)];
        let out = with_window_ranges(&window[2], &window);
        let cpu = out[0].cpu.as_ref().map(|v| (v.current, v.low, v.high));
        assert_eq!(cpu, Some((50.0, 30.0, 90.0)));
        assert_eq!(out[1].cpu, None);
    }
}
