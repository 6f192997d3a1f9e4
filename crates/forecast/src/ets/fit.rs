//! Maximum-likelihood fitting of one ETS structure ([`Ets`]) and the fitted model ([`FittedEts`]).
//!
//! The search runs over the smoothing parameters and the initial states together (Hyndman et al.
//! 2008, ch. 5), starting from the heuristic states, inside the "usual" region
//! `0 < α < 1`, `0 < β < α`, `0 < γ < 1 − α`, `0.8 < φ < 0.98` (points outside score `+inf`).
//! The last seasonal state is implied by the normalisation (sum zero, or mean one), so a seasonal
//! model with period `m` has `m − 1` free seasonal states.

use super::DEFAULT_MAX_OPTIMISED_PERIOD;
use super::init::heuristic;
use super::optim::{self, minimize};
use super::recursion::{Smoothing, States, filter};
use super::spec::{ErrorType, EtsSpec, SeasonType};
use crate::{ForecastError, Model};

const LOWER: f64 = 1e-4;
const UPPER: f64 = 0.9999;
const PHI_LOWER: f64 = 0.8;
const PHI_UPPER: f64 = 0.98;

/// An ETS model of fixed structure, fitted by maximum likelihood.
///
/// Use it when the structure is known (tests, a registry entry being refitted); [`super::AutoEts`]
/// chooses the structure.
#[derive(Debug, Clone)]
pub struct Ets {
    spec: EtsSpec,
    max_optimised_period: usize,
    simulation_paths: usize,
    /// Search vector to start from (a fit of the same structure on a shorter history).
    start: Option<Vec<f64>>,
}

impl Ets {
    /// A model of structure `spec`. A seasonal spec uses the first period > 1 it is given.
    pub fn new(spec: EtsSpec) -> Self {
        Ets {
            spec,
            max_optimised_period: DEFAULT_MAX_OPTIMISED_PERIOD,
            simulation_paths: DEFAULT_SIMULATION_PATHS,
            start: None,
        }
    }

    /// Start the search at `x` (the search vector of a fit of this structure, [`FittedEts`]'s
    /// `search_vector`) instead of the heuristic states, when it is admissible on the new history.
    pub(crate) fn starting_at(mut self, x: Vec<f64>) -> Self {
        self.start = Some(x);
        self
    }

    /// Periods above `period` keep their heuristic initial seasonal states instead of optimising
    /// them (each is one more search dimension); default [`DEFAULT_MAX_OPTIMISED_PERIOD`].
    pub fn max_optimised_period(mut self, period: usize) -> Self {
        self.max_optimised_period = period;
        self
    }

    /// Sample paths for simulated intervals of non-linear classes (default 2000, fixed seed).
    pub fn simulation_paths(mut self, paths: usize) -> Self {
        self.simulation_paths = paths.max(100);
        self
    }

    /// Fit to `y` with seasonal period `m` (use 1 for non-seasonal specs).
    pub fn fit_period(&self, y: &[f64], m: usize) -> Result<FittedEts, ForecastError> {
        fit(
            y,
            self.spec,
            m,
            self.max_optimised_period,
            self.simulation_paths,
            self.start.as_deref(),
        )
    }
}

impl Model for Ets {
    fn name(&self) -> String {
        self.spec.to_string()
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn crate::Fitted>, ForecastError> {
        let m = if self.spec.has_season() {
            seasons.iter().copied().find(|&s| s > 1).ok_or_else(|| {
                ForecastError::InvalidInput(format!("{} needs a seasonal period > 1", self.spec))
            })?
        } else {
            1
        };
        Ok(Box::new(self.fit_period(y, m)?))
    }
}

pub(crate) const DEFAULT_SIMULATION_PATHS: usize = 2_000;

/// Fitted smoothing parameters and initial states, as reported to the model registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EtsParams {
    /// Level smoothing α.
    pub alpha: f64,
    /// Trend smoothing β (innovations form, β = αβ*), if the model has a trend.
    pub beta: Option<f64>,
    /// Seasonal smoothing γ, if the model has a season.
    pub gamma: Option<f64>,
    /// Damping φ, if the trend is damped.
    pub phi: Option<f64>,
    /// Initial level ℓ₀.
    pub initial_level: f64,
    /// Initial trend b₀, if any.
    pub initial_trend: Option<f64>,
    /// Initial seasonal states for phases 0..m of the first season (empty without season).
    pub initial_season: Vec<f64>,
}

/// A fitted ETS model: parameters, final states and fit statistics.
#[derive(Debug, Clone)]
pub struct FittedEts {
    pub(crate) spec: EtsSpec,
    pub(crate) period: usize,
    pub(crate) smoothing: Smoothing,
    pub(crate) initial: States,
    pub(crate) last: States,
    pub(crate) n: usize,
    pub(crate) sigma2: f64,
    pub(crate) loglik: f64,
    pub(crate) n_params: usize,
    pub(crate) simulation_paths: usize,
}

impl FittedEts {
    /// The structure that was fitted.
    pub fn spec(&self) -> EtsSpec {
        self.spec
    }

