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
use crate::extract::{ApiQuery, PageLimit};
use crate::openapi::{object, parameter, property};
use crate::state::AppState;

/// Page size of the audit list.
pub const PAGE: PageLimit = PageLimit::new(50, 500);

/// The audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Paging of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size.
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
    /// State before (`null` when the change created it).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// State after (`null` when the change removed it).
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// Why.
    pub reason: String,
    /// Hash linking it to the previous record.
    pub hash: String,
}

/// The constraints of the audit list beyond its types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    use utoipa::openapi::Type;
    use utoipa::openapi::schema::SchemaType;
    PAGE.declare(parameter(doc, Method::GET, "/api/v1/audit", "limit"));
    // The JSON of the record before and after; a creation has nothing before, a removal
    // nothing after.
    for side in ["before", "after"] {
        object(property(doc, "AuditView", side)).schema_type =
            SchemaType::from_iter([Type::Object, Type::Null]);
    }
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
    responses((status = 200, description = "A page of records, newest first.", body = AuditPage),
        (status = 422, description = "`invalid_value`: `limit` is out of range.",
            body = ErrorBody)))]
async fn list_audit(
    _auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = PAGE.resolve(q.limit)?;
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
