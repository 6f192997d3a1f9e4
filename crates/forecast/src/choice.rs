//! Which forecaster the planner runs: one choice, spelled once, for `hivesched simulate`
//! (`--forecaster`) and the service (`forecaster` in its configuration), so the closed loop the
//! simulator measures is the one the service runs.

use hivesched_policy::{ForecasterFactory, SeasonalNaive};
use std::sync::Arc;

use crate::{EnsembleConfig, EnsembleForecaster};

/// A forecaster the planner can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForecasterChoice {
    /// This crate's backtest-weighted ensemble, refitted every `refit_every` of history and
    /// anchored to the newest sample between refits (fewer agent-hours than seasonal naive at
    /// less unserved demand on nyc_taxi; see docs/forecasting.md).
    #[default]
    Ensemble,
    /// The decision core's built-in seasonal naive: no fitting, cheapest per tick.
    SeasonalNaive,
}

impl ForecasterChoice {
    /// Every choice.
    pub const ALL: [ForecasterChoice; 2] =
        [ForecasterChoice::Ensemble, ForecasterChoice::SeasonalNaive];

    /// The wire name: `ensemble` or `seasonal-naive`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForecasterChoice::Ensemble => "ensemble",
            ForecasterChoice::SeasonalNaive => "seasonal-naive",
        }
    }

    /// A factory of fresh forecasters of this kind; the ensemble runs with `config` (ignored by
    /// seasonal naive, which needs no fit and keeps its own quantile).
    pub fn factory(self, config: EnsembleConfig) -> ForecasterFactory {
        match self {
            ForecasterChoice::Ensemble => {
                Arc::new(move || Box::new(EnsembleForecaster::new(config.clone())))
            }
            ForecasterChoice::SeasonalNaive => Arc::new(|| Box::new(SeasonalNaive::default())),
        }
    }
}

hivesched_policy::wire_name!(ForecasterChoice, "ensemble or seasonal-naive");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in ForecasterChoice::ALL {
            assert_eq!(c.as_str().parse::<ForecasterChoice>(), Ok(c));
        }
        assert!("arima".parse::<ForecasterChoice>().is_err());
    }
}
