//! Fault injection: failed and slow wakes, forecaster failures, demand-feed stalls and scheduler
//! restarts, to show the fail-safes working. Deterministic for a given seed.
//!
//! Written on the command line as a comma-separated list, e.g.
//! `wake-fail=0.05,slow-wake=0.1x3,forecast-error=100-120,stall=200-230,restart=500,seed=7`.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hivesched_policy::{DemandForecast, DemandHistory, ForecastFailure, Forecaster};

use crate::SimError;

/// The faults to inject into one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Probability that a wake ends in the error state.
    pub wake_failure_rate: f64,
    /// Probability that a wake is slow.
    pub slow_wake_rate: f64,
    /// How many times longer a slow wake takes.
    pub slow_wake_factor: u32,
    /// Steps at which the forecaster fails (cycling through error, NaN and timeout).
    pub forecast_errors: Vec<Range<usize>>,
    /// Steps during which no demand sample arrives.
    pub demand_stalls: Vec<Range<usize>>,
    /// Steps at which the scheduler restarts and loses its in-memory state.
    pub restarts: Vec<usize>,
    /// Seed of the random draws.
    pub seed: u64,
}

fn bad(spec: &str, why: impl std::fmt::Display) -> SimError {
    SimError::Config(format!("--faults {spec:?}: {why}"))
}

fn parse_range(spec: &str, v: &str) -> Result<Range<usize>, SimError> {
    let (a, b) = v.split_once('-').unwrap_or((v, v));
    let a: usize = a
        .trim()
        .parse()
        .map_err(|_| bad(spec, format!("{a:?} is not a step number")))?;
    let b: usize = b
        .trim()
        .parse()
        .map_err(|_| bad(spec, format!("{b:?} is not a step number")))?;
    if b < a {
        return Err(bad(spec, format!("range {a}-{b} ends before it starts")));
    }
    Ok(a..b + 1)
}

fn parse_rate(spec: &str, v: &str) -> Result<f64, SimError> {
    match v.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(bad(
            spec,
            format!("{v:?} is not a probability between 0 and 1"),
        )),
    }
}

impl Faults {
    /// Parses the command-line form; the error names the item that is wrong.
    pub fn parse(spec: &str) -> Result<Faults, SimError> {
        let mut f = Faults {
            slow_wake_factor: 3,
            ..Faults::default()
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad(item, "expected key=value"))?;
            match key.trim() {
                "wake-fail" => f.wake_failure_rate = parse_rate(item, value)?,
                "slow-wake" => {
                    let (p, x) = value.split_once('x').unwrap_or((value, "3"));
                    f.slow_wake_rate = parse_rate(item, p)?;
                    f.slow_wake_factor = x
                        .trim()
                        .parse()
                        .ok()
                        .filter(|x| *x >= 1)
                        .ok_or_else(|| bad(item, format!("{x:?} is not a factor >= 1")))?;
                }
                "forecast-error" => f.forecast_errors.push(parse_range(item, value)?),
                "stall" => f.demand_stalls.push(parse_range(item, value)?),
                "restart" => f.restarts.push(parse_range(item, value)?.start),
                "seed" => {
                    f.seed = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(item, "seed must be a whole number"))?
                }
                other => {
                    return Err(bad(
                        item,
                        format!(
                            "unknown fault {other:?}; known: wake-fail, slow-wake, forecast-error, stall, restart, seed"
                        ),
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether the demand feed is stalled at `step`.
    pub fn stalled(&self, step: usize) -> bool {
        self.demand_stalls.iter().any(|r| r.contains(&step))
    }

    /// Whether the forecaster fails at `step`.
    pub fn forecast_fails(&self, step: usize) -> bool {
        self.forecast_errors.iter().any(|r| r.contains(&step))
    }
}

/// Wraps a forecaster and makes it fail at the configured steps, cycling through the failure
/// kinds the breaker must count: a model error, a NaN forecast and a timeout.
pub struct FaultyForecaster {
    inner: Box<dyn Forecaster>,
    faults: Faults,
    step: Arc<AtomicUsize>,
}

impl FaultyForecaster {
    /// Wraps `inner`; `step` is the simulator's current step, shared with the run loop.
    pub fn new(inner: Box<dyn Forecaster>, faults: Faults, step: Arc<AtomicUsize>) -> Self {
        FaultyForecaster {
            inner,
            faults,
            step,
        }
    }
}

impl Forecaster for FaultyForecaster {
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure> {
        let step = self.step.load(Ordering::Relaxed);
        if !self.faults.forecast_fails(step) {
            return self.inner.forecast(history, horizon);
        }
        match step % 3 {
            0 => Err(ForecastFailure::Model("injected fault".into())),
            1 => Ok(DemandForecast {
                mean: vec![f64::NAN; horizon],
                upper: vec![f64::NAN; horizon],
                model: "injected-nan".into(),
            }),
            _ => Err(ForecastFailure::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let f = Faults::parse(
            "wake-fail=0.05, slow-wake=0.1x4,forecast-error=10-12,stall=20,restart=30,seed=7",
        )
        .unwrap();
        assert_eq!(f.wake_failure_rate, 0.05);
        assert_eq!((f.slow_wake_rate, f.slow_wake_factor), (0.1, 4));
        assert!(f.forecast_fails(12) && !f.forecast_fails(13));
        assert!(f.stalled(20) && !f.stalled(21));
        assert_eq!((f.restarts.clone(), f.seed), (vec![30], 7));
    }

    #[test]
    fn errors_name_the_item() {
        for (spec, needle) in [
            ("wake-fail=2", "probability"),
            ("stall=9-3", "ends before"),
            ("bogus=1", "unknown fault"),
            ("restart", "key=value"),
            ("slow-wake=0.1x0", "factor"),
        ] {
            let e = Faults::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
