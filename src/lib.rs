//! peerlink: a peer-connection layer for P2P nodes.
//!
//! One [`PeerConnection`](peer::PeerConnection) code path for inbound and
//! outbound connections, ping/pong liveness with nonces and real RTT, and a
//! connection manager that keeps exactly one connection per peer IP,
//! resolving simultaneous dials identically on both ends. Everything is
//! written against the [`Transport`](transport::Transport) trait, so the
//! same code runs on tokio TCP and inside turmoil's simulated network.
//!
//! # Layout
//!
//! - [`transport`]: the `Transport` trait; `TcpTransport` (tokio) and
//!   `SimTransport` (turmoil, feature `turmoil`).
//! - [`wire`]: frames and messages, bytes in and typed messages out.
//! - [`peer`]: `PeerConnection`, its handshake, `PingState`, the message loop.
//! - [`manager`]: `ConnectionManager`: admission, tie-break, redial.
//! - [`config`]: `Config` with every default documented.
//! - [`error`]: typed errors, one enum per failing operation.
//! - [`id`]: `PeerId`, `NodeId`, `ConnectionId`, `ConnectionDirection`.

#![warn(missing_docs)]

pub mod error;
pub mod manager;
pub mod peer;
pub mod registry;
pub mod transport;

pub use peerlink_core::{config, id, wire};

pub use config::Config;
pub use id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
