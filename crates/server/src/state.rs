//! What every handler can reach: the store, the engine, the token keys and the metrics.

use std::sync::Arc;

use hivesched_coord::Coordinator;
use hivesched_engine::Engine;
use hivesched_policy::Time;
use hivesched_store::Store;
use prometheus_client::registry::Registry;

use crate::auth::TokenKeys;
use crate::heartbeats::HeartbeatWriter;
use crate::metrics::HttpMetrics;
use crate::pools::Pools;
use crate::rollouts::FlagMetrics;
use crate::shutdown::Shutdown;
use crate::stream::{StreamHub, Tickets};

/// Shared state of the server; cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Commits single heartbeats in groups (see [`crate::heartbeats`]).
    pub heartbeats: HeartbeatWriter,
    /// The default pool's automation engine: ticks, controls, forecasts, bulk operations
    /// (every pool's, including this one: [`AppState::pools`]).
    pub engine: Engine,
    /// Verifies bearer tokens.
    pub keys: Arc<TokenKeys>,
    /// Every metric family, the engine's and the server's, for `/metrics`.
    pub registry: Arc<Registry>,
    /// The server's own request metrics.
    pub http_metrics: HttpMetrics,
    /// The OpenAPI document, served at `/api/v1/openapi.json`.
    pub openapi: Arc<String>,
    /// Fires when the server shuts down: long-lived connections subscribe and end.
    pub shutdown: Shutdown,
    /// The live event stream's hub.
    pub stream: StreamHub,
    /// One-use tickets that open the stream (browsers).
    pub tickets: Arc<Tickets>,
    /// `hivesched_flag_percent` and `hivesched_flag_rollbacks_total`.
    pub flag_metrics: FlagMetrics,
    /// Leader election among the replicas, one lease per pool (alone: in process).
    pub cluster: Arc<dyn Coordinator>,
    /// One engine per agent pool.
    pub pools: Pools,
}

impl AppState {
    /// Now on the engine's clock, the time base of heartbeats, demand and overrides (the demo
    /// runs it faster than the wall clock). Audit records and codes use the wall clock.
    pub fn now(&self) -> Time {
        self.engine.now()
    }
}
