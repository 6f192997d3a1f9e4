//! Scoring the forecaster live: each tick keeps the one-step-ahead forecast it could make, and
//! when that step's sample arrives its absolute error goes to `hivesched_forecast_abs_error`.
//! The same forecaster answers `GET /api/v1/forecast`.

use std::sync::Mutex;

use hivesched_policy::{DemandForecast, DemandHistory, Forecaster, Time};

use crate::lock::lock;
use crate::{EngineError, EngineMetrics};

/// Scored forecasts the rolling error is taken over: with one-minute demand, the last hour.
const ROLLING: usize = 60;

/// The API's forecaster, the forecast waiting to be scored, and the recent scores.
pub struct ForecastScore {
    forecaster: Mutex<Box<dyn Forecaster>>,
    pending: Mutex<Option<(Time, f64)>>,
    /// `(absolute error, actual)` of the latest scored forecasts, oldest first.
    recent: Mutex<std::collections::VecDeque<(f64, f64)>>,
}

impl ForecastScore {
    /// Scores (and serves) `forecaster`.
    pub fn new(forecaster: Box<dyn Forecaster>) -> Self {
        ForecastScore {
            forecaster: Mutex::new(forecaster),
            pending: Mutex::new(None),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(ROLLING)),
        }
    }

    /// Forecasts the `horizon` demand steps after the newest sample of `history`.
    pub fn forecast(
        &self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, EngineError> {
        let forecast = lock(&self.forecaster).forecast(history, horizon)?;
        forecast.validate(horizon)?;
        Ok(forecast)
    }

    /// Keeps the one-step-ahead forecast made now, to score it when the sample arrives.
    pub fn remember(&self, history: &DemandHistory, now: Time) {
        let Some((last, _)) = history.last() else {
            return;
        };
        if let Ok(f) = lock(&self.forecaster).forecast(history, 1) {
            let next = last.plus(history.step());
            if let Some(mean) = f.mean.first() {
                *lock(&self.pending) = Some((next.max(now.minus(history.step())), *mean));
            }
        }
    }

    /// Scores the kept forecast once `history` holds the sample it was for.
    pub fn score(&self, history: &DemandHistory, metrics: &EngineMetrics) {
        let pending = *lock(&self.pending);
        if let Some((at, predicted)) = pending
            && let Some(actual) = history.value_at(at)
        {
            let error = (actual - predicted).abs();
            metrics.forecast_abs_error.set(error);
            let mut recent = lock(&self.recent);
            // The same step is scored once, however many ticks pass before the next sample.
            if recent.back() != Some(&(error, actual)) {
                if recent.len() == ROLLING {
                    recent.pop_front();
                }
                recent.push_back((error, actual));
            }
        }
    }

    /// The rolling error relative to demand (sum of absolute errors over the sum of actuals) of
    /// the latest scored forecasts; `None` before ten are scored or when demand was zero.
    pub fn rolling_relative_error(&self) -> Option<f64> {
        let recent = lock(&self.recent);
        if recent.len() < 10 {
            return None;
        }
        let (errors, actuals) = recent
            .iter()
            .fold((0.0, 0.0), |(e, a), (err, act)| (e + err, a + act));
        (actuals > 0.0).then(|| errors / actuals)
    }
}
