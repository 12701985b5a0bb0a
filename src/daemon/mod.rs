//! The daemon: wires the edges (platform, storage, live stream) to the pure
//! core (collect, score, ring buffer, tracker) and owns the sampling loop and
//! shutdown.
//!
//! The loop never waits on disk or clients: storage writes go to the writer
//! thread through a bounded queue, samples go to the live-stream hub, which
//! never blocks. SIGINT/SIGTERM/SIGHUP end the loop; open events are closed, pending
//! writes flushed, and the process exits 0.

pub mod lock;
pub mod observers;
mod stalls;

use crate::collect::Sampler;
use crate::config::{Config, Paths};
use crate::forensics::{CaptureRequest, Forensics};
use crate::history::{BlockWrite, Recorder};
use crate::ipc::hub::Hub;
use crate::ipc::protocol::{DaemonHealth, DaemonInfo, EventKind, EventNotice};
use crate::ipc::server::{EventQuery, Server, ServerConfig};
use crate::model::SnapshotType;
use crate::model::{ProcessSamples, ProcessScore};
use crate::platform;
use crate::ringbuffer::RingBuffer;
use crate::schedule::Schedule;
use crate::storage::{StorageError, Store, WriteOp, Writer};
use crate::tracker::{Tracker, TrackerCommand};
use lock::{InstanceLock, LockError};
use observers::Observers;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Writes queued for the writer thread before new ones are dropped (and counted).
const WRITE_QUEUE: usize = 4096;
/// Persist the latest sample for `status` every this many samples.
const STATE_EVERY: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    DataDir(#[from] crate::sys::PrivateDirError),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Source(#[from] platform::SourceError),
}

/// Lateness of the sampling loop: how far behind schedule samples started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lateness {
    pub samples: u64,
    /// Samples that started more than one interval late.
    pub late: u64,
    /// Ticks skipped to catch up after falling behind.
    pub skipped: u64,
    pub max_ms: f64,
    pub total_ms: f64,
}

impl Lateness {
    /// Record one sample that started `late` after its scheduled time.
    pub fn record(&mut self, late: Duration, interval: Duration) {
        let ms = late.as_secs_f64() * 1000.0;
        self.samples += 1;
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        if late > interval {
            self.late += 1;
        }
    }

    pub fn mean_ms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.total_ms / self.samples as f64
        }
    }
}

/// Turn one tracker command into the storage write it implies.
pub fn write_for(cmd: &TrackerCommand, now: f64, boot_time: u64) -> Option<WriteOp> {
    let group = cmd.group().map(|g| Box::new(g.clone()));
    Some(match cmd {
        TrackerCommand::Open { event, process, .. } => WriteOp::OpenEvent {
            event_key: *event,
            process: Box::new(process.clone()),
            group,
            boot_time,
            entry_time: now,
        },
        TrackerCommand::Peak { event, process, .. } => WriteOp::Peak {
            event_key: *event,
            process: Box::new(process.clone()),
            group,
        },
        TrackerCommand::Checkpoint { event, process, .. } => WriteOp::Snapshot {
            event_key: *event,
            kind: SnapshotType::Checkpoint,
            process: Box::new(process.clone()),
            group,
        },
        TrackerCommand::Close {
            event,
            reason,
            process,
            ..
        } => WriteOp::CloseEvent {
            event_key: *event,
            exit_time: now,
            reason: *reason,
            exit: process.clone().map(Box::new),
            exit_group: group,
        },
        TrackerCommand::Escalate { .. } | TrackerCommand::TriggerForensics { .. } => return None,
    })
}

