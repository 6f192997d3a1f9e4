//! How many times a failed call is tried again, and how long to wait in between.

use std::time::Duration;

/// Exponential backoff with jitter. Every attempt of one call sends the same request, so the
/// same idempotency key: retries are safe because the fleet never acts twice per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Base wait before the first retry; doubles for each further retry.
    pub initial_backoff: Duration,
    /// Ceiling on the base wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `retry` (1 for the first retry): "equal jitter", half the
    /// exponential base plus a random half, so waits never collapse to zero and callers that
    /// failed together do not retry in lock-step.
    pub fn backoff(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter_ns = rng.u64(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX));
        half + Duration::from_nanos(jitter_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for (retry, base_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let d = policy.backoff(retry, &mut rng);
                assert!(d >= Duration::from_millis(base_ms / 2), "{retry}: {d:?}");
                assert!(d <= Duration::from_millis(base_ms), "{retry}: {d:?}");
            }
        }
    }
}
