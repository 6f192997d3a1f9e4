//! Automatic ARIMA: the stepwise search of Hyndman & Khandakar (2008, §3.2).
//!
//! 1. `D` by seasonal strength, then `d` by repeated KPSS tests on the seasonally differenced data.
//! 2. Fit ARIMA(2,d,2)(1,D,1), (0,d,0)(0,D,0), (1,d,0)(1,D,0) and (0,d,1)(0,D,1) (seasonal parts
//!    dropped without a season), with a constant when `d + D ≤ 1`; the lowest AICc is current.
//! 3. Try the variations of the current model — one of p, q, P, Q changed by ±1; p and q together
//!    by ±1; P and Q together by ±1; the constant toggled — and move to the first that lowers
//!    AICc, until none does (or the model budget is spent).
//!
//! On long series (more than 150 points after differencing, or a period above 12) the search
//! scores models by the conditional sum of squares and only the winner is refitted by exact ML,
//! which is what keeps a non-seasonal fit on 1 344 points well inside a few milliseconds per model.
//! Models with an AR or MA root inside radius 1.01 are rejected as near non-stationary or
//! non-invertible.

use std::collections::HashMap;

use super::fit::{FittedArima, Method, fit_invertible};
use super::order::ArimaOrder;
use super::poly::difference;
use super::unitroot::{ndiffs, nsdiffs};
use crate::{Fitted, ForecastError, Model};

/// Roots closer to the unit circle than this radius disqualify a model.
const ROOT_RADIUS: f64 = 1.01;

/// ARIMA with automatic order selection (Hyndman–Khandakar stepwise search by AICc).
#[derive(Debug, Clone)]
pub struct AutoArima {
    seasonal: bool,
    max_period: usize,
    max_p: usize,
    max_q: usize,
    max_seasonal_p: usize,
    max_seasonal_q: usize,
    max_order: usize,
    max_d: usize,
    max_models: usize,
    approximation: Option<bool>,
}

impl Default for AutoArima {
    fn default() -> Self {
        Self::new()
    }
}

impl AutoArima {
    /// The defaults of Hyndman & Khandakar: p, q ≤ 5, P, Q ≤ 2, p + q + P + Q ≤ 5, d ≤ 2, D ≤ 1;
    /// seasonal periods up to 24.
    pub fn new() -> Self {
        AutoArima {
            seasonal: true,
            max_period: 24,
            max_p: 5,
            max_q: 5,
            max_seasonal_p: 2,
            max_seasonal_q: 2,
            max_order: 5,
            max_d: 2,
            max_models: 94,
            approximation: None,
        }
    }

    /// Only non-seasonal models (e.g. for the trend of an MSTL decomposition).
    pub fn non_seasonal(mut self) -> Self {
        self.seasonal = false;
        self
    }

    /// Longest seasonal period to model (default 24). The state dimension grows with the period,
    /// so raising it makes each likelihood evaluation slower (roughly with the period squared).
    pub fn max_period(mut self, period: usize) -> Self {
        self.max_period = period;
        self
    }

    /// Bound on p + q + P + Q (default 5).
    pub fn max_order(mut self, order: usize) -> Self {
        self.max_order = order;
        self
    }

    /// Force (or forbid) scoring the search by conditional sum of squares; by default it is used
    /// on more than 150 differenced points or periods above 12.
    pub fn approximation(mut self, approximate: bool) -> Self {
        self.approximation = Some(approximate);
        self
    }

    /// The seasonal period the search uses on `n` points: the first of `seasons` above 1, within
    /// the maximum, with at least two full seasons and a few points more.
    pub fn period_for(&self, n: usize, seasons: &[usize]) -> Option<usize> {
        if !self.seasonal {
            return None;
        }
        seasons
            .iter()
            .copied()
            .find(|&m| m > 1 && m <= self.max_period && n > 2 * m + 4)
    }

