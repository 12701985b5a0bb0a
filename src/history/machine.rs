//! The machine series and the groups of a frame in the block encoding
//! (version 2 on). Both are numbers at the precision docs/json.md documents,
//! stored as fixed-point whole numbers (zigzag varints) that differ from the
//! previous frame's by little, so zstd finds runs:
//!
//! - **machine series**: fixed columns (`COLUMNS`), each the delta against
//!   the same column in the block's previous frame; each core's eight kinds
//!   against the same core's.
//! - **groups**: one row per group, its key and name in the block's string
//!   table, its numbers as deltas against the same group's previous row.
//!
//! `quantize_system` and `quantize_group` are what survives: decoding returns
//! exactly them. Values already at the documented precision (what the
//! collector produces) survive unchanged.

use super::wire::{
    DecodeError, Reader, Strings, fixed, put_var, quantize_fixed, unfixed, unzz, zz,
};
use crate::model::{
    Band, CpuPercent, DiskRates, GroupKind, GroupMetrics, GroupScore, LoadSample, MemorySample,
    NetRates, PressureSample, PsiSample, Resource, StressCause, SystemSample,
};
use std::collections::HashMap;

/// Percent, operations per second and the stress: to 0.1.
const TENTHS: f64 = 10.0;
/// Load averages and PSI averages (the kernel prints two decimals).
const HUNDREDTHS: f64 = 100.0;
/// `interval_s`: to the millisecond (as the collector rounds it).
const MILLIS: f64 = 1000.0;
/// Bytes, bytes per second, counts.
const WHOLE: f64 = 1.0;

/// Columns of the machine series, in this order: interval; cpu_count; cpu
/// (8 kinds); memory (total, available, cached, dirty, swap total, swap
/// used); pressure cpu, memory, io (some_avg10, full_avg10, some_stall_us,
/// full_stall_us each); disk (read B/s, write B/s, reads/s, writes/s); net
/// (rx, tx); load (one, five, fifteen, runnable, threads); processes,
/// threads, running, blocked, stress, stress_cause.
pub(crate) const COLUMNS: usize = 45;
const KINDS: usize = 8;

// Which optional parts of the sample are present.
const HAS_CPU: u64 = 1;
const HAS_MEMORY: u64 = 1 << 1;
const HAS_PRESSURE: u64 = 1 << 2;
const HAS_PSI: [u64; 3] = [1 << 3, 1 << 4, 1 << 5];
const HAS_DISK: u64 = 1 << 6;
const HAS_NET: u64 = 1 << 7;
const HAS_LOAD: u64 = 1 << 8;

// The masks are u64.
const _: () = assert!(COLUMNS <= 64);

fn kinds(c: &CpuPercent) -> [f64; KINDS] {
    [
        c.user, c.nice, c.system, c.iowait, c.irq, c.softirq, c.steal, c.idle,
    ]
}

fn from_kinds(v: [f64; KINDS]) -> CpuPercent {
    let [user, nice, system, iowait, irq, softirq, steal, idle] = v;
    CpuPercent {
        user,
        nice,
        system,
        iowait,
        irq,
        softirq,
        steal,
        idle,
    }
}

/// Columns being filled, in order.
struct Fill {
    cols: [Option<i64>; COLUMNS],
    n: usize,
}

impl Fill {
    fn push(&mut self, v: Option<i64>) {
        self.cols[self.n] = v;
        self.n += 1;
    }
    fn f(&mut self, v: Option<f64>, scale: f64) {
        self.push(v.map(|v| fixed(v, scale)));
    }
    /// Unsigned whole numbers keep all their bits (as i64, wrapping).
    fn u(&mut self, v: Option<u64>) {
        self.push(v.map(|v| v as i64));
    }
}

