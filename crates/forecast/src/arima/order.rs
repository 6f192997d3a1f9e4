//! The order of a seasonal ARIMA model, ARIMA(p,d,q)(P,D,Q)[m] with or without a constant.

use std::fmt;

/// Orders of a (seasonal) ARIMA model.
///
/// The constant is the mean of the differenced series: a non-zero mean when `d + D = 0`, a drift
/// (linear trend in the forecasts) when `d + D = 1`. It is never used with `d + D ≥ 2`, where it
/// would make a quadratic or worse trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ArimaOrder {
    /// Non-seasonal AR order p.
    pub p: usize,
    /// Non-seasonal differences d.
    pub d: usize,
    /// Non-seasonal MA order q.
    pub q: usize,
    /// Seasonal AR order P.
    pub seasonal_p: usize,
    /// Seasonal differences D.
    pub seasonal_d: usize,
    /// Seasonal MA order Q.
    pub seasonal_q: usize,
    /// Seasonal period m (1 when there is no seasonal part).
    pub period: usize,
    /// Whether the differenced series has a non-zero mean (drift when `d + D = 1`).
    pub constant: bool,
}

impl ArimaOrder {
    /// Non-seasonal ARIMA(p,d,q) without constant.
    pub fn new(p: usize, d: usize, q: usize) -> Self {
        ArimaOrder {
            p,
            d,
            q,
            seasonal_p: 0,
            seasonal_d: 0,
            seasonal_q: 0,
            period: 1,
            constant: false,
        }
    }

    /// Add a seasonal part (P,D,Q) with period `m`.
    pub fn seasonal(mut self, sp: usize, sd: usize, sq: usize, m: usize) -> Self {
        self.seasonal_p = sp;
        self.seasonal_d = sd;
        self.seasonal_q = sq;
        self.period = m.max(1);
        self
    }

    /// Include (or not) the constant; ignored when `d + D ≥ 2`.
    pub fn with_constant(mut self, constant: bool) -> Self {
        self.constant = constant && self.d + self.seasonal_d < 2;
        self
    }

    /// Whether the model has any seasonal component.
    pub fn is_seasonal(&self) -> bool {
        self.period > 1 && self.seasonal_p + self.seasonal_d + self.seasonal_q > 0
    }

    /// Number of ARMA coefficients (plus one for the constant).
    pub fn n_coefficients(&self) -> usize {
        self.p + self.q + self.seasonal_p + self.seasonal_q + self.constant as usize
    }

    /// Observations consumed by differencing.
    pub fn n_differenced(&self) -> usize {
        self.d + self.seasonal_d * self.period
    }
}

impl fmt::Display for ArimaOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ARIMA({},{},{})", self.p, self.d, self.q)?;
        if self.is_seasonal() {
            write!(
                f,
                "({},{},{})[{}]",
                self.seasonal_p, self.seasonal_d, self.seasonal_q, self.period
            )?;
        }
        match (self.constant, self.d + self.seasonal_d) {
            (true, 0) => write!(f, " with non-zero mean"),
            (true, _) => write!(f, " with drift"),
            _ => Ok(()),
        }
    }
}
