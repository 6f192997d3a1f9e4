//! Operator commands that work on the database without a running server: issuing one-time
//! codes and verifying the audit chain (`hivesched auth issue-code`, `hivesched audit verify`).

use std::time::Duration;

use hivesched_store::{AuditKey, AuditVerification, Store};

use crate::auth::{CODE_PURPOSE_EMERGENCY, issue_code};
use crate::clock;
use crate::error::ApiError;

/// Issues an emergency-control code valid for `ttl`, stored hashed in `database_url`.
pub async fn issue_emergency_code(
    database_url: &str,
    issued_by: &str,
    ttl: Duration,
) -> Result<String, ApiError> {
    let store = Store::connect(database_url).await?;
    let code = issue_code(&store, CODE_PURPOSE_EMERGENCY, issued_by, ttl, clock::now()).await;
    store.close().await;
    code
}

/// Walks the audit chain in `database_url` and reports the first broken record, if any. With
/// `key`, keyed records are checked in full; without it, only their links.
pub async fn verify_audit(
    database_url: &str,
    key: Option<AuditKey>,
) -> Result<AuditVerification, ApiError> {
    let mut store = Store::connect(database_url).await?;
    if let Some(key) = key {
        store = store.with_audit_key(key);
    }
    let verification = store.verify_audit_chain().await;
    store.close().await;
    Ok(verification?)
}
