//! The dashboard's state: the latest sample sorted for display, per-process
//! score history and trends, recent events, selection, sort order, help and
//! connection state. Pure: no terminal, no clock, no I/O — messages and keys in,
//! state out, so every behaviour is testable without a terminal.

use crate::config::{BandsConfig, TuiConfig};
use crate::format;
use crate::ipc::protocol::{DaemonInfo, EventKind, EventNotice, ServerMessage};
use crate::model::EventRow;
use crate::model::{Band, ProcessKey, ProcessSamples, ProcessScore, Resource, Stall};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::style::Color;
use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;

/// Scores remembered per process identity (for its sparkline and trend).
pub const PROCESS_HISTORY: usize = 120;
/// Max-score points remembered for the header sparkline.
pub const MAX_HISTORY: usize = 600;
/// The trend compares the score now with the score this many samples ago.
pub const TREND_LOOKBACK: usize = 5;
/// A change smaller than this many score points is "steady".
pub const TREND_THRESHOLD: f64 = 2.0;
/// Sample timestamps kept to measure the sample rate.
const RATE_WINDOW: usize = 10;

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// Looking for the daemon.
    Connecting,
    /// Streaming from the daemon.
    Connected,
    /// No daemon: an in-process sampler feeds the dashboard.
    Embedded,
    /// Lost the daemon; the transport retries after `retry_in_secs`.
    Disconnected { reason: String, retry_in_secs: f64 },
    /// Replaying the recording at `at` (Unix seconds); `note` says what is
    /// (not) recorded there when it is not a recorded second.
    Replay { at: f64, note: Option<String> },
}

impl ConnectionState {
    /// `Disconnected` from a reason and the transport's backoff.
    pub fn disconnected(reason: impl Into<String>, retry_in: std::time::Duration) -> Self {
        ConnectionState::Disconnected {
            reason: reason.into(),
            retry_in_secs: retry_in.as_secs_f64(),
        }
    }
}

/// What the terminal loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// Ask the daemon for the recent events (`get_events`).
    RequestEvents,
    /// A replay key for the replay source.
    Replay(super::ReplayKey),
}

/// Columns the table can be sorted by (`s` cycles through them in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Score,
    Cpu,
    Gpu,
    Mem,
    Disk,
    Wake,
    Pid,
    Command,
}

impl SortColumn {
    pub const ALL: [SortColumn; 8] = [
        SortColumn::Score,
        SortColumn::Cpu,
        SortColumn::Gpu,
        SortColumn::Mem,
        SortColumn::Disk,
        SortColumn::Wake,
        SortColumn::Pid,
        SortColumn::Command,
    ];

    pub fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortColumn::Score => "score",
            SortColumn::Cpu => "cpu",
            SortColumn::Gpu => "gpu",
            SortColumn::Mem => "mem",
            SortColumn::Disk => "disk",
            SortColumn::Wake => "wake",
            SortColumn::Pid => "pid",
            SortColumn::Command => "command",
        }
    }

    /// Numbers sort biggest first, PID and command ascending (before reversal).
    pub fn descending_by_default(self) -> bool {
        !matches!(self, SortColumn::Pid | SortColumn::Command)
    }

    /// The number the column shows (and sorts by), in its own unit: CPU in
    /// percent of one core, GPU in percent of the GPU's time, memory in
    /// bytes, disk in bytes/s, wakeups per second.
    pub fn value(self, p: &ProcessScore) -> Option<f64> {
        let cur = ProcessScore::current;
        match self {
            SortColumn::Cpu => cur(&p.cpu),
            SortColumn::Gpu => cur(&p.gpu_time_rate).map(|ns| ns / 1e7),
            SortColumn::Mem => cur(&p.mem),
            SortColumn::Disk => cur(&p.disk_io_rate),
            SortColumn::Wake => cur(&p.wakeups_rate),
            SortColumn::Score | SortColumn::Pid | SortColumn::Command => None,
        }
        .filter(|v| v.is_finite())
    }
}

/// Direction of a process's score over the last few samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Rising,
    Falling,
    Steady,
}

impl Trend {
    pub fn arrow(self) -> char {
        match self {
            Trend::Rising => '↑',
            Trend::Falling => '↓',
            Trend::Steady => '→',
        }
    }
}

