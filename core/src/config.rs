//! `Config`: every tunable of a connection and of the manager, each default
//! documented with where it comes from, validated once by [`Config::validate`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::backoff::backoff_base;
use crate::policy::TieBreakPolicy;
use crate::wire::HELLO_LEN;

/// A `Config` that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A count or size that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The frame cap cannot hold a handshake, or is absurdly large.
    #[error("max_frame_len {0} must be between {min} and {max}", min = MIN_FRAME_LEN, max = MAX_FRAME_LEN)]
    FrameCap(u32),
    /// The backoff floor is above its ceiling.
    #[error("redial_backoff_min must not exceed redial_backoff_max")]
    BackoffRange,
}

/// Smallest frame cap that still carries a handshake.
pub const MIN_FRAME_LEN: u32 = 1 + HELLO_LEN as u32;
/// Largest frame cap accepted (64 MiB): above that one frame can exhaust a
/// small node's memory on its own.
pub const MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;

/// Settings for connections and the connection manager.
///
/// Defaults, and why:
///
/// | field | default | source |
/// |---|---|---|
/// | `network_id` | 0 | peers with another id are refused |
/// | `ping_interval` | 15 s | rust-libp2p's ping interval |
/// | `pong_timeout` | 20 s | rust-libp2p's ping timeout |
/// | `max_missed_pongs` | 3 | the origin project's first (working) setting |
/// | `handshake_timeout` | 10 s | reth, and the origin project |
/// | `connect_timeout` | 10 s | the origin project |
/// | `max_frame_len` | 4 MiB | "a few MiB"; the origin used 8 MB |
/// | `send_queue_len` | 1024 frames | bounded; a full queue means the peer does not read |
/// | `send_queue_bytes` | 1 MiB | Bitcoin Core's send buffer (`-maxsendbuffer`, 1000 kB) |
/// | `event_queue_len` | 1024 batches | bounded; a slow owner back-pressures reads |
/// | `event_queue_bytes` | 16 MiB | payload bytes waiting for the owner, across all connections |
/// | `max_pings_per_interval` | 4 | an honest peer sends 1 per interval |
/// | `max_inbound` | 125 | Bitcoin Core's total, Zebra's inbound |
/// | `max_outbound` | 75 | Zebra's outbound |
/// | `max_pending_handshakes` | 30 per direction | reth's concurrent dials |
/// | `redial_backoff_min` | 5 s | the origin project |
/// | `redial_backoff_max` | 300 s | the origin project |
/// | `tie_break` | [`TieBreakPolicy::NodeId`] | Nethermind's rule: both ends agree |
/// | `ban_threshold` | 3 strikes | one bad frame can be a bug; three in a window is a pattern |
/// | `ban_duration` | 10 min | temporary: Bitcoin Core discourages for 24 h; a wrongly banned peer should come back soon |
/// | `flap_lifetime` | 10 s | under the 15 s ping interval, after which a redialling peer's backoff starts afresh |
/// | `flap_threshold` | 27 | one more than [`Config::honest_flap_bound`] (26 with these defaults) |
///
/// With these, a peer that goes silent is declared dead within
/// [`Config::dead_peer_bound`] = 3 × 15 s + 20 s = 65 s.
///
/// A *flap* is an inbound connection the peer ends (a goodbye, or a FIN or
/// reset) within [`Config::flap_window`] of its handshake; it earns the
/// peer a `short_lived` strike. A peer that redials with our backoff cannot
/// flap more than [`Config::honest_flap_bound`] times within
/// `ban_duration`, whatever its link does: a connection that ends that
/// young counts as a failed attempt and doubles its next delay (5 s, 10 s,
/// 20 s, ...), and only one that survives `ping_interval` starts the
/// backoff afresh. The fastest pattern flaps twice (at 0 and 5 s), then
/// alternates one connection that survives 15 s with two that flap: two
/// flaps per 50 s, 26 in 10 min. A peer that reconnects as fast as it can
/// reaches 27 in well under a second. Keep `flap_threshold` above the bound when you shorten the
/// backoff or lengthen `ban_duration`.
///
/// New settings can be added without breaking callers (the struct is
/// `#[non_exhaustive]`): start from the defaults and change what you need.
/// `peerlink::ConnectionManager::start` validates the
/// result once, with [`Config::validate`].
///
/// ```
/// use std::time::Duration;
/// use peerlink_core::Config;
///
/// let mut config = Config::default();
/// config.network_id = 0xB10C;
/// config.ping_interval = Duration::from_secs(1);
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Network id sent in `Hello`; a peer with another id is refused.
    pub network_id: u32,
    /// How often each side sends a `Ping`.
    pub ping_interval: Duration,
    /// How long a `Ping` waits for its `Pong` before it counts as missed.
    pub pong_timeout: Duration,
    /// Consecutive missed pongs after which the connection is declared dead.
    pub max_missed_pongs: u32,
    /// Time allowed from TCP connect (or accept) to an accepted handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for the TCP connect itself.
    pub connect_timeout: Duration,
    /// Largest frame body accepted or sent, in bytes.
    pub max_frame_len: u32,
    /// Application frames queued for sending per connection before sends
    /// fail (control frames have 64 more of their own).
    pub send_queue_len: usize,
    /// Encoded bytes queued for sending per connection before sends fail;
    /// an empty queue always takes one frame, however large. The writer's
    /// batch in progress comes on top: at most this much more.
    pub send_queue_bytes: usize,
    /// Events queued from connections to their owner. Under the manager
    /// the unit is a batch: one state event, or the messages of one read.
    pub event_queue_len: usize,
    /// Message payload bytes queued for the manager's owner, across every
    /// connection; a batch larger than this waits for the whole budget.
    pub event_queue_bytes: usize,
    /// Pings accepted from a peer per `ping_interval` before it is cut off.
    pub max_pings_per_interval: u32,
    /// Most inbound connections at once.
    pub max_inbound: usize,
    /// Most outbound connections at once.
    pub max_outbound: usize,
    /// Most connections in their handshake at once, in each direction:
    /// inbound handshakes are refused with `too_many_pending` once this
    /// many are in flight, and dials wait once this many are, so peers
    /// holding inbound handshakes open never delay our own dials.
    pub max_pending_handshakes: usize,
    /// First redial delay after a failure; doubles per consecutive failure.
    pub redial_backoff_min: Duration,
    /// Ceiling of the redial delay.
    pub redial_backoff_max: Duration,
    /// How two connections to the same peer are resolved.
    pub tie_break: TieBreakPolicy,
    /// If non-empty, only these IPs may connect or be dialled.
    pub allow: BTreeSet<IpAddr>,
    /// These IPs may never connect or be dialled.
    pub deny: BTreeSet<IpAddr>,
    /// Misbehaviour strikes (malformed or abusive input) within
    /// `ban_duration` that ban a peer IP.
    pub ban_threshold: u32,
    /// How long a ban lasts (plus up to 25% seeded jitter), and the window
    /// in which strikes count.
    pub ban_duration: Duration,
    /// An inbound connection the peer ends sooner than this after its
    /// handshake is a flap, and earns a `short_lived` strike. Capped at
    /// `ping_interval` (see [`Config::flap_window`]); zero turns flap
    /// strikes off.
    pub flap_lifetime: Duration,
    /// `short_lived` strikes within `ban_duration` that ban a peer IP;
    /// counted apart from misbehaviour strikes.
    pub flap_threshold: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network_id: 0,
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(20),
            max_missed_pongs: 3,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_frame_len: 4 * 1024 * 1024,
            send_queue_len: 1024,
            send_queue_bytes: 1024 * 1024,
            event_queue_len: 1024,
            event_queue_bytes: 16 * 1024 * 1024,
            max_pings_per_interval: 4,
            max_inbound: 125,
            max_outbound: 75,
            max_pending_handshakes: 30,
            redial_backoff_min: Duration::from_secs(5),
            redial_backoff_max: Duration::from_secs(300),
            tie_break: TieBreakPolicy::NodeId,
            allow: BTreeSet::new(),
            deny: BTreeSet::new(),
            ban_threshold: 3,
            ban_duration: Duration::from_secs(600),
            flap_lifetime: Duration::from_secs(10),
            flap_threshold: 27,
        }
    }
}

