//! Replay: the dashboard fed from the recording (`tui --at TIME`, `R` from
//! the live view). A supervisor thread owns the data source: the live
//! transport (`connected::Live`, daemon or embedded sampler) or the
//! recording, read read-only from the database. The replay keys reach it as
//! `TuiRequest::Replay`; it moves the pure `history::cursor::Cursor`, loads
//! the blocks around the cursor (decoded blocks are cached) and sends the
//! dashboard a `ReplayView`, which `App::show_replay` renders as live.

use super::connected::Live;
use super::embedded::Interval;
use super::{App, EventReader, TuiError, TuiInput, TuiRequest, run_loop};
use crate::config::Config;
use crate::format;
use crate::history::cursor::{self, Cursor, Move, Outcome, Position, Span};
use crate::history::{self, Frame};
use crate::ipc::client::fetch_initial_state;
use crate::model::{EventRow, ProcessSamples, Stall, SubjectKind};
use crate::storage::{EventFilter, StorageError, Store};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

/// The sparklines and the detail pane's ranges cover this much recording
/// before the cursor (the header sparkline's tail at usual widths).
pub const WINDOW_S: f64 = 120.0;
/// `R` in the live view replays from this long ago.
pub const ENTER_BACK_S: f64 = 60.0;
/// Decoded blocks kept (a block is 120 s; the window spans at most two).
const CACHE_BLOCKS: usize = 4;
/// Messages buffered between the source and the dashboard.
const QUEUE: usize = 64;

pub use super::keymap::ReplayKey;

/// The recording at the cursor, for `App::show_replay`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayView {
    /// The cursor, Unix seconds.
    pub at: f64,
    /// What is (not) recorded here when it is not a recorded second: before
    /// the recording, after it, a gap.
    pub note: Option<String>,
    /// The status line: the note, or what the last key did.
    pub status: Option<String>,
    /// Recorded seconds up to `WINDOW_S` before the cursor, oldest first;
    /// the last is the cursor's (its metrics ranged over the window). Empty
    /// when the cursor is not on a recorded second.
    pub window: Vec<ProcessSamples>,
    /// Events entered by the cursor, as they stood then (closed later: open).
    pub events: Vec<EventRow>,
    /// Stalls started by the cursor, as they stood then.
    pub stalls: Vec<Stall>,
}

type BlockKey = (i64, u32, u64);

/// A recorded second, decoded, and as the sample it was (`None` when its
/// extras no longer fit this build's `ProcessSamples`).
struct Second {
    frame: Frame,
    samples: Option<ProcessSamples>,
}

/// The recording, read-only: blocks around a time, decoded (and turned
/// into samples) once.
struct Recording {
    store: Store,
    cache: VecDeque<(BlockKey, Arc<Vec<Arc<Second>>>)>,
}

impl Recording {
    fn span(&self) -> Result<Option<Span>, StorageError> {
        let s = self.store.history_summary()?;
        Ok(match (s.first, s.last) {
            (Some(first), Some(last)) => Some(Span { first, last }),
            _ => None,
        })
    }

    /// Recorded seconds in `[from, to]`, oldest first, and a line for each
    /// damaged block skipped.
    fn frames(
        &mut self,
        from: f64,
        to: f64,
    ) -> Result<(Vec<Arc<Second>>, Vec<String>), StorageError> {
        let mut frames = Vec::new();
        let mut damaged = Vec::new();
        for b in self.store.history_blocks(from, to)? {
            // The open block is rewritten in place: its frame count and end
            // tell a newer version.
            let key = (b.id, b.frames, b.end_time.to_bits());
            let decoded = match self.cache.iter().find(|(k, _)| *k == key) {
                Some((_, f)) => Arc::clone(f),
                None => match history::decode_block(b.encoding, &b.data) {
                    Ok(f) => {
                        let f: Arc<Vec<Arc<Second>>> = Arc::new(
                            f.into_iter()
                                .map(|frame| {
                                    let samples = frame.to_samples();
                                    Arc::new(Second { frame, samples })
                                })
                                .collect(),
                        );
                        if self.cache.len() == CACHE_BLOCKS {
                            self.cache.pop_front();
                        }
                        self.cache.push_back((key, Arc::clone(&f)));
                        f
                    }
                    Err(e) => {
                        damaged.push(format!(
                            "recorded block {} ({} to {}) is damaged and was skipped: {e}",
                            b.id,
                            format::local_time(b.start_time),
                            format::local_time(b.end_time)
                        ));
                        continue;
                    }
                },
            };
            frames.extend(
                decoded
                    .iter()
                    .filter(|s| s.frame.timestamp_s >= from && s.frame.timestamp_s <= to)
                    .cloned(),
            );
        }
        frames.sort_by(|a, b| a.frame.timestamp_s.total_cmp(&b.frame.timestamp_s));
        Ok((frames, damaged))
    }
}

