//! Attribution: over a stall's window, who most likely caused it (holders)
//! and who suffered most (victims). Pure: the scored samples taken across the
//! window in, ranked parties and one verdict line out.
//!
//! Each sample's rates cover the interval since the previous sample, so the
//! first sample after a scheduling stall covers the stall exactly, even though
//! no sample was taken inside it. Amounts are rates × interval, summed over
//! the window's samples.

use crate::format;
use crate::model::{
    ProcessKey, ProcessScore, ProcessState, Stall, StallCause, StallKind, StallParty,
};
use std::collections::HashMap;

/// Parties kept per side.
pub const PARTIES: usize = 5;

#[derive(Debug, Clone, Default)]
struct Acc {
    command: String,
    cpu_s: Option<f64>,
    disk_bytes: Option<f64>,
    mem_first: Option<f64>,
    mem_last: Option<f64>,
    major_faults: Option<f64>,
    run_delay_s: Option<f64>,
    blocked_s: Option<f64>,
}

fn add(slot: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v.filter(|v| v.is_finite() && *v >= 0.0) {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

/// Accumulates what every process did across a stall window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    by_key: HashMap<ProcessKey, Acc>,
    /// Never named: the monitor's own processes.
    exclude: Vec<u32>,
}

impl Window {
    pub fn new(exclude: &[u32]) -> Window {
        Window {
            exclude: exclude.to_vec(),
            ..Window::default()
        }
    }

    /// Add one sample whose rates cover the last `dt_s` seconds.
    pub fn add(&mut self, dt_s: f64, processes: &[ProcessScore]) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        for p in processes {
            if self.exclude.contains(&p.pid) {
                continue;
            }
            let a = self.by_key.entry(p.key()).or_insert_with(|| Acc {
                command: p.command.clone(),
                ..Acc::default()
            });
            let cur = ProcessScore::current;
            add(&mut a.cpu_s, cur(&p.cpu).map(|c| c / 100.0 * dt_s));
            add(&mut a.disk_bytes, cur(&p.disk_io_rate).map(|r| r * dt_s));
            add(&mut a.major_faults, cur(&p.pageins_rate).map(|r| r * dt_s));
            add(
                &mut a.run_delay_s,
                cur(&p.runnable_time_rate).map(|r| r / 1e9 * dt_s),
            );
            if p.state == ProcessState::DiskSleep {
                add(&mut a.blocked_s, Some(dt_s));
            }
            if let Some(m) = cur(&p.mem) {
                a.mem_first.get_or_insert(m);
                a.mem_last = Some(m);
            }
        }
    }

    fn parties(&self, weight: impl Fn(&Acc) -> f64) -> Vec<StallParty> {
        let mut ranked: Vec<(f64, &ProcessKey, &Acc)> = self
            .by_key
            .iter()
            .map(|(k, a)| (weight(a), k, a))
            .filter(|(w, _, _)| w.is_finite() && *w > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        ranked
            .into_iter()
            .take(PARTIES)
            .map(|(_, k, a)| StallParty {
                pid: k.pid,
                start_time_ms: k.start_time_ms,
                command: a.command.clone(),
                cpu_s: a.cpu_s,
                disk_bytes: a.disk_bytes,
                resident_growth_bytes: a.mem_first.zip(a.mem_last).map(|(f, l)| l - f),
                major_faults: a.major_faults,
                run_delay_s: a.run_delay_s,
                blocked_s: a.blocked_s,
            })
            .collect()
    }

    /// Holders for a stall of `kind` (and `cause`, for scheduling stalls):
    /// memory — major faults, resident growth and bytes read back; io —
    /// bytes moved;
    /// cpu and everything else — CPU time.
    pub fn holders(&self, kind: StallKind, cause: Option<StallCause>) -> Vec<StallParty> {
        // Memory: what it faulted in, grew by, and read back from storage
        // (a thrashing process re-reads what reclaim just evicted, mostly as
        // readahead, so its faults undercount it).
        let memory = |a: &Acc| {
            a.major_faults.unwrap_or(0.0) * 4096.0
                + a.mem_first
                    .zip(a.mem_last)
                    .map_or(0.0, |(f, l)| (l - f).max(0.0))
                + a.disk_bytes.unwrap_or(0.0)
        };
        match (kind, cause) {
            (StallKind::Memory, _) | (_, Some(StallCause::BlockedMemory)) => self.parties(memory),
            (StallKind::Io, _) | (StallKind::Stuck, _) | (_, Some(StallCause::BlockedIo)) => {
                self.parties(|a| a.disk_bytes.unwrap_or(0.0))
            }
            _ => self.parties(|a| a.cpu_s.unwrap_or(0.0)),
        }
    }

    /// Victims: time spent waiting to run plus time blocked in `D`.
    pub fn victims(&self) -> Vec<StallParty> {
        self.parties(|a| a.run_delay_s.unwrap_or(0.0) + a.blocked_s.unwrap_or(0.0))
    }
}

/// What a holder did, in a few words, for the verdict.
fn holder_note(kind: StallKind, cause: Option<StallCause>, p: &StallParty) -> String {
    let mut parts = Vec::new();
    let memoryish = kind == StallKind::Memory || cause == Some(StallCause::BlockedMemory);
    if memoryish {
        if let Some(g) = p.resident_growth_bytes.filter(|g| g.abs() >= 1.0) {
            let sign = if g >= 0.0 { "+" } else { "-" };
            parts.push(format!("{sign}{} resident", format::bytes(g.abs())));
        }
        if let Some(f) = p.major_faults.filter(|f| *f >= 1.0) {
            parts.push(format!("{} major faults", format::count(f)));
        }
        if let Some(b) = p.disk_bytes.filter(|b| *b >= 1.0) {
            parts.push(format!("{} read+written", format::bytes(b)));
        }
    } else if matches!(kind, StallKind::Io | StallKind::Stuck) {
        if let Some(b) = p.disk_bytes.filter(|b| *b >= 1.0) {
            parts.push(format!("{} read+written", format::bytes(b)));
        }
    } else if let Some(c) = p.cpu_s.filter(|c| *c > 0.0) {
        parts.push(format!("{c:.1} s of CPU"));
    }
    parts.join(", ")
}

fn victim_note(p: &StallParty) -> String {
    let mut parts = Vec::new();
    if let Some(d) = p.run_delay_s.filter(|d| *d >= 0.001) {
        parts.push(format!("waited {d:.1} s to run"));
    }
    if let Some(b) = p.blocked_s.filter(|b| *b > 0.0) {
        parts.push(format!("{b:.1} s in D"));
    }
    parts.join(", ")
}

fn who(p: &StallParty) -> String {
    format!("pid {} {}", p.pid, format::truncate(&p.command, 60))
}

/// The verdict line of a stall, from its kind, numbers and parties.
pub fn verdict(s: &Stall) -> String {
    let what = match s.kind {
        StallKind::Scheduling => format!(
            "monitor stalled {:.1} s — {}",
            s.duration_s,
            super::clock::cause_text(s.cause.unwrap_or(StallCause::Unknown))
        ),
        StallKind::Memory | StallKind::Io | StallKind::Cpu => format!(
            "stalled {:.1} s — {} pressure ({} {:.0} % of the window, peak {:.0} %)",
            s.duration_s,
            s.kind,
            s.pressure_kind.as_deref().unwrap_or("some"),
            s.window_pressure_pct.unwrap_or(0.0),
            s.peak_pressure_pct.unwrap_or(0.0),
        ),
        StallKind::Stuck => format!(
            "pid {} {} stuck in uninterruptible sleep (D) for {:.1} s",
            s.pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
            format::truncate(s.command.as_deref().unwrap_or(""), 60),
            s.duration_s
        ),
        StallKind::HungTask | StallKind::Lockup | StallKind::OomKill => format!(
            "kernel: {} {}",
            s.kind,
            format::truncate(s.command.as_deref().unwrap_or(""), 80)
        ),
    };
    let mut line = what;
    if s.cause != Some(StallCause::Stopped)
        && let Some(h) = s.holders.first()
    {
        let note = holder_note(s.kind, s.cause, h);
        line.push_str(&format!("; likely cause: {}", who(h)));
        if !note.is_empty() {
            line.push_str(&format!(" ({note})"));
        }
    }
    if let Some(v) = s.victims.first() {
        let note = victim_note(v);
        line.push_str(&format!("; hurt most: {}", who(v)));
        if !note.is_empty() {
            line.push_str(&format!(" ({note})"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricValue;

    fn p(pid: u32, command: &str) -> ProcessScore {
        ProcessScore::new(pid, u64::from(pid) * 10, command.into(), 0.0)
    }

    fn set(m: &mut Option<MetricValue>, v: f64) {
        *m = Some(MetricValue::new(v));
    }

    fn stall(kind: StallKind, cause: Option<StallCause>) -> Stall {
        Stall {
            kind,
            start_s: 0.0,
            end_s: Some(8.4),
            duration_s: 8.4,
            suspended_s: 0.0,
            cause,
            pressure_kind: Some("full".into()),
            peak_pressure_pct: Some(90.0),
            window_pressure_pct: Some(62.0),
            verdict: String::new(),
            holders: Vec::new(),
            victims: Vec::new(),
            pid: None,
            command: None,
        }
    }

    #[test]
    fn cpu_holders_rank_by_cpu_time_over_the_window() {
        let mut w = Window::new(&[]);
        let mut spinner = p(10, "spin");
        set(&mut spinner.cpu, 100.0);
        let mut idle = p(11, "idle");
        set(&mut idle.cpu, 1.0);
        w.add(3.0, &[idle.clone(), spinner.clone()]);
        let h = w.holders(StallKind::Scheduling, Some(StallCause::Starved));
        assert_eq!(h[0].pid, 10);
        assert!((h[0].cpu_s.unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(h[1].pid, 11);
    }

    #[test]
    fn memory_holders_rank_by_faults_and_growth_and_the_monitor_is_never_named() {
        let mut w = Window::new(&[99]);
        let mut reader = p(20, "reader");
        set(&mut reader.pageins_rate, 50_000.0);
        set(&mut reader.mem, 1e9);
        let mut grower = p(21, "grower");
        set(&mut grower.mem, 1e8);
        let mut monitor = p(99, "rogue-hunter daemon");
        set(&mut monitor.pageins_rate, 1e6);
        let mut spinner = p(22, "spin");
        set(&mut spinner.cpu, 100.0);
        w.add(
            1.0,
            &[
                reader.clone(),
                grower.clone(),
                monitor.clone(),
                spinner.clone(),
            ],
        );
        set(&mut grower.mem, 2e8);
        w.add(1.0, &[reader.clone(), grower.clone(), monitor, spinner]);
        let h = w.holders(StallKind::Memory, None);
        let pids: Vec<u32> = h.iter().map(|p| p.pid).collect();
        assert_eq!(
            pids,
            [20, 21],
            "faults first, growth second, spinner not a memory holder"
        );
        assert!((h[0].major_faults.unwrap() - 100_000.0).abs() < 1e-6);
        assert_eq!(h[1].resident_growth_bytes, Some(1e8));
    }

    #[test]
    fn io_holders_rank_by_bytes_and_victims_by_waiting() {
        let mut w = Window::new(&[]);
        let mut writer = p(30, "dd");
        set(&mut writer.disk_io_rate, 50e6);
        let mut waiter = p(31, "Xorg");
        set(&mut waiter.runnable_time_rate, 0.5e9);
        let mut blocked = p(32, "sync");
        blocked.state = ProcessState::DiskSleep;
        w.add(2.0, &[writer, waiter, blocked]);
        assert_eq!(w.holders(StallKind::Io, None)[0].pid, 30);
        let v = w.victims();
        assert_eq!(v.iter().map(|p| p.pid).collect::<Vec<_>>(), [32, 31]);
        assert_eq!(v[0].blocked_s, Some(2.0));
        assert!((v[1].run_delay_s.unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn unmeasured_amounts_stay_null_and_nobody_is_named_for_nothing() {
        let mut w = Window::new(&[]);
        w.add(1.0, &[p(40, "quiet")]);
        assert!(w.holders(StallKind::Cpu, None).is_empty());
        assert!(w.victims().is_empty());
        w.add(0.0, &[p(41, "ignored: no interval")]);
        assert!(!w.by_key.contains_key(&p(41, "").key()));
    }

    #[test]
    fn verdict_names_kind_cause_holder_and_victim() {
        let mut s = stall(StallKind::Memory, None);
        s.holders.push(StallParty {
            pid: 4242,
            start_time_ms: 1,
            command: "chrome".into(),
            cpu_s: None,
            disk_bytes: None,
            resident_growth_bytes: Some(2.1 * 1024.0 * 1024.0 * 1024.0),
            major_faults: Some(81_000.0),
            run_delay_s: None,
            blocked_s: None,
        });
        s.victims.push(StallParty {
            pid: 900,
            start_time_ms: 2,
            command: "Xorg".into(),
            cpu_s: None,
            disk_bytes: None,
            resident_growth_bytes: None,
            major_faults: None,
            run_delay_s: Some(3.1),
            blocked_s: None,
        });
        let v = verdict(&s);
        assert!(
            v.starts_with("stalled 8.4 s — memory pressure (full 62 % of the window"),
            "{v}"
        );
        assert!(
            v.contains("likely cause: pid 4242 chrome (+2.1G resident, 81k major faults)"),
            "{v}"
        );
        assert!(
            v.contains("hurt most: pid 900 Xorg (waited 3.1 s to run)"),
            "{v}"
        );
        let mut stopped = stall(StallKind::Scheduling, Some(StallCause::Stopped));
        stopped.duration_s = 3.0;
        stopped.holders = s.holders.clone();
        let v = verdict(&stopped);
        assert!(
            v.starts_with("monitor stalled 3.0 s — the monitor was stopped"),
            "{v}"
        );
        assert!(
            !v.contains("likely cause"),
            "a stopped monitor has no holder: {v}"
        );
    }
}
