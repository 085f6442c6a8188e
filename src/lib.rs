//! peerlink: a peer-connection layer for P2P nodes.
//!
//! One [`PeerConnection`](peer::PeerConnection) code path for inbound and
//! outbound connections, ping/pong liveness with nonces and real RTT, and a
//! connection manager that keeps exactly one connection per peer IP,
//! resolving simultaneous dials identically on both ends. Everything is
//! written against the [`Transport`] trait, so the
//! same code runs on tokio TCP and inside turmoil's simulated network.
//!
//! The decisions themselves (wire format; each connection's `Session`:
//! handshake, message meaning, ping state and close policy; the peer table
//! with its tie-break, backoff and bans; hello checks, config validation)
//! live in the crate `peerlink_core`, which has no async runtime; this
//! crate is the async shell that feeds them and carries out their actions,
//! and re-exports them under the paths below.
//!
//! A node needs only the items at the crate root:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peerlink::{Config, ConnectionManager, ManagerOptions, PeerEvent, TcpTransport};
//!
//! let options = ManagerOptions {
//!     listen: Some("127.0.0.1:9000".parse()?),
//!     peers: vec!["127.0.0.2:9000".parse()?],
//!     ..ManagerOptions::default()
//! };
//! let (manager, mut events) =
//!     ConnectionManager::start(TcpTransport, Config::default(), options).await?;
//! while let Some(event) = events.recv().await {
//!     if let PeerEvent::Connected { peer, .. } = event {
//!         manager.send(peer, bytes::Bytes::from_static(b"hello"))?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`transport`]: the `Transport` trait; `TcpTransport` (tokio) and
//!   `SimTransport` (turmoil, feature `turmoil`).
//! - [`wire`]: frames and messages, bytes in and typed messages out
//!   (re-exported from `peerlink_core`).
//! - [`peer`]: `PeerConnection`, the handshake's and the message loop's
//!   I/O around the core's `Session`.
//! - [`manager`]: `ConnectionManager`, the async shell over the core's
//!   `PeerTable` (admission, tie-break, redial); re-exports the core's
//!   `TieBreakPolicy`, `PeerEvent` and `Snapshot`.
//! - `events` (private): `Events`, the owner's bounded queue, which the
//!   manager task and every connection task write to; re-exported by
//!   [`manager`] and at the root.
//! - [`registry`]: `PeerConnectionRegistry`: send, broadcast, peer table.
//! - [`config`]: `Config` with every default documented (re-exported).
//! - [`error`]: typed errors, one enum per failing operation; the core's
//!   are re-exported here.
//! - [`id`]: `PeerId`, `NodeId`, `ConnectionId`, `ConnectionDirection`
//!   (re-exported).

#![warn(missing_docs)]

pub mod error;
mod events;
pub mod manager;
pub mod peer;
pub mod registry;
pub mod transport;

pub use peerlink_core::{config, id, wire};

// What a node uses, at the crate root: start a manager on a transport,
// send, react to events, read the table.
pub use config::Config;
pub use error::DisconnectReason;
pub use error::SendError;
pub use id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
pub use manager::{
    ConnectionManager, Events, ManagerOptions, PeerEvent, PeerState, Snapshot, StartError,
    TieBreakPolicy,
};
pub use registry::BroadcastReport;
pub use transport::{TcpTransport, Transport};
pub use wire::Reason;
