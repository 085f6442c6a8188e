//! `Session` without a runtime: exact bytes out, exact events, exact
//! instants, for each decision the shell used to make in async code.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::*;
use crate::error::FrameError;
use crate::id::NodeId;
use crate::test_epoch;
use crate::wire::{MessageType, PROTOCOL_VERSION};

const LOCAL: u128 = 0xa0a0;
const REMOTE: u128 = 0xb0b0;
const NETWORK: u32 = 7;
const SEED: u64 = 42;

fn config() -> Config {
    Config {
        network_id: NETWORK,
        ..Config::default()
    }
}

fn hello(node_id: u128, network_id: u32) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        network_id,
        node_id: NodeId(node_id),
        listen_port: 9000,
    }
}

fn local() -> Hello {
    hello(LOCAL, NETWORK)
}

fn remote() -> Hello {
    hello(REMOTE, NETWORK)
}

/// The frame of `hello` as `Hello` (0x01) or `HelloAccept` (0x02), written
/// out byte by byte.
fn hello_bytes(tag: u8, node_id: u128) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 29, tag];
    out.extend_from_slice(b"PLNK");
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&NETWORK.to_be_bytes());
    out.extend_from_slice(&node_id.to_be_bytes());
    out.extend_from_slice(&[0x23, 0x28]);
    out
}

/// A read buffer holding these messages' frames.
fn wire(messages: &[Message]) -> BytesMut {
    let mut buf = BytesMut::new();
    for m in messages {
        m.encode(&mut buf);
    }
    buf
}

fn transmits(s: &mut Session) -> Vec<Bytes> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn closed(cause: CloseCause, policy: ClosePolicy) -> SessionEvent {
    SessionEvent::Closed(Close { cause, policy })
}

fn final_frame(bytes: &[u8]) -> ClosePolicy {
    ClosePolicy::Final(Bytes::copy_from_slice(bytes))
}

/// An acceptor that has read a valid hello at `t0` and admitted it.
fn established_acceptor(t0: Instant) -> Session {
    let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
    s.handle_read(&mut wire(&[Message::Hello(remote())]), t0);
    s.admit(Ok(()), t0);
    assert!(s.is_established());
    transmits(&mut s);
    events(&mut s);
    s
}

/// A dialer whose hello was accepted at `t0`.
fn established_dialer(t0: Instant) -> Session {
    let mut s = Session::new(ConnectionDirection::Outbound, &config(), local(), t0, SEED);
    s.handle_read(&mut wire(&[Message::HelloAccept(remote())]), t0);
    assert!(s.is_established());
    transmits(&mut s);
    events(&mut s);
    s
}

/// Sends the ping that is due at `at`; returns its nonce.
fn ping_due(s: &mut Session, at: Instant) -> u64 {
    s.handle_timeout(at);
    let sent = transmits(s);
    let [frame] = sent.as_slice() else {
        panic!("one ping expected, got {sent:?}");
    };
    let mut buf = BytesMut::from(&frame[..]);
    let body = decode_frame(&mut buf, 64).unwrap().unwrap();
    match Message::decode(body).unwrap() {
        Message::Ping { nonce, .. } => nonce,
        other => panic!("expected a ping, got {other:?}"),
    }
}

/// The dialer's first and only transmit is its hello, byte for byte; the
/// handshake deadline is `handshake_timeout` after `new`.
#[test]
fn dialer_sends_exactly_its_hello() {
    let t0 = test_epoch();
    let mut s = Session::new(ConnectionDirection::Outbound, &config(), local(), t0, SEED);
    assert_eq!(transmits(&mut s), [hello_bytes(0x01, LOCAL)]);
    assert_eq!(events(&mut s), []);
    assert_eq!(s.poll_timeout(), Some(t0 + config().handshake_timeout));
}