/// The replay source: the recording, the cursor and the events and stalls
/// (the marks `n` and `N` jump between).
pub struct ReplaySource {
    rec: Recording,
    cursor: Cursor,
    events: Vec<EventRow>,
    stalls: Vec<Stall>,
    /// When the events and stalls were read (the daemon may add more).
    read_at: f64,
}

impl ReplaySource {
    /// Open the database at `db` read-only with the cursor at `at`. Fails
    /// with a sentence when there is no database or it cannot be read.
    pub fn open(db: &Path, at: f64) -> Result<ReplaySource, String> {
        let store = match Store::open_read_only(db) {
            Ok(s) => s,
            Err(StorageError::Missing { .. }) => {
                return Err(format!(
                    "nothing to replay: no database at {} (the recording is made by `rogue-hunter daemon`)",
                    db.display()
                ));
            }
            Err(e) => return Err(format!("cannot replay: {e}")),
        };
        let mut me = ReplaySource {
            rec: Recording {
                store,
                cache: VecDeque::new(),
            },
            cursor: Cursor::new(at),
            events: Vec::new(),
            stalls: Vec::new(),
            read_at: f64::NEG_INFINITY,
        };
        me.read_marks().map_err(|e| format!("cannot replay: {e}"))?;
        Ok(me)
    }

    fn read_marks(&mut self) -> Result<(), StorageError> {
        self.events = self.rec.store.list_events(&EventFilter::default())?;
        self.stalls = self
            .rec
            .store
            .list_stalls(None, None)?
            .into_iter()
            .map(|r| r.stall)
            .collect();
        self.read_at = crate::unix_now();
        Ok(())
    }

    fn marks(&self) -> Vec<f64> {
        self.events
            .iter()
            .map(|e| e.entry_time_s)
            .chain(self.stalls.iter().map(|s| s.start_s))
            .collect()
    }

    /// Apply a move and return the view at the new cursor.
    pub fn apply(&mut self, mv: Move) -> ReplayView {
        let span = self.rec.span().ok().flatten();
        if matches!(mv, Move::PrevMark | Move::NextMark) {
            // A mark may have been added since (the daemon runs on).
            let _ = self.read_marks();
        }
        let outcome = self.cursor.apply(mv, span, &self.marks());
        let said = match outcome {
            Outcome::Moved => None,
            Outcome::AtStart => Some("the first recorded second".to_string()),
            Outcome::AtEnd => Some("the last recorded second (L goes live)".to_string()),
            Outcome::Mark(t) => Some(self.describe_mark(t)),
            Outcome::NoMark if mv == Move::PrevMark => {
                Some("no earlier event or stall is recorded".to_string())
            }
            Outcome::NoMark => Some("no later event or stall is recorded".to_string()),
            Outcome::NothingRecorded => None,
        };
        let mut view = self.view();
        if let Some(s) = said
            && view.note.is_none()
        {
            view.status = Some(s);
        }
        view
    }

    fn describe_mark(&self, t: f64) -> String {
        if let Some(e) = self.events.iter().find(|e| e.entry_time_s == t) {
            if e.subject_kind != SubjectKind::Process {
                // A group's event: its kind and name, and its top members.
                let members: Vec<String> = e
                    .members
                    .iter()
                    .take(4)
                    .map(|m| m.pid.to_string())
                    .collect();
                return format!(
                    "event {}: {} {} (members pid {} ) entered {} ({:.1} {})",
                    e.id,
                    e.subject_kind.as_str(),
                    format::truncate(&e.command, 40),
                    members.join(" "),
                    format::local_time(t),
                    e.peak_score,
                    e.peak_band
                );
            }
            return format!(
                "event {}: pid {} {} entered {} ({:.1} {})",
                e.id,
                e.pid,
                format::truncate(&e.command, 40),
                format::local_time(t),
                e.peak_score,
                e.peak_band
            );
        }
        match self.stalls.iter().find(|s| s.start_s == t) {
            Some(s) => format!(
                "stall at {}: {}",
                format::local_time(t),
                format::truncate(&s.verdict, 80)
            ),
            None => format!("event at {}", format::local_time(t)),
        }
    }

