//! Autoregression fitted by least squares: the fast default model for a seasonally adjusted
//! series inside MSTL.
//!
//! What remains after removing daily and weekly cycles is a slowly wandering level with
//! short-memory noise; an AR(p) with intercept forecasts it by decaying from the last observations
//! towards the mean. The order is chosen by AIC on a common sample (a choice *inside* one model;
//! model selection across models is by backtest, see `ensemble`). When an augmented Dickey–Fuller
//! test (Said & Dickey 1984) cannot reject a unit root at 5 %, the model is refitted on first
//! differences, so a drifting level is not pulled back to an old mean.

use crate::intervals::{check_history, ensure_finite, gaussian, residual_sd};
use crate::lstsq::NormalEquations;
use crate::{Fitted, Forecast, ForecastError, Model};

/// 5 % critical value of the Dickey–Fuller t statistic with a constant (large-sample, Fuller 1976).
const ADF_CRITICAL: f64 = -2.86;

/// When the series is differenced before the AR fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Differencing {
    /// When an ADF test cannot reject a unit root.
    Test,
    /// Always: the level of the last observation persists (an ARI(p,1) model).
    Always,
}

/// AR(p) with automatic order up to `max_order`; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autoregressive {
    /// Largest order tried.
    pub max_order: usize,
    /// Whether to difference first.
    pub differencing: Differencing,
}

impl Autoregressive {
    /// ARI(p,1): AR on first differences, for series whose level wanders.
    pub fn integrated() -> Self {
        Self {
            differencing: Differencing::Always,
            ..Self::default()
        }
    }
}

impl Default for Autoregressive {
    fn default() -> Self {
        Self {
            max_order: 6,
            differencing: Differencing::Test,
        }
    }
}

/// Coefficients and residual variance of one AR fit.
#[derive(Debug, Clone)]
struct ArFit {
    intercept: f64,
    phi: Vec<f64>,
    sigma: f64,
    aic: f64,
}

/// Normal equations of the AR(`max_order`) design on `x[skip..]` targets (intercept column
/// first when `intercept`); the design of every lower order is a leading block of it
/// ([`NormalEquations::leading`]).
fn ar_equations(x: &[f64], max_order: usize, skip: usize, intercept: bool) -> NormalEquations {
    let width = max_order + usize::from(intercept);
    let mut ne = NormalEquations::new(width);
    let mut row = vec![0.0; width];
    for t in skip..x.len() {
        row.clear();
        if intercept {
            row.push(1.0);
        }
        row.extend((1..=max_order).map(|i| x[t - i]));
        ne.add_row(&row, x[t]);
    }
    ne
}

/// Least-squares AR(p) on `x[skip..]` targets (so fits of different orders share a sample), from
/// the normal equations `all` of an order ≥ p on the same sample ([`ar_equations`]).
fn fit_ar(
    x: &[f64],
    all: &NormalEquations,
    p: usize,
    skip: usize,
    intercept: bool,
) -> Result<ArFit, ForecastError> {
    let width = p + usize::from(intercept);
    let beta = all.leading(width).solve(1e-9)?;
    let (c, phi) = if intercept {
        (beta[0], beta[1..].to_vec())
    } else {
        (0.0, beta)
    };
    let residuals: Vec<f64> = (skip..x.len())
        .map(|t| {
            x[t] - c
                - phi
                    .iter()
                    .enumerate()
                    .map(|(i, f)| f * x[t - i - 1])
                    .sum::<f64>()
        })
        .collect();
    let m = residuals.len() as f64;
    let sigma = residual_sd(&residuals, width);
    let sse = residuals
        .iter()
        .map(|r| r * r)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    Ok(ArFit {
        intercept: c,
        phi,
        sigma,
        aic: m * (sse / m).ln() + 2.0 * width as f64,
    })
}

/// Augmented Dickey–Fuller t statistic of γ in Δy_t = c + γ·y_{t−1} + Σ δ_i·Δy_{t−i} + e.
fn adf_statistic(y: &[f64], lags: usize) -> Result<f64, ForecastError> {
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let width = 2 + lags;
    let mut ne = NormalEquations::new(width);
    let mut row = Vec::with_capacity(width);
    for t in lags..d.len() {
        row.clear();
        row.push(1.0);
        row.push(y[t]);
        row.extend((1..=lags).map(|i| d[t - i]));
        ne.add_row(&row, d[t]);
    }
    let sol = ne.solve_full(1e-12)?;
    let residuals: Vec<f64> = (lags..d.len())
        .map(|t| {
            let x = std::iter::once(1.0)
                .chain(std::iter::once(y[t]))
                .chain((1..=lags).map(|i| d[t - i]));
            d[t] - x.zip(&sol.beta).map(|(a, b)| a * b).sum::<f64>()
        })
        .collect();
    let s2 = residual_sd(&residuals, width).powi(2);
    let se = (s2 * sol.inverse_diagonal(1)).sqrt();
    Ok(if se > 0.0 {
        sol.beta[1] / se
    } else {
        f64::NEG_INFINITY
    })
}

