//! What the sampling loop reports to besides storage and the live stream: the
//! metrics feed (and its HTTP endpoint), desktop notifications, and the
//! service manager (systemd readiness and watchdog).
//!
//! Everything here is cheap on the loop's side: atomics, a `try_lock`, a
//! `try_send`, a datagram every few seconds. The real work happens on the
//! metrics and notification threads.

use crate::config::{Config, Paths};
use crate::forensics::CaptureCounts;
use crate::metrics::Feed;
use crate::metrics::server::MetricsServer;
use crate::model::{Band, ProcessSamples, ProcessScore, Stall};
use crate::notifications::{Desktop, Notifier};
use crate::storage::WriteSender;
use crate::tracker::{EventId, TrackerCommand};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info};

pub(crate) struct Observers {
    feed: Option<Arc<Feed>>,
    server: Option<MetricsServer>,
    notifier: Option<Notifier>,
    /// Highest band reached by each open event (for `events_closed{band}`).
    peaks: HashMap<EventId, Band>,
    service: ServiceManager,
}

impl Observers {
    /// Start what the configuration enables. A metrics endpoint that cannot
    /// listen is logged as an error; the daemon records all the same.
    pub(crate) fn start(
        config: &Config,
        paths: &Paths,
        writes: WriteSender,
        captures: Option<Arc<CaptureCounts>>,
    ) -> Observers {
        let mut feed = None;
        let mut server = None;
        if config.metrics.enabled {
            let mut f = Feed::new(config.metrics.top_n, config.bands.clone())
                .with_writer(writes)
                .with_database(paths.database());
            if let Some(c) = captures {
                f = f.with_captures(c);
            }
            let f = Arc::new(f);
            match config.metrics.listen_addr() {
                Ok(addr) => match MetricsServer::start(addr, Arc::clone(&f)) {
                    Ok(s) => {
                        info!(
                            event_name = "metrics_listening",
                            addr = %s.local_addr(),
                            "serving metrics at http://{}/metrics",
                            s.local_addr()
                        );
                        server = Some(s);
                    }
                    Err(e) => error!(event_name = "metrics_unavailable", error = %e),
                },
                Err(e) => error!(event_name = "metrics_unavailable", error = %e),
            }
            feed = Some(f);
        }
        Observers {
            feed,
            server,
            notifier: Notifier::spawn(&config.notifications, Box::new(Desktop)),
            peaks: HashMap::new(),
            service: ServiceManager::from_env(),
        }
    }

    /// A stall was first reported: count it, notify the desktop.
    pub fn stall(&mut self, s: &Stall) {
        if let Some(f) = &self.feed {
            f.stall(s.kind, Duration::from_secs_f64(s.duration_s.max(0.0)));
        }
        if let Some(n) = &mut self.notifier
            && n.stall(s)
            && let Some(f) = &self.feed
        {
            f.notification_sent();
        }
    }

    /// Processes in the critical band among `all` (counted only when the
    /// metrics endpoint wants it).
    pub(crate) fn count_critical(&self, all: &[ProcessScore]) -> u64 {
        if self.feed.is_none() {
            return 0;
        }
        all.iter().filter(|p| p.band == Band::Critical).count() as u64
    }

    /// One tracker command.
    pub(crate) fn command(&mut self, cmd: &TrackerCommand) {
        // A group's event is counted by the group's band; the desktop
        // notification stays about processes.
        let band_of = |p: &ProcessScore| cmd.group().map_or(p.band, |g| g.group.band);
        let is_process = cmd.group().is_none();
        let entered_critical = match cmd {
            TrackerCommand::Open { event, process, .. } => {
                let band = band_of(process);
                self.peaks.insert(*event, band);
                if let Some(f) = &self.feed {
                    f.event_opened(band);
                }
                (is_process && band == Band::Critical).then_some(process)
            }
            TrackerCommand::Escalate {
                event, to, process, ..
            } => {
                let peak = self.peaks.entry(*event).or_insert(*to);
                *peak = (*peak).max(*to);
                (is_process && *to == Band::Critical).then_some(process)
            }
            TrackerCommand::Peak { event, process, .. } => {
                let band = band_of(process);
                let peak = self.peaks.entry(*event).or_insert(band);
                *peak = (*peak).max(band);
                None
            }
            TrackerCommand::Close { event, process, .. } => {
                let peak = self
                    .peaks
                    .remove(event)
                    .or(process.as_ref().map(band_of))
                    .unwrap_or(Band::Low);
                if let Some(f) = &self.feed {
                    f.event_closed(peak);
                }
                None
            }
            TrackerCommand::Checkpoint { .. } | TrackerCommand::TriggerForensics { .. } => None,
        };
        if let (Some(p), Some(n)) = (entered_critical, self.notifier.as_mut())
            && n.critical(p)
            && let Some(f) = &self.feed
        {
            f.notification_sent();
        }
    }

