//! The terminal loop: raw mode and the alternate screen, input draining, key
//! handling and frame pacing. Owns restoring the terminal on every way out:
//! normal return, error, panic (a hook restores before the message prints) and
//! SIGTERM/SIGHUP/SIGINT (a flag the loop checks).

use super::app::{Action, App, ConnectionState};
use super::{TuiError, TuiInput, TuiRequest, ui};
use crate::ipc::protocol::ServerMessage;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::Rect;
use std::cell::Cell;
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// At most this often a frame is drawn (~10 fps).
const FRAME: Duration = Duration::from_millis(100);
/// How long to wait for a key before looking at the input channel again.
const POLL: Duration = Duration::from_millis(50);

/// True while this process has the terminal in raw mode / alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

thread_local! {
    /// True on the thread that runs the loop: only its panic restores the
    /// terminal (a panicking helper thread, like the embedded sampler, must not
    /// pull the screen from under a dashboard that keeps running).
    static UI_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Put the terminal back as we found it (idempotent; safe from a panic hook).
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// Raw mode + alternate screen for as long as it lives.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if UI_THREAD.try_with(Cell::get).unwrap_or(false) {
                    restore();
                }
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        UI_THREAD.with(|t| t.set(true));
        // From here on a failure drops the guard, which restores.
        let guard = TerminalGuard;
        // Clear here rather than with `Terminal::clear`, which asks the terminal
        // for the cursor position (a reply some ptys never send).
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            cursor::Hide,
            Clear(ClearType::All)
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = UI_THREAD.try_with(|t| t.set(false));
        restore();
    }
}

/// SIGTERM, SIGHUP and SIGINT set a flag instead of killing the process, so the
/// loop can restore the terminal and return.
struct SignalFlag {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl SignalFlag {
    fn install() -> Result<SignalFlag, TuiError> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut me = SignalFlag {
            flag,
            ids: Vec::new(),
        };
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
        ] {
            let id =
                signal_hook::flag::register(sig, Arc::clone(&me.flag)).map_err(TuiError::Signal)?;
            me.ids.push(id);
        }
        Ok(me)
    }

    fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for SignalFlag {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Run the dashboard until the user quits, a signal arrives or the terminal
/// fails. `input` carries messages and connection changes from whoever owns
/// the transport; `requests` carries the dashboard's requests back (send
/// errors are ignored: a transport that serves none may drop its receiver).
///
/// Send `TuiInput::Connection(ConnectionState::Connected)` before the
/// `initial_state` message: the dashboard then asks for recent events.
pub fn run_loop(
    app: App,
    input: Receiver<TuiInput>,
    requests: Sender<TuiRequest>,
) -> Result<(), TuiError> {
    let mut app = app;
    let signals = SignalFlag::install()?;
    let guard = TerminalGuard::enter()?;
    let result = (|| {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        event_loop(&mut terminal, &mut app, &input, &requests, &signals)
    })();
    drop(guard);
    drop(signals);
    result
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    input: &Receiver<TuiInput>,
    requests: &Sender<TuiRequest>,
    signals: &SignalFlag,
) -> Result<(), TuiError> {
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut last_clock = 0u64;
    let mut input_open = true;
    loop {
        if signals.raised() {
            return Ok(());
        }

        while input_open {
            match input.try_recv() {
                Ok(TuiInput::Message(msg)) => {
                    let initial = matches!(msg, ServerMessage::InitialState { .. });
                    app.apply(&msg);
                    if initial && *app.connection() != ConnectionState::Embedded {
                        let _ = requests.send(TuiRequest::GetEvents {
                            limit: app.events_shown(),
                        });
                    }
                    dirty = true;
                }
                Ok(TuiInput::Connection(state)) => {
                    app.set_connection(state);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    input_open = false;
                    app.set_status("the data feed stopped; press q to quit");
                    dirty = true;
                }
            }
        }

        let now = crate::unix_now();
        if now as u64 != last_clock {
            last_clock = now as u64;
            dirty = true;
        }
        let since_draw = last_draw.map_or(FRAME, |t| t.elapsed());
        if dirty && since_draw >= FRAME {
            app.set_clock(now);
            let size = terminal.size()?;
            app.set_page_size(ui::table_rows(
                Rect::new(0, 0, size.width, size.height),
                app,
            ));
            terminal.draw(|frame| ui::draw(frame, app))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }

        let timeout = if dirty {
            FRAME
                .saturating_sub(since_draw)
                .max(Duration::from_millis(1))
        } else {
            POLL
        };
        match event::poll(timeout) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        loop {
            match event::read() {
                Ok(Event::Key(key)) => match app.handle_key(key) {
                    Action::Quit => return Ok(()),
                    Action::RequestEvents => {
                        let _ = requests.send(TuiRequest::GetEvents {
                            limit: app.events_shown(),
                        });
                    }
                    Action::None => {}
                },
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            dirty = true;
            if !event::poll(Duration::ZERO).unwrap_or(false) {
                break;
            }
        }
    }
}
