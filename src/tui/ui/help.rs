//! The help popup: keys, what the columns, shares, trends, stress and meters
//! mean, the band thresholds.

use crate::model::Band;
use crate::tui::app::App;
use crate::tui::keymap::{HELP, HELP_NOTES};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Draw the help popup centred over `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<16}"),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    for &text in HELP_NOTES {
        lines.push(Line::raw(text));
    }
    let mut bands = vec![Span::raw(" Bands: ")];
    for &b in Band::ALL {
        bands.push(Span::styled(
            format!("{} ≥{:.0} ", b, app.bands().threshold(b)),
            Style::new().fg(app.band_color(b)),
        ));
    }
    lines.push(Line::from(bands));
    let w = 72.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    let title = if lines.len() + 2 > usize::from(h) {
        " Help — ↑↓ PgUp PgDn scroll, Esc closes "
    } else {
        " Help — Esc closes "
    };
    let scroll = app
        .help_scroll()
        .min(lines.len().saturating_sub(usize::from(h.saturating_sub(2))));
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((u16::try_from(scroll).unwrap_or(0), 0))
            .block(Block::bordered().title(title)),
        popup,
    );
}
