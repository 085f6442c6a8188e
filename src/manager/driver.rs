//! The manager's async shell: one task that accepts, spawns dials and
//! handshakes, starts connections, and feeds every outcome to the
//! `PeerTable`. It moves bytes and timers only; every decision is the
//! table's. Application messages never pass through it: each connection
//! delivers its own to the owner's [`Events`](super::Events).

use std::future::pending;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::events::{EventSender, PeerEvent};
use super::table::{Action, PeerTable};
use crate::error::{ConnectError, HandshakeError};
use crate::id::{ConnectionId, PeerId};
use crate::peer::{
    reject_link, ConnectionContext, ConnectionEvent, ConnectionEventKind, Outlet, PeerConnection,
};
use crate::transport::{Link, Listener, Transport};
use crate::wire::Reason;

/// Pause after a failed `accept` (out of file descriptors, say), so the
/// loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How long shutdown waits for connections to say goodbye and end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Locks the table; a panic elsewhere does not make its data unusable.
pub(crate) fn lock(table: &Mutex<PeerTable>) -> std::sync::MutexGuard<'_, PeerTable> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The outcome of a dial or inbound handshake task.
enum Handshaked<T: Transport> {
    Ok(Box<PeerConnection<T>>),
    /// `None`: the transport failed before any handshake reason existed.
    Failed(ConnectionId, Option<Reason>),
}

/// Everything the manager task owns.
pub(crate) struct Driver<T: Transport> {
    pub(crate) transport: T,
    pub(crate) listener: Option<T::Listener>,
    pub(crate) ctx: ConnectionContext,
    pub(crate) table: Arc<Mutex<PeerTable>>,
    pub(crate) events_out: EventSender,
    pub(crate) wake: Arc<Notify>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) finished: CancellationToken,
    /// Seed of every connection's RNG; each uses its own ChaCha stream.
    pub(crate) conn_seed: [u8; 32],
    /// Shutting down: events are offered without waiting, so shutdown never
    /// depends on the owner reading them (it may be the task awaiting
    /// `shutdown()`).
    pub(crate) draining: bool,
}

impl<T: Transport> Driver<T> {
    pub(crate) async fn run(mut self) {
        let (conn_tx, mut conn_rx) = mpsc::channel(self.ctx.config.event_queue_len);
        let (shake_tx, mut shake_rx) = mpsc::channel(self.ctx.config.max_pending_handshakes);
        let tasks = TaskTracker::new();
        loop {
            let deadline = lock(&self.table).next_deadline();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => pending().await,
                }
            };
            let accept = async {
                match self.listener.as_mut() {
                    Some(listener) => listener.accept().await,
                    None => pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                // A finished handshake is registered before later events of
                // other connections: a peer's goodbye on a duplicate must
                // not be seen before the winner it refers to.
                Some(done) = shake_rx.recv() => self.on_handshaked(done, &conn_tx, &tasks).await,
                Some(event) = conn_rx.recv() => self.on_connection_event(event).await,
                accepted = accept => match accepted {
                    Ok(link) => self.on_accept(link, &shake_tx, &tasks),
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
                () = self.wake.notified() => {}
                () = timer => {}
            }
            let mut actions = Vec::new();
            lock(&self.table).poll(Instant::now(), &mut actions);
            self.execute(actions, &shake_tx, &tasks).await;
        }
        self.drain(conn_rx, shake_rx, &conn_tx, &tasks).await;
        self.finished.cancel();
    }

