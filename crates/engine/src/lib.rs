//! The automation engine of Hive Scheduler: how decisions reach the fleet.
//!
//! - [`actuator`]: the fleet's sleep/wake contract as a trait, and [`actuator::HttpActuator`],
//!   the production client with timeouts, retries and a per-agent circuit breaker.
//! - [`fake_fleet`]: a reference fleet that honours the contract, in process and over HTTP,
//!   for tests, demos and fleet implementers.
//! - [`service`]: the [`Engine`]: tick loop, decisions recorded before acting, shadow mode.
//! - [`gate`]: the admission gate every action passes right before it reaches the fleet.
//! - [`executor`]: the task journal written before the actuator is called, limits, idempotency.
//! - [`bulk`]: sequential / parallel / staged bulk operations with rollback.
//! - [`recovery`]: reconciling unfinished tasks after a crash.
//! - [`clock`], [`metrics`], [`fleet_view`]: time, Prometheus metrics, the fleet snapshot.
//! - [`history_cache`], [`forecast_score`]: the demand history between ticks, live forecast error.
//! - [`tracker`]: background work (tasks, bulk operations) shutdown and tests wait for.
//! - [`error`]: the crate's one error type.

pub mod actuator;
pub mod bulk;
pub mod clock;
pub mod error;
pub mod executor;
pub mod fake_fleet;
pub mod fleet_view;
pub mod forecast_score;
pub mod gate;
pub mod history_cache;
mod lock;
pub mod metrics;
pub mod recovery;
pub mod service;
pub mod tracker;

pub use error::EngineError;
pub use metrics::EngineMetrics;
pub use service::{Engine, EngineConfig, EngineEvent, ForecasterFactory, TickHealth};
