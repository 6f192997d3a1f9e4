//! Fitting one ARIMA order: conditional sum of squares, exact maximum likelihood, or both.
//!
//! The series is differenced first, `w = (1 − B)^d (1 − B^m)^D y`, and an ARMA with optional mean
//! is fitted to `w`; the exact likelihood of `w` equals the diffuse likelihood of the integrated
//! model, so log-likelihoods and AICc are those R's `arima` reports. CSS (Levenberg–Marquardt,
//! residuals conditioned on the first `p + mP` values) gives starting values; ML maximises the
//! Kalman-filter likelihood by Nelder–Mead over partial autocorrelations (AR parts, so every point
//! is stationary) and raw MA coefficients.

use super::css::CssResiduals;
use super::kalman;
use super::least_squares::{Residuals, levenberg_marquardt, levenberg_marquardt_unless};
use super::order::ArimaOrder;
use super::poly::{ar_to_pacf, expand_ar, expand_ma, pacf_to_ar, roots_outside};
use crate::{ForecastError, Model};

/// Estimation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Method {
    /// Conditional sum of squares only (fast; the choice for long seasonal periods).
    Css,
    /// Exact maximum likelihood from zero starting values.
    Ml,
    /// CSS for starting values, then exact maximum likelihood (the usual default).
    CssMl,
}

/// A fixed-order ARIMA model.
#[derive(Debug, Clone)]
pub struct Arima {
    order: ArimaOrder,
    method: Method,
    /// Coefficients to start the conditional-sum-of-squares search from (a fit of this order on
    /// a shorter history).
    start: Option<Vec<f64>>,
}

impl Arima {
    /// A model of the given order, estimated by CSS-ML.
    pub fn new(order: ArimaOrder) -> Self {
        Arima {
            order,
            method: Method::CssMl,
            start: None,
        }
    }

    /// Start the conditional-sum-of-squares search at `x` (coefficients in the order of
    /// [`FittedArima::coefficient_vector`]) instead of zeros, when it is feasible on the new history.
    pub(crate) fn starting_at(mut self, x: Vec<f64>) -> Self {
        self.start = Some(x);
        self
    }

    /// Choose the estimation method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Fit to `y` and keep the concrete type (the ensemble can read coefficients and AICc).
    pub fn fit_order(&self, y: &[f64]) -> Result<FittedArima, ForecastError> {
        fit_from(y, self.order, self.method, self.start.as_deref(), None)
    }
}

impl Model for Arima {
    fn name(&self) -> String {
        self.order.to_string()
    }

    /// The period is the order's own; `seasons` is ignored.
    fn fit(&self, y: &[f64], _seasons: &[usize]) -> Result<Box<dyn crate::Fitted>, ForecastError> {
        Ok(Box::new(self.fit_order(y)?))
    }
}

/// Estimated coefficients, in R's sign conventions (AR: `1 − Σφ`, MA: `1 + Σθ`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArimaCoefficients {
    /// Non-seasonal AR φ₁…φ_p.
    pub ar: Vec<f64>,
    /// Non-seasonal MA θ₁…θ_q.
    pub ma: Vec<f64>,
    /// Seasonal AR Φ₁…Φ_P.
    pub seasonal_ar: Vec<f64>,
    /// Seasonal MA Θ₁…Θ_Q.
    pub seasonal_ma: Vec<f64>,
    /// Mean of the differenced series (drift per step when `d + D = 1`), if included.
    pub constant: Option<f64>,
}

impl ArimaCoefficients {
    pub(super) fn from_vec(order: &ArimaOrder, x: &[f64]) -> Self {
        let (p, q, sp, sq) = (order.p, order.q, order.seasonal_p, order.seasonal_q);
        ArimaCoefficients {
            ar: x[..p].to_vec(),
            ma: x[p..p + q].to_vec(),
            seasonal_ar: x[p + q..p + q + sp].to_vec(),
            seasonal_ma: x[p + q + sp..p + q + sp + sq].to_vec(),
            constant: order.constant.then(|| x[p + q + sp + sq]),
        }
    }

    pub(super) fn mean(&self) -> f64 {
        self.constant.unwrap_or(0.0)
    }

    /// Expanded AR and MA polynomials (seasonal parts multiplied in).
    pub(crate) fn expanded(&self, m: usize) -> (Vec<f64>, Vec<f64>) {
        (
            expand_ar(&self.ar, &self.seasonal_ar, m),
            expand_ma(&self.ma, &self.seasonal_ma, m),
        )
    }
}