    /// Shutdown: close everything, wait (bounded) for the goodbyes.
    async fn drain(
        &mut self,
        mut conn_rx: mpsc::Receiver<ConnectionEvent>,
        mut shake_rx: mpsc::Receiver<Handshaked<T>>,
        conn_tx: &mpsc::Sender<ConnectionEvent>,
        tasks: &TaskTracker,
    ) {
        self.listener = None;
        self.draining = true;
        lock(&self.table).shutdown();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        tasks.close();
        loop {
            let (live, idle) = (lock(&self.table).has_live(), tasks.is_empty());
            if !live && idle {
                break;
            }
            tokio::select! {
                biased;
                Some(done) = shake_rx.recv() => self.on_handshaked(done, conn_tx, tasks).await,
                Some(event) = conn_rx.recv() => self.on_connection_event(event).await,
                () = tasks.wait(), if !live => break,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("shutdown grace elapsed with connections still open");
                    break;
                }
            }
        }
    }

    async fn execute(
        &mut self,
        actions: Vec<Action>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        for action in actions {
            match action {
                Action::Dial { id, peer, addr } => {
                    tracing::debug!(%peer, conn_id = %id, %addr, "dial");
                    let (transport, ctx, rng) =
                        (self.transport.clone(), self.ctx.clone(), self.rng_for(id));
                    let (done, stop) = (shake_tx.clone(), self.shutdown.clone());
                    tasks.spawn(tracing::Instrument::in_current_span(async move {
                        let dial = PeerConnection::new_outbound(&transport, addr, &ctx, id, rng);
                        let outcome = tokio::select! {
                            result = dial => match result {
                                Ok(conn) => Handshaked::Ok(Box::new(conn)),
                                Err(error) => {
                                    tracing::debug!(%peer, conn_id = %id, %error, "dial failed");
                                    Handshaked::Failed(id, dial_failure_reason(&error))
                                }
                            },
                            () = stop.cancelled() => Handshaked::Failed(id, Some(Reason::Shutdown)),
                        };
                        let _ = done.send(outcome).await;
                    }));
                }
                Action::Emit(event) => self.emit(event).await,
            }
        }
    }

    fn on_accept(
        &mut self,
        link: Link<T::Reader, T::Writer>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        let remote = link.remote_addr;
        let admitted = lock(&self.table).on_accept(remote, Instant::now());
        let id = match admitted {
            Ok(id) => id,
            Err(reason) => {
                tracing::debug!(peer = %PeerId::from_socket_addr(remote), %reason, "inbound refused");
                tasks.spawn(tracing::Instrument::in_current_span(reject_link(
                    link, reason,
                )));
                return;
            }
        };
        let (table, ctx, rng) = (self.table.clone(), self.ctx.clone(), self.rng_for(id));
        let (done, stop) = (shake_tx.clone(), self.shutdown.clone());
        tasks.spawn(tracing::Instrument::in_current_span(async move {
            let admit = |_: &crate::wire::Hello| lock(&table).admit(id);
            let shake = PeerConnection::<T>::new_inbound(link, &ctx, id, rng, admit);
            let outcome = tokio::select! {
                result = shake => match result {
                    Ok(conn) => Handshaked::Ok(Box::new(conn)),
                    Err(error) => {
                        tracing::debug!(%remote, conn_id = %id, %error, "inbound handshake failed");
                        Handshaked::Failed(id, Some(error.reason()))
                    }
                },
                () = stop.cancelled() => Handshaked::Failed(id, Some(Reason::Shutdown)),
            };
            let _ = done.send(outcome).await;
        }));
    }

    async fn on_handshaked(
        &mut self,
        done: Handshaked<T>,
        conn_tx: &mpsc::Sender<ConnectionEvent>,
        tasks: &TaskTracker,
    ) {
        let mut actions = Vec::new();
        match done {
            Handshaked::Ok(conn) => {
                let id = conn.info().id;
                let (handle, ready) = conn.prepare();
                lock(&self.table).on_established(handle, &mut actions);
                // Announced now: the owner hears `Connected` before the
                // connection runs, so before any of its messages.
                let deliver = actions.iter().any(|a| {
                    matches!(a, Action::Emit(PeerEvent::Connected { conn_id, .. }) if *conn_id == id)
                });
                for action in actions {
                    if let Action::Emit(event) = action {
                        self.emit(event).await;
                    }
                }
                tasks.spawn(ready.run(Outlet::Managed {
                    owner: self.events_out.clone(),
                    manager: conn_tx.clone(),
                    deliver,
                }));
                return;
            }
            Handshaked::Failed(id, reason) => {
                lock(&self.table).on_handshake_failed(id, reason, Instant::now(), &mut actions);
            }
        }
        for action in actions {
            if let Action::Emit(event) = action {
                self.emit(event).await;
            }
        }
    }

    async fn on_connection_event(&mut self, event: ConnectionEvent) {
        let ConnectionEvent { id, peer, kind } = event;
        let out = match kind {
            ConnectionEventKind::Message(bytes) => vec![PeerEvent::Message {
                peer,
                conn_id: id,
                bytes,
            }],
            ConnectionEventKind::Rtt(rtt) => match lock(&self.table).on_rtt(id, rtt) {
                Some(peer) => vec![PeerEvent::Rtt { peer, rtt }],
                None => vec![],
            },
            ConnectionEventKind::Closed(error) => {
                tracing::debug!(%peer, conn_id = %id, reason = %error.reason(), "closed");
                let mut actions = Vec::new();
                lock(&self.table).on_closed(id, &error, Instant::now(), &mut actions);
                actions
                    .into_iter()
                    .filter_map(|a| match a {
                        Action::Emit(e) => Some(e),
                        Action::Dial { .. } => None,
                    })
                    .collect()
            }
        };
        for event in out {
            self.emit(event).await;
        }
    }

    async fn emit(&self, event: PeerEvent) {
        // A dropped receiver means the owner does not want events.
        if self.draining {
            self.events_out.try_send_one(event);
            return;
        }
        // Waiting is the back-pressure on a slow owner, but a shutdown
        // request must still get through.
        tokio::select! {
            _ = self.events_out.send_one(event) => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    fn rng_for(&self, id: ConnectionId) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.conn_seed);
        rng.set_stream(id.0);
        rng
    }
}

/// The reason a failed dial is recorded under.
fn dial_failure_reason(error: &ConnectError) -> Option<Reason> {
    match error {
        ConnectError::Handshake(HandshakeError::Rejected(r)) => Some(*r),
        ConnectError::Handshake(e) => Some(e.reason()),
        _ => None,
    }
}
