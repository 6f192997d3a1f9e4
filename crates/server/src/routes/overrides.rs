//! Per-agent overrides: pin awake or asleep, do-not-disrupt, optionally until a time.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use hivesched_policy::AgentId;
use hivesched_store::NewAgentEvent;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Auth, Operator};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, check_non_blank, non_blank_pattern};
use crate::openapi::{object, parameter, property};
use crate::routes::agents::{AgentView, PinDto};
use crate::state::AppState;

/// Audit reason of a cleared override when the request gives none.
const DEFAULT_CLEAR_REASON: &str = "cleared via API";

/// The constraints of the override routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    object(property(doc, "OverrideBody", "reason")).pattern = Some(non_blank_pattern());
    parameter(
        doc,
        Method::DELETE,
        "/api/v1/agents/{id}/override",
        "reason",
    )
    .pattern = Some(non_blank_pattern());
}

/// The override routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_override, clear_override))
}

/// An agent's override; replaces whatever override it had.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    /// Pin awake or asleep; `null` or absent for no pin.
    #[serde(default)]
    pub pin: Option<PinDto>,
    /// Never put the agent to sleep (default false).
    #[serde(default)]
    pub do_not_disrupt: bool,
    /// When the override lapses by itself; absent means until cleared. Must be in the future.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// Why an override is cleared.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClearQuery {
    /// Why (recorded in the audit log; default "cleared via API").
    pub reason: Option<String>,
}

async fn apply(
    state: &AppState,
    actor: &str,
    id: String,
    body: OverrideBody,
    action: &str,
) -> Result<AgentView, ApiError> {
    let now = state.now();
    let until = body.until.map(clock::from_api);
    if until.is_some_and(|u| u <= now) {
        return Err(ApiError::invalid_value("until", "must be in the future"));
    }
    check_non_blank("reason", &body.reason)?;
    let agent = AgentId(id);
    let before = AgentView::from(&state.store.get_agent(&agent).await?);
    let until = if body.pin.is_some() || body.do_not_disrupt {
        until
    } else {
        None
    };
    let record = state
        .store
        .set_agent_override(&agent, body.pin.map(Into::into), body.do_not_disrupt, until)
        .await?;
    let after = AgentView::from(&record);
    state
        .store
        .record_agent_events(&[NewAgentEvent {
            at: now,
            agent: agent.clone(),
            kind: action.replace('.', "_"),
            detail: serde_json::json!({
                "by": actor,
                "pin": after.pin,
                "do_not_disrupt": after.do_not_disrupt,
                "until": after.override_until,
            }),
        }])
        .await?;
    audit::record(
        &state.store,
        actor,
        Change {
            action,
            target: &agent.0,
            before: audit::json(&before),
            after: audit::json(&after),
            reason: &body.reason,
        },
    )
    .await?;
    Ok(after)
}

/// Set an agent's override (audited as `agent.override`).
#[utoipa::path(put, path = "/agents/{id}/override", tag = "overrides", request_body = OverrideBody,
    params(("id" = String, Path, description = "Agent id")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Set; the agent as it is now.", body = AgentView),
        (status = 404, description = "`not_found`: no agent with this id.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank or `until` is not in \
            the future.", body = ErrorBody)))]
async fn set_override(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OverrideBody>,
) -> Result<Json<AgentView>, ApiError> {
    apply(&state, &auth.claims.sub, id, body, "agent.override")
        .await
        .map(Json)
}

/// Remove an agent's pin and do-not-disrupt flag (audited as `agent.override_cleared`).
#[utoipa::path(delete, path = "/agents/{id}/override", tag = "overrides",
    params(("id" = String, Path, description = "Agent id"), ClearQuery),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Cleared; the agent as it is now.", body = AgentView),
        (status = 404, description = "`not_found`: no agent with this id.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn clear_override(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ClearQuery>,
) -> Result<Json<AgentView>, ApiError> {
    let body = OverrideBody {
        pin: None,
        do_not_disrupt: false,
        until: None,
        reason: q.reason.unwrap_or_else(|| DEFAULT_CLEAR_REASON.into()),
    };
    apply(&state, &auth.claims.sub, id, body, "agent.override_cleared")
        .await
        .map(Json)
}
