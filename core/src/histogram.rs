//! `Histogram`: durations counted into fixed buckets, with their sum, so a
//! metrics exporter can render a Prometheus histogram without keeping raw
//! samples. Recording is a bucket search over [`BOUNDS`] and two additions:
//! cheap enough for every handshake and every pong.

use std::time::Duration;

/// Upper bounds of the buckets (inclusive, as Prometheus `le`), from 100 µs
/// to 10 s; a duration above the last one counts only in the overflow
/// bucket (`+Inf`).
pub const BOUNDS: [Duration; 16] = [
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2_500),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Durations counted by bucket: `counts[i]` holds those in
/// `(BOUNDS[i-1], BOUNDS[i]]`, the last entry those above every bound.
/// Counts are per bucket, not cumulative.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Histogram {
    /// Observations per bucket; the last entry is the overflow bucket.
    pub counts: [u64; BOUNDS.len() + 1],
    /// The sum of every observation.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "sum_seconds", with = "crate::serde_impls::secs")
    )]
    pub sum: Duration,
}

impl Histogram {
    /// Counts one duration.
    pub fn record(&mut self, d: Duration) {
        let bucket = BOUNDS.partition_point(|bound| *bound < d);
        if let Some(n) = self.counts.get_mut(bucket) {
            *n += 1;
        }
        self.sum = self.sum.saturating_add(d);
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(bound, cumulative count)` per bound, as Prometheus buckets; the
    /// `+Inf` bucket is [`Histogram::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        let mut total = 0;
        BOUNDS.iter().zip(&self.counts).map(move |(bound, n)| {
            total += n;
            (*bound, total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A duration on a bound counts in that bound's bucket, one above the
    /// last bound only in the overflow; the cumulative view and the sum
    /// follow.
    #[test]
    fn buckets_are_inclusive_and_cumulative() {
        let mut h = Histogram::default();
        for us in [100, 101, 1_000, 20_000_000] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[3], 1);
        assert_eq!(h.counts[BOUNDS.len()], 1);
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum, Duration::from_micros(20_001_201));
        let cumulative: Vec<u64> = h.cumulative().map(|(_, n)| n).collect();
        assert_eq!(cumulative[..4], [1, 2, 2, 3]);
        assert_eq!(cumulative[BOUNDS.len() - 1], 3);
    }
}