    /// The view at the cursor.
    pub fn view(&mut self) -> ReplayView {
        let at = self.cursor.at();
        if at > self.read_at - cursor::GAP_S {
            let _ = self.read_marks();
        }
        let span = match self.rec.span() {
            Ok(s) => s,
            Err(e) => return self.failed(format!("cannot read the recording: {e}")),
        };
        let (frames, damaged) = match self
            .rec
            .frames(at - WINDOW_S, at + WINDOW_S.min(2.0 * cursor::GAP_S))
        {
            Ok(f) => f,
            Err(e) => return self.failed(format!("cannot read the recording: {e}")),
        };
        let times: Vec<f64> = frames.iter().map(|s| s.frame.timestamp_s).collect();
        self.cursor.settle(&times);
        let at = self.cursor.at();
        let position = cursor::locate(at, &times, span);
        let mut window = Vec::new();
        let note = match position {
            Position::At { index } => {
                let current = &frames[index].frame;
                let from = current.timestamp_s - WINDOW_S;
                let recent = &frames[..=index];
                let start = recent.partition_point(|s| s.frame.timestamp_s <= from);
                let recent = &recent[start..];
                for s in &recent[..recent.len() - 1] {
                    if let Some(s) = &s.samples {
                        window.push(s.clone());
                    }
                }
                match &frames[index].samples {
                    Some(s) => {
                        let mut s = s.clone();
                        s.rogues =
                            cursor::with_window_ranges(current, recent.iter().map(|s| &s.frame));
                        window.push(s);
                        None
                    }
                    None => Some(format!(
                        "the second recorded at {} cannot be read by this version",
                        format::local_time(current.timestamp_s)
                    )),
                }
            }
            Position::Empty => {
                Some("nothing is recorded yet (the daemon records: is it running?)".into())
            }
            Position::Before { first } => Some(format!(
                "before the recording: it begins at {} (] or }} steps forward)",
                format::local_time(first)
            )),
            Position::After { last } => Some(format!(
                "after the last recorded second, {} (L goes live)",
                format::local_time(last)
            )),
            Position::Gap { from, to } => {
                let (before, after) = self.rec.store.history_neighbours(at).unwrap_or_default();
                let from = from.or(before);
                let to = to.or(after);
                let side = |t: Option<f64>| t.map_or_else(|| "?".into(), format::local_time);
                Some(format!(
                    "gap in the recording: nothing recorded from {} to {} (the daemon was not running or was stopped)",
                    side(from),
                    side(to)
                ))
            }
        };
        let status = note.clone().or_else(|| damaged.first().cloned());
        ReplayView {
            at,
            note,
            status,
            window,
            events: self.events_by(at),
            stalls: self.stalls_by(at),
        }
    }

    fn failed(&self, why: String) -> ReplayView {
        ReplayView {
            at: self.cursor.at(),
            note: Some(why.clone()),
            status: Some(why),
            window: Vec::new(),
            events: Vec::new(),
            stalls: Vec::new(),
        }
    }

    /// Events entered by `at`, as they stood then.
    fn events_by(&self, at: f64) -> Vec<EventRow> {
        self.events
            .iter()
            .filter(|e| e.entry_time_s <= at)
            .map(|e| {
                let mut e = e.clone();
                if e.exit_time_s.is_some_and(|x| x > at) {
                    e.exit_time_s = None;
                    e.close_reason = None;
                }
                e
            })
            .collect()
    }

    /// Stalls started by `at`, as they stood then.
    fn stalls_by(&self, at: f64) -> Vec<Stall> {
        self.stalls
            .iter()
            .filter(|s| s.start_s <= at)
            .map(|s| {
                let mut s = s.clone();
                if s.end_s.is_some_and(|x| x > at) {
                    s.end_s = None;
                    s.duration_s = at - s.start_s;
                }
                s
            })
            .collect()
    }
}

/// Where the dashboard starts.
pub enum Start {
    /// Live: from the daemon when `daemon_found`, else the embedded sampler
    /// until one answers (as `tui` without `--at`).
    Live { daemon_found: bool },
    /// The recording, at the source's cursor.
    Replay(Box<ReplaySource>),
}

