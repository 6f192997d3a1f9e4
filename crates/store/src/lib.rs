//! Persistence for Hive Scheduler: SQLite by default, PostgreSQL by URL, one code path.
//!
//! A typed repository over sqlx's `Any` driver: the same queries (with `$n` parameters) and the
//! same versioned migrations run on both backends. Following the `Any` driver's limits, ids are
//! TEXT, times are BIGINT milliseconds since the epoch, booleans are BIGINT 0/1 and structured
//! values are JSON in TEXT columns. No HTTP and no business logic live here: the engine and the
//! server call these methods and decide.
//!
//! One module per table group:
//! - [`config`]: versioned configuration with history.
//! - [`agents`]: agents, batched heartbeats, agent events.
//! - [`demand`]: demand samples, forecasts, model records.
//! - [`decisions`]: one record per scheduling tick.
//! - [`tasks`]: the automation task journal and bulk operations.
//! - [`flags`]: feature flags, their history, rollout states and rollout decisions.
//! - [`alerts`]: alerts and their lifecycle (firing, acknowledged, resolved).
//! - [`stream`]: the live event stream's durable tail.
//! - [`audit`]: the hash-chained audit log.
//! - [`controls`]: the emergency stop and the operator pause, as durable state.
//! - [`auth`]: token revocations and one-time authorization codes.
//! - [`changes`]: notices of committed changes to the other replicas (PostgreSQL).
//! - [`fencing`]: the highest fencing token per pool, which guards a leader's writes.
//! - [`retention`]: time-based cleanup and PostgreSQL day partitions.

#![warn(missing_docs)]

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod changes;
mod codec;
pub mod config;
mod connect;
pub mod controls;
pub mod decisions;
pub mod demand;
pub mod error;
pub mod fencing;
pub mod flags;
mod migrations;
pub mod retention;
pub mod stream;
pub mod tasks;

pub use agents::{
    AgentEventRecord, AgentRecord, Heartbeat, NewAgentEvent, TaskCounters, TaskReport,
};
pub use audit::{AuditKey, AuditRecord, AuditVerification, NewAuditRecord};
pub use auth::NewCode;
pub use changes::{Change, ChangeListener, Heard};
pub use config::ConfigVersion;
pub use connect::{Backend, Store};
pub use controls::{ControlName, LoadedControls};
pub use decisions::{DecisionCursor, DecisionRecord};
pub use demand::{DemandSample, ForecastRecord, ModelRecord, NewForecast, NewModelRecord};
pub use error::{Result, StoreError};
pub use fencing::{DEFAULT_POOL, MAX_POOL_NAME, MAX_POOLS, check_pool_name};
pub use flags::{FlagChange, FlagDecisionRecord, FlagRecord, NewFlagDecision, RolloutRecord};
pub use migrations::latest_version;
pub use retention::{PurgeReport, RetainedTable};
pub use stream::StreamEvent;
pub use tasks::{
    BulkOperation, BulkStrategy, NewBulkOperation, NewTask, TaskFilter, TaskRecord, TaskStatus,
};
