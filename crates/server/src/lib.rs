//! The HTTP API of Hive Scheduler: a [`Server`] that builds the state, merges each resource's
//! router, applies the layers and serves until its shutdown signal fires.
//!
//! - [`config`]: the TOML file + `HIVE_*` environment configuration.
//! - [`auth`]: JWT roles per route and one-time authorization codes.
//! - [`routes`]: one module per resource, each owning its router and OpenAPI description.
//! - [`error`]: the one error type and its JSON rendering.
//! - [`audit`]: a hash-chained audit record for every change.
//! - [`heartbeats`]: group commit of single-agent heartbeats.
//! - [`metrics`]: the Prometheus registry and HTTP request metrics.
//! - [`app`]: the [`Server`] itself; [`shutdown`]: the one signal every long-lived part ends on.
//! - [`views`]: wire shapes shared by the API and the stream (decisions, alerts).
//! - [`stream`]: the live event stream (WebSocket) and its replay.
//! - [`ops`]: database-only operator commands (issue a code, verify the audit chain).
//! - [`rollouts`]: flags as stored, the arms' observations and the periodic rollout checks.
//! - [`changes`]: applies what other replicas wrote (change notices on PostgreSQL).
//! - [`pools`]: one engine per agent pool, and what the pools share.

pub mod app;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod clock;
pub mod config;
pub mod db_health;
pub mod error;
pub mod extract;
pub mod heartbeats;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pools;
mod random;
pub mod rollouts;
pub mod routes;
pub mod shutdown;
pub mod state;
pub mod stream;
pub mod views;

pub use app::{Server, StartMode};
pub use config::{RuntimeSettings, ServiceConfig};
pub use error::ApiError;
pub use hivesched_store::AuditVerification;
pub use routes::openapi_json;
