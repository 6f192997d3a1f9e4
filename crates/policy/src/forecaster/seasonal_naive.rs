//! Seasonal naive with daily and weekly lags, chosen by recent error, with empirical intervals.
//!
//! For each lag L (one day, one week) two variants are scored: plain (`y[t+h-L]`) and anchored to
//! the current level (`y[t] + y[t+h-L] - y[t-L]`, which carries a holiday dip or a level shift
//! forward). The variant with the lowest mean absolute error over recent origins wins, and its
//! upper quantile at each horizon is the point forecast plus the empirical quantile of its own
//! residuals at that horizon. With less than a day and a bit of history it falls back to the
//! recent maximum and says so in the model name (cold start).

use std::time::Duration;

use super::{DemandForecast, Forecaster};
use crate::{DemandHistory, ForecastFailure};

/// The built-in forecaster of the decision core.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalNaive {
    /// Quantile of the residuals added to the point forecast for the upper bound (e.g. 0.95).
    pub quantile: f64,
    /// Most recent origins scored per variant.
    pub max_origins: usize,
    /// Origins needed before a seasonal variant is trusted.
    pub min_origins: usize,
}

impl Default for SeasonalNaive {
    fn default() -> Self {
        SeasonalNaive {
            quantile: 0.95,
            max_origins: 1008,
            min_origins: 24,
        }
    }
}

/// One candidate: a seasonal lag in steps, plain or anchored to the current level.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    lag: usize,
    anchored: bool,
}

impl Variant {
    /// Forecast for `origin + h` made at `origin`; `None` when the history is too short.
    fn point(self, y: &[f64], origin: usize, h: usize) -> Option<f64> {
        let back = self.lag * h.div_ceil(self.lag);
        let src = (origin + h).checked_sub(back)?;
        if !self.anchored {
            return Some(y[src]);
        }
        let base = origin.checked_sub(back)?;
        Some(y[origin] + y[src] - y[base])
    }

    fn name(self, step: Duration) -> String {
        let lag = Duration::from_secs(step.as_secs() * self.lag as u64);
        let unit = if lag.as_secs().is_multiple_of(604_800) {
            "week"
        } else {
            "day"
        };
        if self.anchored {
            format!("seasonal-naive({unit}, level-anchored)")
        } else {
            format!("seasonal-naive({unit})")
        }
    }
}

impl SeasonalNaive {
    fn variants(step: Duration) -> Vec<Variant> {
        let step_s = step.as_secs_f64().max(1e-3);
        let daily = ((86_400.0 / step_s).round() as usize).max(1);
        let mut out = Vec::with_capacity(4);
        for lag in [7 * daily, daily] {
            for anchored in [true, false] {
                out.push(Variant { lag, anchored });
            }
        }
        out
    }

    fn cold_start(y: &[f64], horizon: usize) -> DemandForecast {
        let last = y.last().copied().unwrap_or(0.0);
        let window = horizon.max(12).min(y.len());
        let recent_max = y[y.len() - window..].iter().copied().fold(last, f64::max);
        DemandForecast {
            mean: vec![last; horizon],
            upper: vec![recent_max * 1.25; horizon],
            model: "recent-max (cold start)".into(),
        }
    }
}

