//! Demand ingestion: the observed load the scheduler plans against, in batches.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hivesched_store::DemandSample;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Operator};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::openapi::{array, item_count, object, property};
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
}

/// The demand routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_demand))
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
}

/// Record demand samples.
#[utoipa::path(post, path = "/demand", tag = "demand", request_body = DemandBatch,
    security(("bearer" = ["operator"])),
    responses((status = 202, description = "Stored.", body = Accepted),
        (status = 422, description = "`invalid_value`: `samples` is empty or too long, or a \
            sample's `at` or `value` breaks its rule; `field` names it.", body = ErrorBody)))]
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
    state.store.insert_demand(&samples).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })))
}
