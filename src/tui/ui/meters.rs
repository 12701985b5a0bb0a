//! The machine meters in the header, sized to the terminal: one CPU bar per
//! core (user, nice, system, irq, iowait and steal distinguishable by colour
//! and, for monochrome terminals, by character), memory and swap bars, load
//! and task counts, PSI some/full avg10 for cpu/memory/io, disk and network
//! throughput. Drawn from the sample's `system`; nothing when it has none.

use crate::format;
use crate::model::{CpuPercent, PsiSample, SystemSample};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// The kinds a CPU bar shows, in drawing order: what the help text lists.
pub(super) const CPU_KINDS: [(&str, char, Color); 6] = [
    ("user", '|', Color::Green),
    ("nice", ':', Color::Blue),
    ("system", '#', Color::Red),
    ("irq", '%', Color::Yellow),
    ("iowait", '~', Color::DarkGray),
    ("steal", '$', Color::Cyan),
];

/// Lines the right-hand column has (memory, swap, load, PSI, disk + net).
const INFO_LINES: u16 = 5;

/// Narrowest CPU bar worth drawing (cells between the brackets).
const MIN_BAR: u16 = 6;

/// Rows of meters for a terminal of this size (0 = none: no machine series,
/// or a terminal too small to spare the rows).
pub(super) fn rows(area: Rect, system: Option<&SystemSample>) -> u16 {
    let Some(sys) = system else {
        return 0;
    };
    let budget: u16 = match area.height {
        h if h >= 35 => 8,
        h if h >= 24 => 5,
        h if h >= 18 => 3,
        _ => 0,
    };
    if budget == 0 || area.width < 40 {
        return 0;
    }
    let cores = sys.cpu_count.max(1) as u16;
    let (cpu_w, _) = columns(area.width);
    let per_row = cores_per_row(cpu_w, cores, budget);
    let cpu_rows = if per_row == 0 {
        1
    } else {
        cores.div_ceil(per_row)
    };
    let wanted = if area.width >= 80 {
        cpu_rows.max(INFO_LINES)
    } else {
        cpu_rows + INFO_LINES
    };
    wanted.min(budget)
}

/// Widths of the CPU column and the info column (0 = info below the CPU).
fn columns(width: u16) -> (u16, u16) {
    if width >= 80 {
        let cpu = width / 2;
        (cpu, width - cpu)
    } else {
        (width, 0)
    }
}

/// How many core bars share a row so that every core fits in `rows` rows;
/// 0 when they cannot fit at `MIN_BAR` (then one all-cores bar is drawn).
fn cores_per_row(width: u16, cores: u16, rows: u16) -> u16 {
    let per_row = cores.div_ceil(rows.max(1));
    let label = digits(cores.saturating_sub(1));
    // label, space, [bar], space, "100%", gap
    let cell = label + 1 + 2 + MIN_BAR + 5 + 1;
    if per_row * cell <= width + 1 {
        per_row
    } else {
        0
    }
}

fn digits(n: u16) -> u16 {
    n.checked_ilog10().map_or(1, |d| d as u16 + 1)
}

/// Segments of `width` cells: each `(percent, char, colour)` in turn, the
/// rest blank. Cumulative rounding, so the cells never exceed the width.
fn bar(width: u16, parts: &[(f64, char, Color)]) -> Vec<Span<'static>> {
    let w = f64::from(width);
    let mut spans = Vec::new();
    let (mut cum, mut drawn) = (0.0, 0u16);
    for &(pct, ch, color) in parts {
        if !pct.is_finite() || pct <= 0.0 {
            continue;
        }
        cum += pct;
        let end = ((cum.min(100.0) / 100.0) * w).round() as u16;
        let n = end.saturating_sub(drawn);
        if n > 0 {
            spans.push(Span::styled(
                ch.to_string().repeat(usize::from(n)),
                Style::new().fg(color),
            ));
            drawn += n;
        }
    }
    if drawn < width {
        spans.push(Span::raw(" ".repeat(usize::from(width - drawn))));
    }
    spans
}

fn cpu_parts(c: &CpuPercent) -> [(f64, char, Color); 6] {
    let v = [
        c.user,
        c.nice,
        c.system,
        c.irq + c.softirq,
        c.iowait,
        c.steal,
    ];
    let mut out = [(0.0, ' ', Color::Reset); 6];
    for (i, (_, ch, color)) in CPU_KINDS.iter().enumerate() {
        out[i] = (v[i], *ch, *color);
    }
    out
}

