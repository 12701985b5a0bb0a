//! The help popup: keys, what the columns, shares and trends mean, the band
//! thresholds.

use crate::model::Band;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

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
    ("R", "replay the recording from 60 s ago"),
    ("[ ]  { }", "replay: a second / a minute back or forward"),
    ("n N", "replay: the previous / next event or stall"),
    ("L", "replay: back to live"),
    ("?  F1", "toggle this help"),
];

/// Draw the help popup centred over `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
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
    for text in [
        " CPU% of one core (100 = one full core, as htop); GPU% of GPU",
        " time; MEM resident bytes; DISK/s bytes read+written per second;",
        " WAKE/s wakeups per second. Score shares (detail pane): use as %",
        " of the machine's capacity per fair share: the score's inputs.",
        " Trend: score now vs 5 samples ago.",
    ] {
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
