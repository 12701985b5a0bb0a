//! `rogue-hunter status`: is the daemon up, how long, how much, who is worst.

use super::{CliError, Context, out};
use crate::daemon::lock::InstanceLock;
use crate::format;
use crate::ipc::protocol::{DaemonHealth, ServerMessage};
use crate::model::{ProcessScore, StallRow};
use crate::storage::{self, StorageError, Store};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print one JSON document instead of text (still exit 3 when the daemon
    /// is not running).
    #[arg(long)]
    pub(crate) json: bool,
}

/// The stable JSON shape of `status --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) running: bool,
    pub(crate) pid: Option<u32>,
    /// Unix seconds.
    #[serde(rename = "started_at_s")]
    pub(crate) started_at: Option<f64>,
    pub(crate) uptime_s: Option<f64>,
    pub(crate) sample_count: Option<u64>,
    pub(crate) open_events: Option<u64>,
    pub(crate) total_events: Option<u64>,
    pub(crate) db_path: String,
    pub(crate) db_bytes: u64,
    /// Unix seconds of the newest recorded sample.
    #[serde(rename = "last_sample_at_s")]
    pub(crate) last_sample_at: Option<f64>,
    pub(crate) worst: Option<ProcessScore>,
    /// True when the numbers came live from the daemon's socket (else from
    /// the database, up to a second old).
    pub(crate) live: bool,
    /// The daemon holds its lock but is stopped (SIGSTOP, a debugger) or
    /// frozen: it records nothing until it runs again.
    pub(crate) stopped: bool,
    /// What the stall detectors watch on this machine.
    pub(crate) stall_detectors: Option<String>,
    /// The most recent stall.
    pub(crate) last_stall: Option<StallRow>,
    /// Why the live stream could not be reached although the daemon runs
    /// (the dashboard and `status` then fall back to the database).
    pub(crate) live_error: Option<String>,
    /// What the daemon reports about its own health (live only): failing
    /// writes, degraded operation, the processes it never opens events for.
    pub(crate) health: Option<DaemonHealth>,
}

