//! The dashboard fed by a running daemon: a transport thread runs the
//! reconnecting live-stream client on a small tokio runtime and bridges its
//! events to the dashboard loop, and the dashboard's requests back to it.

use super::{App, ConnectionState, TuiError, TuiInput, TuiRequest, run_loop};
use crate::config::Config;
use crate::ipc::client::{ClientEvent, run_with_reconnect_and_requests};
use crate::ipc::protocol::ClientMessage;
use std::path::PathBuf;

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

/// Run the dashboard against the daemon at `socket`, reconnecting with backoff
/// while it is away ("disconnected — retrying").
pub fn run_connected(socket: PathBuf, config: Config) -> Result<(), TuiError> {
    let app = App::new(&config.tui, &config.bands);
    let (input_tx, input_rx) = std::sync::mpsc::sync_channel::<TuiInput>(QUEUE);
    let (request_tx, request_rx) = std::sync::mpsc::channel::<TuiRequest>();
    let _ = input_tx.try_send(TuiInput::Connection(ConnectionState::Connecting));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TuiError::Terminal)?;
    let transport = std::thread::Builder::new()
        .name("tui-transport".into())
        .spawn(move || {
            runtime.block_on(async move {
                let (event_tx, mut event_rx) = tokio::sync::mpsc::channel::<ClientEvent>(QUEUE);
                let (client_req_tx, client_req_rx) = tokio::sync::mpsc::channel::<ClientMessage>(8);
                // Dashboard requests (std channel) → client requests (tokio channel).
                std::thread::spawn(move || {
                    while let Ok(req) = request_rx.recv() {
                        if client_req_tx
                            .blocking_send(req.to_client_message())
                            .is_err()
                        {
                            break;
                        }
                    }
                });
                let client = tokio::spawn(run_with_reconnect_and_requests(
                    socket,
                    event_tx,
                    client_req_rx,
                ));
                'bridge: while let Some(event) = event_rx.recv().await {
                    for input in inputs_for(event) {
                        // A full queue means the screen is behind: skip a
                        // sample rather than stall; a closed one means it quit.
                        match input_tx.try_send(input) {
                            Ok(()) | Err(std::sync::mpsc::TrySendError::Full(_)) => {}
                            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => break 'bridge,
                        }
                    }
                }
                client.abort();
            });
        })
        .map_err(TuiError::Terminal)?;
    let result = run_loop(app, input_rx, request_tx);
    // The bridge notices the closed input channel at the next message; the
    // process is about to exit, so it is not joined.
    drop(transport);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::ServerMessage;
    use std::time::Duration;

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
