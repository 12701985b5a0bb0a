//! The process table: columns dropped by priority to fit the width, the
//! sort column marked, the selection highlighted. Numbers in the units people
//! expect: CPU% of one core (100 = one core, as htop and top), memory in
//! bytes, disk in bytes per second, wakeups per second; the score's shares
//! are in the detail pane, labelled as shares.

use super::trend_style;
use crate::format;
use crate::model::{GroupScore, ProcessScore};
use crate::tui::app::{App, ConnectionState, SortColumn, View, add_opt};
use crate::tui::tree::TreeLine;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Trend,
    Pid,
    User,
    Command,
    Score,
    Band,
    Cpu,
    Gpu,
    Mem,
    Time,
    Disk,
    Wake,
    State,
    Dominant,
}

impl Col {
    /// (title, width, right-aligned, drop priority: higher is dropped first,
    /// 0 never). Narrowing, BAND goes first (the score is in its colour),
    /// then WAKE/s and GPU% (unmeasured on many machines), DISK/s (the
    /// DOMINANT column still names disk), TIME+, USER, S, DOMINANT; PID,
    /// COMMAND, SCORE, CPU% and MEM stay.
    pub(super) fn spec(self) -> (&'static str, u16, bool, u8) {
        match self {
            Col::Trend => ("", 1, false, 0),
            Col::Pid => ("PID", 7, true, 0),
            Col::User => ("USER", 8, false, 4),
            Col::Command => ("COMMAND", 0, false, 0),
            Col::Score => ("SCORE", 6, true, 0),
            Col::Band => ("BAND", 8, false, 9),
            Col::Cpu => ("CPU%", 6, true, 1),
            Col::Gpu => ("GPU%", 5, true, 7),
            Col::Mem => ("MEM", 6, true, 1),
            Col::Time => ("TIME+", 8, true, 5),
            Col::Disk => ("DISK/s", 7, true, 6),
            Col::Wake => ("WAKE/s", 6, true, 8),
            Col::State => ("S", 1, false, 3),
            Col::Dominant => ("DOMINANT", 8, false, 2),
        }
    }

