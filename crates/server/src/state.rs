//! What every handler can reach: the store, the token keys, the metrics and the limits.

use std::sync::Arc;

use hivesched_store::Store;
use prometheus_client::registry::Registry;

use crate::auth::TokenKeys;
use crate::metrics::HttpMetrics;

/// Shared state of the server; cheap to clone (everything inside is shared).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Verifies bearer tokens.
    pub keys: Arc<TokenKeys>,
    /// Every metric family, the engine's and the server's, for `/metrics`.
    pub registry: Arc<Registry>,
    /// The server's own request metrics.
    pub http_metrics: HttpMetrics,
    /// The OpenAPI document, served at `/api/v1/openapi.json`.
    pub openapi: Arc<String>,
}
