//! Interval widening for level shifts that backtest errors cannot show.
//!
//! Prediction intervals are calibrated on the errors of backtests over the recent history
//! ([`crate::calibration`]). A level shift is the one kind of error those backtests rarely
//! contain: a load that steps from one level to another (a deployment, a misconfiguration, a
//! tenant moving in) appears once, and the data before it is trimmed or outweighed. Two cases are
//! priced in here instead:
//!
//! - **A shift under way at the origin.** The newest points all sit far from where one season
//!   earlier says they should (five robust SDs of the seasonal differences, and 20 % of the level).
//!   Whether it persists or ends is unknowable from a few points, so the bands are widened by the
//!   offset in its direction for the whole horizon. On rds_cpu_utilization a step from 17 to 28
//!   seven points before an origin left that day covered 11 %.
//! - **Shifts recur.** A shift seen in the history is evidence that such steps happen. With one
//!   seen in `n` steps the chance of one by lead `j` is about `j / n`, half of it in each direction
//!   (one example says nothing about the next one's sign). The bounds become the quantiles of the
//!   mixture of the band and the band moved by the shift's size, each side read as normal from
//!   the mean: nothing changes until the chance of a shift up (or down) passes the interval's
//!   tail probability, and from there the bound moves toward the moved band's own. Short
//!   histories and long horizons are where this binds; a four-week window against a one-day
//!   horizon never reaches the 2.5 % tail of a 95 % band.
//!
//! Bounds only ever move outward, so widening only adds coverage, and a lower bound that moves
//! stays at or above zero (demand is never negative).

use crate::Forecast;
use crate::clean::LevelShift;
use crate::stats::{mad_sigma, median, normal_quantile};

/// Robust SDs of the seasonal differences the newest points must all exceed to be a shift.
const TAIL_SIGMAS: f64 = 5.0;
/// Fraction of the level the newest points must all be away from it to be a shift.
const TAIL_RELATIVE: f64 = 0.2;
/// Fewest consecutive newest points that make a shift under way (one or two are a spike).
const TAIL_MIN_RUN: usize = 3;
/// Lag of the differences for a series without a detected season.
const NON_SEASONAL_LAG: usize = 12;

/// The level-shift risks of one prepared history.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ShiftRisk {
    /// Signed offset of the newest points from one season earlier, when a shift is under way.
    pub under_way: Option<f64>,
    /// Size of the latest shift in the history and the number of steps it was seen in.
    pub recurring: Option<(f64, usize)>,
}

impl ShiftRisk {
    /// Assesses `y` (cleaned, oldest first) whose shortest season is `season`, given the latest
    /// shift found in the `seen` steps it was cleaned from.
    pub fn assess(
        y: &[f64],
        season: Option<usize>,
        shift: Option<&LevelShift>,
        seen: usize,
    ) -> Self {
        ShiftRisk {
            under_way: under_way(y, season.unwrap_or(NON_SEASONAL_LAG)),
            recurring: shift
                .map(|s| ((s.after - s.before).abs(), seen))
                .filter(|(size, n)| *size > 0.0 && *n > 0),
        }
    }

    /// A warning when a shift is under way (a shift seen in the history is already reported by
    /// cleaning, [`crate::clean::CleanReport::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        self.under_way
            .map(|d| {
                format!(
                    "the newest points are {d:+.4} from one season earlier (a level shift may be \
                     under way); intervals were widened by it"
                )
            })
            .into_iter()
            .collect()
    }

    /// Widens every interval of `f` (steps 1..=h after the history) for these risks.
    pub fn widen(&self, f: &mut Forecast) {
        for iv in &mut f.intervals {
            let tail = (1.0 - iv.level / 100.0) / 2.0;
            let z = normal_quantile(1.0 - tail);
            for (j, ((lo, hi), m)) in iv
                .lo
                .iter_mut()
                .zip(iv.hi.iter_mut())
                .zip(&f.mean)
                .enumerate()
            {
                let (lo0, hi0) = (*lo, *hi);
                // The band's quantile at probability u, read as normal on each side of the mean.
                let q = |u: f64| {
                    if u >= 0.5 {
                        m + (hi0 - m).max(0.0) * normal_quantile(u) / z
                    } else {
                        m - (m - lo0).max(0.0) * normal_quantile(1.0 - u) / z
                    }
                };
                let (mut new_lo, mut new_hi) = (lo0, hi0);
                if let Some(d) = self.under_way {
                    new_lo = new_lo.min(lo0 + d);
                    new_hi = new_hi.max(hi0 + d);
                }
                if let Some((size, seen)) = self.recurring {
                    // Chance of a shift up (and of one down) by this lead.
                    let p = ((j + 1) as f64 / seen as f64 / 2.0).min(0.5);
                    if p > tail {
                        new_hi = new_hi.max(size + q(1.0 - tail / p));
                        new_lo = new_lo.min(q(tail / p) - size);
                    }
                }
                if new_lo < lo0 && new_lo.is_finite() {
                    *lo = new_lo.max(0.0);
                }
                if new_hi.is_finite() {
                    *hi = new_hi;
                }
            }
        }
    }
}

