//! Revoked API tokens and one-time authorization codes.
//!
//! Codes are stored only as SHA-256 hashes (they are random and short-lived, so an unsalted hash
//! is enough to make a database dump useless for replay). Consuming a code is a single
//! conditional `UPDATE … WHERE used_at IS NULL AND expires_at > now`: the database serializes
//! concurrent consumers on the row, so exactly one of them sees a changed row.

use hivesched_policy::Time;
use sha2::{Digest, Sha256};

use crate::codec::get;
use crate::{Result, Store, StoreError};

/// A one-time code to store (the caller generates the random code itself).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCode<'a> {
    /// The code in clear; only its hash is stored.
    pub code: &'a str,
    /// What it authorizes, e.g. `emergency`; a code is only consumed for its own purpose.
    pub purpose: &'a str,
    /// Who issued it.
    pub created_by: &'a str,
    /// When it was issued.
    pub created_at: Time,
    /// When it stops being valid.
    pub expires_at: Time,
}

/// Hex SHA-256 of a code, the form it is stored and looked up in.
fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

impl Store {
    /// Stores a one-time code (hashed). Issuing the same code twice is a [`StoreError::Conflict`].
    pub async fn store_code(&self, c: &NewCode<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, purpose, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code_hash(c.code))
        .bind(c.purpose.to_owned())
        .bind(c.created_by.to_owned())
        .bind(c.created_at.as_millis())
        .bind(c.expires_at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, "authorization code", "(hidden)"))?;
        Ok(())
    }

    /// Uses up a code for `purpose` at `now`. Returns `true` for exactly one caller per valid
    /// code, however many race; `false` for unknown, expired, already used or wrong-purpose codes
    /// (deliberately not told apart, so a caller learns nothing by guessing).
    pub async fn consume_code(
        &self,
        code: &str,
        purpose: &str,
        used_by: &str,
        now: Time,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE auth_codes SET used_at = $1, used_by = $2 \
             WHERE code_hash = $3 AND purpose = $4 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now.as_millis())
        .bind(used_by.to_owned())
        .bind(code_hash(code))
        .bind(purpose.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes codes that expired before `cutoff` (used or not); returns how many.
    pub async fn purge_expired_codes(&self, cutoff: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM auth_codes WHERE expires_at < $1")
            .bind(cutoff.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Revokes a token by its JWT id until `expires_at` (after which it is invalid anyway).
    /// Revoking twice keeps the first record.
    pub async fn revoke_token(
        &self,
        jti: &str,
        expires_at: Time,
        reason: &str,
        now: Time,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, revoked_at, expires_at, reason) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti.to_owned())
        .bind(now.as_millis())
        .bind(expires_at.as_millis())
        .bind(reason.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a token id is on the revocation list.
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM revoked_tokens WHERE jti = $1")
            .bind(jti.to_owned())
            .fetch_one(&self.pool)
            .await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }

    /// Every revoked token id still listed, for a server to cache in memory.
    pub async fn revoked_token_ids(&self) -> Result<Vec<String>> {
        sqlx::query("SELECT jti FROM revoked_tokens ORDER BY jti")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| get(row, "jti"))
            .collect()
    }

    /// Drops revocations of tokens that have expired by `now`; returns how many.
    pub async fn purge_expired_revocations(&self, now: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(now.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stored_as_sha256_hex() {
        assert_eq!(
            code_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
