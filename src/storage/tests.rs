//! Tests of the storage module against real SQLite files in temporary
//! directories: migrations, refusals, the event lifecycle, the writer thread.

use super::*;
use crate::model::{
    Band, CaptureStatus, CloseReason, MetricValue, ProcessSamples, ProcessScore, ProcessState,
    Resource, SnapshotType,
};
use std::time::{Duration, Instant};

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("data.db")
}

/// A process with most fields filled, so round-trips exercise them.
fn proc_at(pid: u32, score: f64, band: Band, at: f64) -> ProcessScore {
    let mut p = ProcessScore::new(pid, 1_700_000_000_123, format!("hog-{pid} \u{1b}[31m"), at);
    for (i, m) in p.metrics_mut().into_iter().enumerate() {
        if i % 3 != 2 {
            *m = Some(MetricValue {
                current: i as f64 * 1.5 + score,
                low: i as f64,
                high: i as f64 * 2.0 + score,
            });
        }
    }
    p.state = ProcessState::Running;
    p.priority = Some(20);
    p.cgroup = Some("/user.slice/app.scope".into());
    p.score = score;
    p.band = band;
    p.cpu_share = Some(3.5);
    p.mem_share = Some(0.25);
    p.disproportionality = 12.0;
    p.dominant_resource = Resource::Cpu;
    p
}

fn samples(at: f64, rogues: Vec<ProcessScore>) -> ProcessSamples {
    ProcessSamples {
        timestamp_s: at,
        elapsed_ms: 4.2,
        process_count: 321,
        max_score: rogues.first().map_or(0.0, |p| p.score),
        rogues,
        groups: Vec::new(),
        system: None,
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn migrates_an_empty_file_and_sets_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = store
        .conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let sync: i64 = store
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let app: i64 = store
        .conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    for table in [
        "daemon_state",
        "process_events",
        "process_snapshots",
        "forensic_captures",
        "buffer_context",
    ] {
        assert_eq!(count(&store, table), 0, "{table}");
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert!(store.db_bytes() > 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let id = {
        let mut store = Store::open(&path).unwrap();
        store.set_state("k", "v").unwrap();
        store
            .open_event(&proc_at(10, 60.0, Band::High, 100.0), 5_000, 100.0)
            .unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get_state("k").unwrap().as_deref(), Some("v"));
    assert_eq!(store.get_state("nope").unwrap(), None);
    assert_eq!(store.event(id).unwrap().unwrap().pid, 10);
    let ro = Store::open_read_only(&path).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.open_event_count().unwrap(), 1);
}

#[test]
fn later_migrations_keep_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let id = {
        let mut store = Store::open(&path).unwrap();
        store
            .open_event(&proc_at(1, 40.0, Band::Medium, 10.0), 1, 10.0)
            .unwrap()
    };
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    // A hypothetical next version on top of this build's.
    let mut next: Vec<&str> = schema::MIGRATIONS.to_vec();
    next.push(
        "ALTER TABLE process_events ADD COLUMN note TEXT;
         CREATE TABLE extra (x INTEGER);",
    );
    let v2: &[&str] = &next;
    let newer = SCHEMA_VERSION + 1;
    schema::migrate(&mut conn, v2).unwrap();
    assert_eq!(schema::user_version(&conn).unwrap(), newer);
    let (pid, note): (u32, Option<String>) = conn
        .query_row(
            "SELECT pid, note FROM process_events WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((pid, note), (1, None));
    // Running it again is a no-op.
    schema::migrate(&mut conn, v2).unwrap();
    // And this build now refuses the file as newer.
    drop(conn);
    assert!(matches!(
        Store::open(&path),
        Err(StorageError::NewerVersion { found, .. }) if found == newer
    ));
}

#[test]
fn a_failed_migration_leaves_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    let mut next: Vec<&str> = schema::MIGRATIONS.to_vec();
    next.push("CREATE TABLE half (x INTEGER); THIS IS NOT SQL;");
    let broken: &[&str] = &next;
    assert!(schema::migrate(&mut conn, broken).is_err());
    assert_eq!(schema::user_version(&conn).unwrap(), SCHEMA_VERSION);
    let half: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(half, 0, "the partial migration was rolled back");
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE process_events (id INTEGER PRIMARY KEY, future TEXT);")
            .unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    match &err {
        StorageError::NewerVersion {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerVersion, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("future.db") && text.contains("upgrade rogue-hunter"),
        "{text}"
    );
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StorageError::NewerVersion { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before, "file changed");
    assert!(!dir.path().join("future.db-wal").exists());
}

#[test]
fn garbage_file_is_corrupt_not_a_panic_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("data.db") && text.contains("Move it aside"),
        "{text}"
    );
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StorageError::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn read_only_open_of_a_missing_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("data.db");
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StorageError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(
        !path.exists() && !path.parent().unwrap().exists(),
        "created nothing"
    );
}

#[test]
fn read_only_open_of_an_old_schema_asks_for_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(
        matches!(err, StorageError::OutdatedSchema { found: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn unwritable_directory_gives_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let path = locked.join("sub").join("data.db");
    let result = Store::open(&path);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = crate::sys::current_uid() == 0;
    match result {
        // Root ignores directory permissions.
        Ok(_) => assert!(root, "opened a database under a 0555 directory"),
        Err(e) => {
            assert!(!root, "{e}");
            let text = e.to_string();
            assert!(text.contains("locked"), "{text}");
        }
    }
}

#[test]
fn a_file_where_a_directory_should_be_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("share");
    std::fs::write(&blocker, b"i am a file").unwrap();
    let path = blocker.join("rogue-hunter").join("data.db");
    let err = Store::open(&path).unwrap_err();
    match &err {
        StorageError::NotADirectory { blocker: b, .. } => assert_eq!(b, &blocker),
        other => panic!("expected NotADirectory, got {other:?}"),
    }
    assert!(err.to_string().contains("is not a directory"), "{err}");
    // Read-only: the database cannot exist there.
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StorageError::Missing { .. })
    ));
    // The database path itself being a directory.
    let as_dir = dir.path().join("d.db");
    std::fs::create_dir(&as_dir).unwrap();
    assert!(Store::open(&as_dir).is_err());
    assert!(matches!(
        Store::open_read_only(&as_dir),
        Err(StorageError::CannotOpen { .. })
    ));
}

#[test]
fn writing_through_a_read_only_store_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path).unwrap());
    let mut ro = Store::open_read_only(&path).unwrap();
    let err = ro.set_state("k", "v").unwrap_err();
    assert!(matches!(err, StorageError::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains("data.db"));
}

