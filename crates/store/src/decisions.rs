//! One record per scheduling tick, so every action (or inaction) can be explained afterwards.

use hivesched_policy::savings::UsageSample;
use hivesched_policy::{Decision, FleetCounts, Time};
use sqlx::any::AnyRow;

use crate::codec::{
    enum_text, get, get_bool, get_time, get_unsigned, json_text, parse_enum, parse_json,
};
use crate::fencing::fence;
use crate::{Result, Store};

/// Position in the newest-first decision listing; pass the last record's cursor to get the next
/// page (keyset paging stays fast at millions of rows, unlike OFFSET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionCursor {
    /// Decision time of the last record seen.
    pub at: Time,
    /// Id of the last record seen.
    pub id: i64,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// Database id.
    pub id: i64,
    /// The decision as the scheduler made it.
    pub decision: Decision,
}

impl DecisionRecord {
    /// The cursor that continues the listing after this record.
    pub fn cursor(&self) -> DecisionCursor {
        DecisionCursor {
            at: self.decision.at,
            id: self.id,
        }
    }
}

fn decision_from_row(row: &AnyRow) -> Result<DecisionRecord> {
    Ok(DecisionRecord {
        id: get(row, "id")?,
        decision: Decision {
            at: get_time(row, "ts")?,
            mode: parse_enum("mode", &get::<String>(row, "mode")?)?,
            shadow: get_bool(row, "shadow")?,
            target_awake: get_unsigned(row, "target_awake")?,
            sleep_floor: get_unsigned(row, "sleep_floor")?,
            tier: parse_enum("tier", &get::<String>(row, "tier")?)?,
            actions: parse_json("actions", &get::<String>(row, "actions")?)?,
            blocked: parse_json("blocked", &get::<String>(row, "blocked")?)?,
            explanation: get(row, "explanation")?,
            sleep_hold: get::<Option<String>>(row, "sleep_hold")?
                .map(|r| parse_enum("sleep_hold", &r))
                .transpose()?,
        },
    })
}

impl Store {
    /// Records a decision, with the fleet it was made on, and returns its id (unguarded: for a
    /// process that is the only writer; a leader uses [`Store::insert_decision_fenced`]).
    pub async fn insert_decision(&self, d: &Decision, fleet: FleetCounts) -> Result<i64> {
        self.insert_decision_fenced(d, fleet, None).await
    }

    /// Records a decision in one transaction with the fencing check: with `Some(token)`, a
    /// token lower than the highest that has written is [`StoreError::Fenced`](crate::StoreError::Fenced)
    /// and nothing is stored.
    pub async fn insert_decision_fenced(
        &self,
        d: &Decision,
        fleet: FleetCounts,
        fencing_token: Option<i64>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        if let Some(token) = fencing_token {
            fence(&mut tx, &self.scope, token).await?;
        }
        let row = sqlx::query(
            "INSERT INTO decisions (ts, mode, shadow, tier, target_awake, sleep_floor, actions, \
             blocked, explanation, sleep_hold, agents_total, agents_billed, pool) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(d.at.as_millis())
        .bind(enum_text(&d.mode))
        .bind(i64::from(d.shadow))
        .bind(enum_text(&d.tier))
        .bind(i64::from(d.target_awake))
        .bind(i64::from(d.sleep_floor))
        .bind(json_text(&d.actions))
        .bind(json_text(&d.blocked))
        .bind(d.explanation.clone())
        .bind(d.sleep_hold.map(|r| r.as_str()))
        .bind(i64::from(fleet.total))
        .bind(i64::from(fleet.billed()))
        .bind(self.scope.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let id = get(&row, "id")?;
        tx.commit().await?;
        Ok(id)
    }

    /// The pool's fleet as each of its decisions in `[from, to)` saw it, oldest first, plus the last decision
    /// before `from` (it covers the start of the window): the samples savings are summed from.
    /// Decisions stored before the fleet size was recorded are skipped.
    pub async fn usage(&self, from: Time, to: Time) -> Result<Vec<UsageSample>> {
        let rows = sqlx::query(
            "SELECT ts, agents_total, agents_billed, sleep_floor FROM decisions \
             WHERE pool = $3 AND agents_total IS NOT NULL AND ts < $2 AND ts >= COALESCE( \
               (SELECT MAX(ts) FROM decisions WHERE pool = $3 AND ts < $1 \
                AND agents_total IS NOT NULL), $1) \
             ORDER BY ts, id",
        )
        .bind(from.as_millis())
        .bind(to.as_millis())
        .bind(self.scope.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageSample {
                    at: get_time(row, "ts")?,
                    total: get_unsigned(row, "agents_total")?,
                    billed: get_unsigned(row, "agents_billed")?,
                    planned: get_unsigned(row, "sleep_floor")?,
                })
            })
            .collect()
    }

    /// Up to `limit` decisions of this pool, newest first, starting after `after` (from the previous page).
    pub async fn list_decisions(
        &self,
        after: Option<DecisionCursor>,
        limit: u32,
    ) -> Result<Vec<DecisionRecord>> {
        let rows = match after {
            Some(c) => sqlx::query(
                "SELECT * FROM decisions WHERE pool = $4 AND (ts < $1 OR (ts = $1 AND id < $2)) \
                     ORDER BY ts DESC, id DESC LIMIT $3",
            )
            .bind(c.at.as_millis())
            .bind(c.id)
            .bind(i64::from(limit))
            .bind(self.scope.to_string())
            .fetch_all(&self.pool)
            .await?,
            None => {
                sqlx::query(
                    "SELECT * FROM decisions WHERE pool = $2 ORDER BY ts DESC, id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .bind(self.scope.to_string())
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(decision_from_row).collect()
    }
}
