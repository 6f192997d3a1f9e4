//! The ETS taxonomy: which error, trend and season components a model has.

use std::fmt;

/// How the error enters: it decides the likelihood and the shape of the prediction intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorType {
    /// `y = μ + ε`: interval width independent of the level.
    Additive,
    /// `y = μ(1 + ε)`: interval width proportional to the level (needs positive data).
    Multiplicative,
}

/// The trend component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TrendType {
    /// No trend: forecasts are flat apart from the season.
    None,
    /// Linear trend that continues forever.
    Additive,
    /// Linear trend damped by `phi` so that long forecasts level off.
    Damped,
}

/// The seasonal component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SeasonType {
    /// No season.
    None,
    /// Seasonal swings of constant size.
    Additive,
    /// Seasonal swings proportional to the level (needs positive data).
    Multiplicative,
}

/// One ETS model structure, e.g. ETS(M,Ad,M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct EtsSpec {
    /// Error component.
    pub error: ErrorType,
    /// Trend component.
    pub trend: TrendType,
    /// Season component.
    pub season: SeasonType,
}

impl EtsSpec {
    /// Build a spec from its three components.
    pub fn new(error: ErrorType, trend: TrendType, season: SeasonType) -> Self {
        EtsSpec {
            error,
            trend,
            season,
        }
    }

    /// Whether the model needs strictly positive data (any multiplicative component).
    pub fn needs_positive_data(&self) -> bool {
        self.error == ErrorType::Multiplicative || self.season == SeasonType::Multiplicative
    }

    /// Whether the point-forecast variance has the closed form of Hyndman et al. (2008) class 1
    /// (all components additive); other classes get simulated intervals.
    pub(crate) fn is_linear(&self) -> bool {
        self.error == ErrorType::Additive && self.season != SeasonType::Multiplicative
    }

    pub(crate) fn has_trend(&self) -> bool {
        self.trend != TrendType::None
    }

    pub(crate) fn has_season(&self) -> bool {
        self.season != SeasonType::None
    }
}

impl fmt::Display for EtsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        write!(f, "ETS({e},{t},{s})")
    }
}
