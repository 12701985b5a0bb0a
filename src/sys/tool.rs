//! The one way rogue-hunter runs an external program (`journalctl`, `dmesg`,
//! `eu-stack`, `spindump`, `systemctl`, `launchctl`, `visudo`, ...):
//!
//! - an argument vector, never a shell, and stdin from `/dev/null`;
//! - a minimal environment (`PATH`, `LC_ALL=C`, no pager, no colours) unless
//!   the caller asks to keep ours (`systemctl --user` needs the session bus);
//! - its own process group, killed as a whole at the deadline, so helpers it
//!   started die with it;
//! - stdout kept up to a cap in bytes (the rest is read and counted, so the
//!   tool never blocks on a full pipe), stderr up to [`STDERR_CAP`];
//! - errors that tell a missing tool, a denied one, a timeout and a failed
//!   exit apart ([`ToolError`]).
//!
//! [`Tool::output`] reports how the tool ended, whatever it was; [`Tool::run`]
//! also turns a timeout or a failed exit into an error.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Deadline unless the caller sets one.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of stdout kept unless the caller sets a cap.
pub(crate) const DEFAULT_STDOUT_CAP: usize = 1 << 20;
/// Bytes of a tool's stderr kept (enough for its error message).
pub(crate) const STDERR_CAP: usize = 64 * 1024;
/// How long to wait for the output readers after the tool has exited.
const READER_GRACE: Duration = Duration::from_secs(2);
/// Polling period of the deadline loop.
const POLL: Duration = Duration::from_millis(10);

/// The environment a tool runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolEnv {
    /// Only `PATH` from ours, plus `LC_ALL=C`, `LANG=C` and no systemd pager
    /// or colours: predictable, parseable output.
    Minimal,
    /// Ours, plus no systemd pager or colours.
    Inherit,
}

/// One external program to run: build with [`Tool::new`] and the setters.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    program: PathBuf,
    name: String,
    args: Vec<OsString>,
    timeout: Duration,
    stdout_cap: usize,
    env: ToolEnv,
}

