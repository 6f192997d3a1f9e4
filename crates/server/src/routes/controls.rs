//! Fleet-wide controls: operator pauses of one direction, and emergency stop / resume, which
//! need the admin role and a one-time authorization code. Both are optionally time-limited and
//! stored as their own durable state together with their audit record; the engine loads them
//! before it acts after a restart, and the gate applies them to every action from every source.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use hivesched_engine::Engine;
use hivesched_policy::{EmergencyMode, EmergencyStop, Pause};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Admin, Auth, CODE_PURPOSE_EMERGENCY, Operator, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, check_non_blank, non_blank_pattern};
use crate::openapi::{object, property};
use crate::state::AppState;

/// The control routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_controls))
        .routes(routes!(set_pause, clear_pause))
        .routes(routes!(emergency_stop))
        .routes(routes!(emergency_resume))
}

/// What an emergency stop halts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyModeDto {
    /// No sleeps; wakes continue.
    FreezeSleeps,
    /// No sleeps, and wake every agent.
    WakeAll,
    /// No wakes; sleeps continue under the rails.
    PauseWakes,
    /// Nothing moves.
    FreezeAll,
}

impl From<EmergencyModeDto> for EmergencyMode {
    fn from(m: EmergencyModeDto) -> Self {
        match m {
            EmergencyModeDto::FreezeSleeps => EmergencyMode::FreezeSleeps,
            EmergencyModeDto::WakeAll => EmergencyMode::WakeAll,
            EmergencyModeDto::PauseWakes => EmergencyMode::PauseWakes,
            EmergencyModeDto::FreezeAll => EmergencyMode::FreezeAll,
        }
    }
}

impl From<EmergencyMode> for EmergencyModeDto {
    fn from(m: EmergencyMode) -> Self {
        match m {
            EmergencyMode::FreezeSleeps => EmergencyModeDto::FreezeSleeps,
            EmergencyMode::WakeAll => EmergencyModeDto::WakeAll,
            EmergencyMode::PauseWakes => EmergencyModeDto::PauseWakes,
            EmergencyMode::FreezeAll => EmergencyModeDto::FreezeAll,
        }
    }
}

/// Which direction an operator pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseDirection {
    /// No sleeps start.
    Sleeps,
    /// No wakes start.
    Wakes,
    /// Nothing starts.
    Both,
}

impl From<PauseDirection> for hivesched_policy::PauseDirection {
    fn from(d: PauseDirection) -> Self {
        match d {
            PauseDirection::Sleeps => hivesched_policy::PauseDirection::Sleeps,
            PauseDirection::Wakes => hivesched_policy::PauseDirection::Wakes,
            PauseDirection::Both => hivesched_policy::PauseDirection::Both,
        }
    }
}

impl From<hivesched_policy::PauseDirection> for PauseDirection {
    fn from(d: hivesched_policy::PauseDirection) -> Self {
        match d {
            hivesched_policy::PauseDirection::Sleeps => PauseDirection::Sleeps,
            hivesched_policy::PauseDirection::Wakes => PauseDirection::Wakes,
            hivesched_policy::PauseDirection::Both => PauseDirection::Both,
        }
    }
}

/// An emergency stop in force.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmergencyView {
    /// What it halts.
    pub mode: EmergencyModeDto,
    /// When it lifts by itself (`null`: until resumed).
    pub until: Option<DateTime<Utc>>,
}

/// A pause in force.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PauseView {
    /// What it holds.
    pub direction: PauseDirection,
    /// When it lifts by itself (`null`: until cleared).
    pub until: Option<DateTime<Utc>>,
}

/// The fleet-wide controls in force now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ControlsView {
    /// The emergency stop, if any.
    pub emergency: Option<EmergencyView>,
    /// The operator pause, if any.
    pub pause: Option<PauseView>,
}

/// An operator pause.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// Which direction to hold.
    pub direction: PauseDirection,
    /// When it lifts by itself (must be in the future); absent: until cleared.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// Lifting a pause.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearPauseBody {
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// An emergency stop request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyStopBody {
    /// A one-time code from `hivesched auth issue-code` (consumed by this request).
    pub code: String,
    /// What to halt.
    pub mode: EmergencyModeDto,
    /// When it lifts by itself (must be in the future); absent: until resumed.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// An emergency resume request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyResumeBody {
    /// A one-time code from `hivesched auth issue-code` (consumed by this request).
    pub code: String,
    /// Why (recorded in the audit log).
    pub reason: String,
}

fn controls(engine: &Engine) -> ControlsView {
    let c = engine.controls();
    ControlsView {
        emergency: c.emergency.map(|e| EmergencyView {
            mode: e.mode.into(),
            until: e.until.map(clock::to_api),
        }),
        pause: c.pause.map(|p| PauseView {
            direction: p.direction.into(),
            until: p.until.map(clock::to_api),
        }),
    }
}

