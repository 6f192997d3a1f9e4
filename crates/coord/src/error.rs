//! The crate's one error type.

/// Why a coordination step failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// Redis refused or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time (the step-down clock keeps running meanwhile).
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A setting out of range; names the configuration key.
    #[error("invalid configuration: {key}: {reason}")]
    InvalidConfig {
        /// Configuration key, e.g. `cluster.lease_ttl`.
        key: &'static str,
        /// Why the value is not acceptable.
        reason: String,
    },
    /// Redis answered with something these scripts never return (a foreign value at our key).
    #[error("unexpected value at {key}: {value}")]
    Unexpected {
        /// The key read.
        key: String,
        /// What was there.
        value: String,
    },
}
