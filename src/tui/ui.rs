//! Rendering: one frame of the dashboard from an `App`, with ratatui widgets.
//!
//! Pure: draws into whatever `Frame` it is given (a real terminal or a
//! `TestBackend`), adapting the layout to the size. Every untrusted string
//! (process names, cgroups, event reasons, daemon errors) goes through
//! `format::escape` before it reaches a cell.

use super::app::{App, ConnectionState, EventLine, SortColumn, Trend};
use crate::format;
use crate::model::{Band, METRICS, MetricValue, ProcessScore, Resource, Unit};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, Gauge, HighlightSpacing, Paragraph, Row, Sparkline, Table, TableState,
};

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub events: Option<Rect>,
    pub detail: Option<Rect>,
    pub footer: Rect,
    /// The roomy layout (detail pane beside the table, tall sparklines).
    pub big: bool,
}

/// Split the screen. `rows` is the number of processes to show and
/// `events_shown` the events panel's configured length.
pub fn layout(area: Rect, rows: usize, events_shown: usize) -> Areas {
    let big = area.width >= 120 && area.height >= 35;
    let header_h = if big { 4 } else { 2 };
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    if big {
        let detail_w = (area.width * 2 / 5).clamp(48, 72);
        let [left, detail] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(detail_w)]).areas(body);
        let events_min = (events_shown.min(6) as u16 + 2).min(left.height / 2);
        let table_h = (rows.max(1) as u16 + 3).clamp(6, left.height.saturating_sub(events_min));
        let [table, events] =
            Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(left);
        return Areas {
            header,
            table,
            events: Some(events),
            detail: Some(detail),
            footer,
            big,
        };
    }
    if body.height < 16 {
        return Areas {
            header,
            table: body,
            events: None,
            detail: None,
            footer,
            big,
        };
    }
    let bottom_h = (body.height * 9 / 20).clamp(7, 14);
    let [table, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(bottom_h)]).areas(body);
    let (detail, events) = if bottom.width >= 70 {
        let [d, e] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Min(0)]).areas(bottom);
        (d, Some(e))
    } else {
        (bottom, None)
    };
    Areas {
        header,
        table,
        events,
        detail: Some(detail),
        footer,
        big,
    }
}

/// Process rows visible in the table at this screen size (for PageUp/Down).
pub fn table_rows(area: Rect, app: &App) -> usize {
    let a = layout(area, app.rows().len(), app.events_shown());
    usize::from(a.table.height.saturating_sub(3))
}

/// Draw the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let a = layout(area, app.rows().len(), app.events_shown());
    draw_header(frame, a.header, a.big, app);
    draw_table(frame, a.table, app);
    if let Some(r) = a.events {
        draw_events(frame, r, app);
    }
    if let Some(r) = a.detail {
        draw_detail(frame, r, a.big, app);
    }
    draw_footer(frame, a.footer, app);
    if app.show_help() {
        draw_help(frame, area, app);
    }
}

// ----- header --------------------------------------------------------------

