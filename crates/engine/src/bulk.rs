//! Bulk operations: move many agents at once, `sequential`, `parallel` or `staged`.
//!
//! Accepted means stored: [`prepare`] builds the operation and every task, which the engine
//! writes in one transaction (with the audit record) before it answers. Every task then passes
//! the same admission gate as a tick's actions when its turn comes: the emergency stop, the
//! pause, shadow mode, pins and do-not-disrupt, and every rail. A task refused for a reason
//! that clears with time (a rail, the restart hold, a fail-safe) waits, within the executor's
//! `bulk_rail_wait`; any other refusal ends it `refused` with the reason, and the operation's
//! status counts refusals by reason. No one may force a bulk past the gate: an administrator
//! who needs more headroom changes the rails (`PUT /api/v1/config`, audited), which every other
//! path then sees too.
//!
//! A staged run stops after a stage in which more than half of the tasks the fleet answered
//! failed, cancels the stages it did not reach and rolls back: for a bulk sleep it wakes every
//! agent it had put to sleep (waking is the safe direction; a failed bulk wake is stopped but
//! not undone). Task keys are derived from the bulk id, so running the same bulk again after a
//! crash resumes it without repeating finished tasks.

use std::sync::Arc;

use hivesched_policy::{ActionKind, AgentId, Source, Time};
use hivesched_store::{BulkStrategy, NewBulkOperation, NewTask, Store, TaskStatus};

use crate::EngineError;
use crate::clock::Clock;
use crate::executor::{Executor, TaskSpec};

/// A bulk operation as an operator asks for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// Agents to move.
    pub agents: Vec<AgentId>,
    /// Sleep or wake.
    pub kind: ActionKind,
    /// How to move them.
    pub strategy: BulkStrategy,
    /// Agents per stage for `staged` (default: a quarter of the agents, at least one).
    #[serde(default)]
    pub stage_size: Option<usize>,
    /// Why, for the journal and the audit trail.
    pub reason: String,
}

impl BulkRequest {
    /// Checks the request; the error names the field.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |key, reason: &str| {
            Err(EngineError::InvalidConfig {
                key,
                reason: reason.into(),
            })
        };
        if self.agents.is_empty() {
            return bad("agents", "at least one agent is needed");
        }
        let mut seen = std::collections::HashSet::new();
        if !self.agents.iter().all(|a| seen.insert(a)) {
            return bad("agents", "an agent is listed twice");
        }
        if self.stage_size == Some(0) {
            return bad("stage_size", "must be at least 1");
        }
        Ok(())
    }

    fn stages(&self) -> Vec<&[AgentId]> {
        match self.strategy {
            BulkStrategy::Sequential => self.agents.chunks(1).collect(),
            BulkStrategy::Parallel => vec![&self.agents[..]],
            BulkStrategy::Staged => {
                let size = self
                    .stage_size
                    .unwrap_or_else(|| self.agents.len().div_ceil(4))
                    .max(1);
                self.agents.chunks(size).collect()
            }
        }
    }
}

/// How a bulk operation ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BulkReport {
    /// Tasks the fleet accepted.
    pub succeeded: usize,
    /// Tasks that failed.
    pub failed: usize,
    /// Tasks the admission gate refused (the fleet was never called for them).
    pub refused: usize,
    /// Sleeps undone by a rollback.
    pub rolled_back: usize,
    /// Stages run (sequential: one per agent).
    pub stages_run: usize,
    /// Whether a staged run stopped early.
    pub stopped: bool,
}

fn key(bulk_id: &str, agent: &AgentId, kind: ActionKind) -> String {
    format!("bulk-{bulk_id}-{}-{agent}", kind.as_str())
}

/// Every stage's task specs, in order.
fn stage_specs(id: &str, req: &BulkRequest) -> Vec<Vec<TaskSpec>> {
    req.stages()
        .into_iter()
        .enumerate()
        .map(|(stage, agents)| {
            agents
                .iter()
                .map(|agent| TaskSpec {
                    idempotency_key: key(id, agent, req.kind),
                    agent: agent.clone(),
                    kind: req.kind,
                    reason: req.reason.clone(),
                    bulk: Some((id.to_owned(), Some(stage as u32))),
                    delay: std::time::Duration::ZERO,
                })
                .collect()
        })
        .collect()
}

/// The operation record and every task of a bulk request, ready to be stored in one go.
pub fn prepare(
    id: &str,
    actor: &str,
    req: &BulkRequest,
    now: Time,
) -> Result<(NewBulkOperation, Vec<NewTask>), EngineError> {
    req.validate()?;
    let spec = serde_json::to_value(req).map_err(|e| EngineError::Journal(e.to_string()))?;
    let op = NewBulkOperation {
        id: id.to_owned(),
        kind: req.kind,
        strategy: req.strategy,
        spec,
        actor: actor.to_owned(),
        created_at: now,
    };
    let tasks = stage_specs(id, req)
        .iter()
        .flatten()
        .map(|spec| spec.to_new_task(now))
        .collect();
    Ok((op, tasks))
}

