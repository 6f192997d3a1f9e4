//! The one error type of the flags core.

/// What can go wrong in the flags core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlagError {
    /// A flag or guardrail field out of range; names the field.
    #[error("invalid flag: {field}: {reason}")]
    Invalid {
        /// The field, e.g. `ladder` or `guardrails.alpha`.
        field: &'static str,
        /// Why the value is not acceptable.
        reason: String,
    },
    /// An operator command the rollout's phase does not allow.
    #[error("cannot {command} a rollout that is {phase}")]
    NotAllowed {
        /// The command, e.g. `rearm`.
        command: &'static str,
        /// The phase it was refused in.
        phase: &'static str,
    },
}
