//! `reactive`: Kubernetes HPA semantics on observed demand.
//!
//! desired = ceil(load / (capacity × target utilisation)); no change while the usage ratio is
//! within the tolerance (10 %); scale-down takes the highest recommendation of the last 300 s
//! (stabilisation); scale-up per 15 s period is limited to max(+100 %, +4), compounded over one
//! step.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier, Time, agents_needed};

/// HPA-like reactive policy.
#[derive(Debug, Clone)]
pub struct Reactive {
    /// Target utilisation of each agent (HPA's target metric value), 0.7 by default.
    pub target_utilization: f64,
    /// Usage-ratio tolerance around 1.0 within which nothing changes.
    pub tolerance: f64,
    /// Scale-down stabilisation window.
    pub stabilization: Duration,
    recommendations: VecDeque<(Time, u32)>,
}

impl Default for Reactive {
    fn default() -> Self {
        Reactive {
            target_utilization: 0.7,
            tolerance: 0.1,
            stabilization: Duration::from_secs(300),
            recommendations: VecDeque::new(),
        }
    }
}

/// HPA's default scale-up limit (`max(+100 %, +4 pods)` per 15 s) compounded over `step`.
fn scale_up_limit(current: u32, step: Duration, total: u32) -> u32 {
    let periods = step.as_secs().div_ceil(15).max(1);
    let mut limit = current;
    for _ in 0..periods {
        limit = limit.saturating_mul(2).max(limit.saturating_add(4));
        if limit >= total {
            return total;
        }
    }
    limit
}

impl Reactive {
    /// HPA's raw desired count before stabilisation and rate limits.
    pub fn raw_desired(&self, obs: &Observation<'_>, load: f64) -> u32 {
        let ready = obs.counts.awake;
        if ready > 0 {
            let ratio = load / (f64::from(ready) * obs.capacity * self.target_utilization);
            if (ratio - 1.0).abs() <= self.tolerance {
                return obs.current();
            }
        }
        agents_needed(load, obs.capacity, self.target_utilization)
    }
}

impl Policy for Reactive {
    fn name(&self) -> &str {
        "reactive"
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        let current = obs.current();
        let Some((_, load)) = obs.history.last() else {
            return Ok(Recommendation::exactly(
                current,
                Tier::Immediate,
                Reason::RestartHold,
                "no demand observed yet: keep the current scale".into(),
            ));
        };
        let desired = obs.clamp(self.raw_desired(obs, load));
        self.recommendations.push_back((obs.now, desired));
        let from = obs.now.minus(self.stabilization);
        while self.recommendations.len() > 1
            && self
                .recommendations
                .front()
                .is_some_and(|(t, _)| *t <= from)
        {
            self.recommendations.pop_front();
        }
        let down_cap = self
            .recommendations
            .iter()
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(desired);
        let mut stabilized = current.clamp(desired.min(down_cap), down_cap);
        let (reason, explanation);
        if stabilized > current {
            stabilized = stabilized.min(scale_up_limit(current, obs.step(), obs.counts.total));
            reason = Reason::DemandAboveCapacity;
            explanation = format!(
                "load {load:.1} needs {desired} agents at {:.0} % utilisation",
                self.target_utilization * 100.0
            );
        } else if stabilized > desired {
            reason = Reason::SleepStabilized;
            explanation = format!(
                "scale-down to {desired} held at {stabilized} by the {}s stabilisation window",
                self.stabilization.as_secs()
            );
        } else {
            reason = Reason::IdleBeyondBreakEven;
            explanation = format!("load {load:.1} needs {desired} agents");
        }
        Ok(Recommendation::exactly(
            obs.clamp(stabilized),
            Tier::Immediate,
            reason,
            explanation,
        ))
    }

    fn reset(&mut self) {
        self.recommendations.clear();
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
                total: 20,
                awake,
                asleep: 20 - awake,
                ..Default::default()
            },
            capacity: 10.0,
            min_awake: 2,
            wake_latency: Duration::from_secs(60),
            consolidation: Duration::from_secs(60),
        }
    }

    #[test]
    fn hand_computed_hpa_steps() {
        let mut p = Reactive::default();
        let mut h = DemandHistory::new(Duration::from_secs(60), 100);
        // load 70 at capacity 10 × 0.7 → 10 agents.
        h.push(Time::from_secs(0), 70.0);
        assert_eq!(p.recommend(&obs(&h, 60, 4)).unwrap().wake_to, 10);
        // Within tolerance: load 66 on 10 awake is ratio 0.943 → stay at 10.
        h.push(Time::from_secs(60), 66.0);
        assert_eq!(p.recommend(&obs(&h, 120, 10)).unwrap().wake_to, 10);
        // Load drops to 14 (→ 2 agents) but the 300 s window still holds 10.
        h.push(Time::from_secs(120), 14.0);
        let r = p.recommend(&obs(&h, 180, 10)).unwrap();
        assert_eq!((r.wake_to, r.reason), (10, Reason::SleepStabilized));
        // After the window has passed, the scale-down goes through.
        for t in [240, 300, 360, 420] {
            h.push(Time::from_secs(t - 60), 14.0);
            p.recommend(&obs(&h, t, 10)).unwrap();
        }
        h.push(Time::from_secs(420), 14.0);
        assert_eq!(p.recommend(&obs(&h, 480, 10)).unwrap().wake_to, 2);
    }

    #[test]
    fn scale_up_is_rate_limited_per_15s() {
        assert_eq!(scale_up_limit(1, Duration::from_secs(15), 100), 5);
        assert_eq!(scale_up_limit(10, Duration::from_secs(15), 100), 20);
        assert_eq!(scale_up_limit(10, Duration::from_secs(30), 100), 40);
        assert_eq!(scale_up_limit(10, Duration::from_secs(1800), 45), 45);
    }
}
