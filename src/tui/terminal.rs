//! The terminal loop: raw mode and the alternate screen, input draining, key
//! handling and frame pacing. Owns restoring the terminal on every way out:
//! normal return, error, panic (a hook restores before the message prints) and
//! SIGTERM/SIGHUP/SIGINT (a flag and a self-pipe that wakes the input wait,
//! with a watchdog that forces the exit), and a terminal that goes away
//! (`input` reports EOF/EIO/hang-up and the loop returns).

use super::app::{Action, App, ConnectionState};
use super::input::{TtyInput, Wait};
use super::{EventReader, TuiError, TuiInput, TuiRequest, ui};
use crate::ipc::protocol::ServerMessage;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{Event, MouseButton, MouseEventKind};
use ratatui::crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::Rect;
use std::cell::Cell;
use std::io::{self, Read, Stdout};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Mouse clicks reported as SGR sequences (`input` parses them): button
/// presses and releases only, no motion.
const MOUSE_ON: &str = "\x1b[?1000h\x1b[?1006h";
const MOUSE_OFF: &str = "\x1b[?1000l\x1b[?1006l";

/// Put the terminal back as we found it (idempotent; safe from a panic hook).
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            io::stdout(),
            ratatui::crossterm::style::Print(MOUSE_OFF),
            LeaveAlternateScreen,
            cursor::Show
        );
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
            Clear(ClearType::All),
            ratatui::crossterm::style::Print(MOUSE_ON)
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

/// SIGTERM, SIGHUP and SIGINT set a flag and wake the input wait (a
/// self-pipe), so the loop restores the terminal and returns; SIGWINCH only
/// wakes it (the next frame takes the new size). A watchdog thread, woken by
/// the same signals on its own pipe, restores the terminal modes and exits the
/// process if the loop has not returned within `WATCHDOG` (the loop may be
/// blocked writing to a terminal nobody reads).
struct Signals {
    flag: Arc<AtomicBool>,
    last: Arc<AtomicUsize>,
    ids: Vec<signal_hook::SigId>,
}

/// How long after a terminating signal the watchdog forces the exit.
const WATCHDOG: Duration = Duration::from_millis(800);

const STOP_SIGNALS: [libc::c_int; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];

