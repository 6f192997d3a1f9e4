//! The engine's alerts: the rules evaluated on what it knows now, stored, published and sent.

use std::sync::atomic::Ordering;

use hivesched_policy::alerts::{Alert, AlertChange, AlertFacts};
use hivesched_policy::{AgentState, BreakerState, Mode};

use super::{Engine, TickHealth};
use crate::EngineError;
use crate::events::EngineEvent;
use crate::lock::lock;

/// The rails whose holding-back the `rail_blocking` alert watches.
const RAILS: [hivesched_policy::Reason; 5] = [
    hivesched_policy::Reason::MinAwake,
    hivesched_policy::Reason::BudgetExhausted,
    hivesched_policy::Reason::ScaleDownLimited,
    hivesched_policy::Reason::SleepRateLimited,
    hivesched_policy::Reason::CooldownActive,
];

impl Engine {
    /// Evaluates the alert rules on what the engine knows now; stores, publishes and sends what
    /// changed. Never fails: a fact that cannot be read counts as no data.
    pub async fn evaluate_alerts(&self) {
        let _one_at_a_time = self.inner.alert_eval.lock().await;
        let facts = self.alert_facts().await;
        let now = self.inner.clock.now();
        let changes = self.inner.alerting.evaluate(&facts, now);
        for change in changes {
            let (alert, stored) = match change {
                AlertChange::Fired(a) => {
                    let stored = self.inner.store.fire_alert(&a).await;
                    (a, stored)
                }
                AlertChange::Resolved(a) => {
                    let stored = self
                        .inner
                        .store
                        .resolve_alert(&a, a.resolved_at.unwrap_or(now))
                        .await;
                    (a, stored)
                }
            };
            if let Err(e) = stored {
                tracing::warn!(alert = %alert.id, error = %e, "an alert change was not stored");
            }
            tracing::info!(alert = %alert.id, state = alert.state.as_str(), "{}", alert.summary);
            if self.inner.alerting.delivers() && !self.inner.alerting.deliver(alert.clone()) {
                self.inner.metrics.alert_delivery_dropped.inc();
            }
            let _ = self.inner.events.send(EngineEvent::Alert(alert));
        }
        let dropped = self.inner.alerting.repeat_open(now);
        self.inner
            .metrics
            .alert_delivery_dropped
            .inc_by(dropped as u64);
        self.inner
            .metrics
            .set_alerts_open(self.inner.alerting.open().iter().map(|a| a.rule));
    }

    async fn alert_facts(&self) -> AlertFacts {
        let inner = &self.inner;
        let now = inner.clock.now();
        let cfg = self.config();
        let acfg = inner.alerting.config();
        let savings = self.savings(acfg.savings_window).await.ok();
        // A window the decisions cover less than half of (a fresh start) is no evidence yet;
        // in shadow mode the fleet never moves, so what the decisions would have saved counts.
        let savings_pct = savings
            .filter(|s| s.covered_s >= 0.5 * acfg.savings_window.as_secs_f64())
            .and_then(|s| {
                if cfg.scheduler.shadow {
                    s.planned_savings_pct
                } else {
                    s.savings_pct
                }
            });
        let last = self.last_decision();
        let gate = inner.gate.snapshot();
        let mut rails_blocking: Vec<hivesched_policy::Reason> = last
            .iter()
            .flat_map(|d| d.blocked.iter().map(|b| b.reason))
            .filter(|r| RAILS.contains(r))
            .collect();
        rails_blocking.sort();
        rails_blocking.dedup();
        let stuck_agents = gate
            .fleet()
            .agents
            .iter()
            .filter(|a| {
                matches!(
                    a.state,
                    AgentState::PreparingSleep | AgentState::Consolidating | AgentState::Waking
                ) && now.since(a.last_transition) > acfg.stuck_after
            })
            .map(|a| a.id.0.clone())
            .collect();
        AlertFacts {
            savings_pct,
            forecast_error: inner.score.rolling_relative_error(),
            breaker_open: lock(&inner.scheduler).breaker_state(now) == BreakerState::Open,
            fail_safe: last
                .as_ref()
                .filter(|d| d.mode == Mode::FailSafe)
                .and_then(|d| d.sleep_hold),
            rails_blocking,
            actuator_error_rate: inner.executor.recent_error_rate(),
            ticks_failing: !inner.last_tick_ok.load(Ordering::Acquire)
                || matches!(self.tick_health(), TickHealth::Stalled(_)),
            demand_stale: inner
                .history
                .newest()
                .is_some_and(|t| now.since(t) > cfg.scheduler.demand_staleness),
            // The emergency stop is one for every pool: the default pool's leader alerts on it.
            emergency: (inner.store.pool_name() == hivesched_store::DEFAULT_POOL)
                .then(|| gate.controls().emergency(now).map(|e| e.mode))
                .flatten(),
            stuck_agents,
        }
    }

    /// An operator acknowledges the firing alert `id`: stored (compare-and-set), applied to the
    /// rules' book and published. 404 for an unknown id, 409 for one not firing.
    pub async fn acknowledge_alert(&self, id: &str, by: &str) -> Result<Alert, EngineError> {
        let now = self.inner.clock.now();
        let alert = self.inner.store.acknowledge_alert(id, by, now).await?;
        self.inner.alerting.acknowledge(id, by, now);
        let _ = self.inner.events.send(EngineEvent::Alert(alert.clone()));
        Ok(alert)
    }

    /// Another pool's engine stored an operator's acknowledgement of `id` (the alerts of every
    /// pool share one table): this engine's rules' book takes it too if the alert is its own.
    pub fn note_acknowledged(&self, id: &str, by: &str) {
        self.inner
            .alerting
            .acknowledge(id, by, self.inner.clock.now());
    }
}
