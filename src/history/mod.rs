//! Continuous history: every second's top processes (and the machine series
//! and groups when the sample has them) recorded in compressed blocks, and
//! the times people type to look back at them.
//!
//! Pure core: `cursor` (where a replay stands and how keys move it),
//! `encode` (the block format; `machine` its machine-series and group
//! sections, `wire` the varints, fixed-point numbers and string table),
//! `recorder` (what a second records, when a block is written), `timespec`
//! (parsing `3h ago`, `03:00`, RFC 3339). The daemon hands the frames to the
//! storage writer, which encodes them; the CLI reads them back.

pub mod cursor;
pub mod encode;
pub mod machine;
pub mod recorder;
pub mod timespec;
pub(crate) mod wire;

pub use encode::{DecodeError, ENCODING_VERSION, Frame, decode_block, encode_block, quantize};
pub use recorder::{BLOCK_SECONDS, BlockWrite, Recorder, UPSERT_SECONDS};
pub use timespec::{TimeSpec, parse_span, parse_time};
#[cfg(test)]
pub(crate) mod fixture;
