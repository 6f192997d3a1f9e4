//! STL: Seasonal-Trend decomposition by Loess (Cleveland, Cleveland, McRae & Terpenning 1990).
//!
//! Inner loop only (no robustness iterations), as MSTL uses it: detrend, smooth each
//! cycle-subseries (extended one cycle at each end), remove the low-frequency leakage with a
//! low-pass filter of moving averages plus loess, then smooth the deseasonalised series into a trend.

use crate::loess::{Loess, SmoothPlan, Weights};

/// Seasonal and trend components of one STL run (remainder = y − seasonal − trend).
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    /// Seasonal component.
    pub seasonal: Vec<f64>,
    /// Trend component.
    pub trend: Vec<f64>,
}

/// Local degree of the cycle-subseries smoother: 0 (a local weighted mean), as R's `stl` and
/// `mstl` and statsforecast's MSTL use; degree 1 extrapolates each subseries' slope one cycle
/// ahead, which measurably hurt day-ahead forecasts on nyc_taxi.
const SEASONAL_DEGREE: usize = 0;

/// Inner-loop passes MSTL uses per STL run. statsmodels (and so statsforecast's MSTL) uses five
/// without robustness weights; two gave the same day-ahead accuracy on nyc_taxi (MSTL+ARI MASE
/// 0.811 vs 0.817) at less than half the time, so two it is.
pub const INNER_PASSES: usize = 2;

/// Smallest odd integer ≥ x.
fn next_odd(x: f64) -> usize {
    let c = x.ceil().max(1.0) as usize;
    if c.is_multiple_of(2) { c + 1 } else { c }
}

/// Moving average of width `w` (output length n − w + 1).
fn moving_average(x: &[f64], w: usize) -> Vec<f64> {
    if w == 0 || x.len() < w {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len() - w + 1);
    let mut s: f64 = x[..w].iter().sum();
    out.push(s / w as f64);
    for i in w..x.len() {
        s += x[i] - x[i - w];
        out.push(s / w as f64);
    }
    out
}

/// The seasonal smoother's work for every cycle-subseries of one length: its smoothing and its
/// extension by one point at each end.
struct SubseriesPlan {
    len: usize,
    smooth: SmoothPlan,
    before: Option<Weights>,
    after: Option<Weights>,
}

impl SubseriesPlan {
    fn new(smoother: &Loess, len: usize) -> Self {
        SubseriesPlan {
            len,
            smooth: smoother.plan(len),
            before: smoother.weights_at(len, -1.0),
            after: smoother.weights_at(len, len as f64),
        }
    }
}

/// Decomposes `y` with seasonal `period` (≥ 2, `y.len()` ≥ 2 × period) and seasonal smoother
/// window `seasonal_window`, using `inner` passes of the inner loop. Trend and low-pass windows
/// follow the paper's defaults.
pub fn stl(y: &[f64], period: usize, seasonal_window: usize, inner: usize) -> Decomposition {
    let n = y.len();
    let np = period.max(2);
    let ns = next_odd(seasonal_window.max(7) as f64);
    let nl = next_odd(np as f64);
    let nt = next_odd(1.5 * np as f64 / (1.0 - 1.5 / ns as f64));
    let seasonal_smoother = Loess::new(ns, SEASONAL_DEGREE);
    let lowpass_smoother = Loess::new(nl, 1);
    let trend_smoother = Loess::new(nt, 1);

    let mut trend = vec![0.0; n];
    let mut seasonal = vec![0.0; n];
    let mut cycle = vec![0.0; n + 2 * np];
    let mut sub = Vec::with_capacity(n / np + 1);
    // The cycle-subseries have one or two lengths: plan each length's smoothing once.
    let mut plans: Vec<SubseriesPlan> = Vec::with_capacity(2);
    // Likewise the low-pass and trend smoothers', the same on every pass.
    let mut low_plan = None;
    let trend_plan = trend_smoother.plan(n);
    for _ in 0..inner.max(1) {
        // Step 1–2: detrend and smooth each cycle-subseries, extended by one point at each end.
        for k in 0..np.min(n) {
            sub.clear();
            sub.extend((k..n).step_by(np).map(|t| y[t] - trend[t]));
            let m = sub.len();
            let plan = match plans.iter().position(|p| p.len == m) {
                Some(i) => &plans[i],
                None => {
                    plans.push(SubseriesPlan::new(&seasonal_smoother, m));
                    &plans[plans.len() - 1]
                }
            };
            let smoothed = seasonal_smoother.smooth_planned(&plan.smooth, &sub);
            let before = plan.before.as_ref().map_or(sub[0], |w| w.apply(&sub));
            let after = plan.after.as_ref().map_or(sub[m - 1], |w| w.apply(&sub));
            cycle[k] = before;
            for (j, v) in smoothed.iter().enumerate() {
                cycle[k + (j + 1) * np] = *v;
            }
            let end = k + (m + 1) * np;
            if end < cycle.len() {
                cycle[end] = after;
            }
        }
        // Step 3: low-pass filter of the cycle-subseries.
        let lp = moving_average(&moving_average(&moving_average(&cycle, np), np), 3);
        let low_plan = low_plan.get_or_insert_with(|| lowpass_smoother.plan(lp.len()));
        let low = lowpass_smoother.smooth_planned(low_plan, &lp);
        // Step 4–6: seasonal = cycle − low-pass; trend from the deseasonalised series.
        for t in 0..n {
            seasonal[t] = cycle[t + np] - low.get(t).copied().unwrap_or(0.0);
        }
        let deseasonal: Vec<f64> = y.iter().zip(&seasonal).map(|(a, b)| a - b).collect();
        trend = trend_smoother.smooth_planned(&trend_plan, &deseasonal);
    }
    Decomposition { seasonal, trend }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_line_and_a_cycle() {
        let pattern = [3.0, -1.0, 0.5, -2.5];
        let y: Vec<f64> = (0..80)
            .map(|t| 10.0 + 0.1 * t as f64 + pattern[t % 4])
            .collect();
        let d = stl(&y, 4, 11, 2);
        for t in 8..72 {
            assert!(
                (d.seasonal[t] - pattern[t % 4]).abs() < 0.05,
                "t={t} s={}",
                d.seasonal[t]
            );
            assert!((d.trend[t] - (10.0 + 0.1 * t as f64)).abs() < 0.05);
        }
    }
}
