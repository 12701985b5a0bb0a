//! What `events` and `events show` read from storage, as plain structs for the
//! renderer: the event list, and one event with its snapshots and (on request)
//! its forensic captures.

use crate::forensics::Culprit;
use crate::model::{CaptureRow, CaptureStatus, EventRow, LogRecord, SnapshotRow, ThreadRecord};
use crate::model::{EventMember, ProcessSamples};
use crate::storage::{EventFilter, StorageError, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;

/// The events matching `filter`, newest first. No database yet means nothing
/// recorded yet, not a failure: an empty list.
pub(crate) fn list(db: &Path, filter: &EventFilter) -> Result<Vec<EventRow>, StorageError> {
    match Store::open_read_only(db) {
        Ok(store) => store.list_events(filter),
        Err(StorageError::Missing { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// One event as `events show` prints it.
#[derive(Debug)]
pub(crate) struct EventDetail {
    pub(crate) event: EventRow,
    pub(crate) snapshots: Vec<SnapshotRow>,
    /// Its captures; `None` when they were not asked for.
    pub(crate) forensics: Option<Vec<ForensicView>>,
}

/// Event `id` with its snapshots, and its captures when `forensics`; `None`
/// when there is no such event.
pub(crate) fn detail(
    db: &Path,
    id: i64,
    forensics: bool,
) -> Result<Option<EventDetail>, StorageError> {
    let store = Store::open_read_only(db)?;
    let Some((event, snapshots)) = store.event_detail(id)? else {
        return Ok(None);
    };
    let forensics = if forensics {
        Some(forensic_views(&store, id)?)
    } else {
        None
    };
    Ok(Some(EventDetail {
        event,
        snapshots,
        forensics,
    }))
}

/// One capture as `events show --forensics --json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct ForensicView {
    pub(crate) id: i64,
    /// Unix seconds.
    #[serde(rename = "captured_at_s")]
    pub(crate) captured_at: f64,
    pub(crate) trigger: String,
    pub(crate) status: CaptureStatus,
    pub(crate) duration_ms: Option<f64>,
    /// Why the capture is not complete ("source: status (detail); ...").
    pub(crate) error: Option<String>,
    /// Per source: `{status, detail, bytes}`.
    pub(crate) sources: serde_json::Value,
    pub(crate) threads: Vec<ThreadRecord>,
    /// resource → kind (`some`/`full`) → `{avg10, avg60, avg300, total_us}`.
    pub(crate) pressure: BTreeMap<String, BTreeMap<String, PressureValues>>,
    pub(crate) logs: Vec<LogRecord>,
    /// Named snapshots: loadavg, meminfo, vmstat_delta, process.*, spindump.*.
    pub(crate) system: BTreeMap<String, serde_json::Value>,
    pub(crate) buffer_context: Option<BufferView>,
    pub(crate) culprits: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub(crate) struct PressureValues {
    pub(crate) avg10: Option<f64>,
    pub(crate) avg60: Option<f64>,
    pub(crate) avg300: Option<f64>,
    /// Microseconds stalled since boot.
    #[serde(rename = "total_us")]
    pub(crate) total: Option<u64>,
}

/// The frozen ring buffer of a capture.
#[derive(Debug, Serialize)]
pub(crate) struct BufferView {
    pub(crate) id: i64,
    pub(crate) samples: usize,
    /// Unix seconds of the oldest and newest sample.
    #[serde(rename = "from_s")]
    pub(crate) from: Option<f64>,
    #[serde(rename = "to_s")]
    pub(crate) to: Option<f64>,
    pub(crate) frozen: Vec<ProcessSamples>,
}

/// Every capture of an event, with what it gathered.
pub(crate) fn forensic_views(
    store: &Store,
    event_id: i64,
) -> Result<Vec<ForensicView>, StorageError> {
    views_of(store, store.captures(event_id)?)
}

/// These captures (of an event or a stall), with what each gathered.
pub(crate) fn views_of(
    store: &Store,
    captures: Vec<CaptureRow>,
) -> Result<Vec<ForensicView>, StorageError> {
    let mut views = Vec::new();
    for c in captures {
        let data = store.capture_data(c.id)?;
        let ctx = store.buffer_context(c.id)?;
        let mut pressure: BTreeMap<String, BTreeMap<String, PressureValues>> = BTreeMap::new();
        for p in data.pressure {
            pressure.entry(p.resource).or_default().insert(
                p.kind,
                PressureValues {
                    avg10: p.avg10,
                    avg60: p.avg60,
                    avg300: p.avg300,
                    total: p.total,
                },
            );
        }
        let (culprits, buffer_context) = match ctx {
            Some(b) => (
                b.culprits
                    .map_or_else(|| serde_json::json!([]), renamed::<Vec<Culprit>>),
                Some(BufferView {
                    id: b.id,
                    samples: b.frozen.len(),
                    from: b.frozen.first().map(|s| s.timestamp_s),
                    to: b.frozen.last().map(|s| s.timestamp_s),
                    frozen: b.frozen,
                }),
            ),
            None => (serde_json::json!([]), None),
        };
        views.push(ForensicView {
            id: c.id,
            captured_at: c.captured_at_s,
            trigger: c.trigger,
            status: c.status,
            duration_ms: c.duration_ms,
            error: c.error,
            sources: c.sources.unwrap_or_else(|| serde_json::json!({})),
            threads: data.threads,
            pressure,
            logs: data.logs,
            system: current_group_names(data.system),
            buffer_context,
            culprits,
        });
    }
    Ok(views)
}

/// A stored JSON value (kept as a generic value, not a typed column) with
/// this build's field names: decoded as `T`, whose serde aliases read the
/// names older captures used (`start_time` for `start_time_ms`), and encoded
/// again. A value that does not decode is shown as stored.
fn renamed<T: Serialize + DeserializeOwned>(value: serde_json::Value) -> serde_json::Value {
    serde_json::from_value::<T>(value.clone())
        .ok()
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(value)
}

/// The `group` snapshot's members under this build's field names.
fn current_group_names(
    mut system: BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, serde_json::Value> {
    if let Some(members) = system.get_mut("group").and_then(|g| g.get_mut("members")) {
        *members = renamed::<Vec<EventMember>>(members.take());
    }
    system
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_capture_values_read_with_current_names() {
        let culprits = serde_json::json!([{"command": "x", "led_fraction": 1.0,
            "mean_share": 50.0, "peak_share": 60.0, "pid": 7, "resource": "cpu",
            "samples": 3, "start_time": 1_700_000_000_000_u64}]);
        let now = renamed::<Vec<Culprit>>(culprits);
        assert_eq!(now[0]["start_time_ms"], 1_700_000_000_000_u64);
        assert!(now[0].get("start_time").is_none());

        let system = BTreeMap::from([(
            "group".to_string(),
            serde_json::json!({"kind": "tree", "members":
                [{"pid": 7, "start_time": 5, "command": "x", "score": 1.0}]}),
        )]);
        let now = current_group_names(system);
        assert_eq!(now["group"]["members"][0]["start_time_ms"], 5);
        assert_eq!(now["group"]["kind"], "tree");

        // Not what it should be: shown as stored.
        let odd = serde_json::json!([{"pid": "seven"}]);
        assert_eq!(renamed::<Vec<Culprit>>(odd.clone()), odd);
    }
}
