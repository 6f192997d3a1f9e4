//! Savings over a window, from what each decision saw: agent-hours billed against the
//! agent-hours of keeping every agent awake. One definition for the API, the dashboard and the
//! savings alert.
//!
//! Each sample (a decision) stands for the fleet from its time until the next sample, clipped to
//! the window. `billed` is what the fleet was billed then; `planned` is what the decision wanted
//! billed (its sleep floor: the fewest awake agents it would sleep down to), which in shadow mode
//! is what the decisions would have saved had they acted.

use std::time::Duration;

use crate::Time;

/// The fleet as one decision saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageSample {
    /// When.
    pub at: Time,
    /// Agents in the fleet.
    pub total: u32,
    /// Agents billed (awake or in a transition).
    pub billed: u32,
    /// Agents the decision wanted billed (its sleep floor).
    pub planned: u32,
}

/// Agent-hours over a window.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Savings {
    /// Agent-hours billed.
    pub agent_hours: f64,
    /// Agent-hours the decisions wanted billed.
    pub planned_agent_hours: f64,
    /// Agent-hours with every agent awake.
    pub always_on_agent_hours: f64,
    /// `100 · (1 − agent_hours / always_on)`; `None` without data.
    pub savings_pct: Option<f64>,
    /// The same for the planned agent-hours.
    pub planned_savings_pct: Option<f64>,
    /// How much of the window the samples cover (seconds).
    pub covered_s: f64,
}

/// Sums `samples` (sorted by time; the last one before `from` may be included, it covers the
/// start of the window) over `[from, to)`.
pub fn summarize(samples: &[UsageSample], from: Time, to: Time) -> Savings {
    let mut s = Savings::default();
    for (i, sample) in samples.iter().enumerate() {
        let end = samples.get(i + 1).map_or(to, |next| next.at).min(to);
        let start = sample.at.max(from);
        if end <= start {
            continue;
        }
        let hours = end.since(start).as_secs_f64() / 3600.0;
        s.covered_s += end.since(start).as_secs_f64();
        s.agent_hours += f64::from(sample.billed) * hours;
        s.planned_agent_hours += f64::from(sample.planned.min(sample.total)) * hours;
        s.always_on_agent_hours += f64::from(sample.total) * hours;
    }
    if s.always_on_agent_hours > 0.0 {
        s.savings_pct = Some(100.0 * (1.0 - s.agent_hours / s.always_on_agent_hours));
        s.planned_savings_pct =
            Some(100.0 * (1.0 - s.planned_agent_hours / s.always_on_agent_hours));
    }
    s
}

/// The window `[now − length, now)`.
pub fn window(now: Time, length: Duration) -> (Time, Time) {
    (now.minus(length), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(min: i64, total: u32, billed: u32, planned: u32) -> UsageSample {
        UsageSample {
            at: Time::from_secs(min * 60),
            total,
            billed,
            planned,
        }
    }

    #[test]
    fn each_sample_covers_until_the_next_clipped_to_the_window() {
        let samples = [
            sample(-30, 10, 10, 10), // before the window: covers its first 30 minutes
            sample(30, 10, 4, 2),
            sample(90, 10, 6, 6),
        ];
        let s = summarize(&samples, Time::from_secs(0), Time::from_secs(120 * 60));
        // 30 min × 10 + 60 min × 4 + 30 min × 6 = 720 agent-minutes = 12 agent-hours.
        assert!((s.agent_hours - 12.0).abs() < 1e-9, "{s:?}");
        assert!((s.always_on_agent_hours - 20.0).abs() < 1e-9);
        assert!((s.savings_pct.unwrap() - 40.0).abs() < 1e-9);
        // Planned: 30 × 10 + 60 × 2 + 30 × 6 = 600 agent-minutes.
        assert!((s.planned_agent_hours - 10.0).abs() < 1e-9);
        assert_eq!(s.covered_s, 7200.0);
    }

    #[test]
    fn no_samples_no_savings() {
        let s = summarize(&[], Time::from_secs(0), Time::from_secs(60));
        assert_eq!((s.savings_pct, s.covered_s), (None, 0.0));
    }
}