/// Best-AIC AR fit of order 1..=max_order on a common sample.
fn best_ar(x: &[f64], max_order: usize, intercept: bool) -> Result<ArFit, ForecastError> {
    let max_order = max_order.min(x.len().saturating_sub(3) / 3).max(1);
    // One pass over the data for every order: this was a fifth of a short series' forecast
    // (six separate accumulations per AR fit, two AR fits per MSTL candidate and cut).
    let all = ar_equations(x, max_order, max_order, intercept);
    let mut best: Option<ArFit> = None;
    let mut last_err = None;
    for p in 1..=max_order {
        match fit_ar(x, &all, p, max_order, intercept) {
            Ok(f) if best.as_ref().is_none_or(|b| f.aic < b.aic) => best = Some(f),
            Ok(_) => {}
            Err(e) => last_err = Some(e),
        }
    }
    best.ok_or_else(|| last_err.unwrap_or(ForecastError::InvalidInput("no AR order fits".into())))
}

impl Model for Autoregressive {
    fn name(&self) -> String {
        match self.differencing {
            Differencing::Test => "AR".into(),
            Differencing::Always => "ARI".into(),
        }
    }

    fn fit(&self, y: &[f64], _seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        check_history(&self.name(), y, 8)?;
        // The levels fit only serves the unit-root test (its order sets the test's lags), so
        // ARI, which always differences, skips both.
        let levels = match self.differencing {
            Differencing::Always => None,
            Differencing::Test => {
                let levels = best_ar(y, self.max_order, true)?;
                let unit_root =
                    adf_statistic(y, levels.phi.len().saturating_sub(1))? > ADF_CRITICAL;
                (!unit_root).then_some(levels)
            }
        };
        let integrated = levels.is_none();
        let (fit, tail) = match levels {
            Some(levels) => (levels, y.to_vec()),
            None => {
                let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
                (best_ar(&d, self.max_order, false)?, d)
            }
        };
        let keep = fit.phi.len();
        Ok(Box::new(FittedAr {
            tail: tail[tail.len() - keep..].to_vec(),
            last: y[y.len() - 1],
            fit,
            integrated,
        }))
    }
}

struct FittedAr {
    fit: ArFit,
    integrated: bool,
    tail: Vec<f64>,
    last: f64,
}

impl Fitted for FittedAr {
    fn describe(&self) -> String {
        format!(
            "AR({}{})",
            self.fit.phi.len(),
            if self.integrated { ",d=1" } else { "" }
        )
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let p = self.fit.phi.len();
        let mut hist = self.tail.clone();
        for _ in 0..h {
            let t = hist.len();
            let v = self.fit.intercept
                + (0..p)
                    .map(|i| self.fit.phi[i] * hist[t - 1 - i])
                    .sum::<f64>();
            hist.push(v);
        }
        let mut path = hist[p..].to_vec();
        // ψ-weights of the MA(∞) form give the h-step error variance.
        let mut psi = vec![1.0; h];
        for j in 1..h {
            psi[j] = (1..=p.min(j))
                .map(|i| self.fit.phi[i - 1] * psi[j - i])
                .sum();
        }
        if self.integrated {
            let mut level = self.last;
            for v in &mut path {
                level += *v;
                *v = level;
            }
            for j in 1..h {
                psi[j] += psi[j - 1];
            }
        }
        let mut acc = 0.0;
        let sd: Vec<f64> = psi
            .iter()
            .map(|w| {
                acc += w * w;
                self.fit.sigma * acc.sqrt()
            })
            .collect();
        ensure_finite("AR", &path)?;
        ensure_finite("AR", &sd)?;
        Ok(Forecast {
            intervals: gaussian(&path, &sd, levels)?,
            mean: path,
        })
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "intercept": self.fit.intercept, "phi": self.fit.phi, "sigma": self.fit.sigma,
            "integrated": self.integrated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_ar1_and_decays_to_mean() {
        // Deterministic pseudo-noise driving x_t = 10 + 0.7 (x_{t-1} - 10) + e_t.
        let e = crate::stats::test_noise(3, 2000);
        let mut x = vec![10.0];
        for t in 1..2000 {
            x.push(10.0 + 0.7 * (x[t - 1] - 10.0) + 0.5 * e[t]);
        }
        let fitted = Autoregressive::default().fit(&x, &[]).unwrap();
        let f = fitted.forecast(200, &[95.0]).unwrap();
        assert!((f.mean[199] - 10.0).abs() < 0.1, "{}", f.mean[199]);
        let iv = &f.intervals[0];
        assert!(iv.hi[0] - iv.lo[0] < iv.hi[199] - iv.lo[199]);
    }

    #[test]
    fn random_walk_is_differenced() {
        let e = crate::stats::test_noise(1, 500);
        let mut x = vec![0.0];
        for t in 1..500 {
            x.push(x[t - 1] + e[t]);
        }
        let fitted = Autoregressive::default().fit(&x, &[]).unwrap();
        assert!(fitted.describe().contains("d=1"), "{}", fitted.describe());
    }
}
