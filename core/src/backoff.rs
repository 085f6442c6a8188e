//! Redial backoff: exponential from `redial_backoff_min` to
//! `redial_backoff_max`, plus up to 25% jitter drawn from an RNG the caller
//! passes (the manager's seeded one). Pure: the caller supplies the RNG and
//! adds the delay to `now`.

use std::time::Duration;

use rand::Rng;

/// The delay before redial attempt number `failures` (1 = first retry).
pub fn backoff_delay(min: Duration, max: Duration, failures: u32, rng: &mut impl Rng) -> Duration {
    let base = backoff_base(min, max, failures);
    let jitter_ns = u64::try_from(base.as_nanos() / 4).unwrap_or(u64::MAX);
    let jitter = Duration::from_nanos(rng.random_range(0..=jitter_ns));
    base + jitter
}

/// The delay before redial attempt number `failures` without its jitter:
/// the least [`backoff_delay`] can return.
pub fn backoff_base(min: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    min.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Delays double from the floor, stop at the ceiling, and carry at most
    /// 25% jitter; the same seed gives the same delays.
    #[test]
    fn doubles_caps_and_jitters() {
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(300));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (failures, base) in [(1, 5), (2, 10), (3, 20), (4, 40), (7, 300), (40, 300)] {
            let d = backoff_delay(min, max, failures, &mut rng);
            let base = Duration::from_secs(base);
            assert!(d >= base && d <= base + base / 4, "{failures}: {d:?}");
        }
        let a = backoff_delay(min, max, 3, &mut ChaCha8Rng::seed_from_u64(1));
        let b = backoff_delay(min, max, 3, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
    }
}