/// The acceptor says nothing until the peer's hello, reports it valid and
/// waits for admission; `admit(Ok)` answers with `HelloAccept` carrying
/// our fields and establishes; the first ping is due at once.
#[test]
fn acceptor_accepts_after_admission() {
    let t0 = test_epoch();
    let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    let mut buf = BytesMut::from(&hello_bytes(0x01, REMOTE)[..]);
    let t1 = t0 + Duration::from_millis(3);
    s.handle_read(&mut buf, t1);
    assert!(buf.is_empty());
    assert_eq!(events(&mut s), [SessionEvent::HelloReceived(remote())]);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    assert!(!s.is_established());
    s.admit(Ok(()), t1);
    assert_eq!(transmits(&mut s), [hello_bytes(0x02, LOCAL)]);
    assert_eq!(events(&mut s), [SessionEvent::Established(remote())]);
    assert_eq!(s.remote(), Some(&remote()));
    assert_eq!(s.poll_timeout(), Some(t1));
}

/// The owner's refusal is answered with `HelloReject(reason)` as the final
/// frame, and the session ends with `Refused(reason)`.
#[test]
fn acceptor_rejects_when_refused() {
    let t0 = test_epoch();
    let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
    s.handle_read(&mut wire(&[Message::Hello(remote())]), t0);
    events(&mut s);
    s.admit(Err(Reason::TooManyInbound), t0);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Refused(Reason::TooManyInbound),
            final_frame(&[0, 0, 0, 2, 0x03, 5])
        )]
    );
    assert_eq!(s.poll_timeout(), None);
}

/// `check_hello` failures are refused before admission is asked: our own
/// node id with `HelloReject(self_connection)`, another network with
/// `HelloReject(wrong_network)`; the dialer answers an accept from itself
/// with `Goodbye(self_connection)`.
#[test]
fn invalid_hellos_are_refused() {
    let t0 = test_epoch();
    for (their, code, reason) in [
        (hello(LOCAL, NETWORK), 2, Reason::SelfConnection),
        (hello(REMOTE, NETWORK + 1), 3, Reason::WrongNetwork),
    ] {
        let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
        s.handle_read(&mut wire(&[Message::Hello(their)]), t0);
        assert_eq!(
            events(&mut s),
            [closed(
                CloseCause::Refused(reason),
                final_frame(&[0, 0, 0, 2, 0x03, code])
            )]
        );
    }
    let mut s = Session::new(ConnectionDirection::Outbound, &config(), local(), t0, SEED);
    transmits(&mut s);
    s.handle_read(&mut wire(&[Message::HelloAccept(local())]), t0);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Refused(Reason::SelfConnection),
            final_frame(&[0, 0, 0, 2, 0x06, 2])
        )]
    );
}

/// The handshake times out at exactly `handshake_timeout`, not a
/// nanosecond before: the dialer says `Goodbye(handshake_timeout)`, the
/// acceptor `HelloReject(handshake_timeout)`, also while admission is
/// pending.
#[test]
fn handshake_timeout_at_the_exact_deadline() {
    let t0 = test_epoch();
    let deadline = t0 + config().handshake_timeout;
    let cases = [
        (ConnectionDirection::Outbound, false, 0x06),
        (ConnectionDirection::Inbound, false, 0x03),
        (ConnectionDirection::Inbound, true, 0x03),
    ];
    for (direction, admitting, tag) in cases {
        let mut s = Session::new(direction, &config(), local(), t0, SEED);
        if admitting {
            s.handle_read(&mut wire(&[Message::Hello(remote())]), t0);
        }
        transmits(&mut s);
        events(&mut s);
        assert_eq!(s.poll_timeout(), Some(deadline));
        s.handle_timeout(deadline - Duration::from_nanos(1));
        assert!(!s.has_output(), "{direction:?}");
        s.handle_timeout(deadline);
        assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
        assert_eq!(
            events(&mut s),
            [closed(
                CloseCause::HandshakeTimeout,
                final_frame(&[0, 0, 0, 2, tag, 11])
            )],
            "{direction:?}"
        );
    }
}

