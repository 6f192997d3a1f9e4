//! The one error type of the store, so callers can tell "absent" and "someone else won" from faults.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or no longer qualifies, e.g. an expired code).
    #[error("{what} not found: {key}")]
    NotFound {
        /// Kind of record, e.g. "agent".
        what: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// A unique key is taken or a compare-and-set lost: another writer got there first.
    #[error("conflict on {what}: {key}")]
    Conflict {
        /// Kind of record, e.g. "task idempotency key".
        what: &'static str,
        /// The contested key.
        key: String,
    },
    /// The database (or the connection to it) failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (bad JSON, unknown enum name): the row is corrupt
    /// or was written by a newer version.
    #[error("corrupt {column} value: {detail}")]
    Corrupt {
        /// Column that held the value.
        column: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A write carried a fencing token lower than the highest that has written for its pool:
    /// a newer leader exists, and this writer must stop acting.
    #[error("fenced: pool {pool} has a newer leader than token {token}")]
    Fenced {
        /// The pool whose fencing mark refused the write.
        pool: String,
        /// The writer's (stale) token.
        token: i64,
    },
    /// The database URL names a backend the store does not support.
    #[error("unsupported database URL (use sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
}

/// Result alias used by every store method.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Maps a unique-key violation to [`StoreError::Conflict`], anything else to `Database`.
    pub(crate) fn unique(err: sqlx::Error, what: &'static str, key: impl Into<String>) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                what,
                key: key.into(),
            },
            _ => StoreError::Database(err),
        }
    }

    /// Shorthand for [`StoreError::NotFound`].
    pub(crate) fn not_found(what: &'static str, key: impl Into<String>) -> Self {
        StoreError::NotFound {
            what,
            key: key.into(),
        }
    }

    /// Shorthand for [`StoreError::Conflict`].
    pub(crate) fn conflict(what: &'static str, key: impl Into<String>) -> Self {
        StoreError::Conflict {
            what,
            key: key.into(),
        }
    }
}
