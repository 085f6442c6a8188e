//! The message loop shared by inbound and outbound connections, and the
//! writer task that owns the write half.
//!
//! The loop decides nothing: it feeds the connection's core `Session` what
//! it reads, the stream's end, its timer and close requests, queues the
//! session's transmits as control frames, hands its events to the owner,
//! and carries out its close (the final goodbye as the queue's last frame,
//! a bounded flush, then abort).
//!
//! Cancellation safety (origin bug #12): the loop reads with `read_buf`,
//! which either appends bytes to the buffer or does nothing, and the
//! session decodes only whole frames from that buffer, so a `select!` that
//! drops the read loses no byte. Frames are written only by the writer
//! task, each one whole; it is aborted only when the connection is being
//! torn down. Senders and the loop reach the writer through the
//! [`SendQueue`]; application sends never pass through the session.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::BytesMut;
use peerlink_core::session::{Close, ClosePolicy, Session, SessionEvent, CLOSE_WRITE_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handshake::now;
use super::queue::{Batch, Next, Refused, SendQueue};
use super::{ConnectionEvent, ConnectionEventKind, ConnectionInfo, Outlet, PeerConnection};
use crate::error::ConnectionError;
use crate::events::PeerEvent;
use crate::transport::Transport;
use crate::wire::Reason;

/// Spare room reserved in the read buffer before a read while the
/// connection is quiet...
const MIN_READ_CHUNK: usize = 1024;
/// ...and once a read has filled it: room for several frames of a burst, so
/// a new buffer is not needed for every frame split off...
const BUSY_READ_CHUNK: usize = 8 * 1024;
/// ...doubling after each read that fills it, up to this (room for a few
/// 64 KiB frames, so a bulk transfer rarely copies a partial frame into a
/// new buffer); halving after each read that used under a quarter of it,
/// and back to the minimum after a read of a few control frames.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// Read buffers kept for reuse while the owner still holds their frames
/// (each under `2 * MAX_READ_CHUNK`, so at most 8 MiB per connection in a
/// bulk transfer; none once its reads are smaller).
const SPARE_READ_BUFFERS: usize = 16;

/// Runs the connection until it ends, then reports `Closed` to the owner.
pub(crate) async fn message_loop<T: Transport>(
    conn: PeerConnection<T>,
    queue: SendQueue,
    mut close_rx: mpsc::Receiver<Reason>,
    outlet: Outlet,
) {
    let PeerConnection {
        info,
        mut reader,
        writer,
        mut buf,
        session,
        ..
    } = conn;
    // However the loop ends, even dropped mid-way, the writer stops and
    // senders see the connection closed.
    let _close_queue = CloseOnDrop(&queue);
    let mut writer_task = tokio::spawn(write_loop(writer, queue.clone()));
    // A writer blocked on a peer that does not read would not see the
    // queue close: if this future is dropped, abort it.
    let _abort_writer = AbortOnDrop(writer_task.abort_handle());
    let mut lp = Loop {
        info: &info,
        queue: &queue,
        outlet: &outlet,
        session,
        batch: Vec::new(),
        batch_bytes: 0,
    };
    tracing::debug!("established");
    // The manager may have waited on its owner between the handshake and
    // this start: the peer's pings queued meanwhile are no flood.
    let started = now();
    lp.session.note_stall(
        started.saturating_duration_since(info.established_at),
        started,
    );
    // Frames that arrived together with the handshake.
    lp.session.handle_read(&mut buf, started);
    let mut closed = lp.pump(&mut close_rx).await;
    let mut io_error = None;
    let mut writer_done = false;
    let mut read_chunk = ReadChunk::default();
    // One timer for the connection's life, moved only when the session's
    // deadline moves (a fresh `sleep_until` per read would register and
    // deregister a timer entry on every wake-up).
    let timer = tokio::time::sleep_until(lp.deadline().unwrap_or_else(Instant::now));
    tokio::pin!(timer);
    let close = loop {
        if let Some(close) = closed {
            break close;
        }
        let spare = read_chunk.prepare(&mut buf);
        if let Some(deadline) = lp.deadline() {
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
        }
        let read = tokio::select! {
            biased;
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => {
                    lp.session.handle_eof(now());
                    false
                }
                Ok(n) => {
                    read_chunk.update(n, spare);
                    lp.session.handle_read(&mut buf, now());
                    true
                }
                Err(e) => {
                    io_error = Some(e);
                    lp.session.handle_eof(now());
                    false
                }
            },
            Some(reason) = close_rx.recv() => {
                lp.session.close(reason, now());
                false
            }
            joined = &mut writer_task => {
                writer_done = true;
                if let Ok(Err(e)) = joined {
                    io_error = Some(e);
                }
                lp.session.handle_eof(now());
                false
            }
            () = &mut timer => {
                lp.session.handle_timeout(now());
                false
            }
        };
        closed = lp.pump(&mut close_rx).await;
        if read {
            read_chunk.release_if_idle(&mut buf);
            // Reads come first in the select, so a peer that keeps the
            // socket readable would keep a close request (shutdown,
            // tie-break, ban) waiting: it is taken after each read too.
            if closed.is_none() {
                if let Ok(reason) = close_rx.try_recv() {
                    lp.session.close(reason, now());
                    closed = lp.pump(&mut close_rx).await;
                }
            }
        }
    };
    let error = ConnectionError::from_cause(close.cause, io_error);
    tracing::debug!(reason = %error.reason(), error = %error, "closing");
    if !writer_done {
        finish_writer(&close.policy, &queue, writer_task).await;
    }
    let closed = ConnectionEvent {
        id: info.id,
        peer: info.peer,
        kind: ConnectionEventKind::Closed(error),
    };
    let _ = outlet.control().send(closed).await;
}

