//! The recent-events panel.

use crate::format;
use crate::tui::app::{App, ConnectionState, EventLine, Pane};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Lines scrolled off the top of the pane, `h` lines high: the focused pane
/// scrolls to its selection; unfocused, it shows the newest.
pub(super) fn events_skip(app: &App, h: usize) -> usize {
    if app.focus() == Pane::Events {
        app.event_selected().saturating_sub(h.max(1) - 1)
    } else {
        0
    }
}

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

/// Draw the recent-events panel into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus() == Pane::Events;
    let block = if focused {
        Block::bordered()
            .title(" Recent events — Enter opens, Tab back ")
            .border_style(Style::new().fg(Color::Cyan))
    } else {
        Block::bordered().title(" Recent events (Tab) ")
    };
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
        let h = usize::from(inner.height).max(1);
        let skip = events_skip(app, h);
        app.events()
            .iter()
            .enumerate()
            .skip(skip)
            .take(h)
            .map(|(i, e)| {
                let line = event_line(e, usize::from(inner.width), app);
                if focused && i == app.event_selected() {
                    line.style(Style::new().add_modifier(ratatui::style::Modifier::REVERSED))
                } else {
                    line
                }
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