/// The sample as columns, and which optional parts it has.
fn columns(s: &SystemSample) -> (u64, [Option<i64>; COLUMNS]) {
    let mut parts = 0;
    let mut c = Fill {
        cols: [None; COLUMNS],
        n: 0,
    };
    c.f(s.interval_s, MILLIS);
    c.u(Some(u64::from(s.cpu_count)));
    if s.cpu.is_some() {
        parts |= HAS_CPU;
    }
    for k in 0..KINDS {
        c.f(s.cpu.as_ref().map(|x| kinds(x)[k]), TENTHS);
    }
    let m = s.memory.as_ref();
    if m.is_some() {
        parts |= HAS_MEMORY;
    }
    c.u(m.map(|m| m.total_bytes));
    c.u(m.and_then(|m| m.available_bytes));
    c.u(m.and_then(|m| m.cached_bytes));
    c.u(m.and_then(|m| m.dirty_bytes));
    c.u(m.and_then(|m| m.swap_total_bytes));
    c.u(m.and_then(|m| m.swap_used_bytes));
    if s.pressure.is_some() {
        parts |= HAS_PRESSURE;
    }
    let psi = s.pressure.as_ref().map(|p| [p.cpu, p.memory, p.io]);
    for (r, bit) in HAS_PSI.iter().enumerate() {
        let one = psi.and_then(|p| p[r]);
        if one.is_some() {
            parts |= bit;
        }
        c.f(one.and_then(|p| p.some_avg10), HUNDREDTHS);
        c.f(one.and_then(|p| p.full_avg10), HUNDREDTHS);
        c.u(one.and_then(|p| p.some_stall_us));
        c.u(one.and_then(|p| p.full_stall_us));
    }
    let d = s.disk.as_ref();
    if d.is_some() {
        parts |= HAS_DISK;
    }
    c.f(d.map(|d| d.read_bytes_per_s), WHOLE);
    c.f(d.map(|d| d.write_bytes_per_s), WHOLE);
    c.f(d.map(|d| d.reads_per_s), TENTHS);
    c.f(d.map(|d| d.writes_per_s), TENTHS);
    let n = s.net.as_ref();
    if n.is_some() {
        parts |= HAS_NET;
    }
    c.f(n.map(|n| n.rx_bytes_per_s), WHOLE);
    c.f(n.map(|n| n.tx_bytes_per_s), WHOLE);
    let l = s.load.as_ref();
    if l.is_some() {
        parts |= HAS_LOAD;
    }
    c.f(l.map(|l| l.one), HUNDREDTHS);
    c.f(l.map(|l| l.five), HUNDREDTHS);
    c.f(l.map(|l| l.fifteen), HUNDREDTHS);
    c.u(l.and_then(|l| l.runnable));
    c.u(l.and_then(|l| l.threads));
    c.u(Some(u64::from(s.processes)));
    c.u(s.threads);
    c.u(Some(u64::from(s.running)));
    c.u(Some(u64::from(s.blocked)));
    c.f(Some(s.stress), TENTHS);
    c.u(Some(stress_code(s.stress_cause)));
    debug_assert_eq!(c.n, COLUMNS);
    (parts, c.cols)
}

fn stress_code(c: StressCause) -> u64 {
    match c {
        StressCause::Process => 0,
        StressCause::Saturation => 1,
        StressCause::Pressure => 2,
    }
}

/// Columns being read back, in order.
struct Take<'a> {
    cols: &'a [Option<i64>; COLUMNS],
    n: usize,
}

impl Take<'_> {
    fn next(&mut self) -> Option<i64> {
        let v = self.cols.get(self.n).copied().flatten();
        self.n += 1;
        v
    }
    fn f(&mut self, scale: f64) -> Option<f64> {
        self.next().map(|v| unfixed(v, scale))
    }
    fn u(&mut self) -> Option<u64> {
        self.next().map(|v| v as u64)
    }
}

