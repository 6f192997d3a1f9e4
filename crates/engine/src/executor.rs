//! Carries actions out: journal first, then the gate, then the actuator, under a concurrency
//! limit.
//!
//! Every task is written to the journal (`pending`) before anything else, carries an
//! idempotency key reused on every retry (the fleet must never act twice on one key), and right
//! before the fleet is called it passes the [admission gate](crate::gate::SharedGate) against the
//! fleet as it is *then*. A refused task ends `refused` with the reason and never reaches the
//! fleet; an admitted one moves to `running` (stamping when it started, which the rate rails
//! count after a restart) and then `succeeded` / `failed` by compare-and-set, so a crash anywhere
//! leaves a record that recovery can reconcile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hivesched_policy::{ActionKind, AgentId, AgentState, Reason, Source};
use hivesched_store::{NewAgentEvent, NewTask, Store, StoreError, TaskRecord, TaskStatus};
use tokio::sync::Semaphore;

use crate::actuator::{ActuationRequest, ActuatorError, DynActuator, Outcome};
use crate::clock::Clock;
use crate::gate::{Settle, SharedGate};
use crate::leadership::Authority;
use crate::metrics::{GateLabels, KindLabels, TaskLabels};
use crate::{EngineError, EngineMetrics};

/// How often a waiting bulk task looks at the gate again (on the engine's clock; never more
/// often than every 50 ms of real time).
const RECHECK: Duration = Duration::from_secs(1);

/// Limits of the executor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecutorLimits {
    /// Tasks calling the fleet at once.
    pub max_concurrent: usize,
    /// How long a bulk operation's task waits for a refusal that clears with time (a rail, the
    /// restart hold, a fail-safe) before it is refused for good. Tick tasks never wait: the
    /// next tick plans again.
    pub bulk_rail_wait: Duration,
}

