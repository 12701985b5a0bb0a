//! Every key the dashboard knows, in one place: `command_for` maps a key in
//! the current input mode to a `Command`; `App::run` carries it out. Pure, so
//! the whole keymap is tested without a terminal. A new key is one arm here
//! (and one line of `HELP`, which `?` and the README's key table show).

use crate::history::cursor::Move;
use crate::model::ProcessScore;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the keyboard is talking to right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The table (or the events pane, with `Tab`).
    Normal,
    /// Typing into the search (`/`) or filter (`\`) prompt.
    Prompt,
    /// Choosing a signal (`k`).
    SignalMenu,
    /// Confirming the chosen signal (y/n).
    Confirm,
    /// The help popup (`?`).
    Help,
    /// An event's timeline and forensic summary.
    Panel,
}

/// One thing the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    /// Esc: close whatever prompt, menu, panel or popup is open; never quits.
    Cancel,
    ToggleHelp,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// `s`, F6 and `>`: the next sort column; `<` the previous one.
    SortNext,
    SortPrev,
    SortBy(SortColumn),
    Reverse,
    ToggleKernel,
    RefreshEvents,
    StartSearch,
    SearchNext,
    StartFilter,
    ToggleTree,
    CycleGrouping,
    /// Enter: fold a tree node, or open the selected event.
    Activate,
    /// Tab: move between the process table and the events pane.
    SwitchPane,
    StartKill,
    Pause,
    /// `+` / `-`: a longer / shorter sampling interval.
    SlowerSampling,
    FasterSampling,
    /// `R` (live: replay from a minute ago), `[ ] { } n N` (move the replay
    /// cursor), `L` (back to live); `App::run` takes each only where it works.
    Replay(ReplayKey),
    /// Prompt editing.
    Type(char),
    Backspace,
    /// Enter in a prompt or menu.
    Accept,
    /// `y` in the confirmation.
    Yes,
    /// A key with no meaning here (its name, for the hint).
    Unknown(String),
    /// Key releases and the like.
    Ignore,
}

/// The key's name as the hint shows it.
pub fn key_name(key: &KeyEvent) -> String {
    let base = match key.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.escape_debug().to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "Shift-Tab".into(),
        KeyCode::Backspace => "Backspace".into(),
        KeyCode::Insert => "Insert".into(),
        KeyCode::Delete => "Delete".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        other => format!("{other:?}"),
    };
    let mut name = String::new();
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        name.push_str("Ctrl-");
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        name.push_str("Alt-");
    }
    name.push_str(&base);
    name
}

/// The command for `key` in `mode`.
pub fn command_for(mode: Mode, key: KeyEvent) -> Command {
    if key.kind == KeyEventKind::Release {
        return Command::Ignore;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Command::Quit;
    }
    if key.code == KeyCode::Esc {
        return Command::Cancel;
    }
    match mode {
        Mode::Prompt => match key.code {
            KeyCode::Enter => Command::Accept,
            KeyCode::Backspace => Command::Backspace,
            KeyCode::F(3) => Command::SearchNext,
            KeyCode::Char(c) if !ctrl => Command::Type(c),
            _ => Command::Unknown(key_name(&key)),
        },
        Mode::SignalMenu => match key.code {
            KeyCode::Up | KeyCode::Char('k') => Command::Up,
            KeyCode::Down | KeyCode::Char('j') => Command::Down,
            KeyCode::Enter => Command::Accept,
            KeyCode::Char(c @ '1'..='6') => Command::Type(c),
            KeyCode::Char('q') | KeyCode::F(10) => Command::Quit,
            _ => Command::Unknown(key_name(&key)),
        },
        Mode::Confirm => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Command::Yes,
            KeyCode::Char('n') | KeyCode::Char('N') => Command::Cancel,
            _ => Command::Unknown(key_name(&key)),
        },
        Mode::Help => match key.code {
            KeyCode::Char('?') | KeyCode::F(1) | KeyCode::Char('h') => Command::ToggleHelp,
            KeyCode::Char('q') | KeyCode::F(10) => Command::Quit,
            KeyCode::Up => Command::Up,
            KeyCode::Down => Command::Down,
            KeyCode::PageUp => Command::PageUp,
            KeyCode::PageDown => Command::PageDown,
            KeyCode::Home => Command::Home,
            KeyCode::End => Command::End,
            _ => Command::Unknown(key_name(&key)),
        },
        Mode::Panel => match key.code {
            KeyCode::Up => Command::Up,
            KeyCode::Down => Command::Down,
            KeyCode::PageUp => Command::PageUp,
            KeyCode::PageDown => Command::PageDown,
            KeyCode::Home => Command::Home,
            KeyCode::End => Command::End,
            KeyCode::Char('q') | KeyCode::F(10) => Command::Quit,
            _ => Command::Unknown(key_name(&key)),
        },
        Mode::Normal => normal(key),
    }
}

