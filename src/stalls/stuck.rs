//! Stuck tasks: processes seen continuously in uninterruptible sleep (`D`)
//! for at least `stuck_seconds`. Pure: each sample's processes in, the
//! processes that became stuck or came unstuck out.

use crate::model::{ProcessKey, ProcessScore, ProcessState};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
struct InD {
    /// Unix seconds it was first seen in `D` (this run).
    since_s: f64,
    command: String,
    reported: bool,
}

/// A process that stayed in `D`.
#[derive(Debug, Clone, PartialEq)]
pub struct StuckTask {
    pub key: ProcessKey,
    pub command: String,
    pub since_s: f64,
    /// When it left `D` (or vanished); `None` while still stuck.
    pub until_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StuckChange {
    Became(StuckTask),
    Ended(StuckTask),
}

#[derive(Debug, Default)]
pub struct StuckTracker {
    stuck_s: f64,
    in_d: HashMap<ProcessKey, InD>,
}

impl StuckTracker {
    pub fn new(stuck_s: f64) -> Self {
        StuckTracker {
            stuck_s,
            in_d: HashMap::new(),
        }
    }

    /// Feed every process of the sample taken at `now_s`.
    pub fn update(&mut self, now_s: f64, processes: &[ProcessScore]) -> Vec<StuckChange> {
        let mut out = Vec::new();
        let mut still = std::collections::HashSet::new();
        for p in processes {
            if p.state != ProcessState::DiskSleep {
                continue;
            }
            let key = p.key();
            still.insert(key);
            let entry = self.in_d.entry(key).or_insert_with(|| InD {
                since_s: now_s,
                command: p.command.clone(),
                reported: false,
            });
            if !entry.reported && now_s - entry.since_s >= self.stuck_s {
                entry.reported = true;
                out.push(StuckChange::Became(StuckTask {
                    key,
                    command: entry.command.clone(),
                    since_s: entry.since_s,
                    until_s: None,
                }));
            }
        }
        let gone: Vec<ProcessKey> = self
            .in_d
            .keys()
            .filter(|k| !still.contains(k))
            .copied()
            .collect();
        for key in gone {
            if let Some(e) = self.in_d.remove(&key)
                && e.reported
            {
                out.push(StuckChange::Ended(StuckTask {
                    key,
                    command: e.command,
                    since_s: e.since_s,
                    until_s: Some(now_s),
                }));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, state: ProcessState) -> ProcessScore {
        let mut p = ProcessScore::new(pid, 1000 + u64::from(pid), format!("cmd{pid}"), 0.0);
        p.state = state;
        p
    }

    #[test]
    fn continuous_d_for_the_threshold_is_stuck_until_it_leaves() {
        let mut t = StuckTracker::new(2.0);
        let d = ProcessState::DiskSleep;
        assert!(
            t.update(0.0, &[p(1, d), p(2, ProcessState::Sleeping)])
                .is_empty()
        );
        assert!(t.update(1.0, &[p(1, d)]).is_empty());
        let c = t.update(2.0, &[p(1, d)]);
        assert!(matches!(&c[..], [StuckChange::Became(s)] if s.key.pid == 1 && s.since_s == 0.0));
        assert!(t.update(3.0, &[p(1, d)]).is_empty(), "reported once");
        let c = t.update(4.0, &[p(1, ProcessState::Sleeping)]);
        assert!(matches!(&c[..], [StuckChange::Ended(s)] if s.until_s == Some(4.0)));
    }

    #[test]
    fn brief_d_states_and_interruptions_are_not_stuck() {
        let mut t = StuckTracker::new(2.0);
        let d = ProcessState::DiskSleep;
        for i in 0..20 {
            let state = if i % 3 == 2 { ProcessState::Running } else { d };
            assert!(t.update(f64::from(i) * 0.5, &[p(7, state)]).is_empty());
        }
    }

    #[test]
    fn a_vanished_stuck_process_ends_and_pid_reuse_is_another_process() {
        let mut t = StuckTracker::new(1.0);
        let d = ProcessState::DiskSleep;
        t.update(0.0, &[p(5, d)]);
        assert_eq!(t.update(1.0, &[p(5, d)]).len(), 1);
        let mut reused = p(5, d);
        reused.start_time_ms = 99_999;
        let c = t.update(2.0, &[reused]);
        assert!(matches!(&c[..], [StuckChange::Ended(s)] if s.key.start_time_ms == 1005));
    }
}
