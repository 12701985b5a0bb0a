//! The dashboard in a real pseudo-terminal: `rogue-hunter tui` with no daemon
//! running starts its embedded sampler, shows a spinning process's PID, quits
//! on `q` with exit 0 and leaves the terminal as it found it; a closed
//! terminal, SIGTERM, SIGINT and SIGHUP end it within two seconds, embedded
//! or connected to a daemon.

use crate::common::{Sandbox, spawn_hog};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
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
    // Close-on-exec, or every child (the dashboard itself included) would hold
    // a master descriptor and the terminal could never go away.
    for fd in [master, slave] {
        // SAFETY: fcntl on descriptors just returned by openpty.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
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

/// A dashboard running in a pty: the screen is parsed as it arrives; the
/// process is killed (by PID) and reaped on drop, whatever the test did.
struct Dash {
    child: Option<std::process::Child>,
    /// Tells the pump to close its master descriptor (the terminal goes away).
    hang_up: Arc<AtomicBool>,
    parser: Arc<Mutex<vt100::Parser>>,
    master: Option<File>,
    /// A slave descriptor kept to read the terminal modes after the exit.
    slave_check: Option<OwnedFd>,
    pump: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Dash {
    fn start(sb: &Sandbox, rows: u16, cols: u16, args: &[&str]) -> Dash {
        Dash::start_with(sb, rows, cols, args, true)
    }

    /// `controlling`: the pty is the process's controlling terminal (closing
    /// it sends SIGHUP); without, only reads and polls see it go.
    fn start_with(sb: &Sandbox, rows: u16, cols: u16, args: &[&str], controlling: bool) -> Dash {
        let mut cmd = sb.cmd();
        cmd.arg("tui").args(args);
        Dash::start_cmd(cmd, rows, cols, controlling)
    }

    /// `rogue-hunter tui` as the user nobody (through setpriv).
    fn start_as_nobody(sb: &Sandbox, rows: u16, cols: u16) -> Dash {
        std::fs::set_permissions(
            sb.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        let inner = sb.cmd();
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        cmd.arg(inner.get_program()).arg("tui");
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        Dash::start_cmd(cmd, rows, cols, true)
    }

    fn start_cmd(mut cmd: std::process::Command, rows: u16, cols: u16, controlling: bool) -> Dash {
        let pty = open_pty(rows, cols);
        cmd.env("TERM", "xterm-256color");
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
        cmd.stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave));
        // SAFETY: only async-signal-safe calls between fork and exec: make the
        // pty the controlling terminal of a new session.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if controlling && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn tui");
        // The command holds duplicates of the slave: drop them, or the reader
        // never sees the terminal close.
        drop(cmd);
        let slave_check = pty.slave.try_clone().expect("dup slave");
        drop(pty.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).expect("rows"),
            std::num::NonZeroU16::new(cols).expect("cols"),
            0,
        )));
        let mut reader = pty.master.try_clone().expect("dup master");
        let feed = Arc::clone(&parser);
        let hang_up = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&hang_up);
        let pump = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut raw = Vec::new();
            loop {
                if stop.load(Ordering::SeqCst) {
                    // Dropping `reader` closes the last master descriptor.
                    break;
                }
                let mut fds = [libc::pollfd {
                    fd: reader.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: one valid pollfd for the duration of the call.
                let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, 50) };
                if rc <= 0 {
                    continue;
                }
                // EIO when the child side closes ends the loop.
                let Ok(n) = reader.read(&mut buf) else { break };
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
        Dash {
            child: Some(child),
            hang_up,
            parser,
            master: Some(pty.master),
            slave_check: Some(slave_check),
            pump: Some(pump),
        }
    }

    /// Close every master descriptor, as a terminal emulator that quits.
    fn close_terminal(&mut self) {
        self.master = None;
        self.hang_up.store(true, Ordering::SeqCst);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    fn text(&self) -> String {
        screen_text(&self.parser)
    }

    /// Poll the screen until `f` holds, or fail with `what` and the screen.
    fn wait_for(&self, timeout: Duration, what: &str, f: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(&self.text()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} within {timeout:?}; the screen:\n{}", self.text());
    }

    fn send(&self, bytes: &[u8]) {
        let mut w = self.master.as_ref().expect("master open");
        w.write_all(bytes).expect("write to the pty");
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill with our child's pid and a valid signal number.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// Wait for the exit within `timeout`, or fail naming `what`.
    fn wait_exit(&mut self, timeout: Duration, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("child");
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                self.child = None;
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "tui did not exit {what} within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal's line discipline is canonical with echo (raw mode undone).
    fn assert_cooked(&self) {
        let fd = self.slave_check.as_ref().expect("slave").as_raw_fd();
        // SAFETY: termios is plain data filled by tcgetattr on a valid fd.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::tcgetattr(fd, &mut t) };
        assert_eq!(rc, 0);
        assert!(t.c_lflag & libc::ICANON != 0, "canonical mode restored");
        assert!(t.c_lflag & libc::ECHO != 0, "echo restored");
    }

    /// Close the slave and collect every byte the dashboard wrote.
    fn finish_output(&mut self) -> Vec<u8> {
        self.slave_check = None;
        self.pump
            .take()
            .map(|p| p.join().expect("pump"))
            .unwrap_or_default()
    }

    /// The screen left on exit: main screen, cursor visible, and the last
    /// alternate-screen switch in the output is the way out.
    fn assert_screen_restored(&mut self) {
        let raw = self.finish_output();
        let p = self.parser.lock().expect("parser");
        assert!(
            !p.screen().alternate_screen(),
            "alternate screen left on exit"
        );
        assert!(!p.screen().hide_cursor(), "cursor shown again on exit");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.rfind("\x1b[?1049l") > text.rfind("\x1b[?1049h"));
    }
}

impl Drop for Dash {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Closing both sides ends the pump.
        self.close_terminal();
        self.slave_check = None;
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

/// A daemon in the sandbox, killed by PID and reaped on drop.
struct Daemon {
    child: std::process::Child,
}

impl Daemon {
    fn start(sb: &Sandbox) -> Daemon {
        let mut c = sb.cmd();
        c.arg("daemon").stdout(Stdio::null()).stderr(Stdio::null());
        let d = Daemon {
            child: c.spawn().expect("spawn daemon"),
        };
        let socket = sb.path().join("run/rogue-hunter/daemon.sock");
        let up = crate::common::poll(Duration::from_secs(15), Duration::from_millis(50), || {
            std::os::unix::net::UnixStream::connect(&socket).ok()
        });
        assert!(
            up.is_some(),
            "the daemon's socket {} did not accept within 15 s",
            socket.display()
        );
        d
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dashboard_shows_a_spinning_process_and_quits_cleanly() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let hog = spawn_hog("cpu");
    let mut dash = Dash::start(&sb, 30, 120, &[]);
    let pid = hog.pid().to_string();
    dash.wait_for(
        Duration::from_secs(30),
        "the hog's PID in the embedded table",
        |t| t.contains("embedded sampler") && t.lines().any(|l| has_word(l, &pid)),
    );
    assert!(
        dash.parser
            .lock()
            .map(|p| p.screen().alternate_screen())
            .unwrap_or(false),
        "the dashboard draws on the alternate screen"
    );
    dash.send(b"q");
    let status = dash.wait_exit(Duration::from_secs(10), "after q");
    assert!(status.success(), "exit status {status}");
    dash.assert_cooked();
    dash.assert_screen_restored();
}

#[test]
fn closing_the_terminal_ends_the_dashboard_without_spinning() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    // Not the controlling terminal: no SIGHUP, only EOF/EIO on the terminal.
    let mut dash = Dash::start_with(&sb, 30, 120, &[], false);
    dash.wait_for(Duration::from_secs(30), "the embedded dashboard", |t| {
        t.contains("embedded sampler")
    });
    // The terminal goes away (a closed tab, a dropped SSH session): close
    // every master descriptor; the slave side now reads EOF/EIO.
    dash.close_terminal();
    let closed = Instant::now();
    dash.wait_exit(Duration::from_secs(2), "after its terminal closed");
    assert!(closed.elapsed() < Duration::from_secs(2));
}

#[test]
fn closing_the_controlling_terminal_ends_the_connected_dashboard() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let _daemon = Daemon::start(&sb);
    let mut dash = Dash::start(&sb, 30, 120, &[]);
    dash.wait_for(Duration::from_secs(30), "the connected dashboard", |t| {
        t.contains("daemon pid")
    });
    dash.close_terminal();
    dash.wait_exit(
        Duration::from_secs(2),
        "after its controlling terminal closed",
    );
}

#[test]
fn sigterm_while_connected_restores_the_terminal_and_exits() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let _daemon = Daemon::start(&sb);
    let mut dash = Dash::start(&sb, 30, 120, &[]);
    dash.wait_for(
        Duration::from_secs(30),
        "the dashboard connected to the daemon",
        |t| t.contains("daemon pid"),
    );
    dash.signal(libc::SIGTERM);
    let sent = Instant::now();
    dash.wait_exit(Duration::from_secs(2), "after SIGTERM");
    assert!(sent.elapsed() < Duration::from_secs(2));
    dash.assert_cooked();
    dash.assert_screen_restored();
}

