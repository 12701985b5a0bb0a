//! The Prometheus/OpenMetrics endpoint: what the daemon exports and how it is
//! encoded.
//!
//! Owns the shared `Feed` the sampling loop writes into (atomics and one
//! `try_lock`ed slot for the latest sample: the loop never waits on a scrape)
//! and `render`, which builds a fresh `prometheus-client` registry from the
//! feed for each scrape, so only the current top N processes have series
//! (label cardinality stays bounded). The HTTP responder lives in `server`.

pub(crate) mod server;

use crate::config::BandsConfig;
use crate::forensics::CaptureCounts;
use crate::model::{Band, ProcessSamples, ProcessScore, Resource, StallKind};
use crate::storage::WriteSender;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Characters of a command kept in the `command` label.
pub(crate) const COMMAND_LABEL_CHARS: usize = 64;

/// Upper bounds (seconds) of the sample-lateness histogram's buckets.
pub(crate) const LATENESS_BUCKETS: [f64; 10] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// `Content-Type` of the Prometheus text format (0.0.4).
pub(crate) const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// `Content-Type` of the OpenMetrics text format (sent when a scraper asks for it).
pub(crate) const OPENMETRICS_TEXT: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter<u64>>;

/// Upper bounds (seconds) of the stall-duration histogram's buckets.
pub(crate) const STALL_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// Durations in fixed buckets (non-cumulative counts), counted with relaxed
/// atomics by the sampling loop.
#[derive(Debug)]
pub(crate) struct DurationHistogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    /// Observations above the last bound.
    over: AtomicU64,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Lateness of sample starts.
pub(crate) type LatenessHistogram = DurationHistogram;

impl Default for DurationHistogram {
    fn default() -> Self {
        DurationHistogram::new(&LATENESS_BUCKETS)
    }
}

impl DurationHistogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        DurationHistogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            over: AtomicU64::new(0),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, late: Duration) {
        let secs = late.as_secs_f64();
        match self.bounds.iter().position(|b| secs <= *b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Sum (seconds), count and `(upper bound, count in that bucket)`.
    pub(crate) fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        buckets.push((f64::INFINITY, self.over.load(Ordering::Relaxed)));
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, count, buckets)
    }
}

/// A histogram whose buckets were counted elsewhere (the feed's atomics),
/// encoded as a Prometheus histogram.
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn band_index(band: Band) -> usize {
    Band::ALL.iter().position(|b| *b == band).unwrap_or(0)
}

/// What the daemon shares with the endpoint. The sampling loop only does
/// relaxed atomic adds and one `try_lock` per sample.
pub(crate) struct Feed {
    top_n: usize,
    bands: BandsConfig,
    latest: Mutex<Option<Arc<ProcessSamples>>>,
    critical_now: AtomicU64,
    samples: AtomicU64,
    open_events: AtomicU64,
    skipped_ticks: AtomicU64,
    opened: [AtomicU64; 5],
    closed: [AtomicU64; 5],
    notifications: AtomicU64,
    pub(crate) lateness: LatenessHistogram,
    /// Stalls recorded, by kind (`StallKind::ALL` order).
    stalls: Vec<AtomicU64>,
    pub(crate) stall_duration: DurationHistogram,
    writer: Option<WriteSender>,
    captures: Option<Arc<CaptureCounts>>,
    db_path: Option<PathBuf>,
}

impl Feed {
    pub(crate) fn new(top_n: usize, bands: BandsConfig) -> Feed {
        Feed {
            top_n,
            bands,
            latest: Mutex::new(None),
            critical_now: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            open_events: AtomicU64::new(0),
            skipped_ticks: AtomicU64::new(0),
            opened: Default::default(),
            closed: Default::default(),
            notifications: AtomicU64::new(0),
            lateness: LatenessHistogram::default(),
            stalls: StallKind::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            stall_duration: DurationHistogram::new(&STALL_BUCKETS),
            writer: None,
            captures: None,
            db_path: None,
        }
    }