/// A fitted ARIMA model.
#[derive(Debug, Clone)]
pub struct FittedArima {
    pub(crate) order: ArimaOrder,
    pub(crate) coef: ArimaCoefficients,
    pub(crate) sigma2: f64,
    pub(crate) loglik: f64,
    pub(crate) n_used: usize,
    pub(crate) method: Method,
    /// Predicted ARMA state after the last observation (mean removed).
    pub(crate) next_state: Vec<f64>,
    /// The last `d + mD` observations, to undo the differencing.
    pub(crate) y_tail: Vec<f64>,
}

impl FittedArima {
    /// The fitted order.
    pub fn order(&self) -> ArimaOrder {
        self.order
    }

    /// Estimated coefficients.
    pub fn coefficients(&self) -> &ArimaCoefficients {
        &self.coef
    }

    /// Innovation variance (ML: concentrated estimate; CSS: residual mean square).
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// Gaussian log-likelihood of the differenced series (conditional for CSS fits).
    pub fn loglik(&self) -> f64 {
        self.loglik
    }

    /// The coefficients as one vector (AR, MA, seasonal AR, seasonal MA, constant), the layout
    /// of [`Arima::starting_at`].
    pub(crate) fn coefficient_vector(&self) -> Vec<f64> {
        let c = &self.coef;
        let mut x = c.ar.clone();
        x.extend_from_slice(&c.ma);
        x.extend_from_slice(&c.seasonal_ar);
        x.extend_from_slice(&c.seasonal_ma);
        x.extend(c.constant);
        x
    }

    /// Estimation method actually used.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Observations after differencing (the `n` of the likelihood).
    pub fn n_used(&self) -> usize {
        self.n_used
    }

    /// `−2 logL + 2k` with `k` = coefficients + 1 (the variance).
    pub fn aic(&self) -> f64 {
        -2.0 * self.loglik + 2.0 * (self.order.n_coefficients() + 1) as f64
    }

    /// Small-sample corrected AIC (infinite when `n ≤ k + 1`).
    pub fn aicc(&self) -> f64 {
        let k = (self.order.n_coefficients() + 1) as f64;
        let n = self.n_used as f64;
        if n - k - 1.0 <= 0.0 {
            return f64::INFINITY;
        }
        self.aic() + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    }

    /// Whether all AR and MA roots lie outside the circle of radius `radius` (e.g. 1.01): a model
    /// too close to non-stationarity or non-invertibility forecasts erratically.
    pub fn roots_outside(&self, radius: f64) -> bool {
        let ma_as_ar = |v: &[f64]| v.iter().map(|c| -c).collect::<Vec<_>>();
        roots_outside(&self.coef.ar, radius)
            && roots_outside(&self.coef.seasonal_ar, radius)
            && roots_outside(&ma_as_ar(&self.coef.ma), radius)
            && roots_outside(&ma_as_ar(&self.coef.seasonal_ma), radius)
    }
}

/// Work shared by the estimators: the differenced series and layout.
struct Problem<'a> {
    order: ArimaOrder,
    w: &'a [f64],
    /// Residuals conditioned on this many leading values (CSS).
    n_cond: usize,
    /// Smallest variance allowed (a perfect fit would have infinite likelihood).
    floor: f64,
}

