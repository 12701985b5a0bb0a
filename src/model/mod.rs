//! The canonical schema: every domain type the rest of the crate produces,
//! stores, sends or draws.
//!
//! Pure data. Nobody invents a second shape of process, event or capture data:
//! the platform's raw counters become `ProcessScore`s in `collect`, the tracker
//! turns them into events, storage writes and reads exactly these shapes, and
//! the CLI, the live stream and the dashboard show them. A metric the platform
//! cannot measure is `None` (`null` in JSON), never a fake zero. Field names
//! carry their unit (`_ms`, `_s`, `_ns`, `_bytes`); the JSON names are a
//! contract (docs/json.md) and stay as they were.

mod capture;
mod event;
mod group;
mod process;
mod stall;
mod system;

pub use capture::{
    CaptureData, CaptureOwner, FrameRecord, LogRecord, PressureRecord, SourceOutcome, SourceStatus,
    Sources, ThreadRecord, io_status,
};
pub use event::{
    CaptureRow, CaptureStatus, CloseReason, EventMember, EventRow, GroupSubject, SnapshotRow,
    SnapshotType, SubjectKind,
};
pub use group::{GroupKind, GroupMetrics, GroupScore};
pub use process::{
    Band, METRIC_COUNT, METRICS, MetricInfo, MetricValue, ProcessKey, ProcessSamples, ProcessScore,
    ProcessState, Resource, Unit, metric,
};
pub use stall::{Stall, StallCause, StallKind, StallParty, StallRow};
pub use system::{
    CpuPercent, DiskRates, LoadSample, MemorySample, NetRates, PressureSample, PsiSample,
    StressCause, SystemSample,
};

/// Declares a wire enum: serde and strum derives that agree (snake_case
/// names), plus `as_str` and `ALL` (through `named_enum!`). Extra derives
/// (`Default`, `PartialOrd`, `Ord`) go in a `#[derive]` before `pub enum`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            strum::EnumString,
            strum::Display,
            strum::IntoStaticStr,
            strum::VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        $crate::model::named_enum!($name);
    };
}
pub(crate) use wire_enum;

/// Gives enums that derive strum's `IntoStaticStr` and `VariantArray` an
/// inherent `as_str` (the wire name, as serde writes it) and `ALL` (every
/// variant, in declaration order). `FromStr` and `Display` come from strum's
/// derives; `tests::enum_names_agree_with_serde` keeps all of them equal to serde.
macro_rules! named_enum {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$t] = <$t as strum::VariantArray>::VARIANTS;

            /// The wire name (the same string serde writes).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    )*};
}
pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Serialize, de::DeserializeOwned};
    use std::fmt::Display;
    use std::str::FromStr;

    fn agree<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned + Display + FromStr,
        &'static str: From<T>,
    {
        assert!(!all.is_empty());
        for &v in all {
            let name: &'static str = v.into();
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
            assert_eq!(v.to_string(), name);
            assert_eq!(T::from_str(name).ok(), Some(v), "{name}");
            let back: T = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn enum_names_agree_with_serde() {
        agree(Band::ALL);
        agree(ProcessState::ALL);
        agree(Resource::ALL);
        agree(GroupKind::ALL);
        agree(SnapshotType::ALL);
        agree(CaptureStatus::ALL);
        agree(CloseReason::ALL);
        agree(SourceStatus::ALL);
        agree(StallKind::ALL);
        agree(StallCause::ALL);
    }
}
