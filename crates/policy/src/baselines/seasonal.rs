//! `seasonal-naive` (the name of its forecast, kept because reports and outside checks use it):
//! forecast-plus-reactive scaling, wake_to = max(the `reactive` (HPA-like) count, the need of the
//! highest demand of the same time last week over the wake lead time). That is the shape of AWS
//! predictive scaling in forecast-and-scale mode next to a target-tracking policy: capacity is the
//! higher of the two, the forecast only adds capacity ahead of time (its scheduling buffer is our
//! wake latency) and scale-in is left to the reactive side. Unlike AWS it forecasts with a plain
//! one-week lag instead of a model fitted on 14 days, and re-plans every step instead of hourly.
//! It separates "forecasting helps" from "our forecaster helps".

use std::time::Duration;

use super::Reactive;
use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier, agents_needed};

const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// Forecast-plus-reactive baseline: max(HPA-like reactive, last week's peak over the wake lead time).
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
