//! The floor below procfs: what one per-process reading costs through
//! `/proc/PID/stat` (kept descriptors and pread, the collector's path) against
//! the taskstats netlink interface (one TASKSTATS_CMD_GET per thread group),
//! in one run, on idle single-threaded processes and on idle processes with
//! 20 threads each (docs/performance.md, "The floor").
//!
//! Run: `cargo bench --bench floor` (`-- --rounds R` default 30).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may unwrap

mod common;

use common::{arg, median};

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "RH_BENCH_ROLE";

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_threads() -> Guard {
    Guard(
        Command::new(std::env::current_exe().expect("exe"))
            .env(ROLE_ENV, "threads")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("threaded process"),
    )
}

fn spawn_sleeper() -> Guard {
    Guard(
        Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep"),
    )
}

// --- generic netlink, just enough for taskstats -------------------------------

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const TASKSTATS_CMD_GET: u8 = 1;
const TASKSTATS_CMD_ATTR_TGID: u16 = 2;
const TASKSTATS_TYPE_AGGR_TGID: u16 = 5;

struct Genl {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn push_attr(msg: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(payload);
    while !msg.len().is_multiple_of(4) {
        msg.push(0);
    }
}

/// Attributes after the 16-byte nlmsghdr and 4-byte genlmsghdr.
fn attrs(msg: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 20;
    while at + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[at], msg[at + 1]]) as usize;
        let ty = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]) & 0x3fff;
        if len < 4 || at + len > msg.len() {
            break;
        }
        out.push((ty, &msg[at + 4..at + len]));
        at += (len + 3) & !3;
    }
    out
}

impl Genl {
    fn open() -> std::io::Result<Genl> {
        // SAFETY: plain socket(2); the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Genl {
            fd,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Send one request; return the reply (or the kernel's error).
    fn request(&mut self, ty: u16, cmd: u8, attr: (u16, &[u8])) -> std::io::Result<&[u8]> {
        self.seq += 1;
        let mut msg = Vec::with_capacity(64);
        msg.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&[cmd, 1, 0, 0]);
        push_attr(&mut msg, attr.0, attr.1);
        let len = msg.len() as u32;
        msg[..4].copy_from_slice(&len.to_ne_bytes());
        // SAFETY: send(2) of an initialised buffer on our socket.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: recv(2) into our buffer, bounded by its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0,
            )
        };
        if n < 16 {
            return Err(std::io::Error::last_os_error());
        }
        let reply = &self.buf[..n as usize];
        let rty = u16::from_ne_bytes([reply[4], reply[5]]);
        if rty == libc::NLMSG_ERROR as u16 {
            let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            return Err(std::io::Error::from_raw_os_error(-code));
        }
        Ok(reply)
    }

    fn taskstats_family(&mut self) -> std::io::Result<u16> {
        let reply = self.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            (CTRL_ATTR_FAMILY_NAME, b"TASKSTATS\0"),
        )?;
        attrs(reply)
            .into_iter()
            .find(|(t, p)| *t == CTRL_ATTR_FAMILY_ID && p.len() >= 2)
            .map(|(_, p)| u16::from_ne_bytes([p[0], p[1]]))
            .ok_or_else(|| std::io::Error::other("no TASKSTATS family id in the reply"))
    }
}

// --- the two readings --------------------------------------------------------

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect()
}

/// µs per process for one pread of every kept `/proc/PID/stat`.
fn procfs_round(files: &[std::fs::File], buf: &mut [u8]) -> (f64, usize) {
    let t = Instant::now();
    let mut ok = 0;
    for f in files {
        if let Ok(n) = f.read_at(buf, 0)
            && n > 0
        {
            ok += 1;
        }
    }
    (
        t.elapsed().as_secs_f64() * 1e6 / files.len().max(1) as f64,
        ok,
    )
}

