//! The fleet-wide controls (emergency stop, operator pause) as their own durable state.
//!
//! One row per control that is set; lifting it deletes the row. Every change is written in one
//! transaction with its audit record, so the control in force and the trail never disagree.
//! The service loads them before its engine starts: the audit log records, it does not drive.

use hivesched_policy::{Controls, EmergencyMode, EmergencyStop, Pause, PauseDirection, Time};

use crate::codec::{get, json_text};
use crate::{AuditRecord, NewAuditRecord, Result, Store, StoreError};

/// Attempts at a control change before a sustained audit race is reported as a conflict.
const ATTEMPTS: usize = 50;

/// Which control a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlName {
    /// The emergency stop.
    Emergency,
    /// The operator pause.
    Pause,
}

impl ControlName {
    /// The row's key (`emergency`, `pause`).
    pub fn as_str(self) -> &'static str {
        match self {
            ControlName::Emergency => "emergency",
            ControlName::Pause => "pause",
        }
    }
}

/// The controls read back, with what could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedControls {
    /// The controls in force. A row that cannot be read stands for its safe reading: an
    /// unreadable emergency stop freezes sleeps, an unreadable pause holds sleeps, until an
    /// operator sets or lifts it again.
    pub controls: Controls,
    /// One line per unreadable row, naming it.
    pub problems: Vec<String>,
}

impl Store {
    /// The controls in force. Never fails on a corrupt row (see [`LoadedControls`]).
    pub async fn load_controls(&self) -> Result<LoadedControls> {
        let rows = sqlx::query("SELECT name, value FROM controls ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut out = LoadedControls {
            controls: Controls::default(),
            problems: Vec::new(),
        };
        for row in &rows {
            let name: String = get(row, "name")?;
            let value: String = get(row, "value")?;
            let problem = |e: serde_json::Error| {
                format!("controls row {name:?} cannot be read ({e}); its safe reading is in force")
            };
            match name.as_str() {
                "emergency" => {
                    out.controls.emergency = Some(
                        serde_json::from_str(&value)
                            .map_err(|e| out.problems.push(problem(e)))
                            .unwrap_or(EmergencyStop {
                                mode: EmergencyMode::FreezeSleeps,
                                until: None,
                            }),
                    );
                }
                "pause" => {
                    out.controls.pause = Some(
                        serde_json::from_str(&value)
                            .map_err(|e| out.problems.push(problem(e)))
                            .unwrap_or(Pause {
                                direction: PauseDirection::Sleeps,
                                until: None,
                            }),
                    );
                }
                other => out.problems.push(format!(
                    "controls row {other:?} is not a known control; ignored"
                )),
            }
        }
        Ok(out)
    }

    /// Sets (`Some`) or lifts (`None`) a control and appends `audit` in one transaction.
    pub async fn set_control(
        &self,
        name: ControlName,
        value: Option<&serde_json::Value>,
        at: Time,
        audit: &NewAuditRecord,
    ) -> Result<AuditRecord> {
        for _ in 0..ATTEMPTS {
            let mut tx = self.pool.begin().await?;
            match value {
                Some(v) => {
                    sqlx::query("DELETE FROM controls WHERE name = $1")
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO controls (name, value, actor, reason, updated_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(name.as_str())
                    .bind(json_text(v))
                    .bind(audit.actor.clone())
                    .bind(audit.reason.clone())
                    .bind(at.as_millis())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM controls WHERE name = $1")
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            match self.append_audit_on(&mut tx, audit).await {
                Ok(record) => {
                    // Delivered to the other replicas at the commit, not before.
                    crate::changes::notify_on(&mut tx, self.backend, crate::Change::Controls)
                        .await?;
                    tx.commit().await?;
                    return Ok(record);
                }
                Err(StoreError::Conflict { .. }) => {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::conflict(
            "audit seq",
            format!("still contended after {ATTEMPTS} attempts"),
        ))
    }
}
