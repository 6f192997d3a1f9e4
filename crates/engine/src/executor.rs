//! Carries actions out: journal first, then the actuator, under concurrency and rate limits.
//!
//! Every task is written to the journal (`pending`) before the fleet is called, carries an
//! idempotency key reused on every retry (the fleet must never act twice on one key), and moves
//! to `running` and then `succeeded` / `failed` by compare-and-set, so a crash anywhere leaves a
//! record that recovery can reconcile.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hivesched_policy::{ActionKind, AgentId, AgentState};
use hivesched_store::{NewAgentEvent, NewTask, Store, StoreError, TaskRecord, TaskStatus};
use tokio::sync::Semaphore;

use crate::actuator::{ActuationRequest, DynActuator, Outcome};
use crate::clock::Clock;
use crate::metrics::{KindLabels, TaskLabels};
use crate::{EngineError, EngineMetrics};

/// Limits of the executor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecutorLimits {
    /// Tasks calling the fleet at once.
    pub max_concurrent: usize,
    /// Sleeps started per minute by the executor (the rails limit decisions; this also limits
    /// bulk operations).
    pub sleeps_per_minute: u32,
}

impl Default for ExecutorLimits {
    fn default() -> Self {
        ExecutorLimits {
            max_concurrent: 5,
            sleeps_per_minute: 10,
        }
    }
}

/// A task to journal and run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Sent to the fleet on every attempt; also the task id.
    pub idempotency_key: String,
    /// Agent to move.
    pub agent: AgentId,
    /// Direction.
    pub kind: ActionKind,
    /// Why, for the journal and the fleet.
    pub reason: String,
    /// Bulk operation and stage, if any.
    pub bulk: Option<(String, Option<u32>)>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The fleet accepted the action.
    Succeeded(AgentId),
    /// The task failed; the string says why.
    Failed(AgentId, String),
    /// The task was already finished in the journal (a retried key): nothing was done.
    AlreadyFinished(AgentId, TaskStatus),
}

impl TaskOutcome {
    /// The agent the task moved (or tried to).
    pub fn agent(&self) -> &AgentId {
        match self {
            TaskOutcome::Succeeded(a)
            | TaskOutcome::Failed(a, _)
            | TaskOutcome::AlreadyFinished(a, _) => a,
        }
    }

    /// Whether the fleet carried the action out (now or earlier).
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            TaskOutcome::Succeeded(_) | TaskOutcome::AlreadyFinished(_, TaskStatus::Succeeded)
        )
    }
}

/// Journals and executes tasks.
pub struct Executor {
    store: Store,
    actuator: Arc<dyn DynActuator>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
    permits: Arc<Semaphore>,
    sleep_rate: Arc<DefaultDirectRateLimiter>,
    fencing_token: Option<i64>,
}

fn kind_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Sleep => "sleep",
        ActionKind::Wake => "wake",
    }
}

impl Executor {
    /// An executor calling `actuator`, journaling in `store`, writing with `fencing_token`.
    pub fn new(
        store: Store,
        actuator: Arc<dyn DynActuator>,
        clock: Arc<dyn Clock>,
        metrics: Arc<EngineMetrics>,
        limits: ExecutorLimits,
        fencing_token: Option<i64>,
    ) -> Self {
        let rate = NonZeroU32::new(limits.sleeps_per_minute.max(1)).expect("max(1) is non-zero");
        Executor {
            store,
            actuator,
            clock,
            metrics,
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            sleep_rate: Arc::new(RateLimiter::direct(Quota::per_minute(rate))),
            fencing_token,
        }
    }

    /// Writes the task to the journal, or returns the existing record for its key.
    pub async fn journal(&self, spec: &TaskSpec) -> Result<TaskRecord, EngineError> {
        if let Some(existing) = self.store.task_by_key(&spec.idempotency_key).await? {
            return Ok(existing);
        }
        let (bulk_id, stage) = spec
            .bulk
            .clone()
            .map_or((None, None), |(b, s)| (Some(b), s));
        let task = NewTask {
            id: spec.idempotency_key.clone(),
            idempotency_key: spec.idempotency_key.clone(),
            agent: spec.agent.clone(),
            kind: spec.kind,
            bulk_id,
            stage,
            reason: spec.reason.clone(),
            created_at: self.clock.now(),
        };
        match self.store.insert_task(&task).await {
            Ok(record) => Ok(record),
            // Another writer journaled the same key in between: use its record.
            Err(StoreError::Conflict { .. }) => self
                .store
                .task_by_key(&spec.idempotency_key)
                .await?
                .ok_or_else(|| {
                    EngineError::Journal(format!("task {} vanished", spec.idempotency_key))
                }),
            Err(e) => Err(e.into()),
        }
    }

