//! Heuristic initial states (Hyndman, Koehler, Snyder & Grose 2002; Hyndman et al. 2008, §2.6.1).
//!
//! Seasonal indices come from a classical decomposition of the first few seasons (a centred
//! moving average as trend, per-phase averages of the detrended values, normalised to sum to
//! zero or to average one); level and trend are the intercept and slope of a straight line
//! through the first ten seasonally adjusted values. These are the starting point of the
//! likelihood search and, for long periods, the seasonal states themselves.

use super::recursion::States;
use super::spec::{EtsSpec, SeasonType};

/// Seasons of history used by the decomposition.
const INIT_SEASONS: usize = 3;
/// Seasonally adjusted values used for the level/trend line.
const INIT_POINTS: usize = 10;

/// Starting states for `spec` on `y` with period `m` (ignored for non-seasonal specs).
///
/// Needs `y.len() >= 2 * m` for a seasonal spec (checked by the caller).
pub(crate) fn heuristic(y: &[f64], spec: EtsSpec, m: usize) -> States {
    let season = if spec.has_season() {
        seasonal_indices(&y[..y.len().min(INIT_SEASONS * m)], m, spec.season)
    } else {
        Vec::new()
    };
    let k = y.len().min(INIT_POINTS.max(m));
    let adjusted: Vec<f64> = (0..k)
        .map(|t| match spec.season {
            SeasonType::None => y[t],
            SeasonType::Additive => y[t] - season[t % m],
            SeasonType::Multiplicative => y[t] / season[t % m],
        })
        .collect();
    let (level, trend) = if spec.has_trend() && k >= 2 {
        line(&adjusted)
    } else {
        (adjusted.iter().sum::<f64>() / k as f64, 0.0)
    };
    States {
        level,
        trend,
        season,
    }
}

/// Intercept at t = 0 and slope of the least-squares line through `z` at t = 1, 2, ….
fn line(z: &[f64]) -> (f64, f64) {
    let n = z.len() as f64;
    let tbar = (n + 1.0) / 2.0;
    let zbar = z.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in z.iter().enumerate() {
        let dt = (i + 1) as f64 - tbar;
        sxy += dt * (v - zbar);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    (zbar - slope * tbar, slope)
}

/// Classical-decomposition seasonal indices for phases `0..m`.
fn seasonal_indices(y: &[f64], m: usize, kind: SeasonType) -> Vec<f64> {
    let trend = centred_moving_average(y, m);
    let mut sum = vec![0.0; m];
    let mut count = vec![0usize; m];
    for (t, tr) in trend.iter().enumerate() {
        if let Some(tr) = tr {
            let d = match kind {
                SeasonType::Multiplicative if *tr > 0.0 => y[t] / tr,
                SeasonType::Multiplicative => 1.0,
                _ => y[t] - tr,
            };
            sum[t % m] += d;
            count[t % m] += 1;
        }
    }
    let neutral = if kind == SeasonType::Multiplicative {
        1.0
    } else {
        0.0
    };
    let mut idx: Vec<f64> = sum
        .iter()
        .zip(&count)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { neutral })
        .collect();
    let mean = idx.iter().sum::<f64>() / m as f64;
    for v in &mut idx {
        match kind {
            SeasonType::Multiplicative if mean > 0.0 => *v /= mean,
            SeasonType::Multiplicative => *v = 1.0,
            _ => *v -= mean,
        }
    }
    idx
}

/// Centred moving average of order `m` (2×m for even `m`); `None` where the window does not fit.
pub(crate) fn centred_moving_average(y: &[f64], m: usize) -> Vec<Option<f64>> {
    let n = y.len();
    let half = m / 2;
    (0..n)
        .map(|t| {
            if t < half || t + half >= n {
                return None;
            }
            let v = if m % 2 == 1 {
                y[t - half..=t + half].iter().sum::<f64>() / m as f64
            } else {
                let inner: f64 = y[t + 1 - half..t + half].iter().sum();
                (inner + 0.5 * (y[t - half] + y[t + half])) / m as f64
            };
            Some(v)
        })
        .collect()
}
