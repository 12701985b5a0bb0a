//! Scoring: pure functions from a batch of measured processes to scored ones.
//!
//! Pure: no clock, no I/O, no platform. Shares are capacity-aware: a process's
//! use of a resource is measured against what the machine has (CPU against its
//! cores, memory against its RAM, disk and wakeups against what the machine is
//! doing now with a floor), so a lone hog on a quiet machine still scores high.
//! The formula and its calibration are in docs/scoring.md.

use crate::config::{BandsConfig, ScoringConfig};
use crate::model::{Band, ProcessScore, Resource, StressCause, SystemSample};

/// What the machine has, for capacity-aware shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    pub(crate) cpu_count: usize,
    pub(crate) mem_total_bytes: Option<u64>,
}

/// Machine-wide totals of one batch, computed once per sample.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    use_sum: [f64; 5],
    active: [u32; 5],
}

/// Every resource, in `Resource::ALL` (and `index`) order.
pub const RESOURCES: [Resource; 5] = [
    Resource::Cpu,
    Resource::Gpu,
    Resource::Memory,
    Resource::Disk,
    Resource::Wakeups,
];

/// The position of a resource in `Resource::ALL` (and in use arrays).
pub fn index(r: Resource) -> usize {
    match r {
        Resource::Cpu => 0,
        Resource::Gpu => 1,
        Resource::Memory => 2,
        Resource::Disk => 3,
        Resource::Wakeups => 4,
    }
}

/// The raw use of a resource in its natural unit (cpu %, ns/s of GPU, bytes,
/// bytes/s, wakeups/s), if measured. CPU counts the process's own time plus
/// its reaped children's (`children_cpu`, what it spent through children that
/// lived between samples).
pub fn raw_use(p: &ProcessScore, r: Resource) -> Option<f64> {
    if r == Resource::Cpu {
        return cpu_use(p);
    }
    let v = match r {
        Resource::Cpu => &p.cpu,
        Resource::Gpu => &p.gpu_time_rate,
        Resource::Memory => &p.mem,
        Resource::Disk => &p.disk_io_rate,
        Resource::Wakeups => &p.wakeups_rate,
    };
    v.map(|m| m.current.max(0.0))
}

/// CPU demand, percent of one core: time on a CPU (own plus reaped
/// children's) plus time runnable but waiting for one (run-queue delay), so
/// four spinners sharing two cores press as hard as one spinner alone.
fn cpu_use(p: &ProcessScore) -> Option<f64> {
    let own = p.cpu.map(|m| m.current.max(0.0));
    let children = p.children_cpu.map(|m| m.current.max(0.0));
    // ns/s → percent of one core; a process cannot wait on more CPUs than it
    // has threads.
    let waiting = p.runnable_time_rate.map(|m| {
        let w = m.current.max(0.0) / 1e7;
        p.threads.map_or(w, |t| w.min(100.0 * t.current.max(1.0)))
    });
    match (own, children, waiting) {
        (None, None, None) => None,
        (a, b, c) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0) + c.unwrap_or(0.0)),
    }
}

/// The amount of a resource that counts as the whole machine, in the same unit
/// as `raw_use`. `None` when the machine's capacity is unknown.
fn capacity_of(r: Resource, cap: &Capacity, totals: &Totals, cfg: &ScoringConfig) -> Option<f64> {
    match r {
        Resource::Cpu => Some(cap.cpu_count.max(1) as f64 * 100.0),
        Resource::Gpu => Some(cfg.gpu_capacity * 1e9),
        Resource::Memory => cap.mem_total_bytes.filter(|&m| m > 0).map(|m| m as f64),
        Resource::Disk => Some(cfg.disk_capacity_floor.max(totals.use_sum[index(r)])),
        Resource::Wakeups => Some(cfg.wakeups_capacity_floor.max(totals.use_sum[index(r)])),
    }
}

/// The curve: 0 at or below one fair share, `scale × log2(weighted)` above,
/// capped at 100.
pub(crate) fn curve(weighted: f64, scale: f64) -> f64 {
    if weighted.is_nan() || weighted <= 1.0 {
        return 0.0;
    }
    (scale * weighted.log2()).min(100.0)
}

