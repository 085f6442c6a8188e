//! Reading, writing and closing streams on the network: the synchronous
//! half of `EventReader` and `EventWriter`.

use std::io;
use std::task::Waker;

use bytes::{Buf, BytesMut};
use tokio::time::Instant;

use super::pipe::{Leg, SegKind};
use super::{gone_error, EndRef, Net, ReadOutcome, Stream, WINDOW};

impl Stream {
    /// Side `side` goes away as a process's socket does: a RST when it had
    /// unread data, else its FIN (unless sent); what it had not read is
    /// dropped.
    pub(super) fn close_side(&mut self, side: usize, now: Instant, leg: Leg) {
        let unread = self.pipes[1 - side].bytes > 0;
        let out = &mut self.pipes[side];
        if unread {
            out.push(now, leg, SegKind::Rst);
        } else if !out.fin_sent {
            out.push(now, leg, SegKind::Fin);
        }
        out.fin_sent = true;
        self.pipes[1 - side].discard();
    }
}

impl Net {
    /// How a segment from `from` to `to` leaves now: its delay (see
    /// [`Net::write_delay`], drawn here) and whether the link is cut or
    /// held.
    pub(super) fn leg(&mut self, from: usize, to: usize) -> Leg {
        Leg {
            delay: self.write_delay(from, to),
            cut: self.cut.contains(&(from, to)),
            held: self.held.contains(&(from, to)),
        }
    }

    fn check_end(&self, end: EndRef) -> io::Result<&Stream> {
        let stream = self
            .streams
            .get(&end.0)
            .ok_or_else(|| gone_error("stream closed"))?;
        let e = &stream.ends[end.1];
        if e.dead || !self.is_live(e.host, e.incarnation) {
            return Err(gone_error("host crashed"));
        }
        Ok(stream)
    }

    /// Reads what has arrived for `end` into `buf`. The waker is
    /// registered when nothing is deliverable.
    pub fn read(
        &mut self,
        end: EndRef,
        now: Instant,
        buf: &mut tokio::io::ReadBuf<'_>,
        waker: &Waker,
    ) -> io::Result<ReadOutcome> {
        self.check_end(end)?;
        let Some(stream) = self.streams.get_mut(&end.0) else {
            return Err(gone_error("stream closed"));
        };
        let pipe = &mut stream.pipes[1 - end.1];
        if pipe
            .segs
            .back()
            .is_some_and(|s| matches!(s.kind, SegKind::Rst) && !s.held && s.at <= now)
        {
            pipe.segs.clear();
            pipe.bytes = 0;
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset",
            ));
        }
        let mut copied = 0;
        let mut due = None;
        while buf.remaining() > 0 {
            let Some(seg) = pipe.segs.front_mut() else {
                break;
            };
            if seg.held {
                break;
            }
            if seg.at > now {
                due = Some(seg.at);
                break;
            }
            match &mut seg.kind {
                SegKind::Data(data) => {
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    data.advance(n);
                    copied += n;
                    pipe.bytes -= n;
                    if data.is_empty() {
                        pipe.segs.pop_front();
                    }
                }
                // The end of the stream: stays, so later reads see it too.
                SegKind::Fin if copied == 0 => return Ok(ReadOutcome::Ready),
                SegKind::Fin | SegKind::Rst => break,
            }
        }
        if copied > 0 || buf.remaining() == 0 {
            pipe.wake_writer();
            return Ok(ReadOutcome::Ready);
        }
        pipe.reader = Some(waker.clone());
        Ok(ReadOutcome::WaitUntil(due))
    }

    /// Writes up to the window from `buf` for `end`: `Ok(None)` when the
    /// window is full (the waker is registered).
    pub fn write(
        &mut self,
        end: EndRef,
        now: Instant,
        buf: &[u8],
        waker: &Waker,
    ) -> io::Result<Option<usize>> {
        let stream = self.check_end(end)?;
        let (from, to) = (stream.ends[end.1].host, stream.ends[1 - end.1].host);
        let reset = stream.pipes[1 - end.1]
            .segs
            .back()
            .is_some_and(|s| matches!(s.kind, SegKind::Rst) && !s.held && s.at <= now);
        if reset {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection reset by peer",
            ));
        }
        let cut = self.cut.contains(&(from, to));
        let Some(stream) = self.streams.get_mut(&end.0) else {
            return Err(gone_error("stream closed"));
        };
        let pipe = &mut stream.pipes[end.1];
        if pipe.fin_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            ));
        }
        if pipe.reader_gone || pipe.stalled || cut {
            pipe.stalled |= cut;
            return Ok(Some(buf.len()));
        }
        if pipe.bytes >= WINDOW {
            pipe.writer = Some(waker.clone());
            return Ok(None);
        }
        let n = buf.len().min(WINDOW - pipe.bytes);
        // Drawn only for a write that is sent, after the checks above.
        let leg = self.leg(from, to);
        let data = BytesMut::from(&buf[..n]);
        if let Some(stream) = self.streams.get_mut(&end.0) {
            stream.pipes[end.1].push(now, leg, SegKind::Data(data));
        }
        Ok(Some(n))
    }

    /// Sends `end`'s FIN (once).
    pub fn shutdown(&mut self, end: EndRef, now: Instant) {
        let Some(stream) = self.streams.get(&end.0) else {
            return;
        };
        if stream.ends[end.1].dead || stream.pipes[end.1].fin_sent {
            return;
        }
        let leg = self.leg(stream.ends[end.1].host, stream.ends[1 - end.1].host);
        if let Some(stream) = self.streams.get_mut(&end.0) {
            let pipe = &mut stream.pipes[end.1];
            pipe.fin_sent = true;
            pipe.push(now, leg, SegKind::Fin);
        }
    }

    /// One half of `end` was dropped: the write half sends a FIN; the last
    /// half closes the end (RST instead when it had unread data).
    pub fn drop_half(&mut self, end: EndRef, write_half: bool, now: Instant) {
        let Some(stream) = self.streams.get_mut(&end.0) else {
            return;
        };
        let e = &mut stream.ends[end.1];
        e.halves = e.halves.saturating_sub(1);
        let last = e.halves == 0;
        if e.dead {
            self.maybe_remove(end.0);
            return;
        }
        if write_half && !last {
            self.shutdown(end, now);
        }
        if last {
            self.close_end(end, now);
        }
    }

    /// Closes a live end as its process would: FIN, or RST with unread data.
    pub(super) fn close_end(&mut self, end: EndRef, now: Instant) {
        let Some(stream) = self.streams.get(&end.0) else {
            return;
        };
        if stream.ends[end.1].gone {
            return;
        }
        let (from, to) = (stream.ends[end.1].host, stream.ends[1 - end.1].host);
        let leg = self.leg(from, to);
        let Some(stream) = self.streams.get_mut(&end.0) else {
            return;
        };
        let e = &mut stream.ends[end.1];
        e.gone = true;
        self.hosts[from].ends.remove(&end);
        if end.1 == 0 {
            // The dialing side: its ephemeral port is free again.
            self.hosts[from].ports.remove(&e.addr.port());
        }
        if e.handed {
            self.hosts[from].open -= 1;
        }
        stream.close_side(end.1, now, leg);
        self.maybe_remove(end.0);
    }

    /// Forgets a stream once neither end can touch it.
    pub(super) fn maybe_remove(&mut self, id: u64) {
        let done = self
            .streams
            .get(&id)
            .is_some_and(|s| s.ends.iter().all(|e| (e.gone || e.dead) && e.halves == 0));
        if done {
            self.streams.remove(&id);
        }
    }
}
