//! The detail pane: the selected process's score, state, shares, score
//! sparkline and metrics (now, low, high).

use super::{tail_points, trend_style};
use crate::format;
use crate::model::{METRICS, MetricValue, Resource, Unit};
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

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

/// Draw the selected process's detail into `area` (taller sparkline when `big`).
pub(super) fn draw(frame: &mut Frame, area: Rect, big: bool, app: &App) {
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
        let mut owner = Vec::new();
        if let Some(uid) = p.uid {
            owner.push(format!(
                "user {} (uid {uid})",
                format::escape(&app.user_text(Some(uid)))
            ));
        }
        if let Some(t) = p.cpu_time_s {
            owner.push(format!("TIME+ {} of CPU", format::cpu_time(t)));
        }
        if !owner.is_empty() {
            info.push(Line::raw(format::truncate(&owner.join("  "), w)));
        }
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
                format!("{name} {}", format::share(p.share(r)))
            })
            .collect();
        info.push(Line::raw(format::truncate(
            &format!("score shares {}", shares.join("  ")),
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
    // Linux never measures some metrics (GPU time, energy, QoS): rows of
    // "-" there say nothing, so they are left out; elsewhere every metric is
    // listed if it fits, else the measured ones first.
    let shown: Vec<_> = if all.len() <= room && !cfg!(target_os = "linux") {
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