#[test]
fn a_held_write_lock_gives_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open_with_timeout(&path, Duration::from_millis(50)).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.set_state("k", "v").unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"));
    other.execute_batch("COMMIT").unwrap();
    store.set_state("k", "v").unwrap();
}

#[test]
fn direct_event_lifecycle_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open(&path).unwrap();
    let entry = proc_at(42, 35.0, Band::Medium, 1000.0);
    let id = store.open_event(&entry, 7_000, 1000.0).unwrap();
    let peak = proc_at(42, 80.0, Band::Critical, 1002.0);
    store.update_peak(id, &peak).unwrap();
    let exit = proc_at(42, 10.0, Band::Low, 1010.0);
    store
        .close_event(id, 1010.0, CloseReason::Recovered, Some(&exit))
        .unwrap();
    // Closing twice is refused; unknown events are NotFound.
    assert!(matches!(
        store.close_event(id, 1011.0, CloseReason::Gone, None),
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        store.update_peak(9999, &peak),
        Err(StorageError::NotFound { id: 9999, .. })
    ));
    assert!(matches!(
        store.add_snapshot(9999, SnapshotType::Checkpoint, &peak),
        Err(StorageError::NotFound { id: 9999, .. })
    ));
    let (event, snaps) = store.event_detail(id).unwrap().unwrap();
    assert_eq!(event.entry_band, Band::Medium);
    assert_eq!(event.peak_band, Band::Critical);
    assert_eq!(event.peak_score, 80.0);
    assert_eq!(event.peak_time_s, 1002.0);
    assert_eq!(event.exit_time_s, Some(1010.0));
    assert_eq!(event.close_reason, Some(CloseReason::Recovered));
    assert_eq!(event.boot_time_ms, 7_000);
    assert_eq!(event.start_time_ms, 1_700_000_000_123);
    let kinds: Vec<_> = snaps.iter().map(|s| s.snapshot_type).collect();
    assert_eq!(
        kinds,
        [SnapshotType::Entry, SnapshotType::Peak, SnapshotType::Exit]
    );
    assert_eq!(snaps[0].process, entry);
    assert_eq!(snaps[2].process, exit);
    assert!(store.event_detail(12345).unwrap().is_none());
    // JSON of the rows is plain.
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["peak_band"], "critical");
    assert_eq!(json["dominant_resource"], "cpu");
    assert!(json["exit_time_s"].is_number());
}

#[test]
fn list_events_filters_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let a = store
        .open_event(&proc_at(1, 40.0, Band::Medium, 100.0), 1, 100.0)
        .unwrap();
    store
        .close_event(a, 150.0, CloseReason::Recovered, None)
        .unwrap();
    let b = store
        .open_event(&proc_at(2, 40.0, Band::Medium, 200.0), 1, 200.0)
        .unwrap();
    let c = store
        .open_event(&proc_at(3, 40.0, Band::Medium, 300.0), 1, 300.0)
        .unwrap();
    store
        .close_event(c, 350.0, CloseReason::Gone, None)
        .unwrap();
    let ids = |f: EventFilter| -> Vec<i64> {
        store
            .list_events(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(EventFilter::default()), [c, b, a]);
    assert_eq!(
        ids(EventFilter {
            open_only: true,
            ..Default::default()
        }),
        [b]
    );
    assert_eq!(
        ids(EventFilter {
            limit: Some(2),
            ..Default::default()
        }),
        [c, b]
    );
    // b began before 160 but is still open, so it counts as active since 160.
    assert_eq!(
        ids(EventFilter {
            since: Some(160.0),
            ..Default::default()
        }),
        [c, b]
    );
    assert_eq!(store.open_event_count().unwrap(), 1);
    assert_eq!(store.event_count().unwrap(), 3);
}

#[test]
fn pending_captures_left_by_a_crash_are_failed_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let ev = store
        .open_event(&proc_at(1, 40.0, Band::Medium, 10.0), 1, 10.0)
        .unwrap();
    let pending = store.insert_capture(ev, 11.0, "high").unwrap();
    let done = store.insert_capture(ev, 12.0, "high").unwrap();
    store
        .finish_capture(done, CaptureStatus::Complete, Some(5.0), None, None)
        .unwrap();
    assert_eq!(store.fail_pending_captures().unwrap(), 1);
    let caps = store.captures(ev).unwrap();
    let status = |id| caps.iter().find(|c| c.id == id).unwrap();
    assert_eq!(status(pending).status, CaptureStatus::Failed);
    assert!(
        status(pending)
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
    assert_eq!(status(done).status, CaptureStatus::Complete);
    assert_eq!(store.fail_pending_captures().unwrap(), 0);
}

#[test]
fn close_dangling_closes_only_open_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let closed = store
        .open_event(&proc_at(1, 40.0, Band::Medium, 10.0), 1, 10.0)
        .unwrap();
    store
        .close_event(closed, 20.0, CloseReason::Recovered, None)
        .unwrap();
    let open1 = store
        .open_event(&proc_at(2, 40.0, Band::Medium, 30.0), 1, 30.0)
        .unwrap();
    let open2 = store
        .open_event(&proc_at(3, 40.0, Band::Medium, 40.0), 1, 40.0)
        .unwrap();
    store
        .add_snapshot(
            open1,
            SnapshotType::Checkpoint,
            &proc_at(2, 40.0, Band::Medium, 35.0),
        )
        .unwrap();
    assert_eq!(
        store
            .close_dangling(99.0, CloseReason::DaemonRestart)
            .unwrap(),
        2
    );
    assert_eq!(store.open_event_count().unwrap(), 0);
    let e = store.event(closed).unwrap().unwrap();
    assert_eq!(
        (e.exit_time_s, e.close_reason),
        (Some(20.0), Some(CloseReason::Recovered))
    );
    // A crash's events end when they were last seen (their newest snapshot),
    // not when the daemon came back.
    for (id, last_seen) in [(open1, 35.0), (open2, 40.0)] {
        let e = store.event(id).unwrap().unwrap();
        assert_eq!(
            (e.exit_time_s, e.close_reason),
            (Some(last_seen), Some(CloseReason::DaemonRestart))
        );
    }
    assert_eq!(store.close_dangling(100.0, CloseReason::Gone).unwrap(), 0);

    // Per-boot reasons.
    let old_boot = store
        .open_event(&proc_at(4, 40.0, Band::Medium, 50.0), 1, 50.0)
        .unwrap();
    let this_boot = store
        .open_event(&proc_at(5, 40.0, Band::Medium, 60.0), 2, 60.0)
        .unwrap();
    assert_eq!(store.close_dangling_for_boot(70.0, 2).unwrap(), 2);
    let reason = |id| store.event(id).unwrap().unwrap().close_reason.unwrap();
    assert_eq!(reason(old_boot), CloseReason::Reboot);
    assert_eq!(reason(this_boot), CloseReason::DaemonRestart);
}

