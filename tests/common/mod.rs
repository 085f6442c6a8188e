//! Shared helpers for the integration tests: connection contexts, a tiny
//! "test node" that accepts connections on any `Transport` and reports what
//! happened on bounded channels, a raw socket that speaks hand-made frames,
//! and turmoil builders with fixed latency.
//!
//! Every test binary uses a different subset, hence the `dead_code` allow.
//! Submodules: `bad_input` (the bad-input harness) and `prop` (property
//! test settings).

#![allow(dead_code)]

pub mod bad_input;
pub mod prop;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerlink::error::{ConnectError, ConnectionError, HandshakeError};
use peerlink::id::ConnectionIds;
use peerlink::peer::{
    ConnectionContext, ConnectionEvent, ConnectionEventKind, ConnectionHandle, PeerConnection,
};
use peerlink::transport::{Link, Listener, Transport};
use peerlink::wire::{decode_frame, Hello, Message, PROTOCOL_VERSION};
use peerlink::{Config, ConnectionId, NodeId};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Port the test node listens on inside turmoil.
pub const SIM_PORT: u16 = 9000;
/// Capacity of every test channel: bounded, and larger than any test needs
/// between two drains.
pub const TAP_CAPACITY: usize = 256;

/// A validated context for a node with this id and config.
pub fn context(node_id: u128, config: Config, local_ip: Option<IpAddr>) -> ConnectionContext {
    ConnectionContext::new(config, NodeId(node_id), SIM_PORT, local_ip)
        .expect("test config is valid")
}

/// A connection's seed, drawn from a ChaCha stream seeded with `seed`.
pub fn rng(seed: u64) -> u64 {
    ChaCha8Rng::seed_from_u64(seed).next_u64()
}

/// `127.0.0.x`, for real-TCP nodes on one machine.
pub fn loopback(x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, x))
}

/// A clock for stamps: turmoil's simulated elapsed time inside a sim (one
/// timeline shared by all hosts), else tokio time since `base`.
pub fn stamp(base: Instant) -> Duration {
    turmoil::sim_elapsed().unwrap_or_else(|| base.elapsed())
}

/// Something that happened at a stamped time.
#[derive(Debug)]
pub struct Stamped<T> {
    /// When (see [`stamp`]).
    pub at: Duration,
    /// What.
    pub item: T,
}

/// A connection the test node accepted and handshook.
#[derive(Debug)]
pub struct Accepted {
    /// When the handshake completed.
    pub at: Duration,
    /// The node's handle on it.
    pub handle: ConnectionHandle,
}

/// An inbound handshake that failed on the test node.
#[derive(Debug)]
pub struct Failure {
    /// When the TCP connection was accepted.
    pub accepted_at: Duration,
    /// When the handshake failed.
    pub at: Duration,
    /// The id the node gave the connection.
    pub id: ConnectionId,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// Why.
    pub error: HandshakeError,
}

/// The node's ends of the test channels.
#[derive(Clone)]
pub struct NodeSinks {
    accepted: mpsc::Sender<Accepted>,
    failures: mpsc::Sender<Failure>,
    events: mpsc::Sender<Stamped<ConnectionEvent>>,
    panics: Arc<AtomicUsize>,
}

/// The test's ends of the test channels.
pub struct NodeTaps {
    /// Handshaken inbound connections.
    pub accepted: mpsc::Receiver<Accepted>,
    /// Failed inbound handshakes.
    pub failures: mpsc::Receiver<Failure>,
    /// Events of every accepted connection.
    pub events: mpsc::Receiver<Stamped<ConnectionEvent>>,
    /// Tasks of the node that ended in a panic.
    pub panics: Arc<AtomicUsize>,
}

