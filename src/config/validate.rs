//! Checks of the values that types alone cannot express, as one table
//! ([`RULES`]): each rule is one line with the dotted key (which is also the
//! field it reads), the check and the message (`{v}` stands for the value,
//! `{w}` for the value it is compared with). Rules run in order; the first
//! that fails is the error, naming its key.

use super::{Config, ConfigError, LISTEN_MESSAGE};
use crate::model::Band;
use std::fmt;

/// A configuration value as a rule sees it.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Float(f64),
    Int(u64),
    Text(&'a str),
    Band(Band),
}

impl<'a> Value<'a> {
    /// The value as a finite number, if it is one.
    fn number(self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(v).filter(|v| v.is_finite()),
            Value::Int(v) => Some(v as f64),
            Value::Text(_) | Value::Band(_) => None,
        }
    }

    fn text(self) -> Option<&'a str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(v) => v.fmt(f),
            Value::Int(v) => v.fmt(f),
            Value::Text(v) => v.fmt(f),
            Value::Band(v) => v.fmt(f),
        }
    }
}

/// How a field's type turns into a [`Value`].
trait AsValue {
    fn as_value(&self) -> Value<'_>;
}

impl AsValue for f64 {
    fn as_value(&self) -> Value<'_> {
        Value::Float(*self)
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl AsValue for $t {
            fn as_value(&self) -> Value<'_> {
                Value::Int(u64::try_from(*self).unwrap_or(u64::MAX))
            }
        }
    )*};
}
int_value!(u32, u64, usize);

impl AsValue for String {
    fn as_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl AsValue for Band {
    fn as_value(&self) -> Value<'_> {
        Value::Band(*self)
    }
}

/// What a rule requires of its value.
#[derive(Clone, Copy)]
enum Check {
    /// A number from `lo` to `hi`, both included.
    Between(f64, f64),
    /// A number of at least `lo`.
    AtLeast(f64),
    /// A number above `lo`.
    Above(f64),
    /// A number above another key's (`{w}`).
    AboveOf(fn(&Config) -> f64),
    /// Any band but this one.
    NotBand(Band),
    /// A band no lower than another key's (`{w}`).
    BandNotBelow(fn(&Config) -> Band),
    /// A colour name the TUI understands ([`is_color_name`]).
    Colour,
    /// An address and port (`127.0.0.1:9777`, `[::1]:0`).
    SocketAddr,
    /// A tracing level filter (`info`, `rogue_hunter=debug,warn`).
    LevelFilter,
}

/// One validation rule.
struct Rule {
    /// The dotted key errors name.
    key: &'static str,
    value: for<'a> fn(&'a Config) -> Value<'a>,
    check: Check,
    /// `{v}`: the value; `{w}`: the value it is compared with.
    message: &'static str,
}

/// One line per rule: `section.key, Check, "message";`. The field path is
/// the dotted key errors name (the structs use the TOML names).
macro_rules! rules {
    ($($first:ident $(. $rest:ident)*, $check:expr, $message:expr;)*) => {
        &[$(Rule {
            key: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            value: |c| c.$first$(.$rest)*.as_value(),
            check: $check,
            message: $message,
        },)*]
    };
}

use Check::*;

const COLOUR_MESSAGE: &str =
    "\"{v}\" is not a colour (use a name like red, lightred, yellow, or #rrggbb)";

