//! Where rogue-hunter's files live (XDG base directories).

use super::ConfigError;
use std::path::PathBuf;

pub const APP: &str = "rogue-hunter";

/// Where things live. Every path derives from XDG variables (with the usual
/// fallbacks under `$HOME`), so tests isolate themselves by setting them.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub(crate) config_file: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) runtime_dir: PathBuf,
}

impl Paths {
    /// Resolve from the process environment.
    pub(crate) fn from_env() -> Result<Paths, ConfigError> {
        Self::resolve(
            |k| std::env::var_os(k).filter(|v| !v.is_empty()),
            crate::sys::current_uid(),
        )
    }

    /// Resolve with an explicit environment lookup (testable).
    pub(crate) fn resolve(
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
        _uid: u32,
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
        // Without a runtime directory the socket goes under the user's own
        // state directory: a predictable name in /tmp could be pre-created by
        // another user.
        let runtime_dir = match var("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p.join(APP),
            _ => state_dir.join("run"),
        };
        Ok(Paths {
            config_file: config_dir.join("config.toml"),
            data_dir,
            state_dir,
            runtime_dir,
        })
    }

    pub(crate) fn database(&self) -> PathBuf {
        self.data_dir.join("data.db")
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.state_dir.join("daemon.log")
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.runtime_dir.join("daemon.sock")
    }

    pub(crate) fn lock_file(&self) -> PathBuf {
        self.data_dir.join("daemon.lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

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
        assert_eq!(
            p.runtime_dir,
            PathBuf::from("/home/u/.local/state/rogue-hunter/run")
        );
        assert!(Paths::resolve(|_| None, 0).is_err());
    }
}
