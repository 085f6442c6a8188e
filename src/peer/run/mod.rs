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
//!
//! The loop itself is here; [`pump`] carries out what the session
//! produces, [`read`] sizes and reuses the read buffer, and [`write`] is
//! the writer task.

mod pump;
mod read;
mod write;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handshake::now;
use super::queue::SendQueue;
use super::{ConnectionEvent, ConnectionEventKind, Outlet, PeerConnection};
use crate::error::ConnectionError;
use crate::transport::Transport;
use crate::wire::Reason;
use pump::Loop;
use read::ReadChunk;
use write::{finish_writer, write_loop, AbortOnDrop, CloseOnDrop};

/// Reads in a row that found bytes waiting at once, after which the loop
/// also takes a passed deadline after each read: reads come first in its
/// `select!`, so a peer that keeps the socket readable would otherwise
/// hold off the timer (pings, and the verdict on missed pongs) for good.
/// An ordinary burst never gets this far, so its timers fire as before.
const STARVING_READS: u32 = 16;

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
    let mut lp = Loop::new(&info, &queue, &outlet, session);
    tracing::debug!("established");
    // The manager may have waited on its owner between the handshake and
    // this start: the peer's pings queued meanwhile are no flood.
    let started = now();
    lp.session.note_stall(
        started.saturating_duration_since(info.established_at),
        started,
    );
    // Frames that arrived together with the handshake: counted as read
    // when it ended, so the bytes one end wrote after its handshake are
    // exactly those the other end counts as read.
    if !buf.is_empty() {
        queue.link().received(buf.len(), info.established_at);
    }
    lp.session.handle_read(&mut buf, started);
    let mut closed = lp.pump(&mut close_rx).await;
    let mut io_error = None;
    let mut writer_done = false;
    let mut read_chunk = ReadChunk::default();
    // Reads in a row that did not wait.
    let mut ready_reads = 0u32;
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
        let mut waited = false;
        let read = tokio::select! {
            biased;
            read = noting_wait(reader.read_buf(&mut buf), &mut waited) => match read {
                Ok(0) => {
                    lp.session.handle_eof(now());
                    false
                }
                Ok(n) => {
                    read_chunk.update(n, spare);
                    let at = now();
                    queue.link().received(n, at);
                    lp.session.handle_read(&mut buf, at);
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
        lp.note_ping();
        ready_reads = if read && !waited {
            ready_reads.saturating_add(1)
        } else {
            0
        };
        if read {
            read_chunk.release_if_idle(&mut buf);
            // Reads come first in the select, so a peer that keeps the
            // socket readable would starve the other branches: the timer
            // (see `STARVING_READS`; the session still decides what a
            // passed deadline means) and a close request (shutdown,
            // tie-break, ban), which is taken after each read too.
            if closed.is_none() && ready_reads >= STARVING_READS {
                closed = lp.take_due_timeout(&mut close_rx).await;
            }
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

/// Runs `fut`, noting in `waited` whether its first poll found it pending
/// (whether the loop waited for it, or it was ready at once).
async fn noting_wait<F: std::future::Future>(fut: F, waited: &mut bool) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut first = true;
    std::future::poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if first {
            *waited = poll.is_pending();
            first = false;
        }
        poll
    })
    .await
}
