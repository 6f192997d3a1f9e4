//! The automation task journal: what the engine did or is doing, per agent and per bulk run.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use hivesched_policy::AgentId;
use hivesched_store::{TaskFilter, TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The task routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tasks))
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
    /// Withdrawn before it finished.
    Cancelled,
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
    /// Page size, 1 to 500 (default 100).
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
            kind: match r.task.kind {
                hivesched_policy::ActionKind::Sleep => "sleep".into(),
                hivesched_policy::ActionKind::Wake => "wake".into(),
            },
            bulk_id: r.task.bulk_id.clone(),
            stage: r.task.stage,
            reason: r.task.reason.clone(),
            status: r.status.into(),
            attempts: r.attempts,
            error: r.error.clone(),
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
    responses((status = 200, body = TaskList), (status = 422, body = ErrorBody)))]
async fn list_tasks(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<TaskList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_value(
            "limit",
            "must be between 1 and 500",
        ));
    }
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
