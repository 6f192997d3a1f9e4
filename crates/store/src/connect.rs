//! Opening the store: backend detection, pool sizing, per-connection settings and migrations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hivesched_policy::Time;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::{Result, StoreError, migrations, retention};

/// Which database is behind the pool; only DDL and partition upkeep differ by backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file (`sqlite://path?mode=rwc`) or in memory (`sqlite::memory:`).
    Sqlite,
    /// PostgreSQL (`postgres://user@host:port/db`).
    Postgres,
}

impl Backend {
    /// Tells the backend from the URL scheme, refusing anything else before connecting.
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// A handle on the database; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// Keys the audit chain; `None` writes unkeyed records (see [`crate::audit`]).
    pub(crate) audit_key: Option<crate::audit::AuditKey>,
    /// PostgreSQL's URL, for the change listener's own connection (see [`crate::changes`]).
    pub(crate) url: Option<crate::changes::ListenUrl>,
    /// The pool of agents this handle reads and writes per-pool data for (demand, decisions,
    /// tasks, bulk operations, the fencing mark, the pool's agents): `default` unless chosen
    /// with [`Store::in_pool`]. Everything else is shared by all pools.
    pub(crate) scope: std::sync::Arc<str>,
}

/// Days of PostgreSQL partitions created ahead of today on connect, so inserts never wait for upkeep.
const PARTITION_DAYS_AHEAD: i64 = 7;

/// How long the first PostgreSQL connection may take. A reachable server answers in well under
/// a second; a longer wait means a dropped packet or a firewall, which waiting will not fix.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Connects, applies the embedded migrations, and on PostgreSQL creates the day partitions
    /// for yesterday through a week ahead.
    ///
    /// SQLite connections use WAL and `synchronous=NORMAL`; an in-memory database is a single
    /// connection kept for the life of the pool (each SQLite connection to `:memory:` would
    /// otherwise see its own empty database).
    ///
    /// PostgreSQL is first reached with one direct connection, bounded by
    /// `FIRST_CONNECT_TIMEOUT` (5 s), so a wrong host, port or password fails within seconds with
    /// its cause and the (redacted) URL; the pool alone retries for its whole acquire timeout
    /// and then reports only that it timed out.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Postgres {
            first_connection(url).await?;
        }
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = match backend {
            Backend::Sqlite if in_memory => AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            Backend::Sqlite => AnyPoolOptions::new().max_connections(4),
            Backend::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        migrations::migrator(backend).run(&pool).await?;
        let store = Store {
            pool,
            backend,
            audit_key: None,
            url: crate::changes::listen_url(backend, url),
            scope: std::sync::Arc::from(crate::fencing::DEFAULT_POOL),
        };
        if backend == Backend::Postgres {
            let today = wall_clock();
            store
                .ensure_partitions(
                    today.minus(retention::DAY),
                    today.plus(retention::DAY * PARTITION_DAYS_AHEAD as u32),
                )
                .await?;
        }
        Ok(store)
    }

    /// This store with audit records keyed (written and verified with HMAC-SHA-256) by `key`.
    pub fn with_audit_key(mut self, key: crate::audit::AuditKey) -> Store {
        self.audit_key = Some(key);
        self
    }

    /// The same database, scoped to the agent pool `pool`: demand, forecasts, model records,
    /// decisions, tasks, bulk operations, the fencing mark and [`Store::list_pool_agents`] are
    /// read and written for that pool only. The name is not checked here (see
    /// [`crate::check_pool_name`]).
    pub fn in_pool(&self, pool: &str) -> Store {
        let mut scoped = self.clone();
        scoped.scope = std::sync::Arc::from(pool);
        scoped
    }

    /// The agent pool this handle is scoped to (`default` unless [`Store::in_pool`] chose one).
    pub fn pool_name(&self) -> &str {
        &self.scope
    }

    /// The underlying pool, for one-off maintenance SQL (and for tests that must corrupt rows
    /// on purpose); application code should go through the typed methods.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs the migrations again; a no-op when the schema is current (used by tests and by
    /// operators who want to check a database without starting the service).
    pub async fn migrate(&self) -> Result<()> {
        migrations::migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// Round-trips a trivial query, for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every pooled connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The current wall-clock time; only partition upkeep on connect reads it (methods take `now`).
fn wall_clock() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Time::from_millis(ms)
}

/// Opens and closes one connection to `url`, or says why it cannot, naming the redacted URL.
async fn first_connection(url: &str) -> Result<()> {
    let cause = match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, AnyConnection::connect(url)).await
    {
        Ok(Ok(conn)) => {
            // Only the answer mattered; a failure to say goodbye does not.
            let _ = conn.close().await;
            return Ok(());
        }
        // sqlx's own text for an I/O error repeats what the wrapper below says.
        Ok(Err(sqlx::Error::Io(e))) => (e.kind(), e.to_string()),
        Ok(Err(e)) => (std::io::ErrorKind::Other, e.to_string()),
        Err(_) => (
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", FIRST_CONNECT_TIMEOUT.as_secs()),
        ),
    };
    // StoreError has no connect variant; an I/O error is what a failed connection is, and it
    // keeps the error a `Database` one (retryable, 503 at runtime) for every caller.
    Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
        cause.0,
        format!("connecting to {}: {}", redact(url), cause.1),
    ))))
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_told_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://root:secret@h/db").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
