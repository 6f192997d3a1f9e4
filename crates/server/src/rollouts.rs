//! Progressive rollouts in the service: flags as stored (definition and rollout state, each
//! with its version), the observations each arm reported, and the evaluator that steps every
//! rollout on an interval, records the decision with its evidence and audits what changed.
//!
//! The decisions themselves are the flags crate's ([`hivesched_flags::step`] and
//! [`hivesched_flags::apply`]); this module only gathers their inputs and keeps their outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use hivesched_flags::{
    Action, Arm, ArmWindow, Decision, Flag, GuardrailKind, Observations, Percent, Phase,
    RolloutState, evaluate,
};
use hivesched_policy::{ActingScope, Time};
use hivesched_store::{NewFlagDecision, Store, StoreError, TaskReport};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::audit::{self, Change};
use crate::error::ApiError;
use crate::state::AppState;

/// The actor of automatic decisions, in the decision log and the audit chain.
pub const AUTOMATIC_ACTOR: &str = "hivesched";

/// The built-in flag the scheduler's own acting is rolled out behind (unit = agent id): its
/// treatment agents are scheduled for real, its control agents held awake, every other agent
/// only observed. Without it the scheduler acts on every agent, as before rollouts existed.
pub const ACTING_FLAG: &str = "scheduler.acting";

/// The context attribute the evaluator knows every agent by: the fleet reports agents by id
/// only, so a flag whose unit is another attribute finds no units and holds (no data).
pub const AGENT_UNIT: &str = "agent_id";

/// A flag as stored: its definition and its rollout, each with the version a write must name.
#[derive(Debug, Clone)]
pub struct StoredFlag {
    /// The definition.
    pub flag: Flag,
    /// The definition's version.
    pub flag_version: i64,
    /// Who changed the definition last.
    pub updated_by: String,
    /// The rollout.
    pub rollout: RolloutState,
    /// The rollout's version.
    pub rollout_version: i64,
    /// End of the window the last automatic check judged.
    pub checked_at: Time,
}

/// A stored value that does not parse is corrupt data (written by hand or by another build):
/// an internal error naming the flag, never a client error.
fn corrupt(key: &str, what: &str, e: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("flag {key}: stored {what} does not parse: {e}"))
}

/// Loads one flag; `not_found` if it does not exist.
pub async fn load(store: &Store, key: &str) -> Result<StoredFlag, ApiError> {
    let not_found = || ApiError::NotFound {
        what: "flag",
        key: key.to_owned(),
    };
    let record = store.get_flag(key).await?.ok_or_else(not_found)?;
    let rollout = store.get_rollout(key).await?.ok_or_else(not_found)?;
    Ok(StoredFlag {
        flag: serde_json::from_value(record.state).map_err(|e| corrupt(key, "definition", e))?,
        flag_version: record.version,
        updated_by: record.updated_by,
        rollout: serde_json::from_value(rollout.state).map_err(|e| corrupt(key, "rollout", e))?,
        rollout_version: rollout.version,
        checked_at: rollout.checked_at,
    })
}

/// Every flag with a rollout, by key; one that does not parse is returned as its error, so
/// one corrupt row does not hide the others.
pub async fn load_all(
    store: &Store,
) -> Result<Vec<(String, Result<StoredFlag, ApiError>)>, ApiError> {
    let rollouts: BTreeMap<String, _> = store
        .list_rollouts()
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let mut out = Vec::new();
    for record in store.list_flags().await? {
        let Some(rollout) = rollouts.get(&record.key) else {
            continue;
        };
        let key = record.key.clone();
        let parsed: Result<StoredFlag, ApiError> = (|| {
            Ok(StoredFlag {
                flag: serde_json::from_value(record.state.clone())
                    .map_err(|e| corrupt(&key, "definition", e))?,
                flag_version: record.version,
                updated_by: record.updated_by.clone(),
                rollout: serde_json::from_value(rollout.state.clone())
                    .map_err(|e| corrupt(&key, "rollout", e))?,
                rollout_version: rollout.version,
                checked_at: rollout.checked_at,
            })
        })();
        out.push((key, parsed));
    }
    Ok(out)
}

