//! The message loop shared by inbound and outbound connections, and the
//! writer task that owns the write half.
//!
//! Cancellation safety (origin bug #12): the loop reads with `read_buf`,
//! which either appends bytes to the buffer or does nothing, and decodes
//! only whole frames from that buffer, so a `select!` that drops the read
//! loses no byte. Frames are written only by the writer task, each one whole;
//! it is aborted only when the connection is being torn down.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handshake::CLOSE_WRITE_TIMEOUT;
use super::ping::{PingState, PongOutcome};
use super::{ConnectionEvent, ConnectionEventKind, ConnectionInfo, PeerConnection};
use crate::error::{ConnectionError, ProtocolViolation};
use crate::transport::Transport;
use crate::wire::{decode_frame, Message, MessageType, Reason, FRAME_HEADER_LEN};

/// Bytes of small frames the writer batches into one write.
const WRITE_BUFFER: usize = 64 * 1024;
/// Payloads at least this long are not copied into the write batch: the
/// batch and the payload go out in one vectored write.
const DIRECT_WRITE: usize = 16 * 1024;
/// Write-batch capacity kept after a small batch; a larger buffer (left by a
/// burst) is freed then, so an idle connection holds almost nothing.
const IDLE_WRITE_BUFFER: usize = 4 * 1024;
/// Most queued items the writer takes off its queue in one step.
const RECV_BATCH: usize = 64;
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

/// One item in a connection's send queue.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A whole encoded frame (control messages).
    Frame(Bytes),
    /// An application payload; the writer adds the frame header, so a
    /// broadcast shares one payload buffer among all peers.
    App(Bytes),
    /// Flush, close the write side, and stop.
    Finish,
}

/// Runs the connection until it ends, then reports `Closed` to the owner.
pub(crate) async fn message_loop<T: Transport>(
    conn: PeerConnection<T>,
    queue_tx: mpsc::Sender<Outgoing>,
    queue_rx: mpsc::Receiver<Outgoing>,
    mut close_rx: mpsc::Receiver<Reason>,
    events: mpsc::Sender<ConnectionEvent>,
) {
    let PeerConnection {
        info,
        mut reader,
        writer,
        mut buf,
        config,
        rng,
    } = conn;
    let mut writer_task = tokio::spawn(write_loop(writer, queue_rx));
    let mut ping = PingState::new(&config, Instant::now(), rng);
    let mut lp = Loop {
        info: &info,
        queue: &queue_tx,
        events: &events,
        ping: &mut ping,
    };
    tracing::debug!("established");
    // Frames that arrived together with the handshake.
    let mut outcome = lp.drain_frames(&mut buf, config.max_frame_len).await.err();
    let mut writer_done = false;
    let mut read_chunk = ReadChunk::default();
    // One timer for the connection's life, moved only when the ping
    // deadline moves (a fresh `sleep_until` per read would register and
    // deregister a timer entry on every wake-up).
    let timer = tokio::time::sleep_until(lp.ping.next_deadline());
    tokio::pin!(timer);
    while outcome.is_none() {
        let spare = read_chunk.prepare(&mut buf);
        let deadline = lp.ping.next_deadline();
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        tokio::select! {
            biased;
            read = reader.read_buf(&mut buf) => {
                outcome = match read {
                    Ok(0) => Some(ConnectionError::Eof),
                    Ok(n) => {
                        read_chunk.update(n, spare);
                        let drained = lp.drain_frames(&mut buf, config.max_frame_len).await.err();
                        read_chunk.release_if_idle(&mut buf);
                        drained
                    }
                    Err(e) => Some(e.into()),
                };
            }
            Some(reason) = close_rx.recv() => {
                outcome = Some(ConnectionError::LocalClosed(reason));
            }
            joined = &mut writer_task => {
                writer_done = true;
                outcome = Some(match joined {
                    Ok(Err(e)) => e.into(),
                    _ => ConnectionError::Eof,
                });
            }
            () = &mut timer => {
                outcome = lp.on_timer().err();
            }
        }
    }
    let error = outcome.unwrap_or(ConnectionError::Eof);
    tracing::debug!(reason = %error.reason(), error = %error, "closing");
    if !writer_done {
        finish_writer(&error, &queue_tx, writer_task).await;
    }
    let _ = events
        .send(ConnectionEvent {
            id: info.id,
            peer: info.peer,
            kind: ConnectionEventKind::Closed(error),
        })
        .await;
}

