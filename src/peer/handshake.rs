//! The handshake's I/O, both directions. Every decision (what each side
//! sends, who is refused with which reason, what a timeout says, whether a
//! failure gets a reply) is the core's [`Session`]; this drives it: writes
//! its transmits, reads into the buffer and feeds it, asks the owner to
//! admit a valid hello, wakes it at its deadline, and carries out its
//! close (the final frame written best-effort within
//! [`CLOSE_WRITE_TIMEOUT`], or the stream simply dropped).

use std::io;

use bytes::BytesMut;
use peerlink_core::session::{Close, Session, SessionEvent, CLOSE_WRITE_TIMEOUT};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::error::HandshakeError;
use crate::wire::{Hello, Reason};

/// The current instant as the core takes it (tokio's clock, virtual under
/// turmoil and paused clocks).
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Writes one frame and flushes.
async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

/// Writes a closing frame and shuts the write side down, without waiting
/// long for it.
pub(crate) async fn write_close<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) {
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
        write_frame(writer, frame).await?;
        writer.shutdown().await
    })
    .await;
}

/// Runs `session`'s handshake on a fresh stream until it is established
/// (the peer's hello) or closed (the failure, after its final frame if it
/// has one). `admit` sees a valid remote hello (acceptor only) and may
/// refuse it with a reason. Bytes read past the handshake stay in `buf`.
pub(crate) async fn run<R, W>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut BytesMut,
    session: &mut Session,
    admit: impl FnOnce(&Hello) -> Result<(), Reason>,
) -> Result<Hello, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut admit = Some(admit);
    let mut io_error = None;
    let mut writing = false;
    let close = loop {
        let deadline = session.poll_timeout().map(Instant::from_std);
        let step = tokio::select! {
            biased;
            outcome = exchange(reader, writer, buf, session, &mut admit, &mut io_error, &mut writing) => {
                Some(outcome)
            }
            () = sleep_until(deadline) => None,
        };
        match step {
            Some(Ok(remote)) => return Ok(remote),
            Some(Err(close)) => break close,
            // A frame of ours was being written at the deadline: the
            // stream may end in part of it, so nothing can follow it
            // (not even the timeout's goodbye), and the handshake is over.
            None if writing => return Err(HandshakeError::Timeout),
            // The exchange is dropped mid-step, as a timeout drops a future.
            None => session.handle_timeout(now()),
        }
    };
    // Only a final frame is written; a flush has nothing queued here.
    if let Some(frame) = close.final_frame() {
        write_close(writer, frame).await;
    }
    Err(HandshakeError::from_cause(close.cause, io_error))
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes the session's transmits and handles its events, one at a time
/// (an admission's answer is written before its `Established` is seen),
/// reading whenever it waits for the peer.
async fn exchange<R, W, A>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut BytesMut,
    session: &mut Session,
    admit: &mut Option<A>,
    io_error: &mut Option<io::Error>,
    writing: &mut bool,
) -> Result<Hello, Close>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: FnOnce(&Hello) -> Result<(), Reason>,
{
    loop {
        while let Some(frame) = session.poll_transmit() {
            *writing = true;
            let written = write_frame(writer, &frame).await;
            *writing = false;
            if let Err(e) = written {
                *io_error = Some(e);
                session.handle_eof(now());
            }
        }
        match session.poll_event() {
            Some(SessionEvent::HelloReceived(hello)) => {
                let verdict = admit.take().map_or(Ok(()), |admit| admit(&hello));
                session.admit(verdict, now());
            }
            // Unless writing our `HelloAccept` failed: its `Closed` follows.
            Some(SessionEvent::Established(remote)) if io_error.is_none() => return Ok(remote),
            Some(SessionEvent::Closed(close)) => return Err(close),
            // Nothing else comes before the session is established.
            Some(_) => {}
            None => match reader.read_buf(buf).await {
                Ok(0) => session.handle_eof(now()),
                Ok(_) => session.handle_read(buf, now()),
                Err(e) => {
                    *io_error = Some(e);
                    session.handle_eof(now());
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use super::*;
    use crate::config::Config;
    use crate::id::{ConnectionDirection, NodeId};
    use crate::wire::PROTOCOL_VERSION;

    /// A stream that takes `room` bytes, then never takes another.
    struct Stuck {
        room: usize,
        taken: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for Stuck {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.room == 0 {
                return Poll::Pending;
            }
            let n = data.len().min(self.room);
            self.room -= n;
            self.taken.lock().unwrap().extend_from_slice(&data[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A hello still being written at the handshake deadline ends the
    /// handshake as a timeout at exactly the deadline, with no attempt to
    /// write a goodbye behind the part of it that went out (that would be
    /// garbage to the peer, and would hold the task one more second).
    #[tokio::test(start_paused = true)]
    async fn a_frame_cut_by_the_deadline_is_followed_by_nothing() {
        let config = Config::default();
        let hello = Hello {
            version: PROTOCOL_VERSION,
            network_id: 0,
            node_id: NodeId(7),
            listen_port: 9000,
        };
        let mut session = Session::new(ConnectionDirection::Outbound, &config, hello, now(), 1);
        let taken = Arc::new(Mutex::new(Vec::new()));
        let mut writer = Stuck {
            room: 3,
            taken: taken.clone(),
        };
        let (mut reader, _peer) = tokio::io::duplex(64);
        let started = Instant::now();
        let mut buf = BytesMut::new();
        let outcome = run(&mut reader, &mut writer, &mut buf, &mut session, |_| Ok(())).await;
        assert!(
            matches!(outcome, Err(HandshakeError::Timeout)),
            "{outcome:?}"
        );
        assert_eq!(started.elapsed(), config.handshake_timeout);
        assert_eq!(taken.lock().unwrap().len(), 3);
    }
}
