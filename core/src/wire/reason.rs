//! The one-byte reason codes carried by `HelloReject` and `Goodbye`.

use std::fmt;

/// Why a connection was refused or closed, as a code on the wire. One code
/// space serves both the handshake reject and `Goodbye`, so logs and metrics
/// use one vocabulary. A connection that ends without a goodbye has no
/// reason code: the owner hears it as
/// [`DisconnectReason::Lost`](crate::close::DisconnectReason::Lost).
///
/// Unknown codes from a newer peer decode as [`Reason::Other`] rather than
/// failing: a reason is advisory, the close happens either way. Every code
/// round-trips exactly: an unknown code is kept as it came, and
/// [`UnknownReason`] can only hold a code this version does not define, so
/// no `Reason` encodes as another's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Orderly close: the node is shutting down or the owner asked for it.
    Shutdown,
    /// Another connection to the same peer was kept by the tie-break.
    Duplicate,
    /// The peer's node id equals ours: we dialled ourselves.
    SelfConnection,
    /// The peer's network id differs from ours.
    WrongNetwork,
    /// The peer's protocol version is not one we speak.
    UnsupportedVersion,
    /// The inbound connection limit is reached.
    TooManyInbound,
    /// The outbound connection limit is reached.
    TooManyOutbound,
    /// Too many handshakes are already in progress.
    TooManyPending,
    /// The peer is on the deny list, or not on a configured allow list.
    Denied,
    /// The peer broke the protocol (bad message, wrong order, bad nonce...).
    ProtocolViolation,
    /// The peer missed too many pongs.
    PingTimeout,
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// The peer sent a frame over the size cap.
    FrameTooLarge,
    /// The peer is temporarily banned for misbehaving.
    Banned,
    /// The peer does not read: its outbound queue is full.
    SlowReader,
    /// The peer sent messages faster than allowed.
    RateLimited,
    /// A code this version does not know, kept as it came.
    Other(UnknownReason),
}

impl Reason {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Reason::Shutdown => 0,
            Reason::Duplicate => 1,
            Reason::SelfConnection => 2,
            Reason::WrongNetwork => 3,
            Reason::UnsupportedVersion => 4,
            Reason::TooManyInbound => 5,
            Reason::TooManyOutbound => 6,
            Reason::TooManyPending => 7,
            Reason::Denied => 8,
            Reason::ProtocolViolation => 9,
            Reason::PingTimeout => 10,
            Reason::HandshakeTimeout => 11,
            Reason::FrameTooLarge => 12,
            Reason::Banned => 13,
            Reason::SlowReader => 14,
            Reason::RateLimited => 15,
            Reason::Other(unknown) => unknown.0,
        }
    }

    /// The reason for a wire code; unknown codes become [`Reason::Other`].
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Reason::Shutdown,
            1 => Reason::Duplicate,
            2 => Reason::SelfConnection,
            3 => Reason::WrongNetwork,
            4 => Reason::UnsupportedVersion,
            5 => Reason::TooManyInbound,
            6 => Reason::TooManyOutbound,
            7 => Reason::TooManyPending,
            8 => Reason::Denied,
            9 => Reason::ProtocolViolation,
            10 => Reason::PingTimeout,
            11 => Reason::HandshakeTimeout,
            12 => Reason::FrameTooLarge,
            13 => Reason::Banned,
            14 => Reason::SlowReader,
            15 => Reason::RateLimited,
            other => Reason::Other(UnknownReason(other)),
        }
    }

    /// A stable lowercase name, for logs, metrics labels and snapshots.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Shutdown => "shutdown",
            Reason::Duplicate => "duplicate",
            Reason::SelfConnection => "self_connection",
            Reason::WrongNetwork => "wrong_network",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::TooManyInbound => "too_many_inbound",
            Reason::TooManyOutbound => "too_many_outbound",
            Reason::TooManyPending => "too_many_pending",
            Reason::Denied => "denied",
            Reason::ProtocolViolation => "protocol_violation",
            Reason::PingTimeout => "ping_timeout",
            Reason::HandshakeTimeout => "handshake_timeout",
            Reason::FrameTooLarge => "frame_too_large",
            Reason::Banned => "banned",
            Reason::SlowReader => "slow_reader",
            Reason::RateLimited => "rate_limited",
            Reason::Other(_) => "other",
        }
    }
}

/// A reason code this version does not define (16 and up), as a newer
/// peer sent it. Only [`Reason::from_code`] makes one, so it never holds a
/// known code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnknownReason(u8);

impl UnknownReason {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Other(unknown) => write!(f, "other({})", unknown.0),
            r => f.write_str(r.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    /// Every code round-trips, and known codes never decode as `Other`.
    #[test]
    fn codes_round_trip() {
        for code in 0..=u8::MAX {
            let reason = Reason::from_code(code);
            assert_eq!(reason.code(), code);
            assert_eq!(Reason::from_code(reason.code()), reason);
            match reason {
                Reason::Other(unknown) => {
                    assert!(code > 15);
                    assert_eq!(unknown.code(), code);
                    assert_eq!(reason.to_string(), format!("other({code})"));
                }
                _ => assert!(code <= 15),
            }
        }
    }
}
