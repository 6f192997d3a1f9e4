//! The catalogue of models selectable by name (`--model NAME`, `--models a,b`), the ensemble
//! (`auto`) among them. One place to add a model; which of them the ensemble backtests is
//! decided in [`crate::candidates`].

use std::sync::Arc;

use crate::Model;
use crate::arima::AutoArima;
use crate::autoreg::Autoregressive;
use crate::candidates::{auto_ets_level, mstl_auto_arima, ses};
use crate::ensemble::Ensemble;
use crate::ets::AutoEts;
use crate::mstl::Mstl;
use crate::naive::{Lag, SeasonalNaiveModel};
use crate::regression::FourierRegression;

/// Every model selectable by name, with the ensemble (`auto`) tuned for `horizon`.
pub fn all(horizon: usize) -> Vec<Arc<dyn Model>> {
    vec![
        Arc::new(Ensemble::new(horizon)),
        Arc::new(SeasonalNaiveModel::new()),
        Arc::new(SeasonalNaiveModel::with(Lag::None, 1)),
        Arc::new(SeasonalNaiveModel::with(Lag::Longest, 1)),
        Arc::new(SeasonalNaiveModel::with(Lag::Shortest, 3)),
        Arc::new(SeasonalNaiveModel::with(Lag::Longest, 2)),
        Arc::new(FourierRegression::default()),
        Arc::new(Autoregressive::default()),
        Arc::new(Autoregressive::integrated()),
        Arc::new(Mstl::new(Arc::new(Autoregressive::default()))),
        Arc::new(Mstl::new(Arc::new(Autoregressive::integrated()))),
        ses(),
        auto_ets_level(),
        Arc::new(Mstl::new(ses())),
        Arc::new(Mstl::new(Arc::new(AutoEts::new().non_seasonal()))),
        Arc::new(mstl_auto_arima()),
        Arc::new(AutoEts::new()),
        Arc::new(AutoArima::new()),
    ]
}

/// Looks a model up by name, case-insensitively; `auto` is the ensemble.
pub fn by_name(name: &str, horizon: usize) -> Option<Arc<dyn Model>> {
    let wanted = if name.eq_ignore_ascii_case("auto") {
        "Ensemble"
    } else {
        name
    };
    all(horizon)
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(wanted))
}

/// Names accepted by [`by_name`], for error messages and `--help`.
pub fn names() -> Vec<String> {
    std::iter::once("auto".to_string())
        .chain(all(1).iter().map(|m| m.name()))
        .collect()
}