/// The decision as a record to store: `observations` is what a check judged (`None` for
/// operator commands, which judge nothing).
pub fn decision_record(
    key: &str,
    rollout: &RolloutState,
    actor: &str,
    decision: &Decision,
    observations: Option<&Observations>,
) -> NewFlagDecision {
    NewFlagDecision {
        key: key.to_owned(),
        revision: i64::from(rollout.revision),
        at: decision.at,
        action: decision.action.as_str().to_owned(),
        actor: actor.to_owned(),
        decision: audit::json(decision),
        observations: observations.map_or(serde_json::Value::Null, audit::json),
    }
}

/// The arm an agent is in: the agent's context is its id under [`AGENT_UNIT`].
pub fn agent_arm(flag: &Flag, share: Percent, agent: &str) -> Arm {
    let context = BTreeMap::from([(AGENT_UNIT.to_owned(), agent.to_owned())]);
    evaluate(flag, share, &context).arm
}

/// The scheduler's acting scope under `acting` (the stored [`ACTING_FLAG`], `None` when it does
/// not exist): each agent's arm is the flag's evaluation for its id at the rollout's share, so
/// it follows the flag's sticky bucketing, targeting rules and kill switch; a rolled-back
/// rollout serves 0 % and the scheduler acts on nobody.
pub fn acting_scope(acting: Option<&StoredFlag>) -> ActingScope {
    let Some(stored) = acting else {
        return ActingScope::all();
    };
    let flag = stored.flag.clone();
    let share = stored.rollout.percentage;
    ActingScope::split(move |agent| match agent_arm(&flag, share, &agent.0) {
        Arm::Treatment => hivesched_policy::Arm::Treatment,
        Arm::Control => hivesched_policy::Arm::Control,
        Arm::Out => hivesched_policy::Arm::Observed,
    })
}

/// Puts the scope of the stored [`ACTING_FLAG`] in force in the engine: after every write to
/// the flag (automatic or an operator's) and after every round of checks (a write through
/// another replica). `decided` is when the write was decided: a rollback's release time is
/// measured from it. A flag that cannot be read leaves the scope as it is.
pub async fn sync_acting(state: &AppState, decided: Instant) {
    match load(&state.store, ACTING_FLAG).await {
        Ok(stored) => state
            .pools
            .set_acting_scope(&acting_scope(Some(&stored)), decided),
        Err(ApiError::NotFound { .. }) => {
            state.pools.set_acting_scope(&acting_scope(None), decided)
        }
        Err(e) => tracing::warn!(error = %e, "cannot read {ACTING_FLAG}; acting scope unchanged"),
    }
}

/// What the evaluator knows about a window besides the task reports: every agent the store
/// knows (each arm's units by assignment), the agents that sent any heartbeat in the window
/// (each arm's units that reported), and the wakes that finished in it, with whether they
/// failed.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// Every agent the store knows.
    pub known: BTreeSet<String>,
    /// The agents that sent any heartbeat in the window.
    pub reporting: BTreeSet<String>,
    /// Wakes that finished in the window: agent, failed.
    pub wakes: Vec<(String, bool)>,
}

