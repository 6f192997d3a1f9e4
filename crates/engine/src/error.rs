//! The one error type of the engine crate.

use hivesched_actuator::ActuatorError;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Talking to the fleet failed (transport, timeout, an unavailable fleet, an open circuit).
    #[error(transparent)]
    Actuator(#[from] ActuatorError),
    /// A configuration value out of range; names the key.
    #[error("invalid configuration: {key}: {reason}")]
    InvalidConfig {
        /// Configuration key, e.g. `tick_interval`.
        key: &'static str,
        /// Why the value is not acceptable.
        reason: String,
    },
    /// The database failed; the engine stops acting rather than act blind.
    #[error("database: {0}")]
    Store(#[from] hivesched_store::StoreError),
    /// The task journal is in a state the engine cannot continue from.
    #[error("task journal: {0}")]
    Journal(String),
    /// The decision core refused (invalid configuration) or its forecaster failed.
    #[error(transparent)]
    Policy(#[from] hivesched_policy::PolicyError),
    /// This replica is not the leader of its pool (or no longer, or not sure): it does not act
    /// and leaves journaled work to the leader.
    #[error("not the leader: this replica does not act")]
    NotLeader,
    /// The forecaster failed.
    #[error("forecast failed: {0}")]
    Forecast(#[from] hivesched_policy::ForecastFailure),
}

impl EngineError {
    /// Whether the store refused a write for a stale fencing token: a newer leader exists.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self,
            EngineError::Store(hivesched_store::StoreError::Fenced { .. })
        )
    }
}
