//! Hostile and broken input on an established connection, against a test
//! node, each case its own test on both transports (turmoil and real TCP on
//! loopback): garbage, bad length prefixes, truncated or unknown frames, a
//! second hello and ping/pong misuse. Every case checks the exact
//! `ConnectionError` and its reason, the `Goodbye` (or silence) the node put
//! on the wire (read from the raw socket), that no task panicked, and that
//! an honest connection opened before the bad one still carries messages
//! both ways after the bad one closed. The harness is in
//! `tests/common/bad_input.rs`; `tests/bad_input_handshake.rs` has the cases
//! before the handshake completes.

mod common;

use common::bad_input::*;
use common::*;
use peerlink::error::{ConnectionError, DecodeError, FrameError, ProtocolViolation};
use peerlink::transport::{SimTransport, TcpTransport, Transport};
use peerlink::wire::{Message, MessageType, Reason, PROTOCOL_VERSION};
use peerlink::DisconnectReason;

fn too_large(len: u32) -> FrameError {
    FrameError::TooLarge {
        len,
        max: config().max_frame_len,
    }
}

/// After an established connection went bad: whatever the node sent, the
/// last frame is `Goodbye(reason)`, followed by a clean EOF.
async fn assert_goodbye<T: Transport>(raw: &mut Raw<T>, reason: Reason) -> Vec<Message> {
    let (frames, end) = raw.recv_all(WAIT).await;
    assert_eq!(frames.last(), Some(&Message::Goodbye(reason)), "{frames:?}");
    assert_eq!(end, RawEnd::Eof);
    frames
}

on_both_transports! {
    /// Random garbage after a valid handshake closes that connection with
    /// `Frame(TooLarge)`, reason `frame_too_large`, sent in `Goodbye`.
    garbage_after_handshake
}
async fn garbage_after_handshake<T: Transport>(mut case: Case<T>) {
    let (bytes, len) = garbage();
    let (mut raw, conn, _) = case.raw_established().await;
    raw.send_bytes(&bytes).await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(&err, ConnectionError::Frame(e) if *e == too_large(len)),
        "{err:?}"
    );
    assert_eq!(err.reason(), DisconnectReason::Local(Reason::FrameTooLarge));
    assert!(err.is_misbehaviour());
    assert_goodbye(&mut raw, Reason::FrameTooLarge).await;
    case.finish().await;
}

on_both_transports! {
    /// A length prefix one over the cap on an established connection closes
    /// it with `Frame(TooLarge { len: cap + 1 })` and `Goodbye(12)`.
    oversize_prefix_after_handshake
}
async fn oversize_prefix_after_handshake<T: Transport>(mut case: Case<T>) {
    let cap = config().max_frame_len;
    let (mut raw, conn, _) = case.raw_established().await;
    raw.send_bytes(&(cap + 1).to_be_bytes()).await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(&err, ConnectionError::Frame(e) if *e == too_large(cap + 1)),
        "{err:?}"
    );
    assert_eq!(err.reason(), DisconnectReason::Local(Reason::FrameTooLarge));
    assert_goodbye(&mut raw, Reason::FrameTooLarge).await;
    case.finish().await;
}

on_both_transports! {
    /// Half a ping and then EOF on an established connection ends it with
    /// `Eof`, reason `shutdown`; the node sends no goodbye to a peer that
    /// has gone, just closes.
    truncated_frame_then_eof
}
async fn truncated_frame_then_eof<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, _) = case.raw_established().await;
    let ping = Message::Ping {
        nonce: 1,
        timestamp_ms: 0,
    }
    .to_frame();
    raw.send_bytes(&ping[..ping.len() / 2]).await;
    raw.shutdown().await;
    let err = case.closed(&conn).await;
    assert!(matches!(err, ConnectionError::Eof), "{err:?}");
    assert_eq!(err.reason(), DisconnectReason::Lost);
    assert!(!err.is_misbehaviour());
    let (frames, end) = raw.recv_all(WAIT).await;
    assert_eq!(frames, []);
    assert_eq!(end, RawEnd::Eof);
    case.finish().await;
}