impl Signals {
    /// Install the handlers; returns the read end of the loop's wake pipe.
    fn install() -> Result<(Signals, UnixStream), TuiError> {
        let mut me = Signals {
            flag: Arc::new(AtomicBool::new(false)),
            last: Arc::new(AtomicUsize::new(0)),
            ids: Vec::new(),
        };
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(TuiError::Signal)?;
        let (dog_rx, dog_tx) = UnixStream::pair().map_err(TuiError::Signal)?;
        for sig in STOP_SIGNALS {
            me.ids.push(
                signal_hook::flag::register(sig, Arc::clone(&me.flag)).map_err(TuiError::Signal)?,
            );
            me.ids.push(
                signal_hook::flag::register_usize(sig, Arc::clone(&me.last), sig as usize)
                    .map_err(TuiError::Signal)?,
            );
            let w = wake_tx.try_clone().map_err(TuiError::Signal)?;
            me.ids
                .push(signal_hook::low_level::pipe::register(sig, w).map_err(TuiError::Signal)?);
            let d = dog_tx.try_clone().map_err(TuiError::Signal)?;
            me.ids
                .push(signal_hook::low_level::pipe::register(sig, d).map_err(TuiError::Signal)?);
        }
        me.ids.push(
            signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, wake_tx)
                .map_err(TuiError::Signal)?,
        );
        drop(dog_tx);
        let last = Arc::clone(&me.last);
        std::thread::Builder::new()
            .name("tui-watchdog".into())
            .spawn(move || watchdog(dog_rx, &last))
            .map_err(TuiError::Signal)?;
        Ok((me, wake_rx))
    }

    fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // Unregistering closes the pipes' write ends: the watchdog's read
        // returns 0 and it ends without doing anything.
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Wait for a terminating signal; if the process is still alive `WATCHDOG`
/// later, restore what can be restored without blocking and exit.
fn watchdog(mut pipe: UnixStream, last: &AtomicUsize) {
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(0) => return,
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    std::thread::sleep(WATCHDOG);
    if ACTIVE.load(Ordering::SeqCst) {
        let _ = disable_raw_mode();
        // SAFETY: plain fcntl and write on stdout; O_NONBLOCK so a terminal
        // nobody reads cannot block the exit.
        unsafe {
            let fl = libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFL);
            if fl >= 0 {
                libc::fcntl(libc::STDOUT_FILENO, libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
            let leave = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1006l";
            libc::write(libc::STDOUT_FILENO, leave.as_ptr().cast(), leave.len());
        }
    }
    let sig = last.load(Ordering::SeqCst) as i32;
    // SAFETY: _exit ends the process without running anything else.
    unsafe { libc::_exit(128 + sig) }
}

/// Run the dashboard until the user quits, a signal arrives or the terminal
/// fails or goes away. `input` carries messages and connection changes from
/// whoever owns the transport; `requests` carries the dashboard's requests
/// back (send errors are ignored: a transport that serves none may drop its
/// receiver).
///
/// Send `TuiInput::Connection(ConnectionState::Connected)` before the
/// `initial_state` message: the dashboard then asks for recent events.
///
/// `reader` answers Enter on an event (its timeline and forensic summary).
pub fn run_loop(
    app: App,
    input: Receiver<TuiInput>,
    requests: Sender<TuiRequest>,
    reader: EventReader,
) -> Result<(), TuiError> {
    let mut app = app;
    let (signals, wake) = Signals::install()?;
    let mut tty = TtyInput::open(wake)?;
    let guard = TerminalGuard::enter()?;
    let result = (|| {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        event_loop(
            &mut terminal,
            &mut app,
            &input,
            &requests,
            &signals,
            &mut tty,
            &reader,
        )
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
    signals: &Signals,
    tty: &mut TtyInput,
    reader: &EventReader,
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
                        let _ = requests.send(TuiRequest::FullTable);
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
                Ok(TuiInput::Replay(view)) => {
                    app.show_replay(&view);
                    dirty = true;
                }
                Ok(TuiInput::Status(text)) => {
                    app.set_status(text);
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

        // Always a bounded wait: the input channel is looked at every POLL.
        let timeout = if dirty {
            FRAME
                .saturating_sub(since_draw)
                .clamp(Duration::from_millis(1), POLL)
        } else {
            POLL
        };
        match tty.wait(timeout) {
            Wait::Timeout => {}
            Wait::Signal => dirty = true,
            Wait::Gone(why) => return Err(TuiError::TerminalGone(why)),
            Wait::Events(events) => {
                for ev in events {
                    dirty = true;
                    let action = match ev {
                        Event::Key(key) => app.handle_key(key),
                        Event::Mouse(m) if m.kind == MouseEventKind::Down(MouseButton::Left) => {
                            let size = terminal.size()?;
                            let area = Rect::new(0, 0, size.width, size.height);
                            match ui::hit(area, app, m.column, m.row) {
                                ui::Hit::Row(r) => app.click_row(r),
                                ui::Hit::Header(col) => app.click_header(col),
                                ui::Hit::Event(line) => app.click_event(line),
                                ui::Hit::Nothing => {}
                            }
                            Action::None
                        }
                        _ => Action::None,
                    };
                    if perform(action, app, requests, reader) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Carry out what a key asked for; true to quit. The only I/O a key causes
/// happens here: a signal (`kill(2)`), a read-only database read, a request.
fn perform(
    action: Action,
    app: &mut App,
    requests: &Sender<TuiRequest>,
    reader: &EventReader,
) -> bool {
    match action {
        Action::Quit => return true,
        Action::None => {}
        Action::RequestEvents => {
            let _ = requests.send(TuiRequest::GetEvents {
                limit: app.events_shown(),
            });
        }
        Action::SetInterval { secs } => {
            let _ = requests.send(TuiRequest::SetInterval { secs });
        }
        Action::Replay(k) => {
            let _ = requests.send(TuiRequest::Replay(k));
        }
        Action::Signal { pid, command, sig } => {
            let result = crate::sys::send_signal(pid, sig);
            app.signal_result(pid, &command, sig, result);
        }
        Action::OpenEvent(what) => match reader(&what) {
            Ok((title, text)) => app.open_panel(title, &text),
            Err(why) => app.open_panel(" Event ", &why),
        },
    }
    false
}
