//! Desktop notifications when a process enters the critical band.
//!
//! Owns the rate limit, the notification's text and the worker thread that
//! shows it. The sampling loop only formats a few words and `try_send`s them
//! into a small bounded queue; the notification itself (D-Bus on Linux,
//! Notification Center on macOS, through `notify-rust`) is sent on the worker.
//! A desktop without a notification service is logged once, then quietly
//! skipped.

use crate::config::{NotificationMode, NotificationsConfig};
use crate::model::{ProcessScore, Stall};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Notifications waiting for the worker; more are dropped.
const QUEUE: usize = 4;
/// Characters of the command shown in the title.
const TITLE_COMMAND_CHARS: usize = 60;

/// One notification to show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) sound: bool,
}

/// The notification for a recorded stall: its kind and length in the title,
/// the verdict (escaped) as the body.
pub fn stall_note(s: &Stall, sound: bool) -> Note {
    Note {
        title: format!("Machine stalled {:.1} s ({})", s.duration_s, s.kind),
        body: crate::format::truncate(&crate::format::escape(&s.verdict), 300),
        sound,
    }
}

/// The notification for a process that entered the critical band.
/// `suppressed`: critical processes not announced since the last one.
pub(crate) fn note_for(p: &ProcessScore, suppressed: u64, sound: bool) -> Note {
    let command = crate::format::truncate(&crate::format::escape(&p.command), TITLE_COMMAND_CHARS);
    let mut body = format!(
        "Score {:.1} ({}): using {}. PID {}.",
        p.score,
        p.band,
        crate::format::dominant_value(p),
        p.pid
    );
    let also: Vec<String> = [
        (
            "cpu",
            ProcessScore::current(&p.cpu).map(|v| format!("{v:.0}%")),
        ),
        (
            "memory",
            ProcessScore::current(&p.mem).map(crate::format::bytes),
        ),
    ]
    .into_iter()
    .filter(|(name, _)| *name != p.dominant_resource.as_str())
    .filter_map(|(name, v)| v.map(|v| format!("{name} {v}")))
    .collect();
    if !also.is_empty() {
        body.push_str(&format!(" Also {}.", also.join(", ")));
    }
    if suppressed > 0 {
        body.push_str(&format!(
            " ({suppressed} more critical {} not announced.)",
            if suppressed == 1 {
                "process"
            } else {
                "processes"
            }
        ));
    }
    Note {
        title: format!("{command} — {}", p.dominant_resource),
        // Some notification servers read the body as markup.
        body: body
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        sound,
    }
}

