//! The dashboard's state: the latest sample sorted for display, per-process
//! score history and trends, recent events, selection, sort order, help and
//! connection state. Pure: no terminal, no clock, no I/O — messages and keys in,
//! state out, so every behaviour is testable without a terminal.

use crate::config::{BandsConfig, TuiConfig};
use crate::format;
use crate::ipc::protocol::{DaemonInfo, EventKind, EventNotice, ServerMessage};
use crate::model::EventRow;
use crate::model::{
    Band, GroupKind, GroupScore, ProcessKey, ProcessSamples, ProcessScore, Resource, Stall,
};
use crate::sys::Sig;
use crate::tui::keymap::ReplayKey;
use crate::tui::keymap::{self, Command, Mode};
use crate::tui::tree::{self, TreeLine};
use ratatui::crossterm::event::KeyEvent;
use ratatui::style::Color;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
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
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    Quit,
    /// Ask the daemon for the recent events (`get_events`).
    RequestEvents,
    /// Send `sig` to `pid` (confirmed by the user); report the outcome with
    /// `App::signal_result`.
    Signal {
        pid: u32,
        command: String,
        sig: Sig,
    },
    /// Sample every `secs` seconds (the embedded sampler only).
    SetInterval {
        secs: f64,
    },
    /// Read this event's timeline and forensic summary; show it with
    /// `App::open_panel`.
    OpenEvent(EventRef),
    /// A replay key for the replay source.
    Replay(ReplayKey),
}

/// Which stored record a line of the events pane is about.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRef {
    /// A `get_events` row: the database id.
    Stored { id: i64 },
    /// A live event notice: the newest event of this process.
    Process { pid: u32, start_time_ms: u64 },
    /// A live stall: the stall that started at this Unix time.
    Stall { start_s: f64 },
}

/// What the table lists (`g` cycles, `t` toggles the tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Process,
    /// Processes under their parents, subtrees foldable.
    Tree,
    /// The sample's cgroup groups.
    Cgroup,
    /// The sample's app groups (one executable).
    App,
}

impl View {
    pub fn next(self) -> View {
        match self {
            View::Process => View::Tree,
            View::Tree => View::Cgroup,
            View::Cgroup => View::App,
            View::App => View::Process,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            View::Process => "process",
            View::Tree => "tree",
            View::Cgroup => "cgroup",
            View::App => "app",
        }
    }

    fn group_kind(self) -> Option<GroupKind> {
        match self {
            View::Cgroup => Some(GroupKind::Cgroup),
            View::App => Some(GroupKind::App),
            View::Process | View::Tree => None,
        }
    }
}

/// Which prompt the status line is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    Filter,
}

/// A prompt being typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// The search or filter before the prompt opened (Esc restores it).
    pub before: String,
}

/// The signal menu for one process (`k`): `confirming` once a signal is picked.
#[derive(Debug, Clone, PartialEq)]
pub struct KillMenu {
    pub pid: u32,
    /// Raw (untrusted): escape before display.
    pub command: String,
    pub choice: usize,
    pub confirming: bool,
}

/// An event's text (timeline and forensic summary), shown over the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Raw text: escaped by whoever rendered it (the event renderer).
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
}

/// The pane the arrows and Enter work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Table,
    Events,
}

/// Lines of the help popup (keys, blank, columns, bands): its scroll limit.
/// What `k`/F9 and `+`/`-` say while replaying, instead of acting.
pub const REPLAY_NO_SIGNAL: &str = "replay: cannot signal a recorded process — L returns to live";
pub const REPLAY_NO_INTERVAL: &str =
    "replay: the sampling interval does not apply to a recording — [ ] { } step, L returns to live";

const HELP_LINES: usize = keymap::HELP.len() + keymap::HELP_NOTES.len() + 2;

/// Sampling intervals `+`/`-` step through (seconds).
pub const INTERVALS: [f64; 9] = [0.1, 0.2, 0.25, 1.0 / 3.0, 0.5, 1.0, 2.0, 5.0, 10.0];

