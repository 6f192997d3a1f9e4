//! Crash recovery: reconcile the journal's unfinished tasks against the fleet's real state
//! before acting again, so no task is lost and none is executed twice.

use std::collections::HashMap;

use hivesched_policy::{ActionKind, AgentId, AgentState};
use hivesched_store::{Store, TaskStatus};

use crate::EngineError;
use crate::actuator::DynActuator;
use crate::clock::Clock;
use crate::executor::{Executor, TaskOutcome};

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Unfinished tasks found in the journal.
    pub found: usize,
    /// Tasks whose effect the fleet already shows: closed without calling it again.
    pub already_done: usize,
    /// Tasks run again with their original idempotency key.
    pub resumed: usize,
    /// Resumed tasks that failed.
    pub failed: usize,
}

/// Whether `state` shows that a `kind` action already took effect.
fn took_effect(kind: ActionKind, state: AgentState) -> bool {
    match kind {
        ActionKind::Sleep => matches!(
            state,
            AgentState::PreparingSleep | AgentState::Consolidating | AgentState::Asleep
        ),
        ActionKind::Wake => matches!(state, AgentState::Waking | AgentState::Awake),
    }
}

/// Reconciles every unfinished task. Tasks whose effect is visible in the fleet are closed as
/// succeeded; the others are run again with the same idempotency key, which the fleet contract
/// guarantees is never acted on twice. Fails, acting on nothing, if the fleet can't be listed.
pub async fn recover(
    store: &Store,
    actuator: &dyn DynActuator,
    executor: &Executor,
    clock: &dyn Clock,
    fencing_token: Option<i64>,
) -> Result<RecoveryReport, EngineError> {
    let unfinished = store.unfinished_tasks().await?;
    let mut report = RecoveryReport {
        found: unfinished.len(),
        ..RecoveryReport::default()
    };
    if unfinished.is_empty() {
        return Ok(report);
    }
    let states: HashMap<AgentId, AgentState> = actuator
        .boxed_list_agents()
        .await?
        .into_iter()
        .map(|a| (a.id, a.state))
        .collect();
    for task in unfinished {
        let visible = states
            .get(&task.task.agent)
            .is_some_and(|s| took_effect(task.task.kind, *s));
        if visible {
            let now = clock.now();
            if task.status == TaskStatus::Pending {
                store
                    .transition_task(&task.task.id, TaskStatus::Running, None, fencing_token, now)
                    .await?;
            }
            store
                .transition_task(
                    &task.task.id,
                    TaskStatus::Succeeded,
                    Some("reconciled after restart: the fleet already shows the effect"),
                    fencing_token,
                    now,
                )
                .await?;
            report.already_done += 1;
        } else {
            report.resumed += 1;
            if let TaskOutcome::Failed(..) = executor.run(task).await? {
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_by_direction() {
        assert!(took_effect(ActionKind::Sleep, AgentState::Consolidating));
        assert!(!took_effect(ActionKind::Sleep, AgentState::Awake));
        assert!(took_effect(ActionKind::Wake, AgentState::Waking));
        assert!(!took_effect(ActionKind::Wake, AgentState::Asleep));
    }
}