impl Problem<'_> {
    fn n_eff(&self) -> usize {
        self.w.len() - self.n_cond
    }

    /// CSS estimates from `warm` when it is given and feasible, else from zeros (and the sample
    /// mean).
    fn css(&self, warm: Option<&[f64]>) -> Option<(Vec<f64>, f64)> {
        let k = self.order.n_coefficients();
        let mut residuals = CssResiduals::new(self.order, self.w, self.n_cond);
        let mut probe = vec![0.0; self.n_eff()];
        let x0 = match warm {
            Some(x) if x.len() == k && residuals.at(x, &mut probe) => x.to_vec(),
            _ => {
                let mut x0 = vec![0.0; k];
                if self.order.constant {
                    x0[k - 1] = self.w.iter().sum::<f64>() / self.w.len() as f64;
                }
                x0
            }
        };
        let (x, sse) = levenberg_marquardt(residuals, &x0, self.n_eff(), 100)?;
        Some((x, (sse / self.n_eff() as f64).max(self.floor)))
    }

    fn search_point(&self, x: &[f64]) -> Option<Vec<f64>> {
        let o = &self.order;
        let mut out = x.to_vec();
        out[..o.p].copy_from_slice(&ar_to_pacf(&x[..o.p])?);
        let s = o.p + o.q;
        out[s..s + o.seasonal_p].copy_from_slice(&ar_to_pacf(&x[s..s + o.seasonal_p])?);
        Some(out)
    }

    fn coefficients_at(&self, z: &[f64]) -> Vec<f64> {
        let o = &self.order;
        let mut out = z.to_vec();
        out[..o.p].copy_from_slice(&pacf_to_ar(&z[..o.p]));
        let s = o.p + o.q;
        out[s..s + o.seasonal_p].copy_from_slice(&pacf_to_ar(&z[s..s + o.seasonal_p]));
        out
    }

    /// Kalman pass at coefficients `x`: (σ², log-likelihood, pass).
    fn exact(&self, x: &[f64]) -> Option<(f64, f64, kalman::KalmanPass)> {
        let coef = ArimaCoefficients::from_vec(&self.order, x);
        let (a, b) = coef.expanded(self.order.period);
        let mu = coef.mean();
        let centred: Vec<f64> = self.w.iter().map(|v| v - mu).collect();
        let pass = kalman::filter(&centred, &a, &b, None)?;
        let n = self.w.len() as f64;
        let sigma2 = (pass.ssq / n).max(self.floor);
        let loglik =
            -0.5 * (n * ((2.0 * std::f64::consts::PI * sigma2).ln() + 1.0) + pass.sum_log_f);
        loglik.is_finite().then_some((sigma2, loglik, pass))
    }

    /// Standardised innovations scaled by the geometric mean of the `Fₜ`: their sum of squares is
    /// `n·σ̂²·(ΠFₜ)^{1/n}`, a monotone transform of the concentrated likelihood, so exact ML
    /// becomes a least-squares problem (far fewer filter passes than a simplex search).
    fn exact_residuals(&self, z: &[f64], out: &mut [f64]) -> bool {
        let coef = ArimaCoefficients::from_vec(&self.order, &self.coefficients_at(z));
        let (a, b) = coef.expanded(self.order.period);
        let mu = coef.mean();
        let centred: Vec<f64> = self.w.iter().map(|v| v - mu).collect();
        let Some(pass) = kalman::filter(&centred, &a, &b, Some(out)) else {
            return false;
        };
        let scale = (pass.sum_log_f / (2.0 * self.w.len() as f64)).exp();
        out.iter_mut().for_each(|v| *v *= scale);
        scale.is_finite()
    }

    /// Maximise the exact likelihood from coefficients `start`; with `ma_radius`, give up (`None`)
    /// once an accepted step puts an MA root inside that radius.
    fn ml(&self, start: &[f64], ma_radius: Option<f64>) -> Option<Vec<f64>> {
        let z0 = self
            .search_point(start)
            .unwrap_or_else(|| vec![0.0; start.len()]);
        let o = &self.order;
        let seasonal_ma = o.p + o.q + o.seasonal_p;
        let ma_as_ar = |v: &[f64]| v.iter().map(|c| -c).collect::<Vec<_>>();
        // MA coefficients are searched raw (AR ones as partial autocorrelations), so `z` has them.
        let ma_inside = |z: &[f64]| {
            ma_radius.is_some_and(|r| {
                !roots_outside(&ma_as_ar(&z[o.p..o.p + o.q]), r)
                    || !roots_outside(&ma_as_ar(&z[seasonal_ma..seasonal_ma + o.seasonal_q]), r)
            })
        };
        let (z, _) = levenberg_marquardt_unless(
            |z: &[f64], out: &mut [f64]| self.exact_residuals(z, out),
            &z0,
            self.w.len(),
            100,
            ma_inside,
        )?;
        Some(self.coefficients_at(&z))
    }
}

