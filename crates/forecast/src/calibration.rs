//! Prediction-interval calibration from backtest errors.
//!
//! Errors `actual − forecast` from rolling-origin backtests (one row per origin, one column per
//! step ahead) are standardised by a per-step spread, smoothed over neighbouring steps so the
//! time-of-day pattern of error size is kept (peaks are harder than nights). Empirical quantiles of
//! the pooled standardised errors give asymmetric bounds at any level, with a conformal-style
//! finite-sample correction.
//!
//! Demand is not stationary: the next day's errors are often larger than the last few days'. So
//! the bands are also checked out of sample: bands built from the earlier origins are scaled until
//! they cover each later origin at the nominal level, and the largest scale any later origin
//! needed (bounded to [`MIN_INFLATION`]..[`MAX_INFLATION`]) is applied to the final bands. The
//! average scale (the earlier rule) left 95 % coverage at 0.88 on nyc_taxi and 0.89 on
//! cpu_utilization_asg_misconfiguration; the largest gives 0.92 and 0.98 and keeps the other
//! traces within 0.91–0.96 (the 75th percentile of the scales gave 0.90 and 0.96).
//!
//! Where the forecast sits above every calibration forecast (naive on a burst above a floor),
//! those errors say nothing about how far it can fall; [`RankFloor`] reads them in the history's
//! ranks instead and gives a second lower bound there.

use crate::stats::quantile_sorted;

/// Smallest scale applied to the bands (intervals may shrink when the backtest over-covered).
pub const MIN_INFLATION: f64 = 0.8;
/// Largest scale applied to the bands.
pub const MAX_INFLATION: f64 = 3.0;

/// Standardised-error quantiles and per-step spread at one level.
#[derive(Debug, Clone, PartialEq)]
struct Bands {
    spread: Vec<f64>,
    q_lo: f64,
    q_hi: f64,
}

/// Bands at `level` (percent) from `rows` of errors, or `None` with fewer than two rows.
fn bands(rows: &[Vec<f64>], level: f64) -> Option<Bands> {
    let steps = rows.iter().map(Vec::len).min().unwrap_or(0);
    if rows.len() < 2 || steps == 0 {
        return None;
    }
    let band = (steps / 8).max(1);
    let raw: Vec<f64> = (0..steps)
        .map(|j| {
            let (lo, hi) = (j.saturating_sub(band), (j + band + 1).min(steps));
            let (s, c) = rows
                .iter()
                .flat_map(|row| row[lo..hi].iter())
                .fold((0.0, 0.0), |(s, c), e| (s + e * e, c + 1.0));
            (s / c).sqrt()
        })
        .collect();
    let floor = raw.iter().sum::<f64>() / steps as f64 * 0.1;
    let spread: Vec<f64> = raw.iter().map(|s| s.max(floor).max(1e-12)).collect();
    let mut u: Vec<f64> = rows
        .iter()
        .flat_map(|row| row[..steps].iter().zip(&spread).map(|(e, s)| e / s))
        .collect();
    u.sort_by(f64::total_cmp);
    let alpha = (1.0 - level / 100.0) / 2.0;
    let n = u.len() as f64;
    let p_lo = (alpha - (1.0 - alpha) / (n + 1.0)).max(0.0);
    let p_hi = (1.0 - alpha + alpha / (n + 1.0)).min(1.0);
    Some(Bands {
        spread,
        q_lo: quantile_sorted(&u, p_lo).min(0.0),
        q_hi: quantile_sorted(&u, p_hi).max(0.0),
    })
}