pub use super::keymap::SortColumn;

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
    /// The stored record it is about (Enter opens it).
    pub source: EventRef,
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
            source: EventRef::Process {
                pid: e.pid,
                start_time_ms: e.start_time,
            },
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
            source: EventRef::Stall { start_s: s.start_s },
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
            source: EventRef::Stored { id: r.id },
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
    help_scroll: usize,
    now: Option<f64>,
    time_format: fn(f64) -> String,
    view: View,
    /// Tree view: the lines of `rows`, in the same order.
    tree: Vec<TreeLine>,
    /// Tree view: processes whose subtree is folded.
    folded: HashSet<ProcessKey>,
    /// Cgroup/app view: the groups shown, in display order.
    group_rows: Vec<GroupScore>,
    /// Cgroup/app view: the selected group's key.
    group_selected: Option<String>,
    prompt: Option<Prompt>,
    /// The last accepted (or being typed) search.
    search: String,
    /// Rows shown must contain this (command or cgroup, any case).
    filter: String,
    kill: Option<KillMenu>,
    panel: Option<Panel>,
    /// The display is frozen (`Z`); the newest sample waits here.
    paused: bool,
    held: Option<ProcessSamples>,
    focus: Pane,
    event_selected: usize,
    /// How the replay header shows the cursor (local date, time and zone).
    replay_format: fn(f64) -> String,
    /// User names by uid, looked up once per uid (`None`: the uid has no
    /// name, so the number is shown).
    users: HashMap<u32, Option<String>>,
    /// How a uid becomes a name (the system's user database; tests: fixed).
    user_lookup: fn(u32) -> Option<String>,
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
            help_scroll: 0,
            now: None,
            time_format: local_hms,
            view: View::Process,
            tree: Vec::new(),
            folded: HashSet::new(),
            group_rows: Vec::new(),
            group_selected: None,
            prompt: None,
            search: String::new(),
            filter: String::new(),
            kill: None,
            panel: None,
            paused: false,
            held: None,
            focus: Pane::Table,
            event_selected: 0,
            replay_format: crate::format::local_with_zone,
            users: HashMap::new(),
            user_lookup: crate::sys::user_name,
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
                // A stall that is still going is replaced by its next report.
                let replaced = self.events.iter().position(|e| {
                    e.source
                        == EventRef::Stall {
                            start_s: stall.start_s,
                        }
                });
                self.push_event_line(EventLine::from_stall(stall), replaced);
                self.last_stall = Some(stall.clone());
            }
            ServerMessage::Sample { samples } => {
                if let Some(d) = &mut self.daemon {
                    d.sample_count = d.sample_count.saturating_add(1);
                }
                self.stale = false;
                if self.paused {
                    self.held = Some(samples.clone());
                } else {
                    self.push_sample(samples.clone());
                    self.resort();
                }
            }
            ServerMessage::Event { event } => {
                if let Some(d) = &mut self.daemon {
                    match event.kind {
                        EventKind::Opened => d.open_events = d.open_events.saturating_add(1),
                        EventKind::Closed => d.open_events = d.open_events.saturating_sub(1),
                        EventKind::Escalated | EventKind::Forensics => {}
                    }
                }
                self.push_event_line(EventLine::from_notice(event), None);
            }
            ServerMessage::Events { events } => {
                let mut lines: Vec<EventLine> = events.iter().map(EventLine::from_row).collect();
                lines.sort_by(|a, b| b.at.total_cmp(&a.at));
                lines.truncate(self.events_shown);
                let selected = self.events.get(self.event_selected).map(|e| &e.source);
                self.event_selected = selected
                    .and_then(|src| reloaded_position(src, events, &lines))
                    .unwrap_or(0);
                self.events = lines.into();
                self.events_loaded = true;
            }
            ServerMessage::Subscribed { full_table, .. } => self.full_table = *full_table,
            // The transport turns `table` messages into the whole table's
            // `sample` (`connected::rebuild_table`); the state lives there.
            ServerMessage::Table(_) | ServerMessage::Pong => {}
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

    /// How a uid is named (tests: a fixed table). Names already looked up
    /// are forgotten.
    pub fn set_user_lookup(&mut self, f: fn(u32) -> Option<String>) {
        self.user_lookup = f;
        self.users.clear();
        if let Some(s) = &self.latest {
            for uid in s.rogues.iter().filter_map(|p| p.uid) {
                self.users.entry(uid).or_insert_with(|| f(uid));
            }
        }
        self.resort();
    }

    /// The USER column's text: the owner's name, its uid when it has no
    /// name, `-` when the owner is unknown. Untrusted (a name from the user
    /// database): escaped before it is drawn.
    pub fn user_text(&self, uid: Option<u32>) -> String {
        user_text(&self.users, uid)
    }

    /// How the replay header shows times (tests: a fixed zone).
    pub fn set_replay_format(&mut self, f: fn(f64) -> String) {
        self.replay_format = f;
    }

    /// True while the rows are from a daemon that is gone.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// Handle one key press: the keymap names the command, `run` does it.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        let command = keymap::command_for(self.mode(), key);
        self.run(command)
    }

    /// What the keyboard is talking to now.
    pub fn mode(&self) -> Mode {
        if let Some(k) = &self.kill {
            return if k.confirming {
                Mode::Confirm
            } else {
                Mode::SignalMenu
            };
        }
        if self.prompt.is_some() {
            Mode::Prompt
        } else if self.panel.is_some() {
            Mode::Panel
        } else if self.show_help {
            Mode::Help
        } else {
            Mode::Normal
        }
    }

    /// Carry out one command.
    pub fn run(&mut self, command: Command) -> Action {
        match command {
            Command::Quit => return Action::Quit,
            Command::Ignore => {}
            Command::Cancel => self.cancel(),
            Command::ToggleHelp => {
                self.show_help = !self.show_help;
                self.help_scroll = 0;
            }
            Command::Up => self.step(-1),
            Command::Down => self.step(1),
            Command::PageUp => self.step(-(self.page_size as isize)),
            Command::PageDown => self.step(self.page_size as isize),
            Command::Home => self.step(isize::MIN / 2),
            Command::End => self.step(isize::MAX / 2),
            Command::SortNext => self.set_sort(self.sort.next()),
            Command::SortPrev => self.set_sort(self.sort.prev()),
            Command::SortBy(col) => self.set_sort(col),
            Command::Reverse => {
                self.reversed = !self.reversed;
                self.resort();
            }
            Command::ToggleKernel => {
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
            Command::RefreshEvents => {
                if self.connection == ConnectionState::Connected {
                    return Action::RequestEvents;
                }
                self.status = Some("e reloads events from a daemon: none is connected".into());
            }
            Command::StartSearch => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Search,
                    text: String::new(),
                    before: self.search.clone(),
                });
            }
            Command::StartFilter => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter.clone(),
                    before: self.filter.clone(),
                });
            }
            Command::SearchNext => {
                if let Some(p) = self.prompt.take_if(|p| p.kind == PromptKind::Search) {
                    self.search = p.text;
                }
                self.search_from(1);
            }
            Command::Type(c) => self.type_char(c),
            Command::Backspace => {
                if let Some(p) = &mut self.prompt {
                    p.text.pop();
                }
                self.prompt_changed();
            }
            Command::Accept => return self.accept(),
            Command::Yes => return self.confirm_signal(),
            Command::ToggleTree => {
                let v = if self.view == View::Tree {
                    View::Process
                } else {
                    View::Tree
                };
                self.set_view(v);
            }
            Command::CycleGrouping => self.set_view(self.view.next()),
            Command::Activate => return self.activate(),
            Command::SwitchPane => {
                match self.focus {
                    Pane::Table => self.focus = Pane::Events,
                    Pane::Events => self.focus_table(),
                }
                self.event_selected = self.event_selected.min(self.events.len().saturating_sub(1));
                self.status = Some(match self.focus {
                    Pane::Events => {
                        "events pane: ↑↓ select, Enter opens the event, Tab back".into()
                    }
                    Pane::Table => "process table".into(),
                });
            }
            Command::StartKill => self.start_kill(),
            Command::Pause => {
                self.paused = !self.paused;
                if self.paused {
                    self.status = Some("display paused — Z or space resumes".into());
                } else {
                    self.status = None;
                    if let Some(s) = self.held.take() {
                        self.push_sample(s);
                        self.resort();
                    }
                }
            }
            Command::SlowerSampling => return self.change_interval(1),
            Command::FasterSampling => return self.change_interval(-1),
            Command::Replay(k) => return self.replay_key(k),
            Command::Unknown(name) => {
                self.status = Some(match self.mode() {
                    Mode::Help => format!("key {name}: ↑↓ scroll the help, Esc or ? closes it"),
                    Mode::Confirm => {
                        format!("key {name}: press y to send the signal, n or Esc to cancel")
                    }
                    Mode::SignalMenu => {
                        format!("key {name}: ↑↓ pick a signal, Enter chooses, Esc cancels")
                    }
                    _ => format!("key {name} does nothing — ? for help"),
                });
            }
        }
        Action::None
    }

    /// A replay key: `R` only from the live view, the cursor keys and `L`
    /// only while replaying; otherwise the status line says when they work.
    fn replay_key(&mut self, k: ReplayKey) -> Action {
        match (k, self.replaying()) {
            (ReplayKey::Enter, false) | (ReplayKey::Move(_) | ReplayKey::Live, true) => {
                Action::Replay(k)
            }
            (ReplayKey::Enter, true) => {
                self.status = Some("already replaying — L goes back to live".into());
                Action::None
            }
            (ReplayKey::Move(_) | ReplayKey::Live, false) => {
                self.status = Some("that key works while replaying — R replays".into());
                Action::None
            }
        }
    }

    /// Esc: close the innermost thing open; never quits.
    fn cancel(&mut self) {
        if self.kill.take().is_some() {
            self.status = Some("no signal sent".into());
        } else if let Some(p) = self.prompt.take() {
            // The search or filter as it was before the prompt opened.
            match p.kind {
                PromptKind::Search => self.search = p.before,
                PromptKind::Filter => {
                    self.filter = p.before;
                    self.resort();
                }
            }
            self.status = None;
        } else if self.panel.take().is_some() {
        } else if self.show_help {
            self.show_help = false;
        } else if self.focus == Pane::Events {
            self.focus_table();
            self.status = None;
        } else {
            self.status = Some("Esc: nothing to cancel (q or F10 quits)".into());
        }
    }

    fn set_sort(&mut self, col: SortColumn) {
        if self.sort == col {
            self.reversed = !self.reversed;
        } else {
            self.sort = col;
            self.reversed = false;
        }
        self.resort();
    }

    fn set_view(&mut self, view: View) {
        self.view = view;
        self.offset = 0;
        self.status = Some(match view {
            View::Process => "view: every process".into(),
            View::Tree => "view: process tree (Enter folds a subtree; t leaves)".into(),
            View::Cgroup | View::App => {
                format!("view: {} groups (g for the next grouping)", view.as_str())
            }
        });
        self.resort();
    }

    fn type_char(&mut self, c: char) {
        if let Some(k) = &mut self.kill {
            if let Some(i) = c.to_digit(10).and_then(|d| usize::try_from(d).ok())
                && (1..=Sig::ALL.len()).contains(&i)
            {
                k.choice = i - 1;
            }
            return;
        }
        if let Some(p) = &mut self.prompt
            && !c.is_control()
            && p.text.chars().count() < 200
        {
            p.text.push(c);
        }
        self.prompt_changed();
    }

    /// The prompt's text changed: search or filter as the user types.
    fn prompt_changed(&mut self) {
        let Some(p) = &self.prompt else { return };
        match p.kind {
            PromptKind::Search => {
                self.search = p.text.clone();
                self.search_from(0);
            }
            PromptKind::Filter => {
                self.filter = p.text.clone();
                self.resort();
            }
        }
    }

    fn accept(&mut self) -> Action {
        if let Some(k) = &mut self.kill {
            k.confirming = true;
            return Action::None;
        }
        if let Some(p) = self.prompt.take() {
            match p.kind {
                PromptKind::Search => {
                    self.search = p.text;
                    self.status = if self.search.is_empty() {
                        None
                    } else {
                        Some(self.search_kept())
                    };
                }
                PromptKind::Filter => {
                    self.filter = p.text;
                    self.status = None;
                    self.resort();
                }
            }
        }
        Action::None
    }

    /// Select the first row from the selection (+`skip`) on whose command or
    /// PID matches the search, wrapping around. As the search is typed
    /// (`skip` 0), a process whose PID is the search wins over commands that
    /// merely contain its digits: folded away in the tree, its ancestors are
    /// unfolded; filtered out or a hidden kernel thread, the status says so.
    /// F3 then goes on through every match.
    fn search_from(&mut self, skip: usize) {
        let needle = self.search.to_lowercase();
        if needle.is_empty() {
            return;
        }
        if skip == 0 && self.view.group_kind().is_none() && self.search_pid(&needle) {
            return;
        }
        let n = self.row_count();
        if n == 0 {
            return;
        }
        let start = self.current_row();
        let hit = (0..n)
            .map(|i| (start + skip + i) % n)
            .find(|&i| self.row_matches(i, &needle));
        match hit {
            Some(i) => {
                self.select_row(i);
                if self.prompt.is_none() {
                    self.status = Some(self.search_kept());
                }
            }
            None => self.status = Some(format!("no match for \"{}\"", self.search)),
        }
    }

    /// The search as a whole PID of a process in the latest sample: select
    /// it (unfolding the tree above it) or say why it is not shown. False
    /// when no process has that PID.
    fn search_pid(&mut self, needle: &str) -> bool {
        let Ok(pid) = needle.parse::<u32>() else {
            return false;
        };
        let Some(latest) = &self.latest else {
            return false;
        };
        let by_pid: HashMap<u32, &ProcessScore> =
            latest.rogues.iter().map(|p| (p.pid, p)).collect();
        let Some(target) = by_pid.get(&pid) else {
            return false;
        };
        let mut ancestors = Vec::new();
        let mut at = target.ppid;
        while let Some(parent) = at.and_then(|pp| by_pid.get(&pp)) {
            if ancestors.len() > by_pid.len() {
                break; // a cycle (PID reuse between reads)
            }
            ancestors.push(parent.key());
            at = parent.ppid;
        }
        if self.view == View::Tree
            && !self.rows.iter().any(|p| p.pid == pid)
            && ancestors.iter().any(|k| self.folded.contains(k))
        {
            for k in &ancestors {
                self.folded.remove(k);
            }
            self.resort();
        }
        match self.rows.iter().position(|p| p.pid == pid) {
            Some(i) => {
                self.select_row(i);
                if self.prompt.is_none() {
                    self.status = Some(self.search_kept());
                }
            }
            None => {
                self.status = Some(format!(
                    "pid {pid} is not shown: {}",
                    if !self.filter.is_empty() {
                        "the filter leaves it out (\\ changes it)"
                    } else {
                        "a kernel thread (K shows them)"
                    }
                ));
            }
        }
        true
    }

    /// The status line while a search is kept.
    fn search_kept(&self) -> String {
        format!("search \"{}\": F3 for the next match", self.search)
    }

    fn row_matches(&self, i: usize, needle: &str) -> bool {
        if self.view.group_kind().is_some() {
            return self
                .group_rows
                .get(i)
                .is_some_and(|g| g.name.to_lowercase().contains(needle));
        }
        self.rows.get(i).is_some_and(|p| {
            p.command.to_lowercase().contains(needle) || p.pid.to_string() == needle
        })
    }

    /// Enter: fold or unfold in the tree, open the selected event.
    fn activate(&mut self) -> Action {
        if self.focus == Pane::Events {
            return match self.events.get(self.event_selected) {
                Some(e) => Action::OpenEvent(e.source.clone()),
                None => {
                    self.status = Some("no event to open".into());
                    Action::None
                }
            };
        }
        match self.view {
            View::Tree => {
                let Some(i) = self.selected_index() else {
                    return Action::None;
                };
                let has_children = self.tree.get(i).is_some_and(|t| t.descendants > 0);
                let key = self.rows[i].key();
                if self.folded.remove(&key) {
                    self.status = None;
                } else if has_children {
                    self.folded.insert(key);
                    self.status =
                        Some("folded: the row shows its subtree's sums (Enter unfolds)".into());
                } else {
                    self.status = Some("no children to fold".into());
                }
                self.resort();
            }
            View::Process | View::Cgroup | View::App => {
                self.status = Some(
                    "Enter folds a subtree in the tree view (t); Tab then Enter opens an event"
                        .into(),
                );
            }
        }
        Action::None
    }

    fn start_kill(&mut self) {
        if self.replaying() {
            self.status = Some(REPLAY_NO_SIGNAL.into());
            return;
        }
        if self.view.group_kind().is_some() {
            self.status = Some("k signals one process: g back to the process or tree view".into());
            return;
        }
        match self.selected() {
            Some(p) => {
                self.kill = Some(KillMenu {
                    pid: p.pid,
                    command: p.command.clone(),
                    choice: 0,
                    confirming: false,
                })
            }
            None => self.status = Some("no process selected to signal".into()),
        }
    }

    fn confirm_signal(&mut self) -> Action {
        if self.replaying() {
            // The view turned into a recording under the open menu.
            self.kill = None;
            self.status = Some(REPLAY_NO_SIGNAL.into());
            return Action::None;
        }
        match self.kill.take() {
            Some(k) if k.confirming => Action::Signal {
                pid: k.pid,
                command: k.command,
                sig: Sig::ALL[k.choice.min(Sig::ALL.len() - 1)],
            },
            other => {
                self.kill = other;
                Action::None
            }
        }
    }

    /// What came of sending a signal (shown in the status line).
    pub fn signal_result(
        &mut self,
        pid: u32,
        command: &str,
        sig: Sig,
        result: Result<(), std::io::Error>,
    ) {
        let who = format!("pid {pid} ({})", format::truncate(command, 40));
        self.status = Some(match result {
            Ok(()) => format!("sent {} to {who}", sig.name()),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => format!(
                "cannot send {} to {who}: not permitted — it is not your process (only root may signal other users' processes)",
                sig.name()
            ),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                format!("cannot send {} to {who}: the process is gone", sig.name())
            }
            Err(e) => format!("cannot send {} to {who}: {e}", sig.name()),
        });
    }

    fn change_interval(&mut self, dir: isize) -> Action {
        if self.replaying() {
            self.status = Some(REPLAY_NO_INTERVAL.into());
            return Action::None;
        }
        let current = self
            .daemon
            .as_ref()
            .map(|d| d.sample_interval)
            .filter(|v| *v > 0.0)
            .unwrap_or(1.0 / 3.0);
        if self.connection != ConnectionState::Embedded {
            self.status = Some(format!(
                "the sampling interval ({}) is fixed by the daemon: set [system] sample_interval",
                interval_text(current)
            ));
            return Action::None;
        }
        let at = INTERVALS
            .iter()
            .position(|&v| v >= current - 1e-6)
            .unwrap_or(INTERVALS.len() - 1) as isize;
        let next = INTERVALS[(at + dir).clamp(0, INTERVALS.len() as isize - 1) as usize];
        if let Some(d) = &mut self.daemon {
            d.sample_interval = next;
        }
        self.timestamps.clear();
        self.status = Some(format!(
            "sampling every {} (+ longer, - shorter)",
            interval_text(next)
        ));
        Action::SetInterval { secs: next }
    }

    /// Show an event's text in the panel (`Action::OpenEvent` answered).
    pub fn open_panel(&mut self, title: impl Into<String>, text: &str) {
        self.panel = Some(Panel {
            title: title.into(),
            lines: text.lines().map(str::to_string).collect(),
            scroll: 0,
        });
    }

    /// A mouse click on a table row (`row` counted from the first shown).
    pub fn click_row(&mut self, row: usize) {
        if self.mode() != Mode::Normal {
            return;
        }
        self.focus_table();
        let i = self.offset + row;
        if i < self.row_count() {
            self.select_row(i);
        }
    }

    /// A mouse click on a column header.
    pub fn click_header(&mut self, col: SortColumn) {
        if self.mode() == Mode::Normal {
            self.set_sort(col);
        }
    }

    /// The table takes the focus; lines the events pane kept for a selection
    /// past its length go.
    fn focus_table(&mut self) {
        self.focus = Pane::Table;
        self.events.truncate(self.events_shown);
    }

    /// A new line at the top of the events pane (`replaced`: the index of the
    /// line it stands in for, a stall's earlier report). While the pane has
    /// the focus, the selection stays on the line it was on; a replaced
    /// line's selection moves to its new report.
    fn push_event_line(&mut self, line: EventLine, replaced: Option<usize>) {
        let sel = self.event_selected;
        if let Some(i) = replaced {
            self.events.remove(i);
        }
        self.events.push_front(line);
        if self.focus == Pane::Events {
            self.event_selected = match replaced {
                Some(i) if i == sel => 0,
                Some(i) if i < sel => sel,
                _ => sel + 1,
            };
            // The selected line is kept past the pane's length until the
            // focus leaves (the pane scrolls to it).
            self.events
                .truncate(self.events_shown.max(self.event_selected + 1));
        } else {
            self.events.truncate(self.events_shown);
        }
        self.event_selected = self.event_selected.min(self.events.len().saturating_sub(1));
    }

    /// A mouse click on a line of the events pane.
    pub fn click_event(&mut self, line: usize) {
        if self.mode() == Mode::Normal && line < self.events.len() {
            self.focus = Pane::Events;
            self.event_selected = line;
        }
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
        if self.view.group_kind().is_some() {
            return None;
        }
        self.selected_index().map(|i| &self.rows[i])
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// Tree view: one line per row of `rows()`.
    pub fn tree(&self) -> &[TreeLine] {
        &self.tree
    }

    /// Cgroup/app view: the groups, in display order.
    pub fn group_rows(&self) -> &[GroupScore] {
        &self.group_rows
    }

    /// Cgroup/app view: the selected group's row.
    pub fn selected_group_index(&self) -> Option<usize> {
        let key = self.group_selected.as_deref()?;
        self.group_rows.iter().position(|g| g.key == key)
    }

    /// Rows in the current view.
    pub fn row_count(&self) -> usize {
        if self.view.group_kind().is_some() {
            self.group_rows.len()
        } else {
            self.rows.len()
        }
    }

    /// The selected row in the current view (or where it was).
    pub fn current_row(&self) -> usize {
        if self.view.group_kind().is_some() {
            self.selected_group_index().unwrap_or(self.selected_row)
        } else {
            self.selected_index().unwrap_or(self.selected_row)
        }
    }

    pub fn prompt(&self) -> Option<&Prompt> {
        self.prompt.as_ref()
    }

    /// The filter in force (empty: none).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn kill_menu(&self) -> Option<&KillMenu> {
        self.kill.as_ref()
    }

    pub fn panel(&self) -> Option<&Panel> {
        self.panel.as_ref()
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn focus(&self) -> Pane {
        self.focus
    }

    /// The events pane's selected line.
    pub fn event_selected(&self) -> usize {
        self.event_selected
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

    /// Lines the help is scrolled by.
    pub fn help_scroll(&self) -> usize {
        self.help_scroll
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

    /// The headline stress per sample (the machine's stress, or the max
    /// score of a sample without the machine series), oldest first.
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
            if let Some(uid) = p.uid {
                let lookup = self.user_lookup;
                self.users.entry(uid).or_insert_with(|| lookup(uid));
            }
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
        // The headline: the machine's stress when the sample has it.
        let headline = samples
            .system
            .as_ref()
            .map_or(samples.max_score, |s| s.stress);
        self.max_history
            .push_back(if headline.is_finite() { headline } else { 0.0 });
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

    /// Rebuild the rows of the current view (filter, sort, tree) and keep
    /// the selection on the same process or group; if it has gone, on the
    /// same row position.
    fn resort(&mut self) {
        let col = self.sort;
        let desc = self.sort_descending();
        let users = &self.users;
        let order = |a: &ProcessScore, b: &ProcessScore| {
            let primary = match col {
                SortColumn::User => user_text(users, a.uid).cmp(&user_text(users, b.uid)),
                _ => compare(col, a, b),
            };
            let primary = if desc { primary.reverse() } else { primary };
            primary
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| a.pid.cmp(&b.pid))
                .then_with(|| a.start_time_ms.cmp(&b.start_time_ms))
        };
        if let Some(kind) = self.view.group_kind() {
            let needle = self.filter.to_lowercase();
            let mut groups: Vec<GroupScore> = self
                .latest
                .as_ref()
                .map(|s| {
                    s.groups
                        .iter()
                        .filter(|g| g.kind == kind)
                        .filter(|g| {
                            needle.is_empty()
                                || g.name.to_lowercase().contains(&needle)
                                || g.key.to_lowercase().contains(&needle)
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            groups.sort_by(|a, b| {
                let primary = compare_groups(col, a, b);
                let primary = if desc { primary.reverse() } else { primary };
                primary
                    .then_with(|| b.score.total_cmp(&a.score))
                    .then_with(|| a.key.cmp(&b.key))
            });
            self.group_rows = groups;
            self.rows.clear();
            self.tree.clear();
            match self.selected_group_index() {
                Some(i) => self.selected_row = i,
                None if self.group_rows.is_empty() => {}
                None => {
                    let i = self.selected_row.min(self.group_rows.len() - 1);
                    self.group_selected = Some(self.group_rows[i].key.clone());
                    self.selected_row = i;
                }
            }
            self.keep_visible();
            return;
        }
        self.group_rows.clear();
        let show_kernel = self.show_kernel;
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<ProcessScore> = self
            .latest
            .as_ref()
            .map(|s| {
                s.rogues
                    .iter()
                    .filter(|p| show_kernel || !is_kernel_thread(p))
                    .filter(|p| needle.is_empty() || matches_filter(p, &needle, users))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if self.view == View::Tree {
            let lines = tree::build(&rows, &self.folded, order);
            let mut ordered = Vec::with_capacity(lines.len());
            for l in &lines {
                ordered.push(rows[l.index].clone());
            }
            self.tree = lines
                .into_iter()
                .enumerate()
                .map(|(i, l)| TreeLine { index: i, ..l })
                .collect();
            rows = ordered;
        } else {
            self.tree.clear();
            rows.sort_by(order);
        }
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
        if self.view.group_kind().is_some() {
            if let Some(g) = self.group_rows.get(i) {
                self.group_selected = Some(g.key.clone());
                self.selected_row = i;
            }
        } else if let Some(p) = self.rows.get(i) {
            self.selected = Some(p.key());
            self.selected_row = i;
        }
        self.keep_visible();
    }

    /// Scroll as little as needed to keep the selection on screen.
    fn keep_visible(&mut self) {
        let page = self.page_size.max(1);
        let sel = self.current_row();
        if sel < self.offset {
            self.offset = sel;
        } else if sel >= self.offset + page {
            self.offset = sel + 1 - page;
        }
        self.offset = self.offset.min(self.row_count().saturating_sub(page));
    }

    /// Arrows, pages and ends: in whatever has the keyboard.
    fn step(&mut self, delta: isize) {
        let clamp = |cur: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            (cur as isize)
                .saturating_add(delta)
                .clamp(0, len as isize - 1) as usize
        };
        if let Some(k) = &mut self.kill {
            if !k.confirming {
                k.choice = clamp(k.choice, Sig::ALL.len());
            }
            return;
        }
        if let Some(p) = &mut self.panel {
            p.scroll = clamp(p.scroll, p.lines.len());
            return;
        }
        if self.show_help {
            self.help_scroll = clamp(self.help_scroll, HELP_LINES);
            return;
        }
        if self.focus == Pane::Events {
            self.event_selected = clamp(self.event_selected, self.events.len());
            return;
        }
        self.move_selection(delta);
    }

    fn move_selection(&mut self, delta: isize) {
        let n = self.row_count();
        if n == 0 {
            return;
        }
        let cur = self.current_row() as isize;
        let last = n as isize - 1;
        self.select_row(cur.saturating_add(delta).clamp(0, last) as usize);
    }
}

/// `needle` (lower case) in the command, the user's name, the cgroup path,
/// or equal to the PID or the uid.
fn matches_filter(p: &ProcessScore, needle: &str, users: &HashMap<u32, Option<String>>) -> bool {
    p.command.to_lowercase().contains(needle)
        || p.uid.is_some_and(|uid| {
            users
                .get(&uid)
                .and_then(Option::as_deref)
                .is_some_and(|name| name.to_lowercase().contains(needle))
                || uid.to_string() == needle
        })
        || p.cgroup
            .as_deref()
            .is_some_and(|c| c.to_lowercase().contains(needle))
        || p.pid.to_string() == needle
}

/// Where the selected line `src` is in a reloaded list of stored events
/// (`rows`, shown as `lines`): the same record, or for a live notice its
/// process's newest stored event. A stall is not among stored events.
fn reloaded_position(src: &EventRef, rows: &[EventRow], lines: &[EventLine]) -> Option<usize> {
    let at = |id: i64| {
        lines
            .iter()
            .position(|e| e.source == EventRef::Stored { id })
    };
    match *src {
        EventRef::Stored { id } => at(id),
        EventRef::Process { pid, start_time_ms } => rows
            .iter()
            .filter(|r| r.pid == pid && r.start_time_ms == start_time_ms)
            .max_by(|a, b| a.entry_time_s.total_cmp(&b.entry_time_s))
            .and_then(|r| at(r.id)),
        EventRef::Stall { .. } => None,
    }
}

/// A uid as the USER column shows it (see `App::user_text`).
fn user_text(users: &HashMap<u32, Option<String>>, uid: Option<u32>) -> String {
    match uid {
        Some(uid) => match users.get(&uid) {
            Some(Some(name)) => name.clone(),
            _ => uid.to_string(),
        },
        None => "-".into(),
    }
}

/// A sampling interval as people say it (`1/3 s` is `0.33 s`).
pub fn interval_text(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.2} s")
    }
}

/// Ascending order of one column over groups (PID: member count; start time:
/// the key).
fn compare_groups(col: SortColumn, a: &GroupScore, b: &GroupScore) -> Ordering {
    let opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    };
    let (m, n) = (&a.metrics, &b.metrics);
    match col {
        SortColumn::Score => a.score.total_cmp(&b.score),
        SortColumn::Cpu => opt(
            add_opt(m.cpu, m.children_cpu),
            add_opt(n.cpu, n.children_cpu),
        ),
        SortColumn::Gpu => opt(m.gpu_time_rate, n.gpu_time_rate),
        SortColumn::Mem => opt(m.mem, n.mem),
        SortColumn::Disk => opt(m.disk_io_rate, n.disk_io_rate),
        SortColumn::Wake => opt(m.wakeups_rate, n.wakeups_rate),
        SortColumn::Pid => a.member_count.cmp(&b.member_count),
        SortColumn::Command => a.name.cmp(&b.name),
        SortColumn::Started => a.key.cmp(&b.key),
        SortColumn::CpuTime | SortColumn::User => Ordering::Equal,
    }
}

/// A group's CPU: its members' own plus what their reaped children spent.
pub fn add_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) => x,
        (None, y) => y,
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
        SortColumn::Started => a.start_time_ms.cmp(&b.start_time_ms),
        SortColumn::User => a.uid.cmp(&b.uid),
        _ => match (col.value(a), col.value(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        },
    }
}
