//! The interface every scaling policy implements, ours and the baselines alike.
//!
//! A policy only says how many agents it wants awake; choosing which agents, the rails and the
//! safety behaviours are shared by all policies, so comparisons between them are fair.

use std::time::Duration;

use crate::{DemandHistory, FleetCounts, PolicyError, Reason, Tier, Time};

/// What a policy may look at when it decides.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The injected clock.
    pub now: Time,
    /// Demand observed up to (not including) now.
    pub history: &'a DemandHistory,
    /// Fleet counts before this tick's actions.
    pub counts: FleetCounts,
    /// Demand one awake agent serves per step.
    pub capacity: f64,
    /// Floor of awake agents.
    pub min_awake: u32,
    /// How long a wake takes.
    pub wake_latency: Duration,
    /// How long checkpoint plus consolidation take.
    pub consolidation: Duration,
}

impl Observation<'_> {
    /// Length of one step (the history's sampling step).
    pub fn step(&self) -> Duration {
        self.history.step()
    }

    /// Agents that count as the current scale: awake plus already waking.
    pub fn current(&self) -> u32 {
        self.counts.awake + self.counts.waking
    }

    /// Clamps a desired count into `[min_awake, fleet size]`.
    pub fn clamp(&self, n: u32) -> u32 {
        n.max(self.min_awake).min(self.counts.total)
    }
}

/// How many agents a policy wants awake.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// Wake agents until this many are awake or waking.
    pub wake_to: u32,
    /// Sleep agents only down to this many awake (`>= wake_to`; higher means "keep, a peak is
    /// coming within the break-even time").
    pub sleep_to: u32,
    /// Tier whose need set the count.
    pub tier: Tier,
    /// Main reason for the count.
    pub reason: Reason,
    /// One human sentence.
    pub explanation: String,
}

impl Recommendation {
    /// A recommendation that wants exactly `n` awake, both ways.
    pub fn exactly(n: u32, tier: Tier, reason: Reason, explanation: String) -> Self {
        Recommendation {
            wake_to: n,
            sleep_to: n,
            tier,
            reason,
            explanation,
        }
    }
}

/// A scaling policy: ours (`predictive`) or a baseline.
pub trait Policy: Send {
    /// Stable name used on the command line and in reports.
    fn name(&self) -> &str;
    /// Decides how many agents should be awake.
    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError>;
    /// Forgets in-memory state, as a process restart would.
    fn reset(&mut self) {}
    /// The record of a model fitted since the last call, for policies that forecast
    /// ([`crate::Forecaster::take_fit`]).
    fn take_fit(&mut self) -> Option<crate::FitRecord> {
        None
    }
}

/// Agents needed to serve `demand` at `utilization` of each agent's `capacity`.
pub fn agents_needed(demand: f64, capacity: f64, utilization: f64) -> u32 {
    let per_agent = capacity * utilization;
    if !(demand.is_finite() && per_agent > 0.0) || demand <= 0.0 {
        return 0;
    }
    let n = (demand / per_agent - 1e-9).ceil();
    if n >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        n as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_agents_round_up() {
        assert_eq!(agents_needed(0.0, 10.0, 1.0), 0);
        assert_eq!(agents_needed(10.0, 10.0, 1.0), 1);
        assert_eq!(agents_needed(10.5, 10.0, 1.0), 2);
        assert_eq!(agents_needed(7.0, 10.0, 0.7), 1);
        assert_eq!(agents_needed(f64::NAN, 10.0, 1.0), 0);
        assert_eq!(agents_needed(1e300, 1.0, 1.0), u32::MAX);
    }
}
