//! Parser for the text report `spindump -i FILE.tailspin -stdout` prints: the
//! header (with I/O statistics), process blocks with threads and frame trees,
//! binary images, and the trailing histograms and aggregate stats. Pure and
//! compiled everywhere; unknown lines are counted, never fatal.

use crate::model::{FrameRecord, ThreadRecord};
use serde::Serialize;

/// A whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SpindumpReport {
    /// `Key: value` lines before the first process, in order (keys may repeat).
    pub(crate) header: Vec<(String, String)>,
    pub(crate) io_statistics: Vec<IoTier>,
    pub(crate) processes: Vec<SpinProcess>,
    pub(crate) histograms: Vec<Histogram>,
    pub(crate) aggregate_stats: Vec<AggregateStats>,
    /// Lines that fit no known shape (skipped).
    pub(crate) unknown_lines: usize,
}

/// One `Overall:` / `TierN:` line of the header's I/O statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct IoTier {
    pub(crate) tier: String,
    pub(crate) ios: Option<u64>,
    pub(crate) ios_per_sec: Option<f64>,
    pub(crate) bytes: Option<u64>,
    pub(crate) bytes_per_sec: Option<f64>,
}

/// `name [pid]` as in `Parent:` or `Responsible:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct NamePid {
    pub(crate) name: String,
    pub(crate) pid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SpinProcess {
    pub(crate) name: String,
    pub(crate) pid: Option<u32>,
    /// Every `Key: value` line of the block, in order (`Note` may repeat).
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
    pub(crate) parent: Option<NamePid>,
    pub(crate) responsible: Option<NamePid>,
    pub(crate) execed_from: Option<NamePid>,
    pub(crate) execed_to: Option<NamePid>,
    /// Footprint at the end of the report, bytes (`A -> B`: B).
    pub(crate) footprint_bytes: Option<u64>,
    pub(crate) cpu_time_s: Option<f64>,
    pub(crate) num_samples: Option<u64>,
    pub(crate) num_threads: Option<u64>,
    pub(crate) ios: Option<u64>,
    pub(crate) threads: Vec<SpinThread>,
    pub(crate) binary_images: Vec<BinaryImage>,
}

