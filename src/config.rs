//! Configuration: typed sections with defaults, layered files and environment,
//! and the paths every other module uses.
//!
//! Owns reading config files and XDG variables. Layers, later wins: built-in
//! defaults < `/etc/rogue-hunter/config.toml` < user file (or `--config FILE`) <
//! `ROGUE_HUNTER_<SECTION>__<KEY>` environment < command-line overrides applied by
//! the caller. Unknown keys and bad values are errors that name the file and key.

use crate::model::{Band, ProcessState, Resource};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const APP: &str = "rogue-hunter";
pub const ENV_PREFIX: &str = "ROGUE_HUNTER_";
pub const SYSTEM_CONFIG: &str = "/etc/rogue-hunter/config.toml";
/// `ROGUE_HUNTER_*` variables that are not configuration keys (file locations
/// and tool overrides, mostly for tests): the environment layer skips them.
pub const NON_CONFIG_ENV: [&str; 6] = [
    "SYSTEM_CONFIG",
    "SYSTEMD_DIR",
    "LAUNCHD_DIR",
    "SUDOERS_DIR",
    "SYSTEMCTL",
    "TEST_HOG",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Layered(String),
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("{0}")]
    Paths(String),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub system: SystemConfig,
    pub bands: BandsConfig,
    pub scoring: ScoringConfig,
    pub selection: SelectionConfig,
    pub tui: TuiConfig,
    pub retention: RetentionConfig,
    pub forensics: ForensicsConfig,
    pub logging: LoggingConfig,
    pub notifications: NotificationsConfig,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Seconds between samples (default 1/3: three samples a second).
    pub sample_interval: f64,
    /// Samples kept in the ring buffer (900 = 5 minutes at 3 Hz).
    pub ring_buffer_size: usize,
    /// Minimum seconds between two forensic captures.
    pub forensics_debounce: f64,
    /// Daemon heartbeat log line every N samples.
    pub heartbeat_samples: u64,
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            sample_interval: 1.0 / 3.0,
            ring_buffer_size: 900,
            forensics_debounce: 120.0,
            heartbeat_samples: 900,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandsConfig {
    /// Score at which a process is `medium` (and below which it is `low`).
    pub medium: f64,
    pub elevated: f64,
    pub high: f64,
    pub critical: f64,
    /// Band at which an event opens.
    pub tracking_band: Band,
    /// Band at which a forensic capture is taken.
    pub forensics_band: Band,
    /// Seconds between checkpoint snapshots while an event is in each band.
    pub checkpoint_medium: f64,
    pub checkpoint_elevated: f64,
    pub checkpoint_high: f64,
    pub checkpoint_critical: f64,
    /// Samples below the tracking threshold before an event closes.
    pub exit_stability_samples: u32,
    /// Seconds after an event closes before the same process may open another.
    pub event_cooldown_seconds: f64,
}

impl Default for BandsConfig {
    fn default() -> Self {
        Self {
            medium: 30.0,
            elevated: 45.0,
            high: 55.0,
            critical: 70.0,
            tracking_band: Band::Medium,
            forensics_band: Band::Critical,
            checkpoint_medium: 10.0,
            checkpoint_elevated: 5.0,
            checkpoint_high: 0.0,
            checkpoint_critical: 0.0,
            exit_stability_samples: 9,
            event_cooldown_seconds: 60.0,
        }
    }
}

