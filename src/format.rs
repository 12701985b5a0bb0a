//! Formatting for people: human units, terminal-safe strings, aligned tables.
//!
//! Pure. Every untrusted string (process names, command lines, log lines) goes
//! through `escape` before it reaches a terminal.

use crate::model::{GroupKind, ProcessSamples, ProcessScore, SystemSample, Unit};
use std::fmt::Write as _;

/// True for characters that must never reach a terminal raw: control
/// characters and the bidirectional/format characters that reorder text.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}'
        )
}

/// Make an untrusted string safe to print: control and bidi characters become
/// visible escapes (`\u{1b}`, `\n`, `\u{202e}`); everything else is kept.
pub(crate) fn escape(s: &str) -> String {
    if !s.chars().any(is_dangerous) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One CSV field (RFC 4180) from an untrusted string, safe for a terminal and
/// for a spreadsheet: control and bidi characters are escaped as `escape`
/// does, a field that a spreadsheet would read as a formula (starting with
/// `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`, and the
/// field is quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> String {
    let mut text = escape(s);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Cut to at most `width` characters, marking the cut with `…`.
pub(crate) fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Cut `text` to at most `max` bytes on a character boundary, marking the cut
/// with `…` (for storing untrusted text of bounded size).
pub(crate) fn cap_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The machine series as a few summary lines (`history --at`): stress,
/// CPU by kind, load, memory and swap, pressure, disk, network, counts. What
/// is not measured is left out or shown as `-`.
pub(crate) fn system_lines(s: &SystemSample) -> Vec<String> {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let mut cpu = format!("stress {:.1} ({})", s.stress, s.stress_cause.as_str());
    match s.cpu {
        Some(c) => cpu.push_str(&format!(
            "  cpu {:.1}% busy of {} cores (user {:.1} nice {:.1} system {:.1} irq {:.1} iowait {:.1} steal {:.1})",
            c.busy(),
            s.cpu_count,
            c.user,
            c.nice,
            c.system,
            c.irq + c.softirq,
            c.iowait,
            c.steal
        )),
        None => cpu.push_str(&format!("  cpu - of {} cores", s.cpu_count)),
    }
    if let Some(l) = s.load {
        cpu.push_str(&format!(
            "  load {:.2} {:.2} {:.2}",
            l.one, l.five, l.fifteen
        ));
    }
    let mut lines = vec![cpu];
    let mut mem = String::new();
    if let Some(m) = s.memory {
        mem.push_str(&format!(
            "mem {} used of {} (available {}, cached {}, dirty {})",
            m.used_bytes().map_or("-".into(), |v| bytes(v as f64)),
            bytes(m.total_bytes as f64),
            m.available_bytes.map_or("-".into(), |v| bytes(v as f64)),
            m.cached_bytes.map_or("-".into(), |v| bytes(v as f64)),
            m.dirty_bytes.map_or("-".into(), |v| bytes(v as f64)),
        ));
        if let (Some(t), Some(u)) = (m.swap_total_bytes, m.swap_used_bytes) {
            mem.push_str(&format!(
                "  swap {} of {}",
                bytes(u as f64),
                bytes(t as f64)
            ));
        }
    }
    let counts = format!(
        "processes {} ({} running, {} in D)  threads {}",
        s.processes,
        s.running,
        s.blocked,
        s.threads.map_or("-".into(), |t| t.to_string())
    );
    lines.push(if mem.is_empty() {
        counts
    } else {
        format!("{mem}  {counts}")
    });
    let mut io = Vec::new();
    if let Some(p) = s.pressure {
        let one = |name: &str, r: Option<crate::model::PsiSample>| {
            r.map(|r| format!("{name} {}/{}", pct(r.some_avg10), pct(r.full_avg10)))
        };
        let parts: Vec<String> = [one("cpu", p.cpu), one("memory", p.memory), one("io", p.io)]
            .into_iter()
            .flatten()
            .collect();
        io.push(format!("psi some/full avg10 % {}", parts.join(" ")));
    }
    if let Some(d) = s.disk {
        io.push(format!(
            "disk read {} write {} ({:.0} reads/s, {:.0} writes/s)",
            byte_rate(d.read_bytes_per_s),
            byte_rate(d.write_bytes_per_s),
            d.reads_per_s,
            d.writes_per_s
        ));
    }
    if let Some(n) = s.net {
        io.push(format!(
            "net rx {} tx {}",
            byte_rate(n.rx_bytes_per_s),
            byte_rate(n.tx_bytes_per_s)
        ));
    }
    if !io.is_empty() {
        lines.push(io.join("  "));
    }
    lines
}

/// 1536 → "1.5K", 3.2e9 → "3.0G" (binary units).
pub(crate) fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    if !v.is_finite() {
        return "-".into();
    }
    let mut x = v.abs();
    let mut unit = 0;
    while x >= 1024.0 && unit < UNITS.len() - 1 {
        x /= 1024.0;
        unit += 1;
    }
    let sign = if v < 0.0 { "-" } else { "" };
    if unit == 0 {
        format!("{sign}{x:.0}B")
    } else if x < 10.0 {
        format!("{sign}{x:.1}{}", UNITS[unit])
    } else {
        format!("{sign}{x:.0}{}", UNITS[unit])
    }
}

