//! `HostTransport`: the transport a simulated host's model gets, on either
//! backend: turmoil's network (`SimTransport`) or the event backend's
//! in-memory network ([`EventTransport`]). An enum rather than a type
//! parameter, so models stay non-generic; every method is a two-arm
//! dispatch and holds no logic of its own. [`spawn`] is the models'
//! `tokio::spawn`: on the event backend a crash aborts what it spawned.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use peerlink::transport::Transport;
use peerlink::transport::{Link, Listener, SimLinkListener, SimReader, SimTransport, SimWriter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::event::{EventListener, EventReader, EventTransport, EventWriter};

/// `tokio::spawn`, for a model's tasks: on the event backend the task is
/// registered with the host incarnation spawning it, and that
/// incarnation's crash aborts it (on turmoil the host's crash drops it).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::spawn(future);
    crate::event::adopt(handle.abort_handle());
    handle
}

/// One host's transport on the backend the run uses.
#[derive(Clone)]
pub enum HostTransport {
    /// turmoil's simulated TCP.
    Turmoil(SimTransport),
    /// The event backend's in-memory network.
    Event(EventTransport),
}

/// Read half of a [`HostTransport`] stream.
pub enum HostReader {
    /// turmoil.
    Turmoil(SimReader),
    /// Event backend.
    Event(EventReader),
}

/// Write half of a [`HostTransport`] stream.
pub enum HostWriter {
    /// turmoil.
    Turmoil(SimWriter),
    /// Event backend.
    Event(EventWriter),
}

/// A listener of a [`HostTransport`].
pub enum HostListener {
    /// turmoil.
    Turmoil(SimLinkListener),
    /// Event backend.
    Event(EventListener),
}

type HostLink = Link<HostReader, HostWriter>;

fn turmoil_link(l: Link<SimReader, SimWriter>) -> HostLink {
    Link {
        reader: HostReader::Turmoil(l.reader),
        writer: HostWriter::Turmoil(l.writer),
        local_addr: l.local_addr,
        remote_addr: l.remote_addr,
    }
}

fn event_link(l: Link<EventReader, EventWriter>) -> HostLink {
    Link {
        reader: HostReader::Event(l.reader),
        writer: HostWriter::Event(l.writer),
        local_addr: l.local_addr,
        remote_addr: l.remote_addr,
    }
}

impl HostTransport {
    /// The IP of the host called `name` (`n0`, `n1`, …) on this network.
    pub fn lookup(&self, name: &str) -> IpAddr {
        match self {
            HostTransport::Turmoil(_) => turmoil::lookup(name),
            HostTransport::Event(t) => t.lookup(name),
        }
    }
}

impl Transport for HostTransport {
    type Reader = HostReader;
    type Writer = HostWriter;
    type Listener = HostListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<HostListener> {
        match self {
            HostTransport::Turmoil(t) => t.bind(addr).await.map(HostListener::Turmoil),
            HostTransport::Event(t) => t.bind(addr).await.map(HostListener::Event),
        }
    }

    async fn open(&self, addr: SocketAddr, local_ip: Option<IpAddr>) -> io::Result<HostLink> {
        match self {
            HostTransport::Turmoil(t) => t.open(addr, local_ip).await.map(turmoil_link),
            HostTransport::Event(t) => t.open(addr, local_ip).await.map(event_link),
        }
    }
}

impl Listener for HostListener {
    type Reader = HostReader;
    type Writer = HostWriter;

    async fn accept(&mut self) -> io::Result<HostLink> {
        match self {
            HostListener::Turmoil(l) => l.accept().await.map(turmoil_link),
            HostListener::Event(l) => l.accept().await.map(event_link),
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            HostListener::Turmoil(l) => l.local_addr(),
            HostListener::Event(l) => l.local_addr(),
        }
    }
}

impl AsyncRead for HostReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HostReader::Turmoil(r) => Pin::new(r).poll_read(cx, buf),
            HostReader::Event(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for HostWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            HostWriter::Turmoil(w) => Pin::new(w).poll_write(cx, buf),
            HostWriter::Event(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HostWriter::Turmoil(w) => Pin::new(w).poll_flush(cx),
            HostWriter::Event(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            HostWriter::Turmoil(w) => Pin::new(w).poll_shutdown(cx),
            HostWriter::Event(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}