/// The sample the columns describe; `Err(what)` names a part that is
/// flagged present but lacks a column it cannot do without.
fn from_columns(
    parts: u64,
    cols: &[Option<i64>; COLUMNS],
    cores: Vec<CpuPercent>,
) -> Result<SystemSample, &'static str> {
    let mut t = Take { cols, n: 0 };
    let need = |v: Option<f64>, what| v.ok_or(what);
    let interval_s = t.f(MILLIS);
    let cpu_count = t
        .u()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("cpu_count")?;
    let mut k = [None; KINDS];
    for v in &mut k {
        *v = t.f(TENTHS);
    }
    let cpu = if parts & HAS_CPU != 0 {
        let mut v = [0.0; KINDS];
        for (out, x) in v.iter_mut().zip(k) {
            *out = need(x, "cpu kind")?;
        }
        Some(from_kinds(v))
    } else {
        None
    };
    let mem = [t.u(), t.u(), t.u(), t.u(), t.u(), t.u()];
    let memory = if parts & HAS_MEMORY != 0 {
        Some(MemorySample {
            total_bytes: mem[0].ok_or("memory total")?,
            available_bytes: mem[1],
            cached_bytes: mem[2],
            dirty_bytes: mem[3],
            swap_total_bytes: mem[4],
            swap_used_bytes: mem[5],
        })
    } else {
        None
    };
    let mut psi = [None; 3];
    for (r, bit) in HAS_PSI.iter().enumerate() {
        let one = PsiSample {
            some_avg10: t.f(HUNDREDTHS),
            full_avg10: t.f(HUNDREDTHS),
            some_stall_us: t.u(),
            full_stall_us: t.u(),
        };
        psi[r] = (parts & bit != 0).then_some(one);
    }
    let pressure = (parts & HAS_PRESSURE != 0).then_some(PressureSample {
        cpu: psi[0],
        memory: psi[1],
        io: psi[2],
    });
    let d = [t.f(WHOLE), t.f(WHOLE), t.f(TENTHS), t.f(TENTHS)];
    let disk = if parts & HAS_DISK != 0 {
        Some(DiskRates {
            read_bytes_per_s: need(d[0], "disk")?,
            write_bytes_per_s: need(d[1], "disk")?,
            reads_per_s: need(d[2], "disk")?,
            writes_per_s: need(d[3], "disk")?,
        })
    } else {
        None
    };
    let n = [t.f(WHOLE), t.f(WHOLE)];
    let net = if parts & HAS_NET != 0 {
        Some(NetRates {
            rx_bytes_per_s: need(n[0], "net")?,
            tx_bytes_per_s: need(n[1], "net")?,
        })
    } else {
        None
    };
    let l = [t.f(HUNDREDTHS), t.f(HUNDREDTHS), t.f(HUNDREDTHS)];
    let (runnable, threads) = (t.u(), t.u());
    let load = if parts & HAS_LOAD != 0 {
        Some(LoadSample {
            one: need(l[0], "load")?,
            five: need(l[1], "load")?,
            fifteen: need(l[2], "load")?,
            runnable,
            threads,
        })
    } else {
        None
    };
    let count = |v: Option<u64>, what| v.and_then(|v| u32::try_from(v).ok()).ok_or(what);
    let processes = count(t.u(), "processes")?;
    let threads = t.u();
    let running = count(t.u(), "running")?;
    let blocked = count(t.u(), "blocked")?;
    let stress = need(t.f(TENTHS), "stress")?;
    let stress_cause = match t.u() {
        Some(0) => StressCause::Process,
        Some(1) => StressCause::Saturation,
        Some(2) => StressCause::Pressure,
        _ => return Err("stress_cause"),
    };
    Ok(SystemSample {
        interval_s,
        cpu_count,
        cpu,
        cores,
        memory,
        pressure,
        disk,
        net,
        load,
        processes,
        threads,
        running,
        blocked,
        stress,
        stress_cause,
    })
}

/// What the encoding keeps of a machine sample.
pub fn quantize_system(s: &SystemSample) -> SystemSample {
    let (parts, cols) = columns(s);
    let cores = s
        .cores
        .iter()
        .map(|c| from_kinds(kinds(c).map(|v| quantize_fixed(v, TENTHS))))
        .collect();
    // Every part `columns` marks present has its columns.
    from_columns(parts, &cols, cores).unwrap_or_else(|_| s.clone())
}

/// What the machine series and groups of the block's previous frames were,
/// for the deltas.
pub(crate) struct Previous {
    columns: [i64; COLUMNS],
    cores: Vec<[i64; KINDS]>,
    groups: HashMap<(u8, u64), GroupPrev>,
}

impl Default for Previous {
    fn default() -> Previous {
        Previous {
            columns: [0; COLUMNS],
            cores: Vec::new(),
            groups: HashMap::new(),
        }
    }
}

#[derive(Default, Clone)]
struct GroupPrev {
    members: Vec<u32>,
    values: [i64; GROUP_VALUES],
}

/// Write a frame's machine series: `0` when it has none, else the parts
/// present (shifted, low bit set), the present columns' mask and deltas,
/// the core count and each core's deltas.
pub(crate) fn put_system(out: &mut Vec<u8>, s: Option<&SystemSample>, prev: &mut Previous) {
    let Some(s) = s else {
        put_var(out, 0);
        return;
    };
    let (parts, cols) = columns(s);
    put_var(out, (parts << 1) | 1);
    let mut mask = 0u64;
    for (i, c) in cols.iter().enumerate() {
        if c.is_some() {
            mask |= 1 << i;
        }
    }
    put_var(out, mask);
    for (i, c) in cols.iter().enumerate() {
        if let Some(v) = c {
            put_var(out, zz(v.wrapping_sub(prev.columns[i])));
            prev.columns[i] = *v;
        }
    }
    put_var(out, s.cores.len() as u64);
    if prev.cores.len() < s.cores.len() {
        prev.cores.resize(s.cores.len(), [0; KINDS]);
    }
    for (core, last) in s.cores.iter().zip(prev.cores.iter_mut()) {
        for (v, l) in kinds(core).iter().zip(last.iter_mut()) {
            let v = fixed(*v, TENTHS);
            put_var(out, zz(v.wrapping_sub(*l)));
            *l = v;
        }
    }
}