/// Says goodbye where we are the one closing, then lets the writer flush
/// for a bounded time; a writer that cannot finish (the peer does not read)
/// is aborted.
async fn finish_writer(
    error: &ConnectionError,
    queue: &mpsc::Sender<Outgoing>,
    mut writer_task: tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let say_goodbye = !matches!(
        error,
        ConnectionError::RemoteClosed(_) | ConnectionError::Eof | ConnectionError::Io(_)
    );
    let mut queued = true;
    if say_goodbye {
        let frame = Message::Goodbye(error.reason()).to_frame();
        queued = queue.try_send(Outgoing::Frame(frame)).is_ok();
    }
    queued = queued && queue.try_send(Outgoing::Finish).is_ok();
    if !queued
        || tokio::time::timeout(CLOSE_WRITE_TIMEOUT, &mut writer_task)
            .await
            .is_err()
    {
        writer_task.abort();
    }
}

/// How much spare room the read buffer gets before each read: small while
/// the connection is quiet (an idle peer costs little memory), growing
/// while reads fill it (a bulk transfer makes few large reads, and a frame
/// larger than one read is assembled in O(log n) reallocations, not O(n)).
#[derive(Debug)]
struct ReadChunk(usize);

impl Default for ReadChunk {
    fn default() -> Self {
        ReadChunk(MIN_READ_CHUNK)
    }
}

impl ReadChunk {
    /// Makes room for the next read; returns the spare room it has.
    fn prepare(&self, buf: &mut BytesMut) -> usize {
        if buf.capacity() - buf.len() < self.0 {
            buf.reserve(self.0);
        }
        buf.capacity() - buf.len()
    }

    /// Adapts to a read of `n` bytes into `spare` bytes of room.
    fn update(&mut self, n: usize, spare: usize) {
        if n >= spare {
            self.0 = (self.0 * 2).clamp(BUSY_READ_CHUNK, MAX_READ_CHUNK);
        } else if self.0 > BUSY_READ_CHUNK && n < self.0 / 4 {
            self.0 /= 2;
        } else if self.0 == BUSY_READ_CHUNK && n < MIN_READ_CHUNK / 4 {
            // Only control-sized reads: quiet again.
            self.0 = MIN_READ_CHUNK;
        }
    }

    /// Once quiet again, drops a buffer a burst left large (it holds no
    /// partial frame), so the next read starts a small one.
    fn release_if_idle(&self, buf: &mut BytesMut) {
        if self.0 == MIN_READ_CHUNK && buf.is_empty() && buf.capacity() > 2 * MIN_READ_CHUNK {
            *buf = BytesMut::new();
        }
    }
}

/// The per-iteration state of the message loop.
struct Loop<'a> {
    info: &'a ConnectionInfo,
    queue: &'a mpsc::Sender<Outgoing>,
    events: &'a mpsc::Sender<ConnectionEvent>,
    ping: &'a mut PingState,
}

