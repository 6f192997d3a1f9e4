//! The engine's Prometheus metrics (prometheus-client). The server registers them in its
//! registry and serves them on `/metrics`; the engine only updates them.

use std::collections::BTreeMap;

use hivesched_policy::alerts::Rule;
use hivesched_policy::{ActionKind, AgentState, Decision, FleetCounts, Mode};
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
    /// `succeeded`, `fleet_refused` (409), `not_found` (404) or `error`.
    pub outcome: String,
}

/// Labels of an action the admission gate refused at execution.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GateLabels {
    /// `sleep` or `wake`.
    pub kind: String,
    /// Where the action came from: `tick`, `bulk`, `recovery`, `rollback`, `rollout`.
    pub source: String,
    /// Reason from the fixed vocabulary.
    pub reason: String,
}

/// Labels of a judged decision.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// `paid_off`, `short`, `flap` (sleeps); `useful`, `wasted` (wakes).
    pub verdict: String,
}

/// Labels of an alert rule's open alerts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// The rule, e.g. `breaker_open`.
    pub rule: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
}

/// Labels of an alert receiver.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    /// `alertmanager` or `webhook`.
    pub receiver: String,
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
    /// Ticks that failed (database unreachable, a panic, …): the engine did not act.
    pub tick_errors: Counter,
    /// Of those, ticks that panicked (contained: the tick loop goes on).
    pub tick_panics: Counter,
    /// Actions the admission gate refused when they were about to run, by direction, source
    /// and reason.
    pub gate_refusals: Family<GateLabels, Counter>,
    /// 1 while the last fleet read succeeded (0: the fleet's API did not answer; fail-safe).
    pub fleet_readable: Gauge,
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
    /// Of those, the calls refused at once because the agent's circuit breaker was open (its
    /// recent calls kept failing), by direction.
    pub actuator_circuit_open: Family<KindLabels, Counter>,
    /// Time of one decision (`Scheduler::tick`) in seconds.
    pub decision_seconds: Histogram,
    /// Wall time of one whole tick in seconds (fleet and database reads, the decision, its
    /// records; not the fleet calls, which run in the background), failed ticks included.
    pub tick_seconds: Histogram,
    /// Wall time of the last tick in seconds: exact per tick, for benchmarks that scrape after
    /// each one (the histogram's buckets double).
    pub last_tick_seconds: Gauge<f64, AtomicU64>,
    /// CPU seconds the ticks' decision work used on its thread (forecast scoring, the
    /// scheduler's forecast and plan, judging past decisions, the forecast for live views):
    /// `rate()` of it is the scheduler's own overhead as a share of one core. Database and
    /// fleet I/O are left out (they wait rather than compute); `process_cpu_seconds_total`
    /// has everything.
    pub tick_cpu_seconds: Counter<f64, AtomicU64>,
    /// Absolute error of the last one-step-ahead forecast against what was observed.
    pub forecast_abs_error: Gauge<f64, AtomicU64>,
    /// Agents by state at the last tick.
    pub agents: Family<StateLabels, Gauge>,
    /// Awake agents wanted at the last tick.
    pub target_awake: Gauge,
    /// 1 while the last decision was a fail-safe (all awake).
    pub fail_safe: Gauge,
    /// 1 while the last decision was made in shadow mode (recorded, not acted on).
    pub shadow: Gauge,
    /// The last decision's sleep floor: the fewest awake agents it would sleep down to (in
    /// shadow mode, what the savings would have been measured on).
    pub sleep_floor: Gauge,
    /// Sleeps judged, by verdict (see `policy::accuracy`).
    pub sleep_outcomes: Family<VerdictLabels, Counter>,
    /// Wakes judged, by verdict.
    pub wake_outcomes: Family<VerdictLabels, Counter>,
    /// Percentage of judged sleeps that stayed asleep at least the break-even time, since start.
    pub sleep_payoff_pct: Gauge<f64, AtomicU64>,
    /// Percentage of judged wakes whose agent was needed within the useful window, since start.
    pub wake_useful_pct: Gauge<f64, AtomicU64>,
    /// Open (firing or acknowledged) alerts, by rule and severity.
    pub alerts_open: Family<AlertLabels, Gauge>,
    /// Alerts a receiver still refused after every retry, by receiver.
    pub alert_delivery_failures: Family<ReceiverLabels, Counter>,
    /// Alerts dropped because the delivery queue was full.
    pub alert_delivery_dropped: Counter,
    /// 1 while this replica leads its pool and acts (always 1 for a replica alone).
    pub leader: Gauge,
    /// Times this replica started or stopped leading.
    pub leader_changes: Counter,
    /// Writes the store refused for a stale fencing token (a newer leader exists).
    pub fenced_writes: Counter,
    /// Seconds from the last rollback (or step down) of the scheduler's own rollout to the
    /// last wake of the agents it had put to sleep there that the fleet accepted.
    pub release_seconds: Gauge<f64, AtomicU64>,
    /// Wakes the fleet accepted for agents the scheduler stopped acting on.
    pub release_wakes: Counter,
}