#[rustfmt::skip]
const RULES: &[Rule] = rules! {
    system.sample_interval,               Between(0.01, 3600.0), "{v} is not between 0.01 and 3600 seconds";
    system.ring_buffer_size,              Between(1.0, 100_000.0), "{v} is not between 1 and 100000";
    system.forensics_debounce,            AtLeast(0.0), "must be 0 or more seconds";
    system.heartbeat_samples,             AtLeast(1.0), "must be at least 1";
    bands.medium,                         Between(0.0, 100.0), "{v} is not a score between 0 and 100";
    bands.elevated,                       Between(0.0, 100.0), "{v} is not a score between 0 and 100";
    bands.high,                           Between(0.0, 100.0), "{v} is not a score between 0 and 100";
    bands.critical,                       Between(0.0, 100.0), "{v} is not a score between 0 and 100";
    bands.elevated,                       AboveOf(|c| c.bands.medium), "{v} must be above bands.medium ({w})";
    bands.high,                           AboveOf(|c| c.bands.elevated), "{v} must be above bands.elevated ({w})";
    bands.critical,                       AboveOf(|c| c.bands.high), "{v} must be above bands.high ({w})";
    bands.tracking_band,                  NotBand(Band::Low), "\"low\" would track every process; use medium or above";
    bands.forensics_band,                 BandNotBelow(|c| c.bands.tracking_band), "{v} is below tracking_band ({w}): forensics run only for tracked processes";
    bands.checkpoint_medium,              AtLeast(0.0), "{v} must be 0 or more seconds";
    bands.checkpoint_elevated,            AtLeast(0.0), "{v} must be 0 or more seconds";
    bands.checkpoint_high,                AtLeast(0.0), "{v} must be 0 or more seconds";
    bands.checkpoint_critical,            AtLeast(0.0), "{v} must be 0 or more seconds";
    bands.event_cooldown_seconds,         AtLeast(0.0), "{v} must be 0 or more seconds";
    bands.exit_stability_samples,         AtLeast(1.0), "must be at least 1";
    scoring.fair_share_percent,           Above(0.0), "{v} must be a number above 0";
    scoring.curve_scale,                  Above(0.0), "{v} must be a number above 0";
    scoring.disk_capacity_floor,          Above(0.0), "{v} must be a number above 0";
    scoring.wakeups_capacity_floor,       Above(0.0), "{v} must be a number above 0";
    scoring.gpu_capacity,                 Above(0.0), "{v} must be a number above 0";
    scoring.weights.cpu,                  AtLeast(0.0), "{v} must be 0 or more";
    scoring.active_thresholds.cpu,        AtLeast(0.0), "{v} must be 0 or more";
    scoring.weights.gpu,                  AtLeast(0.0), "{v} must be 0 or more";
    scoring.active_thresholds.gpu,        AtLeast(0.0), "{v} must be 0 or more";
    scoring.weights.memory,               AtLeast(0.0), "{v} must be 0 or more";
    scoring.active_thresholds.memory,     AtLeast(0.0), "{v} must be 0 or more";
    scoring.weights.disk,                 AtLeast(0.0), "{v} must be 0 or more";
    scoring.active_thresholds.disk,       AtLeast(0.0), "{v} must be 0 or more";
    scoring.weights.wakeups,              AtLeast(0.0), "{v} must be 0 or more";
    scoring.active_thresholds.wakeups,    AtLeast(0.0), "{v} must be 0 or more";
    scoring.state_multipliers.running,    Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.sleeping,   Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.disk_sleep, Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.stopped,    Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.zombie,     Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.idle,       Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.dead,       Between(0.0, 1.0), "{v} is not between 0 and 1";
    scoring.state_multipliers.unknown,    Between(0.0, 1.0), "{v} is not between 0 and 1";
    selection.top_n,                      Between(1.0, 1000.0), "{v} is not between 1 and 1000";
    selection.top_groups,                 Between(0.0, 100.0), "{v} is not between 0 and 100";
    selection.deep_refresh_samples,       AtLeast(1.0), "must be at least 1";
    tui.color_low,                        Colour, COLOUR_MESSAGE;
    tui.color_medium,                     Colour, COLOUR_MESSAGE;
    tui.color_elevated,                   Colour, COLOUR_MESSAGE;
    tui.color_high,                       Colour, COLOUR_MESSAGE;
    tui.color_critical,                   Colour, COLOUR_MESSAGE;
    tui.fallback_seconds,                 Between(0.0, 3600.0), "{v} is not between 0 and 3600 seconds";
    retention.events_days,                AtLeast(1.0), "must be at least 1 day";
    retention.prune_interval_hours,       Above(0.0), "must be above 0";
    history.top_n,                        Between(1.0, 1000.0), "{v} is not between 1 and 1000";
    history.top_groups,                   Between(0.0, 100.0), "{v} is not between 0 and 100";
    history.keep_days,                    AtLeast(1.0), "must be at least 1 day";
    forensics.source_timeout,             Above(0.0), "must be above 0 seconds";
    forensics.log_window_minutes,         AtLeast(0.0), "must be 0 or more";
    forensics.buffer_samples,             Between(1.0, 100_000.0), "{v} is not between 1 and 100000";
    notifications.min_interval_seconds,   AtLeast(0.0), "{v} must be 0 or more seconds";
    metrics.listen,                       SocketAddr, LISTEN_MESSAGE;
    metrics.top_n,                        Between(1.0, 100.0), "{v} is not between 1 and 100";
    live.max_clients,                     Between(1.0, 4096.0), "{v} is not between 1 and 4096";
    logging.max_file_bytes,               AtLeast(4096.0), "must be at least 4096";
    logging.level,                        LevelFilter, "\"{v}\" is not a level filter (error, warn, info, debug, trace)";
    stalls.min_seconds,                   Above(0.0), "{v} must be above 0 seconds";
    stalls.pressure_share,                Between(0.01, 1.0), "{v} is not a share between 0.01 and 1";
    stalls.cpu_pressure_share,            Between(0.01, 1.0), "{v} is not a share between 0.01 and 1";
    stalls.pressure_quiet_samples,        AtLeast(1.0), "must be at least 1";
    stalls.stuck_seconds,                 Above(0.0), "{v} must be above 0 seconds";
    stalls.capture_min_seconds,           AtLeast(0.0), "{v} must be 0 or more seconds";
};