/// Bad input during the handshake: the acceptor answers a foreign magic
/// with silence, another version with `unsupported_version`, a prefix over
/// the handshake cap with `frame_too_large`, a zero prefix with
/// `protocol_violation`; the dialer answers garbage with silence.
#[test]
fn bad_input_during_the_handshake() {
    let t0 = test_epoch();
    let mut foreign = hello_bytes(0x01, REMOTE);
    foreign[5..9].copy_from_slice(b"HTTP");
    let mut v2 = hello_bytes(0x01, REMOTE);
    v2[10] = 2;
    let over = (MAX_HANDSHAKE_FRAME + 1).to_be_bytes().to_vec();
    let too_large = FrameError::TooLarge {
        len: MAX_HANDSHAKE_FRAME + 1,
        max: MAX_HANDSHAKE_FRAME,
    };
    let cases = [
        (
            ConnectionDirection::Inbound,
            foreign.clone(),
            CloseCause::Decode(DecodeError::BadMagic(*b"HTTP")),
            ClosePolicy::Drop,
        ),
        (
            ConnectionDirection::Inbound,
            v2,
            CloseCause::Decode(DecodeError::UnsupportedVersion(2)),
            final_frame(&[0, 0, 0, 2, 0x03, 4]),
        ),
        (
            ConnectionDirection::Inbound,
            over.clone(),
            CloseCause::Frame(too_large.clone()),
            final_frame(&[0, 0, 0, 2, 0x03, 12]),
        ),
        (
            ConnectionDirection::Inbound,
            vec![0, 0, 0, 0],
            CloseCause::Frame(FrameError::Empty),
            final_frame(&[0, 0, 0, 2, 0x03, 9]),
        ),
        (
            ConnectionDirection::Outbound,
            over,
            CloseCause::Frame(too_large),
            ClosePolicy::Drop,
        ),
        (
            ConnectionDirection::Outbound,
            foreign,
            CloseCause::Decode(DecodeError::BadMagic(*b"HTTP")),
            ClosePolicy::Drop,
        ),
    ];
    for (direction, bytes, cause, policy) in cases {
        let mut s = Session::new(direction, &config(), local(), t0, SEED);
        transmits(&mut s);
        s.handle_read(&mut BytesMut::from(&bytes[..]), t0);
        assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
        assert_eq!(events(&mut s), [closed(cause, policy)], "{direction:?}");
    }
}

/// A message that has no place in the handshake: the acceptor answers
/// with `HelloReject(protocol_violation)`, the dialer with
/// `Goodbye(protocol_violation)`; the dialer's refused hello ends it with
/// `Remote(reason)` and silence.
#[test]
fn unexpected_messages_during_the_handshake() {
    let t0 = test_epoch();
    let app = Message::App(Bytes::from_static(b"early"));
    let ping = Message::Ping {
        nonce: 1,
        timestamp_ms: 0,
    };
    let cases = [
        (
            ConnectionDirection::Inbound,
            app,
            CloseCause::Unexpected(MessageType::App),
            final_frame(&[0, 0, 0, 2, 0x03, 9]),
        ),
        (
            ConnectionDirection::Outbound,
            ping,
            CloseCause::Unexpected(MessageType::Ping),
            final_frame(&[0, 0, 0, 2, 0x06, 9]),
        ),
        (
            ConnectionDirection::Outbound,
            Message::Goodbye(Reason::Shutdown),
            CloseCause::Unexpected(MessageType::Goodbye),
            final_frame(&[0, 0, 0, 2, 0x06, 9]),
        ),
        (
            ConnectionDirection::Outbound,
            Message::HelloReject(Reason::Denied),
            CloseCause::Remote(Reason::Denied),
            ClosePolicy::Drop,
        ),
    ];
    for (direction, message, cause, policy) in cases {
        let mut s = Session::new(direction, &config(), local(), t0, SEED);
        transmits(&mut s);
        s.handle_read(&mut wire(&[message]), t0);
        assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
        assert_eq!(events(&mut s), [closed(cause, policy)], "{direction:?}");
    }
}

