//! Observed demand, one sample per tick, as the policies and forecasters read it.

use std::time::Duration;

use crate::Time;

/// Demand samples at a regular step, oldest first, bounded in length.
///
/// Samples may have gaps (a stalled feed); lookups by time stay correct across them.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandHistory {
    step: Duration,
    capacity: usize,
    times: Vec<Time>,
    values: Vec<f64>,
    /// Whether every sample so far is exactly one step after the previous one.
    regular: bool,
}

impl DemandHistory {
    /// An empty history with sampling step `step`, keeping at most `capacity` samples.
    pub fn new(step: Duration, capacity: usize) -> Self {
        DemandHistory {
            step,
            capacity: capacity.max(1),
            times: Vec::new(),
            values: Vec::new(),
            regular: true,
        }
    }

    /// Appends a sample. Non-finite or negative values are clamped to 0 and samples not after
    /// the last one are ignored; the return value says whether the sample was taken as is.
    pub fn push(&mut self, at: Time, value: f64) -> bool {
        if self.times.last().is_some_and(|last| at <= *last) {
            return false;
        }
        let clean = value.is_finite() && value >= 0.0;
        if let Some(last) = self.times.last()
            && at.since(*last) != self.step
        {
            self.regular = false;
        }
        self.times.push(at);
        self.values.push(if clean { value } else { 0.0 });
        if self.times.len() > self.capacity * 2 {
            // Amortised trimming: drop the oldest half in one move.
            let drop = self.times.len() - self.capacity;
            self.times.drain(..drop);
            self.values.drain(..drop);
        }
        clean
    }

    /// Forgets every sample (what a restart does to an in-memory scheduler).
    pub fn clear(&mut self) {
        self.times.clear();
        self.values.clear();
        self.regular = true;
    }

    /// Sampling step.
    pub fn step(&self) -> Duration {
        self.step
    }

    /// Number of samples kept.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The sample values, oldest first.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The sample times, oldest first.
    pub fn times(&self) -> &[Time] {
        &self.times
    }

    /// The newest sample.
    pub fn last(&self) -> Option<(Time, f64)> {
        Some((*self.times.last()?, *self.values.last()?))
    }

    /// Index of the sample taken at `at` (within half a step), if any.
    pub fn index_at(&self, at: Time) -> Option<usize> {
        let first = *self.times.first()?;
        let step_ms = self.step.as_millis() as i64;
        if self.regular && step_ms > 0 {
            let off = at.as_millis() - first.as_millis();
            let idx = (off + step_ms / 2).div_euclid(step_ms);
            let i = usize::try_from(idx).ok()?;
            return (i < self.times.len()
                && (self.times[i].as_millis() - at.as_millis()).abs() <= step_ms / 2)
                .then_some(i);
        }
        let i = self.times.partition_point(|t| *t < at.minus(self.step / 2));
        (i < self.times.len() && self.times[i] <= at.plus(self.step / 2)).then_some(i)
    }

    /// The value sampled at `at` (within half a step), if any.
    pub fn value_at(&self, at: Time) -> Option<f64> {
        self.index_at(at).map(|i| self.values[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_time_survives_gaps() {
        let mut h = DemandHistory::new(Duration::from_secs(60), 100);
        for (t, v) in [(0, 1.0), (60, 2.0), (240, 5.0), (300, 6.0)] {
            assert!(h.push(Time::from_secs(t), v));
        }
        assert_eq!(h.value_at(Time::from_secs(240)), Some(5.0));
        assert_eq!(h.value_at(Time::from_secs(250)), Some(5.0));
        assert_eq!(h.value_at(Time::from_secs(120)), None);
        assert_eq!(h.value_at(Time::from_secs(-60)), None);
    }

    #[test]
    fn rejects_out_of_order_and_cleans_bad_values() {
        let mut h = DemandHistory::new(Duration::from_secs(1), 10);
        assert!(h.push(Time::from_secs(5), 1.0));
        assert!(!h.push(Time::from_secs(5), 2.0));
        assert!(!h.push(Time::from_secs(6), f64::NAN));
        assert_eq!(h.values(), &[1.0, 0.0]);
    }

    #[test]
    fn bounded_length() {
        let mut h = DemandHistory::new(Duration::from_secs(1), 10);
        for i in 0..100 {
            h.push(Time::from_secs(i), i as f64);
        }
        assert!(h.len() <= 20);
        assert_eq!(h.last(), Some((Time::from_secs(99), 99.0)));
        assert_eq!(h.value_at(Time::from_secs(95)), Some(95.0));
    }
}
