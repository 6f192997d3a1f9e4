//! Seasonal period detection from the data, snapped to calendar periods when the step is known.
//!
//! An off-by-two period ruins a seasonal model, so detection has two layers. The periodogram
//! proposes candidate periods and the autocorrelation function (ACF) refines each to the integer
//! lag where the ACF peaks. Then, when the sampling step is known, candidates close to the calendar
//! periods (daily = 86400 s / step, weekly = 7 × daily) snap to them exactly, and the calendar
//! periods are tested directly: a daily cycle is accepted when the ACF has a clear peak at one day;
//! a weekly cycle when the one-week lag correlates clearly better than six and eight days, i.e.
//! when the weekly pattern adds something beyond the daily one.

use crate::fft::{autocorrelation, periodogram};

/// Minimum ACF at a candidate lag for it to count as seasonal.
const MIN_ACF: f64 = 0.2;
/// Minimum ACF for an off-calendar period when the step is known.
const STRONG_ACF: f64 = 0.5;
/// How much better one week must correlate than six or eight days for a weekly cycle.
const WEEKLY_MARGIN: f64 = 0.03;
/// How far below the local ACF maximum a period's ACF may be and still count as the peak.
const PEAK_SLACK: f64 = 0.02;
/// Number of periodogram peaks examined.
const SPECTRAL_PEAKS: usize = 6;

/// Where a candidate period came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Source {
    /// Calendar period implied by the sampling step (daily or weekly).
    Calendar,
    /// A periodogram peak refined on the ACF.
    Spectrum,
}

/// One candidate period and the evidence for it, kept for reports and debugging.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Candidate {
    /// Period in steps.
    pub period: usize,
    /// ACF at that lag.
    pub acf: f64,
    /// Where the candidate came from.
    pub source: Source,
    /// Whether it was accepted as a seasonal period.
    pub accepted: bool,
}

/// Result of [`detect_seasons`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Seasonality {
    /// Accepted periods in steps, ascending.
    pub periods: Vec<usize>,
    /// Every candidate examined.
    pub candidates: Vec<Candidate>,
}

/// Calendar periods implied by a sampling step of `step_s` seconds: `(daily, weekly)` when a day is
/// a whole number of steps, otherwise `None`. Daily data gives `(1, 7)`: only the weekly one is a
/// usable season there.
pub fn calendar_periods(step_s: f64) -> Option<(usize, usize)> {
    if !(step_s.is_finite() && step_s > 0.0) {
        return None;
    }
    let per_day = 86_400.0 / step_s;
    let rounded = per_day.round();
    ((per_day - rounded).abs() < 1e-6 && rounded >= 1.0)
        .then(|| (rounded as usize, 7 * rounded as usize))
}

/// Detects the seasonal periods of `y` (finite values). `step_s` (seconds per step) enables the
/// calendar snapping; without it only data-driven periods are returned.
pub fn detect_seasons(y: &[f64], step_s: Option<f64>) -> Seasonality {
    let n = y.len();
    let mut out = Seasonality::default();
    if n < 8 || y.iter().any(|v| !v.is_finite()) {
        return out;
    }
    let calendar = step_s.and_then(calendar_periods);

    if let Some((day, week)) = calendar {
        if day >= 2
            && let Some(acf) = detrended_acf(y, day, day + day / 20 + 2)
        {
            let ok = acf[day] >= MIN_ACF && is_peak(&acf, day);
            out.candidates.push(Candidate {
                period: day,
                acf: acf[day],
                source: Source::Calendar,
                accepted: ok,
            });
            if ok {
                out.periods.push(day);
            }
        }
        if let Some(acf) = detrended_acf(y, week, week + week / 7) {
            let a8 = acf
                .get(week + week / 7)
                .copied()
                .unwrap_or(f64::NEG_INFINITY);
            let margin = acf[week] - acf[week - week / 7].max(a8);
            let ok = acf[week] >= MIN_ACF && margin >= WEEKLY_MARGIN;
            out.candidates.push(Candidate {
                period: week,
                acf: acf[week],
                source: Source::Calendar,
                accepted: ok,
            });
            if ok {
                out.periods.push(week);
            }
        }
    }

    // Data-driven candidates from the periodogram of the series minus a long moving average.
    for p in spectral_candidates(y) {
        let snapped = calendar
            .map(|(d, w)| {
                if near(p, d) {
                    d
                } else if near(p, w) {
                    w
                } else {
                    p
                }
            })
            .unwrap_or(p);
        if out.candidates.iter().any(|c| c.period == snapped) {
            continue;
        }
        let Some(acf) = detrended_acf(y, snapped, snapped + snapped / 20 + 2) else {
            continue;
        };
        let harmonic = out.periods.iter().any(|&q| is_multiple(snapped, q));
        // With a known step, an off-calendar cycle must be strong to be believed.
        let min_acf = if calendar.is_some() {
            STRONG_ACF
        } else {
            MIN_ACF
        };
        let ok = !harmonic && acf[snapped] >= min_acf && is_peak(&acf, snapped);
        out.candidates.push(Candidate {
            period: snapped,
            acf: acf[snapped],
            source: Source::Spectrum,
            accepted: ok,
        });
        if ok {
            out.periods.push(snapped);
        }
    }
    out.periods.sort_unstable();
    out.periods.truncate(3);
    out
}