/// At most one notification per `min_interval`; the others are counted.
#[derive(Debug)]
pub(crate) struct RateLimit {
    min_interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub(crate) fn new(min_interval: Duration) -> RateLimit {
        RateLimit {
            min_interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a notification may go out now (`n` were held back
    /// since the last one); `None` when it must be skipped.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.min_interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Why a notification was not shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotifyError {
    /// The desktop's notification service refused it or did not answer.
    #[error(transparent)]
    Desktop(#[from] notify_rust::error::Error),
}

/// Where notifications go.
pub(crate) trait Backend: Send {
    fn show(&mut self, note: &Note) -> Result<(), NotifyError>;
}

/// The desktop's notification service via `notify-rust`.
pub(crate) struct Desktop;

impl Backend for Desktop {
    fn show(&mut self, note: &Note) -> Result<(), NotifyError> {
        let mut n = notify_rust::Notification::new();
        n.appname("rogue-hunter")
            .summary(&note.title)
            .body(&note.body);
        if note.sound {
            #[cfg(target_os = "macos")]
            n.sound_name("Ping");
            #[cfg(not(target_os = "macos"))]
            n.sound_name("message-new-instant");
        }
        n.show()?;
        Ok(())
    }
}

/// The notifier: rate limit on the caller's side, delivery on a worker.
pub(crate) struct Notifier {
    tx: Option<SyncSender<Note>>,
    worker: Option<JoinHandle<()>>,
    limit: RateLimit,
    sound: bool,
}

impl Notifier {
    /// Start the worker, unless notifications are off (`None`).
    pub(crate) fn spawn(
        config: &NotificationsConfig,
        backend: Box<dyn Backend>,
    ) -> Option<Notifier> {
        if config.mode == NotificationMode::Off {
            return None;
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let worker = std::thread::Builder::new()
            .name("rh-notify".into())
            .spawn(move || run_worker(backend, &rx));
        let worker = match worker {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the notification thread; notifications are off");
                return None;
            }
        };
        Some(Notifier {
            tx: Some(tx),
            worker: Some(worker),
            limit: RateLimit::new(Duration::from_secs_f64(
                config.min_interval_seconds.max(0.0),
            )),
            sound: config.mode == NotificationMode::Sound,
        })
    }

    /// A process entered the critical band. Never blocks; `true` when a
    /// notification was queued.
    pub(crate) fn critical(&mut self, p: &ProcessScore) -> bool {
        let sound = self.sound;
        self.queue(|suppressed| note_for(p, suppressed, sound))
    }

    /// The machine stalled (a stall was recorded). Never blocks; shares the
    /// rate limit with critical processes. `true` when queued.
    pub(crate) fn stall(&mut self, s: &Stall) -> bool {
        let sound = self.sound;
        self.queue(|_| stall_note(s, sound))
    }

    /// Admit one notification through the rate limit and `try_send` the note
    /// `make` builds (given how many were held back since the last one).
    fn queue(&mut self, make: impl FnOnce(u64) -> Note) -> bool {
        let Some(suppressed) = self.limit.admit(Instant::now()) else {
            return false;
        };
        let Some(tx) = &self.tx else {
            return false;
        };
        tx.try_send(make(suppressed)).is_ok()
    }

    pub(crate) fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take()
            && w.join().is_err()
        {
            tracing::error!("the notification thread panicked");
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_worker(mut backend: Box<dyn Backend>, rx: &Receiver<Note>) {
    let mut unavailable_logged = false;
    while let Ok(note) = rx.recv() {
        match backend.show(&note) {
            Ok(()) => tracing::debug!(event_name = "notification_sent", title = %note.title),
            Err(e) if !unavailable_logged => {
                unavailable_logged = true;
                tracing::warn!(
                    event_name = "notifications_unavailable",
                    error = %e,
                    "no desktop notification service answered; notifications are skipped until one does (logged once)"
                );
            }
            Err(e) => tracing::debug!(event_name = "notification_failed", error = %e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Band, MetricValue, Resource};
    use std::sync::{Arc, Mutex};

    fn critical() -> ProcessScore {
        let mut p = ProcessScore::new(99, 1, "evil\u{1b}[2J <b>x</b>".into(), 1.0);
        p.score = 81.25;
        p.band = Band::Critical;
        p.cpu = Some(MetricValue::new(180.0));
        p.mem = Some(MetricValue::new(3.0 * 1024.0 * 1024.0 * 1024.0));
        p.dominant_resource = Resource::Cpu;
        p
    }

    #[test]
    fn text_names_command_resource_score_and_band() {
        let n = note_for(&critical(), 0, false);
        assert_eq!(n.title, "evil\\u{1b}[2J <b>x</b> — cpu");
        assert_eq!(
            n.body,
            "Score 81.2 (critical): using cpu 180.0%. PID 99. Also memory 3.0G."
        );
        let n = note_for(&critical(), 2, true);
        assert!(n.sound);
        assert!(
            n.body
                .ends_with("(2 more critical processes not announced.)"),
            "{}",
            n.body
        );
    }

    #[test]
    fn rate_limit_counts_what_it_holds_back() {
        let mut l = RateLimit::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(l.admit(t0), Some(0));
        assert_eq!(l.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.admit(t0 + Duration::from_secs(59)), None);
        assert_eq!(l.admit(t0 + Duration::from_secs(61)), Some(2));
        let mut none = RateLimit::new(Duration::ZERO);
        assert_eq!(none.admit(t0), Some(0));
        assert_eq!(none.admit(t0), Some(0));
    }

    struct Recorder(Arc<Mutex<Vec<Note>>>, bool);
    impl Backend for Recorder {
        fn show(&mut self, note: &Note) -> Result<(), NotifyError> {
            self.0.lock().unwrap().push(note.clone());
            if self.1 {
                Ok(())
            } else {
                Err(notify_rust::error::Error::from("no bus").into())
            }
        }
    }

    #[test]
    fn worker_delivers_off_the_caller_and_off_means_none() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cfg = NotificationsConfig {
            mode: NotificationMode::Sound,
            min_interval_seconds: 3600.0,
        };
        let mut n = Notifier::spawn(&cfg, Box::new(Recorder(Arc::clone(&seen), false))).unwrap();
        assert!(n.critical(&critical()));
        assert!(!n.critical(&critical()), "rate-limited");
        n.shutdown();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].sound);
        let off = NotificationsConfig {
            mode: NotificationMode::Off,
            ..cfg
        };
        assert!(Notifier::spawn(&off, Box::new(Desktop)).is_none());
    }
}
