//! The forecast crate's backtest-weighted ensemble behind the planner's [`Forecaster`] trait.
//!
//! Fitting the ensemble costs tens of milliseconds (every candidate is backtested on several
//! origins), far too much to redo on every tick, so it **refits on a schedule**: every
//! [`EnsembleConfig::refit_every`] of history (default 6 h). Each fit forecasts
//! `horizon + steps until the next refit` steps. Every call between refits is served from that
//! forecast, sliced to start right after the newest sample, in one of two ways per lead:
//!
//! - **as fitted**, or
//! - **anchored to the newest sample**: the fit's error on the newest sample (observed minus what
//!   the fit forecast for it) is carried forward; lead *j* gets `w_j ×` that residual, where `w_j`
//!   is the least-squares slope of the fit's error *j* steps later on the residual at the origin,
//!   over the recent served origins, clamped to [0, 1] (1 until enough origins are scored).
//!   Right after a fit the residual is 0: the fit has seen the newest sample.
//!
//! Every served forecast is scored, both ways, when its steps arrive. The **upper bound** at lead
//! *j* is the mean plus the empirical quantile at [`EnsembleConfig::level`] of that way's
//! realised errors at lead *j* over the last [`EnsembleConfig::error_window`] origins (as the
//! built-in `SeasonalNaive` of the decision core does), and the way served is the one whose bound would have been
//! lower on average over that window at the same coverage (smallest quantile minus mean error).
//! Until [`EnsembleConfig::min_errors`] origins are scored at a lead, the anchored mean is served
//! with the ensemble's own interval at that level (calibrated on backtests of the whole fit
//! horizon) as the margin.
//!
//! Forecasts are clamped ≥ 0. A fit error is returned as [`ForecastFailure::Model`], so the
//! scheduler fails safe and its breaker counts it. Everything is a pure function of the history
//! seen so far: no clock enters a forecast.
//!
//! The last fit is kept as an [`EnsembleFit`] (model, parameters, backtest accuracy, fit time)
//! for the service to persist in its model registry.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ensemble::MemberInfo;
use crate::pipeline::{self, SeasonSpec};
use crate::season::calendar_periods;
use crate::{Ensemble, Fitted};
use hivesched_policy::time::{duration_ms, steps_covering};
use hivesched_policy::{
    DemandForecast, DemandHistory, FitRecord, ForecastFailure, Forecaster, Time,
};

/// Settings of [`EnsembleForecaster`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleConfig {
    /// History time between refits (at least one step is used).
    pub refit_every: Duration,
    /// Level in percent of the upper interval the planner provisions on. Default 90: chosen on
    /// the closed-loop development set (docs/forecasting.md, "Provisioning level"), where going
    /// from 95 to 90 saved 1.3–2.5 points of the gap to the oracle for 0.02–0.06 points more
    /// unserved demand, two to four times the hours per unit of unserved of the next step down.
    pub level: f64,
    /// Most recent history the ensemble is fitted on (the backtests use at most four weeks too).
    pub max_history: Duration,
    /// Most recent served origins whose realised errors set the upper bound and the anchor
    /// weights, per lead (the decision core's `SeasonalNaive` scores the same number of origins).
    pub error_window: usize,
    /// Origins scored at a lead before its realised errors replace the ensemble's interval.
    pub min_errors: usize,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            refit_every: Duration::from_secs(6 * 3600),
            level: 90.0,
            max_history: Duration::from_secs(28 * 86_400),
            error_window: 1008,
            min_errors: 24,
        }
    }
}

/// Model registry record of one fit, ready to be persisted by the service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EnsembleFit {
    /// The fitted ensemble as described by the forecast crate, e.g. `Ensemble[MSTL[48,336]+AR(2) 0.33, …]`.
    pub model: String,
    /// Fitted parameters (members, member parameters, scale, ranking, cold start, failures).
    pub params: serde_json::Value,
    /// Members chosen, with weights and backtest MAE.
    pub members: Vec<MemberInfo>,
    /// Measured accuracy: every backtested candidate's MAE over the rolling-origin backtest,
    /// divided by the mean demand of the history, best first (empty under cold start).
    pub backtest_relative_mae: Vec<(String, f64)>,
    /// Seasonal periods (steps) the fit used.
    pub seasons: Vec<usize>,
    /// Points of history fitted on (after cleaning and level-shift trimming).
    pub history_points: usize,
    /// Steps forecast at this fit (`horizon` + steps until the next refit).
    pub horizon: usize,
    /// Time of the newest sample the fit saw.
    pub fitted_at: Time,
    /// Wall-clock time of preparation, fit and forecast, milliseconds.
    pub fit_ms: f64,
    /// Why the ensemble was in cold start, if it was.
    pub cold_start: Option<String>,
    /// Repairs made to the history (gaps filled, spikes pulled back, trimming).
    pub warnings: Vec<String>,
}