#[test]
fn sigint_and_sighup_end_the_embedded_dashboard() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    for sig in [libc::SIGINT, libc::SIGHUP] {
        let mut dash = Dash::start(&sb, 30, 100, &[]);
        dash.wait_for(Duration::from_secs(30), "the embedded dashboard", |t| {
            t.contains("embedded sampler")
        });
        dash.signal(sig);
        dash.wait_exit(Duration::from_secs(2), &format!("after signal {sig}"));
        dash.assert_cooked();
        dash.assert_screen_restored();
    }
}

#[test]
fn connected_dashboard_lists_every_process_and_k_toggles_kernel_threads() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let _daemon = Daemon::start(&sb);
    let mut dash = Dash::start(&sb, 40, 140, &[]);
    // The full table: "Processes: N of M" (not "top N"), and its own row marked.
    dash.wait_for(
        Duration::from_secs(30),
        "the full table from the daemon with this dashboard marked",
        |t| {
            t.contains("daemon pid")
                && t.contains("kernel threads hidden")
                && !t.contains("Processes: top")
                && t.contains("(self)")
        },
    );
    let kernel_rows = |t: &str| t.lines().filter(|l| l.contains(" [k")).count();
    assert_eq!(
        kernel_rows(&dash.text()),
        0,
        "kernel threads hidden:\n{}",
        dash.text()
    );
    // Sort by PID ascending so the low-numbered kernel threads come first.
    dash.send(b"sssssss");
    dash.wait_for(Duration::from_secs(5), "the table sorted by pid", |t| {
        t.contains("by pid")
    });
    dash.send(b"K");
    dash.wait_for(Duration::from_secs(5), "K acknowledged", |t| {
        t.contains("kernel threads shown")
    });
    // Home: the top of the table (the selection may have kept a row further
    // down in view), where the lowest PIDs are.
    dash.send(b"\x1b[H");
    dash.wait_for(
        Duration::from_secs(5),
        "kernel threads listed after K",
        |t| t.lines().any(|l| l.contains("[kthreadd]")),
    );
    // End reaches the last process of the whole table.
    dash.send(b"\x1b[F");
    dash.wait_for(
        Duration::from_secs(5),
        "the selection on the last row",
        |t| t.contains("▸"),
    );
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

