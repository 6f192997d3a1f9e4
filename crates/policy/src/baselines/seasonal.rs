//! `seasonal-naive`: the max of a same-time-last-week forecast over the wake lead time and the
//! `reactive` (HPA-like) count. It separates "forecasting helps" from "our forecaster helps".

use std::time::Duration;

use super::Reactive;
use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier, agents_needed};

const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// Seasonal-naive predictive baseline combined with HPA-like reactive scaling.
#[derive(Debug, Clone, Default)]
pub struct SeasonalReactive {
    reactive: Reactive,
}

impl Policy for SeasonalReactive {
    fn name(&self) -> &str {
        "seasonal-naive"
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        let reactive = self.reactive.recommend(obs)?;
        let step = obs.step().max(Duration::from_millis(1));
        let lead_steps = obs.wake_latency.as_millis().div_ceil(step.as_millis()) as u32;
        let last_week = (0..=lead_steps)
            .filter_map(|k| obs.history.value_at(obs.now.plus(step * k).minus(WEEK)))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let Some(peak) = last_week else {
            return Ok(reactive);
        };
        let forecast_need = obs.clamp(agents_needed(
            peak,
            obs.capacity,
            self.reactive.target_utilization,
        ));
        if forecast_need > reactive.wake_to {
            Ok(Recommendation::exactly(
                forecast_need,
                Tier::Predictive,
                Reason::PreWakeForecast,
                format!(
                    "same time last week peaked at {peak:.1} within the wake lead time: {forecast_need} agents"
                ),
            ))
        } else {
            Ok(reactive)
        }
    }

    fn reset(&mut self) {
        self.reactive.reset();
    }
}
