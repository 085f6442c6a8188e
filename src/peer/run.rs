//! The message loop shared by inbound and outbound connections, and the
//! writer task that owns the write half.
//!
//! Cancellation safety (origin bug #12): the loop reads with `read_buf`,
//! which either appends bytes to the buffer or does nothing, and decodes
//! only whole frames from that buffer, so a `select!` that drops the read
//! loses no byte. Frames are written only by the writer task, each one whole;
//! it is aborted only when the connection is being torn down.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handshake::CLOSE_WRITE_TIMEOUT;
use super::ping::{PingState, PongOutcome};
use super::{ConnectionEvent, ConnectionEventKind, ConnectionInfo, PeerConnection};
use crate::error::{ConnectionError, ProtocolViolation};
use crate::transport::Transport;
use crate::wire::{decode_frame, Message, MessageType, Reason, FRAME_HEADER_LEN};

/// Capacity of the writer's buffer: small frames are batched into one write.
const WRITE_BUFFER: usize = 64 * 1024;
/// Spare room kept in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

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
    while outcome.is_none() {
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        let deadline = lp.ping.next_deadline();
        tokio::select! {
            biased;
            read = reader.read_buf(&mut buf) => {
                outcome = match read {
                    Ok(0) => Some(ConnectionError::Eof),
                    Ok(_) => lp.drain_frames(&mut buf, config.max_frame_len).await.err(),
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
            () = tokio::time::sleep_until(deadline) => {
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
/// already queued into one flush.
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut queue: mpsc::Receiver<Outgoing>,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, writer);
    while let Some(mut item) = queue.recv().await {
        loop {
            match item {
                Outgoing::Frame(frame) => out.write_all(&frame).await?,
                Outgoing::App(payload) => write_app(&mut out, &payload).await?,
                Outgoing::Finish => {
                    out.flush().await?;
                    return out.shutdown().await;
                }
            }
            match queue.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        out.flush().await?;
    }
    out.shutdown().await
}

async fn write_app<W: AsyncWrite + Unpin>(out: &mut W, payload: &[u8]) -> std::io::Result<()> {
    // Bounded by the frame cap in `ConnectionSender::send`.
    let body_len = (payload.len() + 1) as u32;
    let mut header = [0u8; FRAME_HEADER_LEN + 1];
    header[..FRAME_HEADER_LEN].copy_from_slice(&body_len.to_be_bytes());
    header[FRAME_HEADER_LEN] = MessageType::App as u8;
    out.write_all(&header).await?;
    out.write_all(payload).await
}
