//! The socket server: the daemon's side of the live stream on the wire.
//!
//! Binds the Unix socket (replacing a stale one, 0600 in a 0700 directory),
//! runs the accept loop, checks each peer's uid, and gives every accepted
//! connection its own task: send `initial_state`, then interleave the hub's
//! queued lines with answers to the client's requests until the client leaves,
//! misbehaves, is dropped by the hub, or the server stops. Runs on its own
//! thread with a current-thread tokio runtime. What is shared per sample, and
//! the per-client queues, are the hub's (`hub`).

use super::IpcError;
use super::hub::{
    DEFAULT_CLIENT_QUEUE, DEFAULT_HISTORY_LEN, Line, Subscription, initial_state_line,
};
use super::lines::{LineReader, ReadLine};
use super::protocol::DaemonInfo;
use super::protocol::{
    ClientMessage, DecodeError, MAX_CLIENT_LINE, MAX_FULL_TABLE, MAX_SERVER_LINE, ServerMessage,
    decode, encode,
};
use crate::model::EventRow;
use crate::storage::{EventFilter, StorageError};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

/// The hub a server serves (re-exported so `Server::start`'s argument is
/// reachable from here).
pub use super::hub::Hub;

/// `get_events` without a limit returns at most this many events.
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
/// `get_events` never returns more than this many events, whatever it asks.
pub const MAX_EVENTS_LIMIT: usize = 1000;
/// Clients served at once when the config does not say.
pub const DEFAULT_MAX_CLIENTS: usize = 64;
/// How long a refused client gets to take its `error` line.
const REFUSE_TIMEOUT: Duration = Duration::from_millis(500);
/// At most one "too many clients" warning this often (the rest are counted).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown waits for client tasks to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The socket path (normally `config::Paths::socket()`).
    pub socket: PathBuf,
    /// Samples kept for `initial_state`, e.g. 60.
    pub history_len: usize,
    /// Messages queued per client before that client is dropped, e.g. 64.
    pub client_queue: usize,
    /// A single write to a client taking longer than this drops the client.
    pub write_timeout: Duration,
    /// Clients served at once; the next one gets an `error` line and a close
    /// (`[live] max_clients`).
    pub max_clients: usize,
}

impl ServerConfig {
    /// Defaults for everything but the socket path.
    pub fn new(socket: PathBuf) -> ServerConfig {
        ServerConfig {
            socket,
            history_len: DEFAULT_HISTORY_LEN,
            client_queue: DEFAULT_CLIENT_QUEUE,
            write_timeout: Duration::from_secs(2),
            max_clients: DEFAULT_MAX_CLIENTS,
        }
    }
}

