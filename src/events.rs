//! `Events`, the bounded queue the owner receives `PeerEvent`s on: the
//! manager task and every connection task write to it directly, so
//! messages never wait on the manager's task. `PeerEvent` itself is plain
//! data of the core (`peerlink_core::event`), re-exported here.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore, TryAcquireError};

pub use peerlink_core::event::PeerEvent;

/// A batch of events in the owner's queue, and the bytes of the event
/// budget it holds until the owner takes it.
#[derive(Debug)]
pub(crate) struct EventBatch {
    events: Vec<PeerEvent>,
    permits: u32,
}

/// The manager's side of the owner's event queue, shared by the manager
/// task (connection state events) and every connection task (messages,
/// delivered straight to the owner). Bounded twice: in batches
/// (`Config::event_queue_len`) and in payload bytes
/// (`Config::event_queue_bytes`).
#[derive(Clone, Debug)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<EventBatch>,
    budget: Arc<Semaphore>,
    /// The whole byte budget: a batch larger than it takes all of it.
    budget_total: usize,
}

/// Why a batch was not delivered: the owner dropped its [`Events`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OwnerGone;

impl EventSender {
    /// Queues `events` (holding `bytes` payload bytes), waiting while the
    /// owner's queue is full in batches or bytes. Cancel-safe: dropped
    /// mid-way, it queues nothing and holds no budget.
    pub(crate) async fn send(&self, events: Vec<PeerEvent>, bytes: usize) -> Result<(), OwnerGone> {
        let want = u32::try_from(bytes.min(self.budget_total)).unwrap_or(u32::MAX);
        let permit = match self.budget.try_acquire_many(want) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(OwnerGone),
            Err(TryAcquireError::NoPermits) => self
                .budget
                .acquire_many(want)
                .await
                .map_err(|_| OwnerGone)?,
        };
        let batch = EventBatch {
            events,
            permits: want,
        };
        let sent = match self.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(batch)) => {
                self.tx.send(batch).await.map_err(|_| OwnerGone)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(OwnerGone),
        };
        if sent.is_ok() {
            // The owner gives the budget back when it takes the batch.
            permit.forget();
        }
        sent
    }

    /// Queues `events` if the owner's queue has room for them now; hands
    /// them back otherwise (`Ok` too if the owner is gone: they are
    /// discarded).
    pub(crate) fn try_send(
        &self,
        events: Vec<PeerEvent>,
        bytes: usize,
    ) -> Result<(), Vec<PeerEvent>> {
        let want = u32::try_from(bytes.min(self.budget_total)).unwrap_or(u32::MAX);
        let permit = match self.budget.try_acquire_many(want) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Ok(()),
            Err(TryAcquireError::NoPermits) => return Err(events),
        };
        let batch = EventBatch {
            events,
            permits: want,
        };
        match self.tx.try_send(batch) {
            Ok(()) => {
                permit.forget();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(batch)) => Err(batch.events),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
        }
    }

    /// Queues one event that carries no payload budget, waiting for room.
    pub(crate) async fn send_one(&self, event: PeerEvent) -> Result<(), OwnerGone> {
        self.send(vec![event], 0).await
    }

    /// Queues one event if there is room now; drops it otherwise. Returns
    /// whether it was queued.
    pub(crate) fn try_send_one(&self, event: PeerEvent) -> bool {
        let batch = EventBatch {
            events: vec![event],
            permits: 0,
        };
        self.tx.try_send(batch).is_ok()
    }
}

/// The owner's event queue: what [`ConnectionManager::start`] returns
/// beside the manager. Take events with [`Events::recv`] (or
/// [`Events::recv_many`] to take several per wake-up); the queue is
/// bounded, and a full one slows the connections that fill it (their peers'
/// reads stop) instead of growing.
///
/// Order: per connection, `Connected` comes before its first `Message`,
/// and `Disconnected` after its last; messages of one connection arrive in
/// the order the peer sent them.
///
/// Dropping it tells the manager the owner wants no more events: messages
/// are then discarded, and connections carry on.
///
/// [`ConnectionManager::start`]: crate::manager::ConnectionManager::start
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<EventBatch>,
    budget: Arc<Semaphore>,
    current: std::vec::IntoIter<PeerEvent>,
}

/// Why [`Events::try_recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// No event is queued now.
    #[error("no event queued")]
    Empty,
    /// The manager has stopped and every event was taken.
    #[error("the manager has stopped")]
    Disconnected,
}

/// A new owner's event queue: the manager's and the owner's ends.
pub(crate) fn event_queue(batches: usize, bytes: usize) -> (EventSender, Events) {
    let (tx, rx) = mpsc::channel(batches);
    let budget = Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS)));
    let sender = EventSender {
        tx,
        budget: budget.clone(),
        budget_total: bytes.min(Semaphore::MAX_PERMITS),
    };
    let events = Events {
        rx,
        budget,
        current: Vec::new().into_iter(),
    };
    (sender, events)
}

impl Events {
    /// The next event; `None` once the manager has stopped and every event
    /// was taken.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        loop {
            if let Some(event) = self.current.next() {
                return Some(event);
            }
            let batch = self.rx.recv().await?;
            self.take(batch);
        }
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Result<PeerEvent, TryRecvError> {
        loop {
            if let Some(event) = self.current.next() {
                return Ok(event);
            }
            match self.rx.try_recv() {
                Ok(batch) => self.take(batch),
                Err(mpsc::error::TryRecvError::Empty) => return Err(TryRecvError::Empty),
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Err(TryRecvError::Disconnected)
                }
            }
        }
    }

    /// Waits for at least one event, then appends to `out` every event
    /// queued now, up to `limit`. Returns how many it appended: 0 only
    /// once the manager has stopped and every event was taken (or `limit`
    /// is 0).
    pub async fn recv_many(&mut self, out: &mut Vec<PeerEvent>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else {
            return 0;
        };
        out.push(first);
        let mut taken = 1;
        while taken < limit {
            match self.current.next() {
                Some(event) => {
                    out.push(event);
                    taken += 1;
                }
                None => match self.rx.try_recv() {
                    Ok(batch) => self.take(batch),
                    Err(_) => break,
                },
            }
        }
        taken
    }

    fn take(&mut self, batch: EventBatch) {
        self.budget.add_permits(batch.permits as usize);
        self.current = batch.events.into_iter();
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // Connections waiting for budget stop waiting, and discard.
        self.budget.close();
    }
}
