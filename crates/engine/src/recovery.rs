//! Crash recovery: reconcile the journal's unfinished tasks against the fleet's real state
//! before acting again, so no task is lost and none is executed twice.
//!
//! It runs after the controls are loaded and the fleet is read, and re-runs tasks through the
//! executor, so every re-run passes the admission gate like any other action: a restart during
//! an emergency stop does not execute the sleeps that were in flight.

use std::collections::HashMap;

use hivesched_policy::{ActionKind, AgentId, AgentState, Source};
use hivesched_store::{Store, TaskStatus};

use crate::EngineError;
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
    /// Resumed tasks the admission gate refused (the fleet was not called again).
    pub refused: usize,
    /// The fleet could not be read at start: recovery runs at the first tick that can read it.
    pub deferred: bool,
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

/// Reconciles every unfinished task against `states`, the fleet's own listing. Tasks whose
/// effect is visible in the fleet are closed as succeeded; the others are run again through the
/// gate with the same idempotency key, which the fleet contract guarantees is never acted on
/// twice. (A bulk operation's tasks that never started are left to the bulk's resumption.)
pub async fn recover(
    store: &Store,
    states: &HashMap<AgentId, AgentState>,
    executor: &Executor,
    clock: &dyn Clock,
    fencing_token: Option<i64>,
) -> Result<RecoveryReport, EngineError> {
    let unfinished = store.unfinished_tasks().await?;
    let mut report = RecoveryReport {
        found: unfinished.len(),
        ..RecoveryReport::default()
    };
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
            match executor
                .run(task, Source::Recovery, std::time::Duration::ZERO)
                .await?
            {
                TaskOutcome::Failed(..) => report.failed += 1,
                TaskOutcome::Refused(..) => report.refused += 1,
                _ => {}
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
