//! The state-space recursions and the likelihood of Hyndman et al. (2008, ch. 2 and 5).
//!
//! With `q = l + φb` (φ = 1 for an undamped trend, b = 0 without trend) the one-step forecast is
//! `μ = q`, `q + s` or `q·s` by season type. Written in terms of the raw error `r = y − μ`, the
//! state updates do not depend on the error type:
//!
//! | season | level            | trend           | season          |
//! |--------|------------------|-----------------|-----------------|
//! | N, A   | `q + α r`        | `φb + β r`      | `s + γ r`       |
//! | M      | `q + α r / s`    | `φb + β r / s`  | `s + γ r / q`   |
//!
//! The error type decides the innovation `ε` (`r`, or `r/μ`) and so the likelihood: twice the
//! negative log-likelihood is `n·ln(2πσ²) + n + 2Σ ln|μ|` (last term for multiplicative error only)
//! with `σ² = Σε²/n`.

use super::spec::{ErrorType, EtsSpec, SeasonType, TrendType};

/// Smoothing parameters (β, γ and φ are ignored when the component is absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Smoothing {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// Level, trend and one seasonal state per phase (`season[t % m]` serves observation `t`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct States {
    pub level: f64,
    pub trend: f64,
    pub season: Vec<f64>,
}

/// The result of running the recursions over a history.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    /// Log-likelihood (Gaussian innovations).
    pub loglik: f64,
    /// Innovation variance estimate `Σε²/n`.
    pub sigma2: f64,
}

/// Damping factor applied to the trend each step.
pub(crate) fn damping(spec: EtsSpec, p: &Smoothing) -> f64 {
    match spec.trend {
        TrendType::None => 0.0,
        TrendType::Additive => 1.0,
        TrendType::Damped => p.phi,
    }
}

/// One-step forecast from the states for phase `phase`; `None` if the states are inadmissible.
pub(crate) fn one_step(
    spec: EtsSpec,
    p: &Smoothing,
    st: &States,
    phase: usize,
) -> Option<(f64, f64)> {
    let q = st.level + damping(spec, p) * st.trend;
    let mu = match spec.season {
        SeasonType::None => q,
        SeasonType::Additive => q + st.season[phase],
        SeasonType::Multiplicative => {
            if q <= 0.0 || st.season[phase] <= 0.0 {
                return None;
            }
            q * st.season[phase]
        }
    };
    mu.is_finite().then_some((q, mu))
}

/// Update the states with observation `y` at `phase`, given `q` and `μ` from [`one_step`].
pub(crate) fn update(
    spec: EtsSpec,
    p: &Smoothing,
    st: &mut States,
    phase: usize,
    y: f64,
    q: f64,
    mu: f64,
) {
    let r = y - mu;
    let phi = damping(spec, p);
    match spec.season {
        SeasonType::None | SeasonType::Additive => {
            st.level = q + p.alpha * r;
            st.trend = phi * st.trend + p.beta * r;
            if spec.season == SeasonType::Additive {
                st.season[phase] += p.gamma * r;
            }
        }
        SeasonType::Multiplicative => {
            let s = st.season[phase];
            st.level = q + p.alpha * r / s;
            st.trend = phi * st.trend + p.beta * r / s;
            st.season[phase] = s + p.gamma * r / q;
        }
    }
    if !spec.has_trend() {
        st.trend = 0.0;
    }
}

/// Run the recursions over `y` from `st` (left holding the final states).
///
/// `floor` is the smallest innovation variance allowed (a perfect fit would give an infinite
/// likelihood). Returns `None` when the states leave the admissible region (non-positive
/// multiplicative components, overflow).
pub(crate) fn filter(
    spec: EtsSpec,
    p: &Smoothing,
    y: &[f64],
    st: &mut States,
    floor: f64,
) -> Option<Pass> {
    let m = st.season.len().max(1);
    let mut sum_e2 = 0.0;
    let mut sum_log_mu = 0.0;
    for (t, &yt) in y.iter().enumerate() {
        let phase = t % m;
        let (q, mu) = one_step(spec, p, st, phase)?;
        let e = match spec.error {
            ErrorType::Additive => yt - mu,
            ErrorType::Multiplicative => {
                if mu <= 0.0 {
                    return None;
                }
                sum_log_mu += mu.ln();
                (yt - mu) / mu
            }
        };
        sum_e2 += e * e;
        update(spec, p, st, phase, yt, q, mu);
        if !(st.level.is_finite() && st.trend.is_finite()) {
            return None;
        }
    }
    let n = y.len() as f64;
    let sigma2 = (sum_e2 / n).max(floor);
    let loglik = -0.5 * n * ((2.0 * std::f64::consts::PI * sigma2).ln() + 1.0) - sum_log_mu;
    (loglik.is_finite() && st.season.iter().all(|s| s.is_finite()))
        .then_some(Pass { loglik, sigma2 })
}
