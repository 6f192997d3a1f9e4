//! Cryptographically secure random bytes from aws-lc-rs, which the JWT signer already links:
//! no second random-number crate.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::ApiError;

/// `N` random bytes from the operating system's CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| ApiError::Internal("the system random generator failed".into()))?;
    Ok(out)
}
