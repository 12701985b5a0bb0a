//! Platform bindings: one file per OS, each a `ProcessSource` for `collect`.
//!
//! Thin: reads raw counters, never computes rates or scores. Parsers live in
//! `parse` as plain functions so they are tested on every platform.

pub mod parse;

#[cfg(target_os = "linux")]
pub mod linux;

use crate::collect::{ProcessSource, RawProcess, SystemInfo};

/// The process source for the platform this binary runs on.
#[cfg(target_os = "linux")]
pub fn native_source() -> Result<Box<dyn ProcessSource + Send>, String> {
    linux::LinuxSource::new()
        .map(|s| Box::new(s) as Box<dyn ProcessSource + Send>)
        .map_err(|e| format!("cannot read /proc: {e}"))
}

/// The process source for the platform this binary runs on.
#[cfg(not(target_os = "linux"))]
pub fn native_source() -> Result<Box<dyn ProcessSource + Send>, String> {
    Err(format!(
        "no process collector is built for {} yet",
        std::env::consts::OS
    ))
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
}
