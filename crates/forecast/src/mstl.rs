//! MSTL: multiple seasonal-trend decomposition by loess (Bandara, Hyndman & Bergmeir 2021), with a
//! pluggable model for the seasonally adjusted series.
//!
//! Own implementation on the crate's STL (not `augurs-mstl`): it keeps the dependency tree to
//! nothing, and lets any [`Model`] forecast the adjusted series (AR by default; AutoETS/AutoARIMA
//! once available). Each seasonal component is forecast by repeating its last cycle.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::intervals::check_history;
use crate::stl::{INNER_PASSES, stl};
use crate::{Fitted, Forecast, ForecastError, Model};

/// MSTL decomposition + `adjusted` model; see the module docs.
#[derive(Clone)]
pub struct Mstl {
    adjusted: Arc<dyn Model>,
    iterations: usize,
    shared: Option<Arc<Decompositions>>,
}

impl Mstl {
    /// MSTL whose seasonally adjusted series is forecast by `adjusted`, with the paper's two
    /// refinement iterations.
    pub fn new(adjusted: Arc<dyn Model>) -> Self {
        Self {
            adjusted,
            iterations: 2,
            shared: None,
        }
    }

    /// Takes decompositions from `shared`, computing each (series, periods) once for every MSTL
    /// model holding the same store. The ensemble's MSTL candidates differ only in the adjusted
    /// series' model, and the decomposition was half of a nyc_taxi ensemble fit.
    pub fn sharing(mut self, shared: Arc<Decompositions>) -> Self {
        self.shared = Some(shared);
        self
    }

    fn decomposition(&self, y: &[f64], periods: &[usize]) -> Arc<MultiDecomposition> {
        match &self.shared {
            Some(store) => store.get_or_compute(y, periods, self.iterations),
            None => Arc::new(decompose(y, periods, self.iterations)),
        }
    }
}

/// Decompositions shared by MSTL models during one ensemble fit (see [`Mstl::sharing`]), keyed by
/// the series' length and a hash of its values, the periods and the iteration count. Scoped to
/// one fit, so it holds a few dozen entries at most and is dropped with the candidates.
#[derive(Default)]
pub struct Decompositions {
    entries: Mutex<Vec<(DecompositionKey, Slot)>>,
}

/// One decomposition, filled by the first candidate that needs it.
type Slot = Arc<OnceLock<Arc<MultiDecomposition>>>;

/// What identifies a decomposition: equal keys mean equal inputs (up to a 64-bit hash of the
/// values, on top of equal length and periods).
#[derive(PartialEq)]
struct DecompositionKey {
    len: usize,
    values: u64,
    periods: Vec<usize>,
    iterations: usize,
}

impl Decompositions {
    fn get_or_compute(
        &self,
        y: &[f64],
        periods: &[usize],
        iterations: usize,
    ) -> Arc<MultiDecomposition> {
        let mut hasher = DefaultHasher::new();
        for v in y {
            v.to_bits().hash(&mut hasher);
        }
        let key = DecompositionKey {
            len: y.len(),
            values: hasher.finish(),
            periods: periods.to_vec(),
            iterations,
        };
        // The slot is claimed under the lock and filled outside it; a second candidate asking for
        // the same key meanwhile (the backtests run on two threads) waits for the first instead
        // of decomposing again (before, two candidates reaching a cut together both computed
        // its decomposition).
        let slot = {
            let mut entries = self
                .entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match entries.iter().find(|(k, _)| *k == key) {
                Some((_, slot)) => slot.clone(),
                None => {
                    let slot = Arc::new(OnceLock::new());
                    entries.push((key, slot.clone()));
                    slot
                }
            }
        };
        slot.get_or_init(|| Arc::new(decompose(y, periods, iterations)))
            .clone()
    }
}

/// Seasonal components (one per period, ascending) and the seasonally adjusted series.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiDecomposition {
    /// `(period, component)` pairs.
    pub seasonals: Vec<(usize, Vec<f64>)>,
    /// `y` minus every seasonal component.
    pub adjusted: Vec<f64>,
}

/// Decomposes `y` on the periods that have at least two full cycles, iterating `iterations` times
/// so each seasonal component is estimated with the others removed. Seasonal smoother windows are
/// 7 + 4·i for the i-th period (i from 1), as in the MSTL paper.
pub fn decompose(y: &[f64], periods: &[usize], iterations: usize) -> MultiDecomposition {
    let mut ps: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p > 1 && 2 * p <= y.len())
        .collect();
    ps.sort_unstable();
    ps.dedup();
    let mut seasonals: Vec<Vec<f64>> = vec![vec![0.0; y.len()]; ps.len()];
    let mut deseason = y.to_vec();
    for _ in 0..iterations.max(1) {
        for (i, &p) in ps.iter().enumerate() {
            for (d, s) in deseason.iter_mut().zip(&seasonals[i]) {
                *d += s;
            }
            seasonals[i] = stl(&deseason, p, 7 + 4 * (i + 1), INNER_PASSES).seasonal;
            for (d, s) in deseason.iter_mut().zip(&seasonals[i]) {
                *d -= s;
            }
        }
    }
    MultiDecomposition {
        seasonals: ps.into_iter().zip(seasonals).collect(),
        adjusted: deseason,
    }
}