    /// Run the search and return the chosen fitted model.
    pub fn fit_best(&self, y: &[f64], seasons: &[usize]) -> Result<FittedArima, ForecastError> {
        if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
            return Err(ForecastError::InvalidInput(format!(
                "AutoARIMA: non-finite value {bad}"
            )));
        }
        if y.len() < 4 {
            return Err(ForecastError::TooShort {
                model: "AutoARIMA".into(),
                got: y.len(),
                need: 4,
            });
        }
        let period = self.period_for(y.len(), seasons);
        let m = period.unwrap_or(1);
        let sd = period.map_or(0, |m| nsdiffs(y, m));
        let seasonally_differenced = difference(y, 0, sd, m);
        let max_d = self
            .max_d
            .min(seasonally_differenced.len().saturating_sub(4));
        let d = ndiffs(&seasonally_differenced, max_d);
        let n_used = y.len() - d - sd * m;
        let approximate = self.approximation.unwrap_or(n_used > 150 || m > 12);
        let search = Search {
            y,
            m,
            d,
            sd,
            method: if approximate {
                Method::Css
            } else {
                Method::CssMl
            },
            tried: HashMap::new(),
            auto: self,
        };
        search.run(approximate)
    }
}

struct Search<'a> {
    y: &'a [f64],
    m: usize,
    d: usize,
    sd: usize,
    method: Method,
    tried: HashMap<ArimaOrder, Option<FittedArima>>,
    auto: &'a AutoArima,
}

fn score(f: &Option<FittedArima>) -> f64 {
    f.as_ref().map_or(f64::INFINITY, |f| f.aicc())
}