/// Carries out the session's close policy: its final goodbye as the
/// queue's last frame (or none), then lets the writer flush for a bounded
/// time; a writer that cannot finish (the peer does not read) is aborted.
async fn finish_writer(
    policy: &ClosePolicy,
    queue: &SendQueue,
    mut writer_task: tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let last = match policy {
        ClosePolicy::Final(frame) => Some(&frame[..]),
        ClosePolicy::Flush => None,
        ClosePolicy::Drop => {
            writer_task.abort();
            return;
        }
    };
    // The goodbye and the end of the queue in one step: no frame a sender
    // queues meanwhile can follow the goodbye.
    let queued = queue.finish(last).is_ok();
    if !queued
        || tokio::time::timeout(CLOSE_WRITE_TIMEOUT, &mut writer_task)
            .await
            .is_err()
    {
        writer_task.abort();
    }
}

/// Aborts a task when dropped (a finished task is left as it is).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Closes the send queue when dropped.
struct CloseOnDrop<'a>(&'a SendQueue);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// How much spare room the read buffer gets before each read: small while
/// the connection is quiet (an idle peer costs little memory), growing
/// while reads fill it (a bulk transfer makes few large reads, and a frame
/// larger than one read is assembled in O(log n) reallocations, not O(n)).
///
/// It also keeps the read buffers it had to give up while their frames
/// were still with the owner, and reuses one once the owner has dropped
/// them all: a busy connection cycles through a few allocations instead of
/// making a new one per read (with glibc, buffers this large are mapped
/// and unmapped each time).
#[derive(Debug)]
struct ReadChunk {
    size: usize,
    spares: VecDeque<BytesMut>,
    /// The buffer grew for a large frame: too big to keep as a spare.
    grown: bool,
}

impl Default for ReadChunk {
    fn default() -> Self {
        ReadChunk {
            size: MIN_READ_CHUNK,
            spares: VecDeque::new(),
            grown: false,
        }
    }
}

impl ReadChunk {
    /// Makes room for the next read; returns the spare room it has.
    fn prepare(&mut self, buf: &mut BytesMut) -> usize {
        let want = self.size;
        if buf.capacity() - buf.len() >= want || buf.try_reclaim(want) {
            return buf.capacity() - buf.len();
        }
        if buf.len() >= want {
            // A large frame being assembled: grow it.
            buf.reserve(want);
            self.grown = true;
            return buf.capacity() - buf.len();
        }
        // The buffer's frames are still with the owner: carry the partial
        // frame over to a spare the owner is done with, or a new buffer.
        let need = buf.len() + want;
        let reusable = self.spares.iter_mut().position(|s| s.try_reclaim(need));
        let mut next = reusable
            .and_then(|i| self.spares.remove(i))
            .unwrap_or_else(|| BytesMut::with_capacity(need));
        next.extend_from_slice(buf);
        let mut spent = std::mem::replace(buf, next);
        if std::mem::take(&mut self.grown) {
            // Its allocation may be as large as a frame: let it go.
            return buf.capacity() - buf.len();
        }
        spent.clear();
        if self.spares.len() == SPARE_READ_BUFFERS {
            self.spares.pop_front();
        }
        self.spares.push_back(spent);
        buf.capacity() - buf.len()
    }

    /// Adapts to a read of `n` bytes into `spare` bytes of room.
    fn update(&mut self, n: usize, spare: usize) {
        if n >= spare {
            self.size = (self.size * 2).clamp(BUSY_READ_CHUNK, MAX_READ_CHUNK);
        } else if self.size > BUSY_READ_CHUNK && n < self.size / 4 {
            self.size /= 2;
        } else if self.size == BUSY_READ_CHUNK && n < MIN_READ_CHUNK / 4 {
            // Only control-sized reads: quiet again.
            self.size = MIN_READ_CHUNK;
        }
    }

