//! Terminal input without crossterm's event reader: crossterm 0.29 retries a
//! read that returns 0 (a hung-up terminal) or EIO (a closed pty) forever, so a
//! dashboard whose terminal went away spun at 100 % of a core. Here one
//! `poll(2)` waits on the terminal and a signal self-pipe with a timeout; EOF,
//! EIO, EBADF, POLLHUP/POLLERR/POLLNVAL end the dashboard, and the bytes read
//! are decoded into crossterm's `Event` type by a small parser (keys, SGR mouse
//! reports) so the rest of the dashboard does not change.

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Longest incomplete escape sequence kept between reads.
const MAX_PENDING: usize = 64;

/// What one wait on the terminal found.
#[derive(Debug)]
pub enum Wait {
    /// Input decoded from the terminal (possibly none: a partial sequence).
    Events(Vec<Event>),
    /// A signal arrived (the caller checks which flag is raised).
    Signal,
    /// The timeout passed.
    Timeout,
    /// The terminal is gone (EOF, hang-up, error, closed descriptor).
    Gone(String),
}

/// The terminal the dashboard reads keys from: stdin when it is a terminal
/// (as crossterm's raw mode uses), else `/dev/tty`.
pub struct TtyInput {
    fd: RawFd,
    _owned: Option<File>,
    wake: UnixStream,
    parser: Parser,
}

impl TtyInput {
    /// `wake` is the read end of a signal self-pipe (see `signal_hook::low_level::pipe`).
    pub fn open(wake: UnixStream) -> io::Result<TtyInput> {
        wake.set_nonblocking(true)?;
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Ok(TtyInput {
                fd: libc::STDIN_FILENO,
                _owned: None,
                wake,
                parser: Parser::default(),
            });
        }
        let file = File::options().read(true).open("/dev/tty")?;
        Ok(TtyInput {
            fd: file.as_raw_fd(),
            _owned: Some(file),
            wake,
            parser: Parser::default(),
        })
    }

    /// Block until input, a signal or `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Wait {
        let mut fds = [
            libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.as_millis().clamp(0, 60_000) as libc::c_int;
        // SAFETY: fds is a valid array of two pollfd for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Wait::Signal
            } else {
                Wait::Gone(format!("poll: {e}"))
            };
        }
        if fds[1].revents != 0 {
            let mut buf = [0u8; 64];
            while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
            return Wait::Signal;
        }
        let rev = fds[0].revents;
        if rev & libc::POLLNVAL != 0 {
            return Wait::Gone("the terminal descriptor is closed".into());
        }
        if rev & libc::POLLIN != 0 {
            return self.read_available();
        }
        if rev & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Wait::Gone("the terminal hung up".into());
        }
        Wait::Timeout
    }

    fn read_available(&mut self) -> Wait {
        let mut buf = [0u8; 1024];
        // SAFETY: buf is valid for writes of its length; poll said readable, so
        // the read does not block.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Wait::Events(Vec::new()),
                _ => Wait::Gone(format!("reading the terminal: {e}")),
            };
        }
        if n == 0 {
            return Wait::Gone("end of input on the terminal".into());
        }
        let n = n as usize;
        Wait::Events(self.parser.feed(&buf[..n], n == buf.len()))
    }
}

/// Bytes → events, keeping an incomplete sequence for the next read.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
}

impl Parser {
    /// Decode `bytes`; `more` says the read filled its buffer (more may follow
    /// at once), so a trailing lone ESC is kept rather than taken as Esc.
    pub fn feed(&mut self, bytes: &[u8], more: bool) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            match parse_one(&self.pending[i..], more) {
                Parsed::Event(ev, used) => {
                    if let Some(ev) = ev {
                        out.push(ev);
                    }
                    i += used;
                }
                Parsed::Incomplete => break,
            }
        }
        self.pending.drain(..i);
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
        }
        out
    }
}