/// ACF a calendar period needs for its seasonal models to be worth a backtest even when it is
/// not accepted as a season (see [`has_weak_cycle`]).
pub const WEAK_ACF: f64 = 0.1;

/// Whether `y` shows at least a weak cycle at period `p` (detrended ACF ≥ [`WEAK_ACF`]): too weak
/// to call a season, strong enough that the ensemble should try seasonal models on it.
pub fn has_weak_cycle(y: &[f64], p: usize) -> bool {
    detrended_acf(y, p, p).is_some_and(|acf| acf[p] >= WEAK_ACF)
}

/// Centred moving average of width `w` (a 2×w average when `w` is even, so it stays centred);
/// element i corresponds to `y[i + offset]` with `offset` returned alongside.
fn centred_moving_average(y: &[f64], w: usize) -> (Vec<f64>, usize) {
    let mut prefix = Vec::with_capacity(y.len() + 1);
    prefix.push(0.0);
    for v in y {
        prefix.push(prefix.last().unwrap_or(&0.0) + v);
    }
    let sum = |a: usize, b: usize| prefix[b] - prefix[a];
    if w % 2 == 1 {
        let half = w / 2;
        (
            (0..y.len() + 1 - w)
                .map(|i| sum(i, i + w) / w as f64)
                .collect(),
            half,
        )
    } else {
        // Average of two adjacent width-w windows = the classical 2×w MA.
        let half = w / 2;
        (
            (0..y.len() - w)
                .map(|i| (sum(i, i + w) + sum(i + 1, i + w + 1)) / (2 * w) as f64)
                .collect(),
            half,
        )
    }
}

