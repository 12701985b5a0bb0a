//! The hub: what the sampling thread shares with every live-stream client.
//!
//! It keeps the recent history (for a new client's `initial_state`) and the
//! daemon's self-description, and fans each sample and event out to the
//! connected clients through bounded per-client queues. A sample is encoded
//! once and the same line is shared by every queue it goes to. Publishing never
//! blocks: a client whose queue is full is dropped (kicked) instead of ever
//! slowing the sampler. The socket side lives in `server`.

use super::protocol::{
    DaemonInfo, EventNotice, MAX_FULL_TABLE, MAX_SERVER_LINE, ServerMessage, encode,
    encode_initial_state, encode_sample,
};
use super::table::{TableEncoder, encode_table};
use crate::model::{ProcessSamples, ProcessScore};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, oneshot};

/// Samples kept for `initial_state` when the config does not say.
pub const DEFAULT_HISTORY_LEN: usize = 60;
/// Per-client queue length when the config does not say (~21 s at 3 Hz).
pub const DEFAULT_CLIENT_QUEUE: usize = 64;

/// One line shared by every client it goes to.
pub(super) type Line = Arc<str>;

/// A connected client as the hub sees it.
struct Slot {
    id: u64,
    /// The client's process (SO_PEERCRED), when the kernel said.
    pid: Option<u32>,
    /// What this client's rounds carry (`subscribe`).
    table: TableMode,
    tx: mpsc::Sender<Line>,
    /// Fired (with the reason) when the hub drops the client.
    kick: Option<oneshot::Sender<&'static str>>,
}

/// What a client asked for with `subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableMode {
    /// The plain `sample` (top N).
    Top,
    /// `sample` with every process (`full_table`).
    Full,
    /// `table` messages (`full_table` and `compact`); `keyed` once the
    /// client has had a keyframe and takes deltas.
    Compact { keyed: bool },
}

struct HubState {
    daemon: DaemonInfo,
    history: VecDeque<Arc<ProcessSamples>>,
    history_len: usize,
    client_queue: usize,
    clients: Vec<Slot>,
    /// Bumped whenever what `initial_state` says changes (a sample, daemon info).
    generation: u64,
    /// `initial_state` as encoded for `generation`: built once and shared by
    /// every client that connects before the next change.
    initial: Option<(u64, Line)>,
}

struct HubInner {
    state: Mutex<HubState>,
    /// The compact table's rounds. Only the sampling thread publishes, so
    /// it is locked apart from `state` and encoding never holds `state`.
    table: Mutex<TableEncoder>,
    next_id: AtomicU64,
}

/// State shared between the sampling thread and the server: the recent history,
/// the daemon's self-description and the connected clients' queues. Cheap to
/// clone. Publishing never blocks on a client: it only takes a short mutex and
/// does a `try_send` per client.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Hub")
            .field("history", &st.history.len())
            .field("history_len", &st.history_len)
            .field("client_queue", &st.client_queue)
            .field("clients", &st.clients.len())
            .finish()
    }
}

impl Hub {
    /// A hub keeping `DEFAULT_HISTORY_LEN` samples and `DEFAULT_CLIENT_QUEUE`
    /// messages per client; `Server::start` applies its `ServerConfig` values.
    pub fn new(daemon: DaemonInfo) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                state: Mutex::new(HubState {
                    daemon,
                    history: VecDeque::with_capacity(DEFAULT_HISTORY_LEN),
                    history_len: DEFAULT_HISTORY_LEN,
                    client_queue: DEFAULT_CLIENT_QUEUE,
                    clients: Vec::new(),
                    generation: 0,
                    initial: None,
                }),
                table: Mutex::new(TableEncoder::new(MAX_FULL_TABLE)),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves consistent data behind (every
        // update is a single push/replace), so poisoning is ignored.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn configure(&self, history_len: usize, client_queue: usize) {
        let mut st = self.lock();
        st.history_len = history_len;
        st.client_queue = client_queue.max(1);
        while st.history.len() > history_len {
            st.history.pop_front();
        }
        st.changed();
    }

