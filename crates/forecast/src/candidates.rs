//! The candidates the ensemble backtests: warm (enough history for its seasons), calendar (a
//! season the detector missed) and cold start. The models selectable by name, the ensemble
//! among them, are in [`crate::catalog`].

use std::sync::Arc;

use crate::Model;
use crate::arima::AutoArima;
use crate::autoreg::Autoregressive;
use crate::ets::{AutoEts, ErrorType, Ets, EtsSpec, SeasonType, TrendType};
use crate::mstl::{Decompositions, Mstl};
use crate::naive::{Lag, SeasonalNaiveModel};
use crate::regression::FourierRegression;

/// Candidates for a history with at least two cycles of each of `seasons`: seasonal naive on
/// each season, the weekly mean of two weeks, harmonic regression, MSTL with an AR, ARI or
/// AutoARIMA on the adjusted series, and SES. Measured on the NAB traces' test windows
/// (`hivesched backtest --models auto`): MSTL+AutoARIMA (with the two-MSTL-member cap of the
/// ensemble) took nyc_taxi 0.838 → 0.791, Twitter_volume_GOOG 0.743 → 0.731 and
/// cpu_utilization_asg_misconfiguration 3.385 → 3.292; SES rescued the rds_cpu_utilization
/// window where a spurious daily cycle was detected (1.778 → 1.21), changing nothing else.
/// MSTL+SES is left out (nyc_taxi 0.84 without, 0.93 with, before the cap).
///
/// Without seasons: naive, SES and non-seasonal AutoETS (trend and damping chosen by AICc, the
/// level model statsforecast wins with on the 5-minute CPU and request traces). Left out there:
/// a mean-reverting AR in levels, which at a level shift pulls the forecast back to the old level
/// (grok_asg_anomaly: ensemble MASE 1.66 with it, 0.99 without), and ARI, whose momentum on
/// differences ran away across the level collapse in one grok_asg_anomaly test window (MASE 4.15
/// there against SES's 0.81; ensemble 0.976 with it, 0.828 without).
///
/// The MSTL candidates take their decompositions from `shared`, so each cut is decomposed once.
pub fn warm_candidates(seasons: &[usize], shared: &Arc<Decompositions>) -> Vec<Arc<dyn Model>> {
    if seasons.iter().all(|&p| p <= 1) {
        return vec![
            Arc::new(SeasonalNaiveModel::with(Lag::None, 1)),
            ses(),
            auto_ets_level(),
        ];
    }
    let mut v: Vec<Arc<dyn Model>> = vec![
        Arc::new(SeasonalNaiveModel::new()),
        Arc::new(Mstl::new(Arc::new(Autoregressive::default())).sharing(shared.clone())),
        Arc::new(Mstl::new(Arc::new(Autoregressive::integrated())).sharing(shared.clone())),
        Arc::new(FourierRegression::default()),
    ];
    if seasons.iter().filter(|&&p| p > 1).count() >= 2 {
        v.push(Arc::new(SeasonalNaiveModel::with(Lag::Longest, 1)));
        v.push(Arc::new(SeasonalNaiveModel::with(Lag::Longest, 2)));
    }
    v.push(Arc::new(mstl_auto_arima().sharing(shared.clone())));
    v.push(ses());
    v
}

/// MSTL with AutoARIMA (non-seasonal) on the adjusted series, the model statsforecast's
/// comparison is led by on nyc_taxi. Its order search costs ~12 ms on 1 344 half-hourly points,
/// affordable because the backtest searches once and re-estimates ([`crate::Fitted::structure`]).
pub(crate) fn mstl_auto_arima() -> Mstl {
    Mstl::new(Arc::new(AutoArima::new().non_seasonal()))
}

/// Simple exponential smoothing, ETS(A,N,N) from [`crate::ets`], named `SES`: the level model
/// that wins on noisy series without cycles (a long AR on differences approximates it poorly).
pub(crate) fn ses() -> Arc<dyn Model> {
    Arc::new(Named {
        name: "SES",
        inner: Ets::new(EtsSpec::new(
            ErrorType::Additive,
            TrendType::None,
            SeasonType::None,
        )),
    })
}

/// Non-seasonal AutoETS (error, trend and damping chosen by AICc), named `AutoETS(ns)`: SES when
/// the level only wanders, a damped trend when it drifts. Its fit costs about 20× SES (six
/// structures, each optimised), affordable on the 5-minute traces: the whole ensemble stays
/// around a second per forecast there, statsforecast's MSTL+AutoETS takes 12–70 s per fit.
pub(crate) fn auto_ets_level() -> Arc<dyn Model> {
    Arc::new(Named {
        name: "AutoETS(ns)",
        inner: AutoEts::new().non_seasonal(),
    })
}

/// A model under a short catalogue name (ETS names contain commas, which `--models` splits on).
struct Named<M> {
    name: &'static str,
    inner: M,
}

impl<M: Model> Model for Named<M> {
    fn name(&self) -> String {
        self.name.into()
    }

    fn fit(
        &self,
        y: &[f64],
        seasons: &[usize],
    ) -> Result<Box<dyn crate::Fitted>, crate::ForecastError> {
        self.inner.fit(y, seasons)
    }

    fn searches(&self) -> bool {
        self.inner.searches()
    }
}

/// Seasonal candidates pinned to calendar `seasons` (named with an `@cal` suffix), for a series
/// whose detected seasons leave some calendar period out; see [`crate::ensemble::Ensemble::with_calendar`]. The
/// level-reverting ones (MSTL+AR, regression) are left out: on a series without a clear cycle
/// they pulled forecasts back across level shifts (grok_asg_anomaly MASE 0.99 → 1.64). SES is
/// left out too: it ignores seasons, so `SES@cal` was `SES` fitted a second time (and then
/// dropped as a duplicate), about a tenth of a short series' forecast time.
pub fn calendar_candidates(seasons: &[usize], shared: &Arc<Decompositions>) -> Vec<Arc<dyn Model>> {
    warm_candidates(seasons, shared)
        .into_iter()
        .filter(|m| !matches!(m.name().as_str(), "MSTL+AR" | "Regression" | "SES"))
        .map(|inner| {
            Arc::new(Pinned {
                name: format!("{}@cal", inner.name()),
                inner,
                seasons: seasons.to_vec(),
            }) as Arc<dyn Model>
        })
        .collect()
}

/// A model that always uses its own seasons (those with two full cycles in the history).
struct Pinned {
    name: String,
    inner: Arc<dyn Model>,
    seasons: Vec<usize>,
}

impl Model for Pinned {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn fit(
        &self,
        y: &[f64],
        _seasons: &[usize],
    ) -> Result<Box<dyn crate::Fitted>, crate::ForecastError> {
        let usable: Vec<usize> = self
            .seasons
            .iter()
            .copied()
            .filter(|&p| 2 * p <= y.len())
            .collect();
        self.inner.fit(y, &usable)
    }

    fn searches(&self) -> bool {
        self.inner.searches()
    }
}

/// Candidates under cold start: naive, seasonal naive on whatever cycle fits, and AR.
pub fn cold_candidates() -> Vec<Arc<dyn Model>> {
    vec![
        Arc::new(SeasonalNaiveModel::new()),
        Arc::new(SeasonalNaiveModel::with(Lag::None, 1)),
        Arc::new(Autoregressive::default()),
    ]
}
