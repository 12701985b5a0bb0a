//! rogue-hunter: finds the process behind a slow or stalling machine and keeps
//! the evidence.
//!
//! Layers, bottom to top (each uses only the ones above it in this list;
//! `tests/integration/module_layers.rs` fails on any cycle):
//!
//! - schema: `model` (every domain type);
//! - pure core, no clock, no I/O: `score`, `groups`, `collect` (rates and the
//!   sampling round over a `ProcessSource`), `ringbuffer`, `tracker`, `stalls`,
//!   `schedule`, `history` (block encoding, recorder, time parser), `json`,
//!   `format`;
//! - edges: `platform` (raw counters from the OS), `sys` (ids, private
//!   directories, local time, running tools), `config` (files and env into
//!   plain structs), `logging`, `storage` (SQLite), `forensics`, `ipc` (the
//!   live stream), `metrics`, `notifications`, `service`, `perms`;
//! - programs: `daemon` (wires the edges to the core), `tui`, `cli`.
//!
//! See docs/architecture.md.

pub mod cli;
pub mod collect;
pub mod config;
pub(crate) mod daemon;
pub(crate) mod forensics;
pub(crate) mod format;
pub mod groups;
pub mod history;
pub mod ipc;
pub mod json;
pub(crate) mod logging;
pub(crate) mod metrics;
pub mod model;
pub(crate) mod notifications;
pub(crate) mod perms;
pub mod platform;
pub(crate) mod ringbuffer;
pub(crate) mod schedule;
pub(crate) mod score;
pub(crate) mod service;
pub mod stalls;
pub mod storage;
pub mod sys;
pub(crate) mod tracker;
pub mod tui;

/// Unix time now, seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
