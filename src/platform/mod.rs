//! Platform bindings: one file per OS, each a `ProcessSource` for `collect`.
//!
//! Thin: reads raw counters, never computes rates or scores. Parsers and
//! conversion rules live in plain modules compiled and tested on every
//! platform: `parse` (Linux `/proc` text, DRM fdinfo) and `darwin` (macOS
//! libproc/IOKit values → `RawProcess`). Only the system calls are gated:
//! `linux` on Linux, `macos` on macOS.

// Compiled and tested on every platform; only the macOS binding calls it.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) mod darwin;
// Compiled and tested on every platform; only the Linux binding calls it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub mod parse;
pub mod probe;
mod raw;

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(target_os = "macos")]
pub(crate) mod macos;

pub use parse::parse_psi;
pub use raw::{
    ClockReading, CpuTimes, DeepCounters, DiskCounters, LoadAvg, MemCounters, NetCounters,
    OwnCounters, ProcessSource, PsiTotal, PsiTotals, RawMachine, RawProcess, SystemInfo,
};
pub(crate) use raw::{DeviceTotals, device_id};

/// Descriptors the sampler keeps back from the open-files limit; the rest may
/// hold `/proc` files open between samples. `None` where the collector keeps
/// no descriptors per process.
#[cfg(target_os = "linux")]
pub const KEPT_FD_RESERVE: Option<u64> = Some(linux::FD_RESERVE);
/// Descriptors the sampler keeps back from the open-files limit (none kept
/// per process on this platform).
#[cfg(not(target_os = "linux"))]
pub const KEPT_FD_RESERVE: Option<u64> = None;

/// Why the platform's process source cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `/proc` (or its `stat`) is unreadable.
    #[cfg(target_os = "linux")]
    #[error("cannot read /proc: {0}")]
    Proc(std::io::Error),
    /// A sysctl the process table needs failed.
    #[cfg(target_os = "macos")]
    #[error("cannot read the process table: sysctl {name}: {source}")]
    Sysctl {
        name: &'static str,
        source: std::io::Error,
    },
    /// No collector exists for this OS.
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    #[error("no process collector is built for {0} yet")]
    Unsupported(&'static str),
}

/// The process source for the platform this binary runs on.
#[cfg(target_os = "linux")]
pub(crate) fn native_source() -> Result<Box<dyn ProcessSource + Send>, SourceError> {
    linux::LinuxSource::new()
        .map(|s| Box::new(s) as Box<dyn ProcessSource + Send>)
        .map_err(SourceError::Proc)
}

/// The process source for the platform this binary runs on.
#[cfg(target_os = "macos")]
pub(crate) fn native_source() -> Result<Box<dyn ProcessSource + Send>, SourceError> {
    macos::MacSource::new().map(|s| Box::new(s) as Box<dyn ProcessSource + Send>)
}

/// The process source for the platform this binary runs on.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(crate) fn native_source() -> Result<Box<dyn ProcessSource + Send>, SourceError> {
    Err(SourceError::Unsupported(std::env::consts::OS))
}

impl<T: ProcessSource + ?Sized> ProcessSource for Box<T> {
    fn system(&mut self) -> SystemInfo {
        (**self).system()
    }
    fn scan(&mut self, out: &mut Vec<RawProcess>) {
        (**self).scan(out)
    }
    fn deepen(&mut self, raw: &mut RawProcess, now: f64) {
        (**self).deepen(raw, now)
    }
    fn reaped_io_in_parent(&self) -> bool {
        (**self).reaped_io_in_parent()
    }
    fn machine(&mut self) -> Option<RawMachine> {
        (**self).machine()
    }
}

/// Whether process `pid` is stopped (`T`, SIGSTOP) or traced (`t`): it holds
/// its resources but does not run. `false` when unknown.
pub fn is_stopped(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::fs::read(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|b| parse::parse_stat(&b))
            .is_some_and(|s| s.state == b'T' || s.state == b't')
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}