impl Tool {
    /// Run `program` (a path; see [`find_in_path`]) with no arguments, the
    /// minimal environment, [`DEFAULT_TIMEOUT`] and [`DEFAULT_STDOUT_CAP`].
    /// Errors name it by its file name unless [`Tool::name`] says otherwise.
    pub(crate) fn new(program: impl AsRef<Path>) -> Tool {
        let program = program.as_ref().to_path_buf();
        let name = program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned();
        Tool {
            program,
            name,
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            stdout_cap: DEFAULT_STDOUT_CAP,
            env: ToolEnv::Minimal,
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Tool {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Tool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// How errors name the tool (e.g. "sudo tailspin save").
    pub(crate) fn name(mut self, name: impl Into<String>) -> Tool {
        self.name = name.into();
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Tool {
        self.timeout = timeout;
        self
    }

    /// Bytes of stdout kept.
    pub(crate) fn stdout_cap(mut self, bytes: usize) -> Tool {
        self.stdout_cap = bytes;
        self
    }

    pub(crate) fn env(mut self, env: ToolEnv) -> Tool {
        self.env = env;
        self
    }

    /// Run it and report how it ended (exit status, or killed at the
    /// deadline). Errors only when it could not be started.
    pub(crate) fn output(&self) -> Result<ToolOutput, ToolError> {
        use std::os::unix::process::CommandExt;
        let started = Instant::now();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if self.env == ToolEnv::Minimal {
            cmd.env_clear().env("LC_ALL", "C").env("LANG", "C");
            if let Some(path) = std::env::var_os("PATH") {
                cmd.env("PATH", path);
            }
        }
        cmd.env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout kills helpers it started too.
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| self.start_error(e))?;
        let stdout = child.stdout.take().map(|s| reader(s, self.stdout_cap));
        let stderr = child.stderr.take().map(|s| reader(s, STDERR_CAP));
        let (status, timed_out) = wait_until(&mut child, started + self.timeout);
        let mut out = ToolOutput {
            status,
            timed_out,
            ..ToolOutput::default()
        };
        let grace = Instant::now() + READER_GRACE;
        if let Some(rx) = stdout {
            let left = grace.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => {
                    out.stdout = r.kept;
                    out.stdout_total = r.total;
                    out.stdout_truncated = r.total > out.stdout.len() as u64;
                }
                // A grandchild outside the group still holds the pipe: give up
                // on the rest rather than wait.
                Err(_) => out.stdout_truncated = true,
            }
        }
        if let Some(rx) = stderr {
            let left = grace.saturating_duration_since(Instant::now());
            if let Ok(r) = rx.recv_timeout(left) {
                out.stderr = r.kept;
            }
        }
        out.elapsed = started.elapsed();
        Ok(out)
    }

    /// Run it; a timeout or an unsuccessful exit is an error too.
    pub(crate) fn run(&self) -> Result<ToolOutput, ToolError> {
        self.check(self.output()?)
    }

    /// `out` if the tool finished successfully, else the error saying how not.
    pub(crate) fn check(&self, out: ToolOutput) -> Result<ToolOutput, ToolError> {
        let tool = self.name.clone();
        if out.timed_out {
            Err(ToolError::Timeout {
                tool,
                after: self.timeout,
                output: Box::new(out),
            })
        } else if out.success() {
            Ok(out)
        } else {
            Err(ToolError::Exit {
                tool,
                output: Box::new(out),
            })
        }
    }

    fn start_error(&self, source: std::io::Error) -> ToolError {
        let tool = self.name.clone();
        if source.kind() == std::io::ErrorKind::NotFound {
            ToolError::NotFound { tool, source }
        } else if is_denied(&source) {
            ToolError::Denied { tool, source }
        } else {
            ToolError::Start { tool, source }
        }
    }
}

/// EACCES or EPERM (std maps both to `PermissionDenied`).
fn is_denied(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied
}

/// What a tool printed and how it ended.
#[derive(Debug, Default)]
pub(crate) struct ToolOutput {
    /// `None` when it was killed at the deadline.
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: Vec<u8>,
    /// Bytes the tool wrote to stdout, including those past the cap.
    pub(crate) stdout_total: u64,
    pub(crate) stdout_truncated: bool,
    pub(crate) stderr: Vec<u8>,
    pub(crate) timed_out: bool,
    pub(crate) elapsed: Duration,
}

impl ToolOutput {
    pub(crate) fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The exit code (`None` when killed by a signal or at the deadline).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Stdout as text (invalid UTF-8 replaced).
    pub(crate) fn stdout_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Stderr as text (invalid UTF-8 replaced).
    pub(crate) fn stderr_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// The first non-empty stderr line (at most 300 characters), for error
    /// details.
    pub(crate) fn stderr_line(&self) -> String {
        first_line(self.stderr_text().lines())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect()
    }

    /// "exit N: first line" (of stderr, else stdout), or "killed: ..." — a
    /// service manager's answer in one line. Raw tool output: callers escape
    /// it (`format::escape`) before it reaches a terminal.
    pub(crate) fn why(&self) -> String {
        let stderr = self.stderr_text();
        let stdout = self.stdout_text();
        let line = first_line(stderr.lines().chain(stdout.lines())).unwrap_or("no output");
        let code = self.code().map_or("killed".into(), |c| format!("exit {c}"));
        format!("{code}: {line}")
    }

    /// Does its stderr say it was not allowed?
    pub(crate) fn says_denied(&self) -> bool {
        says_denied(&self.stderr_text())
    }
}

fn first_line<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    lines.find_map(|l| Some(l.trim()).filter(|l| !l.is_empty()))
}

/// Why a tool gave no usable result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    /// The program does not exist.
    #[error("{tool}: {source}")]
    NotFound {
        tool: String,
        source: std::io::Error,
    },
    /// Not allowed to execute the program.
    #[error("{tool}: {source}")]
    Denied {
        tool: String,
        source: std::io::Error,
    },
    /// It could not be started for another reason.
    #[error("{tool}: {source}")]
    Start {
        tool: String,
        source: std::io::Error,
    },
    /// It did not finish in time; its process group was killed.
    #[error("{tool} did not finish within {:.1}s and was killed", after.as_secs_f64())]
    Timeout {
        tool: String,
        after: Duration,
        output: Box<ToolOutput>,
    },
    /// It exited unsuccessfully (or was killed by a signal).
    #[error("{tool} exited with {}: {}", exit_text(output), output.stderr_line())]
    Exit {
        tool: String,
        output: Box<ToolOutput>,
    },
}

