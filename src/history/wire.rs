//! The block encoding's primitives: LEB128 varints, zigzag, fixed-point
//! numbers, little-endian floats, the per-block string table and a bounds-
//! checked reader that turns every malformed input into a `DecodeError`.

use std::collections::HashMap;

/// Why a block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown encoding version {0}")]
    Version(i64),
    #[error("cannot decompress: {0}")]
    Decompress(String),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("invalid data at byte {at}: {what}")]
    Invalid { at: usize, what: &'static str },
}

pub(crate) fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn zz(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzz(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_f32(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&(v as f32).to_le_bytes());
}

/// `v` in units of `1/scale`, rounded (saturating at the ends of `i64`).
pub(crate) fn fixed(v: f64, scale: f64) -> i64 {
    (v * scale).round() as i64
}

/// The number `fixed` stands for.
pub(crate) fn unfixed(n: i64, scale: f64) -> f64 {
    n as f64 / scale
}

/// What survives `fixed` then `unfixed`.
pub(crate) fn quantize_fixed(v: f64, scale: f64) -> f64 {
    unfixed(fixed(v, scale), scale)
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.invalid("varint too long"))
    }
    pub(crate) fn var_usize(
        &mut self,
        limit: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let v = self.var()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= limit)
            .ok_or(self.invalid(what))
    }
    pub(crate) fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
    pub(crate) fn f32(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(f64::from(f32::from_le_bytes(a)))
    }
    pub(crate) fn invalid(&self, what: &'static str) -> DecodeError {
        DecodeError::Invalid { at: self.at, what }
    }
    /// A string of `table` by its index.
    pub(crate) fn string(&mut self, table: &[String]) -> Result<String, DecodeError> {
        let i = self.var_usize(usize::MAX, "string index")?;
        table
            .get(i)
            .cloned()
            .ok_or(self.invalid("string index out of range"))
    }
}

/// Strings of one block, each stored once.
#[derive(Default)]
pub(crate) struct Strings {
    index: HashMap<String, u64>,
    pub(crate) list: Vec<String>,
}

impl Strings {
    pub(crate) fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u64;
        self.index.insert(s.to_string(), i);
        self.list.push(s.to_string());
        i
    }
}
