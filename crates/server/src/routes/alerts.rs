//! Alerts: listed for everyone, acknowledged by operators (audited), pushed on the stream by
//! the engine as they change. The rules and their thresholds are in `docs/alerts.md`.

use axum::Json;
use axum::extract::{Path, State};
use hivesched_policy::alerts::AlertState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Auth, Operator, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, PageLimit};
use crate::openapi::parameter;
use crate::state::AppState;
use crate::views::{self, AlertView};

/// Page size of the alert list.
pub const PAGE: PageLimit = PageLimit::new(100, 1000);

/// The alert routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(acknowledge_alert))
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only alerts in this state: `firing`, `acknowledged` or `resolved`.
    pub state: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Alerts, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertPage {
    /// Newest first.
    pub alerts: Vec<AlertView>,
}

/// The constraints of the alert routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    PAGE.declare(parameter(doc, Method::GET, "/api/v1/alerts", "limit"));
    parameter(doc, Method::GET, "/api/v1/alerts", "state").enum_values = Some(
        AlertState::ALL
            .iter()
            .map(|s| serde_json::Value::from(s.as_str()))
            .collect(),
    );
}

/// Alerts, newest first.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Alerts, newest first.", body = AlertPage),
        (status = 422, description = "`invalid_value`: `state` or `limit` is out of range.",
            body = ErrorBody)))]
async fn list_alerts(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<AlertPage>, ApiError> {
    let limit = PAGE.resolve(q.limit)?;
    let wanted = q
        .state
        .as_deref()
        .map(str::parse::<AlertState>)
        .transpose()
        .map_err(|e| ApiError::invalid_value("state", e))?;
    let alerts = state.store.list_alerts(wanted, limit).await?;
    Ok(Json(AlertPage {
        alerts: alerts.iter().map(views::alert).collect(),
    }))
}

/// Acknowledges a firing alert.
///
/// It stays open (and is still sent to Alertmanager) until its condition clears; the
/// acknowledgement says someone is on it, and is audited.
#[utoipa::path(post, path = "/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "The acknowledged alert.", body = AlertView),
        (status = 404, description = "`not_found`: no alert with this id.", body = ErrorBody),
        (status = 409, description = "`conflict`: the alert is already acknowledged or \
            resolved.", body = ErrorBody)))]
async fn acknowledge_alert(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = state
        .engine
        .acknowledge_alert(&id, &auth.claims.sub)
        .await?;
    // Another pool's alert (labelled `pool`): that pool's book learns it too.
    for engine in state.pools.all() {
        if engine.pool() != hivesched_store::DEFAULT_POOL {
            engine.note_acknowledged(&id, &auth.claims.sub);
        }
    }
    let view = views::alert(&alert);
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "alert.acknowledge",
            target: &alert.id,
            before: serde_json::json!({ "state": AlertState::Firing.as_str() }),
            after: audit::json(&view),
            reason: &alert.summary,
        },
    )
    .await?;
    Ok(Json(view))
}
