//! One module per resource, each owning its router; [`api`] merges them into the whole API.
//! [`ui`] serves the dashboard beside it, outside the OpenAPI document.

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod cluster;
pub mod config;
pub mod controls;
pub mod decisions;
pub mod demand;
pub mod flags;
pub mod forecast;
pub mod health;
pub mod ofrep;
pub mod overrides;
pub mod savings;
pub mod stream;
pub mod tasks;
pub mod ui;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Prefix of every resource route.
pub const API_PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hive Scheduler API",
        description = "Decides which long-lived agents to sleep and wake. Every route under \
            /api/v1 needs `Authorization: Bearer <JWT>`; the scope of its `bearer` security \
            requirement is its minimum role (viewer < operator < admin). Errors are \
            `{\"code\", \"message\"}` JSON."
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the routes refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// Every route with its OpenAPI description, before state is attached.
pub fn api() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(agents::router())
        .merge(demand::router())
        .merge(decisions::router())
        .merge(tasks::router())
        .merge(overrides::router())
        .merge(config::router())
        .merge(controls::router())
        .merge(forecast::router())
        .merge(audit::router())
        .merge(alerts::router())
        .merge(savings::router())
        .merge(cluster::router())
        .merge(stream::router())
        .merge(flags::router())
        .merge(health::openapi_router());
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, v1)
        .merge(ofrep::router())
        .merge(health::router());
    crate::openapi::refine(router.get_openapi_mut());
    router
}

/// Each resource's constraints, written into the document from the constants its checks use
/// (see [`crate::openapi`]).
pub(crate) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    agents::declare(doc);
    alerts::declare(doc);
    audit::declare(doc);
    config::declare(doc);
    controls::declare(doc);
    decisions::declare(doc);
    demand::declare(doc);
    flags::declare(doc);
    ofrep::declare(doc);
    forecast::declare(doc);
    overrides::declare(doc);
    stream::declare(doc);
    tasks::declare(doc);
}

/// The OpenAPI document as pretty JSON, exactly as served and as committed in
/// `crates/server/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = api().split_for_parts();
    let mut json = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}