/// µs per process for one TASKSTATS_CMD_GET by thread-group id for every pid.
fn taskstats_round(g: &mut Genl, family: u16, pids: &[u32]) -> (f64, usize) {
    let t = Instant::now();
    let mut ok = 0;
    for pid in pids {
        if let Ok(reply) = g.request(
            family,
            TASKSTATS_CMD_GET,
            (TASKSTATS_CMD_ATTR_TGID, &pid.to_ne_bytes()),
        ) && attrs(reply)
            .iter()
            .any(|(t, _)| *t == TASKSTATS_TYPE_AGGR_TGID)
        {
            ok += 1;
        }
    }
    (
        t.elapsed().as_secs_f64() * 1e6 / pids.len().max(1) as f64,
        ok,
    )
}

fn run(label: &str, rounds: usize) {
    let pids = pids();
    let files: Vec<std::fs::File> = pids
        .iter()
        .filter_map(|p| std::fs::File::open(format!("/proc/{p}/stat")).ok())
        .collect();
    let mut buf = vec![0u8; 4096];
    let mut proc_us = Vec::new();
    let mut proc_ok = 0;
    for _ in 0..rounds {
        let (us, ok) = procfs_round(&files, &mut buf);
        proc_us.push(us);
        proc_ok = ok;
    }
    let proc_med = median(&mut proc_us);
    // The collector's cheap tier reads stat and io for every process.
    let io_files: Vec<std::fs::File> = pids
        .iter()
        .filter_map(|p| std::fs::File::open(format!("/proc/{p}/io")).ok())
        .collect();
    let mut both_us = Vec::new();
    for _ in 0..rounds {
        let (a, _) = procfs_round(&files, &mut buf);
        let (b, _) = procfs_round(&io_files, &mut buf);
        both_us.push(a + b * io_files.len() as f64 / files.len().max(1) as f64);
    }
    let both_med = median(&mut both_us);
    let ts = Genl::open().and_then(|mut g| {
        let family = g.taskstats_family()?;
        // One probe first, so a refusal is reported rather than timed.
        g.request(
            family,
            TASKSTATS_CMD_GET,
            (TASKSTATS_CMD_ATTR_TGID, &std::process::id().to_ne_bytes()),
        )?;
        Ok((g, family))
    });
    match ts {
        Ok((mut g, family)) => {
            let mut ts_us = Vec::new();
            let mut ts_ok = 0;
            for _ in 0..rounds {
                let (us, ok) = taskstats_round(&mut g, family, &pids);
                ts_us.push(us);
                ts_ok = ok;
            }
            let ts_med = median(&mut ts_us);
            println!(
                "| {label} | {} | {proc_med:.2} ({proc_ok} read) | {both_med:.2} | {ts_med:.2} ({ts_ok} answered) | {:.2} | {:.2} |",
                pids.len(),
                ts_med / proc_med,
                ts_med / both_med
            );
        }
        Err(e) => println!(
            "| {label} | {} | {proc_med:.2} ({proc_ok} read) | {both_med:.2} | refused: {e} | — | — |",
            pids.len()
        ),
    }
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("threads") {
        for _ in 0..19 {
            std::thread::spawn(|| {
                loop {
                    std::thread::park();
                }
            });
        }
        loop {
            std::thread::park();
        }
    }
    let rounds = arg("--rounds", 30usize);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    println!("# the floor below procfs: µs per process, median of {rounds} rounds, uid {uid}\n");
    println!(
        "| workload | processes | stat pread | stat + io pread | taskstats TGID query | taskstats ÷ stat | taskstats ÷ stat+io |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    {
        let _s: Vec<Guard> = (0..1000).map(|_| spawn_sleeper()).collect();
        std::thread::sleep(Duration::from_millis(500));
        run("1000 idle single-threaded", rounds);
    }
    {
        let _t: Vec<Guard> = (0..200).map(|_| spawn_threads()).collect();
        std::thread::sleep(Duration::from_millis(500));
        run("200 idle × 20 threads", rounds);
    }
}
