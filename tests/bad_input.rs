//! Hostile and broken input against a test node, each case its own test on
//! both transports (turmoil and real TCP on loopback). Every case checks
//! the exact typed error and its reason, the reject or goodbye the node put
//! on the wire (read from the raw socket), that no task panicked, and that
//! an honest connection opened before the bad one still carries messages
//! both ways after the bad one closed.

mod common;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use peerlink::error::{
    ConnectionError, DecodeError, FrameError, HandshakeError, ProtocolViolation,
};
use peerlink::peer::{ConnectionHandle, MAX_HANDSHAKE_FRAME};
use peerlink::transport::{SimTransport, TcpTransport, Transport};
use peerlink::wire::{Hello, Message, MessageType, Reason, PROTOCOL_VERSION};
use peerlink::{Config, NodeId};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NODE: u128 = 0x00de_cade;
const HONEST: u128 = 0x0000_600d;
const RAW: u128 = 0x0000_0bad;
/// Longest any single wait may take (virtual in the sim, real on TCP).
const WAIT: Duration = Duration::from_secs(5);

/// Defaults, with a short handshake timeout so slowloris cases on real TCP
/// finish quickly.
fn config() -> Config {
    Config {
        handshake_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// One bad-input case: a test node, an honest connection to it, and the
/// means to open raw sockets.
struct Case<T: Transport> {
    transport: T,
    node: SocketAddr,
    taps: NodeTaps,
    honest: Dialed,
    honest_at_node: ConnectionHandle,
    raw_ip: Option<IpAddr>,
    /// Virtual time: durations are asserted exactly.
    exact: bool,
}

impl<T: Transport> Case<T> {
    async fn setup(
        transport: T,
        node: SocketAddr,
        mut taps: NodeTaps,
        honest_ip: Option<IpAddr>,
        raw_ip: Option<IpAddr>,
        exact: bool,
    ) -> Self {
        let ctx = context(HONEST, config(), honest_ip);
        let honest = dial(&transport, node, &ctx, 1, 21)
            .await
            .expect("honest dial");
        let honest_at_node = taps.accepted.recv().await.expect("accepted").handle;
        let mut case = Case {
            transport,
            node,
            taps,
            honest,
            honest_at_node,
            raw_ip,
            exact,
        };
        case.exchange(b"before").await;
        case
    }

    /// One App payload each way on the honest connection.
    async fn exchange(&mut self, tag: &'static [u8]) {
        let node_id = self.honest_at_node.info().id;
        let dialer_id = self.honest.handle.info().id;
        self.honest
            .handle
            .send(Bytes::from_static(tag))
            .expect("send");
        let (_, got) = next_message(&mut self.taps.events, node_id, WAIT).await;
        assert_eq!(got, Bytes::from_static(tag));
        self.honest_at_node
            .send(Bytes::from_static(tag))
            .expect("send");
        let (_, got) = next_message(&mut self.honest.events, dialer_id, WAIT).await;
        assert_eq!(got, Bytes::from_static(tag));
    }

    async fn raw(&self) -> Raw<T> {
        Raw::open(&self.transport, self.node, self.raw_ip).await
    }

    /// A raw socket past a valid handshake, its connection id at the node,
    /// and the node's first ping (sent on establishment).
    async fn raw_established(&mut self) -> (Raw<T>, ConnectionHandle, (u64, u64)) {
        let mut raw = self.raw().await;
        let hello = raw.handshake(RAW, 0).await;
        assert_eq!(hello.node_id, NodeId(NODE));
        let at_node = self.taps.accepted.recv().await.expect("accepted").handle;
        assert_eq!(at_node.info().remote_addr, raw.local_addr);
        match raw.recv(WAIT).await {
            Ok(Message::Ping {
                nonce,
                timestamp_ms,
            }) => (raw, at_node, (nonce, timestamp_ms)),
            other => panic!("expected the node's first ping, got {other:?}"),
        }
    }

    /// The node's handshake failure for `raw`.
    async fn failure(&mut self, raw: &Raw<T>) -> Failure {
        let failure = tokio::time::timeout(WAIT, self.taps.failures.recv())
            .await
            .expect("handshake failure reported in time")
            .expect("failures open");
        assert_eq!(failure.remote_addr, raw.local_addr);
        failure
    }

    /// How the node's end of `conn` closed.
    async fn closed(&mut self, conn: &ConnectionHandle) -> ConnectionError {
        next_closed(&mut self.taps.events, conn.info().id, WAIT)
            .await
            .1
    }

    /// The honest connection still works, and nothing panicked.
    async fn finish(mut self) {
        self.exchange(b"after").await;
        assert_eq!(self.taps.panics.load(Ordering::SeqCst), 0);
        assert_eq!(self.honest.panics.load(Ordering::SeqCst), 0);
        assert!(self.taps.failures.try_recv().is_err(), "no other failure");
    }
}

fn run_sim<F, Fut>(scenario: F)
where
    F: FnOnce(Case<SimTransport>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let seed = 17;
    let mut sim = sim_builder(seed, Duration::from_millis(2), Duration::from_secs(60)).build();
    let (sinks, taps) = node_channels();
    sim_node(&mut sim, "node", context(NODE, config(), None), seed, sinks);
    sim.client("peer", async move {
        let case = Case::setup(
            SimTransport::default(),
            sim_addr("node"),
            taps,
            None,
            None,
            true,
        )
        .await;
        scenario(case).await;
        Ok(())
    });
    sim.run().expect("sim");
}

async fn run_tcp<F, Fut>(scenario: F)
where
    F: FnOnce(Case<TcpTransport>) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::time::timeout(Duration::from_secs(15), async {
        let (addr, taps) = tcp_node(loopback(1), context(NODE, config(), None), 17).await;
        let case = Case::setup(
            TcpTransport,
            addr,
            taps,
            Some(loopback(2)),
            Some(loopback(3)),
            false,
        )
        .await;
        scenario(case).await;
    })
    .await
    .expect("test finished in time");
}

/// Generates `<case>::sim` (turmoil) and `<case>::tcp` (real TCP) for a
/// scenario function of the same name.
macro_rules! on_both_transports {
    ($(#[doc = $doc:literal])* $name:ident) => {
        mod $name {
            use super::*;

            $(#[doc = $doc])*
            /// On turmoil.
            #[test]
            fn sim() {
                run_sim(super::$name::<SimTransport>);
            }

            $(#[doc = $doc])*
            /// On real TCP over loopback.
            #[tokio::test(unhandled_panic = "shutdown_runtime")]
            async fn tcp() {
                run_tcp(super::$name::<TcpTransport>).await;
            }
        }
    };
}

fn hello_frame(magic: [u8; 4], version: u16) -> Vec<u8> {
    let mut frame = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        network_id: 0,
        node_id: NodeId(RAW),
        listen_port: 0,
    })
    .to_frame()
    .to_vec();
    frame[5..9].copy_from_slice(&magic);
    frame[9..11].copy_from_slice(&version.to_be_bytes());
    frame
}

/// Seeded garbage whose first four bytes, read as a length prefix, are over
/// the frame cap (checked, so the expected error is exact).
fn garbage() -> (Vec<u8>, u32) {
    let mut bytes = vec![0u8; 48];
    ChaCha8Rng::seed_from_u64(0xbad).fill_bytes(&mut bytes);
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert!(
        len > config().max_frame_len,
        "garbage prefix {len} under the cap"
    );
    (bytes, len)
}

fn too_large(len: u32) -> FrameError {
    FrameError::TooLarge {
        len,
        max: config().max_frame_len,
    }
}

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

/// After an established connection went bad: whatever the node sent, the
/// last frame is `Goodbye(reason)`, followed by a clean EOF.
async fn assert_goodbye<T: Transport>(raw: &mut Raw<T>, reason: Reason) -> Vec<Message> {
    let (frames, end) = raw.recv_all(WAIT).await;
    assert_eq!(frames.last(), Some(&Message::Goodbye(reason)), "{frames:?}");
    assert_eq!(end, RawEnd::Eof);
    frames
}

// ---------------------------------------------------------------- handshake

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
    assert_eq!(failure.error.reason(), Reason::FrameTooLarge);
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
    assert_eq!(failure.error.reason(), Reason::FrameTooLarge);
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
    assert_eq!(failure.error.reason(), Reason::ProtocolViolation);
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
    assert_eq!(failure.error.reason(), Reason::ConnectionLost);
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
    assert_eq!(failure.error.reason(), Reason::ProtocolViolation);
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
    assert_eq!(failure.error.reason(), Reason::UnsupportedVersion);
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
    assert_eq!(failure.error.reason(), Reason::ProtocolViolation);
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
    assert_eq!(failure.error.reason(), Reason::HandshakeTimeout);
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

// -------------------------------------------------------------- established

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
    assert_eq!(err.reason(), Reason::FrameTooLarge);
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
    assert_eq!(err.reason(), Reason::FrameTooLarge);
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
    assert_eq!(err.reason(), Reason::ConnectionLost);
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
    assert_eq!(err.reason(), Reason::ProtocolViolation);
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
    assert_eq!(err.reason(), Reason::ProtocolViolation);
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
    assert_eq!(err.reason(), Reason::ProtocolViolation);
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
    assert_eq!(err.reason(), Reason::ProtocolViolation);
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
    assert_eq!(err.reason(), Reason::ProtocolViolation);
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
