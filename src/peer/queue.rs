//! The send queue between a connection's senders and its writer task.
//! Senders encode frames straight into one shared buffer; the writer takes
//! everything queued in one step. The queue is bounded in frames and in
//! bytes, with a little room kept for control frames.
//!
//! A payload of [`SHARE_AT`] bytes or more is queued by reference, not
//! copied (a broadcast of a large payload shares one buffer among all
//! peers); smaller ones are copied in behind their header, which is the one
//! copy the writer used to make.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// Wakes senders waiting for room.
    room: Notify,
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
    senders_waiting: bool,
    finishing: bool,
    closed: bool,
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
                room: Notify::new(),
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

    /// Queues an application payload if there is room. The caller has
    /// checked it against the frame cap.
    pub(crate) fn push_app(&self, payload: Bytes) -> Result<(), (Refused, Bytes)> {
        self.try_push_app(payload, false)
    }

    /// Queues an application payload, waiting for room.
    pub(crate) async fn push_app_wait(&self, mut payload: Bytes) -> Result<(), Refused> {
        match self.try_push_app(payload, false) {
            Err((Refused::Full, p)) => payload = p,
            done => return done.map_err(|(e, _)| e),
        }
        // The writer, running beside us, usually takes the queue in a
        // moment: one yield is cheaper than parking and being woken.
        tokio::task::yield_now().await;
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before the check, so room freed after it wakes us.
            room.as_mut().enable();
            match self.try_push_app(payload, true) {
                Ok(()) => return Ok(()),
                Err((Refused::Closed, _)) => return Err(Refused::Closed),
                Err((Refused::Full, p)) => payload = p,
            }
            room.await;
        }
    }

    fn try_push_app(&self, payload: Bytes, wait: bool) -> Result<(), (Refused, Bytes)> {
        let len = FRAME_HEADER_LEN + 1 + payload.len();
        let mut state = self.lock();
        if state.finishing || state.closed {
            return Err((Refused::Closed, payload));
        }
        let app_frames = state.frames - state.control;
        let app_bytes = state.bytes - state.control_bytes;
        if app_frames >= self.shared.max_frames
            || (app_bytes > 0 && app_bytes + len > self.shared.max_bytes)
        {
            state.senders_waiting |= wait;
            return Err((Refused::Full, payload));
        }
        // Bounded by the frame cap, checked by the caller.
        let body_len = (payload.len() + 1) as u32;
        state.tail.extend_from_slice(&body_len.to_be_bytes());
        state.tail.push(MessageType::App as u8);
        if payload.len() >= SHARE_AT {
            let run = std::mem::take(&mut state.tail);
            state.pieces.push_back(Piece::Copied(run));
            state.pieces.push_back(Piece::Shared(payload));
        } else {
            state.tail.extend_from_slice(&payload);
        }
        state.frames += 1;
        state.bytes += len;
        self.wake_writer(state);
        Ok(())
    }

    /// Queues an encoded control frame, within the room kept for them.
    pub(crate) fn push_control(&self, frame: &[u8]) -> Result<(), Refused> {
        let mut state = self.lock();
        Self::push_control_locked(&mut state, frame)?;
        self.wake_writer(state);
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

    fn wake_writer(&self, mut state: MutexGuard<'_, State>) {
        if std::mem::take(&mut state.writer_waiting) {
            drop(state);
            self.shared.writer_wake.notify_one();
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
        drop(state);
        self.shared.writer_wake.notify_one();
        self.shared.room.notify_waiters();
        queued
    }

    /// Stops the queue: the writer stops without writing, waiting senders
    /// and later ones get [`Refused::Closed`].
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.pieces.clear();
        state.tail = Vec::new();
        drop(state);
        self.shared.writer_wake.notify_one();
        self.shared.room.notify_waiters();
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
        let wake = std::mem::take(&mut state.senders_waiting);
        drop(state);
        if wake {
            self.shared.room.notify_waiters();
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
}