/// The subject of a command for log lines: `process`, or the group's kind,
/// with its (escaped) name and members' PIDs.
fn subject_fields(cmd: &TrackerCommand) -> (&'static str, Option<String>, Option<String>) {
    match cmd.group() {
        Some(s) => (
            s.group.kind.as_str(),
            Some(crate::format::escape(&s.group.name)),
            Some(
                s.members
                    .iter()
                    .map(|m| m.pid.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ),
        None => ("process", None, None),
    }
}

/// Score and band of a command's subject (the group's for a group event).
fn verdict_of(cmd: &TrackerCommand, p: &ProcessScore) -> (f64, crate::model::Band) {
    cmd.group()
        .map_or((p.score, p.band), |s| (s.group.score, s.group.band))
}

fn log_command(cmd: &TrackerCommand) {
    let show = |p: &ProcessScore| crate::format::escape(&p.command);
    let (subject, group, members) = subject_fields(cmd);
    match cmd {
        TrackerCommand::Open {
            event, process: p, ..
        } => {
            let (score, band) = verdict_of(cmd, p);
            let dominant = cmd
                .group()
                .map_or(p.dominant_resource, |s| s.group.dominant_resource);
            info!(
                event_name = "rogue_enter",
                event = *event,
                subject,
                group = group.as_deref(),
                members = members.as_deref(),
                pid = p.pid,
                command = %show(p),
                score,
                band = %band,
                dominant = %dominant,
            )
        }
        TrackerCommand::Escalate {
            event,
            from,
            to,
            process: p,
            ..
        } => info!(
            event_name = "rogue_escalate",
            event = *event,
            subject,
            group = group.as_deref(),
            pid = p.pid,
            command = %show(p),
            from = %from,
            to = %to,
            score = verdict_of(cmd, p).0,
        ),
        TrackerCommand::Close {
            event,
            reason,
            process,
            ..
        } => info!(
            event_name = "rogue_exit",
            event = *event,
            subject,
            group = group.as_deref(),
            reason = %reason,
            pid = process.as_ref().map(|p| p.pid),
            score = process.as_ref().map(|p| verdict_of(cmd, p).0),
        ),
        TrackerCommand::TriggerForensics {
            event, process: p, ..
        } => info!(
            event_name = "forensics_trigger",
            event = *event,
            subject,
            group = group.as_deref(),
            members = members.as_deref(),
            pid = p.pid,
            score = verdict_of(cmd, p).0,
        ),
        TrackerCommand::Peak { .. } | TrackerCommand::Checkpoint { .. } => {}
    }
}

/// The live-stream notice for a tracker command, if it is one clients see.
/// `last_seen` supplies the process for a close without an exit snapshot.
/// A group's notice names the group (`command` is its name) with its score.
pub fn notice_for(
    cmd: &TrackerCommand,
    now: f64,
    last_seen: &HashMap<u64, Seen>,
) -> Option<EventNotice> {
    let (kind, event, process, reason) = match cmd {
        TrackerCommand::Open { event, process, .. } => {
            (EventKind::Opened, *event, Some(process), None)
        }
        TrackerCommand::Escalate { event, process, .. } => {
            (EventKind::Escalated, *event, Some(process), None)
        }
        TrackerCommand::TriggerForensics { event, process, .. } => {
            (EventKind::Forensics, *event, Some(process), None)
        }
        TrackerCommand::Close {
            event,
            reason,
            process,
            ..
        } => (
            EventKind::Closed,
            *event,
            process.as_ref(),
            Some(reason.as_str().to_string()),
        ),
        TrackerCommand::Peak { .. } | TrackerCommand::Checkpoint { .. } => return None,
    };
    let remembered = last_seen.get(&event);
    let p = process.or_else(|| remembered.map(|s| &s.process))?;
    let group = cmd
        .group()
        .map(|s| &s.group)
        .or_else(|| remembered.and_then(|s| s.group.as_deref()));
    Some(EventNotice {
        kind,
        event_key: event,
        pid: p.pid,
        start_time: p.start_time_ms,
        command: group.map_or_else(|| p.command.clone(), |g| g.name.clone()),
        band: group.map_or(p.band, |g| g.band),
        score: group.map_or(p.score, |g| g.score),
        dominant_resource: group.map_or(p.dominant_resource, |g| g.dominant_resource),
        at: now,
        reason,
        subject_kind: group.map_or(crate::model::SubjectKind::Process, |g| g.kind.into()),
        group_key: group.map(|g| g.key.clone()),
        members: cmd
            .group()
            .map(|s| s.members.iter().map(|m| m.pid).collect())
            .unwrap_or_default(),
    })
}

/// The latest process (and group) of an open event, for close notices.
pub struct Seen {
    pub process: ProcessScore,
    pub group: Option<Box<crate::model::GroupScore>>,
}

/// Remember the latest process of each open event (for close notices).
fn remember(cmd: &TrackerCommand, last_seen: &mut HashMap<u64, Seen>) {
    match cmd {
        TrackerCommand::Open { event, process, .. }
        | TrackerCommand::Peak { event, process, .. }
        | TrackerCommand::Checkpoint { event, process, .. }
        | TrackerCommand::Escalate { event, process, .. } => {
            last_seen.insert(
                *event,
                Seen {
                    process: process.clone(),
                    group: cmd.group().map(|s| Box::new(s.group.clone())),
                },
            );
        }
        TrackerCommand::TriggerForensics { .. } | TrackerCommand::Close { .. } => {}
    }
}

/// Start the live-stream server. A daemon that cannot serve clients still
/// records: the failure is logged as an error, not fatal.
fn start_server(paths: &Paths, hub: &Hub, live: &crate::config::LiveConfig) -> Option<Server> {
    let db = paths.database();
    let events: EventQuery =
        Arc::new(move |filter| Store::open_read_only(&db).and_then(|s| s.list_events(&filter)));
    let mut cfg = ServerConfig::new(paths.socket());
    cfg.max_clients = live.max_clients;
    match Server::start(cfg, hub.clone(), events) {
        Ok(server) => Some(server),
        Err(e) => {
            error!(event_name = "live_stream_unavailable", error = %e);
            None
        }
    }
}

/// What a low open-files limit degrades, as one sentence for the log and
/// `status`; `None` when the limit is enough. `reserve` is what the platform
/// keeps back from kept `/proc` descriptors (`None`: it keeps none), each
/// process needs about two kept descriptors, and each live-stream client one.
pub fn descriptor_warning(
    limit: u64,
    reserve: Option<u64>,
    processes: usize,
    max_clients: usize,
) -> Option<String> {
    let mut degraded = Vec::new();
    if let Some(reserve) = reserve {
        let covered = (limit.saturating_sub(reserve) / 2) as usize;
        if covered < processes {
            degraded.push(format!(
                "about {} of {processes} processes are read by opening and closing their /proc \
                 files every sample instead of through kept descriptors (more CPU per sample)",
                processes - covered
            ));
        }
    }
    // The daemon's own files, socket and probes take a few dozen.
    if limit < 64 + max_clients as u64 {
        degraded.push(format!(
            "fewer than [live] max_clients = {max_clients} live-stream clients can connect \
             before accepting fails"
        ));
    }
    (!degraded.is_empty()).then(|| {
        format!(
            "open-files limit (RLIMIT_NOFILE) is {limit}: {}; raise it (ulimit -n, systemd \
             LimitNOFILE=)",
            degraded.join("; ")
        )
    })
}

/// Resident set size of this process, bytes (for the heartbeat).
fn own_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * crate::sys::params::page_size()?)
}

