//! Minting and verifying HS256 JWTs.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::error::ApiError;

/// Shortest accepted signing secret: HS256 is only as strong as its key (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, small so expired tokens stop working
/// promptly and tokens dated ahead are not honoured early.
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
        // `nbf` is optional (our tokens carry none), but when present it is honoured: a token
        // someone dated to start later must not work now.
        validation.validate_nbf = true;
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
        // `verify` refuses a blank subject; never mint a token that cannot be used.
        if subject.trim().is_empty() {
            return Err(ApiError::invalid_value(
                "subject",
                "must name who holds the token",
            ));
        }
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

    /// Checks signature, algorithm, expiry, `nbf`, `iat` and the subject, and returns the
    /// claims.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::ImmatureSignature => "token not valid yet (nbf is in the future)",
                    ErrorKind::InvalidSignature => "bad token signature",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                    _ => "malformed token",
                })
            })?;
        // jsonwebtoken does not look at `iat`. A token issued in the future was minted on a
        // clock that is wrong (or forged to outlive its apparent ttl): refuse it. Same clock as
        // jsonwebtoken's `exp` and `nbf` checks.
        if claims.iat > jsonwebtoken::get_current_timestamp().saturating_add(LEEWAY_SECS) {
            return Err(ApiError::Unauthorized(
                "token issued in the future (iat is ahead of the server's clock)",
            ));
        }
        // The subject is recorded as the actor of every change the token makes; an audit
        // record by nobody proves nothing.
        if claims.sub.trim().is_empty() {
            return Err(ApiError::Unauthorized("token subject (sub) is empty"));
        }
        Ok(claims)
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

    /// Signs arbitrary claims with the keys' secret, as a forger holding it (or a careless
    /// issuer) would.
    fn sign(keys: &TokenKeys, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
    }

    fn claims(sub: &str, iat: u64) -> serde_json::Value {
        serde_json::json!({
            "sub": sub, "role": "admin", "iat": iat, "exp": now() + 600, "jti": "t1"
        })
    }

    #[test]
    fn tokens_issued_in_the_future_are_refused() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let t = keys
            .mint("a", Role::Admin, Duration::from_secs(7200), now() + 3600)
            .unwrap();
        assert!(matches!(
            keys.verify(&t),
            Err(ApiError::Unauthorized(m)) if m.contains("iat")
        ));
        // Within the leeway: a clock a little ahead is tolerated.
        let t = sign(&keys, claims("a", now() + 2));
        assert!(keys.verify(&t).is_ok());
    }

    #[test]
    fn tokens_not_valid_yet_are_refused() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let mut c = claims("a", now());
        c["nbf"] = (now() + 3600).into();
        assert!(matches!(
            keys.verify(&sign(&keys, c.clone())),
            Err(ApiError::Unauthorized(m)) if m.contains("nbf")
        ));
        c["nbf"] = (now() - 60).into();
        assert!(keys.verify(&sign(&keys, c)).is_ok());
    }

    #[test]
    fn tokens_without_a_subject_are_refused() {
        let keys = TokenKeys::new(SECRET).unwrap();
        for sub in ["", "   ", "\t\n"] {
            assert!(
                matches!(
                    keys.verify(&sign(&keys, claims(sub, now()))),
                    Err(ApiError::Unauthorized("token subject (sub) is empty"))
                ),
                "{sub:?}"
            );
            assert!(
                keys.mint(sub, Role::Viewer, Duration::from_secs(60), now())
                    .is_err()
            );
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"short").is_err());
    }
}