fn exit_text(out: &ToolOutput) -> String {
    out.code()
        .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"))
}

impl ToolError {
    /// Not allowed: the program could not be executed, or it failed saying
    /// so (`Operation not permitted`, `a password is required`, ...).
    pub(crate) fn is_denied(&self) -> bool {
        match self {
            ToolError::Denied { .. } => true,
            ToolError::Exit { output, .. } => output.says_denied(),
            _ => false,
        }
    }

    /// What the tool printed, when it ran at all.
    #[cfg(test)]
    pub(crate) fn output(&self) -> Option<&ToolOutput> {
        match self {
            ToolError::Timeout { output, .. } | ToolError::Exit { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The message without the tool's name in front (for callers whose
    /// message already names it).
    pub(crate) fn reason(&self) -> String {
        match self {
            ToolError::NotFound { source, .. }
            | ToolError::Denied { source, .. }
            | ToolError::Start { source, .. } => source.to_string(),
            ToolError::Timeout { after, .. } => format!(
                "did not finish within {:.1}s and was killed",
                after.as_secs_f64()
            ),
            ToolError::Exit { output, .. } => {
                format!(
                    "exited with {}: {}",
                    exit_text(output),
                    output.stderr_line()
                )
            }
        }
    }
}

/// Poll the child until it exits or the deadline passes; at the deadline kill
/// its process group and reap it. Returns (exit status, timed out).
fn wait_until(child: &mut Child, deadline: Instant) -> (Option<ExitStatus>, bool) {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "try_wait failed; killing the tool");
                kill_group(child);
                return (None, false);
            }
        }
        if Instant::now() >= deadline {
            kill_group(child);
            return (None, true);
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILL the child's process group (it leads its own, `process_group(0)`),
/// then the child itself, and reap it.
fn kill_group(child: &mut Child) {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct ReadResult {
    kept: Vec<u8>,
    total: u64,
}

/// Read a pipe to its end on a helper thread, keeping `cap` bytes and
/// discarding the rest (so the tool never blocks on a full pipe).
fn reader(mut pipe: impl Read + Send + 'static, cap: usize) -> mpsc::Receiver<ReadResult> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("rh-tool-io".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let mut total = 0u64;
            let mut buf = [0u8; 16 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        total += n as u64;
                        let room = cap.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(ReadResult { kept, total });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start an output reader thread");
    }
    rx
}

/// Does this stderr text say "not allowed"?
pub(crate) fn says_denied(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "operation not permitted",
        "permission denied",
        "a password is required",
        "not allowed",
        "must be run as root",
        "not in the sudoers",
        "ptrace: operation not permitted",
    ]
    .iter()
    .any(|needle| s.contains(needle))
}

/// Find an executable called `name` in `$PATH` (like `execvp`, without a
/// shell). Names with a slash are not looked up.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// A regular file with an execute bit.
pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(program: &str) -> Tool {
        Tool::new(program).timeout(Duration::from_secs(5))
    }

    #[test]
    fn captures_output_and_status() {
        let out = tool("/bin/echo")
            .args(["a b", "$(touch /nonexistent)"])
            .stdout_cap(1024)
            .run()
            .unwrap();
        assert!(out.success());
        assert!(!out.timed_out);
        // The argument is passed through verbatim: no shell expanded it.
        assert_eq!(out.stdout, b"a b $(touch /nonexistent)\n");
        let out = tool("/bin/echo").args(["a;b", "$(id)"]).output().unwrap();
        assert_eq!(out.stdout_text(), "a;b $(id)\n");
    }

    #[test]
    fn environment_is_minimal_unless_inherited() {
        let env = |t: Tool| t.output().unwrap().stdout_text().into_owned();
        let minimal = env(tool("/usr/bin/env"));
        assert!(minimal.contains("LC_ALL=C\n"), "{minimal}");
        assert!(minimal.contains("SYSTEMD_PAGER=\n"), "{minimal}");
        assert!(!minimal.contains("HOME="), "{minimal}");
        let inherited = env(tool("/usr/bin/env").env(ToolEnv::Inherit));
        assert!(inherited.contains("SYSTEMD_COLORS=0\n"), "{inherited}");
        if std::env::var_os("HOME").is_some() {
            assert!(inherited.contains("HOME="), "{inherited}");
        }
    }

    #[test]
    fn kills_at_the_deadline() {
        let t = Instant::now();
        let sleep = Tool::new("/bin/sleep")
            .arg("30")
            .timeout(Duration::from_millis(200));
        let out = sleep.output().unwrap();
        assert!(out.timed_out);
        assert!(out.status.is_none());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let err = sleep.check(out).unwrap_err();
        assert!(matches!(err, ToolError::Timeout { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "sleep did not finish within 0.2s and was killed"
        );
        assert!(err.output().is_some_and(|o| o.timed_out));
    }

    #[test]
    fn kills_the_whole_process_group() {
        // The shell starts a helper and waits; both must go at the deadline.
        let out = Tool::new("/bin/sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .timeout(Duration::from_millis(300))
            .output()
            .unwrap();
        assert!(out.timed_out);
        let pid: i32 = out.stdout_text().trim().parse().unwrap();
        let gone = (0..200).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().starts_with('Z')));
            if state.is_none_or(|zombie| zombie) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
            false
        });
        assert!(gone || !cfg!(target_os = "linux"), "helper {pid} survived");
    }