/// One line of the events panel, from a live `event` or a `get_events` row.
/// `command` and `note` are raw (untrusted): escape them before display.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    /// Unix seconds.
    pub at: f64,
    /// opened / escalated / closed / forensics (live) or open / closed (stored).
    pub label: &'static str,
    pub pid: u32,
    pub command: String,
    pub band: Band,
    pub score: f64,
    pub resource: Resource,
    pub note: Option<String>,
}

impl EventLine {
    fn from_notice(e: &EventNotice) -> EventLine {
        EventLine {
            at: e.at,
            label: match e.kind {
                EventKind::Opened => "opened",
                EventKind::Escalated => "escalated",
                EventKind::Closed => "closed",
                EventKind::Forensics => "forensics",
            },
            pid: e.pid,
            command: e.command.clone(),
            band: e.band,
            score: e.score,
            resource: e.dominant_resource,
            note: e.reason.clone(),
        }
    }

    /// A stall as a line of the events panel: its verdict (which names the
    /// likely cause) in the command column, its length in the score column.
    fn from_stall(s: &crate::model::Stall) -> EventLine {
        use crate::model::StallKind;
        EventLine {
            at: s.end_s.unwrap_or(s.start_s),
            label: if s.end_s.is_some() {
                "stall"
            } else {
                "stalling"
            },
            pid: s
                .pid
                .or_else(|| s.holders.first().map(|h| h.pid))
                .unwrap_or(0),
            command: s.verdict.clone(),
            band: Band::Critical,
            score: s.duration_s,
            resource: match s.kind {
                StallKind::Memory | StallKind::OomKill => Resource::Memory,
                StallKind::Io | StallKind::Stuck | StallKind::HungTask => Resource::Disk,
                StallKind::Scheduling | StallKind::Cpu | StallKind::Lockup => Resource::Cpu,
            },
            note: None,
        }
    }

