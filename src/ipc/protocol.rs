//! The live-stream protocol: newline-delimited JSON, one object per line with a
//! `type` field. Pure data and a bounded line decoder; no sockets here.
//!
//! Daemon → client: `initial_state` (always first; carries `version`), then
//! `sample`, `event`, `events` (reply to `get_events`), `subscribed` (reply to
//! `subscribe`), `pong`, `error`.
//! Client → daemon: `ping`, `get_events`, `subscribe`.
//!
//! `subscribe` with `full_table: true` asks for every process: from then on
//! the `sample` messages to that client list every process in `rogues` (worst
//! first, at most `MAX_FULL_TABLE`), not only the top N. Clients that never
//! send it see exactly what they always did.

use super::table::TableMessage;
use crate::model::{Band, ProcessSamples, Resource};
use crate::model::{EventRow, Stall, SubjectKind};
use serde::{Deserialize, Serialize};

/// Bumped when a message changes incompatibly. 2: times name their unit
/// (`timestamp_s`, `start_time_ms`, ...) and `initial_state` carries
/// `schema_version` and `host`.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest daemon protocol a client still reads: version 1's field names
/// are serde aliases of today's.
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;
/// Longest line a client accepts from the daemon (initial_state carries history).
pub const MAX_SERVER_LINE: usize = 16 * 1024 * 1024;
/// Longest line the daemon accepts from a client.
pub const MAX_CLIENT_LINE: usize = 64 * 1024;

/// Most processes one full-table `sample` carries (worst first); the line
/// limit may cut it further.
pub const MAX_FULL_TABLE: usize = 10_000;

/// Facts about the running daemon, sent in `initial_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    /// Unix seconds (wire `started_at_s`; older daemons sent `started_at`).
    #[serde(rename = "started_at_s", alias = "started_at")]
    pub started_at: f64,
    /// Seconds between samples (wire `sample_interval_s`).
    #[serde(rename = "sample_interval_s", alias = "sample_interval")]
    pub sample_interval: f64,
    pub sample_count: u64,
    /// Machine boot, Unix milliseconds (wire `boot_time_ms`).
    #[serde(rename = "boot_time_ms", alias = "boot_time")]
    pub boot_time: u64,
    pub open_events: u64,
    /// The most recent stall the daemon recorded (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stall: Option<Box<Stall>>,
    /// What is degraded or failing right now (`status` shows it).
    #[serde(default)]
    pub health: DaemonHealth,
}

/// The daemon's own health, as `status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DaemonHealth {
    /// Processes that never open an event: the daemon itself and the
    /// connected live-stream clients (dashboards, `status`).
    pub excluded_pids: Vec<u32>,
    /// Live-stream clients connected now.
    pub clients: u64,
    /// True while database writes fail (e.g. the disk is full); the writes
    /// are kept and retried.
    pub writes_failing: bool,
    /// Writes kept for retry after a failure.
    pub writes_pending: u64,
    /// Writes that failed and were given up (each named in the log).
    pub writes_failed: u64,
    /// The most recent write error, if any write failed since start.
    pub last_write_error: Option<String>,
    /// Degraded operation the daemon noticed, one sentence each (for example
    /// a low descriptor limit).
    pub warnings: Vec<String>,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Escalated,
    Closed,
    Forensics,
}

/// A tracker event as the live stream reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventNotice {
    pub kind: EventKind,
    /// The event's database id (`EventRow.id`, as `events` shows it).
    pub event_key: u64,
    pub pid: u32,
    /// Process start, Unix milliseconds (wire `start_time_ms`).
    #[serde(rename = "start_time_ms", alias = "start_time")]
    pub start_time: u64,
    /// Untrusted: escape before display.
    pub command: String,
    pub band: Band,
    pub score: f64,
    pub dominant_resource: Resource,
    /// Unix seconds (wire `at_s`; older daemons sent `at`).
    #[serde(rename = "at_s", alias = "at")]
    pub at: f64,
    /// For `closed`: recovered, gone, shutdown.
    pub reason: Option<String>,
    /// `process`, or the group's kind; for a group `command` is the group's
    /// name, `score`/`band` the group's, `pid` its top member.
    #[serde(default)]
    pub subject_kind: SubjectKind,
    /// A group's key; `None` for a process.
    #[serde(default)]
    pub group_key: Option<String>,
    /// A group's top members' PIDs, worst first (empty for a process, and
    /// on a close without an exit sample).
    #[serde(default)]
    pub members: Vec<u32>,
}

