//! Forensics: when the tracker says a process turned critical, capture what it
//! and the machine were doing, on one worker thread fed by a tiny queue that
//! drops rather than grows; each capture's outcome is written through storage.
//!
//! Orchestration, the culprits of the frozen ring buffer and the status logic
//! live here (pure where possible); the sources live in `linux` / `macos`, the
//! report parsers in `spindump` / `oslog`; tools run through `crate::sys::tool`.

// The macOS report parsers are compiled and tested on every platform; only
// the macOS capture calls them.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) mod oslog;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) mod spindump;
pub(crate) mod timefmt;

#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(target_os = "macos")]
pub(crate) mod macos;

use crate::config::ForensicsConfig;
use crate::model::{
    CaptureData, CaptureOwner, CaptureStatus, FrameRecord, GroupSubject, ProcessKey,
    ProcessSamples, ProcessScore, Resource, SourceOutcome, SourceStatus, Sources, ThreadRecord,
};
use crate::ringbuffer::{Frozen, ShareRow};
use crate::storage::{WriteOp, WriteSender};
use crate::sys::tool::{Tool, ToolError, ToolOutput};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Triggers waiting while a capture runs; more are dropped.
const QUEUE: usize = 1;
/// How long the worker waits for room in the storage queue.
const SEND_PATIENCE: Duration = Duration::from_secs(5);
/// Extra time a source job gets past its timeout before it counts as hung
/// (tool-running sources enforce the timeout themselves and report first).
const JOB_GRACE: Duration = Duration::from_secs(1);
/// Culprits named per resource.
pub(crate) const CULPRITS_PER_RESOURCE: usize = 3;
/// Mean share (percent of the machine's capacity) below which a process did
/// not dominate anything.
pub(crate) const CULPRIT_MIN_SHARE: f64 = 1.0;
/// Name of the pseudo-source for the frozen ring buffer.
pub(crate) const BUFFER_SOURCE: &str = "buffer_context";

/// One capture to take.
#[derive(Debug, Clone)]
pub(crate) struct CaptureRequest {
    /// The event or stall it belongs to (by the daemon's keys).
    pub(crate) owner: CaptureOwner,
    /// Why, e.g. "entered critical".
    pub(crate) trigger: String,
    /// The culprit as last sampled (a group's top member).
    pub(crate) process: ProcessScore,
    /// A group's event: the group and its top members, whose threads are
    /// captured too.
    pub(crate) group: Option<GroupSubject>,
    /// The ring buffer at trigger time.
    pub(crate) frozen: Frozen,
    /// Unix seconds of the trigger (a stall's start: logs are read from a
    /// window before it until now).
    pub(crate) at: f64,
}

impl CaptureRequest {
    /// A request for a process that entered (or escalated into) its band.
    pub(crate) fn new(
        event_key: u64,
        process: ProcessScore,
        frozen: Frozen,
        at: f64,
    ) -> CaptureRequest {
        CaptureRequest {
            owner: CaptureOwner::Event(event_key),
            trigger: format!("entered {}", process.band),
            process,
            group: None,
            frozen,
            at,
        }
    }

    /// The same request for a group's event: the trigger names the group's
    /// band and kind, and the capture covers its top members.
    pub(crate) fn for_group(mut self, group: GroupSubject) -> CaptureRequest {
        self.trigger = format!("{} entered {}", group.group.kind, group.group.band);
        self.group = Some(group);
        self
    }

    /// A request for a stall: `process` is its top holder (or the stuck
    /// process), `at` the stall's start.
    pub(crate) fn for_stall(
        stall_key: u64,
        trigger: String,
        process: ProcessScore,
        frozen: Frozen,
        at: f64,
    ) -> CaptureRequest {
        CaptureRequest {
            owner: CaptureOwner::Stall(stall_key),
            trigger,
            process,
            group: None,
            frozen,
            at,
        }
    }
}

