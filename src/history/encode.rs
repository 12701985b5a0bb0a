//! The block encoding: frames (one per recorded second) in a compact binary
//! layout, command, cgroup and group strings deduplicated per block, the
//! whole block compressed with zstd.
//!
//! Layout of encoding version 2 (before compression), integers as LEB128
//! varints, `zz` = zigzag:
//!
//! ```text
//! block   := metric_count strings frame_count frame*
//! strings := count (len bytes)*
//! frame   := timestamp:f64 elapsed_ms:f64 process_count max_score:f64
//!            extra_len extra_json system groups process_count' process*
//! system  := 0 | parts<<1|1 column_mask zz(delta)* core_count zz(delta)*   (machine.rs)
//! groups  := count (kind key_idx name_idx members band dominant
//!            top_members zz(delta)* value_mask zz(delta)*)*              (machine.rs)
//! process := pid start_time command_idx flags captured_at? state band
//!            dominant priority? cgroup_idx? uid? zz(cpu_time)?
//!            score:f32 disproportionality:f32
//!            shares_mask share:f32* present_mask integral_mask value*
//! value   := zz(delta from this process's previous value in the block)  (fixed)
//!          | f32                                                       (otherwise)
//! ```
//!
//! `flags` says which optional fields follow (`HAS_*`). `cpu_time` is the
//! process's cumulative CPU time in hundredths of a second (htop's TIME+
//! resolution), as a delta from its previous value in the block. Blocks
//! written before `uid` and `cpu_time` existed have neither flag set and
//! read back as `None`.
//!
//! Version 1 had no `system` and `groups` sections: the machine series and
//! the groups were JSON in `extra`. Its blocks still decode (the same
//! reader, without those sections; the JSON is parsed back into the
//! frame's fields).
//!
//! Metric values go through `METRICS` (current values only; ranges dropped),
//! so a new metric needs no change here: blocks record how many metrics they
//! hold and a decoder ignores ones it does not know. Each metric is kept to
//! its unit's resolution (`resolution`: CPU to 0.01 % of a core, per-second
//! counts to 0.01/s, IPC to 0.001, everything else to whole units) as a
//! fixed-point whole number, so a steady value repeats and compresses away;
//! version 1 kept whole numbers exact and fractions at single precision.
//! Scores and shares keep single precision (~7 significant digits). The machine series
//! and the groups are fixed-point at the precision docs/json.md documents
//! (machine.rs). `quantize` is what survives, and decoding an encoded frame
//! returns exactly `quantize(frame)`. Fields of `ProcessSamples` the frame
//! does not hold natively (none today; whatever is added later until it
//! gets a section) are kept as JSON in `extra`.

use super::machine::{self, Previous, quantize_group, quantize_system};
pub use super::wire::DecodeError;
use super::wire::{Reader, Strings, put_f32, put_var, unzz, zz};
use crate::model::{
    Band, GroupScore, METRIC_COUNT, METRICS, MetricValue, ProcessKey, ProcessSamples, ProcessScore,
    ProcessState, Resource, SystemSample, Unit,
};
use std::borrow::Borrow;
use std::collections::HashMap;

/// Version of the layout above (stored beside each block).
pub const ENCODING_VERSION: i64 = 2;
/// The first layout: the machine series and groups as JSON in `extra`.
pub const ENCODING_VERSION_1: i64 = 1;

/// zstd level: 3 is zstd's default; higher levels cost several times the CPU
/// for a few percent (see docs/performance.md).
pub const ZSTD_LEVEL: i32 = 3;

/// One recorded second.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub timestamp_s: f64,
    pub elapsed_ms: f64,
    pub process_count: u32,
    pub max_score: f64,
    /// The recorded processes, worst first.
    pub processes: Vec<ProcessScore>,
    /// The machine series (`None`: the platform reads none, or recorded
    /// before it existed).
    pub system: Option<Box<SystemSample>>,
    /// The sample's top groups, as `ProcessSamples.groups`.
    pub groups: Vec<GroupScore>,
    /// Fields of `ProcessSamples` without a section of their own, as JSON
    /// (and, from a version 1 block, a `system` or `groups` value this build
    /// no longer parses).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Fields of `ProcessSamples` the frame holds natively; a field added to
/// `ProcessSamples` must be added here with its section
/// (`tests::every_sample_field_is_recorded` fails until it is).
#[cfg(test)]
const NATIVE: &[&str] = &[
    "timestamp_s",
    "elapsed_ms",
    "process_count",
    "max_score",
    "rogues",
    "system",
    "groups",
];

impl Frame {
    /// A frame of `samples` recording `processes` (instead of its top list).
    pub fn from_samples(samples: &ProcessSamples, processes: Vec<ProcessScore>) -> Frame {
        Frame {
            timestamp_s: samples.timestamp_s,
            elapsed_ms: samples.elapsed_ms,
            process_count: samples.process_count,
            max_score: samples.max_score,
            processes,
            system: samples.system.clone(),
            groups: samples.groups.clone(),
            extra: serde_json::Map::new(),
        }
    }

