//! `SimTransport`: the same `Transport` on turmoil's simulated network.
//!
//! turmoil differences, handled here and nowhere else: a listener binds only
//! the unspecified address or localhost, so a specific IP is bound as
//! `0.0.0.0` on the same port (a simulated host has one IP anyway); an
//! outbound stream cannot pick its source address, so `local_ip` is ignored
//! (the host's IP is the source).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use turmoil::net::{TcpListener, TcpStream};

use super::{Link, Listener, Transport};

/// turmoil's simulated TCP.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTransport;

/// A turmoil `TcpListener` yielding [`Link`]s.
pub struct SimLinkListener(TcpListener);

fn into_link(stream: TcpStream) -> io::Result<Link<OwnedReadHalf, OwnedWriteHalf>> {
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

impl Transport for SimTransport {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Listener = SimLinkListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<SimLinkListener> {
        let ip = if addr.ip().is_loopback() {
            addr.ip()
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Ok(SimLinkListener(
            TcpListener::bind(SocketAddr::new(ip, addr.port())).await?,
        ))
    }

    async fn open(
        &self,
        addr: SocketAddr,
        _local_ip: Option<IpAddr>,
    ) -> io::Result<Link<OwnedReadHalf, OwnedWriteHalf>> {
        into_link(TcpStream::connect(addr).await?)
    }
}

impl Listener for SimLinkListener {
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