/// The constraints of the control routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    for component in [
        "PauseBody",
        "ClearPauseBody",
        "EmergencyStopBody",
        "EmergencyResumeBody",
    ] {
        object(property(doc, component, "reason")).pattern = Some(non_blank_pattern());
    }
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    check_non_blank("reason", reason)
}

fn check_until(state: &AppState, until: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    if until.is_some_and(|u| clock::from_api(u) <= state.now()) {
        return Err(ApiError::invalid_value("until", "must be in the future"));
    }
    Ok(())
}

/// Uses up `code` for an emergency control, or fails with 403 `invalid_code`.
async fn consume(state: &AppState, code: &str, actor: &str) -> Result<(), ApiError> {
    let used = state
        .store
        .consume_code(code.trim(), CODE_PURPOSE_EMERGENCY, actor, clock::now())
        .await?;
    if used {
        Ok(())
    } else {
        Err(ApiError::InvalidCode)
    }
}

/// The emergency stop and pause in force.
#[utoipa::path(get, path = "/controls", tag = "controls",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The controls in force.", body = ControlsView)))]
async fn get_controls(_auth: Auth<Viewer>, State(state): State<AppState>) -> Json<ControlsView> {
    Json(controls(&state.engine))
}

/// Pause sleeps, wakes or both (audited as `pause.set`).
#[utoipa::path(put, path = "/controls/pause", tag = "controls", request_body = PauseBody,
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Paused; the controls now in force.",
            body = ControlsView),
        (status = 422, description = "`invalid_value`: `reason` is blank or `until` is not in \
            the future.", body = ErrorBody)))]
async fn set_pause(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PauseBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    check_until(&state, body.until)?;
    let before = controls(&state.engine);
    let pause = Pause {
        direction: body.direction.into(),
        until: body.until.map(clock::from_api),
    };
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "pause.set",
            target: "fleet",
            before: audit::json(&before.pause),
            after: audit::json(&pause),
            reason: &body.reason,
        },
    );
    state.engine.set_pause(Some(pause), &record).await?;
    state
        .pools
        .controls_changed(Some(hivesched_store::DEFAULT_POOL))
        .await?;
    Ok(Json(controls(&state.engine)))
}

/// Lift the operator pause (audited as `pause.clear`).
#[utoipa::path(delete, path = "/controls/pause", tag = "controls", request_body = ClearPauseBody,
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Lifted; the controls now in force.",
            body = ControlsView),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn clear_pause(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ClearPauseBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    let before = controls(&state.engine);
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "pause.clear",
            target: "fleet",
            before: audit::json(&before.pause),
            after: serde_json::Value::Null,
            reason: &body.reason,
        },
    );
    state.engine.set_pause(None, &record).await?;
    state
        .pools
        .controls_changed(Some(hivesched_store::DEFAULT_POOL))
        .await?;
    Ok(Json(controls(&state.engine)))
}

/// Stop automation (admin and a one-time code; audited as `emergency.stop`).
#[utoipa::path(post, path = "/emergency/stop", tag = "controls", request_body = EmergencyStopBody,
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Stopped; the controls now in force.",
            body = ControlsView),
        (status = 403, description = "`invalid_code`: the one-time code is unknown, expired or \
            used.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank or `until` is not in \
            the future.", body = ErrorBody)))]
async fn emergency_stop(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmergencyStopBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    check_until(&state, body.until)?;
    consume(&state, &body.code, &auth.claims.sub).await?;
    let before = controls(&state.engine);
    let stop = EmergencyStop {
        mode: body.mode.into(),
        until: body.until.map(clock::from_api),
    };
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "emergency.stop",
            target: "fleet",
            before: audit::json(&before.emergency),
            after: audit::json(&stop),
            reason: &body.reason,
        },
    );
    tracing::warn!(actor = %auth.claims.sub, mode = stop.mode.as_str(), "emergency stop");
    state.engine.set_emergency(Some(stop), &record).await?;
    state
        .pools
        .controls_changed(Some(hivesched_store::DEFAULT_POOL))
        .await?;
    Ok(Json(controls(&state.engine)))
}

/// Resume automation (admin and a one-time code; audited as `emergency.resume`).
#[utoipa::path(post, path = "/emergency/resume", tag = "controls", request_body = EmergencyResumeBody,
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Resumed; the controls now in force.",
            body = ControlsView),
        (status = 403, description = "`invalid_code`: the one-time code is unknown, expired or \
            used.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn emergency_resume(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmergencyResumeBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    consume(&state, &body.code, &auth.claims.sub).await?;
    let before = controls(&state.engine);
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "emergency.resume",
            target: "fleet",
            before: audit::json(&before.emergency),
            after: serde_json::Value::Null,
            reason: &body.reason,
        },
    );
    tracing::warn!(actor = %auth.claims.sub, "emergency resumed");
    state.engine.set_emergency(None, &record).await?;
    state
        .pools
        .controls_changed(Some(hivesched_store::DEFAULT_POOL))
        .await?;
    Ok(Json(controls(&state.engine)))
}
