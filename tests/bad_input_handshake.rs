//! Hostile and broken input before the handshake completes, against a test
//! node, each case its own test on both transports (turmoil and real TCP on
//! loopback): garbage, bad length prefixes, truncated or foreign hellos,
//! messages out of order and slowloris peers. Every case checks the exact
//! `HandshakeError` and its reason, the `HelloReject` (or silence) the node
//! put on the wire (read from the raw socket), that no task panicked, and
//! that an honest connection opened before the bad one still carries
//! messages both ways after the bad one closed. The harness is in
//! `tests/common/bad_input.rs`; `tests/bad_input_established.rs` has the
//! cases after a valid handshake.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::bad_input::*;
use common::*;
use peerlink::error::{DecodeError, FrameError, HandshakeError};
use peerlink::peer::MAX_HANDSHAKE_FRAME;
use peerlink::transport::{SimTransport, TcpTransport, Transport};
use peerlink::wire::{Message, MessageType, Reason, PROTOCOL_VERSION};
use peerlink::DisconnectReason;

/// Before the handshake the cap is the handshake's own, not the frame cap.
fn too_large_in_handshake(len: u32) -> FrameError {
    FrameError::TooLarge {
        len,
        max: MAX_HANDSHAKE_FRAME,
    }
}

/// Asserts the node answered a failed handshake with exactly `expected`
/// frames and then closed cleanly.
async fn assert_wire<T: Transport>(raw: &mut Raw<T>, expected: &[Message]) {
    let (frames, end) = raw.recv_all(WAIT).await;
    assert_eq!(frames, expected);
    assert_eq!(end, RawEnd::Eof);
}

on_both_transports! {
    /// Random garbage instead of a hello fails the handshake with
    /// `Frame(TooLarge)` (its first bytes read as a huge length), reason
    /// `frame_too_large`, sent back in `HelloReject`.
    garbage_before_handshake
}
async fn garbage_before_handshake<T: Transport>(mut case: Case<T>) {
    let (bytes, len) = garbage();
    let mut raw = case.raw().await;
    raw.send_bytes(&bytes).await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(&failure.error, HandshakeError::Frame(e) if *e == too_large_in_handshake(len)),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::FrameTooLarge)
    );
    assert_wire(&mut raw, &[Message::HelloReject(Reason::FrameTooLarge)]).await;
    case.finish().await;
}

on_both_transports! {
    /// A length prefix one byte over the handshake cap
    /// (`MAX_HANDSHAKE_FRAME`), before the handshake, fails with
    /// `Frame(TooLarge { len: cap + 1 })`, reason `frame_too_large`,
    /// answered with `HelloReject(frame_too_large)`.
    oversize_prefix_before_handshake
}
async fn oversize_prefix_before_handshake<T: Transport>(mut case: Case<T>) {
    let cap = MAX_HANDSHAKE_FRAME;
    let mut raw = case.raw().await;
    raw.send_bytes(&(cap + 1).to_be_bytes()).await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(&failure.error, HandshakeError::Frame(e) if *e == too_large_in_handshake(cap + 1)),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::FrameTooLarge)
    );
    assert_wire(&mut raw, &[Message::HelloReject(Reason::FrameTooLarge)]).await;
    case.finish().await;
}

on_both_transports! {
    /// A zero length prefix before the handshake fails with `Frame(Empty)`,
    /// reason `protocol_violation`, answered with `HelloReject`.
    zero_length_prefix_before_handshake
}
async fn zero_length_prefix_before_handshake<T: Transport>(mut case: Case<T>) {
    let mut raw = case.raw().await;
    raw.send_bytes(&[0, 0, 0, 0]).await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(failure.error, HandshakeError::Frame(FrameError::Empty)),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_wire(&mut raw, &[Message::HelloReject(Reason::ProtocolViolation)]).await;
    case.finish().await;
}