/// Outcomes of a finished task (label `outcome` of [`EngineMetrics::tasks`]).
pub const TASK_OUTCOMES: [&str; 4] = ["succeeded", "fleet_refused", "not_found", "error"];

/// Receivers of alert delivery (label `receiver`).
pub const RECEIVERS: [&str; 2] = ["alertmanager", "webhook"];

impl Default for EngineMetrics {
    fn default() -> Self {
        let m = EngineMetrics {
            ticks: Counter::default(),
            tick_errors: Counter::default(),
            tick_panics: Counter::default(),
            gate_refusals: Family::default(),
            fleet_readable: Gauge::default(),
            actions: Family::default(),
            blocked: Family::default(),
            tasks: Family::default(),
            actuator_seconds: Family::new_with_constructor(latency_histogram),
            actuator_errors: Family::default(),
            actuator_circuit_open: Family::default(),
            decision_seconds: latency_histogram(),
            tick_seconds: latency_histogram(),
            last_tick_seconds: Gauge::default(),
            tick_cpu_seconds: Counter::default(),
            forecast_abs_error: Gauge::default(),
            agents: Family::default(),
            target_awake: Gauge::default(),
            fail_safe: Gauge::default(),
            shadow: Gauge::default(),
            sleep_floor: Gauge::default(),
            sleep_outcomes: Family::default(),
            wake_outcomes: Family::default(),
            sleep_payoff_pct: Gauge::default(),
            wake_useful_pct: Gauge::default(),
            alerts_open: Family::default(),
            alert_delivery_failures: Family::default(),
            alert_delivery_dropped: Counter::default(),
            leader: Gauge::default(),
            leader_changes: Counter::default(),
            fenced_writes: Counter::default(),
            release_seconds: Gauge::default(),
            release_wakes: Counter::default(),
        };
        m.zero_known_series();
        m
    }
}

impl EngineMetrics {
    /// Creates, at zero, every series whose labels are known in advance (by direction, task
    /// outcome, verdict, receiver, alert rule), as the Prometheus guidelines ask: a series
    /// that first appears at 1 loses that increment to `rate()` and `increase()`, a missing
    /// one turns an error ratio into no data instead of 0, and rules and dashboards can be
    /// checked against a scrape of a fresh server. Families keyed by reason are left to
    /// appear when used (their product would be hundreds of idle series).
    fn zero_known_series(&self) {
        // `get_or_create` creates the series at zero; its read guard is not needed.
        for kind in ActionKind::ALL {
            let kind = kind.as_str();
            let labels = KindLabels { kind: kind.into() };
            let _ = self.actuator_seconds.get_or_create(&labels);
            let _ = self.actuator_errors.get_or_create(&labels);
            let _ = self.actuator_circuit_open.get_or_create(&labels);
            for outcome in TASK_OUTCOMES {
                let _ = self.tasks.get_or_create(&TaskLabels {
                    kind: kind.into(),
                    outcome: outcome.into(),
                });
            }
        }
        crate::live_accuracy::zero_verdicts(self);
        for receiver in RECEIVERS {
            let _ = self.alert_delivery_failures.get_or_create(&ReceiverLabels {
                receiver: receiver.into(),
            });
        }
        self.set_alerts_open(std::iter::empty());
    }

