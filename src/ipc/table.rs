//! The compact full-table stream (`table` messages): every process as an
//! array of numbers in a fixed column order, and after the first message only
//! the rows that changed since the previous round plus the keys that left.
//!
//! Pure: the daemon's side is `TableEncoder` (which rows to send this round,
//! remembered as a 64-bit fingerprint per row), the client's side is
//! `TableState` (applies keyframes and deltas, gives back the whole table). A
//! row carries each metric's current value only; `low`/`high` are the current
//! value, except for the top rows, which the message's plain `samples` carries
//! with the daemon's ranges (`TableState::apply` puts them in).
//!
//! Wire form (docs/json.md): `{"type":"table","seq":N,"full":bool,
//! "columns":[names…] (full only),"count":rows after applying,
//! "samples":{ProcessSamples with the top N},"rows":[[…],…],"left":[[pid,start_time_ms],…]}`.

use crate::model::{METRIC_COUNT, METRICS, MetricValue, ProcessKey, ProcessSamples, ProcessScore};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// The columns before the metrics, in row order.
const FIXED_COLUMNS: [&str; 19] = [
    "pid",
    "start_time_ms",
    "command",
    "captured_at_s",
    "state",
    "priority",
    "ppid",
    "cgroup",
    "uid",
    "cpu_time_s",
    "score",
    "band",
    "cpu_share",
    "gpu_share",
    "mem_share",
    "disk_share",
    "wakeups_share",
    "disproportionality",
    "dominant_resource",
];

/// Values in one row.
pub const ROW_LEN: usize = FIXED_COLUMNS.len() + METRIC_COUNT;

/// Every column name in row order: the fixed fields, then each metric's
/// current value (`METRICS` order).
pub fn columns() -> Vec<&'static str> {
    FIXED_COLUMNS
        .iter()
        .copied()
        .chain(METRICS.iter().map(|m| m.name))
        .collect()
}

/// One row on the wire. `captured_at` is `null` when it equals the round's
/// timestamp (nearly always), so an idle process's row stays the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub process: ProcessScore,
    /// `captured_at` was the round's timestamp (sent as `null`).
    pub follows_round: bool,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bits = self.process.captured_at_s.to_bits();
        RowRef {
            process: &self.process,
            // Equal bits write `null`; any other value writes the time.
            timestamp_s: f64::from_bits(if self.follows_round { bits } else { !bits }),
        }
        .serialize(s)
    }
}

/// Borrowed row for encoding.
pub struct RowRef<'a> {
    pub process: &'a ProcessScore,
    pub timestamp_s: f64,
}

fn captured_at(p: &ProcessScore, timestamp_s: f64) -> Option<f64> {
    (p.captured_at_s.to_bits() != timestamp_s.to_bits()).then_some(p.captured_at_s)
}

impl Serialize for RowRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.process;
        let mut seq = s.serialize_seq(Some(ROW_LEN))?;
        seq.serialize_element(&p.pid)?;
        seq.serialize_element(&p.start_time_ms)?;
        seq.serialize_element(&p.command)?;
        seq.serialize_element(&captured_at(p, self.timestamp_s))?;
        seq.serialize_element(&p.state)?;
        seq.serialize_element(&p.priority)?;
        seq.serialize_element(&p.ppid)?;
        seq.serialize_element(&p.cgroup)?;
        seq.serialize_element(&p.uid)?;
        seq.serialize_element(&p.cpu_time_s)?;
        seq.serialize_element(&p.score)?;
        seq.serialize_element(&p.band)?;
        seq.serialize_element(&p.cpu_share)?;
        seq.serialize_element(&p.gpu_share)?;
        seq.serialize_element(&p.mem_share)?;
        seq.serialize_element(&p.disk_share)?;
        seq.serialize_element(&p.wakeups_share)?;
        seq.serialize_element(&p.disproportionality)?;
        seq.serialize_element(&p.dominant_resource)?;
        for m in p.metrics() {
            seq.serialize_element(&m.map(|m| m.current))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Row;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a table row of {ROW_LEN} values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Row, A::Error> {
                let mut at = 0usize;
                macro_rules! next {
                    () => {{
                        let v = a
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(at, &self))?;
                        at += 1;
                        v
                    }};
                }
                let pid: u32 = next!();
                let start: u64 = next!();
                let command: String = next!();
                let captured: Option<f64> = next!();
                let mut p = ProcessScore::new(pid, start, command, captured.unwrap_or(0.0));
                p.state = next!();
                p.priority = next!();
                p.ppid = next!();
                p.cgroup = next!();
                p.uid = next!();
                p.cpu_time_s = next!();
                // Non-finite numbers are written as `null` by JSON.
                p.score = Option::<f64>::unwrap_or(next!(), f64::NAN);
                p.band = next!();
                p.cpu_share = next!();
                p.gpu_share = next!();
                p.mem_share = next!();
                p.disk_share = next!();
                p.wakeups_share = next!();
                p.disproportionality = Option::<f64>::unwrap_or(next!(), f64::NAN);
                p.dominant_resource = next!();
                for m in p.metrics_mut() {
                    let v: Option<f64> = next!();
                    *m = v.map(MetricValue::new);
                }
                if a.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(at + 1, &self));
                }
                Ok(Row {
                    process: p,
                    follows_round: captured.is_none(),
                })
            }
        }
        d.deserialize_seq(V)
    }
}