#[test]
fn prune_removes_only_old_closed_events_and_cascades() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let old = store
        .open_event(&proc_at(1, 90.0, Band::Critical, 100.0), 1, 100.0)
        .unwrap();
    store
        .add_snapshot(
            old,
            SnapshotType::Checkpoint,
            &proc_at(1, 91.0, Band::Critical, 101.0),
        )
        .unwrap();
    let capture = store.insert_capture(old, 101.0, "critical").unwrap();
    store
        .insert_buffer_context(
            capture,
            &[samples(99.0, vec![proc_at(1, 50.0, Band::Elevated, 99.0)])],
            Some(&serde_json::json!([1])),
        )
        .unwrap();
    store
        .finish_capture(
            capture,
            CaptureStatus::Partial,
            Some(850.0),
            Some(&serde_json::json!({"stack": "permission denied"})),
            None,
        )
        .unwrap();
    store
        .close_event(
            old,
            200.0,
            CloseReason::Recovered,
            Some(&proc_at(1, 5.0, Band::Low, 200.0)),
        )
        .unwrap();
    let recent = store
        .open_event(&proc_at(2, 40.0, Band::Medium, 900.0), 1, 900.0)
        .unwrap();
    store
        .close_event(recent, 950.0, CloseReason::Recovered, None)
        .unwrap();
    let still_open = store
        .open_event(&proc_at(3, 40.0, Band::Medium, 50.0), 1, 50.0)
        .unwrap();

    assert_eq!(store.event(old).unwrap().unwrap().forensics_count, 1);
    let caps = store.captures(old).unwrap();
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0].status, CaptureStatus::Partial);
    assert_eq!(caps[0].trigger, "critical");
    assert_eq!(
        caps[0].sources,
        Some(serde_json::json!({"stack": "permission denied"}))
    );
    let ctx = store.buffer_context(capture).unwrap().unwrap();
    assert_eq!(ctx.frozen.len(), 1);
    assert_eq!(ctx.frozen[0].rogues[0].pid, 1);

    let plan = store.prune_plan(500.0).unwrap();
    let expected = PruneCounts {
        events: 1,
        snapshots: 3,
        captures: 1,
        stalls: 0,
    };
    assert_eq!(plan, expected);
    assert_eq!(count(&store, "process_events"), 3, "plan deletes nothing");
    assert_eq!(store.prune(500.0).unwrap(), expected);
    assert!(store.event(old).unwrap().is_none());
    assert!(store.event(recent).unwrap().is_some());
    assert!(store.event(still_open).unwrap().is_some());
    assert_eq!(count(&store, "process_snapshots"), 2);
    assert_eq!(count(&store, "forensic_captures"), 0);
    assert_eq!(count(&store, "buffer_context"), 0);
    assert_eq!(store.prune(500.0).unwrap(), PruneCounts::default());
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn daemon_state_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    assert_eq!(store.daemon_state().unwrap(), DaemonState::default());
    store
        .record_daemon_start(4321, 1000.5, 1_699_999_000_000, "0.1.0")
        .unwrap();
    let worst = proc_at(9, 70.0, Band::High, 1001.0);
    let s = samples(1001.0, vec![worst.clone()]);
    store.record_sample(&s, 3).unwrap();
    let state = store.daemon_state().unwrap();
    assert_eq!(state.pid, Some(4321));
    assert_eq!(state.started_at, Some(1000.5));
    assert_eq!(state.boot_time, Some(1_699_999_000_000));
    assert_eq!(state.version.as_deref(), Some("0.1.0"));
    assert_eq!(state.sample_count, Some(3));
    assert_eq!(state.last_heartbeat, Some(1001.0));
    assert_eq!(state.latest_sample, Some(s));
    assert_eq!(state.worst_process, Some(worst));
    assert_eq!(state.stopped_at, None);
    store.record_daemon_stop(1005.0).unwrap();
    assert_eq!(store.daemon_state().unwrap().stopped_at, Some(1005.0));
    // A new start forgets the previous run's sample and stop.
    store.record_daemon_start(5, 2000.0, 1, "0.1.1").unwrap();
    let state = store.daemon_state().unwrap();
    assert_eq!(
        (state.latest_sample, state.stopped_at, state.sample_count),
        (None, None, Some(0))
    );
}

#[test]
fn writer_event_lifecycle_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 64).unwrap();
    let entry = proc_at(77, 30.0, Band::Medium, 500.0);
    let checkpoint = proc_at(77, 45.0, Band::Elevated, 505.0);
    let peak = proc_at(77, 85.0, Band::Critical, 507.0);
    let exit = proc_at(77, 5.0, Band::Low, 520.0);
    let ops = vec![
        WriteOp::DaemonStart {
            pid: 1,
            started_at: 499.0,
            boot_time: 9,
            version: "test".into(),
        },
        WriteOp::CloseDangling {
            now: 499.0,
            reason: CloseReason::DaemonRestart,
        },
        WriteOp::OpenEvent {
            event_key: 1,
            group: None,
            process: Box::new(entry.clone()),
            boot_time: 9,
            entry_time: 500.0,
        },
        WriteOp::Snapshot {
            event_key: 1,
            group: None,
            kind: SnapshotType::Checkpoint,
            process: Box::new(checkpoint.clone()),
        },
        WriteOp::Peak {
            event_key: 1,
            group: None,
            process: Box::new(peak.clone()),
        },
        WriteOp::InsertCapture {
            capture_key: 1,
            owner: crate::model::CaptureOwner::Event(1),
            captured_at: 507.0,
            trigger: "critical".into(),
        },
        WriteOp::BufferContext {
            capture_key: 1,
            frozen: vec![samples(506.0, vec![checkpoint.clone()])],
            culprits: None,
        },
        WriteOp::CloseEvent {
            event_key: 1,
            exit_group: None,
            exit_time: 520.0,
            reason: CloseReason::Recovered,
            exit: Some(Box::new(exit.clone())),
        },
        // Captures finish after their event has closed.
        WriteOp::FinishCapture {
            capture_key: 1,
            status: CaptureStatus::Complete,
            duration_ms: Some(120.0),
            sources: None,
            error: None,
        },
        WriteOp::Sample {
            samples: Box::new(samples(520.0, vec![exit.clone()])),
            sample_count: 60,
        },
    ];
    for op in ops {
        writer.send(op).unwrap();
    }
    writer.flush(Duration::from_secs(10)).unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.applied, 10);
    assert_eq!((stats.failed, stats.dropped), (0, 0));

    let store = Store::open_read_only(&path).unwrap();
    let events = store.list_events(&EventFilter::default()).unwrap();
    assert_eq!(events.len(), 1);
    let (event, snaps) = store.event_detail(events[0].id).unwrap().unwrap();
    assert_eq!(event.pid, 77);
    assert_eq!(event.command, entry.command, "command stored raw");
    assert_eq!(event.peak_score, 85.0);
    assert_eq!(event.exit_time_s, Some(520.0));
    assert_eq!(event.forensics_count, 1);
    let kinds: Vec<_> = snaps.iter().map(|s| s.snapshot_type).collect();
    assert_eq!(
        kinds,
        [
            SnapshotType::Entry,
            SnapshotType::Checkpoint,
            SnapshotType::Peak,
            SnapshotType::Exit
        ]
    );
    let processes: Vec<_> = snaps.iter().map(|s| s.process.clone()).collect();
    assert_eq!(processes, [entry, checkpoint, peak, exit]);
    assert!(
        snaps
            .windows(2)
            .all(|w| w[0].captured_at_s <= w[1].captured_at_s)
    );
    assert_eq!(snaps[2].band, Band::Critical);
    let caps = store.captures(event.id).unwrap();
    assert_eq!(caps[0].status, CaptureStatus::Complete);
    assert!(store.buffer_context(caps[0].id).unwrap().is_some());
    assert_eq!(store.daemon_state().unwrap().sample_count, Some(60));

    let history = store.history(506.0).unwrap();
    assert_eq!(history.len(), 2, "peak and exit");
    assert_eq!(history[0].event_id, event.id);
    let json = serde_json::to_value(&history[0]).unwrap();
    assert_eq!(json["snapshot_type"], "peak");
    assert_eq!(json["pid"], 77);
    let back: HistoryRow = serde_json::from_value(json).unwrap();
    assert_eq!(back, history[0]);
}

