//! Directories private to the current user.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Why a private directory cannot be used (the message names the directory).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrivateDirError(pub String);

/// Create `dir` (and parents) private to the current user: mode 0700, owned by
/// us. An existing directory owned by someone else is refused; one that is
/// ours but open to others is made private.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    let fail = |m: String| Err(PrivateDirError(m));
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return fail(format!("cannot create directory {}: {e}", dir.display()));
    }
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot inspect directory {}: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return fail(format!("{} exists and is not a directory", dir.display()));
    }
    let me = super::current_uid();
    if meta.uid() != me {
        return fail(format!(
            "{} is owned by uid {}, not by you (uid {me}): refusing to use it",
            dir.display(),
            meta.uid(),
        ));
    }
    if meta.mode() & 0o077 != 0
        && let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    {
        return fail(format!("cannot make {} private: {e}", dir.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_and_tightens_an_open_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        let err = ensure_private_dir(&file).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
}