impl Config {
    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("ping_interval", self.ping_interval),
            ("pong_timeout", self.pong_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("connect_timeout", self.connect_timeout),
            ("redial_backoff_min", self.redial_backoff_min),
            ("ban_duration", self.ban_duration),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        for (name, n) in [
            ("max_missed_pongs", self.max_missed_pongs as usize),
            ("send_queue_len", self.send_queue_len),
            ("send_queue_bytes", self.send_queue_bytes),
            ("event_queue_len", self.event_queue_len),
            ("event_queue_bytes", self.event_queue_bytes),
            (
                "max_pings_per_interval",
                self.max_pings_per_interval as usize,
            ),
            ("max_pending_handshakes", self.max_pending_handshakes),
            ("ban_threshold", self.ban_threshold as usize),
            ("flap_threshold", self.flap_threshold as usize),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&self.max_frame_len) {
            return Err(ConfigError::FrameCap(self.max_frame_len));
        }
        if self.redial_backoff_min > self.redial_backoff_max {
            return Err(ConfigError::BackoffRange);
        }
        Ok(())
    }

    /// Longest time from a peer going silent to its connection being declared
    /// dead: the next ping goes out within one interval, and the
    /// `max_missed_pongs`-th consecutive ping times out
    /// `(max_missed_pongs - 1)` intervals plus one `pong_timeout` after it.
    pub fn dead_peer_bound(&self) -> Duration {
        self.ping_interval * self.max_missed_pongs + self.pong_timeout
    }