fn normal(key: KeyEvent) -> Command {
    let plain = !key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    if let (KeyCode::Char(c), true) = (key.code, plain) {
        let replay = match c {
            'R' => Some(ReplayKey::Enter),
            '[' => Some(ReplayKey::Move(Move::Seconds(-1))),
            ']' => Some(ReplayKey::Move(Move::Seconds(1))),
            '{' => Some(ReplayKey::Move(Move::Seconds(-60))),
            '}' => Some(ReplayKey::Move(Move::Seconds(60))),
            'n' => Some(ReplayKey::Move(Move::PrevMark)),
            'N' => Some(ReplayKey::Move(Move::NextMark)),
            'L' => Some(ReplayKey::Live),
            _ => None,
        };
        if let Some(k) = replay {
            return Command::Replay(k);
        }
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::F(10) => Command::Quit,
        KeyCode::Char('?') | KeyCode::F(1) | KeyCode::Char('h') => Command::ToggleHelp,
        KeyCode::Up => Command::Up,
        KeyCode::Down => Command::Down,
        KeyCode::PageUp => Command::PageUp,
        KeyCode::PageDown => Command::PageDown,
        KeyCode::Home => Command::Home,
        KeyCode::End => Command::End,
        KeyCode::Char('s') | KeyCode::F(6) | KeyCode::Char('>') | KeyCode::Char('.') => {
            Command::SortNext
        }
        KeyCode::Char('<') | KeyCode::Char(',') => Command::SortPrev,
        KeyCode::Char('P') => Command::SortBy(SortColumn::Cpu),
        KeyCode::Char('M') => Command::SortBy(SortColumn::Mem),
        KeyCode::Char('T') => Command::SortBy(SortColumn::CpuTime),
        KeyCode::Char('S') | KeyCode::Char('r') | KeyCode::Char('I') => Command::Reverse,
        KeyCode::Char('K') => Command::ToggleKernel,
        KeyCode::Char('e') => Command::RefreshEvents,
        KeyCode::Char('/') => Command::StartSearch,
        KeyCode::F(3) => Command::SearchNext,
        KeyCode::Char('\\') | KeyCode::F(4) => Command::StartFilter,
        KeyCode::Char('t') | KeyCode::F(5) => Command::ToggleTree,
        KeyCode::Char('g') => Command::CycleGrouping,
        KeyCode::Enter => Command::Activate,
        KeyCode::Tab | KeyCode::BackTab => Command::SwitchPane,
        KeyCode::Char('k') | KeyCode::F(9) => Command::StartKill,
        KeyCode::Char('Z') | KeyCode::Char('z') | KeyCode::Char(' ') => Command::Pause,
        KeyCode::Char('+') | KeyCode::Char('=') => Command::SlowerSampling,
        KeyCode::Char('-') => Command::FasterSampling,
        _ => Command::Unknown(key_name(&key)),
    }
}

