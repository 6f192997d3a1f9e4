//! Writing one hash-chained audit record per change, with the token subject as the actor.

use hivesched_store::{NewAuditRecord, Store};
use serde::Serialize;

use crate::clock;
use crate::error::ApiError;

/// One change to record: what, on what, the state before and after, and why.
#[derive(Debug)]
pub struct Change<'a> {
    /// Kind of change, e.g. `config.update`, `agent.override`, `emergency.stop`.
    pub action: &'a str,
    /// What it applied to: an agent id, `config`, `fleet`, a bulk operation id.
    pub target: &'a str,
    /// State before (`null` when created).
    pub before: serde_json::Value,
    /// State after (`null` when removed).
    pub after: serde_json::Value,
    /// Why, in the actor's words.
    pub reason: &'a str,
}

/// Appends `change` by `actor` to the audit chain, timestamped now.
pub async fn record(store: &Store, actor: &str, change: Change<'_>) -> Result<(), ApiError> {
    store.append_audit(&new_record(actor, change)).await?;
    Ok(())
}

/// `change` by `actor` as a record, timestamped now, for writes that store it in the same
/// transaction as the change itself (controls, bulk operations).
pub fn new_record(actor: &str, change: Change<'_>) -> NewAuditRecord {
    NewAuditRecord {
        at: clock::now(),
        actor: actor.to_owned(),
        action: change.action.to_owned(),
        target: change.target.to_owned(),
        before: change.before,
        after: change.after,
        reason: change.reason.to_owned(),
    }
}

/// Any serializable value as audit JSON (`null` if it cannot be represented).
pub fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
