//! The live-stream server over real Unix sockets in temp dirs: permissions,
//! first message, fan-out to many clients without slowing the publisher, slow and
//! garbage clients dropped alone, requests, stale sockets, the peer-uid check and
//! client reconnection.

use rogue_hunter::ipc::client::{Client, ClientEvent, run_with_reconnect};
use rogue_hunter::ipc::protocol::{
    ClientMessage, DaemonInfo, EventKind, EventNotice, MAX_CLIENT_LINE, MAX_SERVER_LINE,
    PROTOCOL_VERSION, ServerMessage, decode,
};
use rogue_hunter::ipc::server::{EventQuery, Hub, Server, ServerConfig};
use rogue_hunter::ipc::{IpcError, client::fetch_initial_state};
use rogue_hunter::model::EventRow;
use rogue_hunter::model::{Band, MetricValue, ProcessSamples, ProcessScore, Resource};
use rogue_hunter::storage::{EventFilter, StorageError};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELPER_ENV: &str = "ROGUE_HUNTER_TEST_IPC_HELPER";

/// In the helper role (see `peer_of_another_user_is_refused`): connect, print
/// the first line and whether the daemon then closed, exit.
#[test]
fn ipc_helper_entry() {
    let Ok(socket) = std::env::var(HELPER_ENV) else {
        return;
    };
    let out = match UnixStream::connect(&socket) {
        Err(e) => format!("HELPER connect-failed {e}"),
        Ok(s) => {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s);
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut rest = Vec::new();
            let closed = match r.read_to_end(&mut rest) {
                Ok(_) => "closed",
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "closed",
                Err(_) => "open",
            };
            format!("HELPER {closed} {}", first.trim_end())
        }
    };
    println!("{out}");
    std::process::exit(0);
}

fn info() -> DaemonInfo {
    DaemonInfo {
        pid: std::process::id(),
        started_at: 1_700_000_000.0,
        sample_interval: 1.0 / 3.0,
        sample_count: 0,
        boot_time: 1_699_000_000_000,
        open_events: 0,
        last_stall: None,
        health: Default::default(),
    }
}

/// A sample with `n` fully populated processes (about 2 KB of JSON each),
/// stamped with `timestamp`.
fn sample(timestamp: f64, n: usize) -> Arc<ProcessSamples> {
    let rogues = (0..n)
        .map(|i| {
            let mut p = ProcessScore::new(
                1000 + i as u32,
                1_700_000_000_000 + i as u64,
                format!("worker-{i}"),
                timestamp,
            );
            for (k, m) in p.metrics_mut().into_iter().enumerate() {
                *m = Some(MetricValue {
                    current: 1234.5678 * k as f64,
                    low: 0.125,
                    high: 98765.4321,
                });
            }
            p.score = 50.0;
            p.band = Band::Elevated;
            p.cpu_share = Some(0.5);
            p
        })
        .collect();
    Arc::new(ProcessSamples {
        timestamp_s: timestamp,
        elapsed_ms: 3.0,
        process_count: 400,
        max_score: 50.0,
        rogues,
        groups: Vec::new(),
        system: None,
    })
}

fn no_events() -> EventQuery {
    Arc::new(|_f: EventFilter| Ok(Vec::new()))
}

struct Fixture {
    dir: tempfile::TempDir,
    socket: PathBuf,
    hub: Hub,
    server: Option<Server>,
}