#[test]
fn dashboard_switches_to_a_daemon_that_appears_and_falls_back_when_it_goes() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config("[tui]\nfallback_seconds = 1.0\n");
    // No daemon: the embedded sampler at once.
    let mut dash = Dash::start(&sb, 30, 120, &[]);
    dash.wait_for(Duration::from_secs(30), "the embedded sampler", |t| {
        t.contains("embedded sampler (no daemon running)")
    });
    // A daemon starts: the dashboard switches to it (client backoff ≤ 5 s).
    let mut daemon = Daemon::start(&sb);
    let pid = daemon.child.id();
    dash.wait_for(
        Duration::from_secs(15),
        "the switch to the new daemon",
        |t| t.contains(&format!("daemon pid {pid}")),
    );
    // It dies: rows are stale at once, then the embedded sampler takes over.
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    dash.wait_for(
        Duration::from_secs(5),
        "stale rows after the daemon died",
        |t| t.contains("STALE") || t.contains("daemon lost"),
    );
    dash.wait_for(
        Duration::from_secs(10),
        "the fallback to the embedded sampler",
        |t| t.contains("embedded sampler (daemon lost") && !t.contains("STALE"),
    );
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

// ----- htop habits -------------------------------------------------------------

/// A sleeper with a unique command line, killed and reaped on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start(secs: &str) -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg(secs)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The selected table row (the one with the marker).
fn selected_line(t: &str) -> String {
    t.lines()
        .find(|l| l.contains('▸'))
        .unwrap_or_default()
        .to_string()
}

