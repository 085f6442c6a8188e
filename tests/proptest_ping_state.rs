//! Property tests of `PingState`, which a remote peer's pings and pongs
//! reach first: any history of time steps, polls, pongs and peer pings gives
//! exactly a model's results (the model keeps every ping it ever sent), and a
//! silent peer is declared dead in bounded time. Each property runs a
//! bounded number of generated cases; a failing case is shrunk and saved
//! under `tests/proptest-regressions/`. The framer and decoder properties
//! are in `tests/proptest_wire.rs`; the fuzz targets in `fuzz/` run the same
//! ideas without a case bound (`docs/fuzzing.md`).

mod common;

use std::time::{Duration, Instant};

use common::prop::config;
use peerlink::error::{PingTimeout, ProtocolViolation};
use peerlink::Config;
use peerlink_core::ping::{PingState, PongOutcome};
use proptest::collection::vec;
use proptest::prelude::*;

fn ping_config() -> impl Strategy<Value = Config> {
    (1u64..=30_000, 1u64..=60_000, 1u32..=5, 1u32..=6).prop_map(|(i, t, missed, pings)| {
        let mut c = Config::default();
        c.ping_interval = Duration::from_millis(i);
        c.pong_timeout = Duration::from_millis(t);
        c.max_missed_pongs = missed;
        c.max_pings_per_interval = pings;
        c
    })
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Poll,
    /// A pong for the n-th ping we ever sent (mod count), whatever its state.
    PongReal(usize),
    PongAny(u64),
    /// A ping from the peer; nonces from a small range so replays happen.
    Ping(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..40_000).prop_map(Op::Advance),
        3 => Just(Op::Poll),
        2 => any::<usize>().prop_map(Op::PongReal),
        1 => any::<u64>().prop_map(Op::PongAny),
        2 => (0u64..24).prop_map(Op::Ping),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Pending,
    Answered,
    Expired,
}

/// The model: every ping ever sent with its fate, the order fates were
/// settled in, and the peer's accepted ping nonces.
struct Model {
    config: Config,
    t0: Instant,
    next_ping_at: Instant,
    sent: Vec<(u64, Instant, Fate)>,
    settled: Vec<usize>,
    missed: u32,
    window: (Instant, u32),
    peer_nonces: Vec<u64>,
    last_rtt: Option<Duration>,
}

/// How many settled nonces `PingState` remembers (answered or expired), and
/// how many of the peer's ping nonces.
const RECENT: usize = 16;

impl Model {
    fn new(config: &Config, t0: Instant) -> Self {
        Model {
            config: config.clone(),
            t0,
            next_ping_at: t0,
            sent: Vec::new(),
            settled: Vec::new(),
            missed: 0,
            window: (t0, 0),
            peer_nonces: Vec::new(),
            last_rtt: None,
        }
    }

    fn pending(&self) -> impl Iterator<Item = &(u64, Instant, Fate)> {
        self.sent.iter().filter(|p| p.2 == Fate::Pending)
    }

    fn settle(&mut self, i: usize, fate: Fate) {
        self.sent[i].2 = fate;
        self.settled.push(i);
    }

    fn next_deadline(&self) -> Instant {
        match self.pending().next() {
            Some(&(_, at, _)) => self.next_ping_at.min(at + self.config.pong_timeout),
            None => self.next_ping_at,
        }
    }

    /// Checks one `poll`; returns false once the peer is declared dead.
    fn poll(&mut self, ping: &mut PingState, now: Instant) -> bool {
        let got = ping.poll(now);
        while let Some(i) = self.sent.iter().position(|p| p.2 == Fate::Pending) {
            if now < self.sent[i].1 + self.config.pong_timeout {
                break;
            }
            self.settle(i, Fate::Expired);
            self.missed += 1;
            if self.missed >= self.config.max_missed_pongs {
                let missed = self.missed;
                assert!(
                    matches!(got, Err(PingTimeout { missed: m }) if m == missed),
                    "{got:?}"
                );
                return false;
            }
        }
        let got = got.expect("alive");
        if now < self.next_ping_at {
            assert_eq!(got, None);
            return true;
        }
        while self.next_ping_at <= now {
            self.next_ping_at += self.config.ping_interval;
        }
        let (nonce, timestamp_ms) = got.expect("a ping is due");
        assert_eq!(u128::from(timestamp_ms), (now - self.t0).as_millis());
        // A fresh nonce: not pending, not among the remembered ones.
        let remembered = self
            .settled
            .iter()
            .rev()
            .take(RECENT)
            .map(|&i| self.sent[i].0);
        assert!(!self.pending().any(|p| p.0 == nonce));
        assert!(!remembered.clone().any(|n| n == nonce));
        // The table never needs to drop a ping to stay bounded.
        assert!(self.pending().count() < self.config.max_pending_pings());
        self.sent.push((nonce, now, Fate::Pending));
        true
    }