pub(crate) fn gather(ctx: &Context) -> Result<Status, CliError> {
    let db = ctx.paths.database();
    let holder = InstanceLock::holder(&ctx.paths.lock_file());
    let mut status = Status {
        running: holder.is_some(),
        pid: holder,
        started_at: None,
        uptime_s: None,
        sample_count: None,
        open_events: None,
        total_events: None,
        db_path: db.display().to_string(),
        db_bytes: storage::db_bytes(&db),
        last_sample_at: None,
        worst: None,
        live: false,
        stopped: holder.is_some_and(crate::platform::is_stopped),
        stall_detectors: None,
        last_stall: None,
        live_error: None,
        health: None,
    };
    match Store::open_read_only(&db) {
        Ok(store) => {
            let state = store.daemon_state()?;
            status.open_events = Some(store.open_event_count()?);
            status.total_events = Some(store.event_count()?);
            if status.running {
                status.started_at = state.started_at;
                status.uptime_s = state.started_at.map(|s| (crate::unix_now() - s).max(0.0));
                status.sample_count = state.sample_count;
                status.worst = state.worst_process;
            }
            status.last_sample_at = state.latest_sample.as_ref().map(|s| s.timestamp_s);
            status.stall_detectors = state.stall_detectors;
            status.last_stall = store
                .list_stalls(None, Some(1))
                .map_err(|e| CliError::runtime(e.to_string()))?
                .into_iter()
                .next();
        }
        Err(StorageError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // A stopped daemon cannot answer: do not wait for it.
    if status.running && !status.stopped {
        let live = crate::ipc::client::fetch_initial_state(
            &ctx.paths.socket(),
            std::time::Duration::from_secs(2),
        );
        match &live {
            Ok(ServerMessage::InitialState { .. }) => {}
            Ok(_) => status.live_error = Some("unexpected first message".into()),
            Err(e) => {
                status.live_error = Some(format!("{}: {e}", ctx.paths.socket().display()));
            }
        }
        if let Ok(ServerMessage::InitialState {
            daemon, history, ..
        }) = live
        {
            status.live = true;
            status.started_at = Some(daemon.started_at);
            status.uptime_s = Some((crate::unix_now() - daemon.started_at).max(0.0));
            status.sample_count = Some(daemon.sample_count);
            status.open_events = Some(daemon.open_events);
            status.health = Some(daemon.health);
            if let Some(last) = history.last() {
                status.last_sample_at = Some(last.timestamp_s);
                status.worst = last.rogues.first().cloned();
            }
        }
    }
    Ok(status)
}

/// Failing writes and warnings first (they matter most), then who is
/// excluded from events.
fn health_lines(t: &mut String, h: &DaemonHealth) {
    if h.writes_failing {
        t.push_str(&format!(
            "writes      FAILING: {} kept for retry, {} lost; last error: {}\n",
            h.writes_pending,
            h.writes_failed,
            format::escape(h.last_write_error.as_deref().unwrap_or("unknown"))
        ));
    } else if h.writes_failed > 0 {
        t.push_str(&format!(
            "writes      {} failed since start (named in the log); last error: {}\n",
            h.writes_failed,
            format::escape(h.last_write_error.as_deref().unwrap_or("unknown"))
        ));
    }
    for w in &h.warnings {
        t.push_str(&format!("warning     {}\n", format::escape(w)));
    }
    let pids: Vec<String> = h.excluded_pids.iter().map(u32::to_string).collect();
    t.push_str(&format!(
        "clients     {} live; no events for pids {} (the daemon and its clients)\n",
        h.clients,
        pids.join(", ")
    ));
}

pub(crate) fn run(ctx: &Context, args: StatusArgs) -> Result<(), CliError> {
    let status = gather(ctx)?;
    if args.json {
        super::output::print("status", &status)?;
        return not_running_is_3(&status);
    }
    let mut t = String::new();
    match (status.running, status.pid) {
        (true, Some(pid)) if status.stopped => t.push_str(&format!(
            "daemon      STOPPED (pid {pid}): it holds its lock but does not run \
             (SIGSTOP or a debugger); send SIGCONT to resume it\n"
        )),
        (true, Some(pid)) => t.push_str(&format!("daemon      running (pid {pid})\n")),
        _ => t.push_str("daemon      not running (start it with `rogue-hunter daemon`)\n"),
    }
    if let Some(why) = &status.live_error {
        t.push_str(&format!(
            "live stream DOWN ({}): numbers below are from the database\n",
            format::escape(why)
        ));
    }
    if let Some(h) = &status.health {
        health_lines(&mut t, h);
    }
    if let Some(up) = status.uptime_s {
        t.push_str(&format!("uptime      {}\n", format::duration(up)));
    }
    if let Some(n) = status.sample_count {
        t.push_str(&format!("samples     {n}\n"));
    }
    if let Some(n) = status.open_events {
        t.push_str(&format!(
            "events      {n} open, {} recorded\n",
            status.total_events.unwrap_or(0)
        ));
    }
    t.push_str(&format!(
        "database    {} ({})\n",
        status.db_path,
        format::bytes(status.db_bytes as f64)
    ));
    if let Some(at) = status.last_sample_at {
        t.push_str(&format!("last sample {}\n", format::local_time(at)));
    }
    if let Some(w) = &status.worst {
        t.push_str(&format!(
            "worst now   pid {} {} — score {:.1} ({}), dominant {}; cpu {} of one core, mem {}\n",
            w.pid,
            format::truncate(&format::escape(&w.command), 60),
            w.score,
            w.band,
            w.dominant_resource,
            ProcessScore::current(&w.cpu).map_or_else(|| "-".into(), |v| format!("{v:.1}%")),
            ProcessScore::current(&w.mem).map_or_else(|| "-".into(), format::bytes),
        ));
    }
    if let Some(d) = &status.stall_detectors {
        t.push_str(&format!("stalls      watching {d}\n"));
    }
    match &status.last_stall {
        Some(s) => t.push_str(&format!(
            "last stall  {} ago, {}\n",
            format::duration((crate::unix_now() - s.stall.start_s).max(0.0)),
            format::truncate(&format::escape(&s.stall.verdict), 200)
        )),
        None if status.stall_detectors.is_some() => t.push_str("last stall  none recorded\n"),
        None => {}
    }
    out(&t)?;
    not_running_is_3(&status)
}

/// Exit 3 when the daemon is not running (as `systemctl is-active` and LSB
/// init scripts do), after the report was printed.
fn not_running_is_3(status: &Status) -> Result<(), CliError> {
    if status.running {
        Ok(())
    } else {
        Err(CliError::not_running())
    }
}