    /// Journals every spec first, then runs them concurrently within the limits.
    pub async fn execute_all(
        self: &Arc<Self>,
        specs: Vec<TaskSpec>,
    ) -> Result<Vec<TaskOutcome>, EngineError> {
        let mut records = Vec::with_capacity(specs.len());
        for spec in &specs {
            records.push(self.journal(spec).await?);
        }
        let mut set = tokio::task::JoinSet::new();
        for (i, record) in records.into_iter().enumerate() {
            let this = Arc::clone(self);
            set.spawn(async move { (i, this.run(record).await) });
        }
        let mut out: Vec<Option<TaskOutcome>> = vec![None; specs.len()];
        while let Some(joined) = set.join_next().await {
            let (i, outcome) = joined.map_err(|e| {
                EngineError::Journal(format!("task panicked or was cancelled: {e}"))
            })?;
            out[i] = Some(outcome?);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Runs one journaled task to its end (calls the fleet at most once per invocation, with the
    /// task's idempotency key, so a retry after a crash never makes the fleet act twice).
    pub async fn run(&self, record: TaskRecord) -> Result<TaskOutcome, EngineError> {
        let agent = record.task.agent.clone();
        if !record.status.is_unfinished() {
            return Ok(TaskOutcome::AlreadyFinished(agent, record.status));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| EngineError::Journal("executor closed".into()))?;
        let kind = record.task.kind;
        if kind == ActionKind::Sleep {
            self.sleep_rate.until_ready().await;
        }
        let id = record.task.id.clone();
        self.store
            .transition_task(
                &id,
                TaskStatus::Running,
                None,
                self.fencing_token,
                self.clock.now(),
            )
            .await?;
        let request = ActuationRequest {
            idempotency_key: record.task.idempotency_key.clone(),
            reason: record.task.reason.clone(),
            fencing_token: self
                .fencing_token
                .map_or(0, |t| u64::try_from(t).unwrap_or(0)),
        };
        let started = Instant::now();
        let result = match kind {
            ActionKind::Sleep => self.actuator.boxed_sleep(&agent, &request).await,
            ActionKind::Wake => self.actuator.boxed_wake(&agent, &request).await,
        };
        let labels = KindLabels {
            kind: kind_name(kind).into(),
        };
        self.metrics
            .actuator_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let (status, error, outcome_label) = match &result {
            Ok(Outcome::Accepted) => (TaskStatus::Succeeded, None, "succeeded"),
            Ok(Outcome::Busy(refusal)) => (
                TaskStatus::Failed,
                Some(format!("fleet refused: {}", refusal.code())),
                "refused",
            ),
            Ok(Outcome::NotFound) => (
                TaskStatus::Failed,
                Some("fleet does not know the agent".to_string()),
                "not_found",
            ),
            Err(e) => {
                self.metrics.actuator_errors.get_or_create(&labels).inc();
                (TaskStatus::Failed, Some(e.to_string()), "error")
            }
        };
        let now = self.clock.now();
        self.store
            .transition_task(&id, status, error.as_deref(), self.fencing_token, now)
            .await?;
        self.metrics
            .tasks
            .get_or_create(&TaskLabels {
                kind: kind_name(kind).into(),
                outcome: outcome_label.into(),
            })
            .inc();
        if status == TaskStatus::Succeeded {
            self.note_moved(&agent, kind).await?;
            Ok(TaskOutcome::Succeeded(agent))
        } else {
            Ok(TaskOutcome::Failed(agent, error.unwrap_or_default()))
        }
    }

    /// Records on the agent what the fleet accepted, so the next tick's cooldown and selection
    /// see it even before the next heartbeat.
    async fn note_moved(&self, agent: &AgentId, kind: ActionKind) -> Result<(), EngineError> {
        let now = self.clock.now();
        let to = match kind {
            ActionKind::Sleep => AgentState::PreparingSleep,
            ActionKind::Wake => AgentState::Waking,
        };
        self.store.note_agent_moved(agent, to, now).await?;
        self.store
            .record_agent_events(&[NewAgentEvent {
                at: now,
                agent: agent.clone(),
                kind: format!("{}_requested", kind_name(kind)),
                detail: serde_json::json!({}),
            }])
            .await?;
        Ok(())
    }
}
