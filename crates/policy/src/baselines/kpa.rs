//! `kpa`: the Knative Pod Autoscaler's algorithm on observed demand.
//!
//! Stable window 60 s and panic window 6 s (each at least one step); panic when the panic-window
//! need is at least twice the ready agents; never scale down while panicking; scale-down limited
//! to halving per evaluation (`max-scale-down-rate` 2). Like Knative after a restart, it starts
//! in panic mode so it never scales down before it has history.

use std::time::Duration;

use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier, Time, agents_needed};

/// Knative-KPA-like policy.
#[derive(Debug, Clone)]
pub struct Kpa {
    /// Target utilisation (Knative's 70 % of container concurrency).
    pub target_utilization: f64,
    /// Averaging window in stable mode.
    pub stable_window: Duration,
    /// Averaging window that detects bursts.
    pub panic_window: Duration,
    /// Panic when panic-window need / ready ≥ this.
    pub panic_threshold: f64,
    /// Scale-down per evaluation to no less than ready / this.
    pub max_scale_down_rate: f64,
    /// Scale-up per evaluation to no more than ready × this.
    pub max_scale_up_rate: f64,
    panic_since: Option<Time>,
    max_panic: u32,
    started: bool,
}

impl Default for Kpa {
    fn default() -> Self {
        Kpa {
            target_utilization: 0.7,
            stable_window: Duration::from_secs(60),
            panic_window: Duration::from_secs(6),
            panic_threshold: 2.0,
            max_scale_down_rate: 2.0,
            max_scale_up_rate: 1000.0,
            panic_since: None,
            max_panic: 0,
            started: false,
        }
    }
}

/// Mean of the newest samples covering `window` (at least one sample).
fn window_mean(values: &[f64], window: Duration, step: Duration) -> f64 {
    let n = (window.as_millis().div_ceil(step.as_millis().max(1)) as usize)
        .clamp(1, values.len().max(1));
    let tail = &values[values.len().saturating_sub(n)..];
    if tail.is_empty() {
        0.0
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}

impl Policy for Kpa {
    fn name(&self) -> &str {
        "kpa"
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        let ready = obs.counts.awake.max(1);
        if !self.started {
            self.started = true;
            if obs.counts.awake > 1 {
                self.panic_since = Some(obs.now);
                self.max_panic = obs.counts.awake;
            }
        }
        let values = obs.history.values();
        if values.is_empty() {
            return Ok(Recommendation::exactly(
                obs.clamp(obs.current()),
                Tier::Immediate,
                Reason::RestartHold,
                "no demand observed yet: keep the current scale".into(),
            ));
        }
        let stable = window_mean(values, self.stable_window, obs.step());
        let panic = window_mean(values, self.panic_window, obs.step());
        let max_up = (self.max_scale_up_rate * f64::from(ready)).ceil() as u32;
        let max_down = (f64::from(ready) / self.max_scale_down_rate).floor() as u32;
        let dspc = agents_needed(stable, obs.capacity, self.target_utilization);
        let dppc = agents_needed(panic, obs.capacity, self.target_utilization);
        let desired_stable = dspc.clamp(max_down, max_up.max(max_down));
        let desired_panic = dppc.clamp(max_down, max_up.max(max_down));
        let over_panic = f64::from(dppc) / f64::from(ready) >= self.panic_threshold;
        if over_panic {
            if self.panic_since.is_none() {
                self.max_panic = ready;
            }
            self.panic_since = Some(obs.now);
        } else if self
            .panic_since
            .is_some_and(|t| t.plus(self.stable_window) < obs.now)
        {
            self.panic_since = None;
            self.max_panic = 0;
        }
        let (desired, reason, explanation) = if self.panic_since.is_some() {
            let d = desired_stable.max(desired_panic).max(self.max_panic);
            self.max_panic = d;
            (
                d,
                Reason::SleepStabilized,
                format!("panic mode: hold at least {d} agents"),
            )
        } else {
            (
                desired_stable,
                Reason::DemandAboveCapacity,
                format!("stable-window load {stable:.1} needs {dspc} agents"),
            )
        };
        Ok(Recommendation::exactly(
            obs.clamp(desired),
            Tier::Immediate,
            reason,
            explanation,
        ))
    }

    fn reset(&mut self) {
        let defaults = Kpa::default();
        self.panic_since = defaults.panic_since;
        self.max_panic = defaults.max_panic;
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DemandHistory, FleetCounts};

    fn obs<'a>(h: &'a DemandHistory, now: i64, awake: u32) -> Observation<'a> {
        Observation {
            now: Time::from_secs(now),
            history: h,
            counts: FleetCounts {
                total: 50,
                awake,
                asleep: 50 - awake,
                ..Default::default()
            },
            capacity: 10.0,
            min_awake: 2,
            wake_latency: Duration::from_secs(30),
            consolidation: Duration::from_secs(30),
        }
    }

    #[test]
    fn starts_in_panic_then_halves_at_most() {
        let mut k = Kpa::default();
        let mut h = DemandHistory::new(Duration::from_secs(30), 100);
        h.push(Time::from_secs(0), 7.0);
        // Restart in panic: holds the 20 awake although 1 would do.
        assert_eq!(k.recommend(&obs(&h, 30, 20)).unwrap().wake_to, 20);
        // Panic ends once the stable window (60 s) has passed without a new panic.
        h.push(Time::from_secs(30), 7.0);
        k.recommend(&obs(&h, 60, 20)).unwrap();
        h.push(Time::from_secs(60), 7.0);
        h.push(Time::from_secs(90), 7.0);
        // Then scale-down is limited to half of ready per evaluation.
        assert_eq!(k.recommend(&obs(&h, 120, 20)).unwrap().wake_to, 10);
    }

    #[test]
    fn burst_enters_panic_and_scales_up() {
        let mut k = Kpa::default();
        let mut h = DemandHistory::new(Duration::from_secs(2), 100);
        for i in 0..40 {
            h.push(Time::from_secs(i * 2), 14.0);
        }
        assert_eq!(k.recommend(&obs(&h, 80, 1)).unwrap().wake_to, 2);
        // Load jumps to 140 in the panic window: 20 agents wanted, 10× ready → panic.
        for i in 40..43 {
            h.push(Time::from_secs(i * 2), 140.0);
        }
        let r = k.recommend(&obs(&h, 86, 2)).unwrap();
        assert_eq!(r.wake_to, 20);
        assert!(r.explanation.contains("panic"));
    }
}