    /// Export the writer's queue depth and dropped writes.
    pub(crate) fn with_writer(mut self, writer: WriteSender) -> Feed {
        self.writer = Some(writer);
        self
    }

    /// Export forensic captures by status.
    pub(crate) fn with_captures(mut self, counts: Arc<CaptureCounts>) -> Feed {
        self.captures = Some(counts);
        self
    }

    /// Export the size of this database (and its WAL).
    pub(crate) fn with_database(mut self, path: PathBuf) -> Feed {
        self.db_path = Some(path);
        self
    }

    /// One sample done: its lateness, the loop's counters and the latest
    /// sample. A scrape holding the slot makes this skip the slot (the next
    /// sample fills it); it never waits.
    pub(crate) fn sample(
        &self,
        samples: &Arc<ProcessSamples>,
        critical_now: u64,
        late: Duration,
        open_events: u64,
    ) {
        self.samples.fetch_add(1, Ordering::Relaxed);
        self.lateness.observe(late);
        self.critical_now.store(critical_now, Ordering::Relaxed);
        self.open_events.store(open_events, Ordering::Relaxed);
        if let Ok(mut slot) = self.latest.try_lock() {
            *slot = Some(Arc::clone(samples));
        }
    }

    pub(crate) fn ticks_skipped(&self, n: u64) {
        self.skipped_ticks.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn event_opened(&self, band: Band) {
        self.opened[band_index(band)].fetch_add(1, Ordering::Relaxed);
    }

    /// An event closed; `peak` is the highest band it reached.
    pub(crate) fn event_closed(&self, peak: Band) {
        self.closed[band_index(peak)].fetch_add(1, Ordering::Relaxed);
    }

    /// A stall was recorded (counted once, when it is first reported).
    pub(crate) fn stall(&self, kind: StallKind, duration: Duration) {
        if let Some(i) = StallKind::ALL.iter().position(|k| *k == kind) {
            self.stalls[i].fetch_add(1, Ordering::Relaxed);
        }
        self.stall_duration.observe(duration);
    }

    pub(crate) fn notification_sent(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    fn latest(&self) -> Option<Arc<ProcessSamples>> {
        match self.latest.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The `command` label: terminal-safe (control and bidi characters shown as
/// `\u001b`-style four-digit escapes: braces inside label values trip naive
/// exposition parsers) and
/// cut to `COMMAND_LABEL_CHARS` characters. The encoder escapes `\`, `"` and
/// newlines for the exposition format.
pub(crate) fn command_label(command: &str) -> String {
    let mut safe = String::with_capacity(command.len());
    let mut one = [0u8; 4];
    for c in command.chars() {
        let s: &str = c.encode_utf8(&mut one);
        if crate::format::escape(s) == s {
            safe.push(c);
        } else {
            safe.push_str(&format!("\\u{:04x}", u32::from(c)));
        }
    }
    crate::format::truncate(&safe, COMMAND_LABEL_CHARS)
}

fn rogue_labels(p: &ProcessScore) -> Labels {
    vec![
        ("pid".into(), p.pid.to_string()),
        ("command".into(), command_label(&p.command)),
        ("dominant".into(), p.dominant_resource.as_str().into()),
    ]
}

fn gauge_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
) -> GaugeFamily {
    let family = GaugeFamily::default();
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
        None => registry.register(name, help, family.clone()),
    }
    family
}

fn counter_family(registry: &mut Registry, name: &str, help: &str) -> CounterFamily {
    let family = CounterFamily::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), value.to_string())]
}

/// Groups of each kind with series (at most, and at most `top_n`).
const GROUP_SERIES_PER_KIND: usize = 10;