/// A fresh pair of bounded channel ends for one test node.
pub fn node_channels() -> (NodeSinks, NodeTaps) {
    let (accepted_tx, accepted) = mpsc::channel(TAP_CAPACITY);
    let (failures_tx, failures) = mpsc::channel(TAP_CAPACITY);
    let (events_tx, events) = mpsc::channel(TAP_CAPACITY);
    let panics = Arc::new(AtomicUsize::new(0));
    let sinks = NodeSinks {
        accepted: accepted_tx,
        failures: failures_tx,
        events: events_tx,
        panics: panics.clone(),
    };
    let taps = NodeTaps {
        accepted,
        failures,
        events,
        panics,
    };
    (sinks, taps)
}

/// Spawns `fut` and counts it in `panics` if it panics.
pub fn spawn_monitored<F>(fut: F, panics: Arc<AtomicUsize>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let task = tokio::spawn(fut);
    tokio::spawn(async move {
        if let Err(e) = task.await {
            if e.is_panic() {
                panics.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
}

/// Starts a handshaken connection; its events are stamped and forwarded to
/// `out` (in order, ending with `Closed`).
pub fn start_stamped<T: Transport>(
    conn: PeerConnection<T>,
    out: mpsc::Sender<Stamped<ConnectionEvent>>,
    panics: Arc<AtomicUsize>,
    base: Instant,
) -> ConnectionHandle {
    let (tx, mut rx) = mpsc::channel(TAP_CAPACITY);
    let (handle, fut) = conn.start(tx);
    spawn_monitored(fut, panics.clone());
    spawn_monitored(
        async move {
            while let Some(event) = rx.recv().await {
                let stamped = Stamped {
                    at: stamp(base),
                    item: event,
                };
                if out.send(stamped).await.is_err() {
                    break;
                }
            }
        },
        panics,
    );
    handle
}

/// The test node: accepts in a loop, handshakes each link with
/// `PeerConnection::new_inbound` (admitting everyone), and reports accepted
/// connections, handshake failures and connection events on `sinks`.
/// Connection ids count from 1 in accept order.
pub async fn run_node<T: Transport>(
    mut listener: T::Listener,
    ctx: ConnectionContext,
    seed: u64,
    sinks: NodeSinks,
) -> io::Result<()> {
    let base = Instant::now();
    let mut ids = ConnectionIds::new();
    loop {
        let link = listener.accept().await?;
        let id = ids.allocate();
        let accepted_at = stamp(base);
        let ctx = ctx.clone();
        let sinks = sinks.clone();
        let panics = sinks.panics.clone();
        let conn_rng = rng(seed.wrapping_mul(1000).wrapping_add(id.get()));
        spawn_monitored(
            handle_link::<T>(link, ctx, id, conn_rng, sinks, accepted_at, base),
            panics,
        );
    }
}

async fn handle_link<T: Transport>(
    link: Link<T::Reader, T::Writer>,
    ctx: ConnectionContext,
    id: ConnectionId,
    conn_rng: u64,
    sinks: NodeSinks,
    accepted_at: Duration,
    base: Instant,
) {
    let remote_addr = link.remote_addr;
    match PeerConnection::<T>::new_inbound(link, &ctx, id, conn_rng, |_| Ok(())).await {
        Ok(conn) => {
            let handle = start_stamped(conn, sinks.events.clone(), sinks.panics.clone(), base);
            let accepted = Accepted {
                at: stamp(base),
                handle,
            };
            let _ = sinks.accepted.send(accepted).await;
        }
        Err(error) => {
            let failure = Failure {
                accepted_at,
                at: stamp(base),
                id,
                remote_addr,
                error,
            };
            let _ = sinks.failures.send(failure).await;
        }
    }
}

/// An outbound connection started by the test, with its stamped events.
pub struct Dialed {
    /// The dialer's handle.
    pub handle: ConnectionHandle,
    /// Its events, ending with `Closed`.
    pub events: mpsc::Receiver<Stamped<ConnectionEvent>>,
    /// Its tasks that panicked.
    pub panics: Arc<AtomicUsize>,
    /// Base of the stamps when outside a sim.
    pub base: Instant,
}

/// The `n`th id an allocator hands out (`n` from 1): `c{n}`.
pub fn conn_id(n: u64) -> ConnectionId {
    let mut ids = ConnectionIds::new();
    (1..n).for_each(|_| {
        ids.allocate();
    });
    ids.allocate()
}

/// Dials `addr` with `PeerConnection::new_outbound`, naming the connection
/// `id`, and starts it.
pub async fn dial<T: Transport>(
    transport: &T,
    addr: SocketAddr,
    ctx: &ConnectionContext,
    id: ConnectionId,
    seed: u64,
) -> Result<Dialed, ConnectError> {
    let base = Instant::now();
    let conn = PeerConnection::new_outbound(transport, addr, ctx, id, rng(seed)).await?;
    let (tx, events) = mpsc::channel(TAP_CAPACITY);
    let panics = Arc::new(AtomicUsize::new(0));
    let handle = start_stamped(conn, tx, panics.clone(), base);
    Ok(Dialed {
        handle,
        events,
        panics,
        base,
    })
}

/// Waits up to `within` for the first event `pick` accepts, skipping the
/// others. A `Closed` event that `pick` does not accept fails the test: no
/// connection may end unless the test waits for that.
pub async fn wait_event<R>(
    events: &mut mpsc::Receiver<Stamped<ConnectionEvent>>,
    within: Duration,
    mut pick: impl FnMut(&Stamped<ConnectionEvent>) -> Option<R>,
) -> R {
    let deadline = Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("timed out waiting for an event")
            .expect("event channel closed");
        if let Some(r) = pick(&event) {
            return r;
        }
        if let ConnectionEventKind::Closed(e) = &event.item.kind {
            panic!(
                "connection {} closed unexpectedly: {e:?} (reason {})",
                event.item.id,
                e.reason()
            );
        }
    }
}

/// The next application payload on connection `id`, with its stamp.
pub async fn next_message(
    events: &mut mpsc::Receiver<Stamped<ConnectionEvent>>,
    id: ConnectionId,
    within: Duration,
) -> (Duration, Bytes) {
    wait_event(events, within, |e| match &e.item.kind {
        ConnectionEventKind::Message(b) if e.item.id == id => Some((e.at, b.clone())),
        _ => None,
    })
    .await
}

/// The next measured RTT on connection `id`, with its stamp.
pub async fn next_rtt(
    events: &mut mpsc::Receiver<Stamped<ConnectionEvent>>,
    id: ConnectionId,
    within: Duration,
) -> (Duration, Duration) {
    wait_event(events, within, |e| match &e.item.kind {
        ConnectionEventKind::Rtt(rtt) if e.item.id == id => Some((e.at, *rtt)),
        _ => None,
    })
    .await
}

/// Waits for connection `id` to close and returns its error, with its stamp.
pub async fn next_closed(
    events: &mut mpsc::Receiver<Stamped<ConnectionEvent>>,
    id: ConnectionId,
    within: Duration,
) -> (Duration, ConnectionError) {
    let deadline = Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("timed out waiting for Closed")
            .expect("event channel closed");
        match event.item.kind {
            ConnectionEventKind::Closed(e) if event.item.id == id => return (event.at, e),
            ConnectionEventKind::Closed(e) => panic!(
                "connection {} closed unexpectedly: {e:?} (reason {})",
                event.item.id,
                e.reason()
            ),
            _ => {}
        }
    }
}

/// How a raw read ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RawEnd {
    /// The peer closed its write side (FIN).
    Eof,
    /// The peer reset the connection.
    Reset,
}

/// A raw socket speaking hand-made frames, for driving a node with bad input.
pub struct Raw<T: Transport> {
    /// Read half.
    pub reader: T::Reader,
    /// Write half.
    pub writer: T::Writer,
    /// Our address (the node sees it as the remote address).
    pub local_addr: SocketAddr,
    buf: BytesMut,
}

/// Largest frame a raw socket accepts from the node.
const RAW_FRAME_CAP: u32 = 16 * 1024 * 1024;

impl<T: Transport> Raw<T> {
    /// Opens a raw stream to `addr` from `local_ip`.
    pub async fn open(transport: &T, addr: SocketAddr, local_ip: Option<IpAddr>) -> Self {
        let link = transport.open(addr, local_ip).await.expect("raw connect");
        Raw {
            reader: link.reader,
            writer: link.writer,
            local_addr: link.local_addr,
            buf: BytesMut::new(),
        }
    }

    /// Writes bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("raw write");
        self.writer.flush().await.expect("raw flush");
    }

    /// Writes one message as a frame.
    pub async fn send(&mut self, msg: &Message) {
        self.send_bytes(&msg.to_frame()).await;
    }

    /// Closes our write side (FIN).
    pub async fn shutdown(&mut self) {
        self.writer.shutdown().await.expect("raw shutdown");
    }

    /// The next message, or how the stream ended; fails the test after
    /// `within` or on a malformed frame from the node.
    pub async fn recv(&mut self, within: Duration) -> Result<Message, RawEnd> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(body) = decode_frame(&mut self.buf, RAW_FRAME_CAP).expect("node frame") {
                return Ok(Message::decode(body).expect("node message"));
            }
            let read = tokio::time::timeout_at(deadline, self.reader.read_buf(&mut self.buf))
                .await
                .expect("timed out reading from the node");
            match read {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "node sent a torn frame before EOF");
                    return Err(RawEnd::Eof);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(RawEnd::Reset),
                Err(e) => panic!("raw read failed: {e}"),
            }
        }
    }

    /// Every message until the node closes, and how it closed.
    pub async fn recv_all(&mut self, within: Duration) -> (Vec<Message>, RawEnd) {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Ok(msg) => got.push(msg),
                Err(end) => return (got, end),
            }
        }
    }

    /// The dialer's half of a valid handshake: sends `Hello` with `node_id`,
    /// expects `HelloAccept`, returns the node's hello.
    pub async fn handshake(&mut self, node_id: u128, network_id: u32) -> Hello {
        self.send(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            network_id,
            node_id: NodeId(node_id),
            listen_port: 0,
        }))
        .await;
        match self.recv(Duration::from_secs(5)).await {
            Ok(Message::HelloAccept(hello)) => hello,
            other => panic!("expected HelloAccept, got {other:?}"),
        }
    }
}

