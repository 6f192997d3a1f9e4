//! Automatic ETS: fit every admissible structure and keep the one with the lowest AICc
//! (Hyndman et al. 2008, §7.2; Hyndman & Khandakar 2008, §3).
//!
//! Candidates: error {A, M} × trend {N, A, Ad} × season {N, A, M}, minus additive error with
//! multiplicative season (numerically unstable, Hyndman et al. 2008 §7.1), minus multiplicative
//! components on data that is not strictly positive, minus the season when there is no usable
//! period or fewer than two seasons of history.

use super::DEFAULT_MAX_OPTIMISED_PERIOD;
use super::fit::{DEFAULT_SIMULATION_PATHS, FittedEts, fit};
use super::spec::{ErrorType, EtsSpec, SeasonType, TrendType};
use crate::{Fitted, ForecastError, Model};

/// ETS with automatic structure selection by AICc.
///
/// Restrict it with [`AutoEts::non_seasonal`] (e.g. on an MSTL seasonally adjusted series) or
/// [`AutoEts::additive_only`] (data that may be zero or negative, or to avoid simulated intervals).
#[derive(Debug, Clone)]
pub struct AutoEts {
    seasonal: bool,
    additive_only: bool,
    damped: bool,
    max_period: usize,
    max_optimised_period: usize,
    simulation_paths: usize,
}

impl Default for AutoEts {
    fn default() -> Self {
        Self::new()
    }
}

impl AutoEts {
    /// Search all structures, seasonal periods up to [`DEFAULT_MAX_OPTIMISED_PERIOD`].
    pub fn new() -> Self {
        AutoEts {
            seasonal: true,
            additive_only: false,
            damped: true,
            max_period: DEFAULT_MAX_OPTIMISED_PERIOD,
            max_optimised_period: DEFAULT_MAX_OPTIMISED_PERIOD,
            simulation_paths: DEFAULT_SIMULATION_PATHS,
        }
    }

    /// Only non-seasonal structures (seasons passed to `fit` are ignored).
    pub fn non_seasonal(mut self) -> Self {
        self.seasonal = false;
        self
    }

    /// Only additive error and season (no positivity requirement, analytic intervals).
    pub fn additive_only(mut self) -> Self {
        self.additive_only = true;
        self
    }

    /// Whether to try damped trends (default yes).
    pub fn damped(mut self, allow: bool) -> Self {
        self.damped = allow;
        self
    }

    /// Longest seasonal period to model (default 24). Longer periods are ignored unless raised here;
    /// above [`DEFAULT_MAX_OPTIMISED_PERIOD`] (or [`AutoEts::max_optimised_period`]) the initial
    /// seasonal states stay at the decomposition heuristic, which keeps the fit affordable.
    pub fn max_period(mut self, period: usize) -> Self {
        self.max_period = period;
        self
    }

    /// Longest period whose initial seasonal states are optimised (default 24).
    pub fn max_optimised_period(mut self, period: usize) -> Self {
        self.max_optimised_period = period;
        self
    }

    /// Sample paths for simulated intervals (default 2000, fixed seed).
    pub fn simulation_paths(mut self, paths: usize) -> Self {
        self.simulation_paths = paths.max(100);
        self
    }

    /// The seasonal period this search would use on `n` points: the first of `seasons` that is
    /// above 1, within the maximum, and covered by at least two full seasons.
    pub fn period_for(&self, n: usize, seasons: &[usize]) -> Option<usize> {
        if !self.seasonal {
            return None;
        }
        seasons
            .iter()
            .copied()
            .find(|&m| m > 1 && m <= self.max_period && n >= 2 * m + 2)
    }

    /// The structures tried on `y` with the given period.
    pub fn candidates(&self, y: &[f64], period: Option<usize>) -> Vec<EtsSpec> {
        let positive = y.iter().all(|&v| v > 0.0);
        let multiplicative_ok = positive && !self.additive_only;
        let errors = [ErrorType::Additive, ErrorType::Multiplicative];
        let trends = [TrendType::None, TrendType::Additive, TrendType::Damped];
        let seasons = [
            SeasonType::None,
            SeasonType::Additive,
            SeasonType::Multiplicative,
        ];
        let mut out = Vec::new();
        for &error in &errors {
            for &trend in &trends {
                for &season in &seasons {
                    let spec = EtsSpec::new(error, trend, season);
                    let excluded = (spec.needs_positive_data() && !multiplicative_ok)
                        || (spec.has_season() && period.is_none())
                        || (trend == TrendType::Damped && !self.damped)
                        || (error == ErrorType::Additive && season == SeasonType::Multiplicative);
                    if !excluded {
                        out.push(spec);
                    }
                }
            }
        }
        out
    }

    /// Fit every candidate and return the one with the lowest AICc.
    pub fn fit_best(&self, y: &[f64], seasons: &[usize]) -> Result<FittedEts, ForecastError> {
        let period = self.period_for(y.len(), seasons);
        let mut best: Option<FittedEts> = None;
        let mut last_err = None;
        for spec in self.candidates(y, period) {
            match fit(
                y,
                spec,
                period.unwrap_or(1),
                self.max_optimised_period,
                self.simulation_paths,
                None,
            ) {
                Ok(f) if f.aicc().is_finite() => {
                    if best.as_ref().is_none_or(|b| f.aicc() < b.aicc()) {
                        best = Some(f);
                    }
                }
                Ok(f) => {
                    last_err = Some(ForecastError::TooShort {
                        model: f.describe(),
                        got: y.len(),
                        need: f.n_params() + 2,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        best.ok_or_else(|| {
            last_err.unwrap_or_else(|| ForecastError::FitFailed {
                model: "AutoETS".into(),
                reason: "no candidate structure".into(),
            })
        })
    }
}

impl Model for AutoEts {
    fn name(&self) -> String {
        "AutoETS".into()
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        Ok(Box::new(self.fit_best(y, seasons)?))
    }

    fn searches(&self) -> bool {
        true
    }
}
