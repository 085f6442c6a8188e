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

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::wire::{MessageType, FRAME_HEADER_LEN};

/// Payloads at least this long are queued by reference, not copied.
pub(crate) const SHARE_AT: usize = 16 * 1024;
/// Control frames (pings, pongs, a goodbye) that may wait beyond the
/// application limits. A pong is never refused because the owner filled the
/// queue with `send_wait`; a peer that sends pings and reads nothing fills
/// this room, and the connection closes with `slow_reader`.
pub(crate) const CONTROL_FRAMES: usize = 64;
/// Capacity a buffer keeps between bursts; a larger one is freed once a
/// small batch has been written, so an idle connection holds almost nothing.
const IDLE_CAPACITY: usize = 4 * 1024;

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
}

/// Queued frames, in order: `pieces`, then `tail`.
#[derive(Debug, Default)]
struct State {
    pieces: VecDeque<Piece>,
    tail: Vec<u8>,
    /// Queued and not yet taken by the writer.
    frames: usize,
    bytes: usize,
    control: usize,
    /// Of `bytes`, those of control frames (outside the byte budget).
    control_bytes: usize,
    writer_waiting: bool,
    /// Senders waiting for room, in arrival order: one entry per waiting
    /// `push_app_wait`.
    waiters: VecDeque<Waiter>,
    /// The ticket of the next waiter.
    next_ticket: u64,
    finishing: bool,
    closed: bool,
}

/// A sender's place in the line of waiters.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    /// Encoded length of its frame.
    len: usize,
    /// Set once it has parked; taken by whoever wakes it.
    waker: Option<Waker>,
}

/// A run of encoded frames, or a large payload whose header ends the run
/// before it.
#[derive(Debug)]
enum Piece {
    Copied(Vec<u8>),
    Shared(Bytes),
}

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
}

impl Batch {
    /// Bytes in the batch.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bytes
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
    /// An empty queue for at most `max_frames` frames and `max_bytes`
    /// encoded bytes (one frame is always admitted into an empty queue,
    /// however large).
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        SendQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                writer_wake: Notify::new(),
                max_frames,
                max_bytes,
            }),
        }
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
            return Err(Refused::Full);
        }
        self.wake_writer(state, None);
        Ok(queued)
    }

    /// Queues an application payload, waiting for room behind the senders
    /// already waiting. Cancel safe: dropped before it returns, it has
    /// queued nothing, and the waiters behind it move up.
    pub(crate) async fn push_app_wait(&self, payload: Bytes) -> Result<(), Refused> {
        let len = FRAME_HEADER_LEN + 1 + payload.len();
        let ticket = {
            let mut state = self.lock();
            if state.finishing || state.closed {
                return Err(Refused::Closed);
            }
            if state.waiters.is_empty() && self.fits(&state, len) {
                Self::append(&mut state, &payload);
                self.wake_writer(state, None);
                return Ok(());
            }
            // In line now, so no sender arriving later overtakes us.
            let ticket = state.next_ticket;
            state.next_ticket = ticket.wrapping_add(1);
            state.waiters.push_back(Waiter {
                ticket,
                len,
                waker: None,
            });
            ticket
        };
        let mut wait = Wait {
            queue: self,
            ticket,
            payload: Some(payload),
        };
        // The writer, running beside us, usually takes the queue in a
        // moment: one yield is cheaper than parking and being woken.
        tokio::task::yield_now().await;
        (&mut wait).await
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

    /// The head waiter's waker, if its frame fits now (it admits itself
    /// when it runs).
    fn head_waker(&self, state: &mut State) -> Option<Waker> {
        let len = state.waiters.front()?.len;
        if !self.fits(state, len) {
            return None;
        }
        state.waiters.front_mut()?.waker.take()
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
    }
}

/// A sender's wait in line for room (see [`SendQueue::push_app_wait`]).
/// Dropped before it completes, it leaves the line.
struct Wait<'a> {
    queue: &'a SendQueue,
    ticket: u64,
    /// Taken when the wait ends.
    payload: Option<Bytes>,
}