/// Frames that arrive in the same read as the hello stay in the buffer
/// until the session is established (the acceptor: until admitted), and
/// are then handled as established traffic.
#[test]
fn frames_behind_the_hello_wait_for_establishment() {
    let t0 = test_epoch();
    let ping = Message::Ping {
        nonce: 5,
        timestamp_ms: 0,
    };
    let app = Message::App(Bytes::from_static(b"hi"));
    let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
    let mut buf = wire(&[Message::Hello(remote()), ping.clone(), app.clone()]);
    let behind = wire(&[ping.clone(), app.clone()]);
    s.handle_read(&mut buf, t0);
    assert_eq!(buf, behind);
    assert_eq!(events(&mut s), [SessionEvent::HelloReceived(remote())]);
    s.handle_read(&mut buf, t0);
    assert_eq!(buf, behind, "nothing decoded before admission");
    s.admit(Ok(()), t0);
    assert_eq!(buf, behind);
    assert_eq!(transmits(&mut s), [hello_bytes(0x02, LOCAL)]);
    assert_eq!(events(&mut s), [SessionEvent::Established(remote())]);
    s.handle_read(&mut buf, t0);
    assert!(buf.is_empty());
    let pong = Message::Pong {
        nonce: 5,
        timestamp_ms: 0,
    };
    assert_eq!(transmits(&mut s), [pong.to_frame()]);
    assert_eq!(
        events(&mut s),
        [SessionEvent::Message(Bytes::from_static(b"hi"))]
    );

    let mut s = Session::new(ConnectionDirection::Outbound, &config(), local(), t0, SEED);
    transmits(&mut s);
    let mut buf = wire(&[Message::HelloAccept(remote()), app]);
    s.handle_read(&mut buf, t0);
    assert_eq!(events(&mut s), [SessionEvent::Established(remote())]);
    s.handle_read(&mut buf, t0);
    assert_eq!(
        events(&mut s),
        [SessionEvent::Message(Bytes::from_static(b"hi"))]
    );
}

/// A ping is answered with a pong echoing nonce and timestamp, byte for
/// byte; a partial frame stays in the buffer; an application payload
/// shares the read buffer's allocation.
#[test]
fn ping_is_answered_and_payloads_are_not_copied() {
    let t0 = test_epoch();
    let mut s = established_acceptor(t0);
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0, 0, 0, 17, 0x04]);
    buf.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    buf.extend_from_slice(&42u64.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 4, 0x10, b'a', b'b', b'c']);
    buf.extend_from_slice(&[0, 0, 0, 9, 0x10, b'x']);
    let base = buf.as_ptr();
    s.handle_read(&mut buf, t0);
    let mut pong = vec![0, 0, 0, 17, 0x05];
    pong.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    pong.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
    assert_eq!(transmits(&mut s), [pong]);
    let got = events(&mut s);
    assert_eq!(got, [SessionEvent::Message(Bytes::from_static(b"abc"))]);
    let SessionEvent::Message(payload) = &got[0] else {
        unreachable!()
    };
    assert_eq!(payload.as_ptr(), base.wrapping_add(4 + 17 + 4 + 1));
    assert_eq!(buf[..], [0, 0, 0, 9, 0x10, b'x']);
}

/// A pong for our pending ping yields the round trip: send to receive.
#[test]
fn pong_yields_rtt() {
    let t0 = test_epoch();
    let mut s = established_dialer(t0);
    assert_eq!(s.poll_timeout(), Some(t0));
    let nonce = ping_due(&mut s, t0);
    let rtt = Duration::from_millis(30);
    s.handle_read(
        &mut wire(&[Message::Pong {
            nonce,
            timestamp_ms: 0,
        }]),
        t0 + rtt,
    );
    assert_eq!(events(&mut s), [SessionEvent::Rtt(rtt)]);
    assert_eq!(s.ping().and_then(PingState::last_rtt), Some(rtt));
}

