//! Input cleaning: makes any history usable by the models and reports what was changed.
//!
//! Real demand traces have holes (missing rows, NaN), sensor glitches (negative counts, inf),
//! isolated spikes and level shifts. Models assume finite values at a regular step, so this module
//! repairs the series and says what it did in a [`CleanReport`] that the CLI prints as warnings.
//! It never fails: an all-missing input comes back empty and the caller decides.

use crate::stats::{mad_sigma, median};

/// Values beyond this magnitude are treated like infinities: no real demand is that large, and
/// keeping them would overflow the squares and sums every model computes.
pub const MAX_MAGNITUDE: f64 = 1e150;

/// Knobs for [`clean`]; the defaults suit demand series.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanOptions {
    /// Seasonal period used to fill long gaps from the previous cycle; `None` fills linearly.
    pub season: Option<usize>,
    /// A point further than this many robust standard deviations from its local median is an
    /// outlier and is pulled back to that bound (winsorised, so a spike stays a spike).
    pub outlier_sigmas: f64,
    /// Half-width of the local median window used for outlier detection.
    pub outlier_half_window: usize,
    /// Demand cannot be negative: clamp negatives to zero.
    pub clamp_negative: bool,
}

impl Default for CleanOptions {
    fn default() -> Self {
        Self {
            season: None,
            outlier_sigmas: 10.0,
            outlier_half_window: 6,
            clamp_negative: true,
        }
    }
}

/// A persistent change of level found in the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LevelShift {
    /// Index of the first point at the new level.
    pub index: usize,
    /// Median level before the shift.
    pub before: f64,
    /// Median level after the shift.
    pub after: f64,
}

/// What [`clean`] changed, so callers can warn instead of silently altering data.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CleanReport {
    /// Points that were NaN (including gaps the caller marked as NaN) and were filled.
    pub missing: usize,
    /// Points that were ±infinity (or beyond [`MAX_MAGNITUDE`]) and were filled.
    pub infinite: usize,
    /// Negative points clamped to zero.
    pub negative: usize,
    /// Points pulled back to the outlier bound.
    pub outliers: usize,
    /// The latest level shift, if one was found.
    pub level_shift: Option<LevelShift>,
}

impl CleanReport {
    /// Human-readable warnings, one per kind of repair (empty when the input was clean).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.missing > 0 {
            w.push(format!(
                "{} missing points (gaps or NaN) were filled",
                self.missing
            ));
        }
        if self.infinite > 0 {
            w.push(format!("{} infinite values were replaced", self.infinite));
        }
        if self.negative > 0 {
            w.push(format!(
                "{} negative values were clamped to 0",
                self.negative
            ));
        }
        if self.outliers > 0 {
            w.push(format!(
                "{} outliers were pulled back to the robust bound",
                self.outliers
            ));
        }
        if let Some(s) = &self.level_shift {
            w.push(format!(
                "level shift at point {}: median {:.4} -> {:.4}",
                s.index, s.before, s.after
            ));
        }
        w
    }
}

/// Repairs `y` (NaN marks a missing point) and reports the repairs. The output has the same length
/// as the input, or is empty when no point is finite.
pub fn clean(y: &[f64], opts: &CleanOptions) -> (Vec<f64>, CleanReport) {
    let mut report = CleanReport::default();
    let mut v: Vec<Option<f64>> = y
        .iter()
        .map(|&x| {
            if x.is_nan() {
                report.missing += 1;
                None
            } else if x.is_infinite() || x.abs() > MAX_MAGNITUDE {
                report.infinite += 1;
                None
            } else if x < 0.0 && opts.clamp_negative {
                report.negative += 1;
                Some(0.0)
            } else {
                Some(x)
            }
        })
        .collect();
    if v.iter().all(Option::is_none) {
        return (Vec::new(), report);
    }
    let mut out = fill(&mut v, opts.season);
    report.outliers = winsorise(&mut out, opts);
    report.level_shift = find_level_shift(&out, opts.season.unwrap_or(24).max(12));
    (out, report)
}

/// Fills `None`s: short runs (≤ 2 points) or runs without a full season before them linearly,
/// longer runs from the previous cycle shifted to match the level at the run's edges.
fn fill(v: &mut [Option<f64>], season: Option<usize>) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![0.0; n];
    let mut i = 0;
    while i < n {
        if let Some(x) = v[i] {
            out[i] = x;
            i += 1;
            continue;
        }
        let start = i;
        while i < n && v[i].is_none() {
            i += 1;
        }
        let end = i; // exclusive
        let left = if start > 0 {
            Some(out[start - 1])
        } else {
            None
        };
        let right = if end < n { v[end] } else { None };
        let len = end - start;
        let seasonal = season.filter(|&m| m > 1 && len > 2 && start >= m);
        for k in start..end {
            let linear = match (left, right) {
                (Some(a), Some(b)) => a + (b - a) * (k - start + 1) as f64 / (len + 1) as f64,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => 0.0,
            };
            out[k] = match seasonal {
                Some(m) => {
                    // Previous cycle's shape, offset so the run joins its left edge.
                    let offset = match left {
                        Some(a) if start > m => a - out[start - 1 - m],
                        _ => 0.0,
                    };
                    (out[k - m] + offset).max(0.0)
                }
                None => linear,
            };
            v[k] = Some(out[k]);
        }
    }
    out
}

