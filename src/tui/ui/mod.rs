//! Rendering: one frame of the dashboard from an `App`, with ratatui widgets.
//!
//! Pure: draws into whatever `Frame` it is given (a real terminal or a
//! `TestBackend`), adapting the layout to the size. Every untrusted string
//! (process names, cgroups, event reasons, daemon errors) goes through
//! `format::escape` before it reaches a cell.
//!
//! This module lays the screen out and holds what several panels share; each
//! panel draws itself: `header` (status line, stress gauge, max-score
//! sparkline, and the machine `meters`), `table` (the process table), `events` (recent events), `detail`
//! (the selected process), `footer` (key hints or status) and `help` (the
//! popup).

mod detail;
mod events;
mod footer;
mod header;
mod help;
mod meters;
mod overlay;
mod table;

use super::app::{App, SortColumn, Trend};
use crate::model::Band;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};

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

/// Split the screen. `rows` is the number of processes to show,
/// `events_shown` the events panel's configured length and `meter_rows` the
/// header's machine meters (`meters::rows`).
pub fn layout(area: Rect, rows: usize, events_shown: usize, meter_rows: u16) -> Areas {
    let big = area.width >= 120 && area.height >= 35;
    let header_h = if big { 4 } else { 2 } + meter_rows;
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

/// Rows of machine meters the header has at this size.
fn meter_rows(area: Rect, app: &App) -> u16 {
    meters::rows(area, app.latest().and_then(|s| s.system.as_deref()))
}

/// Process rows visible in the table at this screen size (for PageUp/Down).
pub fn table_rows(area: Rect, app: &App) -> usize {
    let a = layout(
        area,
        app.rows().len(),
        app.events_shown(),
        meter_rows(area, app),
    );
    usize::from(a.table.height.saturating_sub(3))
}

/// Draw the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let meters = meter_rows(area, app);
    let a = layout(area, app.rows().len(), app.events_shown(), meters);
    header::draw(frame, a.header, a.big, meters, app);
    table::draw(frame, a.table, app);
    if let Some(r) = a.events {
        events::draw(frame, r, app);
    }
    if let Some(r) = a.detail {
        detail::draw(frame, r, a.big, app);
    }
    footer::draw(frame, a.footer, app);
    if app.show_help() {
        help::draw(frame, area, app);
    }
    if app.panel().is_some() {
        overlay::draw_panel(frame, area, app);
    }
    if app.kill_menu().is_some() {
        overlay::draw_kill_menu(frame, area, app);
    }
}

/// What a mouse click at (`x`, `y`) landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A table row, counted from the first one shown.
    Row(usize),
    /// A sortable column's header.
    Header(SortColumn),
    /// A line of the events pane.
    Event(usize),
    Nothing,
}

/// Map a click to the part of the screen under it (the same layout `draw` uses).
pub fn hit(area: Rect, app: &App, x: u16, y: u16) -> Hit {
    let a = layout(
        area,
        app.rows().len(),
        app.events_shown(),
        meter_rows(area, app),
    );
    let inside = |r: Rect| x > r.x && x + 1 < r.x + r.width && y > r.y && y + 1 < r.y + r.height;
    if let Some(e) = a.events.filter(|&e| inside(e)) {
        let h = usize::from(e.height.saturating_sub(2));
        return Hit::Event(events::events_skip(app, h) + usize::from(y - e.y - 1));
    }
    let t = a.table;
    if !inside(t) {
        return Hit::Nothing;
    }
    if y == t.y + 1 {
        // The header: columns after the border and the selection marker,
        // one cell apart.
        let (cols, command_w) = table::fit_columns(t.width.saturating_sub(3), app.sort().0);
        let mut left = t.x + 2;
        for c in cols {
            let w = match c.spec().1 {
                0 => command_w,
                w => w,
            };
            if x >= left && x < left + w + 1 {
                return c.sort().map_or(Hit::Nothing, Hit::Header);
            }
            left += w + 1;
        }
        return Hit::Nothing;
    }
    Hit::Row(usize::from(y - t.y - 2))
}

// ----- shared by the panels ----------------------------------------------------

/// The last `width` points as sparkline bars (scores are 0–100).
fn tail_points(points: impl ExactSizeIterator<Item = f64>, width: usize) -> Vec<u64> {
    let skip = points.len().saturating_sub(width);
    points
        .skip(skip)
        .map(|v| v.clamp(0.0, 100.0).round() as u64)
        .collect()
}

/// The colour of a trend arrow: rising reads as critical, falling as low.
fn trend_style(t: Trend, app: &App) -> Style {
    match t {
        Trend::Rising => Style::new().fg(app.band_color(Band::Critical)),
        Trend::Falling => Style::new().fg(app.band_color(Band::Low)),
        Trend::Steady => Style::new().fg(Color::DarkGray),
    }
}
