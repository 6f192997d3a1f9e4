//! The automation engine of Hive Scheduler: how decisions reach the fleet.
//!
//! - [`actuator`] (the crate `hivesched-actuator`): the fleet's sleep/wake contract as a trait,
//!   and its HTTP client; [`actuators`]: the `[actuator]` settings and the factory that builds
//!   the configured one (the HTTP client or the in-process fake fleet), so a new actuator is
//!   added here, not in the HTTP crate.
//! - [`service`]: the [`Engine`]: tick loop, decisions recorded before acting, shadow mode;
//!   [`events`]: what it publishes for live views.
//! - [`gate`]: the admission gate every action passes right before it reaches the fleet.
//! - [`executor`]: the task journal written before the actuator is called, limits, idempotency.
//! - [`bulk`]: sequential / parallel / staged bulk operations with rollback.
//! - [`recovery`]: reconciling unfinished tasks after a crash.
//! - [`release`]: waking what the scheduler had put to sleep in the treatment arm of its own
//!   rollout when that rollout rolls back or steps down.
//! - [`clock`], [`metrics`], [`fleet_view`]: time, Prometheus metrics, the fleet snapshot.
//! - [`history_cache`], [`forecast_score`], [`live_accuracy`]: the demand history between ticks,
//!   the live forecast error, and the decisions' accuracy judged as they play out.
//! - [`alerting`], [`alert_delivery`]: the alert rules' state, and sending alerts to an
//!   Alertmanager or a signed webhook without ever blocking a tick.
//! - [`process`]: the process's own cost (`process_*` families) and the thread CPU clock the
//!   tick's decision work is charged to.
//! - [`leadership`]: whether this replica may act (it follows a `hivesched_coord` elector)
//!   and with which fencing token.
//! - [`tracker`]: background work (tasks, bulk operations) shutdown and tests wait for.
//! - [`error`]: the crate's one error type.

pub use hivesched_actuator as actuator;

pub mod actuators;
pub mod alert_delivery;
pub mod alerting;
pub mod bulk;
pub mod clock;
pub mod error;
pub mod events;
pub mod executor;
pub mod fleet_view;
pub mod forecast_score;
pub mod gate;
pub mod history_cache;
pub mod leadership;
pub mod live_accuracy;
mod lock;
pub mod metrics;
pub mod process;
pub mod recovery;
pub mod release;
pub mod service;
pub mod tracker;

pub use error::EngineError;
pub use events::EngineEvent;
pub use metrics::EngineMetrics;
pub use service::{Engine, EngineConfig, ForecasterFactory, TickHealth};
