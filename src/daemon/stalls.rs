//! The daemon's side of stall detection: read the clocks, PSI and the
//! monitor's own counters each sample (kept files, a few microseconds), feed
//! the pure `StallDetector`, and act on what it reports — log, record, stream,
//! count, notify and, for long stalls, take a forensic capture.

use super::observers::Observers;
use crate::config::StallsConfig;
use crate::forensics::{CaptureRequest, Forensics};
use crate::ipc::hub::Hub;
use crate::model::{ProcessScore, Stall};
use crate::platform::probe::{self, StallProbe};
use crate::ringbuffer::RingBuffer;
#[cfg(target_os = "linux")]
use crate::stalls::kernel;
use crate::stalls::kernel::KernelVerdict;
use crate::stalls::{Observation, StallCommand, StallDetector};
use crate::storage::{WriteOp, Writer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
#[cfg(target_os = "linux")]
use std::sync::mpsc::{TrySendError, sync_channel};
use tracing::{info, warn};

/// Kernel verdicts waiting for the loop; more are dropped.
#[cfg(target_os = "linux")]
const KERNEL_QUEUE: usize = 16;

/// Follow `/dev/kmsg` from now on, on its own thread (a blocking read per
/// record; the thread ends with the process). `None` when the kernel log is
/// unreadable here (not root and `dmesg_restrict`, or not Linux): hung-task,
/// lockup and OOM-kill verdicts are then not recorded, and `status` says so.
fn follow_kernel_log() -> Result<Receiver<KernelVerdict>, String> {
    #[cfg(target_os = "linux")]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open("/dev/kmsg").map_err(|e| format!("/dev/kmsg: {e}"))?;
        // Only what happens from now on: the ring's history is not ours.
        f.seek(SeekFrom::End(0))
            .map_err(|e| format!("/dev/kmsg: {e}"))?;
        let (tx, rx) = sync_channel(KERNEL_QUEUE);
        std::thread::Builder::new()
            .name("kernel-log".into())
            .spawn(move || {
                let mut buf = vec![0u8; 8192];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&buf[..n]);
                            if let Some(v) = kernel::parse(&text)
                                && let Err(TrySendError::Disconnected(_)) = tx.try_send(v)
                            {
                                return;
                            }
                        }
                        // Records overwritten before we read them: go on.
                        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            warn!(event_name = "kernel_log_lost", error = %e);
                            return;
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the kernel-log thread: {e}"))?;
        Ok(rx)
    }
    #[cfg(not(target_os = "linux"))]
    Err("no /dev/kmsg on this OS".into())
}

pub struct StallWatch {
    kernel_log: Result<Receiver<KernelVerdict>, String>,
    detector: StallDetector,
    probe: StallProbe,
    continued: Arc<AtomicBool>,
    prev_wall_s: Option<f64>,
    interval_s: f64,
    capture_min_s: f64,
    capture_debounce_s: f64,
    last_capture_s: Option<f64>,
    boot_time: u64,
}

impl StallWatch {
    /// `exclude`: the monitor's own pids. Says once, in the log, what this
    /// machine lacks (no PSI: pressure stalls are not detected).
    pub fn new(
        config: &StallsConfig,
        interval_s: f64,
        capture_debounce_s: f64,
        boot_time: u64,
        exclude: Vec<u32>,
    ) -> StallWatch {
        let continued = Arc::new(AtomicBool::new(false));
        if let Err(e) =
            signal_hook::flag::register(signal_hook::consts::SIGCONT, Arc::clone(&continued))
        {
            warn!(event_name = "stall_sigcont_unavailable", error = %e, "a stop (SIGSTOP) will read as an unknown cause");
        }
        let probe = StallProbe::open();
        if config.enabled && !probe.has_pressure() {
            warn!(
                event_name = "pressure_unavailable",
                "no /proc/pressure here (kernel without PSI, or not Linux): memory, io and cpu pressure stalls are not detected"
            );
        }
        let kernel_log = if config.enabled {
            follow_kernel_log()
        } else {
            Err("stall detection is off".into())
        };
        if let Err(e) = &kernel_log {
            warn!(
                event_name = "kernel_log_unavailable",
                error = %e,
                "hung-task, lockup and OOM-kill verdicts are not recorded"
            );
        }
        StallWatch {
            kernel_log,
            detector: StallDetector::new(config.clone(), exclude),
            probe,
            continued,
            prev_wall_s: None,
            interval_s,
            capture_min_s: config.capture_min_seconds,
            capture_debounce_s: capture_debounce_s.max(0.0),
            last_capture_s: None,
            boot_time,
        }
    }