/// ACF (lags 0..=max_lag) of `y` minus its centred moving average of width `window`. Removing a
/// moving average exactly one candidate period long takes out level wander without touching a
/// cycle of that period, so the ACF peak at the period stands out. `None` when the remaining
/// series is too short to estimate `max_lag` (fewer than 1.5 × max_lag points).
fn detrended_acf(y: &[f64], window: usize, max_lag: usize) -> Option<Vec<f64>> {
    if window < 2 || y.len() <= window + 1 {
        return None;
    }
    let (ma, offset) = centred_moving_average(y, window);
    let x: Vec<f64> = ma
        .iter()
        .enumerate()
        .map(|(i, m)| y[i + offset] - m)
        .collect();
    if 2 * x.len() < 3 * max_lag {
        return None;
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let x: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let acf = autocorrelation(&x, max_lag);
    (acf.len() == max_lag + 1).then_some(acf)
}

/// True when `acf[p]` is within [`PEAK_SLACK`] of the ACF maximum within ±max(2, p/20) lags: a
/// real cycle peaks at its period (up to sampling noise on spiky series), while a lag merely
/// inside a broad hump does not.
fn is_peak(acf: &[f64], p: usize) -> bool {
    let d = (p / 20).max(2);
    let lo = p.saturating_sub(d).max(1);
    let hi = (p + d).min(acf.len() - 1);
    (lo..=hi).all(|k| acf[k] <= acf[p] + PEAK_SLACK)
}

/// Whether `p` is within 5 % (at least two steps) of `target`.
fn near(p: usize, target: usize) -> bool {
    p.abs_diff(target) <= (target / 20).max(2)
}

/// Whether `p` is (nearly) an integer multiple of `q`: two days repeat a daily cycle and add
/// nothing. Divisors are not excluded: an hourly cycle inside a daily one is a cycle of its own.
fn is_multiple(p: usize, q: usize) -> bool {
    let k = (p as f64 / q as f64).round() as usize;
    k >= 1 && near(p, k * q)
}

/// Periods of the strongest periodogram peaks of `y` minus a moving average a quarter of its
/// length, each refined to the integer lag where that series' ACF peaks.
fn spectral_candidates(y: &[f64]) -> Vec<usize> {
    let w = (y.len() / 4).max(3);
    let (ma, offset) = centred_moving_average(y, w);
    let x: Vec<f64> = ma
        .iter()
        .enumerate()
        .map(|(i, m)| y[i + offset] - m)
        .collect();
    if x.len() < 8 {
        return Vec::new();
    }
    let max_lag = x.len() * 2 / 3;
    let acf = autocorrelation(&x, max_lag);
    let (power, nfft) = periodogram(&x);
    let mut bins: Vec<usize> = (2..power.len().saturating_sub(1))
        .filter(|&k| power[k] >= power[k - 1] && power[k] >= power[k + 1])
        .filter(|&k| nfft / k >= 2 && nfft / k <= max_lag)
        .collect();
    bins.sort_by(|&a, &b| power[b].total_cmp(&power[a]));
    bins.truncate(SPECTRAL_PEAKS);
    let mut out: Vec<usize> = Vec::new();
    for k in bins {
        let lo = (nfft as f64 / (k as f64 + 1.0)).floor().max(2.0) as usize;
        let hi = ((nfft as f64 / (k as f64 - 1.0)).ceil() as usize).min(max_lag);
        if lo > hi {
            continue;
        }
        let best = (lo..=hi)
            .max_by(|&a, &b| acf[a].total_cmp(&acf[b]))
            .unwrap_or(lo);
        if !out.contains(&best) {
            out.push(best);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize, periods: &[(usize, f64)]) -> Vec<f64> {
        let noise = crate::stats::test_noise(11, n);
        (0..n)
            .map(|t| {
                100.0
                    + periods
                        .iter()
                        .map(|&(p, a)| a * (2.0 * std::f64::consts::PI * t as f64 / p as f64).sin())
                        .sum::<f64>()
                    + 4.0 * noise[t]
            })
            .collect()
    }

    #[test]
    fn finds_daily_at_30_minutes() {
        let y = synthetic(48 * 20, &[(48, 10.0)]);
        assert_eq!(detect_seasons(&y, Some(1800.0)).periods, vec![48]);
    }

    #[test]
    fn finds_a_period_without_calendar() {
        let y = synthetic(600, &[(25, 10.0)]);
        assert_eq!(detect_seasons(&y, None).periods, vec![25]);
    }

    #[test]
    fn white_noise_has_no_season() {
        let y: Vec<f64> = crate::stats::test_noise(5, 1000)
            .iter()
            .map(|e| 50.0 + 10.0 * e)
            .collect();
        assert!(detect_seasons(&y, Some(300.0)).periods.is_empty());
    }

    #[test]
    fn calendar_needs_whole_steps_per_day() {
        assert_eq!(calendar_periods(300.0), Some((288, 2016)));
        assert_eq!(calendar_periods(1800.0), Some((48, 336)));
        assert_eq!(calendar_periods(7.0), None);
        assert_eq!(calendar_periods(86_400.0), Some((1, 7)));
        assert_eq!(calendar_periods(100_000.0), None);
    }
}