impl Loop<'_> {
    /// Handles every whole frame in `buf`.
    async fn drain_frames(&mut self, buf: &mut BytesMut, max: u32) -> Result<(), ConnectionError> {
        while let Some(body) = decode_frame(buf, max)? {
            let msg = Message::decode(body)?;
            self.handle(msg).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, msg: Message) -> Result<(), ConnectionError> {
        match msg {
            Message::App(bytes) => self.emit(ConnectionEventKind::Message(bytes)).await,
            Message::Ping {
                nonce,
                timestamp_ms,
            } => {
                self.ping.on_ping(nonce, Instant::now())?;
                let pong = Message::Pong {
                    nonce,
                    timestamp_ms,
                };
                self.enqueue(Outgoing::Frame(pong.to_frame()))
            }
            Message::Pong { nonce, .. } => match self.ping.on_pong(nonce, Instant::now())? {
                PongOutcome::Rtt(rtt) => {
                    tracing::trace!(rtt_us = rtt.as_micros() as u64, "pong");
                    self.emit(ConnectionEventKind::Rtt(rtt)).await
                }
                PongOutcome::Late => Ok(()),
            },
            Message::Goodbye(reason) => Err(ConnectionError::RemoteClosed(reason)),
            Message::Hello(_) => Err(violation(MessageType::Hello)),
            Message::HelloAccept(_) => Err(violation(MessageType::HelloAccept)),
            Message::HelloReject(_) => Err(violation(MessageType::HelloReject)),
        }
    }

    /// Ping timer: expire overdue pings, send a due one.
    fn on_timer(&mut self) -> Result<(), ConnectionError> {
        if let Some((nonce, timestamp_ms)) = self.ping.poll(Instant::now())? {
            let ping = Message::Ping {
                nonce,
                timestamp_ms,
            };
            self.enqueue(Outgoing::Frame(ping.to_frame()))?;
        }
        Ok(())
    }

    fn enqueue(&self, item: Outgoing) -> Result<(), ConnectionError> {
        self.queue.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ConnectionError::SlowReader,
            mpsc::error::TrySendError::Closed(_) => ConnectionError::Eof,
        })
    }

    async fn emit(&self, kind: ConnectionEventKind) -> Result<(), ConnectionError> {
        let event = ConnectionEvent {
            id: self.info.id,
            peer: self.info.peer,
            kind,
        };
        // Waiting here is the back-pressure: a slow owner slows our reads,
        // and the peer's writes, instead of growing a queue.
        self.events
            .send(event)
            .await
            .map_err(|_| ConnectionError::LocalClosed(Reason::Shutdown))
    }
}

fn violation(message_type: MessageType) -> ConnectionError {
    ProtocolViolation::HandshakeAfterEstablished(message_type).into()
}

/// Owns the write half: writes queued frames in order, batching whatever is
/// already queued into one write. Small frames are copied into the batch;
/// a large payload is written straight from its shared buffer, after the
/// batch, in the same vectored write.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::Receiver<Outgoing>,
) -> std::io::Result<()> {
    let mut batch = Vec::new();
    // Items already queued are taken together: one `recv_many` frees all
    // their queue slots at once, where each `recv` takes the queue's
    // semaphore lock for its one slot.
    let mut items = Vec::new();
    while let Some(first) = queue.recv().await {
        items.push(first);
        let mut written = 0;
        loop {
            for item in items.drain(..) {
                match item {
                    Outgoing::Frame(frame) => {
                        written += frame.len();
                        put(&mut writer, &mut batch, &frame).await?;
                    }
                    Outgoing::App(payload) => {
                        written += FRAME_HEADER_LEN + 1 + payload.len();
                        write_app(&mut writer, &mut batch, &payload).await?;
                    }
                    Outgoing::Finish => {
                        writer.write_all(&batch).await?;
                        writer.flush().await?;
                        return writer.shutdown().await;
                    }
                }
            }
            if queue.is_empty() {
                break;
            }
            queue.recv_many(&mut items, RECV_BATCH).await;
        }
        writer.write_all(&batch).await?;
        batch.clear();
        writer.flush().await?;
        if written <= IDLE_WRITE_BUFFER {
            // Quiet again: free what a burst grew.
            if batch.capacity() > IDLE_WRITE_BUFFER {
                batch = Vec::new();
            }
            if items.capacity() > RECV_BATCH {
                items = Vec::new();
            }
        }
    }
    writer.shutdown().await
}

