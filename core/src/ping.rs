//! `PingState`: liveness of one connection, with no I/O and no clock of its
//! own. The connection's `Session` feeds it `now` and the pongs it reads;
//! it answers with pings to send, round-trip times, and the verdict "dead".
//!
//! A ping is counted missed exactly when its pong timeout passes, and removed
//! from the pending table at that same moment: the pruning window *is* the
//! timeout, so detection always fires (origin bug #13 pruned at 120 s but
//! counted at 300 s, and never detected anything).
//!
//! Nonces come from a ChaCha8 RNG seeded by the caller's `u64`, so a
//! connection's pings are a function of its seed and the instants it is
//! fed; the whole state is `Clone + Eq + Hash`, for a model checker to store.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::Config;
use crate::error::{PingTimeout, ProtocolViolation};
use crate::rng::SeededRng;

/// How many answered or expired nonces are remembered, and how many of the
/// peer's ping nonces: enough to tell a late pong from a forged one.
const RECENT_NONCES: usize = 16;

/// What a pong meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PongOutcome {
    /// It answered a pending ping: the measured round-trip time.
    Rtt(Duration),
    /// It answered a ping that had already timed out: ignored.
    Late,
}

/// Ping/pong bookkeeping for one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PingState {
    interval: Duration,
    timeout: Duration,
    max_missed: u32,
    max_pings_per_interval: u32,
    max_pending: usize,
    started: Instant,
    next_ping_at: Instant,
    /// Our pings awaiting a pong, oldest first.
    pending: VecDeque<(u64, Instant)>,
    /// Our nonces that were answered (`true`) or expired (`false`).
    recent: VecDeque<(u64, bool)>,
    /// The peer's recent ping nonces, to refuse replays.
    peer_nonces: VecDeque<u64>,
    window_start: Instant,
    pings_in_window: u32,
    /// Extra pings allowed in this window: the backlog of a stall of ours.
    stall_allowance: u32,
    /// Stalls of ours not yet credited (each shorter than an interval).
    stalled: Duration,
    consecutive_missed: u32,
    last_rtt: Option<Duration>,
    rng: SeededRng,
}

impl PingState {
    /// Liveness for a connection established at `now`. The first ping goes
    /// out at once, so a round-trip time is known one RTT after the handshake.
    /// Ping nonces are drawn from an RNG seeded with `seed`.
    pub fn new(config: &Config, now: Instant, seed: u64) -> Self {
        PingState {
            interval: config.ping_interval,
            timeout: config.pong_timeout,
            max_missed: config.max_missed_pongs,
            max_pings_per_interval: config.max_pings_per_interval,
            max_pending: config.max_pending_pings(),
            started: now,
            next_ping_at: now,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            peer_nonces: VecDeque::new(),
            window_start: now,
            pings_in_window: 0,
            stall_allowance: 0,
            stalled: Duration::ZERO,
            consecutive_missed: 0,
            last_rtt: None,
            rng: SeededRng::from_seed(seed),
        }
    }