    #[test]
    fn caps_output_but_drains_it() {
        let out = tool("/bin/dd")
            .args(["if=/dev/zero", "bs=1024", "count=256", "status=none"])
            .stdout_cap(1000)
            .run()
            .unwrap();
        assert!(out.success());
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.stdout_total, 256 * 1024);
        assert!(out.stdout_truncated);
    }

    #[test]
    fn missing_denied_and_failed_are_told_apart() {
        let err = tool("/definitely/not/here").run().unwrap_err();
        assert!(matches!(err, ToolError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().starts_with("here: "), "{err}");
        assert!(!err.is_denied());

        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("not-executable");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = Tool::new(&script).name("nx").run().unwrap_err();
        assert!(matches!(err, ToolError::Denied { .. }), "{err:?}");
        assert!(
            err.is_denied() && err.to_string().starts_with("nx: "),
            "{err}"
        );

        let err = tool("/bin/ls")
            .arg("/definitely/not/here")
            .run()
            .unwrap_err();
        assert!(matches!(err, ToolError::Exit { .. }), "{err:?}");
        assert!(!err.is_denied());
        assert!(
            err.to_string().starts_with("ls exited with status"),
            "{err}"
        );
        assert!(err.reason().starts_with("exited with status"), "{err}");
        let out = tool("/bin/false").output().unwrap();
        assert!(!out.success() && out.why().starts_with("exit 1"));

        assert!(says_denied(
            "dmesg: read kernel buffer failed: Operation not permitted"
        ));
        assert!(says_denied("sudo: a password is required"));
        assert!(!says_denied("No journal files were found."));
    }

    #[test]
    fn path_lookup_needs_no_shell() {
        assert!(find_in_path("sh").is_some());
        assert_eq!(find_in_path("../bin/sh"), None);
        assert_eq!(find_in_path("definitely-not-a-tool-xyz"), None);
    }
}
