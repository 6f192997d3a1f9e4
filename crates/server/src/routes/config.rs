//! Runtime configuration: read the current version, or validate and store a new one.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Admin, Auth, Viewer};
use crate::clock;
use crate::config::RuntimeSettings;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, check_non_blank, non_blank_pattern};
use crate::openapi::{object, property, range};
use crate::state::AppState;

/// The configuration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_config, update_config))
}

/// One stored configuration version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfigView {
    /// Version number; pass it as `base_version` to update.
    pub version: i64,
    /// The settings.
    pub settings: RuntimeSettings,
    /// Who saved it.
    pub author: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A new configuration version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    /// The version this edit is based on; a newer stored version makes the update fail with 409.
    pub base_version: i64,
    /// The complete new settings.
    pub settings: RuntimeSettings,
    /// Why (recorded with the version and in the audit log).
    pub reason: String,
}

/// The version numbers an update may be based on: versions count from 1, and the version an
/// update stores (`base_version + 1`) must be a number too.
pub const BASE_VERSIONS: std::ops::RangeInclusive<i64> = 1..=i64::MAX - 1;

/// The constraints of the configuration routes beyond their types (see [`crate::openapi`],
/// which also builds the settings' schema from their range tables).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    range(
        object(property(doc, "ConfigUpdate", "base_version")),
        *BASE_VERSIONS.start(),
        *BASE_VERSIONS.end(),
    );
    object(property(doc, "ConfigUpdate", "reason")).pattern = Some(non_blank_pattern());
}

async fn current(state: &AppState) -> Result<ConfigView, ApiError> {
    let v = state
        .store
        .current_config::<RuntimeSettings>()
        .await?
        .ok_or_else(|| ApiError::Internal("no configuration stored".into()))?;
    Ok(ConfigView {
        version: v.version,
        settings: v.config,
        author: v.author,
        reason: v.reason,
        created_at: clock::to_api(v.created_at),
    })
}

/// The configuration in force.
#[utoipa::path(get, path = "/config", tag = "config",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The newest stored version.", body = ConfigView)))]
async fn get_config(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
) -> Result<Json<ConfigView>, ApiError> {
    current(&state).await.map(Json)
}

/// Validate and store new settings as the next version, and apply them to the engine
/// (audited as `config.update`). Scheduler settings apply from the next tick; a changed
/// `tick_interval` restarts the tick timer at once.
#[utoipa::path(put, path = "/config", tag = "config", request_body = ConfigUpdate,
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Stored and applied; the new version.",
            body = ConfigView),
        (status = 409, description = "`conflict`: `base_version` is not the newest version.",
            body = ErrorBody),
        (status = 422, description = "`invalid_value`: a setting is out of range, or \
            `base_version` or `reason` breaks its rule; `field` names it \
            (`settings.scheduler.rails.min_awake`).",
            body = ErrorBody)))]
async fn update_config(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfigUpdate>,
) -> Result<Json<ConfigView>, ApiError> {
    body.settings.validate().map_err(|e| match e {
        ApiError::InvalidValue { field, message } => {
            ApiError::invalid_value(format!("settings.{field}"), message)
        }
        other => other,
    })?;
    // Every pool's settings over the new ones must hold too (an error names the pool's key).
    state.pools.check(&body.settings)?;
    check_non_blank("reason", &body.reason)?;
    if !BASE_VERSIONS.contains(&body.base_version) {
        return Err(ApiError::invalid_value(
            "base_version",
            format!(
                "must be between {} and {}",
                BASE_VERSIONS.start(),
                BASE_VERSIONS.end()
            ),
        ));
    }
    let before = current(&state).await?;
    state
        .store
        .save_config(
            body.base_version,
            &body.settings,
            &auth.claims.sub,
            &body.reason,
            clock::now(),
        )
        .await?;
    // Stored first (the compare-and-set decides between concurrent edits), then applied; the
    // settings passed the same validation the engine runs.
    state.pools.update_settings(&body.settings)?;
    let record = audit::new_record(
        &auth.claims.sub,
        Change {
            action: "config.update",
            target: "config",
            before: audit::json(&before.settings),
            after: audit::json(&body.settings),
            reason: &body.reason,
        },
    );
    state.store.append_audit(&record).await?;
    state.engine.publish_control(&record);
    current(&state).await.map(Json)
}
