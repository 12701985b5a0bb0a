//! JSON for every output (CLI `--json`, the live stream, the daemon's log):
//! serde_json with one change, a `Formatter` that also escapes (as `\u`
//! and four hex digits) the characters standard JSON leaves raw but a terminal or an editor acts
//! on: DEL, the C1 controls, the bidirectional controls and the line/paragraph
//! separators. The document stays valid JSON with the same values; a consumer
//! that prints a string still has to escape it for its own medium.

use serde::Serialize;

/// Version of the JSON schemas (docs/schema/): the `schema_version` every CLI
/// document and the live stream's `initial_state` carry. Bumped on an
/// incompatible change; new fields do not bump it. 2: every numeric time
/// names its unit (`timestamp_s`, `start_time_ms`, ...).
pub const SCHEMA_VERSION: u32 = 2;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
use std::io::{self, Write};

/// Characters written as `\u` and four hex digits on top of what JSON requires.
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}'
            | '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

fn write_escaped<W: ?Sized + Write>(w: &mut W, fragment: &str) -> io::Result<()> {
    // Everything `needs_escape` matches is U+007F or above: ASCII below DEL
    // (nearly every string the product writes) goes out whole.
    if fragment.bytes().all(|b| b < 0x7f) {
        return w.write_all(fragment.as_bytes());
    }
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        if needs_escape(c) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            start = i + c.len_utf8();
        }
    }
    w.write_all(&fragment.as_bytes()[start..])
}

/// A serde_json `Formatter` (compact or pretty) that escapes `needs_escape`
/// characters inside strings.
pub struct SafeFormatter<F>(pub F);

macro_rules! delegate {
    ($($name:ident),* $(,)?) => {
        $(fn $name<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            self.0.$name(w)
        })*
    };
}

macro_rules! delegate_first {
    ($($name:ident),* $(,)?) => {
        $(fn $name<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
            self.0.$name(w, first)
        })*
    };
}

impl<F: Formatter> Formatter for SafeFormatter<F> {
    delegate!(
        begin_array,
        end_array,
        end_array_value,
        begin_object,
        end_object,
        end_object_key,
        begin_object_value,
        end_object_value,
    );
    delegate_first!(begin_array_value, begin_object_key);

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_escaped(w, fragment)
    }
}

fn to_string_with<T: Serialize + ?Sized, F: Formatter>(
    value: &T,
    formatter: F,
) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeFormatter(formatter));
    value.serialize(&mut ser)?;
    // serde_json writes only UTF-8.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Compact JSON (one line), like `serde_json::to_string`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_string_with(value, CompactFormatter)
}

/// Pretty JSON (2-space indent), like `serde_json::to_string_pretty`.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_string_with(value, PrettyFormatter::new())
}

/// Escape `needs_escape` characters in text that is already JSON (outside
/// strings JSON is ASCII, so only string contents change). For JSON written by
/// code that does not take a formatter (the log's JSON layer).
pub fn escape_document(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    // Writing to a Vec cannot fail.
    let _ = write_escaped(&mut out, text);
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// An `io::Write` that passes JSON Lines through `escape_document`. Each
/// `write` is expected to hold whole characters (tracing writes whole events).
pub struct SafeWriter<W>(pub W);

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => {
                self.0.write_all(escape_document(text).as_bytes())?;
                Ok(buf.len())
            }
            Err(_) => self.0.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\u{202e}b\u{2066}c\u{2069}d\u{85}e\u{9b}f\u{7f}g\u{1b}h\"é";

    #[test]
    fn bidi_and_c1_controls_are_escaped_and_values_kept() {
        for text in [
            to_string(&vec![HOSTILE]).unwrap(),
            to_string_pretty(&serde_json::json!({ "k": HOSTILE })).unwrap(),
            escape_document(&serde_json::to_string(HOSTILE).unwrap()).into_owned(),
        ] {
            assert!(
                !text
                    .chars()
                    .any(|c| needs_escape(c) || c.is_control() && c != '\n')
            );
            assert!(text.contains("\\u202e") && text.contains("\\u0085") && text.contains("é"));
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            let s = back
                .as_str()
                .or_else(|| back[0].as_str())
                .or_else(|| back["k"].as_str());
            assert_eq!(s, Some(HOSTILE));
        }
        assert_eq!(
            to_string_pretty(&serde_json::json!({"a": [1]})).unwrap(),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1]})).unwrap()
        );
    }

    #[test]
    fn safe_writer_escapes_whole_lines() {
        let mut w = SafeWriter(Vec::new());
        w.write_all(b"{\"m\":\"x\xe2\x80\xae\"}\n").unwrap();
        assert_eq!(w.0, b"{\"m\":\"x\\u202e\"}\n");
    }
}
