//! The dashboard in a real pseudo-terminal: `rogue-hunter tui` with no daemon
//! running starts its embedded sampler, shows a spinning process's PID, quits
//! on `q` with exit 0 and leaves the terminal as it found it.

use crate::common::{Sandbox, spawn_hog};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Pty {
    master: File,
    slave: OwnedFd,
}

fn open_pty(rows: u16, cols: u16) -> Pty {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds; the name and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just returned by openpty and are owned here.
    unsafe {
        Pty {
            master: File::from_raw_fd(master),
            slave: OwnedFd::from_raw_fd(slave),
        }
    }
}

fn screen_text(parser: &Mutex<vt100::Parser>) -> String {
    parser
        .lock()
        .map(|p| p.screen().contents())
        .unwrap_or_default()
}

#[test]
fn dashboard_shows_a_spinning_process_and_quits_cleanly() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let hog = spawn_hog("cpu");
    let pty = open_pty(30, 120);
    let mut cmd = sb.cmd();
    cmd.arg("tui").env("TERM", "xterm-256color");
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
    cmd.stdin(stdio(&pty.slave))
        .stdout(stdio(&pty.slave))
        .stderr(stdio(&pty.slave));
    // SAFETY: only async-signal-safe calls between fork and exec: make the pty
    // the controlling terminal of a new session.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn tui");
    // The command holds duplicates of the slave: drop them, or the reader
    // never sees the terminal close.
    drop(cmd);
    // Keep one slave descriptor to read the terminal modes after the exit.
    let slave_check = pty.slave.try_clone().expect("dup slave");
    drop(pty.slave);

    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(30).expect("rows"),
        std::num::NonZeroU16::new(120).expect("cols"),
        0,
    )));
    let mut reader = pty.master.try_clone().expect("dup master");
    let feed = Arc::clone(&parser);
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut raw = Vec::new();
        // EIO when the child side closes ends the loop.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if let Ok(mut p) = feed.lock() {
                p.process(&buf[..n]);
            }
        }
        raw
    });

    let pid = hog.pid().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while Instant::now() < deadline {
        let text = screen_text(&parser);
        if text.contains("embedded sampler") && text.lines().any(|l| l.contains(&pid)) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = screen_text(&parser);
    assert!(seen, "the hog's PID {pid} never appeared:\n{shown}");
    assert!(
        parser
            .lock()
            .map(|p| p.screen().alternate_screen())
            .unwrap_or(false),
        "the dashboard draws on the alternate screen"
    );

    let mut writer = pty.master.try_clone().expect("dup master");
    writer.write_all(b"q").expect("press q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "tui did not exit after q");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    // Raw mode was undone: the line discipline is canonical with echo again.
    // SAFETY: termios is plain data filled by tcgetattr on a valid fd.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::tcgetattr(slave_check.as_raw_fd(), &mut t) };
    assert_eq!(rc, 0);
    assert!(t.c_lflag & libc::ICANON != 0, "canonical mode restored");
    assert!(t.c_lflag & libc::ECHO != 0, "echo restored");
    // Closing the last slave descriptor ends the reader with EIO.
    drop(slave_check);
    drop(writer);
    let raw = pump.join().expect("pump");
    drop(pty.master);
    let p = parser.lock().expect("parser");
    assert!(
        !p.screen().alternate_screen(),
        "alternate screen left on exit"
    );
    assert!(!p.screen().hide_cursor(), "cursor shown again on exit");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.rfind("\x1b[?1049l") > text.rfind("\x1b[?1049h"));
}
