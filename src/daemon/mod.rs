//! The daemon: wires the edges (platform, storage, live stream) to the pure
//! core (collect, score, ring buffer, tracker) and owns the sampling loop and
//! shutdown.
//!
//! The loop never waits on disk or clients: storage writes go to the writer
//! thread through a bounded queue, samples go to the live-stream hub, which
//! never blocks. SIGINT/SIGTERM end the loop; open events are closed, pending
//! writes flushed, and the process exits 0.

pub mod lock;

use crate::collect::Sampler;
use crate::config::{self, Config, Paths};
use crate::model::{ProcessSamples, ProcessScore};
use crate::platform;
use crate::ringbuffer::RingBuffer;
use crate::storage::{SnapshotType, StorageError, Store, WriteOp, Writer};
use crate::tracker::{Tracker, TrackerCommand};
use lock::{InstanceLock, LockError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{info, warn};

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
    #[error("{0}")]
    Setup(String),
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

/// The next scheduled tick after a sample started at `started` for tick
/// `scheduled`: normally `scheduled + interval`; when more than a whole
/// interval behind, skip ahead (returns how many ticks were skipped).
pub fn next_tick(scheduled: Instant, started: Instant, interval: Duration) -> (Instant, u64) {
    let mut next = scheduled + interval;
    let mut skipped = 0;
    while next + interval <= started {
        next += interval;
        skipped += 1;
    }
    (next, skipped)
}

/// Turn one tracker command into the storage write it implies.
pub fn write_for(cmd: &TrackerCommand, now: f64, boot_time: u64) -> Option<WriteOp> {
    Some(match cmd {
        TrackerCommand::Open { event, process } => WriteOp::OpenEvent {
            event_key: *event,
            process: Box::new(process.clone()),
            boot_time,
            entry_time: now,
        },
        TrackerCommand::Peak { event, process } => WriteOp::Peak {
            event_key: *event,
            process: Box::new(process.clone()),
        },
        TrackerCommand::Checkpoint { event, process } => WriteOp::Snapshot {
            event_key: *event,
            kind: SnapshotType::Checkpoint,
            process: Box::new(process.clone()),
        },
        TrackerCommand::Close {
            event,
            reason,
            process,
        } => WriteOp::CloseEvent {
            event_key: *event,
            exit_time: now,
            reason: reason.as_str().to_string(),
            exit: process.clone().map(Box::new),
        },
        TrackerCommand::Escalate { .. } | TrackerCommand::TriggerForensics { .. } => return None,
    })
}

fn log_command(cmd: &TrackerCommand) {
    let show = |p: &ProcessScore| crate::format::escape(&p.command);
    match cmd {
        TrackerCommand::Open { event, process: p } => info!(
            event_name = "rogue_enter",
            event = *event,
            pid = p.pid,
            command = %show(p),
            score = p.score,
            band = %p.band,
            dominant = %p.dominant_resource,
        ),
        TrackerCommand::Escalate {
            event,
            from,
            to,
            process: p,
        } => info!(
            event_name = "rogue_escalate",
            event = *event,
            pid = p.pid,
            command = %show(p),
            from = %from,
            to = %to,
            score = p.score,
        ),
        TrackerCommand::Close {
            event,
            reason,
            process,
        } => info!(
            event_name = "rogue_exit",
            event = *event,
            reason = %reason,
            pid = process.as_ref().map(|p| p.pid),
            score = process.as_ref().map(|p| p.score),
        ),
        TrackerCommand::TriggerForensics { event, process: p } => info!(
            event_name = "forensics_trigger",
            event = *event,
            pid = p.pid,
            score = p.score,
        ),
        TrackerCommand::Peak { .. } | TrackerCommand::Checkpoint { .. } => {}
    }
}

/// Resident set size of this process, bytes (for the heartbeat).
fn own_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Run the daemon in the foreground until SIGINT/SIGTERM.
pub fn run(paths: &Paths, config: Config) -> Result<(), DaemonError> {
    config::ensure_private_dir(&paths.data_dir).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let lock = InstanceLock::acquire(&paths.lock_file())?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| DaemonError::Setup(format!("cannot install signal handler: {e}")))?;
    }

    let mut source = platform::native_source().map_err(DaemonError::Setup)?;
    let system = source.system();
    let boot_time = system.boot_time_ms;
    let db = paths.database();
    let started_at = crate::unix_now();
    let closed = Store::open(&db)?.close_dangling_for_boot(started_at, boot_time)?;
    if closed > 0 {
        info!(event_name = "dangling_events_closed", count = closed);
    }
    let writer = Writer::spawn(db.clone(), WRITE_QUEUE)?;
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

    let interval = Duration::from_secs_f64(config.system.sample_interval);
    let heartbeat_every = config.system.heartbeat_samples;
    let prune_every = Duration::from_secs_f64(config.retention.prune_interval_hours * 3600.0);
    let retention_secs = f64::from(config.retention.events_days) * 86400.0;
    let mut ring = RingBuffer::new(config.system.ring_buffer_size);
    let mut tracker = Tracker::new(config.bands.clone(), config.system.forensics_debounce);
    let mut sampler = Sampler::new(source, config);
    let mut lateness = Lateness::default();
    let mut sample_count: u64 = 0;
    let mut last_prune = Instant::now();
    let mut next = Instant::now();

    while !stop.load(Ordering::Relaxed) {
        let now_i = Instant::now();
        if now_i < next {
            // Sleep in short slices so a signal is noticed promptly.
            std::thread::sleep((next - now_i).min(Duration::from_millis(100)));
            continue;
        }
        lateness.record(now_i - next, interval);
        let now = crate::unix_now();
        let (top, all) = sampler.sample_all(now);
        sample_count += 1;
        let stored = ring.push(top);
        for cmd in tracker.update(now, all) {
            log_command(&cmd);
            if let Some(op) = write_for(&cmd, now, boot_time) {
                send(&writer, op);
            }
        }
        sampler.set_pinned(tracker.tracked());
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
        }
        let (n, skipped) = next_tick(next, Instant::now(), interval);
        if skipped > 0 {
            lateness.skipped += skipped;
            warn!(event_name = "sampling_behind", skipped_ticks = skipped);
        }
        next = n;
    }

    let now = crate::unix_now();
    for cmd in tracker.close_all(now) {
        log_command(&cmd);
        if let Some(op) = write_for(&cmd, now, boot_time) {
            send(&writer, op);
        }
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
    use crate::model::ProcessScore;
    use crate::tracker::CloseReason;

    #[test]
    fn next_tick_keeps_cadence_and_skips_when_far_behind() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        assert_eq!(next_tick(t0, t0 + Duration::from_millis(5), i), (t0 + i, 0));
        // 350 ms late: ticks +100 and +200 are skipped; the next sample is due
        // at +300, the latest tick not more than one interval behind.
        let (n, skipped) = next_tick(t0, t0 + Duration::from_millis(350), i);
        assert_eq!(skipped, 2);
        assert_eq!(n, t0 + Duration::from_millis(300));
    }

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
    fn tracker_commands_map_to_writes() {
        let p = ProcessScore::new(1, 2, "x".into(), 3.0);
        let open = TrackerCommand::Open {
            event: 7,
            process: p.clone(),
        };
        assert!(matches!(
            write_for(&open, 10.0, 99),
            Some(WriteOp::OpenEvent { event_key: 7, boot_time: 99, entry_time, .. }) if entry_time == 10.0
        ));
        let close = TrackerCommand::Close {
            event: 7,
            reason: CloseReason::Gone,
            process: None,
        };
        assert!(matches!(
            write_for(&close, 11.0, 99),
            Some(WriteOp::CloseEvent { event_key: 7, ref reason, exit: None, .. }) if reason == "gone"
        ));
        let esc = TrackerCommand::Escalate {
            event: 7,
            from: crate::model::Band::Medium,
            to: crate::model::Band::High,
            process: p,
        };
        assert!(write_for(&esc, 11.0, 99).is_none());
    }
}
