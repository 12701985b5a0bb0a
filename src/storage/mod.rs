//! Storage: the SQLite history of rogue events, snapshots and forensic captures.
//!
//! Owns the SQL: nothing else in the crate writes SQL. `Store` is one connection
//! (opening, pragmas, migrations, errors); `Writer` is the daemon's single writer
//! thread fed by a bounded queue; the query methods serve the CLI.

mod history;
mod query;
mod schema;
mod state;
mod write;
mod writer;

#[cfg(test)]
mod tests;

pub use history::{HistoryBlockRow, HistorySummary};
pub use query::{BufferContextRow, DaemonState, EventFilter, HistoryRow};
pub(crate) use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub(crate) use state::keys;
pub use writer::{SendError, WriteOp, WriteSender, Writer, WriterStats};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another one's lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything that can go wrong with the database. Each message names the file
/// and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "no database at {path}: nothing has been recorded yet (run `rogue-hunter daemon` to start \
         recording, or check XDG_DATA_HOME)"
    )]
    Missing { path: PathBuf },

    #[error(
        "{path} is not a usable rogue-hunter database ({detail}). Move it aside (for example \
         `mv {path} {path}.broken`) and restart the daemon to begin a new history; rogue-hunter \
         never deletes it"
    )]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "{path} is locked by another process (still busy after waiting): try again; if it \
         persists, look for a stuck rogue-hunter or another program holding the database open"
    )]
    Locked { path: PathBuf },

    #[error(
        "{path} was written by a newer rogue-hunter (schema version {found}, this build supports \
         up to {supported}): upgrade rogue-hunter. The file was left untouched"
    )]
    NewerVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{path} has schema version {found}, older than this build's {supported}, and was opened \
         read-only: run `rogue-hunter prune --dry-run` (or restart the daemon) once to upgrade it; \
         its history is kept"
    )]
    OutdatedSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{path} cannot be written ({detail}): check the permissions of the file and its \
         directory, and that the filesystem is not mounted read-only"
    )]
    ReadOnly { path: PathBuf, detail: String },

    #[error(
        "cannot open {path} ({detail}): check that its directory exists and that you may read \
         and write it"
    )]
    CannotOpen { path: PathBuf, detail: String },

    #[error(
        "{blocker} is not a directory, so the database {path} cannot be created under it: move \
         that file away or point XDG_DATA_HOME somewhere else"
    )]
    NotADirectory { path: PathBuf, blocker: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("database {path}: no {what} with id {id}")]
    NotFound {
        path: PathBuf,
        what: &'static str,
        id: i64,
    },

    #[error("database {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },

    #[error("database {path}: stored JSON could not be written or read: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("the storage writer thread for {path} has stopped: {detail}")]
    WriterGone { path: PathBuf, detail: String },
}

impl StorageError {
    /// Turn a SQLite error into the variant that says what to do about it.
    pub(crate) fn from_sqlite(path: &Path, e: rusqlite::Error) -> StorageError {
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StorageError::Corrupt {
                path,
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StorageError::Locked { path }
            }
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StorageError::ReadOnly {
                path,
                detail: e.to_string(),
            },
            Some(ErrorCode::CannotOpen) => StorageError::CannotOpen {
                path,
                detail: e.to_string(),
            },
            _ => StorageError::Sqlite { path, source: e },
        }
    }
}

/// Internal error of one operation, before it is tied to a path.
#[derive(Debug)]
pub(crate) enum Fail {
    Sql(rusqlite::Error),
    Json(serde_json::Error),
    NotFound { what: &'static str, id: i64 },
    Newer { found: i64, supported: i64 },
    Invalid(String),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Json(e)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Sql(e) => write!(f, "{e}"),
            Fail::Json(e) => write!(f, "JSON: {e}"),
            Fail::NotFound { what, id } => write!(f, "no {what} with id {id}"),
            Fail::Newer { found, supported } => write!(
                f,
                "schema version {found} is newer than this build's {supported}"
            ),
            Fail::Invalid(detail) => f.write_str(detail),
        }
    }
}

impl Fail {
    pub(crate) fn at(self, path: &Path) -> StorageError {
        match self {
            Fail::Sql(e) => StorageError::from_sqlite(path, e),
            Fail::Json(source) => StorageError::Json {
                path: path.to_path_buf(),
                source,
            },
            Fail::NotFound { what, id } => StorageError::NotFound {
                path: path.to_path_buf(),
                what,
                id,
            },
            Fail::Newer { found, supported } => StorageError::NewerVersion {
                path: path.to_path_buf(),
                found,
                supported,
            },
            Fail::Invalid(detail) => StorageError::Invalid {
                path: path.to_path_buf(),
                detail,
            },
        }
    }
}