impl SpinProcess {
    #[cfg(test)]
    pub(crate) fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SpinThread {
    pub(crate) id: u64,
    pub(crate) dispatch_queue: Option<String>,
    pub(crate) dispatch_queue_id: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) samples: Option<u64>,
    pub(crate) sample_range: Option<(u64, u64)>,
    pub(crate) priority: Option<i64>,
    pub(crate) base_priority: Option<i64>,
    pub(crate) cpu_time_s: Option<f64>,
    pub(crate) ios: Option<u64>,
    pub(crate) io_size: Option<String>,
    /// Parts of the thread line this parser does not know.
    pub(crate) extra: Option<String>,
    /// The frame tree in pre-order (`parent` indexes this list).
    pub(crate) frames: Vec<FrameRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct BinaryImage {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) kernel: bool,
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) uuid: Option<String>,
    pub(crate) path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Histogram {
    /// `IO Size Histogram`, `Tier 0 Latency Histogram`, ...
    pub(crate) title: String,
    pub(crate) rows: Vec<HistogramRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct HistogramRow {
    pub(crate) begin: String,
    /// `None` on the last, open-ended row (`> begin`).
    pub(crate) end: Option<String>,
    pub(crate) frequency: u64,
    pub(crate) cdf: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct AggregateStats {
    /// `Tier 0 Aggregate Stats` → "Tier 0".
    pub(crate) tier: String,
    pub(crate) num_ios: Option<u64>,
    pub(crate) latency_mean_us: Option<f64>,
    pub(crate) max_latency_us: Option<f64>,
    pub(crate) latency_sd_us: Option<f64>,
    pub(crate) reads: Option<u64>,
    pub(crate) read_bytes: Option<u64>,
    pub(crate) writes: Option<u64>,
    pub(crate) write_bytes: Option<u64>,
}

/// Typed view of the header's most useful keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct HeaderSummary {
    pub(crate) date_time: Option<String>,
    pub(crate) end_time: Option<String>,
    pub(crate) os_version: Option<String>,
    pub(crate) architecture: Option<String>,
    pub(crate) report_version: Option<String>,
    pub(crate) hardware_model: Option<String>,
    pub(crate) duration_s: Option<f64>,
    pub(crate) steps: Option<u64>,
    pub(crate) sampling_interval_ms: Option<f64>,
    pub(crate) active_cpus: Option<u64>,
    pub(crate) memory_bytes: Option<u64>,
    pub(crate) time_since_boot_s: Option<f64>,
    pub(crate) total_cpu_time_s: Option<f64>,
    pub(crate) memory_pressure_average: Option<f64>,
    pub(crate) memory_pressure_highest: Option<f64>,
    pub(crate) available_memory_bytes: Option<u64>,
    pub(crate) free_disk_space: Option<String>,
    pub(crate) vnodes_available: Option<String>,
    pub(crate) shared_caches: Vec<String>,
}

impl SpindumpReport {
    pub(crate) fn header_value(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn process(&self, pid: u32) -> Option<&SpinProcess> {
        self.processes.iter().find(|p| p.pid == Some(pid))
    }

    pub(crate) fn summary(&self) -> HeaderSummary {
        let get = |k: &str| self.header_value(k).map(str::to_string);
        let steps = self.header_value("Steps");
        let pressure = self.header_value("Memory pressure");
        HeaderSummary {
            date_time: get("Date/Time"),
            end_time: get("End time"),
            os_version: get("OS Version"),
            architecture: get("Architecture"),
            report_version: get("Report Version"),
            hardware_model: get("Hardware model"),
            duration_s: self.header_value("Duration").and_then(seconds),
            steps: steps.and_then(first_u64),
            sampling_interval_ms: steps.and_then(sampling_interval),
            active_cpus: self.header_value("Active cpus").and_then(first_u64),
            memory_bytes: self.header_value("Memory size").and_then(size_bytes),
            time_since_boot_s: self.header_value("Time Since Boot").and_then(seconds),
            total_cpu_time_s: self.header_value("Total CPU Time").and_then(seconds),
            memory_pressure_average: pressure.and_then(|p| percent_after(p, "average")),
            memory_pressure_highest: pressure.and_then(|p| percent_after(p, "highest")),
            available_memory_bytes: self.header_value("Available memory").and_then(size_bytes),
            free_disk_space: get("Free disk space"),
            vnodes_available: get("Vnodes Available"),
            shared_caches: self
                .header
                .iter()
                .filter(|(k, _)| k == "Shared Cache")
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }
}

/// `341 (10ms sampling interval)` → 10.
fn sampling_interval(steps: &str) -> Option<f64> {
    let inner = steps.split_once('(')?.1;
    let ms = inner.split_whitespace().next()?.strip_suffix("ms")?;
    ms.parse().ok()
}

fn first_u64(s: &str) -> Option<u64> {
    s.split_whitespace().next()?.parse().ok()
}

/// `3.41s`, `276319s`, `17.620s (...)` → seconds.
fn seconds(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.strip_suffix('s')?.parse().ok()
}

/// `average 5%, highest 7%` → the number after `key`.
fn percent_after(s: &str, key: &str) -> Option<f64> {
    let rest = s.split_once(key)?.1.trim_start();
    rest.split(|c: char| c == '%' || c == ',' || c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

/// `128 GB`, `2048 KB`, `100.50 MB` → bytes (binary units).
pub(crate) fn size_bytes(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let first = parts.next()?;
    let (num, unit) = match parts.next() {
        Some(u) => (first, u),
        None => {
            let split = first.find(|c: char| c.is_ascii_alphabetic())?;
            first.split_at(split)
        }
    };
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim_end_matches(',') {
        "B" | "bytes" => 1.0,
        "KB" | "K" | "KiB" => 1024.0,
        "MB" | "M" | "MiB" => 1024.0 * 1024.0,
        "GB" | "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "T" | "TiB" => 1024.0f64.powi(4),
        _ => return None,
    };
    let bytes = n * mult;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes.round() as u64)
}

/// `name [pid]` → name and pid.
pub(crate) fn name_pid(s: &str) -> NamePid {
    let s = s.trim();
    if let Some((name, rest)) = s.rsplit_once(" [")
        && let Some(pid) = rest.strip_suffix(']')
        && let Ok(pid) = pid.trim().parse()
    {
        return NamePid {
            name: name.trim().to_string(),
            pid: Some(pid),
        };
    }
    NamePid {
        name: s.to_string(),
        pid: None,
    }
}

/// A column-0 `Key: value` line (key: letters, digits, spaces, `/`, `-`, `(`,
/// `)`; at most 40 characters).
fn key_value(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (k, v) = line.split_once(':')?;
    let ok = !k.is_empty()
        && k.len() <= 40
        && k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ' ' | '/' | '-' | '(' | ')' | '_' | '.')
        });
    ok.then(|| (k.trim(), v.trim()))
}

/// `1234 IOs (362 IOs/s), 45 MB (13196 KB/s)`.
fn io_tier(tier: &str, v: &str) -> IoTier {
    let (count, size) = v.split_once(',').unwrap_or((v, ""));
    let inner = |s: &str| -> Option<String> {
        let (_, r) = s.split_once('(')?;
        Some(r.split(')').next()?.to_string())
    };
    let count_rate = inner(count).and_then(|r| r.split_whitespace().next()?.parse().ok());
    let size_rate = inner(size).and_then(|r| {
        let mut p = r.split_whitespace();
        let n: f64 = p.next()?.parse().ok()?;
        let unit = p.next()?.trim_end_matches("/s");
        size_bytes(&format!("{n} {unit}")).map(|b| b as f64)
    });
    let size_text = size.split('(').next().unwrap_or("").trim();
    IoTier {
        tier: tier.to_string(),
        ios: first_u64(count),
        ios_per_sec: count_rate,
        bytes: size_bytes(size_text),
        bytes_per_sec: size_rate,
    }
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim().strip_prefix("0x")?, 16).ok()
}

