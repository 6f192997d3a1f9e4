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
#[inline(always)]
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
#[inline(always)]
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

/// Range within which [`filter`] multiplies one-step forecasts together before taking a logarithm:
/// the product of two values inside it stays far from overflow and subnormals.
const PRODUCT_RANGE: (f64, f64) = (1e-100, 1e100);

/// Run the recursions over `y` from `st` (left holding the final states).
///
/// `floor` is the smallest innovation variance allowed (a perfect fit would give an infinite
/// likelihood). Returns `None` when the states leave the admissible region (non-positive
/// multiplicative components, overflow).
///
/// This is the inner loop of every ETS fit (the simplex calls it 70–650 times per fit), so it is
/// compiled once per error and season type: with those compile-time constants the per-step
/// `match`es on it vanish, and the phase is a counter rather than `t % m` (an integer division
/// per step). The recursions do the same arithmetic in the same order as before.
pub(crate) fn filter(
    spec: EtsSpec,
    p: &Smoothing,
    y: &[f64],
    st: &mut States,
    floor: f64,
) -> Option<Pass> {
    use ErrorType::{Additive as EA, Multiplicative as EM};
    use SeasonType::{Additive as SA, Multiplicative as SM, None as SN};
    match (spec.error, spec.season) {
        (EA, SN) => filter_as::<false, 0>(spec.trend, p, y, st, floor),
        (EA, SA) => filter_as::<false, 1>(spec.trend, p, y, st, floor),
        (EA, SM) => filter_as::<false, 2>(spec.trend, p, y, st, floor),
        (EM, SN) => filter_as::<true, 0>(spec.trend, p, y, st, floor),
        (EM, SA) => filter_as::<true, 1>(spec.trend, p, y, st, floor),
        (EM, SM) => filter_as::<true, 2>(spec.trend, p, y, st, floor),
    }
}

/// [`filter`] for multiplicative error or not and season type `SEASON` (0 none, 1 additive,
/// 2 multiplicative).
fn filter_as<const MULTIPLICATIVE_ERROR: bool, const SEASON: u8>(
    trend: TrendType,
    p: &Smoothing,
    y: &[f64],
    st: &mut States,
    floor: f64,
) -> Option<Pass> {
    let spec = EtsSpec::new(
        if MULTIPLICATIVE_ERROR {
            ErrorType::Multiplicative
        } else {
            ErrorType::Additive
        },
        trend,
        match SEASON {
            0 => SeasonType::None,
            1 => SeasonType::Additive,
            _ => SeasonType::Multiplicative,
        },
    );
    let mut sum_e2 = 0.0;
    let mut sum_log_mu = 0.0;
    // Σ ln μ as the ln of running products, flushed before they leave [1e-100, 1e100]: one `ln`
    // per ~100 steps instead of one per step. The per-step `ln` was 28 % of a forecast's CPU on
    // Twitter_volume_KO_30min (`perf record`), 2.4 % after. The product's rounding error,
    // ~n·1e-16 relative, moves Σ ln μ by ~1e-13.
    let mut prod_mu = 1.0_f64;
    let m = st.season.len().max(1);
    let mut phase = 0;
    for &yt in y {
        let (q, mu) = one_step(spec, p, st, phase)?;
        let e = match spec.error {
            ErrorType::Additive => yt - mu,
            ErrorType::Multiplicative => {
                if mu <= 0.0 {
                    return None;
                }
                if (PRODUCT_RANGE.0..=PRODUCT_RANGE.1).contains(&mu) {
                    prod_mu *= mu;
                    if !(PRODUCT_RANGE.0..=PRODUCT_RANGE.1).contains(&prod_mu) {
                        sum_log_mu += prod_mu.ln();
                        prod_mu = 1.0;
                    }
                } else {
                    sum_log_mu += mu.ln();
                }
                (yt - mu) / mu
            }
        };
        sum_e2 += e * e;
        update(spec, p, st, phase, yt, q, mu);
        if !(st.level.is_finite() && st.trend.is_finite()) {
            return None;
        }
        phase += 1;
        if phase == m {
            phase = 0;
        }
    }
    sum_log_mu += prod_mu.ln();
    let n = y.len() as f64;
    let sigma2 = (sum_e2 / n).max(floor);
    let loglik = -0.5 * n * ((2.0 * std::f64::consts::PI * sigma2).ln() + 1.0) - sum_log_mu;
    (loglik.is_finite() && st.season.iter().all(|s| s.is_finite()))
        .then_some(Pass { loglik, sigma2 })
}