impl Rule {
    /// The error naming this rule's key when the rule fails for `config`.
    fn apply(&self, config: &Config) -> Result<(), ConfigError> {
        let value = (self.value)(config);
        let (number, text) = (value.number(), value.text());
        let mut other = None;
        let ok = match self.check {
            Between(lo, hi) => number.is_some_and(|v| (lo..=hi).contains(&v)),
            AtLeast(lo) => number.is_some_and(|v| v >= lo),
            Above(lo) => number.is_some_and(|v| v > lo),
            AboveOf(of) => {
                let w = of(config);
                other = Some(w.to_string());
                number.is_some_and(|v| v > w)
            }
            NotBand(band) => !matches!(value, Value::Band(b) if b == band),
            BandNotBelow(of) => {
                let w = of(config);
                other = Some(w.to_string());
                matches!(value, Value::Band(b) if b >= w)
            }
            Colour => text.is_some_and(is_color_name),
            SocketAddr => text.is_some_and(|t| t.trim().parse::<std::net::SocketAddr>().is_ok()),
            LevelFilter => text.is_some_and(|t| tracing_subscriber::EnvFilter::try_new(t).is_ok()),
        };
        if ok {
            return Ok(());
        }
        let mut message = self.message.replace("{v}", &value.to_string());
        if let Some(w) = other {
            message = message.replace("{w}", &w);
        }
        Err(ConfigError::Invalid {
            key: self.key.into(),
            message,
        })
    }
}

impl Config {
    /// Check the values against the rule table; the first rule that fails is the
    /// error, naming its dotted key.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for rule in RULES {
            rule.apply(self)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProcessState, Resource};

    #[test]
    fn colours() {
        assert!(is_color_name("LightRed") && is_color_name("#ff8800"));
        assert!(!is_color_name("reddish") && !is_color_name("#ff88"));
    }

    fn error(c: &Config) -> (String, String) {
        match c.validate() {
            Err(ConfigError::Invalid { key, message }) => (key, message),
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn every_rule_names_a_real_key() {
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        for rule in RULES {
            let found = rule
                .key
                .split('.')
                .try_fold(&defaults, |v, part| v.get(part));
            assert!(found.is_some(), "rule for unknown key {}", rule.key);
            // The value read is the one the key names.
            let shown = (rule.value)(&Config::default()).to_string();
            let in_toml = match found {
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => unreachable!(),
            };
            let as_number = |s: &str| s.parse::<f64>().ok();
            assert!(
                shown == in_toml || as_number(&shown) == as_number(&in_toml),
                "{}: rule reads {shown}, the key holds {in_toml}",
                rule.key
            );
        }
    }

    #[test]
    fn every_resource_and_state_has_its_rules() {
        let keys: Vec<&str> = RULES.iter().map(|r| r.key).collect();
        for r in Resource::ALL {
            for table in ["weights", "active_thresholds"] {
                let key = format!("scoring.{table}.{r}");
                assert!(keys.contains(&key.as_str()), "no rule for {key}");
            }
        }
        for s in ProcessState::ALL {
            let key = format!("scoring.state_multipliers.{s}");
            assert!(keys.contains(&key.as_str()), "no rule for {key}");
        }
    }

    #[test]
    fn messages_show_the_values() {
        let mut c = Config::default();
        c.bands.medium = 80.0;
        assert_eq!(
            error(&c),
            (
                "bands.elevated".into(),
                "45 must be above bands.medium (80)".into()
            )
        );
        let mut c = Config::default();
        c.system.sample_interval = f64::NAN;
        assert_eq!(error(&c).0, "system.sample_interval");
        let mut c = Config::default();
        c.system.ring_buffer_size = 0;
        assert_eq!(
            error(&c),
            (
                "system.ring_buffer_size".into(),
                "0 is not between 1 and 100000".into()
            )
        );
        let mut c = Config::default();
        c.bands.tracking_band = Band::High;
        c.bands.forensics_band = Band::Elevated;
        assert_eq!(
            error(&c),
            (
                "bands.forensics_band".into(),
                "elevated is below tracking_band (high): forensics run only for tracked processes"
                    .into()
            )
        );
        let mut c = Config::default();
        c.bands.tracking_band = Band::Low;
        assert_eq!(error(&c).0, "bands.tracking_band");
        let mut c = Config::default();
        c.metrics.listen = "localhost".into();
        let (key, message) = error(&c);
        assert_eq!(key, "metrics.listen");
        assert!(
            message.starts_with("\"localhost\" is not an address"),
            "{message}"
        );
        assert_eq!(
            Some(message),
            c.metrics.listen_addr().err().map(|e| match e {
                ConfigError::Invalid { message, .. } => message,
                other => other.to_string(),
            })
        );
        let mut c = Config::default();
        c.logging.level = "info,=".into();
        assert_eq!(error(&c).0, "logging.level");
        let mut c = Config::default();
        c.scoring.state_multipliers.stopped = 1.5;
        assert_eq!(
            error(&c),
            (
                "scoring.state_multipliers.stopped".into(),
                "1.5 is not between 0 and 1".into()
            )
        );
    }
}
