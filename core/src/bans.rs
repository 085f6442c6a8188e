//! `BanList`: the misbehaviour policy. A peer IP earns a strike of one of
//! two kinds ([`Strike`]):
//!
//! - *misbehaviour*, each time one of its connections is closed for
//!   malformed or abusive input (a bad frame, an undecodable message, a
//!   protocol violation, a ping flood); `ban_threshold` of them within
//!   `ban_duration` ban it;
//! - *short-lived*, each time it ends an inbound connection of its own
//!   soon after the handshake (a flap; the peer table decides what counts,
//!   see `docs/protocol.md`); `flap_threshold` of them within
//!   `ban_duration` ban it.
//!
//! A ban lasts `ban_duration` plus up to 25% jitter from an RNG the caller
//! passes (the manager's seeded one). A banned IP is refused with `banned`
//! and not dialled; when the ban expires its strikes are forgotten and it
//! is admitted again.
//!
//! Network trouble alone never earns a strike: timeouts, resets, refused
//! dials and goodbyes are not misbehaviour, and only a peer that keeps
//! ending fresh connections faster than any honest redial backoff allows
//! collects enough short-lived strikes for a ban. Our own framing cannot produce a strike
//! against an honest peer (frames are written whole by one writer and read
//! cancellation-safely), which is what got honest peers banned in the origin
//! project (bug #12). Pure: time comes in as `now`, randomness from the
//! caller's RNG.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;

/// The strike reason of a short-lived connection, as the metrics label it.
pub const SHORT_LIVED: &str = "short_lived";

/// Every strike reason, as the metrics label them: the three close reasons
/// that are misbehaviour (see `CloseCause::is_misbehaviour`), then
/// [`SHORT_LIVED`].
pub const STRIKE_REASONS: [&str; 4] = [
    "frame_too_large",
    "protocol_violation",
    "rate_limited",
    SHORT_LIVED,
];

/// The kind of a strike; each kind has its own threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strike {
    /// Malformed or abusive input; counts towards `ban_threshold`.
    Misbehaviour,
    /// The peer ended a fresh connection at once; counts towards
    /// `flap_threshold`.
    ShortLived,
}

/// Most IPs tracked at once; beyond it the record with the oldest activity
/// is dropped, so a flood of addresses cannot grow the list without bound.
pub const MAX_TRACKED: usize = 4096;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Record {
    /// Misbehaviour strike times within the window, oldest first (fewer
    /// than `threshold`).
    strikes: VecDeque<Instant>,
    /// Short-lived strike times within the window, oldest first (fewer
    /// than `flap_threshold`).
    flaps: VecDeque<Instant>,
    banned_until: Option<Instant>,
}

impl Record {
    fn last_activity(&self) -> Option<Instant> {
        let last = self.strikes.back().copied().max(self.flaps.back().copied());
        last.max(self.banned_until)
    }
}

/// Strikes and bans by IP.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BanList {
    threshold: u32,
    flap_threshold: u32,
    duration: Duration,
    records: BTreeMap<IpAddr, Record>,
}

impl BanList {
    /// A list banning after `threshold` misbehaviour strikes, or
    /// `flap_threshold` short-lived ones, within `duration`, for `duration`.
    pub fn new(threshold: u32, flap_threshold: u32, duration: Duration) -> Self {
        BanList {
            threshold: threshold.max(1),
            flap_threshold: flap_threshold.max(1),
            duration,
            records: BTreeMap::new(),
        }
    }

    /// Records a strike of `kind` against `ip` at `now`. Returns the end of
    /// the ban if this strike starts one.
    pub fn strike(
        &mut self,
        ip: IpAddr,
        kind: Strike,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<Instant> {
        self.expire(ip, now);
        if !self.records.contains_key(&ip) && self.records.len() >= MAX_TRACKED {
            self.evict_oldest();
        }
        let window = self.duration;
        let (threshold, flap_threshold) = (self.threshold, self.flap_threshold);
        let record = self.records.entry(ip).or_default();
        if record.banned_until.is_some() {
            return None;
        }
        let (times, threshold) = match kind {
            Strike::Misbehaviour => (&mut record.strikes, threshold),
            Strike::ShortLived => (&mut record.flaps, flap_threshold),
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            times.pop_front();
        }
        times.push_back(now);
        if times.len() < threshold as usize {
            return None;
        }
        let jitter_ns = u64::try_from(window.as_nanos() / 4).unwrap_or(u64::MAX);
        let until = now + window + Duration::from_nanos(rng.random_range(0..=jitter_ns));
        record.strikes.clear();
        record.flaps.clear();
        record.banned_until = Some(until);
        Some(until)
    }

    /// Whether `ip` is banned at `now`.
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.banned_until(ip).is_some_and(|until| now < until)
    }

    /// When `ip`'s ban ends, if it has one (possibly already past).
    pub fn banned_until(&self, ip: IpAddr) -> Option<Instant> {
        self.records.get(&ip).and_then(|r| r.banned_until)
    }