/// The peer's goodbye ends the session with `Remote(reason)`, nothing said
/// back; EOF ends it with `Lost`, nothing said either; both flush what is
/// queued. EOF during the handshake drops the stream.
#[test]
fn goodbye_and_eof_say_nothing() {
    let t0 = test_epoch();
    let mut s = established_acceptor(t0);
    s.handle_read(&mut wire(&[Message::Goodbye(Reason::Duplicate)]), t0);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Remote(Reason::Duplicate),
            ClosePolicy::Flush
        )]
    );

    let mut s = established_acceptor(t0);
    s.handle_eof(t0);
    assert_eq!(
        events(&mut s),
        [closed(CloseCause::Lost, ClosePolicy::Flush)]
    );

    let mut s = Session::new(ConnectionDirection::Inbound, &config(), local(), t0, SEED);
    s.handle_eof(t0);
    assert_eq!(
        events(&mut s),
        [closed(CloseCause::Lost, ClosePolicy::Drop)]
    );
}

/// A local close says `Goodbye(reason)` as the final frame, after the
/// transmits already produced; during the handshake it says nothing.
#[test]
fn local_close_says_goodbye_last() {
    let t0 = test_epoch();
    let mut s = established_acceptor(t0);
    let ping = Message::Ping {
        nonce: 9,
        timestamp_ms: 1,
    };
    s.handle_read(&mut wire(&[ping]), t0);
    s.close(Reason::Duplicate, t0);
    s.close(Reason::Shutdown, t0);
    let pong = Message::Pong {
        nonce: 9,
        timestamp_ms: 1,
    };
    assert_eq!(transmits(&mut s), [pong.to_frame()]);
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Local(Reason::Duplicate),
            final_frame(&[0, 0, 0, 2, 0x06, 1])
        )]
    );

    let mut s = Session::new(ConnectionDirection::Outbound, &config(), local(), t0, SEED);
    transmits(&mut s);
    s.close(Reason::Shutdown, t0);
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Local(Reason::Shutdown),
            ClosePolicy::Drop
        )]
    );
}

/// A handshake message on an established connection is a violation,
/// answered with `Goodbye(protocol_violation)`; messages before it in the
/// same read are still reported, in order, before the close.
#[test]
fn handshake_message_after_establishment_is_a_violation() {
    let t0 = test_epoch();
    for (message, tag) in [
        (Message::Hello(remote()), MessageType::Hello),
        (Message::HelloAccept(remote()), MessageType::HelloAccept),
        (
            Message::HelloReject(Reason::Denied),
            MessageType::HelloReject,
        ),
    ] {
        let mut s = established_dialer(t0);
        let app = Message::App(Bytes::from_static(b"before"));
        let mut buf = wire(&[app, message, Message::App(Bytes::from_static(b"after"))]);
        s.handle_read(&mut buf, t0);
        assert_eq!(
            events(&mut s),
            [
                SessionEvent::Message(Bytes::from_static(b"before")),
                closed(
                    CloseCause::Violation(ProtocolViolation::HandshakeAfterEstablished(tag)),
                    final_frame(&[0, 0, 0, 2, 0x06, 9])
                )
            ]
        );
        s.handle_read(&mut buf, t0);
        s.handle_timeout(t0);
        s.close(Reason::Shutdown, t0);
        assert!(!s.has_output(), "inputs after the close are ignored");
        assert_eq!(s.poll_timeout(), None);
    }
}

/// Pings beyond `max_pings_per_interval` in one interval: the allowed ones
/// are answered, the next is a flood, answered with `Goodbye(rate_limited)`.
#[test]
fn ping_flood_is_rate_limited() {
    let t0 = test_epoch();
    let mut s = established_acceptor(t0);
    let allowed = u64::from(config().max_pings_per_interval);
    let pings: Vec<Message> = (0..=allowed)
        .map(|nonce| Message::Ping {
            nonce,
            timestamp_ms: 0,
        })
        .collect();
    s.handle_read(&mut wire(&pings), t0);
    assert_eq!(transmits(&mut s).len() as u64, allowed);
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::Violation(ProtocolViolation::PingFlood),
            final_frame(&[0, 0, 0, 2, 0x06, 15])
        )]
    );
}

