//! Alerts raised by monitoring rules, kept after they resolve so incidents can be reviewed.

use hivesched_policy::Time;
use sqlx::any::AnyRow;

use crate::codec::{enum_text, get, get_opt_time, get_time, parse_enum};
use crate::{Result, Store, StoreError};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

/// An alert as fired (and, later, resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Id chosen by the rule engine (e.g. rule name plus firing time), unique.
    pub id: String,
    /// Urgency.
    pub severity: Severity,
    /// The rule that fired.
    pub rule: String,
    /// Human message.
    pub message: String,
    /// When it fired.
    pub fired_at: Time,
    /// When it resolved; `None` while it is still firing.
    pub resolved_at: Option<Time>,
}

fn alert_from_row(row: &AnyRow) -> Result<Alert> {
    Ok(Alert {
        id: get(row, "id")?,
        severity: parse_enum("severity", &get::<String>(row, "severity")?)?,
        rule: get(row, "rule")?,
        message: get(row, "message")?,
        fired_at: get_time(row, "fired_at")?,
        resolved_at: get_opt_time(row, "resolved_at")?,
    })
}

impl Store {
    /// Records a fired alert; a taken id is a [`StoreError::Conflict`].
    pub async fn fire_alert(&self, a: &Alert) -> Result<()> {
        sqlx::query(
            "INSERT INTO alerts (id, severity, rule, message, fired_at, resolved_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.clone())
        .bind(enum_text(&a.severity))
        .bind(a.rule.clone())
        .bind(a.message.clone())
        .bind(a.fired_at.as_millis())
        .bind(a.resolved_at.map(Time::as_millis))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, "alert", a.id.clone()))?;
        Ok(())
    }

    /// Marks an open alert resolved; resolving an unknown or already resolved alert is
    /// [`StoreError::NotFound`] (the first resolution time is kept).
    pub async fn resolve_alert(&self, id: &str, at: Time) -> Result<()> {
        let done =
            sqlx::query("UPDATE alerts SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL")
                .bind(at.as_millis())
                .bind(id.to_owned())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("open alert", id));
        }
        Ok(())
    }

    /// The newest `limit` alerts, newest first; with `open_only`, only those still firing.
    pub async fn list_alerts(&self, open_only: bool, limit: u32) -> Result<Vec<Alert>> {
        let rows = if open_only {
            sqlx::query(
                "SELECT * FROM alerts WHERE resolved_at IS NULL \
                 ORDER BY fired_at DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query("SELECT * FROM alerts ORDER BY fired_at DESC, id DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
        };
        rows.iter().map(alert_from_row).collect()
    }
}
