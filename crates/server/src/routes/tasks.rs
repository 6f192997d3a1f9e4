//! The automation task journal: what the engine did or is doing, per agent and per bulk run.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hivesched_engine::bulk::BulkRequest;
use hivesched_policy::{ActionKind, AgentId};
use hivesched_store::{BulkStrategy, TaskFilter, TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Auth, Operator, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PageLimit, check_non_blank, non_blank_pattern};
use crate::openapi::{array, item_count, items, object, parameter, property, range};
use crate::pools::{declare_pool, pool_or_default};
use crate::routes::agents::{check_agent_id, declare_agent_id};
use crate::state::AppState;

/// Most agents one bulk operation may move.
pub const MAX_BULK_AGENTS: usize = 10_000;

/// Page size of the task list.
pub const PAGE: PageLimit = PageLimit::new(100, 500);

/// The constraints of the task and bulk routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    PAGE.declare(parameter(doc, Method::GET, "/api/v1/tasks", "limit"));
    let agents = array(property(doc, "BulkBody", "agents"));
    item_count(agents, 1, MAX_BULK_AGENTS);
    // The engine refuses a bulk that lists an agent twice.
    agents.unique_items = true;
    declare_agent_id(items(agents));
    range(
        object(property(doc, "BulkBody", "stage_size")),
        1,
        MAX_BULK_AGENTS,
    );
    object(property(doc, "BulkBody", "reason")).pattern = Some(non_blank_pattern());
    declare_pool(object(property(doc, "BulkBody", "pool")));
}

/// The task and bulk-operation routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(submit_bulk))
        .routes(routes!(get_bulk))
}

/// Direction of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionDto {
    /// Put to sleep.
    Sleep,
    /// Wake.
    Wake,
}

/// How a bulk operation moves its agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyDto {
    /// One agent at a time.
    Sequential,
    /// All at once, within the concurrency limit.
    Parallel,
    /// In stages; a stage where more than half fails stops the run and wakes what it slept.
    Staged,
}

/// A bulk operation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// Agents to move, each once (how many: `minItems`, `maxItems`).
    pub agents: Vec<String>,
    /// Sleep or wake.
    pub action: ActionDto,
    /// How to move them.
    pub strategy: StrategyDto,
    /// Agents per stage for `staged` (default: a quarter of the agents); at most the most
    /// agents a bulk may list.
    #[serde(default)]
    pub stage_size: Option<u32>,
    /// Why (journal and audit log).
    pub reason: String,
    /// The agent pool whose leader runs it (default `default`); its agents must be that
    /// pool's (the admission gate refuses others).
    #[serde(default)]
    pub pool: Option<String>,
}

/// A submitted bulk operation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkSubmitted {
    /// Its id, for `GET /api/v1/bulk/{id}` and the task list's `bulk_id`.
    pub id: String,
}

/// A bulk operation's progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkView {
    /// Id.
    pub id: String,
    /// `sleep` or `wake`.
    pub action: ActionDto,
    /// Strategy.
    pub strategy: StrategyDto,
    /// Overall status.
    pub status: TaskStatusDto,
    /// Who submitted it.
    pub actor: String,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// Tasks per status (`pending`, `succeeded`, `refused`, …).
    pub tasks: BTreeMap<String, u64>,
    /// Tasks the admission gate refused, per reason (`EmergencyStop`, `MinAwake`, …): the
    /// fleet was never called for them.
    pub refused: BTreeMap<String, u64>,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatusDto {
    /// Journaled, actuator not called yet.
    Pending,
    /// The actuator was called; outcome unknown.
    Running,
    /// The fleet confirmed it.
    Succeeded,
    /// Gave up.
    Failed,
    /// Succeeded, then undone by a staged rollback.
    RolledBack,
    /// Withdrawn before it started (a stopped bulk operation's later stages).
    Cancelled,
    /// The admission gate refused it; the fleet was never called (`refusal` says why).
    Refused,
}

impl From<TaskStatusDto> for TaskStatus {
    fn from(s: TaskStatusDto) -> Self {
        match s {
            TaskStatusDto::Pending => TaskStatus::Pending,
            TaskStatusDto::Running => TaskStatus::Running,
            TaskStatusDto::Succeeded => TaskStatus::Succeeded,
            TaskStatusDto::Failed => TaskStatus::Failed,
            TaskStatusDto::RolledBack => TaskStatus::RolledBack,
            TaskStatusDto::Cancelled => TaskStatus::Cancelled,
            TaskStatusDto::Refused => TaskStatus::Refused,
        }
    }
}

impl From<TaskStatus> for TaskStatusDto {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Pending => TaskStatusDto::Pending,
            TaskStatus::Running => TaskStatusDto::Running,
            TaskStatus::Succeeded => TaskStatusDto::Succeeded,
            TaskStatus::Failed => TaskStatusDto::Failed,
            TaskStatus::RolledBack => TaskStatusDto::RolledBack,
            TaskStatus::Cancelled => TaskStatusDto::Cancelled,
            TaskStatus::Refused => TaskStatusDto::Refused,
        }
    }
}

