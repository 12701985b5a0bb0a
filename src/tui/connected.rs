//! The dashboard fed by a running daemon: a transport thread runs the
//! reconnecting live-stream client on a small tokio runtime and bridges its
//! events to the dashboard loop, and the dashboard's requests back to it.
//! Without a daemon (at start, or `[tui] fallback_seconds` after losing it)
//! the embedded sampler feeds the same loop until the daemon answers again.

use super::embedded::{Interval, sample_loop};
use super::{App, ConnectionState, EventReader, TuiError, TuiInput, TuiRequest, run_loop};
use crate::config::Config;
use crate::ipc::client::{ClientEvent, run_with_reconnect_and_requests};
use crate::ipc::protocol::{ClientMessage, ServerMessage};
use crate::ipc::table::{TableError, TableState};
use crate::platform;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

/// Messages buffered between the client and the dashboard.
const QUEUE: usize = 64;

/// Translate one client event into what the dashboard consumes.
pub fn inputs_for(event: ClientEvent) -> Vec<TuiInput> {
    match event {
        ClientEvent::Connected(initial) => vec![
            TuiInput::Connection(ConnectionState::Connected),
            TuiInput::Message(initial),
        ],
        ClientEvent::Message(m) => vec![TuiInput::Message(m)],
        ClientEvent::Disconnected { reason, retry_in } => vec![TuiInput::Connection(
            ConnectionState::disconnected(reason, retry_in),
        )],
    }
}

/// Turn a `table` message into the whole table's `sample` (the dashboard
/// draws samples); a new connection forgets the table. Other events pass.
/// On an error the table is forgotten and the daemon must be asked for a
/// keyframe (`subscribe` again).
pub fn rebuild_table(
    table: &mut TableState,
    event: ClientEvent,
) -> Result<ClientEvent, TableError> {
    Ok(match event {
        ClientEvent::Message(ServerMessage::Table(t)) => {
            ClientEvent::Message(ServerMessage::Sample {
                samples: table.apply(*t)?,
            })
        }
        ClientEvent::Connected(m) => {
            table.reset();
            ClientEvent::Connected(m)
        }
        other => other,
    })
}

/// Run the dashboard against the daemon at `socket`, reconnecting with backoff
/// while it is away ("disconnected — retrying"), falling back to the embedded
/// sampler after `[tui] fallback_seconds`.
pub fn run_connected(socket: PathBuf, config: Config, reader: EventReader) -> Result<(), TuiError> {
    run_auto(socket, config, true, reader)
}

