//! `PeerConnection`: one connection to one peer, inbound or outbound, with
//! one code path after the handshake.
//!
//! [`PeerConnection::new_outbound`] dials and handshakes,
//! [`PeerConnection::new_inbound`] handshakes an accepted stream; both yield
//! the same type, and [`PeerConnection::start`] runs the same message loop
//! for either. Every decision about the connection (the handshake by side,
//! what each message means, liveness, whether to say goodbye) is made by
//! one core `Session`, created here for the handshake and carried into the
//! message loop; this module moves bytes, timers and events for it. The
//! loop owns the read half; a writer task owns the write half and drains
//! one send queue (bounded in frames and in bytes), so every frame is
//! written whole and only by it. This module must not decide anything
//! about *other* connections: duplicates and limits belong to the manager.
//!
//! Peer bytes reach this module (through `wire`), so clippy refuses,
//! outside tests, any `unwrap`, `expect`, or indexing and slicing that can
//! panic. Arithmetic here is on time and config values (and counters that
//! saturate), not on peer bytes; `wire` also refuses overflowing arithmetic.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod handshake;
mod queue;
mod run;
mod stats;

pub(crate) use handshake::now;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerlink_core::session::{reject_frame, Session};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::Config;
use crate::error::{ConfigError, ConnectError, ConnectionError, HandshakeError, SendError};
use crate::events::EventSender;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
use crate::transport::{Link, Transport};
use crate::wire::{Hello, Reason, PROTOCOL_VERSION};
use queue::Refused;

pub use peerlink_core::connection::ConnectionInfo;
pub use peerlink_core::handshake::MAX_HANDSHAKE_FRAME;
#[cfg(test)]
pub(crate) use queue::Batch;
pub(crate) use queue::SendQueue;

/// What every connection of one node shares: its settings (validated
/// once), its own hello, and the source IP for dials. Built only by
/// [`ConnectionContext::new`], so the hello always carries this version and
/// the config's network id.
#[derive(Clone, Debug)]
pub struct ConnectionContext {
    config: Arc<Config>,
    local: Hello,
    local_ip: Option<IpAddr>,
}

impl ConnectionContext {
    /// The context of node `node_id`: validates `config`, and announces
    /// protocol version [`PROTOCOL_VERSION`], the config's network id and
    /// `listen_port` (0 for a node that does not listen) in every hello.
    /// Dials leave from `local_ip` if given (several nodes on one machine).
    pub fn new(
        config: Config,
        node_id: NodeId,
        listen_port: u16,
        local_ip: Option<IpAddr>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::validated(
            Arc::new(config),
            node_id,
            listen_port,
            local_ip,
        ))
    }

    /// [`Self::new`] for a config the caller already validated.
    pub(crate) fn validated(
        config: Arc<Config>,
        node_id: NodeId,
        listen_port: u16,
        local_ip: Option<IpAddr>,
    ) -> Self {
        let local = Hello {
            version: PROTOCOL_VERSION,
            network_id: config.network_id,
            node_id,
            listen_port,
        };
        ConnectionContext {
            config,
            local,
            local_ip,
        }
    }

    /// The settings every connection uses.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The hello this node sends.
    pub fn local(&self) -> &Hello {
        &self.local
    }

    /// The source IP for dials, if one is set.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.local_ip
    }
}

/// Something a running connection reports to its owner.
#[derive(Debug)]
pub struct ConnectionEvent {
    /// Which connection.
    pub id: ConnectionId,
    /// Its peer.
    pub peer: PeerId,
    /// What happened.
    pub kind: ConnectionEventKind,
}

/// The kinds of [`ConnectionEvent`].
#[derive(Debug)]
pub enum ConnectionEventKind {
    /// An application payload arrived.
    Message(Bytes),
    /// A pong arrived: the measured round-trip time.
    Rtt(Duration),
    /// The connection ended; always the last event of a connection.
    Closed(ConnectionError),
}

