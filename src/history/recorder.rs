//! Block assembly: which processes a second records, and when the open block
//! is handed to storage. Pure: the caller supplies the samples and the clock,
//! and sends the `BlockWrite`s it gets back.
//!
//! Recording a second costs the caller only the frame's append: a
//! `BlockWrite` shares the open block's frames (`Arc`s), and whoever stores
//! it (the storage writer thread) encodes and compresses them
//! (`BlockWrite::encode`).

use super::encode::{ENCODING_VERSION, Frame, encode_block};
use crate::model::{ProcessKey, ProcessSamples, ProcessScore};
use std::collections::HashSet;
use std::sync::Arc;

/// Seconds of recording per block (a block is pruned whole).
pub const BLOCK_SECONDS: f64 = 120.0;
/// The open block is written at least this often. What a kill -9 can lose
/// is this, plus the slack of a frame a second on a 3 Hz grid (up to a third
/// of a second) and one commit: under the promised 5 s.
pub const UPSERT_SECONDS: f64 = 4.0;
/// One frame per second: faster samples in between are not recorded (a
/// little slack so a sample a few ms early still counts).
pub const FRAME_SECONDS: f64 = 0.95;

/// One block to store: inserted the first time its `start_s` is seen,
/// replaced after that (the open block grows).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWrite {
    pub start_s: f64,
    pub end_s: f64,
    /// The block's frames so far, oldest first (shared with the recorder).
    pub frames: Vec<Arc<Frame>>,
}

impl BlockWrite {
    /// The encoding `encode` writes.
    pub const ENCODING: i64 = ENCODING_VERSION;

    /// The frames encoded and compressed (milliseconds of CPU for a full
    /// block: the storage writer does it, not the sampling thread).
    pub fn encode(&self) -> Vec<u8> {
        encode_block(&self.frames)
    }

    pub fn frame_count(&self) -> u32 {
        u32::try_from(self.frames.len()).unwrap_or(u32::MAX)
    }
}

/// The processes one second records: the top `top_n` by score (worst first)
/// plus every process in `tracked`, each once.
pub fn select(
    all: &[ProcessScore],
    top_n: usize,
    tracked: &HashSet<ProcessKey>,
) -> Vec<ProcessScore> {
    let mut order: Vec<usize> = (0..all.len()).collect();
    let by_score = |&a: &usize, &b: &usize| {
        all[b]
            .score
            .total_cmp(&all[a].score)
            .then(all[a].pid.cmp(&all[b].pid))
    };
    if order.len() > top_n && top_n > 0 {
        order.select_nth_unstable_by(top_n - 1, by_score);
    }
    let mut chosen: Vec<usize> = order.iter().copied().take(top_n).collect();
    let mut seen: HashSet<usize> = chosen.iter().copied().collect();
    if !tracked.is_empty() {
        for (i, p) in all.iter().enumerate() {
            if tracked.contains(&p.key()) && seen.insert(i) {
                chosen.push(i);
            }
        }
    }
    chosen.sort_by(by_score);
    chosen.into_iter().map(|i| all[i].clone()).collect()
}

/// Groups recorded per kind by default (`[history] top_groups`).
pub const TOP_GROUPS: usize = 5;

/// Keep the first `n` groups of each kind (the sample lists each kind's
/// worst first), in their order.
fn keep_top_groups(groups: &mut Vec<crate::model::GroupScore>, n: usize) {
    let mut seen: Vec<(crate::model::GroupKind, usize)> = Vec::new();
    groups.retain(|g| {
        let i = match seen.iter().position(|(k, _)| *k == g.kind) {
            Some(i) => i,
            None => {
                seen.push((g.kind, 0));
                seen.len() - 1
            }
        };
        seen[i].1 += 1;
        seen[i].1 <= n
    });
}

/// The recorder: frames of the open block, and when it was last written.
#[derive(Debug)]
pub struct Recorder {
    top_n: usize,
    /// Groups recorded each second, per kind (the sample's first of each).
    top_groups: usize,
    block_seconds: f64,
    frames: Vec<Arc<Frame>>,
    last_write_s: Option<f64>,
}

impl Recorder {
    pub fn new(top_n: usize) -> Recorder {
        Recorder::with_block_seconds(top_n, BLOCK_SECONDS)
    }

    pub fn with_block_seconds(top_n: usize, block_seconds: f64) -> Recorder {
        Recorder {
            top_n,
            top_groups: TOP_GROUPS,
            block_seconds,
            frames: Vec::new(),
            last_write_s: None,
        }
    }

    /// Record at most `n` groups of each kind per second (the worst).
    pub fn with_top_groups(mut self, n: usize) -> Recorder {
        self.top_groups = n;
        self
    }

    /// Frames in the open block.
    pub fn open_frames(&self) -> usize {
        self.frames.len()
    }

    /// Record one second. Returns the blocks to write now: the block that
    /// just closed (full) and/or the open one when it was last written
    /// `UPSERT_SECONDS` ago.
    pub fn record(
        &mut self,
        samples: &ProcessSamples,
        all: &[ProcessScore],
        tracked: &HashSet<ProcessKey>,
    ) -> Vec<BlockWrite> {
        let now = samples.timestamp_s;
        let mut out = Vec::new();
        // A block closes when full, or when the clock went backwards.
        if let Some(first) = self.frames.first()
            && (now - first.timestamp_s >= self.block_seconds || now < first.timestamp_s)
        {
            out.extend(self.take());
        }
        if let Some(last) = self.frames.last()
            && now >= last.timestamp_s
            && now - last.timestamp_s < FRAME_SECONDS
        {
            return out;
        }
        let processes = select(all, self.top_n, tracked);
        let mut frame = Frame::from_samples(samples, processes);
        keep_top_groups(&mut frame.groups, self.top_groups);
        self.frames.push(Arc::new(frame));
        if self
            .last_write_s
            .is_none_or(|t| now - t >= UPSERT_SECONDS || now < t)
        {
            out.extend(self.flush());
        }
        out
    }