/// The forecast of the last fit, served until the next refit.
#[derive(Debug, Clone)]
struct Cached {
    /// Newest sample when the fit was made: `mean[0]` is the step after it.
    origin: Time,
    mean: Vec<f64>,
    upper: Vec<f64>,
    model: String,
}

/// The two ways a cached fit is served: as fitted, or anchored to the newest sample.
const CANDIDATES: usize = 2;
const FIT: usize = 0;
const ANCHORED: usize = 1;

/// One served forecast, kept until every step of it has been observed.
#[derive(Debug, Clone)]
struct Served {
    /// Newest sample when it was served: lead 1 is the step after it.
    origin: Time,
    /// Observed minus the fit's forecast at the origin (0 right after a fit).
    residual: f64,
    /// The fit's own forecast, per lead.
    fit: Vec<f64>,
    /// Anchor weight used, per lead.
    weights: Vec<f64>,
    /// Leads already scored.
    scored: usize,
}

impl Served {
    /// Mean of `candidate` at `lead` (clamped ≥ 0, as served).
    fn mean(&self, candidate: usize, lead: usize) -> f64 {
        let fit = self.fit[lead - 1];
        match candidate {
            FIT => fit.max(0.0),
            _ => (fit + self.weights[lead - 1] * self.residual).max(0.0),
        }
    }
}

/// Realised errors of both candidates, per lead, tracked as the steps they forecast arrive.
#[derive(Debug, Clone, Default)]
struct ErrorTracker {
    pending: VecDeque<Served>,
    /// Per candidate, per lead (index 0 = one step ahead): observed minus mean, oldest first.
    errors: [Vec<VecDeque<f64>>; CANDIDATES],
    /// Per lead: (residual at the origin, observed minus the fit's forecast), oldest first.
    pairs: Vec<VecDeque<(f64, f64)>>,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, window: usize) {
    queue.push_back(value);
    while queue.len() > window {
        queue.pop_front();
    }
}

impl ErrorTracker {
    /// Scores every pending lead whose step is at or before the newest sample.
    fn observe(&mut self, history: &DemandHistory, window: usize) {
        let Some((newest, _)) = history.last() else {
            return;
        };
        let step_ms = duration_ms(history.step()).max(1);
        for served in &mut self.pending {
            while served.scored < served.fit.len() {
                let lead = served.scored + 1;
                let at = Time::from_millis(served.origin.as_millis() + lead as i64 * step_ms);
                if at > newest {
                    break;
                }
                if let Some(actual) = history.value_at(at) {
                    if self.pairs.len() < lead {
                        self.pairs.resize_with(lead, VecDeque::new);
                        for errors in &mut self.errors {
                            errors.resize_with(lead, VecDeque::new);
                        }
                    }
                    for (candidate, errors) in self.errors.iter_mut().enumerate() {
                        let error = actual - served.mean(candidate, lead);
                        push_bounded(&mut errors[lead - 1], error, window);
                    }
                    let pair = (served.residual, actual - served.fit[lead - 1]);
                    push_bounded(&mut self.pairs[lead - 1], pair, window);
                }
                served.scored = lead;
            }
        }
        self.pending.retain(|s| s.scored < s.fit.len());
    }

    /// Keeps a served forecast for scoring (one per origin; an older origin resets the queue).
    fn serve(&mut self, served: Served) {
        match self.pending.back() {
            Some(last) if last.origin == served.origin => return,
            Some(last) if last.origin > served.origin => self.pending.clear(),
            _ => {}
        }
        self.pending.push_back(served);
    }

