//! The embedded schema migrations, one list with a SQLite and a PostgreSQL file per version.
//!
//! Both backends share every table and column; they differ only where PostgreSQL gets more:
//! day-partitioned high-volume tables and `BIGSERIAL` instead of SQLite's `AUTOINCREMENT`. Pairing
//! the two files in one entry keeps the directories in lock-step (a missing file fails the build),
//! and the schema-parity test checks that both produce the same tables and columns.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::Backend;

/// One schema version: its description and the SQL for each backend.
struct Step {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// `step!(version, "NNNN", "name")` pairs `migrations/{sqlite,postgres}/NNNN_name.sql`; the
/// four-digit prefix is written out (not derived from the version) so the file names sort.
macro_rules! step {
    ($version:literal, $prefix:literal, $name:literal) => {
        Step {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!(
                "../migrations/sqlite/",
                $prefix,
                "_",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                "../migrations/postgres/",
                $prefix,
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

const STEPS: &[Step] = &[
    step!(1, "0001", "config"),
    step!(2, "0002", "agents"),
    step!(3, "0003", "demand_forecasts"),
    step!(4, "0004", "decisions"),
    step!(5, "0005", "tasks"),
    step!(6, "0006", "flags"),
    step!(7, "0007", "alerts_audit"),
    step!(8, "0008", "auth"),
    step!(9, "0009", "safety"),
    step!(10, "0010", "live"),
    step!(11, "0011", "rollouts"),
    step!(12, "0012", "fencing"),
    step!(13, "0013", "agents_pin_until"),
    step!(14, "0014", "pools"),
];

/// The migrator for `backend`: versions already applied are skipped, so running it on every
/// connect is idempotent; a changed file for an applied version is refused (checksum mismatch).
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = STEPS
        .iter()
        .map(|s| {
            let sql = match backend {
                Backend::Sqlite => s.sqlite,
                Backend::Postgres => s.postgres,
            };
            Migration::new(
                s.version,
                Cow::Borrowed(s.description),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    STEPS.last().map_or(0, |s| s.version)
}
