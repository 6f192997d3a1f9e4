//! The audit log: one hash-chained record per change, so tampering with stored history shows.
//!
//! Record `n` stores `hash = sha256(prev_hash || canonical(record))` with `prev_hash` the hash of
//! record `n - 1` (64 zeros for the first). The canonical form is every field, length-prefixed,
//! taken from the exact text stored, so verifying never depends on how JSON is re-serialized.
//! Sequence numbers are assigned by the writer as `last + 1` under the primary key: concurrent
//! appends race on the key, the loser re-reads the head and retries, and the chain never forks.
//! Editing, deleting or reordering a stored row breaks the chain at that row or the next one;
//! cutting records off the end is only visible against a head ([`Store::audit_head`]) kept
//! elsewhere.

use hivesched_policy::Time;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use crate::codec::{get, get_time, json_text, parse_json};
use crate::{Result, Store, StoreError};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Attempts at appending before a sustained race is reported as a conflict.
const APPEND_ATTEMPTS: usize = 200;

/// Records read per query while verifying, so memory stays flat for long logs.
const VERIFY_PAGE: i64 = 1000;

/// A change to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditRecord {
    /// When the change happened.
    pub at: Time,
    /// Who made it (token subject, `engine`, `system`).
    pub actor: String,
    /// What kind of change, e.g. `config.update`, `agent.pin`, `emergency.stop`, `actuator.sleep`.
    pub action: String,
    /// What it applied to (agent id, flag key, `config`).
    pub target: String,
    /// State before (JSON; `null` when created).
    pub before: serde_json::Value,
    /// State after (JSON; `null` when deleted).
    pub after: serde_json::Value,
    /// Why, in the actor's words.
    pub reason: String,
}

/// A stored audit record with its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Position in the chain, from 1 with no gaps.
    pub seq: i64,
    /// The change.
    pub record: NewAuditRecord,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Records checked before the first break (or all of them).
    pub checked: u64,
    /// The first record whose link or content does not verify; `None` when the chain is intact.
    pub first_broken: Option<i64>,
    /// Why that record fails.
    pub problem: Option<String>,
}

/// The stored text of one record, exactly as hashed.
struct StoredText {
    seq: i64,
    ts: i64,
    actor: String,
    action: String,
    target: String,
    before_json: String,
    after_json: String,
    reason: String,
}

impl StoredText {
    fn from_row(row: &AnyRow) -> Result<StoredText> {
        Ok(StoredText {
            seq: get(row, "seq")?,
            ts: get(row, "ts")?,
            actor: get(row, "actor")?,
            action: get(row, "action")?,
            target: get(row, "target")?,
            before_json: get(row, "before_json")?,
            after_json: get(row, "after_json")?,
            reason: get(row, "reason")?,
        })
    }

