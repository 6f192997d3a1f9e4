//! Conditional-sum-of-squares residuals of an ARMA with mean on a differenced series `w`, at one
//! coefficient vector or at several interleaved (the Levenberg–Marquardt Jacobian's points).
//!
//! Why interleaved: one pass is a chain of dependent multiply-subtracts (each residual needs the
//! previous ones through the MA terms), so it runs at the latency of that chain with the core
//! mostly idle — `css_residuals` was 42 % of a forecast of azure_code_1s. The Jacobian's `k`
//! points are independent chains; run side by side in lanes they overlap. Each lane does its
//! point's single-pass arithmetic in the same order (a lag where the lane's coefficient is zero
//! subtracts an exact zero), so the residuals are the same numbers.

use super::fit::ArimaCoefficients;
use super::least_squares::Residuals;
use super::order::ArimaOrder;

/// Points evaluated side by side.
const LANES: usize = 8;

/// Residuals beyond this are taken as a diverged search.
const DIVERGED: f64 = 1e150;

/// Expanded AR and MA polynomials and the mean at one coefficient vector.
struct Polynomials {
    ar: Vec<f64>,
    ma: Vec<f64>,
    mean: f64,
}

/// The CSS residuals of `order` on `w`, conditioned on the first `n_cond` values.
pub(super) struct CssResiduals<'a> {
    order: ArimaOrder,
    w: &'a [f64],
    n_cond: usize,
    /// Residuals of one pass (the MA terms read them back).
    e: Vec<f64>,
    /// Residuals of interleaved passes, lane by lane.
    lanes: Vec<[f64; LANES]>,
}

impl<'a> CssResiduals<'a> {
    pub(super) fn new(order: ArimaOrder, w: &'a [f64], n_cond: usize) -> Self {
        CssResiduals {
            order,
            w,
            n_cond,
            e: vec![0.0; w.len()],
            lanes: Vec::new(),
        }
    }

    /// Expanded AR and MA polynomials and the mean at coefficients `x`.
    fn polynomials(&self, x: &[f64]) -> Polynomials {
        let coef = ArimaCoefficients::from_vec(&self.order, x);
        let (ar, ma) = coef.expanded(self.order.period);
        Polynomials {
            ar,
            ma,
            mean: coef.mean(),
        }
    }

    /// Up to [`LANES`] points in one pass over `w`.
    fn lanes(&mut self, xs: &[Vec<f64>], outs: &mut [Vec<f64>], ok: &mut [bool]) {
        let polys: Vec<_> = xs.iter().map(|x| self.polynomials(x)).collect();
        // The lags any point needs, each with every lane's coefficient (zero where a lane has
        // none: lanes past the points, or a coefficient that is exactly zero).
        let gather = |pick: fn(&Polynomials) -> &[f64]| {
            let longest = polys.iter().map(|p| pick(p).len()).max().unwrap_or(0);
            (0..longest)
                .filter_map(|i| {
                    let mut c = [0.0; LANES];
                    for (lane, p) in polys.iter().enumerate() {
                        c[lane] = pick(p).get(i).copied().unwrap_or(0.0);
                    }
                    c.iter().any(|&v| v != 0.0).then_some((i + 1, c))
                })
                .collect::<Vec<_>>()
        };
        let ar = gather(|p| &p.ar);
        let ma = gather(|p| &p.ma);
        let mut mu = [0.0; LANES];
        for (lane, p) in polys.iter().enumerate() {
            mu[lane] = p.mean;
        }
        let w = self.w;
        // Rows from `n_cond` on are written before the MA terms read them; only the conditioning
        // rows need zeros (clearing the whole buffer was a 100 KB write per Jacobian).
        self.lanes.resize(w.len(), [0.0; LANES]);
        self.lanes[..self.n_cond].fill([0.0; LANES]);
        let mut bad = [false; LANES];
        for t in self.n_cond..w.len() {
            let mut v = [0.0; LANES];
            for lane in 0..LANES {
                v[lane] = w[t] - mu[lane];
            }
            for (lag, c) in &ar {
                let past = w[t - lag];
                for lane in 0..LANES {
                    v[lane] -= c[lane] * (past - mu[lane]);
                }
            }
            for (lag, c) in ma.iter().filter(|(lag, _)| *lag <= t) {
                let past = self.lanes[t - lag];
                for lane in 0..LANES {
                    v[lane] -= c[lane] * past[lane];
                }
            }
            for lane in 0..LANES {
                bad[lane] |= !v[lane].is_finite() || v[lane].abs() > DIVERGED;
            }
            self.lanes[t] = v;
            for (lane, out) in outs.iter_mut().enumerate() {
                out[t - self.n_cond] = v[lane];
            }
        }
        for (lane, ok) in ok.iter_mut().enumerate() {
            *ok = !bad[lane];
        }
    }
}

