//! Ring buffer: the last N samples, and the low/high range of every metric per
//! process identity over that window.
//!
//! Pure: no clock, no I/O. `push` fills in `low`/`high` of each metric (sliding
//! window min/max with monotonic queues, O(1) amortised per metric) and keeps
//! the sample; `freeze` hands forensics an immutable copy of the window.

use crate::model::{METRIC_COUNT, ProcessKey, ProcessSamples};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

#[derive(Debug, Default, Clone)]
struct MinMax {
    /// (sequence, value), values increasing from the front.
    mins: VecDeque<(u64, f64)>,
    /// (sequence, value), values decreasing from the front.
    maxs: VecDeque<(u64, f64)>,
}

impl MinMax {
    fn push(&mut self, seq: u64, v: f64) {
        while self.mins.back().is_some_and(|&(_, b)| b >= v) {
            self.mins.pop_back();
        }
        self.mins.push_back((seq, v));
        while self.maxs.back().is_some_and(|&(_, b)| b <= v) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((seq, v));
    }

    fn evict_before(&mut self, oldest: u64) {
        while self.mins.front().is_some_and(|&(s, _)| s < oldest) {
            self.mins.pop_front();
        }
        while self.maxs.front().is_some_and(|&(s, _)| s < oldest) {
            self.maxs.pop_front();
        }
    }

    fn range(&self) -> Option<(f64, f64)> {
        Some((self.mins.front()?.1, self.maxs.front()?.1))
    }
}

#[derive(Debug, Clone)]
struct Ranges {
    metrics: Vec<MinMax>,
    last_seq: u64,
}

/// An immutable copy of the window, oldest first.
pub(crate) type Frozen = Vec<Arc<ProcessSamples>>;

#[derive(Debug, Clone)]
pub(crate) struct RingBuffer {
    capacity: usize,
    entries: VecDeque<Arc<ProcessSamples>>,
    next_seq: u64,
    ranges: HashMap<ProcessKey, Ranges>,
}

