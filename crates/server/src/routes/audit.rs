//! The audit log, newest first.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Operator};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, page_limit};
use crate::state::AppState;

/// The audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Paging of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// Only records with `seq` below this (the last `seq` of the previous page).
    pub before: Option<i64>,
}

/// One audit record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (token subject, `engine`, `system`).
    pub actor: String,
    /// What kind of change.
    pub action: String,
    /// What it applied to.
    pub target: String,
    /// State before.
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// State after.
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// Why.
    pub reason: String,
    /// Hash linking it to the previous record.
    pub hash: String,
}

/// A page of audit records.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub records: Vec<AuditView>,
}

/// Audit records, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = ["operator"])),
    responses((status = 200, body = AuditPage), (status = 422, body = ErrorBody)))]
async fn list_audit(
    _auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(q.limit, 50, 500)?;
    let records = state.store.list_audit(q.before, limit).await?;
    Ok(Json(AuditPage {
        records: records
            .into_iter()
            .map(|r| AuditView {
                seq: r.seq,
                at: clock::to_api(r.record.at),
                actor: r.record.actor,
                action: r.record.action,
                target: r.record.target,
                before: r.record.before,
                after: r.record.after,
                reason: r.record.reason,
                hash: r.hash,
            })
            .collect(),
    }))
}