/// If `s` starts with `(`, its balanced group's content and what follows.
fn group(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A quoted string starting at `s` (after the opening quote): ends at the
/// first `"` followed by `(`, whitespace or the end of the line.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' {
            let next = bytes.get(i + 1).copied();
            if next.is_none() || next == Some(b'(') || next.is_some_and(|n| n.is_ascii_whitespace())
            {
                return Some((&s[..i], &s[i + 1..]));
            }
        }
    }
    None
}

/// `Thread 0xHEX` and its optional parts.
fn parse_thread(line: &str) -> Option<SpinThread> {
    let rest = line.trim().strip_prefix("Thread ")?;
    let (id, mut s) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut t = SpinThread {
        id: hex(id)?,
        ..SpinThread::default()
    };
    loop {
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        if let Some(r) = s.strip_prefix("DispatchQueue \"") {
            let (name, r) = quoted(r)?;
            t.dispatch_queue = Some(name.to_string());
            s = r;
            if let Some((n, r)) = group(s) {
                t.dispatch_queue_id = n.trim().parse().ok();
                s = r;
            }
        } else if let Some(r) = s.strip_prefix("Thread name \"") {
            let (name, r) = quoted(r)?;
            t.name = Some(name.to_string());
            s = r;
        } else if let Some(r) = s.strip_prefix("priority ") {
            let (n, r) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            t.priority = n.parse().ok();
            s = r;
            if let Some((inner, r)) = group(s.trim_start()) {
                t.base_priority = inner
                    .trim()
                    .strip_prefix("base ")
                    .and_then(|b| b.trim().parse().ok());
                s = r;
            }
        } else if let Some(r) = s.strip_prefix("cpu time ") {
            let (n, r) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            t.cpu_time_s = n.strip_suffix('s').and_then(|n| n.parse().ok());
            s = r;
            if let Some((_, r)) = group(s.trim_start()) {
                s = r;
            }
        } else if s.starts_with(|c: char| c.is_ascii_digit()) {
            let (n, r) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
            let n: u64 = n.parse().ok()?;
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix("samples") {
                t.samples = Some(n);
                s = r;
                if let Some((range, r)) = group(s.trim_start()) {
                    t.sample_range = range
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
                    s = r;
                }
            } else if let Some(r) = r.strip_prefix("I/Os") {
                t.ios = Some(n);
                s = r;
                if let Some((size, r)) = group(s.trim_start()) {
                    t.io_size = Some(size.to_string());
                    s = r;
                }
            } else {
                t.extra = Some(s.trim().to_string());
                break;
            }
        } else {
            t.extra = Some(s.trim().to_string());
            break;
        }
    }
    Some(t)
}

