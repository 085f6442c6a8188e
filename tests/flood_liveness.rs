//! A peer whose stream is always readable cannot starve the connection's
//! liveness timer. The peer completes a handshake, then floods small
//! application frames without pause and never answers a ping; every read
//! finds more bytes at once (origin-style starvation: the message loop's
//! `select!` takes reads first). Virtual time moves on by one millisecond
//! per read, as a real flood would take time to arrive, on a paused tokio
//! clock, so the test is deterministic.
//!
//! The connection must still be closed for missed pongs exactly when the
//! core's `PingState` says so: three pings (the first once the flood has
//! kept the socket readable for 16 reads in a row, then on the grid of one
//! per `ping_interval` from the establishment), the last one timing out
//! `pong_timeout` after it, that is `dead_peer_bound - ping_interval` after
//! the connection was established. Before the fix the timer branch never
//! ran, no ping was ever sent, and the connection lived forever.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerlink::error::ConnectionError;
use peerlink::id::ConnectionIds;
use peerlink::peer::{ConnectionContext, ConnectionEventKind, PeerConnection};
use peerlink::transport::{Link, Listener, Transport};
use peerlink::wire::{Hello, Message, PROTOCOL_VERSION};
use peerlink::{Config, NodeId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Virtual time one read of the flood takes.
const READ_TAKES: Duration = Duration::from_millis(1);

/// The flooding peer's side of the stream: its hello, then application
/// frames without end; every read finds bytes waiting.
struct Flood {
    pending: Bytes,
    frame: Bytes,
    reads: Arc<AtomicU64>,
}

impl AsyncRead for Flood {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The read takes time: the paused clock moves on (`advance` moves
        // it on its first poll, then yields, which only asks for a poll).
        let mut advance = Box::pin(tokio::time::advance(READ_TAKES));
        let _ = advance.as_mut().poll(cx);
        self.reads.fetch_add(1, Ordering::Relaxed);
        // A few frames per read, the last one possibly cut.
        let mut room = buf.remaining().min(4 * self.frame.len());
        while room > 0 {
            if self.pending.is_empty() {
                self.pending = self.frame.clone();
            }
            let n = self.pending.len().min(room);
            buf.put_slice(&self.pending.split_to(n));
            room -= n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The flooding peer never reads: whatever is written vanishes.
struct Sink;

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A transport that only names the stream types: the test hands the
/// connection its link directly.
#[derive(Clone)]
struct Direct;

struct NoListener;

fn unsupported() -> io::Error {
    io::Error::from(io::ErrorKind::Unsupported)
}

impl Transport for Direct {
    type Reader = Flood;
    type Writer = Sink;
    type Listener = NoListener;

    async fn bind(&self, _: SocketAddr) -> io::Result<NoListener> {
        Err(unsupported())
    }

    async fn open(&self, _: SocketAddr, _: Option<IpAddr>) -> io::Result<Link<Flood, Sink>> {
        Err(unsupported())
    }
}

impl Listener for NoListener {
    type Reader = Flood;
    type Writer = Sink;

    async fn accept(&mut self) -> io::Result<Link<Flood, Sink>> {
        Err(unsupported())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported())
    }
}

fn config() -> Config {
    let mut c = Config::default();
    c.ping_interval = Duration::from_millis(100);
    c.pong_timeout = Duration::from_millis(200);
    c.max_missed_pongs = 3;
    c
}

/// A peer that floods frames and never answers a ping is closed with
/// `PingTimeout { missed: 3 }` at exactly established + 2 intervals + one
/// pong timeout, with the flood still coming (one read per millisecond).
#[tokio::test(start_paused = true)]
async fn a_flooding_peer_is_closed_for_missed_pongs_on_time() {
    let config = config();
    let ctx = ConnectionContext::new(config.clone(), NodeId(1), 7000, None).unwrap();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        network_id: config.network_id,
        node_id: NodeId(2),
        listen_port: 7000,
    };
    let mut first = BytesMut::new();
    Message::Hello(hello).encode(&mut first);
    let reads = Arc::new(AtomicU64::new(0));
    let flood = Flood {
        pending: first.freeze(),
        frame: Message::App(Bytes::from_static(b"flood")).to_frame(),
        reads: reads.clone(),
    };
    let link = Link {
        reader: flood,
        writer: Sink,
        local_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7000),
        remote_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40000),
    };
    let id = ConnectionIds::new().allocate();
    let conn = PeerConnection::<Direct>::new_inbound(link, &ctx, id, 7, |_| Ok(()))
        .await
        .unwrap();
    let established = Instant::from_std(conn.info().established_at);
    let (tx, mut rx) = mpsc::channel(16);
    let _handle = conn.spawn(tx);
    let wait = config.dead_peer_bound() * 4;
    let (error, at, messages) = tokio::time::timeout(wait, async {
        let mut messages = 0u64;
        loop {
            match rx
                .recv()
                .await
                .expect("the connection reports its close")
                .kind
            {
                ConnectionEventKind::Message(_) => messages += 1,
                ConnectionEventKind::Rtt(rtt) => panic!("no pong was ever sent, yet rtt {rtt:?}"),
                ConnectionEventKind::Closed(error) => break (error, Instant::now(), messages),
            }
        }
    })
    .await
    .expect("closed within the dead-peer bound, though the flood never stops");
    assert!(
        matches!(error, ConnectionError::PingTimeout { missed: 3 }),
        "{error:?}"
    );
    let expected = config.dead_peer_bound() - config.ping_interval;
    assert_eq!(at - established, expected);
    // The flood went on until the end: one read per virtual millisecond
    // (plus the handshake's), and it delivered what it read.
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > expected.as_millis() as u64, "{reads} reads");
    assert!(messages > 0);
}
