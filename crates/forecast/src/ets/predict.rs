//! Point forecasts and prediction intervals of a fitted ETS model (Hyndman et al. 2008, ch. 6).
//!
//! Point forecasts run the recursions with zero errors. Intervals: for the linear class (additive
//! error, no multiplicative season) the variance is exact, `σ²(1 + Σ_{j<h} c_j²)` with
//! `c_j = α + βφ_j + γ·[j ≡ 0 mod m]` and `φ_j = φ + … + φ^j`; for every other class they are
//! quantiles of sample paths simulated from the fitted model with a fixed seed, so the same fit
//! always gives the same intervals.

use super::fit::FittedEts;
use super::gauss::{NormalRng, interval_multiplier, sorted_quantile};
use super::recursion::{one_step, update};
use super::spec::{ErrorType, SeasonType, TrendType};
use crate::{Fitted, Forecast, ForecastError, Interval};

/// Seed of the sample-path simulation (fixed: forecasts are deterministic).
const SIMULATION_SEED: u64 = 0x05EE_DE75;

impl FittedEts {
    fn cumulative_damping(&self, h: usize) -> f64 {
        match self.spec.trend {
            TrendType::None => 0.0,
            TrendType::Additive => h as f64,
            TrendType::Damped => {
                let phi = self.smoothing.phi;
                (1..=h).map(|i| phi.powi(i as i32)).sum()
            }
        }
    }

    fn point_forecasts(&self, h: usize) -> Vec<f64> {
        let st = &self.last;
        (1..=h)
            .map(|k| {
                let q = st.level + self.cumulative_damping(k) * st.trend;
                let phase = (self.n + k - 1) % self.period;
                match self.spec.season {
                    SeasonType::None => q,
                    SeasonType::Additive => q + st.season[phase],
                    SeasonType::Multiplicative => q * st.season[phase],
                }
            })
            .collect()
    }

    fn analytic_sd(&self, h: usize) -> Vec<f64> {
        let p = &self.smoothing;
        let mut acc = 1.0;
        (1..=h)
            .map(|k| {
                let sd = (self.sigma2 * acc).sqrt();
                let seasonal = self.spec.has_season() && k % self.period == 0;
                let c = p.alpha
                    + if self.spec.has_trend() {
                        p.beta * self.cumulative_damping(k)
                    } else {
                        0.0
                    }
                    + if seasonal { p.gamma } else { 0.0 };
                acc += c * c;
                sd
            })
            .collect()
    }

    /// Simulated future paths, sorted, one `Vec` per step ahead; `None` when fewer than a tenth of
    /// the paths stay admissible.
    fn simulate(&self, h: usize) -> Option<Vec<Vec<f64>>> {
        let mut rng = NormalRng::new(SIMULATION_SEED);
        let sd = self.sigma2.sqrt();
        let mut by_step = vec![Vec::with_capacity(self.simulation_paths); h];
        let mut path = Vec::with_capacity(h);
        for _ in 0..self.simulation_paths {
            let mut st = self.last.clone();
            path.clear();
            for k in 0..h {
                let phase = (self.n + k) % self.period;
                let Some((q, mu)) = one_step(self.spec, &self.smoothing, &st, phase) else {
                    break;
                };
                let e = sd * rng.next();
                let y = match self.spec.error {
                    ErrorType::Additive => mu + e,
                    ErrorType::Multiplicative => mu * (1.0 + e),
                };
                update(self.spec, &self.smoothing, &mut st, phase, y, q, mu);
                if !y.is_finite() {
                    break;
                }
                path.push(y);
            }
            if path.len() == h {
                for (slot, &v) in by_step.iter_mut().zip(&path) {
                    slot.push(v);
                }
            }
        }
        if by_step
            .first()
            .is_some_and(|s| s.len() < self.simulation_paths / 10)
        {
            return None;
        }
        for s in &mut by_step {
            s.sort_by(f64::total_cmp);
        }
        Some(by_step)
    }
}

impl Fitted for FittedEts {
    /// Non-seasonal classes only: a seasonal refit would also need the search's
    /// optimised-period limit, which the fit does not keep. The refit starts its simplex at this
    /// fit's optimum (a warm start: a backtest's next cut adds a few steps to the same history).
    fn structure(&self) -> Option<std::sync::Arc<dyn crate::Model>> {
        let x = self.search_vector()?;
        Some(std::sync::Arc::new(
            super::Ets::new(self.spec).starting_at(x),
        ))
    }

    fn describe(&self) -> String {
        if self.spec.has_season() {
            format!("{}[{}]", self.spec, self.period)
        } else {
            self.spec.to_string()
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 100.0)) {
            return Err(ForecastError::InvalidInput(format!(
                "interval level {l} not in (0, 100)"
            )));
        }
        let mean = self.point_forecasts(h);
        let intervals = if levels.is_empty() {
            Vec::new()
        } else if self.spec.is_linear() {
            let sd = self.analytic_sd(h);
            levels
                .iter()
                .map(|&level| {
                    let z = interval_multiplier(level);
                    Interval {
                        level,
                        lo: mean.iter().zip(&sd).map(|(m, s)| m - z * s).collect(),
                        hi: mean.iter().zip(&sd).map(|(m, s)| m + z * s).collect(),
                    }
                })
                .collect()
        } else if let Some(paths) = self.simulate(h) {
            levels
                .iter()
                .map(|&level| {
                    let tail = (1.0 - level / 100.0) / 2.0;
                    Interval {
                        level,
                        lo: paths.iter().map(|s| sorted_quantile(s, tail)).collect(),
                        hi: paths
                            .iter()
                            .map(|s| sorted_quantile(s, 1.0 - tail))
                            .collect(),
                    }
                })
                .collect()
        } else {
            // The error is so large that most paths turn non-positive: fall back to the linear
            // variance on the relative scale (an approximation, but finite and monotone).
            let sd = self.analytic_sd(h);
            levels
                .iter()
                .map(|&level| {
                    let z = interval_multiplier(level);
                    let half = |m: &f64, s: &f64| z * s * m.abs();
                    Interval {
                        level,
                        lo: mean.iter().zip(&sd).map(|(m, s)| m - half(m, s)).collect(),
                        hi: mean.iter().zip(&sd).map(|(m, s)| m + half(m, s)).collect(),
                    }
                })
                .collect()
        };
        let fc = Forecast { mean, intervals };
        let finite = fc.mean.iter().all(|v| v.is_finite())
            && fc
                .intervals
                .iter()
                .all(|i| i.lo.iter().chain(&i.hi).all(|v| v.is_finite()));
        if !finite {
            return Err(ForecastError::FitFailed {
                model: self.describe(),
                reason: "forecast overflowed".into(),
            });
        }
        Ok(fc)
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.describe(),
            "params": self.parameters(),
            "sigma2": self.sigma2,
            "loglik": self.loglik,
            "aicc": self.aicc(),
        })
    }
}
