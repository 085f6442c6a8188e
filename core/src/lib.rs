//! peerlink-core: the decisions of peerlink, as plain synchronous code.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a task or
//! draws OS entropy: time comes in as a `std::time::Instant` parameter and
//! randomness from a seed or an RNG the caller passes. Decisions that touch
//! the world are returned as data (the peer table's `Action`s), never
//! performed. The async shell (crate `peerlink`) moves bytes and timers,
//! feeds these types and carries out their actions; it re-exports all of
//! them under their old paths. The crate depends on no async runtime, so
//! the compiler enforces the rule: core cannot reach tokio.
//!
//! # Layout
//!
//! - [`id`]: `PeerId`, `NodeId`, `ConnectionId`, `ConnectionDirection`.
//! - [`wire`]: frames and messages, bytes in and typed messages out.
//! - [`handshake`]: `check_hello` and the handshake's frame cap.
//! - [`config`]: `Config` with every default documented, validated once.
//! - [`policy`]: the tie-break between two connections to one peer, and
//!   the admission and dial rules of each policy.
//! - [`backoff`]: the redial delay, exponential with seeded jitter.
//! - [`bans`]: `BanList`, strikes and temporary bans by IP.
//! - [`ping`]: `PingState`, the liveness of one connection.
//! - [`close`]: `CloseCause`, why a connection ended, and the one rule
//!   that decides misbehaviour strikes.
//! - [`connection`]: `ConnectionInfo`, the facts about one established
//!   connection.
//! - [`table`]: `PeerTable`, every decision of the connection manager; it
//!   takes events and `now` and returns [`Action`](table::Action)s.
//! - [`event`]: `PeerEvent`, what the manager tells its owner.
//! - [`snapshot`]: `Snapshot`, the peer table rendered in a stable order.
//! - [`histogram`]: `Histogram`, durations in fixed buckets for metrics.
//! - [`session`]: `Session`, every decision about one connection
//!   (handshake, message meaning, liveness, close policy) as a state
//!   machine the shell feeds with bytes, timers and `now`.
//! - [`error`]: the typed errors of the core.

#![warn(missing_docs)]
// Peer bytes and peer timing reach this crate: outside tests, no `unwrap`,
// `expect`, or indexing and slicing that can panic (`wire` also refuses
// overflowing arithmetic). The few `expect`s on local data carry an `allow`
// and a `# Panics` section.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod backoff;
pub mod bans;
pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod event;
pub mod handshake;
pub mod histogram;
pub mod id;
pub mod ping;
pub mod policy;
mod rng;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod session;
pub mod snapshot;
pub mod table;
pub mod wire;

pub use config::Config;
pub use id::{ConnectionDirection, ConnectionId, ConnectionIds, NodeId, PeerId};

/// A base instant for unit tests, which then add durations to it.
/// The one clock read in this crate, and only under `cfg(test)`: the
/// decisions never read a clock, only differences between instants matter.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}
