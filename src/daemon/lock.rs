//! Single instance per data directory: an advisory lock (`flock`) on
//! `daemon.lock`, freed by the kernel when the holder dies, with the holder's
//! PID written inside so a second daemon can say who is running.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("rogue-hunter daemon is already running (pid {pid}) for {path}")]
    Held { pid: String, path: PathBuf },
    #[error("cannot open lock file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the daemon's lifetime; released on drop or process death.
#[derive(Debug)]
pub(crate) struct InstanceLock {
    _file: File,
}

fn open(path: &Path) -> Result<File, LockError> {
    use std::os::unix::fs::OpenOptionsExt;
    // Owner-only whatever the umask (it names the daemon's PID).
    OpenOptions::new()
        .mode(0o600)
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| LockError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Make a lock file left by an older version owner-only too.
fn make_private(file: &File) {
    use std::os::unix::fs::PermissionsExt;
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
}

fn holder_pid(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    let pid = text.trim();
    if pid.is_empty() {
        "unknown".into()
    } else {
        pid.to_string()
    }
}

impl InstanceLock {
    /// Take the lock or say who holds it.
    pub(crate) fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    pid: holder_pid(&mut file),
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        make_private(&file);
        let write = file
            .set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|_| file.flush());
        write.map_err(|source| LockError::Lock {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(InstanceLock { _file: file })
    }

    /// Who holds the lock, if anyone (without taking it for long).
    pub(crate) fn holder(path: &Path) -> Option<u32> {
        let mut file = File::open(path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => holder_pid(&mut file).parse().ok(),
            Err(TryLockError::Error(_)) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        assert_eq!(InstanceLock::holder(&path), Some(std::process::id()));
        let err = InstanceLock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains("already running"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert_eq!(InstanceLock::holder(&path), None);
        InstanceLock::acquire(&path).unwrap();
    }

    #[test]
    fn unopenable_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let err = InstanceLock::acquire(&file.join("daemon.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open lock file"), "{err}");
    }
}