/// What fingerprints a row: everything it carries on the wire.
fn fingerprint(p: &ProcessScore, timestamp_s: f64) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    p.pid.hash(&mut h);
    p.start_time_ms.hash(&mut h);
    p.command.hash(&mut h);
    captured_at(p, timestamp_s).map(f64::to_bits).hash(&mut h);
    p.state.hash(&mut h);
    p.priority.hash(&mut h);
    p.ppid.hash(&mut h);
    p.cgroup.hash(&mut h);
    p.uid.hash(&mut h);
    p.cpu_time_s.map(f64::to_bits).hash(&mut h);
    p.score.to_bits().hash(&mut h);
    p.band.hash(&mut h);
    for s in [
        p.cpu_share,
        p.gpu_share,
        p.mem_share,
        p.disk_share,
        p.wakeups_share,
    ] {
        s.map(f64::to_bits).hash(&mut h);
    }
    p.disproportionality.to_bits().hash(&mut h);
    p.dominant_resource.hash(&mut h);
    for m in p.metrics() {
        m.map(|m| m.current.to_bits()).hash(&mut h);
    }
    h.finish()
}

/// The table's order: worst first, then by PID (as the full-table `sample`).
pub fn order(a: &ProcessScore, b: &ProcessScore) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.pid.cmp(&b.pid))
        .then(a.start_time_ms.cmp(&b.start_time_ms))
}

/// The daemon's side: what every up-to-date subscriber holds (a fingerprint
/// per row) and the round number.
#[derive(Debug)]
pub struct TableEncoder {
    seq: u64,
    sent: HashMap<ProcessKey, u64>,
    limit: usize,
    max_rows: usize,
}

/// One round: the table in order and which of its rows changed.
#[derive(Debug)]
pub struct Round<'a> {
    pub seq: u64,
    pub timestamp_s: f64,
    /// The table, worst first, at most the encoder's limit.
    pub rows: Vec<&'a ProcessScore>,
    /// Indices into `rows` of the rows new or changed since the last round.
    pub changed: Vec<usize>,
    /// Rows of the last round that are no longer in the table.
    pub left: Vec<ProcessKey>,
}

impl TableEncoder {
    /// An encoder sending at most `max_rows` rows.
    pub fn new(max_rows: usize) -> TableEncoder {
        TableEncoder {
            seq: 0,
            sent: HashMap::new(),
            limit: max_rows.max(1),
            max_rows: max_rows.max(1),
        }
    }

    /// Forget what was sent (no subscriber is up to date): the next round's
    /// delta is the whole table.
    pub fn reset(&mut self) {
        self.sent = HashMap::new();
        self.limit = self.max_rows;
    }

    /// Rows the table is limited to now (halved when a line did not fit).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The next round from every scored process (any order): the table and
    /// the delta from the last round. What subscribers hold is this round's
    /// table from now on.
    pub fn round<'a>(&mut self, all: &'a [ProcessScore], timestamp_s: f64) -> Round<'a> {
        self.seq += 1;
        let mut rows: Vec<&ProcessScore> = all.iter().collect();
        rows.sort_unstable_by(|a, b| order(a, b));
        rows.truncate(self.limit);
        let mut next = HashMap::with_capacity(rows.len());
        let mut changed = Vec::new();
        for (i, p) in rows.iter().enumerate() {
            let print = fingerprint(p, timestamp_s);
            if self.sent.remove(&p.key()) != Some(print) {
                changed.push(i);
            }
            next.insert(p.key(), print);
        }
        let mut left: Vec<ProcessKey> = self.sent.keys().copied().collect();
        left.sort_unstable();
        self.sent = next;
        Round {
            seq: self.seq,
            timestamp_s,
            rows,
            changed,
            left,
        }
    }

    /// A keyframe of this round did not fit in a line: from now on the table
    /// holds only the first `keep` rows of `round` (what subscribers get in
    /// the keyframe that replaces it).
    pub fn cut(&mut self, round: &mut Round<'_>, keep: usize) {
        round.rows.truncate(keep);
        round.changed.retain(|&i| i < keep);
        self.limit = keep.max(1);
        let kept: std::collections::HashSet<ProcessKey> =
            round.rows.iter().map(|p| p.key()).collect();
        self.sent.retain(|k, _| kept.contains(k));
    }
}