/// Residuals `actual - forecast` per horizon over the most recent origins.
fn residuals(v: Variant, y: &[f64], horizon: usize, max_origins: usize) -> Vec<Vec<f64>> {
    let last = y.len() - 1;
    let first_origin = last.saturating_sub(max_origins + horizon);
    (1..=horizon)
        .map(|h| {
            (first_origin..=last.saturating_sub(h))
                .filter_map(|o| v.point(y, o, h).map(|f| y[o + h] - f))
                .collect()
        })
        .collect()
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    let (_, nth, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    *nth
}

/// The history on a regular grid: gaps are filled with the last value before them.
fn regular_values(history: &DemandHistory) -> Vec<f64> {
    let (times, values) = (history.times(), history.values());
    let step = history.step().as_millis().max(1) as i64;
    let span = (times[times.len() - 1].as_millis() - times[0].as_millis()) / step;
    if span as usize + 1 == values.len() {
        return values.to_vec();
    }
    let mut out = Vec::with_capacity(span as usize + 1);
    let mut j = 0;
    for i in 0..=span {
        let t = times[0].as_millis() + i * step;
        while j + 1 < times.len() && times[j + 1].as_millis() <= t + step / 2 {
            j += 1;
        }
        out.push(values[j]);
    }
    out
}

impl Forecaster for SeasonalNaive {
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure> {
        if history.is_empty() {
            return Err(ForecastFailure::NotEnoughHistory { got: 0, need: 1 });
        }
        let y = regular_values(history);
        let mut best: Option<(f64, Variant, Vec<Vec<f64>>)> = None;
        for v in Self::variants(history.step()) {
            let res = residuals(v, &y, horizon, self.max_origins);
            if res.iter().any(|r| r.len() < self.min_origins) {
                continue;
            }
            let mae = res
                .iter()
                .map(|r| r.iter().map(|e| e.abs()).sum::<f64>() / r.len() as f64)
                .sum::<f64>();
            if best.as_ref().is_none_or(|(b, _, _)| mae < *b) {
                best = Some((mae, v, res));
            }
        }
        let Some((_, v, mut res)) = best else {
            return Ok(Self::cold_start(&y, horizon));
        };
        let origin = y.len() - 1;
        let mut mean = Vec::with_capacity(horizon);
        let mut upper = Vec::with_capacity(horizon);
        for (h, r) in (1..=horizon).zip(res.iter_mut()) {
            let point = v.point(&y, origin, h).unwrap_or(y[origin]).max(0.0);
            let q = quantile(r, self.quantile).max(0.0);
            mean.push(point);
            upper.push(point + q);
        }
        Ok(DemandForecast {
            mean,
            upper,
            model: v.name(history.step()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Time;

    fn history(step_s: u64, values: impl IntoIterator<Item = f64>) -> DemandHistory {
        let mut h = DemandHistory::new(Duration::from_secs(step_s), 100_000);
        for (i, v) in values.into_iter().enumerate() {
            h.push(Time::from_secs(i as i64 * step_s as i64), v);
        }
        h
    }

    #[test]
    fn repeats_a_clean_daily_cycle_exactly() {
        // Hourly samples, 10 days of a daily pattern.
        let day: Vec<f64> = (0..24).map(|h| 10.0 + f64::from(h)).collect();
        let h = history(3600, day.iter().copied().cycle().take(240));
        let f = SeasonalNaive::default().forecast(&h, 3).unwrap();
        assert_eq!(f.mean, vec![10.0, 11.0, 12.0]);
        assert_eq!(f.upper, f.mean);
    }

    #[test]
    fn anchoring_follows_a_level_shift() {
        let day: Vec<f64> = (0..24).map(|h| 100.0 + 10.0 * f64::from(h % 12)).collect();
        let mut values: Vec<f64> = day.iter().copied().cycle().take(24 * 9).collect();
        // The last two days run 50 higher: the anchored daily variant carries the shift.
        for v in values.iter_mut().skip(24 * 7) {
            *v += 50.0;
        }
        let f = SeasonalNaive::default()
            .forecast(&history(3600, values), 2)
            .unwrap();
        assert!(f.model.contains("anchored"), "{}", f.model);
        assert_eq!(f.mean, vec![150.0, 160.0]);
    }

    #[test]
    fn cold_start_uses_recent_max_and_says_so() {
        let f = SeasonalNaive::default()
            .forecast(&history(60, [1.0, 5.0, 2.0]), 2)
            .unwrap();
        assert!(f.model.contains("cold start"));
        assert_eq!(f.mean, vec![2.0, 2.0]);
        assert_eq!(f.upper, vec![6.25, 6.25]);
    }

    #[test]
    fn upper_covers_noise() {
        // Daily cycle plus deterministic pseudo-noise: the upper bound sits above the mean.
        let values = (0..24 * 14)
            .map(|i| 50.0 + 20.0 * ((i % 24) as f64 / 4.0).sin() + ((i * 7919) % 13) as f64);
        let f = SeasonalNaive::default()
            .forecast(&history(3600, values), 4)
            .unwrap();
        assert!(f.upper.iter().zip(&f.mean).all(|(u, m)| u >= m));
        assert!(f.upper.iter().zip(&f.mean).any(|(u, m)| u > m));
    }

    #[test]
    fn gaps_are_filled_on_the_grid() {
        let mut h = DemandHistory::new(Duration::from_secs(60), 10);
        h.push(Time::from_secs(0), 1.0);
        h.push(Time::from_secs(180), 4.0);
        assert_eq!(regular_values(&h), vec![1.0, 1.0, 1.0, 4.0]);
    }
}
