//! The embedded sampler: when no daemon is running, `tui` samples in-process
//! on a thread and feeds the same loop the daemon would, as
//! `ConnectionState::Embedded`, an `initial_state` describing itself, then
//! `sample` messages at `system.sample_interval`.

use super::app::{App, ConnectionState};
use super::{EventReader, TuiError, TuiInput, TuiRequest, run_loop};
use crate::collect::Sampler;
use crate::config::Config;
use crate::ipc::protocol::{DaemonInfo, MAX_FULL_TABLE, PROTOCOL_VERSION, ServerMessage};
use crate::model::ProcessSamples;
use crate::platform;
use crate::platform::ProcessSource;
use crate::ringbuffer::RingBuffer;
use crate::schedule::Schedule;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Samples queued for the dashboard; beyond this a slow screen skips samples
/// rather than stalling the sampler.
const QUEUE: usize = 32;
/// Longest sleep between checks of the stop flag.
const SLICE: Duration = Duration::from_millis(100);

/// Sets the flag when dropped, so the sampler thread stops however the
/// dashboard ends (return, error or panic).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The embedded sampler's interval, changed by the dashboard's `+`/`-`:
/// seconds as `f64` bits, 0 for the configured one.
#[derive(Clone, Default)]
pub(crate) struct Interval(Arc<AtomicU64>);

impl Interval {
    pub(crate) fn set(&self, secs: f64) {
        if secs.is_finite() && secs > 0.0 {
            self.0.store(secs.to_bits(), Ordering::Relaxed);
        }
    }

    fn get(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }
}

/// Run the dashboard over an in-process sampler (no daemon). Returns when the
/// user quits; the sampler thread is stopped and joined.
pub fn run_embedded(config: Config, reader: EventReader) -> Result<(), TuiError> {
    let source = platform::native_source()?;
    let app = App::new(&config.tui, &config.bands);
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    // Only the interval is served here: events are the daemon's.
    let (requests, served) = std::sync::mpsc::channel();
    let interval = Interval::default();
    let setter = interval.clone();
    std::thread::Builder::new()
        .name("tui-requests".into())
        .spawn(move || {
            // Ends when the dashboard drops its sender.
            while let Ok(req) = served.recv() {
                if let TuiRequest::SetInterval { secs } = req {
                    setter.set(secs);
                }
            }
        })
        .map_err(TuiError::SamplerThread)?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("tui-sampler".into())
        .spawn(move || sample_loop(source, config, &tx, &thread_stop, &interval))
        .map_err(TuiError::SamplerThread)?;
    let stopper = StopOnDrop(stop);
    let result = run_loop(app, rx, requests, reader);
    drop(stopper);
    let _ = handle.join();
    result
}

/// The sampler thread: announce, prime, then one `sample` per interval until
/// `stop` is set or the dashboard hangs up.
pub(crate) fn sample_loop<S: ProcessSource>(
    source: S,
    config: Config,
    tx: &SyncSender<TuiInput>,
    stop: &AtomicBool,
    wanted: &Interval,
) {
    let mut interval =
        Duration::from_secs_f64(wanted.get().unwrap_or(config.system.sample_interval));
    // Only the ranges are used: nothing is captured from this window.
    let mut ring = RingBuffer::new(config.system.ring_buffer_size).keeping_whole(1);
    let mut sampler = Sampler::new(source, config);
    let system = sampler.system();
    let info = DaemonInfo {
        pid: std::process::id(),
        started_at: crate::unix_now(),
        sample_interval: interval.as_secs_f64(),
        sample_count: 0,
        boot_time: system.boot_time_ms,
        open_events: 0,
        last_stall: None,
        health: Default::default(),
    };
    let hello = [
        TuiInput::Connection(ConnectionState::Embedded),
        TuiInput::Message(ServerMessage::InitialState {
            version: PROTOCOL_VERSION,
            schema_version: Some(crate::json::SCHEMA_VERSION),
            host: Some(crate::sys::params::host().to_string()),
            daemon: info,
            history: Vec::new(),
        }),
    ];
    for msg in hello {
        if tx.send(msg).is_err() {
            return;
        }
    }
    // The first round primes the counters; rates need two readings.
    sampler.sample(crate::unix_now());
    let mut epoch = Instant::now();
    let mut schedule = Schedule::new(interval, interval);
    while !stop.load(Ordering::Relaxed) {
        if let Some(w) = wanted.get().map(Duration::from_secs_f64)
            && w != interval
        {
            // A new pace from the dashboard: the next tick one new interval away.
            interval = w;
            epoch = Instant::now();
            schedule = Schedule::new(interval, interval);
        }
        let now = epoch.elapsed();
        // A tick that fell behind (suspended, overloaded) skips the missed ones.
        if schedule.tick(now).is_none() {
            std::thread::sleep(schedule.until_due(now).min(SLICE));
            continue;
        }
        // Every process, worst first (the daemon's full table).
        let (top, all) = sampler.sample_all(crate::unix_now());
        let mut rogues = all.to_vec();
        rogues.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
        rogues.truncate(MAX_FULL_TABLE);
        let full = ProcessSamples { rogues, ..top };
        let stored = ring.push(full);
        let msg = TuiInput::Message(ServerMessage::Sample {
            samples: (*stored).clone(),
        });
        match tx.try_send(msg) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}