    /// Weight of the origin's residual at `lead`: the least-squares slope of the fit's later
    /// error on it, in [0, 1]; 1 until `min` origins are scored.
    fn anchor_weight(&self, lead: usize, min: usize) -> f64 {
        let Some(pairs) = self.pairs.get(lead - 1).filter(|p| p.len() >= min) else {
            return 1.0;
        };
        let (re, rr) = pairs
            .iter()
            .fold((0.0, 0.0), |(re, rr), (r, e)| (re + r * e, rr + r * r));
        if rr > 0.0 && re.is_finite() && rr.is_finite() {
            (re / rr).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// The candidate to serve at `lead` and the quantile `q` of its errors: the one whose upper
    /// bound (mean + error quantile) would have been lowest on average over the window at the
    /// same coverage, i.e. the smallest quantile minus mean error. `None` until every candidate
    /// has `min` errors at this lead.
    fn choose(&self, lead: usize, q: f64, min: usize) -> Option<(usize, f64)> {
        let mut best: Option<(f64, usize, f64)> = None;
        for candidate in [ANCHORED, FIT] {
            let errors = self.errors[candidate]
                .get(lead - 1)
                .filter(|e| e.len() >= min.max(1))?;
            let mut values: Vec<f64> = errors.iter().copied().collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let k = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
            let (_, quantile, _) = values.select_nth_unstable_by(k, f64::total_cmp);
            let score = *quantile - mean;
            if best.is_none_or(|(b, _, _)| score < b) {
                best = Some((score, candidate, *quantile));
            }
        }
        best.map(|(_, candidate, quantile)| (candidate, quantile))
    }
}

/// [`Forecaster`] on top of the backtest-weighted [`Ensemble`], refitted on a schedule.
#[derive(Debug, Clone)]
pub struct EnsembleForecaster {
    config: EnsembleConfig,
    cached: Option<Cached>,
    record: Option<EnsembleFit>,
    /// Whether `record` is a fit not yet handed over by `take_fit`.
    record_untaken: bool,
    fits: u64,
    tracker: ErrorTracker,
}

impl EnsembleForecaster {
    /// A forecaster that has not fitted yet; the first call fits.
    pub fn new(config: EnsembleConfig) -> Self {
        EnsembleForecaster {
            config,
            cached: None,
            record: None,
            record_untaken: false,
            fits: 0,
            tracker: ErrorTracker::default(),
        }
    }

    /// Registry record of the last successful fit.
    pub fn last_fit(&self) -> Option<&EnsembleFit> {
        self.record.as_ref()
    }

    /// Fits attempted so far (successful or not).
    pub fn fits(&self) -> u64 {
        self.fits
    }

    /// Prepares the recent history, fits the ensemble and forecasts `h` steps after `origin`.
    fn fit(&mut self, history: &DemandHistory, origin: Time, h: usize) -> Result<Cached, String> {
        self.fits += 1;
        let start = Instant::now();
        let step = history.step();
        let step_s = step.as_secs_f64();
        let raw = recent_grid(history, self.config.max_history);
        let prepared =
            pipeline::prepare(&raw, Some(step_s), &SeasonSpec::Auto).map_err(|e| e.to_string())?;
        let calendar: Vec<usize> = calendar_periods(step_s)
            .map(|(d, w)| [d, w].into_iter().filter(|&p| p >= 2).collect())
            .unwrap_or_default();
        let fitted = Ensemble::new(h)
            .with_calendar(&calendar)
            .fit_ensemble(&prepared.values, &prepared.seasons)
            .map_err(|e| e.to_string())?;
        let mut forecast = fitted
            .forecast(h, &[self.config.level])
            .map_err(|e| e.to_string())?;
        prepared.widen(&mut forecast);
        let hi = forecast
            .intervals
            .first()
            .map(|iv| iv.hi.as_slice())
            .ok_or("the ensemble returned no interval")?;
        if forecast.mean.len() < h || hi.len() < h {
            return Err(format!("the ensemble returned {} of {h} steps", hi.len()));
        }
        let mean: Vec<f64> = forecast.mean.iter().map(|v| v.max(0.0)).collect();
        let upper: Vec<f64> = hi.iter().zip(&mean).map(|(u, m)| u.max(*m)).collect();
        if mean.iter().chain(&upper).any(|v| !v.is_finite()) {
            return Err("the ensemble returned a non-finite forecast".into());
        }
        let model = fitted.describe();
        self.record = Some(EnsembleFit {
            model: model.clone(),
            params: fitted.params(),
            members: fitted.members(),
            backtest_relative_mae: fitted.ranking().to_vec(),
            seasons: prepared.seasons.clone(),
            history_points: prepared.values.len(),
            horizon: h,
            fitted_at: origin,
            fit_ms: start.elapsed().as_secs_f64() * 1000.0,
            cold_start: fitted.cold_start().map(str::to_owned),
            warnings: prepared.warnings(),
        });
        self.record_untaken = true;
        Ok(Cached {
            origin,
            mean,
            upper,
            model,
        })
    }
}

/// The last `window` of `history` on a regular grid of its step; missing steps are NaN, for the
/// forecast crate's cleaner to fill and report.
fn recent_grid(history: &DemandHistory, window: Duration) -> Vec<f64> {
    let (times, values) = (history.times(), history.values());
    let step = duration_ms(history.step()).max(1);
    let Some(&newest) = times.last() else {
        return Vec::new();
    };
    let from = newest.minus(window);
    let first = times.partition_point(|t| *t < from);
    let t0 = times[first].as_millis();
    let slot = |t: Time| ((t.as_millis() - t0) as f64 / step as f64).round() as usize;
    let mut grid = vec![f64::NAN; slot(newest) + 1];
    for (t, v) in times[first..].iter().zip(&values[first..]) {
        let i = slot(*t).min(grid.len() - 1);
        grid[i] = *v;
    }
    grid
}

impl Forecaster for EnsembleForecaster {
    /// The registry record of the newest fit, once: named `Ensemble`, with the fitted members,
    /// parameters, seasons and history as parameters, and every candidate's backtest error as
    /// accuracy.
    fn take_fit(&mut self) -> Option<FitRecord> {
        if !std::mem::take(&mut self.record_untaken) {
            return None;
        }
        let r = self.record.as_ref()?;
        Some(FitRecord {
            fitted_at: r.fitted_at,
            model: "Ensemble".into(),
            parameters: serde_json::json!({
                "fitted": r.model,
                "members": r.members,
                "params": r.params,
                "seasons": r.seasons,
                "history_points": r.history_points,
                "horizon": r.horizon,
                "fit_ms": r.fit_ms,
                "cold_start": r.cold_start,
                "warnings": r.warnings,
            }),
            accuracy: serde_json::json!({
                "backtest_relative_mae": r.backtest_relative_mae,
            }),
        })
    }

    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure> {
        let Some((newest, newest_value)) = history.last() else {
            return Err(ForecastFailure::NotEnoughHistory { got: 0, need: 1 });
        };
        let step_ms = duration_ms(history.step()).max(1);
        let refit_steps = steps_covering(self.config.refit_every, history.step()).max(1) as usize;
        // Steps since the last fit; `None` when there is no fit or the history went backwards.
        let offset = |c: &Cached| {
            let ms = newest.as_millis().checked_sub(c.origin.as_millis())?;
            usize::try_from((ms as f64 / step_ms as f64).round() as i64).ok()
        };
        let reuse = self
            .cached
            .as_ref()
            .and_then(|c| offset(c).filter(|&k| k < refit_steps && k + horizon <= c.mean.len()));
        let k = match reuse {
            Some(k) => k,
            None => {
                self.cached = None;
                let fit = self
                    .fit(history, newest, horizon + refit_steps)
                    .map_err(|e| ForecastFailure::Model(format!("ensemble: {e}")))?;
                self.cached = Some(fit);
                0
            }
        };
        let c = self.cached.as_ref().ok_or_else(|| {
            ForecastFailure::Model("ensemble: no fitted forecast to serve".into())
        })?;
        let (window, min) = (self.config.error_window, self.config.min_errors);
        self.tracker.observe(history, window);
        let residual = match k {
            0 => 0.0,
            _ => newest_value - c.mean[k - 1],
        };
        let q = self.config.level / 100.0;
        let served = Served {
            origin: newest,
            residual,
            fit: c.mean[k..k + horizon].to_vec(),
            weights: (1..=horizon)
                .map(|lead| self.tracker.anchor_weight(lead, min))
                .collect(),
            scored: 0,
        };
        let mut mean = Vec::with_capacity(horizon);
        let mut upper = Vec::with_capacity(horizon);
        for lead in 1..=horizon {
            let (m, margin) = match self.tracker.choose(lead, q, min) {
                Some((candidate, quantile)) => (served.mean(candidate, lead), quantile),
                None => {
                    let i = k + lead - 1;
                    (served.mean(ANCHORED, lead), c.upper[i] - c.mean[i])
                }
            };
            mean.push(m);
            upper.push(m + margin.max(0.0));
        }
        if mean.iter().chain(&upper).any(|v| !v.is_finite()) {
            return Err(ForecastFailure::NotFinite);
        }
        self.tracker.serve(served);
        Ok(DemandForecast {
            mean,
            upper,
            model: c.model.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HALF_HOUR: u64 = 1800;

    fn history(step_s: u64, values: &[f64]) -> DemandHistory {
        let mut h = DemandHistory::new(Duration::from_secs(step_s), 100_000);
        for (i, v) in values.iter().enumerate() {
            h.push(Time::from_secs(i as i64 * step_s as i64), *v);
        }
        h
    }

    /// A daily cycle at half-hour steps, with deterministic jitter.
    fn daily(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let phase = (i % 48) as f64 / 48.0 * std::f64::consts::TAU;
                200.0 + 150.0 * phase.sin() + ((i * 7919) % 17) as f64
            })
            .collect()
    }

    /// Ok with finite, non-negative values and upper ≥ mean, or a model / history error.
    fn check(result: Result<DemandForecast, ForecastFailure>, horizon: usize) {
        match result {
            Ok(f) => {
                assert_eq!(f.mean.len(), horizon);
                assert_eq!(f.upper.len(), horizon);
                f.validate(horizon).unwrap();
                for (m, u) in f.mean.iter().zip(&f.upper) {
                    assert!(*m >= 0.0 && u >= m, "mean {m} upper {u}");
                }
            }
            Err(ForecastFailure::Model(_) | ForecastFailure::NotEnoughHistory { .. }) => {}
            Err(e) => panic!("unexpected failure {e}"),
        }
    }

    #[test]
    fn short_and_constant_histories_give_finite_forecasts_or_errors() {
        for n in 0..=120 {
            let mut f = EnsembleForecaster::new(EnsembleConfig::default());
            check(f.forecast(&history(HALF_HOUR, &daily(n)), 2), 2);
        }
        for level in [0.0, 7.0, 1e9] {
            for n in [1, 2, 3, 10, 97, 400, 1500] {
                let mut f = EnsembleForecaster::new(EnsembleConfig::default());
                check(f.forecast(&history(HALF_HOUR, &vec![level; n]), 14), 14);
            }
        }
    }

    #[test]
    fn empty_history_is_not_enough() {
        let mut f = EnsembleForecaster::new(EnsembleConfig::default());
        let err = f.forecast(&history(HALF_HOUR, &[]), 2).unwrap_err();
        assert_eq!(err, ForecastFailure::NotEnoughHistory { got: 0, need: 1 });
        assert_eq!(f.fits(), 0);
    }

    #[test]
    fn a_fit_error_is_a_model_failure() {
        let mut f = EnsembleForecaster::new(EnsembleConfig {
            level: 150.0,
            ..EnsembleConfig::default()
        });
        let err = f.forecast(&history(HALF_HOUR, &daily(200)), 2).unwrap_err();
        assert!(matches!(err, ForecastFailure::Model(_)), "{err}");
        assert!(f.last_fit().is_none());
    }

    #[test]
    fn refits_only_on_schedule_and_serves_the_slice_between() {
        let values = daily(48 * 5);
        let mut f = EnsembleForecaster::new(EnsembleConfig::default());
        let mut h = DemandHistory::new(Duration::from_secs(HALF_HOUR), 100_000);
        for (i, v) in values.iter().enumerate() {
            h.push(Time::from_secs(i as i64 * HALF_HOUR as i64), *v);
            let fc = f.forecast(&h, 2).unwrap();
            // 6 h = 12 steps: fits at samples 1, 13, 25, ...
            assert_eq!(f.fits(), (i / 12 + 1) as u64, "after sample {}", i + 1);
            // Each fit's registry record is handed over exactly once.
            let taken = f.take_fit();
            assert_eq!(taken.is_some(), i % 12 == 0, "after sample {}", i + 1);
            if let Some(r) = taken {
                assert_eq!(r.model, "Ensemble");
                assert_eq!(r.fitted_at, Time::from_secs(i as i64 * HALF_HOUR as i64));
                assert!(r.accuracy["backtest_relative_mae"].is_array());
            }
            assert!(f.take_fit().is_none());
            // The last fit's forecast, k steps further on, anchored to the newest sample.
            let k = i % 12;
            let c = f.cached.as_ref().unwrap();
            let residual = if k == 0 { 0.0 } else { v - c.mean[k - 1] };
            for lead in 1..=2 {
                let w = f.tracker.anchor_weight(lead, 24);
                assert!((0.0..=1.0).contains(&w));
                let fit = c.mean[k + lead - 1];
                let anchored = (fit + w * residual).max(0.0);
                let got = fc.mean[lead - 1];
                assert!(
                    got == anchored || got == fit.max(0.0),
                    "sample {i} lead {lead}"
                );
                if f.tracker.choose(lead, 0.95, 24).is_none() {
                    assert_eq!(got, anchored, "sample {i} lead {lead}");
                }
                assert!(fc.upper[lead - 1] >= got);
            }
        }
        assert_eq!(f.fits(), 20);
        let record = f.last_fit().unwrap();
        assert_eq!(record.horizon, 14);
        assert_eq!(record.fitted_at, Time::from_secs(228 * HALF_HOUR as i64));
        assert!(record.model.starts_with("Ensemble["), "{}", record.model);
        assert!(!record.backtest_relative_mae.is_empty());
        assert!(record.fit_ms >= 0.0);
    }

    #[test]
    fn anchors_to_the_newest_sample_and_falls_back_to_the_ensemble_band() {
        let values = daily(48 * 5);
        let mut f = EnsembleForecaster::new(EnsembleConfig::default());
        let mut h = history(HALF_HOUR, &values);
        let first = f.forecast(&h, 3).unwrap();
        let c = f.cached.clone().unwrap();
        // Right after a fit: its own forecast and interval.
        for lead in 0..3 {
            assert_eq!(first.mean[lead], c.mean[lead]);
            assert!((first.upper[lead] - c.upper[lead]).abs() < 1e-9);
        }
        // The next sample comes in 300 above what the fit said: the forecast moves up by as much
        // (weight 1 before any origin is scored), the margin is still the ensemble's band.
        let observed = c.mean[0] + 300.0;
        h.push(
            Time::from_secs(values.len() as i64 * HALF_HOUR as i64),
            observed,
        );
        let next = f.forecast(&h, 3).unwrap();
        assert_eq!(f.fits(), 1);
        for lead in 1..=3 {
            let want = c.mean[lead] + 300.0;
            assert!((next.mean[lead - 1] - want).abs() < 1e-9, "lead {lead}");
            let band = c.upper[lead] - c.mean[lead];
            assert!((next.upper[lead - 1] - next.mean[lead - 1] - band).abs() < 1e-9);
        }
    }

    /// Feeds `n` samples of 100 + `wobble(i)`, serving 100 at leads 1 and 2 from every origin
    /// with the residual `residual(i)` and anchor weight `weight`.
    fn track(
        n: usize,
        window: usize,
        weight: f64,
        residual: impl Fn(usize) -> f64,
    ) -> ErrorTracker {
        let mut h = DemandHistory::new(Duration::from_secs(HALF_HOUR), 1000);
        let mut tracker = ErrorTracker::default();
        for i in 0..n {
            let at = Time::from_secs(i as i64 * HALF_HOUR as i64);
            h.push(at, 100.0 + wobble(i));
            tracker.observe(&h, window);
            if i < 10 {
                assert_eq!(tracker.choose(1, 0.95, 10), None, "origin {i}");
                assert_eq!(tracker.anchor_weight(1, 10), 1.0);
            }
            let served = Served {
                origin: at,
                residual: residual(i),
                fit: vec![100.0, 100.0],
                weights: vec![weight, weight],
                scored: 0,
            };
            tracker.serve(served.clone());
            // Serving the same origin twice keeps one copy.
            tracker.serve(served);
        }
        tracker
    }

    fn wobble(i: usize) -> f64 {
        ((i * 37) % 11) as f64 - 5.0
    }

    #[test]
    fn tracker_scores_both_candidates_and_estimates_weights() {
        // The residual is twice the lead-1 error to come: the lead-1 slope is 0.5, and anchoring
        // with weight 0.5 forecasts lead 1 exactly, so it is chosen with a zero margin.
        let (n, window) = (60, 20);
        let tracker = track(n, window, 0.5, |i| 2.0 * wobble(i + 1));
        assert!((tracker.anchor_weight(1, 10) - 0.5).abs() < 1e-12);
        assert_eq!(tracker.choose(1, 0.95, 10), Some((ANCHORED, 0.0)));
        assert!(tracker.choose(2, 0.95, 10).is_some());
        // Origins 0..=58 are scored at lead 1, 0..=57 at lead 2; only the last 20 are kept.
        let fit_errors: Vec<f64> = (n - window..n).map(wobble).collect();
        assert_eq!(tracker.errors[FIT][0], fit_errors);
        assert_eq!(tracker.errors[ANCHORED][1].len(), window);
        assert_eq!(tracker.pending.len(), 2);
    }

    #[test]
    fn tracker_serves_the_fit_when_anchoring_hurts() {
        // A residual that says nothing about the next error: anchoring only adds ±50.
        let (n, window) = (60, 20);
        let tracker = track(n, window, 1.0, |i| if i % 2 == 0 { 50.0 } else { -50.0 });
        let mut errors: Vec<f64> = (n - window..n).map(wobble).collect();
        errors.sort_by(f64::total_cmp);
        let k = ((window - 1) as f64 * 0.95).round() as usize;
        assert_eq!(tracker.choose(1, 0.95, 10), Some((FIT, errors[k])));
        // An older origin (the history went backwards) drops what was pending.
        let mut tracker = tracker;
        tracker.serve(Served {
            origin: Time::from_secs(0),
            residual: 0.0,
            fit: vec![1.0],
            weights: vec![1.0],
            scored: 0,
        });
        assert_eq!(tracker.pending.len(), 1);
    }

    #[test]
    fn refit_interval_is_configurable_and_a_longer_horizon_refits() {
        let mut f = EnsembleForecaster::new(EnsembleConfig {
            refit_every: Duration::from_secs(3600),
            ..EnsembleConfig::default()
        });
        let values = daily(100);
        let mut h = DemandHistory::new(Duration::from_secs(HALF_HOUR), 100_000);
        for (i, v) in values.iter().enumerate() {
            h.push(Time::from_secs(i as i64 * HALF_HOUR as i64), *v);
            f.forecast(&h, 3).unwrap();
        }
        assert_eq!(f.fits(), 50);
        // The cached forecast covers 3 + 2 steps; asking for more forces a fit.
        f.forecast(&h, 3).unwrap();
        assert_eq!(f.fits(), 50);
        f.forecast(&h, 10).unwrap();
        assert_eq!(f.fits(), 51);
    }

    #[test]
    fn gaps_in_the_history_are_filled_not_fatal() {
        let mut h = DemandHistory::new(Duration::from_secs(HALF_HOUR), 100_000);
        for (i, v) in daily(300).iter().enumerate() {
            if !(100..130).contains(&i) {
                h.push(Time::from_secs(i as i64 * HALF_HOUR as i64), *v);
            }
        }
        assert_eq!(recent_grid(&h, Duration::from_secs(86_400 * 28)).len(), 300);
        check(
            EnsembleForecaster::new(EnsembleConfig::default()).forecast(&h, 2),
            2,
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn any_history_gives_finite_forecasts_or_errors(
            values in prop::collection::vec(
                prop_oneof![Just(0.0), Just(f64::NAN), Just(-5.0), 0.0..1e6f64], 0..300),
            horizon in 1usize..20,
        ) {
            let mut f = EnsembleForecaster::new(EnsembleConfig::default());
            check(f.forecast(&history(HALF_HOUR, &values), horizon), horizon);
        }
    }
}
