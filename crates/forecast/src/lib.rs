//! Pure, deterministic time-series forecasting for demand prediction.
//!
//! Every model fits on a plain `&[f64]` history at a regular step and returns point forecasts
//! with prediction intervals. Nothing here does I/O or reads a clock: the scheduler, the
//! simulator and the CLI feed it data and decide what to do with the result.

pub mod arima;
pub mod error;
pub mod ets;
pub mod model;

pub use error::ForecastError;
pub use model::{Fitted, Forecast, Interval, Model};