#[test]
fn the_writer_stores_an_event_under_its_key_after_the_highest_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.max_event_id().unwrap(), 0);
    for at in [10.0, 20.0] {
        store
            .open_event(&proc_at(3, 40.0, Band::Medium, at), 1, at)
            .unwrap();
    }
    assert_eq!(store.max_event_id().unwrap(), 2);
    drop(store);
    let writer = Writer::spawn(path.clone(), 16).unwrap();
    writer
        .send(WriteOp::OpenEvent {
            event_key: 3,
            group: None,
            process: Box::new(proc_at(5, 50.0, Band::Elevated, 30.0)),
            boot_time: 1,
            entry_time: 30.0,
        })
        .unwrap();
    // A key that is already a row (a daemon that numbered badly) is refused.
    writer
        .send(WriteOp::OpenEvent {
            event_key: 1,
            group: None,
            process: Box::new(proc_at(6, 50.0, Band::Elevated, 31.0)),
            boot_time: 1,
            entry_time: 31.0,
        })
        .unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!((stats.applied, stats.failed), (1, 1));
    let store = Store::open_read_only(&path).unwrap();
    let (event, _) = store.event_detail(3).unwrap().unwrap();
    assert_eq!(event.pid, 5);
    assert_eq!(store.max_event_id().unwrap(), 3);
}

#[test]
fn writer_skips_a_failing_op_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 16).unwrap();
    let p = proc_at(5, 50.0, Band::Elevated, 10.0);
    writer
        .send(WriteOp::OpenEvent {
            event_key: 1,
            group: None,
            process: Box::new(p.clone()),
            boot_time: 1,
            entry_time: 10.0,
        })
        .unwrap();
    // Unknown key, then a duplicate open: both skipped.
    writer
        .send(WriteOp::Peak {
            event_key: 99,
            group: None,
            process: Box::new(p.clone()),
        })
        .unwrap();
    writer
        .send(WriteOp::OpenEvent {
            event_key: 1,
            group: None,
            process: Box::new(p.clone()),
            boot_time: 1,
            entry_time: 10.0,
        })
        .unwrap();
    writer
        .send(WriteOp::Snapshot {
            event_key: 1,
            group: None,
            kind: SnapshotType::Checkpoint,
            process: Box::new(p),
        })
        .unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!((stats.applied, stats.failed), (2, 2));
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), 1);
    assert_eq!(count(&store, "process_snapshots"), 2);
}

#[test]
fn writer_applies_a_thousand_ops() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 2048).unwrap();
    for i in 0..1000u64 {
        let op = if i % 2 == 0 {
            WriteOp::OpenEvent {
                event_key: i,
                group: None,
                process: Box::new(proc_at(i as u32, 40.0, Band::Medium, i as f64)),
                boot_time: 1,
                entry_time: i as f64,
            }
        } else {
            WriteOp::Snapshot {
                event_key: i - 1,
                group: None,
                kind: SnapshotType::Checkpoint,
                process: Box::new(proc_at(i as u32 - 1, 41.0, Band::Medium, i as f64)),
            }
        };
        writer.send(op).unwrap();
    }
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.applied, 1000);
    assert_eq!((stats.failed, stats.dropped), (0, 0));
    assert!(stats.batches >= 1);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), 500);
    assert_eq!(store.open_event_count().unwrap(), 500);
    assert_eq!(count(&store, "process_snapshots"), 1000);
}

#[test]
fn a_full_queue_refuses_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 2).unwrap();
    // Another connection holds the write lock, so the writer's batch waits.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let op = |i: u64| WriteOp::SetState {
        key: format!("k{i}"),
        value: i.to_string(),
    };
    // The first op is taken at once and its batch waits for the lock: wait
    // until the writer holds it, so the queue's 2 slots are all that is left.
    writer.send(op(0)).unwrap();
    let waiting = Instant::now();
    while writer.queue_depth() > 0 {
        assert!(waiting.elapsed() < Duration::from_secs(4), "writer idle");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut accepted = 1u64;
    let mut refused = None;
    for i in 1..20 {
        match writer.send(op(i)) {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "sending blocked"
    );
    assert_eq!(refused, Some(SendError::Full { capacity: 2 }));
    assert_eq!(accepted, 3, "one in the blocked batch plus a full queue");
    assert_eq!(writer.dropped(), 1);
    assert_eq!(writer.queue_depth(), 2);
    let again = writer.send(op(99)).unwrap_err();
    assert!(again.to_string().contains("full"), "{again}");
    assert_eq!(
        writer.flush(Duration::from_millis(50)),
        Err(SendError::Timeout(Duration::from_millis(50)))
    );
    blocker.execute_batch("COMMIT").unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.applied, accepted);
    assert_eq!(stats.dropped, 2);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(count(&store, "daemon_state") as u64, accepted);
}

