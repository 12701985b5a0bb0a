//! Ring buffer: the last N samples, and the low/high range of every metric per
//! process identity over that window.
//!
//! Pure: no clock, no I/O. `push` fills in `low`/`high` of each metric (sliding
//! window min/max with monotonic queues, O(1) amortised per metric) and keeps
//! the sample; `freeze` hands forensics an immutable copy of the window.
//!
//! The window keeps two things at two lengths. Every sample's resource shares of
//! its top processes ([`ShareRow`], a few dozen bytes a process) cover the whole
//! window, for a capture's culprits; the whole samples (the top processes with
//! every metric's range, the groups and the machine series, ~50 KB each) only the
//! newest `whole` of it, for the capture's `frozen` buffer, which is cut to
//! `[forensics] max_artifact_bytes` anyway. Keeping 900 whole samples cost
//! ~45 MiB of a daemon's memory for samples no capture stored.

use crate::model::{METRIC_COUNT, ProcessKey, ProcessSamples, Resource};
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
    /// The command as last seen, shared by every [`ShareRow`] of this identity.
    command: Arc<str>,
}

/// One process's resource shares in one sample (percent of the machine's
/// capacity, by [`Resource::ALL`]; NaN where unmeasured).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShareRow {
    pub(crate) key: ProcessKey,
    /// Untrusted: escaped whenever printed.
    pub(crate) command: Arc<str>,
    pub(crate) shares: [f32; Resource::ALL.len()],
}

impl ShareRow {
    /// `resource`'s share, if measured.
    pub(crate) fn share(&self, resource: Resource) -> Option<f64> {
        let i = Resource::ALL.iter().position(|r| *r == resource)?;
        let v = self.shares[i];
        (!v.is_nan()).then_some(f64::from(v))
    }

    fn with_command(p: &crate::model::ProcessScore, command: Arc<str>) -> ShareRow {
        ShareRow {
            key: p.key(),
            command,
            shares: std::array::from_fn(|i| {
                p.share(Resource::ALL[i]).map_or(f32::NAN, |v| v as f32)
            }),
        }
    }
}

/// An immutable copy of the window for a capture, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frozen {
    /// The newest whole samples.
    pub(crate) samples: Vec<Arc<ProcessSamples>>,
    /// Every sample's shares over the whole window (ends with the same sample
    /// as `samples`).
    pub(crate) shares: Vec<Arc<[ShareRow]>>,
}

#[cfg(test)]
impl Frozen {
    /// A window of whole samples only (each also gives its shares).
    pub(crate) fn from_samples(samples: Vec<Arc<ProcessSamples>>) -> Frozen {
        let shares = samples
            .iter()
            .map(|s| {
                s.rogues
                    .iter()
                    .map(|p| ShareRow::with_command(p, Arc::from(p.command.as_str())))
                    .collect()
            })
            .collect();
        Frozen { samples, shares }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RingBuffer {
    capacity: usize,
    /// Whole samples kept (at most `capacity`).
    whole: usize,
    entries: VecDeque<Arc<ProcessSamples>>,
    shares: VecDeque<Arc<[ShareRow]>>,
    next_seq: u64,
    ranges: HashMap<ProcessKey, Ranges>,
}

impl RingBuffer {
    /// A window of `capacity` samples that keeps every one whole.
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        let capacity = capacity.max(1);
        RingBuffer {
            capacity,
            whole: capacity,
            entries: VecDeque::new(),
            shares: VecDeque::new(),
            next_seq: 0,
            ranges: HashMap::new(),
        }
    }

    /// Keep only the newest `whole` samples whole (at least one); the ranges and
    /// the shares still cover the whole window.
    pub(crate) fn keeping_whole(mut self, whole: usize) -> RingBuffer {
        self.whole = whole.clamp(1, self.capacity);
        self
    }

    /// Add a sample: widen each process's metric ranges to the window, store it,
    /// drop the oldest when full. Returns the stored (range-filled) sample.
    pub(crate) fn push(&mut self, mut samples: ProcessSamples) -> Arc<ProcessSamples> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let oldest = (seq + 1).saturating_sub(self.capacity as u64);
        let mut rows = Vec::with_capacity(samples.rogues.len());
        for p in &mut samples.rogues {
            let r = self.ranges.entry(p.key()).or_insert_with(|| Ranges {
                metrics: vec![MinMax::default(); METRIC_COUNT],
                last_seq: seq,
                command: Arc::from(p.command.as_str()),
            });
            r.last_seq = seq;
            if *r.command != *p.command {
                r.command = Arc::from(p.command.as_str());
            }
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
            rows.push(ShareRow::with_command(p, Arc::clone(&r.command)));
        }
        self.ranges.retain(|_, r| r.last_seq >= oldest);
        if crate::collect::sparse(self.ranges.capacity(), self.ranges.len()) {
            self.ranges.shrink_to(self.ranges.len() * 2);
        }
        let stored = Arc::new(samples);
        if self.entries.len() == self.whole {
            self.entries.pop_front();
        }
        self.entries.push_back(Arc::clone(&stored));
        if self.shares.len() == self.capacity {
            self.shares.pop_front();
        }
        self.shares.push_back(rows.into());
        stored
    }

    /// An immutable copy of the window for forensics (cheap: shared samples).
    pub(crate) fn freeze(&self) -> Frozen {
        Frozen {
            samples: self.entries.iter().cloned().collect(),
            shares: self.shares.iter().cloned().collect(),
        }
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
        let ts: Vec<f64> = rb.freeze().samples.iter().map(|s| s.timestamp_s).collect();
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
        assert_eq!(frozen.samples.len(), 1);
        assert_eq!(frozen.samples[0].rogues[0].cpu.unwrap().current, 1.0);
        assert_eq!(frozen.shares.len(), 1);
    }

    #[test]
    fn whole_samples_are_the_newest_and_shares_cover_the_window() {
        let mut rb = RingBuffer::new(5).keeping_whole(2);
        for i in 0..7 {
            let mut s = sample(&[(1, Some(f64::from(i)))]);
            s.timestamp_s = f64::from(i);
            s.rogues[0].cpu_share = Some(f64::from(i));
            s.rogues[0].command = format!("cmd{}", i / 4);
            rb.push(s);
        }
        let f = rb.freeze();
        let ts: Vec<f64> = f.samples.iter().map(|s| s.timestamp_s).collect();
        assert_eq!(ts, [5.0, 6.0]);
        let cpu: Vec<Option<f64>> = f.shares.iter().map(|r| r[0].share(Resource::Cpu)).collect();
        assert_eq!(cpu, [2.0, 3.0, 4.0, 5.0, 6.0].map(Some));
        assert_eq!(f.shares[0][0].share(Resource::Memory), None, "unmeasured");
        // The command follows an exec; rows of one identity share it.
        assert_eq!(&*f.shares[1][0].command, "cmd0");
        assert_eq!(&*f.shares[2][0].command, "cmd1");
        assert!(Arc::ptr_eq(
            &f.shares[3][0].command,
            &f.shares[4][0].command
        ));
        // The ranges still cover all five samples.
        assert_eq!(f.samples[1].rogues[0].cpu.unwrap().low, 2.0);
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
                prop_assert!(rb.freeze().samples.len() <= cap);
            }
        }
    }
}