    fn on_pong(&mut self, ping: &mut PingState, nonce: u64, now: Instant) {
        let got = ping.on_pong(nonce, now);
        if let Some(i) = self
            .sent
            .iter()
            .position(|p| p.0 == nonce && p.2 == Fate::Pending)
        {
            let rtt = now - self.sent[i].1;
            assert_eq!(got, Ok(PongOutcome::Rtt(rtt)));
            self.settle(i, Fate::Answered);
            self.missed = 0;
            self.last_rtt = Some(rtt);
            return;
        }
        let recent = self
            .settled
            .iter()
            .rev()
            .take(RECENT)
            .map(|&i| self.sent[i]);
        let expected = match recent.filter(|p| p.0 == nonce).map(|p| p.2).next() {
            Some(Fate::Expired) => Ok(PongOutcome::Late),
            Some(_) => Err(ProtocolViolation::DuplicatePong),
            None => Err(ProtocolViolation::UnsolicitedPong),
        };
        assert_eq!(got, expected);
    }

    fn on_ping(&mut self, ping: &mut PingState, nonce: u64, now: Instant) {
        let got = ping.on_ping(nonce, now);
        if now >= self.window.0 + self.config.ping_interval {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        let expected = if self.window.1 > self.config.max_pings_per_interval {
            Err(ProtocolViolation::PingFlood)
        } else if self
            .peer_nonces
            .iter()
            .rev()
            .take(RECENT)
            .any(|&n| n == nonce)
        {
            Err(ProtocolViolation::DuplicatePingNonce)
        } else {
            self.peer_nonces.push(nonce);
            Ok(())
        };
        assert_eq!(got, expected);
    }

    /// Applies one op; false once the peer is declared dead.
    fn apply(&mut self, ping: &mut PingState, op: &Op, now: &mut Instant) -> bool {
        match *op {
            Op::Advance(ms) => *now += Duration::from_millis(ms),
            Op::Poll => return self.poll(ping, *now),
            Op::PongReal(n) if !self.sent.is_empty() => {
                let nonce = self.sent[n % self.sent.len()].0;
                self.on_pong(ping, nonce, *now);
            }
            Op::PongReal(_) => {}
            Op::PongAny(nonce) => self.on_pong(ping, nonce, *now),
            Op::Ping(nonce) => self.on_ping(ping, nonce, *now),
        }
        true
    }

    fn check(&self, ping: &PingState) {
        assert_eq!(ping.pending_len(), self.pending().count());
        assert!(ping.pending_len() <= self.config.max_pending_pings());
        assert_eq!(ping.consecutive_missed(), self.missed);
        assert_eq!(ping.last_rtt(), self.last_rtt);
        assert_eq!(ping.next_deadline(), self.next_deadline());
    }
}

proptest! {
    #![proptest_config(config())]

    /// (e) Any sequence of time steps, polls, pongs (real, replayed or
    /// forged) and peer pings: no panic, every result exactly the model's,
    /// and at most `max_pending_pings()` pings pending at any time.
    #[test]
    fn ping_state_matches_model(config in ping_config(), ops in vec(op(), 0..64), seed in any::<u64>()) {
        prop_assert_eq!(config.validate(), Ok(()));
        let t0 = tokio::time::Instant::now().into_std();
        let mut ping = PingState::new(&config, t0, seed);
        let mut model = Model::new(&config, t0);
        let mut now = t0;
        for op in &ops {
            if !model.apply(&mut ping, op, &mut now) {
                break;
            }
            model.check(&ping);
        }
    }

    /// (e') Whatever happened before, a peer that stops answering, with
    /// `poll` called at each deadline as the message loop does, is declared
    /// dead with `max_missed_pongs` misses no later than
    /// `dead_peer_bound()` after it went silent.
    #[test]
    fn silent_peer_dead_within_bound(config in ping_config(), ops in vec(op(), 0..48), seed in any::<u64>()) {
        let t0 = tokio::time::Instant::now().into_std();
        let mut ping = PingState::new(&config, t0, seed);
        let mut model = Model::new(&config, t0);
        let mut now = t0;
        for op in &ops {
            if !model.apply(&mut ping, op, &mut now) {
                return Ok(());
            }
        }
        let silent_since = now;
        // Every deadline within the bound is a ping or an expiry: at most
        // one of each per interval, plus the ones in flight at the start.
        let per_interval = config.dead_peer_bound().as_nanos() / config.ping_interval.as_nanos();
        let max_polls = 2 * usize::try_from(per_interval).unwrap_or(usize::MAX) + ops.len() + 16;
        for _ in 0..max_polls {
            let at = now.max(ping.next_deadline());
            now = at;
            match ping.poll(at) {
                Ok(_) => prop_assert!(at - silent_since <= config.dead_peer_bound()),
                Err(PingTimeout { missed }) => {
                    prop_assert_eq!(missed, config.max_missed_pongs);
                    prop_assert!(at - silent_since <= config.dead_peer_bound(),
                        "dead {:?} after silence, bound {:?}", at - silent_since, config.dead_peer_bound());
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "not declared dead after {} polls", max_polls);
    }
}