#[test]
fn writer_reports_open_errors_synchronously() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    std::fs::write(&path, vec![0xAAu8; 4096]).unwrap();
    let err = Writer::spawn(path, 4).err().unwrap();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
}

#[test]
fn sends_after_shutdown_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::spawn(db(&dir), 4).unwrap();
    let sender = writer.sender();
    writer.shutdown().unwrap();
    assert_eq!(
        sender.send(WriteOp::Prune { older_than: 0.0 }),
        Err(SendError::Closed)
    );
    assert_eq!(sender.dropped(), 1);
}

/// A capture's worth of every kind of forensic record, with a frame tree, a
/// kernel address above i64::MAX and hostile text.
fn capture_data() -> crate::model::CaptureData {
    use crate::model::{FrameRecord, LogRecord, PressureRecord, ThreadRecord};
    let frame = |parent: Option<usize>, depth: u32, symbol: &str, samples: u64| FrameRecord {
        parent,
        depth,
        kernel: symbol.starts_with('k'),
        symbol: Some(symbol.into()),
        module: Some("hog".into()),
        offset: Some(12),
        address: Some(0xffff_fe00_0800_0000),
        samples: Some(samples),
        state: (depth == 2).then(|| "running".to_string()),
    };
    let mut data = crate::model::CaptureData {
        threads: vec![
            ThreadRecord {
                pid: Some(42),
                tid: 42,
                name: Some("main;$(id)\u{1b}[31m".into()),
                state: Some("sleeping".into()),
                wchan: Some("hrtimer_nanosleep".into()),
                cpu_time: Some(0.25),
                samples: None,
                priority: Some(20),
                kernel_stack: Some(vec![
                    "hrtimer_nanosleep+0x74/0xf0".into(),
                    "do_syscall_64+0x71/0x280".into(),
                ]),
                frames: vec![],
            },
            ThreadRecord {
                pid: Some(42),
                tid: 43,
                name: Some("spin".into()),
                state: Some("running".into()),
                cpu_time: Some(9.5),
                samples: Some(340),
                kernel_stack: None,
                frames: vec![
                    frame(None, 0, "start", 340),
                    frame(Some(0), 1, "main", 340),
                    frame(Some(1), 2, "spin", 300),
                    frame(Some(1), 2, "kwait", 40),
                    frame(None, 0, "other_root", 1),
                ],
                ..ThreadRecord::default()
            },
        ],
        logs: vec![
            LogRecord {
                source: "journal".into(),
                ts: Some(101.0),
                priority: Some(3),
                unit: Some("hog.service".into()),
                process: Some("hog".into()),
                pid: Some(42),
                message: "late".into(),
            },
            LogRecord {
                source: "kernel".into(),
                ts: Some(100.0),
                priority: Some(4),
                message: "early \u{1b}]0;title\u{7}".into(),
                ..LogRecord::default()
            },
        ],
        pressure: vec![PressureRecord {
            resource: "cpu".into(),
            kind: "some".into(),
            avg10: Some(28.82),
            avg60: Some(35.82),
            avg300: Some(34.87),
            total: Some(393_082_440),
        }],
        system: Default::default(),
    };
    data.system
        .insert("loadavg".into(), serde_json::json!({"load1": 2.5}));
    data.system
        .insert("process.fd_count".into(), serde_json::json!(7));
    data
}

fn forensic_counts(store: &Store) -> [i64; 5] {
    [
        count(store, "forensic_threads"),
        count(store, "forensic_frames"),
        count(store, "forensic_logs"),
        count(store, "forensic_pressure"),
        count(store, "forensic_system"),
    ]
}

#[test]
fn capture_data_round_trips_and_prunes_with_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let event = store
        .open_event(&proc_at(42, 90.0, Band::Critical, 100.0), 1, 100.0)
        .unwrap();
    let capture = store
        .insert_capture(event, 100.5, "entered critical")
        .unwrap();
    let data = capture_data();
    store.insert_capture_data(capture, &data).unwrap();
    assert_eq!(forensic_counts(&store), [2, 5, 2, 1, 2]);

    let back = store.capture_data(capture).unwrap();
    assert_eq!(
        back.threads, data.threads,
        "threads and frame trees round-trip"
    );
    assert_eq!(back.threads[1].frames[3].parent, Some(1));
    assert_eq!(
        back.threads[1].frames[0].address,
        Some(0xffff_fe00_0800_0000)
    );
    assert_eq!(back.pressure, data.pressure);
    assert_eq!(back.system, data.system);
    // Logs come back in time order.
    assert_eq!(back.logs[0].message, data.logs[1].message);
    assert_eq!(back.logs[1], data.logs[0]);
    assert_eq!(
        store.capture_data(capture + 99).unwrap(),
        Default::default()
    );

    assert!(matches!(
        store.insert_capture_data(capture + 99, &data),
        Err(StorageError::NotFound {
            what: "forensic capture",
            ..
        })
    ));
    let mut bad = capture_data();
    bad.threads[1].frames[0].parent = Some(3);
    assert!(matches!(
        store.insert_capture_data(capture, &bad),
        Err(StorageError::Invalid { .. })
    ));
    assert_eq!(
        forensic_counts(&store),
        [2, 5, 2, 1, 2],
        "the bad write rolled back"
    );

    store
        .close_event(event, 200.0, CloseReason::Recovered, None)
        .unwrap();
    store.prune(500.0).unwrap();
    assert_eq!(forensic_counts(&store), [0; 5], "pruning cascades");
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn writer_stores_capture_data_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 16).unwrap();
    let p = proc_at(42, 90.0, Band::Critical, 100.0);
    for op in [
        WriteOp::OpenEvent {
            event_key: 3,
            group: None,
            process: Box::new(p),
            boot_time: 1,
            entry_time: 100.0,
        },
        WriteOp::InsertCapture {
            capture_key: 8,
            owner: crate::model::CaptureOwner::Event(3),
            captured_at: 100.5,
            trigger: "entered critical".into(),
        },
        WriteOp::CaptureData {
            capture_key: 8,
            data: Box::new(capture_data()),
        },
        WriteOp::FinishCapture {
            capture_key: 8,
            status: CaptureStatus::Partial,
            duration_ms: Some(1200.0),
            sources: Some(serde_json::json!({"journal": {"status": "missing"}})),
            error: Some("journal: missing".into()),
        },
        // The key is forgotten once finished.
        WriteOp::CaptureData {
            capture_key: 8,
            data: Box::new(capture_data()),
        },
    ] {
        writer.send(op).unwrap();
    }
    writer.flush(Duration::from_secs(10)).unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!((stats.applied, stats.failed), (4, 1));
    let store = Store::open_read_only(&path).unwrap();
    let event = store.list_events(&EventFilter::default()).unwrap()[0].id;
    let caps = store.captures(event).unwrap();
    assert_eq!(caps.len(), 1);
    let back = store.capture_data(caps[0].id).unwrap();
    let sent = capture_data();
    assert_eq!(back.threads, sent.threads);
    assert_eq!((back.pressure, back.system), (sent.pressure, sent.system));
    assert_eq!(back.logs.len(), 2);
}

