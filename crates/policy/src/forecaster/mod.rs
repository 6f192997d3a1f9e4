//! The forecasting interface the planner consumes, and the built-in seasonal-naive forecaster.
//!
//! Richer models (ARIMA, ETS, MSTL, the ensemble) live in the `hivesched-forecast` crate and are
//! adapted to this trait at the edges, so the decision core stays free of model code.

mod seasonal_naive;

pub use seasonal_naive::SeasonalNaive;

use std::sync::Arc;

use crate::{DemandHistory, ForecastFailure, Time};

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

/// A fitted model as the model registry keeps it: which model, fitted when, with what
/// parameters, and how accurate its backtests measured it. Forecasters that fit on a schedule
/// (the ensemble) hand one over per fit, so the service can store every model it planned on.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRecord {
    /// Time of the newest sample the fit saw: the registry's time of the fit.
    pub fitted_at: Time,
    /// Registry name of the model, e.g. `Ensemble`.
    pub model: String,
    /// Fitted structure and parameters.
    pub parameters: serde_json::Value,
    /// Measured accuracy (backtest errors of every candidate).
    pub accuracy: serde_json::Value,
}

/// Makes a fresh forecaster: the simulator builds one per run, the engine one per start.
pub type ForecasterFactory = Arc<dyn Fn() -> Box<dyn Forecaster> + Send + Sync>;

/// A source of demand forecasts with an upper quantile.
pub trait Forecaster: Send {
    /// Forecasts the `horizon` steps after the newest sample of `history`.
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure>;

    /// The record of the newest fit not yet taken, handed over once; `None` when nothing was
    /// fitted since the last call (and always for forecasters without a fit, like seasonal naive).
    fn take_fit(&mut self) -> Option<FitRecord> {
        None
    }
}