    /// The open block as it is now (a stall or an event just opened: write
    /// it at once). `None` when nothing is recorded yet.
    pub fn flush(&mut self) -> Option<BlockWrite> {
        let first = self.frames.first()?;
        let last = self.frames.last()?;
        self.last_write_s = Some(last.timestamp_s);
        Some(BlockWrite {
            start_s: first.timestamp_s,
            end_s: last.timestamp_s,
            frames: self.frames.clone(),
        })
    }

    /// Close the open block: its final write, and start a new one.
    pub fn take(&mut self) -> Option<BlockWrite> {
        let block = self.flush();
        self.frames.clear();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::encode::decode_block;

    fn p(pid: u32, score: f64) -> ProcessScore {
        let mut p = ProcessScore::new(pid, 1000 + u64::from(pid), format!("cmd{pid}"), 0.0);
        p.score = score;
        p
    }

    fn samples(t: f64) -> ProcessSamples {
        ProcessSamples {
            timestamp_s: t,
            elapsed_ms: 1.0,
            process_count: 3,
            max_score: 9.0,
            rogues: vec![],
            groups: Vec::new(),
            system: None,
        }
    }

    #[test]
    fn selects_top_n_and_tracked_worst_first() {
        let all = vec![p(1, 1.0), p(2, 9.0), p(3, 5.0), p(4, 0.5)];
        let tracked: HashSet<ProcessKey> = [all[3].key()].into();
        let chosen = select(&all, 2, &tracked);
        let pids: Vec<u32> = chosen.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![2, 3, 4]);
        assert_eq!(select(&all, 10, &HashSet::new()).len(), 4);
        assert!(select(&all, 0, &HashSet::new()).is_empty());
    }

    #[test]
    fn writes_every_five_seconds_and_closes_full_blocks() {
        let mut r = Recorder::with_block_seconds(5, 20.0);
        let all = vec![p(1, 1.0)];
        let none = HashSet::new();
        let mut writes = Vec::new();
        for t in 0..45 {
            for w in r.record(&samples(1000.0 + f64::from(t)), &all, &none) {
                writes.push((f64::from(t), w));
            }
        }
        // First second at once, then every 4 s; blocks of 20 s.
        let times: Vec<f64> = writes.iter().map(|(t, _)| *t).collect();
        assert_eq!(times[..4], [0.0, 4.0, 8.0, 12.0]);
        let starts: HashSet<u64> = writes.iter().map(|(_, w)| w.start_s as u64).collect();
        assert_eq!(starts, [1000, 1020, 1040].into());
        // The closing write of the first block holds all 20 of its seconds.
        let closed = writes
            .iter()
            .rfind(|(_, w)| w.start_s == 1000.0)
            .map(|(_, w)| w.clone());
        let closed = closed.expect("first block");
        assert_eq!((closed.frame_count(), closed.end_s), (20, 1019.0));
        let frames = decode_block(BlockWrite::ENCODING, &closed.encode()).expect("decodes");
        assert_eq!(frames.len(), 20);
        // No gap longer than UPSERT_SECONDS between writes of the open block.
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] <= UPSERT_SECONDS, "{times:?}");
        }
        assert!(r.flush().is_some());
    }

    #[test]
    fn one_frame_per_second() {
        let mut r = Recorder::with_block_seconds(5, 120.0);
        for i in 0..10 {
            r.record(&samples(1000.0 + f64::from(i) * 0.25), &[], &HashSet::new());
        }
        // 1000, 1001, 1002 (2.25 s of samples every 0.25 s).
        assert_eq!(r.open_frames(), 3);
        assert_eq!(r.take().map(|b| b.frame_count()), Some(3));
        assert!(r.flush().is_none());
    }

    #[test]
    fn records_the_worst_groups_of_each_kind_only() {
        use crate::model::GroupKind;
        let base = crate::history::fixture::groups(0);
        let mut groups = Vec::new();
        for kind in [GroupKind::Tree, GroupKind::Cgroup, GroupKind::App] {
            for n in 0..8 {
                let mut g = base[0].clone();
                g.kind = kind;
                g.key = format!("{kind}-{n}");
                groups.push(g);
            }
        }
        let mut s = samples(100.0);
        s.groups = groups;
        let mut r = Recorder::with_block_seconds(5, 20.0).with_top_groups(3);
        r.record(&s, &[], &HashSet::new());
        let frames = r.take().expect("a block").frames;
        let keys: Vec<&str> = frames[0].groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tree-0", "tree-1", "tree-2", "cgroup-0", "cgroup-1", "cgroup-2", "app-0", "app-1",
                "app-2"
            ]
        );
        let mut r = Recorder::with_block_seconds(5, 20.0).with_top_groups(0);
        r.record(&s, &[], &HashSet::new());
        assert!(r.take().expect("a block").frames[0].groups.is_empty());
    }
}
