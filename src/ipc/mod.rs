//! Live stream between the daemon and its clients over a Unix socket.

pub mod protocol;