/// Read what `put_system` wrote.
pub(crate) fn read_system(
    r: &mut Reader<'_>,
    prev: &mut Previous,
) -> Result<Option<SystemSample>, DecodeError> {
    let head = r.var()?;
    if head == 0 {
        return Ok(None);
    }
    let parts = head >> 1;
    let mask = r.var()?;
    let mut cols = [None; COLUMNS];
    for (i, c) in cols.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            let v = prev.columns[i].wrapping_add(unzz(r.var()?));
            prev.columns[i] = v;
            *c = Some(v);
        }
    }
    // A core is at least eight bytes.
    let n = r.var_usize(r.buf.len() / KINDS, "core count")?;
    if prev.cores.len() < n {
        prev.cores.resize(n, [0; KINDS]);
    }
    let mut cores = Vec::with_capacity(n);
    for last in prev.cores.iter_mut().take(n) {
        let mut v = [0.0; KINDS];
        for (out, l) in v.iter_mut().zip(last.iter_mut()) {
            *l = l.wrapping_add(unzz(r.var()?));
            *out = unfixed(*l, TENTHS);
        }
        cores.push(from_kinds(v));
    }
    from_columns(parts, &cols, cores)
        .map(Some)
        .map_err(|what| r.invalid(what))
}

// ---- groups ----

/// A group row's numbers: worst_member_score, score, the nine metrics, the
/// five shares.
const GROUP_VALUES: usize = 16;
/// Scores to 0.01.
const SCORE: f64 = 100.0;
/// Shares (fractions of capacity) to 0.0001.
const SHARE: f64 = 10_000.0;
/// Per metric, in `GroupMetrics` order: cpu and children_cpu (percent of a
/// core) to 0.01, runnable_time_rate (ns/s) whole, mem (bytes) whole,
/// disk_io_rate (B/s) whole, wakeups_rate (/s) to 0.01, gpu_time_rate (ns/s)
/// whole, pageins_rate (/s) to 0.01, threads whole.
const METRIC_SCALES: [f64; 9] = [100.0, 100.0, 1.0, 1.0, 1.0, 100.0, 1.0, 100.0, 1.0];

fn group_values(g: &GroupScore) -> [Option<f64>; GROUP_VALUES] {
    let m = &g.metrics;
    [
        Some(g.worst_member_score),
        Some(g.score),
        m.cpu,
        m.children_cpu,
        m.runnable_time_rate,
        m.mem,
        m.disk_io_rate,
        m.wakeups_rate,
        m.gpu_time_rate,
        m.pageins_rate,
        m.threads,
        g.cpu_share,
        g.gpu_share,
        g.mem_share,
        g.disk_share,
        g.wakeups_share,
    ]
}

fn group_scale(i: usize) -> f64 {
    match i {
        0 | 1 => SCORE,
        2..=10 => METRIC_SCALES[i - 2],
        _ => SHARE,
    }
}

fn set_group_values(
    g: &mut GroupScore,
    v: [Option<f64>; GROUP_VALUES],
) -> Result<(), &'static str> {
    g.worst_member_score = v[0].ok_or("worst_member_score")?;
    g.score = v[1].ok_or("group score")?;
    g.metrics = GroupMetrics {
        cpu: v[2],
        children_cpu: v[3],
        runnable_time_rate: v[4],
        mem: v[5],
        disk_io_rate: v[6],
        wakeups_rate: v[7],
        gpu_time_rate: v[8],
        pageins_rate: v[9],
        threads: v[10],
    };
    [
        g.cpu_share,
        g.gpu_share,
        g.mem_share,
        g.disk_share,
        g.wakeups_share,
    ] = [v[11], v[12], v[13], v[14], v[15]];
    Ok(())
}

