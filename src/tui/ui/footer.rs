//! The footer: key hints, or the current status message.

use crate::format;
use crate::tui::app::{App, ConnectionState};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Draw the one-line footer into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
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
            let mut items = if app.replaying() {
                vec![
                    ("q", "quit".to_string()),
                    ("[ ]", "±1s".to_string()),
                    ("{ }", "±1m".to_string()),
                    ("n N", "prev/next event".to_string()),
                    ("L", "live".to_string()),
                    ("↑↓", "select".to_string()),
                ]
            } else {
                vec![
                    ("q", "quit".to_string()),
                    ("↑↓/jk", "select".to_string()),
                    ("s", format!("sort: {} {arrow}", sort.as_str())),
                    ("r", "reverse".to_string()),
                ]
            };
            if !app.replaying() {
                items.push(("R", "replay".to_string()));
            }
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
