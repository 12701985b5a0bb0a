//! The daemon's single writer thread: owns the read-write connection and applies
//! `WriteOp`s from a bounded queue, batched, one transaction per batch.
//!
//! Senders never block: a full queue drops the op and counts it. Events and
//! captures are addressed by caller-chosen keys, mapped here to row ids.

use super::write as sql;
use super::{Fail, StorageError, Store};
use crate::model::{
    CaptureData, CaptureOwner, CaptureStatus, CloseReason, GroupSubject, ProcessSamples,
    ProcessScore, SnapshotType, Stall,
};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One write for the writer thread. Events are named by `event_key` and
/// captures by `capture_key`: numbers the caller picks, unique per daemon run.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    DaemonStart {
        pid: u32,
        started_at: f64,
        /// Unix milliseconds.
        boot_time: u64,
        version: String,
    },
    DaemonStop {
        stopped_at: f64,
    },
    SetState {
        key: String,
        value: String,
    },
    /// Latest sample, worst process, sample count and heartbeat.
    Sample {
        samples: Box<ProcessSamples>,
        sample_count: u64,
    },
    /// Open an event (with its entry snapshot) and remember `event_key`, which
    /// becomes the row's id (the daemon allocates keys above the file's
    /// highest id, `Store::max_event_id`, so logs and the stream name rows).
    OpenEvent {
        event_key: u64,
        process: Box<ProcessScore>,
        /// A group's event: the group and its members (`process` is then the
        /// top member).
        group: Option<Box<GroupSubject>>,
        /// Unix milliseconds.
        boot_time: u64,
        entry_time: f64,
    },
    Snapshot {
        event_key: u64,
        kind: SnapshotType,
        process: Box<ProcessScore>,
        group: Option<Box<GroupSubject>>,
    },
    Peak {
        event_key: u64,
        process: Box<ProcessScore>,
        group: Option<Box<GroupSubject>>,
    },
    /// Close an event (exit snapshot when `exit` is given) and forget its key.
    CloseEvent {
        event_key: u64,
        exit_time: f64,
        reason: CloseReason,
        exit: Option<Box<ProcessScore>>,
        exit_group: Option<Box<GroupSubject>>,
    },
    /// Close every open event in the database. Send it at start-up, before any
    /// `OpenEvent`; it also forgets every event key.
    CloseDangling {
        now: f64,
        reason: CloseReason,
    },
    /// Start a capture ('pending') for an event or a stall and remember
    /// `capture_key`. The event key may already be closed: captures outlive
    /// their trigger.
    InsertCapture {
        capture_key: u64,
        owner: CaptureOwner,
        captured_at: f64,
        trigger: String,
    },
    /// Record a stall under `stall_key`: inserted the first time the key is
    /// seen, updated (its end, final numbers) after that.
    Stall {
        stall_key: u64,
        stall: Box<Stall>,
        /// Unix milliseconds.
        boot_time: u64,
    },
    /// Attach the frozen ring buffer to a capture. Send before `FinishCapture`.
    BufferContext {
        capture_key: u64,
        frozen: Vec<ProcessSamples>,
        culprits: Option<serde_json::Value>,
    },
    /// Store what a capture gathered (threads, frames, logs, pressure,
    /// system snapshots). Send before `FinishCapture`.
    CaptureData {
        capture_key: u64,
        data: Box<CaptureData>,
    },
    /// Record a capture's outcome and forget `capture_key`.
    FinishCapture {
        capture_key: u64,
        status: CaptureStatus,
        duration_ms: Option<f64>,
        sources: Option<serde_json::Value>,
        error: Option<String>,
    },
    /// Delete closed events older than `older_than` (retention).
    Prune {
        older_than: f64,
    },
    /// Insert a recorded block, or replace the one with the same start (the
    /// open block grows). `data` is compressed in encoding `encoding`.
    HistoryBlock {
        start: f64,
        end: f64,
        frames: u32,
        encoding: i64,
        data: Vec<u8>,
    },
    /// The open block's frames, as the recorder hands them over: the writer
    /// thread encodes and compresses them (so the sampling thread does not),
    /// then stores them as `HistoryBlock` does. Of several writes of one
    /// block queued together only the newest is encoded.
    HistoryFrames(crate::history::BlockWrite),
    /// Delete recorded blocks that ended before `older_than` (retention).
    PruneHistory {
        older_than: f64,
    },
}