fn still_running(dash: &mut Dash) -> bool {
    dash.child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

fn embedded(sb: &Sandbox, rows: u16, cols: u16) -> Dash {
    let dash = Dash::start(sb, rows, cols, &[]);
    dash.wait_for(Duration::from_secs(30), "the embedded table", |t| {
        t.contains("embedded sampler") && t.contains("Processes:")
    });
    dash
}

#[test]
fn search_filter_sort_esc_unknown_key_and_f10_through_the_pty() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let sleeper = Sleeper::start("424242.5");
    let other = Sleeper::start("424243.5");
    let mut dash = embedded(&sb, 40, 140);
    dash.wait_for(Duration::from_secs(10), "the sleepers listed", |t| {
        t.contains("Processes:") && !t.contains("waiting for")
    });

    // Search as you type: the selection lands on the unique name.
    dash.send(b"/424242");
    dash.wait_for(
        Duration::from_secs(5),
        "the search selecting the sleeper",
        |t| selected_line(t).contains("424242.5") && t.contains("search: 424242"),
    );
    dash.send(b"\r");
    // Esc with nothing open never quits; it says so.
    dash.send(b"\x1b");
    dash.wait_for(Duration::from_secs(5), "Esc acknowledged", |t| {
        t.contains("nothing to cancel")
    });
    assert!(still_running(&mut dash), "Esc must not quit");

    // Filter: only the matching row is left; the title says so.
    dash.send(b"\\42424");
    dash.wait_for(
        Duration::from_secs(5),
        "the filter narrowing the table",
        |t| t.contains("Processes: 2 of") && t.contains("filter \"42424\""),
    );
    dash.send(b"2\r");
    dash.wait_for(Duration::from_secs(5), "one row left", |t| {
        t.contains("Processes: 1 of") && t.contains("424242.5") && !t.contains("424243.5")
    });
    let _ = other.pid();
    // Esc cancels the prompt (the filter stays as it was) and does not quit.
    dash.send(b"\\zz");
    dash.wait_for(Duration::from_secs(5), "the filter prompt", |t| {
        t.contains("filter (command, user, cgroup): 424242zz")
    });
    dash.send(b"\x1b");
    dash.wait_for(
        Duration::from_secs(5),
        "the prompt closed, old filter back",
        |t| !t.contains("filter (command, user, cgroup):") && t.contains("Processes: 1 of"),
    );
    assert!(still_running(&mut dash), "Esc in a prompt must not quit");
    // Clear it: F4, erase, Enter.
    dash.send(b"\x1bOS");
    dash.send(&[0x7f; 12]);
    dash.send(b"\r");
    dash.wait_for(Duration::from_secs(5), "the filter cleared", |t| {
        !t.contains("filter \"") && !t.contains("Processes: 1 of")
    });

    // M sorts by memory, biggest first.
    dash.send(b"M");
    dash.wait_for(Duration::from_secs(5), "sorted by memory", |t| {
        t.contains("by mem ▼") && t.contains("MEM▼")
    });

    // A key that does nothing says so.
    dash.send(b"x");
    dash.wait_for(Duration::from_secs(5), "the hint for an unknown key", |t| {
        t.contains("key x does nothing — ? for help")
    });

    // F10 quits.
    dash.send(b"\x1b[21~");
    let status = dash.wait_exit(Duration::from_secs(5), "after F10");
    assert!(status.success(), "exit status {status}");
    dash.assert_cooked();
    drop(sleeper);
}

/// A left click at screen cell (`x`, `y`), counted from 0: the SGR press and
/// release an xterm sends (1-based in the sequence).
fn click(dash: &Dash, x: usize, y: usize) {
    let (cx, cy) = (x + 1, y + 1);
    dash.send(format!("\x1b[<0;{cx};{cy}M\x1b[<0;{cx};{cy}m").as_bytes());
}

/// The PID in a table line (the first number among its first tokens).
fn pid_of_line(line: &str) -> Option<u32> {
    line.split_whitespace()
        .take(3)
        .find_map(|w| w.trim_start_matches(['│', '▸', '→', '↑', '↓']).parse().ok())
}

#[test]
fn mouse_clicks_sort_by_a_header_and_select_a_row_through_the_pty() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let dash = embedded(&sb, 40, 140);
    dash.wait_for(Duration::from_secs(10), "rows in the table", |t| {
        t.lines().filter(|l| pid_of_line(l).is_some()).count() >= 5
    });
    // Paused, the rows stay where the clicks are aimed.
    dash.send(b"Z");
    dash.wait_for(Duration::from_secs(5), "paused", |t| t.contains("PAUSED"));
    let screen = dash.text();
    let (hy, header) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("PID USER") && l.contains("MEM"))
        .unwrap_or_else(|| panic!("no table header on the screen:\n{screen}"));
    let mem_x = header[..header.find("MEM").unwrap_or(0)].chars().count();
    assert!(!header.contains("MEM▼"), "{header}");
    click(&dash, mem_x + 1, hy);
    dash.wait_for(
        Duration::from_secs(5),
        "the click on MEM sorting by memory",
        |t| t.contains("MEM▼") && t.contains("by mem ▼"),
    );
    // TIME+ too: its header sorts by CPU time.
    let screen = dash.text();
    let header = screen.lines().nth(hy).unwrap_or_default();
    let time_x = header[..header.find("TIME+").unwrap_or(0)].chars().count();
    click(&dash, time_x + 2, hy);
    dash.wait_for(
        Duration::from_secs(5),
        "the click on TIME+ sorting by CPU time",
        |t| t.contains("TIME+▼") && t.contains("by TIME+ ▼"),
    );
    // A row that is not selected (the selection follows its process when
    // the sort changes, so it can be anywhere): the selection moves there.
    // Busy processes gain CPU time and trade places between the reading of
    // the screen and the click: a click that lands on another row is tried
    // again on a fresh screen.
    let mut tries = Vec::new();
    let selected = crate::common::poll(Duration::from_secs(20), Duration::ZERO, || {
        let screen = dash.text();
        let before = pid_of_line(&selected_line(&screen));
        let (y, pid) = (hy + 2..hy + 8)
            .find_map(|y| {
                let pid = pid_of_line(screen.lines().nth(y)?)?;
                (Some(pid) != before).then_some((y, pid))
            })
            .unwrap_or_else(|| panic!("no unselected row under the header:\n{screen}"));
        click(&dash, 20, y);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let now = pid_of_line(&selected_line(&dash.text()));
            if now == Some(pid) {
                return Some(pid);
            }
            if now != before {
                break; // the click landed on a row that moved there
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tries.push(pid);
        None
    });
    assert!(
        selected.is_some(),
        "a click on an unselected row never selected it (tried {tries:?}):\n{}",
        dash.text()
    );
    dash.send(b"q");
    let mut dash = dash;
    let status = dash.wait_exit(Duration::from_secs(5), "after q");
    assert!(status.success(), "exit status {status}");
}

