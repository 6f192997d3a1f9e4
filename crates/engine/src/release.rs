//! Releasing agents the scheduler stops acting on: when its own rollout (`scheduler.acting`)
//! rolls back or steps down, every agent that left the treatment arm and that the scheduler
//! had put to sleep is woken, through the same journal and admission gate as every other
//! action, until the fleet has accepted each wake.
//!
//! Which agents is a pure function ([`to_wake`]) of the fleet as the gate knows it and of each
//! agent's newest journaled task; the loop around it (`release`) retries what the fleet
//! refused (an agent still checkpointing cannot be woken yet) and measures the time from the
//! rollout's decision to the last wake the fleet accepted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hivesched_policy::{ActionKind, AgentId, AgentState, Fleet, Pin, Reason, Source};
use hivesched_store::{TaskFilter, TaskRecord, TaskStatus};

use crate::EngineError;
use crate::executor::TaskSpec;
use crate::service::Engine;

/// How long the release keeps retrying wakes the fleet refused: an agent mid-sleep accepts a
/// wake once it is asleep (the fake fleet's default checkpoint and consolidation take 12 s).
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// Real time between two rounds of wakes.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// What the last release did, for the rollout's evidence and the metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReleaseReport {
    /// When the rollout decided (engine clock, milliseconds).
    pub decided_at: hivesched_policy::Time,
    /// Agents that left the treatment arm.
    pub released: u32,
    /// Of those, the agents the scheduler had put to sleep, to wake.
    pub to_wake: u32,
    /// Wakes the fleet accepted so far.
    pub woken: u32,
    /// Seconds from the decision to the last wake the fleet accepted; `None` while some are
    /// still owed (or when there was nothing to wake).
    pub seconds: Option<f64>,
    /// Every owed wake was accepted (or there was none).
    pub done: bool,
}

/// Whether `newest` — an agent's newest journaled task the gate did not refuse — says the
/// scheduler put it to sleep: a tick's (or its recovery's) sleep, not an operator's bulk.
pub fn put_to_sleep_by_scheduler(newest: Option<&TaskRecord>) -> bool {
    newest.is_some_and(|t| t.task.kind == ActionKind::Sleep && t.task.bulk_id.is_none())
}

/// The released agents to wake: not awake or waking, not pinned asleep by an operator, and put
/// to sleep by the scheduler (`by_scheduler`).
pub fn to_wake(
    fleet: &Fleet,
    released: &HashSet<AgentId>,
    by_scheduler: impl Fn(&AgentId) -> bool,
) -> Vec<AgentId> {
    fleet
        .agents
        .iter()
        .filter(|a| released.contains(&a.id))
        .filter(|a| !matches!(a.state, AgentState::Awake | AgentState::Waking))
        .filter(|a| a.pin != Some(Pin::Asleep))
        .filter(|a| by_scheduler(&a.id))
        .map(|a| a.id.clone())
        .collect()
}

/// Wakes the released agents the scheduler had put to sleep, retrying refusals until each wake
/// is accepted (or [`GIVE_UP_AFTER`]); records the report on `engine` as it goes.
pub(crate) async fn release(
    engine: Engine,
    released: HashSet<AgentId>,
    decided: Instant,
    decided_at: hivesched_policy::Time,
    generation: u64,
) -> Result<(), EngineError> {
    let fleet = engine.gate_fleet();
    let mut newest_sleeps = HashSet::new();
    for a in &released {
        let tasks = engine
            .store()
            .list_tasks(&TaskFilter {
                agent: Some(a.clone()),
                limit: 10,
                ..TaskFilter::default()
            })
            .await?;
        let newest = tasks.iter().find(|t| t.status != TaskStatus::Refused);
        if put_to_sleep_by_scheduler(newest) {
            newest_sleeps.insert(a.clone());
        }
    }
    let mut owed = to_wake(&fleet, &released, |a| newest_sleeps.contains(a));
    let mut report = ReleaseReport {
        decided_at,
        released: released.len() as u32,
        to_wake: owed.len() as u32,
        woken: 0,
        seconds: None,
        done: owed.is_empty(),
    };
    engine.set_release_report(generation, report.clone());
    if owed.is_empty() {
        return Ok(());
    }
    tracing::info!(agents = owed.len(), "rollout released agents: waking them");
    let mut round = 0u32;
    while !owed.is_empty() && decided.elapsed() < GIVE_UP_AFTER {
        if !engine.is_release_current(generation) {
            // A newer scope change owns the agents now.
            return Ok(());
        }
        round += 1;
        let specs: Vec<TaskSpec> = owed
            .iter()
            .map(|a| TaskSpec {
                idempotency_key: format!("rollout-{}-{round}-wake-{a}", decided_at.as_millis()),
                agent: a.clone(),
                kind: ActionKind::Wake,
                reason: Reason::RolloutReleased.as_str().to_owned(),
                bulk: None,
                delay: Duration::ZERO,
            })
            .collect();
        let outcomes = engine.execute(specs, Source::Rollout).await?;
        let accepted: HashSet<&AgentId> = outcomes
            .iter()
            .filter(|o| o.succeeded())
            .map(|o| o.agent())
            .collect();
        if !accepted.is_empty() {
            report.woken += accepted.len() as u32;
            engine.metrics().release_wakes.inc_by(accepted.len() as u64);
            owed.retain(|a| !accepted.contains(a));
            if owed.is_empty() {
                let seconds = decided.elapsed().as_secs_f64();
                report.seconds = Some(seconds);
                report.done = true;
                engine.metrics().release_seconds.set(seconds);
                tracing::info!(
                    seconds,
                    woken = report.woken,
                    "every released agent's wake accepted"
                );
            }
            engine.set_release_report(generation, report.clone());
        }
        if !owed.is_empty() {
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }
    if !owed.is_empty() {
        tracing::warn!(
            agents = owed.len(),
            "released agents still not woken; giving up"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hivesched_policy::{Agent, Time};

    use super::*;

    #[test]
    fn only_agents_the_scheduler_slept_and_nobody_pinned_are_woken() {
        let mut agents: Vec<Agent> = (0..6)
            .map(|i| Agent::awake(format!("a{i}"), Time(0)))
            .collect();
        agents[1].state = AgentState::Asleep;
        agents[2].state = AgentState::PreparingSleep;
        agents[3].state = AgentState::Asleep;
        agents[3].pin = Some(Pin::Asleep);
        agents[4].state = AgentState::Consolidating;
        agents[5].state = AgentState::Asleep;
        let fleet = Fleet::new(agents);
        let released: HashSet<AgentId> = ["a0", "a1", "a2", "a3", "a4"]
            .into_iter()
            .map(AgentId::from)
            .collect();
        // a4 was put to sleep by an operator's bulk; a5 was not released.
        let got = to_wake(&fleet, &released, |a| a.0 != "a4");
        assert_eq!(got, [AgentId::from("a1"), AgentId::from("a2")]);
    }
}
