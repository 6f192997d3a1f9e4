//! Linear regression on a trend and Fourier terms for each season, plus day-of-week dummies when
//! a weekly season sits on top of a daily one.
//!
//! Dynamic harmonic regression (Hyndman & Athanasopoulos, FPP §12.1) captures long seasons, where a
//! seasonal-naive repeat is noisy, with a handful of coefficients. Fitting uses the crate's own
//! normal-equation solver on the most recent window only, so old regimes do not dominate.

use crate::intervals::{check_history, ensure_finite, gaussian, residual_sd};
use crate::lstsq::NormalEquations;
use crate::{Fitted, Forecast, ForecastError, Model};
use std::f64::consts::PI;

/// Trend + Fourier (+ day-of-week) regression; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct FourierRegression {
    /// Harmonic pairs for the shortest season (capped at period/2).
    pub short_harmonics: usize,
    /// Harmonic pairs for each longer season.
    pub long_harmonics: usize,
    /// Fit window in cycles of the longest season (and at least this many weeks of the shortest).
    pub window_cycles: usize,
}

impl Default for FourierRegression {
    fn default() -> Self {
        Self {
            short_harmonics: 10,
            long_harmonics: 6,
            window_cycles: 4,
        }
    }
}

/// Column layout shared by fitting and forecasting.
#[derive(Debug, Clone)]
struct Design {
    /// (period, harmonics) per season.
    terms: Vec<(usize, usize)>,
    /// Day length in steps when day-of-week dummies are used.
    day: Option<usize>,
    /// Trend origin and scale.
    t0: f64,
    scale: f64,
}

impl Design {
    fn width(&self) -> usize {
        2 + self.terms.iter().map(|(_, k)| 2 * k).sum::<usize>()
            + if self.day.is_some() { 6 } else { 0 }
    }

    fn row(&self, t: usize, out: &mut Vec<f64>) {
        out.clear();
        out.push(1.0);
        out.push((t as f64 - self.t0) / self.scale);
        for &(p, k) in &self.terms {
            // Harmonic j by the angle-addition recurrence from harmonic 1: one sin_cos per
            // season instead of one per harmonic (sin and cos were a tenth of a forecast's time).
            let (s1, c1) = (2.0 * PI * (t % p) as f64 / p as f64).sin_cos();
            let (mut s, mut c) = (s1, c1);
            for _ in 0..k {
                out.push(s);
                out.push(c);
                (s, c) = (s * c1 + c * s1, c * c1 - s * s1);
            }
        }
        if let Some(d) = self.day {
            let dow = (t / d) % 7;
            out.extend((1..7).map(|k| if dow == k { 1.0 } else { 0.0 }));
        }
    }
}

impl Model for FourierRegression {
    fn name(&self) -> String {
        "Regression".into()
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        let mut periods: Vec<usize> = seasons
            .iter()
            .copied()
            .filter(|&p| p > 1 && 2 * p <= y.len())
            .collect();
        periods.sort_unstable();
        periods.dedup();
        let shortest = periods.first().copied().unwrap_or(1);
        let longest = periods.last().copied().unwrap_or(1);
        let n = y.len();
        let window = n.min((self.window_cycles * longest).max(28 * shortest).max(8));
        let start = n - window;
        let terms: Vec<(usize, usize)> = periods
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let cap = if i == 0 {
                    self.short_harmonics
                } else {
                    self.long_harmonics
                };
                (p, cap.min((p - 1) / 2).max(1))
            })
            .collect();
        let day = periods
            .iter()
            .find(|&&d| periods.contains(&(7 * d)))
            .copied();
        let design = Design {
            terms,
            day,
            t0: start as f64,
            scale: window as f64,
        };
        let p = design.width();
        check_history(&self.name(), y, p + 2)?;
        let mut ne = NormalEquations::new(p);
        let mut row = Vec::with_capacity(p);
        for (t, &v) in y.iter().enumerate().skip(start) {
            design.row(t, &mut row);
            ne.add_row(&row, v);
        }
        let beta = ne.solve(1e-7)?;
        let predict = |t: usize, row: &mut Vec<f64>| {
            design.row(t, row);
            row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>()
        };
        let residuals: Vec<f64> = (start..n).map(|t| y[t] - predict(t, &mut row)).collect();
        let sd = residual_sd(&residuals, p.min(residuals.len().saturating_sub(1)));
        Ok(Box::new(FittedRegression {
            design,
            beta,
            n,
            sd,
        }))
    }
}

struct FittedRegression {
    design: Design,
    beta: Vec<f64>,
    n: usize,
    sd: f64,
}

impl Fitted for FittedRegression {
    fn describe(&self) -> String {
        let terms: Vec<String> = self
            .design
            .terms
            .iter()
            .map(|(p, k)| format!("{p}:{k}"))
            .collect();
        let dow = if self.design.day.is_some() {
            "+dow"
        } else {
            ""
        };
        format!("Regression(trend+fourier[{}]{dow})", terms.join(","))
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let mut row = Vec::with_capacity(self.beta.len());
        let mean: Vec<f64> = (0..h)
            .map(|j| {
                self.design.row(self.n + j, &mut row);
                row.iter().zip(&self.beta).map(|(a, b)| a * b).sum()
            })
            .collect();
        ensure_finite("Regression", &mean)?;
        Ok(Forecast {
            intervals: gaussian(&mean, &vec![self.sd; h], levels)?,
            mean,
        })
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "coefficients": self.beta, "sigma": self.sd, "terms": self.design.terms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_trend_and_cycle() {
        let f = |t: usize| 50.0 + 0.01 * t as f64 + 5.0 * (2.0 * PI * (t % 24) as f64 / 24.0).sin();
        let y: Vec<f64> = (0..24 * 14).map(f).collect();
        let fc = FourierRegression::default()
            .fit(&y, &[24])
            .unwrap()
            .forecast(24, &[95.0])
            .unwrap();
        for (j, m) in fc.mean.iter().enumerate() {
            assert!(
                (m - f(y.len() + j)).abs() < 1e-3,
                "step {j}: {m} vs {}",
                f(y.len() + j)
            );
        }
    }
}
