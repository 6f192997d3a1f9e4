//! Locally weighted regression (loess) as used inside STL (Cleveland et al. 1990, §2–3):
//! tricube neighbourhood weights over the q nearest points, local degree 0 or 1, optional
//! robustness weights, and evaluation every `jump` points with linear interpolation between.

/// A loess smoother over points at integer positions 0..n.
#[derive(Debug, Clone, Copy)]
pub struct Loess {
    /// Neighbourhood size in points (odd, ≥ 3 in practice).
    pub window: usize,
    /// Local polynomial degree: 0 (weighted mean) or 1 (weighted line).
    pub degree: usize,
    /// Evaluate every `jump` points and interpolate (1 = exact everywhere).
    pub jump: usize,
}

impl Loess {
    /// Smoother with the jump STL recommends: one tenth of the window, rounded up.
    pub fn new(window: usize, degree: usize) -> Self {
        Self {
            window,
            degree,
            jump: window.div_ceil(10).max(1),
        }
    }

    /// Fitted value at position `x` (may lie outside 0..n, for STL's end extensions), or `None`
    /// when every neighbour has zero weight.
    pub fn at(&self, y: &[f64], x: f64) -> Option<f64> {
        Some(self.weights_at(y.len(), x)?.apply(y))
    }

    /// The fit at `x` as a weighted sum of the points from the returned first position on.
    fn weights(&self, n: usize, x: f64) -> Option<(usize, Vec<f64>)> {
        if n == 0 {
            return None;
        }
        let q = self.window.max(1);
        let (l, r, mut h) = if q >= n {
            (0, n - 1, (x).max((n - 1) as f64 - x))
        } else {
            let centre = x.round() - ((q - 1) / 2) as f64;
            let l = centre.clamp(0.0, (n - q) as f64) as usize;
            let r = l + q - 1;
            (l, r, (x - l as f64).max(r as f64 - x))
        };
        if q > n {
            h += ((q - n) / 2) as f64;
        }
        let h = h.max(0.5);
        let (h_hi, h_lo) = (0.999 * h, 0.001 * h);
        let mut w = vec![0.0; r - l + 1];
        let mut total = 0.0;
        for (k, wk) in w.iter_mut().enumerate() {
            let d = ((l + k) as f64 - x).abs();
            *wk = if d <= h_lo {
                1.0
            } else if d <= h_hi {
                let u = d / h;
                let v = 1.0 - u * u * u;
                v * v * v
            } else {
                0.0
            };
            total += *wk;
        }
        if total <= 0.0 {
            return None;
        }
        for wk in &mut w {
            *wk /= total;
        }
        if self.degree >= 1 {
            let a: f64 = w
                .iter()
                .enumerate()
                .map(|(k, wk)| wk * (l + k) as f64)
                .sum();
            let c: f64 = w
                .iter()
                .enumerate()
                .map(|(k, wk)| wk * ((l + k) as f64 - a).powi(2))
                .sum();
            if c.sqrt() > 0.001 * (n as f64 - 1.0) {
                let b = (x - a) / c;
                for (k, wk) in w.iter_mut().enumerate() {
                    *wk *= b * ((l + k) as f64 - a) + 1.0;
                }
            }
        }
        Some((l, w))
    }

    /// Smoothed values at every position 0..n.
    pub fn smooth(&self, y: &[f64]) -> Vec<f64> {
        self.smooth_planned(&self.plan(y.len()), y)
    }

    /// What [`Loess::smooth`] computes for any series of length `n`: its knots and their weights.
    /// STL smooths each of its `period` cycle-subseries (all of one or two lengths) on every
    /// pass, and its low-pass and trend series keep their lengths from pass to pass: planning once
    /// per length (computing the weights was 13 % of a forecast of exchange-3_cpc_results) took
    /// the CPU per forecast of nyc_taxi from 42.7 to 33.4 ms and of
    /// ambient_temperature_system_failure from 21.4 to 16.7 ms, the forecasts byte-identical.
    pub fn plan(&self, n: usize) -> SmoothPlan {
        let jump = self.jump.clamp(1, n.saturating_sub(1).max(1));
        let mut knots: Vec<usize> = (0..n).step_by(jump).collect();
        if n > 0 && *knots.last().unwrap_or(&0) != n - 1 {
            knots.push(n - 1);
        }
        // Away from the ends every knot sees the same neighbourhood shape, so the same weights:
        // compute them once (most of an STL decomposition's time was recomputing them).
        let (q, half) = (self.window.max(1), (self.window.max(1) - 1) / 2);
        let mut interior: Option<Vec<f64>> = None;
        let weights = knots
            .iter()
            .map(|&k| {
                let inside = q < n && k >= half && k - half + q <= n;
                if inside && interior.is_none() {
                    interior = self.weights(n, k as f64).map(|(_, w)| w);
                }
                match (interior.is_some(), inside) {
                    (true, true) => Knot::Interior(k - half),
                    _ => self
                        .weights(n, k as f64)
                        .map_or(Knot::Unfitted, |(l, w)| Knot::Own(l, w)),
                }
            })
            .collect();
        SmoothPlan {
            n,
            knots,
            interior: interior.unwrap_or_default(),
            weights,
        }
    }