/// Bytes per second.
pub(crate) fn byte_rate(v: f64) -> String {
    format!("{}/s", bytes(v))
}

/// A count per second with k/M suffixes.
pub(crate) fn count_rate(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.1}M/s", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k/s", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k/s", v / 1e3)
    } else {
        format!("{v:.0}/s")
    }
}

/// A share (percent of a fair share) in at most 5 characters: "7.5", "250",
/// "huge"; "-" when not measured or not finite.
pub(crate) fn share(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) if v < 99_999.5 => format!("{v:.0}"),
        Some(_) => "huge".into(),
    }
}

/// Seconds as "3s", "4m05s", "2h10m", "3d04h".
pub(crate) fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A metric's current value, or "-" when unknown.
fn or_dash(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// Left/right alignment of a table column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// Render rows as aligned columns. Cells must already be escaped.
pub(crate) fn table(headers: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::new();
        for ((_, align), (w, cell)) in headers.iter().zip(widths.iter().zip(cells)) {
            let pad = w.saturating_sub(cell.chars().count());
            parts.push(match align {
                Align::Left => format!("{cell}{}", " ".repeat(pad)),
                Align::Right => format!("{}{cell}", " ".repeat(pad)),
            });
        }
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut headers.iter().map(|(h, _)| *h));
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// The `sample` table: one row per process, worst first. CPU% is the
/// process's own (as htop and top show it); +CHILD% is what it spent through
/// children it reaped between samples, which its score counts too.
pub(crate) fn samples_table(s: &ProcessSamples, command_width: usize) -> String {
    let headers = [
        ("PID", Align::Right),
        ("SCORE", Align::Right),
        ("BAND", Align::Left),
        ("DOMINANT", Align::Left),
        ("CPU%", Align::Right),
        ("+CHILD%", Align::Right),
        ("MEM", Align::Right),
        ("DISK/s", Align::Right),
        ("WAKE/s", Align::Right),
        ("THR", Align::Right),
        ("S", Align::Left),
        ("COMMAND", Align::Left),
    ];
    let rows: Vec<Vec<String>> = s
        .rogues
        .iter()
        .map(|p| process_row(p, command_width))
        .collect();
    table(&headers, &rows)
}

/// The groups of one kind in a sample, worst first, as a table. CPU% and
/// +CHILD% as in the process table: the members' own CPU, then what they
/// spent through reaped children (the score counts both).
pub fn groups_table(s: &ProcessSamples, kind: GroupKind, name_width: usize) -> String {
    let headers = [
        ("KIND", Align::Left),
        ("SCORE", Align::Right),
        ("BAND", Align::Left),
        ("DOMINANT", Align::Left),
        ("CPU%", Align::Right),
        ("+CHILD%", Align::Right),
        ("MEM", Align::Right),
        ("DISK/s", Align::Right),
        ("PROCS", Align::Right),
        ("TOP PIDS", Align::Left),
        ("NAME", Align::Left),
    ];
    let rows: Vec<Vec<String>> = s
        .groups
        .iter()
        .filter(|g| g.kind == kind)
        .map(|g| {
            let m = &g.metrics;
            let pids: Vec<String> = g
                .top_members
                .iter()
                .take(3)
                .map(|p| p.to_string())
                .collect();
            vec![
                g.kind.to_string(),
                format!("{:.1}", g.score),
                g.band.to_string(),
                g.dominant_resource.to_string(),
                or_dash(m.cpu, |v| format!("{v:.1}")),
                or_dash(m.children_cpu, |v| format!("{v:.1}")),
                or_dash(m.mem, bytes),
                or_dash(m.disk_io_rate, bytes),
                g.member_count.to_string(),
                pids.join(","),
                truncate(&escape(&g.name), name_width),
            ]
        })
        .collect();
    table(&headers, &rows)
}

fn process_row(p: &ProcessScore, command_width: usize) -> Vec<String> {
    let cur = ProcessScore::current;
    vec![
        p.pid.to_string(),
        format!("{:.1}", p.score),
        p.band.to_string(),
        p.dominant_resource.to_string(),
        or_dash(cur(&p.cpu), |v| format!("{v:.1}")),
        or_dash(cur(&p.children_cpu), |v| format!("{v:.1}")),
        or_dash(cur(&p.mem), bytes),
        or_dash(cur(&p.disk_io_rate), bytes),
        or_dash(cur(&p.wakeups_rate), |v| format!("{v:.0}")),
        or_dash(cur(&p.threads), |v| format!("{v:.0}")),
        p.state.letter().to_string(),
        truncate(&escape(&p.command), command_width),
    ]
}

/// The dominant resource with its current value, e.g. "cpu 99.7%",
/// "memory 9.6G", "disk 180M/s", "wakeups 8.1k/s".
pub(crate) fn dominant_value(p: &ProcessScore) -> String {
    use crate::model::Resource;
    let cur = ProcessScore::current;
    let value = match p.dominant_resource {
        Resource::Cpu => cur(&p.cpu).map(|v| format!("{v:.1}%")),
        Resource::Gpu => cur(&p.gpu_time_rate).map(|v| format!("{:.1}%", v / 1e7)),
        Resource::Memory => cur(&p.mem).map(bytes),
        Resource::Disk => cur(&p.disk_io_rate).map(byte_rate),
        Resource::Wakeups => cur(&p.wakeups_rate).map(count_rate),
    };
    format!(
        "{} {}",
        p.dominant_resource,
        value.unwrap_or_else(|| "-".into())
    )
}

/// A group's dominant resource and its summed value (CPU includes what
/// members spent through reaped children, as the group's score counts it).
pub(crate) fn group_dominant_value(g: &crate::model::GroupScore) -> String {
    use crate::model::Resource;
    let m = &g.metrics;
    let value = match g.dominant_resource {
        Resource::Cpu => m
            .cpu
            .map(|v| format!("{:.1}%", v + m.children_cpu.unwrap_or(0.0))),
        Resource::Gpu => m.gpu_time_rate.map(|v| format!("{:.1}%", v / 1e7)),
        Resource::Memory => m.mem.map(bytes),
        Resource::Disk => m.disk_io_rate.map(byte_rate),
        Resource::Wakeups => m.wakeups_rate.map(count_rate),
    };
    format!(
        "{} {}",
        g.dominant_resource,
        value.unwrap_or_else(|| "-".into())
    )
}

/// Local time of a Unix timestamp as `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn local_time(unix_secs: f64) -> String {
    match crate::sys::time::local_time(unix_secs.floor() as i64) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        None => format!("@{unix_secs:.0}"),
    }
}

