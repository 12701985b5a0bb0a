//! The integration tests, one binary: real processes, a real SQLite file, real
//! Unix sockets, a real pty. Modules by subject; `common` has the shared
//! harness (hogs killed on drop, sandboxed XDG trees, polling with deadlines,
//! the whole-machine lock).
#![allow(dead_code)]
// Tests may unwrap: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod cli_sample_and_config;
mod completions;
mod daemon_lifecycle;
mod forensics_capture;
mod groups;
mod hardening;
mod history;
mod invalid_configs;
mod ipc_server;
mod json_contract;
mod limits;
mod module_layers;
mod operations;
mod scoring_scenarios;
mod stalls;
mod tui_pty;

/// The hog role's entry point: the test binary re-executed by
/// `common::spawn_hog` runs only this test, which misbehaves until killed.
#[test]
fn hog_entry() {
    common::hog_entry();
}
