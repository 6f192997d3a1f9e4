//! Alerts raised by the monitoring rules (`policy::alerts`), kept after they resolve so
//! incidents can be reviewed.

use std::collections::BTreeMap;

use hivesched_policy::Time;
use hivesched_policy::alerts::{Alert, AlertState};
use sqlx::any::AnyRow;

use crate::codec::{get, get_opt_time, get_time, json_text, parse_enum, parse_json};
use crate::{Result, Store, StoreError};

fn alert_from_row(row: &AnyRow) -> Result<Alert> {
    let acknowledged_at = get_opt_time(row, "acknowledged_at")?;
    let acknowledged_by: Option<String> = get(row, "acknowledged_by")?;
    Ok(Alert {
        id: get(row, "id")?,
        rule: parse_enum("rule", &get::<String>(row, "rule")?)?,
        labels: parse_json::<BTreeMap<String, String>>("labels", &get::<String>(row, "labels")?)?,
        severity: parse_enum("severity", &get::<String>(row, "severity")?)?,
        summary: get(row, "message")?,
        value: get(row, "value")?,
        state: parse_enum("state", &get::<String>(row, "state")?)?,
        fired_at: get_time(row, "fired_at")?,
        acknowledged: acknowledged_at.zip(acknowledged_by),
        resolved_at: get_opt_time(row, "resolved_at")?,
    })
}

impl Store {
    /// Records a fired alert; a taken id is a [`StoreError::Conflict`].
    pub async fn fire_alert(&self, a: &Alert) -> Result<()> {
        sqlx::query(
            "INSERT INTO alerts (id, severity, rule, message, fired_at, resolved_at, labels, \
             state, value) VALUES ($1, $2, $3, $4, $5, NULL, $6, 'firing', $7)",
        )
        .bind(a.id.clone())
        .bind(a.severity.as_str())
        .bind(a.rule.as_str())
        .bind(a.summary.clone())
        .bind(a.fired_at.as_millis())
        .bind(json_text(&a.labels))
        .bind(a.value)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique(e, "alert", a.id.clone()))?;
        Ok(())
    }

    /// Marks an open alert resolved at `at` (keeping its latest summary and value).
    pub async fn resolve_alert(&self, a: &Alert, at: Time) -> Result<()> {
        let done = sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_at = $1, message = $2, value = $3 \
             WHERE id = $4 AND state <> 'resolved'",
        )
        .bind(at.as_millis())
        .bind(a.summary.clone())
        .bind(a.value)
        .bind(a.id.clone())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::not_found("open alert", &a.id));
        }
        Ok(())
    }

    /// An operator acknowledges a firing alert (compare-and-set: an acknowledged or resolved
    /// one is a [`StoreError::Conflict`]).
    pub async fn acknowledge_alert(&self, id: &str, by: &str, at: Time) -> Result<Alert> {
        let done = sqlx::query(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2 \
             WHERE id = $3 AND state = 'firing'",
        )
        .bind(at.as_millis())
        .bind(by.to_owned())
        .bind(id.to_owned())
        .execute(&self.pool)
        .await?
        .rows_affected();
        let alert = self.alert(id).await?;
        if done == 0 {
            return Err(StoreError::conflict(
                "alert state",
                format!("{id} is {}, not firing", alert.state.as_str()),
            ));
        }
        Ok(alert)
    }

    /// One alert by id.
    pub async fn alert(&self, id: &str) -> Result<Alert> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("alert", id))?;
        alert_from_row(&row)
    }

    /// Up to `limit` alerts, newest first; only those in `state` when given.
    pub async fn list_alerts(&self, state: Option<AlertState>, limit: u32) -> Result<Vec<Alert>> {
        sqlx::query(
            "SELECT * FROM alerts WHERE ($1 IS NULL OR state = $1) \
             ORDER BY fired_at DESC, id DESC LIMIT $2",
        )
        .bind(state.map(AlertState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(alert_from_row)
        .collect()
    }

    /// Every open (firing or acknowledged) alert: what the rule engine resumes after a restart.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>> {
        sqlx::query("SELECT * FROM alerts WHERE state <> 'resolved' ORDER BY fired_at, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(alert_from_row)
            .collect()
    }
}
