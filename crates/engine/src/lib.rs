//! The automation engine of Hive Scheduler: how decisions reach the fleet.
//!
//! - [`actuator`]: the fleet's sleep/wake contract as a trait, and [`actuator::HttpActuator`],
//!   the production client with timeouts, retries and a per-agent circuit breaker.
//! - [`fake_fleet`]: a reference fleet that honours the contract, in process and over HTTP,
//!   for tests, demos and fleet implementers.
//! - [`error`]: the crate's one error type.

pub mod actuator;
pub mod error;
pub mod fake_fleet;
mod lock;

pub use error::EngineError;
