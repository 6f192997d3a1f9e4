//! The one error type of the actuator contract's clients and the fake fleet.

use std::time::Duration;

use hivesched_policy::AgentId;

/// Everything that can go wrong while talking to a fleet (or serving the fake one).
///
/// Answers the contract defines (202, 404, 409) are not errors: they are
/// [`Outcome`](crate::Outcome)s. Errors are what the caller cannot treat as an answer.
#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    /// The request never got an answer: connection refused or reset, DNS, a broken body.
    #[error("transport error talking to the fleet: {0}")]
    Transport(#[source] reqwest::Error),
    /// No answer within the per-request timeout.
    #[error("fleet did not answer within {0:?}")]
    Timeout(Duration),
    /// The fleet answered that it cannot serve now (5xx, 429, or an injected fake failure).
    #[error("fleet unavailable (status {status}): {message}")]
    Unavailable {
        /// HTTP status, or 503 for the in-process fake fleet.
        status: u16,
        /// What the fleet said.
        message: String,
    },
    /// The fleet refused the request itself (a 4xx other than 404/409): a client bug, never retried.
    #[error("fleet rejected the request (status {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// What the fleet said.
        message: String,
    },
    /// The fleet answered with a body that does not follow the contract.
    #[error("fleet response does not follow the contract: {0}")]
    Decode(String),
    /// This agent's circuit breaker is open: the call was not attempted.
    #[error("circuit open for agent {agent}; next probe in {retry_in:?}")]
    CircuitOpen {
        /// The agent whose calls keep failing.
        agent: AgentId,
        /// Time left until the breaker lets a probe through.
        retry_in: Duration,
    },
    /// A setting out of range; names the key.
    #[error("invalid configuration: {key}: {reason}")]
    InvalidConfig {
        /// Configuration key, e.g. `actuator.base_url`, `fake_fleet.failure_rate`.
        key: &'static str,
        /// Why the value is not acceptable.
        reason: String,
    },
    /// Binding or serving a listener failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ActuatorError {
    /// Whether trying again (with the same idempotency key) may succeed. Only these errors are
    /// retried and count against an agent's circuit breaker.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ActuatorError::Transport(_)
                | ActuatorError::Timeout(_)
                | ActuatorError::Unavailable { .. }
        )
    }
}
