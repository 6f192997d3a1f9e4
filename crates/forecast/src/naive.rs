//! Seasonal naive forecasts: repeat the last cycle, or average the last few cycles.
//!
//! The hardest baseline to beat on strongly seasonal load, and the model of last resort: it fits
//! any non-empty finite history. With no season it is the plain naive (last value) forecast.

use crate::intervals::{check_history, ensure_finite, gaussian, residual_sd};
use crate::{Fitted, Forecast, ForecastError, Model};

/// Which of the given seasons sets the lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// The shortest season (e.g. daily).
    Shortest,
    /// The longest season (e.g. weekly).
    Longest,
    /// No season: the plain naive (last value) forecast.
    None,
}

/// Seasonal naive over `cycles` past cycles of the chosen season: `cycles = 1` repeats the last
/// cycle; more average the same phase across cycles, trading reaction speed for less noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeasonalNaiveModel {
    lag: Lag,
    cycles: usize,
}

impl SeasonalNaiveModel {
    /// The classic seasonal naive on the shortest season.
    pub fn new() -> Self {
        Self {
            lag: Lag::Shortest,
            cycles: 1,
        }
    }

    /// Averages `cycles` (≥ 1) past cycles of the season chosen by `lag`.
    pub fn with(lag: Lag, cycles: usize) -> Self {
        Self {
            lag,
            cycles: cycles.max(1),
        }
    }
}

impl Default for SeasonalNaiveModel {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for SeasonalNaiveModel {
    fn name(&self) -> String {
        match (self.lag, self.cycles) {
            (Lag::None, _) => "Naive".into(),
            (Lag::Shortest, 1) => "SeasonalNaive".into(),
            (Lag::Longest, 1) => "SeasonalNaive(longest)".into(),
            (Lag::Shortest, k) => format!("SeasonalMean({k})"),
            (Lag::Longest, k) => format!("SeasonalMean({k},longest)"),
        }
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        check_history(&self.name(), y, 1)?;
        let usable = seasons.iter().copied().filter(|&p| p > 1 && p <= y.len());
        let period = match self.lag {
            Lag::Shortest => usable.min(),
            Lag::Longest => usable.max(),
            Lag::None => None,
        }
        .unwrap_or(1);
        let cycles = self.cycles.min(y.len() / period).max(1);
        let n = y.len();
        // One-step-ahead in-sample errors of the same rule give the interval scale.
        let start = period * cycles;
        let residuals: Vec<f64> = (start..n)
            .map(|t| y[t] - (1..=cycles).map(|c| y[t - c * period]).sum::<f64>() / cycles as f64)
            .collect();
        let sd = residual_sd(&residuals, 0);
        let profile: Vec<f64> = (0..period)
            .map(|k| {
                let t = n - period + k;
                (0..cycles).map(|c| y[t - c * period]).sum::<f64>() / cycles as f64
            })
            .collect();
        Ok(Box::new(FittedNaive {
            name: self.name(),
            period,
            cycles,
            profile,
            sd,
        }))
    }
}

struct FittedNaive {
    name: String,
    period: usize,
    cycles: usize,
    profile: Vec<f64>,
    sd: f64,
}

impl Fitted for FittedNaive {
    fn describe(&self) -> String {
        if self.period == 1 {
            "Naive".into()
        } else {
            format!("{}[{}]", self.name, self.period)
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let mean: Vec<f64> = (0..h).map(|j| self.profile[j % self.period]).collect();
        // Error grows with the number of whole cycles ahead (Hyndman & Athanasopoulos, FPP §5.5).
        let sd: Vec<f64> = (0..h)
            .map(|j| self.sd * ((j / self.period) as f64 + 1.0).sqrt())
            .collect();
        ensure_finite(&self.name, &mean)?;
        Ok(Forecast {
            intervals: gaussian(&mean, &sd, levels)?,
            mean,
        })
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "period": self.period, "cycles": self.cycles, "sigma": self.sd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_last_cycle() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f = SeasonalNaiveModel::new()
            .fit(&y, &[3])
            .unwrap()
            .forecast(4, &[80.0])
            .unwrap();
        assert_eq!(f.mean, vec![4.0, 5.0, 6.0, 4.0]);
    }

    #[test]
    fn averages_cycles_and_degrades_to_naive() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let f = SeasonalNaiveModel::with(Lag::Shortest, 2)
            .fit(&y, &[2])
            .unwrap()
            .forecast(2, &[])
            .unwrap();
        assert_eq!(f.mean, vec![2.0, 3.0]);
        let f = SeasonalNaiveModel::new()
            .fit(&y, &[])
            .unwrap()
            .forecast(2, &[])
            .unwrap();
        assert_eq!(f.mean, vec![4.0, 4.0]);
    }
}