fn connection_style(app: &App) -> Style {
    match app.connection() {
        ConnectionState::Connected => Style::new().fg(Color::Green),
        ConnectionState::Embedded => Style::new().fg(Color::Yellow),
        ConnectionState::Connecting => Style::new().fg(Color::Gray),
        ConnectionState::Disconnected { .. } => {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
    }
}

fn draw_header(frame: &mut Frame, area: Rect, big: bool, app: &App) {
    let [info, graphs] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);

    // Info line: pieces are dropped, least important first, until it fits.
    let clock = app.clock_text().unwrap_or_default();
    let mut pieces: Vec<(u8, Span)> = vec![
        (
            4,
            Span::styled("rogue-hunter", Style::new().add_modifier(Modifier::BOLD)),
        ),
        (
            0,
            Span::styled(app.connection_text(), connection_style(app)),
        ),
    ];
    if let Some(s) = app.latest() {
        pieces.push((1, Span::raw(format!("{} processes", s.process_count))));
    }
    if let Some(hz) = app.sample_rate_hz() {
        pieces.push((2, Span::raw(format!("{hz:.1} Hz"))));
    }
    if let (ConnectionState::Connected, Some(d)) = (app.connection(), app.daemon()) {
        let noun = if d.open_events == 1 {
            "event"
        } else {
            "events"
        };
        pieces.push((5, Span::raw(format!("{} open {noun}", d.open_events))));
        pieces.push((6, Span::raw(format!("{} samples", d.sample_count))));
    }
    let room = usize::from(area.width).saturating_sub(clock.chars().count() + 2);
    let width = |p: &[(u8, Span)]| -> usize {
        p.iter()
            .map(|(_, s)| s.width() + 3)
            .sum::<usize>()
            .saturating_sub(2)
    };
    while width(&pieces) > room && pieces.len() > 1 {
        let worst = pieces
            .iter()
            .enumerate()
            .max_by_key(|(_, (prio, _))| *prio)
            .map_or(0, |(i, _)| i);
        pieces.remove(worst);
    }
    let sep = Span::styled(" │ ", Style::new().fg(Color::DarkGray));
    let mut spans = vec![Span::raw(" ")];
    for (i, (_, s)) in pieces.into_iter().enumerate() {
        if i > 0 {
            spans.push(sep.clone());
        }
        spans.push(s);
    }
    let [left, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(clock.chars().count() as u16 + 1),
    ])
    .areas(info);
    frame.render_widget(Line::from(spans), left);
    frame.render_widget(Line::from(clock).alignment(Alignment::Right), right);

    // Stress gauge and the max-score sparkline.
    let max = app.latest().map_or(0.0, |s| s.max_score).clamp(0.0, 100.0);
    // NaN (never sent, but never trusted either) reads as 0.
    let max = if max.is_nan() { 0.0 } else { max };
    let band = app.bands().band_for(max);
    let gauge_w = if big { 36 } else { 26 }.min(graphs.width);
    let [g, spark] =
        Layout::horizontal([Constraint::Length(gauge_w), Constraint::Min(0)]).areas(graphs);
    let label = match app.latest() {
        Some(_) => format!("stress {max:.1} {band}"),
        None => "stress -".to_string(),
    };
    let gauge = Gauge::default()
        .ratio((max / 100.0).clamp(0.0, 1.0))
        .label(Span::styled(
            label,
            Style::new().add_modifier(Modifier::BOLD),
        ))
        .gauge_style(Style::new().fg(app.band_color(band)).bg(Color::Black));
    frame.render_widget(gauge, g);
    if spark.width > 2 {
        let [pad, spark] =
            Layout::horizontal([Constraint::Length(1), Constraint::Min(0)]).areas(spark);
        let _ = pad;
        let history = app.max_score_history();
        let data = tail_points(history.iter().copied(), usize::from(spark.width));
        frame.render_widget(
            Sparkline::default()
                .data(data)
                .max(100)
                .style(Style::new().fg(app.band_color(band))),
            spark,
        );
    }
}

/// The last `width` points as sparkline bars (scores are 0–100).
fn tail_points(points: impl ExactSizeIterator<Item = f64>, width: usize) -> Vec<u64> {
    let skip = points.len().saturating_sub(width);
    points
        .skip(skip)
        .map(|v| v.clamp(0.0, 100.0).round() as u64)
        .collect()
}

// ----- process table ---------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Trend,
    Pid,
    Command,
    Score,
    Band,
    Cpu,
    Gpu,
    Mem,
    Disk,
    Wake,
    State,
    Dominant,
}

impl Col {
    /// (title, width, right-aligned, drop priority: higher is dropped first).
    fn spec(self) -> (&'static str, u16, bool, u8) {
        match self {
            Col::Trend => ("", 1, false, 0),
            Col::Pid => ("PID", 7, true, 0),
            Col::Command => ("COMMAND", 0, false, 0),
            Col::Score => ("SCORE", 6, true, 0),
            Col::Band => ("BAND", 8, false, 4),
            Col::Cpu => ("CPU", 5, true, 1),
            Col::Gpu => ("GPU", 5, true, 3),
            Col::Mem => ("MEM", 5, true, 1),
            Col::Disk => ("DISK", 5, true, 2),
            Col::Wake => ("WAKE", 5, true, 3),
            Col::State => ("S", 1, false, 2),
            Col::Dominant => ("DOMINANT", 8, false, 2),
        }
    }

    fn sort(self) -> Option<SortColumn> {
        match self {
            Col::Pid => Some(SortColumn::Pid),
            Col::Command => Some(SortColumn::Command),
            Col::Score => Some(SortColumn::Score),
            Col::Cpu => Some(SortColumn::Cpu),
            Col::Gpu => Some(SortColumn::Gpu),
            Col::Mem => Some(SortColumn::Mem),
            Col::Disk => Some(SortColumn::Disk),
            Col::Wake => Some(SortColumn::Wake),
            Col::Trend | Col::Band | Col::State | Col::Dominant => None,
        }
    }
}