impl BandsConfig {
    /// The band a score falls in.
    pub fn band_for(&self, score: f64) -> Band {
        if score >= self.critical {
            Band::Critical
        } else if score >= self.high {
            Band::High
        } else if score >= self.elevated {
            Band::Elevated
        } else if score >= self.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    /// The lowest score of a band.
    pub fn threshold(&self, band: Band) -> f64 {
        match band {
            Band::Low => 0.0,
            Band::Medium => self.medium,
            Band::Elevated => self.elevated,
            Band::High => self.high,
            Band::Critical => self.critical,
        }
    }

    /// Seconds between checkpoints while in `band` (0 = every sample).
    pub fn checkpoint_interval(&self, band: Band) -> f64 {
        match band {
            Band::Low | Band::Medium => self.checkpoint_medium,
            Band::Elevated => self.checkpoint_elevated,
            Band::High => self.checkpoint_high,
            Band::Critical => self.checkpoint_critical,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// Percent of a resource's capacity that counts as one fair share
    /// (1.0: a process using 1% of the machine has share 1).
    pub fair_share_percent: f64,
    /// Score = curve_scale × log2(weighted shares), 0 at or below fair share.
    pub curve_scale: f64,
    /// Disk throughput treated as the machine's capacity when less is happening
    /// (bytes/s). Disk capacity = max(this, total disk rate now).
    pub disk_capacity_floor: f64,
    /// Wakeups/s treated as the machine's capacity when less is happening.
    pub wakeups_capacity_floor: f64,
    /// GPUs' worth of engine time treated as capacity (1 = one GPU busy all the time).
    pub gpu_capacity: f64,
    pub weights: ResourceWeights,
    pub state_multipliers: StateMultipliers,
    pub active_thresholds: ActiveThresholds,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            fair_share_percent: 1.0,
            curve_scale: 10.0,
            disk_capacity_floor: 32.0 * 1024.0 * 1024.0,
            wakeups_capacity_floor: 20000.0,
            gpu_capacity: 1.0,
            weights: ResourceWeights::default(),
            state_multipliers: StateMultipliers::default(),
            active_thresholds: ActiveThresholds::default(),
        }
    }
}

/// Declares a config table with one `f64` key per scored resource, its
/// defaults and `get(Resource)`: one line per resource instead of a struct, a
/// `Default` and a `match` written out for each table.
macro_rules! per_resource {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $variant:ident = $default:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: f64,)*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl $name {
            pub fn get(&self, resource: Resource) -> f64 {
                match resource {
                    $(Resource::$variant => self.$field,)*
                }
            }
        }
    };
}

