//! The contract every forecasting model implements.

use std::sync::Arc;

use crate::ForecastError;

/// A prediction interval at one coverage level, e.g. 80 or 95 (percent).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Nominal coverage in percent (0 < level < 100).
    pub level: f64,
    /// Lower bound for each step ahead.
    pub lo: Vec<f64>,
    /// Upper bound for each step ahead.
    pub hi: Vec<f64>,
}

/// Point forecasts and intervals for the `h` steps after the end of the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Forecast {
    /// Point forecast (mean) for steps 1..=h.
    pub mean: Vec<f64>,
    /// One interval per requested level, in the order requested.
    pub intervals: Vec<Interval>,
}

/// A model specification that can be fitted to a history.
///
/// `seasons` are the seasonal periods in steps (e.g. `[48, 336]` for half-hourly data with daily and
/// weekly cycles); a model uses those it supports and ignores the rest.
pub trait Model: Send + Sync {
    /// Short stable name used in reports and the model registry (e.g. `"AutoARIMA"`).
    fn name(&self) -> String;
    /// Fit to `y` (oldest first, finite values, regular step).
    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError>;
    /// Fit to the cleaned `y`, with `observed` (the same steps as recorded, spikes not pulled
    /// back) for what judges forecasts against the data: the ensemble calibrates its intervals
    /// on errors against it. Models without calibration use `y` alone.
    fn fit_observed(
        &self,
        y: &[f64],
        observed: &[f64],
        seasons: &[usize],
    ) -> Result<Box<dyn Fitted>, ForecastError> {
        let _ = observed;
        self.fit(y, seasons)
    }
    /// Whether a fit searches a structure (AutoARIMA's orders, AutoETS's classes), i.e. runs many
    /// fits inside one. The ensemble hands these to its worker threads first, so the longest job
    /// does not start last and leave one thread idle while the other finishes it.
    fn searches(&self) -> bool {
        false
    }
}

/// A fitted model, ready to forecast.
pub trait Fitted: Send + Sync {
    /// Name of the fitted model including the chosen structure (e.g. `"ARIMA(0,1,1)(0,1,1)[12]"`).
    fn describe(&self) -> String;
    /// Forecast `h` steps ahead with intervals at each of `levels` (percent).
    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError>;
    /// Fitted parameters, for the model registry.
    fn params(&self) -> serde_json::Value;
    /// The model that refits the structure this fit chose (an ARIMA order, an ETS class) without
    /// searching again, or `None` when there was no search. A backtest searches at its first
    /// origin and re-estimates that structure at the later ones: the search is most of an
    /// automatic model's cost, and the structure it picks rarely changes within days.
    fn structure(&self) -> Option<Arc<dyn Model>> {
        None
    }
}