const ALL_COLS: [Col; 12] = [
    Col::Trend,
    Col::Pid,
    Col::Command,
    Col::Score,
    Col::Band,
    Col::Cpu,
    Col::Gpu,
    Col::Mem,
    Col::Disk,
    Col::Wake,
    Col::State,
    Col::Dominant,
];

const MIN_COMMAND: u16 = 14;

/// The columns that fit `inner` cells, and the command column's width.
fn fit_columns(inner: u16) -> (Vec<Col>, u16) {
    let mut cols: Vec<Col> = ALL_COLS.to_vec();
    loop {
        let fixed: u16 = cols.iter().map(|c| c.spec().1).sum();
        let gaps = cols.len() as u16 - 1;
        let command = inner.saturating_sub(fixed + gaps);
        if command >= MIN_COMMAND {
            return (cols, command);
        }
        let worst = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.spec().3 > 0)
            .max_by_key(|(_, c)| c.spec().3)
            .map(|(i, _)| i);
        match worst {
            Some(i) => {
                cols.remove(i);
            }
            None => return (cols, command.max(1)),
        }
    }
}

/// A share as at most 5 characters; "-" when not measured.
fn share_text(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) if v < 99_999.5 => format!("{v:.0}"),
        Some(_) => "huge".into(),
    }
}

fn trend_style(t: Trend, app: &App) -> Style {
    match t {
        Trend::Rising => Style::new().fg(app.band_color(Band::Critical)),
        Trend::Falling => Style::new().fg(app.band_color(Band::Low)),
        Trend::Steady => Style::new().fg(Color::DarkGray),
    }
}

fn cell_for(col: Col, p: &ProcessScore, command_w: u16, app: &App) -> Cell<'static> {
    let band_style = Style::new().fg(app.band_color(p.band));
    let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    match col {
        Col::Trend => {
            let t = app.trend(p.key());
            Cell::from(Span::styled(t.arrow().to_string(), trend_style(t, app)))
        }
        Col::Pid => right(p.pid.to_string()),
        Col::Command => Cell::from(format::truncate(
            &format::escape(&p.command),
            usize::from(command_w),
        )),
        Col::Score => Cell::from(
            Line::from(Span::styled(format!("{:.1}", p.score), band_style))
                .alignment(Alignment::Right),
        ),
        Col::Band => Cell::from(Span::styled(p.band.as_str(), band_style)),
        Col::Cpu => right(share_text(p.cpu_share)),
        Col::Gpu => right(share_text(p.gpu_share)),
        Col::Mem => right(share_text(p.mem_share)),
        Col::Disk => right(share_text(p.disk_share)),
        Col::Wake => right(share_text(p.wakeups_share)),
        Col::State => Cell::from(p.state.letter().to_string()),
        Col::Dominant => Cell::from(p.dominant_resource.as_str()),
    }
}