enum Parsed {
    /// An event (or an ignored sequence) and the bytes it used.
    Event(Option<Event>, usize),
    Incomplete,
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Event> {
    Some(Event::Key(KeyEvent::new(code, modifiers)))
}

fn parse_one(b: &[u8], more: bool) -> Parsed {
    let none = KeyModifiers::NONE;
    match b[0] {
        0x1b => parse_escape(b, more),
        b'\r' | b'\n' => Parsed::Event(key(KeyCode::Enter, none), 1),
        b'\t' => Parsed::Event(key(KeyCode::Tab, none), 1),
        0x7f | 0x08 => Parsed::Event(key(KeyCode::Backspace, none), 1),
        0x00 => Parsed::Event(key(KeyCode::Char(' '), KeyModifiers::CONTROL), 1),
        c @ 0x01..=0x1a => Parsed::Event(
            key(KeyCode::Char((c - 1 + b'a') as char), KeyModifiers::CONTROL),
            1,
        ),
        0x1c..=0x1f => Parsed::Event(None, 1),
        c if c < 0x80 => {
            let ch = c as char;
            let m = if ch.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                none
            };
            Parsed::Event(key(KeyCode::Char(ch), m), 1)
        }
        c => {
            let len = match c {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Parsed::Event(None, 1),
            };
            if b.len() < len {
                return Parsed::Incomplete;
            }
            match std::str::from_utf8(&b[..len])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(ch) => Parsed::Event(key(KeyCode::Char(ch), none), len),
                None => Parsed::Event(None, 1),
            }
        }
    }
}

fn parse_escape(b: &[u8], more: bool) -> Parsed {
    if b.len() == 1 {
        return if more {
            Parsed::Incomplete
        } else {
            Parsed::Event(key(KeyCode::Esc, KeyModifiers::NONE), 1)
        };
    }
    match b[1] {
        b'[' => parse_csi(b),
        b'O' => {
            let Some(&c) = b.get(2) else {
                return Parsed::Incomplete;
            };
            let code = match c {
                b'P' => KeyCode::F(1),
                b'Q' => KeyCode::F(2),
                b'R' => KeyCode::F(3),
                b'S' => KeyCode::F(4),
                b'A' => KeyCode::Up,
                b'B' => KeyCode::Down,
                b'C' => KeyCode::Right,
                b'D' => KeyCode::Left,
                b'H' => KeyCode::Home,
                b'F' => KeyCode::End,
                _ => return Parsed::Event(None, 3),
            };
            Parsed::Event(key(code, KeyModifiers::NONE), 3)
        }
        0x1b => Parsed::Event(key(KeyCode::Esc, KeyModifiers::NONE), 1),
        c => match parse_one(&b[1..], more) {
            Parsed::Event(Some(Event::Key(mut k)), used) if c >= 0x20 => {
                k.modifiers |= KeyModifiers::ALT;
                Parsed::Event(Some(Event::Key(k)), used + 1)
            }
            Parsed::Event(_, used) => Parsed::Event(None, used + 1),
            Parsed::Incomplete => Parsed::Incomplete,
        },
    }
}

fn modifiers(param: Option<u16>) -> KeyModifiers {
    let bits = param.unwrap_or(1).saturating_sub(1);
    let mut m = KeyModifiers::NONE;
    if bits & 1 != 0 {
        m |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        m |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        m |= KeyModifiers::CONTROL;
    }
    m
}

fn parse_csi(b: &[u8]) -> Parsed {
    // ESC [ params final, params in 0x30..=0x3f, final in 0x40..=0x7e.
    let Some(end) = b[2..].iter().position(|&c| (0x40..=0x7e).contains(&c)) else {
        return if b.len() > MAX_PENDING {
            Parsed::Event(None, b.len())
        } else {
            Parsed::Incomplete
        };
    };
    let used = end + 3;
    let body = &b[2..2 + end];
    let fin = b[2 + end];
    if body.first() == Some(&b'<') {
        return Parsed::Event(parse_sgr_mouse(&body[1..], fin), used);
    }
    let text = std::str::from_utf8(body).unwrap_or("");
    let params: Vec<Option<u16>> = text.split(';').map(|p| p.parse().ok()).collect();
    let p0 = params.first().copied().flatten();
    let m = modifiers(params.get(1).copied().flatten());
    let code = match fin {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'Z' => return Parsed::Event(key(KeyCode::BackTab, KeyModifiers::SHIFT), used),
        b'P' => KeyCode::F(1),
        b'Q' => KeyCode::F(2),
        b'R' => KeyCode::F(3),
        b'S' => KeyCode::F(4),
        b'~' => match p0 {
            Some(1 | 7) => KeyCode::Home,
            Some(2) => KeyCode::Insert,
            Some(3) => KeyCode::Delete,
            Some(4 | 8) => KeyCode::End,
            Some(5) => KeyCode::PageUp,
            Some(6) => KeyCode::PageDown,
            Some(n @ 11..=15) => KeyCode::F((n - 10) as u8),
            Some(n @ 17..=21) => KeyCode::F((n - 11) as u8),
            Some(n @ 23..=24) => KeyCode::F((n - 12) as u8),
            _ => return Parsed::Event(None, used),
        },
        _ => return Parsed::Event(None, used),
    };
    Parsed::Event(key(code, m), used)
}