    fn from_row(r: &EventRow) -> EventLine {
        EventLine {
            at: r.exit_time_s.unwrap_or(r.entry_time_s),
            label: if r.exit_time_s.is_some() {
                "closed"
            } else {
                "open"
            },
            pid: r.pid,
            command: r.command.clone(),
            band: r.peak_band,
            score: r.peak_score,
            resource: r.dominant_resource,
            note: r.close_reason.map(|c| c.to_string()),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ProcHistory {
    scores: VecDeque<f64>,
    last_seq: u64,
}

/// The dashboard's whole state.
#[derive(Debug, Clone)]
pub struct App {
    /// The last stall the daemon reported (live stream).
    pub last_stall: Option<crate::model::Stall>,
    band_colors: [Color; 5],
    bands: BandsConfig,
    events_shown: usize,
    connection: ConnectionState,
    daemon: Option<DaemonInfo>,
    latest: Option<ProcessSamples>,
    /// `latest.rogues` in display order.
    rows: Vec<ProcessScore>,
    seq: u64,
    histories: HashMap<ProcessKey, ProcHistory>,
    max_history: VecDeque<f64>,
    timestamps: VecDeque<f64>,
    events: VecDeque<EventLine>,
    events_loaded: bool,
    status: Option<String>,
    sort: SortColumn,
    reversed: bool,
    selected: Option<ProcessKey>,
    /// Row of the selection, used when the selected process leaves the table.
    selected_row: usize,
    page_size: usize,
    /// First row shown: the table scrolls to keep the selection visible.
    offset: usize,
    /// Kernel threads are listed (`K`); hidden by default, as htop.
    show_kernel: bool,
    /// The daemon sends every process (it answered `subscribe`).
    full_table: bool,
    /// This dashboard's own PID, marked in the table.
    own_pid: u32,
    /// The rows are from a daemon that is gone (until fresh data arrives).
    stale: bool,
    /// A daemon was lost: the embedded sampler stands in while it is away.
    daemon_lost: bool,
    show_help: bool,
    now: Option<f64>,
    time_format: fn(f64) -> String,
    /// How the replay header shows the cursor (local date, time and zone).
    replay_format: fn(f64) -> String,
}

/// `HH:MM:SS` in local time.
pub fn local_hms(unix_secs: f64) -> String {
    let full = format::local_time(unix_secs);
    full.get(11..).map_or(full.clone(), str::to_string)
}

/// `HH:MM:SS` in UTC (deterministic: for tests and snapshots).
pub fn utc_hms(unix_secs: f64) -> String {
    if !unix_secs.is_finite() {
        return "--:--:--".into();
    }
    let s = unix_secs.floor().rem_euclid(86_400.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn parse_color(name: &str, fallback: Color) -> Color {
    Color::from_str(name).unwrap_or(fallback)
}

impl App {
    pub fn new(config: &TuiConfig, bands: &BandsConfig) -> App {
        App {
            last_stall: None,
            band_colors: [
                parse_color(&config.color_low, Color::Green),
                parse_color(&config.color_medium, Color::Cyan),
                parse_color(&config.color_elevated, Color::Yellow),
                parse_color(&config.color_high, Color::LightRed),
                parse_color(&config.color_critical, Color::Red),
            ],
            bands: bands.clone(),
            events_shown: config.events_shown.max(1),
            connection: ConnectionState::Connecting,
            daemon: None,
            latest: None,
            rows: Vec::new(),
            seq: 0,
            histories: HashMap::new(),
            max_history: VecDeque::new(),
            timestamps: VecDeque::new(),
            events: VecDeque::new(),
            events_loaded: false,
            status: None,
            sort: SortColumn::Score,
            reversed: false,
            selected: None,
            selected_row: 0,
            page_size: 10,
            offset: 0,
            show_kernel: false,
            full_table: false,
            own_pid: std::process::id(),
            stale: false,
            daemon_lost: false,
            show_help: false,
            now: None,
            time_format: local_hms,
            replay_format: super::replay::local_with_zone,
        }
    }

    // ----- inputs -------------------------------------------------------

    /// Take one message from the daemon (or the embedded sampler).
    pub fn apply(&mut self, msg: &ServerMessage) {
        match msg {
            ServerMessage::InitialState {
                daemon, history, ..
            } => {
                // A (re)connection: the daemon's ring buffer is the truth now.
                self.histories.clear();
                self.max_history.clear();
                self.timestamps.clear();
                self.latest = None;
                self.rows.clear();
                self.status = None;
                self.daemon = Some(daemon.clone());
                if let Some(s) = &daemon.last_stall {
                    self.last_stall = Some(Stall::clone(s));
                }
                self.stale = false;
                for s in history {
                    self.push_sample(s.clone());
                }
                self.resort();
            }
            ServerMessage::Stall { stall } => {
                self.events.push_front(EventLine::from_stall(stall));
                self.events.truncate(self.events_shown);
                self.last_stall = Some(stall.clone());
            }
            ServerMessage::Sample { samples } => {
                if let Some(d) = &mut self.daemon {
                    d.sample_count = d.sample_count.saturating_add(1);
                }
                self.stale = false;
                self.push_sample(samples.clone());
                self.resort();
            }
            ServerMessage::Event { event } => {
                if let Some(d) = &mut self.daemon {
                    match event.kind {
                        EventKind::Opened => d.open_events = d.open_events.saturating_add(1),
                        EventKind::Closed => d.open_events = d.open_events.saturating_sub(1),
                        EventKind::Escalated | EventKind::Forensics => {}
                    }
                }
                self.events.push_front(EventLine::from_notice(event));
                self.events.truncate(self.events_shown);
            }
            ServerMessage::Events { events } => {
                let mut lines: Vec<EventLine> = events.iter().map(EventLine::from_row).collect();
                lines.sort_by(|a, b| b.at.total_cmp(&a.at));
                lines.truncate(self.events_shown);
                self.events = lines.into();
                self.events_loaded = true;
            }
            ServerMessage::Subscribed { full_table, .. } => self.full_table = *full_table,
            ServerMessage::Pong => {}
            ServerMessage::Error { message } => {
                self.status = Some(format!("daemon error: {message}"));
            }
        }
    }

    pub fn set_connection(&mut self, state: ConnectionState) {
        if matches!(self.connection, ConnectionState::Replay { .. })
            && !matches!(state, ConnectionState::Replay { .. })
        {
            // Back to live: nothing of the recording stays on screen.
            self.status = None;
            self.events.clear();
            self.events_loaded = false;
            self.last_stall = None;
            self.latest = None;
            self.rows.clear();
        }
        match &state {
            ConnectionState::Disconnected { reason, .. } => {
                self.status = Some(format!("lost the daemon: {reason}"));
                // What is on screen is no longer live.
                self.stale = self.latest.is_some();
                self.daemon_lost = true;
            }
            ConnectionState::Connected => {
                self.status = None;
                self.daemon_lost = false;
            }
            ConnectionState::Embedded if self.daemon_lost => {
                self.status = Some("the daemon is gone: sampling here until it is back".into());
            }
            ConnectionState::Embedded
            | ConnectionState::Connecting
            | ConnectionState::Replay { .. } => {}
        }
        self.connection = state;
    }

    /// Show the recording at the replay cursor: its second is the latest
    /// sample, the window before it feeds the sparklines and the ranges, and
    /// the events and stalls are those recorded by then.
    pub fn show_replay(&mut self, view: &super::ReplayView) {
        self.set_connection(ConnectionState::Replay {
            at: view.at,
            note: view.note.clone(),
        });
        self.daemon_lost = false;
        self.stale = false;
        self.histories.clear();
        self.max_history.clear();
        self.timestamps.clear();
        self.latest = None;
        self.rows.clear();
        for s in &view.window {
            self.push_sample(s.clone());
        }
        let mut lines: Vec<EventLine> = view
            .events
            .iter()
            .map(EventLine::from_row)
            .chain(view.stalls.iter().map(EventLine::from_stall))
            .collect();
        lines.sort_by(|a, b| b.at.total_cmp(&a.at));
        lines.truncate(self.events_shown);
        self.events = lines.into();
        self.events_loaded = true;
        self.last_stall = view
            .stalls
            .iter()
            .max_by(|a, b| a.start_s.total_cmp(&b.start_s))
            .cloned();
        self.status = view.status.clone();
        self.resort();
    }

    /// True while the dashboard shows the recording.
    pub fn replaying(&self) -> bool {
        matches!(self.connection, ConnectionState::Replay { .. })
    }

    /// How the replay header shows times (tests: a fixed zone).
    pub fn set_replay_format(&mut self, f: fn(f64) -> String) {
        self.replay_format = f;
    }

    /// True while the rows are from a daemon that is gone.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// Handle one key press.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        if let Some(k) = super::replay::key_for(&key, self.replaying()) {
            return Action::Replay(k);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return Action::Quit,
            KeyCode::Char('q') | KeyCode::Char('Q') => return Action::Quit,
            KeyCode::Esc if self.show_help => self.show_help = false,
            KeyCode::Esc => return Action::Quit,
            KeyCode::Char('?') | KeyCode::F(1) => self.show_help = !self.show_help,
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(self.page_size as isize)),
            KeyCode::PageDown => self.move_selection(self.page_size as isize),
            KeyCode::Home | KeyCode::Char('g') => self.select_row(0),
            KeyCode::End | KeyCode::Char('G') => {
                self.select_row(self.rows.len().saturating_sub(1));
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.reversed = false;
                self.resort();
            }
            KeyCode::Char('S') | KeyCode::Char('r') => {
                self.reversed = !self.reversed;
                self.resort();
            }
            KeyCode::Char('K') => {
                self.show_kernel = !self.show_kernel;
                self.status = Some(
                    if self.show_kernel {
                        "kernel threads shown (K hides them)"
                    } else {
                        "kernel threads hidden (K shows them)"
                    }
                    .into(),
                );
                self.resort();
            }
            KeyCode::Char('e') => {
                return match self.connection {
                    ConnectionState::Connected => Action::RequestEvents,
                    _ => Action::None,
                };
            }
            _ => {}
        }
        Action::None
    }

    /// A line for the status bar (shown until the next connection or replaced).
    pub fn set_status(&mut self, text: impl Into<String>) {
        self.status = Some(text.into());
    }

    /// The wall clock shown in the header (Unix seconds).
    pub fn set_clock(&mut self, now: f64) {
        self.now = Some(now);
    }

    /// How Unix times are shown (`local_hms` by default; `utc_hms` in tests).
    pub fn set_time_format(&mut self, f: fn(f64) -> String) {
        self.time_format = f;
    }

    /// Rows PageUp/PageDown move (the table's visible height).
    pub fn set_page_size(&mut self, rows: usize) {
        self.page_size = rows.max(1);
        self.keep_visible();
    }

    /// Mark `pid` as the dashboard's own process (tests; the default is this
    /// process).
    pub fn set_own_pid(&mut self, pid: u32) {
        self.own_pid = pid;
    }

    // ----- state for drawing ---------------------------------------------

    pub fn connection(&self) -> &ConnectionState {
        &self.connection
    }

    pub fn daemon(&self) -> Option<&DaemonInfo> {
        self.daemon.as_ref()
    }

    pub fn latest(&self) -> Option<&ProcessSamples> {
        self.latest.as_ref()
    }

    /// The processes of the latest sample, in display order.
    pub fn rows(&self) -> &[ProcessScore] {
        &self.rows
    }

    /// The first row the table shows.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// True when kernel threads are listed.
    pub fn show_kernel(&self) -> bool {
        self.show_kernel
    }

    /// True when the daemon (or the embedded sampler) sends every process.
    pub fn full_table(&self) -> bool {
        self.full_table || self.connection == ConnectionState::Embedded
    }

    /// True for the dashboard's own process.
    pub fn is_own(&self, p: &ProcessScore) -> bool {
        p.pid == self.own_pid
    }

    pub fn selected_index(&self) -> Option<usize> {
        let key = self.selected?;
        self.rows.iter().position(|p| p.key() == key)
    }

    pub fn selected(&self) -> Option<&ProcessScore> {
        self.selected_index().map(|i| &self.rows[i])
    }

    pub fn sort(&self) -> (SortColumn, bool) {
        (self.sort, self.reversed)
    }

    /// True when the current sort shows the biggest value first.
    pub fn sort_descending(&self) -> bool {
        self.sort.descending_by_default() != self.reversed
    }

    pub fn show_help(&self) -> bool {
        self.show_help
    }

    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    pub fn events(&self) -> &VecDeque<EventLine> {
        &self.events
    }

    /// True once a `get_events` reply has arrived.
    pub fn events_loaded(&self) -> bool {
        self.events_loaded
    }

    pub fn events_shown(&self) -> usize {
        self.events_shown
    }

    pub fn bands(&self) -> &BandsConfig {
        &self.bands
    }

    pub fn band_color(&self, band: Band) -> Color {
        self.band_colors[band as usize]
    }

    /// Max score per sample, oldest first.
    pub fn max_score_history(&self) -> &VecDeque<f64> {
        &self.max_history
    }

    /// Scores of one process, oldest first (empty if never seen).
    pub fn score_history(&self, key: ProcessKey) -> Vec<f64> {
        self.histories
            .get(&key)
            .map(|h| h.scores.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Rising, falling or steady: the score now against `TREND_LOOKBACK`
    /// samples ago (or the oldest known, if the process is newer than that).
    pub fn trend(&self, key: ProcessKey) -> Trend {
        let Some(h) = self.histories.get(&key) else {
            return Trend::Steady;
        };
        let n = h.scores.len();
        if n < 2 {
            return Trend::Steady;
        }
        let now = h.scores[n - 1];
        let then = h.scores[n.saturating_sub(TREND_LOOKBACK + 1)];
        let d = now - then;
        if d >= TREND_THRESHOLD {
            Trend::Rising
        } else if d <= -TREND_THRESHOLD {
            Trend::Falling
        } else {
            Trend::Steady
        }
    }

    /// Samples per second: measured from recent timestamps, else the daemon's
    /// configured interval.
    pub fn sample_rate_hz(&self) -> Option<f64> {
        if self.timestamps.len() >= 2 {
            let first = self.timestamps.front().copied().unwrap_or(0.0);
            let last = self.timestamps.back().copied().unwrap_or(0.0);
            let span = last - first;
            if span > 0.0 {
                return Some((self.timestamps.len() - 1) as f64 / span);
            }
        }
        self.daemon
            .as_ref()
            .filter(|d| d.sample_interval > 0.0)
            .map(|d| 1.0 / d.sample_interval)
    }

    /// The header's connection text.
    pub fn connection_text(&self) -> String {
        match &self.connection {
            ConnectionState::Connecting => "connecting to the daemon…".into(),
            ConnectionState::Connected => match &self.daemon {
                Some(d) => format!("daemon pid {}", d.pid),
                None => "connected".into(),
            },
            ConnectionState::Embedded if self.daemon_lost => {
                "embedded sampler (daemon lost — reconnecting)".into()
            }
            ConnectionState::Embedded => "embedded sampler (no daemon running)".into(),
            ConnectionState::Replay { at, .. } => format!("REPLAY {}", (self.replay_format)(*at)),
            ConnectionState::Disconnected { retry_in_secs, .. } => {
                format!(
                    "disconnected — retrying in {}",
                    format::duration(retry_in_secs.max(0.0).ceil())
                )
            }
        }
    }

    /// The clock text, if a clock was set.
    pub fn clock_text(&self) -> Option<String> {
        self.now.map(self.time_format)
    }

    /// A Unix time as the dashboard shows times.
    pub fn time_text(&self, unix_secs: f64) -> String {
        (self.time_format)(unix_secs)
    }

    // ----- internals ------------------------------------------------------

    fn push_sample(&mut self, samples: ProcessSamples) {
        self.seq += 1;
        let seq = self.seq;
        for p in &samples.rogues {
            let h = self.histories.entry(p.key()).or_default();
            if h.scores.len() == PROCESS_HISTORY {
                h.scores.pop_front();
            }
            h.scores
                .push_back(if p.score.is_finite() { p.score } else { 0.0 });
            h.last_seq = seq;
        }
        self.histories
            .retain(|_, h| seq - h.last_seq < PROCESS_HISTORY as u64);
        if self.max_history.len() == MAX_HISTORY {
            self.max_history.pop_front();
        }
        self.max_history
            .push_back(if samples.max_score.is_finite() {
                samples.max_score
            } else {
                0.0
            });
        if self.timestamps.len() == RATE_WINDOW {
            self.timestamps.pop_front();
        }
        if self
            .timestamps
            .back()
            .is_some_and(|&t| samples.timestamp_s < t)
        {
            // Clock went backwards (or a new daemon): start measuring afresh.
            self.timestamps.clear();
        }
        self.timestamps.push_back(samples.timestamp_s);
        self.latest = Some(samples);
    }

    /// Re-sort the rows and keep the selection on the same process; if it has
    /// gone, keep the same row position.
    fn resort(&mut self) {
        let show_kernel = self.show_kernel;
        let mut rows: Vec<ProcessScore> = self
            .latest
            .as_ref()
            .map(|s| {
                s.rogues
                    .iter()
                    .filter(|p| show_kernel || !is_kernel_thread(p))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let col = self.sort;
        let desc = self.sort_descending();
        rows.sort_by(|a, b| {
            let primary = compare(col, a, b);
            let primary = if desc { primary.reverse() } else { primary };
            primary
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| a.pid.cmp(&b.pid))
                .then_with(|| a.start_time_ms.cmp(&b.start_time_ms))
        });
        self.rows = rows;
        match self.selected_index() {
            Some(i) => self.selected_row = i,
            None if self.rows.is_empty() => {}
            None => {
                let i = self.selected_row.min(self.rows.len() - 1);
                self.selected = Some(self.rows[i].key());
                self.selected_row = i;
            }
        }
        self.keep_visible();
    }

    fn select_row(&mut self, i: usize) {
        if let Some(p) = self.rows.get(i) {
            self.selected = Some(p.key());
            self.selected_row = i;
        }
        self.keep_visible();
    }

    /// Scroll as little as needed to keep the selection on screen.
    fn keep_visible(&mut self) {
        let page = self.page_size.max(1);
        let sel = self.selected_index().unwrap_or(self.selected_row);
        if sel < self.offset {
            self.offset = sel;
        } else if sel >= self.offset + page {
            self.offset = sel + 1 - page;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(page));
    }

    fn move_selection(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let cur = self.selected_index().unwrap_or(self.selected_row) as isize;
        let last = self.rows.len() as isize - 1;
        self.select_row((cur + delta).clamp(0, last) as usize);
    }
}

/// A kernel thread, as the collector names them: `[name]` with no memory of
/// its own (no command line and no resident pages).
pub fn is_kernel_thread(p: &ProcessScore) -> bool {
    p.command.starts_with('[')
        && p.command.ends_with(']')
        && p.mem.as_ref().is_none_or(|m| m.current <= 0.0)
}

/// Ascending order of one column; unknown values sort below every known one.
fn compare(col: SortColumn, a: &ProcessScore, b: &ProcessScore) -> Ordering {
    match col {
        SortColumn::Score => a.score.total_cmp(&b.score),
        SortColumn::Pid => a.pid.cmp(&b.pid),
        SortColumn::Command => a.command.cmp(&b.command),
        _ => match (col.value(a), col.value(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        },
    }
}
