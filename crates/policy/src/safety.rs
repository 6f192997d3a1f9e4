//! The forecast circuit breaker: the safety behaviour around the policy's forecasts.

use std::time::Duration;

use crate::Time;

/// State of the forecast circuit breaker, for metrics and decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Forecasts are used.
    Closed,
    /// Too many consecutive failures: forecasts are not even tried; all agents awake.
    Open,
    /// The cooldown has passed: the next forecast is a probe.
    HalfOpen,
}

/// Counts consecutive failures on every forecast path (error, NaN, stale, timeout) and opens
/// after `threshold` of them; after `cooldown` it lets one probe through (half-open), which
/// closes it on success and re-opens it on failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    opened_at: Option<Time>,
    trips: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            opened_at: None,
            trips: 0,
        }
    }

    /// Current state at `now`.
    pub fn state(&self, now: Time) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(at) if now.since(at) >= self.cooldown => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether a forecast may be attempted at `now` (closed, or half-open probe).
    pub fn allows(&self, now: Time) -> bool {
        self.state(now) != BreakerState::Open
    }

    /// A forecast succeeded: close and forget past failures.
    pub fn record_success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
    }

    /// A forecast failed at `now`.
    pub fn record_failure(&mut self, now: Time) {
        self.failures = self.failures.saturating_add(1);
        let probe_failed = self.state(now) == BreakerState::HalfOpen;
        if probe_failed || (self.opened_at.is_none() && self.failures >= self.threshold) {
            self.opened_at = Some(now);
            self.trips += 1;
        }
    }

    /// Closes the breaker and forgets failures (a restart), keeping the trip count for metrics.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.opened_at = None;
    }

    /// Carries over trips counted by a previous breaker (reconfiguration keeps the metric).
    pub fn add_trips(&mut self, trips: u64) {
        self.trips += trips;
    }

    /// How many times the breaker has opened.
    pub fn trips(&self) -> u64 {
        self.trips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let mut b = Breaker::new(3, Duration::from_secs(60));
        let t = |s| Time::from_secs(s);
        b.record_failure(t(0));
        b.record_failure(t(1));
        assert_eq!(b.state(t(2)), BreakerState::Closed);
        b.record_failure(t(2));
        assert_eq!(b.state(t(3)), BreakerState::Open);
        assert!(!b.allows(t(61)));
        assert_eq!(b.state(t(62)), BreakerState::HalfOpen);
        // The probe fails: open again for a full cooldown.
        b.record_failure(t(62));
        assert_eq!(b.state(t(100)), BreakerState::Open);
        assert_eq!(b.trips(), 2);
        b.record_success();
        assert_eq!(b.state(t(100)), BreakerState::Closed);
    }

    #[test]
    fn success_resets_the_count() {
        let mut b = Breaker::new(2, Duration::from_secs(60));
        b.record_failure(Time(0));
        b.record_success();
        b.record_failure(Time(1));
        assert_eq!(b.state(Time(2)), BreakerState::Closed);
    }
}