/// How much a prune removes (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PruneCounts {
    pub(crate) events: u64,
    pub(crate) snapshots: u64,
    pub(crate) captures: u64,
    pub(crate) stalls: u64,
}

/// One connection to the history database.
///
/// Read-write stores are for the daemon's writer thread and for `prune`; the
/// CLI's queries use `open_read_only`, which never creates or changes the file.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    read_only: bool,
    /// Schema version of the file (read-only stores may read older ones).
    version: i64,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) the database for reading and writing, and
    /// migrate its schema forward. Creates the parent directory (mode 0700).
    pub fn open(path: &Path) -> Result<Store, StorageError> {
        Self::open_with_timeout(path, BUSY_TIMEOUT)
    }

    pub(crate) fn open_with_timeout(path: &Path, timeout: Duration) -> Result<Store, StorageError> {
        create_parent(path)?;
        let existed = path.exists();
        let conn = Connection::open(path).map_err(|e| StorageError::from_sqlite(path, e))?;
        let sql = |e| StorageError::from_sqlite(path, e);
        conn.busy_timeout(timeout).map_err(sql)?;
        // Look before touching anything: a newer or foreign file is refused
        // before the journal mode (which rewrites the header) is set.
        let found = check_header(&conn, path)?;
        if found > SCHEMA_VERSION {
            return Err(StorageError::NewerVersion {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        let mut store = Store {
            version: SCHEMA_VERSION,
            conn,
            path: path.to_path_buf(),
            read_only: false,
        };
        schema::migrate(&mut store.conn, schema::MIGRATIONS).map_err(|e| e.at(path))?;
        if !existed {
            make_private(path);
        }
        Ok(store)
    }

    /// Open an existing database to read it from a command that may write
    /// (`prune`): like `open_read_only`, but a file with an old schema is
    /// upgraded (what `OutdatedSchema` advises) instead of refused.
    pub fn open_upgrading(path: &Path) -> Result<Store, StorageError> {
        match Self::open_read_only(path) {
            Err(StorageError::OutdatedSchema { .. }) => Self::open(path),
            other => other,
        }
    }

    /// Create a database at an older schema `version` (tests of upgrades).
    #[doc(hidden)]
    pub fn create_at_version(path: &Path, version: usize) -> Result<(), StorageError> {
        create_parent(path)?;
        let mut conn = Connection::open(path).map_err(|e| StorageError::from_sqlite(path, e))?;
        let migrations = &schema::MIGRATIONS[..version.min(schema::MIGRATIONS.len())];
        schema::migrate(&mut conn, migrations).map_err(|e| e.at(path))
    }

    /// Open an existing database without creating or changing anything. A
    /// missing file is `StorageError::Missing`; a schema older than
    /// `MIN_READABLE_VERSION` is `OutdatedSchema` (the daemon upgrades it),
    /// a newer one `NewerVersion`. What a newer schema added (stalls) reads
    /// as empty from an older file.
    pub fn open_read_only(path: &Path) -> Result<Store, StorageError> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(StorageError::CannotOpen {
                    path: path.to_path_buf(),
                    detail: "it is a directory".into(),
                });
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(StorageError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(StorageError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        // Read-only first. A WAL database whose directory (or filesystem)
        // cannot be written, and that has no `-shm` file, cannot be opened
        // that way: then it is opened `immutable=1`, which takes no locks and
        // reads the main file only (what a clean stop left there).
        let (conn, found) = match Self::open_ro_conn(path, false) {
            Ok(opened) => opened,
            Err(first) if cannot_share(&first) => {
                let opened = Self::open_ro_conn(path, true).map_err(|_| first)?;
                warn_unseen_wal(path);
                opened
            }
            Err(e) => return Err(e),
        };
        if found > SCHEMA_VERSION {
            return Err(StorageError::NewerVersion {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < schema::MIN_READABLE_VERSION {
            return Err(StorageError::OutdatedSchema {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            read_only: true,
            version: found,
        })
    }

    /// A read-only connection to `path` and its schema version; `immutable`
    /// opens it without locks or WAL (for storage it cannot write to).
    fn open_ro_conn(path: &Path, immutable: bool) -> Result<(Connection, i64), StorageError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let sql = |e| StorageError::from_sqlite(path, e);
        let conn = if immutable {
            Connection::open_with_flags(immutable_uri(path), flags).map_err(sql)?
        } else {
            Connection::open_with_flags(path, flags).map_err(sql)?
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        let found = check_header(&conn, path)?;
        Ok((conn, found))
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the file has the tables of schema version `v`.
    pub(crate) fn has_version(&self, v: i64) -> bool {
        self.version >= v
    }

    /// Schema version recorded in the file.
    #[cfg(test)]
    pub(crate) fn schema_version(&self) -> Result<i64, StorageError> {
        schema::user_version(&self.conn).map_err(|e| self.err(e))
    }

    /// Bytes on disk: the database file plus its write-ahead log.
    #[cfg(test)]
    pub(crate) fn db_bytes(&self) -> u64 {
        db_bytes(&self.path)
    }

    /// Run SQLite's full integrity check. `Ok("ok")` when healthy; a damaged
    /// file is `StorageError::Corrupt` with SQLite's findings as the detail.
    /// Public for the integration tests, which check the file a killed daemon
    /// left behind.
    pub fn integrity_check(&self) -> Result<String, StorageError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| self.err(e))?;
        let mut fk = self
            .conn
            .prepare("PRAGMA foreign_key_check")
            .map_err(|e| self.err(e))?;
        let orphans = fk
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| self.err(e))?;
        if lines.len() == 1 && lines[0] == "ok" && orphans.is_empty() {
            return Ok("ok".into());
        }
        let mut detail: Vec<String> = lines.into_iter().filter(|l| l != "ok").collect();
        if !orphans.is_empty() {
            detail.push(format!(
                "{} rows point at missing parents (tables: {})",
                orphans.len(),
                orphans.join(", ")
            ));
        }
        Err(StorageError::Corrupt {
            path: self.path.clone(),
            detail: format!("integrity check failed: {}", detail.join("; ")),
        })
    }

    pub(crate) fn err(&self, e: impl Into<Fail>) -> StorageError {
        e.into().at(&self.path)
    }
}

/// Bytes on disk of the database at `path` plus its write-ahead log (0 for
/// files that do not exist).
pub fn db_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

/// Refuse files that are not ours; return the schema version.
/// A read-only open that failed because SQLite could not create or lock the
/// WAL's shared-memory file (read-only directory or filesystem).
fn cannot_share(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::CannotOpen { .. } | StorageError::ReadOnly { .. }
    ) || matches!(e, StorageError::Sqlite { source, .. }
        if source.sqlite_error_code() == Some(ErrorCode::SystemIoFailure))
}

/// `file:` URI for `path` with `immutable=1` (percent-encoding what a URI
/// path cannot hold).
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Opened immutable: changes still in a `-wal` file beside it are not seen.
fn warn_unseen_wal(path: &Path) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        tracing::warn!(
            event_name = "database_read_immutable",
            path = %path.display(),
            "the database is on storage this command cannot write; it was read as it was last \
             checkpointed, so the newest writes (in its -wal file) are not shown"
        );
    }
}

fn check_header(conn: &Connection, path: &Path) -> Result<i64, StorageError> {
    let sql = |e| StorageError::from_sqlite(path, e);
    let version = schema::user_version(conn).map_err(sql)?;
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sql)?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("it belongs to another application (application_id {app_id})"),
        });
    }
    if version < 0 {
        // No rogue-hunter ever wrote this: refused untouched, like a newer one.
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("its schema version ({version}) is not one rogue-hunter writes"),
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if tables > 0 {
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "it is an SQLite database with {tables} objects but no rogue-hunter schema \
                     version"
                ),
            });
        }
    }
    Ok(version)
}

