//! The one error type of the decision core.

use crate::agent::{AgentEvent, AgentState};

/// Everything that can go wrong inside the pure decision core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// An agent event that its current state does not allow (e.g. waking an awake agent).
    #[error("agent in state {from} cannot take event {event:?}")]
    InvalidTransition {
        /// State the agent was in.
        from: AgentState,
        /// Event that was refused.
        event: AgentEvent,
    },
    /// A configuration value out of range; names the key.
    #[error("invalid configuration: {key}: {reason}")]
    InvalidConfig {
        /// Configuration key, e.g. `rails.max_in_transition`.
        key: &'static str,
        /// Why the value is not acceptable.
        reason: String,
    },
    /// The forecaster failed; the scheduler falls back to all-awake.
    #[error("forecast failed: {0}")]
    Forecast(#[from] ForecastFailure),
}

/// Why a forecast could not be used. Every kind counts as a failure for the circuit breaker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastFailure {
    /// The model returned an error.
    #[error("model error: {0}")]
    Model(String),
    /// The model returned NaN or an infinite value.
    #[error("forecast contains a non-finite value")]
    NotFinite,
    /// The forecast is older than the staleness limit.
    #[error("forecast is stale")]
    Stale,
    /// The model did not answer within its deadline.
    #[error("forecast timed out")]
    Timeout,
    /// Not enough history to forecast.
    #[error("not enough history: {got} samples, need {need}")]
    NotEnoughHistory {
        /// Samples available.
        got: usize,
        /// Samples needed.
        need: usize,
    },
}