/// A `table` message as decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMessage {
    pub seq: u64,
    /// A keyframe: `rows` is the whole table.
    pub full: bool,
    /// Column names (keyframes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Rows in the table after applying this message.
    pub count: usize,
    /// The plain sample: machine numbers, groups, the top N with ranges.
    pub samples: ProcessSamples,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub left: Vec<ProcessKey>,
}

/// Why a `table` message could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("table delta {got} does not follow {had:?}: waiting for a full table")]
    OutOfOrder { got: u64, had: Option<u64> },
    #[error("table columns are not the ones this dashboard reads: {0}")]
    Columns(String),
    #[error("table has {got} rows after applying round {seq}, the daemon said {want}")]
    Count { seq: u64, got: usize, want: usize },
}

/// The client's side: the table as the daemon last sent it.
#[derive(Debug, Default)]
pub struct TableState {
    seq: Option<u64>,
    rows: HashMap<ProcessKey, Row>,
}

impl TableState {
    /// Forget the table (a new connection): only a keyframe applies next.
    pub fn reset(&mut self) {
        *self = TableState::default();
    }

    /// Apply one message; the whole table as a `ProcessSamples` (every row,
    /// worst first; the top rows with the daemon's ranges). On an error the
    /// state is reset and the caller should ask for a keyframe (`subscribe`).
    pub fn apply(&mut self, msg: TableMessage) -> Result<ProcessSamples, TableError> {
        let r = self.apply_rows(&msg);
        if r.is_err() {
            self.reset();
        }
        r?;
        let TableMessage {
            seq, mut samples, ..
        } = msg;
        self.seq = Some(seq);
        let top: HashMap<ProcessKey, ProcessScore> =
            samples.rogues.drain(..).map(|p| (p.key(), p)).collect();
        let mut table: Vec<ProcessScore> = self
            .rows
            .values()
            .map(|r| match top.get(&r.process.key()) {
                Some(t) => t.clone(),
                None => r.process.clone(),
            })
            .collect();
        table.sort_unstable_by(order);
        samples.rogues = table;
        Ok(samples)
    }

    fn apply_rows(&mut self, msg: &TableMessage) -> Result<(), TableError> {
        if msg.full {
            if let Some(cols) = &msg.columns
                && cols.iter().map(String::as_str).ne(columns())
            {
                return Err(TableError::Columns(cols.join(",")));
            }
            self.rows.clear();
        } else if self.seq.is_none_or(|s| s.checked_add(1) != Some(msg.seq)) {
            return Err(TableError::OutOfOrder {
                got: msg.seq,
                had: self.seq,
            });
        }
        let ts = msg.samples.timestamp_s;
        for k in &msg.left {
            self.rows.remove(k);
        }
        for r in self.rows.values_mut() {
            if r.follows_round {
                r.process.captured_at_s = ts;
            }
        }
        for r in &msg.rows {
            let mut r = r.clone();
            if r.follows_round {
                r.process.captured_at_s = ts;
            }
            self.rows.insert(r.process.key(), r);
        }
        if self.rows.len() < self.rows.capacity() / 4 {
            self.rows.shrink_to_fit();
        }
        if self.rows.len() != msg.count {
            return Err(TableError::Count {
                seq: msg.seq,
                got: self.rows.len(),
                want: msg.count,
            });
        }
        Ok(())
    }
}

/// `table` with borrowed parts; encodes as `TableMessage` decodes.
#[derive(Serialize)]
#[serde(tag = "type", rename = "table")]
struct TableRef<'a> {
    seq: u64,
    full: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<&'static str>>,
    count: usize,
    samples: &'a ProcessSamples,
    rows: RowsRef<'a>,
    left: &'a [ProcessKey],
}

struct RowsRef<'a> {
    round: &'a Round<'a>,
    full: bool,
}

impl<'a> Serialize for RowsRef<'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ts = self.round.timestamp_s;
        let rows = &self.round.rows;
        let row = |p: &'a ProcessScore| RowRef {
            process: p,
            timestamp_s: ts,
        };
        if self.full {
            s.collect_seq(rows.iter().map(|p| row(p)))
        } else {
            s.collect_seq(self.round.changed.iter().map(|&i| row(rows[i])))
        }
    }
}

