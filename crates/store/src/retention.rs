//! Time-based retention for the high-volume tables, and their day partitions on PostgreSQL.
//!
//! On both backends old rows go by batched deletes (bounded transactions, so writers are never
//! stalled behind one huge delete). On PostgreSQL the three largest tables
//! ([`RetainedTable::PARTITIONED`]) are also range-partitioned by day on `ts`: whole days older than the cutoff are dropped as partitions (constant time, no
//! vacuum debt), and only the boundary day and the default partition see deletes. See
//! docs/storage.md for why partitions rather than a BRIN index.

use std::time::Duration;

use hivesched_policy::Time;
use sqlx::AssertSqlSafe;

use crate::codec::get;
use crate::{Backend, Result, Store};

/// One day, the partition width.
pub(crate) const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;

/// Rows removed per delete statement.
const DELETE_BATCH: i64 = 10_000;

/// Arbitrary constant naming the advisory lock that serializes partition upkeep across processes.
const PARTITION_LOCK: i64 = 0x4869_7665_5061_7274;

/// A table that grows without bound and is cleaned up by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetainedTable {
    /// Demand samples (`ts` = observation time).
    DemandSamples,
    /// Scheduling decisions (`ts` = decision time).
    Decisions,
    /// Agent events (`ts` = event time).
    AgentEvents,
    /// The task counters agents report in heartbeats, the rollouts' observations (`ts` = the
    /// heartbeat's time). Read only for the window since a rollout's last check.
    TaskReports,
    /// Rollout decisions with their evidence (`ts` = decision time). The rollout's own state
    /// keeps the running totals its statistics need, so old decisions are history only.
    FlagDecisions,
}

impl RetainedTable {
    /// Every retained table.
    pub const ALL: [RetainedTable; 5] = [
        RetainedTable::DemandSamples,
        RetainedTable::Decisions,
        RetainedTable::AgentEvents,
        RetainedTable::TaskReports,
        RetainedTable::FlagDecisions,
    ];

    /// The tables partitioned by day on PostgreSQL; the others are purged by deletes alone
    /// (one row per heartbeat or per check: far fewer rows than agent events).
    pub const PARTITIONED: [RetainedTable; 3] = [
        RetainedTable::DemandSamples,
        RetainedTable::Decisions,
        RetainedTable::AgentEvents,
    ];

    /// Whether the table is partitioned by day on PostgreSQL.
    pub fn partitioned(self) -> bool {
        Self::PARTITIONED.contains(&self)
    }

    /// The table's SQL name.
    pub fn table_name(self) -> &'static str {
        match self {
            RetainedTable::DemandSamples => "demand_samples",
            RetainedTable::Decisions => "decisions",
            RetainedTable::AgentEvents => "agent_events",
            RetainedTable::TaskReports => "agent_task_reports",
            RetainedTable::FlagDecisions => "flag_decisions",
        }
    }

    /// The batched delete, keyed by the table's primary key so PostgreSQL can prune partitions.
    fn batched_delete(self) -> &'static str {
        match self {
            RetainedTable::DemandSamples => {
                "DELETE FROM demand_samples WHERE ts IN \
                 (SELECT ts FROM demand_samples WHERE ts < $1 ORDER BY ts LIMIT $2)"
            }
            RetainedTable::Decisions => {
                "DELETE FROM decisions WHERE ts < $1 AND (ts, id) IN \
                 (SELECT ts, id FROM decisions WHERE ts < $1 ORDER BY ts LIMIT $2)"
            }
            RetainedTable::AgentEvents => {
                "DELETE FROM agent_events WHERE ts < $1 AND (ts, id) IN \
                 (SELECT ts, id FROM agent_events WHERE ts < $1 ORDER BY ts LIMIT $2)"
            }
            RetainedTable::TaskReports => {
                "DELETE FROM agent_task_reports WHERE id IN \
                 (SELECT id FROM agent_task_reports WHERE ts < $1 ORDER BY ts LIMIT $2)"
            }
            RetainedTable::FlagDecisions => {
                "DELETE FROM flag_decisions WHERE id IN \
                 (SELECT id FROM flag_decisions WHERE ts < $1 ORDER BY ts LIMIT $2)"
            }
        }
    }
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Rows removed by deletes.
    pub rows_deleted: u64,
    /// Day partitions dropped whole (PostgreSQL only; their rows are not counted).
    pub partitions_dropped: Vec<String>,
}

/// `table_pYYYYMMDD` for the day starting `day * DAY_MS`.
fn partition_name(table: RetainedTable, day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{}_p{y:04}{m:02}{d:02}", table.table_name())
}