/// Run the daemon in the foreground until SIGINT/SIGTERM/SIGHUP.
pub fn run(paths: &Paths, config: Config) -> Result<(), DaemonError> {
    crate::sys::ensure_private_dir(&paths.data_dir)?;
    let lock = InstanceLock::acquire(&paths.lock_file())?;
    let stop = Arc::new(AtomicBool::new(false));
    // SIGHUP (the terminal closed) stops cleanly too, like SIGTERM.
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(DaemonError::Signal)?;
    }

    let mut source = platform::native_source()?;
    let system = source.system();
    let boot_time = system.boot_time_ms;
    let db = paths.database();
    let started_at = crate::unix_now();
    let mut store = Store::open(&db)?;
    let closed = store.close_dangling_for_boot(started_at, boot_time)?;
    if closed > 0 {
        info!(event_name = "dangling_events_closed", count = closed);
    }
    let captures_failed = store.fail_pending_captures()?;
    if captures_failed > 0 {
        info!(
            event_name = "interrupted_captures_failed",
            count = captures_failed
        );
    }
    let stalls_closed = store.close_dangling_stalls()?;
    if stalls_closed > 0 {
        info!(event_name = "dangling_stalls_closed", count = stalls_closed);
    }
    // Events are numbered after the file's highest id: the tracker's keys are
    // the rows' ids, in log lines, the live stream and `events` alike.
    let first_event_id = u64::try_from(store.max_event_id()?).unwrap_or(0) + 1;
    drop(store);
    let writer = Writer::spawn(db.clone(), WRITE_QUEUE)?;
    // Captures run on their own thread; the loop only hands them a frozen ring.
    let forensics = config
        .forensics
        .enabled
        .then(|| Forensics::spawn(config.forensics.clone(), writer.sender()));
    let pid = std::process::id();
    send(
        &writer,
        WriteOp::DaemonStart {
            pid,
            started_at,
            boot_time,
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
    );
    info!(
        event_name = "daemon_started",
        pid,
        db = %db.display(),
        interval_s = config.system.sample_interval,
    );

    let hub = Hub::new(DaemonInfo {
        pid,
        started_at,
        sample_interval: config.system.sample_interval,
        sample_count: 0,
        boot_time,
        open_events: 0,
        // What a connecting dashboard shows as the last stall until a new one.
        last_stall: Store::open_read_only(&db)
            .ok()
            .and_then(|s| s.list_stalls(None, Some(1)).ok())
            .and_then(|v| v.into_iter().next())
            .map(|r| Box::new(r.stall)),
        health: DaemonHealth {
            excluded_pids: vec![pid],
            ..DaemonHealth::default()
        },
    });
    // The instance lock is held: a socket file left by a dead daemon is stale.
    let server = start_server(paths, &hub, &config.live);
    // Metrics endpoint, notifications, systemd readiness and watchdog.
    let mut observers = Observers::start(
        &config,
        paths,
        writer.sender(),
        forensics.as_ref().map(Forensics::counts),
    );
    let mut last_seen: HashMap<u64, Seen> = HashMap::new();

    let interval = Duration::from_secs_f64(config.system.sample_interval);
    let heartbeat_every = config.system.heartbeat_samples;
    let prune_every = Duration::from_secs_f64(config.retention.prune_interval_hours * 3600.0);
    let retention_secs = f64::from(config.retention.events_days) * 86400.0;
    let mut ring = RingBuffer::new(config.system.ring_buffer_size)
        .keeping_whole(config.forensics.buffer_samples);
    let mut tracker = Tracker::new(config.bands.clone(), config.system.forensics_debounce)
        .numbered_from(first_event_id);
    // The monitor never opens events about itself (its cost is in `status`).
    tracker.set_excluded([pid]);
    let mut stall_watch = stalls::StallWatch::new(
        &config.stalls,
        config.system.sample_interval,
        config.system.forensics_debounce,
        boot_time,
        vec![pid],
    );
    send(
        &writer,
        WriteOp::SetState {
            key: crate::storage::keys::STALL_DETECTORS.to_string(),
            value: stall_watch.describe(),
        },
    );
    let history_keep_secs = f64::from(config.history.keep_days) * 86400.0;
    let mut recorder = config
        .history
        .enabled
        .then(|| Recorder::new(config.history.top_n).with_top_groups(config.history.top_groups));
    if recorder.is_some() {
        send(
            &writer,
            WriteOp::PruneHistory {
                older_than: started_at - history_keep_secs,
            },
        );
    }
    let max_clients = config.live.max_clients;
    // After the source raised the soft limit to the hard one.
    let fd_limit = crate::sys::params::open_files_limit().unwrap_or(u64::MAX);
    let mut fd_warning: Option<String> = None;
    let mut sampler = Sampler::new(source, config);
    let mut lateness = Lateness::default();
    let mut sample_count: u64 = 0;
    let mut last_prune = Instant::now();
    // Ticks are due on offsets from `epoch`, the first at once.
    let epoch = Instant::now();
    let mut schedule = Schedule::new(interval, Duration::ZERO);

    while !stop.load(Ordering::Relaxed) {
        observers.tick();
        let now_m = epoch.elapsed();
        let Some(tick) = schedule.tick(now_m) else {
            // Sleep in short slices so a signal is noticed promptly.
            std::thread::sleep(schedule.until_due(now_m).min(Duration::from_millis(100)));
            continue;
        };
        let late = tick.late;
        lateness.record(late, interval);
        if tick.skipped > 0 {
            lateness.skipped += tick.skipped;
            observers.ticks_skipped(tick.skipped);
            warn!(event_name = "sampling_behind", skipped_ticks = tick.skipped);
        }
        // Neither the monitor nor the dashboards watching it are rogues, nor
        // part of any group's incident.
        let clients = hub.client_pids();
        sampler.leave_out_of_groups(std::iter::once(pid).chain(clients.iter().copied()));
        let now = crate::unix_now();
        let (top, all) = sampler.sample_all(now);
        let critical_now = observers.count_critical(all);
        sample_count += 1;
        let stored = ring.push(top);
        hub.publish_sample_with_table(Arc::clone(&stored), all);
        tracker.set_excluded(std::iter::once(pid).chain(clients.iter().copied()));
        if fd_warning.is_none()
            && let Some(text) =
                descriptor_warning(fd_limit, platform::KEPT_FD_RESERVE, all.len(), max_clients)
        {
            warn!(event_name = "descriptors_short", limit = fd_limit, "{text}");
            fd_warning = Some(text);
        }
        // A stall or a new event: the seconds before it are written at once.
        let mut urgent = false;
        for cmd in tracker.update_with_groups(now, all, &stored.groups) {
            urgent |= matches!(cmd, TrackerCommand::Open { .. });
            log_command(&cmd);
            observers.command(&cmd);
            remember(&cmd, &mut last_seen);
            if let Some(notice) = notice_for(&cmd, now, &last_seen) {
                hub.publish_event(notice);
            }
            if let TrackerCommand::Close { event, .. } = &cmd {
                last_seen.remove(event);
            }
            if let Some(op) = write_for(&cmd, now, boot_time) {
                send(&writer, op);
            }
            if let (TrackerCommand::TriggerForensics { event, process, .. }, Some(f)) =
                (&cmd, &forensics)
            {
                let req = CaptureRequest::new(*event, process.clone(), ring.freeze(), now);
                f.trigger(match cmd.group() {
                    Some(g) => req.for_group(g.clone()),
                    None => req,
                });
            }
        }
        for cmd in stall_watch.observe(now, all) {
            urgent |= !matches!(cmd, crate::stalls::StallCommand::Close { .. });
            stall_watch.apply(
                &cmd,
                now,
                all,
                &writer,
                &hub,
                &mut observers,
                forensics.as_ref(),
                &ring,
            );
        }
        let tracked = tracker.tracked();
        if let Some(rec) = recorder.as_mut() {
            let keys: HashSet<_> = tracked.iter().copied().collect();
            let mut blocks = rec.record(&stored, all, &keys);
            if urgent && !blocks.iter().any(|b| b.end_s == stored.timestamp_s) {
                blocks.extend(rec.flush());
            }
            for block in blocks {
                send(&writer, history_write(block));
            }
        }
        sampler.set_pinned(tracked);
        let open_events = tracker.open_count() as u64;
        let writes = writer.health();
        hub.update_daemon_info(|d| {
            d.sample_count = sample_count;
            d.open_events = open_events;
            let h = &mut d.health;
            h.excluded_pids.clear();
            h.excluded_pids.push(pid);
            h.excluded_pids
                .extend(clients.iter().copied().filter(|&c| c != pid));
            h.clients = clients.len() as u64;
            h.writes_failing = writes.failing;
            h.writes_pending = writes.pending;
            h.writes_failed = writes.failed;
            h.last_write_error.clone_from(&writes.last_error);
            if let Some(w) = &fd_warning
                && !h.warnings.contains(w)
            {
                h.warnings.push(w.clone());
            }
        });
        observers.sample(&stored, critical_now, late, sample_count, open_events);
        if sample_count.is_multiple_of(STATE_EVERY) {
            send(
                &writer,
                WriteOp::Sample {
                    samples: Box::new(ProcessSamples::clone(&stored)),
                    sample_count,
                },
            );
        }
        if sample_count.is_multiple_of(heartbeat_every) {
            info!(
                event_name = "heartbeat",
                samples = sample_count,
                open_events = tracker.open_count(),
                processes = stored.process_count,
                max_score = stored.max_score,
                sample_ms = stored.elapsed_ms,
                late_samples = lateness.late,
                skipped_ticks = lateness.skipped,
                mean_lateness_ms = lateness.mean_ms(),
                max_lateness_ms = lateness.max_ms,
                writes_dropped = writer.dropped(),
                rss_bytes = own_rss_bytes(),
            );
        }
        if last_prune.elapsed() >= prune_every {
            last_prune = Instant::now();
            send(
                &writer,
                WriteOp::Prune {
                    older_than: now - retention_secs,
                },
            );
            if recorder.is_some() {
                send(
                    &writer,
                    WriteOp::PruneHistory {
                        older_than: now - history_keep_secs,
                    },
                );
            }
        }
    }
    if let Some(block) = recorder.as_mut().and_then(Recorder::take) {
        send(&writer, history_write(block));
    }

    let now = crate::unix_now();
    for cmd in stall_watch.close_all(now) {
        stall_watch.apply(&cmd, now, &[], &writer, &hub, &mut observers, None, &ring);
    }
    for cmd in tracker.close_all(now) {
        log_command(&cmd);
        observers.command(&cmd);
        if let Some(op) = write_for(&cmd, now, boot_time) {
            send(&writer, op);
        }
    }
    if let Some(server) = server {
        server.shutdown();
    }
    observers.shutdown();
    // A running capture finishes (within its timeouts) before the writer stops.
    if let Some(f) = forensics {
        f.shutdown();
    }
    send(&writer, WriteOp::DaemonStop { stopped_at: now });
    let stats = writer.shutdown()?;
    info!(
        event_name = "daemon_stopped",
        samples = sample_count,
        writes_applied = stats.applied,
        writes_failed = stats.failed,
        writes_dropped = stats.dropped,
        late_samples = lateness.late,
        max_lateness_ms = lateness.max_ms,
    );
    drop(lock);
    Ok(())
}

