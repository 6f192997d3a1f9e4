//! Exponential smoothing in the ETS state-space framework of Hyndman, Koehler, Ord & Snyder (2008),
//! *Forecasting with Exponential Smoothing*.
//!
//! Error additive or multiplicative, trend none/additive/damped, season none/additive/multiplicative;
//! parameters and initial states fitted by maximum likelihood, [`AutoEts`] chooses the structure by
//! AICc. Seasonal models are supported (the reason this module exists: `augurs-ets` has none).
//!
//! ```
//! use hivesched_forecast::{Model, ets::AutoEts};
//! let y: Vec<f64> = (0..96).map(|t| 10.0 + (t % 12) as f64 + 0.1 * t as f64).collect();
//! let fitted = AutoEts::new().fit(&y, &[12]).unwrap();
//! let fc = fitted.forecast(12, &[80.0, 95.0]).unwrap();
//! assert_eq!(fc.mean.len(), 12);
//! ```

mod auto;
mod fit;
pub(crate) mod gauss;
mod init;
pub(crate) mod optim;
mod predict;
mod recursion;
mod spec;

pub use auto::AutoEts;
pub use fit::{Ets, EtsParams, FittedEts};
pub(crate) use init::centred_moving_average;
pub use spec::{ErrorType, EtsSpec, SeasonType, TrendType};

/// Longest seasonal period whose initial seasonal states are optimised by default; beyond it they
/// stay at the decomposition heuristic (each state is one more dimension for the simplex search).
pub const DEFAULT_MAX_OPTIMISED_PERIOD: usize = 24;

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;