    /// Record a sample for `initial_state` and queue it for every client. Called
    /// from the (non-async) sampling thread; never blocks on clients: a client
    /// whose queue is full is dropped.
    pub fn publish_sample(&self, samples: Arc<ProcessSamples>) {
        self.publish_sample_with_table(samples, &[]);
    }

    /// `publish_sample`, and for clients that asked for every process the same
    /// sample with `all` (every scored process, any order) as its table, worst
    /// first and bounded by `MAX_FULL_TABLE` and the line limit. Encoded once
    /// per round, and only while such a client is connected. With `all` empty
    /// they get the top N like everyone else.
    pub fn publish_sample_with_table(&self, samples: Arc<ProcessSamples>, all: &[ProcessScore]) {
        let (wants_full, keyed, unkeyed) = {
            let st = self.lock();
            let mut w = (false, false, false);
            for c in &st.clients {
                match c.table {
                    TableMode::Top => {}
                    TableMode::Full => w.0 = true,
                    TableMode::Compact { keyed: true } => w.1 = true,
                    TableMode::Compact { keyed: false } => w.2 = true,
                }
            }
            w
        };
        let have_table = !all.is_empty();
        let full_line = if wants_full && have_table {
            full_table_line(&samples, all, MAX_SERVER_LINE)
        } else {
            None
        };
        let compact = if (keyed || unkeyed) && have_table {
            self.compact_lines(&samples, all, keyed, unkeyed)
        } else {
            self.table_lock().reset();
            CompactLines::default()
        };
        // Encode outside the lock when someone is listening (the usual case with a
        // TUI open); under it only if a client arrived in between.
        let mut line = if self.client_count() > 0 {
            encode_line(encode_sample(&samples), "sample")
        } else {
            None
        };
        let mut st = self.lock();
        if st.history_len > 0 {
            if st.history.len() >= st.history_len {
                st.history.pop_front();
            }
            st.history.push_back(Arc::clone(&samples));
        }
        st.changed();
        if st.clients.is_empty() {
            return;
        }
        if line.is_none() {
            line = encode_line(encode_sample(&samples), "sample");
        }
        if let Some(line) = line {
            let lines = Lines {
                top: &line,
                full: full_line.as_ref().unwrap_or(&line),
                compact,
            };
            fan_out_lines(&mut st, &lines);
        }
    }