/// The writer thread encodes and compresses the block.
fn history_write(block: BlockWrite) -> WriteOp {
    WriteOp::HistoryFrames(block)
}

/// Queue a write; a full queue drops it (counted by the writer) rather than
/// stalling the sampling loop.
fn send(writer: &Writer, op: WriteOp) {
    let name = op.name();
    if let Err(e) = writer.send(op) {
        warn!(event_name = "write_dropped", op = name, error = %e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CloseReason;
    use crate::model::ProcessScore;

    #[test]
    fn lateness_counts_samples_later_than_an_interval() {
        let mut l = Lateness::default();
        let i = Duration::from_millis(100);
        l.record(Duration::from_millis(10), i);
        l.record(Duration::from_millis(150), i);
        assert_eq!((l.samples, l.late), (2, 1));
        assert_eq!(l.max_ms, 150.0);
        assert_eq!(l.mean_ms(), 80.0);
    }

    #[test]
    fn a_low_descriptor_limit_names_what_it_degrades() {
        assert_eq!(descriptor_warning(1 << 20, Some(256), 500, 64), None);
        let w = descriptor_warning(64, Some(256), 100, 64).expect("warning");
        assert!(w.contains("RLIMIT_NOFILE) is 64"), "{w}");
        assert!(w.contains("about 100 of 100 processes"), "{w}");
        assert!(w.contains("max_clients = 64"), "{w}");
        // Enough for every process, not for every client.
        let w = descriptor_warning(1100, Some(256), 300, 2000).expect("warning");
        assert!(!w.contains("processes") && w.contains("2000"), "{w}");
        // A platform that keeps no descriptors per process.
        assert_eq!(descriptor_warning(1024, None, 5000, 64), None);
    }

    #[test]
    fn tracker_commands_map_to_writes() {
        let p = ProcessScore::new(1, 2, "x".into(), 3.0);
        let open = TrackerCommand::Open {
            event: 7,
            process: p.clone(),
            group: None,
        };
        assert!(matches!(
            write_for(&open, 10.0, 99),
            Some(WriteOp::OpenEvent { event_key: 7, boot_time: 99, entry_time, .. }) if entry_time == 10.0
        ));
        let close = TrackerCommand::Close {
            event: 7,
            reason: CloseReason::Gone,
            process: None,
            group: None,
        };
        assert!(matches!(
            write_for(&close, 11.0, 99),
            Some(WriteOp::CloseEvent { event_key: 7, ref reason, exit: None, .. }) if *reason == CloseReason::Gone
        ));
        let esc = TrackerCommand::Escalate {
            event: 7,
            from: crate::model::Band::Medium,
            to: crate::model::Band::High,
            process: p,
            group: None,
        };
        assert!(write_for(&esc, 11.0, 99).is_none());
    }
}
