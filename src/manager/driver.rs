//! The manager's async shell: one task that accepts, spawns dials and
//! handshakes, starts connections, and feeds every outcome to the core's
//! `PeerTable`. It moves bytes and timers only; every decision is the
//! table's. The table's actions are carried out in the order returned:
//! closes and routes at once under the lock (`Core::apply`), then dials
//! spawned and events emitted here. Application messages never pass
//! through it: each connection delivers its own to the owner's
//! [`Events`](super::Events).

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerlink_core::table::Action;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::{lock, Core};
use crate::error::{CloseCause, ConnectError};
use crate::events::{EventSender, PeerEvent};
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

/// The outcome of a dial or inbound handshake task.
enum Handshaked<T: Transport> {
    Ok(Box<PeerConnection<T>>),
    /// `None`: the TCP connect failed, no handshake started.
    Failed(ConnectionId, Option<CloseCause>),
}

/// Everything the manager task owns.
pub(crate) struct Driver<T: Transport> {
    pub(crate) transport: T,
    pub(crate) listener: Option<T::Listener>,
    pub(crate) ctx: ConnectionContext,
    pub(crate) core: Arc<Mutex<Core>>,
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
        let (conn_tx, mut conn_rx) = mpsc::channel(self.ctx.config().event_queue_len);
        // One budget of pending handshakes per direction: up to twice the
        // cap can finish at once.
        let (shake_tx, mut shake_rx) =
            mpsc::channel(self.ctx.config().max_pending_handshakes.saturating_mul(2));
        let tasks = TaskTracker::new();
        loop {
            let deadline = lock(&self.core).table.next_deadline();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
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
                Some(done) = shake_rx.recv() => {
                    self.on_handshaked(done, &conn_tx, &shake_tx, &tasks).await;
                }
                Some(event) = conn_rx.recv() => {
                    self.on_connection_event(event, &shake_tx, &tasks).await;
                }
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
            let later = {
                let mut core = lock(&self.core);
                let mut later = core.take_outbox();
                let now = Instant::now().into_std();
                later.extend(core.decide(|table, actions| table.poll(now, actions)));
                later
            };
            self.execute(later, &shake_tx, &tasks).await;
        }
        self.drain(conn_rx, shake_rx, &conn_tx, &shake_tx, &tasks)
            .await;
        self.finished.cancel();
    }

    /// Shutdown: close everything, wait (bounded) for the goodbyes.
    async fn drain(
        &mut self,
        mut conn_rx: mpsc::Receiver<ConnectionEvent>,
        mut shake_rx: mpsc::Receiver<Handshaked<T>>,
        conn_tx: &mpsc::Sender<ConnectionEvent>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        self.listener = None;
        self.draining = true;
        let later = {
            let mut core = lock(&self.core);
            let mut later = core.take_outbox();
            later.extend(core.decide(|table, actions| table.shutdown(actions)));
            later
        };
        self.execute(later, shake_tx, tasks).await;
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        tasks.close();
        loop {
            let (live, idle) = (lock(&self.core).table.has_live(), tasks.is_empty());
            if !live && idle {
                break;
            }
            tokio::select! {
                biased;
                Some(done) = shake_rx.recv() => {
                    self.on_handshaked(done, conn_tx, shake_tx, tasks).await;
                }
                Some(event) = conn_rx.recv() => {
                    self.on_connection_event(event, shake_tx, tasks).await;
                }
                () = tasks.wait(), if !live => break,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("shutdown grace elapsed with connections still open");
                    break;
                }
            }
        }
    }

    /// Carries out the asynchronous actions, in order: spawns the dials,
    /// emits the events.
    /// Carries out the table's asynchronous actions in order; returns the
    /// connections whose `Connected` reached the owner's queue.
    async fn execute(
        &mut self,
        actions: Vec<Action>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) -> Vec<ConnectionId> {
        let mut announced = Vec::new();
        for action in actions {
            match action {
                Action::Dial { id, peer, addr } => {
                    tracing::debug!(%peer, conn_id = %id, %addr, "dial");
                    let (transport, ctx, rng) =
                        (self.transport.clone(), self.ctx.clone(), self.seed_for(id));
                    let (done, stop) = (shake_tx.clone(), self.shutdown.clone());
                    tasks.spawn(tracing::Instrument::in_current_span(async move {
                        let dial = PeerConnection::new_outbound(&transport, addr, &ctx, id, rng);
                        let outcome = tokio::select! {
                            result = dial => match result {
                                Ok(conn) => Handshaked::Ok(Box::new(conn)),
                                Err(error) => {
                                    tracing::debug!(%peer, conn_id = %id, %error, "dial failed");
                                    Handshaked::Failed(id, dial_failure_cause(&error))
                                }
                            },
                            () = stop.cancelled() => {
                                Handshaked::Failed(id, Some(CloseCause::Local(Reason::Shutdown)))
                            }
                        };
                        let _ = done.send(outcome).await;
                    }));
                }
                Action::Emit(event) => {
                    let connected = match &event {
                        PeerEvent::Connected { conn_id, .. } => Some(*conn_id),
                        _ => None,
                    };
                    if self.emit(event).await {
                        announced.extend(connected);
                    }
                }
                // Carried out by `Core::apply` before the actions got here.
                Action::Close { .. } | Action::Route { .. } | Action::Unroute { .. } => {}
            }
        }
        announced
    }

    fn on_accept(
        &mut self,
        link: Link<T::Reader, T::Writer>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        let remote = link.remote_addr;
        let admitted = lock(&self.core)
            .table
            .on_accept(remote, Instant::now().into_std());
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
        let (core, ctx, rng) = (self.core.clone(), self.ctx.clone(), self.seed_for(id));
        let (done, stop) = (shake_tx.clone(), self.shutdown.clone());
        tasks.spawn(tracing::Instrument::in_current_span(async move {
            let admit = |_: &crate::wire::Hello| lock(&core).table.admit(id);
            let shake = PeerConnection::<T>::new_inbound(link, &ctx, id, rng, admit);
            let outcome = tokio::select! {
                result = shake => match result {
                    Ok(conn) => Handshaked::Ok(Box::new(conn)),
                    Err(error) => {
                        tracing::debug!(%remote, conn_id = %id, %error, "inbound handshake failed");
                        Handshaked::Failed(id, Some(error.cause()))
                    }
                },
                () = stop.cancelled() => {
                    Handshaked::Failed(id, Some(CloseCause::Local(Reason::Shutdown)))
                }
            };
            let _ = done.send(outcome).await;
        }));
    }

    async fn on_handshaked(
        &mut self,
        done: Handshaked<T>,
        conn_tx: &mpsc::Sender<ConnectionEvent>,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        let now = Instant::now().into_std();
        match done {
            Handshaked::Ok(conn) => {
                let (handle, ready) = conn.prepare();
                let info = handle.info().clone();
                let id = info.id;
                let later = {
                    let mut core = lock(&self.core);
                    core.insert_handle(handle);
                    core.decide(|table, actions| table.on_established(info, now, actions))
                };
                // Announced now: the owner hears `Connected` before the
                // connection runs, so before any of its messages. One whose
                // `Connected` did not reach the owner (lost the tie-break,
                // or shutdown began) delivers none.
                let deliver = self.execute(later, shake_tx, tasks).await.contains(&id);
                tasks.spawn(ready.run(Outlet::Managed {
                    owner: self.events_out.clone(),
                    manager: conn_tx.clone(),
                    deliver,
                }));
            }
            Handshaked::Failed(id, cause) => {
                let later = lock(&self.core).decide(|table, actions| {
                    table.on_handshake_failed(id, cause, now, actions);
                });
                self.execute(later, shake_tx, tasks).await;
            }
        }
    }

    async fn on_connection_event(
        &mut self,
        event: ConnectionEvent,
        shake_tx: &mpsc::Sender<Handshaked<T>>,
        tasks: &TaskTracker,
    ) {
        let ConnectionEvent { id, peer, kind } = event;
        match kind {
            ConnectionEventKind::Message(bytes) => {
                let message = PeerEvent::Message {
                    peer,
                    conn_id: id,
                    bytes,
                };
                self.emit(message).await;
            }
            ConnectionEventKind::Rtt(rtt) => {
                let known = lock(&self.core).table.on_rtt(id, rtt);
                if let Some(peer) = known {
                    self.emit(PeerEvent::Rtt { peer, rtt }).await;
                }
            }
            ConnectionEventKind::Closed(error) => {
                tracing::debug!(%peer, conn_id = %id, reason = %error.reason(), "closed");
                let (cause, now) = (error.cause(), Instant::now().into_std());
                let later = {
                    let mut core = lock(&self.core);
                    core.remove_handle(id);
                    core.decide(|table, actions| table.on_closed(id, &cause, now, actions))
                };
                self.execute(later, shake_tx, tasks).await;
            }
        }
    }

    /// Offers `event` to the owner; returns whether it was queued.
    async fn emit(&self, event: PeerEvent) -> bool {
        // A dropped receiver means the owner does not want events.
        if self.draining {
            return self.events_out.try_send_one(event);
        }
        // Waiting is the back-pressure on a slow owner, but a shutdown
        // request must still get through: the send is tried first, so an
        // event the queue has room for is never dropped.
        tokio::select! {
            biased;
            sent = self.events_out.send_one(event) => sent.is_ok(),
            () = self.shutdown.cancelled() => false,
        }
    }

    /// The seed of connection `id`: the first draw of the manager's
    /// connection seed on the ChaCha stream numbered by the id, so it does
    /// not depend on the order in which connections start.
    fn seed_for(&self, id: ConnectionId) -> u64 {
        use rand::{RngCore, SeedableRng};
        let mut rng = ChaCha8Rng::from_seed(self.conn_seed);
        rng.set_stream(id.get());
        rng.next_u64()
    }
}

/// What the table makes of a failed dial: `None` when the TCP connect
/// itself failed and no handshake started.
fn dial_failure_cause(error: &ConnectError) -> Option<CloseCause> {
    match error {
        ConnectError::Timeout | ConnectError::Io(_) => None,
        ConnectError::Handshake(e) => Some(e.cause()),
    }
}
