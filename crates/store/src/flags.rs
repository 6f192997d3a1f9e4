//! Feature flags and their rollout history. The flag's state is opaque JSON here (no code gives
//! it a meaning yet; the progressive-rollout work will); the store guarantees versioned
//! compare-and-set writes with a history row each.

use hivesched_policy::Time;
use sqlx::any::AnyRow;

use crate::codec::{get, get_time, json_text, parse_json};
use crate::{Result, Store, StoreError};

/// A flag's current state.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagRecord {
    /// Flag key.
    pub key: String,
    /// State (rollout percentage, targeting, …) as JSON.
    pub state: serde_json::Value,
    /// 1 on creation, +1 per change.
    pub version: i64,
    /// Who made the last change.
    pub updated_by: String,
    /// When.
    pub updated_at: Time,
}

/// One change in a flag's history.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagChange {
    /// Flag key.
    pub key: String,
    /// Version this change produced.
    pub version: i64,
    /// State after the change.
    pub state: serde_json::Value,
    /// Who.
    pub actor: String,
    /// Why (a rollout step, a guardrail rollback, …).
    pub reason: String,
    /// When.
    pub at: Time,
}

fn flag_from_row(row: &AnyRow) -> Result<FlagRecord> {
    Ok(FlagRecord {
        key: get(row, "flag_key")?,
        state: parse_json("state", &get::<String>(row, "state")?)?,
        version: get(row, "version")?,
        updated_by: get(row, "updated_by")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn change_from_row(row: &AnyRow) -> Result<FlagChange> {
    Ok(FlagChange {
        key: get(row, "flag_key")?,
        version: get(row, "version")?,
        state: parse_json("state", &get::<String>(row, "state")?)?,
        actor: get(row, "actor")?,
        reason: get(row, "reason")?,
        at: get_time(row, "created_at")?,
    })
}

impl Store {
    /// Sets a flag's state if its version is still `expected_version` (0 to create it), and
    /// records the change in its history, atomically. Returns the new version; a lost race is a
    /// [`StoreError::Conflict`].
    pub async fn put_flag(
        &self,
        key: &str,
        state: &serde_json::Value,
        expected_version: i64,
        actor: &str,
        reason: &str,
        at: Time,
    ) -> Result<i64> {
        let version = expected_version + 1;
        let state = json_text(state);
        let mut tx = self.pool.begin().await?;
        let written = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO feature_flags (flag_key, state, version, updated_by, updated_at) \
                 VALUES ($1, $2, 1, $3, $4)",
            )
            .bind(key.to_owned())
            .bind(state.clone())
            .bind(actor.to_owned())
            .bind(at.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "flag", key))?
        } else {
            sqlx::query(
                "UPDATE feature_flags SET state = $1, version = $2, updated_by = $3, \
                 updated_at = $4 WHERE flag_key = $5 AND version = $6",
            )
            .bind(state.clone())
            .bind(version)
            .bind(actor.to_owned())
            .bind(at.as_millis())
            .bind(key.to_owned())
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
        };
        if written.rows_affected() == 0 {
            return Err(StoreError::conflict(
                "flag version",
                format!("{key}: expected version {expected_version}"),
            ));
        }
        sqlx::query(
            "INSERT INTO flag_history (flag_key, version, state, actor, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.to_owned())
        .bind(version)
        .bind(state)
        .bind(actor.to_owned())
        .bind(reason.to_owned())
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "flag version", key))?;
        tx.commit().await?;
        Ok(version)
    }

    /// A flag's current state, `None` if it was never set.
    pub async fn get_flag(&self, key: &str) -> Result<Option<FlagRecord>> {
        sqlx::query("SELECT * FROM feature_flags WHERE flag_key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| flag_from_row(&row))
            .transpose()
    }

    /// Every flag, by key.
    pub async fn list_flags(&self) -> Result<Vec<FlagRecord>> {
        sqlx::query("SELECT * FROM feature_flags ORDER BY flag_key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(flag_from_row)
            .collect()
    }

    /// A flag's newest `limit` changes, newest first.
    pub async fn flag_history(&self, key: &str, limit: u32) -> Result<Vec<FlagChange>> {
        sqlx::query("SELECT * FROM flag_history WHERE flag_key = $1 ORDER BY version DESC LIMIT $2")
            .bind(key.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from_row)
            .collect()
    }
}