per_resource! {
    /// How much each resource's share counts toward the score.
    ResourceWeights {
        cpu: Cpu = 1.1,
        gpu: Gpu = 1.2,
        memory: Memory = 1.33,
        disk: Disk = 1.0,
        wakeups: Wakeups = 1.4,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateMultipliers {
    pub running: f64,
    pub sleeping: f64,
    pub disk_sleep: f64,
    pub stopped: f64,
    pub zombie: f64,
    pub idle: f64,
    pub dead: f64,
    pub unknown: f64,
}

impl Default for StateMultipliers {
    fn default() -> Self {
        Self {
            running: 1.0,
            sleeping: 1.0,
            disk_sleep: 1.0,
            stopped: 0.2,
            zombie: 0.0,
            idle: 0.0,
            dead: 0.0,
            unknown: 1.0,
        }
    }
}

impl StateMultipliers {
    pub fn get(&self, state: ProcessState) -> f64 {
        match state {
            ProcessState::Running => self.running,
            ProcessState::Sleeping => self.sleeping,
            ProcessState::DiskSleep => self.disk_sleep,
            ProcessState::Stopped => self.stopped,
            ProcessState::Zombie => self.zombie,
            ProcessState::Idle => self.idle,
            ProcessState::Dead => self.dead,
            ProcessState::Unknown => self.unknown,
        }
    }
}

per_resource! {
    /// Minimum use for a process to count as an active user of a resource
    /// (used for `disproportionality`).
    ActiveThresholds {
        /// Percent of one core.
        cpu: Cpu = 0.5,
        /// GPU engine time, nanoseconds per second.
        gpu: Gpu = 1_000_000.0,
        /// Bytes resident.
        memory: Memory = 16.0 * 1024.0 * 1024.0,
        /// Bytes per second.
        disk: Disk = 4096.0,
        /// Wakeups per second.
        wakeups: Wakeups = 1.0,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectionConfig {
    /// Processes reported per sample (`rogues`).
    pub top_n: usize,
    /// Processes per sample that get the expensive reads (status, every thread).
    pub deep_candidates: usize,
    /// Every process gets the expensive reads at least this often (samples).
    pub deep_refresh_samples: u64,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            top_n: 20,
            deep_candidates: 12,
            deep_refresh_samples: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TuiConfig {
    /// Colour names (ratatui names: red, yellow, lightred, ...) per band.
    pub color_low: String,
    pub color_medium: String,
    pub color_elevated: String,
    pub color_high: String,
    pub color_critical: String,
    /// Recent events shown in the events panel.
    pub events_shown: usize,
}

impl Default for TuiConfig {
    fn default() -> Self {
        Self {
            color_low: "green".into(),
            color_medium: "cyan".into(),
            color_elevated: "yellow".into(),
            color_high: "lightred".into(),
            color_critical: "red".into(),
            events_shown: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Events (and their snapshots and forensics) older than this are pruned.
    pub events_days: u32,
    /// Hours between automatic prunes by the daemon.
    pub prune_interval_hours: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events_days: 30,
            prune_interval_hours: 6.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForensicsConfig {
    pub enabled: bool,
    /// Seconds each source may take.
    pub source_timeout: f64,
    /// Bytes kept per artefact.
    pub max_artifact_bytes: u64,
    /// Minutes of logs before the trigger to collect.
    pub log_window_minutes: f64,
    /// User-space stacks via eu-stack or gdb (slow, pauses the process briefly).
    pub user_stacks: bool,
}

impl Default for ForensicsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            source_timeout: 10.0,
            max_artifact_bytes: 4 * 1024 * 1024,
            log_window_minutes: 2.0,
            user_stacks: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Default level filter (overridden by `RUST_LOG`).
    pub level: String,
    /// Rotate the JSON log after this many bytes.
    pub max_file_bytes: u64,
    /// Rotated files kept.
    pub keep_files: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: 5,
        }
    }
}

/// Desktop notifications when a process enters the critical band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NotificationMode {
    Off,
    /// A silent notification.
    #[default]
    On,
    /// A notification with the desktop's alert sound.
    Sound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// "off", "on" (silent) or "sound".
    pub mode: NotificationMode,
    /// Minimum seconds between two notifications (later ones are counted and
    /// mentioned in the next).
    pub min_interval_seconds: f64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            mode: NotificationMode::On,
            min_interval_seconds: 60.0,
        }
    }
}

/// The Prometheus/OpenMetrics endpoint (off unless enabled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Address and port for `GET /metrics` (port 0: any free port, logged).
    pub listen: String,
    /// Processes exported with their own series (bounds label cardinality).
    pub top_n: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9777".into(),
            top_n: 10,
        }
    }
}

impl MetricsConfig {
    /// The listen address, parsed (validated by `Config::validate`).
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.listen
            .trim()
            .parse()
            .map_err(|_| ConfigError::Invalid {
                key: "metrics.listen".into(),
                message: format!(
                    "\"{}\" is not an address and port (examples: 127.0.0.1:9777, [::1]:9777, 0.0.0.0:9777)",
                    self.listen
                ),
            })
    }
}