/// A turmoil builder: seeded, fixed latency `latency` both ways, 1 ms tick.
pub fn sim_builder(seed: u64, latency: Duration, duration: Duration) -> turmoil::Builder {
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .min_message_latency(latency)
        .max_message_latency(latency)
        .simulation_duration(duration);
    builder
}

/// Registers a test node as turmoil host `name`, listening on [`SIM_PORT`].
pub fn sim_node(
    sim: &mut turmoil::Sim<'_>,
    name: &str,
    ctx: ConnectionContext,
    seed: u64,
    sinks: NodeSinks,
) {
    use peerlink::transport::SimTransport;
    sim.host(name, move || {
        let ctx = ctx.clone();
        let sinks = sinks.clone();
        async move {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), SIM_PORT);
            let listener = SimTransport::default().bind(addr).await?;
            run_node::<SimTransport>(listener, ctx, seed, sinks).await?;
            Ok(())
        }
    });
}

/// The address of turmoil host `name`'s test node (call inside the sim).
pub fn sim_addr(name: &str) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(name), SIM_PORT)
}

/// A real-TCP test node on `ip`, port 0; returns its address and taps.
pub async fn tcp_node(ip: IpAddr, ctx: ConnectionContext, seed: u64) -> (SocketAddr, NodeTaps) {
    use peerlink::transport::TcpTransport;
    let listener = TcpTransport
        .bind(SocketAddr::new(ip, 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (sinks, taps) = node_channels();
    let panics = sinks.panics.clone();
    spawn_monitored(
        async move {
            let _ = run_node::<TcpTransport>(listener, ctx, seed, sinks).await;
        },
        panics,
    );
    (addr, taps)
}
