//! The script contract of every `--json` output (docs/json.md, "Framing"):
//!
//! - a command that answers once prints **one document**: one compact JSON
//!   object on one line, then a newline;
//! - a command that repeats (`sample --count N`) prints **NDJSON**: one such
//!   object per line, one line per sample;
//! - every top-level object starts with `schema_version` and `host`; a list
//!   is an object too, with the items under one named key (`events`,
//!   `stalls`, `samples`, `snapshots`), so the metadata has a place.
//!
//! The body's own fields follow the metadata unchanged (serde `flatten`), so
//! a field another part adds to a type shows up here without a change.

use super::{CliError, out};
use serde::Serialize;
use std::collections::BTreeMap;

pub(crate) use crate::json::SCHEMA_VERSION;

/// This machine's name, read once.
pub(crate) fn host() -> &'static str {
    crate::sys::params::host()
}

#[derive(Serialize)]
struct Envelope<'a, T: ?Sized> {
    schema_version: u32,
    host: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` (a struct or map) after `schema_version` and `host`, as one compact
/// line with its newline.
pub(crate) fn line<T: Serialize + ?Sized>(body: &T) -> Result<String, serde_json::Error> {
    let text = crate::json::to_string(&Envelope {
        schema_version: SCHEMA_VERSION,
        host: host(),
        body,
    })?;
    Ok(format!("{text}\n"))
}

/// `items` under `key`, after `schema_version` and `host`, as one line.
pub(crate) fn list_line<T: Serialize>(key: &str, items: &[T]) -> Result<String, serde_json::Error> {
    line(&BTreeMap::from([(key, items)]))
}

/// Print one document (or one NDJSON line) on stdout; `what` names it in an
/// encoding error.
pub(crate) fn print<T: Serialize + ?Sized>(what: &str, body: &T) -> Result<(), CliError> {
    let text =
        line(body).map_err(|e| CliError::runtime(format!("cannot encode {what} as JSON: {e}")))?;
    out(&text)
}

/// Print a list document on stdout.
pub(crate) fn print_list<T: Serialize>(key: &str, items: &[T]) -> Result<(), CliError> {
    let text = list_line(key, items)
        .map_err(|e| CliError::runtime(format!("cannot encode {key} as JSON: {e}")))?;
    out(&text)
}

/// Keep only `fields` of a JSON object, for `--fields` (JSON object keys come
/// out alphabetical; tables keep the order asked). Names not in the object
/// are the caller's to refuse.
pub(crate) fn select(value: serde_json::Value, fields: &[String]) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut map) => {
            let mut kept = serde_json::Map::new();
            for f in fields {
                if let Some(v) = map.remove(f) {
                    kept.insert(f.clone(), v);
                }
            }
            serde_json::Value::Object(kept)
        }
        other => other,
    }
}

/// Parse `--fields a,b,c` against the names a command knows; an unknown name
/// is a usage error that lists the known ones.
pub(crate) fn parse_fields(text: &str, known: &[&str]) -> Result<Vec<String>, CliError> {
    let mut fields = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !known.contains(&name) {
            return Err(CliError::usage(format!(
                "--fields: unknown field `{}` (known: {})",
                crate::format::escape(name),
                known.join(", ")
            )));
        }
        if !fields.iter().any(|f| f == name) {
            fields.push(name.to_string());
        }
    }
    if fields.is_empty() {
        return Err(CliError::usage(format!(
            "--fields needs at least one field name (known: {})",
            known.join(", ")
        )));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Body {
        a: u32,
        b: Option<f64>,
    }

    #[test]
    fn a_document_is_one_line_with_the_metadata_first() {
        let text = line(&Body { a: 1, b: None }).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text}"
        );
        assert!(
            text.starts_with(&format!("{{\"schema_version\":{SCHEMA_VERSION},\"host\":")),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["a"], 1);
        assert!(v["b"].is_null());
        assert_eq!(v["host"], host());
    }

    #[test]
    fn a_list_has_its_items_under_a_key() {
        let text = list_line("events", &[Body { a: 2, b: Some(0.5) }]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["events"][0]["a"], 2);
        let empty = list_line::<Body>("events", &[]).unwrap();
        assert!(empty.contains("\"events\":[]"), "{empty}");
    }

    #[test]
    fn fields_are_checked_deduplicated_and_kept_in_the_order_asked() {
        let known = ["id", "pid", "status"];
        assert_eq!(
            parse_fields("status, id,status", &known).unwrap(),
            ["status", "id"]
        );
        let e = parse_fields("id,bogus", &known).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("`bogus`") && e.message.contains("id, pid, status"));
        assert_eq!(parse_fields(",", &known).unwrap_err().code, 2);
        let v = select(
            serde_json::json!({"id": 1, "pid": 2, "status": "open"}),
            &["status".into(), "id".into()],
        );
        assert_eq!(v, serde_json::json!({"id": 1, "status": "open"}));
    }
}