    /// One sample done.
    pub(crate) fn sample(
        &mut self,
        stored: &Arc<ProcessSamples>,
        critical_now: u64,
        late: Duration,
        sample_count: u64,
        open_events: u64,
    ) {
        if let Some(f) = &self.feed {
            f.sample(stored, critical_now, late, open_events);
        }
        self.service.sampled(sample_count, open_events);
    }

    pub(crate) fn ticks_skipped(&self, n: u64) {
        if let Some(f) = &self.feed {
            f.ticks_skipped(n);
        }
    }

    /// Every turn of the loop (also while it sleeps between samples).
    pub(crate) fn tick(&mut self) {
        self.service.tick();
    }

    /// The loop has ended: tell the service manager, stop the threads.
    pub(crate) fn shutdown(self) {
        self.service.stopping();
        if let Some(s) = self.server {
            s.shutdown();
        }
        if let Some(n) = self.notifier {
            n.shutdown();
        }
    }
}

/// systemd's notify protocol (`Type=notify`, `WatchdogSec=`): `READY=1`
/// after the first sample, `WATCHDOG=1` at half the watchdog interval while
/// the loop turns. Nothing happens outside systemd (no `$NOTIFY_SOCKET`).
#[cfg(target_os = "linux")]
struct ServiceManager {
    ready: bool,
    watchdog: Option<Duration>,
    last_ping: std::time::Instant,
    status: String,
    failed: bool,
}

#[cfg(target_os = "linux")]
impl ServiceManager {
    fn from_env() -> ServiceManager {
        ServiceManager {
            ready: false,
            watchdog: sd_notify::watchdog_enabled(),
            last_ping: std::time::Instant::now(),
            status: String::new(),
            failed: false,
        }
    }

    fn send(&mut self, state: &[sd_notify::NotifyState]) {
        if let Err(e) = sd_notify::notify(state)
            && !self.failed
        {
            self.failed = true;
            tracing::warn!(event_name = "service_notify_failed", error = %e, "cannot notify systemd (logged once)");
        }
    }

    fn sampled(&mut self, samples: u64, open_events: u64) {
        if !self.ready {
            self.ready = true;
            self.send(&[
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status("sampling"),
            ]);
            return;
        }
        if self.watchdog.is_some() {
            // Sent with the next watchdog ping.
            self.status = format!("{samples} samples, {open_events} open events");
        }
    }

    fn tick(&mut self) {
        let Some(every) = self.watchdog else {
            return;
        };
        if self.last_ping.elapsed() < every / 2 {
            return;
        }
        self.last_ping = std::time::Instant::now();
        let status = std::mem::take(&mut self.status);
        if status.is_empty() {
            self.send(&[sd_notify::NotifyState::Watchdog]);
        } else {
            self.send(&[
                sd_notify::NotifyState::Watchdog,
                sd_notify::NotifyState::Status(&status),
            ]);
        }
    }

    fn stopping(mut self) {
        if self.ready {
            self.send(&[sd_notify::NotifyState::Stopping]);
        }
    }
}

/// launchd has no readiness protocol: nothing to tell it.
#[cfg(not(target_os = "linux"))]
struct ServiceManager;

#[cfg(not(target_os = "linux"))]
impl ServiceManager {
    fn from_env() -> ServiceManager {
        ServiceManager
    }
    fn sampled(&mut self, _samples: u64, _open_events: u64) {}
    fn tick(&mut self) {}
    fn stopping(self) {}
}