    /// The next instant at which [`PingState::poll`] has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.pending.front() {
            Some(&(_, sent)) => self.next_ping_at.min(sent + self.timeout),
            None => self.next_ping_at,
        }
    }

    /// Expires overdue pings, then returns a ping to send if one is due:
    /// `(nonce, timestamp_ms)`. Fails when `max_missed_pongs` consecutive
    /// pings have expired.
    pub fn poll(&mut self, now: Instant) -> Result<Option<(u64, u64)>, PingTimeout> {
        while let Some(&(nonce, sent)) = self.pending.front() {
            if now < sent + self.timeout {
                break;
            }
            self.pending.pop_front();
            self.remember(nonce, false);
            self.consecutive_missed = self.consecutive_missed.saturating_add(1);
            if self.consecutive_missed >= self.max_missed {
                return Err(PingTimeout {
                    missed: self.consecutive_missed,
                });
            }
        }
        if now < self.next_ping_at {
            return Ok(None);
        }
        // Skip intervals that passed unobserved rather than bursting.
        while self.next_ping_at <= now {
            self.next_ping_at += self.interval;
        }
        if self.pending.len() >= self.max_pending {
            // Cannot happen with a validated config (the table holds every
            // ping within one timeout); dropping the oldest keeps it bounded.
            if let Some((nonce, _)) = self.pending.pop_front() {
                self.remember(nonce, false);
            }
        }
        let nonce = self.fresh_nonce();
        self.pending.push_back((nonce, now));
        let timestamp_ms = u64::try_from((now - self.started).as_millis()).unwrap_or(u64::MAX);
        Ok(Some((nonce, timestamp_ms)))
    }

    /// Matches a pong by nonce. A pending nonce yields the true round-trip
    /// time (send to receive, not half); an expired one is `Late`; one we
    /// answered already or never sent is a violation.
    pub fn on_pong(&mut self, nonce: u64, now: Instant) -> Result<PongOutcome, ProtocolViolation> {
        if let Some(pos) = self.pending.iter().position(|&(n, _)| n == nonce) {
            let (_, sent) = self.pending.remove(pos).unwrap_or((nonce, now));
            let rtt = now - sent;
            self.remember(nonce, true);
            self.consecutive_missed = 0;
            self.last_rtt = Some(rtt);
            return Ok(PongOutcome::Rtt(rtt));
        }
        match self.recent.iter().find(|&&(n, _)| n == nonce) {
            Some((_, false)) => Ok(PongOutcome::Late),
            Some((_, true)) => Err(ProtocolViolation::DuplicatePong),
            None => Err(ProtocolViolation::UnsolicitedPong),
        }
    }

    /// Checks a ping from the peer before we answer it: no nonce replayed
    /// from its recent pings, and at most `max_pings_per_interval` per
    /// `ping_interval`.
    pub fn on_ping(&mut self, nonce: u64, now: Instant) -> Result<(), ProtocolViolation> {
        if now >= self.window_start + self.interval {
            self.window_start = now;
            self.pings_in_window = 0;
            self.stall_allowance = 0;
        }
        // Counts peer pings: saturating, so a caller that keeps feeding pings
        // after `PingFlood` cannot overflow it.
        self.pings_in_window = self.pings_in_window.saturating_add(1);
        let allowed = self
            .max_pings_per_interval
            .saturating_add(self.stall_allowance);
        if self.pings_in_window > allowed {
            return Err(ProtocolViolation::PingFlood);
        }
        if self.peer_nonces.contains(&nonce) {
            return Err(ProtocolViolation::DuplicatePingNonce);
        }
        if self.peer_nonces.len() == RECENT_NONCES {
            self.peer_nonces.pop_front();
        }
        self.peer_nonces.push_back(nonce);
        Ok(())
    }

    /// Tells the state that the loop read nothing for `stalled`, because
    /// its owner did not take events: an honest peer's pings queued up
    /// meanwhile, one per `ping_interval`, and now arrive together. Stalls
    /// add up; once they reach one interval, a fresh window opens at `now`
    /// that also allows that backlog (`stalled / ping_interval + 1` pings,
    /// `stalled` being the sum) and the sum starts again. The peer gains
    /// nothing unless we stall.
    pub fn note_stall(&mut self, stalled: Duration, now: Instant) {
        self.stalled = self.stalled.saturating_add(stalled);
        if self.stalled < self.interval {
            return;
        }
        let backlog = self.stalled.as_nanos() / self.interval.as_nanos().max(1) + 1;
        self.stalled = Duration::ZERO;
        self.window_start = now;
        self.pings_in_window = 0;
        self.stall_allowance = u32::try_from(backlog).unwrap_or(u32::MAX);
    }

    /// The last measured round-trip time.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// Consecutive pings that expired without a pong.
    pub fn consecutive_missed(&self) -> u32 {
        self.consecutive_missed
    }

    /// When the oldest ping still awaiting its pong was sent.
    pub fn oldest_pending(&self) -> Option<Instant> {
        self.pending.front().map(|&(_, sent)| sent)
    }

    /// Pings currently awaiting a pong.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn remember(&mut self, nonce: u64, answered: bool) {
        if self.recent.len() == RECENT_NONCES {
            self.recent.pop_front();
        }
        self.recent.push_back((nonce, answered));
    }

    fn fresh_nonce(&mut self) -> u64 {
        loop {
            let nonce: u64 = self.rng.0.random();
            let in_use = self.pending.iter().any(|&(n, _)| n == nonce)
                || self.recent.iter().any(|&(n, _)| n == nonce);
            if !in_use {
                return nonce;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    use super::*;
    use crate::test_epoch;

    fn hash_of(state: &PingState) -> u64 {
        let mut h = DefaultHasher::new();
        state.hash(&mut h);
        h.finish()
    }

    /// A state is a value: the same seed fed the same instants gives equal
    /// states with equal hashes and the same nonces; a clone evolves exactly
    /// like its original; another seed gives another nonce.
    #[test]
    fn state_is_a_value() {
        let config = Config::default();
        let t0 = test_epoch();
        let mut a = PingState::new(&config, t0, 7);
        let mut b = PingState::new(&config, t0, 7);
        assert_eq!((&a, hash_of(&a)), (&b, hash_of(&b)));
        let copy = a.clone();
        let ping_a = a.poll(t0).expect("alive").expect("first ping is due");
        assert_ne!(a, copy, "sending a ping changes the state");
        assert_eq!(b.poll(t0), Ok(Some(ping_a)));
        assert_eq!((&a, hash_of(&a)), (&b, hash_of(&b)));
        let mut c = copy.clone();
        assert_eq!(c.poll(t0), Ok(Some(ping_a)));
        assert_eq!(c, a);
        let mut other = PingState::new(&config, t0, 8);
        let ping_other = other.poll(t0).expect("alive").expect("first ping is due");
        assert_ne!(ping_other.0, ping_a.0);
        assert_ne!(other, a);
    }

    /// The verdict is `PingTimeout` with the count of consecutive misses,
    /// exactly at the `max_missed_pongs`-th expiry.
    #[test]
    fn dead_after_max_missed() {
        let config = Config::default();
        let t0 = test_epoch();
        let mut ping = PingState::new(&config, t0, 1);
        let mut at = t0;
        let verdict = loop {
            match ping.poll(at) {
                Ok(_) => at = ping.next_deadline(),
                Err(dead) => break dead,
            }
        };
        assert_eq!(verdict, PingTimeout { missed: 3 });
        // 3 pings, 15 s apart from t0, the third timing out 20 s after it.
        assert_eq!(at - t0, config.dead_peer_bound() - config.ping_interval);
    }
}