impl Future for Wait<'_> {
    type Output = Result<(), Refused>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let queue = this.queue;
        let mut state = queue.lock();
        if state.finishing || state.closed {
            // Closing emptied the line.
            this.payload = None;
            return Poll::Ready(Err(Refused::Closed));
        }
        let Some(at) = state.waiters.iter().position(|w| w.ticket == this.ticket) else {
            // Unreachable: only closing removes a waiter other than itself.
            this.payload = None;
            return Poll::Ready(Err(Refused::Closed));
        };
        // Only the head of the line is admitted, and only whole.
        let admit = at == 0
            && state
                .waiters
                .front()
                .is_some_and(|w| queue.fits(&state, w.len));
        if admit {
            if let Some(payload) = this.payload.take() {
                state.waiters.pop_front();
                SendQueue::append(&mut state, &payload);
                // The next in line may fit too.
                let next = queue.head_waker(&mut state);
                queue.wake_writer(state, next);
                return Poll::Ready(Ok(()));
            }
        }
        if let Some(waiter) = state.waiters.get_mut(at) {
            if !waiter
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                waiter.waker = Some(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.payload.is_none() {
            return;
        }
        let queue = self.queue;
        let mut state = queue.lock();
        let Some(at) = state.waiters.iter().position(|w| w.ticket == self.ticket) else {
            return;
        };
        state.waiters.remove(at);
        if at == 0 {
            // It may have been woken for room it will not take: pass it on.
            let next = queue.head_waker(&mut state);
            drop(state);
            if let Some(waker) = next {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::wire::Message;

    fn encoded(payloads: &[Bytes]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for p in payloads {
            Message::App(p.clone()).encode(&mut out);
        }
        out.to_vec()
    }

    fn concat(batch: &Batch) -> Vec<u8> {
        let mut out = Vec::new();
        for (run, payload) in batch.runs() {
            out.extend_from_slice(run);
            out.extend_from_slice(payload);
        }
        out
    }

    #[tokio::test]
    async fn batch_holds_the_encoded_frames_in_order_sharing_large_payloads() {
        let q = SendQueue::new(16, 1 << 20);
        let small = Bytes::from(vec![1u8; 10]);
        let large = Bytes::from(vec![2u8; SHARE_AT]);
        let last = Bytes::from(vec![3u8; 5]);
        let ping = Message::Ping {
            nonce: 1,
            timestamp_ms: 2,
        }
        .to_frame();
        q.push_app(small.clone()).unwrap();
        q.push_app(large.clone()).unwrap();
        q.push_control(&ping).unwrap();
        q.push_app(last.clone()).unwrap();
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Write);
        let mut expected = encoded(&[small, large.clone()]);
        expected.extend_from_slice(&ping);
        expected.extend_from_slice(&encoded(&[last]));
        assert_eq!(concat(&batch), expected);
        assert_eq!(batch.len(), expected.len());
        let shared = batch.runs().find(|(_, p)| !p.is_empty()).unwrap().1;
        assert_eq!(shared.as_ptr(), large.as_ptr());
    }

    #[test]
    fn limits_count_frames_and_bytes_and_free_when_taken() {
        let frame = FRAME_HEADER_LEN + 1 + 100;
        let q = SendQueue::new(3, 2 * frame);
        let p = Bytes::from(vec![0u8; 100]);
        q.push_app(p.clone()).unwrap();
        q.push_app(p.clone()).unwrap();
        assert_eq!(q.push_app(p.clone()).unwrap_err().0, Refused::Full);
        let q = SendQueue::new(2, 1 << 20);
        q.push_app(p.clone()).unwrap();
        q.push_app(p.clone()).unwrap();
        assert_eq!(q.push_app(p.clone()).unwrap_err().0, Refused::Full);
        let mut batch = Batch::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(q.take(&mut batch)), Next::Write);
        // Taken: the queue has room again while the writer writes.
        q.push_app(p.clone()).unwrap();
        q.push_app(p.clone()).unwrap();
        assert_eq!(q.push_app(p).unwrap_err().0, Refused::Full);
    }

    /// A batch queues the prefix that fits, in order, and nothing while a
    /// sender waits for room.
    #[tokio::test]
    async fn a_batch_queues_what_fits_in_order() {
        let q = SendQueue::new(3, 1 << 20);
        let p: Vec<Bytes> = (0u8..5).map(|i| Bytes::from(vec![i; 8])).collect();
        assert_eq!(q.push_app_many(&p), Ok(3));
        assert_eq!(q.push_app_many(&p[3..]), Err(Refused::Full));
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Write);
        assert_eq!(concat(&batch), encoded(&p[..3]));
        SendQueue::recycle(&mut batch);
        assert_eq!(q.push_app_many(&[]), Ok(0));
        let (q, waiting) = full_queue_with_waiter().await;
        assert_eq!(q.push_app_many(&p[..1]), Err(Refused::Full));
        q.close();
        assert_eq!(waiting.await.unwrap(), Err(Refused::Closed));
        assert_eq!(q.push_app_many(&p[..1]), Err(Refused::Closed));
    }

    #[test]
    fn an_empty_queue_takes_one_frame_larger_than_its_byte_limit() {
        let q = SendQueue::new(8, 100);
        let big = Bytes::from(vec![0u8; 1000]);
        q.push_app(big.clone()).unwrap();
        assert_eq!(q.push_app(big).unwrap_err().0, Refused::Full);
    }

    #[test]
    fn control_bytes_do_not_count_against_the_byte_limit() {
        let q = SendQueue::new(8, 100);
        q.push_control(&[0u8; 21]).unwrap();
        // The queue holds no application frame: one of any size fits.
        q.push_app(Bytes::from(vec![0u8; 1000])).unwrap();
        assert_eq!(
            q.push_app(Bytes::from_static(b"x")).unwrap_err().0,
            Refused::Full
        );
    }

    #[test]
    fn control_frames_have_their_own_room() {
        let q = SendQueue::new(1, 100);
        q.push_app(Bytes::from_static(b"x")).unwrap();
        let pong = Message::Pong {
            nonce: 1,
            timestamp_ms: 2,
        }
        .to_frame();
        for _ in 0..CONTROL_FRAMES {
            q.push_control(&pong).unwrap();
        }
        assert_eq!(q.push_control(&pong), Err(Refused::Full));
    }

    /// A full one-frame queue and a sender waiting to queue `b"b"`.
    async fn full_queue_with_waiter() -> (SendQueue, tokio::task::JoinHandle<Result<(), Refused>>) {
        let q = SendQueue::new(1, 1 << 20);
        q.push_app(Bytes::from_static(b"a")).unwrap();
        let sender = q.clone();
        let waiting =
            tokio::spawn(async move { sender.push_app_wait(Bytes::from_static(b"b")).await });
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        (q, waiting)
    }

    #[tokio::test]
    async fn a_waiting_sender_resumes_when_the_writer_takes_the_queue() {
        let (q, waiting) = full_queue_with_waiter().await;
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Write);
        SendQueue::recycle(&mut batch);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(q.take(&mut batch).await, Next::Write);
        assert_eq!(concat(&batch), encoded(&[Bytes::from_static(b"b")]));
    }

    #[tokio::test]
    async fn close_stops_the_writer_and_wakes_waiting_senders() {
        let (q, waiting) = full_queue_with_waiter().await;
        q.close();
        assert_eq!(waiting.await.unwrap(), Err(Refused::Closed));
        assert!(q.is_closed());
        assert_eq!(q.take(&mut Batch::default()).await, Next::Stop);
        assert_eq!(
            q.push_app(Bytes::from_static(b"c")).unwrap_err().0,
            Refused::Closed
        );
    }

    #[tokio::test]
    async fn finish_hands_over_what_is_queued_and_the_goodbye_then_refuses_more() {
        let q = SendQueue::new(8, 1 << 20);
        q.push_app(Bytes::from_static(b"a")).unwrap();
        q.finish(Some(b"bye")).unwrap();
        assert_eq!(q.push_control(b"x"), Err(Refused::Closed));
        assert_eq!(
            q.push_app(Bytes::from_static(b"b")).unwrap_err().0,
            Refused::Closed
        );
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Finish);
        let mut expected = encoded(&[Bytes::from_static(b"a")]);
        expected.extend_from_slice(b"bye");
        assert_eq!(concat(&batch), expected);
        SendQueue::recycle(&mut batch);
        assert_eq!(q.take(&mut batch).await, Next::Finish);
    }

    /// The encoded length of an application frame of `n` payload bytes.
    fn frame(n: usize) -> usize {
        FRAME_HEADER_LEN + 1 + n
    }

    /// Lets spawned tasks run until they park.
    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    fn wait_for(q: &SendQueue, payload: Bytes) -> tokio::task::JoinHandle<Result<(), Refused>> {
        let sender = q.clone();
        tokio::spawn(async move { sender.push_app_wait(payload).await })
    }

    #[tokio::test]
    async fn waiters_are_admitted_in_arrival_order() {
        let small = |b| Bytes::from(vec![b; 10]);
        let large = Bytes::from(vec![2u8; 100]);
        // Two small frames queued: a small one still fits, the large one not.
        let q = SendQueue::new(8, frame(100) + frame(10));
        q.push_app(small(1)).unwrap();
        q.push_app(small(1)).unwrap();
        let first = wait_for(&q, large.clone());
        settle().await;
        assert!(!first.is_finished());
        // Would fit now, but waits behind the large waiter.
        let second = wait_for(&q, small(3));
        settle().await;
        assert!(!second.is_finished());
        // So does a sender that does not wait: it is refused.
        assert_eq!(q.push_app(small(4)).unwrap_err().0, Refused::Full);
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Write);
        assert_eq!(concat(&batch), encoded(&[small(1), small(1)]));
        SendQueue::recycle(&mut batch);
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(q.take(&mut batch).await, Next::Write);
        assert_eq!(concat(&batch), encoded(&[large, small(3)]));
    }

    #[tokio::test]
    async fn a_stream_of_sends_cannot_starve_a_large_waiter() {
        let small = Bytes::from(vec![1u8; 10]);
        let large = Bytes::from(vec![2u8; 100]);
        // The large payload fits only into a queue without application frames.
        let q = SendQueue::new(8, frame(100));
        q.push_app(small.clone()).unwrap();
        let waiting = wait_for(&q, large.clone());
        settle().await;
        assert!(!waiting.is_finished());
        let mut batch = Batch::default();
        let mut taken = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..3 {
            // The writer takes the queue; a sender that does not wait tries
            // at once, before the waiter runs.
            assert_eq!(q.take(&mut batch).await, Next::Write);
            taken.push(concat(&batch));
            SendQueue::recycle(&mut batch);
            sent.push(q.push_app(small.clone()).is_ok());
            settle().await;
        }
        // The room freed by the first take was the waiter's.
        assert_eq!(sent, [false, true, true]);
        assert_eq!(
            taken,
            [
                encoded(std::slice::from_ref(&small)),
                encoded(&[large]),
                encoded(&[small])
            ]
        );
        assert!(waiting.is_finished());
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_block_the_next() {
        let q = SendQueue::new(1, 1 << 20);
        q.push_app(Bytes::from_static(b"a")).unwrap();
        // Cancelled while waiting.
        let gone = wait_for(&q, Bytes::from_static(b"x"));
        settle().await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        // Woken by the take, then cancelled before it runs.
        let woken = wait_for(&q, Bytes::from_static(b"y"));
        let next = wait_for(&q, Bytes::from_static(b"b"));
        settle().await;
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch).await, Next::Write);
        SendQueue::recycle(&mut batch);
        woken.abort();
        settle().await;
        assert!(woken.await.unwrap_err().is_cancelled());
        // The wake-up passed on to the next in line.
        assert!(next.is_finished());
        assert_eq!(next.await.unwrap(), Ok(()));
        assert_eq!(q.take(&mut batch).await, Next::Write);
        assert_eq!(concat(&batch), encoded(&[Bytes::from_static(b"b")]));
        // No waiter is left: a sender that does not wait is taken again.
        SendQueue::recycle(&mut batch);
        q.push_app(Bytes::from_static(b"c")).unwrap();
    }

    #[tokio::test]
    async fn close_and_finish_wake_every_waiter_with_closed() {
        for finish in [false, true] {
            let q = SendQueue::new(1, 1 << 20);
            q.push_app(Bytes::from_static(b"a")).unwrap();
            let waiting: Vec<_> = (0..3)
                .map(|i| wait_for(&q, Bytes::from(vec![i; 10])))
                .collect();
            settle().await;
            assert!(waiting.iter().all(|w| !w.is_finished()));
            if finish {
                q.finish(None).unwrap();
            } else {
                q.close();
            }
            for w in waiting {
                assert_eq!(w.await.unwrap(), Err(Refused::Closed));
            }
        }
    }
}