impl Config {
    /// Check relations between values that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &str, message: impl Into<String>) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        }
        let s = &self.system;
        if !(s.sample_interval.is_finite()
            && s.sample_interval >= 0.01
            && s.sample_interval <= 3600.0)
        {
            return bad(
                "system.sample_interval",
                format!("{} is not between 0.01 and 3600 seconds", s.sample_interval),
            );
        }
        if s.ring_buffer_size == 0 || s.ring_buffer_size > 100_000 {
            return bad(
                "system.ring_buffer_size",
                format!("{} is not between 1 and 100000", s.ring_buffer_size),
            );
        }
        if !(s.forensics_debounce.is_finite() && s.forensics_debounce >= 0.0) {
            return bad("system.forensics_debounce", "must be 0 or more seconds");
        }
        if s.heartbeat_samples == 0 {
            return bad("system.heartbeat_samples", "must be at least 1");
        }
        let b = &self.bands;
        let ladder = [
            ("bands.medium", b.medium),
            ("bands.elevated", b.elevated),
            ("bands.high", b.high),
            ("bands.critical", b.critical),
        ];
        for (key, v) in ladder {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return bad(key, format!("{v} is not a score between 0 and 100"));
            }
        }
        for pair in ladder.windows(2) {
            if pair[1].1 <= pair[0].1 {
                return bad(
                    pair[1].0,
                    format!("{} must be above {} ({})", pair[1].1, pair[0].0, pair[0].1),
                );
            }
        }
        if b.tracking_band == Band::Low {
            return bad(
                "bands.tracking_band",
                "\"low\" would track every process; use medium or above",
            );
        }
        if b.forensics_band < b.tracking_band {
            return bad(
                "bands.forensics_band",
                format!(
                    "{} is below tracking_band ({}): forensics run only for tracked processes",
                    b.forensics_band, b.tracking_band
                ),
            );
        }
        for (key, v) in [
            ("bands.checkpoint_medium", b.checkpoint_medium),
            ("bands.checkpoint_elevated", b.checkpoint_elevated),
            ("bands.checkpoint_high", b.checkpoint_high),
            ("bands.checkpoint_critical", b.checkpoint_critical),
            ("bands.event_cooldown_seconds", b.event_cooldown_seconds),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, format!("{v} must be 0 or more seconds"));
            }
        }
        if b.exit_stability_samples == 0 {
            return bad("bands.exit_stability_samples", "must be at least 1");
        }
        let sc = &self.scoring;
        for (key, v) in [
            ("scoring.fair_share_percent", sc.fair_share_percent),
            ("scoring.curve_scale", sc.curve_scale),
            ("scoring.disk_capacity_floor", sc.disk_capacity_floor),
            ("scoring.wakeups_capacity_floor", sc.wakeups_capacity_floor),
            ("scoring.gpu_capacity", sc.gpu_capacity),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, format!("{v} must be a number above 0"));
            }
        }
        for &r in Resource::ALL {
            let w = sc.weights.get(r);
            if !(w.is_finite() && w >= 0.0) {
                return bad(
                    &format!("scoring.weights.{r}"),
                    format!("{w} must be 0 or more"),
                );
            }
            let t = sc.active_thresholds.get(r);
            if !(t.is_finite() && t >= 0.0) {
                return bad(
                    &format!("scoring.active_thresholds.{r}"),
                    format!("{t} must be 0 or more"),
                );
            }
        }
        let m = &sc.state_multipliers;
        for (key, v) in [
            ("running", m.running),
            ("sleeping", m.sleeping),
            ("disk_sleep", m.disk_sleep),
            ("stopped", m.stopped),
            ("zombie", m.zombie),
            ("idle", m.idle),
            ("dead", m.dead),
            ("unknown", m.unknown),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(
                    &format!("scoring.state_multipliers.{key}"),
                    format!("{v} is not between 0 and 1"),
                );
            }
        }
        let sel = &self.selection;
        if sel.top_n == 0 || sel.top_n > 1000 {
            return bad(
                "selection.top_n",
                format!("{} is not between 1 and 1000", sel.top_n),
            );
        }
        if sel.deep_refresh_samples == 0 {
            return bad("selection.deep_refresh_samples", "must be at least 1");
        }
        for (key, name) in [
            ("tui.color_low", &self.tui.color_low),
            ("tui.color_medium", &self.tui.color_medium),
            ("tui.color_elevated", &self.tui.color_elevated),
            ("tui.color_high", &self.tui.color_high),
            ("tui.color_critical", &self.tui.color_critical),
        ] {
            if !is_color_name(name) {
                return bad(
                    key,
                    format!(
                        "\"{name}\" is not a colour (use a name like red, lightred, yellow, or #rrggbb)"
                    ),
                );
            }
        }
        if self.retention.events_days == 0 {
            return bad("retention.events_days", "must be at least 1 day");
        }
        if !(self.retention.prune_interval_hours.is_finite()
            && self.retention.prune_interval_hours > 0.0)
        {
            return bad("retention.prune_interval_hours", "must be above 0");
        }
        let f = &self.forensics;
        if !(f.source_timeout.is_finite() && f.source_timeout > 0.0) {
            return bad("forensics.source_timeout", "must be above 0 seconds");
        }
        if !(f.log_window_minutes.is_finite() && f.log_window_minutes >= 0.0) {
            return bad("forensics.log_window_minutes", "must be 0 or more");
        }
        let n = &self.notifications;
        if !(n.min_interval_seconds.is_finite() && n.min_interval_seconds >= 0.0) {
            return bad(
                "notifications.min_interval_seconds",
                format!("{} must be 0 or more seconds", n.min_interval_seconds),
            );
        }
        self.metrics.listen_addr()?;
        if self.metrics.top_n == 0 || self.metrics.top_n > 100 {
            return bad(
                "metrics.top_n",
                format!("{} is not between 1 and 100", self.metrics.top_n),
            );
        }
        if self.logging.max_file_bytes < 4096 {
            return bad("logging.max_file_bytes", "must be at least 4096");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.logging.level).is_err() {
            return bad(
                "logging.level",
                format!(
                    "\"{}\" is not a level filter (error, warn, info, debug, trace)",
                    self.logging.level
                ),
            );
        }
        Ok(())
    }

    /// The effective configuration as TOML text.
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of numbers, strings and enums cannot fail.
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Colour names the TUI understands (ratatui's names, plus `#rrggbb`).
pub fn is_color_name(name: &str) -> bool {
    const NAMES: [&str; 17] = [
        "black",
        "red",
        "green",
        "yellow",
        "blue",
        "magenta",
        "cyan",
        "gray",
        "darkgray",
        "lightred",
        "lightgreen",
        "lightyellow",
        "lightblue",
        "lightmagenta",
        "lightcyan",
        "white",
        "reset",
    ];
    let lower = name.to_ascii_lowercase();
    NAMES.contains(&lower.as_str())
        || (lower.len() == 7
            && lower.starts_with('#')
            && lower[1..].chars().all(|c| c.is_ascii_hexdigit()))
}

/// Where things live. Every path derives from XDG variables (with the usual
/// fallbacks under `$HOME`), so tests isolate themselves by setting them.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
}

