//! MSTL: multiple seasonal-trend decomposition by loess (Bandara, Hyndman & Bergmeir 2021), with a
//! pluggable model for the seasonally adjusted series.
//!
//! Own implementation on the crate's STL (not `augurs-mstl`): it keeps the dependency tree to
//! nothing, and lets any [`Model`] forecast the adjusted series (AR by default; AutoETS/AutoARIMA
//! once available). Each seasonal component is forecast by repeating its last cycle.

use std::sync::Arc;

use crate::intervals::check_history;
use crate::stl::{INNER_PASSES, stl};
use crate::{Fitted, Forecast, ForecastError, Model};

/// MSTL decomposition + `adjusted` model; see the module docs.
#[derive(Clone)]
pub struct Mstl {
    adjusted: Arc<dyn Model>,
    iterations: usize,
}

impl Mstl {
    /// MSTL whose seasonally adjusted series is forecast by `adjusted`, with the paper's two
    /// refinement iterations.
    pub fn new(adjusted: Arc<dyn Model>) -> Self {
        Self {
            adjusted,
            iterations: 2,
        }
    }
}

/// Seasonal components (one per period, ascending) and the seasonally adjusted series.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiDecomposition {
    /// `(period, component)` pairs.
    pub seasonals: Vec<(usize, Vec<f64>)>,
    /// `y` minus every seasonal component.
    pub adjusted: Vec<f64>,
}

/// Decomposes `y` on the periods that have at least two full cycles, iterating `iterations` times
/// so each seasonal component is estimated with the others removed. Seasonal smoother windows are
/// 7 + 4·i for the i-th period (i from 1), as in the MSTL paper.
pub fn decompose(y: &[f64], periods: &[usize], iterations: usize) -> MultiDecomposition {
    let mut ps: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p > 1 && 2 * p <= y.len())
        .collect();
    ps.sort_unstable();
    ps.dedup();
    let mut seasonals: Vec<Vec<f64>> = vec![vec![0.0; y.len()]; ps.len()];
    let mut deseason = y.to_vec();
    for _ in 0..iterations.max(1) {
        for (i, &p) in ps.iter().enumerate() {
            for (d, s) in deseason.iter_mut().zip(&seasonals[i]) {
                *d += s;
            }
            seasonals[i] = stl(&deseason, p, 7 + 4 * (i + 1), INNER_PASSES).seasonal;
            for (d, s) in deseason.iter_mut().zip(&seasonals[i]) {
                *d -= s;
            }
        }
    }
    MultiDecomposition {
        seasonals: ps.into_iter().zip(seasonals).collect(),
        adjusted: deseason,
    }
}

impl Model for Mstl {
    fn name(&self) -> String {
        format!("MSTL+{}", self.adjusted.name())
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        check_history(&self.name(), y, 4)?;
        let d = decompose(y, seasons, self.iterations);
        if d.seasonals.is_empty() && !seasons.is_empty() {
            let need = 2 * seasons.iter().copied().min().unwrap_or(1);
            return Err(ForecastError::TooShort {
                model: self.name(),
                got: y.len(),
                need,
            });
        }
        let inner = self.adjusted.fit(&d.adjusted, &[])?;
        let last_cycles = d
            .seasonals
            .iter()
            .map(|(p, s)| (*p, s[s.len() - p..].to_vec()))
            .collect();
        Ok(Box::new(FittedMstl {
            name: self.name(),
            inner,
            last_cycles,
        }))
    }
}

struct FittedMstl {
    name: String,
    inner: Box<dyn Fitted>,
    last_cycles: Vec<(usize, Vec<f64>)>,
}

impl Fitted for FittedMstl {
    fn describe(&self) -> String {
        let ps: Vec<String> = self
            .last_cycles
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        format!("MSTL[{}]+{}", ps.join(","), self.inner.describe())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let mut f = self.inner.forecast(h, levels)?;
        for j in 0..h {
            let s: f64 = self.last_cycles.iter().map(|(p, c)| c[j % p]).sum();
            f.mean[j] += s;
            for iv in &mut f.intervals {
                iv.lo[j] += s;
                iv.hi[j] += s;
            }
        }
        crate::intervals::ensure_finite(&self.name, &f.mean)?;
        Ok(f)
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "periods": self.last_cycles.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            "adjusted_model": self.inner.describe(),
            "adjusted_params": self.inner.params(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoreg::Autoregressive;

    #[test]
    fn forecasts_two_clean_cycles() {
        let f = |t: usize| {
            100.0 + [5.0, -5.0, 2.0, -2.0][t % 4] + if (t / 4) % 7 < 5 { 10.0 } else { -10.0 }
        };
        let y: Vec<f64> = (0..28 * 6).map(f).collect();
        let m = Mstl::new(Arc::new(Autoregressive::default()));
        let fc = m.fit(&y, &[4, 28]).unwrap().forecast(28, &[80.0]).unwrap();
        let mae: f64 = fc
            .mean
            .iter()
            .enumerate()
            .map(|(j, v)| (v - f(y.len() + j)).abs())
            .sum::<f64>()
            / 28.0;
        assert!(mae < 1.0, "mae {mae}");
    }
}