/// A frame line without its indentation: `[*]COUNT  symbol + off (image +
/// off) [0xADDR] [(state)]`.
pub(crate) fn parse_frame(text: &str) -> Option<FrameRecord> {
    let (kernel, s) = match text.strip_prefix('*') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let count: u64 = s[..n].parse().ok()?;
    let mut rest = s[n..].trim();
    let mut f = FrameRecord {
        kernel,
        samples: Some(count),
        ..FrameRecord::default()
    };
    // The address: the last ` [0xHEX]` (states may contain `[pid]`, never `[0x`).
    let mut search_end = rest.len();
    while let Some(at) = rest[..search_end].rfind("[0x") {
        if let Some(close) = rest[at..].find(']')
            && let Some(addr) = hex(&rest[at + 1..at + close])
        {
            f.address = Some(addr);
            let tail = rest[at + close + 1..].trim();
            if let Some((state, _)) = group(tail) {
                f.state = Some(state.trim().to_string());
            } else if !tail.is_empty() {
                f.state = Some(tail.to_string());
            }
            rest = rest[..at].trim_end();
            break;
        }
        search_end = at;
    }
    // The image group: the last balanced `( ... )` at the end, `image + off`.
    let mut image_offset = None;
    if rest.ends_with(')') {
        let mut depth = 0usize;
        let mut open = None;
        for (i, c) in rest.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        open = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(open) = open {
            let inner = &rest[open + 1..rest.len() - 1];
            if let Some((image, off)) = inner.rsplit_once(" + ")
                && let Ok(off) = off.trim().parse::<u64>()
                && (open == 0 || rest[..open].ends_with(' '))
            {
                f.module = Some(image.trim().to_string());
                image_offset = Some(off);
                rest = rest[..open].trim_end();
            }
        }
    }
    // The symbol, with its offset.
    let (symbol, offset) = match rest.rsplit_once(" + ") {
        Some((sym, off))
            if off.trim().bytes().all(|b| b.is_ascii_digit()) && !off.trim().is_empty() =>
        {
            (sym.trim(), off.trim().parse().ok())
        }
        _ => (rest.trim(), None),
    };
    f.symbol = (!symbol.is_empty() && symbol != "???").then(|| symbol.to_string());
    // Without a symbol, the offset into the image is the useful one.
    f.offset = if f.symbol.is_some() {
        offset
    } else {
        offset.or(image_offset)
    };
    Some(f)
}

/// `0xSTART - 0xEND  name version <UUID> /path`, kernel images prefixed `*`.
fn parse_image(line: &str) -> Option<BinaryImage> {
    let s = line.trim();
    let (kernel, s) = match s.strip_prefix('*') {
        Some(r) => (true, r.trim_start()),
        None => (false, s),
    };
    let (start, rest) = s.split_once(" - ").or_else(|| s.split_once('-'))?;
    let rest = rest.trim_start();
    let (end, rest) = rest.split_once(char::is_whitespace)?;
    let mut img = BinaryImage {
        start: hex(start)?,
        end: hex(end)?,
        kernel,
        ..BinaryImage::default()
    };
    let rest = rest.trim();
    let (before, path) = match (rest.find('<'), rest.find('>')) {
        (Some(a), Some(b)) if a < b => {
            img.uuid = Some(rest[a + 1..b].to_string());
            (rest[..a].trim(), rest[b + 1..].trim())
        }
        _ => match rest.find(" /") {
            Some(i) => (rest[..i].trim(), rest[i..].trim()),
            None => (rest, ""),
        },
    };
    img.path = (!path.is_empty()).then(|| path.to_string());
    // Name and version: a trailing `(...)` is (part of) the version, and so is
    // a number just before it (`hog 1.0 (1)`).
    let mut name = before;
    let mut version = None;
    if name.ends_with(')')
        && let Some(open) = name.rfind('(')
    {
        let paren = &name[open..];
        let head = name[..open].trim_end();
        match head.rsplit_once(' ') {
            Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => {
                version = Some(format!("{v} {paren}"));
                name = n.trim_end();
            }
            _ => {
                version = Some(paren[1..paren.len() - 1].to_string());
                name = head;
            }
        }
    }
    img.name = name.to_string();
    img.version = version;
    Some(img)
}

/// A histogram row: `begin end frequency cdf`, or `> begin frequency cdf`.
fn parse_histogram_row(line: &str) -> Option<HistogramRow> {
    let t = line.trim();
    let (open_ended, t) = match t.strip_prefix('>') {
        Some(r) => (true, r.trim_start()),
        None => (false, t),
    };
    let tokens: Vec<&str> = t.split_whitespace().collect();
    let num = |s: &str| s.trim_end_matches('%').parse::<f64>().ok();
    if open_ended {
        if tokens.len() != 3 {
            return None;
        }
        Some(HistogramRow {
            begin: tokens[0].to_string(),
            end: None,
            frequency: tokens[1].parse().ok()?,
            cdf: num(tokens[2])?,
        })
    } else {
        if tokens.len() != 4 || !tokens[0].starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        Some(HistogramRow {
            begin: tokens[0].to_string(),
            end: Some(tokens[1].to_string()),
            frequency: tokens[2].parse().ok()?,
            cdf: num(tokens[3])?,
        })
    }
}

