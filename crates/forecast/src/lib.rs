//! Pure, deterministic time-series forecasting for demand prediction.
//!
//! Every model fits on a plain `&[f64]` history at a regular step and returns point forecasts
//! with prediction intervals. Nothing here does I/O or reads a clock: the scheduler, the
//! simulator and the CLI feed it data and decide what to do with the result.
//!
//! Layout: input repair ([`clean`]), period detection ([`season`]), models ([`naive`],
//! [`regression`], [`autoreg`], [`mstl`] on [`stl`]/[`loess`], plus [`ets`] and [`arima`]),
//! the backtest-weighted [`ensemble`], accuracy [`metrics`] and rolling-origin [`backtest`]s,
//! the [`pipeline`] that the CLI runs, and the [`forecaster`] that puts the ensemble behind the
//! planner's `Forecaster` trait (refitted on a schedule) for the simulator and the engine.

pub mod arima;
pub mod autoreg;
pub mod backtest;
pub mod calibration;
pub mod candidates;
pub mod catalog;
pub mod choice;
pub mod clean;
pub mod ensemble;
pub mod error;
pub mod ets;
mod fft;
pub mod forecaster;
pub mod intervals;
pub mod loess;
mod lstsq;
pub mod metrics;
pub mod model;
pub mod mstl;
pub mod naive;
pub mod pipeline;
pub mod regression;
pub mod season;
pub mod shift_risk;
pub mod stats;
pub mod stl;

pub use choice::ForecasterChoice;
pub use ensemble::{Ensemble, FittedEnsemble};
pub use error::ForecastError;
pub use forecaster::{EnsembleConfig, EnsembleFit, EnsembleForecaster};
pub use model::{Fitted, Forecast, Interval, Model};
pub use pipeline::{Prepared, SeasonSpec};