    pub(super) fn sort(self) -> Option<SortColumn> {
        match self {
            Col::Pid => Some(SortColumn::Pid),
            Col::User => Some(SortColumn::User),
            Col::Time => Some(SortColumn::CpuTime),
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

const ALL_COLS: [Col; 14] = [
    Col::Trend,
    Col::Pid,
    Col::User,
    Col::Command,
    Col::Score,
    Col::Band,
    Col::Cpu,
    Col::Gpu,
    Col::Mem,
    Col::Time,
    Col::Disk,
    Col::Wake,
    Col::State,
    Col::Dominant,
];

const MIN_COMMAND: u16 = 14;

/// The columns that fit `inner` cells, and the command column's width. The
/// column the table is sorted by is never dropped (`T` on a narrow terminal
/// shows TIME+, in place of a column dropped earlier).
pub(super) fn fit_columns(inner: u16, sorted_by: SortColumn) -> (Vec<Col>, u16) {
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
            .filter(|(_, c)| c.spec().3 > 0 && c.sort() != Some(sorted_by))
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

/// The tree's branch drawing and fold mark before a command. Deep trees
/// indent at most a third of the command column, so the names stay readable.
fn tree_prefix(t: &TreeLine, command_w: u16) -> String {
    let mut s = String::new();
    if t.depth > 0 {
        let indent = (2 * (t.depth - 1)).min(usize::from(command_w) / 3);
        s.push_str(&" ".repeat(indent));
        s.push_str(if t.last { "└─" } else { "├─" });
    }
    if t.folded {
        s.push_str(&format!("[+{}] ", t.descendants));
    }
    s
}

fn cell_for(
    col: Col,
    p: &ProcessScore,
    tree: Option<&TreeLine>,
    command_w: u16,
    app: &App,
) -> Cell<'static> {
    let band_style = Style::new().fg(app.band_color(p.band));
    let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    let folded = tree.filter(|t| t.folded);
    match col {
        // A folded row shows its whole subtree's CPU and memory.
        Col::Cpu if folded.is_some() => right(
            folded
                .and_then(|t| t.subtree_cpu)
                .map_or("-".into(), |v| format!("{v:.1}")),
        ),
        Col::Mem if folded.is_some() => right(
            folded
                .and_then(|t| t.subtree_mem)
                .map_or("-".into(), format::bytes),
        ),
        Col::Command if tree.is_some() => {
            let prefix = tree.map(|t| tree_prefix(t, command_w)).unwrap_or_default();
            let mark = if app.is_own(p) { "(self) " } else { "" };
            let room = usize::from(command_w)
                .saturating_sub(prefix.chars().count() + mark.chars().count());
            Cell::from(Line::from(vec![
                Span::styled(prefix, Style::new().fg(Color::DarkGray)),
                Span::styled(mark, Style::new().fg(Color::Cyan)),
                Span::raw(format::truncate(&format::escape(&p.command), room)),
            ]))
        }
        Col::Trend => {
            let t = app.trend(p.key());
            Cell::from(Span::styled(t.arrow().to_string(), trend_style(t, app)))
        }
        Col::Pid => right(p.pid.to_string()),
        Col::User => Cell::from(format::truncate(
            &format::escape(&app.user_text(p.uid)),
            usize::from(Col::User.spec().1),
        )),
        Col::Time => right(p.cpu_time_s.map_or("-".into(), format::cpu_time)),
        Col::Command if app.is_own(p) => {
            let mark = "(self) ";
            let room = usize::from(command_w).saturating_sub(mark.chars().count());
            Cell::from(Line::from(vec![
                Span::styled(mark, Style::new().fg(Color::Cyan)),
                Span::raw(format::truncate(&format::escape(&p.command), room)),
            ]))
        }
        Col::Command => Cell::from(format::truncate(
            &format::escape(&p.command),
            usize::from(command_w),
        )),
        Col::Score => Cell::from(
            Line::from(Span::styled(format!("{:.1}", p.score), band_style))
                .alignment(Alignment::Right),
        ),
        Col::Band => Cell::from(Span::styled(p.band.as_str(), band_style)),
        Col::Cpu => right(
            SortColumn::Cpu
                .value(p)
                .map_or("-".into(), |v| format!("{v:.1}")),
        ),
        Col::Gpu => right(
            SortColumn::Gpu
                .value(p)
                .map_or("-".into(), |v| format!("{v:.1}")),
        ),
        Col::Mem => right(SortColumn::Mem.value(p).map_or("-".into(), format::bytes)),
        Col::Disk => right(SortColumn::Disk.value(p).map_or("-".into(), format::bytes)),
        Col::Wake => right(SortColumn::Wake.value(p).map_or("-".into(), format::count)),
        Col::State => Cell::from(p.state.letter().to_string()),
        Col::Dominant => Cell::from(p.dominant_resource.as_str()),
    }
}

/// One group's cell: PROCS (members) in the PID column, the group's name in
/// the command column, sums in the metric columns.
fn group_cell(col: Col, g: &GroupScore, command_w: u16, app: &App) -> Cell<'static> {
    let band_style = Style::new().fg(app.band_color(g.band));
    let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    let num = |v: Option<f64>| v.filter(|v| v.is_finite());
    let m = &g.metrics;
    match col {
        Col::Trend | Col::State | Col::User | Col::Time => Cell::from(""),
        Col::Pid => right(g.member_count.to_string()),
        Col::Command => Cell::from(format::truncate(
            &format::escape(&g.name),
            usize::from(command_w),
        )),
        Col::Score => Cell::from(
            Line::from(Span::styled(format!("{:.1}", g.score), band_style))
                .alignment(Alignment::Right),
        ),
        Col::Band => Cell::from(Span::styled(g.band.as_str(), band_style)),
        Col::Cpu => {
            right(num(add_opt(m.cpu, m.children_cpu)).map_or("-".into(), |v| format!("{v:.1}")))
        }
        Col::Gpu => {
            right(num(m.gpu_time_rate.map(|ns| ns / 1e7)).map_or("-".into(), |v| format!("{v:.1}")))
        }
        Col::Mem => right(num(m.mem).map_or("-".into(), format::bytes)),
        Col::Disk => right(num(m.disk_io_rate).map_or("-".into(), format::bytes)),
        Col::Wake => right(num(m.wakeups_rate).map_or("-".into(), format::count)),
        Col::Dominant => Cell::from(g.dominant_resource.as_str()),
    }
}

/// The column title in the current view.
fn title_of(c: Col, groups: bool) -> &'static str {
    match c {
        Col::Pid if groups => "PROCS",
        Col::Command if groups => "GROUP",
        c => c.spec().0,
    }
}

/// Draw the process table (or what it waits for) into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let (sort, _) = app.sort();
    let arrow = if app.sort_descending() { '▼' } else { '▲' };
    let groups = !matches!(app.view(), View::Process | View::Tree);
    let title = match app.latest() {
        Some(s) => {
            let scope = if groups {
                format!(
                    "{} {} groups (the sample's worst)",
                    app.group_rows().len(),
                    app.view().as_str()
                )
            } else if app.full_table() {
                format!("{} of {}", app.rows().len(), s.process_count)
            } else {
                format!("top {} of {}", app.rows().len(), s.process_count)
            };
            let what = match app.view() {
                View::Tree => "Process tree",
                View::Process => "Processes",
                View::Cgroup | View::App => "Groups",
            };
            let paused = if app.paused() { "PAUSED — " } else { "" };
            let filter = if app.filter().is_empty() {
                String::new()
            } else {
                format!(
                    ", filter \"{}\"",
                    format::truncate(&format::escape(app.filter()), 30)
                )
            };
            let kernel = if app.show_kernel() {
                ""
            } else {
                ", kernel threads hidden"
            };
            let stale = if app.stale() {
                "STALE (daemon lost) — "
            } else {
                ""
            };
            let kernel = if groups { "" } else { kernel };
            format!(
                " {paused}{stale}{what}: {scope}{kernel}{filter} — by {} {arrow} ",
                sort.as_str()
            )
        }
        None => " Processes ".to_string(),
    };
    let block = Block::bordered().title(title);
    if app.row_count() == 0 {
        let text = match app.connection() {
            ConnectionState::Disconnected { .. } => "no data: waiting for the daemon",
            ConnectionState::Replay {
                note: Some(note), ..
            } => note.as_str(),
            _ if app.latest().is_some() && !app.filter().is_empty() => {
                "nothing matches the filter (\\ or F4 to change it)"
            }
            _ if app.latest().is_some() && groups => {
                "no groups of this kind in the sample (g for the next grouping)"
            }
            ConnectionState::Replay { .. } => "no processes recorded at this second",
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
    let (cols, command_w) = fit_columns(inner, sort);
    let header = Row::new(cols.iter().map(|&c| {
        let (_, _, right, _) = c.spec();
        let mut t = title_of(c, groups).to_string();
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
    // Only the visible rows are built: the table may hold thousands.
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let count = app.row_count();
    let offset = app.offset().min(count.saturating_sub(1));
    let end = (offset + visible).min(count);
    let rows: Vec<Row> = if groups {
        app.group_rows()[offset..end]
            .iter()
            .map(|g| {
                Row::new(
                    cols.iter()
                        .map(|&c| group_cell(c, g, command_w, app))
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    } else {
        (offset..end)
            .map(|i| {
                let p = &app.rows()[i];
                let t = app.tree().get(i);
                Row::new(
                    cols.iter()
                        .map(|&c| cell_for(c, p, t, command_w, app))
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    };
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▸")
        .highlight_spacing(HighlightSpacing::Always);
    if app.stale() {
        table = table.style(Style::new().fg(Color::DarkGray));
    }
    let selected = if groups {
        app.selected_group_index()
    } else {
        app.selected_index()
    };
    let mut state = TableState::default().with_selected(
        selected
            .filter(|&i| i >= offset && i < end)
            .map(|i| i - offset),
    );
    frame.render_stateful_widget(table, area, &mut state);
}