impl Model for Mstl {
    fn name(&self) -> String {
        format!("MSTL+{}", self.adjusted.name())
    }

    fn searches(&self) -> bool {
        self.adjusted.searches()
    }

    fn fit(&self, y: &[f64], seasons: &[usize]) -> Result<Box<dyn Fitted>, ForecastError> {
        check_history(&self.name(), y, 4)?;
        let d = self.decomposition(y, seasons);
        if d.seasonals.is_empty() && !seasons.is_empty() {
            let need = 2 * seasons.iter().copied().min().unwrap_or(1);
            return Err(ForecastError::TooShort {
                model: self.name(),
                got: y.len(),
                need,
            });
        }
        let inner = self.adjusted.fit(&d.adjusted, &[])?;
        let last_cycles = d
            .seasonals
            .iter()
            .map(|(p, s)| (*p, s[s.len() - p..].to_vec()))
            .collect();
        Ok(Box::new(FittedMstl {
            name: self.name(),
            iterations: self.iterations,
            shared: self.shared.as_ref().map(Arc::downgrade),
            inner,
            last_cycles,
        }))
    }
}

struct FittedMstl {
    name: String,
    iterations: usize,
    /// The store the fit drew on, for [`Fitted::structure`] during the same ensemble fit; weak,
    /// so a fitted model kept for hours does not keep the fit's decompositions alive.
    shared: Option<Weak<Decompositions>>,
    inner: Box<dyn Fitted>,
    last_cycles: Vec<(usize, Vec<f64>)>,
}

impl Fitted for FittedMstl {
    /// The same decomposition with the adjusted series' chosen structure.
    fn structure(&self) -> Option<Arc<dyn Model>> {
        Some(Arc::new(Mstl {
            adjusted: self.inner.structure()?,
            iterations: self.iterations,
            shared: self.shared.as_ref().and_then(Weak::upgrade),
        }))
    }

    fn describe(&self) -> String {
        let ps: Vec<String> = self
            .last_cycles
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        format!("MSTL[{}]+{}", ps.join(","), self.inner.describe())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Result<Forecast, ForecastError> {
        let mut f = self.inner.forecast(h, levels)?;
        for j in 0..h {
            let s: f64 = self.last_cycles.iter().map(|(p, c)| c[j % p]).sum();
            f.mean[j] += s;
            for iv in &mut f.intervals {
                iv.lo[j] += s;
                iv.hi[j] += s;
            }
        }
        crate::intervals::ensure_finite(&self.name, &f.mean)?;
        Ok(f)
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "periods": self.last_cycles.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            "adjusted_model": self.inner.describe(),
            "adjusted_params": self.inner.params(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoreg::Autoregressive;

    #[test]
    fn shared_decompositions_are_computed_once_and_change_nothing() {
        let y: Vec<f64> = (0..200)
            .map(|t| 50.0 + [3.0, -1.0, 4.0, -6.0][t % 4] + (t as f64 * 0.37).sin())
            .collect();
        let shared = Arc::new(Decompositions::default());
        let ar = Arc::new(Autoregressive::default());
        let ari = Arc::new(Autoregressive::integrated());
        let alone = Mstl::new(ar.clone()).fit(&y, &[4]).unwrap();
        let first = Mstl::new(ar).sharing(shared.clone()).fit(&y, &[4]).unwrap();
        let second = Mstl::new(ari.clone())
            .sharing(shared.clone())
            .fit(&y, &[4])
            .unwrap();
        assert_eq!(shared.entries.lock().unwrap().len(), 1);
        assert_eq!(
            alone.forecast(8, &[]).unwrap(),
            first.forecast(8, &[]).unwrap()
        );
        assert_eq!(
            Mstl::new(ari)
                .fit(&y, &[4])
                .unwrap()
                .forecast(8, &[])
                .unwrap(),
            second.forecast(8, &[]).unwrap()
        );
        // Another series (one value changed) is another decomposition.
        let mut z = y.clone();
        z[10] += 1.0;
        Mstl::new(Arc::new(Autoregressive::default()))
            .sharing(shared.clone())
            .fit(&z, &[4])
            .unwrap();
        assert_eq!(shared.entries.lock().unwrap().len(), 2);
    }

    #[test]
    fn forecasts_two_clean_cycles() {
        let f = |t: usize| {
            100.0 + [5.0, -5.0, 2.0, -2.0][t % 4] + if (t / 4) % 7 < 5 { 10.0 } else { -10.0 }
        };
        let y: Vec<f64> = (0..28 * 6).map(f).collect();
        let m = Mstl::new(Arc::new(Autoregressive::default()));
        let fc = m.fit(&y, &[4, 28]).unwrap().forecast(28, &[80.0]).unwrap();
        let mae: f64 = fc
            .mean
            .iter()
            .enumerate()
            .map(|(j, v)| (v - f(y.len() + j)).abs())
            .sum::<f64>()
            / 28.0;
        assert!(mae < 1.0, "mae {mae}");
    }
}
