//! Typed errors, one enum per failing operation. Each variant says what went
//! wrong in words a node operator can act on. The errors of the pure core
//! (framing, decoding, configuration, the ping verdict, protocol rules) are
//! defined in `peerlink_core::error` and re-exported here, so every error
//! has one path: `peerlink::error`. The core's `Session` says why a
//! connection ended as a `CloseCause`; `HandshakeError` and
//! `ConnectionError` map it (with the `io::Error` only the shell sees)
//! onto these public types, and back with `cause()`.

use std::io;

use crate::wire::{MessageType, Reason};

pub use peerlink_core::close::{CloseCause, DisconnectReason};
pub use peerlink_core::error::{
    ConfigError, DecodeError, FrameError, PingTimeout, ProtocolViolation,
};

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The socket failed.
    #[error("i/o error during handshake: {0}")]
    Io(#[from] io::Error),
    /// The handshake did not finish within `Config::handshake_timeout`.
    #[error("handshake did not finish in time")]
    Timeout,
    /// The peer closed the stream before the handshake finished.
    #[error("peer closed the connection during the handshake")]
    Closed,
    /// The peer sent bytes that are not a frame.
    #[error("bad frame during handshake: {0}")]
    Frame(#[from] FrameError),
    /// The peer sent a frame that is not a valid message.
    #[error("bad message during handshake: {0}")]
    Decode(#[from] DecodeError),
    /// The peer sent a valid message that has no place in the handshake.
    #[error("unexpected {0:?} message during handshake")]
    Unexpected(MessageType),
    /// The peer refused our hello.
    #[error("peer rejected the handshake: {0}")]
    Rejected(Reason),
    /// We refused the peer's hello (the reason was sent to it).
    #[error("refused the peer's handshake: {0}")]
    Refused(Reason),
}

impl HandshakeError {
    /// What the core makes of this failure (the peer table decides from it).
    pub fn cause(&self) -> CloseCause {
        match self {
            HandshakeError::Io(_) | HandshakeError::Closed => CloseCause::Lost,
            HandshakeError::Timeout => CloseCause::HandshakeTimeout,
            HandshakeError::Frame(e) => CloseCause::Frame(e.clone()),
            HandshakeError::Decode(e) => CloseCause::Decode(e.clone()),
            HandshakeError::Unexpected(t) => CloseCause::Unexpected(*t),
            HandshakeError::Rejected(r) => CloseCause::Remote(*r),
            HandshakeError::Refused(r) => CloseCause::Refused(*r),
        }
    }

    /// How this failure is reported: who refused, with which reason code,
    /// or that the stream was lost.
    pub fn reason(&self) -> DisconnectReason {
        self.cause().reason()
    }

    /// The failure of a handshake whose session closed with `cause`; `io`
    /// is the I/O error the shell saw, if the stream failed rather than
    /// ended. The inverse of [`HandshakeError::cause`].
    pub(crate) fn from_cause(cause: CloseCause, io: Option<io::Error>) -> Self {
        match cause {
            CloseCause::Lost => io.map_or(HandshakeError::Closed, HandshakeError::Io),
            CloseCause::HandshakeTimeout => HandshakeError::Timeout,
            CloseCause::Frame(e) => HandshakeError::Frame(e),
            CloseCause::Decode(e) => HandshakeError::Decode(e),
            CloseCause::Unexpected(t) => HandshakeError::Unexpected(t),
            CloseCause::Remote(r) => HandshakeError::Rejected(r),
            CloseCause::Refused(r) => HandshakeError::Refused(r),
            // A session ends its handshake only as above (the shell asks
            // for no local close and queues nothing before it completes);
            // anything else is reported as our refusal, with its reason.
            other => match other.reason() {
                DisconnectReason::Local(r) => HandshakeError::Refused(r),
                DisconnectReason::Remote(r) => HandshakeError::Rejected(r),
                DisconnectReason::Lost => io.map_or(HandshakeError::Closed, HandshakeError::Io),
            },
        }
    }
}

/// Why an outbound connection attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP connect did not finish within `Config::connect_timeout`.
    #[error("connect timed out")]
    Timeout,
    /// TCP connect failed (refused, unreachable...).
    #[error("connect failed: {0}")]
    Io(#[from] io::Error),
    /// The TCP connection opened but the handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// Why an established connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer said goodbye with this reason.
    #[error("peer closed the connection: {0}")]
    RemoteClosed(Reason),
    /// We closed it with this reason (owner request, shutdown, duplicate...).
    #[error("closed locally: {0}")]
    LocalClosed(Reason),
    /// The stream ended without a goodbye.
    #[error("connection reset or closed by peer without goodbye")]
    Eof,
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The peer sent bytes that are not a frame.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// The peer sent a frame that is not a valid message.
    #[error("bad message: {0}")]
    Decode(#[from] DecodeError),
    /// The peer broke the protocol after the handshake.
    #[error("protocol violation: {0}")]
    Violation(#[from] ProtocolViolation),
    /// Too many pongs were missed: the peer is silent or the path is dead.
    #[error("peer missed {missed} pongs in a row")]
    PingTimeout {
        /// Consecutive missed pongs when the connection was declared dead.
        missed: u32,
    },
    /// The outbound queue stayed full: the peer does not read.
    #[error("outbound queue full: the peer does not read")]
    SlowReader,
}

impl From<PingTimeout> for ConnectionError {
    fn from(e: PingTimeout) -> Self {
        ConnectionError::PingTimeout { missed: e.missed }
    }
}

impl ConnectionError {
    /// What the core makes of this end (the peer table decides from it).
    pub fn cause(&self) -> CloseCause {
        match self {
            ConnectionError::RemoteClosed(r) => CloseCause::Remote(*r),
            ConnectionError::LocalClosed(r) => CloseCause::Local(*r),
            ConnectionError::Eof | ConnectionError::Io(_) => CloseCause::Lost,
            ConnectionError::Frame(e) => CloseCause::Frame(e.clone()),
            ConnectionError::Decode(e) => CloseCause::Decode(e.clone()),
            ConnectionError::Violation(v) => CloseCause::Violation(v.clone()),
            ConnectionError::PingTimeout { missed } => CloseCause::PingTimeout { missed: *missed },
            ConnectionError::SlowReader => CloseCause::SlowReader,
        }
    }

    /// How this end is reported: our reason (sent in our `Goodbye`), the
    /// peer's (received in theirs), or that the stream was lost.
    pub fn reason(&self) -> DisconnectReason {
        self.cause().reason()
    }

    /// Whether the peer misbehaved (as opposed to a network or local
    /// cause): [`CloseCause::is_misbehaviour`], the one rule.
    pub fn is_misbehaviour(&self) -> bool {
        self.cause().is_misbehaviour()
    }

    /// The end of an established connection whose session closed with
    /// `cause`; `io` is the I/O error the shell saw, if the stream failed
    /// rather than ended. The inverse of [`ConnectionError::cause`].
    pub(crate) fn from_cause(cause: CloseCause, io: Option<io::Error>) -> Self {
        match cause {
            CloseCause::Remote(r) => ConnectionError::RemoteClosed(r),
            CloseCause::Local(r) => ConnectionError::LocalClosed(r),
            CloseCause::Lost => io.map_or(ConnectionError::Eof, ConnectionError::Io),
            CloseCause::Frame(e) => ConnectionError::Frame(e),
            CloseCause::Decode(e) => ConnectionError::Decode(e),
            CloseCause::Violation(v) => ConnectionError::Violation(v),
            CloseCause::PingTimeout { missed } => ConnectionError::PingTimeout { missed },
            CloseCause::SlowReader => ConnectionError::SlowReader,
            CloseCause::Unexpected(t) => {
                ConnectionError::Violation(ProtocolViolation::HandshakeAfterEstablished(t))
            }
            // Handshake outcomes never end an established session; report
            // anything else as our close, with its reason.
            other => match other.reason() {
                DisconnectReason::Local(r) => ConnectionError::LocalClosed(r),
                DisconnectReason::Remote(r) => ConnectionError::RemoteClosed(r),
                DisconnectReason::Lost => io.map_or(ConnectionError::Eof, ConnectionError::Io),
            },
        }
    }
}

/// Why a message could not be queued for sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No live connection to that peer.
    #[error("peer is not connected")]
    NotConnected,
    /// The connection's outbound queue is full (`Config::send_queue_len`
    /// frames or `Config::send_queue_bytes` bytes).
    #[error("outbound queue is full")]
    QueueFull,
    /// The connection closed before the message was queued.
    #[error("connection closed")]
    Closed,
    /// The payload does not fit in one frame under `Config::max_frame_len`.
    #[error("payload of {len} bytes exceeds the frame cap")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
}
