//! Liveness, readiness, Prometheus metrics and the OpenAPI document: unauthenticated, so probes
//! and scrapers need no token.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use hivesched_engine::TickHealth;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The health routes, mounted at the root.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The OpenAPI route, mounted under `/api/v1`.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi))
}

/// A probe's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// `ok` when healthy.
    pub status: String,
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Up.", body = Status)))]
async fn healthz() -> axum::Json<Status> {
    axum::Json(Status {
        status: "ok".into(),
    })
}

/// The database answers and scheduling ticks are succeeding (503 `database_unavailable` or
/// `ticks_stalled` otherwise); load balancers should route only to ready instances.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready.", body = Status),
        (status = 503, description = "`database_unavailable`: the database does not answer; \
            `ticks_stalled`: no scheduling tick has succeeded for three tick intervals.",
            body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Status>, ApiError> {
    state.store.ping().await?;
    if let TickHealth::Stalled(since) = state.pools.tick_health() {
        return Err(ApiError::TicksStalled(since.as_secs()));
    }
    Ok(axum::Json(Status {
        status: "ok".into(),
    }))
}

/// Every metric in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = state
        .pools
        .encode_metrics(&state.registry)
        .map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}