impl Residuals for CssResiduals<'_> {
    fn at(&mut self, x: &[f64], out: &mut [f64]) -> bool {
        let Polynomials {
            ar: a,
            ma: b,
            mean: mu,
        } = self.polynomials(x);
        // Seasonal expansions are mostly zeros: keep only the lags that matter.
        let nonzero = |v: &[f64]| -> Vec<(usize, f64)> {
            v.iter()
                .enumerate()
                .filter(|c| *c.1 != 0.0)
                .map(|(i, &c)| (i + 1, c))
                .collect()
        };
        let (a, b) = (nonzero(&a), nonzero(&b));
        let (w, e) = (self.w, &mut self.e);
        e[..self.n_cond].iter_mut().for_each(|v| *v = 0.0);
        for t in self.n_cond..w.len() {
            let mut v = w[t] - mu;
            for &(lag, c) in &a {
                v -= c * (w[t - lag] - mu);
            }
            for &(lag, c) in &b {
                if lag <= t {
                    v -= c * e[t - lag];
                }
            }
            if !v.is_finite() || v.abs() > DIVERGED {
                return false;
            }
            e[t] = v;
            out[t - self.n_cond] = v;
        }
        true
    }

    fn at_many(&mut self, xs: &[Vec<f64>], outs: &mut [Vec<f64>], ok: &mut [bool]) {
        for ((xs, outs), ok) in xs
            .chunks(LANES)
            .zip(outs.chunks_mut(LANES))
            .zip(ok.chunks_mut(LANES))
        {
            self.lanes(xs, outs, ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An order, a series, and up to 11 coefficient vectors for it (more than one chunk of lanes),
    /// some with exact zeros and some diverging.
    fn case() -> impl Strategy<Value = (ArimaOrder, Vec<f64>, Vec<Vec<f64>>)> {
        (0usize..3, 0usize..3, 0usize..2, 0usize..2, any::<bool>()).prop_flat_map(
            |(p, q, sp, sq, constant)| {
                let order = ArimaOrder::new(p, 0, q)
                    .seasonal(sp, 0, sq, 4)
                    .with_constant(constant);
                let k = order.n_coefficients();
                let coefficient = prop_oneof![Just(0.0), -0.9f64..0.9, -30.0f64..30.0];
                (
                    Just(order),
                    prop::collection::vec(-50.0f64..50.0, 30..80),
                    prop::collection::vec(prop::collection::vec(coefficient, k), 1..12),
                )
            },
        )
    }

    proptest! {
        #[test]
        fn interleaved_passes_are_the_single_passes((order, w, xs) in case()) {
            let n_cond = order.p + 4 * order.seasonal_p;
            let mut residuals = CssResiduals::new(order, &w, n_cond);
            let n = w.len() - n_cond;
            let mut outs = vec![vec![0.0; n]; xs.len()];
            let mut ok = vec![false; xs.len()];
            residuals.at_many(&xs, &mut outs, &mut ok);
            for (j, x) in xs.iter().enumerate() {
                let mut single = vec![0.0; n];
                let single_ok = residuals.at(x, &mut single);
                prop_assert_eq!(ok[j], single_ok);
                if single_ok {
                    // The same numbers (the sign of an exact zero aside).
                    prop_assert!(outs[j].iter().zip(&single).all(|(a, b)| a == b), "point {}", j);
                }
            }
        }
    }
}
