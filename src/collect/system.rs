//! The machine series' rate math: two readings of the machine's counters and
//! the time between them → `SystemSample`. Pure: no clock, no I/O.
//!
//! A counter that went backwards (a reset, a device removed) gives no rate
//! for that interval rather than a huge or negative one. Values are rounded
//! for the recording (percent to 0.1, bytes/s to whole bytes, ops/s to 0.1):
//! the meters cannot show more, and rounded numbers compress far better.

use crate::model::{
    CpuPercent, DiskRates, LoadSample, MemorySample, NetRates, PressureSample, PsiSample,
    SystemSample,
};
use crate::platform::{CpuTimes, PsiTotal, RawMachine};

/// What the process sample counted (the platform's per-process states).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCounts {
    pub processes: u32,
    /// Threads summed over the processes, `None` unless every process
    /// reported its count (then `derive` takes the kernel's, `load.threads`).
    pub threads: Option<u64>,
    pub running: u32,
    pub blocked: u32,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Percent of each kind between two readings of one core (or all cores).
/// `None` when no time passed or a counter went backwards.
pub fn cpu_percent(now: &CpuTimes, prev: &CpuTimes) -> Option<CpuPercent> {
    let d = |a: u64, b: u64| a.checked_sub(b);
    let parts = [
        d(now.user, prev.user)?,
        d(now.nice, prev.nice)?,
        d(now.system, prev.system)?,
        d(now.iowait, prev.iowait)?,
        d(now.irq, prev.irq)?,
        d(now.softirq, prev.softirq)?,
        d(now.steal, prev.steal)?,
        d(now.idle, prev.idle)?,
    ];
    let total: u64 = parts.iter().sum();
    if total == 0 {
        return None;
    }
    let pct = |v: u64| round1(v as f64 * 100.0 / total as f64);
    Some(CpuPercent {
        user: pct(parts[0]),
        nice: pct(parts[1]),
        system: pct(parts[2]),
        iowait: pct(parts[3]),
        irq: pct(parts[4]),
        softirq: pct(parts[5]),
        steal: pct(parts[6]),
        idle: pct(parts[7]),
    })
}

fn psi(now: Option<PsiTotal>, prev: Option<PsiTotal>) -> Option<PsiSample> {
    let now = now?;
    let delta = |n: Option<u64>, p: Option<u64>| n?.checked_sub(p?);
    Some(PsiSample {
        some_avg10: now.some_avg10,
        full_avg10: now.full_avg10,
        some_stall_us: delta(now.some_us, prev.and_then(|p| p.some_us)),
        full_stall_us: delta(now.full_us, prev.and_then(|p| p.full_us)),
    })
}

fn per_s(now: u64, prev: u64, dt: f64) -> Option<f64> {
    now.checked_sub(prev).map(|d| d as f64 / dt)
}

