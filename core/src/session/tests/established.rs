//! After the handshake: what each message means, liveness, and how each
//! close ends.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::*;

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