/// Daemon → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    InitialState {
        version: u32,
        /// The schema the payloads follow (`json::SCHEMA_VERSION`, as in every
        /// CLI document); `None` from a daemon before protocol 2.
        #[serde(default)]
        schema_version: Option<u32>,
        /// The daemon's machine (`uname -n`); `None` before protocol 2.
        #[serde(default)]
        host: Option<String>,
        daemon: DaemonInfo,
        /// The most recent samples, oldest first.
        history: Vec<ProcessSamples>,
    },
    Sample {
        samples: ProcessSamples,
    },
    Event {
        event: EventNotice,
    },
    Events {
        events: Vec<EventRow>,
    },
    /// A stall was recorded (`Stall.end` is `null` while it lasts; the same
    /// stall is sent again when it ends).
    Stall {
        stall: Stall,
    },
    Pong,
    Error {
        message: String,
    },
    /// Reply to `subscribe`: what this client now receives.
    Subscribed {
        full_table: bool,
        /// Most processes a full-table sample carries.
        max_processes: usize,
        /// Full-table rounds come as `table` messages (`super::table`).
        #[serde(default)]
        compact: bool,
    },
    /// A full-table round for a `compact` subscriber: a keyframe or the rows
    /// that changed (see `super::table`).
    Table(Box<TableMessage>),
}

/// Client → daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping,
    GetEvents {
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        open_only: bool,
    },
    /// Choose what `sample` messages carry for this client (see the module
    /// documentation).
    Subscribe {
        #[serde(default)]
        full_table: bool,
        /// With `full_table`: send `table` messages (a keyframe, then the
        /// rows that changed) instead of full `sample`s.
        #[serde(default)]
        compact: bool,
    },
}

/// Why a line could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("line of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encode one message as a JSON line (with the trailing newline).
pub fn encode<T: Serialize>(msg: &T) -> Result<String, serde_json::Error> {
    let mut s = crate::json::to_string(msg)?;
    s.push('\n');
    Ok(s)
}

/// Decode one line (without or with its newline), refusing lines over `max`.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8], max: usize) -> Result<T, DecodeError> {
    if line.len() > max {
        return Err(DecodeError::TooLong {
            len: line.len(),
            max,
        });
    }
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    serde_json::from_str(text.trim_end_matches(['\n', '\r']))
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Decode one daemon line. `sample` and `initial_state` — the large, frequent
/// lines — are read straight into their payload when the line starts with
/// their tag (as this crate's encoder writes them): an internally tagged enum
/// would first buffer the whole document into an untyped tree, which cost the
/// connected dashboard more than half of its CPU. Anything else, or a tag
/// written elsewhere in the object, goes through the tagged enum.
pub fn decode_server(line: &[u8], max: usize) -> Result<ServerMessage, DecodeError> {
    #[derive(Deserialize)]
    struct SampleBody {
        samples: ProcessSamples,
    }
    #[derive(Deserialize)]
    struct InitialStateBody {
        version: u32,
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        host: Option<String>,
        daemon: DaemonInfo,
        history: Vec<ProcessSamples>,
    }
    if line.starts_with(br#"{"type":"sample","#) {
        let b: SampleBody = decode(line, max)?;
        return Ok(ServerMessage::Sample { samples: b.samples });
    }
    if line.starts_with(br#"{"type":"table","#) {
        let t: TableMessage = decode(line, max)?;
        return Ok(ServerMessage::Table(Box::new(t)));
    }
    if line.starts_with(br#"{"type":"initial_state","#) {
        let b: InitialStateBody = decode(line, max)?;
        return Ok(ServerMessage::InitialState {
            version: b.version,
            schema_version: b.schema_version,
            host: b.host,
            daemon: b.daemon,
            history: b.history,
        });
    }
    decode(line, max)
}

/// `initial_state` with borrowed history, so the server need not deep-copy its
/// ring buffer for every new client. Encodes exactly as
/// `ServerMessage::InitialState`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "initial_state")]
struct InitialStateRef<'a> {
    version: u32,
    schema_version: u32,
    host: &'a str,
    daemon: &'a DaemonInfo,
    history: Vec<&'a ProcessSamples>,
}

/// `sample` with a borrowed payload; encodes exactly as `ServerMessage::Sample`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "sample")]
struct SampleRef<'a> {
    samples: &'a ProcessSamples,
}

