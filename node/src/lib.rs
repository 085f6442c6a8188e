//! `peerlink-node`: a small, real P2P node built on `peerlink`, the third use
//! of the library ("production node embedding"): the same `ConnectionManager`
//! the simulator proves, on real sockets in a real process.
//!
//! The binary (`src/main.rs`) is a thin shell over this library so the tests
//! can reuse its pieces (the `/peers` JSON types, the duration syntax).
//!
//! # Layout
//!
//! - [`settings`]: command line (clap) and TOML file, merged into one
//!   validated [`Settings`](settings::Settings); every error is one line.
//! - [`node`]: starts the manager and the admin endpoint, logs peer events,
//!   shuts down gracefully on Ctrl-C / SIGTERM.
//! - [`admin`]: the admin endpoint on loopback, an axum router served over
//!   hyper with bounded heads, bodies, time and connections: `GET /peers`,
//!   `GET /metrics`, `GET /health`.
//! - [`views`]: the JSON documents `/peers` and `/health` render from a
//!   `Snapshot`.
//! - [`metrics`]: the `/metrics` exposition, built with `prometheus-client`
//!   from a `Snapshot`.
//!
//! This crate reads no clock of its own and draws no randomness: the node id
//! is drawn by the manager from OS entropy (`ManagerOptions::seed = None`).

pub mod admin;
pub mod metrics;
pub mod node;
pub mod settings;
pub mod views;

/// Exit code for bad flags, a bad config file or an unusable address.
/// (clap uses the same code for its own usage errors.)
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a failure after a successful start.
pub const EXIT_RUNTIME: u8 = 1;