/// Score every process in place: shares, weighted sum, curve, state multiplier,
/// band, dominant resource and disproportionality.
pub(crate) fn score_all(
    procs: &mut [ProcessScore],
    cap: &Capacity,
    cfg: &ScoringConfig,
    bands: &BandsConfig,
) {
    let totals = totals(procs, cfg);
    for p in procs.iter_mut() {
        score_one(p, cap, &totals, cfg, bands);
    }
}

/// The machine's use of each resource this sample (what disk and wakeups
/// capacity are measured against) and how many processes actively use it.
pub fn totals(procs: &[ProcessScore], cfg: &ScoringConfig) -> Totals {
    let mut totals = Totals::default();
    for p in procs {
        for &r in Resource::ALL {
            if let Some(u) = raw_use(p, r) {
                totals.use_sum[index(r)] += u;
                if u >= cfg.active_thresholds.get(r) && u > 0.0 {
                    totals.active[index(r)] += 1;
                }
            }
        }
    }
    totals
}

/// What the formula makes of a set of uses (in `Resource::ALL` order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Rounded to 0.01, `None` where unmeasured.
    pub shares: [Option<f64>; 5],
    pub score: f64,
    pub band: Band,
    pub dominant: Resource,
}

/// The capacity-aware formula over uses in each resource's natural unit, times
/// `multiplier` (the state multiplier; 1 for a group).
pub fn verdict(
    uses: &[Option<f64>; 5],
    multiplier: f64,
    cap: &Capacity,
    totals: &Totals,
    cfg: &ScoringConfig,
    bands: &BandsConfig,
) -> Verdict {
    let mut weighted = 0.0;
    let mut dominant = (Resource::Cpu, 0.0);
    let mut shares = [None; 5];
    for &r in Resource::ALL {
        let share = uses[index(r)]
            .zip(capacity_of(r, cap, totals, cfg))
            .map(|(u, c)| u / c * 100.0 / cfg.fair_share_percent);
        shares[index(r)] = share.map(|s| (s * 100.0).round() / 100.0);
        if let Some(s) = share {
            let w = cfg.weights.get(r) * s;
            weighted += w;
            if w > dominant.1 {
                dominant = (r, w);
            }
        }
    }
    let score = (curve(weighted, cfg.curve_scale) * multiplier * 10.0).round() / 10.0;
    Verdict {
        shares,
        score,
        band: bands.band_for(score),
        dominant: dominant.0,
    }
}

fn score_one(
    p: &mut ProcessScore,
    cap: &Capacity,
    totals: &Totals,
    cfg: &ScoringConfig,
    bands: &BandsConfig,
) {
    let uses = RESOURCES.map(|r| raw_use(p, r));
    let multiplier = cfg.state_multipliers.get(p.state);
    let v = verdict(&uses, multiplier, cap, totals, cfg, bands);
    [
        p.cpu_share,
        p.gpu_share,
        p.mem_share,
        p.disk_share,
        p.wakeups_share,
    ] = v.shares;
    p.score = v.score;
    p.band = v.band;
    p.dominant_resource = v.dominant;
    p.disproportionality = disproportionality(p, v.dominant, totals);
}

/// Use of `r` as a multiple of an even split among the processes actively
/// using it (the seed's fair share). 1.0 = exactly its even part.
fn disproportionality(p: &ProcessScore, r: Resource, totals: &Totals) -> f64 {
    let i = index(r);
    let total = totals.use_sum[i];
    let Some(u) = raw_use(p, r) else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    let even = total / f64::from(totals.active[i].max(1));
    ((u / even) * 100.0).round() / 100.0
}

/// PSI percent at which the pressure part reaches 63 (1 − 1/e of 100).
const PRESSURE_SCALE: f64 = 25.0;

/// CPU saturation, 0-100: 60 × the busy fraction of all cores, plus up to 40
/// for a run queue longer than the cores (runnable threads per core above 1,
/// full at 2 per core). `None` before two CPU readings.
pub fn saturation(sys: &SystemSample) -> Option<f64> {
    let busy = sys.cpu?.busy() / 100.0;
    let cores = f64::from(sys.cpu_count.max(1));
    let queue = sys
        .load
        .and_then(|l| l.runnable.map(|r| r as f64).or(Some(l.one)))
        .map_or(0.0, |q| (q / cores - 1.0).clamp(0.0, 1.0));
    Some((60.0 * busy + 40.0 * queue).clamp(0.0, 100.0))
}