/// Largest scale the bands from earlier origins needed to cover a later origin at `level`: the
/// next day may be as hard as the hardest held-out day, not the average one.
fn inflation(rows: &[Vec<f64>], level: f64) -> f64 {
    let start = (rows.len() / 2).max(2);
    let needed: Vec<f64> = (start..rows.len())
        .filter_map(|o| {
            let b = bands(&rows[..o], level)?;
            let mut r: Vec<f64> = rows[o]
                .iter()
                .zip(&b.spread)
                .map(|(e, s)| {
                    let q = if *e >= 0.0 { b.q_hi } else { -b.q_lo };
                    if q > 0.0 {
                        e.abs() / (q * s)
                    } else {
                        f64::INFINITY
                    }
                })
                .collect();
            r.sort_by(f64::total_cmp);
            Some(quantile_sorted(&r, level / 100.0))
        })
        .filter(|c| c.is_finite())
        .collect();
    if needed.is_empty() {
        return 1.0;
    }
    needed
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .clamp(MIN_INFLATION, MAX_INFLATION)
}

/// Lower and upper offsets from the point forecast for steps 0..h at `level`, learned from the
/// backtest error `rows` (chronological). Steps beyond the backtest horizon `horizon` reuse the
/// last step's spread grown with the square root of the lead time. `None` with fewer than two rows.
pub fn offsets(
    rows: &[Vec<f64>],
    h: usize,
    horizon: usize,
    level: f64,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let b = bands(rows, level)?;
    let c = inflation(rows, level);
    let steps = b.spread.len();
    let sd_at = |j: usize| {
        if j < steps {
            b.spread[j]
        } else {
            b.spread[steps - 1] * ((j + 1) as f64 / horizon.max(steps) as f64).sqrt().max(1.0)
        }
    };
    Some((
        (0..h).map(|j| c * b.q_lo * sd_at(j)).collect(),
        (0..h).map(|j| c * b.q_hi * sd_at(j)).collect(),
    ))
}

/// A second lower bound for forecasts above every calibration forecast, read in rank space.
///
/// The additive bands ([`offsets`]) assume the next day's errors look like the calibration days'.
/// That fails when the forecast sits where no calibration forecast was: on a series resting on a
/// floor between bursts, the members are naive on a last value that is a burst, while at every
/// calibration origin the forecast sat on the floor and every error was ≥ 0, so the additive
/// lower band is the forecast itself (95 % coverage 0.10 and 0.08 in such windows of
/// ec2_cpu_utilization_77c1ca and rogue_agent_key_updown). Ranks carry over where levels do not:
/// each calibration error is scored as a move in the history's empirical distribution `G`,
/// `G⁻(actual) − G(forecast)` (`G⁻`: share of the history strictly below, `G`: at or below), and
/// the bound is the forecast's rank moved down by the lower quantile of those scores (pooled over
/// ±h/8 steps as in [`offsets`], with the same finite-sample correction), mapped back to a level.
/// With a mass of history on one value (a floor), an actual on the floor scores as far down as
/// it can go even when the forecast sat on the floor too, so "the series comes back down to the
/// floor" survives a calibration in which it never left it.
///
/// It applies only where the forecast is above every calibration forecast: elsewhere the
/// additive calibration saw forecasts like this one and stands. Applied at every step (the lower
/// of the two bounds everywhere), it widened bands that were right: 95 % coverage nyc_taxi
/// 0.971 → 0.982, ec2_cpu_utilization_5f5533 0.915 → 0.964, Twitter_volume_IBM_30min 0.979 →
/// 0.982. The gate compares levels, not ranks: with nothing in the history between a floor and
/// a burst level, a forecast just under the burst ranks with the floor forecasts (the same
/// coverage on the development set either way, c6585a 0.929 with ranks, 0.930 with levels).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankFloor {
    /// The history, sorted.
    sorted: Vec<f64>,
    /// Rank scores, one row per calibration cut.
    scores: Vec<Vec<f64>>,
    /// Highest calibration forecast.
    highest: f64,
}

