//! The engine's Prometheus metrics (prometheus-client). The server registers them in its
//! registry and serves them on `/metrics`; the engine only updates them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of an action or a held-back action.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// `sleep` or `wake`.
    pub kind: String,
    /// Reason from the fixed vocabulary.
    pub reason: String,
}

/// Labels of a finished task.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// `sleep` or `wake`.
    pub kind: String,
    /// `succeeded`, `refused`, `not_found` or `error`.
    pub outcome: String,
}

/// Labels by direction only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `sleep` or `wake`.
    pub kind: String,
}

/// Labels by agent state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Agent state, e.g. `awake`.
    pub state: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

/// Every metric the engine updates.
#[derive(Debug)]
pub struct EngineMetrics {
    /// Ticks run.
    pub ticks: Counter,
    /// Ticks that failed (database unreachable, …): the engine did not act.
    pub tick_errors: Counter,
    /// Actions decided, by direction and reason.
    pub actions: Family<ActionLabels, Counter>,
    /// Actions held back by a rail or safety behaviour, by direction and reason.
    pub blocked: Family<ActionLabels, Counter>,
    /// Tasks finished, by direction and outcome.
    pub tasks: Family<TaskLabels, Counter>,
    /// Actuator call latency in seconds, by direction.
    pub actuator_seconds: Family<KindLabels, Histogram>,
    /// Actuator calls that failed (transport, timeout, circuit open), by direction.
    pub actuator_errors: Family<KindLabels, Counter>,
    /// Time of one decision (`Scheduler::tick`) in seconds.
    pub decision_seconds: Histogram,
    /// Absolute error of the last one-step-ahead forecast against what was observed.
    pub forecast_abs_error: Gauge<f64, AtomicU64>,
    /// Agents by state at the last tick.
    pub agents: Family<StateLabels, Gauge>,
    /// Awake agents wanted at the last tick.
    pub target_awake: Gauge,
    /// 1 while the last decision was a fail-safe (all awake).
    pub fail_safe: Gauge,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            ticks: Counter::default(),
            tick_errors: Counter::default(),
            actions: Family::default(),
            blocked: Family::default(),
            tasks: Family::default(),
            actuator_seconds: Family::new_with_constructor(latency_histogram),
            actuator_errors: Family::default(),
            decision_seconds: latency_histogram(),
            forecast_abs_error: Gauge::default(),
            agents: Family::default(),
            target_awake: Gauge::default(),
            fail_safe: Gauge::default(),
        }
    }
}

impl EngineMetrics {
    /// Registers every metric under the `hivesched` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("hivesched");
        r.register("ticks", "Scheduling ticks run", self.ticks.clone());
        r.register(
            "tick_errors",
            "Ticks that failed without acting",
            self.tick_errors.clone(),
        );
        r.register(
            "actions",
            "Actions decided by kind and reason",
            self.actions.clone(),
        );
        r.register(
            "blocked",
            "Actions held back by kind and reason",
            self.blocked.clone(),
        );
        r.register(
            "tasks",
            "Automation tasks finished by kind and outcome",
            self.tasks.clone(),
        );
        r.register(
            "actuator_seconds",
            "Actuator call latency",
            self.actuator_seconds.clone(),
        );
        r.register(
            "actuator_errors",
            "Actuator calls that failed",
            self.actuator_errors.clone(),
        );
        r.register(
            "decision_seconds",
            "Time of one scheduling decision",
            self.decision_seconds.clone(),
        );
        r.register(
            "forecast_abs_error",
            "Absolute error of the last one-step forecast",
            self.forecast_abs_error.clone(),
        );
        r.register("agents", "Agents by state", self.agents.clone());
        r.register(
            "target_awake",
            "Awake agents wanted",
            self.target_awake.clone(),
        );
        r.register(
            "fail_safe",
            "1 while the scheduler is in fail-safe",
            self.fail_safe.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_openmetrics() {
        let m = EngineMetrics::default();
        m.ticks.inc();
        m.actions
            .get_or_create(&ActionLabels {
                kind: "sleep".into(),
                reason: "IdleBeyondBreakEven".into(),
            })
            .inc();
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("hivesched_ticks_total 1"), "{text}");
        assert!(
            text.contains(
                "hivesched_actions_total{kind=\"sleep\",reason=\"IdleBeyondBreakEven\"} 1"
            ),
            "{text}"
        );
    }
}
