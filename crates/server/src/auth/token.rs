//! Minting and verifying HS256 JWTs.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::error::ApiError;

/// Shortest accepted signing secret: HS256 is only as strong as its key (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated on `exp`, small so expired tokens stop working promptly.
const LEEWAY_SECS: u64 = 5;

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who holds the token; recorded as the actor of every change it makes.
    pub sub: String,
    /// What the holder may do.
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// Unique token id, checked against the revocation list.
    pub jti: String,
}

/// The signing and verification keys derived from the configured secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(redacted)")
    }
}

impl TokenKeys {
    /// Keys for `secret`; refuses secrets shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, ApiError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ApiError::config(
                "jwt_secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Mints a token for `subject` with `role`, valid for `ttl` from `now_secs`.
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        ttl: Duration,
        now_secs: u64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            iat: now_secs,
            exp: now_secs.saturating_add(ttl.as_secs()),
            jti: hex::encode(crate::random::bytes::<16>()?),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
    }

    /// Checks signature, algorithm and expiry, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::InvalidSignature => "bad token signature",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                    _ => "malformed token",
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn minted_tokens_verify_with_the_same_secret_only() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let t = keys
            .mint("alice", Role::Operator, Duration::from_secs(60), now())
            .unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.role), ("alice", Role::Operator));
        let other = TokenKeys::new(b"another-secret-of-at-least-32-bytes!").unwrap();
        assert!(matches!(
            other.verify(&t),
            Err(ApiError::Unauthorized("bad token signature"))
        ));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let t = keys
            .mint("a", Role::Admin, Duration::from_secs(10), now() - 3600)
            .unwrap();
        assert!(matches!(
            keys.verify(&t),
            Err(ApiError::Unauthorized("token expired"))
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"short").is_err());
    }
}
