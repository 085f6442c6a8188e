//! The core's typed errors: what the ping state and the protocol rules
//! conclude, and (re-exported from where they are made) what the framer,
//! the decoder and config validation refuse. Each variant says what went wrong
//! in words a node operator can act on. Errors that carry an `io::Error` or
//! a timeout of the async shell live in `peerlink::error`, not here.

use crate::wire::MessageType;

// Defined beside what produces them, gathered here: every core error has a
// path under `error`.
pub use crate::config::ConfigError;
pub use crate::wire::{DecodeError, FrameError};

/// A valid message that breaks the protocol's rules after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A handshake message on an established connection.
    #[error("handshake message {0:?} after the handshake")]
    HandshakeAfterEstablished(MessageType),
    /// A pong whose nonce we never sent.
    #[error("pong with a nonce we never sent")]
    UnsolicitedPong,
    /// A second pong for a nonce already answered.
    #[error("duplicate pong for an answered nonce")]
    DuplicatePong,
    /// A ping reusing a nonce the peer used recently.
    #[error("ping reuses a recent nonce")]
    DuplicatePingNonce,
    /// More pings than `Config::max_pings_per_interval` in one interval.
    #[error("ping flood: more pings than allowed per interval")]
    PingFlood,
}

/// The ping state's verdict "dead": `Config::max_missed_pongs` consecutive
/// pings expired without a pong. The shell closes the connection with
/// `ping_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("peer missed {missed} pongs in a row")]
pub struct PingTimeout {
    /// Consecutive missed pongs when the connection was declared dead.
    pub missed: u32,
}
