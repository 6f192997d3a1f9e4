//! Where the engine's "now" comes from. The decision core never reads a clock; the engine asks
//! one of these, so tests can drive time by hand and the demo can replay a trace faster.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hivesched_policy::Time;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Time;

    /// How long to wait in real time for `d` to pass on this clock (the executor waits out
    /// jitter and rails this way). The wall clock: `d` itself.
    fn real_time(&self, d: Duration) -> Duration {
        d
    }
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Time::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock moved only by the caller (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: Time) -> Self {
        ManualClock(AtomicI64::new(at.as_millis()))
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, at: Time) {
        self.0.store(at.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Time::from_millis(self.0.load(Ordering::SeqCst))
    }

    /// Time moves only when the test moves it: look again soon.
    fn real_time(&self, d: Duration) -> Duration {
        d.min(Duration::from_millis(5))
    }
}

/// A clock that starts at `origin` and runs `factor` times faster than real time: the demo
/// replays a day of a recorded trace in minutes with it.
#[derive(Debug)]
pub struct ScaledClock {
    origin: Time,
    started: Instant,
    factor: f64,
}

impl ScaledClock {
    /// Starts now at `origin`, running `factor` times real time.
    pub fn new(origin: Time, factor: f64) -> Self {
        ScaledClock {
            origin,
            started: Instant::now(),
            factor: factor.max(0.0),
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Time {
        let elapsed = self.started.elapsed().as_secs_f64() * self.factor * 1000.0;
        Time::from_millis(self.origin.as_millis().saturating_add(elapsed as i64))
    }

    fn real_time(&self, d: Duration) -> Duration {
        if self.factor > 0.0 {
            d.div_f64(self.factor)
        } else {
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Time::from_secs(5));
        assert_eq!(c.now(), Time::from_secs(5));
        c.advance_ms(1500);
        assert_eq!(c.now(), Time::from_millis(6500));
    }

    #[test]
    fn scaled_clock_runs_faster() {
        let c = ScaledClock::new(Time::from_secs(0), 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now().as_millis() >= 20_000);
    }
}
