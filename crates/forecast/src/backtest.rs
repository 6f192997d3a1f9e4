//! Rolling-origin backtests with the standard accuracy metrics, split exactly as the
//! statsforecast comparison script splits (so the two report the same thing).
//!
//! The crate reads no clock: the caller passes one (`now_ms`) so fit times can be measured by the
//! CLI while tests stay deterministic.

use crate::metrics::{coverage, mase, scaled_pinball, smape, wape};
use crate::stats::median;
use crate::{Forecast, ForecastError, Interval};

/// One training window `[start, end)`; the test window is `[end, end + horizon)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// First training index.
    pub start: usize,
    /// One past the last training index.
    pub end: usize,
}

/// Splits for `origins` consecutive non-overlapping test windows of `horizon` steps at the end of a
/// series of `n` points; each training window holds `history` points (default: all available, at
/// most 28 cycles of `season`), exactly as `statsforecast_compare.py` does.
pub fn rolling_splits(
    n: usize,
    horizon: usize,
    origins: usize,
    history: Option<usize>,
    season: usize,
) -> Result<Vec<Split>, ForecastError> {
    let need = horizon * origins;
    if horizon == 0 || origins == 0 || n <= need {
        return Err(ForecastError::TooShort {
            model: "backtest".into(),
            got: n,
            need: need + 1,
        });
    }
    let hist = history.unwrap_or((n - need).min(28 * season.max(1)));
    if hist < 2 * season.max(1) {
        return Err(ForecastError::TooShort {
            model: "backtest".into(),
            got: n,
            need: need + 2 * season,
        });
    }
    Ok((0..origins)
        .map(|k| {
            let end = n - horizon * (origins - k);
            Split {
                start: end.saturating_sub(hist),
                end,
            }
        })
        .collect())
}

/// Averaged accuracy of one model over all origins.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Score {
    /// Model name.
    pub model: String,
    /// Fitted structure at the last origin (e.g. chosen ensemble members).
    pub fitted: String,
    /// Mean MASE over origins.
    pub mase: f64,
    /// Mean sMAPE (percent) over origins.
    pub smape: f64,
    /// Mean WAPE over origins.
    pub wape: f64,
    /// Mean scaled pinball loss over origins.
    pub pinball: f64,
    /// Empirical coverage per interval level, `(level, fraction)`.
    pub coverage: Vec<(f64, f64)>,
    /// Median fit + forecast time per origin, milliseconds.
    pub fit_ms: f64,
    /// Origins where the model failed (counted, not scored).
    pub failed: usize,
}

/// What to evaluate on: the splits, the horizon, interval levels and the MASE seasonal lag.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// Training windows.
    pub splits: &'a [Split],
    /// Steps forecast at each origin.
    pub horizon: usize,
    /// Interval levels (percent) whose coverage is measured.
    pub levels: &'a [f64],
    /// Seasonal lag of the MASE scale.
    pub season: usize,
}

/// The forecasting step a backtest runs at each origin: training window in, fitted model
/// description and forecast out.
pub type ForecastFn<'a> = dyn FnMut(&[f64]) -> Result<(String, Forecast), ForecastError> + 'a;

/// Runs `forecast(train) -> (describe, Forecast)` on every split of `y` and scores it (MASE,
/// sMAPE, WAPE, pinball loss, interval coverage, time per fit); `now_ms` is the clock the fit
/// times are read from (an argument, so the crate reads no clock itself).
pub fn evaluate(
    name: &str,
    y: &[f64],
    plan: &Plan<'_>,
    forecast: &mut ForecastFn<'_>,
    now_ms: &dyn Fn() -> f64,
) -> Score {
    let (splits, horizon, levels, m) = (plan.splits, plan.horizon, plan.levels, plan.season);
    let (mut mases, mut smapes, mut wapes, mut pins, mut times) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut cover = vec![Vec::new(); levels.len()];
    let mut failed = 0;
    let mut fitted = String::new();
    for s in splits {
        let train = &y[s.start..s.end];
        let actual = &y[s.end..(s.end + horizon).min(y.len())];
        let t0 = now_ms();
        let out = forecast(train);
        times.push(now_ms() - t0);
        match out {
            Ok((desc, f)) if f.mean.len() >= actual.len() => {
                fitted = desc;
                // Steps missing from the trace (NaN) are not scored.
                let keep: Vec<usize> = (0..actual.len())
                    .filter(|&j| actual[j].is_finite())
                    .collect();
                let pick = |v: &[f64]| keep.iter().map(|&j| v[j]).collect::<Vec<f64>>();
                let (actual, mean) = (pick(actual), pick(&f.mean));
                let intervals: Vec<Interval> = f
                    .intervals
                    .iter()
                    .map(|iv| Interval {
                        level: iv.level,
                        lo: pick(&iv.lo),
                        hi: pick(&iv.hi),
                    })
                    .collect();
                let (actual, mean) = (actual.as_slice(), mean.as_slice());
                if let Some(v) = mase(train, actual, mean, m) {
                    mases.push(v);
                }
                smapes.push(smape(actual, mean));
                if let Some(v) = wape(actual, mean) {
                    wapes.push(v);
                }
                if let Some(v) = scaled_pinball(actual, mean, &intervals) {
                    pins.push(v);
                }
                for (c, iv) in cover.iter_mut().zip(&intervals) {
                    c.push(coverage(actual, iv));
                }
            }
            _ => failed += 1,
        }
    }
    let avg = |v: &[f64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    Score {
        model: name.into(),
        fitted,
        mase: avg(&mases),
        smape: avg(&smapes),
        wape: avg(&wapes),
        pinball: avg(&pins),
        coverage: levels
            .iter()
            .zip(&cover)
            .map(|(l, c)| (*l, avg(c)))
            .collect(),
        fit_ms: median(&times),
        failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_match_the_comparison_script() {
        let s = rolling_splits(1000, 10, 3, None, 5).unwrap();
        assert_eq!(
            s[2],
            Split {
                start: 990 - 140,
                end: 990
            }
        );
        assert_eq!(s[0].end, 970);
        assert!(rolling_splits(20, 10, 2, None, 5).is_err());
    }
}
