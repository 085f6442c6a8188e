//! The `slow_reader` close, on real tokio TCP over loopback (turmoil never
//! blocks a writer, so this path only exists on a real socket).
//!
//! A hostile peer on 127.0.0.3 completes a valid handshake with a test node
//! on 127.0.0.1, then sends valid pings at an allowed rate (one per
//! `ping_interval`, under `max_pings_per_interval`, each with a fresh nonce)
//! but never reads another byte, with a small socket receive buffer. The
//! node's owner keeps sending it large application payloads, so the kernel
//! buffers fill and the node's writer blocks; the pongs the node owes and
//! its own pings then pile up in the 64 control slots of the send queue
//! until one more cannot be queued. The test checks that:
//!
//! - the node closes that connection with exactly
//!   `ConnectionError::SlowReader` (reason `slow_reader`, code 14) — not a
//!   ping timeout (`pong_timeout` is far beyond the test's length), not a
//!   ping flood — and no sooner than control frames at those rates can
//!   fill the room (31 ping intervals);
//! - the owner's sends then fail with exactly `SendError::Closed`;
//! - an honest connection from 127.0.0.2, established before the hostile
//!   one, is undisturbed: it carries an application message each way after
//!   the close, and neither of its ends ever reports `Closed`;
//! - no task of the node or of the honest dialer panicked, and no handshake
//!   failed.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use peerlink::error::{ConnectionError, SendError};
use peerlink::peer::{ConnectionEvent, ConnectionEventKind, ConnectionHandle, MAX_HANDSHAKE_FRAME};
use peerlink::transport::TcpTransport;
use peerlink::wire::{decode_frame, Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::{Config, ConnectionId, DisconnectReason, NodeId, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

const NODE: u128 = 0x51_0e;
const HONEST: u128 = 0x600d;
const HOSTILE: u128 = 0x0bad;
/// Both ends' ping interval; the hostile peer pings at this rate too.
const PING_INTERVAL: Duration = Duration::from_millis(100);
/// Far beyond the test's length: no ping of ours can count as missed.
const PONG_TIMEOUT: Duration = Duration::from_secs(60);
/// The hostile peer's socket receive buffer (the kernel may round it up).
const HOSTILE_RCVBUF: u32 = 4 * 1024;
/// Each payload the node's owner sends to the hostile peer.
const PAYLOAD_LEN: usize = 64 * 1024;
/// Longest a single step that needs no accumulation may take.
const WAIT: Duration = Duration::from_secs(5);
/// Longest the control room may take to fill: about 64 / 2 = 32 ping
/// intervals (one ping of ours and one pong per interval) once the writer
/// blocks, with a wide margin.
const FILL_WAIT: Duration = Duration::from_secs(8);
/// Upper bound for the whole test.
const TEST_LIMIT: Duration = Duration::from_secs(10);

/// Fast pings, a ping timeout that cannot fire within the test, and the
/// default rate limit (4 pings per interval) and queue limits.
fn config() -> Config {
    let config = {
        let mut c = Config::default();
        c.ping_interval = PING_INTERVAL;
        c.pong_timeout = PONG_TIMEOUT;
        c.max_missed_pongs = 3;
        c.handshake_timeout = Duration::from_secs(2);
        c.connect_timeout = Duration::from_secs(2);
        c
    };
    // Our first ping could count as missed only after `pong_timeout`.
    assert!(config.pong_timeout > TEST_LIMIT * 2);
    // The hostile peer's one ping per interval leaves room for jitter.
    assert!(config.max_pings_per_interval >= 4);
    config
}

/// One application payload each way on the honest connection: dialer to
/// node, then node to dialer, each received exactly.
async fn exchange(
    honest: &mut Dialed,
    at_node: &ConnectionHandle,
    taps: &mut NodeTaps,
    tag: &'static [u8],
) {
    honest
        .handle
        .send(Bytes::from_static(tag))
        .expect("dialer send");
    let (_, got) = next_message(&mut taps.events, at_node.info().id, WAIT).await;
    assert_eq!(got, Bytes::from_static(tag));
    at_node.send(Bytes::from_static(tag)).expect("node send");
    let (_, got) = next_message(&mut honest.events, honest.handle.info().id, WAIT).await;
    assert_eq!(got, Bytes::from_static(tag));
}

/// A raw TCP stream from 127.0.0.3 with a small receive buffer, past the
/// dialer's half of a valid handshake: the node's `HelloAccept` is the last
/// thing this side reads.
async fn hostile_established(node: SocketAddr) -> (OwnedReadHalf, OwnedWriteHalf, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    // Before connect, so the advertised window stays small.
    socket
        .set_recv_buffer_size(HOSTILE_RCVBUF)
        .expect("set SO_RCVBUF");
    socket
        .bind(SocketAddr::new(loopback(3), 0))
        .expect("bind 127.0.0.3");
    let stream = socket.connect(node).await.expect("hostile connect");
    stream.set_nodelay(true).expect("nodelay");
    let local_addr = stream.local_addr().expect("local addr");
    let (mut reader, mut writer) = stream.into_split();
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        network_id: 0,
        node_id: NodeId(HOSTILE),
        listen_port: 0,
    });
    writer
        .write_all(&hello.to_frame())
        .await
        .expect("write hello");
    let mut buf = BytesMut::new();
    let reply = loop {
        if let Some(body) = decode_frame(&mut buf, MAX_HANDSHAKE_FRAME).expect("node frame") {
            break Message::decode(body).expect("node message");
        }
        let n = tokio::time::timeout(WAIT, reader.read_buf(&mut buf))
            .await
            .expect("HelloAccept in time")
            .expect("hostile read");
        assert_ne!(n, 0, "node closed during the handshake");
    };
    match reply {
        Message::HelloAccept(hello) => assert_eq!(hello.node_id, NodeId(NODE)),
        other => panic!("expected HelloAccept, got {other:?}"),
    }
    (reader, writer, local_addr)
}