impl RankFloor {
    /// From `history` (the observed series the errors were measured against, in the errors'
    /// units) and the calibration `errors` (`actual − forecast`, one row per cut in `cuts`, step
    /// `j` of a row at `history[cut + j]`).
    pub fn new(history: &[f64], errors: &[Vec<f64>], cuts: &[usize]) -> Self {
        let mut sorted: Vec<f64> = history.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut floor = Self {
            sorted,
            scores: Vec::new(),
            highest: f64::INFINITY,
        };
        if floor.sorted.is_empty() {
            return floor;
        }
        let mut highest = f64::NEG_INFINITY;
        floor.scores = errors
            .iter()
            .zip(cuts)
            .map(|(row, &cut)| {
                row.iter()
                    .enumerate()
                    .filter_map(|(j, e)| {
                        let y = *history.get(cut + j)?;
                        highest = highest.max(y - e);
                        Some(floor.below(y) - floor.rank(y - e))
                    })
                    .collect()
            })
            .collect();
        floor.highest = highest;
        floor
    }

    /// Share of the history strictly below `x`.
    fn below(&self, x: f64) -> f64 {
        self.sorted.partition_point(|v| *v < x) as f64 / self.sorted.len() as f64
    }

    /// Rank of `x`: the share of the history at or below it.
    fn rank(&self, x: f64) -> f64 {
        self.sorted.partition_point(|v| *v <= x) as f64 / self.sorted.len() as f64
    }

