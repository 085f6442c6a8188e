//! The writer's side of the send queue: the batch it takes in one step,
//! what it does after writing it, and the buffers kept between batches.

use std::collections::VecDeque;

use super::state::Piece;
use super::SendQueue;

/// Capacity a buffer keeps between bursts; a larger one is freed once a
/// small batch has been written, so an idle connection holds almost nothing.
const IDLE_CAPACITY: usize = 4 * 1024;

/// What the writer does after writing a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Write the batch, then ask again.
    Write,
    /// Write the batch, flush, and shut the stream down.
    Finish,
    /// Stop now: the connection is gone.
    Stop,
}

/// The frames the writer took in one step, and what they count for.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pieces: VecDeque<Piece>,
    tail: Vec<u8>,
    /// Bytes in the batch.
    bytes: usize,
    /// Application frames in the batch.
    app_frames: u64,
}

impl Batch {
    /// Bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.bytes
    }

    /// Application frames in the batch (the rest are control frames).
    pub(crate) fn app_frames(&self) -> u64 {
        self.app_frames
    }

    /// Whether the batch is one run of copied frames (no large payload).
    pub(crate) fn is_one_run(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The batch's byte runs in write order: each item is a run and the
    /// large payload that follows it (possibly empty).
    pub(crate) fn runs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut pieces = self.pieces.iter().peekable();
        let mut tail = Some(self.tail.as_slice()).filter(|t| !t.is_empty());
        std::iter::from_fn(move || match pieces.next() {
            Some(Piece::Copied(run)) => {
                let payload = match pieces.peek() {
                    Some(Piece::Shared(p)) => {
                        let p = p.as_ref();
                        pieces.next();
                        p
                    }
                    _ => &[][..],
                };
                Some((run.as_slice(), payload))
            }
            Some(Piece::Shared(p)) => Some((&[][..], p.as_ref())),
            None => tail.take().map(|t| (t, &[][..])),
        })
    }
}

impl SendQueue {
    /// The writer's step: waits until something is queued (or the queue
    /// finishes or closes), then moves all of it into `batch`, which must
    /// be empty, and says what to do after writing it. The room it took is
    /// free again at once, so senders fill the queue while the writer
    /// writes: a connection holds at most its limits queued plus one batch
    /// being written.
    pub(crate) async fn take(&self, batch: &mut Batch) -> Next {
        loop {
            let wake = self.shared.writer_wake.notified();
            if let Some(next) = self.try_take(batch) {
                return next;
            }
            // A wake sent before this await is kept as a permit.
            wake.await;
        }
    }

    /// [`SendQueue::take`] without waiting: `None` if there is nothing to
    /// do yet.
    fn try_take(&self, batch: &mut Batch) -> Option<Next> {
        let mut state = self.lock();
        if state.closed {
            return Some(Next::Stop);
        }
        if state.frames == 0 {
            if state.finishing {
                return Some(Next::Finish);
            }
            state.writer_waiting = true;
            return None;
        }
        std::mem::swap(&mut state.pieces, &mut batch.pieces);
        std::mem::swap(&mut state.tail, &mut batch.tail);
        batch.bytes = state.bytes;
        batch.app_frames = (state.frames - state.control) as u64;
        state.frames = 0;
        state.bytes = 0;
        state.control = 0;
        state.control_bytes = 0;
        let next = if state.finishing {
            Next::Finish
        } else {
            Next::Write
        };
        // The room is the head waiter's first.
        let waiter = self.head_waker(&mut state);
        drop(state);
        if let Some(waker) = waiter {
            waker.wake();
        }
        Some(next)
    }

    /// Empties a written batch for the next step, keeping its buffers
    /// unless a burst grew them and the connection is quiet again.
    pub(crate) fn recycle(batch: &mut Batch) {
        batch.pieces.clear();
        batch.tail.clear();
        if batch.bytes <= IDLE_CAPACITY {
            // Quiet again: free what a burst grew.
            if batch.tail.capacity() > IDLE_CAPACITY {
                batch.tail = Vec::new();
            }
            if batch.pieces.capacity() > 4 {
                batch.pieces = VecDeque::new();
            }
        }
        batch.bytes = 0;
        batch.app_frames = 0;
    }
}