/// Every key, for `?` and the README: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("q  F10  Ctrl-C", "quit"),
    ("Esc", "close a prompt, menu, panel or help; never quits"),
    ("↑ ↓  PgUp PgDn", "select; move by a page"),
    ("Home  End", "the first / last row"),
    ("Tab", "switch between the table and the events pane"),
    ("Enter", "tree: fold/unfold; events pane: open the event"),
    ("/  F3", "search commands as you type; Enter keeps, F3 next"),
    ("\\  F4", "filter by command, user or cgroup; empty clears"),
    ("t  F5", "tree view: children under their parent"),
    ("g", "view: process → tree → cgroup → app groups"),
    (
        "s  F6  >  <",
        "sort by the next / previous column, start time too",
    ),
    ("P  M  T", "sort by CPU% / memory / TIME+ (CPU time used)"),
    ("r  S  I", "reverse the sort"),
    ("k  F9", "send a signal to the selected process"),
    ("Z  z  space", "pause / resume the display"),
    ("+  -", "longer / shorter sampling (embedded sampler)"),
    ("K", "show / hide kernel threads"),
    ("e", "reload recent events from the daemon"),
    ("?  h  F1", "toggle this help (↑↓ scroll it)"),
    ("mouse", "click a row: select; click a header: sort"),
    ("R", "replay the recording from 60 s ago"),
    ("[ ]  { }", "replay: a second / a minute back or forward"),
    ("n  N", "replay: the previous / next event or stall"),
    ("L", "replay: back to live"),
];

/// The help popup's explanation of the columns, the stress and the meters,
/// shown under the keys.
pub const HELP_NOTES: &[&str] = &[
    " Columns: arrow the trend (score now vs 5 samples ago); PID;",
    " USER the owner (its uid when it has no name); COMMAND (tree:",
    " under its parent, [+N] a folded subtree of N); SCORE 0-100 and",
    " its BAND; CPU% of one core (100 = one full core, as htop); GPU%",
    " of GPU time; MEM resident bytes; TIME+ CPU time used since it",
    " started, user + system (M:SS.hh, then H:MM:SS, then days); DISK/s",
    " bytes read + written per second; WAKE/s wakeups per second; S the",
    " state (R run, S sleep, D disk wait, Z zombie, T stopped, I idle);",
    " DOMINANT the resource behind the score. A folded tree row's CPU%",
    " and MEM are its whole subtree's. Groups (g): PROCS members, GROUP",
    " name, sums of the members' use. Score shares (detail pane): use",
    " as % of the machine's capacity per fair share, the score's inputs.",
    " Stress: the largest of the worst score, CPU saturation (busy",
    " cores, run queue) and pressure (PSI); see docs/scoring.md.",
    " CPU bars: | user : nice # system % irq ~ iowait $ steal.",
    " PSI cpu/mem/io: some/full avg10, % of 10 s tasks waited.",
];

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
    /// Cumulative CPU time, htop's TIME+ (`T`).
    CpuTime,
    /// The owner's name.
    User,
    /// Process start time (reached with `s`, `<`, `>`).
    Started,
}

impl SortColumn {
    pub const ALL: [SortColumn; 11] = [
        SortColumn::Score,
        SortColumn::Cpu,
        SortColumn::Gpu,
        SortColumn::Mem,
        SortColumn::CpuTime,
        SortColumn::Disk,
        SortColumn::Wake,
        SortColumn::Pid,
        SortColumn::User,
        SortColumn::Command,
        SortColumn::Started,
    ];

    pub fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> SortColumn {
        let i = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
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
            SortColumn::CpuTime => "TIME+",
            SortColumn::User => "user",
            SortColumn::Started => "start time",
        }
    }

    /// Numbers sort biggest first, PID, user and command ascending (before
    /// reversal).
    pub fn descending_by_default(self) -> bool {
        !matches!(
            self,
            SortColumn::Pid | SortColumn::Command | SortColumn::User
        )
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
            SortColumn::Started => Some(p.start_time_ms as f64),
            SortColumn::CpuTime => p.cpu_time_s,
            SortColumn::Score | SortColumn::Pid | SortColumn::Command | SortColumn::User => None,
        }
        .filter(|v| v.is_finite())
    }
}

/// What a replay key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayKey {
    /// Move the cursor.
    Move(Move),
    /// Leave the recording for the live feed (`L`).
    Live,
    /// Replay from `replay::ENTER_BACK_S` ago (`R` in the live view).
    Enter,
}