impl RingBuffer {
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        let capacity = capacity.max(1);
        RingBuffer {
            capacity,
            entries: VecDeque::with_capacity(capacity),
            next_seq: 0,
            ranges: HashMap::new(),
        }
    }

    /// Add a sample: widen each process's metric ranges to the window, store it,
    /// drop the oldest when full. Returns the stored (range-filled) sample.
    pub(crate) fn push(&mut self, mut samples: ProcessSamples) -> Arc<ProcessSamples> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let oldest = (seq + 1).saturating_sub(self.capacity as u64);
        for p in &mut samples.rogues {
            let r = self.ranges.entry(p.key()).or_insert_with(|| Ranges {
                metrics: vec![MinMax::default(); METRIC_COUNT],
                last_seq: seq,
            });
            r.last_seq = seq;
            for (mm, metric) in r.metrics.iter_mut().zip(p.metrics_mut()) {
                mm.evict_before(oldest);
                if let Some(m) = metric {
                    if m.current.is_finite() {
                        mm.push(seq, m.current);
                    }
                    if let Some((low, high)) = mm.range() {
                        m.low = low;
                        m.high = high;
                    }
                }
            }
        }
        self.ranges.retain(|_, r| r.last_seq >= oldest);
        if self.ranges.capacity() > 256 && self.ranges.len() < self.ranges.capacity() / 4 {
            self.ranges.shrink_to(self.ranges.len() * 2);
        }
        let stored = Arc::new(samples);
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Arc::clone(&stored));
        stored
    }

    /// An immutable copy of the window for forensics (cheap: shared samples).
    pub(crate) fn freeze(&self) -> Frozen {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetricValue, ProcessScore};
    use proptest::prelude::*;

    fn sample(pids_cpu: &[(u32, Option<f64>)]) -> ProcessSamples {
        ProcessSamples {
            timestamp_s: 0.0,
            elapsed_ms: 0.0,
            process_count: pids_cpu.len() as u32,
            max_score: 0.0,
            rogues: pids_cpu
                .iter()
                .map(|&(pid, cpu)| {
                    let mut p = ProcessScore::new(pid, 1, "x".into(), 0.0);
                    p.cpu = cpu.map(MetricValue::new);
                    p
                })
                .collect(),
            groups: Vec::new(),
            system: None,
        }
    }

    #[test]
    fn capacity_is_kept_and_oldest_dropped() {
        let mut rb = RingBuffer::new(3);
        for i in 0..5 {
            let mut s = sample(&[]);
            s.timestamp_s = i as f64;
            rb.push(s);
        }
        let ts: Vec<f64> = rb.freeze().iter().map(|s| s.timestamp_s).collect();
        assert_eq!(ts, vec![2.0, 3.0, 4.0]);
        assert_eq!(rb.next_seq, 5, "samples pushed");
    }

    #[test]
    fn ranges_widen_then_forget_old_extremes() {
        let mut rb = RingBuffer::new(3);
        let cpu =
            |rb: &mut RingBuffer, v: f64| rb.push(sample(&[(1, Some(v))])).rogues[0].cpu.unwrap();
        assert_eq!(
            cpu(&mut rb, 50.0),
            MetricValue {
                current: 50.0,
                low: 50.0,
                high: 50.0
            }
        );
        assert_eq!(
            cpu(&mut rb, 10.0),
            MetricValue {
                current: 10.0,
                low: 10.0,
                high: 50.0
            }
        );
        cpu(&mut rb, 20.0);
        // 50 has left the 3-sample window
        assert_eq!(
            cpu(&mut rb, 30.0),
            MetricValue {
                current: 30.0,
                low: 10.0,
                high: 30.0
            }
        );
    }

    #[test]
    fn identities_are_separate_and_pid_reuse_starts_fresh() {
        let mut rb = RingBuffer::new(10);
        rb.push(sample(&[(1, Some(90.0))]));
        let mut s = sample(&[(1, Some(5.0))]);
        s.rogues[0].start_time_ms = 2; // same PID, new process
        let out = rb.push(s);
        assert_eq!(out.rogues[0].cpu.unwrap().high, 5.0);
    }

    #[test]
    fn freeze_is_a_copy() {
        let mut rb = RingBuffer::new(2);
        rb.push(sample(&[(1, Some(1.0))]));
        let frozen = rb.freeze();
        rb.push(sample(&[(1, Some(2.0))]));
        rb.push(sample(&[(1, Some(3.0))]));
        assert_eq!(frozen.len(), 1);
        assert_eq!(frozen[0].rogues[0].cpu.unwrap().current, 1.0);
    }

    proptest! {
        #[test]
        fn ranges_match_brute_force(
            cap in 1usize..12,
            seq in prop::collection::vec(prop::collection::vec((1u32..4, prop::option::of(0.0f64..100.0)), 0..4), 1..60)
        ) {
            let mut rb = RingBuffer::new(cap);
            let mut history: Vec<Vec<(u32, Option<f64>)>> = Vec::new();
            for round in seq {
                // one entry per pid per sample
                let mut seen = std::collections::HashSet::new();
                let round: Vec<_> = round.into_iter().filter(|(p, _)| seen.insert(*p)).collect();
                history.push(round.clone());
                let out = rb.push(sample(&round));
                let window = &history[history.len().saturating_sub(cap)..];
                for p in &out.rogues {
                    let vals: Vec<f64> = window.iter().flatten()
                        .filter(|(pid, _)| *pid == p.pid)
                        .filter_map(|(_, v)| *v)
                        .collect();
                    match p.cpu {
                        None => {}
                        Some(m) => {
                            let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min);
                            let hi = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            prop_assert_eq!(m.low, lo);
                            prop_assert_eq!(m.high, hi);
                            prop_assert!(m.low <= m.current && m.current <= m.high);
                        }
                    }
                }
                prop_assert!(rb.freeze().len() <= cap);
            }
        }
    }
}