/// One labelled bar: `label [|||##   ] text`, `width` cells in all.
fn labelled(label: &str, width: u16, parts: &[(f64, char, Color)], text: &str) -> Line<'static> {
    let fixed = label.chars().count() + 3 + 1 + text.chars().count();
    let inner = width.saturating_sub(fixed as u16);
    let mut spans = vec![
        Span::styled(label.to_string(), Style::new().fg(Color::Cyan)),
        Span::raw(" ["),
    ];
    spans.extend(bar(inner, parts));
    spans.push(Span::raw("]"));
    spans.push(Span::styled(
        format!(" {text}"),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    Line::from(spans)
}

fn busy_text(c: Option<&CpuPercent>) -> String {
    c.map_or("  -%".into(), |c| format!("{:>3.0}%", c.busy()))
}

fn draw_cpu(frame: &mut Frame, area: Rect, sys: &SystemSample) {
    let cores = sys.cpu_count.max(1) as u16;
    let per_row = cores_per_row(area.width, cores, area.height);
    if per_row == 0 || sys.cores.len() != usize::from(cores) {
        // Too many cores for the room, or no per-core rates yet: all cores.
        let parts = sys.cpu.as_ref().map(cpu_parts).unwrap_or_default();
        let label = format!("CPU×{cores}");
        frame.render_widget(
            labelled(&label, area.width, &parts, &busy_text(sys.cpu.as_ref())),
            Rect { height: 1, ..area },
        );
        return;
    }
    let label_w = usize::from(digits(cores - 1));
    let rows = cores.div_ceil(per_row);
    let cell_w = (area.width + 1) / per_row;
    for r in 0..rows.min(area.height) {
        let mut spans = Vec::new();
        // Column-major: core numbers run down each column, as htop does.
        for c in 0..per_row {
            let i = c * rows + r;
            let Some(core) = sys.cores.get(usize::from(i)) else {
                continue;
            };
            let w = if c + 1 == per_row {
                area.width.saturating_sub(cell_w * c)
            } else {
                cell_w.saturating_sub(1)
            };
            let line = labelled(
                &format!("{i:>label_w$}"),
                w,
                &cpu_parts(core),
                &busy_text(Some(core)),
            );
            spans.extend(line.spans);
            if c + 1 < per_row {
                spans.push(Span::raw(" "));
            }
        }
        let row = Rect {
            y: area.y + r,
            height: 1,
            ..area
        };
        frame.render_widget(Line::from(spans), row);
    }
}

fn psi_span(name: &str, p: Option<PsiSample>) -> Vec<Span<'static>> {
    let Some(p) = p else {
        return vec![Span::raw(format!(" {name} -"))];
    };
    let some = p.some_avg10.unwrap_or(0.0);
    let color = match some {
        s if s >= 25.0 => Color::Red,
        s if s >= 5.0 => Color::Yellow,
        _ => Color::Reset,
    };
    let v = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
    vec![
        Span::raw(format!(" {name} ")),
        Span::styled(
            format!("{}/{}", v(p.some_avg10), v(p.full_avg10)),
            Style::new().fg(color),
        ),
    ]
}

/// The info lines, most important first.
fn info_lines(sys: &SystemSample, width: u16) -> Vec<Line<'static>> {
    let label = |s: &str| Span::styled(s.to_string(), Style::new().fg(Color::Cyan));
    let mut lines = Vec::new();
    match sys.memory {
        Some(m) => {
            let total = m.total_bytes as f64;
            let used = m.used_bytes().map(|u| u as f64);
            let pct = |v: f64| if total > 0.0 { v * 100.0 / total } else { 0.0 };
            let cached = m.cached_bytes.map_or(0.0, |c| c as f64);
            let text = format!(
                "{}/{}",
                used.map_or("-".into(), format::bytes),
                format::bytes(total)
            );
            lines.push(labelled(
                "Mem",
                width,
                &[
                    (used.map_or(0.0, pct), '|', Color::Green),
                    (
                        pct(cached).min(100.0 - used.map_or(0.0, pct)),
                        ':',
                        Color::Blue,
                    ),
                ],
                &text,
            ));
            match (m.swap_total_bytes, m.swap_used_bytes) {
                (Some(t), Some(u)) if t > 0 => lines.push(labelled(
                    "Swp",
                    width,
                    &[(u as f64 * 100.0 / t as f64, '|', Color::Red)],
                    &format!("{}/{}", format::bytes(u as f64), format::bytes(t as f64)),
                )),
                (Some(_), _) => lines.push(Line::from(vec![label("Swp"), Span::raw(" none")])),
                _ => lines.push(Line::from(vec![label("Swp"), Span::raw(" -")])),
            }
        }
        None => {
            lines.push(Line::from(vec![label("Mem"), Span::raw(" -")]));
            lines.push(Line::from(vec![label("Swp"), Span::raw(" -")]));
        }
    }
    let mut load = vec![label("Load")];
    match sys.load {
        Some(l) => load.push(Span::raw(format!(
            " {:.2} {:.2} {:.2}",
            l.one, l.five, l.fifteen
        ))),
        None => load.push(Span::raw(" -")),
    }
    load.push(label("  Tasks"));
    load.push(Span::raw(format!(
        " {}, {} R, ",
        sys.processes, sys.running
    )));
    load.push(Span::styled(
        format!("{} D", sys.blocked),
        if sys.blocked > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        },
    ));
    if let Some(t) = sys.threads {
        load.push(Span::raw(format!(", {t} thr")));
    }
    lines.push(Line::from(load));
    let mut psi = vec![label("PSI")];
    // "some/full avg10 %" when there is room for it (the help says it too).
    if width >= 60 {
        psi.push(Span::raw(" some/full"));
    }
    match sys.pressure {
        Some(p) => {
            psi.extend(psi_span("cpu", p.cpu));
            psi.extend(psi_span("mem", p.memory));
            psi.extend(psi_span("io", p.io));
        }
        None => psi.push(Span::raw(" -")),
    }
    lines.push(Line::from(psi));
    let rate = |v: f64| format::byte_rate(v);
    let mut io = vec![label("Disk")];
    io.push(Span::raw(match sys.disk {
        Some(d) => format!(
            " r {} w {}",
            rate(d.read_bytes_per_s),
            rate(d.write_bytes_per_s)
        ),
        None => " -".into(),
    }));
    io.push(label("  Net"));
    io.push(Span::raw(match sys.net {
        Some(n) => format!(
            " rx {} tx {}",
            rate(n.rx_bytes_per_s),
            rate(n.tx_bytes_per_s)
        ),
        None => " -".into(),
    }));
    lines.push(Line::from(io));
    lines
}

