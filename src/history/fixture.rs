//! Deterministic frames for the encoding's tests: the same machine series,
//! groups and processes that `fixtures/block_v1.zst` was encoded from (by the
//! version 1 encoder, which kept `system` and `groups` as JSON).

use crate::model::{
    Band, CpuPercent, DiskRates, GroupKind, GroupMetrics, GroupScore, LoadSample, MemorySample,
    MetricValue, NetRates, PressureSample, ProcessScore, ProcessState, PsiSample, Resource,
    StressCause, SystemSample,
};

pub(crate) const FIXTURE_START: f64 = 1_764_558_000.0;
pub(crate) const FIXTURE_FRAMES: usize = 4;

fn cpu(i: usize, core: usize) -> CpuPercent {
    let user = (100 + 37 * i + 11 * core) as f64 / 10.0;
    let system = (40 + 3 * i) as f64 / 10.0;
    CpuPercent {
        user,
        nice: 0.0,
        system,
        iowait: 0.4,
        irq: 0.0,
        softirq: 0.1,
        steal: 0.0,
        idle: ((1000.0 - user * 10.0 - system * 10.0 - 5.0).round()) / 10.0,
    }
}

/// The machine at second `i` of the fixture (`None` for the first: a frame
/// without the machine series).
pub(crate) fn system(i: usize) -> Option<SystemSample> {
    if i == 0 {
        return None;
    }
    let psi = |k: u64| PsiSample {
        some_avg10: Some((k * 7 % 300) as f64 / 100.0),
        full_avg10: k.is_multiple_of(2).then_some(0.0),
        some_stall_us: Some(k * 1234),
        full_stall_us: None,
    };
    Some(SystemSample {
        interval_s: Some(1.0 + i as f64 / 1000.0),
        cpu_count: 2,
        cpu: Some(cpu(i, 9)),
        cores: vec![cpu(i, 0), cpu(i, 1)],
        memory: Some(MemorySample {
            total_bytes: 25_769_803_776,
            available_bytes: Some(20_000_000_000 - i as u64 * 4096),
            cached_bytes: Some(9_000_000_000),
            dirty_bytes: Some(i as u64 * 8192),
            swap_total_bytes: Some(0),
            swap_used_bytes: None,
        }),
        pressure: Some(PressureSample {
            cpu: Some(psi(i as u64)),
            memory: Some(psi(2 * i as u64)),
            io: None,
        }),
        disk: Some(DiskRates {
            read_bytes_per_s: 4096.0 * i as f64,
            write_bytes_per_s: 123_456.0,
            reads_per_s: 1.5,
            writes_per_s: 20.3,
        }),
        net: (i != 2).then_some(NetRates {
            rx_bytes_per_s: 1500.0,
            tx_bytes_per_s: 64.0 * i as f64,
        }),
        load: Some(LoadSample {
            one: 1.52,
            five: 0.97,
            fifteen: 0.41,
            runnable: Some(3),
            threads: Some(1456),
        }),
        processes: 1100 + i as u32,
        threads: Some(1456),
        running: 2,
        blocked: u32::from(i == 3),
        stress: 57.3,
        stress_cause: StressCause::Saturation,
    })
}

/// The groups at second `i`.
pub(crate) fn groups(i: usize) -> Vec<GroupScore> {
    let group = |kind: GroupKind, key: &str, name: &str, members: Vec<u32>| GroupScore {
        kind,
        key: key.into(),
        name: name.into(),
        member_count: members.len() as u32 + 3,
        top_members: members,
        worst_member_score: 41.25 + i as f64,
        metrics: GroupMetrics {
            cpu: Some(97.3 + i as f64 / 10.0),
            children_cpu: Some(0.0),
            runnable_time_rate: Some(1.5e6),
            mem: Some(1_073_741_824.0 + i as f64 * 4096.0),
            disk_io_rate: None,
            wakeups_rate: Some(12.5),
            gpu_time_rate: None,
            pageins_rate: Some(0.0),
            threads: Some(9.0),
        },
        score: 57.8,
        band: Band::Elevated,
        dominant_resource: Resource::Cpu,
        cpu_share: Some(0.486),
        gpu_share: None,
        mem_share: Some(0.041),
        disk_share: None,
        wakeups_share: Some(0.002),
    };
    let mut out = vec![
        group(
            GroupKind::Tree,
            "4242:1764557000000",
            "make -j2",
            vec![4243, 4244],
        ),
        group(
            GroupKind::Cgroup,
            "/user.slice/user-1000.slice/session-3.scope",
            "session-3.scope",
            vec![4243, 4244, 4242],
        ),
    ];
    if i % 2 == 1 {
        out.push(group(
            GroupKind::App,
            "/usr/bin/cc\u{1b}[31m",
            "cc\u{1b}[31m;$(x)",
            vec![4244],
        ));
    }
    out
}

/// The processes at second `i`.
pub(crate) fn processes(i: usize, ts: f64) -> Vec<ProcessScore> {
    (0..3u32)
        .map(|k| {
            let mut p = ProcessScore::new(
                4242 + k,
                1_764_557_000_000 + u64::from(k),
                format!("cc -c f{k}.c"),
                ts,
            );
            p.cpu = Some(MetricValue::new(33.3 + f64::from(k) + i as f64));
            p.mem = Some(MetricValue::new(1e8 + f64::from(k) * 4096.0));
            p.threads = Some(MetricValue::new(1.0));
            p.state = ProcessState::ALL[k as usize % ProcessState::ALL.len()];
            p.band = Band::Medium;
            p.cgroup = Some("/user.slice/user-1000.slice/session-3.scope".into());
            p.score = 30.0 - f64::from(k);
            p.cpu_share = Some(0.16);
            p
        })
        .collect()
}
