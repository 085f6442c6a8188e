//! `CloseCause`: why a connection ended or a handshake failed, as the core
//! sees it; `DisconnectReason`, what its owner is told; and the one rule that decides whether that earns the peer a
//! misbehaviour strike. The shell's error types (with their `io::Error`s)
//! map onto it; the peer table decides from it alone.

use crate::error::{DecodeError, FrameError, ProtocolViolation};
use crate::wire::{MessageType, Reason};

/// Why a connection ended or a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed with this reason: its `Goodbye`, or its
    /// `HelloReject` of our hello.
    #[error("peer closed the connection: {0}")]
    Remote(Reason),
    /// We closed it with this reason (owner request, shutdown, tie-break,
    /// ban).
    #[error("closed locally: {0}")]
    Local(Reason),
    /// We refused the peer's hello with this reason, and told it so.
    #[error("refused the peer's handshake: {0}")]
    Refused(Reason),
    /// The stream ended or failed without a goodbye (crash, reset, broken
    /// path, refused or timed-out TCP connect).
    #[error("connection lost without goodbye")]
    Lost,
    /// The handshake did not finish within `Config::handshake_timeout`.
    #[error("handshake did not finish in time")]
    HandshakeTimeout,
    /// The peer sent bytes that are not a frame.
    #[error("bad frame: {0}")]
    Frame(FrameError),
    /// The peer sent a frame that is not a valid message.
    #[error("bad message: {0}")]
    Decode(DecodeError),
    /// The peer sent a valid message that has no place in the handshake.
    #[error("unexpected {0:?} message during handshake")]
    Unexpected(MessageType),
    /// The peer broke the protocol after the handshake.
    #[error("protocol violation: {0}")]
    Violation(ProtocolViolation),
    /// Too many pongs were missed.
    #[error("peer missed {missed} pongs in a row")]
    PingTimeout {
        /// Consecutive missed pongs.
        missed: u32,
    },
    /// Our control frames for the peer piled up unread.
    #[error("outbound queue full: the peer does not read")]
    SlowReader,
}

impl CloseCause {
    /// What the owner is told: who closed the connection and with which
    /// reason code, or that it was lost without one. For a close of ours,
    /// the code is also what our `Goodbye` or `HelloReject` carries, where
    /// the protocol sends one (some closes are silent: garbage from a peer
    /// we dialled, a stream that is not our protocol).
    pub fn reason(&self) -> DisconnectReason {
        let ours = match self {
            CloseCause::Remote(r) => return DisconnectReason::Remote(*r),
            CloseCause::Lost => return DisconnectReason::Lost,
            CloseCause::Local(r) | CloseCause::Refused(r) => *r,
            CloseCause::HandshakeTimeout => Reason::HandshakeTimeout,
            CloseCause::Frame(FrameError::TooLarge { .. }) => Reason::FrameTooLarge,
            CloseCause::Decode(DecodeError::UnsupportedVersion(_)) => Reason::UnsupportedVersion,
            CloseCause::Violation(ProtocolViolation::PingFlood) => Reason::RateLimited,
            CloseCause::Frame(_)
            | CloseCause::Decode(_)
            | CloseCause::Unexpected(_)
            | CloseCause::Violation(_) => Reason::ProtocolViolation,
            CloseCause::PingTimeout { .. } => Reason::PingTimeout,
            CloseCause::SlowReader => Reason::SlowReader,
        };
        DisconnectReason::Local(ours)
    }

    /// Whether this earns the peer a misbehaviour strike: input that we
    /// judged malformed or abusive (a bad frame, an undecodable message, a
    /// message out of place, a ping flood). Never network trouble, never
    /// our own decision, and never the peer's refusal of our dial, whatever
    /// reason it gave: that is its word, not our observation. A peer that
    /// speaks a newer version is not misbehaving either.
    ///
    /// This is the only place strikes are decided.
    pub fn is_misbehaviour(&self) -> bool {
        let detected = matches!(
            self,
            CloseCause::Frame(_)
                | CloseCause::Decode(_)
                | CloseCause::Unexpected(_)
                | CloseCause::Violation(_)
        );
        detected
            && matches!(
                self.reason(),
                DisconnectReason::Local(
                    Reason::ProtocolViolation | Reason::FrameTooLarge | Reason::RateLimited
                )
            )
    }
}

