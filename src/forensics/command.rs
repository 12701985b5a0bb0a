//! Running external tools for a capture: argument vectors only (never a shell),
//! a minimal environment, a deadline after which the tool's process group is
//! killed, and output read on helper threads up to a size cap.

use crate::model::{SourceOutcome, SourceStatus};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes of a tool's stderr kept (enough for its error message).
const STDERR_CAP: usize = 64 * 1024;
/// How long to wait for the output readers after the tool has exited.
const READER_GRACE: Duration = Duration::from_secs(2);
/// Polling period of the deadline loop.
const POLL: Duration = Duration::from_millis(10);

/// What a tool printed and how it ended.
#[derive(Debug, Default)]
pub struct ToolOutput {
    /// `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    /// Bytes the tool wrote to stdout, including those past the cap.
    pub stdout_total: u64,
    pub stdout_truncated: bool,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The first non-empty stderr line, for error details.
    pub fn stderr_line(&self) -> String {
        String::from_utf8_lossy(&self.stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect()
    }
}

/// Find an executable called `name` in `$PATH` (like `execvp`, without a
/// shell). Names with a slash are not looked up.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
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
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `program` with `args` (no shell), kill it (and its process group) at
/// `timeout`, keep at most `cap` bytes of stdout.
pub fn run<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    timeout: Duration,
    cap: usize,
) -> std::io::Result<ToolOutput> {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills helpers it started too.
        .process_group(0);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().map(|s| reader(s, cap));
    let stderr = child.stderr.take().map(|s| reader(s, STDERR_CAP));
    let deadline = started + timeout;
    let (status, timed_out) = wait_until(&mut child, deadline);
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
            // A grandchild outside the group still holds the pipe: give up on
            // the rest rather than wait.
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

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id())
        && pid > 0
    {
        // SAFETY: kill(2) with a negative pid signals that process group; the
        // group is the child's own (process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
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
        .name("rh-forensics-io".into())
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
pub fn says_denied(stderr: &str) -> bool {
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

/// Turn a finished tool run into its stdout, or the outcome explaining why not.
pub fn checked(
    tool: &str,
    out: ToolOutput,
    timeout: Duration,
) -> Result<ToolOutput, SourceOutcome> {
    if out.timed_out {
        return Err(SourceOutcome::fail(
            SourceStatus::Timeout,
            format!(
                "{tool} did not finish within {:.1}s and was killed",
                timeout.as_secs_f64()
            ),
        ));
    }
    if out.success() {
        return Ok(out);
    }
    let line = out.stderr_line();
    let code = out
        .status
        .and_then(|s| s.code())
        .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
    let status = if says_denied(&String::from_utf8_lossy(&out.stderr)) {
        SourceStatus::Denied
    } else {
        SourceStatus::Error
    };
    Err(SourceOutcome::fail(
        status,
        format!("{tool} exited with {code}: {line}"),
    ))
}

/// Arguments as `OsString`s (for building vectors of mixed text and paths).
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(
            Path::new("/bin/echo"),
            &["a b", "$(touch /nonexistent)"],
            Duration::from_secs(5),
            1024,
        )
        .unwrap();
        assert!(out.success());
        assert!(!out.timed_out);
        // The argument is passed through verbatim: no shell expanded it.
        assert_eq!(out.stdout, b"a b $(touch /nonexistent)\n");
    }

    #[test]
    fn kills_at_the_deadline() {
        let t = Instant::now();
        let out = run(
            Path::new("/bin/sleep"),
            &["30"],
            Duration::from_millis(200),
            1024,
        )
        .unwrap();
        assert!(out.timed_out);
        assert!(out.status.is_none());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let err = checked("sleep", out, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.status, SourceStatus::Timeout);
        assert!(err.detail.contains("killed"), "{}", err.detail);
    }

    #[test]
    fn caps_output_but_drains_it() {
        let out = run(
            Path::new("/bin/dd"),
            &["if=/dev/zero", "bs=1024", "count=256", "status=none"],
            Duration::from_secs(10),
            1000,
        )
        .unwrap();
        assert!(out.success());
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.stdout_total, 256 * 1024);
        assert!(out.stdout_truncated);
    }

    #[test]
    fn failure_and_denial_are_told_apart() {
        let out = run(
            Path::new("/bin/ls"),
            &["/definitely/not/here"],
            Duration::from_secs(5),
            1024,
        )
        .unwrap();
        let err = checked("ls", out, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.status, SourceStatus::Error);
        assert!(
            err.detail.starts_with("ls exited with status"),
            "{}",
            err.detail
        );
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
