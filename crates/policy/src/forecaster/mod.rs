//! The forecasting interface the planner consumes, and the built-in seasonal-naive forecaster.
//!
//! Richer models (ARIMA, ETS, MSTL, the ensemble) live in the `hivesched-forecast` crate and are
//! adapted to this trait at the edges, so the decision core stays free of model code.

mod seasonal_naive;

pub use seasonal_naive::SeasonalNaive;

use crate::{DemandHistory, ForecastFailure};

/// Forecast demand for the steps right after the newest sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DemandForecast {
    /// Point forecast for steps 1..=horizon after the newest sample.
    pub mean: Vec<f64>,
    /// Upper quantile the planner provisions on, same steps.
    pub upper: Vec<f64>,
    /// Model that produced it (for decisions and the model registry).
    pub model: String,
}

impl DemandForecast {
    /// Checks length and finiteness: a forecast that fails this counts as a breaker failure.
    pub fn validate(&self, horizon: usize) -> Result<(), ForecastFailure> {
        if self.mean.len() < horizon || self.upper.len() < horizon {
            return Err(ForecastFailure::Model(format!(
                "{} returned {} steps, {horizon} requested",
                self.model,
                self.mean.len().min(self.upper.len())
            )));
        }
        if self.mean.iter().chain(&self.upper).any(|v| !v.is_finite()) {
            return Err(ForecastFailure::NotFinite);
        }
        Ok(())
    }
}

/// A source of demand forecasts with an upper quantile.
pub trait Forecaster: Send {
    /// Forecasts the `horizon` steps after the newest sample of `history`.
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure>;
}
