//! The clients' side of the live stream (the TUI and `status`): connect and read
//! `initial_state`, then read messages and send requests; optionally keep the
//! connection alive across daemon restarts with exponential backoff.

use super::IpcError;
use super::lines::{LineReader, ReadLine};
use super::protocol::{
    ClientMessage, DecodeError, MAX_SERVER_LINE, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
    ServerMessage, decode_server, encode,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

/// First wait after a failed connection attempt.
pub const RECONNECT_INITIAL: Duration = Duration::from_millis(200);
/// The wait doubles up to this.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Connect + `initial_state` budget used by `run_with_reconnect`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection to the daemon.
pub struct Client {
    path: PathBuf,
    reader: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connect and read the first message, which must be `initial_state` with
    /// this program's `PROTOCOL_VERSION`; return the client and that message.
    /// `timeout` covers both. A daemon that refuses us (e.g. another user's)
    /// gives `IpcError::Refused`; no daemon gives an error whose
    /// `is_not_running()` is true.
    pub async fn connect(
        socket: &Path,
        timeout: Duration,
    ) -> Result<(Client, ServerMessage), IpcError> {
        let path = socket.to_path_buf();
        let attempt = async {
            let stream = UnixStream::connect(socket)
                .await
                .map_err(|source| IpcError::Connect {
                    path: path.clone(),
                    source,
                })?;
            let (rd, wr) = stream.into_split();
            let mut client = Client {
                path: path.clone(),
                reader: LineReader::new(rd, MAX_SERVER_LINE),
                writer: wr,
            };
            match client.next_message().await? {
                Some(ServerMessage::InitialState { version, .. })
                    if !(OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) =>
                {
                    Err(IpcError::Version {
                        path: path.clone(),
                        daemon: version,
                        ours: PROTOCOL_VERSION,
                    })
                }
                Some(m @ ServerMessage::InitialState { .. }) => Ok((client, m)),
                Some(ServerMessage::Error { message }) => Err(IpcError::Refused {
                    path: path.clone(),
                    message,
                }),
                Some(other) => Err(IpcError::Protocol {
                    path: path.clone(),
                    message: format!("expected initial_state first, got {}", message_type(&other)),
                }),
                None => Err(IpcError::Protocol {
                    path: path.clone(),
                    message: "the daemon closed the connection before initial_state".into(),
                }),
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(IpcError::Timeout { path, timeout }),
        }
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.path
    }

    /// The next message; `None` when the daemon closed the connection. Lines are
    /// capped at `MAX_SERVER_LINE`. Cancel-safe (fine inside `tokio::select!`).
    pub async fn next_message(&mut self) -> Result<Option<ServerMessage>, IpcError> {
        let read = self
            .reader
            .next_line()
            .await
            .map_err(|source| IpcError::Io {
                path: self.path.clone(),
                source,
            })?;
        match read {
            ReadLine::Line(bytes) => {
                decode_server(&bytes, MAX_SERVER_LINE)
                    .map(Some)
                    .map_err(|source| IpcError::Decode {
                        path: self.path.clone(),
                        source,
                    })
            }
            ReadLine::Closed => Ok(None),
            ReadLine::ClosedMidLine { len } => Err(IpcError::Protocol {
                path: self.path.clone(),
                message: format!("connection closed in the middle of a {len}-byte message"),
            }),
            ReadLine::TooLong { len } => Err(IpcError::Decode {
                path: self.path.clone(),
                source: DecodeError::TooLong {
                    len,
                    max: MAX_SERVER_LINE,
                },
            }),
        }
    }

    /// Send one request. Not cancel-safe: a cancelled send may leave half a line
    /// on the socket, after which the daemon closes the connection.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), IpcError> {
        let line = encode(msg).map_err(|e| IpcError::Protocol {
            path: self.path.clone(),
            message: format!("cannot encode request: {e}"),
        })?;
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|source| IpcError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// The `type` tag of a server message, for error text.
fn message_type(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::InitialState { .. } => "initial_state",
        ServerMessage::Sample { .. } => "sample",
        ServerMessage::Event { .. } => "event",
        ServerMessage::Events { .. } => "events",
        ServerMessage::Stall { .. } => "stall",
        ServerMessage::Pong => "pong",
        ServerMessage::Error { .. } => "error",
        ServerMessage::Subscribed { .. } => "subscribed",
        ServerMessage::Table(_) => "table",
    }
}

/// What `run_with_reconnect` reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// (Re)connected; carries the `initial_state` message.
    Connected(ServerMessage),
    /// A message after `initial_state`.
    Message(ServerMessage),
    /// Not connected: the connection ended or an attempt failed (sent after every
    /// failed attempt, so the UI can show the countdown); retrying after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
}

/// Keep a connection alive: connect, forward every message to `tx`, and on
/// disconnect retry with exponential backoff (`RECONNECT_INITIAL` doubling to
/// `RECONNECT_MAX`, reset after each successful connection). Returns when `tx`
/// is closed.
pub async fn run_with_reconnect(socket: PathBuf, tx: mpsc::Sender<ClientEvent>) {
    run(socket, tx, None).await;
}

/// `run_with_reconnect`, also sending every request received on `requests` to
/// the daemon while connected (e.g. `get_events` after `Connected`). Requests are
/// not read while disconnected; they wait in the channel. Once `requests` is
/// closed, the connection carries on without it.
pub async fn run_with_reconnect_and_requests(
    socket: PathBuf,
    tx: mpsc::Sender<ClientEvent>,
    mut requests: mpsc::Receiver<ClientMessage>,
) {
    run(socket, tx, Some(&mut requests)).await;
}

async fn run(
    socket: PathBuf,
    tx: mpsc::Sender<ClientEvent>,
    mut requests: Option<&mut mpsc::Receiver<ClientMessage>>,
) {
    let mut backoff = RECONNECT_INITIAL;
    loop {
        let connected = tokio::select! {
            _ = tx.closed() => return,
            r = Client::connect(&socket, CONNECT_TIMEOUT) => r,
        };
        let reason = match connected {
            Err(e) => e.to_string(),
            Ok((mut client, initial)) => {
                backoff = RECONNECT_INITIAL;
                tracing::debug!(event_name = "ipc_connected", socket = %socket.display());
                if tx.send(ClientEvent::Connected(initial)).await.is_err() {
                    return;
                }
                match session(&mut client, &tx, &mut requests).await {
                    Some(reason) => reason,
                    None => return,
                }
            }
        };
        tracing::debug!(
            event_name = "ipc_disconnected",
            socket = %socket.display(),
            reason = %reason,
            retry_in_ms = backoff.as_millis() as u64
        );
        let event = ClientEvent::Disconnected {
            reason,
            retry_in: backoff,
        };
        if tx.send(event).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// Forward messages until the connection ends (`Some(reason)`) or `tx` closes
/// (`None`).
async fn session(
    client: &mut Client,
    tx: &mpsc::Sender<ClientEvent>,
    requests: &mut Option<&mut mpsc::Receiver<ClientMessage>>,
) -> Option<String> {
    loop {
        let requests_open = requests.is_some();
        tokio::select! {
            _ = tx.closed() => return None,
            msg = client.next_message() => match msg {
                Ok(Some(m)) => {
                    if tx.send(ClientEvent::Message(m)).await.is_err() {
                        return None;
                    }
                }
                Ok(None) => return Some("the daemon closed the connection".into()),
                Err(e) => return Some(e.to_string()),
            },
            req = recv_request(requests), if requests_open => match req {
                Some(r) => {
                    if let Err(e) = client.send(&r).await {
                        return Some(e.to_string());
                    }
                }
                None => *requests = None,
            },
        }
    }
}

async fn recv_request(
    requests: &mut Option<&mut mpsc::Receiver<ClientMessage>>,
) -> Option<ClientMessage> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One-shot synchronous helper for the CLI (`status`): connect, take
/// `initial_state`, return it. Builds its own small current-thread runtime, so it
/// must not be called from inside a tokio runtime (that is an error, not a
/// panic).
pub fn fetch_initial_state(socket: &Path, timeout: Duration) -> Result<ServerMessage, IpcError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(IpcError::Runtime {
            path: socket.to_path_buf(),
            source: std::io::Error::other(
                "fetch_initial_state called inside a tokio runtime; use Client::connect",
            ),
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| IpcError::Runtime {
            path: socket.to_path_buf(),
            source,
        })?;
    rt.block_on(async {
        let (_client, initial) = Client::connect(socket, timeout).await?;
        Ok(initial)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_socket_is_not_running_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.sock");
        let err = fetch_initial_state(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_not_running(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("is the daemon running"), "{text}");
    }

    #[test]
    fn stale_socket_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let err = fetch_initial_state(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_not_running(), "{err:?}");
        assert!(err.to_string().contains("stale socket"), "{err}");
    }

    #[test]
    fn silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Accepted by the kernel backlog, never answered.
        let err = fetch_initial_state(&path, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, IpcError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("no answer"), "{err}");
    }

    fn serve_one(path: &Path, lines: &'static [u8]) -> std::thread::JoinHandle<()> {
        use std::io::Write;
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(lines);
        })
    }

    #[test]
    fn first_message_must_be_initial_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let t = serve_one(&path, b"{\"type\":\"pong\"}\n");
        let err = fetch_initial_state(&path, Duration::from_secs(2)).unwrap_err();
        t.join().unwrap();
        assert!(
            err.to_string()
                .contains("expected initial_state first, got pong")
        );
    }

    #[test]
    fn error_first_is_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let t = serve_one(
            &path,
            b"{\"type\":\"error\",\"message\":\"permission denied\"}\n",
        );
        let err = fetch_initial_state(&path, Duration::from_secs(2)).unwrap_err();
        t.join().unwrap();
        assert!(matches!(err, IpcError::Refused { .. }), "{err:?}");
        assert!(err.to_string().contains("permission denied"));
    }

    #[test]
    fn a_version_1_daemon_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let t = serve_one(
            &path,
            b"{\"type\":\"initial_state\",\"version\":1,\"daemon\":{\"pid\":1,\"started_at\":5.5,\
              \"sample_interval\":0.5,\"sample_count\":0,\"boot_time\":7000,\"open_events\":0},\"history\":[]}\n",
        );
        let first = fetch_initial_state(&path, Duration::from_secs(2)).unwrap();
        t.join().unwrap();
        let ServerMessage::InitialState {
            version,
            schema_version,
            host,
            daemon,
            ..
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!((version, schema_version, host), (1, None, None));
        assert_eq!(
            (daemon.started_at, daemon.sample_interval, daemon.boot_time),
            (5.5, 0.5, 7000)
        );
    }

    #[test]
    fn other_protocol_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let t = serve_one(
            &path,
            b"{\"type\":\"initial_state\",\"version\":999,\"daemon\":{\"pid\":1,\"started_at\":0.0,\
              \"sample_interval\":0.33,\"sample_count\":0,\"boot_time\":0,\"open_events\":0},\"history\":[]}\n",
        );
        let err = fetch_initial_state(&path, Duration::from_secs(2)).unwrap_err();
        t.join().unwrap();
        assert!(
            matches!(err, IpcError::Version { daemon: 999, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_from_the_daemon_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let t = serve_one(&path, b"\xff\xfe not json\n");
        let err = fetch_initial_state(&path, Duration::from_secs(2)).unwrap_err();
        t.join().unwrap();
        assert!(matches!(err, IpcError::Decode { .. }), "{err:?}");
    }

    #[test]
    fn inside_a_runtime_is_an_error_not_a_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(async {
            fetch_initial_state(Path::new("/nonexistent/x.sock"), Duration::from_secs(1))
        });
        assert!(matches!(err, Err(IpcError::Runtime { .. })));
    }
}