    /// What the detectors watch here, one line for `status`.
    pub fn describe(&self) -> String {
        if !self.detector.config().enabled {
            return "off ([stalls] enabled = false)".into();
        }
        let pressure = if self.probe.has_pressure() {
            "memory/io/cpu pressure (PSI total counters, every sample)"
        } else {
            "no pressure stalls (no /proc/pressure here)"
        };
        let kernel = match &self.kernel_log {
            Ok(_) => "kernel verdicts (/dev/kmsg)".to_string(),
            Err(e) => format!("no kernel verdicts ({e})"),
        };
        format!("scheduling gaps, {pressure}, stuck tasks in D, {kernel}")
    }

    /// Feed one sample taken at Unix time `now`; returns what was reported.
    pub fn observe(&mut self, now: f64, all: &[ProcessScore]) -> Vec<StallCommand> {
        // The flag before the clocks: a stop that lands between the two then
        // shows as a gap at this sample, with its SIGCONT seen at the next
        // (the detector holds a gap it cannot explain for one sample). Taken
        // the other way round, this sample could swallow the SIGCONT of a stop
        // whose gap only the next sample sees.
        let continued = self.continued.swap(false, Ordering::Relaxed);
        let clock = probe::clocks();
        let psi = self.probe.pressure();
        let own = self.probe.own();
        let rates_over_s = self.prev_wall_s.map_or(0.0, |p| now - p);
        self.prev_wall_s = Some(now);
        let obs = Observation {
            wall_s: now,
            clock,
            interval_s: self.interval_s,
            rates_over_s,
            own,
            continued,
            psi,
            processes: all,
        };
        let mut out = self.detector.update(&obs);
        if let Ok(rx) = &self.kernel_log {
            while let Ok(v) = rx.try_recv() {
                out.push(self.detector.kernel(&v, now));
            }
        }
        out
    }

    /// Open stalls end now (the daemon is stopping).
    pub fn close_all(&mut self, now: f64) -> Vec<StallCommand> {
        self.detector.close_all(now)
    }

    /// Log, record, stream, count and notify one command; start a capture
    /// for a stall long enough (debounced).
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        cmd: &StallCommand,
        now: f64,
        all: &[ProcessScore],
        writer: &Writer,
        hub: &Hub,
        observers: &mut Observers,
        forensics: Option<&Forensics>,
        ring: &RingBuffer,
    ) {
        let (key, stall, first) = match cmd {
            StallCommand::Record { key, stall } => (*key, stall, true),
            StallCommand::Open { key, stall } => (*key, stall, true),
            StallCommand::Close { key, stall } => (*key, stall, false),
        };
        info!(
            event_name = if first { "stall" } else { "stall_end" },
            stall = key,
            kind = %stall.kind,
            duration_s = stall.duration_s,
            verdict = %crate::format::escape(&stall.verdict),
        );
        super::send(
            writer,
            WriteOp::Stall {
                stall_key: key,
                stall: Box::new(stall.clone()),
                boot_time: self.boot_time,
            },
        );
        hub.publish_stall(stall);
        hub.update_daemon_info(|d| d.last_stall = Some(Box::new(stall.clone())));
        if first {
            observers.stall(stall);
        }
        if stall.duration_s >= self.capture_min_s
            && let Some(f) = forensics
        {
            self.capture(key, stall, now, all, f, ring);
        }
    }

    fn capture(
        &mut self,
        key: u64,
        stall: &Stall,
        now: f64,
        all: &[ProcessScore],
        f: &Forensics,
        ring: &RingBuffer,
    ) {
        if self
            .last_capture_s
            .is_some_and(|t| now - t < self.capture_debounce_s && now >= t)
        {
            return;
        }
        // The culprit to capture: the stuck process, else the top holder,
        // as it is in this sample.
        let pid = stall.pid.or_else(|| stall.holders.first().map(|h| h.pid));
        let Some(process) = pid.and_then(|pid| all.iter().find(|p| p.pid == pid)) else {
            return;
        };
        let trigger = format!("stall: {} {:.1} s", stall.kind, stall.duration_s);
        if f.trigger(CaptureRequest::for_stall(
            key,
            trigger,
            process.clone(),
            ring.freeze(),
            stall.start_s,
        )) {
            self.last_capture_s = Some(now);
        }
    }
}
