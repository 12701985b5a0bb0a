//! Shared helpers for the integration tests: real misbehaving processes (the
//! test binary re-executed in a "hog" role), isolated XDG trees, polling with a
//! deadline, and the lock that makes whole-machine tests run one at a time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Held by every test that judges the whole machine or its timing, or that
/// spawns a hog: they run one at a time, whatever module they are in.
static MACHINE: Mutex<()> = Mutex::new(());

/// The whole-machine lock: one test at a time in this process, and one test
/// binary at a time on the machine (an flock on a file in the temp directory),
/// so two checkouts running their suites at once do not judge each other's hogs.
pub struct MachineGuard {
    _file: Option<std::fs::File>,
    _inner: MutexGuard<'static, ()>,
}

pub fn machine() -> MachineGuard {
    let inner = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("rogue-hunter-tests.machine.lock"))
        .ok();
    if let Some(f) = &file {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid descriptor we own; blocks until granted.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    }
    MachineGuard {
        _file: file,
        _inner: inner,
    }
}

pub const HOG_ENV: &str = "ROGUE_HUNTER_TEST_HOG";

/// The rogue-hunter binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rogue-hunter"))
}

/// A spawned misbehaving process, killed and reaped on drop.
pub struct Hog {
    pub child: Child,
}

impl Hog {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start this test binary again in the hog role `kind` (see `run_hog`). Every
/// integration binary's `hog_entry` test (in `main.rs`) is the entry point.
pub fn spawn_hog(kind: &str) -> Hog {
    spawn_hog_with(kind, |_| {})
}

/// `spawn_hog`, with `configure` applied to the command before it starts.
pub fn spawn_hog_with(kind: &str, configure: impl FnOnce(&mut Command)) -> Hog {
    let exe = std::env::current_exe().expect("test binary path");
    let mut c = Command::new(exe);
    hog_role(&mut c, kind);
    configure(&mut c);
    Hog {
        child: c.spawn().expect("spawn hog"),
    }
}

/// Pin the process `c` starts to `core` before it runs, so every thread it
/// starts inherits the affinity (`sched_setaffinity` on a PID after the start
/// would pin only its main thread; the test harness runs a hog on a thread of
/// its own, the daemon samples on one).
pub fn pin_to_core(c: &mut Command, core: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls sched_setaffinity (async-signal-safe) on a set on its own stack.
    unsafe {
        c.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Resident memory of `pid` (`VmRSS`), bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Make `c` (the test binary, possibly behind a wrapper such as `setpriv`)
/// run only `hog_entry`, in the hog role `kind`.
pub fn hog_role(c: &mut Command, kind: &str) {
    c.args([
        "--exact",
        "hog_entry",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(HOG_ENV, kind)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
}

/// In the hog role, misbehave forever (until killed); otherwise return at once.
pub fn hog_entry() {
    if let Ok(kind) = std::env::var(HOG_ENV) {
        run_hog(&kind);
    }
}

fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn wake_loop(micros: u64) -> ! {
    loop {
        std::thread::sleep(Duration::from_micros(micros));
    }
}

/// Name the calling thread (`/proc/PID/task/TID/comm`), cut to 15 bytes.
fn set_thread_name(name: &[u8]) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

/// Lower-case hex of `bytes` (for passing any bytes through an environment
/// variable to a hog).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Overwrite this process's argument area (what `/proc/self/cmdline` shows)
/// with `cmd`, NUL-padded to its original size, through `/proc/self/mem`.
fn set_command_line(cmd: &[u8]) {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 1..];
    // Fields 48 and 49: arg_start and arg_end (field 3 is the first here).
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(45)
        .take(2)
        .map(|f| f.parse().expect("arg address"))
        .collect();
    let (start, end) = (fields[0], fields[1]);
    let room = (end - start) as usize;
    assert!(
        cmd.len() < room,
        "command line of {} bytes does not fit in {room}",
        cmd.len()
    );
    let mut area = cmd.to_vec();
    area.resize(room, 0);
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .expect("open /proc/self/mem");
    mem.write_all_at(&area, start).expect("write argument area");
}

fn run_hog(kind: &str) -> ! {
    let (name, arg) = kind.split_once(':').unwrap_or((kind, ""));
    match name {
        // One core, flat out.
        "cpu" => spin(),
        // Many thousands of wakeups a second, almost no CPU.
        "wake" => wake_loop(100),
        // Main thread asleep; two threads spinning and one waking constantly:
        // only a whole-process reading sees the load.
        "threads" => {
            for _ in 0..2 {
                std::thread::spawn(|| spin());
            }
            std::thread::spawn(|| wake_loop(100));
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        // Like "threads", with hostile thread names (shell syntax and terminal
        // escapes; at most 15 bytes each, the kernel's limit).
        "evil_threads" => {
            for _ in 0..2 {
                std::thread::spawn(|| {
                    set_thread_name(b"s;$(id)\x1b[31m");
                    spin()
                });
            }
            std::thread::spawn(|| {
                set_thread_name(b"w\x1b]0;pw\x07;`x`");
                wake_loop(100)
            });
            set_thread_name(b"m$(id)\x1b[2J;");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        // Allocate and touch `arg` bytes, then hold them.
        "mem" => {
            let bytes: usize = arg.parse().expect("mem:<bytes>");
            // Zeroed pages are not resident until written: touch every page.
            let mut v: Vec<u8> = vec![0; bytes];
            for i in (0..bytes).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        // Wait a second (time to be put in a cgroup), then like "mem".
        "mem_later" => {
            std::thread::sleep(Duration::from_secs(1));
            run_hog(&format!("mem:{arg}"))
        }
        // Rewrite a 4 MiB file and fsync it, over and over.
        "fsync" => {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::File::create(arg).expect("fsync:<path>");
            let block = vec![0x5au8; 4 << 20];
            loop {
                f.seek(SeekFrom::Start(0)).expect("seek");
                f.write_all(&block).expect("write");
                f.sync_all().expect("fsync");
            }
        }
        // Spin for `arg` seconds, then sleep: a burst that ends.
        "burst" => {
            let secs: f64 = arg.parse().expect("burst:<seconds>");
            let end = std::time::Instant::now() + Duration::from_secs_f64(secs);
            let mut x: u64 = 0;
            while std::time::Instant::now() < end {
                for _ in 0..100_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        // Wait half a second, then become `sleep 3600` (same PID, new program).
        "exec_later" => {
            use std::os::unix::process::CommandExt;
            std::thread::sleep(Duration::from_millis(500));
            let err = Command::new("sleep").arg("3600").exec();
            panic!("exec sleep: {err}");
        }
        // Map the file at `arg` and read every page of it, over and over: in a
        // memory cgroup smaller than the file each pass refaults what the last
        // evicted (major faults, memory pressure).
        "mmap_reader" => {
            let f = std::fs::File::open(arg).expect("mmap_reader:<path>");
            let len = f.metadata().expect("file size").len() as usize;
            use std::os::fd::AsRawFd;
            // SAFETY: a private read-only mapping of a file we hold open; the
            // pointer is only read within `len`.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    f.as_raw_fd(),
                    0,
                )
            };
            assert!(base != libc::MAP_FAILED, "mmap");
            let mut sum: u64 = 0;
            loop {
                for off in (0..len).step_by(4096) {
                    // SAFETY: `off < len`, inside the mapping.
                    sum = sum.wrapping_add(u64::from(unsafe { *(base as *const u8).add(off) }));
                }
                std::hint::black_box(sum);
            }
        }
        // Leave a child that sits in uninterruptible sleep (D): a parent that
        // cloned with CLONE_VFORK waits in D until its child execs or exits. The test binary runs
        // this role on a spawned thread, so the D task is a forked child
        // (single-threaded: its one thread is what /proc shows). It dies with
        // the hog (PR_SET_PDEATHSIG), and its own child exits once its
        // parent is gone, so killing the hog by PID cleans up all three.
        "dstate" => {
            // SAFETY: after fork the child calls only async-signal-safe
            // functions (prctl, getpid, clone, sleep, getppid, _exit) and never
            // returns into Rust code.
            unsafe {
                if libc::fork() == 0 {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    let me = libc::getpid();
                    // clone(CLONE_VFORK) without CLONE_VM: the vfork wait (in
                    // D) over a child with its own copy of memory.
                    let flags = (libc::CLONE_VFORK | libc::SIGCHLD) as libc::c_long;
                    if libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) == 0 {
                        loop {
                            libc::sleep(1);
                            if libc::getppid() != me {
                                libc::_exit(0);
                            }
                        }
                    }
                    libc::_exit(0);
                }
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        // Start four "cpu" spinners (children of this process) and wait.
        "spawn4" => {
            let exe = std::env::current_exe().expect("test binary path");
            let mut kids: Vec<Child> = (0..4)
                .map(|_| {
                    let mut c = Command::new(&exe);
                    hog_role(&mut c, "cpu");
                    c.spawn().expect("spawn spinner")
                })
                .collect();
            for k in &mut kids {
                let _ = k.wait();
            }
            std::process::exit(0);
        }
        // Spin for `arg` seconds, then exit (a compiler-sized job).
        "spin_for" => {
            let secs: f64 = arg.parse().expect("spin_for:<seconds>");
            let end = std::time::Instant::now() + Duration::from_secs_f64(secs);
            let mut x: u64 = 0;
            while std::time::Instant::now() < end {
                for _ in 0..100_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            std::process::exit(0);
        }
        // Rewrite its own command line and name, then spin: `hostile:CMD:COMM`
        // with both in hex (any bytes: escapes, invalid UTF-8, NULs between
        // arguments). Stands in for a process that wants to fool the monitor.
        "hostile" => {
            let (cmd, comm) = arg.split_once(':').expect("hostile:<cmd hex>:<comm hex>");
            set_command_line(&unhex(cmd));
            set_thread_name(&unhex(comm));
            spin()
        }
        // Connect to the live stream at the socket `arg` (hex), keep reading
        // it on a thread, and spin: a dashboard that is itself busy.
        "live_client" => {
            let path = String::from_utf8(unhex(arg)).expect("socket path");
            let mut sock = std::os::unix::net::UnixStream::connect(&path).expect("connect");
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while std::io::Read::read(&mut sock, &mut buf).is_ok_and(|n| n > 0) {}
                std::process::exit(3);
            });
            spin()
        }
        // Exist quietly.
        "sleep" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        other => panic!("unknown hog kind {other}"),
    }
}

/// A command run as the leader of a new session (like a terminal's shell),
/// killed on drop together with its process group (everything it started).
pub struct Session {
    pub child: Child,
}

impl Session {
    pub fn spawn(mut c: Command) -> Session {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe; nothing else runs before exec.
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c.stdin(Stdio::null()).stdout(Stdio::null());
        Session {
            child: c.spawn().expect("spawn session"),
        }
    }

    /// `sh -c script` as a session leader.
    pub fn shell(script: &str) -> Session {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        Session::spawn(c)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The session leader's PID is its process group's id.
        // SAFETY: kill with a negative PID signals that process group.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns Some or the deadline passes.
pub fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// An isolated XDG tree: config, data, state and runtime under one temp dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_file(&self) -> PathBuf {
        self.path().join("config/rogue-hunter/config.toml")
    }

    pub fn write_config(&self, text: &str) -> PathBuf {
        let p = self.config_file();
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// A command for the binary with every path pointed into the sandbox.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        let runtime = self.path().join("run");
        let _ = std::fs::create_dir_all(&runtime);
        c.env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("ROGUE_HUNTER_SYSTEM_CONFIG", "")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("ROGUE_HUNTER_") && k != "ROGUE_HUNTER_SYSTEM_CONFIG" {
                c.env_remove(k);
            }
        }
        // No desktop notifications from tests (the environment layer of the config).
        c.env("ROGUE_HUNTER_NOTIFICATIONS__MODE", "off");
        c
    }
}

/// A daemon running in a sandbox (stderr piped for `stop`), killed and reaped
/// on drop even when the test fails; a stopped one is continued first.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    /// Start `rogue-hunter daemon` and wait until it holds its lock; its
    /// stderr is kept for `stop` (for short runs: nobody drains the pipe).
    pub fn start(sb: &Sandbox) -> Daemon {
        Daemon::spawn(sb, Stdio::piped())
    }

    /// The same with stderr discarded, for long runs.
    pub fn start_quiet(sb: &Sandbox) -> Daemon {
        Daemon::spawn(sb, Stdio::null())
    }

    /// `start_quiet` with `prepare` applied to the command first (extra
    /// environment, a `pre_exec` limit).
    pub fn start_with(sb: &Sandbox, prepare: impl FnOnce(&mut Command)) -> Daemon {
        Daemon::spawn_with(sb, Stdio::null(), prepare)
    }

    fn spawn(sb: &Sandbox, stderr: Stdio) -> Daemon {
        Daemon::spawn_with(sb, stderr, |_| {})
    }

    fn spawn_with(sb: &Sandbox, stderr: Stdio, prepare: impl FnOnce(&mut Command)) -> Daemon {
        let mut c = sb.cmd();
        prepare(&mut c);
        c.arg("daemon").stdout(Stdio::null()).stderr(stderr);
        let d = Daemon {
            child: c.spawn().expect("spawn daemon"),
        };
        let lock = sb.path().join("data/rogue-hunter/daemon.lock");
        let pid = d.pid();
        let up = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|t| t.trim() == pid.to_string())
        });
        assert!(up.is_some(), "daemon did not take its lock");
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with our child's pid and a valid signal number.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// SIGTERM, then wait for it and return what it printed.
    pub fn stop(mut self) -> std::process::Output {
        self.signal(libc::SIGTERM);
        let placeholder = Command::new("true").spawn().expect("true");
        let child = std::mem::replace(&mut self.child, placeholder);
        child.wait_with_output().expect("wait daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The items of a CLI list document (`events --json` → `"events"`,
/// `stalls --json` → `"stalls"`, ...); empty when stdout is not one.
pub fn json_list(stdout: &[u8], key: &str) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(stdout)
        .ok()
        .and_then(|mut v| v.get_mut(key).map(serde_json::Value::take))
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Whether an event (`events --json` row) is about `pid`: its own event, or
/// a group's event naming it among the members (when the test runner's
/// process tree is busy too, the hog's incident is that tree's event).
pub fn event_is_about(e: &serde_json::Value, pid: u32) -> bool {
    e["pid"] == pid
        || e["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["pid"] == pid))
}

/// A child killed (and reaped) when dropped, so a failing test leaves no
/// process behind. Derefs to the `Child`.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
