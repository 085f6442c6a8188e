//! peerlink: a peer-connection layer for P2P nodes.
//!
//! One [`PeerConnection`](peer::PeerConnection) code path for inbound and
//! outbound connections, ping/pong liveness with nonces and real RTT, and a
//! connection manager that keeps exactly one connection per peer IP,
//! resolving simultaneous dials identically on both ends. Everything is
//! written against the [`Transport`](transport::Transport) trait, so the
//! same code runs on tokio TCP and inside turmoil's simulated network.
//!
//! The decisions themselves (wire format, each connection's `Session`:
//! handshake, message meaning, ping state and close policy; tie-break,
//! backoff, bans, hello checks, config validation) live in the crate
//! `peerlink_core`, which has no async runtime; this crate is the async
//! shell that feeds them, and re-exports them under the paths below.
//!
//! # Layout
//!
//! - [`transport`]: the `Transport` trait; `TcpTransport` (tokio) and
//!   `SimTransport` (turmoil, feature `turmoil`).
//! - [`wire`]: frames and messages, bytes in and typed messages out
//!   (re-exported from `peerlink_core`).
//! - [`peer`]: `PeerConnection`, the handshake's and the message loop's
//!   I/O around the core's `Session`; re-exports the core's `PingState` and
//!   `check_hello`.
//! - [`manager`]: `ConnectionManager`: admission, tie-break, redial;
//!   re-exports the core's tie-break policies, backoff and `BanList`.
//! - [`registry`]: `PeerConnectionRegistry`: send, broadcast, peer table.
//! - [`config`]: `Config` with every default documented (re-exported).
//! - [`error`]: typed errors, one enum per failing operation; the core's
//!   are re-exported here.
//! - [`id`]: `PeerId`, `NodeId`, `ConnectionId`, `ConnectionDirection`
//!   (re-exported).

#![warn(missing_docs)]

pub mod error;
pub mod manager;
pub mod peer;
pub mod registry;
pub mod transport;

pub use peerlink_core::{config, id, wire};

pub use config::Config;
pub use id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