    /// Seasonal period used (1 without season).
    pub fn period(&self) -> usize {
        self.period
    }

    /// Maximised log-likelihood.
    pub fn loglik(&self) -> f64 {
        self.loglik
    }

    /// Innovation variance (of relative errors for multiplicative-error models).
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// Number of estimated quantities: parameters, initial states and the variance.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Akaike information criterion `−2 logL + 2k`.
    pub fn aic(&self) -> f64 {
        -2.0 * self.loglik + 2.0 * self.n_params as f64
    }

    /// Small-sample corrected AIC, used to choose among structures (infinite if `n ≤ k + 1`).
    pub fn aicc(&self) -> f64 {
        let (n, k) = (self.n as f64, self.n_params as f64);
        if n - k - 1.0 <= 0.0 {
            return f64::INFINITY;
        }
        self.aic() + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    }

    /// The search vector of this fit (smoothing parameters and free initial states), for a warm
    /// start of the same structure on a longer history; `None` for seasonal classes.
    pub(crate) fn search_vector(&self) -> Option<Vec<f64>> {
        (!self.spec.has_season()).then(|| {
            Layout {
                spec: self.spec,
                m: 1,
                optimise_season: false,
            }
            .pack(&self.smoothing, &self.initial)
        })
    }

    /// Fitted parameters and initial states.
    pub fn parameters(&self) -> EtsParams {
        let s = self.spec;
        EtsParams {
            alpha: self.smoothing.alpha,
            beta: s.has_trend().then_some(self.smoothing.beta),
            gamma: s.has_season().then_some(self.smoothing.gamma),
            phi: (s.trend == super::TrendType::Damped).then_some(self.smoothing.phi),
            initial_level: self.initial.level,
            initial_trend: s.has_trend().then_some(self.initial.trend),
            initial_season: self.initial.season.clone(),
        }
    }
}

/// Layout of the search vector: α, [β], [γ], [φ], ℓ₀, [b₀], [s₀ … s_{m−2}].
struct Layout {
    spec: EtsSpec,
    m: usize,
    optimise_season: bool,
}

impl Layout {
    fn n_smoothing(&self) -> usize {
        1 + self.spec.has_trend() as usize
            + self.spec.has_season() as usize
            + (self.spec.trend == super::TrendType::Damped) as usize
    }

    /// Length of the search vector.
    fn dim(&self) -> usize {
        self.n_smoothing()
            + 1
            + self.spec.has_trend() as usize
            + if self.optimise_season { self.m - 1 } else { 0 }
    }

    fn pack(&self, p: &Smoothing, st: &States) -> Vec<f64> {
        let mut x = vec![p.alpha];
        if self.spec.has_trend() {
            x.push(p.beta);
        }
        if self.spec.has_season() {
            x.push(p.gamma);
        }
        if self.spec.trend == super::TrendType::Damped {
            x.push(p.phi);
        }
        x.push(st.level);
        if self.spec.has_trend() {
            x.push(st.trend);
        }
        if self.optimise_season {
            x.extend_from_slice(&st.season[..self.m - 1]);
        }
        x
    }

    /// Initial simplex steps: inward for the smoothing parameters, a tenth of the data's spread
    /// for level and additive seasonal states, a smaller one for the trend.
    fn steps(&self, x: &[f64], spread: f64) -> Vec<f64> {
        let k = self.n_smoothing();
        x.iter()
            .enumerate()
            .map(|(i, &v)| match i {
                i if i < k => {
                    if v > 0.5 {
                        -0.05
                    } else {
                        0.05
                    }
                }
                i if i == k => 0.1 * spread,
                i if i == k + 1 && self.spec.has_trend() => 0.1 * spread / self.m.max(10) as f64,
                _ if self.spec.season == SeasonType::Multiplicative => 0.05,
                _ => 0.1 * spread,
            })
            .collect()
    }

    /// Decode `x`; `None` outside the parameter region. `fixed_season` fills unoptimised states.
    fn unpack(&self, x: &[f64], fixed_season: &[f64]) -> Option<(Smoothing, States)> {
        let mut it = x.iter().copied();
        let alpha = it.next()?;
        let beta = if self.spec.has_trend() {
            it.next()?
        } else {
            0.0
        };
        let gamma = if self.spec.has_season() {
            it.next()?
        } else {
            0.0
        };
        let phi = if self.spec.trend == super::TrendType::Damped {
            it.next()?
        } else {
            1.0
        };
        let inside = (LOWER..=UPPER).contains(&alpha)
            && (!self.spec.has_trend() || (LOWER..=alpha).contains(&beta))
            && (!self.spec.has_season() || (LOWER..=(1.0 - alpha)).contains(&gamma))
            && (self.spec.trend != super::TrendType::Damped
                || (PHI_LOWER..=PHI_UPPER).contains(&phi));
        if !inside {
            return None;
        }
        let level = it.next()?;
        let trend = if self.spec.has_trend() {
            it.next()?
        } else {
            0.0
        };
        let season = if self.optimise_season {
            let mut s: Vec<f64> = it.by_ref().take(self.m - 1).collect();
            let last = match self.spec.season {
                SeasonType::Multiplicative => self.m as f64 - s.iter().sum::<f64>(),
                _ => -s.iter().sum::<f64>(),
            };
            s.push(last);
            s
        } else {
            fixed_season.to_vec()
        };
        Some((
            Smoothing {
                alpha,
                beta,
                gamma,
                phi,
            },
            States {
                level,
                trend,
                season,
            },
        ))
    }
}