/// Runs a stored bulk operation to its end (or resumes it: finished tasks are not repeated),
/// reporting the counts after each stage to `progress`.
pub async fn run_bulk(
    store: &Store,
    executor: &Arc<Executor>,
    clock: &dyn Clock,
    id: &str,
    req: &BulkRequest,
    progress: &(dyn Fn(&BulkReport) + Send + Sync),
) -> Result<BulkReport, EngineError> {
    req.validate()?;
    let op = store.bulk(id).await?;
    if op.status == TaskStatus::Pending {
        store
            .transition_bulk(id, TaskStatus::Running, clock.now())
            .await?;
    }
    let mut report = BulkReport::default();
    let mut done_sleeps: Vec<AgentId> = Vec::new();
    for specs in stage_specs(id, req) {
        let outcomes = executor.execute_all(specs, Source::Bulk).await?;
        report.stages_run += 1;
        let refused = outcomes.iter().filter(|o| o.refused()).count();
        let answered = outcomes.len() - refused;
        let failed = outcomes
            .iter()
            .filter(|o| !o.succeeded() && !o.refused())
            .count();
        report.refused += refused;
        report.failed += failed;
        report.succeeded += answered - failed;
        done_sleeps.extend(
            outcomes
                .iter()
                .filter(|o| o.succeeded())
                .map(|o| o.agent().clone()),
        );
        progress(&report);
        if req.strategy == BulkStrategy::Staged && answered > 0 && failed * 2 > answered {
            report.stopped = true;
            break;
        }
    }
    // A stopped run ends `failed`: the stages it did not reach are cancelled and its undone
    // sleep tasks are each marked `rolled_back`.
    if report.stopped {
        store.cancel_pending_bulk_tasks(id, clock.now()).await?;
        if req.kind == ActionKind::Sleep {
            report.rolled_back = roll_back(store, executor, clock, id, &done_sleeps).await?;
        }
    }
    let status = if report.failed > 0 || report.refused > 0 {
        TaskStatus::Failed
    } else {
        TaskStatus::Succeeded
    };
    store.transition_bulk(id, status, clock.now()).await?;
    Ok(report)
}

/// Wakes the agents a stopped bulk sleep had put to sleep and marks their tasks rolled back.
/// An agent still consolidating refuses a wake, so refused wakes are retried in a few rounds
/// with growing pauses (each round a fresh idempotency key: the earlier one was refused).
async fn roll_back(
    store: &Store,
    executor: &Arc<Executor>,
    clock: &dyn Clock,
    id: &str,
    slept: &[AgentId],
) -> Result<usize, EngineError> {
    const ROUNDS: u64 = 5;
    let mut pending: Vec<AgentId> = slept.to_vec();
    let mut undone = 0;
    for round in 0..ROUNDS {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200 * round)).await;
        }
        let specs: Vec<TaskSpec> = pending
            .iter()
            .map(|agent| TaskSpec {
                idempotency_key: format!("bulk-{id}-rollback{round}-{agent}"),
                agent: agent.clone(),
                kind: ActionKind::Wake,
                reason: format!("rollback of bulk operation {id}"),
                bulk: Some((id.to_owned(), None)),
                delay: std::time::Duration::ZERO,
            })
            .collect();
        let outcomes = executor.execute_all(specs, Source::Rollback).await?;
        let mut still = Vec::new();
        for (agent, outcome) in pending.iter().zip(&outcomes) {
            if outcome.succeeded() {
                let task_id = key(id, agent, ActionKind::Sleep);
                store
                    .transition_task(
                        &task_id,
                        TaskStatus::RolledBack,
                        Some("woken by rollback"),
                        None,
                        clock.now(),
                    )
                    .await?;
                undone += 1;
            } else {
                still.push(agent.clone());
            }
        }
        pending = still;
    }
    Ok(undone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(strategy: BulkStrategy, n: usize, stage_size: Option<usize>) -> BulkRequest {
        BulkRequest {
            agents: (0..n).map(|i| AgentId(format!("a{i}"))).collect(),
            kind: ActionKind::Sleep,
            strategy,
            stage_size,
            reason: "test".into(),
        }
    }

    #[test]
    fn stage_shapes() {
        assert_eq!(req(BulkStrategy::Sequential, 3, None).stages().len(), 3);
        assert_eq!(req(BulkStrategy::Parallel, 3, None).stages().len(), 1);
        let staged = req(BulkStrategy::Staged, 10, None);
        assert_eq!(
            staged.stages().iter().map(|s| s.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        assert_eq!(req(BulkStrategy::Staged, 10, Some(5)).stages().len(), 2);
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = req(BulkStrategy::Staged, 2, Some(0));
        assert!(r.validate().unwrap_err().to_string().contains("stage_size"));
        r.stage_size = None;
        r.agents.push(AgentId("a0".into()));
        assert!(r.validate().unwrap_err().to_string().contains("agents"));
    }
}