/// Encode an `initial_state` line (version = `PROTOCOL_VERSION`, with
/// `schema_version` and this machine's `host` like every CLI document) from
/// borrowed parts, history oldest first.
pub fn encode_initial_state<'a>(
    daemon: &'a DaemonInfo,
    history: impl IntoIterator<Item = &'a ProcessSamples>,
) -> Result<String, serde_json::Error> {
    encode(&InitialStateRef {
        version: PROTOCOL_VERSION,
        schema_version: crate::json::SCHEMA_VERSION,
        host: crate::sys::params::host(),
        daemon,
        history: history.into_iter().collect(),
    })
}

/// Encode a `sample` line from a borrowed `ProcessSamples`.
pub fn encode_sample(samples: &ProcessSamples) -> Result<String, serde_json::Error> {
    encode(&SampleRef { samples })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetricValue, ProcessScore};
    use proptest::prelude::*;

    fn info() -> DaemonInfo {
        DaemonInfo {
            pid: 4242,
            started_at: 1_700_000_000.25,
            sample_interval: 1.0 / 3.0,
            sample_count: 17,
            boot_time: 1_699_990_000_000,
            open_events: 2,
            last_stall: None,
            health: DaemonHealth::default(),
        }
    }

    fn samples(n: usize, t: f64) -> ProcessSamples {
        let rogues = (0..n)
            .map(|i| {
                let mut p = ProcessScore::new(
                    100 + i as u32,
                    1_700_000_000_000 + i as u64,
                    format!("proc-{i} \u{202e}evil\x1b[31m"),
                    t,
                );
                p.cpu = Some(MetricValue {
                    current: 97.5,
                    low: 1.0,
                    high: 99.0,
                });
                p.mem = Some(MetricValue::new(1.5e9));
                p.cgroup = Some("/system.slice/x.service".into());
                p.score = 80.0 - i as f64;
                p.band = Band::High;
                p.cpu_share = Some(0.9);
                p.dominant_resource = Resource::Cpu;
                p
            })
            .collect();
        ProcessSamples {
            timestamp_s: t,
            elapsed_ms: 12.5,
            process_count: 321,
            max_score: 80.0,
            rogues,
            groups: Vec::new(),
            system: None,
        }
    }

    fn notice(kind: EventKind) -> EventNotice {
        EventNotice {
            subject_kind: crate::model::SubjectKind::Process,
            group_key: None,
            members: Vec::new(),
            kind,
            event_key: 9,
            pid: 77,
            start_time: 1_700_000_000_123,
            command: "hog\nwith newline".into(),
            band: Band::Critical,
            score: 93.25,
            dominant_resource: Resource::Disk,
            at: 1_700_000_100.5,
            reason: (kind == EventKind::Closed).then(|| "recovered".to_string()),
        }
    }

    fn event_row() -> EventRow {
        EventRow {
            subject_kind: crate::model::SubjectKind::Process,
            group_key: None,
            members: Vec::new(),
            id: 3,
            pid: 77,
            start_time_ms: 1_700_000_000_123,
            command: "hog".into(),
            boot_time_ms: 1_699_990_000_000,
            entry_time_s: 1_700_000_050.0,
            exit_time_s: None,
            entry_band: Band::Elevated,
            peak_band: Band::Critical,
            peak_score: 93.25,
            peak_time_s: 1_700_000_060.0,
            dominant_resource: Resource::Memory,
            close_reason: None,
            forensics_count: 1,
        }
    }

    fn every_server_message() -> Vec<ServerMessage> {
        let mut v = vec![
            ServerMessage::InitialState {
                version: PROTOCOL_VERSION,
                schema_version: Some(crate::json::SCHEMA_VERSION),
                host: Some("box".into()),
                daemon: info(),
                history: vec![samples(0, 1.0), samples(3, 2.0)],
            },
            ServerMessage::InitialState {
                version: PROTOCOL_VERSION,
                schema_version: Some(crate::json::SCHEMA_VERSION),
                host: Some("box".into()),
                daemon: info(),
                history: vec![],
            },
            ServerMessage::Sample {
                samples: samples(5, 3.0),
            },
            ServerMessage::Events {
                events: vec![event_row()],
            },
            ServerMessage::Events { events: vec![] },
            ServerMessage::Pong,
            ServerMessage::Error {
                message: "malformed message: \"quoted\"\n".into(),
            },
            ServerMessage::Subscribed {
                full_table: true,
                max_processes: MAX_FULL_TABLE,
                compact: true,
            },
        ];
        for kind in [
            EventKind::Opened,
            EventKind::Escalated,
            EventKind::Closed,
            EventKind::Forensics,
        ] {
            v.push(ServerMessage::Event {
                event: notice(kind),
            });
        }
        v
    }

    fn every_client_message() -> Vec<ClientMessage> {
        vec![
            ClientMessage::Ping,
            ClientMessage::Subscribe {
                full_table: true,
                compact: true,
            },
            ClientMessage::GetEvents {
                limit: None,
                open_only: false,
            },
            ClientMessage::GetEvents {
                limit: Some(50),
                open_only: true,
            },
        ]
    }

    /// `line` as a protocol-1 daemon wrote it: the names before times
    /// carried their unit, no envelope in `initial_state`.
    fn as_version_1(line: &str) -> String {
        let mut old = line.replace(
            &format!(
                "\"version\":{PROTOCOL_VERSION},\"schema_version\":{},\"host\":{},",
                crate::json::SCHEMA_VERSION,
                serde_json::to_string(crate::sys::params::host()).unwrap()
            ),
            "\"version\":1,",
        );
        for (new, was) in [
            ("timestamp_s", "timestamp"),
            ("captured_at_s", "captured_at"),
            ("start_time_ms", "start_time"),
            ("boot_time_ms", "boot_time"),
            ("entry_time_s", "entry_time"),
            ("exit_time_s", "exit_time"),
            ("peak_time_s", "peak_time"),
            ("started_at_s", "started_at"),
            ("sample_interval_s", "sample_interval"),
            ("at_s", "at"),
            ("start_s", "start"),
            ("end_s", "end"),
            ("duration_s", "duration_seconds"),
            ("suspended_s", "suspended_seconds"),
            ("cpu_s", "cpu_seconds"),
            ("run_delay_s", "run_delay_seconds"),
            ("blocked_s", "blocked_seconds"),
        ] {
            old = old.replace(&format!("\"{new}\":"), &format!("\"{was}\":"));
        }
        old
    }

    #[test]
    fn a_version_1_daemon_s_messages_still_decode() {
        let party = crate::model::StallParty {
            pid: 9,
            start_time_ms: 1_699_990_000_500,
            command: "dd".into(),
            cpu_s: Some(0.5),
            disk_bytes: None,
            resident_growth_bytes: None,
            major_faults: None,
            run_delay_s: Some(0.25),
            blocked_s: Some(2.0),
        };
        let stall = Stall {
            kind: crate::model::StallKind::Scheduling,
            start_s: 1_700_000_100.5,
            end_s: Some(1_700_000_103.5),
            duration_s: 3.0,
            suspended_s: 0.0,
            cause: None,
            pressure_kind: None,
            peak_pressure_pct: None,
            window_pressure_pct: None,
            verdict: "v".into(),
            holders: vec![party.clone()],
            victims: vec![party],
            pid: None,
            command: None,
        };
        let mut with_stall = info();
        with_stall.last_stall = Some(Box::new(stall.clone()));
        let history = vec![samples(2, 1.0)];
        let mut lines = vec![(
            encode_initial_state(&with_stall, history.iter()).unwrap(),
            ServerMessage::InitialState {
                version: 1,
                schema_version: None,
                host: None,
                daemon: with_stall.clone(),
                history: history.clone(),
            },
        )];
        let mut others: Vec<ServerMessage> = every_server_message()
            .into_iter()
            .filter(|m| !matches!(m, ServerMessage::InitialState { .. }))
            .collect();
        others.push(ServerMessage::Stall { stall });
        for m in others {
            lines.push((encode(&m).unwrap(), m));
        }
        for (line, want) in lines {
            let old = as_version_1(&line);
            for new in [
                "timestamp_s",
                "start_time_ms",
                "boot_time_ms",
                "at_s",
                "start_s",
                "cpu_s",
            ] {
                assert!(!old.contains(&format!("\"{new}\":")), "{new} in {old}");
            }
            let fast = decode_server(old.as_bytes(), MAX_SERVER_LINE).unwrap();
            assert_eq!(fast, want, "{old}");
            let generic: ServerMessage = decode(old.as_bytes(), MAX_SERVER_LINE).unwrap();
            assert_eq!(generic, want, "{old}");
        }
    }

    #[test]
    fn every_message_round_trips_as_one_line() {
        for msg in every_server_message() {
            let line = encode(&msg).unwrap();
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
            let back: ServerMessage = decode(line.as_bytes(), MAX_SERVER_LINE).unwrap();
            assert_eq!(back, msg);
        }
        for msg in every_client_message() {
            let line = encode(&msg).unwrap();
            assert_eq!(line.matches('\n').count(), 1);
            let back: ClientMessage = decode(line.as_bytes(), MAX_CLIENT_LINE).unwrap();
            assert_eq!(back, msg);
        }
    }

    #[test]
    fn the_fast_decoder_agrees_with_the_tagged_enum() {
        for msg in every_server_message() {
            let line = encode(&msg).unwrap();
            assert_eq!(
                decode_server(line.as_bytes(), MAX_SERVER_LINE).unwrap(),
                msg
            );
        }
        // The tag elsewhere in the object takes the generic path.
        let moved = r#"{"samples":{"timestamp":1.0,"processes":[]},"type":"sample"}"#;
        assert_eq!(
            decode_server(moved.as_bytes(), MAX_SERVER_LINE).map_err(|e| e.to_string()),
            decode::<ServerMessage>(moved.as_bytes(), MAX_SERVER_LINE).map_err(|e| e.to_string())
        );
        // A fast-path line that is malformed is still an error, not a panic.
        assert!(decode_server(br#"{"type":"sample","samples":7}"#, MAX_SERVER_LINE).is_err());
        assert!(matches!(
            decode_server(&[b' '; 64], 8),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn wire_names_are_snake_case_types() {
        let json = |m: &ServerMessage| serde_json::to_value(m).unwrap();
        let all = every_server_message();
        let types: Vec<String> = all
            .iter()
            .map(|m| json(m)["type"].as_str().unwrap().to_string())
            .collect();
        for t in [
            "initial_state",
            "sample",
            "events",
            "pong",
            "error",
            "event",
        ] {
            assert!(types.iter().any(|x| x == t), "{t} missing");
        }
        assert_eq!(json(&all[0])["version"], PROTOCOL_VERSION);
        assert_eq!(
            encode(&ClientMessage::Ping).unwrap(),
            "{\"type\":\"ping\"}\n"
        );
    }

    #[test]
    fn borrowed_encoders_match_the_owned_messages() {
        let history = vec![samples(2, 1.0), samples(4, 2.0)];
        let line = encode_initial_state(&info(), history.iter()).unwrap();
        let owned = encode(&ServerMessage::InitialState {
            version: PROTOCOL_VERSION,
            schema_version: Some(crate::json::SCHEMA_VERSION),
            host: Some(crate::sys::params::host().to_string()),
            daemon: info(),
            history: history.clone(),
        })
        .unwrap();
        assert_eq!(line, owned);

        let s = samples(3, 5.0);
        let line = encode_sample(&s).unwrap();
        assert_eq!(
            line,
            encode(&ServerMessage::Sample { samples: s.clone() }).unwrap()
        );
        let back: ServerMessage = decode(line.as_bytes(), MAX_SERVER_LINE).unwrap();
        assert_eq!(back, ServerMessage::Sample { samples: s });
    }

    #[test]
    fn subscribe_defaults_to_the_top_n() {
        let m: ClientMessage = decode(br#"{"type":"subscribe"}"#, MAX_CLIENT_LINE).unwrap();
        assert_eq!(
            m,
            ClientMessage::Subscribe {
                full_table: false,
                compact: false
            }
        );
    }

    #[test]
    fn get_events_fields_default() {
        let m: ClientMessage = decode(br#"{"type":"get_events"}"#, MAX_CLIENT_LINE).unwrap();
        assert_eq!(
            m,
            ClientMessage::GetEvents {
                limit: None,
                open_only: false
            }
        );
    }

    /// Decision: unknown extra fields are ignored, so a newer client may add
    /// optional fields without breaking an older daemon. Unknown `type`s are not.
    #[test]
    fn extra_fields_are_ignored() {
        let m: ClientMessage = decode(br#"{"type":"ping","x":1}"#, MAX_CLIENT_LINE).unwrap();
        assert_eq!(m, ClientMessage::Ping);
        let m: ClientMessage = decode(
            br#"{"x":[1,2],"type":"get_events","limit":3,"future":{}}"#,
            MAX_CLIENT_LINE,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::GetEvents {
                limit: Some(3),
                open_only: false
            }
        );
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        let bad: &[&[u8]] = &[
            br#"{"type":"nope"}"#,
            br#"{"type":42}"#,
            br#"{"type":null}"#,
            br#"{"type":"PING"}"#,
            br#"{"Type":"ping"}"#,
            br#"{}"#,
            b"[]",
            b"null",
            b"42",
            br#""ping""#,
            b"",
            b"   ",
            br#"{"type":"ping"} {"type":"ping"}"#,
            br#"{"type":"get_events","limit":-1}"#,
            br#"{"type":"get_events","limit":"ten"}"#,
            br#"{"type":"get_events","open_only":"yes"}"#,
            br#"{"type":"get_events","limit":1e400}"#,
            br#"{"type":"pong"}"#,
        ];
        for line in bad {
            let r = decode::<ClientMessage>(line, MAX_CLIENT_LINE);
            assert!(
                matches!(r, Err(DecodeError::Malformed(_))),
                "{:?} -> {r:?}",
                String::from_utf8_lossy(line)
            );
        }
        // A client message is not a server message and vice versa.
        assert!(decode::<ServerMessage>(br#"{"type":"ping"}"#, MAX_SERVER_LINE).is_err());
        assert!(
            decode::<ServerMessage>(br#"{"type":"sample","samples":{}}"#, MAX_SERVER_LINE).is_err()
        );
    }

    #[test]
    fn non_utf8_is_reported_as_such() {
        assert_eq!(
            decode::<ClientMessage>(b"{\"type\":\"ping\xff\"}", MAX_CLIENT_LINE),
            Err(DecodeError::NotUtf8)
        );
    }

    #[test]
    fn huge_line_is_too_long_before_parsing() {
        let mut line = br#"{"type":"ping","pad":""#.to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_CLIENT_LINE));
        line.extend(br#""}"#);
        assert_eq!(
            decode::<ClientMessage>(&line, MAX_CLIENT_LINE),
            Err(DecodeError::TooLong {
                len: line.len(),
                max: MAX_CLIENT_LINE
            })
        );
        // Even when the bytes are not UTF-8: the length check comes first.
        let junk = vec![0xffu8; MAX_CLIENT_LINE + 1];
        assert!(matches!(
            decode::<ClientMessage>(&junk, MAX_CLIENT_LINE),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_real_message_is_an_error_not_a_panic() {
        for msg in every_server_message() {
            let line = encode(&msg).unwrap();
            let body = line.trim_end().as_bytes();
            for cut in 0..body.len() {
                let r = decode::<ServerMessage>(&body[..cut], MAX_SERVER_LINE);
                assert!(r.is_err(), "prefix of {cut} bytes decoded: {r:?}");
            }
        }
        for msg in every_client_message() {
            let line = encode(&msg).unwrap();
            let body = line.trim_end().as_bytes();
            for cut in 0..body.len() {
                assert!(decode::<ClientMessage>(&body[..cut], MAX_CLIENT_LINE).is_err());
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<ClientMessage>(&bytes, MAX_CLIENT_LINE);
            let _ = decode::<ServerMessage>(&bytes, MAX_SERVER_LINE);
            // A tiny cap must be honoured whatever the bytes are.
            let r = decode::<ClientMessage>(&bytes, 8);
            if bytes.len() > 8 {
                prop_assert!(
                    matches!(r, Err(DecodeError::TooLong { .. })),
                    "expected TooLong, got {:?}",
                    r
                );
            }
        }

        #[test]
        fn random_json_ish_text_never_panics(text in r#"[\{\}\[\]":,a-z0-9 \-\.eE_]{0,200}"#) {
            let _ = decode::<ClientMessage>(text.as_bytes(), MAX_CLIENT_LINE);
            let _ = decode::<ServerMessage>(text.as_bytes(), MAX_SERVER_LINE);
        }

        #[test]
        fn mutated_real_messages_never_panic(
            which in 0usize..11,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let all = every_server_message();
            let mut bytes = encode(&all[which % all.len()]).unwrap().into_bytes();
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = decode::<ServerMessage>(&bytes, MAX_SERVER_LINE);
            let _ = decode::<ClientMessage>(&bytes, MAX_CLIENT_LINE);
        }

        #[test]
        fn get_events_round_trips(limit in proptest::option::of(0usize..1_000_000), open_only in any::<bool>()) {
            let msg = ClientMessage::GetEvents { limit, open_only };
            let line = encode(&msg).unwrap();
            prop_assert_eq!(decode::<ClientMessage>(line.as_bytes(), MAX_CLIENT_LINE).unwrap(), msg);
        }
    }
}
