//! Fleet-wide controls: operator pauses of one direction, and emergency stop / resume, which
//! need the admin role and a one-time authorization code. Both are optionally time-limited,
//! audited, and restored from the audit log when the service restarts.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use hivesched_engine::Engine;
use hivesched_policy::{EmergencyMode, EmergencyStop};
use hivesched_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Admin, Auth, CODE_PURPOSE_EMERGENCY, Operator, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Audit actions that set or lift the emergency stop, and the pause.
const EMERGENCY_ACTIONS: [&str; 2] = ["emergency.stop", "emergency.resume"];
const PAUSE_ACTIONS: [&str; 2] = ["pause.set", "pause.clear"];

/// Audit records scanned at startup to restore the controls.
const RESTORE_SCAN_LIMIT: usize = 100_000;

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

impl PauseDirection {
    fn mode(self) -> EmergencyMode {
        match self {
            PauseDirection::Sleeps => EmergencyMode::FreezeSleeps,
            PauseDirection::Wakes => EmergencyMode::PauseWakes,
            PauseDirection::Both => EmergencyMode::FreezeAll,
        }
    }

    fn from_mode(mode: EmergencyMode) -> Self {
        match mode {
            EmergencyMode::PauseWakes => PauseDirection::Wakes,
            EmergencyMode::FreezeAll => PauseDirection::Both,
            EmergencyMode::FreezeSleeps | EmergencyMode::WakeAll => PauseDirection::Sleeps,
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
    ControlsView {
        emergency: engine.emergency().map(|e| EmergencyView {
            mode: e.mode.into(),
            until: e.until.map(clock::to_api),
        }),
        pause: engine.pause().map(|p| PauseView {
            direction: PauseDirection::from_mode(p.mode),
            until: p.until.map(clock::to_api),
        }),
    }
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.trim().is_empty() {
        return Err(ApiError::invalid_value("reason", "must not be empty"));
    }
    Ok(())
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
    responses((status = 200, body = ControlsView)))]
async fn get_controls(_auth: Auth<Viewer>, State(state): State<AppState>) -> Json<ControlsView> {
    Json(controls(&state.engine))
}

/// Pause sleeps, wakes or both (audited as `pause.set`).
#[utoipa::path(put, path = "/controls/pause", tag = "controls", request_body = PauseBody,
    security(("bearer" = ["operator"])),
    responses((status = 200, body = ControlsView), (status = 422, body = ErrorBody)))]
async fn set_pause(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PauseBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    check_until(&state, body.until)?;
    let before = controls(&state.engine);
    let pause = EmergencyStop {
        mode: body.direction.mode(),
        until: body.until.map(clock::from_api),
    };
    state.engine.set_pause(Some(pause.clone()));
    let after = controls(&state.engine);
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "pause.set",
            target: "fleet",
            before: audit::json(&before.pause),
            after: audit::json(&pause),
            reason: &body.reason,
        },
    )
    .await?;
    Ok(Json(after))
}

/// Lift the operator pause (audited as `pause.clear`).
#[utoipa::path(delete, path = "/controls/pause", tag = "controls", request_body = ClearPauseBody,
    security(("bearer" = ["operator"])),
    responses((status = 200, body = ControlsView), (status = 422, body = ErrorBody)))]
async fn clear_pause(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ClearPauseBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    let before = controls(&state.engine);
    state.engine.set_pause(None);
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "pause.clear",
            target: "fleet",
            before: audit::json(&before.pause),
            after: serde_json::Value::Null,
            reason: &body.reason,
        },
    )
    .await?;
    Ok(Json(controls(&state.engine)))
}

/// Stop automation (admin and a one-time code; audited as `emergency.stop`).
#[utoipa::path(post, path = "/emergency/stop", tag = "controls", request_body = EmergencyStopBody,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ControlsView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
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
    state.engine.set_emergency(Some(stop.clone()));
    tracing::warn!(actor = %auth.claims.sub, mode = ?stop.mode, "emergency stop");
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "emergency.stop",
            target: "fleet",
            before: audit::json(&before.emergency),
            after: audit::json(&stop),
            reason: &body.reason,
        },
    )
    .await?;
    Ok(Json(controls(&state.engine)))
}

/// Resume automation (admin and a one-time code; audited as `emergency.resume`).
#[utoipa::path(post, path = "/emergency/resume", tag = "controls", request_body = EmergencyResumeBody,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ControlsView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn emergency_resume(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmergencyResumeBody>,
) -> Result<Json<ControlsView>, ApiError> {
    check_reason(&body.reason)?;
    consume(&state, &body.code, &auth.claims.sub).await?;
    let before = controls(&state.engine);
    state.engine.set_emergency(None);
    tracing::warn!(actor = %auth.claims.sub, "emergency resumed");
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "emergency.resume",
            target: "fleet",
            before: audit::json(&before.emergency),
            after: serde_json::Value::Null,
            reason: &body.reason,
        },
    )
    .await?;
    Ok(Json(controls(&state.engine)))
}

/// Puts back the emergency stop and pause that were in force when the service stopped, from
/// the newest matching audit records (an expired one lapses by itself).
pub async fn restore(store: &Store, engine: &Engine) -> Result<(), ApiError> {
    let mut emergency: Option<Option<EmergencyStop>> = None;
    let mut pause: Option<Option<EmergencyStop>> = None;
    let mut before = None;
    let mut scanned = 0;
    while (emergency.is_none() || pause.is_none()) && scanned < RESTORE_SCAN_LIMIT {
        let page = store.list_audit(before, 500).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        scanned += page.len();
        for r in &page {
            let action = r.record.action.as_str();
            let slot = if EMERGENCY_ACTIONS.contains(&action) {
                &mut emergency
            } else if PAUSE_ACTIONS.contains(&action) {
                &mut pause
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(serde_json::from_value(r.record.after.clone()).ok());
            }
        }
    }
    if let Some(Some(stop)) = emergency {
        tracing::warn!(mode = ?stop.mode, "emergency stop restored from the audit log");
        engine.set_emergency(Some(stop));
    }
    if let Some(Some(p)) = pause {
        tracing::info!(mode = ?p.mode, "operator pause restored from the audit log");
        engine.set_pause(Some(p));
    }
    Ok(())
}
