//! `SimTransport`: the same `Transport` on turmoil's simulated network.
//!
//! turmoil differences, handled here and nowhere else: a listener binds only
//! the unspecified address or localhost, so a specific IP is bound as
//! `0.0.0.0` on the same port (a simulated host has one IP anyway); an
//! outbound stream cannot pick its source address, so `local_ip` is ignored.
//!
//! turmoil 0.7 registers a stream socket before its SYN is answered and never
//! removes it when the connect fails (refused, partitioned, or abandoned by a
//! timeout), so `turmoil::established_tcp_stream_count_on` over-counts by one
//! per failed connect. [`StreamTally`] counts both the streams this transport
//! holds open and the connects that failed, so a simulator can check that
//! `turmoil count == open + failed + abandoned` exactly.
//!
//! Crashes: when turmoil crashes a host it drops the host's runtime, and
//! tokio drops the tasks in an order that depends on process-wide task ids;
//! every dropped stream would send a FIN whose delay turmoil draws from the
//! simulation's RNG, so the run would depend on what else the process had
//! spawned. While a simulator marks the host as crashing
//! ([`StreamTally::set_crashing`]), streams are abandoned instead of closed:
//! no FIN, no draw. The crash is a power loss: peers learn of it from their
//! pings, or from the restarted node's new session.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use turmoil::net::{TcpListener, TcpStream};

use super::{Link, Listener, Transport};

/// turmoil's simulated TCP. Clones share one [`StreamTally`]; give each
/// simulated host its own `SimTransport` to account per host.
#[derive(Clone, Debug, Default)]
pub struct SimTransport {
    tally: Arc<StreamTally>,
}

/// Stream accounting of one [`SimTransport`] and its clones.
#[derive(Debug, Default)]
pub struct StreamTally {
    open: AtomicUsize,
    failed_connects: AtomicUsize,
    abandoned: AtomicUsize,
    crashing: std::sync::atomic::AtomicBool,
}

impl StreamTally {
    /// Streams currently held open (at least one half alive).
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connects that did not complete; turmoil keeps a socket for each.
    pub fn failed_connects(&self) -> usize {
        self.failed_connects.load(Ordering::Relaxed)
    }

    /// Streams abandoned by a crash; turmoil keeps a socket for each.
    pub fn abandoned_streams(&self) -> usize {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Marks the host as crashing (streams dropped meanwhile are abandoned,
    /// not closed) or no longer crashing.
    pub fn set_crashing(&self, crashing: bool) {
        self.crashing.store(crashing, Ordering::Relaxed);
    }

    fn is_crashing(&self) -> bool {
        self.crashing.load(Ordering::Relaxed)
    }
}

impl SimTransport {
    /// A transport with a fresh tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// This transport's stream accounting.
    pub fn tally(&self) -> Arc<StreamTally> {
        self.tally.clone()
    }

    fn link_from(&self, stream: TcpStream) -> io::Result<Link<SimReader, SimWriter>> {
        let local_addr = stream.local_addr()?;
        let remote_addr = stream.peer_addr()?;
        let (reader, writer) = stream.into_split();
        self.tally.open.fetch_add(1, Ordering::Relaxed);
        let guard = Arc::new(OpenGuard(self.tally.clone()));
        Ok(Link {
            reader: SimReader(Some(reader), guard.clone()),
            writer: SimWriter(Some(writer), guard),
            local_addr,
            remote_addr,
        })
    }
}

/// Decrements the open count when both halves of a stream are gone.
#[derive(Debug)]
struct OpenGuard(Arc<StreamTally>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        if self.0.is_crashing() {
            self.0.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts a connect as failed unless it is disarmed by success; a connect
/// future dropped by a timeout counts too.
struct FailGuard<'a>(Option<&'a StreamTally>);

impl Drop for FailGuard<'_> {
    fn drop(&mut self) {
        if let Some(tally) = self.0 {
            tally.failed_connects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Read half of a simulated stream (always `Some` until dropped).
#[derive(Debug)]
pub struct SimReader(Option<OwnedReadHalf>, Arc<OpenGuard>);

/// Write half of a simulated stream (always `Some` until dropped).
#[derive(Debug)]
pub struct SimWriter(Option<OwnedWriteHalf>, Arc<OpenGuard>);

impl Drop for SimReader {
    fn drop(&mut self) {
        if self.1 .0.is_crashing() {
            // Abandoned, not closed: see the module docs on crashes.
            std::mem::forget(self.0.take());
        }
    }
}

impl Drop for SimWriter {
    fn drop(&mut self) {
        if self.1 .0.is_crashing() {
            std::mem::forget(self.0.take());
        }
    }
}

fn abandoned() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream abandoned by a crash")
}

impl AsyncRead for SimReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(half) => Pin::new(half).poll_read(cx, buf),
            None => Poll::Ready(Err(abandoned())),
        }
    }
}

impl AsyncWrite for SimWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.as_mut() {
            Some(half) => Pin::new(half).poll_write(cx, buf),
            None => Poll::Ready(Err(abandoned())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(half) => Pin::new(half).poll_flush(cx),
            None => Poll::Ready(Err(abandoned())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(half) => Pin::new(half).poll_shutdown(cx),
            None => Poll::Ready(Err(abandoned())),
        }
    }
}

/// A turmoil `TcpListener` yielding [`Link`]s.
pub struct SimLinkListener {
    listener: TcpListener,
    transport: SimTransport,
}

impl Transport for SimTransport {
    type Reader = SimReader;
    type Writer = SimWriter;
    type Listener = SimLinkListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<SimLinkListener> {
        let ip = if addr.ip().is_loopback() {
            addr.ip()
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Ok(SimLinkListener {
            listener: TcpListener::bind(SocketAddr::new(ip, addr.port())).await?,
            transport: self.clone(),
        })
    }

    async fn open(
        &self,
        addr: SocketAddr,
        _local_ip: Option<IpAddr>,
    ) -> io::Result<Link<SimReader, SimWriter>> {
        let mut guard = FailGuard(Some(&self.tally));
        let stream = TcpStream::connect(addr).await?;
        guard.0 = None;
        self.link_from(stream)
    }
}

impl Listener for SimLinkListener {
    type Reader = SimReader;
    type Writer = SimWriter;

    async fn accept(&mut self) -> io::Result<Link<SimReader, SimWriter>> {
        let (stream, _) = self.listener.accept().await?;
        self.transport.link_from(stream)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}