on_both_transports! {
    /// A frame of an unknown type on an established connection closes it
    /// with `Decode(UnknownType(0x7f))` and `Goodbye(9)`.
    unknown_type_after_handshake
}
async fn unknown_type_after_handshake<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, _) = case.raw_established().await;
    raw.send_bytes(&[0, 0, 0, 1, 0x7f]).await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(err, ConnectionError::Decode(DecodeError::UnknownType(0x7f))),
        "{err:?}"
    );
    assert_eq!(
        err.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_goodbye(&mut raw, Reason::ProtocolViolation).await;
    case.finish().await;
}

on_both_transports! {
    /// A second hello on an established connection closes it with
    /// `Violation(HandshakeAfterEstablished(Hello))` and `Goodbye(9)`.
    hello_after_handshake
}
async fn hello_after_handshake<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, _) = case.raw_established().await;
    raw.send_bytes(&hello_frame(*b"PLNK", PROTOCOL_VERSION))
        .await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(
            err,
            ConnectionError::Violation(ProtocolViolation::HandshakeAfterEstablished(
                MessageType::Hello
            ))
        ),
        "{err:?}"
    );
    assert_eq!(
        err.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_goodbye(&mut raw, Reason::ProtocolViolation).await;
    case.finish().await;
}

on_both_transports! {
    /// A pong for a nonce the node never sent closes the connection with
    /// `Violation(UnsolicitedPong)` and `Goodbye(9)`.
    unsolicited_pong
}
async fn unsolicited_pong<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, (nonce, _)) = case.raw_established().await;
    raw.send(&Message::Pong {
        nonce: nonce ^ 1,
        timestamp_ms: 0,
    })
    .await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(
            err,
            ConnectionError::Violation(ProtocolViolation::UnsolicitedPong)
        ),
        "{err:?}"
    );
    assert_eq!(
        err.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_goodbye(&mut raw, Reason::ProtocolViolation).await;
    case.finish().await;
}

on_both_transports! {
    /// Answering the node's ping twice: the first pong yields an RTT, the
    /// second closes the connection with `Violation(DuplicatePong)` and
    /// `Goodbye(9)`.
    duplicate_pong
}
async fn duplicate_pong<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, (nonce, timestamp_ms)) = case.raw_established().await;
    let pong = Message::Pong {
        nonce,
        timestamp_ms,
    };
    raw.send(&pong).await;
    raw.send(&pong).await;
    let id = conn.info().id;
    next_rtt(&mut case.taps.events, id, WAIT).await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(
            err,
            ConnectionError::Violation(ProtocolViolation::DuplicatePong)
        ),
        "{err:?}"
    );
    assert_eq!(
        err.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    assert_goodbye(&mut raw, Reason::ProtocolViolation).await;
    case.finish().await;
}

on_both_transports! {
    /// A ping replaying the peer's previous nonce: the first is answered
    /// with a pong echoing nonce and timestamp, the replay closes the
    /// connection with `Violation(DuplicatePingNonce)` and `Goodbye(9)`.
    replayed_ping_nonce
}
async fn replayed_ping_nonce<T: Transport>(mut case: Case<T>) {
    let (mut raw, conn, _) = case.raw_established().await;
    let ping = Message::Ping {
        nonce: 0x5eed,
        timestamp_ms: 42,
    };
    raw.send(&ping).await;
    raw.send(&ping).await;
    let err = case.closed(&conn).await;
    assert!(
        matches!(
            err,
            ConnectionError::Violation(ProtocolViolation::DuplicatePingNonce)
        ),
        "{err:?}"
    );
    assert_eq!(
        err.reason(),
        DisconnectReason::Local(Reason::ProtocolViolation)
    );
    let frames = assert_goodbye(&mut raw, Reason::ProtocolViolation).await;
    assert_eq!(
        frames,
        [
            Message::Pong {
                nonce: 0x5eed,
                timestamp_ms: 42
            },
            Message::Goodbye(Reason::ProtocolViolation)
        ]
    );
    case.finish().await;
}