/// What each arm reported in a window. An arm's `units` are its agents that reported (an idle
/// or sleeping agent that still reports is enrolled), its `assigned` the known agents the
/// flag puts in it, `completed` and `failed` the sums of its reports, `wakes` and
/// `wakes_failed` its agents' finished wakes.
///
/// An arm's p99 latency is the 99th percentile of the reported per-heartbeat p99s, each
/// weighted by the tasks behind it: exact percentiles cannot be merged from percentiles, and
/// this weighting keeps one quiet agent's slow task from standing for a busy arm. Its sample
/// count is the tasks behind the reported p99s.
pub fn aggregate(
    flag: &Flag,
    share: Percent,
    fleet: &Fleet,
    reports: &[TaskReport],
) -> Observations {
    let mut arms = Observations::default();
    let mut latencies: BTreeMap<Arm, Vec<(f64, u64)>> = BTreeMap::new();
    let mut units: BTreeMap<Arm, BTreeSet<&str>> = BTreeMap::new();
    for agent in &fleet.reporting {
        units
            .entry(agent_arm(flag, share, agent))
            .or_default()
            .insert(agent);
    }
    for r in reports {
        let arm = agent_arm(flag, share, &r.agent.0);
        units.entry(arm).or_default().insert(&r.agent.0);
        let Some(window) = arms.arm_mut(arm) else {
            continue;
        };
        window.completed += r.counters.completed;
        window.failed += r.counters.failed;
        if let Some(p99) = r.counters.latency_p99_ms {
            let tasks = r.counters.completed + r.counters.failed;
            latencies.entry(arm).or_default().push((p99, tasks));
        }
    }
    for agent in &fleet.known {
        if let Some(window) = arms.arm_mut(agent_arm(flag, share, agent)) {
            window.assigned += 1;
        }
    }
    for (agent, failed) in &fleet.wakes {
        if let Some(window) = arms.arm_mut(agent_arm(flag, share, agent)) {
            window.wakes += 1;
            window.wakes_failed += u64::from(*failed);
        }
    }
    for arm in [Arm::Treatment, Arm::Control] {
        let n = units.get(&arm).map_or(0, |u| u.len() as u64);
        if let Some(window) = arms.arm_mut(arm) {
            window.units = n;
            if let Some(samples) = latencies.get_mut(&arm) {
                set_latency(window, samples);
            }
        }
    }
    arms
}

fn set_latency(window: &mut ArmWindow, samples: &mut [(f64, u64)]) {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = samples.iter().map(|s| s.1).sum();
    window.latency_samples = total;
    if total == 0 {
        return;
    }
    let target = (total as f64 * 0.99).ceil() as u64;
    let mut seen = 0;
    for (p99, tasks) in samples.iter() {
        seen += tasks;
        if seen >= target {
            window.latency_p99_ms = Some(*p99);
            return;
        }
    }
}

/// Gathers the observations of `flag` at `share` over `(after, until]`.
pub async fn observe(
    store: &Store,
    flag: &Flag,
    share: Percent,
    after: Time,
    until: Time,
) -> Result<Observations, ApiError> {
    let mut fleet = Fleet::default();
    for a in store.list_agents().await? {
        if a.last_heartbeat.is_some_and(|t| t > after && t <= until) {
            fleet.reporting.insert(a.agent.id.0.clone());
        }
        fleet.known.insert(a.agent.id.0);
    }
    fleet.wakes = store
        .finished_wakes(after, until)
        .await?
        .into_iter()
        .map(|(agent, failed)| (agent.0, failed))
        .collect();
    let reports = store.task_reports(after, until).await?;
    Ok(aggregate(flag, share, &fleet, &reports))
}

/// The scheduler's own rollout is judged on service, not throughput: its treatment arm's
/// purpose is to put idle agents to sleep, so tasks per enrolled agent fall by design, and
/// asleep agents report nothing (docs/rollout.md, "Guardrails for an arm that sleeps").
/// Refuses [`ACTING_FLAG`] with any other guardrail kind, naming `{prefix}guardrails.kind`.
pub fn check_acting_kind(prefix: &str, flag: &Flag) -> Result<(), ApiError> {
    if flag.key == ACTING_FLAG && flag.guardrails.kind != GuardrailKind::Service {
        return Err(ApiError::invalid_value(
            format!("{prefix}guardrails.kind"),
            format!(
                "{ACTING_FLAG} must use \"service\": throughput per agent falls by design when \
                 the scheduler sleeps idle agents"
            ),
        ));
    }
    Ok(())
}

/// Labels of the per-flag metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FlagLabels {
    /// Flag key.
    pub flag: String,
}

/// `hivesched_flag_percent{flag}` and `hivesched_flag_rollbacks_total{flag}`.
#[derive(Debug, Clone, Default)]
pub struct FlagMetrics {
    percent: Family<FlagLabels, Gauge<f64, AtomicU64>>,
    rollbacks: Family<FlagLabels, Counter>,
}