    /// IPs banned at `now`, in order.
    pub fn banned(&self, now: Instant) -> Vec<IpAddr> {
        let banned = self
            .records
            .iter()
            .filter(|(_, r)| r.banned_until.is_some_and(|u| now < u));
        banned.map(|(ip, _)| *ip).collect()
    }

    /// Strikes of both kinds currently counted against `ip` (some may be
    /// older than the window: they are dropped at its next strike).
    pub fn strikes(&self, ip: IpAddr) -> usize {
        self.records
            .get(&ip)
            .map_or(0, |r| r.strikes.len() + r.flaps.len())
    }

    /// Number of IPs tracked.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets `ip`'s expired ban.
    fn expire(&mut self, ip: IpAddr, now: Instant) {
        if let Some(r) = self.records.get_mut(&ip) {
            if r.banned_until.is_some_and(|u| now >= u) {
                self.records.remove(&ip);
            }
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .records
            .iter()
            .min_by_key(|(_, r)| r.last_activity())
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.records.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::test_epoch;

    const M: Strike = Strike::Misbehaviour;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// The metric labels are the wire names of the three reasons
    /// `CloseCause::is_misbehaviour` accepts (the list it matches), then the
    /// flap reason.
    #[test]
    fn strike_reasons_are_the_misbehaviour_reasons() {
        use crate::wire::Reason;
        let misbehaviour = [
            Reason::FrameTooLarge,
            Reason::ProtocolViolation,
            Reason::RateLimited,
        ];
        let mut names: Vec<&str> = misbehaviour.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.push(SHORT_LIVED);
        assert_eq!(names, STRIKE_REASONS);
    }

    /// Three strikes within the window ban for the window plus at most 25%;
    /// the ban expires and the IP is admitted again with a clean slate.
    #[test]
    fn strikes_ban_then_expire() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let window = Duration::from_secs(600);
        let mut bans = BanList::new(3, 5, window);
        let t0 = test_epoch();
        assert_eq!(bans.strike(ip(1), M, t0, &mut rng), None);
        assert_eq!(
            bans.strike(ip(1), M, t0 + Duration::from_secs(1), &mut rng),
            None
        );
        let until = bans
            .strike(ip(1), M, t0 + Duration::from_secs(2), &mut rng)
            .expect("banned");
        let start = t0 + Duration::from_secs(2);
        assert!(until >= start + window && until <= start + window + window / 4);
        assert!(bans.is_banned(ip(1), until - Duration::from_millis(1)));
        assert!(!bans.is_banned(ip(1), until));
        assert!(!bans.is_banned(ip(2), start));
        assert_eq!(bans.banned(start), vec![ip(1)]);
        // After expiry a single strike does not re-ban.
        assert_eq!(bans.strike(ip(1), M, until, &mut rng), None);
        assert_eq!(bans.strikes(ip(1)), 1);
    }

    /// Strikes older than the window do not count.
    #[test]
    fn old_strikes_decay() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut bans = BanList::new(3, 5, Duration::from_secs(60));
        let t0 = test_epoch();
        bans.strike(ip(1), M, t0, &mut rng);
        bans.strike(ip(1), M, t0 + Duration::from_secs(30), &mut rng);
        assert_eq!(
            bans.strike(ip(1), M, t0 + Duration::from_secs(61), &mut rng),
            None
        );
        assert_eq!(bans.strikes(ip(1)), 2);
    }

    /// The two kinds count apart, each against its own threshold: four
    /// short-lived strikes and two misbehaviour ones (six in all) do not
    /// ban; the fifth short-lived one does, and the ban spends both kinds.
    #[test]
    fn kinds_count_apart() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut bans = BanList::new(3, 5, Duration::from_secs(60));
        let t0 = test_epoch();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for s in 0..4 {
            assert_eq!(
                bans.strike(ip(1), Strike::ShortLived, at(s), &mut rng),
                None
            );
        }
        for s in 4..6 {
            assert_eq!(bans.strike(ip(1), M, at(s), &mut rng), None);
        }
        assert_eq!(bans.strikes(ip(1)), 6);
        let until = bans.strike(ip(1), Strike::ShortLived, at(6), &mut rng);
        assert_eq!(until, bans.banned_until(ip(1)));
        assert!(until.is_some_and(|u| u >= at(66) && u <= at(81)));
        assert_eq!(bans.strikes(ip(1)), 0);
    }

    /// The list never tracks more than `MAX_TRACKED` IPs.
    #[test]
    fn bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut bans = BanList::new(3, 5, Duration::from_secs(60));
        let t0 = test_epoch();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            let addr = IpAddr::from(i.to_be_bytes());
            bans.strike(addr, M, t0 + Duration::from_millis(u64::from(i)), &mut rng);
        }
        assert_eq!(bans.len(), MAX_TRACKED);
        assert_eq!(
            bans.strikes(IpAddr::from(0u32.to_be_bytes())),
            0,
            "oldest evicted"
        );
    }
}
