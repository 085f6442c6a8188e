//! The core's typed errors: what the framer, the decoder, config validation
//! and the ping state refuse or conclude. Each variant says what went wrong
//! in words a node operator can act on. Errors that carry an `io::Error` or
//! a timeout of the async shell live in `peerlink::error`, not here.

use crate::wire::MessageType;

/// The framing layer refused the byte stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix of zero: every frame has at least a type byte.
    #[error("empty frame (length prefix 0)")]
    Empty,
    /// A length prefix over the configured cap (`Config::max_frame_len`).
    #[error("frame of {len} bytes exceeds the cap of {max} bytes")]
    TooLarge {
        /// Announced body length.
        len: u32,
        /// Configured cap.
        max: u32,
    },
}

/// A frame body that is not a valid v1 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame had no type byte.
    #[error("frame body is empty")]
    EmptyBody,
    /// A type byte this version does not define.
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// A fixed-size message with the wrong payload length.
    #[error("message type 0x{message_type:02x} with invalid payload length {len}")]
    BadLength {
        /// The type byte.
        message_type: u8,
        /// Payload length found.
        len: usize,
    },
    /// A hello that does not start with `PLNK`: not our protocol.
    #[error("bad magic {0:02x?}: the peer does not speak peerlink")]
    BadMagic([u8; 4]),
    /// A hello of a protocol version we do not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
}

/// A `Config` that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A count or size that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The frame cap cannot hold a handshake, or is absurdly large.
    #[error("max_frame_len {0} must be between {min} and {max}", min = crate::config::MIN_FRAME_LEN, max = crate::config::MAX_FRAME_LEN)]
    FrameCap(u32),
    /// The backoff floor is above its ceiling.
    #[error("redial_backoff_min must not exceed redial_backoff_max")]
    BackoffRange,
}

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