/// The machine between `prev` (read `dt_s` seconds earlier) and `now`.
/// Without `prev` only the gauges are filled (memory, pressure averages,
/// load, counts). The stress is left at 0: `score::machine_stress` sets it.
pub fn derive(
    now: &RawMachine,
    prev: Option<(&RawMachine, f64)>,
    counts: ProcessCounts,
) -> SystemSample {
    let prev = prev.filter(|(_, dt)| dt.is_finite() && *dt > 0.0);
    let cpu = prev.and_then(|(p, _)| cpu_percent(&now.cpu?, &p.cpu?));
    let cores = match prev {
        Some((p, _)) if p.cores.len() == now.cores.len() => now
            .cores
            .iter()
            .zip(&p.cores)
            .map(|(n, p)| cpu_percent(n, p))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let memory = now.mem.and_then(|m| {
        Some(MemorySample {
            total_bytes: m.total?,
            available_bytes: m.available,
            cached_bytes: m.cached,
            dirty_bytes: m.dirty,
            swap_total_bytes: m.swap_total,
            swap_used_bytes: m
                .swap_total
                .zip(m.swap_free)
                .map(|(t, f)| t.saturating_sub(f)),
        })
    });
    let pp = prev.map(|(p, _)| p.psi);
    let pressure = PressureSample {
        cpu: psi(now.psi.cpu, pp.and_then(|p| p.cpu)),
        memory: psi(now.psi.memory, pp.and_then(|p| p.memory)),
        io: psi(now.psi.io, pp.and_then(|p| p.io)),
    };
    let pressure = (pressure.cpu.is_some() || pressure.memory.is_some() || pressure.io.is_some())
        .then_some(pressure);
    let disk = prev.and_then(|(p, dt)| {
        let (n, p) = (now.disk?, p.disk?);
        Some(DiskRates {
            read_bytes_per_s: per_s(n.read_bytes, p.read_bytes, dt)?.round(),
            write_bytes_per_s: per_s(n.write_bytes, p.write_bytes, dt)?.round(),
            reads_per_s: round1(per_s(n.reads, p.reads, dt)?),
            writes_per_s: round1(per_s(n.writes, p.writes, dt)?),
        })
    });
    let net = prev.and_then(|(p, dt)| {
        let (n, p) = (now.net?, p.net?);
        Some(NetRates {
            rx_bytes_per_s: per_s(n.rx_bytes, p.rx_bytes, dt)?.round(),
            tx_bytes_per_s: per_s(n.tx_bytes, p.tx_bytes, dt)?.round(),
        })
    });
    let load = now.load.map(|l| LoadSample {
        one: l.one,
        five: l.five,
        fifteen: l.fifteen,
        runnable: l.running,
        threads: l.threads,
    });
    SystemSample {
        interval_s: prev.map(|(_, dt)| (dt * 1000.0).round() / 1000.0),
        cpu_count: now.cores.len() as u32,
        cpu,
        cores,
        memory,
        pressure,
        disk,
        net,
        load,
        processes: counts.processes,
        threads: counts.threads.or(now.load.and_then(|l| l.threads)),
        running: counts.running,
        blocked: counts.blocked,
        stress: 0.0,
        stress_cause: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{DiskCounters, LoadAvg, MemCounters, NetCounters, PsiTotals};

    fn times(user: u64, system: u64, idle: u64, iowait: u64, steal: u64) -> CpuTimes {
        CpuTimes {
            user,
            system,
            idle,
            iowait,
            steal,
            ..CpuTimes::default()
        }
    }

    fn reading(k: u64) -> RawMachine {
        RawMachine {
            cpu: Some(times(100 * k, 20 * k, 70 * k, 5 * k, 5 * k)),
            cores: vec![
                times(100 * k, 0, 0, 0, 0),
                times(0, 20 * k, 70 * k, 5 * k, 5 * k),
            ],
            mem: Some(MemCounters {
                total: Some(1000),
                available: Some(600),
                cached: Some(300),
                dirty: Some(7),
                swap_total: Some(500),
                swap_free: Some(400),
            }),
            psi: PsiTotals {
                cpu: Some(PsiTotal {
                    some_us: Some(1_000 * k),
                    full_us: None,
                    some_avg10: Some(2.5),
                    full_avg10: None,
                }),
                memory: None,
                io: None,
            },
            disk: Some(DiskCounters {
                read_bytes: 4096 * k,
                write_bytes: 1000 * k,
                reads: 3 * k,
                writes: k,
            }),
            net: Some(NetCounters {
                rx_bytes: 500 * k,
                tx_bytes: 50 * k,
            }),
            load: Some(LoadAvg {
                one: 1.5,
                five: 1.0,
                fifteen: 0.5,
                running: Some(3),
                threads: Some(200),
            }),
        }
    }

    #[test]
    fn rates_between_two_readings() {
        let counts = ProcessCounts {
            processes: 10,
            threads: Some(40),
            running: 2,
            blocked: 1,
        };
        let s = derive(&reading(2), Some((&reading(1), 2.0)), counts);
        assert_eq!(s.interval_s, Some(2.0));
        assert_eq!(s.cpu_count, 2);
        let cpu = s.cpu.unwrap();
        assert_eq!((cpu.user, cpu.system, cpu.idle), (50.0, 10.0, 35.0));
        assert_eq!((cpu.iowait, cpu.steal), (2.5, 2.5));
        assert_eq!(cpu.busy(), 62.5);
        assert_eq!(s.cores.len(), 2);
        assert_eq!(s.cores[0].user, 100.0);
        assert_eq!(s.cores[0].busy(), 100.0);
        assert_eq!(s.cores[1].idle, 70.0);
        let m = s.memory.unwrap();
        assert_eq!(m.used_bytes(), Some(400));
        assert_eq!(m.swap_used_bytes, Some(100));
        let p = s.pressure.unwrap().cpu.unwrap();
        assert_eq!(p.some_avg10, Some(2.5));
        assert_eq!(p.some_stall_us, Some(1000));
        assert_eq!(p.full_stall_us, None);
        let d = s.disk.unwrap();
        assert_eq!((d.read_bytes_per_s, d.writes_per_s), (2048.0, 0.5));
        assert_eq!(s.net.unwrap().rx_bytes_per_s, 250.0);
        assert_eq!(s.load.unwrap().runnable, Some(3));
        assert_eq!(
            (s.processes, s.threads, s.running, s.blocked),
            (10, Some(40), 2, 1)
        );
    }

    #[test]
    fn threads_come_from_the_kernel_when_the_processes_cannot_say() {
        let counts = ProcessCounts {
            processes: 10,
            threads: None,
            running: 1,
            blocked: 0,
        };
        let s = derive(&reading(1), None, counts);
        assert_eq!(s.threads, Some(200), "load.threads");
        let mut no_load = reading(1);
        no_load.load = None;
        assert_eq!(derive(&no_load, None, counts).threads, None);
        let summed = ProcessCounts {
            threads: Some(40),
            ..counts
        };
        assert_eq!(derive(&reading(1), None, summed).threads, Some(40));
    }

    #[test]
    fn first_reading_has_gauges_but_no_rates() {
        let s = derive(&reading(1), None, ProcessCounts::default());
        assert_eq!(s.interval_s, None);
        assert_eq!((s.cpu, s.disk, s.net), (None, None, None));
        assert!(s.cores.is_empty());
        assert_eq!(s.cpu_count, 2);
        assert!(s.memory.is_some() && s.load.is_some());
        let p = s.pressure.unwrap().cpu.unwrap();
        assert_eq!((p.some_avg10, p.some_stall_us), (Some(2.5), None));
    }

    #[test]
    fn counters_going_backwards_give_no_rate() {
        let s = derive(
            &reading(1),
            Some((&reading(2), 1.0)),
            ProcessCounts::default(),
        );
        assert_eq!((s.cpu, s.disk, s.net), (None, None, None));
        assert!(s.cores.is_empty());
        assert_eq!(s.pressure.unwrap().cpu.unwrap().some_stall_us, None);
        // A core went offline: no per-core rates for this interval.
        let mut fewer = reading(1);
        fewer.cores.pop();
        let s = derive(&reading(2), Some((&fewer, 1.0)), ProcessCounts::default());
        assert!(s.cores.is_empty() && s.cpu.is_some());
        // No time passed.
        let s = derive(
            &reading(2),
            Some((&reading(1), 0.0)),
            ProcessCounts::default(),
        );
        assert_eq!(s.interval_s, None);
    }
}