    fn table_lock(&self) -> MutexGuard<'_, TableEncoder> {
        // Poisoned: the encoder may be mid-round; start over with keyframes.
        self.inner.table.lock().unwrap_or_else(|e| {
            let mut g = e.into_inner();
            g.reset();
            g
        })
    }

    /// This round's `table` lines: the delta when a client is up to date
    /// (`keyed`), the keyframe when one needs it (`unkeyed`) or when the
    /// delta does not fit. Every line leaves subscribers holding the same
    /// table, so a keyframe and a delta of one round can go out together.
    fn compact_lines(
        &self,
        samples: &ProcessSamples,
        all: &[ProcessScore],
        keyed: bool,
        unkeyed: bool,
    ) -> CompactLines {
        let mut enc = self.table_lock();
        let mut round = enc.round(all, samples.timestamp_s);
        let mut out = CompactLines::default();
        if keyed {
            match encode_table(samples, &round, false) {
                Ok(l) if l.len() <= MAX_SERVER_LINE => out.delta = Some(Arc::from(l)),
                Ok(l) => {
                    tracing::warn!(
                        event_name = "table_delta_too_large",
                        bytes = l.len(),
                        "table delta too large for one line: sending a full table to everyone"
                    );
                    out.rekey = true;
                }
                Err(e) => {
                    tracing::warn!(event_name = "ipc_encode_failed", what = "table", error = %e);
                    out.rekey = true;
                }
            }
        }
        if unkeyed || out.rekey {
            loop {
                match encode_table(samples, &round, true) {
                    Ok(l) if l.len() <= MAX_SERVER_LINE => {
                        out.key = Some(Arc::from(l));
                        break;
                    }
                    Ok(l) if round.rows.len() > 1 => {
                        let keep = round.rows.len() / 2;
                        tracing::warn!(
                            event_name = "full_table_trimmed",
                            bytes = l.len(),
                            processes = keep,
                            "table too large for one line: halving"
                        );
                        enc.cut(&mut round, keep);
                        // Everyone must hold the cut table.
                        out.rekey = true;
                        out.delta = None;
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!(event_name = "ipc_encode_failed", what = "table keyframe");
                        enc.reset();
                        // Nobody holds a table: every client needs a keyframe.
                        out = CompactLines {
                            rekey: true,
                            ..CompactLines::default()
                        };
                        break;
                    }
                }
            }
        }
        out
    }

    /// Choose what samples client `id` receives (see `ClientMessage::Subscribe`).
    pub(super) fn set_full_table(&self, id: u64, full: bool, compact: bool) {
        if let Some(slot) = self.lock().clients.iter_mut().find(|s| s.id == id) {
            slot.table = match (full, compact) {
                (false, _) => TableMode::Top,
                (true, false) => TableMode::Full,
                // A new keyframe on every subscribe (also a client's resync).
                (true, true) => TableMode::Compact { keyed: false },
            };
        }
    }

    /// Queue an event notice for every client (events are not kept in history).
    pub fn publish_event(&self, notice: EventNotice) {
        if self.client_count() == 0 {
            return;
        }
        let Some(line) = encode_line(encode(&ServerMessage::Event { event: notice }), "event")
        else {
            return;
        };
        fan_out(&mut self.lock(), &line);
    }

    /// Send a stall to every client (never blocks; a full queue drops that
    /// client, as for samples).
    pub fn publish_stall(&self, stall: &crate::model::Stall) {
        if self.client_count() == 0 {
            return;
        }
        let msg = ServerMessage::Stall {
            stall: stall.clone(),
        };
        let Some(line) = encode_line(encode(&msg), "stall") else {
            return;
        };
        fan_out(&mut self.lock(), &line);
    }

    /// Replace what `initial_state` says about the daemon.
    pub fn set_daemon_info(&self, info: DaemonInfo) {
        let mut st = self.lock();
        st.daemon = info;
        st.changed();
    }

    /// Change what `initial_state` says about the daemon in place (e.g. bump
    /// `sample_count`). `f` runs under the hub's lock: keep it trivial.
    pub fn update_daemon_info(&self, f: impl FnOnce(&mut DaemonInfo)) {
        let mut st = self.lock();
        f(&mut st.daemon);
        st.changed();
    }

    /// The process ids of the connected clients (those the kernel named).
    pub fn client_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.lock().clients.iter().filter_map(|c| c.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// `initial_state` encoded for `generation`, if it is still current.
    pub(super) fn cached_initial(&self, generation: u64) -> Option<Line> {
        match &self.lock().initial {
            Some((g, line)) if *g == generation => Some(Arc::clone(line)),
            _ => None,
        }
    }

    /// Keep `line` as the `initial_state` of `generation` (unless a newer one
    /// is kept). A line for an older generation still serves the clients that
    /// subscribed at that generation and wait for it.
    pub(super) fn store_initial(&self, generation: u64, line: &Line) {
        let mut st = self.lock();
        if st.initial.as_ref().is_none_or(|(g, _)| *g <= generation) {
            st.initial = Some((generation, Arc::clone(line)));
        }
    }

    /// Clients currently connected and subscribed.
    pub fn client_count(&self) -> usize {
        self.lock().clients.len()
    }

    /// Subscribe a new client: what its `initial_state` says plus its queue.
    /// Atomic with respect to `publish_sample`, so the client sees every sample
    /// exactly once (in the history or in the queue).
    ///
    /// When `initial_state` for the current state is already encoded, the
    /// subscription carries that shared line (`cached`) and no history copy.
    pub(super) fn subscribe(&self, pid: Option<u32>) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (daemon, history, generation, cached, rx, kick) = {
            let mut st = self.lock();
            let (tx, rx) = mpsc::channel(st.client_queue);
            let (kick_tx, kick_rx) = oneshot::channel();
            st.clients.push(Slot {
                id,
                pid,
                table: TableMode::Top,
                tx,
                kick: Some(kick_tx),
            });
            let generation = st.generation;
            let cached = match &st.initial {
                Some((g, line)) if *g == generation => Some(Arc::clone(line)),
                _ => None,
            };
            let history: Vec<Arc<ProcessSamples>> = if cached.is_some() {
                Vec::new()
            } else {
                st.history.iter().cloned().collect()
            };
            (st.daemon.clone(), history, generation, cached, rx, kick_rx)
        };
        let guard = Unsubscribe {
            hub: self.clone(),
            id,
        };
        Subscription {
            id,
            daemon,
            history,
            generation,
            cached,
            rx,
            kick,
            _guard: guard,
        }
    }

    fn unsubscribe(&self, id: u64) {
        self.lock().clients.retain(|s| s.id != id);
    }
}

