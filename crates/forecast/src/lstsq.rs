//! Least squares through accumulated normal equations and a Cholesky solve.
//!
//! The regression and autoregression models have at most a few dozen well-scaled columns, so
//! accumulating `XᵀX` row by row (never storing the design matrix) and solving with a small ridge
//! term is fast, allocation-light and stable enough; it avoids pulling a linear-algebra crate into
//! the dependency tree for one solve.

use crate::ForecastError;

/// Running sums `XᵀX`, `Xᵀy` for a least-squares fit with `p` columns.
#[derive(Debug, Clone)]
pub struct NormalEquations {
    p: usize,
    xtx: Vec<f64>,
    xty: Vec<f64>,
    rows: usize,
}

impl NormalEquations {
    /// Empty system with `p` unknowns.
    pub fn new(p: usize) -> Self {
        Self {
            p,
            xtx: vec![0.0; p * p],
            xty: vec![0.0; p],
            rows: 0,
        }
    }

    /// Adds one observation `y` with regressors `x` (length `p`).
    pub fn add_row(&mut self, x: &[f64], y: f64) {
        debug_assert_eq!(x.len(), self.p);
        for i in 0..self.p {
            let xi = x[i];
            if xi == 0.0 {
                continue;
            }
            self.xty[i] += xi * y;
            let row = &mut self.xtx[i * self.p..(i + 1) * self.p];
            for (j, xj) in x.iter().enumerate().take(i + 1) {
                row[j] += xi * xj;
            }
        }
        self.rows += 1;
    }

    /// The system of the first `k` columns alone, as if only they had been added: the sums are
    /// the same numbers in the same order, so solving it gives exactly what a separate
    /// accumulation would (nested models, e.g. AR orders, share one pass over the data).
    pub fn leading(&self, k: usize) -> Self {
        let k = k.min(self.p);
        let mut xtx = vec![0.0; k * k];
        for i in 0..k {
            xtx[i * k..i * k + i + 1].copy_from_slice(&self.xtx[i * self.p..i * self.p + i + 1]);
        }
        Self {
            p: k,
            xtx,
            xty: self.xty[..k].to_vec(),
            rows: self.rows,
        }
    }

    /// Solves `(XᵀX + λI) β = Xᵀy` with `λ = ridge × mean diagonal`; the ridge keeps nearly
    /// collinear designs (e.g. Fourier terms next to day-of-week dummies) solvable.
    pub fn solve(&self, ridge: f64) -> Result<Vec<f64>, ForecastError> {
        self.solve_full(ridge).map(|s| s.beta)
    }

    /// Like [`solve`](Self::solve), keeping the factorisation for coefficient standard errors.
    pub fn solve_full(&self, ridge: f64) -> Result<Solution, ForecastError> {
        let p = self.p;
        let fail = |reason: &str| ForecastError::FitFailed {
            model: "least squares".into(),
            reason: reason.into(),
        };
        if self.rows < p {
            return Err(fail("fewer rows than unknowns"));
        }
        let mut a = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..=i {
                a[i * p + j] = self.xtx[i * p + j];
                a[j * p + i] = self.xtx[i * p + j];
            }
        }
        let diag_mean = (0..p).map(|i| a[i * p + i]).sum::<f64>() / p.max(1) as f64;
        if !diag_mean.is_finite() {
            return Err(fail("non-finite design"));
        }
        let lambda = ridge * diag_mean.max(f64::MIN_POSITIVE);
        for i in 0..p {
            a[i * p + i] += lambda;
        }
        // Cholesky: a = L Lᵀ, L stored in the lower triangle.
        for j in 0..p {
            let mut d = a[j * p + j];
            for k in 0..j {
                d -= a[j * p + k] * a[j * p + k];
            }
            if d <= 0.0 || !d.is_finite() {
                return Err(fail("matrix not positive definite"));
            }
            let d = d.sqrt();
            a[j * p + j] = d;
            for i in j + 1..p {
                let mut s = a[i * p + j];
                for k in 0..j {
                    s -= a[i * p + k] * a[j * p + k];
                }
                a[i * p + j] = s / d;
            }
        }
        let beta = cholesky_solve(&a, p, self.xty.clone());
        if beta.iter().all(|v| v.is_finite()) {
            Ok(Solution { beta, chol: a, p })
        } else {
            Err(fail("non-finite solution"))
        }
    }
}

/// Solves `L Lᵀ z = b` with `L` in the lower triangle of `a` (p × p, row-major).
fn cholesky_solve(a: &[f64], p: usize, mut z: Vec<f64>) -> Vec<f64> {
    for i in 0..p {
        for k in 0..i {
            z[i] -= a[i * p + k] * z[k];
        }
        z[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            z[i] -= a[k * p + i] * z[k];
        }
        z[i] /= a[i * p + i];
    }
    z
}

/// Coefficients of a least-squares fit plus the Cholesky factor of `XᵀX`.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Fitted coefficients.
    pub beta: Vec<f64>,
    chol: Vec<f64>,
    p: usize,
}

impl Solution {
    /// Diagonal element `k` of `(XᵀX)⁻¹`: times the residual variance, the variance of `beta[k]`.
    pub fn inverse_diagonal(&self, k: usize) -> f64 {
        let mut e = vec![0.0; self.p];
        e[k] = 1.0;
        cholesky_solve(&self.chol, self.p, e)[k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_block_solves_exactly_like_a_separate_accumulation() {
        let noise = crate::stats::test_noise(3, 60);
        let (mut all, mut two) = (NormalEquations::new(3), NormalEquations::new(2));
        for (t, e) in noise.iter().enumerate() {
            let x = t as f64 / 10.0;
            let y = 1.0 + 0.5 * x + e;
            all.add_row(&[1.0, x, x * x], y);
            two.add_row(&[1.0, x], y);
        }
        assert_eq!(
            all.leading(2).solve(1e-9).unwrap(),
            two.solve(1e-9).unwrap()
        );
        assert_eq!(all.leading(2).rows, two.rows);
    }

    #[test]
    fn recovers_exact_line() {
        let mut ne = NormalEquations::new(2);
        for t in 0..20 {
            let x = t as f64;
            ne.add_row(&[1.0, x], 3.0 + 2.0 * x);
        }
        let s = ne.solve_full(1e-12).unwrap();
        let b = &s.beta;
        assert!(
            (b[0] - 3.0).abs() < 1e-6 && (b[1] - 2.0).abs() < 1e-6,
            "{b:?}"
        );
        // (XᵀX)⁻¹ for x = 0..19 with intercept: var factor of the slope is 1/Σ(x-x̄)².
        assert!((s.inverse_diagonal(1) - 1.0 / 665.0).abs() < 1e-9);
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let mut ne = NormalEquations::new(3);
        ne.add_row(&[1.0, 2.0, 3.0], 1.0);
        assert!(ne.solve(1e-9).is_err());
    }
}