    /// A connection the peer ends within this of its handshake is a flap:
    /// `flap_lifetime`, but never more than `ping_interval`, so that every
    /// flap also counts as a failure in a redialling peer's backoff (which
    /// starts afresh only after a connection held for `ping_interval`).
    pub fn flap_window(&self) -> Duration {
        self.flap_lifetime.min(self.ping_interval)
    }

    /// The most flaps a peer running this config's redial backoff can make
    /// within `ban_duration`, however its link treats its connections: a
    /// flap costs no time and counts as a failure (the next delay doubles);
    /// a connection that survives `ping_interval` sets the failures back to
    /// one. Jitter only lengthens the delays, so it is left out. Searches
    /// every pattern by the earliest time each failure count can be reached
    /// after each number of flaps; stops counting at 100 000.
    pub fn honest_flap_bound(&self) -> u32 {
        let base =
            |failures| backoff_base(self.redial_backoff_min, self.redial_backoff_max, failures);
        let window = self.ban_duration;
        // Earliest start of the next connection, by failures so far (at
        // most 32: the delay stops growing long before).
        let mut earliest: BTreeMap<u32, Duration> = BTreeMap::from([(0, Duration::ZERO)]);
        let mut flaps = 0;
        while flaps < 100_000 {
            // A connection that survives resets the backoff to one failure.
            if let Some(first) = earliest.values().min().copied() {
                let reset = first + self.ping_interval + base(1);
                let at = earliest.entry(1).or_insert(reset);
                *at = (*at).min(reset);
            }
            let mut next: BTreeMap<u32, Duration> = BTreeMap::new();
            for (&failures, &at) in earliest.iter().filter(|(_, at)| **at < window) {
                let failures = (failures + 1).min(32);
                let then = at + base(failures);
                let slot = next.entry(failures).or_insert(then);
                *slot = (*slot).min(then);
            }
            if next.is_empty() {
                break;
            }
            flaps += 1;
            earliest = next;
        }
        flaps
    }

    /// How many of our pings can be outstanding at once; the pending table is
    /// bounded by this.
    pub fn max_pending_pings(&self) -> usize {
        let per_timeout = self.pong_timeout.as_nanos() / self.ping_interval.as_nanos().max(1);
        usize::try_from(per_timeout)
            .unwrap_or(usize::MAX)
            .saturating_add(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults validate and give the documented 65 s detection bound.
    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.dead_peer_bound(), Duration::from_secs(65));
        assert_eq!(c.max_pending_pings(), 3);
        assert_eq!(c.flap_window(), Duration::from_secs(10));
    }

    /// The default flap threshold is one more than the most flaps a peer
    /// with our backoff can make in the window: 26, two at 0 and 5 s, then
    /// alternating one connection that survives 15 s with two that flap
    /// (50 s a cycle: 35, 45, 85, 95, ..., 585 s).
    /// Backoff alone, with every connection flapping, allows 7 (at 0, 5,
    /// 15, 35, 75, 155 and 315 s; the eighth comes at 615 s).
    #[test]
    fn flap_threshold_is_above_what_a_backoff_allows() {
        let c = Config::default();
        assert_eq!(c.honest_flap_bound(), 26);
        assert_eq!(c.flap_threshold, c.honest_flap_bound() + 1);
        // Without a surviving connection to reset it, backoff alone.
        let no_reset = Config {
            ping_interval: Duration::from_secs(3600),
            ..Config::default()
        };
        assert_eq!(no_reset.honest_flap_bound(), 7);
        // The cap on the window: never longer than a ping interval.
        let fast = Config {
            ping_interval: Duration::from_secs(1),
            ..Config::default()
        };
        assert_eq!(fast.flap_window(), Duration::from_secs(1));
    }

    /// Each broken setting is named in its error.
    #[test]
    fn invalid_settings_are_named() {
        let c = Config {
            ping_interval: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration("ping_interval"))
        );
        let c = Config {
            max_frame_len: 3,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::FrameCap(3)));
        let c = Config {
            redial_backoff_min: Duration::from_secs(10),
            redial_backoff_max: Duration::from_secs(1),
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BackoffRange));
    }
}
