//! The macOS sudoers drop-in that lets one user's daemon run exactly
//! `/usr/bin/tailspin save -o <that user's tailspin dir>/capture-*.tailspin`
//! as root, and installing it so that an invalid file is never in place:
//! written beside the target under a name sudo ignores, checked with
//! `visudo -cf`, then renamed. Compiled and tested everywhere (the check runs
//! wherever `visudo` exists).

use crate::service::{ServiceError, manager_tool};
use std::path::{Path, PathBuf};

pub(crate) const SUDOERS_DIR: &str = "/etc/sudoers.d";
pub(crate) const FILE_NAME: &str = "rogue-hunter";
pub(crate) const TAILSPIN: &str = "/usr/bin/tailspin";

/// The fixed directory `tailspin save` writes into for `uid` (the daemon's
/// macOS capture source uses the same one).
pub(crate) fn tailspin_dir_for(uid: u32) -> PathBuf {
    PathBuf::from(format!("/var/tmp/rogue-hunter-{uid}"))
}

/// A user name sudoers can carry without quoting: letters, digits, `.`, `_`,
/// `-` (not first), and not spelled like an alias (`ALL`, `ADMINS`: upper
/// case, digits and `_`), which sudoers would read as a group of users.
pub(crate) fn valid_user_name(name: &str) -> bool {
    let alias_like = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && !alias_like
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The drop-in for `user` (uid `uid`). The argument pattern names the
/// capture files the daemon writes, so the rule cannot be used to write a
/// file of any other name.
pub(crate) fn rule(user: &str, uid: u32) -> Result<String, ServiceError> {
    if !valid_user_name(user) {
        return Err(ServiceError::Usage(format!(
            "user name \"{}\" has characters a sudoers rule cannot carry safely",
            crate::format::escape(user)
        )));
    }
    let dir = tailspin_dir_for(uid);
    Ok(format!(
        "# Written by `rogue-hunter perms install`; `rogue-hunter perms uninstall` removes it.\n\
         # Lets {user}'s rogue-hunter daemon save a kernel trace (tailspin) for a forensic\n\
         # capture, into its own directory, and nothing else.\n\
         {user} ALL = (root) NOPASSWD: {TAILSPIN} save -o {}/capture-*.tailspin\n",
        dir.display()
    ))
}

/// Where the drop-in goes (`ROGUE_HUNTER_SUDOERS_DIR` for tests).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("ROGUE_HUNTER_SUDOERS_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(SUDOERS_DIR))
}

/// `visudo`, if installed.
pub(crate) fn visudo() -> Option<PathBuf> {
    ["/usr/sbin/visudo", "/usr/bin/visudo", "/sbin/visudo"]
        .iter()
        .map(PathBuf::from)
        .find(|p| crate::sys::tool::is_executable(p))
        .or_else(|| crate::sys::tool::find_in_path("visudo"))
}

/// Check a sudoers file with `visudo -cf`.
pub(crate) fn check(visudo: &Path, file: &Path) -> Result<(), ServiceError> {
    let r = manager_tool(visudo)
        .args(["-c", "-f"])
        .arg(file)
        .output()
        .map_err(|source| ServiceError::Tool {
            tool: visudo.to_path_buf(),
            source,
        })?;
    if r.success() {
        Ok(())
    } else {
        Err(ServiceError::Rejected {
            file: file.to_path_buf(),
            why: crate::format::escape(&r.why()),
        })
    }
}

/// What `install` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Installed {
    Created,
    Unchanged,
    Replaced,
}

/// Install `content` as `dir/rogue-hunter`: write `dir/.rogue-hunter.tmp`
/// (sudo skips names with a dot), mode 0440, check it with `visudo`, rename.
/// On any failure the temporary file is removed and the old file (if any)
/// is untouched.
pub(crate) fn install(dir: &Path, content: &str, visudo: &Path) -> Result<Installed, ServiceError> {
    let target = dir.join(FILE_NAME);
    let existing = std::fs::read_to_string(&target).ok();
    if existing.as_deref() == Some(content) {
        check(visudo, &target)?;
        return Ok(Installed::Unchanged);
    }
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let result = write_new(&tmp, content)
        .and_then(|_| check(visudo, &tmp))
        .and_then(|_| {
            std::fs::rename(&tmp, &target).map_err(|source| ServiceError::File {
                action: "move the rule into",
                path: target.clone(),
                source,
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|_| {
        if existing.is_some() {
            Installed::Replaced
        } else {
            Installed::Created
        }
    })
}

fn write_new(path: &Path, content: &str) -> Result<(), ServiceError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o440)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()).and_then(|_| f.sync_all()))
        .map_err(|source| ServiceError::File {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudoers_rule() {
        insta::assert_snapshot!(rule("ana", 501).unwrap());
    }

    #[test]
    fn hostile_user_names_are_refused() {
        for bad in [
            "",
            "-a",
            "a b",
            "a,b",
            "ALL",
            "ADMINS_2",
            "a\nroot ALL=(ALL) ALL",
        ] {
            assert!(rule(bad, 1).is_err(), "{bad:?}");
        }
        assert!(valid_user_name("ana.b_c-1") && valid_user_name("Ana"));
    }

    /// Validation with the real visudo, when it is installed (the CI installs
    /// the `sudo` package).
    #[test]
    fn visudo_accepts_the_rule_and_a_bad_rule_never_lands() {
        let Some(visudo) = visudo() else {
            eprintln!("visudo not installed: skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let good = rule("ana", 501).unwrap();
        assert_eq!(
            install(dir.path(), &good, &visudo).unwrap(),
            Installed::Created
        );
        assert_eq!(
            install(dir.path(), &good, &visudo).unwrap(),
            Installed::Unchanged
        );
        let target = dir.path().join(FILE_NAME);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o440
        );
        let err = install(
            dir.path(),
            "ana ALL = (root) NOPASSWD /usr/bin/tailspin save\n",
            &visudo,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("visudo rejected"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            good,
            "old rule untouched"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}