/// A handshaken connection, not yet running.
pub struct PeerConnection<T: Transport> {
    info: ConnectionInfo,
    reader: T::Reader,
    writer: T::Writer,
    /// Bytes read past the handshake, handed to the message loop.
    buf: BytesMut,
    config: Arc<Config>,
    /// The connection's decisions, established.
    session: Session,
}

impl<T: Transport> PeerConnection<T> {
    /// Dials `addr` (bounded by `connect_timeout`) and runs the dialer's
    /// handshake (bounded by `handshake_timeout`) by driving an outbound
    /// `Session` whose random choices (ping nonces) come from `seed`.
    pub async fn new_outbound(
        transport: &T,
        addr: SocketAddr,
        ctx: &ConnectionContext,
        id: ConnectionId,
        seed: u64,
    ) -> Result<Self, ConnectError> {
        let config = &ctx.config;
        let link = transport
            .connect(addr, ctx.local_ip, config.connect_timeout)
            .await?;
        let Link {
            mut reader,
            mut writer,
            local_addr,
            remote_addr,
        } = link;
        let mut buf = BytesMut::new();
        let mut session = Session::new(
            ConnectionDirection::Outbound,
            config,
            ctx.local,
            handshake::now(),
            seed,
        );
        let shake = handshake::run(&mut reader, &mut writer, &mut buf, &mut session, |_| Ok(()));
        let remote = shake.await?;
        Ok(Self::established(
            id,
            remote,
            (reader, writer, local_addr, remote_addr),
            buf,
            ctx,
            session,
        ))
    }

    /// Runs the acceptor's handshake on an accepted stream (bounded by
    /// `handshake_timeout`) by driving an inbound `Session` whose random
    /// choices come from `seed`. `admit` sees the validated remote hello and may
    /// refuse it with a reason, which is sent to the peer.
    pub async fn new_inbound(
        link: Link<T::Reader, T::Writer>,
        ctx: &ConnectionContext,
        id: ConnectionId,
        seed: u64,
        admit: impl FnOnce(&Hello) -> Result<(), Reason>,
    ) -> Result<Self, HandshakeError> {
        let Link {
            mut reader,
            mut writer,
            local_addr,
            remote_addr,
        } = link;
        let mut buf = BytesMut::new();
        let mut session = Session::new(
            ConnectionDirection::Inbound,
            &ctx.config,
            ctx.local,
            handshake::now(),
            seed,
        );
        let shake = handshake::run(&mut reader, &mut writer, &mut buf, &mut session, admit);
        let remote = shake.await?;
        Ok(Self::established(
            id,
            remote,
            (reader, writer, local_addr, remote_addr),
            buf,
            ctx,
            session,
        ))
    }

    fn established(
        id: ConnectionId,
        remote: Hello,
        (reader, writer, local_addr, remote_addr): (T::Reader, T::Writer, SocketAddr, SocketAddr),
        buf: BytesMut,
        ctx: &ConnectionContext,
        session: Session,
    ) -> Self {
        PeerConnection {
            info: ConnectionInfo {
                id,
                peer: PeerId::from_socket_addr(remote_addr),
                direction: session.direction(),
                local_addr,
                remote_addr,
                remote,
                established_at: Instant::now().into_std(),
            },
            reader,
            writer,
            buf,
            config: ctx.config.clone(),
            session,
        }
    }

    /// Facts about this connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Splits into a handle for the owner and the future that runs the
    /// message loop; the caller spawns the future where it likes (a task
    /// tracker, a `JoinSet`). Events, ending with `Closed`, go to `events`.
    pub fn start(
        self,
        events: mpsc::Sender<ConnectionEvent>,
    ) -> (
        ConnectionHandle,
        impl std::future::Future<Output = ()> + Send,
    ) {
        let (handle, ready) = self.prepare();
        (handle, ready.run(Outlet::Bare(events)))
    }