/// An event with its entry snapshot as versions 1-4 wrote it (no subject
/// columns).
fn old_event(conn: &rusqlite::Connection, p: &ProcessScore) -> i64 {
    conn.execute(
        "INSERT INTO process_events
           (pid, start_time, command, boot_time, entry_time, entry_band, peak_band,
            peak_score, peak_time, dominant_resource)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, ?6, ?4, ?7)",
        rusqlite::params![
            p.pid,
            p.start_time_ms as i64,
            p.command,
            p.captured_at_s,
            p.band.as_str(),
            p.score,
            p.dominant_resource.as_str()
        ],
    )
    .unwrap();
    let id = conn.last_insert_rowid();
    old_snapshot(conn, id, p);
    id
}

/// A snapshot as versions 1-4 wrote it (no group column).
fn old_snapshot(conn: &rusqlite::Connection, event: i64, p: &ProcessScore) {
    conn.execute(
        "INSERT INTO process_snapshots
           (event_id, snapshot_type, captured_at, score, band, dominant_resource, process_json)
         VALUES (?1, 'peak', ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            event,
            p.captured_at_s,
            p.score,
            p.band.as_str(),
            p.dominant_resource.as_str(),
            serde_json::to_string(p).unwrap()
        ],
    )
    .unwrap();
}

#[test]
fn migration_4_to_5_keeps_events_as_process_events_and_adds_group_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let event = {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        schema::migrate(&mut conn, &schema::MIGRATIONS[..4]).unwrap();
        old_event(&conn, &proc_at(9, 60.0, Band::High, 50.0))
    };
    // Read-only commands read the version-4 file as it is.
    {
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.schema_version().unwrap(), 4);
        let (ev, snaps) = ro.event_detail(event).unwrap().unwrap();
        assert_eq!(ev.subject_kind, crate::model::SubjectKind::Process);
        assert_eq!((ev.group_key.as_deref(), ev.members.len()), (None, 0));
        assert_eq!(snaps[0].group, None);
        assert_eq!(ro.list_events(&EventFilter::default()).unwrap().len(), 1);
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 5);
    let (ev, _) = store.event_detail(event).unwrap().unwrap();
    assert_eq!(
        (ev.subject_kind, ev.pid, ev.peak_score),
        (crate::model::SubjectKind::Process, 9, 60.0)
    );
    // A group's event after the upgrade keeps its kind, key, members and group.
    let top = proc_at(11, 40.0, Band::Medium, 70.0);
    let group = crate::model::GroupSubject {
        group: crate::model::GroupScore {
            kind: crate::model::GroupKind::Tree,
            key: "10:1000".into(),
            name: "./spin4".into(),
            member_count: 5,
            top_members: vec![11, 12],
            worst_member_score: 40.0,
            metrics: crate::model::GroupMetrics::default(),
            score: 66.0,
            band: Band::High,
            dominant_resource: crate::model::Resource::Cpu,
            cpu_share: Some(2.0),
            gpu_share: None,
            mem_share: None,
            disk_share: None,
            wakeups_share: None,
        },
        members: vec![crate::model::EventMember {
            pid: 11,
            start_time_ms: top.start_time_ms,
            command: top.command.clone(),
            score: 40.0,
        }],
    };
    let id = store
        .write(|c| write::open_event(c, Some(77), &top, Some(&group), 1, 70.0))
        .unwrap();
    assert_eq!(id, 77);
    drop(store);
    let ro = Store::open_read_only(&path).unwrap();
    let (ev, snaps) = ro.event_detail(77).unwrap().unwrap();
    assert_eq!(ev.subject_kind, crate::model::SubjectKind::Tree);
    assert_eq!(ev.group_key.as_deref(), Some("10:1000"));
    assert_eq!(ev.command, "./spin4");
    assert_eq!((ev.peak_score, ev.peak_band), (66.0, Band::High));
    assert_eq!(ev.members, group.members);
    assert_eq!(snaps[0].score, 66.0);
    assert_eq!(snaps[0].group.as_ref(), Some(&group.group));
    assert_eq!(snaps[0].process.pid, 11);
}

#[test]
fn migration_1_to_2_keeps_history_and_adds_forensic_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A version-1 file with an event, snapshots and a finished capture, as the
    // previous release wrote it.
    let (event, capture) = {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        schema::migrate(&mut conn, &schema::MIGRATIONS[..1]).unwrap();
        assert_eq!(schema::user_version(&conn).unwrap(), 1);
        let event = old_event(&conn, &proc_at(9, 88.0, Band::Critical, 50.0));
        old_snapshot(&conn, event, &proc_at(9, 95.0, Band::Critical, 51.0));
        let capture = write::insert_capture(&conn, event, 51.0, "critical").unwrap();
        write::insert_buffer_context(
            &conn,
            capture,
            &[samples(50.0, vec![proc_at(9, 88.0, Band::Critical, 50.0)])],
            Some(&serde_json::json!([{"pid": 9}])),
        )
        .unwrap();
        write::finish_capture(
            &conn,
            capture,
            CaptureStatus::Complete,
            Some(10.0),
            None,
            None,
        )
        .unwrap();
        write::close_event(&conn, event, 60.0, CloseReason::Recovered, None, None).unwrap();
        (event, capture)
    };
    // The CLI asks for an upgrade rather than reading an old file.
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StorageError::OutdatedSchema { found: 1, .. })
    ));
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let (ev, snaps) = store.event_detail(event).unwrap().unwrap();
    assert_eq!((ev.pid, ev.peak_score, ev.forensics_count), (9, 88.0, 1));
    assert_eq!(snaps.len(), 2);
    let caps = store.captures(event).unwrap();
    assert_eq!(
        (caps[0].id, caps[0].status),
        (capture, CaptureStatus::Complete)
    );
    let ctx = store.buffer_context(capture).unwrap().unwrap();
    assert_eq!(ctx.frozen[0].rogues[0].pid, 9);
    assert_eq!(forensic_counts(&store), [0; 5]);
    assert_eq!(store.capture_data(capture).unwrap(), Default::default());
    // The old capture can take new data, and pruning the old event cascades.
    store.insert_capture_data(capture, &capture_data()).unwrap();
    assert_eq!(forensic_counts(&store)[0], 2);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    store.prune(1000.0).unwrap();
    assert_eq!(forensic_counts(&store), [0; 5]);
    assert_eq!(count(&store, "forensic_captures"), 0);
    drop(store);
    assert_eq!(
        Store::open_read_only(&path)
            .unwrap()
            .schema_version()
            .unwrap(),
        SCHEMA_VERSION
    );
}