    /// Lower bounds at `level` (percent) for the point forecast `mean` (the history's units):
    /// the rank-space bound where the forecast is above every calibration forecast, the
    /// forecast itself elsewhere (so taking the lower of this and the additive bound leaves the
    /// additive bound there). `None` with fewer than two rows or no history.
    pub fn lower(&self, mean: &[f64], level: f64) -> Option<Vec<f64>> {
        let steps = self.scores.iter().map(Vec::len).min().unwrap_or(0);
        if self.scores.len() < 2 || steps == 0 {
            return None;
        }
        let band = (steps / 8).max(1);
        let alpha = (1.0 - level / 100.0) / 2.0;
        let shift = |j: usize| {
            let (lo, hi) = (j.saturating_sub(band), (j + band + 1).min(steps));
            let mut u: Vec<f64> = self
                .scores
                .iter()
                .flat_map(|row| row[lo..hi].iter().copied())
                .collect();
            u.sort_by(f64::total_cmp);
            let n = u.len() as f64;
            let p = (alpha - (1.0 - alpha) / (n + 1.0)).max(0.0);
            quantile_sorted(&u, p).min(0.0)
        };
        Some(
            mean.iter()
                .enumerate()
                .map(|(j, &f)| {
                    if f > self.highest {
                        let r = self.rank(f);
                        quantile_sorted(&self.sorted, r + shift(j.min(steps - 1))).min(f)
                    } else {
                        f
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_noise;

    fn coverage_of(rows: &[Vec<f64>], test: &[f64], level: f64) -> f64 {
        let (lo, hi) = offsets(rows, test.len(), test.len(), level).unwrap();
        test.iter()
            .zip(lo.iter().zip(&hi))
            .filter(|(e, (l, h))| **e >= **l && **e <= **h)
            .count() as f64
            / test.len() as f64
    }

    #[test]
    fn stationary_errors_are_covered_near_nominal() {
        let rows: Vec<Vec<f64>> = (0..8).map(|o| test_noise(o, 200)).collect();
        let test = test_noise(99, 2000);
        let c = coverage_of(&rows, &test, 90.0);
        assert!((0.85..=0.97).contains(&c), "coverage {c}");
    }

    #[test]
    fn growing_errors_widen_the_bands() {
        let growing: Vec<Vec<f64>> = (0..8)
            .map(|o| {
                test_noise(o, 200)
                    .iter()
                    .map(|e| e * (1.0 + o as f64 * 0.3))
                    .collect()
            })
            .collect();
        let flat: Vec<Vec<f64>> = (0..8).map(|o| test_noise(o, 200)).collect();
        assert!(inflation(&growing, 95.0) > inflation(&flat, 95.0) + 0.2);
    }

    #[test]
    fn too_few_rows_gives_none() {
        assert!(offsets(&[vec![1.0, 2.0]], 2, 2, 95.0).is_none());
    }

    /// A history on a floor of 0.1 with bursts to 98 (six steps in fifty), and calibration
    /// rows whose forecasts all sat on the floor: every error is ≥ 0.
    fn floor_with_bursts() -> (Vec<f64>, Vec<Vec<f64>>, Vec<usize>) {
        let history: Vec<f64> = (0..800)
            .map(|t| if t % 50 < 6 { 98.0 } else { 0.1 })
            .collect();
        let h = 48;
        let cuts: Vec<usize> = (0..8).map(|k| 400 + k * h).collect();
        let errors = cuts
            .iter()
            .map(|&c| (0..h).map(|j| history[c + j] - 0.1).collect())
            .collect();
        (history, errors, cuts)
    }

    #[test]
    fn a_forecast_on_a_burst_gets_a_lower_bound_down_at_the_floor() {
        let (history, errors, cuts) = floor_with_bursts();
        // The additive band learned nothing below the forecast...
        let (lo, _) = offsets(&errors, 48, 48, 95.0).unwrap();
        assert!(lo.iter().all(|v| *v == 0.0), "{lo:?}");
        // ...but a forecast sitting on a burst is bounded below by the floor it came from.
        let floor = RankFloor::new(&history, &errors, &cuts);
        let lower = floor.lower(&[98.0; 48], 95.0).unwrap();
        assert!(lower.iter().all(|v| (*v - 0.1).abs() < 1e-12), "{lower:?}");
        // A forecast where the calibration forecasts were is left to the additive band.
        let lower = floor.lower(&[0.1; 48], 95.0).unwrap();
        assert_eq!(lower, vec![0.1; 48]);
        let one_row = RankFloor::new(&history, &errors[..1], &cuts[..1]);
        assert!(one_row.lower(&[98.0; 48], 95.0).is_none());
        assert!(
            RankFloor::new(&[], &errors, &cuts)
                .lower(&[98.0], 95.0)
                .is_none()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// The rank-space bound lies between the history's minimum and the forecast, and is the
        /// forecast itself (no change to the additive band) wherever the forecast is no higher
        /// than some calibration forecast.
        #[test]
        fn rank_floor_stays_between_the_history_and_the_forecast(
            history in proptest::collection::vec(0.0..100.0f64, 20..200),
            noise in proptest::collection::vec(-30.0..30.0f64, 12),
            mean in proptest::collection::vec(0.0..150.0f64, 6),
        ) {
            let n = history.len();
            let h = 3;
            let cuts: Vec<usize> = (0..4).map(|k| n - h * (4 - k)).collect();
            // Calibration forecasts: the actuals moved by noise, clamped at 0 as the ensemble's are.
            let forecasts: Vec<Vec<f64>> = cuts
                .iter()
                .enumerate()
                .map(|(o, &c)| (0..h).map(|j| (history[c + j] - noise[o * h + j]).max(0.0)).collect())
                .collect();
            let errors: Vec<Vec<f64>> = cuts
                .iter()
                .zip(&forecasts)
                .map(|(&c, f)| (0..h).map(|j| history[c + j] - f[j]).collect())
                .collect();
            // The calibration forecasts as the bound sees them, `actual − error`.
            let highest = cuts
                .iter()
                .zip(&errors)
                .flat_map(|(&c, e)| (0..h).map(move |j| (c + j, e[j])))
                .map(|(t, e)| history[t] - e)
                .fold(f64::NEG_INFINITY, f64::max);
            let floor = RankFloor::new(&history, &errors, &cuts);
            let lower = floor.lower(&mean, 95.0).unwrap();
            let min = history.iter().copied().fold(f64::INFINITY, f64::min);
            for (l, f) in lower.iter().zip(&mean) {
                proptest::prop_assert!(*l <= *f && *l >= min.min(*f), "{l} for {f}");
                if *f <= highest {
                    proptest::prop_assert_eq!(*l, *f);
                }
            }
        }
    }
}
