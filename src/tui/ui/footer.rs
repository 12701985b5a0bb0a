//! The footer: the prompt being typed, else the current status message, else
//! key hints.

use crate::format;
use crate::tui::app::{App, ConnectionState, PromptKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Draw the one-line footer into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let (sort, _) = app.sort();
    let arrow = if app.sort_descending() { '▼' } else { '▲' };
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    if let Some(p) = app.prompt() {
        let (label, hint) = match p.kind {
            PromptKind::Search => ("search: ", "  Enter keep · F3 next · Esc cancel"),
            PromptKind::Filter => (
                "filter (command, user, cgroup): ",
                "  Enter apply · empty clears · Esc cancel",
            ),
        };
        let room = usize::from(area.width).saturating_sub(label.len() + hint.chars().count() + 2);
        frame.render_widget(
            Line::from(vec![
                Span::styled(format!(" {label}"), key),
                Span::raw(format!(
                    "{}█",
                    format::truncate(&format::escape(&p.text), room)
                )),
                Span::styled(hint, Style::new().fg(Color::DarkGray)),
            ]),
            area,
        );
        return;
    }
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
                    ("?", "help".to_string()),
                    ("[ ]", "±1s".to_string()),
                    ("{ }", "±1m".to_string()),
                    ("n N", "prev/next event".to_string()),
                    ("L", "live".to_string()),
                    ("/", "search".to_string()),
                    ("g", app.view().as_str().to_string()),
                ]
            } else {
                vec![
                    ("q", "quit".to_string()),
                    ("?", "help".to_string()),
                    ("/", "search".to_string()),
                    ("\\", "filter".to_string()),
                    ("t", "tree".to_string()),
                    ("g", app.view().as_str().to_string()),
                    ("s", format!("sort: {} {arrow}", sort.as_str())),
                    ("k", "signal".to_string()),
                    ("Tab", "events".to_string()),
                    ("R", "replay".to_string()),
                ]
            };
            if matches!(app.connection(), ConnectionState::Connected) {
                items.push(("e", "reload events".to_string()));
            }
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