/// Select `pid`'s row by searching for it, open the signal menu and confirm
/// `TERM` (the first entry).
fn send_term(dash: &Dash, needle: &str) {
    dash.send(b"/");
    dash.send(needle.as_bytes());
    dash.send(b"\r");
    dash.wait_for(Duration::from_secs(5), "the target selected", |t| {
        selected_line(t).contains(needle)
    });
    dash.send(b"k");
    dash.wait_for(Duration::from_secs(5), "the signal menu", |t| {
        t.contains("Send a signal to pid") && t.contains("TERM")
    });
    dash.send(b"\r");
    dash.wait_for(Duration::from_secs(5), "the confirmation", |t| {
        t.contains("Confirm") && t.contains("Send TERM to pid")
    });
    dash.send(b"y");
}

#[test]
fn kill_menu_terms_a_sleeper_and_shows_a_refusal() {
    use std::os::unix::process::ExitStatusExt;
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let mut sleeper = Sleeper::start("525252.5");
    let pid = sleeper.pid();
    let mut dash = embedded(&sb, 40, 140);
    send_term(&dash, "525252.5");
    dash.wait_for(Duration::from_secs(5), "the signal reported sent", |t| {
        t.contains(&format!("sent TERM to pid {pid}"))
    });
    let died = crate::common::poll(Duration::from_secs(5), Duration::from_millis(20), || {
        sleeper.0.try_wait().ok().flatten()
    });
    let status = died.expect("the sleeper died within 5 s of TERM");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");

    // Refused: a process that is not ours. As root, the dashboard runs as
    // nobody; either way the target is PID 1 (root's).
    let mut dash = if rogue_hunter::sys::current_uid() == 0 {
        let d = Dash::start_as_nobody(&sb, 40, 140);
        d.wait_for(Duration::from_secs(30), "the dashboard as nobody", |t| {
            t.contains("embedded sampler") && t.contains("Processes:")
        });
        d
    } else {
        embedded(&sb, 40, 140)
    };
    // PID order, ascending: PID 1 is the first row.
    dash.send(b"sssssss");
    dash.wait_for(Duration::from_secs(5), "sorted by pid", |t| {
        t.contains("by pid")
    });
    dash.send(b"\x1b[H");
    dash.wait_for(Duration::from_secs(5), "PID 1 selected", |t| {
        let l = selected_line(t);
        l.split_whitespace().nth(1) == Some("1") || l.contains("→       1 ")
    });
    dash.send(b"k\ry");
    dash.wait_for(Duration::from_secs(5), "the refusal shown", |t| {
        t.contains("cannot send TERM to pid 1") && t.contains("not permitted")
    });
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

#[test]
fn tree_view_shows_a_child_under_its_parent_and_folds_it() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let parent = crate::common::Session::shell("sleep 636363.5 & sleep 646464.5 & wait");
    let ppid = parent.pid().to_string();
    // The shell's children, from the kernel's list.
    let children = crate::common::poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let text = std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children")).ok()?;
        let pids: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        (pids.len() == 2).then_some(pids)
    })
    .expect("the shell started its two sleepers");
    let child = children[0].clone();
    let mut dash = embedded(&sb, 40, 200);
    dash.send(b"t");
    dash.wait_for(Duration::from_secs(5), "the tree view", |t| {
        t.contains("Process tree:")
    });
    // The child, found by its PID, is drawn under the shell with a branch.
    dash.send(format!("/{child}\r").as_bytes());
    dash.wait_for(
        Duration::from_secs(5),
        "the child indented under its parent",
        |t| {
            let rows: Vec<&str> = t.lines().collect();
            let Some(c) = rows.iter().position(|l| l.contains('▸')) else {
                return false;
            };
            let p = rows.iter().position(|l| has_word(l, &ppid));
            has_word(rows[c], &child)
                && (rows[c].contains("└─") || rows[c].contains("├─"))
                && p.is_some_and(|p| p < c)
        },
    );
    // Fold the shell: its two children become "[+2]" on its row.
    dash.send(format!("/{ppid}\r").as_bytes());
    dash.wait_for(Duration::from_secs(5), "the shell selected", |t| {
        has_word(&selected_line(t), &ppid)
    });
    dash.send(b"\r");
    dash.wait_for(Duration::from_secs(5), "the subtree folded", |t| {
        selected_line(t).contains("[+2]") && !t.lines().any(|l| has_word(l, &child))
    });
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