    /// The handle, and the connection ready to run once its owner knows
    /// where its events go (the manager decides that with the handle).
    pub(crate) fn prepare(self) -> (ConnectionHandle, Ready<T>) {
        let queue = SendQueue::established_at(
            self.config.send_queue_len,
            self.config.send_queue_bytes,
            self.info.established_at,
        );
        let (close_tx, close_rx) = mpsc::channel(1);
        let handle = ConnectionHandle {
            info: Arc::new(self.info.clone()),
            sender: ConnectionSender {
                queue: queue.clone(),
                max_payload: self.config.max_frame_len as usize - 1,
            },
            close: close_tx,
        };
        let ready = Ready {
            conn: self,
            queue,
            close_rx,
        };
        (handle, ready)
    }

    /// [`PeerConnection::start`] on a fresh tokio task.
    pub fn spawn(self, events: mpsc::Sender<ConnectionEvent>) -> ConnectionHandle {
        let (handle, fut) = self.start(events);
        tokio::spawn(fut);
        handle
    }
}

/// A started connection whose message loop has not run yet.
pub(crate) struct Ready<T: Transport> {
    conn: PeerConnection<T>,
    queue: SendQueue,
    close_rx: mpsc::Receiver<Reason>,
}

impl<T: Transport> Ready<T> {
    /// The message loop, sending its events to `outlet`.
    pub(crate) fn run(self, outlet: Outlet) -> impl std::future::Future<Output = ()> + Send {
        let info = &self.conn.info;
        let span = tracing::info_span!(
            "conn",
            peer = %info.peer,
            direction = %info.direction,
            conn_id = %info.id,
        );
        run::message_loop::<T>(self.conn, self.queue, self.close_rx, outlet).instrument(span)
    }
}

/// Where a running connection's events go.
#[derive(Debug)]
pub(crate) enum Outlet {
    /// Every event, one at a time, to the owner of a bare connection.
    Bare(mpsc::Sender<ConnectionEvent>),
    /// A managed connection: application messages straight to the
    /// manager's owner, in one batch per read (if `deliver`: a connection
    /// never announced as `Connected` delivers none); round-trip times and
    /// the close to the manager task.
    Managed {
        owner: EventSender,
        manager: mpsc::Sender<ConnectionEvent>,
        deliver: bool,
    },
}

impl Outlet {
    /// Where the events other than managed messages go.
    fn control(&self) -> &mpsc::Sender<ConnectionEvent> {
        match self {
            Outlet::Bare(events) => events,
            Outlet::Managed { manager, .. } => manager,
        }
    }
}

/// Refuses an accepted stream before its handshake: best-effort
/// `HelloReject(reason)`, then close.
pub(crate) async fn reject_link<R, W>(link: Link<R, W>, reason: Reason)
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut writer = link.writer;
    handshake::write_close(&mut writer, &reject_frame(reason)).await;
}

/// Queues messages on one connection; cheap to clone.
#[derive(Clone, Debug)]
pub struct ConnectionSender {
    queue: SendQueue,
    max_payload: usize,
}

impl ConnectionSender {
    /// Queues an application payload without waiting. Fails if the payload
    /// exceeds the frame cap, the queue is full (`Config::send_queue_len`
    /// frames or `Config::send_queue_bytes` bytes), or the connection closed.
    ///
    /// While any [`ConnectionSender::send_wait`] caller waits for room,
    /// this returns `QueueFull` even if the payload would fit: the room that
    /// frees is owed to the waiters first (as `try_send` on tokio's bounded
    /// `mpsc` fails while permits are owed), so a stream of `send`s cannot
    /// starve them.
    ///
    /// A payload under 16 KiB is copied into the connection's write buffer
    /// here; a larger one is queued by reference (a broadcast shares it).
    pub fn send(&self, payload: Bytes) -> Result<(), SendError> {
        if payload.len() > self.max_payload {
            return Err(SendError::TooLarge { len: payload.len() });
        }
        self.queue.push_app(payload).map_err(|(e, _)| match e {
            Refused::Full => SendError::QueueFull,
            Refused::Closed => SendError::Closed,
        })
    }

