//! The demand forecast the planner provisions on, with its upper quantile, and the model
//! registry: every model the planner fitted, with its parameters and measured accuracy.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, PageLimit};
use crate::openapi::{parameter, range};
use crate::pools::{declare_pool, pool_or_default};
use crate::state::AppState;

/// Longest horizon served, in demand steps.
pub const MAX_HORIZON: usize = 2016;

/// Horizon when none is asked for, in demand steps.
pub const DEFAULT_HORIZON: usize = 60;

/// Page size of the model registry list.
pub const MODELS_PAGE: PageLimit = PageLimit::new(10, 100);

/// The constraints of the forecast routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    let horizon = parameter(doc, Method::GET, "/api/v1/forecast", "horizon");
    range(horizon, 1, MAX_HORIZON);
    horizon.default = Some(DEFAULT_HORIZON.into());
    MODELS_PAGE.declare(parameter(
        doc,
        Method::GET,
        "/api/v1/forecast/models",
        "limit",
    ));
    for path in ["/api/v1/forecast", "/api/v1/forecast/models"] {
        declare_pool(parameter(doc, Method::GET, path, "pool"));
    }
}

/// The forecast routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_forecast))
        .routes(routes!(list_models))
}

/// How far to forecast.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// Steps of `demand_step` after the newest sample.
    pub horizon: Option<usize>,
    /// The agent pool (default `default`).
    pub pool: Option<String>,
}

/// One forecast step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForecastPoint {
    /// Step number, from 1.
    pub step: usize,
    /// Approximate time of the step (newest sample time, or now, plus `step` × `step_s`).
    pub at: DateTime<Utc>,
    /// Point forecast.
    pub mean: f64,
    /// Upper bound of the prediction interval the planner provisions on.
    pub upper: f64,
}

/// A forecast.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForecastView {
    /// Model that produced it.
    pub model: String,
    /// Seconds per step.
    pub step_s: u64,
    /// The steps.
    pub points: Vec<ForecastPoint>,
}

/// Forecast demand with its upper interval bound.
#[utoipa::path(get, path = "/forecast", tag = "forecast", params(ForecastQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The forecast.", body = ForecastView),
        (status = 404, description = "`not_found`: no such pool.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `horizon` or `pool` is out of range.",
            body = ErrorBody),
        (status = 503, description = "`unavailable`: the forecaster cannot answer now (e.g. \
            not enough demand history yet).", body = ErrorBody)))]
async fn get_forecast(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> Result<Json<ForecastView>, ApiError> {
    let horizon = q.horizon.unwrap_or(DEFAULT_HORIZON);
    if !(1..=MAX_HORIZON).contains(&horizon) {
        return Err(ApiError::invalid_value(
            "horizon",
            format!("must be between 1 and {MAX_HORIZON}"),
        ));
    }
    let pool = pool_or_default("pool", q.pool.as_deref())?;
    let engine = state.pools.engine(&pool)?;
    let step = engine.config().demand_step;
    let origin = match engine.store().latest_demand().await? {
        Some(s) => s.at,
        None => state.now(),
    };
    let f = engine.forecast(horizon).await?;
    let points = f
        .mean
        .iter()
        .zip(&f.upper)
        .take(horizon)
        .enumerate()
        .map(|(i, (&mean, &upper))| ForecastPoint {
            step: i + 1,
            at: clock::to_api(origin.plus(step * (i as u32 + 1))),
            mean,
            upper,
        })
        .collect();
    Ok(Json(ForecastView {
        model: f.model,
        step_s: step.as_secs(),
        points,
    }))
}

/// Which registry records to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Most records, newest first.
    pub limit: Option<u32>,
    /// Only records of this model, e.g. `Ensemble`.
    pub model: Option<String>,
    /// The agent pool (default `default`).
    pub pool: Option<String>,
}

/// One fitted model from the registry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelRecordView {
    /// Registry id.
    pub id: i64,
    /// Newest demand sample the model was fitted on.
    pub fitted_at: DateTime<Utc>,
    /// Model name, e.g. `Ensemble`.
    pub model: String,
    /// Fitted structure and parameters (for the ensemble: members with weights, seasons,
    /// history length, fit time, cold start, repairs made to the history).
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// Measured accuracy (for the ensemble: every candidate's backtest error relative to mean
    /// demand, best first).
    #[schema(value_type = Object)]
    pub accuracy: serde_json::Value,
}

/// Registry records, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelRecordsView {
    /// The records.
    pub models: Vec<ModelRecordView>,
}

/// The models the planner fitted (one record per refit), newest first.
#[utoipa::path(get, path = "/forecast/models", tag = "forecast", params(ModelsQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Registry records, newest first.",
            body = ModelRecordsView),
        (status = 422, description = "`invalid_value`: `limit` or `pool` is out of range.",
            body = ErrorBody)))]
async fn list_models(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ModelsQuery>,
) -> Result<Json<ModelRecordsView>, ApiError> {
    let limit = MODELS_PAGE.resolve(q.limit)?;
    let pool = pool_or_default("pool", q.pool.as_deref())?;
    let records = state
        .store
        .in_pool(&pool)
        .list_model_records(q.model.as_deref(), limit)
        .await?;
    Ok(Json(ModelRecordsView {
        models: records
            .into_iter()
            .map(|r| ModelRecordView {
                id: r.id,
                fitted_at: clock::to_api(r.model.created_at),
                model: r.model.model,
                parameters: r.model.parameters,
                accuracy: r.model.accuracy,
            })
            .collect(),
    }))
}
