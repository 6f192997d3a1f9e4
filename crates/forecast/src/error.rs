//! The one error type of the forecasting crate.

/// Why a model could not fit or forecast. Callers fall back to a simpler model on any of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The history is too short for the model (e.g. fewer than two seasons for a seasonal model).
    #[error("history too short for {model}: {got} points, need at least {need}")]
    TooShort {
        /// Model that refused.
        model: String,
        /// Points available.
        got: usize,
        /// Points required.
        need: usize,
    },
    /// The input contains a value the model cannot use.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Optimisation or numerical failure while fitting.
    #[error("{model} failed to fit: {reason}")]
    FitFailed {
        /// Model that failed.
        model: String,
        /// What went wrong.
        reason: String,
    },
}
