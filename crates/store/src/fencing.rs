//! The fencing mark: the highest leader token that has written for each pool, and the pools
//! themselves (a pool exists once it has a fencing row: configured, or heartbeated into).
//!
//! A guarded write runs in a transaction that first raises the mark to the writer's token
//! (`UPDATE … SET token = $t WHERE token <= $t`) and only then writes. A deposed leader's token
//! is below the mark its successor set, the `UPDATE` matches no row, and the transaction is
//! rolled back with [`StoreError::Fenced`]. On PostgreSQL the `UPDATE` also locks the mark's row
//! until commit, so a successor raising the mark concurrently waits and then wins; SQLite has
//! one writer at a time anyway. Unguarded writes (`None`) are for a process that is the only
//! writer (tools, tests, a replica running alone without an elector).

use sqlx::{Any, Transaction};

use crate::{Result, Store, StoreError};

/// The pool of every agent that does not name one.
pub const DEFAULT_POOL: &str = "default";

/// Longest pool name: it is part of Redis keys, metric labels and log lines.
pub const MAX_POOL_NAME: usize = 64;

/// Most pools an agent may create by naming one ([`Store::ensure_pool_within`]): every pool
/// runs an engine on every replica and holds a lease, so a typo in a fleet's configuration
/// must not start thousands. Configured pools are not counted against it at start.
pub const MAX_POOLS: usize = 100;

/// Checks a pool name: 1 to [`MAX_POOL_NAME`] of `a-z 0-9 _ -`, starting with a letter or a
/// digit. The error says what is expected (the caller names the field).
pub fn check_pool_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_POOL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?}: expected 1 to {MAX_POOL_NAME} of a-z 0-9 _ -, starting with a letter or digit"
        ))
    }
}

/// Raises `pool`'s mark to `token` inside `tx`, or fails with [`StoreError::Fenced`] when a
/// higher token has written.
pub(crate) async fn fence(
    tx: &mut Transaction<'static, Any>,
    pool: &str,
    token: i64,
) -> Result<()> {
    if tx.backend_name() == "PostgreSQL" {
        // The mark's row stays locked until this transaction ends. A writer frozen (SIGSTOP,
        // a stalled VM) or cut off between two of its statements would hold it for as long
        // as its connection lives, and the next leader's claim would wait on it just as long:
        // `hivesched chaos` saw a takeover stuck for 9 s behind a frozen leader's task insert.
        // Our guarded transactions send their statements back to back, so a second idle in
        // one means the writer is paused: PostgreSQL then ends its session, rolls its write
        // back (nothing half-written) and frees the row. One second is below every lease
        // (at least 1 s), so the lock is gone by the time another replica can hold the lease.
        sqlx::query("SET LOCAL idle_in_transaction_session_timeout = '1s'")
            .execute(&mut **tx)
            .await?;
    }
    let done = sqlx::query("UPDATE fencing SET token = $1 WHERE pool = $2 AND token <= $1")
        .bind(token)
        .bind(pool.to_owned())
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            pool: pool.to_owned(),
            token,
        })
    }
}

impl Store {
    /// The highest token that has written for this handle's pool (0 before any leader wrote,
    /// and for a pool not recorded yet).
    pub async fn fencing_mark(&self) -> Result<i64> {
        let token: Option<i64> = sqlx::query_scalar("SELECT token FROM fencing WHERE pool = $1")
            .bind(self.scope.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(token.unwrap_or(0))
    }

    /// Records this handle's pool (its fencing row, mark 0) if it is not yet: a pool exists
    /// from then on for every replica ([`Store::pools`]). Idempotent; never lowers a mark.
    pub async fn ensure_pool(&self) -> Result<()> {
        sqlx::query(
            "INSERT INTO fencing (pool, token) VALUES ($1, 0) ON CONFLICT (pool) DO NOTHING",
        )
        .bind(self.scope.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// [`Store::ensure_pool`], unless that would make more than `max` pools:
    /// [`StoreError::Conflict`] then (an existing pool is always fine).
    pub async fn ensure_pool_within(&self, max: usize) -> Result<()> {
        let pools = self.pools().await?;
        if pools.iter().any(|p| **p == *self.scope) {
            return Ok(());
        }
        if pools.len() >= max {
            return Err(StoreError::conflict(
                "pool",
                format!(
                    "{}: there are {} pools already, the most agents may create",
                    self.scope,
                    pools.len()
                ),
            ));
        }
        self.ensure_pool().await
    }

    /// Every pool recorded (configured, or heartbeated into), sorted by name; `default`
    /// always among them.
    pub async fn pools(&self) -> Result<Vec<String>> {
        let names: Vec<String> = sqlx::query_scalar("SELECT pool FROM fencing ORDER BY pool")
            .fetch_all(&self.pool)
            .await?;
        Ok(names)
    }

    /// Raises the mark to `token` without writing anything else: a new leader calls this as it
    /// takes over, so its predecessor's writes are refused from then on, not only from the new
    /// leader's first write. [`StoreError::Fenced`] if a newer leader already wrote.
    pub async fn claim_fencing(&self, token: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        fence(&mut tx, &self.scope, token).await?;
        tx.commit().await?;
        Ok(())
    }
}