/// Answers `get_events`; the daemon passes a closure that opens the database
/// read-only. Runs on tokio's blocking pool.
pub type EventQuery = Arc<dyn Fn(EventFilter) -> Result<Vec<EventRow>, StorageError> + Send + Sync>;
/// The running server: a thread with its own tokio runtime.
pub struct Server {
    socket: PathBuf,
    /// (dev, inode) of the socket we bound, so shutdown removes only our own.
    identity: Option<(u64, u64)>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Ctx {
    hub: Hub,
    events: EventQuery,
    write_timeout: Duration,
    uid: u32,
    max_clients: usize,
    /// One permit per client served; none left means "too many clients".
    slots: Arc<Semaphore>,
    /// Refusals in flight (each a short write): beyond these a refused
    /// connection is closed without a word.
    refusals: Arc<Semaphore>,
    /// Held while `initial_state` is encoded, so a burst of new clients
    /// encodes it once and the rest share that line.
    building: tokio::sync::Mutex<()>,
    /// Clients refused for `max_clients` since start, and when that was last
    /// logged as a warning.
    refused: AtomicU64,
    refusal_logged: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Server {
    /// Bind `cfg.socket` and serve on a dedicated thread.
    ///
    /// **Precondition:** the caller holds the daemon's instance lock, so a socket
    /// file already at the path is left over from a dead daemon and is removed
    /// (unless something answers on it, which is reported as "address in use").
    /// A non-socket file at the path is never removed.
    ///
    /// Creates the parent directory private (0700, `sys::ensure_private_dir`)
    /// and makes the socket 0600.
    pub fn start(cfg: ServerConfig, hub: Hub, events: EventQuery) -> Result<Server, IpcError> {
        let path = cfg.socket.clone();
        let dir = path.parent().ok_or_else(|| IpcError::Setup {
            path: path.clone(),
            message: "the socket path has no parent directory".into(),
        })?;
        crate::sys::ensure_private_dir(dir).map_err(|e| IpcError::Setup {
            path: path.clone(),
            message: e.to_string(),
        })?;

        hub.configure(cfg.history_len, cfg.client_queue);
        let ctx = Arc::new(Ctx {
            hub,
            events,
            write_timeout: cfg.write_timeout,
            uid: crate::sys::current_uid(),
            max_clients: cfg.max_clients.max(1),
            slots: Arc::new(Semaphore::new(cfg.max_clients.max(1))),
            refusals: Arc::new(Semaphore::new(cfg.max_clients.max(1))),
            building: tokio::sync::Mutex::new(()),
            refused: AtomicU64::new(0),
            refusal_logged: std::sync::Mutex::new(None),
        });
        let (stop, stop_rx) = watch::channel(false);
        // Everything async (stale check, bind) happens on the server's own thread
        // and runtime, so `start` works from any thread, async or not.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread_path = path.clone();
        let spawned = std::thread::Builder::new()
            .name("rh-ipc".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(source) => {
                        let _ = ready_tx.send(Err(IpcError::Runtime {
                            path: thread_path,
                            source,
                        }));
                        return;
                    }
                };
                let listener = match rt.block_on(bind_socket(&thread_path)) {
                    Ok((listener, identity)) => {
                        let _ = ready_tx.send(Ok(identity));
                        listener
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(serve(listener, ctx, stop_rx, &thread_path));
                rt.shutdown_timeout(Duration::from_secs(1));
            });
        let thread = spawned.map_err(|source| IpcError::Runtime {
            path: path.clone(),
            source,
        })?;
        let identity = match ready_rx.recv() {
            Ok(Ok(identity)) => identity,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(IpcError::Runtime {
                    path,
                    source: std::io::Error::other("the server thread died while starting"),
                });
            }
        };
        tracing::info!(event_name = "ipc_server_started", socket = %path.display());
        Ok(Server {
            socket: path,
            identity: Some(identity),
            stop,
            thread: Some(thread),
        })
    }

    /// The socket this server listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stop accepting, close every client, join the thread and remove the socket
    /// file (if it is still the one this server bound). Dropping a `Server` does
    /// the same.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let _ = self.stop.send(true);
        if thread.join().is_err() {
            tracing::error!(event_name = "ipc_server_panicked", socket = %self.socket.display());
        }
        let ours = std::fs::symlink_metadata(&self.socket)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if ours.is_some()
            && ours == self.identity
            && let Err(e) = std::fs::remove_file(&self.socket)
        {
            tracing::warn!(
                event_name = "socket_remove_failed",
                socket = %self.socket.display(),
                error = %e
            );
        }
        tracing::info!(event_name = "ipc_server_stopped", socket = %self.socket.display());
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("socket", &self.socket)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Replace a stale socket, bind, make the socket 0600. Returns the listener and
/// the socket file's (dev, inode).
async fn bind_socket(path: &Path) -> Result<(UnixListener, (u64, u64)), IpcError> {
    remove_stale_socket(path).await?;
    let bind_err = |source| IpcError::Bind {
        path: path.to_path_buf(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    // The directory is already 0700; this is the second fence.
    let meta = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::symlink_metadata(path));
    match meta {
        Ok(m) => Ok((listener, (m.dev(), m.ino()))),
        Err(source) => {
            drop(listener);
            let _ = std::fs::remove_file(path);
            Err(bind_err(source))
        }
    }
}

/// Remove a socket file left by a dead daemon. Refuses a non-socket and a socket
/// something still answers on.
async fn remove_stale_socket(path: &Path) -> Result<(), IpcError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(IpcError::Bind {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(IpcError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    // Nonblocking connect with a timeout: a live daemon with a full backlog
    // (EAGAIN) or a slow one must neither hang us nor lose its socket. Only
    // "connection refused" proves nobody is listening.
    match tokio::time::timeout(Duration::from_millis(500), UnixStream::connect(path)).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Ok(Err(source)) if source.kind() != std::io::ErrorKind::WouldBlock => {
            return Err(IpcError::Bind {
                path: path.to_path_buf(),
                source,
            });
        }
        _ => {
            return Err(IpcError::InUse {
                path: path.to_path_buf(),
            });
        }
    }
    std::fs::remove_file(path).map_err(|source| IpcError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::info!(event_name = "stale_socket_removed", socket = %path.display());
    Ok(())
}

async fn serve(
    listener: UnixListener,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    socket: &Path,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match Arc::clone(&ctx.slots).try_acquire_owned() {
                    Ok(permit) => {
                        tasks.spawn(serve_client(stream, Arc::clone(&ctx), stop.clone(), permit));
                    }
                    Err(_) => refuse_busy(stream, &ctx, &mut tasks),
                },
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(
                        event_name = "ipc_accept_failed",
                        socket = %socket.display(),
                        error = %e
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
}

/// Why a client's connection ended.
enum End {
    Dropped(&'static str),
    Protocol(String),
    WriteFailed(WriteError),
    Shutdown,
}

/// Why a line did not reach a client.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("write timed out after {} ms: client not reading", .0.as_millis())]
    TimedOut(Duration),
}

async fn write_line(
    wr: &mut tokio::net::unix::WriteHalf<'_>,
    line: &[u8],
    timeout: Duration,
) -> Result<(), WriteError> {
    match tokio::time::timeout(timeout, wr.write_all(line)).await {
        Ok(written) => Ok(written?),
        Err(_) => Err(WriteError::TimedOut(timeout)),
    }
}

/// Tell a client beyond `max_clients` so, and close. The write runs as its own
/// short task; when too many refusals are already in flight the connection is
/// just closed.
fn refuse_busy(stream: UnixStream, ctx: &Arc<Ctx>, tasks: &mut tokio::task::JoinSet<()>) {
    let max = ctx.max_clients;
    let Ok(permit) = Arc::clone(&ctx.refusals).try_acquire_owned() else {
        tracing::debug!(
            event_name = "client_refused",
            reason = "too many clients",
            max_clients = max
        );
        return;
    };
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    // A storm would write a line per refusal: one warning per interval.
    let refused = ctx.refused.fetch_add(1, Ordering::Relaxed) + 1;
    let now = tokio::time::Instant::now();
    let due = ctx
        .refusal_logged
        .lock()
        .map(|mut last| {
            let due = last.is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY);
            if due {
                *last = Some(now);
            }
            due
        })
        .unwrap_or(true);
    if due {
        tracing::warn!(
            event_name = "client_refused",
            peer_pid = ?pid,
            reason = "too many clients",
            max_clients = max,
            refused_since_start = refused
        );
    } else {
        tracing::debug!(event_name = "client_refused", peer_pid = ?pid, reason = "too many clients");
    }
    tasks.spawn(async move {
        let mut stream = stream;
        let line = error_line(format!(
            "too many clients: {max} are connected ([live] max_clients = {max}); try again later"
        ));
        let (_, mut wr) = stream.split();
        let _ = write_line(&mut wr, line.as_bytes(), REFUSE_TIMEOUT).await;
        let _ = tokio::time::timeout(REFUSE_TIMEOUT, wr.shutdown()).await;
        drop(permit);
    });
}

/// `initial_state` for this subscription: the shared line when it is already
/// encoded, else encoded once (off the server thread) under `building` and
/// kept in the hub for the clients that follow.
async fn initial_line(
    ctx: &Ctx,
    generation: u64,
    cached: Option<Line>,
    daemon: DaemonInfo,
    history: Vec<Arc<crate::model::ProcessSamples>>,
) -> Result<Line, String> {
    if let Some(line) = cached {
        return Ok(line);
    }
    let _building = ctx.building.lock().await;
    if let Some(line) = ctx.hub.cached_initial(generation) {
        return Ok(line);
    }
    let built =
        tokio::task::spawn_blocking(move || initial_state_line(&daemon, &history, MAX_SERVER_LINE))
            .await;
    match built {
        Ok(Ok(line)) => {
            let line: Line = Arc::from(line);
            ctx.hub.store_initial(generation, &line);
            Ok(line)
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn error_line(message: String) -> String {
    encode(&ServerMessage::Error { message })
        .unwrap_or_else(|_| "{\"type\":\"error\",\"message\":\"internal error\"}\n".into())
}

async fn serve_client(
    mut stream: UnixStream,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(event_name = "client_refused", reason = "no peer credentials", error = %e);
            return;
        }
    };
    let (uid, pid) = (cred.uid(), cred.pid());
    if uid != ctx.uid && uid != 0 {
        tracing::warn!(
            event_name = "client_refused",
            peer_uid = uid,
            peer_pid = ?pid,
            reason = "different user"
        );
        let line = error_line(format!(
            "permission denied: uid {uid} may not watch this daemon (owned by uid {})",
            ctx.uid
        ));
        let (_, mut wr) = stream.split();
        let _ = write_line(&mut wr, line.as_bytes(), ctx.write_timeout).await;
        let _ = wr.shutdown().await;
        return;
    }

    let Subscription {
        id,
        daemon,
        history,
        generation,
        cached,
        mut rx,
        mut kick,
        _guard,
    } = ctx.hub.subscribe(pid.and_then(|p| u32::try_from(p).ok()));
    // A full history is a few MB of JSON: encoded once per change of state
    // (off the server thread) and shared, so a burst of connecting clients
    // neither multiplies the memory nor stalls everyone else's stream.
    let initial = match initial_line(&ctx, generation, cached, daemon, history).await {
        Ok(line) => line,
        Err(e) => {
            tracing::error!(event_name = "initial_state_encode_failed", client = id, error = %e);
            return;
        }
    };
    tracing::info!(
        event_name = "client_connected",
        client = id,
        peer_uid = uid,
        peer_pid = ?pid,
        clients = ctx.hub.client_count()
    );

    let (rd, mut wr) = stream.split();
    let mut reader = LineReader::new(rd, MAX_CLIENT_LINE);
    let end = client_loop(
        id,
        &ctx,
        &mut wr,
        &mut reader,
        initial,
        &mut rx,
        &mut kick,
        &mut stop,
    )
    .await;
    let _ = wr.shutdown().await;
    match end {
        Ok(()) => tracing::info!(event_name = "client_disconnected", client = id),
        Err(End::Shutdown) => {
            tracing::debug!(event_name = "client_closed_for_shutdown", client = id);
        }
        Err(End::Dropped(reason)) => {
            tracing::warn!(event_name = "client_dropped", client = id, reason);
        }
        Err(End::WriteFailed(reason)) => {
            tracing::warn!(event_name = "client_dropped", client = id, reason = %reason);
        }
        Err(End::Protocol(reason)) => {
            tracing::warn!(event_name = "client_protocol_error", client = id, reason = %reason);
        }
    }
}

/// Send `initial`, then interleave queued lines with request handling until the
/// client leaves, misbehaves, is dropped by the hub, or the server stops.
/// `Ok` means the client closed cleanly.
// The client's id, its context, both halves of its socket, its queue, kick
// and the shutdown signal: all distinct borrows of one connection's state.
#[allow(clippy::too_many_arguments)]
async fn client_loop(
    id: u64,
    ctx: &Ctx,
    wr: &mut tokio::net::unix::WriteHalf<'_>,
    reader: &mut LineReader<tokio::net::unix::ReadHalf<'_>>,
    initial: Line,
    rx: &mut mpsc::Receiver<Line>,
    kick: &mut oneshot::Receiver<&'static str>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), End> {
    let wt = ctx.write_timeout;
    write_line(wr, initial.as_bytes(), wt)
        .await
        .map_err(End::WriteFailed)?;
    drop(initial);
    loop {
        tokio::select! {
            biased;
            reason = &mut *kick => {
                return Err(End::Dropped(reason.unwrap_or("removed from the hub")));
            }
            _ = stop.changed() => return Err(End::Shutdown),
            line = rx.recv() => match line {
                Some(line) => write_line(wr, line.as_bytes(), wt)
                    .await
                    .map_err(End::WriteFailed)?,
                None => return Err(End::Dropped("removed from the hub")),
            },
            read = reader.next_line() => {
                let request = match read {
                    Ok(ReadLine::Line(bytes)) => decode::<ClientMessage>(&bytes, MAX_CLIENT_LINE),
                    Ok(ReadLine::TooLong { len }) => {
                        Err(DecodeError::TooLong { len, max: MAX_CLIENT_LINE })
                    }
                    Ok(ReadLine::Closed) => return Ok(()),
                    Ok(ReadLine::ClosedMidLine { len }) => {
                        return Err(End::Protocol(format!(
                            "closed in the middle of a {len}-byte line"
                        )));
                    }
                    Err(e) => return Err(End::Protocol(format!("read failed: {e}"))),
                };
                match request {
                    Ok(msg) => {
                        let reply = answer(id, ctx, msg).await;
                        write_line(wr, reply.as_bytes(), wt)
                            .await
                            .map_err(End::WriteFailed)?;
                    }
                    Err(e) => {
                        let text = e.to_string();
                        let _ = write_line(wr, error_line(text.clone()).as_bytes(), wt).await;
                        return Err(End::Protocol(text));
                    }
                }
            }
        }
    }
}

/// The reply line to one well-formed request.
async fn answer(id: u64, ctx: &Ctx, msg: ClientMessage) -> String {
    let reply = match msg {
        ClientMessage::Ping => ServerMessage::Pong,
        ClientMessage::Subscribe {
            full_table,
            compact,
        } => {
            ctx.hub.set_full_table(id, full_table, compact);
            ServerMessage::Subscribed {
                full_table,
                max_processes: MAX_FULL_TABLE,
                compact: full_table && compact,
            }
        }
        ClientMessage::GetEvents { limit, open_only } => {
            let filter = EventFilter {
                open_only,
                since: None,
                limit: Some(limit.unwrap_or(DEFAULT_EVENTS_LIMIT).min(MAX_EVENTS_LIMIT)),
            };
            let query = Arc::clone(&ctx.events);
            match tokio::task::spawn_blocking(move || query(filter)).await {
                Ok(Ok(events)) => ServerMessage::Events { events },
                Ok(Err(e)) => ServerMessage::Error {
                    message: format!("get_events failed: {e}"),
                },
                Err(e) => ServerMessage::Error {
                    message: format!("get_events failed: {e}"),
                },
            }
        }
    };
    encode(&reply).unwrap_or_else(|e| error_line(format!("cannot encode reply: {e}")))
}