/// The day number (days since 1970-01-01) a partition name stands for.
fn partition_day(table: RetainedTable, name: &str) -> Option<i64> {
    let date = name.strip_prefix(table.table_name())?.strip_prefix("_p")?;
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = date[..4].parse().ok()?;
    let m = date[4..6].parse().ok()?;
    let d = date[6..].parse().ok()?;
    Some(days_from_civil(y, m, d))
}

/// Gregorian date of a day number (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day number of a Gregorian date (inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Store {
    /// Removes rows of `table` with `ts < cutoff`: on PostgreSQL by dropping every day partition
    /// that ends at or before `cutoff` (partitioned tables), then (both backends) by deletes in
    /// batches of 10 000.
    pub async fn purge_older_than(
        &self,
        table: RetainedTable,
        cutoff: Time,
    ) -> Result<PurgeReport> {
        let mut report = PurgeReport::default();
        if self.backend == Backend::Postgres && table.partitioned() {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PARTITION_LOCK)
                .execute(&mut *tx)
                .await?;
            for name in self.partitions(table).await? {
                let whole_day_old = partition_day(table, &name)
                    .is_some_and(|day| (day + 1) * DAY_MS <= cutoff.as_millis());
                if whole_day_old {
                    sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
                        .execute(&mut *tx)
                        .await?;
                    report.partitions_dropped.push(name);
                }
            }
            tx.commit().await?;
        }
        loop {
            let done = sqlx::query(table.batched_delete())
                .bind(cutoff.as_millis())
                .bind(DELETE_BATCH)
                .execute(&self.pool)
                .await?
                .rows_affected();
            report.rows_deleted += done;
            if done < DELETE_BATCH as u64 {
                return Ok(report);
            }
        }
    }

    /// Makes sure every partitioned table has a day partition for each day from `from` to `to`
    /// (inclusive) and returns the names created. Rows already sitting in the default partition
    /// for such a day are moved into the new partition. Does nothing on SQLite, which has no
    /// partitions.
    pub async fn ensure_partitions(&self, from: Time, to: Time) -> Result<Vec<String>> {
        let mut created = Vec::new();
        if self.backend != Backend::Postgres {
            return Ok(created);
        }
        let first = from.as_millis().div_euclid(DAY_MS);
        let last = to.as_millis().div_euclid(DAY_MS);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PARTITION_LOCK)
            .execute(&mut *tx)
            .await?;
        for table in RetainedTable::PARTITIONED {
            let existing = self.partitions(table).await?;
            let t = table.table_name();
            for day in first..=last {
                let name = partition_name(table, day);
                if existing.contains(&name) {
                    continue;
                }
                let (lo, hi) = (day * DAY_MS, (day + 1) * DAY_MS);
                for sql in [
                    format!(
                        "CREATE TABLE {name} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                    ),
                    format!(
                        "INSERT INTO {name} SELECT * FROM {t}_default WHERE ts >= {lo} AND ts < {hi}"
                    ),
                    format!("DELETE FROM {t}_default WHERE ts >= {lo} AND ts < {hi}"),
                    format!(
                        "ALTER TABLE {t} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
                    ),
                ] {
                    sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
                }
                created.push(name);
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The day partitions of `table` (in the current schema), oldest first; empty on SQLite
    /// and for a table that is not partitioned.
    pub async fn partitions(&self, table: RetainedTable) -> Result<Vec<String>> {
        if self.backend != Backend::Postgres || !table.partitioned() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT c.relname::text AS name FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             JOIN pg_namespace n ON n.oid = p.relnamespace \
             WHERE p.relname::text = $1 AND n.nspname::text = current_schema() \
             ORDER BY 1",
        )
        .bind(table.table_name().to_owned())
        .fetch_all(&self.pool)
        .await?;
        let mut names = rows
            .iter()
            .map(|row| get::<String>(row, "name"))
            .collect::<Result<Vec<_>>>()?;
        names.retain(|n| partition_day(table, n).is_some());
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_and_dates_agree() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_393), (2025, 11, 1));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        for day in [-1000, 0, 59, 60, 11_016, 20_393, 40_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn partition_names_parse_back() {
        let name = partition_name(RetainedTable::Decisions, 20_393);
        assert_eq!(name, "decisions_p20251101");
        assert_eq!(partition_day(RetainedTable::Decisions, &name), Some(20_393));
        assert_eq!(
            partition_day(RetainedTable::Decisions, "decisions_default"),
            None
        );
        assert_eq!(partition_day(RetainedTable::AgentEvents, &name), None);
    }
}
