//! Feature flags, their rollouts and every rollout decision. Definitions, rollout states and
//! decisions are opaque JSON here (the flags crate and the server give them a meaning); the
//! store guarantees versioned compare-and-set writes: a definition change gets a history row,
//! a rollout change is written with the decision that made it, in one transaction.

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

/// A flag's rollout state.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRecord {
    /// Flag key.
    pub key: String,
    /// The rollout state as JSON.
    pub state: serde_json::Value,
    /// 1 on creation, +1 per change.
    pub version: i64,
    /// End of the window the last automatic check judged (the next one starts here).
    pub checked_at: Time,
    /// When the state last changed.
    pub updated_at: Time,
}

/// A rollout decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFlagDecision {
    /// Flag key.
    pub key: String,
    /// The rollout revision it belongs to.
    pub revision: i64,
    /// When it was made.
    pub at: Time,
    /// What it did (the decision's action wire name).
    pub action: String,
    /// Who: a token subject, or `hivesched` for automatic decisions.
    pub actor: String,
    /// The decision with its checks, bounds and gates, as JSON.
    pub decision: serde_json::Value,
    /// The per-arm observations it judged, as JSON (`null` for commands).
    pub observations: serde_json::Value,
}

/// A stored rollout decision.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagDecisionRecord {
    /// Increasing id (order of recording).
    pub id: i64,
    /// The decision.
    pub decision: NewFlagDecision,
}

fn rollout_from_row(row: &AnyRow) -> Result<RolloutRecord> {
    Ok(RolloutRecord {
        key: get(row, "flag_key")?,
        state: parse_json("state", &get::<String>(row, "state")?)?,
        version: get(row, "version")?,
        checked_at: get_time(row, "checked_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn decision_from_row(row: &AnyRow) -> Result<FlagDecisionRecord> {
    Ok(FlagDecisionRecord {
        id: get(row, "id")?,
        decision: NewFlagDecision {
            key: get(row, "flag_key")?,
            revision: get(row, "revision")?,
            at: get_time(row, "ts")?,
            action: get(row, "action")?,
            actor: get(row, "actor")?,
            decision: parse_json("decision", &get::<String>(row, "decision")?)?,
            observations: parse_json("observations", &get::<String>(row, "observations")?)?,
        },
    })
}

async fn insert_decision(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    d: &NewFlagDecision,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO flag_decisions (flag_key, revision, ts, action, actor, decision, \
         observations) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(d.key.clone())
    .bind(d.revision)
    .bind(d.at.as_millis())
    .bind(d.action.clone())
    .bind(d.actor.clone())
    .bind(json_text(&d.decision))
    .bind(json_text(&d.observations))
    .execute(&mut **tx)
    .await?;
    Ok(())
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

    /// Creates a flag with its definition (version 1, one history row) and its rollout state
    /// (version 1, checked at `at`), atomically; an existing key is a [`StoreError::Conflict`].
    pub async fn create_flag(
        &self,
        key: &str,
        definition: &serde_json::Value,
        rollout: &serde_json::Value,
        actor: &str,
        reason: &str,
        at: Time,
    ) -> Result<()> {
        let definition = json_text(definition);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO feature_flags (flag_key, state, version, updated_by, updated_at) \
             VALUES ($1, $2, 1, $3, $4)",
        )
        .bind(key.to_owned())
        .bind(definition.clone())
        .bind(actor.to_owned())
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "flag", key))?;
        sqlx::query(
            "INSERT INTO flag_history (flag_key, version, state, actor, reason, created_at) \
             VALUES ($1, 1, $2, $3, $4, $5)",
        )
        .bind(key.to_owned())
        .bind(definition)
        .bind(actor.to_owned())
        .bind(reason.to_owned())
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "flag", key))?;
        sqlx::query(
            "INSERT INTO flag_rollouts (flag_key, state, version, checked_at, updated_at) \
             VALUES ($1, $2, 1, $3, $3)",
        )
        .bind(key.to_owned())
        .bind(json_text(rollout))
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "flag", key))?;
        tx.commit().await?;
        Ok(())
    }

    /// A flag's rollout state, `None` if the flag has none.
    pub async fn get_rollout(&self, key: &str) -> Result<Option<RolloutRecord>> {
        sqlx::query("SELECT * FROM flag_rollouts WHERE flag_key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| rollout_from_row(&row))
            .transpose()
    }

    /// Every rollout state, by key.
    pub async fn list_rollouts(&self) -> Result<Vec<RolloutRecord>> {
        sqlx::query("SELECT * FROM flag_rollouts ORDER BY flag_key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rollout_from_row)
            .collect()
    }

    /// Sets a rollout's state if its version is still `expected_version`, with `checked_at`
    /// as the end of the window judged so far, and records `decision`, atomically. Returns
    /// the new version; a lost race is a [`StoreError::Conflict`] and records nothing.
    pub async fn save_rollout(
        &self,
        key: &str,
        state: &serde_json::Value,
        expected_version: i64,
        checked_at: Time,
        decision: &NewFlagDecision,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let written = sqlx::query(
            "UPDATE flag_rollouts SET state = $1, version = $2, checked_at = $3, \
             updated_at = $4 WHERE flag_key = $5 AND version = $6",
        )
        .bind(json_text(state))
        .bind(expected_version + 1)
        .bind(checked_at.as_millis())
        .bind(decision.at.as_millis())
        .bind(key.to_owned())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if written.rows_affected() == 0 {
            return Err(StoreError::conflict(
                "rollout version",
                format!("{key}: expected version {expected_version}"),
            ));
        }
        insert_decision(&mut tx, decision).await?;
        tx.commit().await?;
        Ok(expected_version + 1)
    }

    /// A flag's newest `limit` decisions, newest first.
    pub async fn flag_decisions(&self, key: &str, limit: u32) -> Result<Vec<FlagDecisionRecord>> {
        sqlx::query("SELECT * FROM flag_decisions WHERE flag_key = $1 ORDER BY id DESC LIMIT $2")
            .bind(key.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decision_from_row)
            .collect()
    }
}
