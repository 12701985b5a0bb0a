//! Configuration: typed sections with their defaults (this module), layered
//! loading from files and the environment (`load`), checks of the values
//! (`validate`) and the paths every other module uses (`paths`).
//!
//! The structs here are plain data: the pure core (`score`, `tracker`,
//! `collect`) uses them and nothing else of this module. Layers, later wins:
//! built-in defaults < `/etc/rogue-hunter/config.toml` < user file (or
//! `--config FILE`) < `ROGUE_HUNTER_<SECTION>__<KEY>` environment <
//! command-line overrides applied by the caller. Unknown keys and bad values
//! are errors that name the file and key.

mod load;
mod paths;
mod validate;

pub use load::{ENV_PREFIX, NON_CONFIG_ENV, SYSTEM_CONFIG, Sources, check_file, load};
pub use paths::{APP, Paths};
pub use validate::is_color_name;

use crate::model::{Band, ProcessState, Resource};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    pub stalls: StallsConfig,
    pub history: HistoryConfig,
    pub live: LiveConfig,
}

/// `[live]`: the live stream on the daemon's socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Clients (dashboards, `status`) served at once; the next one is told
    /// so and closed.
    pub max_clients: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { max_clients: 64 }
    }
}

/// `[stalls]` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StallsConfig {
    pub enabled: bool,
    /// A scheduling stall is an oversleep of at least this many seconds
    /// beyond the sampling interval; a pressure stall needs this much
    /// stalled time.
    pub min_seconds: f64,
    /// An interval whose PSI stalled time is at least this share of it
    /// (0-1) is part of a memory or io pressure stall (`full`).
    pub pressure_share: f64,
    /// The same for cpu (`some`: at least one task waited for a CPU).
    pub cpu_pressure_share: f64,
    /// Quiet samples that end a pressure stall.
    pub pressure_quiet_samples: u32,
    /// A process continuously in `D` this long is stuck.
    pub stuck_seconds: f64,
    /// Stalls at least this long get a forensic capture (debounced).
    pub capture_min_seconds: f64,
}

impl Default for StallsConfig {
    fn default() -> Self {
        StallsConfig {
            enabled: true,
            min_seconds: 1.0,
            pressure_share: 0.2,
            cpu_pressure_share: 0.9,
            pressure_quiet_samples: 3,
            stuck_seconds: 2.0,
            capture_min_seconds: 2.0,
        }
    }
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
    /// Groups reported per kind (tree, cgroup, app) per sample (`groups`);
    /// 0 turns grouping off.
    pub top_groups: usize,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            top_n: 20,
            deep_candidates: 12,
            deep_refresh_samples: 30,
            top_groups: 10,
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
    /// Seconds after losing the daemon before the dashboard samples on its
    /// own (it keeps looking for the daemon and switches back when it is up).
    pub fallback_seconds: f64,
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
            fallback_seconds: 3.0,
        }
    }
}

/// `[history]`: the continuous recording (docs/architecture.md, History).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Record every second at all.
    pub enabled: bool,
    /// Processes recorded each second (by score), besides every tracked one.
    pub top_n: usize,
    /// Groups recorded each second per kind (tree, cgroup, app), the worst.
    pub top_groups: usize,
    /// Days of recording kept; older blocks are pruned whole.
    pub keep_days: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            top_n: 20,
            top_groups: 5,
            keep_days: 7,
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
    /// The newest samples the ring buffer keeps whole for a capture's `frozen`
    /// buffer (its ranges and the culprits cover all `ring_buffer_size`).
    pub buffer_samples: usize,
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
            buffer_samples: 90,
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

/// What is wrong with a `metrics.listen` that does not parse (`{v}`: the value).
pub(crate) const LISTEN_MESSAGE: &str =
    "\"{v}\" is not an address and port (examples: 127.0.0.1:9777, [::1]:9777, 0.0.0.0:9777)";

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
                message: LISTEN_MESSAGE.replace("{v}", &self.listen),
            })
    }
}

impl Config {
    /// The effective configuration as TOML text.
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of numbers, strings and enums cannot fail.
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
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

    #[test]
    fn defaults_validate_and_round_trip_through_toml() {
        let c = Config::default();
        c.validate().unwrap();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        assert!((c.system.sample_interval - 1.0 / 3.0).abs() < 1e-12);
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
}