/// The embedded sampler on its own thread, stopped and joined on demand.
struct Fallback {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Fallback {
    fn start(config: &Config, tx: SyncSender<TuiInput>, interval: &Interval) -> Option<Fallback> {
        let source = match platform::native_source() {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.try_send(TuiInput::Message(ServerMessage::Error {
                    message: format!("cannot start the embedded sampler: {e}"),
                }));
                return None;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let config = config.clone();
        let interval = interval.clone();
        let handle = std::thread::Builder::new()
            .name("tui-sampler".into())
            .spawn(move || sample_loop(source, config, &tx, &thread_stop, &interval))
            .ok()?;
        Some(Fallback { stop, handle })
    }

    /// Stop the sampler and wait for it (it checks the flag every 100 ms), so
    /// none of its samples arrives after the daemon's `initial_state`.
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.handle.join();
    }
}

/// The dashboard over whichever source is there: the daemon at `socket` when
/// it answers, else the embedded sampler, at once when `daemon_found` is false
/// or `[tui] fallback_seconds` after losing the daemon. The client keeps
/// looking for the daemon all along and the dashboard switches to it (and
/// stops sampling) as soon as it answers.
pub fn run_auto(
    socket: PathBuf,
    config: Config,
    daemon_found: bool,
    reader: EventReader,
) -> Result<(), TuiError> {
    let app = App::new(&config.tui, &config.bands);
    let (input_tx, input_rx) = std::sync::mpsc::sync_channel::<TuiInput>(QUEUE);
    let (request_tx, request_rx) = std::sync::mpsc::channel::<TuiRequest>();
    let live = Live::start(
        socket,
        config,
        daemon_found,
        Interval::default(),
        input_tx,
        request_rx,
    )?;
    let result = run_loop(app, input_rx, request_tx, reader);
    // The process is about to exit: the transport is not waited for.
    drop(live);
    result
}

/// The live transport (daemon client, embedded fallback) on its own thread,
/// feeding `input` and serving `requests` until stopped.
pub(crate) struct Live {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Live {
    pub(crate) fn start(
        socket: PathBuf,
        config: Config,
        daemon_found: bool,
        interval: Interval,
        input_tx: SyncSender<TuiInput>,
        request_rx: Receiver<TuiRequest>,
    ) -> Result<Live, TuiError> {
        let setter = interval.clone();
        let fallback_after =
            Duration::from_secs_f64(config.tui.fallback_seconds.clamp(0.0, 3600.0));
        let _ = input_tx.try_send(TuiInput::Connection(ConnectionState::Connecting));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(TuiError::Terminal)?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let transport = std::thread::Builder::new()
            .name("tui-transport".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (event_tx, mut event_rx) = tokio::sync::mpsc::channel::<ClientEvent>(QUEUE);
                    let (client_req_tx, client_req_rx) =
                        tokio::sync::mpsc::channel::<ClientMessage>(8);
                    let resync_tx = client_req_tx.clone();
                    let mut table = TableState::default();
                    // Dashboard requests (std channel) → client requests (tokio channel).
                    std::thread::spawn(move || {
                        while let Ok(req) = request_rx.recv() {
                            if let TuiRequest::SetInterval { secs } = req {
                                // The embedded sampler's pace (a daemon keeps its own).
                                setter.set(secs);
                                continue;
                            }
                            let Some(msg) = req.to_client_message() else {
                                continue;
                            };
                            if client_req_tx.blocking_send(msg).is_err() {
                                break;
                            }
                        }
                    });
                    let client = tokio::spawn(run_with_reconnect_and_requests(
                        socket,
                        event_tx,
                        client_req_rx,
                    ));
                    let mut sampler = if daemon_found {
                        None
                    } else {
                        Fallback::start(&config, input_tx.clone(), &interval)
                    };
                    let mut lost_at: Option<tokio::time::Instant> = None;
                    loop {
                        let fall_back_at = lost_at
                            .filter(|_| sampler.is_none())
                            .map(|t| t + fallback_after);
                        let event = tokio::select! {
                            _ = &mut stop_rx => break,
                            event = event_rx.recv() => event,
                            () = async {
                                match fall_back_at {
                                    Some(t) => tokio::time::sleep_until(t).await,
                                    None => std::future::pending().await,
                                }
                            } => {
                                sampler = Fallback::start(&config, input_tx.clone(), &interval);
                                continue;
                            }
                        };
                        let Some(event) = event else { break };
                        let event = match rebuild_table(&mut table, event) {
                            Ok(e) => e,
                            Err(e) => {
                                // Ask for a keyframe; the screen keeps the last table.
                                let _ = input_tx.try_send(TuiInput::Status(e.to_string()));
                                let _ = resync_tx.try_send(
                                    TuiRequest::FullTable
                                        .to_client_message()
                                        .unwrap_or(ClientMessage::Ping),
                                );
                                continue;
                            }
                        };
                        match &event {
                            ClientEvent::Connected(_) => {
                                lost_at = None;
                                if let Some(s) = sampler.take() {
                                    let _ = tokio::task::spawn_blocking(move || s.stop()).await;
                                }
                            }
                            // While the embedded sampler feeds the screen, retries
                            // are not news: the header says where the data is from.
                            ClientEvent::Disconnected { .. } if sampler.is_some() => continue,
                            ClientEvent::Disconnected { .. } => {
                                lost_at.get_or_insert_with(tokio::time::Instant::now);
                            }
                            ClientEvent::Message(_) => {}
                        }
                        let mut closed = false;
                        for input in inputs_for(event) {
                            // A full queue means the screen is behind: skip a
                            // sample rather than stall; a closed one means it quit.
                            match input_tx.try_send(input) {
                                Ok(()) | Err(std::sync::mpsc::TrySendError::Full(_)) => {}
                                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                                    closed = true;
                                }
                            }
                        }
                        if closed {
                            break;
                        }
                    }
                    client.abort();
                    // Joined: nothing of this transport reaches the screen
                    // after `Live::stop` returns.
                    if let Some(s) = sampler.take() {
                        let _ = tokio::task::spawn_blocking(move || s.stop()).await;
                    }
                });
            })
            .map_err(TuiError::Terminal)?;
        Ok(Live {
            stop: Some(stop_tx),
            thread: Some(transport),
        })
    }

    /// Stop the transport and wait for it: the client is dropped and the
    /// embedded sampler joined, so none of their messages follows.
    pub(crate) fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Not joined here (the dashboard is quitting); the transport ends at
        // its next turn.
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::ServerMessage;
    use std::time::Duration;

    #[test]
    fn table_messages_become_whole_table_samples() {
        use crate::ipc::protocol::{MAX_SERVER_LINE, decode_server};
        use crate::ipc::table::{TableEncoder, encode_table};
        use crate::model::{ProcessSamples, ProcessScore};
        let all: Vec<ProcessScore> = (1..=30)
            .map(|i| ProcessScore::new(i, 7, format!("p{i}"), 5.0))
            .collect();
        let plain = ProcessSamples {
            timestamp_s: 5.0,
            elapsed_ms: 1.0,
            process_count: 30,
            max_score: 0.0,
            rogues: Vec::new(),
            groups: Vec::new(),
            system: None,
        };
        let mut enc = TableEncoder::new(100);
        let round = enc.round(&all, 5.0);
        let line = encode_table(&plain, &round, false).unwrap();
        let msg = decode_server(line.as_bytes(), MAX_SERVER_LINE).unwrap();
        let mut table = TableState::default();
        // A delta with no keyframe before it is refused...
        assert!(rebuild_table(&mut table, ClientEvent::Message(msg)).is_err());
        let line = encode_table(&plain, &round, true).unwrap();
        let msg = decode_server(line.as_bytes(), MAX_SERVER_LINE).unwrap();
        // ...a keyframe becomes a sample with every process.
        match rebuild_table(&mut table, ClientEvent::Message(msg)).unwrap() {
            ClientEvent::Message(ServerMessage::Sample { samples }) => {
                assert_eq!(samples.rogues.len(), 30);
            }
            other => panic!("not a sample: {other:?}"),
        }
        // A new connection forgets the table: the next delta is refused.
        rebuild_table(&mut table, ClientEvent::Connected(ServerMessage::Pong)).unwrap();
        let round = enc.round(&all, 6.0);
        let line = encode_table(&plain, &round, false).unwrap();
        let msg = decode_server(line.as_bytes(), MAX_SERVER_LINE).unwrap();
        assert!(rebuild_table(&mut table, ClientEvent::Message(msg)).is_err());
    }

    #[test]
    fn client_events_become_dashboard_inputs() {
        let connected = inputs_for(ClientEvent::Connected(ServerMessage::Pong));
        assert_eq!(
            connected,
            vec![
                TuiInput::Connection(ConnectionState::Connected),
                TuiInput::Message(ServerMessage::Pong)
            ]
        );
        let lost = inputs_for(ClientEvent::Disconnected {
            reason: "daemon closed".into(),
            retry_in: Duration::from_secs(2),
        });
        assert!(matches!(
            &lost[0],
            TuiInput::Connection(ConnectionState::Disconnected { retry_in_secs, .. }) if *retry_in_secs == 2.0
        ));
    }
}