    /// Drops the spares once reads are no longer bulk, and, once quiet
    /// again, a buffer a burst left large (it holds no partial frame), so
    /// the next read starts a small one.
    fn release_if_idle(&mut self, buf: &mut BytesMut) {
        if self.size > BUSY_READ_CHUNK {
            return;
        }
        self.spares.clear();
        if self.size == MIN_READ_CHUNK && buf.is_empty() && buf.capacity() > 2 * MIN_READ_CHUNK {
            *buf = BytesMut::new();
            self.grown = false;
        }
    }
}

/// Most slices in one vectored write (Linux takes up to 1024).
const MAX_WRITE_SLICES: usize = 256;

/// The per-iteration state of the message loop.
struct Loop<'a> {
    info: &'a ConnectionInfo,
    queue: &'a SendQueue,
    outlet: &'a Outlet,
    session: Session,
    /// Messages read since the last delivery, for the manager's owner.
    batch: Vec<PeerEvent>,
    /// What they cost the owner's byte budget.
    batch_bytes: usize,
}

/// What one message event costs the owner's byte budget beyond its
/// payload: the event itself, as it sits in the queue.
const EVENT_COST: usize = std::mem::size_of::<PeerEvent>();

impl Loop<'_> {
    /// The session's next deadline on tokio's clock.
    fn deadline(&self) -> Option<Instant> {
        self.session.poll_timeout().map(Instant::from_std)
    }

    /// Carries out what the session produced since the last call: its
    /// transmits onto the queue as control frames, then its events in
    /// order (the messages of one read in one batch for the manager's
    /// owner, after the others); returns its `Close` once it has ended.
    async fn pump(&mut self, close_rx: &mut mpsc::Receiver<Reason>) -> Option<Close> {
        loop {
            self.push_transmits();
            match self.session.poll_event() {
                Some(SessionEvent::Message(bytes)) => match self.outlet {
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
                },
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

/// Owns the write half: takes everything queued in one step and writes it
/// in order, each run of small frames and the large payload after it in one
/// vectored write.
async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, queue: SendQueue) -> std::io::Result<()> {
    // A writer that fails or is aborted closes the queue for its senders.
    let _close_queue = CloseOnDrop(&queue);
    let mut batch = Batch::default();
    loop {
        let next = queue.take(&mut batch).await;
        if next == Next::Stop {
            return Ok(());
        }
        write_batch(&mut writer, &batch).await?;
        writer.flush().await?;
        SendQueue::recycle(&mut batch);
        if next == Next::Finish {
            return writer.shutdown().await;
        }
    }
}

/// Writes a whole batch: a batch of small frames in one write, one with
/// large payloads as vectored writes of up to [`MAX_WRITE_SLICES`] slices
/// (one system call for many frames where the writer supports it).
async fn write_batch<W: AsyncWrite + Unpin>(writer: &mut W, batch: &Batch) -> std::io::Result<()> {
    let mut runs = batch.runs();
    let Some((first, first_payload)) = runs.next() else {
        return Ok(());
    };
    if first_payload.is_empty() && batch.is_one_run() {
        return writer.write_all(first).await;
    }
    let mut slices: Vec<IoSlice<'_>> = std::iter::once((first, first_payload))
        .chain(runs)
        .flat_map(|(run, payload)| [run, payload])
        .filter(|s| !s.is_empty())
        .map(IoSlice::new)
        .collect();
    let mut rest = slices.as_mut_slice();
    while !rest.is_empty() {
        let call = rest.get(..MAX_WRITE_SLICES).unwrap_or(rest);
        let n = writer.write_vectored(call).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::super::queue::SHARE_AT;
    use super::*;
    use crate::wire::Message;

    /// A writer that takes at most `step` bytes per call, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        /// Takes up to `step` bytes across the slices when vectored, else
        /// only from the first non-empty one (tokio's default).
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            if !self.vectored {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                return self.poll_write(cx, first);
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.step - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.step {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// One queue: small payloads, payloads large enough to be written
    /// uncopied, a control frame, then `finish`; and the bytes
    /// `Message::encode` gives for them.
    fn queued() -> (SendQueue, Vec<u8>) {
        let payloads = [
            Bytes::from(vec![1u8; 10]),
            Bytes::from(vec![2u8; SHARE_AT]),
            Bytes::from(vec![3u8; 3 * SHARE_AT + 7]),
            Bytes::from(vec![4u8; 100]),
        ];
        let ping = Message::Ping {
            nonce: 9,
            timestamp_ms: 10,
        };
        let mut expected = BytesMut::new();
        let queue = SendQueue::new(16, 1 << 20);
        for (i, p) in payloads.iter().enumerate() {
            Message::App(p.clone()).encode(&mut expected);
            queue.push_app(p.clone()).unwrap();
            if i == 1 {
                ping.encode(&mut expected);
                queue.push_control(&ping.to_frame()).unwrap();
            }
        }
        queue.finish(None).unwrap();
        (queue, expected.to_vec())
    }

    /// The writer puts exactly the encoded frames on the wire, in queue
    /// order, whether each write takes everything, 7 bytes, or a slice and
    /// a bit of the next, vectored or not.
    #[tokio::test]
    async fn writer_output_is_the_encoded_frames_in_order() {
        for (step, vectored) in [
            (usize::MAX, true),
            (7, true),
            (7, false),
            (SHARE_AT + 3, true),
        ] {
            let (queue, expected) = queued();
            let mut out = Trickle {
                out: Vec::new(),
                step,
                vectored,
            };
            write_loop(&mut out, queue).await.unwrap();
            assert_eq!(out.out, expected, "step {step}, vectored {vectored}");
        }
    }

    /// The read reservation jumps to the busy size when a read fills it,
    /// doubles while reads fill it, up to the cap, and falls back to the
    /// minimum while reads are small, freeing the large buffer.
    #[test]
    fn read_chunk_adapts() {
        let mut chunk = ReadChunk::default();
        let mut buf = BytesMut::new();
        let spare = chunk.prepare(&mut buf);
        chunk.update(spare, spare);
        assert_eq!(chunk.size, BUSY_READ_CHUNK);
        for _ in 0..10 {
            let spare = chunk.prepare(&mut buf);
            assert!(spare >= chunk.size);
            chunk.update(spare, spare);
        }
        assert_eq!(chunk.size, MAX_READ_CHUNK);
        for _ in 0..10 {
            chunk.update(21, MAX_READ_CHUNK);
        }
        assert_eq!(chunk.size, MIN_READ_CHUNK);
        buf.reserve(MAX_READ_CHUNK);
        chunk.release_if_idle(&mut buf);
        assert_eq!(buf.capacity(), 0);
    }

    /// A read buffer whose frames the owner still holds is set aside with
    /// the partial frame carried over; once those frames are dropped, the
    /// next buffer needed is that same allocation, not a new one. Quiet
    /// again, the spares are let go.
    #[test]
    fn read_buffers_are_reused_once_their_frames_are_dropped() {
        let mut chunk = ReadChunk {
            size: BUSY_READ_CHUNK,
            ..ReadChunk::default()
        };
        let mut buf = BytesMut::with_capacity(BUSY_READ_CHUNK);
        chunk.prepare(&mut buf);
        assert!(chunk.spares.is_empty());
        let first = buf.as_ptr();
        // A whole frame the owner keeps, then half of the next one.
        buf.extend_from_slice(&[1u8; BUSY_READ_CHUNK - 10]);
        let held = buf.split_to(BUSY_READ_CHUNK - 20).freeze();
        assert_eq!(buf.len(), 10);
        chunk.prepare(&mut buf);
        assert_ne!(buf.as_ptr(), first, "the held frame's buffer is not reused");
        assert_eq!(buf[..], [1u8; 10]);
        assert_eq!(chunk.spares.len(), 1);
        // The owner drops the frame; the next buffer needed, once this one
        // is used up too, is the first.
        drop(held);
        buf.extend_from_slice(&[2u8; BUSY_READ_CHUNK - 100]);
        let second = buf.split_to(buf.len()).freeze();
        assert!(buf.capacity() < BUSY_READ_CHUNK);
        chunk.prepare(&mut buf);
        assert_eq!(buf.as_ptr(), first);
        assert_eq!(chunk.spares.len(), 1);
        drop(second);
        chunk.size = MIN_READ_CHUNK;
        chunk.release_if_idle(&mut buf);
        assert!(chunk.spares.is_empty());

        // A buffer grown to assemble a large frame is not kept.
        chunk.size = BUSY_READ_CHUNK;
        let mut buf = BytesMut::new();
        for _ in 0..4 {
            chunk.prepare(&mut buf);
            let spare = buf.capacity() - buf.len();
            buf.extend_from_slice(&vec![3u8; spare]);
        }
        assert_eq!(chunk.spares.len(), 1, "only the first, small buffer");
        // The owner holds the large frame and the next one; the buffer is
        // used up, so the next read needs another.
        let large = buf.split_to(buf.len() - 10).freeze();
        let next = buf.split_to(10).freeze();
        assert_eq!(buf.capacity(), 0);
        chunk.prepare(&mut buf);
        assert_eq!(chunk.spares.len(), 1, "the grown buffer was let go");
        drop((large, next));
    }
}