/// Run the dashboard from `start`, switching between the live feed (daemon
/// at `socket`, or the embedded sampler) and the recording in `db` on `R`
/// and `L`, until the user quits.
pub fn run_dashboard(
    socket: PathBuf,
    db: PathBuf,
    config: Config,
    start: Start,
    reader: EventReader,
) -> Result<(), TuiError> {
    let app = App::new(&config.tui, &config.bands);
    let (input_tx, input_rx) = std::sync::mpsc::sync_channel::<TuiInput>(QUEUE);
    let (request_tx, request_rx) = std::sync::mpsc::channel::<TuiRequest>();
    // The supervisor ends when the dashboard drops its request sender.
    std::thread::Builder::new()
        .name("tui-source".into())
        .spawn(move || supervise(start, &socket, &db, &config, &input_tx, &request_rx))
        .map_err(TuiError::SamplerThread)?;
    run_loop(app, input_rx, request_tx, reader)
}

fn supervise(
    start: Start,
    socket: &Path,
    db: &Path,
    config: &Config,
    input: &SyncSender<TuiInput>,
    requests: &Receiver<TuiRequest>,
) {
    // One pace for the embedded sampler across its restarts (`+`/`-`).
    let interval = Interval::default();
    let mut next = start;
    loop {
        next = match next {
            Start::Live { daemon_found } => {
                let (live_tx, live_rx) = std::sync::mpsc::channel::<TuiRequest>();
                let live = match Live::start(
                    socket.to_path_buf(),
                    config.clone(),
                    daemon_found,
                    interval.clone(),
                    input.clone(),
                    live_rx,
                ) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = input.send(TuiInput::Status(format!("cannot go live: {e}")));
                        return;
                    }
                };
                let mut replay = None;
                while let Ok(req) = requests.recv() {
                    match req {
                        TuiRequest::Replay(ReplayKey::Enter) => {
                            match ReplaySource::open(db, crate::unix_now() - ENTER_BACK_S) {
                                Ok(s) => {
                                    replay = Some(s);
                                    break;
                                }
                                Err(why) => {
                                    let _ = input.send(TuiInput::Status(why));
                                }
                            }
                        }
                        TuiRequest::Replay(_) => {}
                        other => {
                            let _ = live_tx.send(other);
                        }
                    }
                }
                drop(live_tx);
                live.stop();
                match replay {
                    Some(s) => Start::Replay(Box::new(s)),
                    None => return,
                }
            }
            Start::Replay(mut source) => {
                if input
                    .send(TuiInput::Replay(Box::new(source.view())))
                    .is_err()
                {
                    return;
                }
                let mut live = None;
                while let Ok(req) = requests.recv() {
                    let view = match req {
                        TuiRequest::Replay(ReplayKey::Live) => {
                            live = Some(daemon_answers(socket));
                            break;
                        }
                        TuiRequest::Replay(ReplayKey::Move(mv)) => source.apply(mv),
                        TuiRequest::Replay(ReplayKey::Enter)
                        | TuiRequest::GetEvents { .. }
                        | TuiRequest::FullTable
                        | TuiRequest::SetInterval { .. } => continue,
                    };
                    if input.send(TuiInput::Replay(Box::new(view))).is_err() {
                        return;
                    }
                }
                match live {
                    Some(daemon_found) => Start::Live { daemon_found },
                    None => return,
                }
            }
        };
    }
}