impl FlagMetrics {
    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hivesched_flag_percent",
            "Treatment share of each flag's rollout, in percent",
            self.percent.clone(),
        );
        registry.register(
            "hivesched_flag_rollbacks",
            "Rollbacks of each flag, automatic and manual",
            self.rollbacks.clone(),
        );
    }

    /// Records a flag's state after a decision.
    pub fn observe(&self, key: &str, rollout: &RolloutState, decision: &Decision) {
        let labels = FlagLabels {
            flag: key.to_owned(),
        };
        self.percent
            .get_or_create(&labels)
            .set(rollout.percentage.as_percent());
        if decision.action == Action::Rollback {
            self.rollbacks.get_or_create(&labels).inc();
        }
    }
}

/// Whether an automatic decision changed anything worth an audit record: holds and steady
/// checks are in the decision log, not in the audit chain.
fn changes_state(before: &RolloutState, after: &RolloutState) -> bool {
    before.phase != after.phase || before.percentage != after.percentage
}

/// One check of one flag: observe the window since the last check, step, store the decision
/// (with its evidence) and the new state, audit a change. `None` when there was nothing to
/// judge: the breaker is open, or an operator changed the rollout meanwhile (the next check
/// judges the new state).
pub async fn check(state: &AppState, key: &str) -> Result<Option<Decision>, ApiError> {
    judge(state, key, None).await
}

/// The same check asked for by an operator (`POST /flags/{key}/advance`): recorded under
/// `actor` and always audited, as `flag.advance`, with `reason`.
pub async fn check_as(
    state: &AppState,
    key: &str,
    actor: &str,
    reason: &str,
) -> Result<Option<Decision>, ApiError> {
    judge(state, key, Some((actor, reason))).await
}