impl WriteOp {
    /// Short name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            WriteOp::DaemonStart { .. } => "daemon_start",
            WriteOp::DaemonStop { .. } => "daemon_stop",
            WriteOp::SetState { .. } => "set_state",
            WriteOp::Sample { .. } => "sample",
            WriteOp::OpenEvent { .. } => "open_event",
            WriteOp::Snapshot { .. } => "snapshot",
            WriteOp::Peak { .. } => "peak",
            WriteOp::CloseEvent { .. } => "close_event",
            WriteOp::CloseDangling { .. } => "close_dangling",
            WriteOp::InsertCapture { .. } => "insert_capture",
            WriteOp::Stall { .. } => "stall",
            WriteOp::BufferContext { .. } => "buffer_context",
            WriteOp::CaptureData { .. } => "capture_data",
            WriteOp::FinishCapture { .. } => "finish_capture",
            WriteOp::Prune { .. } => "prune",
            WriteOp::HistoryBlock { .. } => "history_block",
            WriteOp::HistoryFrames(_) => "history_frames",
            WriteOp::PruneHistory { .. } => "prune_history",
        }
    }
}

/// Why an op was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("storage queue full ({capacity} writes waiting): write dropped")]
    Full { capacity: usize },
    #[error("storage writer has stopped: write dropped")]
    Closed,
    #[error("storage writer did not finish within {0:?}")]
    Timeout(Duration),
}

/// Counters of a writer, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Ops written.
    pub applied: u64,
    /// Ops that reached the writer but failed (logged and skipped).
    pub failed: u64,
    /// Ops refused because the queue was full or the writer had stopped.
    pub(crate) dropped: u64,
    /// Batches (transactions) committed.
    pub batches: u64,
}

#[derive(Default)]
struct Counters {
    depth: AtomicUsize,
    /// Ops kept for retry after a passing failure.
    pending: AtomicUsize,
    /// The last attempt failed for a passing reason (writes are kept).
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    applied: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    /// The writer connection's `PRAGMA synchronous`, as read back.
    synchronous: AtomicI64,
}