/// Create the database's directory (private to the user), or explain why not.
fn create_parent(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    // An ancestor that exists but is a file makes every later error confusing.
    if let Some(blocker) = dir
        .ancestors()
        .find(|a| a.symlink_metadata().is_ok())
        .filter(|a| !a.is_dir())
    {
        return Err(StorageError::NotADirectory {
            path: path.to_path_buf(),
            blocker: blocker.to_path_buf(),
        });
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Command names of the user's processes live here: keep a new file private.
fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot make the database private");
    }
}

/// u64 → INTEGER column (SQLite integers are signed).
pub(crate) fn to_i64(value: u64) -> Result<i64, Fail> {
    i64::try_from(value)
        .map_err(|_| Fail::Invalid(format!("{value} does not fit an SQLite integer")))
}

/// INTEGER column → u64, inside a row mapper.
pub(crate) fn get_u64(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

/// TEXT column holding JSON → a value, inside a row mapper.
pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Nullable TEXT column holding JSON.
pub(crate) fn get_json_opt<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// TEXT column holding one of our enum names, inside a row mapper.
pub(crate) fn get_enum<T: std::str::FromStr>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

/// Like `get_enum` for a nullable column.
pub(crate) fn get_enum_opt<T: std::str::FromStr>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => get_enum(row, idx).map(Some),
    }
}