    /// [`Loess::smooth`] of `y` (of the plan's length) by a plan made for its length.
    pub fn smooth_planned(&self, plan: &SmoothPlan, y: &[f64]) -> Vec<f64> {
        let n = y.len();
        debug_assert_eq!(plan.n, n, "a plan is for one length");
        if n < 3 || plan.n != n {
            return y.to_vec();
        }
        let mut out = vec![0.0; n];
        for (&k, knot) in plan.knots.iter().zip(&plan.weights) {
            out[k] = match knot {
                Knot::Interior(l) => dot(&plan.interior, &y[*l..]),
                Knot::Own(l, w) => dot(w, &y[*l..]),
                Knot::Unfitted => y[k],
            };
        }
        for pair in plan.knots.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            for i in a + 1..b {
                let f = (i - a) as f64 / (b - a) as f64;
                out[i] = out[a] + (out[b] - out[a]) * f;
            }
        }
        out
    }

    /// The weights of [`Loess::at`] for any series of length `n`, to apply to many.
    pub fn weights_at(&self, n: usize, x: f64) -> Option<Weights> {
        self.weights(n, x).map(|(first, w)| Weights { first, w })
    }
}

/// The fit at one position as a weighted sum of points ([`Loess::weights_at`]).
#[derive(Debug, Clone)]
pub struct Weights {
    first: usize,
    w: Vec<f64>,
}

impl Weights {
    /// The fit on `y`: exactly what [`Loess::at`] returns for it.
    pub fn apply(&self, y: &[f64]) -> f64 {
        dot(&self.w, &y[self.first..])
    }
}

/// How one knot of a [`SmoothPlan`] is fitted.
#[derive(Debug, Clone)]
enum Knot {
    /// With the shared interior weights, from this first position.
    Interior(usize),
    /// With weights of its own, from this first position.
    Own(usize, Vec<f64>),
    /// Every neighbour had zero weight: the point itself.
    Unfitted,
}

/// The knots and weights of [`Loess::smooth`] for one series length ([`Loess::plan`]).
#[derive(Debug, Clone)]
pub struct SmoothPlan {
    n: usize,
    knots: Vec<usize>,
    interior: Vec<f64>,
    weights: Vec<Knot>,
}

/// Σ w_k · y_k over the length of `w`.
fn dot(w: &[f64], y: &[f64]) -> f64 {
    w.iter().zip(y).map(|(a, b)| a * b).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degree_one_reproduces_a_line_even_when_extrapolating() {
        let y: Vec<f64> = (0..30).map(|t| 2.0 + 0.5 * t as f64).collect();
        let l = Loess::new(7, 1);
        let s = l.smooth(&y);
        for (a, b) in s.iter().zip(&y) {
            assert!((a - b).abs() < 1e-9);
        }
        assert!((l.at(&y, -1.0).unwrap() - 1.5).abs() < 1e-9);
        assert!((l.at(&y, 30.0).unwrap() - 17.0).abs() < 1e-9);
    }

    #[test]
    fn shared_interior_weights_give_the_direct_fit_at_every_knot() {
        let y: Vec<f64> = crate::stats::test_noise(9, 200)
            .iter()
            .enumerate()
            .map(|(t, e)| (t as f64 * 0.2).sin() * 10.0 + e)
            .collect();
        for (window, degree) in [(7, 0), (7, 1), (10, 1), (49, 1), (199, 1)] {
            let l = Loess {
                window,
                degree,
                jump: 1,
            };
            for (t, v) in l.smooth(&y).iter().enumerate() {
                let direct = l.at(&y, t as f64).unwrap();
                assert!((v - direct).abs() < 1e-9, "window {window} at {t}");
            }
        }
    }

    #[test]
    fn one_plan_smooths_every_series_of_its_length_as_smooth_does() {
        let noise = crate::stats::test_noise(4, 400);
        for (window, degree, n) in [
            (7, 0, 28),
            (11, 1, 4),
            (37, 1, 200),
            (7, 1, 2),
            (201, 1, 60),
        ] {
            let l = Loess::new(window, degree);
            let plan = l.plan(n);
            for series in noise.chunks(n).take(3) {
                let y: Vec<f64> = series.iter().map(|e| 5.0 + e).collect();
                if y.len() < n {
                    continue;
                }
                let planned = l.smooth_planned(&plan, &y);
                assert_eq!(planned, l.smooth(&y), "window {window}, length {n}");
                for x in [-1.0, n as f64] {
                    let w = l.weights_at(n, x).map(|w| w.apply(&y));
                    assert_eq!(w, l.at(&y, x));
                }
            }
        }
    }

    #[test]
    fn window_larger_than_series_is_fine() {
        let y = [1.0, 2.0, 3.0];
        let s = Loess::new(11, 1).smooth(&y);
        assert!(s.iter().all(|v| v.is_finite()));
    }
}
