//! The handshake, by side: who sends what, who is refused with which
//! reason, what a timeout says and when, and what stays in the buffer.

use super::*;

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