/// Whether a daemon answers at `socket` (as `tui` decides at start).
fn daemon_answers(socket: &Path) -> bool {
    fetch_initial_state(socket, Duration::from_secs(2)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

    fn key(c: char) -> KeyEvent {
        let mut k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        k.kind = KeyEventKind::Press;
        k
    }

    fn utc(t: f64) -> String {
        format!("{} UTC", crate::tui::app::utc_hms(t))
    }

    fn samples(t: f64, score: f64) -> ProcessSamples {
        let mut p = crate::model::ProcessScore::new(77, 1, "spin".into(), t);
        p.score = score;
        ProcessSamples {
            timestamp_s: t,
            elapsed_ms: 1.0,
            process_count: 1,
            max_score: score,
            rogues: vec![p],
            groups: Vec::new(),
            system: None,
        }
    }

    #[test]
    fn the_app_shows_a_replay_view_and_leaves_it_for_live() {
        use crate::config::{BandsConfig, TuiConfig};
        use crate::tui::ConnectionState;
        let mut app = App::new(&TuiConfig::default(), &BandsConfig::default());
        app.set_replay_format(utc);
        let view = ReplayView {
            at: 3600.0,
            note: None,
            status: None,
            window: vec![
                samples(3598.0, 10.0),
                samples(3599.0, 20.0),
                samples(3600.0, 60.0),
            ],
            events: Vec::new(),
            stalls: Vec::new(),
        };
        app.show_replay(&view);
        assert!(app.replaying());
        assert_eq!(app.connection_text(), "REPLAY 01:00:00 UTC");
        assert_eq!(app.rows().len(), 1);
        assert_eq!(app.max_score_history().len(), 3);
        assert_eq!(app.sample_rate_hz(), Some(1.0));
        // Keys: ] reaches the source; R is not a key while replaying.
        assert_eq!(
            app.handle_key(key(']')),
            crate::tui::Action::Replay(ReplayKey::Move(Move::Seconds(1)))
        );
        // A gap: no rows, and the note says why.
        let gap = ReplayView {
            note: Some("gap in the recording".into()),
            status: Some("gap in the recording".into()),
            window: Vec::new(),
            ..view
        };
        app.show_replay(&gap);
        assert!(app.rows().is_empty());
        assert_eq!(app.status(), Some("gap in the recording"));
        app.set_connection(ConnectionState::Embedded);
        assert!(!app.replaying());
        assert_eq!(app.status(), None);
        assert_eq!(
            app.handle_key(key('R')),
            crate::tui::Action::Replay(ReplayKey::Enter)
        );
    }

    #[test]
    fn replay_keys_go_through_the_keymap_only_in_normal_mode() {
        use crate::config::{BandsConfig, TuiConfig};
        use crate::tui::Action;
        use crate::tui::keymap::{Command, Mode, command_for};
        assert_eq!(
            command_for(Mode::Normal, key(']')),
            Command::Replay(ReplayKey::Move(Move::Seconds(1)))
        );
        assert_eq!(
            command_for(Mode::Normal, key('{')),
            Command::Replay(ReplayKey::Move(Move::Seconds(-60)))
        );
        assert_eq!(
            command_for(Mode::Normal, key('n')),
            Command::Replay(ReplayKey::Move(Move::PrevMark))
        );
        assert_eq!(
            command_for(Mode::Normal, key('N')),
            Command::Replay(ReplayKey::Move(Move::NextMark))
        );
        assert_eq!(
            command_for(Mode::Normal, key('L')),
            Command::Replay(ReplayKey::Live)
        );
        assert_eq!(
            command_for(Mode::Normal, key('R')),
            Command::Replay(ReplayKey::Enter)
        );
        let mut ctrl = key('n');
        ctrl.modifiers = KeyModifiers::CONTROL;
        assert!(!matches!(
            command_for(Mode::Normal, ctrl),
            Command::Replay(_)
        ));
        // In a prompt they are text.
        for c in ['R', 'n', 'N', 'L', '[', '}'] {
            assert_eq!(command_for(Mode::Prompt, key(c)), Command::Type(c));
        }
        // Live: R replays, the cursor keys and L do not reach the source.
        let mut app = App::new(&TuiConfig::default(), &BandsConfig::default());
        assert_eq!(app.handle_key(key(']')), Action::None);
        assert_eq!(app.handle_key(key('L')), Action::None);
        assert_eq!(app.handle_key(key('R')), Action::Replay(ReplayKey::Enter));
        // Typing R and n into the search stays text.
        app.handle_key(key('/'));
        assert_eq!(app.handle_key(key('R')), Action::None);
        assert_eq!(app.handle_key(key('n')), Action::None);
        assert_eq!(app.prompt().map(|p| p.text.as_str()), Some("Rn"));
        // Replaying: the cursor keys and L reach the source, R does not.
        app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        app.show_replay(&ReplayView {
            at: 3600.0,
            note: None,
            status: None,
            window: vec![samples(3600.0, 10.0)],
            events: Vec::new(),
            stalls: Vec::new(),
        });
        assert_eq!(
            app.handle_key(key('n')),
            Action::Replay(ReplayKey::Move(Move::PrevMark))
        );
        assert_eq!(app.handle_key(key('L')), Action::Replay(ReplayKey::Live));
        assert_eq!(app.handle_key(key('R')), Action::None);
    }
}