/// Median offset of the newest run of points that all differ from `lag` steps earlier by more
/// than the thresholds, in one direction; `None` when fewer than [`TAIL_MIN_RUN`] do.
fn under_way(y: &[f64], lag: usize) -> Option<f64> {
    if lag == 0 || y.len() < 2 * lag + TAIL_MIN_RUN {
        return None;
    }
    let d: Vec<f64> = (lag..y.len()).map(|t| y[t] - y[t - lag]).collect();
    let sigma = mad_sigma(&d);
    let level = median(&y[y.len() - lag..]).abs();
    let beyond = |v: f64| v.abs() > TAIL_SIGMAS * sigma && v.abs() > TAIL_RELATIVE * level;
    let last = *d.last()?;
    let run = d
        .iter()
        .rev()
        .take_while(|v| beyond(**v) && v.signum() == last.signum())
        .count();
    (run >= TAIL_MIN_RUN).then(|| median(&d[d.len() - run..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interval;
    use crate::stats::test_noise;

    fn flat(n: usize, level: f64) -> Vec<f64> {
        test_noise(3, n).iter().map(|e| level + e).collect()
    }

    fn band(h: usize, mean: f64, half: f64) -> Forecast {
        Forecast {
            mean: vec![mean; h],
            intervals: vec![Interval {
                level: 95.0,
                lo: vec![mean - half; h],
                hi: vec![mean + half; h],
            }],
        }
    }

    #[test]
    fn a_step_at_the_end_is_under_way_and_widens_toward_it() {
        let mut y = flat(600, 17.0);
        y.extend(flat(7, 28.0));
        let risk = ShiftRisk::assess(&y, Some(48), None, y.len());
        let d = risk.under_way.expect("a step of 11 at the end");
        assert!((d - 11.0).abs() < 1.5, "offset {d}");
        let mut f = band(48, 17.0, 2.0);
        risk.widen(&mut f);
        assert!(f.intervals[0].hi.iter().all(|&h| h > 28.0));
        assert!(f.intervals[0].lo.iter().all(|&l| (l - 15.0).abs() < 1e-12));
        assert_eq!(risk.warnings().len(), 1);
    }

    #[test]
    fn noise_spikes_and_a_repeating_cycle_are_not_shifts() {
        let mut y: Vec<f64> = (0..600)
            .map(|t| 100.0 + 50.0 * ((t % 48) as f64 / 48.0 * std::f64::consts::TAU).sin())
            .zip(test_noise(5, 600))
            .map(|(s, e)| s + e)
            .collect();
        assert_eq!(ShiftRisk::assess(&y, Some(48), None, 600).under_way, None);
        let n = y.len();
        y[n - 1] += 500.0;
        y[n - 2] += 500.0;
        assert_eq!(ShiftRisk::assess(&y, Some(48), None, 600).under_way, None);
        let mut f = band(48, 100.0, 5.0);
        let before = f.clone();
        ShiftRisk::default().widen(&mut f);
        assert_eq!(f, before);
    }

    #[test]
    fn a_shift_seen_recurs_beyond_the_lead_where_its_chance_passes_the_tail() {
        let shift = LevelShift {
            index: 300,
            before: 17.0,
            after: 28.0,
        };
        let risk = ShiftRisk::assess(&flat(600, 28.0), Some(48), Some(&shift), 1000);
        assert_eq!(risk.recurring, Some((11.0, 1000)));
        let mut f = band(100, 28.0, 2.0);
        risk.widen(&mut f);
        let iv = &f.intervals[0];
        // 2.5 % tail: a shift up by lead j has chance j / 1000 / 2, above the tail after lead 50.
        assert!((iv.hi[49] - 30.0).abs() < 1e-12 && (iv.lo[49] - 26.0).abs() < 1e-12);
        assert!(iv.hi[50] > 30.0 && iv.lo[50] < 26.0);
        // The bounds grow with the chance, up to the shifted band's own quantile.
        assert!(iv.hi.windows(2).all(|w| w[1] >= w[0]) && iv.hi[99] < 28.0 + 11.0 + 2.0);
        assert!(iv.lo.windows(2).all(|w| w[1] <= w[0]) && iv.lo[99] > 28.0 - 11.0 - 2.0);
    }

    #[test]
    fn lower_bounds_never_go_below_zero() {
        let risk = ShiftRisk {
            under_way: Some(-50.0),
            recurring: None,
        };
        let mut f = band(10, 10.0, 5.0);
        risk.widen(&mut f);
        assert!(f.intervals[0].lo.iter().all(|&l| l == 0.0));
    }

    proptest::proptest! {
        #[test]
        fn bounds_only_move_outward_and_stay_finite(
            under_way in proptest::option::of(-1e6..1e6f64),
            recurring in proptest::option::of((0.0..1e6f64, 1usize..5000)),
            mean in 0.0..1e6f64,
            below in 0.0..1e6f64,
            above in 0.0..1e6f64,
            h in 1usize..400,
            level in 1.0..99.9f64,
        ) {
            let risk = ShiftRisk { under_way, recurring };
            let before = Forecast {
                mean: vec![mean; h],
                intervals: vec![Interval {
                    level,
                    lo: vec![(mean - below).max(0.0); h],
                    hi: vec![mean + above; h],
                }],
            };
            let mut f = before.clone();
            risk.widen(&mut f);
            let (iv, iv0) = (&f.intervals[0], &before.intervals[0]);
            for j in 0..h {
                proptest::prop_assert!(iv.lo[j].is_finite() && iv.hi[j].is_finite());
                proptest::prop_assert!(iv.lo[j] <= iv0.lo[j] && iv.hi[j] >= iv0.hi[j]);
                proptest::prop_assert!(iv.lo[j] >= 0.0);
            }
        }
    }
}
