//! Savings: agent-hours billed against keeping every agent awake, over the last hour, day and
//! week; and what the decisions planned, which in shadow mode is what they would have saved.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::error::ApiError;
use crate::state::AppState;

/// The windows reported, with their names.
pub const WINDOWS: [(&str, Duration); 3] = [
    ("1h", Duration::from_secs(3600)),
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
];

/// The savings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_savings))
}

/// Savings over one window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavingsWindow {
    /// `1h`, `24h` or `7d`.
    pub window: String,
    /// Agent-hours billed (every state but asleep and error bills).
    pub agent_hours: f64,
    /// Agent-hours the decisions' targets would have billed.
    pub planned_agent_hours: f64,
    /// Agent-hours with every agent awake.
    pub always_on_agent_hours: f64,
    /// Share of always-on saved, percent; `null` before any decision in the window.
    pub savings_pct: Option<f64>,
    /// Share the decisions planned to save, percent (shadow mode: what it would have saved).
    pub planned_savings_pct: Option<f64>,
    /// Seconds of the window the decisions cover (less than the window after a fresh start).
    pub covered_s: f64,
}

/// Savings over the last hour, day and week.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavingsReport {
    /// Whether the scheduler is in shadow mode (the fleet does not move; read the planned
    /// figures).
    pub shadow: bool,
    /// The savings target the `savings_below_target` alert holds it to, percent.
    pub target_pct: f64,
    /// Last hour, day and week.
    pub windows: Vec<SavingsWindow>,
}

/// Savings against always-on.
#[utoipa::path(get, path = "/savings", tag = "savings",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Savings over the last hour, day and week.",
        body = SavingsReport)))]
async fn get_savings(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
) -> Result<Json<SavingsReport>, ApiError> {
    let mut windows = Vec::with_capacity(WINDOWS.len());
    for (name, window) in WINDOWS {
        let s = state.engine.savings(window).await?;
        windows.push(SavingsWindow {
            window: name.to_owned(),
            agent_hours: s.agent_hours,
            planned_agent_hours: s.planned_agent_hours,
            always_on_agent_hours: s.always_on_agent_hours,
            savings_pct: s.savings_pct,
            planned_savings_pct: s.planned_savings_pct,
            covered_s: s.covered_s,
        });
    }
    let config = state.engine.config();
    Ok(Json(SavingsReport {
        shadow: config.scheduler.shadow,
        target_pct: config.alerts.savings_target_pct,
        windows,
    }))
}
