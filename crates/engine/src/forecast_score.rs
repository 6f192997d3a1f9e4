//! Scoring the forecaster live: each tick keeps the one-step-ahead forecast it could make, and
//! when that step's sample arrives its absolute error goes to `hivesched_forecast_abs_error`.
//! The same forecaster answers `GET /api/v1/forecast`.

use std::sync::Mutex;

use hivesched_policy::{DemandForecast, DemandHistory, Forecaster, Time};

use crate::lock::lock;
use crate::{EngineError, EngineMetrics};

/// The API's forecaster and the forecast waiting to be scored.
pub struct ForecastScore {
    forecaster: Mutex<Box<dyn Forecaster>>,
    pending: Mutex<Option<(Time, f64)>>,
}

impl ForecastScore {
    /// Scores (and serves) `forecaster`.
    pub fn new(forecaster: Box<dyn Forecaster>) -> Self {
        ForecastScore {
            forecaster: Mutex::new(forecaster),
            pending: Mutex::new(None),
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
            metrics.forecast_abs_error.set((actual - predicted).abs());
        }
    }
}