/// Build the registry for one scrape.
pub(crate) fn registry(feed: &Feed) -> Registry {
    let mut r = Registry::with_prefix("rogue_hunter");
    r.register(
        "build",
        "rogue-hunter version",
        Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    );

    // The top rogues.
    let latest = feed.latest();
    let score = gauge_family(
        &mut r,
        "rogue_score",
        "Score (0-100) of each of the top processes",
        None,
    );
    let share = gauge_family(
        &mut r,
        "rogue_share",
        "Share of the machine's capacity of one resource (percent) of each of the top processes",
        None,
    );
    let cpu = gauge_family(
        &mut r,
        "rogue_cpu",
        "CPU use of each of the top processes, percent of one core",
        Some(Unit::Other("percent".into())),
    );
    let mem = gauge_family(
        &mut r,
        "rogue_memory",
        "Resident memory of each of the top processes",
        Some(Unit::Bytes),
    );
    let disk = gauge_family(
        &mut r,
        "rogue_disk",
        "Disk read+write rate of each of the top processes",
        Some(Unit::Other("bytes_per_second".into())),
    );
    let wakeups = gauge_family(
        &mut r,
        "rogue_wakeups",
        "Wakeup rate of each of the top processes",
        Some(Unit::Other("per_second".into())),
    );
    if let Some(s) = &latest {
        for p in s.rogues.iter().take(feed.top_n) {
            let labels = rogue_labels(p);
            score.get_or_create(&labels).set(p.score);
            for &res in Resource::ALL {
                if let Some(v) = p.share(res) {
                    let mut l = labels.clone();
                    l.push(("resource".into(), res.as_str().into()));
                    share.get_or_create(&l).set(v);
                }
            }
            let cur = ProcessScore::current;
            if let Some(v) = cur(&p.cpu) {
                cpu.get_or_create(&labels).set(v);
            }
            if let Some(v) = cur(&p.mem) {
                mem.get_or_create(&labels).set(v);
            }
            if let Some(v) = cur(&p.disk_io_rate) {
                disk.get_or_create(&labels).set(v);
            }
            if let Some(v) = cur(&p.wakeups_rate) {
                wakeups.get_or_create(&labels).set(v);
            }
        }
    }

    // The top groups of each kind (the registry is built per scrape, so a
    // group that left the top has no series).
    let group_score = gauge_family(
        &mut r,
        "group_score",
        "Score (0-100) of each of the top groups of each kind (tree, cgroup, app)",
        None,
    );
    let group_cpu = gauge_family(
        &mut r,
        "group_cpu",
        "Members' own CPU use of each of the top groups, percent of one core",
        Some(Unit::Other("percent".into())),
    );
    let group_children_cpu = gauge_family(
        &mut r,
        "group_children_cpu",
        "CPU its members spent through reaped children, each of the top groups, percent of one core",
        Some(Unit::Other("percent".into())),
    );
    let group_mem = gauge_family(
        &mut r,
        "group_memory",
        "Summed resident memory of each of the top groups",
        Some(Unit::Bytes),
    );
    if let Some(s) = &latest {
        let mut per_kind: HashMap<crate::model::GroupKind, usize> = HashMap::new();
        for g in &s.groups {
            let n = per_kind.entry(g.kind).or_insert(0);
            if *n >= feed.top_n.min(GROUP_SERIES_PER_KIND) {
                continue;
            }
            *n += 1;
            let labels: Labels = vec![
                ("kind".into(), g.kind.as_str().into()),
                ("key".into(), command_label(&g.key)),
                ("name".into(), command_label(&g.name)),
            ];
            group_score.get_or_create(&labels).set(g.score);
            if let Some(v) = g.metrics.cpu {
                group_cpu.get_or_create(&labels).set(v);
            }
            if let Some(v) = g.metrics.children_cpu {
                group_children_cpu.get_or_create(&labels).set(v);
            }
            if let Some(v) = g.metrics.mem {
                group_mem.get_or_create(&labels).set(v);
            }
        }
    }

    // The machine now.
    gauge(
        &mut r,
        "critical_processes",
        "Processes in the critical band in the latest sample (all processes, not only the top N)",
        feed.critical_now.load(Ordering::Relaxed) as f64,
    );
    if let Some(s) = &latest {
        gauge(
            &mut r,
            "max_score",
            "Highest score in the latest sample",
            s.max_score,
        );
        gauge(
            &mut r,
            "processes",
            "Processes seen in the latest sample",
            f64::from(s.process_count),
        );
        gauge(
            &mut r,
            "sample_duration_seconds",
            "How long the latest sample took to collect and score",
            s.elapsed_ms / 1000.0,
        );
    }
    let thresholds = gauge_family(
        &mut r,
        "band_threshold",
        "Lowest score of each band (configuration)",
        None,
    );
    for &band in Band::ALL {
        thresholds
            .get_or_create(&label("band", band.as_str()))
            .set(feed.bands.threshold(band));
    }

    // Events and captures.
    gauge(
        &mut r,
        "open_events",
        "Events open now",
        feed.open_events.load(Ordering::Relaxed) as f64,
    );
    let opened = counter_family(&mut r, "events_opened", "Events opened, by entry band");
    let closed = counter_family(
        &mut r,
        "events_closed",
        "Events closed, by the highest band they reached",
    );
    for &band in Band::ALL {
        let l = label("band", band.as_str());
        let i = band_index(band);
        opened
            .get_or_create(&l)
            .inc_by(feed.opened[i].load(Ordering::Relaxed));
        closed
            .get_or_create(&l)
            .inc_by(feed.closed[i].load(Ordering::Relaxed));
    }
    if let Some(counts) = &feed.captures {
        let captures = counter_family(
            &mut r,
            "forensic_captures",
            "Forensic captures finished, by status",
        );
        for (status, n) in counts.snapshot() {
            captures
                .get_or_create(&label("status", status.as_str()))
                .inc_by(n);
        }
    }
    let stalls = counter_family(&mut r, "stalls", "Stalls recorded, by kind");
    for (kind, n) in StallKind::ALL.iter().zip(&feed.stalls) {
        stalls
            .get_or_create(&label("kind", kind.as_str()))
            .inc_by(n.load(Ordering::Relaxed));
    }
    let (sum, count, buckets) = feed.stall_duration.snapshot();
    r.register_with_unit(
        "stall_duration",
        "How long recorded stalls lasted (when first reported)",
        Unit::Seconds,
        ConstHistogram {
            sum,
            count,
            buckets,
        },
    );
    counter(
        &mut r,
        "notifications",
        "Desktop notifications handed to the notifier",
        feed.notifications.load(Ordering::Relaxed),
    );

    // Daemon health.
    counter(
        &mut r,
        "samples",
        "Samples taken",
        feed.samples.load(Ordering::Relaxed),
    );
    counter(
        &mut r,
        "skipped_ticks",
        "Sampling ticks skipped to catch up after falling behind",
        feed.skipped_ticks.load(Ordering::Relaxed),
    );
    let (sum, count, buckets) = feed.lateness.snapshot();
    r.register_with_unit(
        "sample_lateness",
        "How late samples started against their schedule",
        Unit::Seconds,
        ConstHistogram {
            sum,
            count,
            buckets,
        },
    );
    if let Some(w) = &feed.writer {
        gauge(
            &mut r,
            "writer_queue_depth",
            "Storage writes queued for the writer thread",
            w.queue_depth() as f64,
        );
        counter(
            &mut r,
            "writes_dropped",
            "Storage writes dropped because the queue was full",
            w.dropped(),
        );
    }
    if let Some(db) = &feed.db_path {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        gauge(
            &mut r,
            "database_bytes",
            "Size of the history database and its write-ahead log",
            (size(db) + size(std::path::Path::new(&wal))) as f64,
        );
    }
    r
}