/// Captures finished so far, by status (read by the metrics endpoint).
#[derive(Debug, Default)]
pub(crate) struct CaptureCounts {
    pub(crate) complete: AtomicU64,
    pub(crate) partial: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl CaptureCounts {
    pub(crate) fn record(&self, status: CaptureStatus) {
        let counter = match status {
            CaptureStatus::Complete => &self.complete,
            CaptureStatus::Partial => &self.partial,
            CaptureStatus::Failed => &self.failed,
            CaptureStatus::Pending => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(status, count)` for every finished status.
    pub(crate) fn snapshot(&self) -> [(CaptureStatus, u64); 3] {
        [
            (
                CaptureStatus::Complete,
                self.complete.load(Ordering::Relaxed),
            ),
            (CaptureStatus::Partial, self.partial.load(Ordering::Relaxed)),
            (CaptureStatus::Failed, self.failed.load(Ordering::Relaxed)),
        ]
    }
}

/// The forensics worker. Dropping it shuts it down like `shutdown`.
pub(crate) struct Forensics {
    tx: Option<SyncSender<CaptureRequest>>,
    worker: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    counts: Arc<CaptureCounts>,
}

impl Forensics {
    /// Start the worker thread. Captures are written through `writes`.
    pub(crate) fn spawn(config: ForensicsConfig, writes: WriteSender) -> Forensics {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        let counts = Arc::new(CaptureCounts::default());
        let worker_counts = Arc::clone(&counts);
        let worker = std::thread::Builder::new()
            .name("rh-forensics".into())
            .spawn(move || run_worker(&config, &writes, &rx, &flag, &worker_counts));
        let worker = match worker {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the forensics thread; captures are off");
                None
            }
        };
        Forensics {
            tx: worker.as_ref().map(|_| tx),
            worker,
            stopping,
            dropped: Arc::new(AtomicU64::new(0)),
            counts,
        }
    }

    /// Finished captures by status, shared with the worker.
    pub(crate) fn counts(&self) -> Arc<CaptureCounts> {
        Arc::clone(&self.counts)
    }

    /// Queue a capture without blocking. `false` when it was dropped: a capture
    /// is running and another is already waiting, or the worker has stopped.
    pub(crate) fn trigger(&self, req: CaptureRequest) -> bool {
        let Some(tx) = &self.tx else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        match tx.try_send(req) {
            Ok(()) => true,
            Err(TrySendError::Full(req)) | Err(TrySendError::Disconnected(req)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    event_name = "forensics_dropped",
                    owner = ?req.owner,
                    pid = req.process.pid,
                    "a capture is already running and another is queued: trigger dropped"
                );
                false
            }
        }
    }

    /// Triggers dropped so far (each drop is also logged: `forensics_dropped`).
    #[cfg(test)]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Let the running capture finish (within its timeouts), skip queued ones,
    /// and stop the worker.
    pub(crate) fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the forensics thread panicked");
        }
    }
}

impl Drop for Forensics {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_worker(
    config: &ForensicsConfig,
    writes: &WriteSender,
    rx: &Receiver<CaptureRequest>,
    stopping: &AtomicBool,
    counts: &CaptureCounts,
) {
    let mut next_key: u64 = 1;
    while let Ok(req) = rx.recv() {
        if stopping.load(Ordering::Relaxed) {
            tracing::info!(
                owner = ?req.owner,
                "daemon stopping: queued capture skipped"
            );
            continue;
        }
        let key = next_key;
        next_key += 1;
        counts.record(capture(config, writes, key, &req));
    }
}

/// Everything a source needs to know about the capture.
#[derive(Debug, Clone)]
pub(crate) struct SourceContext {
    pub(crate) pid: u32,
    /// Process start, Unix milliseconds (with `pid`, the identity).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) start_time: u64,
    /// Unix seconds of the trigger.
    pub(crate) at: f64,
    /// Per-source time limit.
    pub(crate) timeout: Duration,
    /// Bytes kept per artefact.
    pub(crate) cap: usize,
    /// Seconds of logs before the trigger.
    pub(crate) log_window: f64,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) user_stacks: bool,
    /// Distinguishes this capture's files (macOS tailspin).
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    pub(crate) capture_key: u64,
    /// A group's other top members `(pid, start time)`: their threads are
    /// read too (`member_threads`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) members: Vec<(u32, u64)>,
}

impl SourceContext {
    /// `program` with this capture's time limit and output cap.
    pub(crate) fn tool(&self, program: impl AsRef<std::path::Path>) -> Tool {
        Tool::new(program)
            .timeout(self.timeout)
            .stdout_cap(self.cap)
    }
}

/// Run a capture tool; when it gives nothing usable, the source outcome that
/// says why (missing, denied, timeout or error, with the tool's message).
pub(crate) fn run_tool(tool: &Tool) -> Result<ToolOutput, SourceOutcome> {
    tool.run().map_err(|e| tool_outcome(&e))
}

/// The source outcome of a tool that failed.
pub(crate) fn tool_outcome(e: &ToolError) -> SourceOutcome {
    let status = match e {
        ToolError::NotFound { .. } => SourceStatus::Missing,
        ToolError::Timeout { .. } => SourceStatus::Timeout,
        _ if e.is_denied() => SourceStatus::Denied,
        _ => SourceStatus::Error,
    };
    SourceOutcome::fail(status, e.to_string())
}

/// What one source job gathered, with an outcome per source it covers.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) outcomes: Vec<(String, SourceOutcome)>,
    pub(crate) data: CaptureData,
}

impl Gathered {
    pub(crate) fn outcome(name: &str, outcome: SourceOutcome) -> Gathered {
        Gathered {
            outcomes: vec![(name.to_string(), outcome)],
            data: CaptureData::default(),
        }
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn system(
        name: &str,
        outcome: SourceOutcome,
        key: &str,
        value: serde_json::Value,
    ) -> Gathered {
        let mut g = Gathered::outcome(name, outcome);
        g.data.system.insert(key.to_string(), value);
        g
    }
}

/// A source job: runs on its own thread; `sources` are the names it reports
/// (each marked `timeout` if the job does not answer within `budget`).
pub(crate) struct Job {
    pub(crate) sources: Vec<&'static str>,
    pub(crate) budget: Duration,
    pub(crate) run: Box<dyn FnOnce() -> Gathered + Send>,
}

impl Job {
    pub(crate) fn new(
        sources: &[&'static str],
        budget: Duration,
        run: impl FnOnce() -> Gathered + Send + 'static,
    ) -> Job {
        Job {
            sources: sources.to_vec(),
            budget,
            run: Box::new(run),
        }
    }
}

/// The platform's source jobs.
fn platform_jobs(ctx: &SourceContext) -> Vec<Job> {
    #[cfg(target_os = "linux")]
    {
        linux::jobs(ctx)
    }
    #[cfg(target_os = "macos")]
    {
        macos::jobs(ctx)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = ctx;
        vec![Job::new(&["platform"], Duration::from_secs(1), || {
            Gathered::outcome(
                "platform",
                SourceOutcome::fail(
                    SourceStatus::Missing,
                    "no forensic sources on this platform",
                ),
            )
        })]
    }
}

/// Run every job concurrently; wait for each until its budget. A job that
/// does not answer is left behind (its thread ends when its read returns) and
/// its sources are recorded as timed out.
pub(crate) fn run_jobs(jobs: Vec<Job>) -> (CaptureData, Sources) {
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut sources = Sources::new();
    for job in jobs {
        let (tx, rx) = mpsc::channel();
        let run = job.run;
        let spawned = std::thread::Builder::new()
            .name("rh-forensics-src".into())
            .spawn(move || {
                let _ = tx.send(run());
            });
        match spawned {
            Ok(_) => pending.push((job.sources, job.budget, rx)),
            Err(e) => {
                for s in job.sources {
                    sources.insert(
                        s.to_string(),
                        SourceOutcome::fail(
                            SourceStatus::Error,
                            format!("cannot start a thread: {e}"),
                        ),
                    );
                }
            }
        }
    }
    let mut data = CaptureData::default();
    for (names, budget, rx) in pending {
        let left = (started + budget).saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(g) => {
                sources.extend(g.outcomes);
                merge_into(&mut data, g.data);
            }
            Err(_) => {
                for s in names {
                    sources.insert(
                        s.to_string(),
                        SourceOutcome::fail(
                            SourceStatus::Timeout,
                            format!("no answer within {:.1}s", budget.as_secs_f64()),
                        ),
                    );
                }
            }
        }
    }
    (data, sources)
}

/// Merge a fragment: threads already known (same pid and tid) take the
/// fragment's frames and fill their unknown fields; others are appended.
pub(crate) fn merge_into(data: &mut CaptureData, mut other: CaptureData) {
    let threads = std::mem::take(&mut other.threads);
    for t in threads {
        match data
            .threads
            .iter_mut()
            .find(|d| d.tid == t.tid && (d.pid == t.pid || d.pid.is_none() || t.pid.is_none()))
        {
            Some(d) => {
                if d.frames.is_empty() {
                    d.frames = t.frames;
                }
                d.name = d.name.take().or(t.name);
                d.state = d.state.take().or(t.state);
                d.wchan = d.wchan.take().or(t.wchan);
                d.cpu_time = d.cpu_time.or(t.cpu_time);
                d.samples = d.samples.or(t.samples);
                d.priority = d.priority.or(t.priority);
                d.kernel_stack = d.kernel_stack.take().or(t.kernel_stack);
                d.pid = d.pid.or(t.pid);
            }
            None => data.threads.push(t),
        }
    }
    data.merge(other);
}

/// Take one capture and write it: InsertCapture (pending), the sources,
/// BufferContext, CaptureData, FinishCapture. Returns the capture's status.
pub(crate) fn capture(
    config: &ForensicsConfig,
    writes: &WriteSender,
    key: u64,
    req: &CaptureRequest,
) -> CaptureStatus {
    let started = Instant::now();
    let captured_at = crate::unix_now();
    tracing::info!(
        event_name = "forensics_start",
        owner = ?req.owner,
        pid = req.process.pid,
        command = %crate::format::escape(&req.process.command),
        trigger = %req.trigger,
    );
    send(
        writes,
        WriteOp::InsertCapture {
            capture_key: key,
            owner: req.owner,
            captured_at,
            trigger: req.trigger.clone(),
        },
    );
    let ctx = SourceContext {
        pid: req.process.pid,
        start_time: req.process.start_time_ms,
        at: req.at,
        timeout: Duration::from_secs_f64(config.source_timeout.max(0.05)),
        cap: usize::try_from(config.max_artifact_bytes).unwrap_or(usize::MAX),
        log_window: config.log_window_minutes.max(0.0) * 60.0,
        user_stacks: config.user_stacks,
        capture_key: key,
        members: req.group.as_ref().map_or_else(Vec::new, |g| {
            g.members
                .iter()
                .filter(|m| m.pid != req.process.pid)
                .map(|m| (m.pid, m.start_time_ms))
                .collect()
        }),
    };
    let (mut data, mut sources) = run_jobs(platform_jobs(&ctx));
    if let Some(g) = &req.group {
        // Which group this capture is about, and the members it covers.
        data.system.insert(
            "group".to_string(),
            serde_json::json!({
                "kind": g.group.kind,
                "key": g.group.key,
                "name": g.group.name,
                "member_count": g.group.member_count,
                "score": g.group.score,
                "band": g.group.band,
                "members": g.members,
            }),
        );
    }

    let (kept, outcome) = trim_frozen(&req.frozen.samples, config.max_artifact_bytes);
    sources.insert(BUFFER_SOURCE.to_string(), outcome);
    let culprits = culprits(&req.frozen.shares, CULPRITS_PER_RESOURCE);
    send(
        writes,
        WriteOp::BufferContext {
            capture_key: key,
            frozen: kept,
            culprits: serde_json::to_value(&culprits).ok(),
        },
    );
    let status = capture_status(&sources);
    let error = problems(&sources);
    let threads = data.threads.len();
    let logs = data.logs.len();
    if !data.is_empty() {
        send(
            writes,
            WriteOp::CaptureData {
                capture_key: key,
                data: Box::new(data),
            },
        );
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    send(
        writes,
        WriteOp::FinishCapture {
            capture_key: key,
            status,
            duration_ms: Some(duration_ms),
            sources: serde_json::to_value(&sources).ok(),
            error: error.clone(),
        },
    );
    tracing::info!(
        event_name = "forensics_done",
        owner = ?req.owner,
        pid = req.process.pid,
        status = %status,
        duration_ms,
        threads,
        logs,
        problems = error.as_deref().unwrap_or(""),
    );
    status
}

/// Queue a write, waiting (this is not the sampling thread) up to
/// `SEND_PATIENCE` for room in the storage queue.
fn send(writes: &WriteSender, op: WriteOp) {
    let deadline = Instant::now() + SEND_PATIENCE;
    while writes.queue_depth() >= writes.capacity() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let name = op.name();
    if let Err(e) = writes.send(op) {
        tracing::warn!(event_name = "forensics_write_dropped", op = name, error = %e);
    }
}

/// Complete when every source answered; failed when no source (besides the
/// ring buffer, which is always there) got anything; partial otherwise.
pub(crate) fn capture_status(sources: &Sources) -> CaptureStatus {
    let gathered: Vec<&SourceOutcome> = sources
        .iter()
        .filter(|(k, _)| k.as_str() != BUFFER_SOURCE)
        .map(|(_, v)| v)
        .collect();
    let ok = gathered
        .iter()
        .filter(|o| o.status == SourceStatus::Ok)
        .count();
    if ok == 0 {
        CaptureStatus::Failed
    } else if ok == gathered.len() && sources.values().all(|o| o.status == SourceStatus::Ok) {
        CaptureStatus::Complete
    } else {
        CaptureStatus::Partial
    }
}

/// "source: status (detail); ..." for every source that is not ok.
pub(crate) fn problems(sources: &Sources) -> Option<String> {
    let parts: Vec<String> = sources
        .iter()
        .filter(|(_, o)| o.status != SourceStatus::Ok)
        .map(|(k, o)| format!("{k}: {} ({})", o.status, o.detail))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The newest samples of the frozen window whose JSON fits in `cap` bytes.
pub(crate) fn trim_frozen(
    frozen: &[Arc<ProcessSamples>],
    cap: u64,
) -> (Vec<ProcessSamples>, SourceOutcome) {
    let mut total = 0u64;
    let mut keep = 0usize;
    for s in frozen.iter().rev() {
        let size = serde_json::to_vec(s.as_ref()).map_or(0, |v| v.len() as u64 + 1);
        if total + size > cap {
            break;
        }
        total += size;
        keep += 1;
    }
    let kept: Vec<ProcessSamples> = frozen[frozen.len() - keep..]
        .iter()
        .map(|s| ProcessSamples::clone(s))
        .collect();
    let span = match (kept.first(), kept.last()) {
        (Some(a), Some(b)) => b.timestamp_s - a.timestamp_s,
        _ => 0.0,
    };
    let outcome = if frozen.is_empty() {
        SourceOutcome::fail(SourceStatus::Missing, "the ring buffer was empty")
    } else if keep == frozen.len() {
        SourceOutcome::ok(format!("{keep} samples ({span:.1}s)"), total)
    } else if keep == 0 {
        SourceOutcome::fail(
            SourceStatus::Error,
            format!("even the newest sample exceeds max_artifact_bytes ({cap})"),
        )
    } else {
        SourceOutcome::ok(
            format!(
                "kept the newest {keep} of {} samples ({span:.1}s) within max_artifact_bytes ({cap})",
                frozen.len()
            ),
            total,
        )
    };
    (kept, outcome)
}

/// A process that dominated one resource over the frozen window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Culprit {
    pub(crate) resource: Resource,
    pub(crate) pid: u32,
    /// Process start, Unix milliseconds (`start_time_ms`; captures before
    /// it carried its unit said `start_time`).
    #[serde(rename = "start_time_ms", alias = "start_time")]
    pub(crate) start_time: u64,
    /// Untrusted: escaped whenever printed.
    pub(crate) command: String,
    /// Mean share over the whole window (absent samples count as 0), percent
    /// of the machine's capacity.
    pub(crate) mean_share: f64,
    pub(crate) peak_share: f64,
    /// Fraction of the window's samples in which it used this resource most.
    pub(crate) led_fraction: f64,
    /// Samples it appeared in.
    pub(crate) samples: usize,
}

#[derive(Default)]
struct Tally {
    sum: f64,
    peak: f64,
    seen: usize,
    led: usize,
    command: String,
}

/// For each resource, the processes that dominated it over the window: the
/// highest mean shares (at least `CULPRIT_MIN_SHARE`), at most `per_resource`.
pub(crate) fn culprits(window: &[Arc<[ShareRow]>], per_resource: usize) -> Vec<Culprit> {
    let n = window.len();
    if n == 0 {
        return Vec::new();
    }
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let mut out = Vec::new();
    for &resource in Resource::ALL {
        let mut tallies: HashMap<ProcessKey, Tally> = HashMap::new();
        for rows in window {
            let mut leader: Option<(ProcessKey, f64)> = None;
            for p in rows.iter() {
                let Some(share) = p.share(resource).filter(|v| v.is_finite() && *v > 0.0) else {
                    continue;
                };
                let t = tallies.entry(p.key).or_default();
                t.sum += share;
                t.peak = t.peak.max(share);
                t.seen += 1;
                if t.command.is_empty() {
                    t.command = p.command.to_string();
                }
                if leader.is_none_or(|(_, best)| share > best) {
                    leader = Some((p.key, share));
                }
            }
            if let Some((key, _)) = leader
                && let Some(t) = tallies.get_mut(&key)
            {
                t.led += 1;
            }
        }
        let mut ranked: Vec<Culprit> = tallies
            .into_iter()
            .map(|(key, t)| Culprit {
                resource,
                pid: key.pid,
                start_time: key.start_time_ms,
                command: t.command,
                mean_share: round(t.sum / n as f64),
                peak_share: round(t.peak),
                led_fraction: round(t.led as f64 / n as f64),
                samples: t.seen,
            })
            .filter(|c| c.mean_share >= CULPRIT_MIN_SHARE)
            .collect();
        ranked.sort_by(|a, b| {
            b.mean_share
                .total_cmp(&a.mean_share)
                .then(a.pid.cmp(&b.pid))
        });
        ranked.truncate(per_resource);
        out.extend(ranked);
    }
    out
}

/// Indexes of the hottest path through a frame tree: from the root with the
/// most samples, always into the child with the most (earliest on ties).
pub(crate) fn hottest_path(frames: &[FrameRecord]) -> Vec<usize> {
    let mut path = Vec::new();
    let mut parent = None;
    loop {
        let best = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.parent == parent)
            .max_by(|(i, a), (j, b)| {
                a.samples
                    .unwrap_or(0)
                    .cmp(&b.samples.unwrap_or(0))
                    .then(j.cmp(i))
            });
        match best {
            Some((i, _)) => {
                path.push(i);
                parent = Some(i);
            }
            None => return path,
        }
    }
}

/// Threads per state (unknown as "unknown").
pub(crate) fn threads_by_state(threads: &[ThreadRecord]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in threads {
        *out.entry(t.state.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    out
}

/// The stack most of the culprit's threads are in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HotStack {
    /// `kernel` (Linux kernel stacks, innermost first) or `sampled` (the
    /// hottest path of a sampled frame tree, outermost first).
    pub(crate) kind: &'static str,
    pub(crate) frames: Vec<String>,
    /// Threads sharing it (kernel) or samples through its leaf (sampled).
    pub(crate) weight: u64,
}

/// Render one frame as `symbol (module)`.
pub(crate) fn frame_label(f: &FrameRecord) -> String {
    let star = if f.kernel { "*" } else { "" };
    match (&f.symbol, &f.module) {
        (Some(s), Some(m)) => format!("{star}{s} ({m})"),
        (Some(s), None) => format!("{star}{s}"),
        (None, Some(m)) => match f.offset {
            Some(o) => format!("{star}??? ({m} + {o})"),
            None => format!("{star}??? ({m})"),
        },
        (None, None) => match f.address {
            Some(a) => format!("{star}??? [{a:#x}]"),
            None => format!("{star}???"),
        },
    }
}

/// The hottest stack of a capture: the non-empty kernel stack shared by the
/// most threads, or else the hottest sampled path of the busiest thread.
pub(crate) fn hottest_stack(threads: &[ThreadRecord]) -> Option<HotStack> {
    let mut groups: Vec<(&Vec<String>, u64)> = Vec::new();
    for t in threads {
        let Some(stack) = t.kernel_stack.as_ref().filter(|s| !s.is_empty()) else {
            continue;
        };
        match groups.iter_mut().find(|(s, _)| *s == stack) {
            Some((_, n)) => *n += 1,
            None => groups.push((stack, 1)),
        }
    }
    // max_by keeps the last maximum; reverse so the first-seen stack wins ties.
    if let Some((stack, n)) = groups.into_iter().rev().max_by_key(|(_, n)| *n) {
        return Some(HotStack {
            kind: "kernel",
            frames: stack.clone(),
            weight: n,
        });
    }
    let busiest = threads
        .iter()
        .filter(|t| !t.frames.is_empty())
        .max_by_key(|t| {
            t.samples
                .or_else(|| t.frames.first().and_then(|f| f.samples))
                .unwrap_or(0)
        })?;
    let path = hottest_path(&busiest.frames);
    let leaf = path.last().and_then(|&i| busiest.frames.get(i));
    Some(HotStack {
        kind: "sampled",
        frames: path
            .iter()
            .map(|&i| frame_label(&busiest.frames[i]))
            .collect(),
        weight: leaf.and_then(|f| f.samples).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests;