    /// Queues several application payloads in order, taking the queue's
    /// lock once: the batched form of [`ConnectionSender::send`] for many
    /// small messages. Queues as many as fit and returns how many it
    /// queued; the caller sends the rest later. Fails, queueing nothing, if
    /// none fits (`QueueFull`), the connection closed, or the first payload
    /// exceeds the frame cap; a later payload over the cap ends the batch
    /// before it.
    pub fn send_batch(&self, payloads: &[Bytes]) -> Result<usize, SendError> {
        let fit = payloads
            .iter()
            .position(|p| p.len() > self.max_payload)
            .unwrap_or(payloads.len());
        if fit == 0 {
            if let Some(first) = payloads.first() {
                return Err(SendError::TooLarge { len: first.len() });
            }
            return Ok(0);
        }
        let payloads = payloads.get(..fit).unwrap_or(payloads);
        self.queue.push_app_many(payloads).map_err(|e| match e {
            Refused::Full => SendError::QueueFull,
            Refused::Closed => SendError::Closed,
        })
    }

    /// Queues an application payload, waiting while the queue is full: the
    /// back-pressured form of [`ConnectionSender::send`] for a sender that
    /// produces faster than the peer reads. Fails if the payload exceeds the
    /// frame cap or the connection closed (or is closing: every waiter then
    /// fails with `Closed`).
    ///
    /// Waiters are served first come, first served: each payload is queued
    /// whole, in the order the calls began waiting; a later waiter, or a
    /// [`ConnectionSender::send`], never takes the room an earlier waiter
    /// needs, so a large payload is not starved by small ones. If nobody
    /// waits and the payload fits, it is queued without waiting.
    ///
    /// Cancel safe: if the future is dropped before it completes, the
    /// payload was not queued, and the waiters behind it move up.
    pub async fn send_wait(&self, payload: Bytes) -> Result<(), SendError> {
        if payload.len() > self.max_payload {
            return Err(SendError::TooLarge { len: payload.len() });
        }
        self.queue
            .push_app_wait(payload)
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Whether the connection's writer has stopped.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// The owner's handle on a running connection.
#[derive(Clone, Debug)]
pub struct ConnectionHandle {
    info: Arc<ConnectionInfo>,
    sender: ConnectionSender,
    close: mpsc::Sender<Reason>,
}

impl ConnectionHandle {
    /// A handle with no connection behind it, for testing owners: returns
    /// its send queue and the receiver of its close requests.
    #[cfg(test)]
    pub(crate) fn detached(
        info: ConnectionInfo,
        queue_len: usize,
    ) -> (Self, SendQueue, mpsc::Receiver<Reason>) {
        let queue = SendQueue::new(queue_len, 1 << 20);
        let (close, close_rx) = mpsc::channel(1);
        let handle = ConnectionHandle {
            info: Arc::new(info),
            sender: ConnectionSender {
                queue: queue.clone(),
                max_payload: 64 * 1024,
            },
            close,
        };
        (handle, queue, close_rx)
    }

    /// Facts about the connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// A sender for application payloads.
    pub fn sender(&self) -> &ConnectionSender {
        &self.sender
    }

    /// Queues an application payload (see [`ConnectionSender::send`]).
    pub fn send(&self, payload: Bytes) -> Result<(), SendError> {
        self.sender.send(payload)
    }

    /// What the connection's tasks have counted, as of `now` (an instant
    /// of the shell's clock): traffic each way, and the ages of its last
    /// read, last write and oldest unanswered ping.
    pub fn stats(&self, now: std::time::Instant) -> peerlink_core::snapshot::ConnectionStats {
        self.sender.queue.stats(now)
    }

    /// Asks the connection to close: it sends `Goodbye(reason)` after the
    /// frames already queued, and reports `Closed(LocalClosed(reason))`. The
    /// first request wins; later ones are ignored.
    pub fn close(&self, reason: Reason) {
        let _ = self.close.try_send(reason);
    }
}