    /// `sha256(prev_hash || canonical)`, hex; each field is prefixed by its byte length so no
    /// two different records share a canonical form.
    fn chain_hash(&self, prev_hash: &str) -> String {
        let mut h = Sha256::new();
        h.update(prev_hash.as_bytes());
        let seq = self.seq.to_string();
        let ts = self.ts.to_string();
        for field in [
            seq.as_str(),
            ts.as_str(),
            &self.actor,
            &self.action,
            &self.target,
            &self.before_json,
            &self.after_json,
            &self.reason,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: get(row, "seq")?,
        record: NewAuditRecord {
            at: get_time(row, "ts")?,
            actor: get(row, "actor")?,
            action: get(row, "action")?,
            target: get(row, "target")?,
            before: parse_json("before_json", &get::<String>(row, "before_json")?)?,
            after: parse_json("after_json", &get::<String>(row, "after_json")?)?,
            reason: get(row, "reason")?,
        },
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

impl Store {
    /// Appends a record to the chain, computing its sequence number and hash. Safe under
    /// concurrent appenders on both backends (see the module docs).
    pub async fn append_audit(&self, r: &NewAuditRecord) -> Result<AuditRecord> {
        let before_json = json_text(&r.before);
        let after_json = json_text(&r.after);
        for _ in 0..APPEND_ATTEMPTS {
            let (last_seq, prev_hash) = match self.audit_head().await? {
                Some((seq, hash)) => (seq, hash),
                None => (0, GENESIS_HASH.to_owned()),
            };
            let text = StoredText {
                seq: last_seq + 1,
                ts: r.at.as_millis(),
                actor: r.actor.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
                before_json: before_json.clone(),
                after_json: after_json.clone(),
                reason: r.reason.clone(),
            };
            let hash = text.chain_hash(&prev_hash);
            let inserted = sqlx::query(
                "INSERT INTO audit_log (seq, ts, actor, action, target, before_json, after_json, \
                 reason, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(text.seq)
            .bind(text.ts)
            .bind(text.actor)
            .bind(text.action)
            .bind(text.target)
            .bind(text.before_json)
            .bind(text.after_json)
            .bind(text.reason)
            .bind(prev_hash.clone())
            .bind(hash.clone())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::unique(e, "audit seq", text.seq.to_string()));
            match inserted {
                Ok(_) => {
                    return Ok(AuditRecord {
                        seq: text.seq,
                        record: r.clone(),
                        prev_hash,
                        hash,
                    });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::conflict(
            "audit seq",
            format!("still contended after {APPEND_ATTEMPTS} attempts"),
        ))
    }

    /// The newest record's sequence number and hash: publish it elsewhere (logs, metrics) to
    /// make truncation of the log detectable too.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok((get(&row, "seq")?, get(&row, "hash")?)))
            .transpose()
    }

    /// Up to `limit` records, newest first, with `seq` below `before_seq` when given.
    pub async fn list_audit(
        &self,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    /// Walks the whole chain from the first record and reports the first one that does not
    /// verify: a gap in `seq`, a `prev_hash` that is not the previous record's hash, or a hash
    /// that does not match the stored content.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut checked = 0;
        loop {
            let rows = sqlx::query("SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(expected_seq)
                .bind(VERIFY_PAGE)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(AuditVerification {
                    checked,
                    first_broken: None,
                    problem: None,
                });
            }
            for row in &rows {
                let text = StoredText::from_row(row)?;
                let stored_prev: String = get(row, "prev_hash")?;
                let stored_hash: String = get(row, "hash")?;
                let problem = if text.seq != expected_seq {
                    Some(format!("expected seq {expected_seq}, found {}", text.seq))
                } else if stored_prev != prev_hash {
                    Some("prev_hash does not match the previous record's hash".to_owned())
                } else if text.chain_hash(&prev_hash) != stored_hash {
                    Some("hash does not match the record's content".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Ok(AuditVerification {
                        checked,
                        first_broken: Some(text.seq),
                        problem: Some(problem),
                    });
                }
                checked += 1;
                expected_seq += 1;
                prev_hash = stored_hash;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(actor: &str, action: &str) -> StoredText {
        StoredText {
            seq: 1,
            ts: 0,
            actor: actor.into(),
            action: action.into(),
            target: String::new(),
            before_json: "null".into(),
            after_json: "null".into(),
            reason: String::new(),
        }
    }

    #[test]
    fn field_boundaries_are_part_of_the_hash() {
        // Plain concatenation would make these two records hash alike.
        assert_ne!(
            text("ab", "c").chain_hash(GENESIS_HASH),
            text("a", "bc").chain_hash(GENESIS_HASH)
        );
    }

    #[test]
    fn the_hash_depends_on_the_previous_one() {
        let t = text("a", "b");
        assert_ne!(t.chain_hash(GENESIS_HASH), t.chain_hash(&"1".repeat(64)));
        assert_eq!(t.chain_hash(GENESIS_HASH).len(), 64);
    }
}
