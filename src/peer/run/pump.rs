//! `Loop`: the message loop's state, and how it carries out what the
//! session produces (its transmits onto the send queue, its events to the
//! owner, the messages of one read in one batch).

use peerlink_core::session::{Close, Session, SessionEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::handshake::now;
use super::super::queue::{Refused, SendQueue};
use super::super::{ConnectionEvent, ConnectionEventKind, ConnectionInfo, Outlet};
use crate::events::PeerEvent;
use crate::wire::Reason;

/// The per-iteration state of the message loop.
pub(super) struct Loop<'a> {
    info: &'a ConnectionInfo,
    queue: &'a SendQueue,
    outlet: &'a Outlet,
    pub(super) session: Session,
    /// Messages read since the last delivery, for the manager's owner.
    batch: Vec<PeerEvent>,
    /// What they cost the owner's byte budget.
    batch_bytes: usize,
}

/// What one message event costs the owner's byte budget beyond its
/// payload: the event itself, as it sits in the queue.
const EVENT_COST: usize = std::mem::size_of::<PeerEvent>();

impl<'a> Loop<'a> {
    /// The loop's state for `info`'s connection, carried on by `session`.
    pub(super) fn new(
        info: &'a ConnectionInfo,
        queue: &'a SendQueue,
        outlet: &'a Outlet,
        session: Session,
    ) -> Self {
        Loop {
            info,
            queue,
            outlet,
            session,
            batch: Vec::new(),
            batch_bytes: 0,
        }
    }

    /// Tells the connection's counters when the oldest unanswered ping was
    /// sent (after each step of the loop: a ping leaves on a timer, its
    /// pong arrives with a read).
    pub(super) fn note_ping(&self) {
        let sent = self.session.ping().and_then(|p| p.oldest_pending());
        self.queue.link().ping_pending(sent);
    }

    /// The session's next deadline on tokio's clock.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.session.poll_timeout().map(Instant::from_std)
    }

    /// Feeds the session its timeout if its deadline has passed, and
    /// carries out what that produced (a ping, or the close for missed
    /// pongs); `None` while the connection lives on.
    pub(super) async fn take_due_timeout(
        &mut self,
        close_rx: &mut mpsc::Receiver<Reason>,
    ) -> Option<Close> {
        let at = now();
        if !self
            .session
            .poll_timeout()
            .is_some_and(|deadline| deadline <= at)
        {
            return None;
        }
        self.session.handle_timeout(at);
        let closed = self.pump(close_rx).await;
        self.note_ping();
        closed
    }

    /// Carries out what the session produced since the last call: its
    /// transmits onto the queue as control frames, then its events in
    /// order (the messages of one read in one batch for the manager's
    /// owner, after the others); returns its `Close` once it has ended.
    pub(super) async fn pump(&mut self, close_rx: &mut mpsc::Receiver<Reason>) -> Option<Close> {
        loop {
            self.push_transmits();
            match self.session.poll_event() {
                Some(SessionEvent::Message(bytes)) => {
                    self.queue.link().message_in();
                    match self.outlet {
                        Outlet::Bare(_) => self.emit(ConnectionEventKind::Message(bytes)).await,
                        Outlet::Managed { deliver: true, .. } => {
                            // The budget counts what the event costs the owner,
                            // not only its payload: a flood of empty messages
                            // is bounded too.
                            self.batch_bytes += bytes.len() + EVENT_COST;
                            self.batch.push(PeerEvent::Message {
                                peer: self.info.peer,
                                conn_id: self.info.id,
                                bytes,
                            });
                        }
                        // Never announced to the owner (it lost the tie-break
                        // as it arrived): its messages are not delivered.
                        Outlet::Managed { deliver: false, .. } => {}
                    }
                }
                Some(SessionEvent::Rtt(rtt)) => {
                    tracing::trace!(rtt_us = rtt.as_micros() as u64, "pong");
                    self.emit(ConnectionEventKind::Rtt(rtt)).await;
                }
                // Messages read before the close are still delivered.
                Some(SessionEvent::Closed(close)) => {
                    self.deliver(close_rx).await;
                    return Some(close);
                }
                // The handshake's events; it consumed them.
                Some(SessionEvent::HelloReceived(_) | SessionEvent::Established(_)) => {}
                None => {
                    self.deliver(close_rx).await;
                    // A close request during the delivery has output.
                    if !self.session.has_output() {
                        return None;
                    }
                }
            }
        }
    }

    /// Queues the session's transmits as control frames; a peer that lets
    /// them pile up unread is the session's to judge.
    fn push_transmits(&mut self) {
        while let Some(frame) = self.session.poll_transmit() {
            match self.queue.push_control(&frame) {
                Ok(()) => {}
                Err(Refused::Full) => self.session.control_refused(now()),
                Err(Refused::Closed) => self.session.handle_eof(now()),
            }
        }
    }

    /// Hands the messages of one read to the manager's owner in one batch.
    /// Waiting here is the back-pressure of a slow owner. A request to close
    /// with `shutdown` (the manager stopping, or `disconnect`) ends the wait
    /// and the batch is discarded; any other close (a tie-break superseding
    /// this connection, a ban) waits for the delivery first, so what was
    /// read before it is delivered.
    async fn deliver(&mut self, close_rx: &mut mpsc::Receiver<Reason>) {
        let Outlet::Managed { owner, .. } = self.outlet else {
            return;
        };
        if self.batch.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.batch_bytes);
        // While the owner's queue has room, no wait is built.
        let Err(batch) = owner.try_send(std::mem::take(&mut self.batch), bytes) else {
            return;
        };
        let stalled_since = Instant::now();
        let send = owner.send(batch, bytes);
        tokio::pin!(send);
        let closed = tokio::select! {
            biased;
            // A dropped `Events` means the owner wants no more messages.
            _ = &mut send => None,
            Some(reason) = close_rx.recv() => Some(reason),
        };
        if closed.is_some_and(|reason| reason != Reason::Shutdown) {
            let _ = send.await;
        }
        // The peer's pings waited in the socket meanwhile: not a flood.
        let now = Instant::now();
        self.session.note_stall(now - stalled_since, now.into_std());
        if let Some(reason) = closed {
            self.session.close(reason, now.into_std());
        }
    }

    /// Sends one event to the owner (to the manager task, under it); an
    /// owner that has gone closes the session with `shutdown`.
    async fn emit(&mut self, kind: ConnectionEventKind) {
        let event = ConnectionEvent {
            id: self.info.id,
            peer: self.info.peer,
            kind,
        };
        let events = self.outlet.control();
        // Waiting here is the back-pressure: a slow owner slows our reads,
        // and the peer's writes, instead of growing a queue. While the queue
        // has room, `try_send` takes a slot without building a wait.
        let event = match events.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(event)) => event,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return self.session.close(Reason::Shutdown, now());
            }
        };
        let stalled_since = Instant::now();
        let sent = events.send(event).await;
        // The peer's pings waited in the socket meanwhile: not a flood.
        let now = Instant::now();
        self.session.note_stall(now - stalled_since, now.into_std());
        if sent.is_err() {
            self.session.close(Reason::Shutdown, now.into_std());
        }
    }
}