/// Pulls isolated spikes back to the outlier bound. A point is a spike when it is further than
/// `outlier_sigmas` robust SDs from its local median, and (with a season) from the median of the
/// same phase in the neighbouring cycles, and the run of such points is at most two long. So a
/// spike that recurs every cycle (an hourly batch job) is signal, and a lasting jump is a level
/// change, not an outlier.
fn winsorise(y: &mut [f64], opts: &CleanOptions) -> usize {
    let n = y.len();
    let w = opts.outlier_half_window;
    if n < 2 * w + 2 || opts.outlier_sigmas <= 0.0 {
        return 0;
    }
    let local: Vec<f64> = (0..n)
        .map(|i| {
            let lo = i.saturating_sub(w);
            let hi = (i + w + 1).min(n);
            median(&y[lo..hi])
        })
        .collect();
    let dev: Vec<f64> = y.iter().zip(&local).map(|(a, b)| a - b).collect();
    // Floor the scale at a tenth of the series' own spread: on long flat stretches the local
    // deviations are all ~0 and every ordinary wiggle would otherwise look like an outlier.
    let sigma = mad_sigma(&dev).max(0.1 * mad_sigma(y));
    if sigma <= 0.0 || !sigma.is_finite() {
        return 0;
    }
    let bound = opts.outlier_sigmas * sigma;
    let seasonal_ok = |i: usize| match opts.season.filter(|&m| m > 1) {
        None => false,
        Some(m) => {
            let same_phase: Vec<f64> = [
                i.checked_sub(2 * m),
                i.checked_sub(m),
                Some(i + m),
                Some(i + 2 * m),
            ]
            .into_iter()
            .flatten()
            .filter(|&j| j < n)
            .map(|j| y[j])
            .collect();
            !same_phase.is_empty() && (y[i] - median(&same_phase)).abs() <= bound
        }
    };
    let flagged: Vec<bool> = (0..n)
        .map(|i| dev[i].abs() > bound && !seasonal_ok(i))
        .collect();
    let mut count = 0;
    let mut i = 0;
    while i < n {
        if !flagged[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && flagged[i] {
            i += 1;
        }
        if i - start <= 2 {
            for k in start..i {
                y[k] = (local[k] + bound * dev[k].signum()).max(0.0);
                count += 1;
            }
        }
    }
    count
}

/// Finds the latest persistent level shift: the three block medians (block = one season) after a
/// boundary all lie on one side of the three before it, by more than five robust SDs of the
/// block-to-block changes and 20 % of the level. Only reported; trimming is the caller's choice.
fn find_level_shift(y: &[f64], block: usize) -> Option<LevelShift> {
    let nb = y.len() / block;
    if nb < 8 {
        return None;
    }
    let meds: Vec<f64> = (0..nb)
        .map(|b| median(&y[b * block..(b + 1) * block]))
        .collect();
    let diffs: Vec<f64> = meds.windows(2).map(|w| w[1] - w[0]).collect();
    let scale = mad_sigma(&diffs)
        .max(1e-9 * median(&meds).abs())
        .max(f64::MIN_POSITIVE);
    let range = |v: &[f64]| {
        v.iter()
            .copied()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            })
    };
    (3..nb - 2).rev().find_map(|j| {
        let (b, a) = (&meds[j - 3..j], &meds[j..j + 3]);
        let (before, after) = (median(b), median(a));
        let ((bl, bh), (al, ah)) = (range(b), range(a));
        let separated = al > bh || ah < bl;
        ((after - before).abs() > 5.0 * scale
            && separated
            && (after - before).abs() > 0.2 * before.abs())
        .then_some(LevelShift {
            index: j * block,
            before,
            after,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_reports_every_kind_of_damage() {
        let mut y: Vec<f64> = (0..200).map(|t| 10.0 + (t % 10) as f64).collect();
        y[5] = f64::NAN;
        y[6] = f64::INFINITY;
        y[50] = -3.0;
        y[100] = 1e6;
        let (out, r) = clean(&y, &CleanOptions::default());
        assert_eq!(out.len(), y.len());
        assert!(out.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert_eq!((r.missing, r.infinite, r.negative), (1, 1, 1));
        assert!(r.outliers >= 1 && out[100] < 1e5);
        assert_eq!(r.warnings().len(), 4);
    }

    #[test]
    fn recurring_spikes_are_signal_not_outliers() {
        let y: Vec<f64> = (0..600)
            .map(|t| {
                if t % 12 == 7 {
                    70.0
                } else {
                    30.0 + (t % 5) as f64 * 0.3
                }
            })
            .collect();
        let with_season = CleanOptions {
            season: Some(12),
            ..CleanOptions::default()
        };
        assert_eq!(clean(&y, &with_season).1.outliers, 0);
    }

    #[test]
    fn long_gap_is_filled_from_the_previous_season() {
        let y: Vec<f64> = (0..100)
            .map(|t| {
                if (40..48).contains(&t) {
                    f64::NAN
                } else {
                    (t % 10) as f64
                }
            })
            .collect();
        let opts = CleanOptions {
            season: Some(10),
            outlier_sigmas: 0.0,
            ..CleanOptions::default()
        };
        let (out, _) = clean(&y, &opts);
        for (t, v) in out.iter().enumerate().take(48).skip(40) {
            assert!((v - (t % 10) as f64).abs() < 1e-9, "t={t} got {v}");
        }
    }

    #[test]
    fn finds_a_level_shift() {
        let y: Vec<f64> = (0..480)
            .map(|t| if t < 360 { 10.0 } else { 30.0 } + (t % 24) as f64 * 0.1)
            .collect();
        let (_, r) = clean(
            &y,
            &CleanOptions {
                season: Some(24),
                ..CleanOptions::default()
            },
        );
        assert_eq!(r.level_shift.map(|s| s.index), Some(360));
    }

    #[test]
    fn all_missing_gives_empty() {
        let (out, r) = clean(&[f64::NAN; 5], &CleanOptions::default());
        assert!(out.is_empty());
        assert_eq!(r.missing, 5);
    }
}