#[test]
fn pause_stops_updates_until_resumed() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let mut dash = embedded(&sb, 40, 140);
    // Only the process that will start: an empty table.
    dash.send(b"\\656565.5\r");
    dash.wait_for(Duration::from_secs(5), "the filter in force", |t| {
        t.contains("Processes: 0 of")
    });
    dash.send(b"Z");
    dash.wait_for(Duration::from_secs(5), "the paused title", |t| {
        t.contains("PAUSED") && t.contains("display paused")
    });
    // A process started while paused does not appear...
    let late = Sleeper::start("656565.5");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !dash.text().contains("sleep 656565.5"),
        "paused, yet the table changed:\n{}",
        dash.text()
    );
    // ...until the display resumes (space).
    dash.send(b" ");
    dash.wait_for(Duration::from_secs(5), "updates after resuming", |t| {
        !t.contains("PAUSED") && t.contains("sleep 656565.5")
    });
    drop(late);
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

#[test]
fn enter_on_an_event_opens_its_timeline_from_the_database() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let _daemon = Daemon::start(&sb);
    let hog = spawn_hog("cpu");
    let hog_pid = hog.pid().to_string();
    let mut dash = Dash::start(&sb, 40, 140, &[]);
    dash.wait_for(
        Duration::from_secs(30),
        "the hog's event in the events pane",
        |t| {
            t.contains("daemon pid")
                && t.lines()
                    .skip_while(|l| !l.contains("Recent events"))
                    .any(|l| has_word(l, &hog_pid))
        },
    );
    dash.send(b"\t");
    dash.wait_for(Duration::from_secs(5), "the events pane focused", |t| {
        t.contains("Enter opens, Tab back")
    });
    // Other processes on this machine may have events too: move to the
    // hog's line (the events are listed one per line under the pane's title;
    // the selection stays on its line as new ones arrive on top).
    let t = settled(&dash);
    let rows: Vec<&str> = t.lines().collect();
    let title = rows
        .iter()
        .position(|l| l.contains("Recent events"))
        .expect("the events pane");
    let line = rows[title + 1..]
        .iter()
        .position(|l| has_word(l, &hog_pid))
        .expect("the hog's event line");
    for _ in 0..line {
        dash.send(b"\x1b[B");
    }
    // The daemon writes the event within seconds: open until it is there.
    let opened = crate::common::poll(Duration::from_secs(20), Duration::from_millis(500), || {
        dash.send(b"\r");
        std::thread::sleep(Duration::from_millis(400));
        let t = dash.text();
        if t.contains("Event ") && t.contains(&format!("pid {hog_pid}")) && t.contains("entered") {
            return Some(t);
        }
        if t.contains("Esc closes") {
            dash.send(b"\x1b");
        }
        None
    });
    let text = opened.unwrap_or_else(|| panic!("the event panel did not open:\n{}", dash.text()));
    assert!(text.contains("forensic captures"), "{text}");
    dash.send(b"\x1b");
    dash.wait_for(Duration::from_secs(5), "the panel closed", |t| {
        !t.contains("Esc closes")
    });
    assert!(
        still_running(&mut dash),
        "Esc closes the panel, never quits"
    );
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

/// `word` stands alone on the line (a PID, not digits inside another number;
/// the table's selection and tree marks before it do not count).
fn has_word(line: &str, word: &str) -> bool {
    line.split(|c: char| c.is_whitespace() || c == '│')
        .any(|w| w.trim_start_matches(['▸', '→', '↑', '↓']) == word)
}

/// Cores the kernel reports time for.
fn core_count() -> usize {
    std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count()
}

