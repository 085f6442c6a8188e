//! `LinkStats`: what one connection's tasks count for the snapshot, kept
//! cheap on the data path. Each figure has one writer (the message loop
//! for what it reads, the writer task for what it writes), so an update is
//! a relaxed load and store, no locked instruction; the manager reads them
//! only when a snapshot is taken. Bytes and messages out are counted once
//! their write to the socket has finished, not when the writer takes them
//! from the queue. What senders do (refusals) is counted under the send
//! queue's lock, which they hold anyway. Bytes in include those read
//! together with the handshake's last frame. Times are offsets from the connection's establishment on
//! the shell's clock (tokio's, virtual under simulation), never wall time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use peerlink_core::snapshot::{ConnectionStats, Traffic};

/// The single-writer counters of one connection.
#[derive(Debug)]
pub(crate) struct LinkStats {
    /// When the connection was established.
    since: Instant,
    bytes_in: AtomicU64,
    messages_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Application messages whose write to the socket finished.
    messages_out: AtomicU64,
    /// Offsets from `since` in nanoseconds, plus one; 0 means never.
    last_receive: AtomicU64,
    last_send: AtomicU64,
    /// When the oldest ping still unanswered was sent, same encoding.
    ping_sent: AtomicU64,
}

/// Adds `n` to a counter only one task writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl LinkStats {
    /// Counters of a connection established at `since`.
    pub(crate) fn new(since: Instant) -> Self {
        LinkStats {
            since,
            bytes_in: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            last_receive: AtomicU64::new(0),
            last_send: AtomicU64::new(0),
            ping_sent: AtomicU64::new(0),
        }
    }

    fn offset(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.since).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// The age at `now` of an offset, if set.
    fn age(&self, offset: &AtomicU64, now: Instant) -> Option<Duration> {
        let at = offset.load(Relaxed).checked_sub(1)?;
        let at = self.since + Duration::from_nanos(at);
        Some(now.saturating_duration_since(at))
    }

    /// The message loop read `n` bytes at `now`.
    pub(crate) fn received(&self, n: usize, now: Instant) {
        bump(&self.bytes_in, n as u64);
        self.last_receive.store(self.offset(now), Relaxed);
    }

    /// The message loop handed an application message on.
    pub(crate) fn message_in(&self) {
        bump(&self.messages_in, 1);
    }

    /// The writer task finished writing `n` bytes, `messages` of them
    /// application messages, at `now`.
    pub(crate) fn sent(&self, n: usize, messages: u64, now: Instant) {
        bump(&self.bytes_out, n as u64);
        bump(&self.messages_out, messages);
        self.last_send.store(self.offset(now), Relaxed);
    }

    /// The oldest ping awaiting its pong was sent at `sent`, or none waits.
    pub(crate) fn ping_pending(&self, sent: Option<Instant>) {
        let offset = sent.map_or(0, |at| self.offset(at));
        if self.ping_sent.load(Relaxed) != offset {
            self.ping_sent.store(offset, Relaxed);
        }
    }

    /// The figures at `now`; `send_queue_full` comes from the send queue.
    pub(crate) fn read(&self, now: Instant, send_queue_full: u64) -> ConnectionStats {
        ConnectionStats {
            age: now.saturating_duration_since(self.since),
            last_receive: self.age(&self.last_receive, now),
            last_send: self.age(&self.last_send, now),
            ping_pending: self.age(&self.ping_sent, now),
            traffic: Traffic {
                bytes_in: self.bytes_in.load(Relaxed),
                bytes_out: self.bytes_out.load(Relaxed),
                messages_in: self.messages_in.load(Relaxed),
                messages_out: self.messages_out.load(Relaxed),
                send_queue_full,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts add up, times read back as ages at the reading instant, and
    /// an answered ping leaves no pending age.
    #[test]
    fn counts_and_ages() {
        let t0 = tokio::time::Instant::now().into_std();
        let s = LinkStats::new(t0);
        let fresh = s.read(t0, 0);
        assert_eq!(fresh, ConnectionStats::default());
        s.received(100, t0 + Duration::from_secs(1));
        s.received(20, t0 + Duration::from_secs(2));
        s.message_in();
        s.sent(7, 5, t0 + Duration::from_secs(3));
        s.ping_pending(Some(t0 + Duration::from_secs(4)));
        let now = t0 + Duration::from_secs(10);
        let read = s.read(now, 2);
        assert_eq!(
            read,
            ConnectionStats {
                age: Duration::from_secs(10),
                last_receive: Some(Duration::from_secs(8)),
                last_send: Some(Duration::from_secs(7)),
                ping_pending: Some(Duration::from_secs(6)),
                traffic: Traffic {
                    bytes_in: 120,
                    bytes_out: 7,
                    messages_in: 1,
                    messages_out: 5,
                    send_queue_full: 2,
                },
            }
        );
        s.ping_pending(None);
        assert_eq!(s.read(now, 2).ping_pending, None);
    }
}