impl Paths {
    /// Resolve from the process environment.
    pub fn from_env() -> Result<Paths, ConfigError> {
        Self::resolve(
            |k| std::env::var_os(k).filter(|v| !v.is_empty()),
            crate::sys::current_uid(),
        )
    }

    /// Resolve with an explicit environment lookup (testable).
    pub fn resolve(
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
        uid: u32,
    ) -> Result<Paths, ConfigError> {
        let home = var("HOME").map(PathBuf::from);
        let xdg = |name: &str, fallback: &str| -> Result<PathBuf, ConfigError> {
            if let Some(v) = var(name).map(PathBuf::from).filter(|p| p.is_absolute()) {
                return Ok(v.join(APP));
            }
            match &home {
                Some(h) => Ok(h.join(fallback).join(APP)),
                None => Err(ConfigError::Paths(format!(
                    "neither ${name} nor $HOME is set: cannot place rogue-hunter's files"
                ))),
            }
        };
        let config_dir = xdg("XDG_CONFIG_HOME", ".config")?;
        let data_dir = xdg("XDG_DATA_HOME", ".local/share")?;
        let state_dir = xdg("XDG_STATE_HOME", ".local/state")?;
        let runtime_dir = match var("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p.join(APP),
            _ => std::env::temp_dir().join(format!("{APP}-{uid}")),
        };
        Ok(Paths {
            config_file: config_dir.join("config.toml"),
            data_dir,
            state_dir,
            runtime_dir,
        })
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("data.db")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("daemon.log")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("daemon.sock")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.data_dir.join("daemon.lock")
    }
}

/// Which files a load reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `/etc/rogue-hunter/config.toml` unless overridden (tests point it elsewhere).
    pub system_file: Option<PathBuf>,
    pub user_file: PathBuf,
    /// True when the user file was named explicitly (`--config`): then it must exist.
    pub user_file_required: bool,
}

