//! The `Transport` trait: bind, accept, connect. Connection and manager code
//! is generic over it and never names a concrete socket type, so the same
//! code runs on tokio TCP ([`TcpTransport`]) and inside turmoil's simulated
//! network (`SimTransport`, feature `turmoil`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ConnectError;

mod tcp;
#[cfg(feature = "turmoil")]
mod turmoil;

pub use tcp::{TcpLinkListener, TcpTransport};
#[cfg(feature = "turmoil")]
pub use turmoil::{SimLinkListener, SimReader, SimTransport, SimWriter, StreamTally};

/// An open byte stream, already split into its two halves, with its
/// addresses. Both halves are owned, so the reader and the writer of one
/// connection can live in different tasks without a lock.
pub struct Link<R, W> {
    /// Bytes from the peer.
    pub reader: R,
    /// Bytes to the peer.
    pub writer: W,
    /// Our end's address.
    pub local_addr: SocketAddr,
    /// The peer's end's address.
    pub remote_addr: SocketAddr,
}

/// A way to open and accept byte streams.
pub trait Transport: Clone + Send + Sync + 'static {
    /// Read half of a stream.
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// Write half of a stream.
    type Writer: AsyncWrite + Unpin + Send + 'static;
    /// A bound listener.
    type Listener: Listener<Reader = Self::Reader, Writer = Self::Writer>;

    /// Binds a listener on `addr`.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Opens a stream to `addr`, from `local_ip` if given (several nodes on
    /// one machine, each on its own 127.0.0.x). No timeout: see
    /// [`Transport::connect`].
    fn open(
        &self,
        addr: SocketAddr,
        local_ip: Option<IpAddr>,
    ) -> impl Future<Output = io::Result<Link<Self::Reader, Self::Writer>>> + Send;

    /// [`Transport::open`] bounded by `timeout`. Every dial goes through
    /// this: a connect to a crashed host may otherwise hang forever.
    fn connect(
        &self,
        addr: SocketAddr,
        local_ip: Option<IpAddr>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Link<Self::Reader, Self::Writer>, ConnectError>> + Send {
        async move {
            match tokio::time::timeout(timeout, self.open(addr, local_ip)).await {
                Ok(Ok(link)) => Ok(link),
                Ok(Err(e)) => Err(ConnectError::Io(e)),
                Err(_) => Err(ConnectError::Timeout),
            }
        }
    }
}

/// A bound listener that yields accepted streams.
pub trait Listener: Send + Sync + 'static {
    /// Read half of an accepted stream.
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// Write half of an accepted stream.
    type Writer: AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next inbound stream.
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<Link<Self::Reader, Self::Writer>>> + Send;

    /// The address actually bound (resolves port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}