fn draw_table(frame: &mut Frame, area: Rect, app: &App) {
    let (sort, _) = app.sort();
    let arrow = if app.sort_descending() { '▼' } else { '▲' };
    let title = match app.latest() {
        Some(s) => format!(
            " Processes: top {} of {} — by {} {arrow} ",
            s.rogues.len(),
            s.process_count,
            sort.as_str()
        ),
        None => " Processes ".to_string(),
    };
    let block = Block::bordered().title(title);
    if app.rows().is_empty() {
        let text = match app.connection() {
            ConnectionState::Disconnected { .. } => "no data: waiting for the daemon",
            _ => "waiting for the first sample…",
        };
        frame.render_widget(
            Paragraph::new(text)
                .style(Style::new().fg(Color::DarkGray))
                .block(block),
            area,
        );
        return;
    }
    // Inner width less the selection marker column.
    let inner = area.width.saturating_sub(3);
    let (cols, command_w) = fit_columns(inner);
    let header = Row::new(cols.iter().map(|&c| {
        let (title, _, right, _) = c.spec();
        let mut t = title.to_string();
        if c.sort() == Some(sort) {
            t.push(arrow);
        }
        let line = Line::from(t);
        Cell::from(if right {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = cols.iter().map(|&c| match c {
        Col::Command => Constraint::Min(command_w),
        c => Constraint::Length(c.spec().1),
    });
    let rows = app.rows().iter().map(|p| {
        Row::new(
            cols.iter()
                .map(|&c| cell_for(c, p, command_w, app))
                .collect::<Vec<_>>(),
        )
    });
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▸")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(table, area, &mut state);
}

// ----- events panel ------------------------------------------------------------

fn event_line(e: &EventLine, width: usize, app: &App) -> Line<'static> {
    let band = Style::new().fg(app.band_color(e.band));
    let mut spans = vec![
        Span::styled(app.time_text(e.at), Style::new().fg(Color::DarkGray)),
        Span::raw(" "),
        Span::raw(format!("{:<9}", e.label)),
        Span::raw(" "),
    ];
    let compact = width < 60;
    if !compact {
        spans.push(Span::styled(format!("{:<8}", e.band.as_str()), band));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(format!("{:>5.1}", e.score), band));
    spans.push(Span::raw(" "));
    if !compact {
        spans.push(Span::raw(format!("{:<7}", e.resource.as_str())));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(format!("{} ", e.pid)));
    let used: usize = spans.iter().map(Span::width).sum();
    let mut rest = format::escape(&e.command);
    if let Some(note) = &e.note {
        rest.push_str(&format!(" ({})", format::escape(note)));
    }
    spans.push(Span::raw(format::truncate(
        &rest,
        width.saturating_sub(used),
    )));
    Line::from(spans)
}

fn draw_events(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(" Recent events ");
    let inner = block.inner(area);
    let lines: Vec<Line> = if app.events().is_empty() {
        let text = match app.connection() {
            ConnectionState::Embedded => "no daemon: events are recorded by `rogue-hunter daemon`",
            _ if app.events_loaded() => "no recent events",
            _ => "no events yet",
        };
        vec![Line::styled(
            format::truncate(text, usize::from(inner.width)),
            Style::new().fg(Color::DarkGray),
        )]
    } else {
        app.events()
            .iter()
            .take(usize::from(inner.height))
            .map(|e| event_line(e, usize::from(inner.width), app))
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

// ----- detail pane ---------------------------------------------------------------

fn metric_row(label: &str, unit: Unit, m: &Option<MetricValue>) -> Row<'static> {
    let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    match m {
        Some(m) => Row::new(vec![
            Cell::from(label.to_string()),
            right(format::metric_value(unit, m.current)),
            right(format::metric_value(unit, m.low)),
            right(format::metric_value(unit, m.high)),
        ]),
        None => Row::new(vec![
            Cell::from(label.to_string()),
            right("-".into()),
            right("-".into()),
            right("-".into()),
        ])
        .style(Style::new().fg(Color::DarkGray)),
    }
}

fn draw_detail(frame: &mut Frame, area: Rect, big: bool, app: &App) {
    let Some(p) = app.selected() else {
        frame.render_widget(
            Paragraph::new("no process selected")
                .style(Style::new().fg(Color::DarkGray))
                .block(Block::bordered().title(" Detail ")),
            area,
        );
        return;
    };
    let title_room = usize::from(area.width.saturating_sub(4));
    let title = format::truncate(
        &format!("{} {}", p.pid, format::escape(&p.command)),
        title_room.saturating_sub(2),
    );
    let block = Block::bordered().title(format!(" {title} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = usize::from(inner.width);
    let band_style = Style::new().fg(app.band_color(p.band));
    let trend = app.trend(p.key());

    let compact = inner.height < 16;
    let mut info: Vec<Line> = vec![Line::from(vec![
        Span::styled(
            format!("{:.1} {}", p.score, p.band),
            band_style.add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::styled(trend.arrow().to_string(), trend_style(trend, app)),
        Span::raw(if compact {
            format!(
                "  {}  ×{:.1}",
                format::dominant_value(p),
                p.disproportionality
            )
        } else {
            format!(
                "  {}  {:.1}× an even split",
                format::dominant_value(p),
                p.disproportionality
            )
        }),
    ])];
    if !compact {
        let mut state = format!(
            "state {} {}  started {}",
            p.state.letter(),
            p.state.as_str(),
            app.time_text(p.start_time_ms as f64 / 1000.0)
        );
        if let Some(prio) = p.priority {
            state.push_str(&format!("  prio {prio}"));
        }
        info.push(Line::raw(format::truncate(&state, w)));
        if let Some(cg) = &p.cgroup {
            info.push(Line::raw(format::truncate(
                &format!("cgroup {}", format::escape(cg)),
                w,
            )));
        }
        let shares: Vec<String> = Resource::ALL
            .iter()
            .map(|&r| {
                let name = match r {
                    Resource::Memory => "mem",
                    Resource::Wakeups => "wake",
                    r => r.as_str(),
                };
                format!("{name} {}", share_text(p.share(r)))
            })
            .collect();
        info.push(Line::raw(format::truncate(
            &format!("shares {}", shares.join("  ")),
            w,
        )));
    }
    let spark_h = if big && !compact { 3 } else { 1 };
    let [info_area, spark_area, metrics_area] = Layout::vertical([
        Constraint::Length(info.len() as u16),
        Constraint::Length(spark_h),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(info), info_area);
    let scores = app.score_history(p.key());
    frame.render_widget(
        Sparkline::default()
            .data(tail_points(
                scores.into_iter(),
                usize::from(spark_area.width),
            ))
            .max(100)
            .style(band_style),
        spark_area,
    );

    // Metrics: all of them if they fit, else the measured ones first.
    let header_rows = u16::from(!compact);
    let room = usize::from(metrics_area.height.saturating_sub(header_rows));
    let all: Vec<(&str, Unit, &Option<MetricValue>)> = METRICS
        .iter()
        .zip(p.metrics())
        .map(|(info, m)| (info.label, info.unit, m))
        .collect();
    let shown: Vec<_> = if all.len() <= room {
        all
    } else {
        all.into_iter().filter(|(_, _, m)| m.is_some()).collect()
    };
    let rows = shown
        .into_iter()
        .map(|(label, unit, m)| metric_row(label, unit, m));
    let mut table = Table::new(
        rows,
        [
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .column_spacing(1);
    if !compact {
        let right = |s: &'static str| Cell::from(Line::from(s).alignment(Alignment::Right));
        table = table.header(
            Row::new(vec![
                Cell::from("metric"),
                right("now"),
                right("low"),
                right("high"),
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        );
    }
    frame.render_widget(table, metrics_area);
}

// ----- footer and help -------------------------------------------------------------

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let (sort, _) = app.sort();
    let arrow = if app.sort_descending() { '▼' } else { '▲' };
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let line = match app.status() {
        Some(status) => {
            let help = " ? help";
            let room = usize::from(area.width).saturating_sub(help.len() + 1);
            Line::from(vec![
                Span::styled(
                    format!(
                        " {:<room$}",
                        format::truncate(&format::escape(status), room)
                    ),
                    Style::new().fg(Color::Yellow),
                ),
                Span::styled(help, key),
            ])
        }
        None => {
            let mut spans = Vec::new();
            let mut items = vec![
                ("q", "quit".to_string()),
                ("↑↓/jk", "select".to_string()),
                ("s", format!("sort: {} {arrow}", sort.as_str())),
                ("r", "reverse".to_string()),
            ];
            if matches!(app.connection(), ConnectionState::Connected) {
                items.push(("e", "events".to_string()));
            }
            items.push(("?", "help".to_string()));
            for (k, what) in items {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(k, key));
                spans.push(Span::raw(format!(" {what} ")));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(line, area);
}

const HELP: &[(&str, &str)] = &[
    ("q  Esc  Ctrl-C", "quit (Esc closes this help first)"),
    ("↑ ↓  j k", "select a process"),
    (
        "PgUp PgDn Home End",
        "move by a page / to the ends (also g G)",
    ),
    ("s", "sort by the next column"),
    ("S  r", "reverse the sort"),
    ("e", "reload recent events from the daemon"),
    ("?  F1", "toggle this help"),
];

fn draw_help(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<19}"),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        " Shares (CPU GPU MEM DISK WAKE): use as % of the machine's",
    ));
    lines.push(Line::raw(
        " capacity per fair share. Trend: score now vs 5 samples ago.",
    ));
    let mut bands = vec![Span::raw(" Bands: ")];
    for &b in Band::ALL {
        bands.push(Span::styled(
            format!("{} ≥{:.0} ", b, app.bands().threshold(b)),
            Style::new().fg(app.band_color(b)),
        ));
    }
    lines.push(Line::from(bands));
    let w = 66.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Help ")),
        popup,
    );
}