/// The first token after `key` in `s`, as a number (units like `us` dropped).
fn number_after(s: &str, key: &str) -> Option<f64> {
    let rest = s.split_once(key)?.1.trim_start();
    let tok = rest.split_whitespace().next()?;
    tok.trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .ok()
}

/// `Reads 700 (28000 KB)` → (700, bytes).
fn count_and_size(s: &str, key: &str) -> (Option<u64>, Option<u64>) {
    let Some((_, rest)) = s.split_once(key) else {
        return (None, None);
    };
    let rest = rest.trim_start();
    let count = first_u64(rest);
    let size = rest
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(inner, _)| size_bytes(inner));
    (count, size)
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Header,
    IoStats,
    Process,
    Images,
    Histogram,
    Aggregate,
}

/// Parse a whole report. Never fails: what does not parse is counted in
/// `unknown_lines`.
pub(crate) fn parse(text: &str) -> SpindumpReport {
    let mut r = SpindumpReport::default();
    let mut section = Section::Header;
    // Indentation and index of the frames on the current path.
    let mut path: Vec<(usize, usize)> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();

        if indent == 0 {
            if let Some(v) = line.strip_prefix("Process:") {
                let np = name_pid(v);
                r.processes.push(SpinProcess {
                    name: np.name,
                    pid: np.pid,
                    ..SpinProcess::default()
                });
                section = Section::Process;
                path.clear();
                continue;
            }
            if let Some(title) = line.strip_suffix(':')
                && title.ends_with("Histogram")
            {
                r.histograms.push(Histogram {
                    title: title.to_string(),
                    rows: Vec::new(),
                });
                section = Section::Histogram;
                continue;
            }
            if let Some(title) = line.strip_suffix(':')
                && let Some(tier) = title.strip_suffix("Aggregate Stats")
            {
                r.aggregate_stats.push(AggregateStats {
                    tier: tier.trim().to_string(),
                    ..AggregateStats::default()
                });
                section = Section::Aggregate;
                continue;
            }
        }

        match section {
            Section::Header | Section::IoStats => {
                if indent == 0 && line == "I/O statistics:" {
                    section = Section::IoStats;
                } else if section == Section::IoStats
                    && indent > 0
                    && let Some((tier, v)) = trimmed.split_once(':')
                    && v.contains("IOs")
                {
                    r.io_statistics.push(io_tier(tier.trim(), v.trim()));
                } else if let Some((k, v)) = key_value(line) {
                    section = Section::Header;
                    r.header.push((k.to_string(), v.to_string()));
                } else {
                    r.unknown_lines += 1;
                }
            }
            Section::Process | Section::Images => {
                let Some(p) = r.processes.last_mut() else {
                    r.unknown_lines += 1;
                    continue;
                };
                if trimmed == "Binary Images:" {
                    section = Section::Images;
                } else if section == Section::Images
                    && (trimmed.starts_with("0x") || trimmed.starts_with('*'))
                {
                    match parse_image(trimmed) {
                        Some(img) => p.binary_images.push(img),
                        None => r.unknown_lines += 1,
                    }
                } else if let Some((k, v)) = key_value(line) {
                    section = Section::Process;
                    process_field(p, k, v);
                } else if trimmed.starts_with("Thread 0x") {
                    section = Section::Process;
                    match parse_thread(trimmed) {
                        Some(t) => {
                            p.threads.push(t);
                            path.clear();
                        }
                        None => r.unknown_lines += 1,
                    }
                } else if section == Section::Process
                    && indent > 0
                    && let Some(t) = p.threads.last_mut()
                    && let Some(mut f) = parse_frame(trimmed)
                {
                    while path.last().is_some_and(|&(i, _)| i >= indent) {
                        path.pop();
                    }
                    f.parent = path.last().map(|&(_, idx)| idx);
                    f.depth = path.len() as u32;
                    path.push((indent, t.frames.len()));
                    t.frames.push(f);
                } else {
                    r.unknown_lines += 1;
                }
            }
            Section::Histogram => {
                let is_header = trimmed.starts_with(|c: char| c.is_ascii_alphabetic());
                match (
                    is_header,
                    parse_histogram_row(trimmed),
                    r.histograms.last_mut(),
                ) {
                    (true, _, _) => {}
                    (false, Some(row), Some(h)) => h.rows.push(row),
                    _ => r.unknown_lines += 1,
                }
            }
            Section::Aggregate => {
                let Some(a) = r.aggregate_stats.last_mut() else {
                    r.unknown_lines += 1;
                    continue;
                };
                if trimmed.starts_with("Num IOs") {
                    a.num_ios = number_after(trimmed, "Num IOs").map(|n| n as u64);
                    a.latency_mean_us = number_after(trimmed, "Latency Mean");
                    a.max_latency_us = number_after(trimmed, "Max Latency");
                    a.latency_sd_us = number_after(trimmed, "Latency SD");
                } else if trimmed.starts_with("Reads") {
                    (a.reads, a.read_bytes) = count_and_size(trimmed, "Reads");
                    (a.writes, a.write_bytes) = count_and_size(trimmed, "Writes");
                } else {
                    r.unknown_lines += 1;
                }
            }
        }
    }
    r
}

