//! The operating system, behind small safe functions: who we are (user and
//! group ids and names), private directories, local time, system constants,
//! and running external tools.
//!
//! Everything that talks to the OS outside the collectors (`platform`) lives
//! here, so the rest of the crate makes no `unsafe` calls of its own. The
//! calls use `rustix` where it covers them (ids, group list, signals) and
//! `libc` where it does not (the reentrant password and group database lookups,
//! `localtime_r`, `sysconf`); each `unsafe` block says why it is sound.
//!
//! - [`ids`]: real and effective uid, user and group names.
//! - [`dirs`]: directories private to the current user.
//! - [`time`]: the broken-down local time of a Unix timestamp.
//! - [`signal`]: sending a signal to a process (the dashboard's `k`).
//! - [`params`]: page size, clock ticks, the open-files limit and the host name.
//! - [`tool`]: the one runner for external programs (argument vectors, never a
//!   shell; deadline; output cap; own process group).

pub(crate) mod dirs;
pub(crate) mod ids;
pub(crate) mod params;
pub(crate) mod signal;
pub(crate) mod time;
pub(crate) mod tool;

pub use dirs::{PrivateDirError, ensure_private_dir};
pub use ids::{current_uid, euid, group_name, group_names, lookup_user, user_name};
pub use signal::{Sig, send_signal};