/// Encode `initial_state`, dropping the oldest history until it fits in a line a
/// client accepts.
pub(super) fn initial_state_line(
    daemon: &DaemonInfo,
    history: &[Arc<ProcessSamples>],
    max: usize,
) -> Result<String, serde_json::Error> {
    let mut skip = 0;
    loop {
        let line = encode_initial_state(daemon, history[skip..].iter().map(|s| &**s))?;
        if line.len() <= max || skip == history.len() {
            if skip > 0 {
                tracing::warn!(
                    event_name = "initial_state_trimmed",
                    dropped = skip,
                    kept = history.len() - skip,
                    "history too large for one line: oldest samples left out"
                );
            }
            return Ok(line);
        }
        skip = (skip * 2).max(1).min(history.len());
    }
}

fn encode_line(r: Result<String, serde_json::Error>, what: &'static str) -> Option<Line> {
    match r {
        Ok(line) if line.len() <= MAX_SERVER_LINE => Some(Arc::from(line)),
        Ok(line) => {
            tracing::warn!(
                event_name = "ipc_message_too_large",
                what,
                bytes = line.len(),
                max = MAX_SERVER_LINE,
                "not sent to clients"
            );
            None
        }
        Err(e) => {
            tracing::warn!(event_name = "ipc_encode_failed", what, error = %e);
            None
        }
    }
}

/// The full-table `sample` line: `samples` with every process of `all` as
/// its table, worst first; halved until it fits in `max` bytes.
fn full_table_line(samples: &ProcessSamples, all: &[ProcessScore], max: usize) -> Option<Line> {
    let mut order: Vec<&ProcessScore> = all.iter().collect();
    order.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
    let mut keep = order.len().min(MAX_FULL_TABLE);
    // The sample without its table, encoded once; the table (borrowed, never
    // cloned) is spliced into its empty `rogues` array. That literal can only
    // be the key itself: inside a JSON string every `"` is escaped.
    let head = ProcessSamples {
        rogues: Vec::new(),
        ..samples.clone()
    };
    let head = match encode_sample(&head) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(event_name = "ipc_encode_failed", what = "full table", error = %e);
            return None;
        }
    };
    const EMPTY: &str = "\"rogues\":[]";
    let at = head.find(EMPTY)? + EMPTY.len() - 1;
    loop {
        let table = match crate::json::to_string(&order[..keep]) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(event_name = "ipc_encode_failed", what = "full table", error = %e);
                return None;
            }
        };
        let len = head.len() + table.len() - 2;
        if len <= max {
            let mut line = String::with_capacity(len);
            line.push_str(&head[..at - 1]);
            line.push_str(&table);
            line.push_str(&head[at + 1..]);
            return Some(Arc::from(line));
        }
        if keep <= 1 {
            return None;
        }
        tracing::warn!(
            event_name = "full_table_trimmed",
            bytes = len,
            processes = keep,
            "full table too large for one line: halving"
        );
        keep /= 2;
    }
}

impl HubState {
    /// What `initial_state` says has changed: the encoded one is stale (it is
    /// kept for clients that subscribed before the change and wait for it).
    fn changed(&mut self) {
        self.generation += 1;
    }
}

/// Queue `line` for every client (an event, a stall: the same for all);
/// drop those whose queue is full.
fn fan_out(st: &mut HubState, line: &Line) {
    send_each(st, |_| line);
}