/// The exposition text for one scrape, and its content type.
pub(crate) fn render(feed: &Feed, openmetrics: bool) -> (String, &'static str) {
    let registry = registry(feed);
    let mut text = String::new();
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut text, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
    };
    if let Err(e) = encoded {
        // Writing into a String cannot fail; say so in the body if it ever does.
        text = format!("# encoding failed: {e}\n");
    }
    (
        text,
        if openmetrics {
            OPENMETRICS_TEXT
        } else {
            PROMETHEUS_TEXT
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricValue;

    fn sample() -> Arc<ProcessSamples> {
        let mut hog = ProcessScore::new(4242, 1, "spin \"hard\"\\ \u{1b}[31m".repeat(8), 1.0);
        hog.score = 72.5;
        hog.band = Band::Critical;
        hog.cpu = Some(MetricValue::new(99.5));
        hog.cpu_share = Some(49.7);
        hog.mem = Some(MetricValue::new(1e6));
        let mut quiet = ProcessScore::new(7, 1, "quiet".into(), 1.0);
        quiet.dominant_resource = Resource::Memory;
        Arc::new(ProcessSamples {
            timestamp_s: 1.0,
            elapsed_ms: 3.0,
            process_count: 2,
            max_score: 72.5,
            rogues: vec![hog, quiet],
            groups: Vec::new(),
            system: None,
        })
    }

    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
    }

    #[test]
    fn top_rogues_are_exported_with_bounded_escaped_labels() {
        let feed = Feed::new(1, BandsConfig::default());
        feed.sample(&sample(), 1, Duration::from_millis(3), 1);
        feed.event_opened(Band::High);
        feed.event_closed(Band::Critical);
        let (text, ctype) = render(&feed, false);
        assert_eq!(ctype, PROMETHEUS_TEXT);
        let scrape = parse(&text);
        let scores: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "rogue_hunter_rogue_score")
            .collect();
        assert_eq!(scores.len(), 1, "top_n = 1 bounds the series: {text}");
        assert_eq!(scores[0].labels.get("pid"), Some("4242"));
        assert_eq!(scores[0].labels.get("dominant"), Some("cpu"));
        // Raw escapes never reach the exposition; the label is cut.
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains(r"\\u001b[31m"), "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("rogue_hunter_rogue_score{"))
            .unwrap();
        assert!(line.contains(r#"spin \"hard\"\\"#), "{line}");
        assert_eq!(command_label(&"x".repeat(200)).chars().count(), 64);
        assert!(text.contains("rogue_hunter_rogue_cpu_percent{"), "{text}");
        assert!(text.contains(r#"resource="cpu""#));
        assert!(text.contains(r#"rogue_hunter_events_opened_total{band="high"} 1"#));
        assert!(text.contains(r#"rogue_hunter_events_closed_total{band="critical"} 1"#));
        assert!(text.contains("rogue_hunter_critical_processes 1"));
        assert!(text.contains("rogue_hunter_samples_total 1"));
        assert!(text.contains(r#"rogue_hunter_sample_lateness_seconds_bucket{le="0.005"} 1"#));
        assert!(text.contains("rogue_hunter_sample_lateness_seconds_count 1"));
        assert!(text.contains(r#"rogue_hunter_band_threshold{band="critical"} 70"#));
    }

    fn group(kind: crate::model::GroupKind, key: &str, score: f64) -> crate::model::GroupScore {
        crate::model::GroupScore {
            kind,
            key: key.into(),
            name: format!("name \u{1b}[31m{key}"),
            member_count: 2,
            top_members: vec![1, 2],
            worst_member_score: score / 2.0,
            metrics: crate::model::GroupMetrics {
                cpu: Some(150.0),
                children_cpu: Some(20.0),
                mem: Some(2e6),
                ..crate::model::GroupMetrics::default()
            },
            score,
            band: BandsConfig::default().band_for(score),
            dominant_resource: Resource::Cpu,
            cpu_share: Some(85.0),
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
        }
    }

    #[test]
    fn top_groups_have_bounded_series_that_go_when_the_group_goes() {
        use crate::model::GroupKind;
        let feed = Feed::new(2, BandsConfig::default());
        let mut s = ProcessSamples::clone(&sample());
        s.groups = vec![
            group(GroupKind::Tree, "300:3000", 77.9),
            group(GroupKind::Tree, "400:4000", 20.0),
            group(GroupKind::Tree, "500:5000", 10.0),
            group(GroupKind::Cgroup, "/system.slice/x.service", 40.0),
        ];
        feed.sample(&Arc::new(s.clone()), 0, Duration::from_millis(3), 1);
        let scrape = parse(&render(&feed, false).0);
        let of = |scrape: &prometheus_parse::Scrape, metric: &str| -> Vec<(String, String)> {
            scrape
                .samples
                .iter()
                .filter(|x| x.metric == metric)
                .map(|x| {
                    (
                        x.labels.get("kind").unwrap_or("").to_string(),
                        x.labels.get("key").unwrap_or("").to_string(),
                    )
                })
                .collect()
        };
        let scores = of(&scrape, "rogue_hunter_group_score");
        // top_n = 2 per kind: the third tree has no series.
        assert_eq!(scores.len(), 3, "{scores:?}");
        assert!(scores.contains(&("tree".into(), "300:3000".into())));
        assert!(!scores.iter().any(|(_, k)| k == "500:5000"));
        let top = scrape
            .samples
            .iter()
            .find(|x| {
                x.metric == "rogue_hunter_group_cpu_percent"
                    && x.labels.get("key") == Some("300:3000")
            })
            .expect("cpu series");
        assert!(matches!(top.value, prometheus_parse::Value::Gauge(v) if v == 150.0));
        assert!(
            top.labels
                .get("name")
                .is_some_and(|n| !n.contains('\u{1b}'))
        );
        assert_eq!(
            of(&scrape, "rogue_hunter_group_children_cpu_percent").len(),
            3
        );
        assert_eq!(of(&scrape, "rogue_hunter_group_memory_bytes").len(), 3);
        // The next sample without the first tree: its series are gone.
        s.groups.remove(0);
        feed.sample(&Arc::new(s), 0, Duration::from_millis(3), 2);
        let scrape = parse(&render(&feed, false).0);
        let scores = of(&scrape, "rogue_hunter_group_score");
        assert!(!scores.iter().any(|(_, k)| k == "300:3000"), "{scores:?}");
        assert!(scores.iter().any(|(_, k)| k == "500:5000"));
        assert!(
            !of(&scrape, "rogue_hunter_group_cpu_percent")
                .iter()
                .any(|(_, k)| k == "300:3000")
        );
    }

    #[test]
    fn openmetrics_when_asked_and_no_rogues_before_the_first_sample() {
        let feed = Feed::new(10, BandsConfig::default());
        let (text, ctype) = render(&feed, true);
        assert_eq!(ctype, OPENMETRICS_TEXT);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("rogue_hunter_rogue_score{"));
        assert!(!text.contains("rogue_hunter_max_score"));
    }

    #[test]
    fn lateness_buckets() {
        let h = LatenessHistogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(9));
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 9.0305).abs() < 1e-9);
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[4], (0.05, 1));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
    }

    #[test]
    fn stalls_are_counted_by_kind_with_a_duration_histogram() {
        let feed = Feed::new(5, BandsConfig::default());
        feed.stall(StallKind::Scheduling, Duration::from_secs(3));
        feed.stall(StallKind::Memory, Duration::from_secs(12));
        let (text, _) = render(&feed, false);
        assert!(
            text.contains(r#"rogue_hunter_stalls_total{kind="scheduling"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"rogue_hunter_stalls_total{kind="memory"} 1"#));
        assert!(text.contains(r#"rogue_hunter_stalls_total{kind="stuck"} 0"#));
        assert!(
            text.contains(r#"rogue_hunter_stall_duration_seconds_bucket{le="5"} 1"#),
            "{text}"
        );
        assert!(text.contains("rogue_hunter_stall_duration_seconds_count 2"));
    }
}