/// Draw the meters into `area` (`rows` rows tall).
pub(super) fn draw(frame: &mut Frame, area: Rect, sys: &SystemSample) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let (cpu_w, info_w) = columns(area.width);
    if info_w > 0 {
        let [cpu, gap, info] = Layout::horizontal([
            Constraint::Length(cpu_w.saturating_sub(1)),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(area);
        let _ = gap;
        draw_cpu(frame, cpu, sys);
        for (i, line) in info_lines(sys, info.width)
            .into_iter()
            .take(usize::from(info.height))
            .enumerate()
        {
            let row = Rect {
                y: info.y + i as u16,
                height: 1,
                ..info
            };
            frame.render_widget(line, row);
        }
        return;
    }
    // Narrow: the CPU rows, then as many info lines as fit.
    let cores = sys.cpu_count.max(1) as u16;
    let info_rows = INFO_LINES.min(area.height.saturating_sub(1));
    let cpu_rows = area.height - info_rows;
    let per_row = cores_per_row(area.width, cores, cpu_rows);
    let cpu_h = if per_row == 0 || sys.cores.len() != usize::from(cores) {
        1
    } else {
        cores.div_ceil(per_row).min(cpu_rows)
    };
    draw_cpu(
        frame,
        Rect {
            height: cpu_h,
            ..area
        },
        sys,
    );
    let lines = info_lines(sys, area.width);
    for (i, line) in lines
        .into_iter()
        .take(usize::from(area.height - cpu_h))
        .enumerate()
    {
        let row = Rect {
            y: area.y + cpu_h + i as u16,
            height: 1,
            ..area
        };
        frame.render_widget(line, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn bars_fill_by_kind_and_never_overflow() {
        let b = bar(10, &[(50.0, '|', Color::Green), (30.0, '#', Color::Red)]);
        assert_eq!(text(&b), "|||||###  ");
        let over = bar(10, &[(80.0, '|', Color::Green), (80.0, '#', Color::Red)]);
        assert_eq!(text(&over), "||||||||##");
        assert_eq!(text(&bar(4, &[(f64::NAN, '|', Color::Green)])), "    ");
    }

    #[test]
    fn rows_follow_the_terminal_and_the_cores() {
        let sys = SystemSample {
            cpu_count: 2,
            ..SystemSample::default()
        };
        let r = |w, h| rows(Rect::new(0, 0, w, h), Some(&sys));
        assert_eq!(r(100, 30), 5);
        assert_eq!(r(120, 40), 5);
        assert_eq!(r(100, 20), 3);
        assert_eq!(r(100, 15), 0);
        assert_eq!(rows(Rect::new(0, 0, 100, 30), None), 0);
        let big = SystemSample {
            cpu_count: 32,
            ..SystemSample::default()
        };
        // 32 cores in 8 rows of 4 on a wide terminal.
        assert_eq!(rows(Rect::new(0, 0, 200, 50), Some(&big)), 8);
        assert_eq!(cores_per_row(100, 32, 8), 4);
        // Too narrow for 64 bars: one all-cores bar.
        assert_eq!(cores_per_row(40, 64, 3), 0);
    }
}