impl Sources {
    pub fn new(paths: &Paths, explicit: Option<&Path>) -> Sources {
        let system_file = match std::env::var_os("ROGUE_HUNTER_SYSTEM_CONFIG") {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(PathBuf::from(p)),
            None => Some(PathBuf::from(SYSTEM_CONFIG)),
        };
        Sources {
            system_file,
            user_file: explicit
                .map(Path::to_path_buf)
                .unwrap_or_else(|| paths.config_file.clone()),
            user_file_required: explicit.is_some(),
        }
    }
}

/// Check one file on its own, so a syntax error or unknown key reports the file,
/// the line and the key.
pub fn check_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    if let Err(e) = toml::from_str::<Config>(&text) {
        let mut message = e.message().trim().to_string();
        if let Some(span) = e.span() {
            let upto = &text[..span.start.min(text.len())];
            let line = upto.matches('\n').count() + 1;
            let col = upto
                .rsplit('\n')
                .next()
                .map(|l| l.chars().count())
                .unwrap_or(0)
                + 1;
            let key =
                key_at(&text, span.start).unwrap_or_else(|| text[span.clone()].trim().to_string());
            message = format!("line {line}, column {col}, key `{key}`: {message}");
        }
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message,
        });
    }
    Ok(Some(text))
}

/// The dotted key (`section.key`) of the line holding byte `offset`, if that
/// line is a `key = value` line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(sec) => format!("{sec}.{key}"),
        None => key.to_string(),
    })
}

/// Load the layered configuration (without command-line overrides) and validate it.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(system) = &sources.system_file
        && check_file(system)?.is_some()
    {
        figment = figment.merge(Toml::file_exact(system));
    }
    match check_file(&sources.user_file)? {
        Some(_) => figment = figment.merge(Toml::file_exact(&sources.user_file)),
        None if sources.user_file_required => {
            return Err(ConfigError::File {
                path: sources.user_file.clone(),
                message: "no such file (named by --config)".into(),
            });
        }
        None => {}
    }
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .ignore(&NON_CONFIG_ENV)
            .split("__")
            .lowercase(true),
    );
    let config: Config = figment.extract().map_err(|e| {
        let mut parts = Vec::new();
        for err in e {
            let mut text = err.to_string();
            if let Some(meta) = &err.metadata {
                text = format!("{text} (from {})", meta.name);
                if let Some(src) = &meta.source {
                    text = format!("{text}: {src}");
                }
            }
            parts.push(text);
        }
        ConfigError::Layered(parts.join("; "))
    })?;
    config.validate()?;
    Ok(config)
}