/// One CPU bar per core (`N [` at the start of a header row, or after the
/// previous column's bar), memory, swap, load and pressure in the header.
fn header_has_meters(t: &str, cores: usize) -> bool {
    let header: Vec<&str> = t.lines().take(12).collect();
    let bars = (0..cores)
        .filter(|i| {
            let label = format!("{i:>w$} [", w = (cores - 1).to_string().len());
            header.iter().any(|l| l.contains(&label))
        })
        .count();
    bars == cores
        && header.iter().any(|l| l.contains("Mem ["))
        && header.iter().any(|l| l.contains("Swp"))
        && header.iter().any(|l| l.contains("Load "))
        && header
            .iter()
            .any(|l| l.contains("Disk ") && l.contains("Net "))
}

#[test]
fn header_shows_machine_meters_embedded_and_connected() {
    let _m = crate::common::machine();
    let cores = core_count();
    let sb = Sandbox::new();
    {
        let mut dash = Dash::start(&sb, 30, 120, &[]);
        dash.wait_for(
            Duration::from_secs(30),
            "per-core CPU bars and Mem in the embedded header",
            |t| t.contains("embedded sampler") && header_has_meters(t, cores),
        );
        dash.send(b"q");
        dash.wait_exit(Duration::from_secs(5), "after q");
    }
    let _daemon = Daemon::start(&sb);
    let mut dash = Dash::start(&sb, 30, 120, &[]);
    dash.wait_for(
        Duration::from_secs(30),
        "per-core CPU bars and Mem from the daemon's stream",
        |t| t.contains("daemon pid") && header_has_meters(t, cores) && t.contains("stress "),
    );
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(5), "after q");
}

/// The replayed moment in the header, `REPLAY <date> <time> UTC` (empty when
/// not replaying); not the wall clock at the header's end, which ticks.
fn replay_header(screen: &str) -> String {
    screen
        .lines()
        .find_map(|l| l.find("REPLAY").map(|i| &l[i..]))
        .map(|r| r.split('│').next().unwrap_or(r).trim().to_string())
        .unwrap_or_default()
}

/// Press `key` and return the screen once the replayed moment has moved
/// from what it was and the frame is drawn whole. A key that cannot move it
/// (at the last recorded second) gives the screen after 3 s.
fn step(dash: &Dash, key: &[u8]) -> String {
    let before = replay_header(&dash.text());
    dash.send(key);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let now = replay_header(&dash.text());
        if now != before && !now.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    settled(dash)
}

/// The screen once a frame has been drawn whole: the header is drawn first
/// and the status line last, and the pty can hand a frame over in pieces.
/// Two reads 100 ms apart that agree (within 2 s; the header's clock ticks).
fn settled(dash: &Dash) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = dash.text();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = dash.text();
        if now == last || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

/// Rows of the process table holding `pid` as their PID column.
fn table_has_word(screen: &str, pid: &str) -> bool {
    screen.lines().any(|l| {
        l.starts_with('│')
            && l.split_whitespace()
                .take(3)
                .any(|w| w.trim_start_matches(['│', '▸', '→', '↑', '↓']) == pid)
    })
}