/// Filters of the task list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks in this status.
    pub status: Option<TaskStatusDto>,
    /// Only tasks of this bulk operation.
    pub bulk_id: Option<String>,
    /// Only tasks of this agent.
    pub agent: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// One journaled task.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// Task id.
    pub id: String,
    /// Idempotency key sent to the fleet on every attempt.
    pub idempotency_key: String,
    /// The agent.
    pub agent: String,
    /// `sleep` or `wake`.
    pub kind: String,
    /// The bulk operation it belongs to.
    pub bulk_id: Option<String>,
    /// Its stage in a staged bulk operation.
    pub stage: Option<u32>,
    /// Why.
    pub reason: String,
    /// Status.
    pub status: TaskStatusDto,
    /// Actuator calls so far.
    pub attempts: u32,
    /// Why it failed.
    pub error: Option<String>,
    /// Why the admission gate refused it (a reason from the decision vocabulary).
    pub refusal: Option<String>,
    /// When it first called the fleet.
    pub started_at: Option<DateTime<Utc>>,
    /// When it was journaled.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&TaskRecord> for TaskView {
    fn from(r: &TaskRecord) -> Self {
        TaskView {
            id: r.task.id.clone(),
            idempotency_key: r.task.idempotency_key.clone(),
            agent: r.task.agent.0.clone(),
            kind: r.task.kind.as_str().into(),
            bulk_id: r.task.bulk_id.clone(),
            stage: r.task.stage,
            reason: r.task.reason.clone(),
            status: r.status.into(),
            attempts: r.attempts,
            error: r.error.clone(),
            refusal: r.refusal.map(|reason| reason.as_str().into()),
            started_at: r.started_at.map(clock::to_api),
            created_at: clock::to_api(r.task.created_at),
            updated_at: clock::to_api(r.updated_at),
        }
    }
}

/// A page of tasks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    /// Newest first.
    pub tasks: Vec<TaskView>,
}

/// Journaled tasks, newest first.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TaskQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "A page of tasks, newest first.", body = TaskList),
        (status = 422, description = "`invalid_value`: `limit` is out of range.",
            body = ErrorBody)))]
async fn list_tasks(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<TaskList>, ApiError> {
    let limit = PAGE.resolve(q.limit)?;
    let records = state
        .store
        .list_tasks(&TaskFilter {
            status: q.status.map(Into::into),
            bulk_id: q.bulk_id,
            agent: q.agent.map(AgentId),
            limit,
        })
        .await?;
    Ok(Json(TaskList {
        tasks: records.iter().map(TaskView::from).collect(),
    }))
}

/// Start a bulk sleep or wake (audited as `bulk.submit`). Answered 202 only once the operation,
/// every one of its tasks and its audit record are stored; it runs in the background, each
/// task through the admission gate.
#[utoipa::path(post, path = "/bulk", tag = "tasks", request_body = BulkBody,
    security(("bearer" = ["operator"])),
    responses((status = 202, description = "Stored with its tasks and audit record; running.",
            body = BulkSubmitted),
        (status = 422, description = "`invalid_value`: `agents` is empty, too long, lists an \
            agent twice or an invalid id, `stage_size` is out of range or `reason` is blank; \
            `field` names it.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such pool.", body = ErrorBody)))]
async fn submit_bulk(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<(StatusCode, Json<BulkSubmitted>), ApiError> {
    if body.agents.is_empty() || body.agents.len() > MAX_BULK_AGENTS {
        return Err(ApiError::invalid_value(
            "agents",
            format!("must list 1 to {MAX_BULK_AGENTS} agents"),
        ));
    }
    for (i, a) in body.agents.iter().enumerate() {
        check_agent_id(&format!("agents[{i}]"), a)?;
    }
    check_non_blank("reason", &body.reason)?;
    let pool = pool_or_default("pool", body.pool.as_deref())?;
    let engine = state.pools.engine(&pool)?;
    let stage_size = match body.stage_size {
        Some(size) if !(1..=MAX_BULK_AGENTS).contains(&(size as usize)) => {
            return Err(ApiError::invalid_value(
                "stage_size",
                format!("must be between 1 and {MAX_BULK_AGENTS}"),
            ));
        }
        size => size.map(|s| s as usize),
    };
    let request = BulkRequest {
        agents: body.agents.iter().cloned().map(AgentId).collect(),
        kind: match body.action {
            ActionDto::Sleep => ActionKind::Sleep,
            ActionDto::Wake => ActionKind::Wake,
        },
        strategy: match body.strategy {
            StrategyDto::Sequential => BulkStrategy::Sequential,
            StrategyDto::Parallel => BulkStrategy::Parallel,
            StrategyDto::Staged => BulkStrategy::Staged,
        },
        stage_size,
        reason: body.reason.clone(),
    };
    request.validate()?;
    // The audit record is stored with the operation, in one transaction.
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "bulk.submit",
            target: "fleet",
            before: serde_json::Value::Null,
            after: audit::json(&request),
            reason: &body.reason,
        },
    );
    let id = engine
        .submit_bulk(&auth.claims.sub, request, &record)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(BulkSubmitted { id })))
}

/// A bulk operation's status and task counts.
#[utoipa::path(get, path = "/bulk/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Bulk operation id")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Its status and counts.", body = BulkView),
        (status = 404, description = "`not_found`: no bulk operation with this id.",
            body = ErrorBody)))]
async fn get_bulk(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BulkView>, ApiError> {
    let status = state.engine.bulk_status(&id).await?;
    let op = status.operation;
    Ok(Json(BulkView {
        id: op.operation.id,
        action: match op.operation.kind {
            ActionKind::Sleep => ActionDto::Sleep,
            ActionKind::Wake => ActionDto::Wake,
        },
        strategy: match op.operation.strategy {
            BulkStrategy::Sequential => StrategyDto::Sequential,
            BulkStrategy::Parallel => StrategyDto::Parallel,
            BulkStrategy::Staged => StrategyDto::Staged,
        },
        status: op.status.into(),
        actor: op.operation.actor,
        created_at: clock::to_api(op.operation.created_at),
        updated_at: clock::to_api(op.updated_at),
        tasks: status
            .tasks
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
        refused: status
            .refusals
            .into_iter()
            .map(|(r, n)| (r.as_str().to_owned(), n))
            .collect(),
    }))
}
