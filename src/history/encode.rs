//! The block encoding: frames (one per recorded second) in a compact binary
//! layout, command and cgroup strings deduplicated per block, the whole block
//! compressed with zstd.
//!
//! Layout of encoding version 1 (before compression), integers as LEB128
//! varints, `zz` = zigzag:
//!
//! ```text
//! block   := metric_count strings frame_count frame*
//! strings := count (len bytes)*
//! frame   := timestamp:f64 elapsed_ms:f64 process_count max_score:f64
//!            extra_len extra_json process_count' process*
//! process := pid start_time command_idx flags captured_at? state band
//!            dominant priority? cgroup_idx? uid? zz(cpu_time)?
//!            score:f32 disproportionality:f32
//!            shares_mask share:f32* present_mask integral_mask value*
//! value   := zz(delta from this process's previous value in the block)  (integral)
//!          | f32                                                       (otherwise)
//! ```
//!
//! `flags` says which optional fields follow (`HAS_*`). `cpu_time` is the
//! process's cumulative CPU time in hundredths of a second (htop's TIME+
//! resolution), as a delta from its previous value in the block. Blocks
//! written before `uid` and `cpu_time` existed have neither flag set and
//! read back as `None`.
//!
//! Metric values go through `METRICS` (current values only; ranges dropped),
//! so a new metric needs no change here: blocks record how many metrics they
//! hold and a decoder ignores ones it does not know. Whole numbers (byte
//! counts, counters, threads) are exact; fractional values (rates, scores,
//! shares) keep single precision (~7 significant digits): `quantize` is what
//! survives, and decoding an encoded frame returns exactly `quantize(frame)`.
//! Everything in `ProcessSamples` beyond the round's numbers and the processes
//! (`system`, `groups`, whatever is added later) is kept as JSON in `extra`.

use crate::model::{
    Band, METRIC_COUNT, MetricValue, ProcessKey, ProcessSamples, ProcessScore, ProcessState,
    Resource,
};
use std::collections::HashMap;

/// Version of the layout above (stored beside each block).
pub const ENCODING_VERSION: i64 = 1;

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
    /// The rest of `ProcessSamples` (machine series, groups), as JSON.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Fields of `ProcessSamples` the frame holds natively.
const NATIVE: &[&str] = &[
    "timestamp_s",
    "elapsed_ms",
    "process_count",
    "max_score",
    "rogues",
];

impl Frame {
    /// A frame of `samples` recording `processes` (instead of its top list).
    pub fn from_samples(samples: &ProcessSamples, processes: Vec<ProcessScore>) -> Frame {
        let mut extra = match serde_json::to_value(samples) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        for key in NATIVE {
            extra.remove(*key);
        }
        extra.retain(|_, v| !v.is_null());
        Frame {
            timestamp_s: samples.timestamp_s,
            elapsed_ms: samples.elapsed_ms,
            process_count: samples.process_count,
            max_score: samples.max_score,
            processes,
            extra,
        }
    }

    /// The frame as the sample it was (the extras parsed back into their
    /// fields; `None` if they no longer fit this build's `ProcessSamples`).
    pub fn to_samples(&self) -> Option<ProcessSamples> {
        let mut map = self.extra.clone();
        map.insert("timestamp_s".into(), self.timestamp_s.into());
        map.insert("elapsed_ms".into(), self.elapsed_ms.into());
        map.insert("process_count".into(), self.process_count.into());
        map.insert("max_score".into(), self.max_score.into());
        map.insert("rogues".into(), serde_json::to_value(&self.processes).ok()?);
        serde_json::from_value(serde_json::Value::Object(map)).ok()
    }
}

/// Why a block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown encoding version {0}")]
    Version(i64),
    #[error("cannot decompress: {0}")]
    Decompress(String),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("invalid data at byte {at}: {what}")]
    Invalid { at: usize, what: &'static str },
}

