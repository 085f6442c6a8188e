//! The event backend's `Transport`: [`EventTransport`] (one per host
//! incarnation), its listener and the two halves of a stream. Each poll
//! takes the network's lock, asks `net` what is deliverable at the paused
//! clock's `now`, and sleeps until the next segment is due; no task runs
//! on the network's behalf. Operations of a crashed incarnation fail.

use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use peerlink::transport::{Link, Listener, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, sleep_until, Instant, Sleep};

use super::net::{EndRef, Net, ReadOutcome};

/// The network all hosts of one run share.
pub type SharedNet = Arc<Mutex<Net>>;

fn lock(net: &SharedNet) -> MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One host incarnation's view of the event network. A restart gets a new
/// one; the old one's operations fail from the crash on.
#[derive(Clone)]
pub struct EventTransport {
    net: SharedNet,
    host: usize,
    incarnation: u64,
}

impl EventTransport {
    /// Host `host`'s transport for `incarnation`.
    pub fn new(net: SharedNet, host: usize, incarnation: u64) -> Self {
        EventTransport {
            net,
            host,
            incarnation,
        }
    }

    /// The IP of the host called `name`.
    pub fn lookup(&self, name: &str) -> IpAddr {
        lock(&self.net).lookup(name)
    }

    fn link(
        &self,
        end: EndRef,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Link<EventReader, EventWriter> {
        Link {
            reader: EventReader {
                net: self.net.clone(),
                end,
                sleep: None,
            },
            writer: EventWriter {
                net: self.net.clone(),
                end,
            },
            local_addr: local,
            remote_addr: remote,
        }
    }
}

impl Transport for EventTransport {
    type Reader = EventReader;
    type Writer = EventWriter;
    type Listener = EventListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<EventListener> {
        let local = lock(&self.net).bind(self.host, self.incarnation, addr.port())?;
        Ok(EventListener {
            transport: self.clone(),
            local,
        })
    }

    /// A SYN (waiting out a hold, failing at once on a cut), one link
    /// latency, the stream registered at the listener, and one latency
    /// back. A host that lost power never answers: the caller's connect
    /// timeout ends the wait.
    async fn open(
        &self,
        addr: SocketAddr,
        _local_ip: Option<IpAddr>,
    ) -> io::Result<Link<EventReader, EventWriter>> {
        let Some(to) = lock(&self.net).host_of(addr) else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "no such host",
            ));
        };
        poll_fn(|cx| {
            let mut net = lock(&self.net);
            if !net.is_live(self.host, self.incarnation) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "host crashed",
                )));
            }
            match net.syn_may_leave(self.host, to, cx.waker()) {
                Ok(true) => Poll::Ready(Ok(())),
                Ok(false) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await?;
        let latency = lock(&self.net).latency(self.host, to);
        sleep(latency).await;
        let arrived = lock(&self.net).arrive(self.host, self.incarnation, to, addr.port())?;
        let Some((end, local, remote)) = arrived else {
            return std::future::pending().await;
        };
        // Handed out at once: if this future is dropped (a timeout), the
        // halves' drops close the stream like any other.
        let link = self.link(end, local, remote);
        sleep(latency).await;
        Ok(link)
    }
}

/// A bound listener on the event network.
pub struct EventListener {
    transport: EventTransport,
    local: SocketAddr,
}

impl Listener for EventListener {
    type Reader = EventReader;
    type Writer = EventWriter;

    async fn accept(&mut self) -> io::Result<Link<EventReader, EventWriter>> {
        let t = &self.transport;
        let (end, local, remote) =
            poll_fn(
                |cx| match lock(&t.net).accept(t.host, t.incarnation, cx.waker()) {
                    Ok(Some(found)) => Poll::Ready(Ok(found)),
                    Ok(None) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                },
            )
            .await?;
        Ok(t.link(end, local, remote))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let t = &self.transport;
        lock(&t.net).unbind(t.host, t.incarnation, Instant::now());
    }
}

/// Read half of an event-network stream.
pub struct EventReader {
    net: SharedNet,
    end: EndRef,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// Write half of an event-network stream.
pub struct EventWriter {
    net: SharedNet,
    end: EndRef,
}

impl AsyncRead for EventReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let outcome = lock(&self.net).read(self.end, Instant::now(), buf, cx.waker());
        match outcome {
            Err(e) => Poll::Ready(Err(e)),
            Ok(ReadOutcome::Ready) => Poll::Ready(Ok(())),
            Ok(ReadOutcome::WaitUntil(None)) => Poll::Pending,
            Ok(ReadOutcome::WaitUntil(Some(at))) => {
                let sleep = self.sleep.get_or_insert_with(|| Box::pin(sleep_until(at)));
                sleep.as_mut().reset(at);
                if sleep.as_mut().poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for EventWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match lock(&self.net).write(self.end, Instant::now(), buf, cx.waker()) {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.net).shutdown(self.end, Instant::now());
        Poll::Ready(Ok(()))
    }
}

impl Drop for EventReader {
    fn drop(&mut self) {
        lock(&self.net).drop_half(self.end, false, Instant::now());
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        lock(&self.net).drop_half(self.end, true, Instant::now());
    }
}