on_both_transports! {
    /// Half a hello and then EOF fails the handshake with `Closed`, reason
    /// `shutdown`; the node sends nothing back and closes.
    truncated_hello_then_eof
}
async fn truncated_hello_then_eof<T: Transport>(mut case: Case<T>) {
    let hello = hello_frame(*b"PLNK", PROTOCOL_VERSION);
    let mut raw = case.raw().await;
    raw.send_bytes(&hello[..hello.len() / 2]).await;
    raw.shutdown().await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(failure.error, HandshakeError::Closed),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.reason(), DisconnectReason::Lost);
    assert_wire(&mut raw, &[]).await;
    case.finish().await;
}

on_both_transports! {
    /// A hello with the wrong magic fails with `Decode(BadMagic)` carrying
    /// the bytes found, reason `protocol_violation`; the node says nothing
    /// to a peer that does not speak the protocol and closes.
    wrong_magic
}
async fn wrong_magic<T: Transport>(mut case: Case<T>) {
    let mut raw = case.raw().await;
    raw.send_bytes(&hello_frame(*b"HTTP", PROTOCOL_VERSION))
        .await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(
            failure.error,
            HandshakeError::Decode(DecodeError::BadMagic(m)) if m == *b"HTTP"
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_wire(&mut raw, &[]).await;
    case.finish().await;
}

on_both_transports! {
    /// A hello of version 2 fails with `Decode(UnsupportedVersion(2))`,
    /// reason `unsupported_version`, answered with that reject code (4).
    unsupported_version
}
async fn unsupported_version<T: Transport>(mut case: Case<T>) {
    let mut raw = case.raw().await;
    raw.send_bytes(&hello_frame(*b"PLNK", 2)).await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(
            failure.error,
            HandshakeError::Decode(DecodeError::UnsupportedVersion(2))
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::UnsupportedVersion)
    );
    assert_wire(
        &mut raw,
        &[Message::HelloReject(Reason::UnsupportedVersion)],
    )
    .await;
    case.finish().await;
}

on_both_transports! {
    /// An App message before the handshake fails with `Unexpected(App)`,
    /// reason `protocol_violation`, answered with that reject code (9).
    app_before_handshake
}
async fn app_before_handshake<T: Transport>(mut case: Case<T>) {
    let mut raw = case.raw().await;
    raw.send(&Message::App(Bytes::from_static(b"early"))).await;
    let failure = case.failure(&raw).await;
    assert!(
        matches!(failure.error, HandshakeError::Unexpected(MessageType::App)),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_wire(&mut raw, &[Message::HelloReject(Reason::ProtocolViolation)]).await;
    case.finish().await;
}

/// Shared by both slowloris cases: the node gives up exactly
/// `handshake_timeout` after accepting (within scheduling slack on real TCP)
/// with `Timeout`, reason `handshake_timeout`, and rejects with code 11.
async fn assert_slowloris<T: Transport>(case: &mut Case<T>, raw: &mut Raw<T>) {
    let failure = case.failure(raw).await;
    assert!(
        matches!(failure.error, HandshakeError::Timeout),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.error.reason(),
        DisconnectReason::Local(Reason::HandshakeTimeout)
    );
    let took = failure.at - failure.accepted_at;
    let timeout = config().handshake_timeout;
    if case.exact {
        assert_eq!(took, timeout);
    } else {
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(1),
            "{took:?}"
        );
    }
    assert_wire(raw, &[Message::HelloReject(Reason::HandshakeTimeout)]).await;
}

on_both_transports! {
    /// Slowloris, silent: a peer that connects and sends nothing is cut off
    /// with `HandshakeError::Timeout` after `handshake_timeout`.
    slowloris_silent
}
async fn slowloris_silent<T: Transport>(mut case: Case<T>) {
    let mut raw = case.raw().await;
    assert_slowloris(&mut case, &mut raw).await;
    case.finish().await;
}

on_both_transports! {
    /// Slowloris, half a hello: a peer that sends part of a hello and then
    /// stalls is cut off with `HandshakeError::Timeout` after
    /// `handshake_timeout`.
    slowloris_half_hello
}
async fn slowloris_half_hello<T: Transport>(mut case: Case<T>) {
    let hello = hello_frame(*b"PLNK", PROTOCOL_VERSION);
    let mut raw = case.raw().await;
    raw.send_bytes(&hello[..hello.len() / 2]).await;
    assert_slowloris(&mut case, &mut raw).await;
    case.finish().await;
}