impl Counters {
    fn stats(&self) -> WriterStats {
        WriterStats {
            applied: self.applied.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

enum Msg {
    Op(WriteOp),
    Flush(mpsc::Sender<()>),
    Shutdown,
}

/// A cloneable, never-blocking handle for queueing writes (for the sampler,
/// forensics jobs, ...). Sends fail once the writer has shut down.
#[derive(Clone)]
pub struct WriteSender {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    capacity: usize,
}

impl WriteSender {
    /// Queue `op` without blocking. A full queue drops it (counted in
    /// `dropped()`) and says so.
    pub(crate) fn send(&self, op: WriteOp) -> Result<(), SendError> {
        self.counters.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Op(op)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counters.depth.fetch_sub(1, Ordering::Relaxed);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => SendError::Full {
                        capacity: self.capacity,
                    },
                    TrySendError::Disconnected(_) => SendError::Closed,
                })
            }
        }
    }

    /// Ops dropped so far (queue full or writer gone).
    pub(crate) fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Ops queued and not yet picked up by the writer.
    pub(crate) fn queue_depth(&self) -> usize {
        self.counters.depth.load(Ordering::Relaxed)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn stats(&self) -> WriterStats {
        self.counters.stats()
    }

    /// Whether writes are failing now, and what failed so far.
    pub(crate) fn health(&self) -> WriterHealth {
        let c = &self.counters;
        WriterHealth {
            failing: c.failing.load(Ordering::Relaxed),
            pending: c.pending.load(Ordering::Relaxed) as u64,
            failed: c.failed.load(Ordering::Relaxed),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// What `status` says about the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WriterHealth {
    /// The last attempt failed for a passing reason; writes are kept.
    pub(crate) failing: bool,
    /// Ops kept for retry.
    pub(crate) pending: u64,
    /// Ops given up (each logged by name).
    pub(crate) failed: u64,
    pub(crate) last_error: Option<String>,
}

/// The writer thread. Dropping it shuts it down like `shutdown` (errors are
/// logged).
pub struct Writer {
    sender: WriteSender,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Open the database on a new thread and start applying writes from a
    /// queue of `queue` ops (at least 1). An open error is returned here.
    pub fn spawn(path: PathBuf, queue: usize) -> Result<Writer, StorageError> {
        Self::spawn_with_timeout(path, queue, super::BUSY_TIMEOUT)
    }

    /// `spawn` with another busy timeout (how long one attempt waits for a
    /// lock another process holds).
    pub(crate) fn spawn_with_timeout(
        path: PathBuf,
        queue: usize,
        busy_timeout: Duration,
    ) -> Result<Writer, StorageError> {
        let capacity = queue.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), StorageError>>();
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("rh-storage".into())
            .spawn(move || {
                match Store::open_with_timeout(&thread_path, busy_timeout)
                    .and_then(|store| durable(store, &thread_counters))
                {
                    Ok(store) => {
                        let _ = ready_tx.send(Ok(()));
                        run(store, rx, &thread_counters);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|source| StorageError::Io {
                path: path.clone(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Writer {
                sender: WriteSender {
                    tx,
                    counters,
                    capacity,
                },
                path,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let detail = thread_failure(thread.join());
                Err(StorageError::WriterGone { path, detail })
            }
        }
    }

    /// Queue `op` without blocking; see `WriteSender::send`.
    pub fn send(&self, op: WriteOp) -> Result<(), SendError> {
        self.sender.send(op)
    }

    /// A cloneable handle for other threads.
    pub(crate) fn sender(&self) -> WriteSender {
        self.sender.clone()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.sender.dropped()
    }

    #[cfg(test)]
    pub(crate) fn queue_depth(&self) -> usize {
        self.sender.queue_depth()
    }

    pub(crate) fn stats(&self) -> WriterStats {
        self.sender.stats()
    }

    /// The writer connection's `PRAGMA synchronous` as last set and read
    /// back from SQLite: 2 (FULL) for every batch with a write that must
    /// survive a power cut, 1 (NORMAL) after a batch of only the latest
    /// sample and state rows.
    pub fn synchronous(&self) -> i64 {
        self.sender.counters.synchronous.load(Ordering::Relaxed)
    }

    /// See `WriteSender::health`.
    pub(crate) fn health(&self) -> WriterHealth {
        self.sender.health()
    }

    /// Wait until everything queued before this call is committed. Blocks (up
    /// to `timeout`): for start-up, tests and the storage bench, not the
    /// sampling loop.
    pub fn flush(&self, timeout: Duration) -> Result<(), SendError> {
        let deadline = std::time::Instant::now() + timeout;
        let (ack_tx, ack_rx) = mpsc::channel();
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match self.sender.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Err(SendError::Closed),
                Err(TrySendError::Full(back)) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(SendError::Timeout(timeout));
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match ack_rx.recv_timeout(left) {
            Ok(()) => Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SendError::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(SendError::Closed),
        }
    }

    /// Apply everything queued, commit, stop the thread and join it.
    pub fn shutdown(mut self) -> Result<WriterStats, StorageError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<WriterStats, StorageError> {
        let Some(thread) = self.thread.take() else {
            return Ok(self.stats());
        };
        // Blocking send: the writer is draining, so room appears.
        let _ = self.sender.tx.send(Msg::Shutdown);
        match thread.join() {
            Ok(()) => Ok(self.stats()),
            Err(panic) => Err(StorageError::WriterGone {
                path: self.path.clone(),
                detail: thread_failure(Err(panic)),
            }),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "storage writer did not shut down cleanly");
        }
    }
}

fn thread_failure(joined: std::thread::Result<()>) -> String {
    match joined {
        Ok(()) => "it exited before opening the database".into(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            format!("it panicked: {msg}")
        }
    }
}

/// The writer's connection commits durably: `synchronous=FULL` makes SQLite
/// fsync the WAL at every commit (with `NORMAL` a commit survives a crash of
/// the process but not a power cut until the next checkpoint). The writer
/// commits each batch as soon as it is queued, so a history block handed
/// over every `UPSERT_SECONDS` is on disk a few milliseconds later.
fn durable(store: Store, counters: &Counters) -> Result<Store, StorageError> {
    set_synchronous(&store, FULL, counters)
        .map_err(|e| StorageError::from_sqlite(store.path(), e))?;
    Ok(store)
}

/// `PRAGMA synchronous` values.
const NORMAL: i64 = 1;
const FULL: i64 = 2;

fn set_synchronous(store: &Store, level: i64, counters: &Counters) -> rusqlite::Result<()> {
    store.conn.pragma_update(None, "synchronous", level)?;
    let now: i64 = store
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))?;
    counters.synchronous.store(now, Ordering::Relaxed);
    Ok(())
}

/// Writes that need not survive a power cut: the latest sample and state
/// rows, which the next ones rewrite within seconds.
fn passing(op: &WriteOp) -> bool {
    matches!(op, WriteOp::Sample { .. } | WriteOp::SetState { .. })
}

/// A batch of only passing writes commits with `NORMAL` (no fsync: the
/// once-a-second latest sample would otherwise cost one); any other batch
/// with `FULL`. A `FULL` commit also makes the `NORMAL` ones before it
/// durable (one fsync of the WAL covers it all). A failure to switch is
/// logged; the batch commits at the level it has.
fn sync_for(store: &Store, ops: &[WriteOp], counters: &Counters) {
    let want = if ops.iter().all(passing) {
        NORMAL
    } else {
        FULL
    };
    if counters.synchronous.load(Ordering::Relaxed) == want {
        return;
    }
    if let Err(e) = set_synchronous(store, want, counters) {
        tracing::warn!(error = %e, level = want, "could not set PRAGMA synchronous");
    }
}

/// Event and capture keys → row ids of the current run.
#[derive(Debug, Clone, Default)]
struct Keys {
    events: HashMap<u64, i64>,
    captures: HashMap<u64, i64>,
    /// Event rows of keys already closed, so late captures still find them.
    closed_events: HashMap<u64, i64>,
    /// Stall keys of this run → row ids (a few per day; kept for captures).
    stalls: HashMap<u64, i64>,
}

/// Most recently closed event keys remembered for late captures.
const CLOSED_KEYS_KEPT: usize = 1024;

impl Keys {
    fn event(&self, key: u64) -> Result<i64, Fail> {
        self.events
            .get(&key)
            .copied()
            .ok_or_else(|| Fail::Invalid(format!("event key {key} is not open")))
    }

    fn event_any(&self, key: u64) -> Result<i64, Fail> {
        self.events
            .get(&key)
            .or_else(|| self.closed_events.get(&key))
            .copied()
            .ok_or_else(|| Fail::Invalid(format!("event key {key} is unknown")))
    }

    fn stall(&self, key: u64) -> Result<i64, Fail> {
        self.stalls
            .get(&key)
            .copied()
            .ok_or_else(|| Fail::Invalid(format!("stall key {key} is unknown")))
    }

    fn capture(&self, key: u64) -> Result<i64, Fail> {
        self.captures
            .get(&key)
            .copied()
            .ok_or_else(|| Fail::Invalid(format!("capture key {key} is unknown")))
    }
}

/// What a successful op changes in the key maps.
enum Effect {
    None,
    Opened(u64, i64),
    Closed(u64),
    ForgetAllEvents,
    CaptureOpened(u64, i64),
    CaptureFinished(u64),
    StallRecorded(u64, i64),
}

impl Effect {
    fn apply(self, keys: &mut Keys) {
        match self {
            Effect::None => {}
            Effect::Opened(key, id) => {
                keys.events.insert(key, id);
            }
            Effect::Closed(key) => {
                if let Some(id) = keys.events.remove(&key) {
                    if keys.closed_events.len() >= CLOSED_KEYS_KEPT {
                        keys.closed_events.clear();
                    }
                    keys.closed_events.insert(key, id);
                }
            }
            Effect::ForgetAllEvents => {
                keys.events.clear();
                keys.closed_events.clear();
            }
            Effect::CaptureOpened(key, id) => {
                keys.captures.insert(key, id);
            }
            Effect::CaptureFinished(key) => {
                keys.captures.remove(&key);
            }
            Effect::StallRecorded(key, id) => {
                keys.stalls.insert(key, id);
            }
        }
    }
}

fn apply(conn: &Connection, keys: &Keys, op: &WriteOp) -> Result<Effect, Fail> {
    match op {
        WriteOp::DaemonStart {
            pid,
            started_at,
            boot_time,
            version,
        } => sql::record_daemon_start(conn, *pid, *started_at, *boot_time, version)?,
        WriteOp::DaemonStop { stopped_at } => sql::record_daemon_stop(conn, *stopped_at)?,
        WriteOp::SetState { key, value } => super::state::set_state(conn, key, value)?,
        WriteOp::Sample {
            samples,
            sample_count,
        } => sql::record_sample(conn, samples, *sample_count)?,
        WriteOp::OpenEvent {
            event_key,
            process,
            group,
            boot_time,
            entry_time,
        } => {
            if keys.events.contains_key(event_key) {
                return Err(Fail::Invalid(format!(
                    "event key {event_key} is already open"
                )));
            }
            let wanted = i64::try_from(*event_key)
                .map_err(|_| Fail::Invalid(format!("event key {event_key} is out of range")))?;
            let id = sql::open_event(
                conn,
                Some(wanted),
                process,
                group.as_deref(),
                *boot_time,
                *entry_time,
            )?;
            return Ok(Effect::Opened(*event_key, id));
        }
        WriteOp::Snapshot {
            event_key,
            kind,
            process,
            group,
        } => {
            let g = group.as_deref().map(|s| &s.group);
            sql::add_snapshot(conn, keys.event(*event_key)?, *kind, process, g)?;
        }
        WriteOp::Peak {
            event_key,
            process,
            group,
        } => {
            sql::update_peak(conn, keys.event(*event_key)?, process, group.as_deref())?;
        }
        WriteOp::CloseEvent {
            event_key,
            exit_time,
            reason,
            exit,
            exit_group,
        } => {
            let id = keys.event(*event_key)?;
            let g = exit_group.as_deref().map(|s| &s.group);
            sql::close_event(conn, id, *exit_time, *reason, exit.as_deref(), g)?;
            return Ok(Effect::Closed(*event_key));
        }
        WriteOp::CloseDangling { now, reason } => {
            let closed = sql::close_dangling(conn, *now, *reason)?;
            if closed > 0 {
                tracing::info!(closed, reason = %reason, "closed events left open");
            }
            return Ok(Effect::ForgetAllEvents);
        }
        WriteOp::InsertCapture {
            capture_key,
            owner,
            captured_at,
            trigger,
        } => {
            if keys.captures.contains_key(capture_key) {
                return Err(Fail::Invalid(format!(
                    "capture key {capture_key} is already in use"
                )));
            }
            let id = match owner {
                CaptureOwner::Event(key) => {
                    sql::insert_capture(conn, keys.event_any(*key)?, *captured_at, trigger)?
                }
                CaptureOwner::Stall(key) => {
                    sql::insert_stall_capture(conn, keys.stall(*key)?, *captured_at, trigger)?
                }
            };
            return Ok(Effect::CaptureOpened(*capture_key, id));
        }
        WriteOp::Stall {
            stall_key,
            stall,
            boot_time,
        } => {
            if let Some(&id) = keys.stalls.get(stall_key) {
                sql::update_stall(conn, id, stall)?;
                return Ok(Effect::None);
            }
            let id = sql::insert_stall(conn, stall, *boot_time)?;
            return Ok(Effect::StallRecorded(*stall_key, id));
        }
        WriteOp::BufferContext {
            capture_key,
            frozen,
            culprits,
        } => {
            sql::insert_buffer_context(
                conn,
                keys.capture(*capture_key)?,
                frozen,
                culprits.as_ref(),
            )?;
        }
        WriteOp::CaptureData { capture_key, data } => {
            sql::insert_capture_data(conn, keys.capture(*capture_key)?, data)?;
        }
        WriteOp::FinishCapture {
            capture_key,
            status,
            duration_ms,
            sources,
            error,
        } => {
            sql::finish_capture(
                conn,
                keys.capture(*capture_key)?,
                *status,
                *duration_ms,
                sources.as_ref(),
                error.as_deref(),
            )?;
            return Ok(Effect::CaptureFinished(*capture_key));
        }
        WriteOp::Prune { older_than } => {
            let counts = sql::prune(conn, *older_than)?;
            tracing::info!(
                events = counts.events,
                snapshots = counts.snapshots,
                captures = counts.captures,
                older_than,
                "pruned old events"
            );
        }
        WriteOp::HistoryBlock {
            start,
            end,
            frames,
            encoding,
            data,
        } => super::history::upsert_block(conn, *start, *end, *frames, *encoding, data)?,
        // `run` encodes these before the batch; this is for a direct apply.
        WriteOp::HistoryFrames(block) => super::history::upsert_block(
            conn,
            block.start_s,
            block.end_s,
            block.frame_count(),
            crate::history::BlockWrite::ENCODING,
            &block.encode(),
        )?,
        WriteOp::PruneHistory { older_than } => {
            let blocks = super::history::prune_blocks(conn, *older_than)?;
            if blocks > 0 {
                tracing::info!(blocks, older_than, "pruned old history blocks");
            }
        }
    }
    Ok(Effect::None)
}

/// Writes kept for retry after a failure such as a full disk, at most.
/// Beyond it the least valuable kept write is given up (and named in the log).
pub(crate) const MAX_PENDING: usize = 4096;
/// How often kept writes are retried when nothing new arrives.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The thread's loop: wait for one message, drain whatever else is queued,
/// apply the ops (after any kept for retry) as one transaction, acknowledge
/// flushes, repeat. While writes are kept it wakes every `RETRY_EVERY`.
fn run(mut store: Store, rx: Receiver<Msg>, counters: &Counters) {
    let mut keys = Keys::default();
    let mut pending: Vec<WriteOp> = Vec::new();
    let mut failed_at: Option<std::time::Instant> = None;
    let mut stopping = false;
    while !stopping {
        let first = if pending.is_empty() {
            match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => break, // every sender is gone
            }
        } else {
            let wait =
                failed_at.map_or(Duration::ZERO, |t| RETRY_EVERY.saturating_sub(t.elapsed()));
            match rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    stopping = true;
                    None
                }
            }
        };
        let mut ops = std::mem::take(&mut pending);
        let new_from = ops.len();
        let mut acks = Vec::new();
        let mut take = |msg: Msg| match msg {
            Msg::Op(op) => ops.push(op),
            Msg::Flush(ack) => acks.push(ack),
            Msg::Shutdown => stopping = true,
        };
        if let Some(first) = first {
            take(first);
        }
        while let Ok(msg) = rx.try_recv() {
            take(msg);
        }
        counters
            .depth
            .fetch_sub(ops.len() - new_from, Ordering::Relaxed);
        let ops = encode_history(ops, counters);
        // While writes fail, new ones join the kept ones and the whole lot is
        // tried once per RETRY_EVERY (and at shutdown), not on every arrival.
        let retry_due = stopping || failed_at.is_none_or(|t| t.elapsed() >= RETRY_EVERY);
        if !ops.is_empty() && retry_due {
            sync_for(&store, &ops, counters);
            let kept = apply_batch(&mut store, &mut keys, ops, counters);
            failed_at = (!kept.is_empty()).then(std::time::Instant::now);
            pending = keep_for_retry(kept, &keys, counters);
        } else if !ops.is_empty() {
            pending = keep_for_retry(ops, &keys, counters);
        }
        counters.pending.store(pending.len(), Ordering::Relaxed);
        for ack in acks {
            let _ = ack.send(());
        }
    }
    for op in &pending {
        log_lost(
            op,
            &keys,
            "the writer stopped while writes were still failing",
        );
    }
    counters
        .failed
        .fetch_add(pending.len() as u64, Ordering::Relaxed);
    counters.pending.store(0, Ordering::Relaxed);
    // Let SQLite refresh its planner statistics before the connection closes.
    if let Err(e) = store.conn.execute_batch("PRAGMA optimize") {
        tracing::debug!(error = %e, "PRAGMA optimize failed");
    }
}