/// Pressure, 0-100: the worst PSI `avg10` over cpu, memory and io (`full`
/// counted double: every task waiting at once), on a saturating curve:
/// 5 % → 18, 10 % → 33, 25 % → 63, 50 % → 86. `None` without PSI.
pub fn pressure(sys: &SystemSample) -> Option<f64> {
    let p = sys.pressure?;
    let worst = [p.cpu, p.memory, p.io]
        .into_iter()
        .flatten()
        .flat_map(|r| [r.some_avg10, r.full_avg10.map(|f| 2.0 * f)])
        .flatten()
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))?;
    Some(100.0 * (1.0 - (-worst.max(0.0) / PRESSURE_SCALE).exp()))
}

/// The headline stress, 0-100: the largest of the worst process's score, the
/// CPU saturation and the pressure (docs/scoring.md), and which one it is.
pub fn machine_stress(sys: &SystemSample, worst_score: f64) -> (f64, StressCause) {
    let mut best = (worst_score.clamp(0.0, 100.0), StressCause::Process);
    for (v, cause) in [
        (saturation(sys), StressCause::Saturation),
        (pressure(sys), StressCause::Pressure),
    ] {
        if let Some(v) = v
            && v > best.0
        {
            best = (v, cause);
        }
    }
    ((best.0 * 10.0).round() / 10.0, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Band, MetricValue, ProcessState};

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn machine() -> Capacity {
        Capacity {
            cpu_count: 2,
            mem_total_bytes: Some((24.0 * GIB) as u64),
        }
    }

    fn proc_with(pid: u32, cpu: f64, mem: f64, disk: f64, wake: f64) -> ProcessScore {
        let mut p = ProcessScore::new(pid, 1, format!("p{pid}"), 0.0);
        p.state = ProcessState::Sleeping;
        p.cpu = Some(MetricValue::new(cpu));
        p.mem = Some(MetricValue::new(mem));
        p.disk_io_rate = Some(MetricValue::new(disk));
        p.wakeups_rate = Some(MetricValue::new(wake));
        p
    }

    fn quiet_background() -> Vec<ProcessScore> {
        (100..160)
            .map(|pid| proc_with(pid, 0.3, 30e6, 0.0, 5.0))
            .collect()
    }

    fn run(mut procs: Vec<ProcessScore>) -> Vec<ProcessScore> {
        let c = Config::default();
        score_all(&mut procs, &machine(), &c.scoring, &c.bands);
        procs.sort_by(|a, b| b.score.total_cmp(&a.score));
        procs
    }

    #[test]
    fn curve_shape() {
        assert_eq!(curve(0.5, 10.0), 0.0);
        assert_eq!(curve(1.0, 10.0), 0.0);
        assert!((curve(50.0, 10.0) - 56.4).abs() < 0.1);
        assert!((curve(200.0, 10.0) - 76.4).abs() < 0.1);
        assert_eq!(curve(1e40, 10.0), 100.0);
        assert_eq!(curve(f64::NAN, 10.0), 0.0);
    }

    #[test]
    fn lone_cpu_spinner_on_quiet_machine_is_high_and_first() {
        let mut procs = quiet_background();
        procs.push(proc_with(1, 100.0, 2e6, 0.0, 1.0));
        let out = run(procs);
        assert_eq!(out[0].pid, 1);
        assert_eq!(out[0].dominant_resource, Resource::Cpu);
        assert!(out[0].band >= Band::High, "{}", out[0].score);
        assert_eq!(out[0].cpu_share, Some(50.0));
    }

    #[test]
    fn memory_hog_is_high() {
        let mut procs = quiet_background();
        procs.push(proc_with(2, 0.0, 0.4 * 24.0 * GIB, 0.0, 0.0));
        let out = run(procs);
        assert_eq!(out[0].pid, 2);
        assert_eq!(out[0].dominant_resource, Resource::Memory);
        assert!(out[0].band >= Band::High, "{}", out[0].score);
    }

    #[test]
    fn lone_disk_writer_saturating_is_elevated_or_more() {
        let mut procs = quiet_background();
        procs.push(proc_with(3, 5.0, 5e6, 200e6, 50.0));
        let out = run(procs);
        assert_eq!(out[0].pid, 3);
        assert_eq!(out[0].dominant_resource, Resource::Disk);
        assert!(out[0].band >= Band::Elevated);
    }

    #[test]
    fn small_writer_under_the_floor_stays_low() {
        let mut procs = quiet_background();
        procs.push(proc_with(4, 0.5, 5e6, 200e3, 5.0));
        let out = run(procs);
        let p = out.iter().find(|p| p.pid == 4).unwrap();
        assert!(p.band <= Band::Low, "{}", p.score);
    }

    #[test]
    fn waker_is_flagged_with_wakeups_dominant() {
        let mut procs = quiet_background();
        procs.push(proc_with(5, 3.0, 3e6, 0.0, 8000.0));
        let out = run(procs);
        assert_eq!(out[0].pid, 5);
        assert_eq!(out[0].dominant_resource, Resource::Wakeups);
        assert!(out[0].band >= Band::Elevated);
    }

    #[test]
    fn quiet_machine_stays_at_or_below_medium() {
        let out = run(quiet_background());
        assert!(out.iter().all(|p| p.band <= Band::Medium));
        assert!(out.iter().all(|p| p.band == Band::Low));
    }

    #[test]
    fn zombies_and_idle_threads_score_zero() {
        let mut z = proc_with(6, 100.0, 0.0, 0.0, 0.0);
        z.state = ProcessState::Zombie;
        let mut i = proc_with(7, 100.0, 0.0, 0.0, 0.0);
        i.state = ProcessState::Idle;
        let out = run(vec![z, i]);
        assert!(out.iter().all(|p| p.score == 0.0 && p.band == Band::Low));
    }

    #[test]
    fn unknown_metrics_give_null_shares_not_zero() {
        let mut p = ProcessScore::new(9, 1, "x".into(), 0.0);
        p.cpu = Some(MetricValue::new(10.0));
        let out = run(vec![p]);
        assert_eq!(out[0].gpu_share, None);
        assert_eq!(out[0].mem_share, None);
        assert_eq!(out[0].cpu_share, Some(5.0));
    }

    #[test]
    fn gpu_share_counts() {
        let mut p = proc_with(10, 1.0, 1e6, 0.0, 0.0);
        p.gpu_time_rate = Some(MetricValue::new(0.8e9));
        let out = run(vec![p]);
        assert_eq!(out[0].dominant_resource, Resource::Gpu);
        assert_eq!(out[0].gpu_share, Some(80.0));
        assert!(out[0].band >= Band::High);
    }

    #[test]
    fn disproportionality_is_multiple_of_even_split() {
        let a = proc_with(1, 90.0, 0.0, 0.0, 0.0);
        let b = proc_with(2, 10.0, 0.0, 0.0, 0.0);
        let out = run(vec![a, b]);
        // even split among two active users is 50%: 90 is 1.8x of it
        assert_eq!(out[0].disproportionality, 1.8);
    }

    #[test]
    fn saturators_on_a_full_machine_rank_at_least_as_high_as_a_lone_spinner() {
        let lone = run(vec![proc_with(1, 100.0, 0.0, 0.0, 0.0)]);
        // Four spinners on two cores: each runs half the time and waits the rest.
        let four: Vec<ProcessScore> = (1..=4)
            .map(|pid| {
                let mut p = proc_with(pid, 50.0, 0.0, 0.0, 0.0);
                p.runnable_time_rate = Some(MetricValue::new(0.5e9));
                p.threads = Some(MetricValue::new(1.0));
                p
            })
            .collect();
        let four = run(four);
        assert!(four.iter().all(|p| p.score >= lone[0].score), "{four:?}");
        assert!(four.iter().all(|p| p.band >= Band::High));
        assert_eq!(four[0].dominant_resource, Resource::Cpu);
        // A single-threaded process waits on at most one CPU.
        let mut odd = proc_with(9, 0.0, 0.0, 0.0, 0.0);
        odd.runnable_time_rate = Some(MetricValue::new(5e9));
        odd.threads = Some(MetricValue::new(1.0));
        assert_eq!(run(vec![odd])[0].cpu_share, Some(50.0));
    }

    #[test]
    fn reaped_children_count_toward_the_cpu_share() {
        let mut shell = proc_with(1, 12.0, 0.0, 0.0, 300.0);
        shell.children_cpu = Some(MetricValue::new(85.0));
        let out = run(vec![shell]);
        assert_eq!(out[0].dominant_resource, Resource::Cpu);
        assert_eq!(out[0].cpu_share, Some(48.5));
        assert!(out[0].band >= Band::High);
    }

    #[test]
    fn more_use_never_scores_less() {
        let mut last = 0.0;
        for cpu in [0.0, 1.0, 5.0, 20.0, 50.0, 100.0, 150.0, 200.0] {
            let out = run(vec![proc_with(1, cpu, 0.0, 0.0, 0.0)]);
            assert!(out[0].score >= last);
            last = out[0].score;
        }
    }

    mod stress {
        use super::super::*;
        use crate::model::{CpuPercent, LoadSample, PressureSample, PsiSample};

        fn machine(busy: f64, runnable: u64, cpu_some: f64) -> SystemSample {
            SystemSample {
                cpu_count: 2,
                cpu: Some(CpuPercent {
                    user: busy,
                    idle: 100.0 - busy,
                    ..CpuPercent::default()
                }),
                load: Some(LoadSample {
                    runnable: Some(runnable),
                    ..LoadSample::default()
                }),
                pressure: Some(PressureSample {
                    cpu: Some(PsiSample {
                        some_avg10: Some(cpu_some),
                        full_avg10: Some(0.0),
                        ..PsiSample::default()
                    }),
                    ..PressureSample::default()
                }),
                ..SystemSample::default()
            }
        }

        #[test]
        fn saturated_machine_reads_higher_than_one_spinner_on_an_idle_one() {
            // One spinner on an idle 2-core machine: half the CPU, the
            // spinner and the monitor runnable, no waiting; the spinner
            // itself scores ~58 (docs/scoring.md).
            let (one, cause) = machine_stress(&machine(50.0, 2, 0.0), 57.7);
            assert_eq!((one, cause), (57.7, StressCause::Process));
            // Four spinners on both cores: all busy, twice the run queue,
            // tasks waiting for CPU most of the time; each spinner alone
            // still scores ~58.
            let (four, cause) = machine_stress(&machine(100.0, 5, 60.0), 57.7);
            assert!(four > one + 20.0, "{four} vs {one}");
            assert_eq!(cause, StressCause::Saturation);
            assert_eq!(four, 100.0);
        }

        #[test]
        fn parts() {
            let idle = machine(2.0, 1, 0.0);
            assert_eq!(saturation(&idle), Some(1.2));
            assert_eq!(pressure(&idle), Some(0.0));
            assert_eq!(machine_stress(&idle, 3.0), (3.0, StressCause::Process));
            // Two busy cores, nobody waiting: 60.
            assert_eq!(saturation(&machine(100.0, 2, 0.0)), Some(60.0));
            // Memory pressure alone, with `full` counted double.
            let mut mem = machine(10.0, 1, 0.0);
            mem.pressure = Some(PressureSample {
                memory: Some(PsiSample {
                    some_avg10: Some(10.0),
                    full_avg10: Some(12.5),
                    ..PsiSample::default()
                }),
                ..PressureSample::default()
            });
            let p = pressure(&mem).unwrap();
            assert!((p - 63.2).abs() < 0.1, "{p}");
            assert_eq!(machine_stress(&mem, 10.0).1, StressCause::Pressure);
            // Nothing measured: the worst score alone.
            let none = SystemSample::default();
            assert_eq!((saturation(&none), pressure(&none)), (None, None));
            assert_eq!(machine_stress(&none, 42.0), (42.0, StressCause::Process));
            // Without a runnable count, the 1-minute load stands in.
            let mut mac = machine(100.0, 0, 0.0);
            mac.load = Some(LoadSample {
                one: 4.0,
                runnable: None,
                ..LoadSample::default()
            });
            assert_eq!(saturation(&mac), Some(100.0));
        }
    }
}