impl Search<'_> {
    fn order(&self, p: usize, q: usize, sp: usize, sq: usize, constant: bool) -> ArimaOrder {
        let seasonal = if self.m > 1 {
            (sp, self.sd, sq)
        } else {
            (0, 0, 0)
        };
        ArimaOrder::new(p, self.d, q)
            .seasonal(seasonal.0, seasonal.1, seasonal.2, self.m)
            .with_constant(constant)
    }

    fn allowed(&self, o: &ArimaOrder) -> bool {
        let a = self.auto;
        o.p <= a.max_p
            && o.q <= a.max_q
            && o.seasonal_p <= a.max_seasonal_p
            && o.seasonal_q <= a.max_seasonal_q
            && o.p + o.q + o.seasonal_p + o.seasonal_q <= a.max_order
    }

    /// AICc of `order`, fitting it on first sight (infinite if it fails or is rejected).
    fn evaluate(&mut self, order: ArimaOrder) -> f64 {
        if let Some(f) = self.tried.get(&order) {
            return score(f);
        }
        let fitted = fit_invertible(self.y, order, self.method, ROOT_RADIUS)
            .ok()
            .filter(|f| f.aicc().is_finite() && f.roots_outside(ROOT_RADIUS));
        let s = score(&fitted);
        self.tried.insert(order, fitted);
        s
    }

    fn run(mut self, approximate: bool) -> Result<FittedArima, ForecastError> {
        let constant = self.d + self.sd <= 1;
        let starts = [(2, 2, 1, 1), (0, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1)];
        let mut current: Option<(ArimaOrder, f64)> = None;
        for (p, q, sp, sq) in starts {
            let o = self.order(p, q, sp, sq, constant);
            if !self.allowed(&o) {
                continue;
            }
            let s = self.evaluate(o);
            if current.is_none_or(|(_, best)| s < best) {
                current = Some((o, s));
            }
        }
        let Some((mut best, mut best_score)) = current else {
            return Err(self.failure());
        };
        'outer: while self.tried.len() < self.auto.max_models {
            for o in self.neighbours(&best) {
                if self.tried.len() >= self.auto.max_models {
                    break 'outer;
                }
                let s = self.evaluate(o);
                if s < best_score {
                    best = o;
                    best_score = s;
                    continue 'outer;
                }
            }
            break;
        }
        self.finish(approximate)
    }

    fn neighbours(&self, o: &ArimaOrder) -> Vec<ArimaOrder> {
        let (p, q, sp, sq) = (
            o.p as i64,
            o.q as i64,
            o.seasonal_p as i64,
            o.seasonal_q as i64,
        );
        let mut moves: Vec<(i64, i64, i64, i64)> = Vec::new();
        for delta in [-1, 1] {
            moves.push((delta, 0, 0, 0));
            moves.push((0, delta, 0, 0));
            if self.m > 1 {
                moves.push((0, 0, delta, 0));
                moves.push((0, 0, 0, delta));
            }
            moves.push((delta, delta, 0, 0));
            if self.m > 1 {
                moves.push((0, 0, delta, delta));
            }
        }
        let mut out: Vec<ArimaOrder> = moves
            .into_iter()
            .filter_map(|(dp, dq, dsp, dsq)| {
                let v = [p + dp, q + dq, sp + dsp, sq + dsq];
                v.iter().all(|&x| x >= 0).then(|| {
                    self.order(
                        v[0] as usize,
                        v[1] as usize,
                        v[2] as usize,
                        v[3] as usize,
                        o.constant,
                    )
                })
            })
            .filter(|c| self.allowed(c))
            .collect();
        if self.d + self.sd <= 1 {
            out.push(o.with_constant(!o.constant));
        }
        out
    }

    fn failure(&self) -> ForecastError {
        ForecastError::FitFailed {
            model: "AutoARIMA".into(),
            reason: format!("no admissible model among {} tried", self.tried.len()),
        }
    }

    /// Best model by AICc; with the approximation, refit candidates by CSS-ML in AICc order
    /// until one is admissible.
    fn finish(mut self, approximate: bool) -> Result<FittedArima, ForecastError> {
        let err = self.failure();
        let mut ranked: Vec<FittedArima> = self.tried.drain().filter_map(|(_, f)| f).collect();
        ranked.sort_by(|a, b| a.aicc().total_cmp(&b.aicc()));
        if approximate {
            let orders: Vec<ArimaOrder> = ranked.iter().map(FittedArima::order).collect();
            return self.first_admissible(&orders).ok_or(err);
        }
        for candidate in ranked {
            if candidate.forecast(1, &[]).is_ok() {
                return Ok(candidate);
            }
        }
        Err(err)
    }

    /// `order` refitted by CSS-ML, if the refit is admissible and forecasts.
    fn refit_admissible(&self, order: ArimaOrder) -> Option<FittedArima> {
        fit_invertible(self.y, order, Method::CssMl, ROOT_RADIUS)
            .ok()
            .filter(|f| f.roots_outside(ROOT_RADIUS) && f.forecast(1, &[]).is_ok())
    }

    /// The first of `orders` whose exact-ML refit is admissible. After the first is rejected the
    /// rest are refitted two at a time (the later one on a second thread, its result used only
    /// when the earlier is rejected too, so the choice is the sequential one): a rejection is
    /// usually an MA root pushed to the unit circle on an over-differenced series, and then the
    /// next orders go the same way — on azure_code_1s seven refits of 1–23 ms each were rejected
    /// before one was kept, one after another, while the other core sat idle. The first order is
    /// refitted alone because it is usually kept (no refit is wasted then).
    fn first_admissible(&self, orders: &[ArimaOrder]) -> Option<FittedArima> {
        let (first, rest) = orders.split_first()?;
        if let Some(f) = self.refit_admissible(*first) {
            return Some(f);
        }
        for pair in rest.chunks(2) {
            let (a, b) = match pair {
                [a, b] => std::thread::scope(|scope| {
                    let later = scope.spawn(|| self.refit_admissible(*b));
                    let a = self.refit_admissible(*a);
                    (a, later.join().ok().flatten())
                }),
                [a] => (self.refit_admissible(*a), None),
                _ => (None, None),
            };
            if let Some(f) = a.or(b) {
                return Some(f);
            }
        }
        None
    }
}

impl Model for AutoArima {
    fn name(&self) -> String {
        "AutoARIMA".into()
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        Ok(Box::new(self.fit_best(y, seasons)?))
    }

    fn searches(&self) -> bool {
        true
    }
}