/// The start of the block a history write replaces.
fn history_start(op: &WriteOp) -> Option<f64> {
    match op {
        WriteOp::HistoryBlock { start, .. } => Some(*start),
        WriteOp::HistoryFrames(block) => Some(block.start_s),
        _ => None,
    }
}

/// Each `HistoryFrames` encoded and compressed into the `HistoryBlock` it
/// stores (here, on the writer thread, before the transaction begins), except
/// one that a later write of the same block in `ops` replaces anyway: it is
/// counted as applied and skipped.
fn encode_history(ops: Vec<WriteOp>, counters: &Counters) -> Vec<WriteOp> {
    if !ops.iter().any(|op| matches!(op, WriteOp::HistoryFrames(_))) {
        return ops;
    }
    let latest: HashMap<u64, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| history_start(op).map(|s| (s.to_bits(), i)))
        .collect();
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            WriteOp::HistoryFrames(block) => {
                if latest.get(&block.start_s.to_bits()) != Some(&i) {
                    counters.applied.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                out.push(WriteOp::HistoryBlock {
                    start: block.start_s,
                    end: block.end_s,
                    frames: block.frame_count(),
                    encoding: crate::history::BlockWrite::ENCODING,
                    data: block.encode(),
                });
            }
            other => out.push(other),
        }
    }
    out
}

