//! One-time authorization codes: random, shown once, stored only as a hash, expiring, single use.

use std::time::Duration;

use hivesched_policy::Time;
use hivesched_store::{NewCode, Store};

use crate::error::ApiError;

/// The purpose emergency stop and resume consume codes for.
pub const CODE_PURPOSE_EMERGENCY: &str = "emergency";

/// A fresh code: 20 random bytes as 40 hex digits in groups of 8, easy to read out and paste.
pub fn generate_code() -> Result<String, ApiError> {
    let hex = hex::encode(crate::random::bytes::<20>()?);
    let groups: Vec<&str> = (0..hex.len()).step_by(8).map(|i| &hex[i..i + 8]).collect();
    Ok(groups.join("-"))
}

/// Generates, stores (hashed) and returns a code for `purpose`, valid for `ttl` from `now`.
pub async fn issue_code(
    store: &Store,
    purpose: &str,
    created_by: &str,
    ttl: Duration,
    now: Time,
) -> Result<String, ApiError> {
    let code = generate_code()?;
    store
        .store_code(&NewCode {
            code: &code,
            purpose,
            created_by,
            created_at: now,
            expires_at: now.plus(ttl),
        })
        .await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_hex_and_differ() {
        let a = generate_code().unwrap();
        assert_eq!(a.len(), 44);
        assert_eq!(a.split('-').count(), 5);
        assert_ne!(a, generate_code().unwrap());
    }
}
