//! The automation task journal and bulk operations.
//!
//! A task is journaled (`pending`) before the actuator is called, carries an idempotency key that
//! is unique across the journal and reused on every retry, and moves through its statuses by
//! compare-and-set: an update names the statuses it may come from, so two executors (or an
//! executor and crash recovery) cannot both finish the same task. Writes carry the writer's
//! fencing token; a write with a token older than the one recorded is refused.

use hivesched_policy::{ActionKind, AgentId, Reason, Time};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::NewAuditRecord;
use crate::codec::{enum_text, get, get_opt_time, get_time, json_text, parse_enum, parse_json};
use crate::fencing::fence;
use crate::{Result, Store, StoreError};

/// Where a task (or a bulk operation) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Journaled, actuator not called yet.
    Pending,
    /// The actuator was called (possibly more than once, see `attempts`); outcome unknown.
    Running,
    /// The fleet confirmed the action.
    Succeeded,
    /// Gave up; `error` says why.
    Failed,
    /// Succeeded, then undone (a staged bulk run woke what it had put to sleep).
    RolledBack,
    /// Withdrawn before it finished (a stopped bulk operation's later stages).
    Cancelled,
    /// The admission gate refused it: the fleet was never called; `refusal` says why.
    Refused,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::RolledBack,
        TaskStatus::Cancelled,
        TaskStatus::Refused,
    ];

    /// The wire name (`pending`, `rolled_back`, …), as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::RolledBack => "rolled_back",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Refused => "refused",
        }
    }

    /// Statuses a record may move to `self` from; empty for `Pending`, which is only entered
    /// on insert.
    pub fn predecessors(self) -> &'static [TaskStatus] {
        use TaskStatus as S;
        match self {
            S::Pending => &[],
            S::Running | S::Failed | S::Cancelled | S::Refused => &[S::Pending, S::Running],
            S::Succeeded => &[S::Running],
            S::RolledBack => &[S::Succeeded],
        }
    }

    /// Whether work may still happen (crash recovery must look at it).
    pub fn is_unfinished(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::Running)
    }
}

/// Attempts at an audited write before a sustained audit race is reported as a conflict.
const AUDITED_ATTEMPTS: usize = 50;

hivesched_policy::wire_name!(TaskStatus, "a task status");

/// `'pending', 'running'` for an SQL `IN` list; the names come from this enum, never from input.
fn status_list(statuses: &[TaskStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", enum_text(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a bulk operation moves its agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkStrategy {
    /// One agent at a time.
    Sequential,
    /// All at once, within the concurrency limit.
    Parallel,
    /// In stages; a stage where more than half fails stops the run and rolls it back.
    Staged,
}

impl BulkStrategy {
    /// Every strategy.
    pub const ALL: [BulkStrategy; 3] = [
        BulkStrategy::Sequential,
        BulkStrategy::Parallel,
        BulkStrategy::Staged,
    ];

    /// The wire name (`sequential`, `parallel`, `staged`).
    pub fn as_str(self) -> &'static str {
        match self {
            BulkStrategy::Sequential => "sequential",
            BulkStrategy::Parallel => "parallel",
            BulkStrategy::Staged => "staged",
        }
    }
}

hivesched_policy::wire_name!(BulkStrategy, "sequential, parallel or staged");

/// A task to journal before acting.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Task id (chosen by the engine).
    pub id: String,
    /// Sent to the actuator on every attempt; unique across the journal.
    pub idempotency_key: String,
    /// Agent to act on.
    pub agent: AgentId,
    /// Sleep or wake.
    pub kind: ActionKind,
    /// Bulk operation the task belongs to, if any.
    pub bulk_id: Option<String>,
    /// Stage within a staged bulk operation.
    pub stage: Option<u32>,
    /// Why (the decision reason or the operator's words).
    pub reason: String,
    /// When it was journaled.
    pub created_at: Time,
}

/// A journaled task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// What was journaled.
    pub task: NewTask,
    /// Where it stands.
    pub status: TaskStatus,
    /// Actuator calls made so far.
    pub attempts: u32,
    /// Fencing token of the last writer.
    pub fencing_token: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Why the admission gate refused it, if it did.
    pub refusal: Option<Reason>,
    /// When it first called the fleet (`None` until then).
    pub started_at: Option<Time>,
    /// Last change.
    pub updated_at: Time,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this bulk operation's tasks.
    pub bulk_id: Option<String>,
    /// Only this agent's tasks.
    pub agent: Option<AgentId>,
    /// At most this many (newest first); 0 means 100.
    pub limit: u32,
}