/// Commented defaults, as written by `config reset`.
pub fn default_file_text() -> String {
    format!(
        "# rogue-hunter configuration. Every key is optional; these are the defaults.\n\
         # Environment overrides: ROGUE_HUNTER_<SECTION>__<KEY>, e.g. ROGUE_HUNTER_SYSTEM__SAMPLE_INTERVAL=0.5\n\n{}",
        Config::default().to_toml()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn sources(user: PathBuf) -> Sources {
        Sources {
            system_file: None,
            user_file: user,
            user_file_required: true,
        }
    }

    #[test]
    fn defaults_validate_and_round_trip_through_toml() {
        let c = Config::default();
        c.validate().unwrap();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        assert!((c.system.sample_interval - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "c.toml",
            "[system]\nsample_interval = 1.0\nsample_intervall = 2\n",
        );
        let err = load(&sources(p.clone())).unwrap_err().to_string();
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("sample_intervall"), "{err}");
    }

    #[test]
    fn syntax_error_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.toml", "[bands]\nmedium = \n");
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_value_names_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.toml", "[bands]\nhigh = 20.0\n");
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(err.contains("bands.high"), "{err}");
        let p = write(
            dir.path(),
            "d.toml",
            "[bands]\ntracking_band = \"severe\"\n",
        );
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(
            err.contains("tracking_band") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn user_file_overrides_system_file() {
        let dir = tempfile::tempdir().unwrap();
        let sys = write(
            dir.path(),
            "sys.toml",
            "[system]\nring_buffer_size = 10\nheartbeat_samples = 7\n",
        );
        let user = write(dir.path(), "user.toml", "[system]\nring_buffer_size = 20\n");
        let c = load(&Sources {
            system_file: Some(sys),
            user_file: user,
            user_file_required: false,
        })
        .unwrap();
        assert_eq!(c.system.ring_buffer_size, 20);
        assert_eq!(c.system.heartbeat_samples, 7);
    }

    #[test]
    fn missing_optional_files_give_defaults_but_explicit_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(&Sources {
            system_file: Some(dir.path().join("nope.toml")),
            user_file: dir.path().join("nope2.toml"),
            user_file_required: false,
        })
        .unwrap();
        assert_eq!(c, Config::default());
        let err = load(&sources(dir.path().join("gone.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("gone.toml"), "{err}");
    }

    #[test]
    fn band_ladder() {
        let b = BandsConfig::default();
        assert_eq!(b.band_for(0.0), Band::Low);
        assert_eq!(b.band_for(b.medium), Band::Medium);
        assert_eq!(b.band_for(b.elevated + 0.1), Band::Elevated);
        assert_eq!(b.band_for(b.high), Band::High);
        assert_eq!(b.band_for(100.0), Band::Critical);
    }

    #[test]
    fn paths_follow_xdg_and_fall_back_to_home() {
        let env = |k: &str| -> Option<OsString> {
            match k {
                "HOME" => Some("/home/u".into()),
                "XDG_DATA_HOME" => Some("/x/data".into()),
                "XDG_STATE_HOME" => Some("relative/ignored".into()),
                _ => None,
            }
        };
        let p = Paths::resolve(env, 1000).unwrap();
        assert_eq!(p.database(), PathBuf::from("/x/data/rogue-hunter/data.db"));
        assert_eq!(
            p.config_file,
            PathBuf::from("/home/u/.config/rogue-hunter/config.toml")
        );
        assert_eq!(
            p.log_file(),
            PathBuf::from("/home/u/.local/state/rogue-hunter/daemon.log")
        );
        assert!(p.runtime_dir.ends_with("rogue-hunter-1000"));
        assert!(Paths::resolve(|_| None, 0).is_err());
    }

    #[test]
    fn notifications_and_metrics_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "c.toml",
            "[notifications]\nmode = \"sound\"\nmin_interval_seconds = 5\n[metrics]\nenabled = true\nlisten = \"[::1]:0\"\ntop_n = 3\n",
        );
        let c = load(&sources(p)).unwrap();
        assert_eq!(c.notifications.mode, NotificationMode::Sound);
        assert_eq!(c.notifications.min_interval_seconds, 5.0);
        assert!(c.metrics.enabled);
        assert_eq!(c.metrics.listen_addr().unwrap().port(), 0);
        assert_eq!(c.metrics.top_n, 3);
        let p = write(dir.path(), "d.toml", "[metrics]\nlisten = \"localhost\"\n");
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(err.contains("metrics.listen"), "{err}");
        let p = write(dir.path(), "e.toml", "[notifications]\nmode = \"loud\"\n");
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(
            err.contains("notifications.mode") && err.contains("line 2"),
            "{err}"
        );
        let p = write(dir.path(), "f.toml", "[metrics]\ntop_n = 0\n");
        let err = load(&sources(p)).unwrap_err().to_string();
        assert!(err.contains("metrics.top_n"), "{err}");
        let d = Config::default();
        assert_eq!(d.notifications.mode, NotificationMode::On);
        assert!(!d.metrics.enabled);
        assert_eq!(d.metrics.listen, "127.0.0.1:9777");
    }

    #[test]
    fn colours() {
        assert!(is_color_name("LightRed") && is_color_name("#ff8800"));
        assert!(!is_color_name("reddish") && !is_color_name("#ff88"));
    }
}