/// A transmit the shell could not queue (the peer does not read) closes
/// with `SlowReader`, `Goodbye(slow_reader)` as the final frame, and the
/// transmits not yet taken dropped.
#[test]
fn control_refused_is_a_slow_reader() {
    let t0 = test_epoch();
    let mut s = established_acceptor(t0);
    let pings: Vec<Message> = (0..3)
        .map(|nonce| Message::Ping {
            nonce,
            timestamp_ms: 0,
        })
        .collect();
    s.handle_read(&mut wire(&pings), t0);
    assert!(s.poll_transmit().is_some());
    s.control_refused(t0);
    assert_eq!(transmits(&mut s), Vec::<Bytes>::new());
    assert_eq!(
        events(&mut s),
        [closed(
            CloseCause::SlowReader,
            final_frame(&[0, 0, 0, 2, 0x06, 14])
        )]
    );
}

/// A peer that answered the ping sent at `p` and nothing after is declared
/// dead exactly `Config::dead_peer_bound()` later, with `PingTimeout` and
/// `Goodbye(ping_timeout)`, not a nanosecond before; one silent from the
/// start, `(m - 1)·I + T` after establishment.
#[test]
fn ping_timeout_at_the_documented_bound() {
    let t0 = test_epoch();
    let c = config();
    let dead_at = |s: &mut Session| -> Instant {
        loop {
            let at = s.poll_timeout().expect("alive");
            s.handle_timeout(at);
            transmits(s);
            if let Some(SessionEvent::Closed(close)) = s.poll_event() {
                assert_eq!(close.cause, CloseCause::PingTimeout { missed: 3 });
                assert_eq!(close.policy, final_frame(&[0, 0, 0, 2, 0x06, 10]));
                return at;
            }
        }
    };

    let mut s = established_dialer(t0);
    let nonce = ping_due(&mut s, t0);
    s.handle_read(
        &mut wire(&[Message::Pong {
            nonce,
            timestamp_ms: 0,
        }]),
        t0 + Duration::from_millis(1),
    );
    events(&mut s);
    let mut early = s.clone();
    let at = dead_at(&mut s);
    assert_eq!(at, t0 + c.dead_peer_bound());
    // The same session, a nanosecond before, is still alive.
    let before = at - Duration::from_nanos(1);
    while early.poll_timeout().is_some_and(|t| t <= before) {
        let t = early.poll_timeout().expect("alive");
        early.handle_timeout(t);
    }
    early.handle_timeout(before);
    transmits(&mut early);
    assert!(events(&mut early).is_empty());

    let mut silent = established_acceptor(t0);
    let at = dead_at(&mut silent);
    assert_eq!(
        at,
        t0 + c.ping_interval * (c.max_missed_pongs - 1) + c.pong_timeout
    );
}

/// A session is a value: the same inputs at the same instants give equal
/// sessions with equal hashes and the same bytes; another seed gives other
/// ping nonces.
#[test]
fn session_is_a_value() {
    fn hash_of(s: &Session) -> u64 {
        let mut h = DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }
    let t0 = test_epoch();
    let mut a = established_dialer(t0);
    let mut b = established_dialer(t0);
    assert_eq!((&a, hash_of(&a)), (&b, hash_of(&b)));
    let nonce = ping_due(&mut a, t0);
    assert_ne!(a, b);
    assert_eq!(ping_due(&mut b, t0), nonce);
    assert_eq!((&a, hash_of(&a)), (&b, hash_of(&b)));
    let mut other = Session::new(
        ConnectionDirection::Outbound,
        &config(),
        local(),
        t0,
        SEED + 1,
    );
    other.handle_read(&mut wire(&[Message::HelloAccept(remote())]), t0);
    transmits(&mut other);
    events(&mut other);
    assert_ne!(ping_due(&mut other, t0), nonce);
}
