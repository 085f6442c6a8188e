//! The send queue between a connection's senders and its writer task.
//! Senders encode frames straight into one shared buffer; the writer takes
//! everything queued in one step. The queue is bounded in frames and in
//! bytes, with a little room kept for control frames.
//!
//! A payload of [`SHARE_AT`] bytes or more is queued by reference, not
//! copied (a broadcast of a large payload shares one buffer among all
//! peers); smaller ones are copied in behind their header, which is the one
//! copy the writer used to make.
//!
//! Senders waiting for room are served first come, first served: each
//! takes a place in a line of waiters, only the head of the line is
//! admitted, and while anyone waits a sender that does not wait is refused,
//! so neither later waiters nor a stream of small sends can keep a large
//! payload out.
//!
//! What the queue holds under its lock is in [`state`], the writer's side
//! (the batch it takes in one step) in [`batch`], and the line of senders
//! waiting for room in [`waiters`].

mod batch;
mod state;
mod waiters;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::stats::LinkStats;
use crate::wire::{MessageType, FRAME_HEADER_LEN};
pub(crate) use batch::{Batch, Next};
use peerlink_core::snapshot::ConnectionStats;
use state::{Piece, State};

/// Payloads at least this long are queued by reference, not copied.
pub(crate) const SHARE_AT: usize = 16 * 1024;

/// Control frames (pings, pongs, a goodbye) that may wait beyond the
/// application limits. A pong is never refused because the owner filled the
/// queue with `send_wait`; a peer that sends pings and reads nothing fills
/// this room, and the connection closes with `slow_reader`.
pub(crate) const CONTROL_FRAMES: usize = 64;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue is at one of its limits.
    Full,
    /// The writer has stopped, or is finishing.
    Closed,
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct SendQueue {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when it waits for frames.
    writer_wake: Notify,
    max_frames: usize,
    max_bytes: usize,
    /// What the connection's tasks count.
    stats: LinkStats,
}

