//! `Session` without a runtime: exact bytes out, exact events, exact
//! instants, for each decision the shell used to make in async code. The
//! helpers are here; `handshake` tests the handshake by side, `established`
//! the traffic, liveness and closes after it.

use super::*;
use crate::error::FrameError;
use crate::id::NodeId;
use crate::test_epoch;
use crate::wire::{MessageType, PROTOCOL_VERSION};

mod established;
mod handshake;

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