fn process_field(p: &mut SpinProcess, k: &str, v: &str) {
    match k {
        "Note" => p.notes.push(v.to_string()),
        "Parent" => p.parent = Some(name_pid(v)),
        "Responsible" => p.responsible = Some(name_pid(v)),
        "Execed from" => p.execed_from = Some(name_pid(v)),
        "Execed to" => p.execed_to = Some(name_pid(v)),
        "Footprint" => {
            let last = v.rsplit_once("->").map_or(v, |(_, b)| b);
            let last = last.split('(').next().unwrap_or(last);
            p.footprint_bytes = size_bytes(last.trim());
        }
        "CPU Time" => p.cpu_time_s = seconds(v),
        "Num samples" => p.num_samples = first_u64(v),
        "Num threads" => p.num_threads = first_u64(v),
        "I/O" => p.ios = first_u64(v),
        _ => {}
    }
    p.fields.push((k.to_string(), v.to_string()));
}

/// The culprit's threads as capture records (frames kept as the tree).
pub(crate) fn thread_records(p: &SpinProcess) -> Vec<ThreadRecord> {
    p.threads
        .iter()
        .map(|t| {
            let hottest = super::hottest_path(&t.frames);
            let state = hottest
                .last()
                .and_then(|&i| t.frames.get(i))
                .and_then(|f| f.state.clone());
            ThreadRecord {
                pid: p.pid,
                tid: t.id,
                name: t.name.clone().or_else(|| t.dispatch_queue.clone()),
                state,
                wchan: None,
                cpu_time: t.cpu_time_s,
                samples: t.samples,
                priority: t.priority,
                kernel_stack: None,
                frames: t.frames.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = include_str!("fixtures/spindump_report.txt");

    #[test]
    fn header_keys_and_summary() {
        let r = parse(REPORT);
        assert_eq!(
            r.header_value("OS Version"),
            Some("macOS 26.2 (Build 25C56)")
        );
        let s = r.summary();
        assert_eq!(s.duration_s, Some(3.41));
        assert_eq!(s.steps, Some(341));
        assert_eq!(s.sampling_interval_ms, Some(10.0));
        assert_eq!(s.active_cpus, Some(16));
        assert_eq!(s.memory_bytes, Some(128 << 30));
        assert_eq!(s.time_since_boot_s, Some(276_319.0));
        assert_eq!(s.total_cpu_time_s, Some(17.62));
        assert_eq!(s.memory_pressure_average, Some(5.0));
        assert_eq!(s.memory_pressure_highest, Some(5.0));
        assert_eq!(s.hardware_model.as_deref(), Some("Mac15,9"));
        assert_eq!(s.shared_caches.len(), 2);
        assert!(s.shared_caches[1].ends_with("(DriverKit)"));
        assert_eq!(s.available_memory_bytes, size_bytes("96.12 GB"));
        assert!(s.vnodes_available.is_some() && s.free_disk_space.is_some());
        assert_eq!(s.end_time.as_deref(), Some("2025-12-01 10:44:15.755 -0800"));
    }

    #[test]
    fn io_statistics() {
        let r = parse(REPORT);
        assert_eq!(r.io_statistics.len(), 4);
        let o = &r.io_statistics[0];
        assert_eq!(o.tier, "Overall");
        assert_eq!(o.ios, Some(1234));
        assert_eq!(o.ios_per_sec, Some(362.0));
        assert_eq!(o.bytes, Some(45 << 20));
        assert_eq!(o.bytes_per_sec, Some(13196.0 * 1024.0));
        assert_eq!(r.io_statistics[3].tier, "Tier2");
    }

    #[test]
    fn process_blocks() {
        let r = parse(REPORT);
        assert_eq!(r.processes.len(), 2);
        let p = r.process(4242).unwrap();
        assert_eq!(p.name, "hog;$(touch /tmp/pwned)");
        assert_eq!(p.field("Identifier"), Some("hog"));
        assert_eq!(p.field("Path"), Some("/Users/me/bin/hog"));
        assert_eq!(
            p.parent,
            Some(NamePid {
                name: "zsh".into(),
                pid: Some(1000)
            })
        );
        assert_eq!(p.responsible.as_ref().unwrap().pid, Some(999));
        assert_eq!(p.execed_from.as_ref().unwrap().name, "bash");
        assert_eq!(p.execed_to.as_ref().unwrap().pid, Some(4243));
        assert_eq!(p.notes, ["Suspended for 5 samples", "Unmapped 3 pages"]);
        assert_eq!(p.footprint_bytes, size_bytes("180.25 MB"));
        assert_eq!(p.ios, Some(12));
        assert_eq!(p.num_samples, Some(341));
        assert_eq!(p.cpu_time_s, Some(6.812));
        assert_eq!(p.num_threads, Some(3));
        assert_eq!(p.threads.len(), 3);
        let short = r.process(5001).unwrap();
        assert_eq!(short.footprint_bytes, Some(2048 * 1024));
        assert_eq!(
            short.field("Start time"),
            Some("2025-12-01 10:44:13.000 -0800")
        );
        assert_eq!(short.threads[0].frames.len(), 1);
    }

    #[test]
    fn thread_lines_with_every_part() {
        let r = parse(REPORT);
        let t = &r.process(4242).unwrap().threads[0];
        assert_eq!(t.id, 0x1a2b);
        assert_eq!(t.dispatch_queue.as_deref(), Some("com.apple.main-thread"));
        assert_eq!(t.dispatch_queue_id, Some(1));
        assert_eq!(t.name.as_deref(), Some("main"));
        assert_eq!(t.samples, Some(341));
        assert_eq!(t.sample_range, Some((1, 341)));
        assert_eq!((t.priority, t.base_priority), (Some(31), Some(31)));
        assert_eq!(t.cpu_time_s, Some(0.004));
        assert_eq!(t.ios, Some(2));
        assert_eq!(t.io_size.as_deref(), Some("8 KB"));
        assert_eq!(t.extra, None);
        let spin = &r.process(4242).unwrap().threads[1];
        assert_eq!(spin.name.as_deref(), Some("spin;$(id)"));
        assert_eq!(spin.dispatch_queue, None);
        assert_eq!(spin.sample_range, Some((2, 341)));
        let wq = &r.process(4242).unwrap().threads[2];
        assert_eq!(wq.dispatch_queue_id, Some(7));
        assert_eq!(wq.cpu_time_s, None);
        let odd = parse_thread("Thread 0x10    5 samples (1-5)    something new").unwrap();
        assert_eq!(odd.samples, Some(5));
        assert_eq!(odd.extra.as_deref(), Some("something new"));
    }

    #[test]
    fn frame_tree_from_indentation() {
        let r = parse(REPORT);
        let f = &r.process(4242).unwrap().threads[0].frames;
        assert_eq!(f.len(), 6);
        assert_eq!(f[0].symbol.as_deref(), Some("start"));
        assert_eq!(
            (f[0].parent, f[0].depth, f[0].samples),
            (None, 0, Some(341))
        );
        assert_eq!(f[0].module.as_deref(), Some("dyld"));
        assert_eq!(f[0].offset, Some(2432));
        assert_eq!(f[0].address, Some(0x18a0a0e0c));
        assert_eq!(f[2].symbol.as_deref(), Some("-[NSApplication run]"));
        assert_eq!(f[2].parent, Some(1));
        // The kernel frame under mach_msg2_trap.
        assert!(f[4].kernel);
        assert_eq!(f[4].symbol.as_deref(), Some("ipc_mqueue_receive_continue"));
        assert_eq!((f[4].parent, f[4].depth), (Some(3), 4));
        assert_eq!(
            f[4].state.as_deref(),
            Some("blocked by wait4 on make [4250]")
        );
        // A sibling of mach_msg2_trap, with a C++ name holding parentheses.
        assert_eq!(f[5].parent, Some(2));
        assert_eq!(
            f[5].symbol.as_deref(),
            Some(
                "std::__1::basic_string<char, std::__1::char_traits<char>>::append(char const*, unsigned long)"
            )
        );
        assert_eq!(f[5].module.as_deref(), Some("libc++.1.dylib"));
        assert_eq!(f[5].state.as_deref(), Some("running, p-core"));
    }

    #[test]
    fn unknown_symbols_jit_and_kext_frames() {
        let r = parse(REPORT);
        let f = &r.process(4242).unwrap().threads[1].frames;
        assert_eq!(f.len(), 4);
        assert_eq!(f[1].symbol, None);
        assert_eq!(f[1].module.as_deref(), Some("hog"));
        assert_eq!(f[1].offset, Some(5678));
        // JIT: only an address.
        assert_eq!((f[2].symbol.clone(), f[2].module.clone()), (None, None));
        assert_eq!(f[2].address, Some(0x2800_01000));
        assert_eq!(f[2].parent, Some(1));
        // Kext: a UUID as the image.
        assert_eq!(
            f[3].module.as_deref(),
            Some("<8A9B0C1D-2E3F-4051-6273-8495A6B7C8D9>")
        );
        assert_eq!(f[3].state.as_deref(), Some("running"));
        assert_eq!(f[3].parent, Some(1));
    }

    #[test]
    fn binary_images() {
        let r = parse(REPORT);
        let imgs = &r.process(4242).unwrap().binary_images;
        assert_eq!(imgs.len(), 3);
        assert_eq!(imgs[0].name, "hog");
        assert_eq!(imgs[0].version.as_deref(), Some("1.0 (1)"));
        assert_eq!(imgs[0].start, 0x1_0000_0000);
        assert_eq!(imgs[0].end, 0x1_0000_3fff);
        assert_eq!(imgs[0].path.as_deref(), Some("/Users/me/bin/hog"));
        assert_eq!(imgs[1].name, "libsystem_kernel.dylib");
        assert_eq!(imgs[1].version.as_deref(), Some("11215.61.5"));
        assert!(imgs[2].kernel);
        assert_eq!(imgs[2].name, "kernel.release.t6031");
        assert_eq!(
            imgs[2].uuid.as_deref(),
            Some("E1F2A3B4-C5D6-E7F8-A9B0-C1D2E3F4A5B6")
        );
    }

    #[test]
    fn histograms_and_aggregate_stats() {
        let r = parse(REPORT);
        assert_eq!(r.histograms.len(), 2);
        assert_eq!(r.histograms[0].title, "IO Size Histogram");
        let rows = &r.histograms[0].rows;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].begin, "4096");
        assert_eq!(rows[1].end.as_deref(), Some("8191"));
        assert_eq!((rows[1].frequency, rows[1].cdf), (20, 30.0));
        assert_eq!(rows[2].end, None);
        assert_eq!(rows[2].begin, "8192");
        assert_eq!(r.histograms[1].title, "Tier 0 Latency Histogram");
        let a = &r.aggregate_stats[0];
        assert_eq!(a.tier, "Tier 0");
        assert_eq!(a.num_ios, Some(1000));
        assert_eq!(a.latency_mean_us, Some(120.0));
        assert_eq!(a.max_latency_us, Some(5000.0));
        assert_eq!(a.latency_sd_us, Some(80.0));
        assert_eq!((a.reads, a.read_bytes), (Some(700), Some(28000 * 1024)));
        assert_eq!((a.writes, a.write_bytes), (Some(300), Some(12000 * 1024)));
    }

    #[test]
    fn unknown_lines_are_counted_not_fatal() {
        let r = parse(REPORT);
        assert_eq!(r.unknown_lines, 1, "the made-up header line");
        let junk = parse("\u{1b}[2J garbage\n  \n0x12 nonsense\nProcess: x [1]\n  ??? what\n");
        assert_eq!(junk.processes.len(), 1);
        assert_eq!(junk.unknown_lines, 3);
        assert_eq!(parse("").processes.len(), 0);
    }

    #[test]
    fn threads_become_capture_records() {
        let r = parse(REPORT);
        let recs = thread_records(r.process(4242).unwrap());
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].tid, 0x1a2b);
        assert_eq!(recs[0].pid, Some(4242));
        // The hottest path ends in the blocked kernel frame.
        assert_eq!(
            recs[0].state.as_deref(),
            Some("blocked by wait4 on make [4250]")
        );
        assert_eq!(
            recs[1].state.as_deref(),
            None,
            "JIT leaf (200 samples) has no state"
        );
        assert_eq!(recs[2].name.as_deref(), Some("com.apple.root.default-qos"));
        assert_eq!(recs[0].frames.len(), 6);
    }
}
