//! The header: the status line (connection, processes, rate, daemon counts,
//! clock), the machine meters (`meters`) and the stress gauge beside the
//! stress sparkline.

use super::tail_points;
use crate::tui::app::{App, ConnectionState};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Sparkline};

fn connection_style(app: &App) -> Style {
    match app.connection() {
        ConnectionState::Connected => Style::new().fg(Color::Green),
        ConnectionState::Embedded => Style::new().fg(Color::Yellow),
        ConnectionState::Connecting => Style::new().fg(Color::Gray),
        ConnectionState::Disconnected { .. } => {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
        ConnectionState::Replay { .. } => Style::new()
            .fg(Color::Black)
            .bg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
    }
}

/// Draw the header into `area`: the status line, `meter_rows` of machine
/// meters, then the stress graphs (one row; three, taller, when `big`).
pub(super) fn draw(frame: &mut Frame, area: Rect, big: bool, meter_rows: u16, app: &App) {
    let [info, meters_area, graphs] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(meter_rows),
        Constraint::Min(0),
    ])
    .areas(area);
    if let Some(sys) = app.latest().and_then(|s| s.system.as_deref()) {
        super::meters::draw(frame, meters_area, sys);
    }

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
    if let Some(st) = &app.last_stall {
        let ago = app
            .latest()
            .map(|l| (l.timestamp_s - st.end_s.unwrap_or(l.timestamp_s)).max(0.0));
        let text = match ago {
            Some(a) if st.end_s.is_some() => format!(
                "last stall {} ago: {:.1}s {}",
                crate::format::duration(a),
                st.duration_s,
                st.kind
            ),
            _ => format!("STALLING {:.1}s {}", st.duration_s, st.kind),
        };
        pieces.push((3, Span::styled(text, Style::new().fg(Color::Red))));
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

    // Stress gauge and its sparkline: the machine's stress when the sample
    // carries the machine series, else the worst score.
    let system = app.latest().and_then(|s| s.system.as_deref());
    let max = app
        .latest()
        .map_or(0.0, |s| system.map_or(s.max_score, |m| m.stress))
        .clamp(0.0, 100.0);
    // NaN (never sent, but never trusted either) reads as 0.
    let max = if max.is_nan() { 0.0 } else { max };
    let band = app.bands().band_for(max);
    let gauge_w = if big { 36 } else { 26 } + if system.is_some() { 12 } else { 0 };
    let gauge_w = gauge_w.min(graphs.width);
    let [g, spark] =
        Layout::horizontal([Constraint::Length(gauge_w), Constraint::Min(0)]).areas(graphs);
    let label = match (app.latest(), system) {
        (Some(_), Some(sys)) => format!("stress {max:.1} {band} · {}", sys.stress_cause.as_str()),
        (Some(_), None) => format!("stress {max:.1} {band}"),
        (None, _) => "stress -".to_string(),
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