/// `ESC [ < b ; x ; y M|m` (1-based cells).
fn parse_sgr_mouse(body: &[u8], fin: u8) -> Option<Event> {
    let text = std::str::from_utf8(body).ok()?;
    let mut it = text.split(';').map(|p| p.parse::<u16>().ok());
    let (cb, x, y) = (it.next()??, it.next()??, it.next()??);
    let button = match cb & 0b11 {
        0 => MouseButton::Left,
        1 => MouseButton::Middle,
        _ => MouseButton::Right,
    };
    let kind = if cb & 64 != 0 {
        if cb & 1 != 0 {
            MouseEventKind::ScrollDown
        } else {
            MouseEventKind::ScrollUp
        }
    } else if cb & 32 != 0 {
        MouseEventKind::Drag(button)
    } else if fin == b'm' {
        MouseEventKind::Up(button)
    } else {
        MouseEventKind::Down(button)
    };
    Some(Event::Mouse(MouseEvent {
        kind,
        column: x.saturating_sub(1),
        row: y.saturating_sub(1),
        modifiers: KeyModifiers::NONE,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<KeyCode> {
        Parser::default()
            .feed(bytes, false)
            .into_iter()
            .filter_map(|e| match e {
                Event::Key(k) => Some(k.code),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn plain_keys_and_escape_sequences() {
        assert_eq!(
            keys(b"q/\x1b[A\x1b[6~\x1bOR\x1b[21~\x1b[H\x1b[4~\r"),
            vec![
                KeyCode::Char('q'),
                KeyCode::Char('/'),
                KeyCode::Up,
                KeyCode::PageDown,
                KeyCode::F(3),
                KeyCode::F(10),
                KeyCode::Home,
                KeyCode::End,
                KeyCode::Enter,
            ]
        );
        assert_eq!(keys(b"\x1b"), vec![KeyCode::Esc]);
        assert_eq!(keys("é".as_bytes()), vec![KeyCode::Char('é')]);
    }

    #[test]
    fn ctrl_c_and_split_sequences() {
        let ev = Parser::default().feed(b"\x03", false);
        assert!(matches!(&ev[0], Event::Key(k)
            if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)));
        let mut p = Parser::default();
        assert!(p.feed(b"\x1b[2", false).is_empty());
        let ev = p.feed(b"4~", false);
        assert!(matches!(&ev[0], Event::Key(k) if k.code == KeyCode::F(12)));
    }

    #[test]
    fn sgr_mouse_click() {
        let ev = Parser::default().feed(b"\x1b[<0;10;5M", false);
        assert!(matches!(&ev[0], Event::Mouse(m)
            if m.kind == MouseEventKind::Down(MouseButton::Left) && m.column == 9 && m.row == 4));
    }

    #[test]
    fn garbage_never_panics() {
        let mut p = Parser::default();
        for chunk in [
            &b"\x1b[<;;;M"[..],
            b"\xff\xfe",
            b"\x1b[999999~",
            b"\x1b\x1b\x1b",
        ] {
            let _ = p.feed(chunk, false);
        }
        let long = vec![b'1'; 500];
        let mut seq = b"\x1b[".to_vec();
        seq.extend(long);
        let _ = p.feed(&seq, false);
        assert!(p.pending.len() <= MAX_PENDING);
    }
}