#[test]
fn replay_steps_across_a_spinners_start_jumps_to_its_event_and_goes_live() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config("[bands]\nevent_cooldown_seconds = 0.0\n");
    let daemon = Daemon::start(&sb);
    let started = rogue_hunter::unix_now();
    let history_json = |from: f64, to: f64| -> Option<serde_json::Value> {
        let mut c = sb.cmd();
        c.args([
            "history",
            "--from",
            &format!("@{from}"),
            "--to",
            &format!("@{to}"),
            "--format",
            "json",
        ]);
        let o = c.output().ok()?;
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).ok())
            .flatten()
    };
    // Ten seconds recorded without the spinner.
    let before = crate::common::poll(Duration::from_secs(25), Duration::from_millis(500), || {
        let now = rogue_hunter::unix_now();
        let n = history_json(started, now)?["samples"].as_array()?.len();
        (n >= 8 && now - started >= 10.0).then_some(now)
    })
    .expect("8 recorded seconds within 25 s of the daemon starting");
    let hog = spawn_hog("cpu");
    let pid = hog.pid().to_string();
    let spawned = rogue_hunter::unix_now();
    // Wait until the spinner's seconds and its event are on disk.
    let recorded = crate::common::poll(Duration::from_secs(25), Duration::from_millis(500), || {
        let now = rogue_hunter::unix_now();
        let frames = history_json(spawned, now)?;
        let firsts = frames["samples"]
            .as_array()?
            .iter()
            .filter(|f| f["rogues"][0]["pid"].as_u64() == Some(u64::from(hog.pid())))
            .count();
        let mut c = sb.cmd();
        c.args(["events", "--json"]);
        let events = crate::common::json_list(&c.output().ok()?.stdout, "events");
        let has_event = events
            .iter()
            .any(|e| crate::common::event_is_about(e, hog.pid()));
        (firsts >= 3 && has_event).then_some(now)
    });
    assert!(
        recorded.is_some(),
        "the spinner {pid} was not recorded first with an event within 25 s"
    );
    let mid = ((started + before) / 2.0).floor();
    let mut dash = Dash::start(&sb, 32, 110, &["--at", &format!("@{mid}")]);
    dash.wait_for(Duration::from_secs(20), "the REPLAY header", |t| {
        t.contains("REPLAY") && t.contains("Processes")
    });
    let screen = dash.text();
    eprintln!("replay at the middle before the spinner:\n{screen}");
    assert!(
        !table_has_word(&screen, &pid),
        "the spinner {pid} shows before it started:\n{screen}"
    );
    // `]` a second at a time across its start: it appears, not before.
    let needed = (spawned - mid).ceil() as i64;
    let mut appeared = None;
    for i in 1..=needed + 10 {
        let screen = step(&dash, b"]");
        if table_has_word(&screen, &pid) {
            appeared = Some((i, screen));
            break;
        }
    }
    let (steps, screen) = appeared.unwrap_or_else(|| {
        panic!(
            "the spinner {pid} did not appear within {} steps; the screen:\n{}",
            needed + 10,
            dash.text()
        )
    });
    eprintln!("the spinner's first second, {steps} steps on:\n{screen}");
    assert!(
        steps >= needed - 2,
        "the spinner appeared {steps} s after the middle, {:.1} s before it started",
        spawned - mid - steps as f64
    );
    // `}` a minute on (stops at the last recorded second): it ranks among
    // the first (the dashboard itself and other work on the machine compete
    // for the two cores).
    let screen = step(&dash, b"}");
    let top: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("PID USER"))
        .skip(1)
        .take(3)
        .collect();
    assert!(
        top.iter().any(|l| has_word(l, &pid)),
        "the spinner {pid} is not in the first three rows at the end:\n{screen}"
    );
    assert!(
        screen.contains("the last recorded second"),
        "a minute on stops at the last recorded second:\n{screen}"
    );
    // k on a recorded row: no signal menu, the status line says why.
    dash.send(b"k");
    dash.wait_for(Duration::from_secs(5), "k refused in replay", |t| {
        t.contains("replay: cannot signal a recorded process") && !t.contains("Send a signal")
    });
    // `n` back to the previous event until it is the spinner's.
    let mut found = false;
    for _ in 0..10 {
        let screen = step(&dash, b"n");
        // The spinner's own event, or (wt-groupev) its tree's event with the
        // spinner among the members.
        // A process's event names `pid P`; a group's names `(members pid …)`.
        let own = !screen.contains("(members pid") && screen.contains(&format!("pid {pid} "));
        let named = own
            || screen
                .lines()
                .filter(|l| l.contains("(members pid"))
                .any(|l| l.split_whitespace().any(|w| w == pid));
        if named && screen.contains("event ") {
            found = true;
            eprintln!("n: the spinner's event:\n{screen}");
            // At its own event's entry the spinner is in the recorded table;
            // a tree's event (the test runner's tree, busy before the
            // spinner joined it) can have opened before the spinner began.
            if own {
                assert!(table_has_word(&screen, &pid), "{screen}");
            }
            break;
        }
    }
    assert!(
        found,
        "n never reached the spinner's event; the screen:\n{}",
        dash.text()
    );
    // `L`: live again, from the daemon.
    dash.send(b"L");
    let dpid = daemon.child.id();
    dash.wait_for(Duration::from_secs(15), "live again after L", |t| {
        !t.contains("REPLAY") && t.contains(&format!("daemon pid {dpid}"))
    });
    // `R` from the live view: replaying again (60 s back).
    dash.send(b"R");
    dash.wait_for(Duration::from_secs(15), "replay again after R", |t| {
        t.contains("REPLAY")
    });
    dash.send(b"q");
    let status = dash.wait_exit(Duration::from_secs(10), "after q");
    assert!(status.success(), "exit status {status}");
    // Before the recording: said so, not an empty screen.
    let early = started - 3600.0;
    let mut dash = Dash::start(&sb, 32, 110, &["--at", &format!("@{early}")]);
    dash.wait_for(
        Duration::from_secs(20),
        "the before-the-recording note",
        |t| t.contains("REPLAY") && t.contains("before the recording"),
    );
    dash.send(b"q");
    dash.wait_exit(Duration::from_secs(10), "after q");
}

#[test]
fn a_bad_at_is_refused_naming_the_flag_and_the_value() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["tui", "--at", "half past nine"]);
    let o = c.output().expect("run tui --at");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--at") && err.contains("`half past nine`"),
        "{err}"
    );
    // No recording at all: a runtime error naming the database.
    let mut c = sb.cmd();
    c.args(["tui", "--at", "-90s"]);
    let o = c.output().expect("run tui --at");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no database at") && err.contains("data.db"),
        "{err}"
    );
}