/// A count with k/M/G/T suffixes.
pub(crate) fn count(v: f64) -> String {
    let a = v.abs();
    if a >= 1e12 {
        format!("{:.1}T", v / 1e12)
    } else if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub(crate) fn nanos(v: f64) -> String {
    let s = v / 1e9;
    if s < 1e-3 {
        format!("{:.0}µs", v / 1e3)
    } else if s < 1.0 {
        format!("{:.0}ms", v / 1e6)
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else {
        duration(s)
    }
}

/// One metric value in its unit, as the dashboard shows it (`-` when not finite).
pub(crate) fn metric_value(unit: Unit, v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    match unit {
        Unit::PercentOfCore => format!("{v:.1}%"),
        Unit::Bytes => bytes(v),
        Unit::BytesPerSecond => byte_rate(v),
        Unit::Count => count(v),
        Unit::CountPerSecond => count_rate(v),
        Unit::Integer => format!("{v:.0}"),
        Unit::Ratio => format!("{v:.2}"),
        Unit::Nanoseconds => nanos(v),
        Unit::NanosecondsPerSecond => format!("{:.1}%", v / 1e7),
        Unit::Nanojoules => {
            let j = v / 1e9;
            if j >= 1000.0 {
                format!("{:.1}kJ", j / 1000.0)
            } else {
                format!("{j:.1}J")
            }
        }
        Unit::NanojoulesPerSecond => format!("{:.2}W", v / 1e9),
    }
}

/// Cumulative CPU time as htop's TIME+ shows it: `M:SS.hh` below an hour
/// (`0:05.23`, `59:59.99`), `H:MM:SS` below 100 hours (`1:02:03`), then
/// days and hours (`12d05h`), then days (`1234d`). At most 8 cells below
/// 27 years.
pub(crate) fn cpu_time(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let hundredths = (secs * 100.0).floor() as u64;
    let total = hundredths / 100;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if total < 3600 {
        format!("{}:{s:02}.{:02}", total / 60, hundredths % 100)
    } else if h < 100 {
        format!("{h}:{m:02}:{s:02}")
    } else if h < 100 * 24 {
        format!("{}d{:02}h", h / 24, h % 24)
    } else {
        format!("{}d", h / 24)
    }
}

/// A local time with its zone, as the replay header shows the cursor:
/// `2026-12-01 03:00:14 CET`.
pub fn local_with_zone(t: f64) -> String {
    let zone = crate::sys::time::local_zone(t.floor() as i64).unwrap_or_default();
    format!("{} {zone}", local_time(t)).trim_end().into()
}

#[cfg(test)]
mod tests {

    #[test]
    fn cpu_time_reads_as_htop_time_plus() {
        assert_eq!(cpu_time(0.0), "0:00.00");
        assert_eq!(cpu_time(5.234), "0:05.23");
        assert_eq!(cpu_time(65.5), "1:05.50");
        assert_eq!(cpu_time(3599.999), "59:59.99");
        assert_eq!(cpu_time(3600.0), "1:00:00");
        assert_eq!(cpu_time(3723.9), "1:02:03");
        assert_eq!(cpu_time(99.0 * 3600.0 + 59.0 * 60.0 + 59.0), "99:59:59");
        assert_eq!(cpu_time(100.0 * 3600.0), "4d04h");
        assert_eq!(cpu_time(2400.0 * 3600.0), "100d");
        assert_eq!(cpu_time(f64::NAN), "-");
        assert_eq!(cpu_time(-1.0), "-");
        assert!(cpu_time(1e9).chars().count() <= 8);
    }

    #[test]
    fn csv_fields_are_quoted_escaped_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        for lead in ["+1", "-x", "@SUM(A1)"] {
            assert!(csv_field(lead).starts_with("'"), "{lead}");
        }
        let hostile = csv_field("\u{1b}]0;title\u{7}\u{1b}[2J\u{202e}x");
        assert!(
            !hostile.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{hostile}"
        );
        assert!(!csv_field("a\nb").contains('\n'));
    }
    use super::*;

    #[test]
    fn escape_neutralises_terminal_attacks() {
        let hostile = "evil\x1b[2J\x1b]0;pwned\x07\r\nname\u{202e}txt.exe\u{2066}";
        let safe = escape(hostile);
        assert!(!safe.chars().any(is_dangerous), "{safe}");
        assert!(safe.contains("\\u{1b}[2J"));
        assert!(safe.contains("\\u{202e}"));
        assert!(safe.contains("\\n"));
        assert_eq!(escape("plain café ñ"), "plain café ñ");
    }

    #[test]
    fn units() {
        assert_eq!(bytes(512.0), "512B");
        assert_eq!(bytes(1536.0), "1.5K");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0G");
        assert_eq!(bytes(200.0 * 1024.0 * 1024.0), "200M");
        assert_eq!(byte_rate(2048.0), "2.0K/s");
        assert_eq!(count_rate(12_345.0), "12k/s");
        assert_eq!(count_rate(1_500.0), "1.5k/s");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(245.0), "4m05s");
        assert_eq!(duration(7800.0), "2h10m");
        assert_eq!(duration(3.0 * 86400.0 + 4.0 * 3600.0), "3d04h");
    }

    #[test]
    fn shares_fit_five_characters() {
        assert_eq!(share(None), "-");
        assert_eq!(share(Some(f64::NAN)), "-");
        assert_eq!(share(Some(7.54)), "7.5");
        assert_eq!(share(Some(99.94)), "99.9");
        assert_eq!(share(Some(250.4)), "250");
        assert_eq!(share(Some(99_999.4)), "99999");
        assert_eq!(share(Some(1e6)), "huge");
        for v in [0.0, 99.99, 100.0, 12_345.6, 99_999.49, 1e9] {
            assert!(share(Some(v)).chars().count() <= 5, "{v}");
        }
    }

    #[test]
    fn cap_bytes_cuts_on_char_boundaries() {
        assert_eq!(cap_bytes("abc", 5), "abc");
        assert_eq!(cap_bytes("abcdef", 3), "abc…");
        assert_eq!(cap_bytes("éé", 3), "é…");
    }

    #[test]
    fn truncation_and_table_alignment() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        let t = table(
            &[("A", Align::Right), ("NAME", Align::Left)],
            &[
                vec!["1".into(), "x".into()],
                vec!["100".into(), "yy".into()],
            ],
        );
        assert_eq!(t, "  A  NAME\n  1  x\n100  yy\n");
    }
}
