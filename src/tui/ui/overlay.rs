//! Popups over the dashboard: the signal menu with its confirmation (`k`),
//! and an event's timeline and forensic summary (Enter in the events pane).

use crate::format;
use crate::sys::Sig;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The signal menu, or its confirmation once a signal is picked.
pub(super) fn draw_kill_menu(frame: &mut Frame, area: Rect, app: &App) {
    let Some(k) = app.kill_menu() else { return };
    let who = format::truncate(&format::escape(&k.command), 40);
    let mut lines = Vec::new();
    let title;
    if k.confirming {
        let sig = Sig::ALL[k.choice.min(Sig::ALL.len() - 1)];
        title = " Confirm ".to_string();
        lines.push(Line::raw(format!(" Send {} to pid {}", sig.name(), k.pid)));
        lines.push(Line::raw(format!(" {who}?")));
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            " y send   n / Esc cancel",
            Style::new().fg(Color::Cyan),
        ));
    } else {
        title = format!(" Send a signal to pid {} ", k.pid);
        lines.push(Line::raw(format!(" {who}")));
        lines.push(Line::raw(""));
        for (i, sig) in Sig::ALL.iter().enumerate() {
            let text = format!(" {} {:<5} {}", i + 1, sig.name(), sig.meaning());
            lines.push(if i == k.choice {
                Line::styled(text, Style::new().add_modifier(Modifier::REVERSED))
            } else {
                Line::raw(text)
            });
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            " ↑↓ or 1-6 pick, Enter choose, Esc cancel",
            Style::new().fg(Color::Cyan),
        ));
    }
    let popup = centred(area, 58, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        popup,
    );
}

/// An event's text, scrolled, over most of the screen.
pub(super) fn draw_panel(frame: &mut Frame, area: Rect, app: &App) {
    let Some(p) = app.panel() else { return };
    let popup = centred(
        area,
        area.width.saturating_sub(4).max(20),
        area.height.saturating_sub(2).max(5),
    );
    let inner_h = usize::from(popup.height.saturating_sub(2));
    let w = usize::from(popup.width.saturating_sub(2));
    let lines: Vec<Line> = p
        .lines
        .iter()
        .skip(p.scroll)
        .take(inner_h)
        // The renderer escaped untrusted text; escape again costs nothing
        // for clean text and keeps raw control characters off the terminal.
        .map(|l| Line::raw(format::truncate(&format::escape(l), w)))
        .collect();
    let more = if p.lines.len() > p.scroll + inner_h {
        format!(" ↓ {} more", p.lines.len() - p.scroll - inner_h)
    } else {
        String::new()
    };
    let title = format!(
        " {} — ↑↓ PgUp PgDn scroll, Esc closes{more} ",
        format::truncate(&format::escape(p.title.trim()), 40)
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            title,
            Style::new().add_modifier(Modifier::BOLD),
        ))),
        popup,
    );
}