impl Fixture {
    fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
        Self::start_with(tweak, no_events())
    }

    fn start_with(tweak: impl FnOnce(&mut ServerConfig), events: EventQuery) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/rogue-hunter/daemon.sock");
        let mut cfg = ServerConfig::new(socket.clone());
        tweak(&mut cfg);
        let hub = Hub::new(info());
        let server = Server::start(cfg, hub.clone(), events).unwrap();
        Fixture {
            dir,
            socket,
            hub,
            server: Some(server),
        }
    }

    fn connect(&self) -> Conn {
        Conn::open(&self.socket)
    }

    fn wait_clients(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.hub.client_count() != n {
            assert!(
                Instant::now() < deadline,
                "expected {n} clients, have {}",
                self.hub.client_count()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A raw client on a blocking std socket.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn open(path: &Path) -> Conn {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    /// The next line as text; "" at EOF.
    fn raw_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn next(&mut self) -> ServerMessage {
        let line = self.raw_line();
        assert!(!line.is_empty(), "connection closed");
        decode(line.as_bytes(), MAX_SERVER_LINE).unwrap()
    }

    fn next_sample(&mut self) -> ProcessSamples {
        match self.next() {
            ServerMessage::Sample { samples } => samples,
            other => panic!("expected a sample, got {other:?}"),
        }
    }

    fn initial(&mut self) -> (DaemonInfo, Vec<ProcessSamples>) {
        match self.next() {
            ServerMessage::InitialState {
                version,
                schema_version,
                host,
                daemon,
                history,
            } => {
                assert_eq!(version, PROTOCOL_VERSION);
                assert_eq!(schema_version, Some(rogue_hunter::json::SCHEMA_VERSION));
                assert!(host.is_some_and(|h| !h.is_empty()));
                (daemon, history)
            }
            other => panic!("expected initial_state, got {other:?}"),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// True once the daemon has closed the connection (EOF or reset), reading
    /// and discarding whatever was still queued.
    fn closed_by_daemon(&mut self) -> bool {
        let mut sink = Vec::new();
        match self.reader.read_to_end(&mut sink) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn socket_dir_is_0700_socket_is_0600_and_removed_on_shutdown() {
    let mut f = Fixture::start(|_| {});
    let dir = f.socket.parent().unwrap().to_path_buf();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&f.socket), 0o600);
    f.server.take().unwrap().shutdown();
    assert!(!f.socket.exists());
}

#[test]
fn loose_existing_dir_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("rogue-hunter");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let server = Server::start(
        ServerConfig::new(run.join("daemon.sock")),
        Hub::new(info()),
        no_events(),
    )
    .unwrap();
    assert_eq!(mode(&run), 0o700);
    server.shutdown();
}

#[test]
fn first_message_is_initial_state_with_version_and_history() {
    let f = Fixture::start(|c| c.history_len = 3);
    let mut info2 = info();
    info2.sample_count = 5;
    info2.open_events = 1;
    f.hub.set_daemon_info(info2.clone());
    for t in 1..=5 {
        f.hub.publish_sample(sample(t as f64, 1));
    }
    let mut c = f.connect();
    let (daemon, history) = c.initial();
    assert_eq!(daemon, info2);
    let ts: Vec<f64> = history.iter().map(|s| s.timestamp_s).collect();
    assert_eq!(ts, vec![3.0, 4.0, 5.0], "last history_len, oldest first");

    // Also through the CLI helper.
    let first = fetch_initial_state(&f.socket, Duration::from_secs(5)).unwrap();
    assert!(matches!(first, ServerMessage::InitialState { ref history, .. } if history.len() == 3));
}

#[test]
fn initial_state_leads_with_the_envelope_of_every_json_document() {
    let f = Fixture::start(|_| {});
    f.hub.publish_sample(sample(1.0, 1));
    let mut c = f.connect();
    let line = c.raw_line();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| {
            String::from_utf8_lossy(
                &std::process::Command::new("uname")
                    .arg("-n")
                    .output()
                    .expect("uname")
                    .stdout,
            )
            .trim()
            .to_string()
        });
    let head = format!(
        "{{\"type\":\"initial_state\",\"version\":{PROTOCOL_VERSION},\"schema_version\":{},\"host\":{},\"daemon\":",
        rogue_hunter::json::SCHEMA_VERSION,
        serde_json::to_string(&host).unwrap()
    );
    assert!(
        line.starts_with(&head),
        "{head}\n{}",
        &line[..line.len().min(200)]
    );
    // Later lines belong to that handshake: no envelope of their own.
    f.hub.publish_sample(sample(2.0, 1));
    let later = c.raw_line();
    assert!(
        later.starts_with("{\"type\":\"sample\",\"samples\":{\"timestamp_s\":2.0,"),
        "{later}"
    );
    assert!(!later.contains("\"schema_version\"") && !later.contains("\"host\""));
}

#[test]
fn published_samples_and_events_reach_a_client() {
    let f = Fixture::start(|_| {});
    let mut c = f.connect();
    let (_, history) = c.initial();
    assert!(history.is_empty());
    f.wait_clients(1);
    f.hub.publish_sample(sample(10.0, 2));
    let notice = EventNotice {
        subject_kind: rogue_hunter::model::SubjectKind::Process,
        group_key: None,
        members: Vec::new(),
        kind: EventKind::Opened,
        event_key: 1,
        pid: 1000,
        start_time: 1,
        command: "worker-0".into(),
        band: Band::High,
        score: 72.0,
        dominant_resource: Resource::Cpu,
        at: 10.0,
        reason: None,
    };
    f.hub.publish_event(notice.clone());
    f.hub.publish_sample(sample(11.0, 2));
    assert_eq!(c.next_sample().timestamp_s, 10.0);
    assert_eq!(c.next(), ServerMessage::Event { event: notice });
    let s = c.next_sample();
    let want = sample(11.0, 2);
    assert_eq!(s.timestamp_s, want.timestamp_s);
    assert_eq!(s.rogues.len(), 2);
    assert_eq!(s.rogues[1].command, want.rogues[1].command);
}

#[test]
fn fifty_clients_all_receive_a_sample() {
    let _m = crate::common::machine();
    let f = Fixture::start(|_| {});
    let mut conns: Vec<Conn> = (0..50).map(|_| f.connect()).collect();
    for c in &mut conns {
        c.initial();
    }
    f.wait_clients(50);
    f.hub.publish_sample(sample(42.0, 5));
    for c in &mut conns {
        assert_eq!(c.next_sample().timestamp_s, 42.0);
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; the clock id is supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// 50 clients, half of which never read: the 25 readers get all 100 samples in
/// order, the non-readers are dropped, and publishing never waits on any of
/// them. (How fast it is: `cargo bench --bench live_stream`.)
#[test]
fn publishing_never_blocks_with_fifty_clients_some_never_reading() {
    let _m = crate::common::machine();
    let f = Fixture::start(|c| {
        c.client_queue = 128;
        c.write_timeout = Duration::from_millis(500);
    });
    const N: usize = 100;
    let mut readers = Vec::new();
    let mut idle = Vec::new();
    for i in 0..50 {
        let mut c = f.connect();
        c.initial();
        if i % 2 == 0 {
            idle.push(c);
            continue;
        }
        readers.push(std::thread::spawn(move || {
            let got: Vec<f64> = (0..N).map(|_| c.next_sample().timestamp_s).collect();
            (c, got)
        }));
    }
    f.wait_clients(50);
    let template = sample(0.0, 10);
    let mut worst = Duration::ZERO;
    for i in 0..N {
        let mut s = (*template).clone();
        s.timestamp_s = i as f64;
        let t0 = Instant::now();
        f.hub.publish_sample(Arc::new(s));
        worst = worst.max(t0.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut kept = Vec::new();
    for r in readers {
        let (c, got) = r.join().unwrap();
        kept.push(c);
        let want: Vec<f64> = (0..N).map(|i| i as f64).collect();
        assert_eq!(got, want, "a reading client missed or reordered samples");
    }
    // The 25 that never read are dropped; the 25 readers stay.
    f.wait_clients(25);
    drop(idle);
    // Blocking on a client that never reads would cost the 500 ms write timeout.
    assert!(
        worst < Duration::from_millis(500),
        "publish_sample blocked for {worst:?}: it waited on a client"
    );
}

#[test]
fn slow_client_is_dropped_fast_client_keeps_receiving() {
    let _m = crate::common::machine();
    let f = Fixture::start(|c| {
        c.client_queue = 16;
        c.write_timeout = Duration::from_millis(300);
    });
    let mut slow = f.connect();
    slow.initial();
    let mut fast = f.connect();
    fast.initial();
    f.wait_clients(2);
    const N: usize = 60;
    let reader = std::thread::spawn(move || {
        let got: Vec<f64> = (0..N).map(|_| fast.next_sample().timestamp_s).collect();
        (fast, got)
    });
    let (mut slowest, mut slowest_cpu, mut over_100ms) = (Duration::ZERO, Duration::ZERO, 0);
    for i in 0..N {
        let s = sample(i as f64, 10);
        let (t0, c0) = (Instant::now(), thread_cpu());
        f.hub.publish_sample(s);
        let took = t0.elapsed();
        slowest = slowest.max(took);
        over_100ms += usize::from(took >= Duration::from_millis(100));
        slowest_cpu = slowest_cpu.max(thread_cpu() - c0);
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut fast, got) = reader.join().unwrap();
    assert_eq!(got, (0..N).map(|i| i as f64).collect::<Vec<_>>());
    f.wait_clients(1);
    // Never waits for the slow client (that would cost the 300 ms timeout,
    // every publish once its buffer is full): none near it, and at most one
    // over 100 ms (a preemption on a loaded machine).
    assert!(
        slowest < Duration::from_millis(250) && over_100ms <= 1,
        "publish took up to {slowest:?}, {over_100ms} of {N} over 100 ms"
    );
    assert!(
        slowest_cpu < Duration::from_millis(20),
        "publish used {slowest_cpu:?} CPU"
    );
    // The slow one was closed by the daemon (what it had buffered, then EOF).
    assert!(slow.closed_by_daemon());
    // The fast one is still served.
    f.hub.publish_sample(sample(99.0, 1));
    assert_eq!(fast.next_sample().timestamp_s, 99.0);
}

#[test]
fn garbage_gets_an_error_and_a_close_others_untouched() {
    let f = Fixture::start(|_| {});
    let mut good = f.connect();
    good.initial();

    let mut too_long = vec![b'a'; MAX_CLIENT_LINE + 10];
    too_long.push(b'\n');
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all\n".to_vec(), "malformed message"),
        (b"{\"type\":\"nope\"}\n".to_vec(), "unknown variant"),
        (b"{\"type\":42}\n".to_vec(), "malformed message"),
        (b"[]\n".to_vec(), "malformed message"),
        (b"null\n".to_vec(), "malformed message"),
        (b"{\"type\":\"ping\xff\"}\n".to_vec(), "not UTF-8"),
        (too_long, "exceeds the limit of 65536"),
    ];
    for (bytes, expect) in cases {
        let mut bad = f.connect();
        bad.initial();
        bad.send(&bytes);
        let reply = bad.next();
        match reply {
            ServerMessage::Error { message } => {
                assert!(message.contains(expect), "{message:?} lacks {expect:?}")
            }
            other => panic!("expected error, got {other:?}"),
        }
        assert!(
            bad.closed_by_daemon(),
            "connection left open after {expect}"
        );
    }
    // A line that never ends, longer than the cap: cut off without waiting for
    // a newline.
    let mut endless = f.connect();
    endless.initial();
    endless.send(&vec![b'{'; MAX_CLIENT_LINE + 1]);
    assert!(matches!(endless.next(), ServerMessage::Error { .. }));
    assert!(endless.closed_by_daemon());

    f.wait_clients(1);
    f.hub.publish_sample(sample(7.0, 1));
    assert_eq!(good.next_sample().timestamp_s, 7.0);
    good.send(b"{\"type\":\"ping\"}\n");
    assert_eq!(good.next(), ServerMessage::Pong);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn event_row(id: i64) -> EventRow {
    EventRow {
        subject_kind: rogue_hunter::model::SubjectKind::Process,
        group_key: None,
        members: Vec::new(),
        id,
        pid: 4321,
        start_time_ms: 1,
        command: "hog".into(),
        boot_time_ms: 2,
        entry_time_s: 100.0 + id as f64,
        exit_time_s: None,
        entry_band: Band::Elevated,
        peak_band: Band::High,
        peak_score: 71.0,
        peak_time_s: 101.0,
        dominant_resource: Resource::Cpu,
        close_reason: None,
        forensics_count: 0,
    }
}

#[test]
fn ping_pong_and_get_events_through_the_query() {
    let seen: Arc<Mutex<Vec<EventFilter>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    let query: EventQuery = Arc::new(move |filter: EventFilter| {
        seen2.lock().unwrap().push(filter.clone());
        if filter.limit == Some(13) {
            return Err(StorageError::Locked {
                path: "/data/events.db".into(),
            });
        }
        Ok(vec![event_row(1), event_row(2)])
    });
    let f = Fixture::start_with(|_| {}, query);
    runtime().block_on(async {
        let (mut c, first) = Client::connect(&f.socket, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(first, ServerMessage::InitialState { .. }));
        c.send(&ClientMessage::Ping).await.unwrap();
        assert_eq!(c.next_message().await.unwrap(), Some(ServerMessage::Pong));

        c.send(&ClientMessage::GetEvents {
            limit: Some(5),
            open_only: true,
        })
        .await
        .unwrap();
        assert_eq!(
            c.next_message().await.unwrap(),
            Some(ServerMessage::Events {
                events: vec![event_row(1), event_row(2)]
            })
        );
        // Without a limit: the server's default cap; a huge one is clamped.
        c.send(&ClientMessage::GetEvents {
            limit: None,
            open_only: false,
        })
        .await
        .unwrap();
        c.next_message().await.unwrap();
        c.send(&ClientMessage::GetEvents {
            limit: Some(usize::MAX),
            open_only: false,
        })
        .await
        .unwrap();
        c.next_message().await.unwrap();

        // A failing query is an error reply, and the connection stays up.
        c.send(&ClientMessage::GetEvents {
            limit: Some(13),
            open_only: false,
        })
        .await
        .unwrap();
        match c.next_message().await.unwrap() {
            Some(ServerMessage::Error { message }) => {
                assert!(
                    message.contains("get_events failed: /data/events.db is locked"),
                    "{message}"
                )
            }
            other => panic!("expected error, got {other:?}"),
        }
        c.send(&ClientMessage::Ping).await.unwrap();
        assert_eq!(c.next_message().await.unwrap(), Some(ServerMessage::Pong));
    });
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0],
        EventFilter {
            open_only: true,
            since: None,
            limit: Some(5)
        }
    );
    assert_eq!(
        seen[1].limit,
        Some(rogue_hunter::ipc::server::DEFAULT_EVENTS_LIMIT)
    );
    assert_eq!(
        seen[2].limit,
        Some(rogue_hunter::ipc::server::MAX_EVENTS_LIMIT)
    );
}

#[test]
fn stale_socket_is_replaced_live_one_and_non_socket_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rogue-hunter/daemon.sock");
    rogue_hunter::sys::ensure_private_dir(path.parent().unwrap()).unwrap();

    // A dead daemon's socket: bound, then the listener dropped (file remains).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let hub = Hub::new(info());
    let server = Server::start(ServerConfig::new(path.clone()), hub.clone(), no_events()).unwrap();
    assert!(matches!(
        fetch_initial_state(&path, Duration::from_secs(5)).unwrap(),
        ServerMessage::InitialState { .. }
    ));

    // While it runs, a second server on the same path is refused and leaves the
    // first one's socket alone.
    let err = Server::start(
        ServerConfig::new(path.clone()),
        Hub::new(info()),
        no_events(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, IpcError::InUse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("address in use"),
        "{text}"
    );
    assert!(fetch_initial_state(&path, Duration::from_secs(5)).is_ok());
    server.shutdown();
    assert!(!path.exists());

    // A regular file is never removed.
    std::fs::write(&path, b"precious").unwrap();
    let err = Server::start(
        ServerConfig::new(path.clone()),
        Hub::new(info()),
        no_events(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, IpcError::NotASocket { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn unbindable_path_error_names_it() {
    let dir = tempfile::tempdir().unwrap();
    // sun_path holds ~108 bytes: a longer path cannot be bound.
    let long = dir.path().join("d".repeat(120)).join("daemon.sock");
    let err = Server::start(
        ServerConfig::new(long.clone()),
        Hub::new(info()),
        no_events(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains(&long.display().to_string()),
        "{err}"
    );
}

#[test]
fn peer_of_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if rogue_hunter::sys::euid() != 0 {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    use std::os::unix::process::CommandExt;
    let f = Fixture::start(|_| {});
    let mut good = f.connect();
    good.initial();
    // Let uid 65534 reach the socket, so the daemon's own uid check is what
    // stops it (normally the 0700 directory already does).
    let mut p = f.socket.clone();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    while p.pop() && p.starts_with(f.dir.path()) {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ipc_server::ipc_helper_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(HELPER_ENV, &f.socket)
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("HELPER "))
        .unwrap_or_else(|| {
            panic!(
                "helper said nothing: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let Some(reply) = line.strip_prefix("HELPER closed ") else {
        panic!("refused peer not closed: {line}");
    };
    let msg: ServerMessage =
        decode(reply.as_bytes(), MAX_SERVER_LINE).unwrap_or_else(|e| panic!("{line}: {e}"));
    match msg {
        ServerMessage::Error { message } => {
            assert!(
                message.contains("permission denied") && message.contains("65534"),
                "{message}"
            )
        }
        other => panic!("another user got {other:?}"),
    }
    // The same user is still served.
    assert_eq!(f.hub.client_count(), 1);
    f.hub.publish_sample(sample(5.0, 1));
    assert_eq!(good.next_sample().timestamp_s, 5.0);
}

#[test]
fn client_reconnects_after_a_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rogue-hunter/daemon.sock");
    let hub = Hub::new(info());
    let server = Server::start(ServerConfig::new(path.clone()), hub.clone(), no_events()).unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let socket = path.clone();
    let client_thread = std::thread::spawn(move || {
        runtime().block_on(run_with_reconnect(socket, tx));
    });
    let recv = |rx: &mut tokio::sync::mpsc::Receiver<ClientEvent>| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(ev) => return ev,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "no client event");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
    };

    assert!(matches!(
        recv(&mut rx),
        ClientEvent::Connected(ServerMessage::InitialState { .. })
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.client_count() != 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    hub.publish_sample(sample(1.0, 1));
    match recv(&mut rx) {
        ClientEvent::Message(ServerMessage::Sample { samples }) => {
            assert_eq!(samples.timestamp_s, 1.0)
        }
        other => panic!("{other:?}"),
    }

    server.shutdown();
    match recv(&mut rx) {
        ClientEvent::Disconnected { reason, retry_in } => {
            assert!(!reason.is_empty());
            assert_eq!(retry_in, rogue_hunter::ipc::client::RECONNECT_INITIAL);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // While the daemon is away, failed attempts back off.
    match recv(&mut rx) {
        ClientEvent::Disconnected { reason, retry_in } => {
            assert!(reason.contains("is the daemon running"), "{reason}");
            assert!(retry_in > rogue_hunter::ipc::client::RECONNECT_INITIAL);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }

    let hub2 = Hub::new(info());
    hub2.publish_sample(sample(2.0, 1));
    let server2 =
        Server::start(ServerConfig::new(path.clone()), hub2.clone(), no_events()).unwrap();
    let connected = loop {
        match recv(&mut rx) {
            ClientEvent::Disconnected { .. } => continue,
            other => break other,
        }
    };
    match connected {
        ClientEvent::Connected(ServerMessage::InitialState { history, .. }) => {
            assert_eq!(history.len(), 1);
            assert_eq!(history[0].timestamp_s, 2.0);
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    // Closing the receiver stops the task.
    drop(rx);
    client_thread.join().unwrap();
    server2.shutdown();
}

#[test]
fn server_starts_and_stops_from_inside_an_async_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rogue-hunter/daemon.sock");
    runtime().block_on(async {
        let server = Server::start(
            ServerConfig::new(path.clone()),
            Hub::new(info()),
            no_events(),
        )
        .unwrap();
        let (_c, first) = Client::connect(&path, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(first, ServerMessage::InitialState { .. }));
        server.shutdown();
    });
    assert!(!path.exists());
}

#[test]
fn full_table_subscribers_get_every_process_and_others_the_top_n() {
    let fx = Fixture::start(|_| {});
    let mut full = fx.connect();
    let mut top = fx.connect();
    full.initial();
    top.initial();
    fx.wait_clients(2);
    full.send(b"{\"type\":\"subscribe\",\"full_table\":true}\n");
    match full.next() {
        ServerMessage::Subscribed {
            full_table,
            max_processes,
            compact,
        } => {
            assert!(full_table && !compact);
            assert!(max_processes >= 5000);
        }
        other => panic!("expected subscribed, got {other:?}"),
    }
    // 5000 synthetic processes (~2 KB of JSON each), scores spread out.
    let all: Vec<ProcessScore> = sample(10.0, 5000)
        .rogues
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut p = p.clone();
            p.score = (i % 100) as f64;
            p
        })
        .collect();
    let mut best: Vec<ProcessScore> = all.clone();
    best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
    let top20 = Arc::new(ProcessSamples {
        rogues: best[..20].to_vec(),
        process_count: 5000,
        ..(*sample(10.0, 0)).clone()
    });
    fx.hub.publish_sample_with_table(Arc::clone(&top20), &all);
    let got = full.next_sample();
    assert_eq!(got.rogues.len(), 5000, "every process");
    assert_eq!(got.process_count, 5000);
    assert!(
        got.rogues.windows(2).all(|w| w[0].score >= w[1].score),
        "worst first"
    );
    let got = top.next_sample();
    assert_eq!(
        got.rogues.len(),
        20,
        "a client that did not ask gets the top N"
    );
    // Taking it back: the top N again.
    full.send(b"{\"type\":\"subscribe\",\"full_table\":false}\n");
    assert!(matches!(
        full.next(),
        ServerMessage::Subscribed {
            full_table: false,
            ..
        }
    ));
    fx.hub.publish_sample_with_table(top20, &all);
    assert_eq!(full.next_sample().rogues.len(), 20);
}

#[test]
fn compact_subscribers_get_a_keyframe_then_only_what_changed() {
    use rogue_hunter::ipc::table::TableState;
    let fx = Fixture::start(|_| {});
    let mut compact = fx.connect();
    let mut top = fx.connect();
    compact.initial();
    top.initial();
    fx.wait_clients(2);
    compact.send(b"{\"type\":\"subscribe\",\"full_table\":true,\"compact\":true}\n");
    assert!(matches!(
        compact.next(),
        ServerMessage::Subscribed {
            full_table: true,
            compact: true,
            ..
        }
    ));
    // 5000 synthetic processes, scores spread out; each round 10 of them change
    // and one is replaced by a newcomer.
    let round = |t: f64, n: u32| -> (Arc<ProcessSamples>, Vec<ProcessScore>) {
        let mut all: Vec<ProcessScore> = sample(t, 5000)
            .rogues
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut p = p.clone();
                p.score = (i % 100) as f64;
                for m in p.metrics_mut().into_iter().flatten() {
                    *m = MetricValue::new(m.current);
                }
                p
            })
            .collect();
        for p in all.iter_mut().take(10) {
            p.cpu = Some(MetricValue::new(f64::from(n)));
        }
        all[4999].pid = 90_000 + n;
        let mut best = all.clone();
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
        let top20 = Arc::new(ProcessSamples {
            rogues: best[..20].to_vec(),
            process_count: 5000,
            ..(*sample(t, 0)).clone()
        });
        (top20, all)
    };
    let mut table = TableState::default();
    let mut sizes = Vec::new();
    for n in 0..4u32 {
        let t = 10.0 + f64::from(n);
        let (top20, all) = round(t, n);
        fx.hub.publish_sample_with_table(Arc::clone(&top20), &all);
        let line = compact.raw_line();
        sizes.push(line.len());
        let ServerMessage::Table(msg) = decode(line.as_bytes(), MAX_SERVER_LINE).unwrap() else {
            panic!("expected a table line: {}", &line[..line.len().min(200)]);
        };
        assert_eq!(msg.full, n == 0, "a keyframe first, then deltas");
        if n > 0 {
            assert_eq!(msg.rows.len(), 11, "the 10 changed rows and the newcomer");
            assert_eq!(msg.left.len(), 1, "the process that left");
        }
        let got = table.apply(*msg).expect("applies in order");
        let mut want = all.clone();
        want.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
        // The top rows carry the daemon's ranges (the plain sample's).
        for (w, t) in want.iter_mut().zip(&top20.rogues) {
            *w = t.clone();
        }
        assert_eq!(got.rogues.len(), 5000, "every process");
        // As a full-table `sample` would arrive: the same JSON numbers, parsed
        // the same way (serde_json's parser may be one ulp off the source).
        let want: Vec<ProcessScore> =
            serde_json::from_str(&serde_json::to_string(&want).unwrap()).unwrap();
        if let Some((g, w)) = got.rogues.iter().zip(&want).find(|(g, w)| g != w) {
            panic!("round {n}: the rebuilt table differs:\n{g:?}\n{w:?}");
        }
        // The other client still gets the plain top N.
        assert_eq!(top.next_sample().rogues.len(), 20);
    }
    assert!(
        sizes[1] * 20 < sizes[0],
        "a delta is a small part of the keyframe: {sizes:?}"
    );
    // Subscribing again (a resync) brings a new keyframe.
    compact.send(b"{\"type\":\"subscribe\",\"full_table\":true,\"compact\":true}\n");
    assert!(matches!(compact.next(), ServerMessage::Subscribed { .. }));
    let (top20, all) = round(20.0, 9);
    fx.hub.publish_sample_with_table(top20, &all);
    let ServerMessage::Table(msg) = compact.next() else {
        panic!("expected a table");
    };
    assert!(msg.full && msg.rows.len() == 5000);
}