/// Single precision for fractional values; whole numbers stay exact.
fn q(v: f64) -> f64 {
    if is_integral(v) {
        v
    } else {
        f64::from(v as f32)
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
    for m in out.metrics_mut() {
        if let Some(v) = m {
            *m = Some(MetricValue::new(q(v.current)));
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
    out
}

// ---- primitive writers / readers ----

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zz(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzz(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }
    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.invalid("varint too long"))
    }
    fn var_usize(&mut self, limit: usize, what: &'static str) -> Result<usize, DecodeError> {
        let v = self.var()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or(self.invalid(what))
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
    fn f32(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(f64::from(f32::from_le_bytes(a)))
    }
    fn invalid(&self, what: &'static str) -> DecodeError {
        DecodeError::Invalid { at: self.at, what }
    }
}

fn put_f32(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&(v as f32).to_le_bytes());
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

/// Strings of one block, each stored once.
#[derive(Default)]
struct Strings {
    index: HashMap<String, u64>,
    list: Vec<String>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u64;
        self.index.insert(s.to_string(), i);
        self.list.push(s.to_string());
        i
    }
}

/// Encode frames (uncompressed).
pub fn encode_raw(frames: &[Frame]) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut body = Vec::with_capacity(frames.len() * 1024);
    put_var(&mut body, frames.len() as u64);
    let mut prev: HashMap<ProcessKey, [Option<i64>; METRIC_COUNT]> = HashMap::new();
    let mut prev_cpu: HashMap<ProcessKey, i64> = HashMap::new();
    for f in frames {
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
                    if is_integral(v.current) {
                        integral |= 1 << i;
                    }
                }
            }
            put_var(&mut body, present);
            put_var(&mut body, integral);
            let last = prev.entry(p.key()).or_insert([None; METRIC_COUNT]);
            for (i, m) in metrics.iter().enumerate() {
                let Some(v) = m else { continue };
                if integral & (1 << i) != 0 {
                    let cur = v.current as i64;
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
    let mut r = Reader { buf, at: 0 };
    let stored_metrics = r.var_usize(64, "metric count above 64")?;
    let n_strings = r.var_usize(buf.len(), "string count")?;
    let mut strings = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        let len = r.var_usize(buf.len(), "string length")?;
        let bytes = r.bytes(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| r.invalid("string is not UTF-8"))?;
        strings.push(s.to_string());
    }
    let string = |r: &mut Reader<'_>| -> Result<String, DecodeError> {
        let i = r.var_usize(usize::MAX, "string index")?;
        strings
            .get(i)
            .cloned()
            .ok_or(r.invalid("string index out of range"))
    };
    let n_frames = r.var_usize(buf.len(), "frame count")?;
    let mut frames = Vec::with_capacity(n_frames);
    let mut prev: HashMap<ProcessKey, [Option<i64>; 64]> = HashMap::new();
    let mut prev_cpu: HashMap<ProcessKey, i64> = HashMap::new();
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
                    v as f64
                } else {
                    r.f32()?
                });
            }
            for (i, m) in p.metrics_mut().into_iter().enumerate() {
                *m = values[i].map(MetricValue::new);
            }
            processes.push(p);
        }
        frames.push(Frame {
            timestamp_s,
            elapsed_ms,
            process_count,
            max_score,
            processes,
            extra,
        });
    }
    if r.at != buf.len() {
        return Err(r.invalid("trailing bytes"));
    }
    Ok(frames)
}

/// Encode and compress a block.
pub fn encode_block(frames: &[Frame]) -> Vec<u8> {
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
    if version != ENCODING_VERSION {
        return Err(DecodeError::Version(version));
    }
    if let Some((&0, raw)) = bytes.split_first() {
        return decode_raw(raw);
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
    decode_raw(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn frame(i: usize) -> impl Strategy<Value = Frame> {
        let ts = 1_764_558_000.0 + i as f64;
        (
            proptest::collection::vec(process(ts), 0..6),
            0.0f64..50.0,
            any::<u32>(),
            any::<bool>(),
        )
            .prop_map(move |(processes, elapsed, count, with_extra)| {
                let mut extra = serde_json::Map::new();
                if with_extra {
                    extra.insert(
                        "system".into(),
                        serde_json::json!({"cpu": {"user": 1.5}, "load": [1.0, 0.5, 0.25]}),
                    );
                    extra.insert("groups".into(), serde_json::json!([{"key": "a.service"}]));
                }
                Frame {
                    timestamp_s: ts,
                    elapsed_ms: elapsed,
                    process_count: count,
                    max_score: processes.first().map_or(0.0, |p| p.score),
                    processes,
                    extra,
                }
            })
    }

    fn frames() -> impl Strategy<Value = Vec<Frame>> {
        (0usize..8).prop_flat_map(|n| (0..n).map(frame).collect::<Vec<_>>())
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
    fn integral_values_are_exact_and_fractions_single_precision() {
        let mut p = ProcessScore::new(1, 2, "x".into(), 10.0);
        p.mem = Some(MetricValue::new(17_179_869_185.0)); // 16 GiB + 1: beyond f32
        p.cpu = Some(MetricValue::new(12.345_678_9));
        let f = Frame {
            timestamp_s: 10.0,
            elapsed_ms: 1.0,
            process_count: 1,
            max_score: 0.0,
            processes: vec![p],
            extra: serde_json::Map::new(),
        };
        let back = decode_block(ENCODING_VERSION, &encode_block(&[f])).expect("decodes");
        let q = &back[0].processes[0];
        assert_eq!(q.mem.map(|m| m.current), Some(17_179_869_185.0));
        let cpu = q.cpu.map_or(0.0, |m| m.current);
        assert!((cpu - 12.345_678_9).abs() < 1e-5, "{cpu}");
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
}
