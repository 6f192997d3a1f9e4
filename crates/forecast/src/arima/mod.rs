//! Seasonal ARIMA with exact maximum likelihood and automatic order selection.
//!
//! [`Arima`] fits a given ARIMA(p,d,q)(P,D,Q)\[m\] (with optional constant/drift) by CSS-ML: the
//! conditional sum of squares for starting values, then the exact Gaussian likelihood from a
//! Kalman filter on the state-space form. [`AutoArima`] chooses `D` by seasonal strength, `d` by
//! KPSS tests and the rest by the stepwise AICc search of Hyndman & Khandakar (2008).
//! Intervals come from the psi-weights of the integrated model.
//!
//! ```
//! use hivesched_forecast::{Model, arima::AutoArima};
//! let y: Vec<f64> = (0..200).map(|t| (t as f64 * 0.3).sin() + 0.05 * t as f64).collect();
//! let fitted = AutoArima::new().non_seasonal().fit(&y, &[]).unwrap();
//! let fc = fitted.forecast(10, &[95.0]).unwrap();
//! assert!(fc.mean.iter().all(|v| v.is_finite()));
//! ```

mod auto;
mod css;
mod fit;
mod kalman;
mod least_squares;
mod order;
mod poly;
mod predict;
pub mod unitroot;

pub use auto::AutoArima;
pub use fit::{Arima, ArimaCoefficients, FittedArima, Method};
pub use order::ArimaOrder;

#[cfg(test)]
mod tests;
