//! Forecast accuracy metrics, defined exactly as the statsforecast comparison script computes
//! them so numbers from `hivesched backtest` and the script agree. Steps whose actual value is
//! missing (NaN: a gap in the trace) are left out of every metric.

use crate::Interval;

/// Mean absolute scaled error: MAE of the forecast divided by the in-sample MAE of the seasonal
/// naive at lag `m` (lag 1 when the history is not longer than `m`). `None` when the scale is 0.
pub fn mase(train: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> Option<f64> {
    let m = if m >= 1 && m < train.len() { m } else { 1 };
    if train.len() <= m || actual.is_empty() {
        return None;
    }
    let diffs: Vec<f64> = (m..train.len())
        .map(|t| (train[t] - train[t - m]).abs())
        .filter(|d| d.is_finite())
        .collect();
    let scale = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    (scale > 0.0).then(|| mae(actual, forecast) / scale)
}

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    let n = actual.len().min(forecast.len()).max(1);
    actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / n as f64
}

/// Symmetric MAPE in percent (0–200); a step where actual and forecast are both 0 scores 0.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let n = actual.len().min(forecast.len()).max(1);
    200.0
        * actual
            .iter()
            .zip(forecast)
            .map(|(a, f)| {
                let d = a.abs() + f.abs();
                if d == 0.0 { 0.0 } else { (a - f).abs() / d }
            })
            .sum::<f64>()
        / n as f64
}

/// Weighted absolute percentage error: Σ|error| / Σ|actual|; `None` when the actuals sum to 0.
pub fn wape(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let total: f64 = actual.iter().map(|a| a.abs()).sum();
    (total > 0.0).then(|| {
        actual
            .iter()
            .zip(forecast)
            .map(|(a, f)| (a - f).abs())
            .sum::<f64>()
            / total
    })
}

/// Pinball loss of quantile forecast `q` at probability `p`, averaged over steps.
pub fn pinball(actual: &[f64], q: &[f64], p: f64) -> f64 {
    let n = actual.len().min(q.len()).max(1);
    actual
        .iter()
        .zip(q)
        .map(|(a, f)| {
            let e = a - f;
            if e >= 0.0 { p * e } else { (p - 1.0) * e }
        })
        .sum::<f64>()
        / n as f64
}

/// Mean pinball loss over the median (the point forecast) and both bounds of every interval,
/// scaled by the mean absolute actual so traces of different magnitude compare.
pub fn scaled_pinball(actual: &[f64], mean: &[f64], intervals: &[Interval]) -> Option<f64> {
    let scale = actual.iter().map(|a| a.abs()).sum::<f64>() / actual.len().max(1) as f64;
    if scale <= 0.0 {
        return None;
    }
    let mut losses = vec![pinball(actual, mean, 0.5)];
    for iv in intervals {
        let a = (1.0 - iv.level / 100.0) / 2.0;
        losses.push(pinball(actual, &iv.lo, a));
        losses.push(pinball(actual, &iv.hi, 1.0 - a));
    }
    Some(losses.iter().sum::<f64>() / losses.len() as f64 / scale)
}

/// Fraction of actuals inside `[lo, hi]`.
pub fn coverage(actual: &[f64], iv: &Interval) -> f64 {
    let n = actual.len().min(iv.lo.len()).max(1);
    actual
        .iter()
        .zip(iv.lo.iter().zip(&iv.hi))
        .filter(|(a, (lo, hi))| *a >= *lo && *a <= *hi)
        .count() as f64
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let train = [1.0, 2.0, 3.0, 4.0];
        // Seasonal-naive lag-1 MAE is 1; forecast MAE is 0.5.
        assert_eq!(mase(&train, &[5.0, 6.0], &[5.5, 5.5], 1), Some(0.5));
        assert_eq!(mase(&[2.0, 2.0], &[1.0], &[1.0], 1), None);
        assert!((smape(&[100.0, 0.0], &[50.0, 0.0]) - 200.0 * (50.0 / 150.0) / 2.0).abs() < 1e-12);
        assert_eq!(wape(&[2.0, 2.0], &[1.0, 3.0]), Some(0.5));
        assert_eq!(pinball(&[1.0], &[0.0], 0.9), 0.9);
        assert!((pinball(&[0.0], &[1.0], 0.9) - 0.1).abs() < 1e-12);
        let iv = Interval {
            level: 80.0,
            lo: vec![0.0, 0.0],
            hi: vec![1.0, 1.0],
        };
        assert_eq!(coverage(&[0.5, 2.0], &iv), 0.5);
    }
}
