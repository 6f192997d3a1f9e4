//! `predictive`: our policy. Provision on the forecast's upper quantile over the wake lead time,
//! never below observed need, and sleep only what the forecast says stays idle past break-even.
//!
//! target awake = max(need from observed demand now, need from the upper quantile at the wake lead
//! time, min_awake); sleeps stop at the highest upper-quantile need over the break-even window
//! (consolidation + wake), so an agent is put to sleep only when it is predicted to stay idle
//! longer than a sleep/wake cycle costs. The forecast adds capacity early and vetoes sleeps; it
//! never removes capacity that observed demand needs.

use crate::forecaster::Forecaster;
use crate::time::steps_covering;
use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier, agents_needed};

/// Forecast-driven policy.
pub struct Predictive {
    forecaster: Box<dyn Forecaster>,
    /// Utilisation each agent is planned at (the upper quantile already carries the margin).
    pub target_utilization: f64,
}

impl Predictive {
    /// A predictive policy on top of `forecaster`.
    pub fn new(forecaster: Box<dyn Forecaster>) -> Self {
        Predictive {
            forecaster,
            target_utilization: 1.0,
        }
    }
}

impl Policy for Predictive {
    fn name(&self) -> &str {
        "predictive"
    }

    fn take_fit(&mut self) -> Option<crate::FitRecord> {
        self.forecaster.take_fit()
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        let step = obs.step();
        let lead = steps_covering(obs.wake_latency, step) as usize;
        let break_even = steps_covering(obs.wake_latency + obs.consolidation, step) as usize;
        let horizon = break_even.max(lead) + 1;
        let fc = self.forecaster.forecast(obs.history, horizon)?;
        fc.validate(horizon)?;
        let need = |v: f64| agents_needed(v, obs.capacity, self.target_utilization);
        let observed = obs.history.last().map_or(0.0, |(_, v)| v);
        let immediate = need(observed);
        let at_lead = need(fc.upper[lead.min(horizon - 1)]);
        let peak = fc.upper[..horizon].iter().copied().fold(0.0, f64::max);
        let over_break_even = need(peak);
        let wake_to = obs.clamp(immediate.max(at_lead));
        let sleep_to = obs.clamp(wake_to.max(over_break_even));
        let (tier, reason) = if at_lead > immediate {
            (Tier::Predictive, Reason::PreWakeForecast)
        } else {
            (Tier::Immediate, Reason::DemandAboveCapacity)
        };
        let explanation = format!(
            "observed {observed:.1} needs {immediate}; {} upper quantile needs {at_lead} at the wake lead time and {over_break_even} over the break-even window",
            fc.model
        );
        Ok(Recommendation {
            wake_to,
            sleep_to,
            tier,
            reason,
            explanation,
        })
    }
}
