//! The writer task that owns the write half: it writes what the send
//! queue hands it, and is finished (or aborted) when the connection closes.

use std::io::IoSlice;

use peerlink_core::session::{ClosePolicy, CLOSE_WRITE_TIMEOUT};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::super::handshake::now;
use super::super::queue::{Batch, Next, SendQueue};

/// Most slices in one vectored write (Linux takes up to 1024).
const MAX_WRITE_SLICES: usize = 256;

/// Owns the write half: takes everything queued in one step and writes it
/// in order, each run of small frames and the large payload after it in one
/// vectored write.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    queue: SendQueue,
) -> std::io::Result<()> {
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
        // Counted once written: the figures say what reached the socket.
        queue.link().sent(batch.len(), batch.app_frames(), now());
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

/// Carries out the session's close policy: its final goodbye as the
/// queue's last frame (or none), then lets the writer flush for a bounded
/// time; a writer that cannot finish (the peer does not read) is aborted.
pub(super) async fn finish_writer(
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
pub(super) struct AbortOnDrop(pub(super) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Closes the send queue when dropped.
pub(super) struct CloseOnDrop<'a>(pub(super) &'a SendQueue);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::{Bytes, BytesMut};

    use super::super::super::queue::SHARE_AT;
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

    /// A writer that takes nothing until its gate opens.
    #[derive(Clone, Default)]
    struct Gate(std::sync::Arc<std::sync::Mutex<GateState>>);

    #[derive(Default)]
    struct GateState {
        open: bool,
        /// Bytes offered while shut: the writer holds a batch.
        offered: usize,
        waker: Option<std::task::Waker>,
    }

    impl AsyncWrite for Gate {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let mut gate = self.0.lock().unwrap();
            if gate.open {
                return Poll::Ready(Ok(buf.len()));
            }
            gate.offered = buf.len();
            gate.waker = Some(cx.waker().clone());
            Poll::Pending
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Messages and bytes count as sent once their write has finished:
    /// none while the writer holds a taken batch it cannot write, all of
    /// them (3 messages; the ping is not one) once it has.
    #[tokio::test]
    async fn messages_count_once_written_not_once_taken() {
        let queue = SendQueue::new(16, 1 << 20);
        let mut expected = 0;
        for _ in 0..3 {
            let frame = Message::App(Bytes::from_static(b"hello")).to_frame();
            expected += frame.len();
            queue.push_app(Bytes::from_static(b"hello")).unwrap();
        }
        let ping = Message::Ping {
            nonce: 1,
            timestamp_ms: 2,
        }
        .to_frame();
        expected += ping.len();
        queue.push_control(&ping).unwrap();
        let gate = Gate::default();
        let writer = tokio::spawn(write_loop(gate.clone(), queue.clone()));
        while gate.0.lock().unwrap().offered == 0 {
            tokio::task::yield_now().await;
        }
        let held = queue.stats(now()).traffic;
        assert_eq!(
            (
                gate.0.lock().unwrap().offered,
                held.messages_out,
                held.bytes_out
            ),
            (expected, 0, 0)
        );
        let waker = {
            let mut g = gate.0.lock().unwrap();
            g.open = true;
            g.waker.take().unwrap()
        };
        waker.wake();
        queue.finish(None).unwrap();
        writer.await.unwrap().unwrap();
        let done = queue.stats(now()).traffic;
        assert_eq!((done.messages_out, done.bytes_out), (3, expected as u64));
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
}
