//! Parser for the macOS unified log as `log show --style ndjson` prints it (one
//! JSON object a line), and the constant predicate the capture passes to it.
//! Pure and compiled everywhere; lines that are not log objects are counted.

use super::timefmt::parse_timestamp;
use crate::model::LogRecord;

/// The `log show --predicate`: power management, kernel and window server,
/// plus anything mentioning a hang, stall or timeout. A constant: nothing
/// from a process (name, path) is ever spliced into it.
pub(crate) const PREDICATE: &str = "subsystem == \"com.apple.powerd\" \
    OR subsystem == \"com.apple.kernel\" \
    OR subsystem BEGINSWITH \"com.apple.WindowServer\" \
    OR subsystem BEGINSWITH \"com.apple.SkyLight\" \
    OR process == \"kernel\" \
    OR process == \"WindowServer\" \
    OR eventMessage CONTAINS[c] \"hang\" \
    OR eventMessage CONTAINS[c] \"stall\" \
    OR eventMessage CONTAINS[c] \"timeout\"";

/// Characters of one message kept.
pub(crate) const MESSAGE_CAP: usize = 4096;

/// Parsed log lines plus the count of lines that were not log objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParsedOsLog {
    pub(crate) records: Vec<LogRecord>,
    pub(crate) unknown_lines: usize,
}

/// `messageType` → syslog priority.
pub(crate) fn message_type_priority(kind: &str) -> Option<u8> {
    Some(match kind {
        "Fault" => 2,
        "Error" => 3,
        "Default" => 5,
        "Info" => 6,
        "Debug" => 7,
        _ => return None,
    })
}

fn cap(text: &str) -> String {
    crate::format::cap_bytes(text, MESSAGE_CAP)
}

/// Parse `log show --style ndjson` output.
pub(crate) fn parse_ndjson(text: &str) -> ParsedOsLog {
    let mut out = ParsedOsLog::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() && v.get("eventMessage").is_some() => v,
            _ => {
                out.unknown_lines += 1;
                continue;
            }
        };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
        let process = s("processImagePath").map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        out.records.push(LogRecord {
            source: "oslog".into(),
            ts: s("timestamp").and_then(parse_timestamp),
            priority: s("messageType").and_then(message_type_priority),
            unit: match (s("subsystem"), s("category")) {
                (Some(sub), Some(cat)) => Some(format!("{sub}:{cat}")),
                (Some(sub), None) => Some(sub.to_string()),
                _ => None,
            },
            process,
            pid: v
                .get("processID")
                .and_then(|p| p.as_u64())
                .and_then(|p| u32::try_from(p).ok()),
            message: cap(s("eventMessage").unwrap_or("")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NDJSON: &str = include_str!("fixtures/oslog.ndjson");

    #[test]
    fn parses_every_field_of_interest() {
        let p = parse_ndjson(NDJSON);
        assert_eq!(p.records.len(), 5);
        // The "Filtering ..." banner and a JSON array are not log objects.
        assert_eq!(p.unknown_lines, 2);
        let r = &p.records[0];
        assert_eq!(r.source, "oslog");
        assert_eq!(r.message, "Sleep/Wake hang detected");
        assert_eq!(r.unit.as_deref(), Some("com.apple.powerd:sleepWake"));
        assert_eq!(r.process.as_deref(), Some("powerd"));
        assert_eq!(r.pid, Some(101));
        assert_eq!(r.priority, Some(3));
        assert_eq!(r.ts, parse_timestamp("2025-12-01T18:44:12.5Z"));
        let k = &p.records[1];
        assert_eq!(k.process.as_deref(), Some("kernel"));
        assert_eq!(k.unit, None, "empty subsystem is no unit");
        assert_eq!(k.priority, Some(5));
        assert!(
            k.message.contains('\u{1b}'),
            "kept raw; escaped when printed"
        );
        assert_eq!(p.records[2].priority, Some(2));
        assert_eq!(
            p.records[2].unit.as_deref(),
            Some("com.apple.WindowServer:hang")
        );
        assert_eq!(p.records[3].priority, Some(6));
        assert_eq!(p.records[3].pid, Some(5));
        let d = &p.records[4];
        assert_eq!((d.priority, d.ts, d.pid), (Some(7), None, None));
    }

    #[test]
    fn predicate_is_constant_text() {
        assert!(PREDICATE.contains("com.apple.powerd"));
        assert!(!PREDICATE.contains('$') && !PREDICATE.contains('`'));
    }
}