impl SendQueue {
    /// An empty queue for at most `max_frames` frames and `max_bytes`
    /// encoded bytes (one frame is always admitted into an empty queue,
    /// however large).
    #[cfg(test)]
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self::established_at(max_frames, max_bytes, super::handshake::now())
    }

    /// An empty queue (as `new`) for a connection established at `since`
    /// (the origin of its [`LinkStats`] ages).
    pub(crate) fn established_at(max_frames: usize, max_bytes: usize, since: Instant) -> Self {
        SendQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                writer_wake: Notify::new(),
                max_frames,
                max_bytes,
                stats: LinkStats::new(since),
            }),
        }
    }

    /// The counters the connection's tasks keep.
    pub(crate) fn link(&self) -> &LinkStats {
        &self.shared.stats
    }

    /// The connection's figures at `now`.
    pub(crate) fn stats(&self, now: Instant) -> ConnectionStats {
        let full = self.lock().refused_full;
        self.shared.stats.read(now, full)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an application payload if there is room and no sender
    /// waits for room. The caller has checked it against the frame cap.
    pub(crate) fn push_app(&self, payload: Bytes) -> Result<(), (Refused, Bytes)> {
        let len = FRAME_HEADER_LEN + 1 + payload.len();
        let mut state = self.lock();
        if state.finishing || state.closed {
            return Err((Refused::Closed, payload));
        }
        // The room that frees next is owed to the waiters.
        if !state.waiters.is_empty() || !self.fits(&state, len) {
            state.refused_full += 1;
            return Err((Refused::Full, payload));
        }
        Self::append(&mut state, &payload);
        self.wake_writer(state, None);
        Ok(())
    }

    /// Queues application payloads in order, under one lock, for as long as
    /// they fit and no sender waits for room; returns how many it queued.
    /// The caller has checked them against the frame cap.
    pub(crate) fn push_app_many(&self, payloads: &[Bytes]) -> Result<usize, Refused> {
        let mut state = self.lock();
        if state.finishing || state.closed {
            return Err(Refused::Closed);
        }
        if !state.waiters.is_empty() {
            state.refused_full += 1;
            return Err(Refused::Full);
        }
        let mut queued = 0;
        for payload in payloads {
            if !self.fits(&state, FRAME_HEADER_LEN + 1 + payload.len()) {
                break;
            }
            Self::append(&mut state, payload);
            queued += 1;
        }
        if queued == 0 && !payloads.is_empty() {
            state.refused_full += 1;
            return Err(Refused::Full);
        }
        self.wake_writer(state, None);
        Ok(queued)
    }

    /// Whether an application frame of `len` bytes fits now.
    fn fits(&self, state: &State, len: usize) -> bool {
        let app_frames = state.frames - state.control;
        let app_bytes = state.bytes - state.control_bytes;
        app_frames < self.shared.max_frames
            && (app_bytes == 0 || app_bytes + len <= self.shared.max_bytes)
    }

    /// Encodes an application frame onto the queue; the caller checked
    /// that it fits.
    fn append(state: &mut State, payload: &Bytes) {
        let len = FRAME_HEADER_LEN + 1 + payload.len();
        // Bounded by the frame cap, checked by the caller.
        let body_len = (payload.len() + 1) as u32;
        state.tail.extend_from_slice(&body_len.to_be_bytes());
        state.tail.push(MessageType::App as u8);
        if payload.len() >= SHARE_AT {
            let run = std::mem::take(&mut state.tail);
            state.pieces.push_back(Piece::Copied(run));
            state.pieces.push_back(Piece::Shared(payload.clone()));
        } else {
            state.tail.extend_from_slice(payload);
        }
        state.frames += 1;
        state.bytes += len;
    }

    /// Wakes the writer and every waiter: the queue is closing (waiters
    /// then find it closed).
    fn wake_all(&self, mut state: MutexGuard<'_, State>) {
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        self.shared.writer_wake.notify_one();
        for waker in waiters.into_iter().filter_map(|w| w.waker) {
            waker.wake();
        }
    }

    /// Queues an encoded control frame, within the room kept for them.
    pub(crate) fn push_control(&self, frame: &[u8]) -> Result<(), Refused> {
        let mut state = self.lock();
        Self::push_control_locked(&mut state, frame)?;
        self.wake_writer(state, None);
        Ok(())
    }

    fn push_control_locked(state: &mut State, frame: &[u8]) -> Result<(), Refused> {
        if state.finishing || state.closed {
            return Err(Refused::Closed);
        }
        if state.control >= CONTROL_FRAMES {
            return Err(Refused::Full);
        }
        state.tail.extend_from_slice(frame);
        state.frames += 1;
        state.control += 1;
        state.bytes += frame.len();
        state.control_bytes += frame.len();
        Ok(())
    }

    /// Wakes the writer if it waits, and `waiter` if given.
    fn wake_writer(&self, mut state: MutexGuard<'_, State>, waiter: Option<Waker>) {
        let writer = std::mem::take(&mut state.writer_waiting);
        drop(state);
        if writer {
            self.shared.writer_wake.notify_one();
        }
        if let Some(waker) = waiter {
            waker.wake();
        }
    }

    /// Asks the writer to write what is queued, then `last` if given (a
    /// goodbye), then shut the stream down. Nothing is queued after `last`,
    /// not even by a sender racing with this call. Fails if `last` could
    /// not be queued (the stream is still finished).
    pub(crate) fn finish(&self, last: Option<&[u8]>) -> Result<(), Refused> {
        let mut state = self.lock();
        let queued = match last {
            Some(frame) => Self::push_control_locked(&mut state, frame),
            None => Ok(()),
        };
        state.finishing = true;
        self.wake_all(state);
        queued
    }

    /// Stops the queue: the writer stops without writing, waiting senders
    /// and later ones get [`Refused::Closed`].
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.pieces.clear();
        state.tail = Vec::new();
        self.wake_all(state);
    }

    /// Whether the queue has stopped or is finishing.
    pub(crate) fn is_closed(&self) -> bool {
        let state = self.lock();
        state.finishing || state.closed
    }
}

#[cfg(test)]
mod tests;