/// Why a connection ended or a handshake failed, as the owner is told
/// (`PeerEvent::Disconnected`, connection errors, counters): which side
/// closed it and the wire reason it gave, or that the stream ended without
/// one. Wire codes are [`Reason`]s; losing a connection is not a code and
/// never travels. The three cases are the only ones there can be, so the
/// enum is exhaustive: match it without a wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DisconnectReason {
    /// This node closed it (owner request, shutdown, tie-break, ban, or a
    /// fault it found in the peer), with this reason. The peer was told it
    /// unless the protocol closes silently there (see `docs/protocol.md`)
    /// or the stream no longer took writes.
    Local(Reason),
    /// The peer closed it with this reason: its `Goodbye`, or its
    /// `HelloReject` of our hello.
    Remote(Reason),
    /// The stream ended or failed without a goodbye: the peer crashed or
    /// reset, the path broke, or a dial's TCP connect failed.
    Lost,
}

impl DisconnectReason {
    /// The wire reason either side gave; `None` for [`Self::Lost`].
    pub fn code(self) -> Option<Reason> {
        match self {
            DisconnectReason::Local(r) | DisconnectReason::Remote(r) => Some(r),
            DisconnectReason::Lost => None,
        }
    }

    /// A stable lowercase name for logs, metrics labels and snapshots: the
    /// wire reason's name (see [`Reason::as_str`]), or `connection_lost`.
    pub fn as_str(self) -> &'static str {
        self.code().map_or("connection_lost", Reason::as_str)
    }

    /// Who ended it: `local`, `remote`, or `lost` (no one said goodbye).
    pub fn side(self) -> &'static str {
        match self {
            DisconnectReason::Local(_) => "local",
            DisconnectReason::Remote(_) => "remote",
            DisconnectReason::Lost => "lost",
        }
    }
}

/// The reason's name as logs and traces print it: the wire reason (see
/// [`Reason`]'s `Display`, `other(N)` for an unknown code), or
/// `connection_lost`. Which side closed is in the variant, not the text.
impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code() {
            Some(r) => r.fmt(f),
            None => f.write_str("connection_lost"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strikes come only from input we judged bad; a peer's refusal of our
    /// dial never earns one, whatever reason it names.
    #[test]
    fn strikes_only_for_observed_misbehaviour() {
        let strikes = [
            CloseCause::Frame(FrameError::Empty),
            CloseCause::Frame(FrameError::TooLarge { len: 9, max: 1 }),
            CloseCause::Decode(DecodeError::UnknownType(0x7f)),
            CloseCause::Decode(DecodeError::BadMagic(*b"GET ")),
            CloseCause::Unexpected(MessageType::Ping),
            CloseCause::Violation(ProtocolViolation::PingFlood),
            CloseCause::Violation(ProtocolViolation::UnsolicitedPong),
        ];
        for cause in &strikes {
            assert!(cause.is_misbehaviour(), "{cause:?}");
        }
        let no_strike = [
            CloseCause::Remote(Reason::ProtocolViolation),
            CloseCause::Remote(Reason::FrameTooLarge),
            CloseCause::Local(Reason::ProtocolViolation),
            CloseCause::Refused(Reason::WrongNetwork),
            CloseCause::Decode(DecodeError::UnsupportedVersion(2)),
            CloseCause::Lost,
            CloseCause::HandshakeTimeout,
            CloseCause::PingTimeout { missed: 3 },
            CloseCause::SlowReader,
        ];
        for cause in &no_strike {
            assert!(!cause.is_misbehaviour(), "{cause:?}");
        }
    }

    /// Each cause reports who closed and the reason the wire and the
    /// metrics use; a lost connection has no wire code.
    #[test]
    fn reasons() {
        use DisconnectReason::{Local, Lost, Remote};
        let cases = [
            (CloseCause::Lost, Lost, None, "connection_lost"),
            (
                CloseCause::Violation(ProtocolViolation::PingFlood),
                Local(Reason::RateLimited),
                Some(Reason::RateLimited),
                "rate_limited",
            ),
            (
                CloseCause::Frame(FrameError::TooLarge { len: 9, max: 1 }),
                Local(Reason::FrameTooLarge),
                Some(Reason::FrameTooLarge),
                "frame_too_large",
            ),
            (
                CloseCause::Remote(Reason::Duplicate),
                Remote(Reason::Duplicate),
                Some(Reason::Duplicate),
                "duplicate",
            ),
            (
                CloseCause::Refused(Reason::SelfConnection),
                Local(Reason::SelfConnection),
                Some(Reason::SelfConnection),
                "self_connection",
            ),
        ];
        for (cause, reason, code, name) in cases {
            assert_eq!(cause.reason(), reason, "{cause:?}");
            assert_eq!(reason.code(), code, "{cause:?}");
            assert_eq!(reason.as_str(), name, "{cause:?}");
        }
        assert_eq!(Lost.to_string(), "connection_lost");
        assert_eq!(Remote(Reason::Duplicate).to_string(), "duplicate");
        assert_eq!(Local(Reason::from_code(200)).to_string(), "other(200)");
    }
}