/// Queue each client the line `pick` chooses; drop those whose queue is full.
fn send_each<'l>(st: &mut HubState, mut pick: impl FnMut(&mut Slot) -> &'l Line) {
    let mut kicked = Vec::new();
    st.clients.retain_mut(|slot| {
        let line = pick(slot);
        match slot.tx.try_send(Arc::clone(line)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                kicked.extend(slot.kick.take());
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
    for kick in kicked {
        let _ = kick.send("queue full: client not reading fast enough");
    }
}

/// This round's `table` lines (see `Hub::compact_lines`).
#[derive(Default)]
struct CompactLines {
    delta: Option<Line>,
    key: Option<Line>,
    /// Up-to-date clients get the keyframe too (the delta did not fit).
    rekey: bool,
}

/// One round's lines, by what clients asked for.
struct Lines<'a> {
    top: &'a Line,
    full: &'a Line,
    compact: CompactLines,
}

/// Queue each client its line; drop those whose queue is full. A compact
/// client with no table line for it this round (it subscribed after the
/// round was encoded, or encoding failed) gets the plain sample and a
/// keyframe the next round.
fn fan_out_lines(st: &mut HubState, lines: &Lines<'_>) {
    let c = &lines.compact;
    send_each(st, |slot| match slot.table {
        TableMode::Top => lines.top,
        TableMode::Full => lines.full,
        TableMode::Compact { keyed } => {
            let pick = if keyed && !c.rekey {
                c.delta.as_ref()
            } else {
                c.key.as_ref()
            };
            match pick {
                Some(l) => {
                    slot.table = TableMode::Compact { keyed: true };
                    l
                }
                None => {
                    slot.table = TableMode::Compact { keyed: false };
                    lines.top
                }
            }
        }
    });
}

/// A new client's share of the hub: what its `initial_state` says, its queue,
/// and the kick that fires when the hub drops it. Dropping it unsubscribes.
pub(super) struct Subscription {
    pub(super) id: u64,
    pub(super) daemon: DaemonInfo,
    /// Empty when `cached` is set.
    pub(super) history: Vec<Arc<ProcessSamples>>,
    /// The hub's state generation this subscription saw.
    pub(super) generation: u64,
    /// `initial_state` for `generation`, when already encoded.
    pub(super) cached: Option<Line>,
    pub(super) rx: mpsc::Receiver<Line>,
    pub(super) kick: oneshot::Receiver<&'static str>,
    pub(super) _guard: Unsubscribe,
}

/// Removes the client from the hub however its task ends.
pub(super) struct Unsubscribe {
    hub: Hub,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::decode;
    use super::*;

    fn info() -> DaemonInfo {
        DaemonInfo {
            pid: 1,
            started_at: 0.0,
            sample_interval: 1.0 / 3.0,
            sample_count: 0,
            boot_time: 0,
            open_events: 0,
            last_stall: None,
            health: Default::default(),
        }
    }

    fn initial(sub: &Subscription) -> String {
        initial_state_line(&sub.daemon, &sub.history, MAX_SERVER_LINE).unwrap()
    }

    fn sample(t: f64) -> Arc<ProcessSamples> {
        Arc::new(ProcessSamples {
            timestamp_s: t,
            elapsed_ms: 1.0,
            process_count: 1,
            max_score: 0.0,
            rogues: vec![],
            groups: Vec::new(),
            system: None,
        })
    }

    #[test]
    fn hub_keeps_the_last_history_len_samples() {
        let hub = Hub::new(info());
        hub.configure(3, 4);
        for t in 0..10 {
            hub.publish_sample(sample(t as f64));
        }
        let st = hub.lock();
        let ts: Vec<f64> = st.history.iter().map(|s| s.timestamp_s).collect();
        assert_eq!(ts, vec![7.0, 8.0, 9.0]);
    }

    #[test]
    fn oversized_history_drops_oldest_samples_to_fit() {
        let history: Vec<_> = (0..10).map(|t| sample(t as f64)).collect();
        let full = initial_state_line(&info(), &history, usize::MAX).unwrap();
        let max = full.len() / 2;
        let line = initial_state_line(&info(), &history, max).unwrap();
        assert!(line.len() <= max);
        let ServerMessage::InitialState { history: kept, .. } =
            decode(line.as_bytes(), MAX_SERVER_LINE).unwrap()
        else {
            panic!("not initial_state");
        };
        assert!(!kept.is_empty() && kept.len() < 10);
        assert_eq!(kept.last().unwrap().timestamp_s, 9.0, "newest kept");
    }

    #[test]
    fn zero_history_keeps_nothing() {
        let hub = Hub::new(info());
        hub.configure(0, 4);
        hub.publish_sample(sample(1.0));
        assert!(hub.lock().history.is_empty());
    }

    #[test]
    fn full_queue_kicks_the_client_without_blocking() {
        let hub = Hub::new(info());
        hub.configure(5, 2);
        let mut sub = hub.subscribe(None);
        let first: ServerMessage = decode(initial(&sub).as_bytes(), MAX_SERVER_LINE).unwrap();
        assert!(
            matches!(first, ServerMessage::InitialState { ref history, .. } if history.is_empty())
        );
        hub.publish_sample(sample(1.0));
        hub.publish_sample(sample(2.0));
        assert_eq!(hub.client_count(), 1);
        hub.publish_sample(sample(3.0)); // queue of 2 is full: dropped
        assert_eq!(hub.client_count(), 0);
        assert_eq!(
            sub.kick.try_recv().unwrap(),
            "queue full: client not reading fast enough"
        );
    }

    #[test]
    fn subscription_sees_each_sample_once() {
        let hub = Hub::new(info());
        hub.configure(10, 10);
        hub.publish_sample(sample(1.0));
        hub.publish_sample(sample(2.0));
        let mut sub = hub.subscribe(None);
        hub.publish_sample(sample(3.0));
        let ServerMessage::InitialState { history, .. } =
            decode(initial(&sub).as_bytes(), MAX_SERVER_LINE).unwrap()
        else {
            panic!("not initial_state");
        };
        assert_eq!(
            history.iter().map(|s| s.timestamp_s).collect::<Vec<_>>(),
            vec![1.0, 2.0]
        );
        let line = sub.rx.try_recv().unwrap();
        let ServerMessage::Sample { samples } = decode(line.as_bytes(), MAX_SERVER_LINE).unwrap()
        else {
            panic!("not a sample");
        };
        assert_eq!(samples.timestamp_s, 3.0);
        assert!(sub.rx.try_recv().is_err());
        drop(sub);
        assert_eq!(hub.client_count(), 0);
    }

    #[test]
    fn initial_state_is_encoded_once_per_change_and_shared() {
        let hub = Hub::new(info());
        hub.publish_sample(sample(1.0));
        let first = hub.subscribe(Some(10));
        assert!(first.cached.is_none() && first.history.len() == 1);
        let line: Line = Arc::from(initial(&first));
        hub.store_initial(first.generation, &line);
        let second = hub.subscribe(Some(11));
        let shared = second.cached.clone().expect("shared line");
        assert!(Arc::ptr_eq(&shared, &line) && second.history.is_empty());
        // A new sample makes it stale for new clients...
        hub.publish_sample(sample(2.0));
        let third = hub.subscribe(None);
        assert!(third.cached.is_none() && third.history.len() == 2);
        // ...while a client of the old generation still finds it.
        assert!(hub.cached_initial(first.generation).is_some());
        assert!(hub.cached_initial(third.generation).is_none());
        assert_eq!(hub.client_pids(), vec![10, 11]);
        drop(second);
        assert_eq!(hub.client_pids(), vec![10]);
    }

    #[test]
    fn daemon_info_updates_show_in_initial_state() {
        let hub = Hub::new(info());
        hub.update_daemon_info(|d| d.sample_count = 41);
        hub.update_daemon_info(|d| d.sample_count += 1);
        let sub = hub.subscribe(None);
        let ServerMessage::InitialState {
            daemon, version, ..
        } = decode(initial(&sub).as_bytes(), MAX_SERVER_LINE).unwrap()
        else {
            panic!("not initial_state");
        };
        assert_eq!(daemon.sample_count, 42);
        assert_eq!(version, super::super::protocol::PROTOCOL_VERSION);
    }
    #[test]
    fn the_spliced_full_table_equals_encoding_the_cloned_sample() {
        use crate::model::ProcessScore;
        let all: Vec<ProcessScore> = (0..50)
            .map(|i| {
                let mut p =
                    ProcessScore::new(100 + i, 7, format!("cmd {i} \"rogues\":[] \u{202e}"), 0.0);
                p.score = f64::from(i % 7);
                p
            })
            .collect();
        let mut base = (*sample(5.0)).clone();
        base.rogues = all[..3].to_vec();
        let line = full_table_line(&base, &all, MAX_SERVER_LINE).unwrap();
        let mut order: Vec<&ProcessScore> = all.iter().collect();
        order.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.pid.cmp(&b.pid)));
        let expected = ProcessSamples {
            rogues: order.into_iter().cloned().collect(),
            ..base.clone()
        };
        assert_eq!(&*line, encode_sample(&expected).unwrap().as_str());
        // Too large for the limit: halved until it fits, still a valid sample.
        let small = full_table_line(&base, &all, line.len() / 3).unwrap();
        let ServerMessage::Sample { samples } = decode(small.as_bytes(), MAX_SERVER_LINE).unwrap()
        else {
            panic!("not a sample");
        };
        assert!(samples.rogues.len() < 50 && !samples.rogues.is_empty());
    }

    #[test]
    fn compact_clients_get_a_keyframe_then_deltas_and_newcomers_a_keyframe() {
        use super::super::protocol::decode_server;
        use crate::ipc::table::TableState;
        let hub = Hub::new(info());
        hub.configure(5, 16);
        let mut a = hub.subscribe(None);
        hub.set_full_table(a.id, true, true);
        let all: Vec<ProcessScore> = (1..=5)
            .map(|i| ProcessScore::new(i, 9, format!("p{i}"), 1.0))
            .collect();
        let table = |sub: &mut Subscription| match decode_server(
            sub.rx.try_recv().unwrap().as_bytes(),
            MAX_SERVER_LINE,
        )
        .unwrap()
        {
            ServerMessage::Table(t) => *t,
            other => panic!("not a table: {other:?}"),
        };
        let mut state = TableState::default();
        hub.publish_sample_with_table(sample(1.0), &all);
        let t = table(&mut a);
        assert!(t.full && t.rows.len() == 5);
        state.apply(t).unwrap();
        // An event in between does not change what the client holds.
        hub.publish_event(EventNotice {
            kind: super::super::protocol::EventKind::Opened,
            event_key: 1,
            pid: 1,
            start_time: 9,
            command: "p1".into(),
            band: crate::model::Band::High,
            score: 1.0,
            dominant_resource: crate::model::Resource::Cpu,
            at: 1.0,
            reason: None,
            subject_kind: Default::default(),
            group_key: None,
            members: Vec::new(),
        });
        assert!(matches!(
            decode_server(a.rx.try_recv().unwrap().as_bytes(), MAX_SERVER_LINE).unwrap(),
            ServerMessage::Event { .. }
        ));
        let mut b = hub.subscribe(None);
        hub.set_full_table(b.id, true, true);
        let mut next = all.clone();
        for p in &mut next {
            p.captured_at_s = 2.0;
        }
        next[0].score = 50.0;
        hub.publish_sample_with_table(sample(2.0), &next);
        let t = table(&mut a);
        assert!(!t.full && t.rows.len() == 1, "only the changed row");
        assert_eq!(state.apply(t).unwrap().rogues[0].score, 50.0);
        let t = table(&mut b);
        assert!(t.full && t.rows.len() == 5, "a newcomer's keyframe");
        // No compact client left: the encoder starts over.
        drop(a);
        drop(b);
        hub.publish_sample_with_table(sample(3.0), &next);
        assert!(hub.table_lock().limit() > 0);
    }
}
