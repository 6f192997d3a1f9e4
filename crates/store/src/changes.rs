//! Change notices between replicas: a write that is database state (the controls, the
//! configuration, a bulk submission) made through one replica is announced to every other
//! replica on the same database, so the leader acts on it within milliseconds instead of at
//! its next tick.
//!
//! PostgreSQL only, with `LISTEN`/`NOTIFY` on one channel ([`CHANNEL`]). The notice is sent
//! inside the writing transaction, so it is delivered if and only if the write committed, and
//! never before it is visible. Channels are database-wide while deployments (and tests) may
//! share a database in separate schemas, so the payload names the writer's schema
//! (`{schema}:{change}`) and a listener keeps only its own. SQLite has no notices: a SQLite
//! database serves one replica, which applies its own writes directly.
//!
//! Notices are a fast path, not the only path: a listener whose connection dropped may have
//! missed some ([`ChangeListener::recv`] says so, and the caller reloads everything), and the
//! leader still re-reads the controls at every tick.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, Row};

use crate::{Backend, Result, Store, StoreError};

/// The `LISTEN`/`NOTIFY` channel every replica uses.
pub const CHANNEL: &str = "hivesched_changes";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The emergency stop or the operator pause.
    Controls,
    /// The runtime settings (a new configuration version).
    Config,
    /// A bulk operation was submitted.
    Bulks,
}

impl Change {
    /// The word in the notice's payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Controls => "controls",
            Change::Config => "config",
            Change::Bulks => "bulks",
        }
    }

    fn parse(s: &str) -> Option<Change> {
        [Change::Controls, Change::Config, Change::Bulks]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What a listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// One change, committed.
    Changed(Change),
    /// The connection was lost and re-established: notices sent meanwhile are gone, so
    /// everything should be reloaded.
    MaybeMissed,
}

/// A PostgreSQL connection listening on [`CHANNEL`] for this store's schema.
pub struct ChangeListener {
    listener: PgListener,
    schema: String,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// The next notice for this schema. Reconnects by itself after a lost connection (and
    /// reports [`Heard::MaybeMissed`] once); an error means PostgreSQL could not be reached
    /// again now — the caller waits and calls again.
    pub async fn recv(&mut self) -> Result<Heard> {
        loop {
            let Some(n) = self.listener.try_recv().await? else {
                return Ok(Heard::MaybeMissed);
            };
            let Some((schema, what)) = n.payload().rsplit_once(':') else {
                continue;
            };
            if schema != self.schema {
                continue;
            }
            if let Some(change) = Change::parse(what) {
                return Ok(Heard::Changed(change));
            }
        }
    }
}

impl Store {
    /// Starts listening for other replicas' changes; `None` on SQLite (one replica).
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT current_schema()::text AS s")
            .fetch_one(&self.pool)
            .await?;
        let schema: String = row.try_get("s").map_err(StoreError::from)?;
        let mut listener = PgListener::connect(&url.0).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeListener { listener, schema }))
    }

    /// Announces `change` after the fact, outside any transaction (for writes that are one
    /// statement); a no-op on SQLite.
    pub async fn announce(&self, change: Change) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        notify_on(&mut conn, self.backend, change).await
    }
}

/// Sends the notice for `change` on `conn` — inside a transaction, delivered at its commit and
/// dropped by a rollback. A no-op on SQLite.
pub(crate) async fn notify_on(
    conn: &mut AnyConnection,
    backend: Backend,
    change: Change,
) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    // `pg_notify` returns void, which the Any driver cannot decode: select a constant instead.
    sqlx::query("SELECT 1 AS one FROM pg_notify($1, current_schema() || ':' || $2)")
        .bind(CHANNEL)
        .bind(change.as_str())
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}

/// PostgreSQL's URL kept for listener connections; never printed (it may hold a password).
#[derive(Clone)]
pub(crate) struct ListenUrl(Arc<str>);

impl std::fmt::Debug for ListenUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenUrl(..)")
    }
}

/// The URL kept for listener connections (`None` on SQLite).
pub(crate) fn listen_url(backend: Backend, url: &str) -> Option<ListenUrl> {
    (backend == Backend::Postgres).then(|| ListenUrl(Arc::from(url)))
}