/// Fits `order` to `y` with `method`, for a caller that rejects any fit with an MA root inside
/// `ma_radius`: the exact-ML search stops (an error) as soon as one of its steps puts an MA root
/// there, instead of running on to an end point that would be rejected. Such a search rarely
/// comes back: the exact likelihood of an MA is the same for a root and its reciprocal, so a
/// search that reaches the circle is usually at its optimum there (an over-differenced series).
/// Why: AutoARIMA's exact-ML refits that end non-invertible were most of a forecast of
/// azure_code_1s (seven rejected refits of 1–23 ms each on one window, the Kalman filter never
/// reaching its steady state near the circle). Measured on the compare script's windows of the
/// 32 development and 8 test series: forecasts byte-identical on every window both binaries
/// took but one (rds_cpu_utilization_cc0c53, its MASE 1.840 either way); azure_code_1s's median
/// CPU per process 82.6 → 65.6 ms.
pub(crate) fn fit_invertible(
    y: &[f64],
    order: ArimaOrder,
    method: Method,
    ma_radius: f64,
) -> Result<FittedArima, ForecastError> {
    fit_from(y, order, method, None, Some(ma_radius))
}

/// Fits `order` to `y` with `method`: the conditional-sum-of-squares search starts from `warm`
/// when it is feasible, the exact-ML search gives up once an MA root is inside `ma_radius`.
fn fit_from(
    y: &[f64],
    order: ArimaOrder,
    method: Method,
    warm: Option<&[f64]>,
    ma_radius: Option<f64>,
) -> Result<FittedArima, ForecastError> {
    let name = order.to_string();
    if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(ForecastError::InvalidInput(format!(
            "{name}: non-finite value {bad}"
        )));
    }
    let m = order.period.max(1);
    let n_cond = order.p + m * order.seasonal_p;
    let k = order.n_coefficients() + 1;
    let need = order.n_differenced() + n_cond.max(k + 2) + 1;
    if y.len() < need {
        return Err(ForecastError::TooShort {
            model: name,
            got: y.len(),
            need,
        });
    }
    let w = super::poly::difference(y, order.d, order.seasonal_d, m);
    let scale = w.iter().map(|v| v.abs()).sum::<f64>() / w.len() as f64
        + y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64;
    let problem = Problem {
        order,
        w: &w,
        n_cond,
        floor: (1e-10 * scale.max(1e-10)).powi(2),
    };
    let failed = |reason: &str| ForecastError::FitFailed {
        model: name.clone(),
        reason: reason.into(),
    };
    let css = if method == Method::Ml {
        None
    } else {
        problem.css(warm)
    };
    let (x, sigma2, loglik, state) = match method {
        Method::Css => {
            let (x, sigma2) = css.ok_or_else(|| failed("conditional sum of squares diverged"))?;
            // Scaled to all differenced points so that orders with different conditioning
            // lengths stay comparable (the exact likelihood's Σ ln F term is dropped).
            let n = w.len() as f64;
            let loglik = -0.5 * n * ((2.0 * std::f64::consts::PI * sigma2).ln() + 1.0);
            // The exact filter is still the best forecast origin; fall back to CSS-free zeros.
            let state = problem.exact(&x).map(|(_, _, p)| p.next_state);
            (x, sigma2, loglik, state)
        }
        Method::Ml | Method::CssMl => {
            let start = css
                .map(|(x, _)| x)
                .filter(|x| {
                    roots_outside(&x[..order.p], 1.0) && {
                        let s = order.p + order.q;
                        roots_outside(&x[s..s + order.seasonal_p], 1.0)
                    }
                })
                .unwrap_or_else(|| {
                    let mut x0 = vec![0.0; order.n_coefficients()];
                    if order.constant {
                        x0[order.n_coefficients() - 1] = w.iter().sum::<f64>() / w.len() as f64;
                    }
                    x0
                });
            let x = problem.ml(&start, ma_radius).ok_or_else(|| {
                failed(if ma_radius.is_some() {
                    "no finite likelihood found with invertible MA roots"
                } else {
                    "no finite likelihood found"
                })
            })?;
            let (sigma2, loglik, pass) = problem
                .exact(&x)
                .ok_or_else(|| failed("likelihood not finite"))?;
            (x, sigma2, loglik, Some(pass.next_state))
        }
    };
    let coef = ArimaCoefficients::from_vec(&order, &x);
    let next_state = state.ok_or_else(|| failed("state covariance did not converge"))?;
    let tail = order.n_differenced();
    Ok(FittedArima {
        order,
        coef,
        sigma2,
        loglik,
        n_used: w.len(),
        method,
        next_state,
        y_tail: y[y.len() - tail..].to_vec(),
    })
}