/// Errors that pass: the disk fills up and frees again, a lock is released.
/// An op failing with one is kept and retried, never skipped.
fn retryable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::SystemIoFailure
        )
    )
}

/// Ops whose newest copy supersedes the older ones (same kind and target).
fn supersedes(newer: &WriteOp, older: &WriteOp) -> bool {
    match (newer, older) {
        (WriteOp::Sample { .. }, WriteOp::Sample { .. }) => true,
        (WriteOp::SetState { key: a, .. }, WriteOp::SetState { key: b, .. }) => a == b,
        (
            WriteOp::HistoryBlock { .. } | WriteOp::HistoryFrames(_),
            WriteOp::HistoryBlock { .. } | WriteOp::HistoryFrames(_),
        ) => history_start(newer) == history_start(older),
        (WriteOp::Prune { .. }, WriteOp::Prune { .. })
        | (WriteOp::PruneHistory { .. }, WriteOp::PruneHistory { .. }) => true,
        _ => false,
    }
}

/// Ops that can be given up first when too many are kept: what the next
/// sample, block or prune writes again, and details of an event or capture
/// (its open, peak, close and outcome are kept longest).
fn expendable(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Sample { .. }
            | WriteOp::SetState { .. }
            | WriteOp::HistoryBlock { .. }
            | WriteOp::HistoryFrames(_)
            | WriteOp::Prune { .. }
            | WriteOp::PruneHistory { .. }
            | WriteOp::Snapshot { .. }
            | WriteOp::BufferContext { .. }
            | WriteOp::CaptureData { .. }
    )
}

