//! Time as the decision core sees it: an injected wall-clock reading, never `SystemTime::now()`.

use std::time::Duration;

/// A point in time in milliseconds since the Unix epoch, supplied by the caller.
///
/// The core never reads a clock: the service passes the real time, the simulator the trace
/// time, and tests any time they like (including clocks that jump backwards).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Time(pub i64);

impl Time {
    /// Builds a time from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Time(ms)
    }

    /// Builds a time from whole seconds since the epoch.
    pub const fn from_secs(s: i64) -> Self {
        Time(s * 1000)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This time moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Time(self.0.saturating_add(duration_ms(d)))
    }

    /// This time moved back by `d` (saturating).
    pub fn minus(self, d: Duration) -> Self {
        Time(self.0.saturating_sub(duration_ms(d)))
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is in the future (clock jumps).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

/// A duration in whole milliseconds, saturated to `i64`.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whole steps of length `step` needed to cover `d` (at least one when `d` is non-zero).
pub fn steps_covering(d: Duration, step: Duration) -> u32 {
    if d.is_zero() || step.is_zero() {
        return 0;
    }
    let steps = d.as_millis().div_ceil(step.as_millis());
    u32::try_from(steps).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Time(5).since(Time(10)), Duration::ZERO);
        assert_eq!(Time(10).since(Time(5)), Duration::from_millis(5));
    }

    #[test]
    fn steps_cover_partial_steps() {
        let m = Duration::from_secs(60);
        assert_eq!(
            steps_covering(Duration::from_secs(600), Duration::from_secs(1800)),
            1
        );
        assert_eq!(steps_covering(Duration::from_secs(600), m), 10);
        assert_eq!(steps_covering(Duration::from_secs(601), m), 11);
        assert_eq!(steps_covering(Duration::ZERO, m), 0);
    }
}
