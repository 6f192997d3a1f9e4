//! Building prediction intervals: Gaussian ones from a model's own error model, and checks
//! shared by every model so bad levels are refused the same way everywhere.

use crate::stats::normal_quantile;
use crate::{ForecastError, Interval};

/// Refuses levels outside (0, 100) or non-finite, so no model returns a meaningless interval.
pub fn check_levels(levels: &[f64]) -> Result<(), ForecastError> {
    match levels
        .iter()
        .find(|l| !(l.is_finite() && **l > 0.0 && **l < 100.0))
    {
        Some(l) => Err(ForecastError::InvalidInput(format!(
            "interval level {l} is not in (0, 100)"
        ))),
        None => Ok(()),
    }
}

/// Symmetric normal intervals `mean ± z·sd` at each level (percent); an error if any bound is
/// not finite, so an overflowing error model becomes a fallback rather than an infinite interval.
pub fn gaussian(mean: &[f64], sd: &[f64], levels: &[f64]) -> Result<Vec<Interval>, ForecastError> {
    check_levels(levels)?;
    let intervals: Vec<Interval> = levels
        .iter()
        .map(|&level| {
            let z = normal_quantile(0.5 + level / 200.0);
            Interval {
                level,
                lo: mean.iter().zip(sd).map(|(m, s)| m - z * s).collect(),
                hi: mean.iter().zip(sd).map(|(m, s)| m + z * s).collect(),
            }
        })
        .collect();
    for iv in &intervals {
        ensure_finite("interval", &iv.lo)?;
        ensure_finite("interval", &iv.hi)?;
    }
    Ok(intervals)
}

/// Fails with `FitFailed` unless every number is finite: models call this on their output so a
/// numerical blow-up becomes a fallback, never a NaN in a forecast.
pub fn ensure_finite(model: &str, values: &[f64]) -> Result<(), ForecastError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(ForecastError::FitFailed {
            model: model.into(),
            reason: "non-finite forecast".into(),
        })
    }
}

/// Standard deviation of residuals with `dof` fitted parameters (0 when there are too few).
pub fn residual_sd(residuals: &[f64], dof: usize) -> f64 {
    let n = residuals.len();
    if n <= dof {
        return 0.0;
    }
    (residuals.iter().map(|r| r * r).sum::<f64>() / (n - dof) as f64).sqrt()
}

/// Validates a history before fitting: non-empty and all finite.
pub fn check_history(model: &str, y: &[f64], need: usize) -> Result<(), ForecastError> {
    if y.len() < need.max(1) {
        return Err(ForecastError::TooShort {
            model: model.into(),
            got: y.len(),
            need: need.max(1),
        });
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::InvalidInput(
            "history contains a non-finite value".into(),
        ));
    }
    Ok(())
}