/// A bulk operation to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBulkOperation {
    /// Id (chosen by the engine).
    pub id: String,
    /// Sleep or wake.
    pub kind: ActionKind,
    /// How agents are moved.
    pub strategy: BulkStrategy,
    /// The request as given: agents, stage sizes, options (stored as JSON).
    pub spec: serde_json::Value,
    /// Who asked for it.
    pub actor: String,
    /// When.
    pub created_at: Time,
}

/// A recorded bulk operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    /// What was asked.
    pub operation: NewBulkOperation,
    /// Where it stands (same vocabulary as tasks).
    pub status: TaskStatus,
    /// Last change.
    pub updated_at: Time,
}

fn task_from_row(row: &AnyRow) -> Result<TaskRecord> {
    let stage: Option<i64> = get(row, "stage")?;
    let attempts: i64 = get(row, "attempts")?;
    Ok(TaskRecord {
        task: NewTask {
            id: get(row, "id")?,
            idempotency_key: get(row, "idempotency_key")?,
            agent: AgentId(get(row, "agent_id")?),
            kind: parse_enum("kind", &get::<String>(row, "kind")?)?,
            bulk_id: get(row, "bulk_id")?,
            stage: stage.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
            reason: get(row, "reason")?,
            created_at: get_time(row, "created_at")?,
        },
        status: parse_enum("status", &get::<String>(row, "status")?)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        fencing_token: get(row, "fencing_token")?,
        error: get(row, "error")?,
        refusal: get::<Option<String>>(row, "refusal")?
            .map(|r| parse_enum("refusal", &r))
            .transpose()?,
        started_at: get_opt_time(row, "started_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn bulk_from_row(row: &AnyRow) -> Result<BulkOperation> {
    Ok(BulkOperation {
        operation: NewBulkOperation {
            id: get(row, "id")?,
            kind: parse_enum("kind", &get::<String>(row, "kind")?)?,
            strategy: parse_enum("strategy", &get::<String>(row, "strategy")?)?,
            spec: parse_json("spec", &get::<String>(row, "spec")?)?,
            actor: get(row, "actor")?,
            created_at: get_time(row, "created_at")?,
        },
        status: parse_enum("status", &get::<String>(row, "status")?)?,
        updated_at: get_time(row, "updated_at")?,
    })
}

impl Store {
    /// Journals a task as `pending`. A taken idempotency key (or id) is a
    /// [`StoreError::Conflict`]: look the task up with [`Store::task_by_key`] instead of acting.
    pub async fn insert_task(&self, t: &NewTask) -> Result<TaskRecord> {
        self.insert_task_fenced(t, None).await
    }

    /// [`Store::insert_task`] in one transaction with the fencing check: with `Some(token)`, a
    /// token lower than the highest that has written is [`StoreError::Fenced`] and nothing is
    /// journaled; the task records the token.
    pub async fn insert_task_fenced(
        &self,
        t: &NewTask,
        fencing_token: Option<i64>,
    ) -> Result<TaskRecord> {
        let mut tx = self.pool.begin().await?;
        if let Some(token) = fencing_token {
            fence(&mut tx, &self.scope, token).await?;
        }
        let row = sqlx::query(
            "INSERT INTO tasks (id, idempotency_key, agent_id, kind, bulk_id, stage, status, \
             attempts, reason, created_at, updated_at, fencing_token, pool) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $8, $9, $10) RETURNING *",
        )
        .bind(t.id.clone())
        .bind(t.idempotency_key.clone())
        .bind(t.agent.0.clone())
        .bind(enum_text(&t.kind))
        .bind(t.bulk_id.clone())
        .bind(t.stage.map(i64::from))
        .bind(t.reason.clone())
        .bind(t.created_at.as_millis())
        .bind(fencing_token)
        .bind(self.scope.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "task idempotency key", t.idempotency_key.clone()))?;
        let record = task_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    /// One task by id.
    pub async fn task(&self, id: &str) -> Result<TaskRecord> {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("task", id))?;
        task_from_row(&row)
    }

    /// The task journaled under an idempotency key, if any.
    pub async fn task_by_key(&self, idempotency_key: &str) -> Result<Option<TaskRecord>> {
        sqlx::query("SELECT * FROM tasks WHERE idempotency_key = $1")
            .bind(idempotency_key.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| task_from_row(&row))
            .transpose()
    }

    /// Moves a task to `to` if it is in one of `to`'s predecessor statuses and `fencing_token`
    /// is not older than the recorded one; entering `running` counts an attempt.
    ///
    /// Fails with [`StoreError::NotFound`] for an unknown id, [`StoreError::Conflict`] when
    /// the task is elsewhere in its lifecycle or the token is older than the task's, and
    /// [`StoreError::Fenced`] (nothing written) when a higher token has written for the pool.
    pub async fn transition_task(
        &self,
        id: &str,
        to: TaskStatus,
        error: Option<&str>,
        fencing_token: Option<i64>,
        at: Time,
    ) -> Result<TaskRecord> {
        let from = to.predecessors();
        if from.is_empty() {
            return Err(StoreError::conflict(
                "task status",
                format!("{id} -> {to:?}"),
            ));
        }
        let attempt = i64::from(to == TaskStatus::Running);
        let mut tx = self.pool.begin().await?;
        if let Some(token) = fencing_token {
            fence(&mut tx, &self.scope, token).await?;
        }
        let sql = format!(
            "UPDATE tasks SET status = $1, error = $2, \
             fencing_token = COALESCE($3, fencing_token), attempts = attempts + $4, \
             started_at = CASE WHEN $4 = 1 THEN COALESCE(started_at, $5) ELSE started_at END, \
             updated_at = $5 \
             WHERE id = $6 AND status IN ({}) \
             AND ($3 IS NULL OR fencing_token IS NULL OR fencing_token <= $3) RETURNING *",
            status_list(from)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(enum_text(&to))
            .bind(error.map(str::to_owned))
            .bind(fencing_token)
            .bind(attempt)
            .bind(at.as_millis())
            .bind(id.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        match row {
            Some(row) => {
                let record = task_from_row(&row)?;
                tx.commit().await?;
                Ok(record)
            }
            None => {
                tx.rollback().await?;
                let current = self.task(id).await?;
                Err(StoreError::conflict(
                    "task status",
                    format!(
                        "{id} is {:?} (token {:?}), cannot become {to:?} with token {fencing_token:?}",
                        current.status, current.fencing_token
                    ),
                ))
            }
        }
    }

    /// This pool's tasks still `pending` or `running`, oldest first: what crash recovery must reconcile
    /// against the fleet's real state before acting again. A bulk operation's tasks are left to
    /// the bulk's own resumption (which keeps its stages) unless they were already `running`.
    pub async fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>> {
        sqlx::query(
            "SELECT * FROM tasks WHERE pool = $1 AND (status = 'running' \
             OR (status = 'pending' AND bulk_id IS NULL)) ORDER BY created_at, id",
        )
        .bind(self.scope.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(task_from_row)
        .collect()
    }

    /// Records that the admission gate refused a `pending` (or, after a crash, `running`)
    /// task: it ends `refused` with the reason, and the fleet is never called for it.
    pub async fn refuse_task(
        &self,
        id: &str,
        reason: Reason,
        fencing_token: Option<i64>,
        at: Time,
    ) -> Result<TaskRecord> {
        let mut tx = self.pool.begin().await?;
        if let Some(token) = fencing_token {
            fence(&mut tx, &self.scope, token).await?;
        }
        let row = sqlx::query(
            "UPDATE tasks SET status = 'refused', refusal = $1, \
             fencing_token = COALESCE($2, fencing_token), updated_at = $3 \
             WHERE id = $4 AND status IN ('pending', 'running') \
             AND ($2 IS NULL OR fencing_token IS NULL OR fencing_token <= $2) RETURNING *",
        )
        .bind(reason.as_str())
        .bind(fencing_token)
        .bind(at.as_millis())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => {
                let record = task_from_row(&row)?;
                tx.commit().await?;
                Ok(record)
            }
            None => {
                tx.rollback().await?;
                let current = self.task(id).await?;
                Err(StoreError::conflict(
                    "task status",
                    format!("{id} is {:?}, cannot be refused", current.status),
                ))
            }
        }
    }

    /// When each of this pool's sleeps started after `from` (the moment its task first called the fleet),
    /// oldest first: the sleep-rate and scale-down rails are rebuilt from these on start, so a
    /// restart cannot reset them.
    pub async fn sleep_starts_since(&self, from: Time) -> Result<Vec<Time>> {
        sqlx::query(
            "SELECT started_at FROM tasks WHERE pool = $2 AND kind = 'sleep' AND started_at > $1 \
             ORDER BY started_at",
        )
        .bind(from.as_millis())
        .bind(self.scope.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| get_time(row, "started_at"))
        .collect()
    }

    /// Wakes that finished — succeeded or failed — with their last change in `(after, until]`:
    /// each agent and whether its wake failed. The scheduler's own rollout counts a failed wake
    /// as demand its arm left unserved (docs/rollout.md).
    pub async fn finished_wakes(&self, after: Time, until: Time) -> Result<Vec<(AgentId, bool)>> {
        sqlx::query(
            "SELECT agent_id, status FROM tasks WHERE kind = 'wake' \
             AND status IN ('succeeded', 'failed') AND updated_at > $1 AND updated_at <= $2 \
             ORDER BY updated_at, id",
        )
        .bind(after.as_millis())
        .bind(until.as_millis())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let status: TaskStatus = parse_enum("status", &get::<String>(row, "status")?)?;
            Ok((AgentId(get(row, "agent_id")?), status == TaskStatus::Failed))
        })
        .collect()
    }

    /// Records a bulk operation, every one of its tasks (`pending`) and its audit record in
    /// one transaction: once this returns, the operation survives a crash and is resumed; if it
    /// fails, nothing of it was stored.
    pub async fn insert_bulk_with_tasks(
        &self,
        op: &NewBulkOperation,
        tasks: &[NewTask],
        audit_record: &NewAuditRecord,
    ) -> Result<BulkOperation> {
        for _ in 0..AUDITED_ATTEMPTS {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(
                "INSERT INTO bulk_operations (id, kind, strategy, spec, status, actor, \
                 created_at, updated_at, pool) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $7) \
                 RETURNING *",
            )
            .bind(op.id.clone())
            .bind(enum_text(&op.kind))
            .bind(enum_text(&op.strategy))
            .bind(json_text(&op.spec))
            .bind(op.actor.clone())
            .bind(op.created_at.as_millis())
            .bind(self.scope.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "bulk operation", op.id.clone()))?;
            // Nine parameters a row: 500 rows stay far below every backend's limit.
            for chunk in tasks.chunks(500) {
                let mut sql = String::from(
                    "INSERT INTO tasks (id, idempotency_key, agent_id, kind, bulk_id, stage, \
                     status, attempts, reason, created_at, updated_at, pool) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 9;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, 'pending', 0, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 8,
                        b + 9
                    ));
                }
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for t in chunk {
                    q = q
                        .bind(t.id.clone())
                        .bind(t.idempotency_key.clone())
                        .bind(t.agent.0.clone())
                        .bind(enum_text(&t.kind))
                        .bind(t.bulk_id.clone())
                        .bind(t.stage.map(i64::from))
                        .bind(t.reason.clone())
                        .bind(t.created_at.as_millis())
                        .bind(self.scope.to_string());
                }
                q.execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::unique(e, "task idempotency key", op.id.clone()))?;
            }
            match self.append_audit_on(&mut tx, audit_record).await {
                Ok(_) => {
                    // The leader, wherever it runs, starts it at once (not at its next tick).
                    crate::changes::notify_on(&mut tx, self.backend, crate::Change::Bulks).await?;
                    tx.commit().await?;
                    return bulk_from_row(&row);
                }
                Err(StoreError::Conflict { .. }) => tx.rollback().await?,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::conflict(
            "audit seq",
            format!("still contended after {AUDITED_ATTEMPTS} attempts"),
        ))
    }

    /// Cancels the tasks of a bulk operation that never started (a staged run stopped before
    /// their stage); returns how many.
    pub async fn cancel_pending_bulk_tasks(&self, bulk_id: &str, at: Time) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE tasks SET status = 'cancelled', error = 'the bulk operation stopped before \
             this stage', updated_at = $1 WHERE bulk_id = $2 AND status = 'pending'",
        )
        .bind(at.as_millis())
        .bind(bulk_id.to_owned())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// How many of a bulk operation's tasks the gate refused, by reason.
    pub async fn bulk_refusals(&self, bulk_id: &str) -> Result<Vec<(Reason, u64)>> {
        let rows = sqlx::query(
            "SELECT refusal, COUNT(*) AS n FROM tasks WHERE bulk_id = $1 AND status = 'refused' \
             GROUP BY refusal ORDER BY refusal",
        )
        .bind(bulk_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let reason = parse_enum("refusal", &get::<String>(row, "refusal")?)?;
                let n: i64 = get(row, "n")?;
                Ok((reason, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// Tasks matching `filter`, newest first.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        let mut clauses = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.status.is_some() {
            clauses.push(format!("status = ${}", next()));
        }
        if filter.bulk_id.is_some() {
            clauses.push(format!("bulk_id = ${}", next()));
        }
        if filter.agent.is_some() {
            clauses.push(format!("agent_id = ${}", next()));
        }
        let limit_param = next();
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT * FROM tasks {where_clause} ORDER BY created_at DESC, id DESC LIMIT ${limit_param}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(s) = filter.status {
            q = q.bind(enum_text(&s));
        }
        if let Some(b) = &filter.bulk_id {
            q = q.bind(b.clone());
        }
        if let Some(a) = &filter.agent {
            q = q.bind(a.0.clone());
        }
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        q.bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(task_from_row)
            .collect()
    }

    /// Records a bulk operation of this pool as `pending`; a taken id is a
    /// [`StoreError::Conflict`].
    pub async fn insert_bulk(&self, b: &NewBulkOperation) -> Result<BulkOperation> {
        let row = sqlx::query(
            "INSERT INTO bulk_operations (id, kind, strategy, spec, status, actor, created_at, \
             updated_at, pool) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $7) RETURNING *",
        )
        .bind(b.id.clone())
        .bind(enum_text(&b.kind))
        .bind(enum_text(&b.strategy))
        .bind(json_text(&b.spec))
        .bind(b.actor.clone())
        .bind(b.created_at.as_millis())
        .bind(self.scope.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, "bulk operation", b.id.clone()))?;
        bulk_from_row(&row)
    }

    /// One bulk operation by id.
    pub async fn bulk(&self, id: &str) -> Result<BulkOperation> {
        let row = sqlx::query("SELECT * FROM bulk_operations WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("bulk operation", id))?;
        bulk_from_row(&row)
    }

    /// Moves a bulk operation to `to`, with the same compare-and-set rule as tasks.
    pub async fn transition_bulk(&self, id: &str, to: TaskStatus, at: Time) -> Result<()> {
        let from = to.predecessors();
        let sql = format!(
            "UPDATE bulk_operations SET status = $1, updated_at = $2 \
             WHERE id = $3 AND status IN ({})",
            status_list(from)
        );
        let done = if from.is_empty() {
            0
        } else {
            sqlx::query(AssertSqlSafe(sql))
                .bind(enum_text(&to))
                .bind(at.as_millis())
                .bind(id.to_owned())
                .execute(&self.pool)
                .await?
                .rows_affected()
        };
        if done == 0 {
            let current = self.bulk(id).await?;
            return Err(StoreError::conflict(
                "bulk operation status",
                format!("{id} is {:?}, cannot become {to:?}", current.status),
            ));
        }
        Ok(())
    }

    /// This pool's bulk operations, newest first; with `unfinished_only`, those crash recovery
    /// must resume.
    pub async fn list_bulks(
        &self,
        unfinished_only: bool,
        limit: u32,
    ) -> Result<Vec<BulkOperation>> {
        let rows = if unfinished_only {
            sqlx::query(
                "SELECT * FROM bulk_operations WHERE pool = $2 AND status IN ('pending', 'running') \
                 ORDER BY created_at DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .bind(self.scope.to_string())
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query(
                "SELECT * FROM bulk_operations WHERE pool = $2 \
                 ORDER BY created_at DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .bind(self.scope.to_string())
            .fetch_all(&self.pool)
            .await?
        };
        rows.iter().map(bulk_from_row).collect()
    }

    /// How many tasks of a bulk operation (or stage) are in each status, for the staged
    /// strategy's "more than half of a stage failed" rule.
    pub async fn bulk_status_counts(
        &self,
        bulk_id: &str,
        stage: Option<u32>,
    ) -> Result<Vec<(TaskStatus, u64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE bulk_id = $1 \
             AND ($2 IS NULL OR stage = $2) GROUP BY status ORDER BY status",
        )
        .bind(bulk_id.to_owned())
        .bind(stage.map(i64::from))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status = parse_enum("status", &get::<String>(row, "status")?)?;
                let n: i64 = get(row, "n")?;
                Ok((status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unfinished_tasks_can_start_or_end() {
        for s in TaskStatus::ALL {
            for p in s.predecessors() {
                assert!(
                    p.is_unfinished() || (s == TaskStatus::RolledBack),
                    "{p:?} -> {s:?}"
                );
            }
        }
        assert_eq!(status_list(&[TaskStatus::RolledBack]), "'rolled_back'");
    }
}