/// Keep `ops` (in order) for the next attempt: superseded copies go, and past
/// `MAX_PENDING` the oldest expendable op (else the oldest) is given up and
/// named in the log.
fn keep_for_retry(mut ops: Vec<WriteOp>, keys: &Keys, counters: &Counters) -> Vec<WriteOp> {
    let mut i = 0;
    while i < ops.len() {
        if ops[i + 1..].iter().any(|newer| supersedes(newer, &ops[i])) {
            ops.remove(i);
        } else {
            i += 1;
        }
    }
    while ops.len() > MAX_PENDING {
        let at = ops.iter().position(expendable).unwrap_or(0);
        let op = ops.remove(at);
        log_lost(&op, keys, "too many writes kept while writes fail");
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    ops
}

/// What an op is about, for the log: its event (key and, once written, row
/// id), capture or stall key.
fn subject(op: &WriteOp, keys: &Keys) -> (Option<u64>, Option<i64>, Option<u64>) {
    let event = match op {
        WriteOp::OpenEvent { event_key, .. }
        | WriteOp::Snapshot { event_key, .. }
        | WriteOp::Peak { event_key, .. }
        | WriteOp::CloseEvent { event_key, .. } => Some(*event_key),
        WriteOp::InsertCapture {
            owner: CaptureOwner::Event(key),
            ..
        } => Some(*key),
        _ => None,
    };
    let other = match op {
        WriteOp::InsertCapture { capture_key, .. }
        | WriteOp::BufferContext { capture_key, .. }
        | WriteOp::CaptureData { capture_key, .. }
        | WriteOp::FinishCapture { capture_key, .. } => Some(*capture_key),
        WriteOp::Stall { stall_key, .. } => Some(*stall_key),
        _ => None,
    };
    let id = event.and_then(|k| {
        keys.events
            .get(&k)
            .or_else(|| keys.closed_events.get(&k))
            .copied()
    });
    (event, id, other)
}

/// An op given up for good: say exactly which.
fn log_lost(op: &WriteOp, keys: &Keys, why: &str) {
    let (event_key, event_id, key) = subject(op, keys);
    tracing::error!(
        event_name = "write_lost",
        op = op.name(),
        event_key,
        event_id,
        capture_or_stall_key = key,
        reason = why,
        "storage write lost"
    );
}

fn set_error(counters: &Counters, failing: bool, error: Option<String>) {
    counters.failing.store(failing, Ordering::Relaxed);
    if let Some(e) = error
        && let Ok(mut last) = counters.last_error.lock()
    {
        *last = Some(e);
    }
}

/// Attempts at starting a batch while another process holds the write lock
/// (each waits up to the busy timeout).
const BEGIN_ATTEMPTS: u32 = 3;

fn begin(conn: &Connection) -> rusqlite::Result<Transaction<'_>> {
    let mut attempt = 1;
    loop {
        // A failed BEGIN leaves no transaction behind, so retrying is safe.
        let busy = match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            Err(e)
                if attempt < BEGIN_ATTEMPTS
                    && e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                e
            }
            other => return other,
        };
        tracing::warn!(attempt, error = %busy, "database busy; retrying the write batch");
        attempt += 1;
    }
}