fn stall(kind: crate::model::StallKind, start: f64, end: Option<f64>) -> crate::model::Stall {
    crate::model::Stall {
        kind,
        start_s: start,
        end_s: end,
        duration_s: end.map_or(1.0, |e| e - start),
        suspended_s: 0.0,
        cause: Some(crate::model::StallCause::Stopped),
        pressure_kind: None,
        peak_pressure_pct: None,
        window_pressure_pct: None,
        verdict: "monitor stalled 3.0 s — stopped".into(),
        holders: vec![crate::model::StallParty {
            pid: 7,
            start_time_ms: 70,
            command: "spin \u{1b}[2J".into(),
            cpu_s: Some(2.5),
            disk_bytes: None,
            resident_growth_bytes: None,
            major_faults: None,
            run_delay_s: None,
            blocked_s: None,
        }],
        victims: Vec::new(),
        pid: None,
        command: None,
    }
}

#[test]
fn a_version_2_file_is_read_as_is_and_upgraded_keeping_its_captures() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let (event, capture) = {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        schema::migrate(&mut conn, &schema::MIGRATIONS[..2]).unwrap();
        let event = old_event(&conn, &proc_at(9, 88.0, Band::Critical, 50.0));
        let capture = write::insert_capture(&conn, event, 51.0, "critical").unwrap();
        write::insert_capture_data(&conn, capture, &capture_data()).unwrap();
        (event, capture)
    };
    // Read-only commands read the old file untouched; stalls read as none.
    {
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.schema_version().unwrap(), 2);
        assert_eq!(ro.captures(event).unwrap()[0].event_id, Some(event));
        assert!(ro.list_stalls(None, None).unwrap().is_empty());
        assert!(ro.stall(1).unwrap().is_none());
    }
    let before = forensic_counts(&Store::open_read_only(&path).unwrap());
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(forensic_counts(&store), before, "capture data kept");
    assert_eq!(store.captures(event).unwrap()[0].id, capture);
    // Deleting the event still cascades through the rebuilt captures table.
    store
        .close_event(event, 60.0, CloseReason::Recovered, None)
        .unwrap();
    store.prune(1000.0).unwrap();
    assert_eq!(count(&store, "forensic_captures"), 0);
    assert_eq!(forensic_counts(&store), [0; 5]);
}

#[test]
fn stalls_are_written_listed_closed_and_pruned() {
    use crate::model::StallKind;
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open(&path).unwrap();
    let old = store
        .insert_stall(&stall(StallKind::Scheduling, 100.0, Some(103.0)), 1)
        .unwrap();
    let open = store
        .insert_stall(&stall(StallKind::Stuck, 900.0, None), 1)
        .unwrap();
    let listed = store.list_stalls(None, None).unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [open, old]);
    let got = store.stall(old).unwrap().unwrap();
    assert_eq!(got.stall, stall(StallKind::Scheduling, 100.0, Some(103.0)));
    assert_eq!(got.forensics_count, 0);
    assert_eq!(
        store.list_stalls(Some(500.0), None).unwrap().len(),
        1,
        "open one stays"
    );
    assert_eq!(store.list_stalls(None, Some(1)).unwrap().len(), 1);
    // A dead daemon's open stall ends at its last known moment.
    assert_eq!(store.close_dangling_stalls().unwrap(), 1);
    assert_eq!(store.stall(open).unwrap().unwrap().stall.end_s, Some(901.0));
    let plan = store.prune_plan(500.0).unwrap();
    assert_eq!(plan.stalls, 1);
    store.prune(500.0).unwrap();
    assert!(store.stall(old).unwrap().is_none());
    assert!(store.stall(open).unwrap().is_some());
}

#[test]
fn the_writer_upserts_stalls_and_attaches_captures_to_them() {
    use crate::model::{CaptureOwner, StallKind};
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 16).unwrap();
    let mut s = stall(StallKind::Memory, 10.0, None);
    for op in [
        WriteOp::Stall {
            stall_key: 4,
            stall: Box::new(s.clone()),
            boot_time: 1,
        },
        WriteOp::InsertCapture {
            capture_key: 1,
            owner: CaptureOwner::Stall(4),
            captured_at: 11.0,
            trigger: "stall".into(),
        },
    ] {
        writer.send(op).unwrap();
    }
    s.end_s = Some(14.0);
    s.duration_s = 4.0;
    s.verdict = "stalled 4.0 s".into();
    writer
        .send(WriteOp::Stall {
            stall_key: 4,
            stall: Box::new(s.clone()),
            boot_time: 1,
        })
        .unwrap();
    writer.shutdown().unwrap();
    let store = Store::open_read_only(&path).unwrap();
    let rows = store.list_stalls(None, None).unwrap();
    assert_eq!(rows.len(), 1, "updated, not inserted twice");
    assert_eq!(rows[0].stall, s);
    assert_eq!(rows[0].forensics_count, 1);
    let caps = store.stall_captures(rows[0].id).unwrap();
    assert_eq!((caps.len(), caps[0].event_id), (1, None));
}

#[test]
fn writes_failing_on_a_held_lock_are_kept_and_applied_when_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn_with_timeout(path.clone(), 64, Duration::from_millis(20)).unwrap();
    writer.flush(Duration::from_secs(5)).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let p = proc_at(42, 60.0, Band::High, 1000.0);
    writer
        .send(WriteOp::OpenEvent {
            event_key: 1,
            process: Box::new(p.clone()),
            boot_time: 7_000,
            entry_time: 1000.0,
            group: None,
        })
        .unwrap();
    writer
        .send(WriteOp::CloseEvent {
            event_key: 1,
            exit_time: 1005.0,
            reason: CloseReason::Gone,
            exit: None,
            exit_group: None,
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(writer.health().failing && writer.health().pending == 2) {
        assert!(
            Instant::now() < deadline,
            "never failing: {:?}",
            writer.health()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let h = writer.health();
    assert_eq!(h.failed, 0, "kept, not lost: {h:?}");
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("locked")),
        "{h:?}"
    );
    blocker.execute_batch("COMMIT").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.health().failing || writer.health().pending > 0 {
        assert!(
            Instant::now() < deadline,
            "never recovered: {:?}",
            writer.health()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.failed, 0);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), 1);
    assert_eq!(
        store.open_event_count().unwrap(),
        0,
        "the close was kept and applied"
    );
}

