//! One direction of a stream: a FIFO of segments, each deliverable at an
//! instant, with the wakers of its reader and writer. It knows nothing of
//! hosts or links; `Net` decides latency, cuts and holds and passes them in.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;

/// How a segment leaves: after `delay`, or lost on a `cut` link, or queued
/// until the release on a `held` one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leg {
    pub(super) delay: Duration,
    pub(super) cut: bool,
    pub(super) held: bool,
}

#[derive(Debug)]
pub(super) enum SegKind {
    Data(BytesMut),
    Fin,
    Rst,
}

#[derive(Debug)]
pub(super) struct Seg {
    pub(super) at: Instant,
    pub(super) held: bool,
    pub(super) kind: SegKind,
}

#[derive(Debug, Default)]
pub(super) struct Pipe {
    pub(super) segs: VecDeque<Seg>,
    /// Data bytes in `segs`.
    pub(super) bytes: usize,
    pub(super) last_at: Option<Instant>,
    pub(super) fin_sent: bool,
    /// A segment was lost: nothing more is ever delivered.
    pub(super) stalled: bool,
    /// The reading end is closed: writes are discarded.
    pub(super) reader_gone: bool,
    pub(super) reader: Option<Waker>,
    pub(super) writer: Option<Waker>,
}

impl Pipe {
    pub(super) fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    pub(super) fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    pub(super) fn wake_both(&mut self) {
        self.wake_reader();
        self.wake_writer();
    }

    /// Appends a segment deliverable `leg.delay` from `now` (never before
    /// the previous one), or marks the pipe stalled when the link is cut.
    pub(super) fn push(&mut self, now: Instant, leg: Leg, kind: SegKind) {
        let Leg { delay, cut, held } = leg;
        if cut || self.stalled {
            self.stalled = true;
            return;
        }
        let at = self
            .last_at
            .map_or(now + delay, |last| last.max(now + delay));
        self.last_at = Some(at);
        if let (SegKind::Data(more), Some(back)) = (&kind, self.segs.back_mut()) {
            if let (SegKind::Data(data), true) =
                (&mut back.kind, back.at == at && back.held == held)
            {
                data.extend_from_slice(more);
                self.bytes += more.len();
                self.wake_reader();
                return;
            }
        }
        if let SegKind::Data(d) = &kind {
            self.bytes += d.len();
        }
        self.segs.push_back(Seg { at, held, kind });
        self.wake_reader();
    }

    pub(super) fn discard(&mut self) {
        self.segs.clear();
        self.bytes = 0;
        self.reader_gone = true;
        self.wake_writer();
    }
}