/// Appends `bytes` to the batch, writing the batch out first when full.
async fn put<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &mut Vec<u8>,
    bytes: &[u8],
) -> std::io::Result<()> {
    if !batch.is_empty() && batch.len() + bytes.len() > WRITE_BUFFER {
        writer.write_all(batch).await?;
        batch.clear();
    }
    batch.extend_from_slice(bytes);
    Ok(())
}

/// Frames one application payload: the header always goes into the batch;
/// a small payload follows it there, a large one goes out with the batch
/// in one vectored write, uncopied.
async fn write_app<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &mut Vec<u8>,
    payload: &[u8],
) -> std::io::Result<()> {
    // Bounded by the frame cap in `ConnectionSender::send`.
    let body_len = (payload.len() + 1) as u32;
    let mut header = [0u8; FRAME_HEADER_LEN + 1];
    header[..FRAME_HEADER_LEN].copy_from_slice(&body_len.to_be_bytes());
    header[FRAME_HEADER_LEN] = MessageType::App as u8;
    if payload.len() < DIRECT_WRITE {
        put(writer, batch, &header).await?;
        return put(writer, batch, payload).await;
    }
    batch.extend_from_slice(&header);
    write_all_vectored(writer, batch, payload).await?;
    batch.clear();
    Ok(())
}

/// Writes all of `first` then all of `second`, vectored where the writer
/// supports it.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut first: &[u8],
    mut second: &[u8],
) -> std::io::Result<()> {
    while !first.is_empty() {
        let n = writer
            .write_vectored(&[IoSlice::new(first), IoSlice::new(second)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_first = n.min(first.len());
        first = first.get(from_first..).unwrap_or_default();
        second = second.get(n - from_first..).unwrap_or_default();
    }
    writer.write_all(second).await
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A writer that takes at most `step` bytes per call, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
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

    /// The items of one queue: small payloads (batched), payloads large
    /// enough to be written uncopied, a control frame, then `Finish`; and
    /// the bytes `Message::encode` gives for them.
    fn queued() -> (mpsc::Receiver<Outgoing>, Vec<u8>) {
        let payloads = [
            Bytes::from(vec![1u8; 10]),
            Bytes::from(vec![2u8; DIRECT_WRITE]),
            Bytes::from(vec![3u8; 3 * DIRECT_WRITE + 7]),
            Bytes::from(vec![4u8; 100]),
        ];
        let ping = Message::Ping {
            nonce: 9,
            timestamp_ms: 10,
        };
        let mut expected = BytesMut::new();
        let (tx, rx) = mpsc::channel(16);
        for (i, p) in payloads.iter().enumerate() {
            Message::App(p.clone()).encode(&mut expected);
            tx.try_send(Outgoing::App(p.clone())).unwrap();
            if i == 1 {
                ping.encode(&mut expected);
                tx.try_send(Outgoing::Frame(ping.to_frame())).unwrap();
            }
        }
        tx.try_send(Outgoing::Finish).unwrap();
        (rx, expected.to_vec())
    }

    /// The writer puts exactly the encoded frames on the wire, in queue
    /// order, whether each write takes everything or only 7 bytes.
    #[tokio::test]
    async fn writer_output_is_the_encoded_frames_in_order() {
        for step in [usize::MAX, 7] {
            let (rx, expected) = queued();
            let mut out = Trickle {
                out: Vec::new(),
                step,
            };
            write_loop(&mut out, rx).await.unwrap();
            assert_eq!(out.out, expected, "step {step}");
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
        assert_eq!(chunk.0, BUSY_READ_CHUNK);
        for _ in 0..10 {
            let spare = chunk.prepare(&mut buf);
            assert!(spare >= chunk.0);
            chunk.update(spare, spare);
        }
        assert_eq!(chunk.0, MAX_READ_CHUNK);
        for _ in 0..10 {
            chunk.update(21, MAX_READ_CHUNK);
        }
        assert_eq!(chunk.0, MIN_READ_CHUNK);
        buf.reserve(MAX_READ_CHUNK);
        chunk.release_if_idle(&mut buf);
        assert_eq!(buf.capacity(), 0);
    }
}
