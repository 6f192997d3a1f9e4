//! Demand: the observed load the scheduler plans against, taken in batches and read back (the
//! dashboard draws it beside the forecast).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hivesched_store::DemandSample;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Operator, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::{array, item_count, object, parameter, property, range};
use crate::pools::{declare_pool, pool_or_default};
use crate::routes::agents::Accepted;
use crate::state::AppState;

/// Largest demand batch accepted in one request.
pub const MAX_DEMAND_BATCH: usize = 10_000;

/// Smallest demand value: demand is work arriving, never negative.
pub const MIN_DEMAND: f64 = 0.0;

/// The constraints of the demand route beyond its types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    let samples = array(property(doc, "DemandBatch", "samples"));
    item_count(samples, 1, MAX_DEMAND_BATCH);
    // JSON has no NaN or infinity, so "finite" needs no declaring.
    object(property(doc, "DemandPoint", "value")).minimum = Some(MIN_DEMAND.into());
    let steps = parameter(doc, axum::http::Method::GET, "/api/v1/demand", "steps");
    range(steps, 1, MAX_HISTORY_STEPS);
    steps.default = Some(DEFAULT_HISTORY_STEPS.into());
    declare_pool(parameter(
        doc,
        axum::http::Method::GET,
        "/api/v1/demand",
        "pool",
    ));
    declare_pool(object(property(doc, "DemandBatch", "pool")));
}

/// Longest history served, in demand steps (two weeks of 10-minute steps, as the forecast's
/// longest horizon).
pub const MAX_HISTORY_STEPS: u32 = 2016;

/// History served when none is asked for, in demand steps.
pub const DEFAULT_HISTORY_STEPS: u32 = 96;

/// Most samples one answer holds: samples may come finer than `demand_step`, and an answer
/// must stay small whatever a feed sends.
pub const MAX_HISTORY_SAMPLES: usize = 10_000;

/// The demand routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_demand, demand_history))
}

/// One observation of demand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandPoint {
    /// When it was observed: not before 1970-01-01T00:00:00Z, at most 5 minutes ahead of the
    /// server's clock.
    pub at: DateTime<Utc>,
    /// Work arriving in the interval ending at `at`, in the unit of `capacity` (not negative).
    pub value: f64,
}

/// A batch of demand observations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandBatch {
    /// The samples (how many: `minItems`, `maxItems`), in any order.
    pub samples: Vec<DemandPoint>,
    /// The agent pool whose demand this is (default `default`): each pool is planned on its
    /// own series.
    #[serde(default)]
    pub pool: Option<String>,
}

/// Record demand samples.
#[utoipa::path(post, path = "/demand", tag = "demand", request_body = DemandBatch,
    security(("bearer" = ["operator"])),
    responses((status = 202, description = "Stored.", body = Accepted),
        (status = 422, description = "`invalid_value`: `samples` is empty or too long, a \
            sample's `at` or `value` breaks its rule, or `pool` does; `field` names it.",
            body = ErrorBody)))]
async fn ingest_demand(
    _auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DemandBatch>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let n = body.samples.len();
    if n == 0 || n > MAX_DEMAND_BATCH {
        return Err(ApiError::invalid_value(
            "samples",
            format!("must hold 1 to {MAX_DEMAND_BATCH} entries, got {n}"),
        ));
    }
    let pool = pool_or_default("pool", body.pool.as_deref())?;
    let now = state.now();
    let samples = body
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // The same window as heartbeats. A sample dated far ahead would be stored as the
            // newest demand (`GET /forecast` dates its points from it) though no tick reaches it.
            let at = clock::reported_time(&format!("samples[{i}].at"), s.at, now)?;
            if s.value.is_finite() && s.value >= MIN_DEMAND {
                Ok(DemandSample { at, value: s.value })
            } else {
                Err(ApiError::invalid_value(
                    format!("samples[{i}].value"),
                    format!("must be a finite number >= {MIN_DEMAND}"),
                ))
            }
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state.store.in_pool(&pool).insert_demand(&samples).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })))
}

/// How much demand history to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DemandQuery {
    /// Steps of `demand_step` before the newest sample.
    pub steps: Option<u32>,
    /// The agent pool (default `default`).
    pub pool: Option<String>,
}

/// One stored observation of demand.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DemandSampleView {
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// Work arriving in the interval ending at `at`.
    pub value: f64,
}

/// Observed demand, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DemandHistory {
    /// Seconds per step the forecaster works on.
    pub step_s: u64,
    /// The samples from `steps` steps before the newest one up to it, oldest first (at most
    /// the newest 10 000).
    pub samples: Vec<DemandSampleView>,
}

/// Observed demand up to the newest sample (the forecast starts after it).
#[utoipa::path(get, path = "/demand", tag = "demand", params(DemandQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Observed demand, oldest first.", body = DemandHistory),
        (status = 422, description = "`invalid_value`: `steps` or `pool` is out of range.",
            body = ErrorBody)))]
async fn demand_history(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DemandQuery>,
) -> Result<Json<DemandHistory>, ApiError> {
    let steps = q.steps.unwrap_or(DEFAULT_HISTORY_STEPS);
    if !(1..=MAX_HISTORY_STEPS).contains(&steps) {
        return Err(ApiError::invalid_value(
            "steps",
            format!("must be between 1 and {MAX_HISTORY_STEPS}"),
        ));
    }
    let pool = pool_or_default("pool", q.pool.as_deref())?;
    let store = state.store.in_pool(&pool);
    let step = state.engine.config().demand_step;
    let mut samples = match store.latest_demand().await? {
        Some(newest) => {
            let to = newest.at.plus(std::time::Duration::from_millis(1));
            store
                .demand_range(newest.at.minus(step.saturating_mul(steps)), to)
                .await?
        }
        None => Vec::new(),
    };
    let excess = samples.len().saturating_sub(MAX_HISTORY_SAMPLES);
    samples.drain(..excess);
    Ok(Json(DemandHistory {
        step_s: step.as_secs(),
        samples: samples
            .into_iter()
            .map(|s| DemandSampleView {
                at: clock::to_api(s.at),
                value: s.value,
            })
            .collect(),
    }))
}
