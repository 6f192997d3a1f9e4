//! The demand history the engine forecasts on, cached between ticks: the first read takes the
//! whole window from the store, later reads only the samples newer than the last one seen, so
//! a tick does not re-read weeks of demand.

use std::sync::Mutex;
use std::time::Duration;

use hivesched_policy::{DemandHistory, Time};
use hivesched_store::Store;

use crate::EngineError;
use crate::lock::lock;

/// The cached history (rebuilt when the demand step changes).
#[derive(Debug, Default)]
pub struct HistoryCache(Mutex<Option<DemandHistory>>);

impl HistoryCache {
    /// The newest cached sample's time, without reading the store.
    pub fn newest(&self) -> Option<Time> {
        lock(&self.0)
            .as_ref()
            .and_then(|h| h.last())
            .map(|(t, _)| t)
    }

    /// The demand history up to `now` at `step`, over `window`.
    pub async fn read(
        &self,
        store: &Store,
        now: Time,
        step: Duration,
        window: Duration,
    ) -> Result<DemandHistory, EngineError> {
        let cached = lock(&self.0).clone();
        let (mut history, from) = match cached {
            Some(h) if h.step() == step => {
                let from = h
                    .last()
                    .map_or(now.minus(window), |(t, _)| t.plus(Duration::from_millis(1)));
                (h, from)
            }
            _ => {
                let capacity =
                    (window.as_secs_f64() / step.as_secs_f64().max(1e-3)).ceil() as usize;
                (
                    DemandHistory::new(step, capacity.max(16)),
                    now.minus(window),
                )
            }
        };
        for s in store.demand_range(from, now).await? {
            history.push(s.at, s.value);
        }
        *lock(&self.0) = Some(history.clone());
        Ok(history)
    }
}
