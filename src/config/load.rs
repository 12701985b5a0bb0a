//! Loading: the layers merged through figment (defaults < `/etc` file < user
//! file or `--config` < `ROGUE_HUNTER_<SECTION>__<KEY>` environment), each file
//! checked on its own first so an error names the file, line and dotted key,
//! then the result validated.

use super::{Config, ConfigError, Paths};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::path::{Path, PathBuf};

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

/// Which files a load reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `/etc/rogue-hunter/config.toml` unless overridden (tests point it elsewhere).
    pub(crate) system_file: Option<PathBuf>,
    pub(crate) user_file: PathBuf,
    /// True when the user file was named explicitly (`--config`): then it must exist.
    pub(crate) user_file_required: bool,
}

impl Sources {
    pub(crate) fn new(paths: &Paths, explicit: Option<&Path>) -> Sources {
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
            let from_env = err
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let text = match (&err.metadata, from_env) {
                // The variable as the user typed it, once: `NAME=value: why`.
                (_, true) => {
                    let var = env_var_name(&err.path.join("."));
                    let value = std::env::var(&var).unwrap_or_default();
                    format!("{var}={value}: {}", err.kind)
                }
                (Some(meta), false) => match &meta.source {
                    Some(src) => format!("{err} (from {}): {src}", meta.name),
                    None => format!("{err} (from {})", meta.name),
                },
                (None, false) => err.to_string(),
            };
            parts.push(text);
        }
        ConfigError::Layered(parts.join("; "))
    })?;
    config.validate().map_err(|e| match e {
        // A bad value set in the environment: say which variable.
        ConfigError::Invalid { key, message } => {
            let var = env_var_name(&key);
            match std::env::var(&var) {
                Ok(value) => ConfigError::Invalid {
                    key,
                    message: format!("{message} (from {var}={value})"),
                },
                Err(_) => ConfigError::Invalid { key, message },
            }
        }
        other => other,
    })?;
    Ok(config)
}

/// The environment variable of a dotted key: `system.sample_interval` →
/// `ROGUE_HUNTER_SYSTEM__SAMPLE_INTERVAL`.
fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotificationMode;

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
}