/// Simplex convergence for the ETS likelihood: the spread of −log-likelihood over the simplex
/// below 1e-7 of its size (≈ 1e-4 on a few thousand points, statsforecast's own `tol_std`) and
/// every vertex within 1 % of the initial step of the best. The optimiser's defaults (1e-9, 1e-6)
/// spent most evaluations polishing digits no AICc comparison or forecast reads: on a 1 344-point
/// half-hourly series the non-seasonal candidates took 31.5 ms of CPU per `hivesched forecast`
/// with them and 13.3 ms with these, the forecasts moving by < 0.03 %.
const SIMPLEX_FTOL: f64 = 1e-7;
/// See [`SIMPLEX_FTOL`].
const SIMPLEX_XTOL: f64 = 1e-2;

/// Fit `spec` to `y` with period `m` (1 if non-seasonal).
pub(crate) fn fit(
    y: &[f64],
    spec: EtsSpec,
    m: usize,
    max_optimised_period: usize,
    simulation_paths: usize,
    warm: Option<&[f64]>,
) -> Result<FittedEts, ForecastError> {
    let name = spec.to_string();
    if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(ForecastError::InvalidInput(format!(
            "{name}: non-finite value {bad}"
        )));
    }
    if spec.needs_positive_data() && y.iter().any(|&v| v <= 0.0) {
        return Err(ForecastError::InvalidInput(format!(
            "{name} needs strictly positive data"
        )));
    }
    let m = if spec.has_season() { m } else { 1 };
    if spec.has_season() && m < 2 {
        return Err(ForecastError::InvalidInput(format!(
            "{name} needs a seasonal period > 1"
        )));
    }
    let layout = Layout {
        spec,
        m,
        optimise_season: spec.has_season() && m <= max_optimised_period,
    };
    let free_states = 1 + spec.has_trend() as usize + if spec.has_season() { m - 1 } else { 0 };
    let n_params = layout.n_smoothing() + free_states + 1;
    let need = (if spec.has_season() { 2 * m } else { 3 }).max(n_params + 2);
    if y.len() < need {
        return Err(ForecastError::TooShort {
            model: name,
            got: y.len(),
            need,
        });
    }

    let init = heuristic(y, spec, m);
    let scale = y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64;
    let floor = match spec.error {
        ErrorType::Additive => (1e-10 * scale.max(1e-10)).powi(2),
        ErrorType::Multiplicative => 1e-20,
    };
    let objective = |x: &[f64]| {
        let Some((p, mut st)) = layout.unpack(x, &init.season) else {
            return f64::INFINITY;
        };
        filter(spec, &p, y, &mut st, floor).map_or(f64::INFINITY, |pass| -pass.loglik)
    };

    // A warm start (the optimum of the same structure on this history minus its last few
    // steps) when it is admissible here; otherwise the alpha (of a small grid) that scores best
    // at the heuristic states.
    let warm = warm.filter(|x| x.len() == layout.dim() && objective(x).is_finite());
    let start = if let Some(x) = warm {
        x.to_vec()
    } else {
        [0.1, 0.3, 0.5, 0.8]
            .iter()
            .map(|&alpha| Smoothing {
                alpha,
                beta: 0.1 * alpha,
                gamma: 0.1 * (1.0 - alpha),
                phi: 0.97,
            })
            .map(|p| {
                let x = layout.pack(&p, &init);
                let v = objective(&x);
                (x, v)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(x, _)| x)
            .unwrap_or_default()
    };
    let spread = y.iter().map(|v| (v - y[0]).abs()).fold(0.0_f64, f64::max);
    let step = layout.steps(&start, spread.max(scale * 0.01).max(1e-8));
    let dim = start.len();
    let opts = optim::Options {
        max_evals: 400 * dim.max(5),
        xtol: SIMPLEX_XTOL,
        ftol: SIMPLEX_FTOL,
        ..optim::Options::default()
    };
    let best = minimize(objective, &start, &step, opts);
    let (smoothing, initial) = layout
        .unpack(&best.x, &init.season)
        .filter(|_| best.value.is_finite())
        .ok_or_else(|| ForecastError::FitFailed {
            model: name.clone(),
            reason: "no admissible parameters found".into(),
        })?;
    let mut last = initial.clone();
    let pass =
        filter(spec, &smoothing, y, &mut last, floor).ok_or_else(|| ForecastError::FitFailed {
            model: name,
            reason: "states left the admissible region".into(),
        })?;
    Ok(FittedEts {
        spec,
        period: m,
        smoothing,
        initial,
        last,
        n: y.len(),
        sigma2: pass.sigma2,
        loglik: pass.loglik,
        n_params,
        simulation_paths,
    })
}