    /// A frame of `processes` alone at `timestamp_s` (tests).
    #[cfg(test)]
    pub(crate) fn with_processes(timestamp_s: f64, processes: Vec<ProcessScore>) -> Frame {
        Frame {
            timestamp_s,
            elapsed_ms: 1.0,
            process_count: processes.len() as u32,
            max_score: 0.0,
            processes,
            system: None,
            groups: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// The frame as the sample it was (with extras, parsed back into their
    /// fields: `None` if they no longer fit this build's `ProcessSamples`).
    pub fn to_samples(&self) -> Option<ProcessSamples> {
        let samples = ProcessSamples {
            timestamp_s: self.timestamp_s,
            elapsed_ms: self.elapsed_ms,
            process_count: self.process_count,
            max_score: self.max_score,
            rogues: self.processes.clone(),
            groups: self.groups.clone(),
            system: self.system.clone(),
        };
        if self.extra.is_empty() {
            return Some(samples);
        }
        let serde_json::Value::Object(mut map) = serde_json::to_value(samples).ok()? else {
            return None;
        };
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        serde_json::from_value(serde_json::Value::Object(map)).ok()
    }

    /// A version 1 frame's JSON `system` and `groups` as fields (left in
    /// `extra` when they do not parse).
    fn adopt_v1_extras(&mut self) {
        if let Some(v) = self.extra.remove("system") {
            match serde_json::from_value::<Option<SystemSample>>(v.clone()) {
                Ok(s) => self.system = s.map(Box::new),
                Err(_) => {
                    self.extra.insert("system".into(), v);
                }
            }
        }
        if let Some(v) = self.extra.remove("groups") {
            match serde_json::from_value::<Vec<GroupScore>>(v.clone()) {
                Ok(g) => self.groups = g,
                Err(_) => {
                    self.extra.insert("groups".into(), v);
                }
            }
        }
    }
}

/// Single precision for fractional values; whole numbers stay exact.
/// A metric's recorded resolution, as the multiplier that makes it whole:
/// CPU to 0.01 % of a core, per-second counts to 0.01/s, IPC to 0.001, and
/// every other unit (bytes, bytes/s, counts, ns, ns/s, nJ, nJ/s) to whole
/// units. A recorded value is stored as that whole number (a delta against
/// the process's previous one, so a steady value costs a byte before zstd).
fn resolution(unit: Unit) -> f64 {
    match unit {
        Unit::PercentOfCore | Unit::CountPerSecond => 100.0,
        Unit::Ratio => 1000.0,
        Unit::Bytes
        | Unit::BytesPerSecond
        | Unit::Count
        | Unit::Integer
        | Unit::Nanoseconds
        | Unit::NanosecondsPerSecond
        | Unit::Nanojoules
        | Unit::NanojoulesPerSecond => 1.0,
    }
}

/// `v` in whole steps of `resolution(unit)`, when it fits exactly.
fn fixed(v: f64, unit: Unit) -> Option<i64> {
    let f = (v * resolution(unit)).round();
    is_integral(f).then_some(f as i64)
}

/// What the encoding keeps of metric `i`'s value: its fixed-point value, or
/// single precision when that does not fit.
fn q(i: usize, v: f64) -> f64 {
    let unit = METRICS[i].unit;
    match fixed(v, unit) {
        Some(f) => f as f64 / resolution(unit),
        None => f64::from(v as f32),
    }
}

fn is_integral(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 9.0e15
}

fn qf32(v: f64) -> f64 {
    f64::from(v as f32)
}

/// What the encoding keeps of a process: metric ranges dropped, fractional
/// numbers at single precision.
pub fn quantize_process(p: &ProcessScore) -> ProcessScore {
    let mut out = p.clone();
    for (i, m) in out.metrics_mut().into_iter().enumerate() {
        if let Some(v) = m {
            *m = Some(MetricValue::new(q(i, v.current)));
        }
    }
    out.cpu_time_s = out.cpu_time_s.and_then(centis).map(|c| c as f64 / 100.0);
    out.score = qf32(out.score);
    out.disproportionality = qf32(out.disproportionality);
    for s in [
        &mut out.cpu_share,
        &mut out.gpu_share,
        &mut out.mem_share,
        &mut out.disk_share,
        &mut out.wakeups_share,
    ] {
        *s = s.map(qf32);
    }
    out
}

/// Hundredths of a CPU second beyond any process's (a million years).
const MAX_CENTIS: i64 = 3_200_000_000_000_000;

/// CPU seconds as whole hundredths (`None` for what no process can have
/// spent: negative, not finite, or beyond `MAX_CENTIS`).
fn centis(secs: f64) -> Option<i64> {
    let c = (secs * 100.0).round();
    (c.is_finite() && (0.0..MAX_CENTIS as f64).contains(&c)).then_some(c as i64)
}

/// What the encoding keeps of a frame.
pub fn quantize(frame: &Frame) -> Frame {
    let mut out = frame.clone();
    out.processes = frame.processes.iter().map(quantize_process).collect();
    out.system = frame
        .system
        .as_deref()
        .map(|s| Box::new(quantize_system(s)));
    out.groups = frame.groups.iter().map(quantize_group).collect();
    out
}

fn state_code(s: ProcessState) -> u8 {
    ProcessState::ALL.iter().position(|&x| x == s).unwrap_or(0) as u8
}
fn band_code(b: Band) -> u8 {
    Band::ALL.iter().position(|&x| x == b).unwrap_or(0) as u8
}
fn resource_code(r: Resource) -> u8 {
    Resource::ALL.iter().position(|&x| x == r).unwrap_or(0) as u8
}

/// Flag bits of a process record.
const HAS_CAPTURED_AT: u8 = 1;
const HAS_PRIORITY: u8 = 2;
const HAS_CGROUP: u8 = 4;
const HAS_UID: u8 = 8;
const HAS_CPU_TIME: u8 = 16;

/// Encode frames (uncompressed).
pub fn encode_raw<F: Borrow<Frame>>(frames: &[F]) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut body = Vec::with_capacity(frames.len() * 1024);
    put_var(&mut body, frames.len() as u64);
    let mut prev: HashMap<ProcessKey, [Option<i64>; METRIC_COUNT]> = HashMap::new();
    let mut prev_cpu: HashMap<ProcessKey, i64> = HashMap::new();
    let mut machine_prev = Previous::default();
    for f in frames {
        let f: &Frame = f.borrow();
        body.extend_from_slice(&f.timestamp_s.to_le_bytes());
        body.extend_from_slice(&f.elapsed_ms.to_le_bytes());
        put_var(&mut body, u64::from(f.process_count));
        body.extend_from_slice(&f.max_score.to_le_bytes());
        let extra = if f.extra.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&f.extra).unwrap_or_default()
        };
        put_var(&mut body, extra.len() as u64);
        body.extend_from_slice(extra.as_bytes());
        machine::put_system(&mut body, f.system.as_deref(), &mut machine_prev);
        machine::put_groups(&mut body, &f.groups, &mut strings, &mut machine_prev);
        put_var(&mut body, f.processes.len() as u64);
        for p in &f.processes {
            put_var(&mut body, u64::from(p.pid));
            put_var(&mut body, p.start_time_ms);
            put_var(&mut body, strings.id(&p.command));
            let mut flags = 0u8;
            if p.captured_at_s != f.timestamp_s {
                flags |= HAS_CAPTURED_AT;
            }
            if p.priority.is_some() {
                flags |= HAS_PRIORITY;
            }
            if p.cgroup.is_some() {
                flags |= HAS_CGROUP;
            }
            if p.uid.is_some() {
                flags |= HAS_UID;
            }
            let cpu_time = p.cpu_time_s.and_then(centis);
            if cpu_time.is_some() {
                flags |= HAS_CPU_TIME;
            }
            body.push(flags);
            if flags & HAS_CAPTURED_AT != 0 {
                body.extend_from_slice(&p.captured_at_s.to_le_bytes());
            }
            body.push(state_code(p.state));
            body.push(band_code(p.band));
            body.push(resource_code(p.dominant_resource));
            if let Some(prio) = p.priority {
                put_var(&mut body, zz(i64::from(prio)));
            }
            if let Some(cg) = &p.cgroup {
                put_var(&mut body, strings.id(cg));
            }
            if let Some(uid) = p.uid {
                put_var(&mut body, u64::from(uid));
            }
            if let Some(c) = cpu_time {
                let last = prev_cpu.insert(p.key(), c).unwrap_or(0);
                put_var(&mut body, zz(c.wrapping_sub(last)));
            }
            put_f32(&mut body, p.score);
            put_f32(&mut body, p.disproportionality);
            let shares = [
                p.cpu_share,
                p.gpu_share,
                p.mem_share,
                p.disk_share,
                p.wakeups_share,
            ];
            let mut mask = 0u8;
            for (i, s) in shares.iter().enumerate() {
                if s.is_some() {
                    mask |= 1 << i;
                }
            }
            body.push(mask);
            for s in shares.iter().flatten() {
                put_f32(&mut body, *s);
            }
            let metrics = p.metrics();
            let (mut present, mut integral) = (0u64, 0u64);
            for (i, m) in metrics.iter().enumerate() {
                if let Some(v) = m {
                    present |= 1 << i;
                    if fixed(v.current, METRICS[i].unit).is_some() {
                        integral |= 1 << i;
                    }
                }
            }
            put_var(&mut body, present);
            put_var(&mut body, integral);
            let last = prev.entry(p.key()).or_insert([None; METRIC_COUNT]);
            for (i, m) in metrics.iter().enumerate() {
                let Some(v) = m else { continue };
                if let Some(cur) = fixed(v.current, METRICS[i].unit)
                    && integral & (1 << i) != 0
                {
                    put_var(&mut body, zz(cur.wrapping_sub(last[i].unwrap_or(0))));
                    last[i] = Some(cur);
                } else {
                    put_f32(&mut body, v.current);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(body.len() + strings.list.len() * 16 + 8);
    put_var(&mut out, METRIC_COUNT as u64);
    put_var(&mut out, strings.list.len() as u64);
    for s in &strings.list {
        put_var(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&body);
    out
}

// The masks are u64: at most 64 metrics.
const _: () = assert!(METRIC_COUNT <= 64);

/// Decode frames from `encode_raw`'s output.
pub fn decode_raw(buf: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    decode_raw_version(ENCODING_VERSION, buf)
}

/// Decode frames of layout `version` (1 or 2), uncompressed.
fn decode_raw_version(version: i64, buf: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut r = Reader::new(buf);
    let stored_metrics = r.var_usize(64, "metric count above 64")?;
    let n_strings = r.var_usize(buf.len(), "string count")?;
    let mut strings = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        let len = r.var_usize(buf.len(), "string length")?;
        let bytes = r.bytes(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| r.invalid("string is not UTF-8"))?;
        strings.push(s.to_string());
    }
    let string = |r: &mut Reader<'_>| r.string(&strings);
    let n_frames = r.var_usize(buf.len(), "frame count")?;
    let mut frames = Vec::with_capacity(n_frames);
    let mut prev: HashMap<ProcessKey, [Option<i64>; 64]> = HashMap::new();
    let mut prev_cpu: HashMap<ProcessKey, i64> = HashMap::new();
    let mut machine_prev = Previous::default();
    for _ in 0..n_frames {
        let timestamp_s = r.f64()?;
        let elapsed_ms = r.f64()?;
        let process_count =
            u32::try_from(r.var()?).map_err(|_| r.invalid("process count above u32"))?;
        let max_score = r.f64()?;
        let extra_len = r.var_usize(buf.len(), "extra length")?;
        let extra = if extra_len == 0 {
            serde_json::Map::new()
        } else {
            let bytes = r.bytes(extra_len)?;
            serde_json::from_slice(bytes).map_err(|_| r.invalid("extra is not a JSON object"))?
        };
        let (system, groups) = if version >= 2 {
            let system = machine::read_system(&mut r, &mut machine_prev)?;
            let groups = machine::read_groups(&mut r, &strings, &mut machine_prev)?;
            (system.map(Box::new), groups)
        } else {
            (None, Vec::new())
        };
        let n = r.var_usize(buf.len(), "process count")?;
        let mut processes = Vec::with_capacity(n);
        for _ in 0..n {
            let pid = u32::try_from(r.var()?).map_err(|_| r.invalid("pid above u32"))?;
            let start_time_ms = r.var()?;
            let command = string(&mut r)?;
            let flags = r.u8()?;
            let captured_at_s = if flags & HAS_CAPTURED_AT != 0 {
                r.f64()?
            } else {
                timestamp_s
            };
            let mut p = ProcessScore::new(pid, start_time_ms, command, captured_at_s);
            p.state = *ProcessState::ALL
                .get(usize::from(r.u8()?))
                .ok_or(r.invalid("state"))?;
            p.band = *Band::ALL
                .get(usize::from(r.u8()?))
                .ok_or(r.invalid("band"))?;
            p.dominant_resource = *Resource::ALL
                .get(usize::from(r.u8()?))
                .ok_or(r.invalid("resource"))?;
            if flags & HAS_PRIORITY != 0 {
                p.priority =
                    Some(i32::try_from(unzz(r.var()?)).map_err(|_| r.invalid("priority"))?);
            }
            if flags & HAS_CGROUP != 0 {
                p.cgroup = Some(string(&mut r)?);
            }
            if flags & HAS_UID != 0 {
                p.uid = Some(u32::try_from(r.var()?).map_err(|_| r.invalid("uid above u32"))?);
            }
            if flags & HAS_CPU_TIME != 0 {
                let last = prev_cpu.get(&p.key()).copied().unwrap_or(0);
                let c = last.wrapping_add(unzz(r.var()?));
                if !(0..MAX_CENTIS).contains(&c) {
                    return Err(r.invalid("cpu time"));
                }
                prev_cpu.insert(p.key(), c);
                p.cpu_time_s = Some(c as f64 / 100.0);
            }
            p.score = r.f32()?;
            p.disproportionality = r.f32()?;
            let mask = r.u8()?;
            let mut shares = [None; 5];
            for (i, s) in shares.iter_mut().enumerate() {
                if mask & (1 << i) != 0 {
                    *s = Some(r.f32()?);
                }
            }
            [
                p.cpu_share,
                p.gpu_share,
                p.mem_share,
                p.disk_share,
                p.wakeups_share,
            ] = shares;
            let present = r.var()?;
            let integral = r.var()?;
            let last = prev.entry(p.key()).or_insert([None; 64]);
            let mut values = [None; 64];
            for i in 0..stored_metrics {
                if present & (1 << i) == 0 {
                    continue;
                }
                values[i] = Some(if integral & (1 << i) != 0 {
                    let v = last[i].unwrap_or(0).wrapping_add(unzz(r.var()?));
                    last[i] = Some(v);
                    // Version 1 stored whole numbers only (resolution 1).
                    match METRICS.get(i) {
                        Some(m) if version >= 2 => v as f64 / resolution(m.unit),
                        _ => v as f64,
                    }
                } else {
                    r.f32()?
                });
            }
            for (i, m) in p.metrics_mut().into_iter().enumerate() {
                *m = values[i].map(MetricValue::new);
            }
            processes.push(p);
        }
        let mut frame = Frame {
            timestamp_s,
            elapsed_ms,
            process_count,
            max_score,
            processes,
            system,
            groups,
            extra,
        };
        if version < 2 {
            frame.adopt_v1_extras();
        }
        frames.push(frame);
    }
    if r.at != buf.len() {
        return Err(r.invalid("trailing bytes"));
    }
    Ok(frames)
}

/// Encode and compress a block.
pub fn encode_block<F: Borrow<Frame>>(frames: &[F]) -> Vec<u8> {
    let raw = encode_raw(frames);
    // Compressing an in-memory buffer only fails on allocation failure; keep
    // the data readable (uncompressed frames are not valid zstd, so flag them).
    zstd::bulk::compress(&raw, ZSTD_LEVEL).unwrap_or_else(|_| {
        let mut v = vec![0u8];
        v.extend_from_slice(&raw);
        v
    })
}

/// Decompress and decode a block of encoding `version`.
pub fn decode_block(version: i64, bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    if version != ENCODING_VERSION && version != ENCODING_VERSION_1 {
        return Err(DecodeError::Version(version));
    }
    if let Some((&0, raw)) = bytes.split_first() {
        return decode_raw_version(version, raw);
    }
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .ok_or_else(|| DecodeError::Decompress("not a zstd frame".into()))?;
    // Blocks are a few MB at most; refuse absurd sizes from a damaged header.
    if size > 256 << 20 {
        return Err(DecodeError::Decompress(format!(
            "claims {size} bytes decompressed"
        )));
    }
    let raw = zstd::bulk::decompress(bytes, size as usize)
        .map_err(|e| DecodeError::Decompress(e.to_string()))?;
    decode_raw_version(version, &raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::fixture;
    use crate::model::{
        CpuPercent, DiskRates, GroupKind, GroupMetrics, LoadSample, MemorySample, NetRates,
        PressureSample, PsiSample, StressCause,
    };
    use proptest::prelude::*;

    fn metric_value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            (0u64..1 << 40).prop_map(|v| Some(v as f64)),
            (-1.0e9f64..1.0e9).prop_map(Some),
            (0.0f64..1.0).prop_map(Some),
        ]
    }

    prop_compose! {
        fn process(ts: f64)(
            pid in 0u32..5,
            start in 0u64..3,
            command in prop_oneof![Just("a".to_string()), Just("b\u{1b}[31m;$(x)".to_string()), ".{0,12}"],
            other_time in any::<bool>(),
            values in proptest::collection::vec(metric_value(), METRIC_COUNT),
            state in 0..ProcessState::ALL.len(),
            band in 0..Band::ALL.len(),
            dominant in 0..Resource::ALL.len(),
            priority in proptest::option::of(-20i32..20),
            cgroup in proptest::option::of("/[a-z.]{0,10}"),
            uid in proptest::option::of(any::<u32>()),
            cpu_time in prop_oneof![
                Just(None),
                (0u64..1 << 40).prop_map(|c| Some(c as f64 / 100.0)),
                (0.0f64..1.0e7).prop_map(Some),
            ],
            score in 0.0f64..100.0,
            disp in 0.0f64..50.0,
            shares in proptest::collection::vec(proptest::option::of(0.0f64..1.0), 5),
        ) -> ProcessScore {
            let captured = if other_time { ts - 0.25 } else { ts };
            let mut p = ProcessScore::new(pid, 1_700_000_000_000 + start, command, captured);
            for (m, v) in p.metrics_mut().into_iter().zip(values) {
                *m = v.map(|c| MetricValue { current: c, low: c - 1.0, high: c + 1.0 });
            }
            p.state = ProcessState::ALL[state];
            p.band = Band::ALL[band];
            p.dominant_resource = Resource::ALL[dominant];
            p.priority = priority;
            p.cgroup = cgroup;
            p.uid = uid;
            p.cpu_time_s = cpu_time;
            p.score = score;
            p.disproportionality = disp;
            [p.cpu_share, p.gpu_share, p.mem_share, p.disk_share, p.wakeups_share] =
                [shares[0], shares[1], shares[2], shares[3], shares[4]];
            p
        }
    }

    /// A number on the grid of `scale` (what the collector produces), or
    /// (with `off`) anywhere.
    fn num(max: f64, scale: f64, off: bool) -> BoxedStrategy<f64> {
        if off {
            (0.0..max).boxed()
        } else {
            (0..=(max * scale) as i64)
                .prop_map(move |n| n as f64 / scale)
                .boxed()
        }
    }

    fn cpu_percent(off: bool) -> impl Strategy<Value = CpuPercent> {
        proptest::collection::vec(num(100.0, 10.0, off), 8).prop_map(|v| CpuPercent {
            user: v[0],
            nice: v[1],
            system: v[2],
            iowait: v[3],
            irq: v[4],
            softirq: v[5],
            steal: v[6],
            idle: v[7],
        })
    }

    fn psi(off: bool) -> impl Strategy<Value = PsiSample> {
        (
            proptest::option::of(num(100.0, 100.0, off)),
            proptest::option::of(num(100.0, 100.0, off)),
            proptest::option::of(any::<u64>()),
            proptest::option::of(0u64..1 << 40),
        )
            .prop_map(|(a, b, c, d)| PsiSample {
                some_avg10: a,
                full_avg10: b,
                some_stall_us: c,
                full_stall_us: d,
            })
    }

    /// Every field of the machine series, each present and absent.
    fn system_sample(off: bool) -> impl Strategy<Value = SystemSample> {
        let mem = (
            any::<u64>(),
            proptest::collection::vec(proptest::option::of(any::<u64>()), 5),
        )
            .prop_map(|(total, v)| MemorySample {
                total_bytes: total,
                available_bytes: v[0],
                cached_bytes: v[1],
                dirty_bytes: v[2],
                swap_total_bytes: v[3],
                swap_used_bytes: v[4],
            });
        let pressure = (
            proptest::option::of(psi(off)),
            proptest::option::of(psi(off)),
            proptest::option::of(psi(off)),
        )
            .prop_map(|(cpu, memory, io)| PressureSample { cpu, memory, io });
        let disk = (
            num(1e12, 1.0, off),
            num(1e12, 1.0, off),
            num(1e6, 10.0, off),
            num(1e6, 10.0, off),
        )
            .prop_map(|(a, b, c, d)| DiskRates {
                read_bytes_per_s: a,
                write_bytes_per_s: b,
                reads_per_s: c,
                writes_per_s: d,
            });
        let net = (num(1e11, 1.0, off), num(1e11, 1.0, off)).prop_map(|(a, b)| NetRates {
            rx_bytes_per_s: a,
            tx_bytes_per_s: b,
        });
        let load = (
            num(500.0, 100.0, off),
            num(500.0, 100.0, off),
            num(500.0, 100.0, off),
            proptest::option::of(0u64..100_000),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(one, five, fifteen, runnable, threads)| LoadSample {
                one,
                five,
                fifteen,
                runnable,
                threads,
            });
        let head = (
            proptest::option::of(num(60.0, 1000.0, off)),
            any::<u32>(),
            proptest::option::of(cpu_percent(off)),
            proptest::collection::vec(cpu_percent(off), 0..5),
            proptest::option::of(mem),
            proptest::option::of(pressure),
        );
        let tail = (
            proptest::option::of(disk),
            proptest::option::of(net),
            proptest::option::of(load),
            (any::<u32>(), proptest::option::of(any::<u64>())),
            (any::<u32>(), any::<u32>()),
            num(100.0, 10.0, off),
            0..3usize,
        );
        (head, tail).prop_map(
            |(
                (interval_s, cpu_count, cpu, cores, memory, pressure),
                (disk, net, load, (processes, threads), (running, blocked), stress, cause),
            )| SystemSample {
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
                stress_cause: [
                    StressCause::Process,
                    StressCause::Saturation,
                    StressCause::Pressure,
                ][cause],
            },
        )
    }

    /// Every field of a group; keys from a small set so rows repeat across
    /// frames (the deltas), names hostile.
    fn group(off: bool) -> impl Strategy<Value = GroupScore> {
        let scales = [100.0, 100.0, 1.0, 1.0, 1.0, 100.0, 1.0, 100.0, 1.0];
        let metrics = scales
            .map(|s| proptest::option::of(num(1e9, s, off)))
            .to_vec()
            .prop_map(|m| GroupMetrics {
                cpu: m[0],
                children_cpu: m[1],
                runnable_time_rate: m[2],
                mem: m[3],
                disk_io_rate: m[4],
                wakeups_rate: m[5],
                gpu_time_rate: m[6],
                pageins_rate: m[7],
                threads: m[8],
            });
        (
            (
                0..GroupKind::ALL.len(),
                prop_oneof![
                    Just("a.service".to_string()),
                    Just("1:2".to_string()),
                    "[a-z/]{0,6}"
                ],
                prop_oneof![
                    Just("nginx".to_string()),
                    Just("b\u{1b}[31m;$(x)".to_string()),
                    ".{0,8}"
                ],
                any::<u32>(),
                proptest::collection::vec(any::<u32>(), 0..6),
            ),
            (
                num(100.0, 100.0, off),
                metrics,
                num(100.0, 100.0, off),
                0..Band::ALL.len(),
                0..Resource::ALL.len(),
                proptest::collection::vec(proptest::option::of(num(4.0, 10_000.0, off)), 5),
            ),
        )
            .prop_map(
                |(
                    (kind, key, name, member_count, top_members),
                    (worst, metrics, score, band, dom, sh),
                )| {
                    GroupScore {
                        kind: GroupKind::ALL[kind],
                        key,
                        name,
                        member_count,
                        top_members,
                        worst_member_score: worst,
                        metrics,
                        score,
                        band: Band::ALL[band],
                        dominant_resource: Resource::ALL[dom],
                        cpu_share: sh[0],
                        gpu_share: sh[1],
                        mem_share: sh[2],
                        disk_share: sh[3],
                        wakeups_share: sh[4],
                    }
                },
            )
    }

    fn frame(i: usize, off: bool) -> impl Strategy<Value = Frame> {
        let ts = 1_764_558_000.0 + i as f64;
        (
            proptest::collection::vec(process(ts), 0..6),
            0.0f64..50.0,
            any::<u32>(),
            proptest::option::of(system_sample(off)),
            proptest::collection::vec(group(off), 0..5),
            any::<bool>(),
        )
            .prop_map(
                move |(processes, elapsed, count, system, groups, with_extra)| {
                    let mut extra = serde_json::Map::new();
                    if with_extra {
                        // A field a later build might add to the sample.
                        extra.insert("future".into(), serde_json::json!({"x": [1.5, "y"]}));
                    }
                    Frame {
                        timestamp_s: ts,
                        elapsed_ms: elapsed,
                        process_count: count,
                        max_score: processes.first().map_or(0.0, |p| p.score),
                        processes,
                        system: system.map(Box::new),
                        groups,
                        extra,
                    }
                },
            )
    }

    fn frames_with(off: bool) -> impl Strategy<Value = Vec<Frame>> {
        (0usize..8).prop_flat_map(move |n| (0..n).map(|i| frame(i, off)).collect::<Vec<_>>())
    }

    fn frames() -> impl Strategy<Value = Vec<Frame>> {
        frames_with(false)
    }

    proptest! {
        #[test]
        fn blocks_round_trip_every_kept_field(frames in frames()) {
            let bytes = encode_block(&frames);
            let back = decode_block(ENCODING_VERSION, &bytes).expect("decodes");
            let expected: Vec<Frame> = frames.iter().map(quantize).collect();
            prop_assert_eq!(&back, &expected);
            // What is kept is kept exactly.
            let again = decode_block(ENCODING_VERSION, &encode_block(&back)).expect("decodes");
            prop_assert_eq!(again, back);
        }

        /// The machine series and groups at the precision the collector
        /// produces come back unchanged, field for field.
        #[test]
        fn machine_series_and_groups_on_their_grid_are_exact(frames in frames()) {
            let back = decode_block(ENCODING_VERSION, &encode_block(&frames)).expect("decodes");
            prop_assert_eq!(back.len(), frames.len());
            for (b, f) in back.iter().zip(&frames) {
                prop_assert_eq!(&b.system, &f.system);
                prop_assert_eq!(&b.groups, &f.groups);
                prop_assert_eq!(&b.extra, &f.extra);
            }
        }

        /// Anywhere else they are rounded to that precision, and what is
        /// rounded stays as it is.
        #[test]
        fn off_grid_numbers_round_to_the_documented_precision(frames in frames_with(true)) {
            let back = decode_block(ENCODING_VERSION, &encode_block(&frames)).expect("decodes");
            let expected: Vec<Frame> = frames.iter().map(quantize).collect();
            prop_assert_eq!(&back, &expected);
            for (b, f) in back.iter().zip(&frames) {
                if let (Some(b), Some(f)) = (&b.system, &f.system) {
                    for (x, y) in b.cores.iter().zip(&f.cores) {
                        prop_assert!((x.user - y.user).abs() <= 0.05 + 1e-9);
                    }
                    prop_assert!((b.stress - f.stress).abs() <= 0.05 + 1e-9);
                }
                for (x, y) in b.groups.iter().zip(&f.groups) {
                    prop_assert!((x.score - y.score).abs() <= 0.005 + 1e-9);
                }
            }
            let again = decode_block(ENCODING_VERSION, &encode_block(&back)).expect("decodes");
            prop_assert_eq!(again, back);
        }

        #[test]
        fn damaged_blocks_are_errors_not_panics(frames in frames(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
            let raw = encode_raw(&frames);
            if !raw.is_empty() {
                let at = cut.index(raw.len());
                let _ = decode_raw(&raw[..at]);
                let mut bad = raw.clone();
                bad[at] ^= flip | 1;
                let _ = decode_raw(&bad);
            }
            let mut z = encode_block(&frames);
            let n = z.len();
            z[cut.index(n)] ^= 0x55;
            let _ = decode_block(ENCODING_VERSION, &z);
        }
    }

    #[test]
    fn integral_values_are_exact_and_fractions_kept_to_their_resolution() {
        let mut p = ProcessScore::new(1, 2, "x".into(), 10.0);
        p.mem = Some(MetricValue::new(17_179_869_185.0)); // 16 GiB + 1: beyond f32
        p.cpu = Some(MetricValue::new(12.345_678_9));
        let f = Frame::with_processes(10.0, vec![p]);
        let back = decode_block(ENCODING_VERSION, &encode_block(&[f])).expect("decodes");
        let q = &back[0].processes[0];
        assert_eq!(q.mem.map(|m| m.current), Some(17_179_869_185.0));
        // CPU to 0.01 % of a core.
        assert_eq!(q.cpu.map(|m| m.current), Some(12.35));
    }

    #[test]
    fn a_steady_busy_process_costs_little() {
        // A process holding 97.3 % CPU and 1234.5 faults/s for a minute:
        // its rows repeat, so the block compresses to a few bytes a frame.
        let frame = |t: f64| {
            let mut p = ProcessScore::new(1, 2, "spin".into(), t);
            p.cpu = Some(MetricValue::new(97.3));
            p.faults_rate = Some(MetricValue::new(1234.5));
            p.disk_io_rate = Some(MetricValue::new(4096.25));
            Frame::with_processes(t, vec![p])
        };
        let frames: Vec<Frame> = (0..60).map(|i| frame(f64::from(i))).collect();
        let back = decode_block(ENCODING_VERSION, &encode_block(&frames)).expect("decodes");
        let p = &back[59].processes[0];
        assert_eq!(p.cpu.map(|m| m.current), Some(97.3));
        assert_eq!(p.faults_rate.map(|m| m.current), Some(1234.5));
        assert_eq!(p.disk_io_rate.map(|m| m.current), Some(4096.0));
        assert!(
            encode_block(&frames).len() < 60 * 40,
            "{}",
            encode_block(&frames).len()
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused() {
        assert_eq!(decode_block(99, &[]), Err(DecodeError::Version(99)));
        assert!(decode_block(ENCODING_VERSION, b"not zstd at all").is_err());
        assert!(decode_block(ENCODING_VERSION, &[]).is_err());
    }

    #[test]
    fn samples_round_trip_through_frames() {
        let s = ProcessSamples {
            timestamp_s: 5.0,
            elapsed_ms: 2.0,
            process_count: 9,
            max_score: 3.0,
            rogues: vec![ProcessScore::new(1, 2, "x".into(), 5.0)],
            groups: Vec::new(),
            system: None,
        };
        let f = Frame::from_samples(&s, s.rogues.clone());
        assert!(f.extra.is_empty());
        assert_eq!(f.to_samples(), Some(s));
    }

    fn fixture_samples(i: usize) -> ProcessSamples {
        let ts = fixture::FIXTURE_START + i as f64;
        ProcessSamples {
            timestamp_s: ts,
            elapsed_ms: 2.5,
            process_count: 1100,
            max_score: 30.0,
            rogues: fixture::processes(i, ts),
            groups: fixture::groups(i),
            system: fixture::system(i).map(Box::new),
        }
    }

    /// Every field of `ProcessSamples` has a section (`NATIVE`): a new one
    /// would otherwise not be recorded.
    #[test]
    fn every_sample_field_is_recorded() {
        let s = fixture_samples(1);
        let serde_json::Value::Object(map) = serde_json::to_value(&s).expect("json") else {
            panic!("a sample is an object");
        };
        for key in map.keys() {
            assert!(
                NATIVE.contains(&key.as_str()),
                "ProcessSamples.{key} is not recorded"
            );
        }
        let f = Frame::from_samples(&s, s.rogues.clone());
        assert_eq!(f.to_samples(), Some(s));
    }

    /// A block written by the version 1 encoder (machine series and groups
    /// as JSON) still decodes, into the frame's fields.
    #[test]
    fn version_1_blocks_still_decode() {
        let bytes = include_bytes!("fixtures/block_v1.zst");
        let frames = decode_block(ENCODING_VERSION_1, bytes).expect("a version 1 block decodes");
        assert_eq!(frames.len(), fixture::FIXTURE_FRAMES);
        for (i, f) in frames.iter().enumerate() {
            let s = fixture_samples(i);
            assert_eq!(f.timestamp_s, s.timestamp_s);
            // serde_json's float parsing is not always bit-exact (97.3 + 0.1
            // came back as 97.4): compare at the documented precision.
            let q = |g: &[GroupScore]| g.iter().map(quantize_group).collect::<Vec<_>>();
            assert_eq!(q(&f.groups), q(&s.groups), "frame {i}");
            assert_eq!(f.groups.len(), s.groups.len());
            assert_eq!(
                f.system.as_deref().map(quantize_system),
                s.system.as_deref().map(quantize_system),
                "frame {i}"
            );
            assert!(f.extra.is_empty(), "{:?}", f.extra);
            // Version 1 kept fractional metrics at single precision.
            let v1 = |o: &ProcessScore| {
                let mut p = quantize_process(o);
                for (m, o) in p.metrics_mut().into_iter().zip(o.metrics()) {
                    *m = o.map(|o| {
                        MetricValue::new(if is_integral(o.current) {
                            o.current
                        } else {
                            f64::from(o.current as f32)
                        })
                    });
                }
                p
            };
            let expected: Vec<ProcessScore> = s.rogues.iter().map(v1).collect();
            assert_eq!(f.processes, expected);
        }
        // Read as version 2 it is damage, not a wrong answer.
        assert!(decode_block(ENCODING_VERSION, bytes).is_err());
        // Re-encoded in the current version it reads back as quantized.
        let again = decode_block(ENCODING_VERSION, &encode_block(&frames)).expect("decodes");
        assert_eq!(again, frames.iter().map(quantize).collect::<Vec<_>>());
    }

    /// The machine series and groups cost little next to JSON.
    #[test]
    fn machine_series_and_groups_are_compact() {
        let frames: Vec<Frame> = (0..fixture::FIXTURE_FRAMES)
            .map(|i| {
                let s = fixture_samples(i);
                Frame::from_samples(&s, Vec::new())
            })
            .collect();
        let raw = encode_raw(&frames).len();
        let json: usize = frames
            .iter()
            .map(|f| serde_json::to_vec(&(&f.system, &f.groups)).map_or(0, |v| v.len()))
            .sum();
        assert!(raw * 8 < json, "{raw} bytes encoded against {json} of JSON");
    }
}