/// Encode `round` as a `table` line (with its newline): a keyframe (`full`:
/// every row) or the delta. `samples` is the plain sample (top N).
pub fn encode_table(
    samples: &ProcessSamples,
    round: &Round<'_>,
    full: bool,
) -> Result<String, serde_json::Error> {
    let mut line = crate::json::to_string(&TableRef {
        seq: round.seq,
        full,
        columns: full.then(columns),
        count: round.rows.len(),
        samples,
        rows: RowsRef { round, full },
        left: if full { &[] } else { &round.left },
    })?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::{MAX_SERVER_LINE, ServerMessage, decode_server};
    use crate::model::{ProcessState, Resource};
    use proptest::prelude::*;

    fn proc(pid: u32, score: f64, cpu: Option<f64>, ts: f64) -> ProcessScore {
        let mut p = ProcessScore::new(pid, 1000 + u64::from(pid), format!("cmd-{pid}"), ts);
        p.score = score;
        p.cpu = cpu.map(MetricValue::new);
        p.mem = Some(MetricValue::new(4096.0 * f64::from(pid)));
        p.ppid = Some(1);
        p.state = ProcessState::Sleeping;
        p
    }

    fn plain(ts: f64, top: Vec<ProcessScore>) -> ProcessSamples {
        ProcessSamples {
            timestamp_s: ts,
            elapsed_ms: 1.0,
            process_count: 3,
            max_score: 0.0,
            rogues: top,
            groups: Vec::new(),
            system: None,
        }
    }

    fn decode_table(line: &str) -> TableMessage {
        match decode_server(line.as_bytes(), MAX_SERVER_LINE).unwrap() {
            ServerMessage::Table(t) => *t,
            other => panic!("not a table: {other:?}"),
        }
    }

    fn sorted(all: &[ProcessScore]) -> Vec<ProcessScore> {
        let mut v = all.to_vec();
        v.sort_by(order);
        v
    }

    #[test]
    fn a_row_round_trips_with_hostile_strings_and_nulls() {
        let mut p = proc(7, 12.5, None, 5.0);
        p.command = "evil \u{202e}\x1b[31m\"quoted\"\n".into();
        p.cgroup = Some("/a\u{2028}b".into());
        p.captured_at_s = 4.5;
        p.priority = Some(-5);
        p.cpu_share = Some(0.25);
        p.dominant_resource = Resource::Memory;
        let text = crate::json::to_string(&RowRef {
            process: &p,
            timestamp_s: 5.0,
        })
        .unwrap();
        assert!(!text.contains('\u{202e}') && !text.contains('\x1b') && !text.contains('\n'));
        let back: Row = serde_json::from_str(&text).unwrap();
        assert_eq!(back.process, p);
        assert!(!back.follows_round);
        // Wrong lengths are errors, not panics.
        assert!(serde_json::from_str::<Row>("[1,2]").is_err());
        let long = text.replacen('[', "[0,", 1);
        assert!(serde_json::from_str::<Row>(&long).is_err());
        assert_eq!(columns().len(), ROW_LEN);
    }

    #[test]
    fn idle_rows_are_sent_once_and_leavers_are_named() {
        let mut enc = TableEncoder::new(100);
        let a = vec![proc(1, 5.0, Some(1.0), 1.0), proc(2, 0.0, Some(0.0), 1.0)];
        let r = enc.round(&a, 1.0);
        assert_eq!(r.changed, vec![0, 1]);
        // Next round: only the timestamp moved for pid 2; pid 1 changed; 3 is new.
        let b = vec![
            proc(1, 6.0, Some(2.0), 2.0),
            proc(2, 0.0, Some(0.0), 2.0),
            proc(3, 1.0, None, 2.0),
        ];
        let r = enc.round(&b, 2.0);
        let changed: Vec<u32> = r.changed.iter().map(|&i| r.rows[i].pid).collect();
        assert_eq!(changed, vec![1, 3]);
        assert!(r.left.is_empty());
        let c = vec![proc(2, 0.0, Some(0.0), 3.0)];
        let r = enc.round(&c, 3.0);
        assert!(r.changed.is_empty());
        assert_eq!(r.left.iter().map(|k| k.pid).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn deltas_rebuild_the_table_and_keep_the_tops_ranges() {
        let mut enc = TableEncoder::new(100);
        let mut st = TableState::default();
        let a = vec![proc(1, 5.0, Some(1.0), 1.0), proc(2, 0.0, Some(0.0), 1.0)];
        let r = enc.round(&a, 1.0);
        let mut top = a[0].clone();
        top.cpu = Some(MetricValue {
            current: 1.0,
            low: 0.5,
            high: 3.0,
        });
        let line = encode_table(&plain(1.0, vec![top.clone()]), &r, true).unwrap();
        let got = st.apply(decode_table(&line)).unwrap();
        assert_eq!(got.rogues, vec![top, a[1].clone()]);
        let b = vec![proc(2, 0.0, Some(0.0), 2.0), proc(3, 9.0, None, 2.0)];
        let r = enc.round(&b, 2.0);
        let line = encode_table(&plain(2.0, vec![]), &r, false).unwrap();
        let got = st.apply(decode_table(&line)).unwrap();
        assert_eq!(got.rogues, sorted(&b));
        // A delta that skips a round resets the state and asks for a keyframe.
        let r = enc.round(&b, 3.0);
        let _skipped = encode_table(&plain(3.0, vec![]), &r, false).unwrap();
        let r = enc.round(&b, 4.0);
        let line = encode_table(&plain(4.0, vec![]), &r, false).unwrap();
        assert!(matches!(
            st.apply(decode_table(&line)),
            Err(TableError::OutOfOrder { got: 4, .. })
        ));
        assert!(matches!(
            st.apply(decode_table(&line)),
            Err(TableError::OutOfOrder { had: None, .. })
        ));
    }

    #[test]
    fn foreign_columns_are_refused() {
        let mut enc = TableEncoder::new(10);
        let a = vec![proc(1, 5.0, Some(1.0), 1.0)];
        let r = enc.round(&a, 1.0);
        let line = encode_table(&plain(1.0, vec![]), &r, true)
            .unwrap()
            .replacen("\"pid\"", "\"tid\"", 1);
        assert!(matches!(
            TableState::default().apply(decode_table(&line)),
            Err(TableError::Columns(_))
        ));
    }

    #[test]
    fn a_cut_keyframe_limits_later_rounds() {
        let mut enc = TableEncoder::new(100);
        let a: Vec<ProcessScore> = (1..=10).map(|i| proc(i, f64::from(i), None, 1.0)).collect();
        let mut r = enc.round(&a, 1.0);
        enc.cut(&mut r, 4);
        let mut st = TableState::default();
        let line = encode_table(&plain(1.0, vec![]), &r, true).unwrap();
        assert_eq!(st.apply(decode_table(&line)).unwrap().rogues.len(), 4);
        let a: Vec<ProcessScore> = (1..=10).map(|i| proc(i, f64::from(i), None, 2.0)).collect();
        let r = enc.round(&a, 2.0);
        assert_eq!(r.rows.len(), 4);
        assert!(r.changed.is_empty() && r.left.is_empty());
        let line = encode_table(&plain(2.0, vec![]), &r, false).unwrap();
        assert_eq!(
            st.apply(decode_table(&line)).unwrap().rogues,
            sorted(&a)[..4].to_vec()
        );
    }

    fn arb_round() -> impl Strategy<Value = Vec<(u32, u8, Option<u8>, bool)>> {
        // (pid, score, cpu, captured at the round's time)
        proptest::collection::vec(
            (
                1u32..40,
                0u8..5,
                proptest::option::of(0u8..3),
                any::<bool>(),
            ),
            0..30,
        )
    }

    proptest! {
        #[test]
        fn applying_deltas_reproduces_the_full_table(
            rounds in proptest::collection::vec(arb_round(), 1..12),
            limit in 1usize..50,
        ) {
            let mut enc = TableEncoder::new(limit);
            let mut st = TableState::default();
            for (n, spec) in rounds.iter().enumerate() {
                let ts = n as f64 + 1.0;
                let mut seen = std::collections::HashSet::new();
                let all: Vec<ProcessScore> = spec
                    .iter()
                    .filter(|(pid, ..)| seen.insert(*pid))
                    .map(|&(pid, score, cpu, on_time)| {
                        let mut p = proc(pid, f64::from(score), cpu.map(f64::from), ts);
                        if !on_time {
                            p.captured_at_s = 0.5;
                        }
                        p
                    })
                    .collect();
                let r = enc.round(&all, ts);
                let line = encode_table(&plain(ts, vec![]), &r, n == 0).unwrap();
                let got = st.apply(decode_table(&line)).unwrap();
                let mut want = sorted(&all);
                want.truncate(limit);
                prop_assert_eq!(got.rogues, want);
            }
        }
    }
}