#[test]
fn writes_still_failing_at_shutdown_are_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn_with_timeout(path.clone(), 64, Duration::from_millis(20)).unwrap();
    writer.flush(Duration::from_secs(5)).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..3 {
        writer
            .send(WriteOp::SetState {
                key: format!("k{i}"),
                value: "v".into(),
            })
            .unwrap();
    }
    // The same key again supersedes the kept copy.
    writer
        .send(WriteOp::SetState {
            key: "k0".into(),
            value: "w".into(),
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.health().pending != 3 {
        assert!(Instant::now() < deadline, "{:?}", writer.health());
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.failed, 3, "{stats:?}");
    drop(blocker);
}

#[test]
fn json_stored_under_the_old_field_names_still_reads() {
    // Before every JSON time named its unit, the JSON columns said
    // `timestamp`, `start_time`, `captured_at`, `cpu_seconds`, ...
    use crate::model::StallKind;
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut store = Store::open(&path).unwrap();
    let entry = proc_at(42, 35.0, Band::Medium, 1000.0);
    let id = store.open_event(&entry, 7_000, 1000.0).unwrap();
    let capture = store.insert_capture(id, 1001.0, "critical").unwrap();
    let frozen = vec![samples(
        999.0,
        vec![proc_at(42, 50.0, Band::Elevated, 999.0)],
    )];
    store.insert_buffer_context(capture, &frozen, None).unwrap();
    let stall_id = store
        .insert_stall(&stall(StallKind::Scheduling, 100.0, Some(103.0)), 1)
        .unwrap();
    store
        .record_daemon_start(1, 1000.0, 7_000, "0.1.0")
        .unwrap();
    store
        .record_sample(&samples(1001.0, vec![entry.clone()]), 3)
        .unwrap();
    let event = store.event_detail(id).unwrap();
    let state = store.daemon_state().unwrap();
    let stall_row = store.stall(stall_id).unwrap();
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let renames = [
        ("timestamp_s", "timestamp"),
        ("captured_at_s", "captured_at"),
        ("start_time_ms", "start_time"),
        ("cpu_s", "cpu_seconds"),
        ("run_delay_s", "run_delay_seconds"),
        ("blocked_s", "blocked_seconds"),
    ];
    for (table, column) in [
        ("process_snapshots", "process_json"),
        ("buffer_context", "frozen_json"),
        ("stalls", "holders_json"),
        ("daemon_state", "value"),
    ] {
        for (new, old) in renames {
            conn.execute(
                &format!(
                    "UPDATE {table} SET {column} = replace({column}, '\"{new}\":', '\"{old}\":')"
                ),
                [],
            )
            .unwrap();
        }
        let new_names: i64 = conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%start_time_ms%' \
                     OR {column} LIKE '%timestamp_s%'"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(new_names, 0, "{table}.{column} rewritten to the old names");
    }
    conn.execute(
        "UPDATE process_events SET subject_kind = 'tree', group_key = '42:5', members_json = \
         '[{\"pid\":42,\"start_time\":5,\"command\":\"x\",\"score\":1.0}]'",
        [],
    )
    .unwrap();
    drop(conn);

    let store = Store::open_read_only(&path).unwrap();
    let (old_event, old_snaps) = store.event_detail(id).unwrap().unwrap();
    let (want_event, want_snaps) = event.unwrap();
    assert_eq!(old_snaps, want_snaps);
    assert_eq!(old_event.members[0].start_time_ms, 5);
    assert_eq!(old_event.start_time_ms, want_event.start_time_ms);
    assert_eq!(
        store.buffer_context(capture).unwrap().unwrap().frozen,
        frozen
    );
    assert_eq!(store.stall(stall_id).unwrap(), stall_row);
    assert_eq!(store.daemon_state().unwrap(), state);
}

#[test]
fn the_writer_encodes_handed_over_history_frames_and_commits_durably() {
    use crate::history::{Recorder, decode_block, fixture, quantize};
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = Writer::spawn(path.clone(), 64).unwrap();
    assert_eq!(
        writer.synchronous(),
        2,
        "the writer connection is synchronous=FULL"
    );
    // The latest sample alone needs no fsync; anything else does.
    let samples = |t: f64| ProcessSamples {
        timestamp_s: t,
        elapsed_ms: 1.0,
        process_count: 3,
        max_score: 30.0,
        rogues: Vec::new(),
        groups: Vec::new(),
        system: None,
    };
    writer
        .send(WriteOp::Sample {
            samples: Box::new(samples(1.0)),
            sample_count: 1,
        })
        .unwrap();
    writer.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        writer.synchronous(),
        1,
        "a batch of the latest sample: NORMAL"
    );
    let mut recorder = Recorder::with_block_seconds(5, 6.0);
    let mut writes = 0;
    for i in 0..10 {
        let t = fixture::FIXTURE_START + i as f64;
        let samples = ProcessSamples {
            timestamp_s: t,
            elapsed_ms: 1.0,
            process_count: 3,
            max_score: 30.0,
            rogues: Vec::new(),
            groups: fixture::groups(i % fixture::FIXTURE_FRAMES),
            system: fixture::system(i % fixture::FIXTURE_FRAMES).map(Box::new),
        };
        let all = fixture::processes(i, t);
        let mut blocks = recorder.record(&samples, &all, &Default::default());
        // An event opened: the open block at once (of two writes of one
        // block queued together only the newer is encoded).
        blocks.extend(recorder.flush());
        for b in blocks {
            writes += 1;
            writer.send(WriteOp::HistoryFrames(b)).unwrap();
        }
    }
    let last = recorder.take().unwrap();
    let expected: Vec<_> = last.frames.iter().map(|f| quantize(f)).collect();
    writer.send(WriteOp::HistoryFrames(last)).unwrap();
    writer.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(writer.synchronous(), 2, "history blocks commit with FULL");
    let stats = writer.shutdown().unwrap();
    assert_eq!((stats.applied, stats.failed), (writes + 2, 0), "{stats:?}");
    assert_eq!((stats.failed, stats.dropped), (0, 0));
    let store = Store::open_read_only(&path).unwrap();
    let blocks = store.history_blocks(0.0, f64::MAX).unwrap();
    assert_eq!(blocks.len(), 2, "blocks of 6 s over 10 s");
    assert_eq!(blocks[0].frames, 6);
    let back = decode_block(blocks[1].encoding, &blocks[1].data).unwrap();
    assert_eq!(back, expected);
    assert!(
        back.iter()
            .any(|f| f.system.is_some() && !f.groups.is_empty())
    );
}