/// Apply `ops` in one transaction; each op in a savepoint, so a failing op is
/// rolled back, logged and skipped while the rest commit. An op that fails
/// for a passing reason (`retryable`: disk full, lock held) stops the batch:
/// what came before it commits, and it and every op after it are returned,
/// in order, to be tried again. A batch that cannot begin or commit for such
/// a reason is returned whole.
fn apply_batch(
    store: &mut Store,
    keys: &mut Keys,
    ops: Vec<WriteOp>,
    counters: &Counters,
) -> Vec<WriteOp> {
    let path = store.path().to_path_buf();
    let mut work = keys.clone();
    let mut stopped: Option<(usize, String)> = None;
    let outcome = (|| -> rusqlite::Result<(u64, u64)> {
        let mut tx = begin(&store.conn)?;
        let (mut applied, mut failed) = (0u64, 0u64);
        for (i, op) in ops.iter().enumerate() {
            let sp = tx.savepoint()?;
            match apply(&sp, &work, op) {
                Ok(effect) => {
                    sp.commit()?;
                    effect.apply(&mut work);
                    applied += 1;
                }
                Err(Fail::Sql(e)) if retryable(&e) => {
                    drop(sp); // rolls this op back
                    stopped = Some((i, e.to_string()));
                    break;
                }
                Err(e) => {
                    drop(sp); // rolls this op back
                    log_failed(&path, op, &e, &work);
                    failed += 1;
                    set_error(counters, false, Some(format!("{}: {e}", op.name())));
                }
            }
        }
        tx.commit()?;
        Ok((applied, failed))
    })();
    match outcome {
        Ok((applied, failed)) => {
            *keys = work;
            counters.applied.fetch_add(applied, Ordering::Relaxed);
            counters.failed.fetch_add(failed, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
            match stopped {
                Some((at, error)) => {
                    let kept = ops.len() - at;
                    tracing::warn!(
                        event_name = "writes_failing",
                        path = %path.display(),
                        error = %error,
                        kept,
                        "storage writes failing; kept for retry"
                    );
                    set_error(counters, true, Some(error));
                    ops.into_iter().skip(at).collect()
                }
                None => {
                    if counters.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(
                            event_name = "writes_recovered",
                            path = %path.display(),
                            "storage writes succeed again; kept writes applied"
                        );
                    }
                    Vec::new()
                }
            }
        }
        Err(e) if retryable(&e) => {
            let e = StorageError::from_sqlite(&path, e);
            tracing::warn!(
                event_name = "writes_failing",
                error = %e,
                kept = ops.len(),
                "storage batch failed; kept for retry"
            );
            set_error(counters, true, Some(e.to_string()));
            ops
        }
        Err(e) => {
            let e = StorageError::from_sqlite(&path, e);
            tracing::error!(error = %e, ops = ops.len(), "storage batch lost");
            for op in &ops {
                log_lost(op, keys, "the batch failed");
            }
            set_error(counters, false, Some(e.to_string()));
            counters
                .failed
                .fetch_add(ops.len() as u64, Ordering::Relaxed);
            Vec::new()
        }
    }
}

fn log_failed(path: &Path, op: &WriteOp, e: &Fail, keys: &Keys) {
    let (event_key, event_id, key) = subject(op, keys);
    tracing::warn!(
        op = op.name(),
        event_key,
        event_id,
        capture_or_stall_key = key,
        path = %path.display(),
        error = %e,
        "storage write skipped"
    );
}