async fn judge(
    state: &AppState,
    key: &str,
    operator: Option<(&str, &str)>,
) -> Result<Option<Decision>, ApiError> {
    let stored = load(&state.store, key).await?;
    if stored.rollout.phase == Phase::RolledBack {
        return Ok(None);
    }
    let now = state.now();
    let observations = observe(
        &state.store,
        &stored.flag,
        stored.rollout.percentage,
        stored.checked_at,
        now,
    )
    .await?;
    let (next, decision) = hivesched_flags::step(&stored.flag, &stored.rollout, &observations, now);
    let decided = Instant::now();
    let actor = operator.map_or(AUTOMATIC_ACTOR, |(actor, _)| actor);
    let record = decision_record(key, &next, actor, &decision, Some(&observations));
    match state
        .store
        .save_rollout(
            key,
            &audit::json(&next),
            stored.rollout_version,
            now,
            &record,
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    state.flag_metrics.observe(key, &next, &decision);
    if key == ACTING_FLAG && changes_state(&stored.rollout, &next) {
        // Before the audit record: a rollback stops acting and starts waking at once.
        sync_acting(state, decided).await;
    }
    if operator.is_none() && !changes_state(&stored.rollout, &next) {
        return Ok(Some(decision));
    }
    let (action, reason) = match operator {
        Some((_, reason)) => ("flag.advance".to_owned(), reason.to_owned()),
        None => (
            format!("flag.{}", decision.action),
            match decision.cause {
                Some(cause) => format!("automatic {}: {cause}", decision.action),
                None => format!("automatic {}", decision.action),
            },
        ),
    };
    tracing::info!(flag = key, action = %decision.action, from = %decision.from,
        to = %decision.to, actor, "rollout decision");
    audit::record(
        &state.store,
        actor,
        Change {
            action: &action,
            target: key,
            before: audit::json(&stored.rollout),
            after: audit::json(&serde_json::json!({
                "rollout": next,
                "decision": decision,
                "observations": observations,
            })),
            reason: &reason,
        },
    )
    .await?;
    Ok(Some(decision))
}

/// Checks every flag whose rollout is active; a failure is logged and the others still run.
pub async fn check_all(state: &AppState) {
    let flags = match load_all(&state.store).await {
        Ok(flags) => flags,
        Err(e) => {
            tracing::warn!(error = %e, "rollout check: cannot list flags");
            return;
        }
    };
    for (key, parsed) in flags {
        match parsed {
            Ok(f) if f.rollout.phase == Phase::RolledBack => {}
            Ok(_) => {
                if let Err(e) = check(state, &key).await {
                    tracing::warn!(flag = %key, error = %e, "rollout check failed");
                }
            }
            Err(e) => tracing::warn!(flag = %key, error = %e, "rollout check skipped"),
        }
    }
    sync_acting(state, Instant::now()).await;
}

/// Runs [`check_all`] every `interval` until the server shuts down. Its own task rather than a
/// step of the engine's tick: the rollouts judge what the fleet reported, not what the tick
/// decided, and a slow forecaster must not delay a rollback.
pub fn spawn(state: AppState, interval: Duration) {
    tokio::spawn(async move {
        let shutdown = state.shutdown.clone();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once: skip it, a window of zero length judges nothing.
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => check_all(&state).await,
                _ = shutdown.signalled() => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use hivesched_policy::AgentId;
    use hivesched_store::TaskCounters;

    use super::*;

    fn report(agent: &str, completed: u64, failed: u64, p99: Option<f64>) -> TaskReport {
        TaskReport {
            agent: AgentId::from(agent),
            at: Time::from_millis(1),
            counters: TaskCounters {
                completed,
                failed,
                latency_p99_ms: p99,
            },
        }
    }

    #[test]
    fn arms_add_up_what_their_agents_reported() {
        let flag = Flag::boolean("f");
        let half = Percent::from_percent(50).unwrap();
        let agents: Vec<String> = (0..40).map(|i| format!("a{i}")).collect();
        let arm = |a: &str| agent_arm(&flag, half, a);
        let t = agents.iter().find(|a| arm(a) == Arm::Treatment).unwrap();
        let c = agents.iter().find(|a| arm(a) == Arm::Control).unwrap();
        let all: BTreeSet<String> = agents.iter().cloned().collect();
        let reports = vec![
            report(t, 10, 2, Some(100.0)),
            report(t, 5, 0, Some(900.0)),
            report(c, 7, 1, None),
        ];
        // Every agent known, only the first ten reporting, two wakes of `t`, one failed.
        let fleet = Fleet {
            known: all.clone(),
            reporting: agents[..10].iter().cloned().collect(),
            wakes: vec![(t.clone(), true), (t.clone(), false)],
        };
        let o = aggregate(&flag, half, &fleet, &reports);
        assert_eq!((o.treatment.completed, o.treatment.failed), (15, 2));
        assert_eq!((o.control.completed, o.control.failed), (7, 1));
        assert_eq!((o.treatment.wakes, o.treatment.wakes_failed), (2, 1));
        assert_eq!((o.control.wakes, o.control.wakes_failed), (0, 0));
        let count =
            |set: &[String], want: Arm| set.iter().filter(|a| arm(a) == want).count() as u64;
        assert_eq!(
            (o.treatment.assigned, o.control.assigned),
            (count(&agents, Arm::Treatment), count(&agents, Arm::Control))
        );
        // Units that reported: the first ten, plus `t` and `c` through their task reports.
        let mut reported: Vec<String> = agents[..10].to_vec();
        for a in [t, c] {
            if !reported.contains(a) {
                reported.push(a.clone());
            }
        }
        assert_eq!(
            (o.treatment.units, o.control.units),
            (
                count(&reported, Arm::Treatment),
                count(&reported, Arm::Control)
            )
        );
        // 12 tasks at 100 ms, 5 at 900 ms: the 99th percentile of 17 falls on the slow report.
        assert_eq!(o.treatment.latency_p99_ms, Some(900.0));
        assert_eq!(o.treatment.latency_samples, 17);
        assert_eq!(o.control.latency_p99_ms, None);
    }
}