/// What the encoding keeps of a group.
pub fn quantize_group(g: &GroupScore) -> GroupScore {
    let mut out = g.clone();
    let mut v = group_values(g);
    for (i, x) in v.iter_mut().enumerate() {
        *x = x.map(|x| quantize_fixed(x, group_scale(i)));
    }
    // Both scores are present in `v`.
    let _ = set_group_values(&mut out, v);
    out
}

fn kind_code(k: GroupKind) -> u8 {
    GroupKind::ALL.iter().position(|&x| x == k).unwrap_or(0) as u8
}

fn code_of<T: PartialEq + Copy>(all: &[T], v: T) -> u8 {
    all.iter().position(|&x| x == v).unwrap_or(0) as u8
}

/// Write a frame's groups: the count, then per group its kind, key and name
/// (string indices), member count, top members (deltas against the same
/// group's previous list), band, dominant resource, the mask of present
/// numbers and their deltas.
pub(crate) fn put_groups(
    out: &mut Vec<u8>,
    groups: &[GroupScore],
    strings: &mut Strings,
    prev: &mut Previous,
) {
    put_var(out, groups.len() as u64);
    for g in groups {
        let kind = kind_code(g.kind);
        let key = strings.id(&g.key);
        out.push(kind);
        put_var(out, key);
        put_var(out, strings.id(&g.name));
        put_var(out, u64::from(g.member_count));
        out.push(code_of(Band::ALL, g.band));
        out.push(code_of(Resource::ALL, g.dominant_resource));
        let last = prev.groups.entry((kind, key)).or_default();
        put_var(out, g.top_members.len() as u64);
        for (i, &pid) in g.top_members.iter().enumerate() {
            let before = last.members.get(i).copied().unwrap_or(0);
            put_var(out, zz(i64::from(pid) - i64::from(before)));
        }
        last.members.clone_from(&g.top_members);
        let values = group_values(g);
        let mut mask = 0u64;
        for (i, v) in values.iter().enumerate() {
            if v.is_some() {
                mask |= 1 << i;
            }
        }
        put_var(out, mask);
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let n = fixed(*v, group_scale(i));
                put_var(out, zz(n.wrapping_sub(last.values[i])));
                last.values[i] = n;
            }
        }
    }
}

/// Read what `put_groups` wrote.
pub(crate) fn read_groups(
    r: &mut Reader<'_>,
    strings: &[String],
    prev: &mut Previous,
) -> Result<Vec<GroupScore>, DecodeError> {
    // A group is at least eight bytes.
    let n = r.var_usize(r.buf.len() / 8, "group count")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let kind_at = r.u8()?;
        let kind = *GroupKind::ALL
            .get(usize::from(kind_at))
            .ok_or(r.invalid("group kind"))?;
        let key_at = r.var()?;
        let key = strings
            .get(usize::try_from(key_at).unwrap_or(usize::MAX))
            .cloned()
            .ok_or(r.invalid("string index out of range"))?;
        let name = r.string(strings)?;
        let member_count =
            u32::try_from(r.var()?).map_err(|_| r.invalid("member count above u32"))?;
        let band = *Band::ALL
            .get(usize::from(r.u8()?))
            .ok_or(r.invalid("band"))?;
        let dominant_resource = *Resource::ALL
            .get(usize::from(r.u8()?))
            .ok_or(r.invalid("resource"))?;
        let last = prev.groups.entry((kind_at, key_at)).or_default();
        let members = r.var_usize(r.buf.len(), "top member count")?;
        let mut top_members = Vec::with_capacity(members.min(64));
        for i in 0..members {
            let before = last.members.get(i).copied().unwrap_or(0);
            let pid = i64::from(before).wrapping_add(unzz(r.var()?));
            top_members.push(u32::try_from(pid).map_err(|_| r.invalid("member pid"))?);
        }
        last.members.clone_from(&top_members);
        let mask = r.var()?;
        if mask >> GROUP_VALUES != 0 {
            return Err(r.invalid("group value mask"));
        }
        let mut values = [None; GROUP_VALUES];
        for (i, v) in values.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                let n = last.values[i].wrapping_add(unzz(r.var()?));
                last.values[i] = n;
                *v = Some(unfixed(n, group_scale(i)));
            }
        }
        let mut g = GroupScore {
            kind,
            key,
            name,
            member_count,
            top_members,
            worst_member_score: 0.0,
            metrics: GroupMetrics::default(),
            score: 0.0,
            band,
            dominant_resource,
            cpu_share: None,
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
        };
        set_group_values(&mut g, values).map_err(|what| r.invalid(what))?;
        out.push(g);
    }
    Ok(out)
}