impl Default for ExecutorLimits {
    fn default() -> Self {
        ExecutorLimits {
            max_concurrent: 5,
            bulk_rail_wait: Duration::from_secs(1800),
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
    /// Wait this long (on the engine's clock) before asking the gate: the decision's jitter.
    pub delay: Duration,
}

impl TaskSpec {
    /// The journal entry for this spec, created at `now`.
    pub fn to_new_task(&self, now: hivesched_policy::Time) -> NewTask {
        let (bulk_id, stage) = self
            .bulk
            .clone()
            .map_or((None, None), |(b, s)| (Some(b), s));
        NewTask {
            id: self.idempotency_key.clone(),
            idempotency_key: self.idempotency_key.clone(),
            agent: self.agent.clone(),
            kind: self.kind,
            bulk_id,
            stage,
            reason: self.reason.clone(),
            created_at: now,
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The fleet accepted the action.
    Succeeded(AgentId),
    /// The task failed; the string says why.
    Failed(AgentId, String),
    /// The admission gate refused it; the fleet was not called.
    Refused(AgentId, Reason),
    /// The task was already finished in the journal (a retried key): nothing was done.
    AlreadyFinished(AgentId, TaskStatus),
}

impl TaskOutcome {
    /// The agent the task moved (or tried to).
    pub fn agent(&self) -> &AgentId {
        match self {
            TaskOutcome::Succeeded(a)
            | TaskOutcome::Failed(a, _)
            | TaskOutcome::Refused(a, _)
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

    /// Whether the gate refused it (now or earlier).
    pub fn refused(&self) -> bool {
        matches!(
            self,
            TaskOutcome::Refused(..) | TaskOutcome::AlreadyFinished(_, TaskStatus::Refused)
        )
    }
}

/// Journals tasks and executes them through the gate.
pub struct Executor {
    store: Store,
    actuator: Arc<dyn DynActuator>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
    gate: Arc<SharedGate>,
    permits: Semaphore,
    limits: ExecutorLimits,
    authority: Authority,
    /// Whether each of the latest fleet calls failed, oldest first.
    recent_calls: std::sync::Mutex<std::collections::VecDeque<bool>>,
}

/// Fleet calls the error rate is taken over.
const RECENT_CALLS: usize = 50;

impl Executor {
    /// An executor calling `actuator` through `gate`, journaling in `store`, acting only while
    /// `authority` grants it and with the fencing token it holds when each task runs.
    pub fn new(
        store: Store,
        actuator: Arc<dyn DynActuator>,
        clock: Arc<dyn Clock>,
        metrics: Arc<EngineMetrics>,
        gate: Arc<SharedGate>,
        limits: ExecutorLimits,
        authority: Authority,
    ) -> Self {
        Executor {
            store,
            actuator,
            clock,
            metrics,
            gate,
            permits: Semaphore::new(limits.max_concurrent.max(1)),
            limits,
            authority,
            recent_calls: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The share of the latest fleet calls (up to 50) that failed without an answer the
    /// contract defines (transport errors, timeouts, 5xx, an open circuit); `None` before ten.
    pub fn recent_error_rate(&self) -> Option<f64> {
        let recent = crate::lock::lock(&self.recent_calls);
        (recent.len() >= 10)
            .then(|| recent.iter().filter(|f| **f).count() as f64 / recent.len() as f64)
    }

    /// The token to write and call the fleet with, or [`EngineError::NotLeader`]: a replica
    /// that is not (or no longer) the leader leaves the task journaled for the leader's
    /// recovery instead of acting.
    fn fencing_token(&self) -> Result<Option<i64>, EngineError> {
        self.authority.acting().ok_or(EngineError::NotLeader)
    }

    /// Writes the task to the journal, or returns the existing record for its key.
    pub async fn journal(&self, spec: &TaskSpec) -> Result<TaskRecord, EngineError> {
        if let Some(existing) = self.store.task_by_key(&spec.idempotency_key).await? {
            return Ok(existing);
        }
        let token = self.fencing_token()?;
        match self
            .store
            .insert_task_fenced(&spec.to_new_task(self.clock.now()), token)
            .await
        {
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

    /// Journals every spec (all before the first runs), then runs them concurrently within the
    /// limits; outcomes come back in the order of `specs`.
    pub async fn execute_all(
        self: &Arc<Self>,
        specs: Vec<TaskSpec>,
        source: Source,
    ) -> Result<Vec<TaskOutcome>, EngineError> {
        let mut records = Vec::with_capacity(specs.len());
        for spec in &specs {
            records.push((self.journal(spec).await?, spec.delay));
        }
        self.run_all(records, source).await
    }

    /// Runs journaled tasks concurrently within the limits; outcomes in the order given.
    pub async fn run_all(
        self: &Arc<Self>,
        records: Vec<(TaskRecord, Duration)>,
        source: Source,
    ) -> Result<Vec<TaskOutcome>, EngineError> {
        let n = records.len();
        let mut set = tokio::task::JoinSet::new();
        for (i, (record, delay)) in records.into_iter().enumerate() {
            let this = Arc::clone(self);
            set.spawn(async move { (i, this.run(record, source, delay).await) });
        }
        let mut out: Vec<Option<TaskOutcome>> = vec![None; n];
        let mut first_error = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, Ok(outcome))) => out[i] = Some(outcome),
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(EngineError::Journal(format!(
                        "task panicked or was cancelled: {e}"
                    )));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out.into_iter().flatten().collect()),
        }
    }

    /// Runs one journaled task to its end: waits `delay`, asks the gate (a bulk task waits out
    /// refusals that clear with time, within [`ExecutorLimits::bulk_rail_wait`]), then calls
    /// the fleet at most once per invocation with the task's idempotency key, so a retry after
    /// a crash never makes the fleet act twice.
    /// A replica that is not the leader returns [`EngineError::NotLeader`] before calling the
    /// fleet and leaves the task unfinished for the leader's recovery.
    pub async fn run(
        &self,
        record: TaskRecord,
        source: Source,
        delay: Duration,
    ) -> Result<TaskOutcome, EngineError> {
        let result = self.run_one(record, source, delay).await;
        if result.as_ref().is_err_and(EngineError::is_fenced) {
            self.metrics.fenced_writes.inc();
        }
        result
    }

    async fn run_one(
        &self,
        record: TaskRecord,
        source: Source,
        delay: Duration,
    ) -> Result<TaskOutcome, EngineError> {
        let agent = record.task.agent.clone();
        if !record.status.is_unfinished() {
            return Ok(TaskOutcome::AlreadyFinished(agent, record.status));
        }
        if !delay.is_zero() {
            tokio::time::sleep(self.clock.real_time(delay)).await;
        }
        self.fencing_token()?;
        let kind = record.task.kind;
        let id = record.task.id.clone();
        let waiting_since = self.clock.now();
        let (mut ticket, _permit) = loop {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| EngineError::Journal("executor closed".into()))?;
            // The agent's record as of now: a pin or do-not-disrupt set since the last fleet
            // read counts already.
            let facts = match self.store.get_agent(&agent).await {
                Ok(record) => Some(record.agent),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let now = self.clock.now();
            match self.gate.admit(&agent, kind, now, facts.as_ref()) {
                Ok(ticket) => break (Settle::new(&self.gate, ticket), permit),
                Err(reason)
                    if source == Source::Bulk
                        && reason.clears_with_time()
                        && now.since(waiting_since) < self.limits.bulk_rail_wait =>
                {
                    drop(permit);
                    let wait = self.clock.real_time(RECHECK).max(Duration::from_millis(50));
                    tokio::time::sleep(wait).await;
                }
                Err(reason) => {
                    self.store
                        .refuse_task(&id, reason, self.fencing_token()?, now)
                        .await?;
                    self.metrics
                        .gate_refusals
                        .get_or_create(&GateLabels {
                            kind: kind.as_str().into(),
                            source: source.as_str().into(),
                            reason: reason.as_str().into(),
                        })
                        .inc();
                    return Ok(TaskOutcome::Refused(agent, reason));
                }
            }
        };
        let fencing_token = self.fencing_token()?;
        self.store
            .transition_task(
                &id,
                TaskStatus::Running,
                None,
                fencing_token,
                self.clock.now(),
            )
            .await?;
        let request = ActuationRequest {
            idempotency_key: record.task.idempotency_key.clone(),
            reason: record.task.reason.clone(),
            fencing_token: fencing_token.map_or(0, |t| u64::try_from(t).unwrap_or(0)),
        };
        let started = Instant::now();
        let result = match kind {
            ActionKind::Sleep => self.actuator.boxed_sleep(&agent, &request).await,
            ActionKind::Wake => self.actuator.boxed_wake(&agent, &request).await,
        };
        {
            let mut recent = crate::lock::lock(&self.recent_calls);
            if recent.len() == RECENT_CALLS {
                recent.pop_front();
            }
            recent.push_back(result.is_err());
        }
        let labels = KindLabels {
            kind: kind.as_str().into(),
        };
        self.metrics
            .actuator_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        // A definite "no" from the fleet means nothing moved; no answer at all (a timeout, a
        // lost response) may have moved it, and counts as moved.
        ticket.accepted(!matches!(
            result,
            Ok(Outcome::Busy(_) | Outcome::NotFound) | Err(ActuatorError::Rejected { .. })
        ));
        let (status, error, outcome_label) = match &result {
            Ok(Outcome::Accepted) => (TaskStatus::Succeeded, None, "succeeded"),
            Ok(Outcome::Busy(refusal)) => (
                TaskStatus::Failed,
                Some(format!("fleet refused: {}", refusal.code())),
                "fleet_refused",
            ),
            Ok(Outcome::NotFound) => (
                TaskStatus::Failed,
                Some("fleet does not know the agent".to_string()),
                "not_found",
            ),
            Err(e) => {
                self.metrics.actuator_errors.get_or_create(&labels).inc();
                if matches!(e, ActuatorError::CircuitOpen { .. }) {
                    self.metrics
                        .actuator_circuit_open
                        .get_or_create(&labels)
                        .inc();
                }
                (TaskStatus::Failed, Some(e.to_string()), "error")
            }
        };
        let now = self.clock.now();
        self.store
            .transition_task(&id, status, error.as_deref(), fencing_token, now)
            .await?;
        self.metrics
            .tasks
            .get_or_create(&TaskLabels {
                kind: kind.as_str().into(),
                outcome: outcome_label.into(),
            })
            .inc();
        if status == TaskStatus::Succeeded {
            self.note_moved(&agent, kind).await?;
        }
        // The journal and the agent record show the outcome before the gate stops counting the
        // move as in flight (the settle guard drops here).
        drop(ticket);
        if status == TaskStatus::Succeeded {
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
                kind: format!("{}_requested", kind.as_str()),
                detail: serde_json::json!({}),
            }])
            .await?;
        Ok(())
    }
}
