//! `TcpTransport`: the production transport on tokio's TCP.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{Link, Listener, Transport};

/// Real TCP through tokio. Sockets get `TCP_NODELAY` (frames are written
/// whole and flushed per batch, so Nagle only adds latency).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTransport;

/// A tokio `TcpListener` yielding [`Link`]s.
#[derive(Debug)]
pub struct TcpLinkListener(TcpListener);

fn into_link(stream: TcpStream) -> io::Result<Link<OwnedReadHalf, OwnedWriteHalf>> {
    stream.set_nodelay(true)?;
    let local_addr = stream.local_addr()?;
    let remote_addr = stream.peer_addr()?;
    let (reader, writer) = stream.into_split();
    Ok(Link {
        reader,
        writer,
        local_addr,
        remote_addr,
    })
}

impl Transport for TcpTransport {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Listener = TcpLinkListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpLinkListener> {
        Ok(TcpLinkListener(TcpListener::bind(addr).await?))
    }

    async fn open(
        &self,
        addr: SocketAddr,
        local_ip: Option<IpAddr>,
    ) -> io::Result<Link<OwnedReadHalf, OwnedWriteHalf>> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = local_ip {
            // Source address chosen before connect: on Linux every 127/8
            // address routes to `lo`, so nodes on 127.0.0.2, .3... each keep
            // their own IP identity.
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        into_link(socket.connect(addr).await?)
    }
}

impl Listener for TcpLinkListener {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;

    async fn accept(&mut self) -> io::Result<Link<OwnedReadHalf, OwnedWriteHalf>> {
        let (stream, _) = self.0.accept().await?;
        into_link(stream)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}