    /// Sets the open-alert gauges: every rule's count of open alerts, 0 for a rule with none.
    pub fn set_alerts_open(&self, open: impl IntoIterator<Item = Rule>) {
        let mut counts: BTreeMap<Rule, i64> = Rule::ALL.into_iter().map(|r| (r, 0)).collect();
        for rule in open {
            *counts.entry(rule).or_default() += 1;
        }
        for (rule, n) in counts {
            self.alerts_open
                .get_or_create(&AlertLabels {
                    rule: rule.as_str().into(),
                    severity: rule.severity().as_str().into(),
                })
                .set(n);
        }
    }

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
            "tick_panics",
            "Ticks that panicked (contained; counted in tick_errors too)",
            self.tick_panics.clone(),
        );
        r.register(
            "gate_refusals",
            "Actions refused by the admission gate at execution, by kind, source and reason",
            self.gate_refusals.clone(),
        );
        r.register(
            "leader",
            "1 while this replica leads its pool and acts",
            self.leader.clone(),
        );
        r.register(
            "leader_changes",
            "Times this replica started or stopped leading",
            self.leader_changes.clone(),
        );
        r.register(
            "fenced_writes",
            "Writes the store refused for a stale fencing token",
            self.fenced_writes.clone(),
        );
        r.register(
            "rollout_release_seconds",
            "Seconds from the last rollback of the scheduler's rollout to the last wake the fleet accepted",
            self.release_seconds.clone(),
        );
        r.register(
            "rollout_release_wakes",
            "Wakes accepted for agents the scheduler stopped acting on",
            self.release_wakes.clone(),
        );
        r.register(
            "fleet_readable",
            "1 while the last read of the fleet's state succeeded",
            self.fleet_readable.clone(),
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
            "actuator_circuit_open",
            "Actuator calls refused at once because the agent's circuit breaker was open",
            self.actuator_circuit_open.clone(),
        );
        r.register(
            "decision_seconds",
            "Time of one scheduling decision",
            self.decision_seconds.clone(),
        );
        r.register(
            "tick_seconds",
            "Wall time of one tick, failed ticks included",
            self.tick_seconds.clone(),
        );
        r.register(
            "last_tick_seconds",
            "Wall time of the last tick",
            self.last_tick_seconds.clone(),
        );
        r.register(
            "tick_cpu_seconds",
            "CPU time of the ticks' decision work on its thread (I/O waits excluded)",
            self.tick_cpu_seconds.clone(),
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
        r.register(
            "shadow",
            "1 while the last decision was made in shadow mode",
            self.shadow.clone(),
        );
        r.register(
            "sleep_floor",
            "Fewest awake agents the last decision would sleep down to",
            self.sleep_floor.clone(),
        );
        r.register(
            "sleep_outcomes",
            "Sleeps judged by verdict: paid_off (asleep at least the break-even time), short, flap",
            self.sleep_outcomes.clone(),
        );
        r.register(
            "wake_outcomes",
            "Wakes judged by verdict: useful (needed within the window), wasted",
            self.wake_outcomes.clone(),
        );
        r.register(
            "sleep_payoff_pct",
            "Percentage of judged sleeps that paid off, since start",
            self.sleep_payoff_pct.clone(),
        );
        r.register(
            "wake_useful_pct",
            "Percentage of judged wakes that were useful, since start",
            self.wake_useful_pct.clone(),
        );
        r.register(
            "alerts_open",
            "Open (firing or acknowledged) alerts by rule and severity",
            self.alerts_open.clone(),
        );
        r.register(
            "alert_delivery_failures",
            "Alerts a receiver refused after every retry",
            self.alert_delivery_failures.clone(),
        );
        r.register(
            "alert_delivery_dropped",
            "Alerts dropped because the delivery queue was full",
            self.alert_delivery_dropped.clone(),
        );
    }

    /// Updates the per-tick families from one decision and the fleet it was made on.
    pub fn observe_decision(&self, counts: FleetCounts, d: &Decision) {
        for a in &d.actions {
            self.actions
                .get_or_create(&ActionLabels {
                    kind: a.kind.as_str().into(),
                    reason: a.reason.as_str().into(),
                })
                .inc();
        }
        for b in &d.blocked {
            self.blocked
                .get_or_create(&ActionLabels {
                    kind: b.kind.as_str().into(),
                    reason: b.reason.as_str().into(),
                })
                .inc_by(u64::from(b.count));
        }
        for (state, n) in [
            (AgentState::Awake, counts.awake),
            (AgentState::PreparingSleep, counts.preparing_sleep),
            (AgentState::Consolidating, counts.consolidating),
            (AgentState::Asleep, counts.asleep),
            (AgentState::Waking, counts.waking),
            (AgentState::Error, counts.error),
        ] {
            self.agents
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(i64::from(n));
        }
        self.target_awake.set(i64::from(d.target_awake));
        self.fail_safe.set(i64::from(d.mode == Mode::FailSafe));
        self.shadow.set(i64::from(d.shadow));
        self.sleep_floor.set(i64::from(d.sleep_floor));
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

    #[test]
    fn known_series_start_at_zero() {
        let m = EngineMetrics::default();
        m.set_alerts_open([Rule::RailBlocking, Rule::RailBlocking, Rule::BreakerOpen]);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "hivesched_actuator_errors_total{kind=\"wake\"} 0",
            "hivesched_actuator_seconds_count{kind=\"sleep\"} 0",
            "hivesched_tasks_total{kind=\"sleep\",outcome=\"fleet_refused\"} 0",
            "hivesched_sleep_outcomes_total{verdict=\"paid_off\"} 0",
            "hivesched_wake_outcomes_total{verdict=\"wasted\"} 0",
            "hivesched_alert_delivery_failures_total{receiver=\"webhook\"} 0",
            "hivesched_alerts_open{rule=\"rail_blocking\",severity=\"info\"} 2",
            "hivesched_alerts_open{rule=\"breaker_open\",severity=\"critical\"} 1",
            "hivesched_alerts_open{rule=\"emergency_stop\",severity=\"critical\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        // Closed again: back to zero, not gone.
        m.set_alerts_open([]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("hivesched_alerts_open{rule=\"rail_blocking\",severity=\"info\"} 0"),
            "{text}"
        );
    }
}
