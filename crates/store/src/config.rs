//! Versioned configuration: every save is a new version kept forever, so a bad change can be
//! seen, compared and rolled back; the current configuration is the newest version.

use hivesched_policy::Time;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;

use crate::codec::{get, get_time, json_text, parse_json};
use crate::{Result, Store, StoreError};

/// One saved configuration version.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVersion<T> {
    /// 1 for the first save, then +1 per save.
    pub version: i64,
    /// The configuration itself (stored as JSON).
    pub config: T,
    /// Who saved it.
    pub author: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: Time,
}

fn config_from_row<T: DeserializeOwned>(row: &AnyRow) -> Result<ConfigVersion<T>> {
    Ok(ConfigVersion {
        version: get(row, "version")?,
        config: parse_json("config", &get::<String>(row, "config")?)?,
        author: get(row, "author")?,
        reason: get(row, "reason")?,
        created_at: get_time(row, "created_at")?,
    })
}

impl Store {
    /// Saves `config` as version `base_version + 1`, where `base_version` is the version the
    /// caller read (0 when there is none yet).
    ///
    /// This is a compare-and-set: if another writer saved since, the version is taken and the
    /// call fails with [`StoreError::Conflict`], so concurrent edits never silently overwrite.
    pub async fn save_config<T: Serialize>(
        &self,
        base_version: i64,
        config: &T,
        author: &str,
        reason: &str,
        at: Time,
    ) -> Result<i64> {
        let version = base_version.checked_add(1).ok_or_else(|| {
            StoreError::conflict("config version", format!("{base_version} has no successor"))
        })?;
        // A gap would mean base_version was never read: refuse it like a lost race.
        let current = self.current_config_version().await?;
        if current != base_version {
            return Err(StoreError::conflict(
                "config version",
                format!("based on {base_version}, current is {current}"),
            ));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO config_versions (version, config, author, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(json_text(config))
        .bind(author.to_owned())
        .bind(reason.to_owned())
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "config version", version.to_string()))?;
        // The other replicas (the leader among them) apply the new version at the commit.
        crate::changes::notify_on(&mut tx, self.backend, crate::Change::Config).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The newest version number, 0 when nothing was saved yet.
    pub async fn current_config_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM config_versions")
            .fetch_one(&self.pool)
            .await?;
        get(&row, "v")
    }

    /// The current configuration, `None` before the first save.
    pub async fn current_config<T: DeserializeOwned>(&self) -> Result<Option<ConfigVersion<T>>> {
        sqlx::query("SELECT * FROM config_versions ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| config_from_row(&row))
            .transpose()
    }

    /// One past version, for diffs and rollbacks.
    pub async fn config_version<T: DeserializeOwned>(
        &self,
        version: i64,
    ) -> Result<ConfigVersion<T>> {
        let row = sqlx::query("SELECT * FROM config_versions WHERE version = $1")
            .bind(version)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("config version", version.to_string()))?;
        config_from_row(&row)
    }

    /// The newest `limit` versions, newest first. Use `serde_json::Value` as `T` when old versions
    /// may not match today's configuration type.
    pub async fn config_history<T: DeserializeOwned>(
        &self,
        limit: u32,
    ) -> Result<Vec<ConfigVersion<T>>> {
        sqlx::query("SELECT * FROM config_versions ORDER BY version DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(config_from_row)
            .collect()
    }
}