/// Sends a valid ping once per `PING_INTERVAL` (never bursting to catch
/// up), each with a fresh nonce, until a write fails (the node has closed).
async fn ping_without_reading(mut writer: OwnedWriteHalf) {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(PING_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for nonce in 1u64.. {
        ticker.tick().await;
        let ping = Message::Ping {
            nonce,
            timestamp_ms: start.elapsed().as_millis() as u64,
        };
        if writer.write_all(&ping.to_frame()).await.is_err() {
            return;
        }
    }
}

/// The node's owner: sends `PAYLOAD_LEN`-byte payloads to `handle` as fast
/// as its queue takes them (waiting while it is full), until a send fails;
/// returns that failure.
async fn flood_owner(handle: ConnectionHandle) -> SendError {
    let payload = Bytes::from(vec![0xa5; PAYLOAD_LEN]);
    loop {
        if let Err(e) = handle.sender().send_wait(payload.clone()).await {
            return e;
        }
    }
}

/// Every event already waiting in `events`; none may be a `Closed`, and all
/// must belong to `id`.
fn assert_no_close(events: &mut mpsc::Receiver<Stamped<ConnectionEvent>>, id: ConnectionId) {
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.item.id, id, "unexpected event {:?}", event.item);
        assert!(
            !matches!(event.item.kind, ConnectionEventKind::Closed(_)),
            "honest connection closed: {:?}",
            event.item
        );
    }
}

/// A peer that pings within the rules but never reads, while our owner
/// keeps sending to it, is closed with `SlowReader`; an honest connection
/// to the same node carries on.
#[tokio::test(unhandled_panic = "shutdown_runtime")]
async fn peer_that_pings_but_never_reads_is_closed_as_slow_reader() {
    tokio::time::timeout(TEST_LIMIT, async {
        let (node, mut taps) = tcp_node(loopback(1), context(NODE, config(), None), 7).await;

        // The honest connection first: node id 1.
        let ctx = context(HONEST, config(), Some(loopback(2)));
        let mut honest = dial(&TcpTransport, node, &ctx, conn_id(1), 11)
            .await
            .expect("honest dial");
        let honest_at_node = taps.accepted.recv().await.expect("accepted").handle;
        assert_eq!(honest_at_node.info().id, conn_id(1));
        assert_eq!(honest_at_node.info().peer, PeerId::new(loopback(2)));
        exchange(&mut honest, &honest_at_node, &mut taps, b"before").await;

        // The hostile connection: node id 2.
        let (hostile_reader, hostile_writer, hostile_addr) = hostile_established(node).await;
        let hostile_at_node = taps.accepted.recv().await.expect("accepted").handle;
        let hostile_id = hostile_at_node.info().id;
        assert_eq!(hostile_id, conn_id(2));
        assert_eq!(hostile_at_node.info().remote_addr, hostile_addr);
        assert_eq!(hostile_at_node.info().peer, PeerId::new(loopback(3)));
        assert_eq!(hostile_at_node.info().remote.node_id, NodeId(HOSTILE));

        // Nothing fills the node's socket buffers before this instant.
        let started = Instant::now();
        let pinger = tokio::spawn(ping_without_reading(hostile_writer));
        let owner = tokio::spawn(flood_owner(hostile_at_node.clone()));

        // The node's events: the honest connection's RTTs are skipped, any
        // Closed but the hostile one's fails the test.
        let (_, err) = next_closed(&mut taps.events, hostile_id, FILL_WAIT).await;
        let took = started.elapsed();
        assert!(matches!(err, ConnectionError::SlowReader), "{err:?}");
        assert_eq!(err.reason(), DisconnectReason::Local(Reason::SlowReader));
        assert_eq!(err.reason().code().map(Reason::code), Some(14));
        assert_eq!(err.reason().as_str(), "slow_reader");
        assert!(!err.is_misbehaviour());

        // The close came from control frames piling up at the allowed rate,
        // not from anything sooner. The node's buffers fill only after
        // `started`, so the writer's last take came after it; the 65th
        // control frame queued since that take is the one refused. In
        // `took`, with n = floor(took / interval): our pings are due once
        // per interval, at most n + 1 of them, plus one due earlier and sent
        // late; the hostile pings (so our pongs) start at `started`, one per
        // interval, at most n + 1. So 65 <= 2n + 3, i.e. n >= 31.
        assert!(
            took >= PING_INTERVAL * 31,
            "closed after {took:?}, before 64 control frames could pile up"
        );

        // The owner's sends stop with exactly `Closed`.
        let stopped = tokio::time::timeout(WAIT, owner)
            .await
            .expect("owner stopped in time")
            .expect("owner task");
        assert_eq!(stopped, SendError::Closed);
        assert!(hostile_at_node.sender().is_closed());
        assert_eq!(
            hostile_at_node.send(Bytes::from_static(b"late")),
            Err(SendError::Closed)
        );
        pinger.abort();
        drop(hostile_reader);

        // The honest connection is undisturbed.
        exchange(&mut honest, &honest_at_node, &mut taps, b"after").await;
        assert!(!honest.handle.sender().is_closed());
        assert!(!honest_at_node.sender().is_closed());
        assert_no_close(&mut taps.events, honest_at_node.info().id);
        assert_no_close(&mut honest.events, honest.handle.info().id);
        assert_eq!(taps.panics.load(Ordering::SeqCst), 0);
        assert_eq!(honest.panics.load(Ordering::SeqCst), 0);
        assert!(taps.failures.try_recv().is_err(), "no handshake failed");
    })
    .await
    .expect("test finished in time");
}
