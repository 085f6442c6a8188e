//! `CloseCause`: why a connection ended or a handshake failed, as the core
//! sees it, and the one rule that decides whether that earns the peer a
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
    /// The reason code this end reports (and sends, where we close).
    pub fn reason(&self) -> Reason {
        match self {
            CloseCause::Remote(r) | CloseCause::Local(r) | CloseCause::Refused(r) => *r,
            CloseCause::Lost => Reason::ConnectionLost,
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
        }
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
                Reason::ProtocolViolation | Reason::FrameTooLarge | Reason::RateLimited
            )
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

    /// Each cause reports the reason the wire and the metrics use.
    #[test]
    fn reasons() {
        assert_eq!(CloseCause::Lost.reason(), Reason::ConnectionLost);
        assert_eq!(
            CloseCause::Violation(ProtocolViolation::PingFlood).reason(),
            Reason::RateLimited
        );
        assert_eq!(
            CloseCause::Frame(FrameError::TooLarge { len: 9, max: 1 }).reason(),
            Reason::FrameTooLarge
        );
        assert_eq!(
            CloseCause::Remote(Reason::Duplicate).reason(),
            Reason::Duplicate
        );
    }
}
