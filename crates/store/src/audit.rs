//! The audit log: one chained record per change, so tampering with stored history shows.
//!
//! Record `n` stores `hash = MAC(prev_hash || canonical(record))` with `prev_hash` the hash of
//! record `n - 1` (64 zeros for the first). The MAC is HMAC-SHA-256 under the service's audit
//! key when the store has one ([`Store::with_audit_key`]; column `mac = 'hmac-sha256'`), and a
//! plain SHA-256 otherwise (`mac = 'sha256'`, what every record written before keys existed
//! uses). The canonical form is every field, length-prefixed, taken from the exact text stored,
//! so verifying never depends on how JSON is re-serialized. Sequence numbers are assigned by
//! the writer as `last + 1` under the primary key: concurrent appends race on the key, the loser
//! re-reads the head and retries, and the chain never forks.
//!
//! What it proves: editing, deleting or reordering a stored row breaks the chain at that row or
//! the next one. With a key, someone who can write the database but does not hold the key
//! cannot recompute the hashes after an edit, and cannot append a plain-SHA-256 record after a
//! keyed one (a downgrade is reported). Without the key a verifier checks only the links and the
//! unkeyed records. What it does not prove: that nothing was cut off the end (only visible
//! against a head, [`Store::audit_head`], kept elsewhere), nor anything against a holder of the
//! key, who can rewrite the whole chain.

use aws_lc_rs::hmac;
use hivesched_policy::Time;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
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
    /// Of those, keyed records whose content could not be checked: the verifier had no key
    /// (their links were checked).
    pub unverified: u64,
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

    /// `prev_hash || canonical`; each field is prefixed by its byte length so no two different
    /// records share a canonical form.
    fn message(&self, prev_hash: &str) -> Vec<u8> {
        let seq = self.seq.to_string();
        let ts = self.ts.to_string();
        let mut m = prev_hash.as_bytes().to_vec();
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
            m.extend_from_slice(&(field.len() as u64).to_be_bytes());
            m.extend_from_slice(field.as_bytes());
        }
        m
    }

    /// `sha256(prev_hash || canonical)`, hex: the unkeyed chain.
    fn chain_hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.message(prev_hash)))
    }

    /// `hmac_sha256(key, prev_hash || canonical)`, hex: the keyed chain.
    fn chain_mac(&self, key: &hmac::Key, prev_hash: &str) -> String {
        hex::encode(hmac::sign(key, &self.message(prev_hash)).as_ref())
    }
}

/// How a record's hash is computed, as the `mac` column names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mac {
    Sha256,
    HmacSha256,
}

impl Mac {
    fn as_str(self) -> &'static str {
        match self {
            Mac::Sha256 => "sha256",
            Mac::HmacSha256 => "hmac-sha256",
        }
    }

    fn parse(text: &str) -> Result<Mac> {
        match text {
            "sha256" => Ok(Mac::Sha256),
            "hmac-sha256" => Ok(Mac::HmacSha256),
            other => Err(StoreError::Corrupt {
                column: "mac",
                detail: format!("{other:?} is not sha256 or hmac-sha256"),
            }),
        }
    }
}

/// The secret behind the keyed chain.
#[derive(Clone)]
pub struct AuditKey(hmac::Key);

impl AuditKey {
    /// A key from secret bytes (at least 32, like the JWT secret it is usually derived from).
    pub fn new(secret: &[u8]) -> AuditKey {
        AuditKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The audit key derived from another secret (the JWT signing secret) under a fixed label,
    /// so one configured secret serves both without the two keys being equal.
    pub fn derived_from(secret: &[u8]) -> AuditKey {
        let outer = hmac::Key::new(hmac::HMAC_SHA256, secret);
        AuditKey::new(hmac::sign(&outer, b"hivesched audit chain v1").as_ref())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(redacted)")
    }
}

/// One row as the verifier reads it: the hashed text, the stored link and hash, the MAC kind.
fn read_chain_row(row: &AnyRow) -> Result<(StoredText, String, String, Mac)> {
    Ok((
        StoredText::from_row(row)?,
        get(row, "prev_hash")?,
        get(row, "hash")?,
        Mac::parse(&get::<String>(row, "mac")?)?,
    ))
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
    /// Appends a record to the chain, computing its sequence number and hash (keyed when the
    /// store has an audit key). Safe under concurrent appenders on both backends (see the
    /// module docs).
    pub async fn append_audit(&self, r: &NewAuditRecord) -> Result<AuditRecord> {
        for _ in 0..APPEND_ATTEMPTS {
            let mut conn = self.pool.acquire().await?;
            match self.append_audit_on(&mut conn, r).await {
                Err(StoreError::Conflict { .. }) => continue,
                done => return done,
            }
        }
        Err(StoreError::conflict(
            "audit seq",
            format!("still contended after {APPEND_ATTEMPTS} attempts"),
        ))
    }

    /// One attempt at appending on `conn` (a transaction's connection, so the record commits
    /// with the change it describes); a lost race on the sequence number is a
    /// [`StoreError::Conflict`] and the caller starts over.
    pub(crate) async fn append_audit_on(
        &self,
        conn: &mut AnyConnection,
        r: &NewAuditRecord,
    ) -> Result<AuditRecord> {
        let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
        let (last_seq, prev_hash): (i64, String) = match head {
            Some(row) => (get(&row, "seq")?, get(&row, "hash")?),
            None => (0, GENESIS_HASH.to_owned()),
        };
        let text = StoredText {
            seq: last_seq + 1,
            ts: r.at.as_millis(),
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            before_json: json_text(&r.before),
            after_json: json_text(&r.after),
            reason: r.reason.clone(),
        };
        let (mac, hash) = match &self.audit_key {
            Some(key) => (Mac::HmacSha256, text.chain_mac(&key.0, &prev_hash)),
            None => (Mac::Sha256, text.chain_hash(&prev_hash)),
        };
        let seq = text.seq;
        sqlx::query(
            "INSERT INTO audit_log (seq, ts, actor, action, target, before_json, after_json, \
             reason, prev_hash, hash, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .bind(mac.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::unique(e, "audit seq", seq.to_string()))?;
        Ok(AuditRecord {
            seq,
            record: r.clone(),
            prev_hash,
            hash,
        })
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
    /// verify: a gap in `seq`, a `prev_hash` that is not the previous record's hash, a hash
    /// that does not match the stored content (keyed records: only with the audit key), an
    /// unkeyed record after a keyed one, or a row that cannot be read at all.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut checked = 0;
        let mut unverified = 0;
        let mut keyed_seen = false;
        loop {
            let rows = sqlx::query("SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(expected_seq)
                .bind(VERIFY_PAGE)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(AuditVerification {
                    checked,
                    unverified,
                    first_broken: None,
                    problem: None,
                });
            }
            for row in &rows {
                let broken = |seq: i64, problem: String| {
                    Ok(AuditVerification {
                        checked,
                        unverified,
                        first_broken: Some(seq),
                        problem: Some(problem),
                    })
                };
                let (text, stored_prev, stored_hash, mac) = match read_chain_row(row) {
                    Ok(parts) => parts,
                    Err(e) => {
                        let seq = get::<i64>(row, "seq").unwrap_or(expected_seq);
                        return broken(seq, format!("the row cannot be read: {e}"));
                    }
                };
                let content_ok = match (mac, &self.audit_key) {
                    (Mac::Sha256, _) => Some(text.chain_hash(&prev_hash) == stored_hash),
                    (Mac::HmacSha256, Some(key)) => {
                        Some(text.chain_mac(&key.0, &prev_hash) == stored_hash)
                    }
                    (Mac::HmacSha256, None) => None,
                };
                let problem = if text.seq != expected_seq {
                    Some(format!("expected seq {expected_seq}, found {}", text.seq))
                } else if stored_prev != prev_hash {
                    Some("prev_hash does not match the previous record's hash".to_owned())
                } else if keyed_seen && mac == Mac::Sha256 {
                    Some("an unkeyed record after keyed ones (a downgrade)".to_owned())
                } else if content_ok == Some(false) {
                    Some(match mac {
                        Mac::Sha256 => "hash does not match the record's content".to_owned(),
                        Mac::HmacSha256 => {
                            "MAC does not match the record's content under this key".to_owned()
                        }
                    })
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return broken(text.seq, problem);
                }
                keyed_seen |= mac == Mac::HmacSha256;
                unverified += u64::from(content_ok.is_none());
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
    fn the_mac_depends_on_the_key() {
        let t = text("a", "b");
        let k1 = AuditKey::derived_from(b"one secret of at least thirty-two bytes");
        let k2 = AuditKey::derived_from(b"another secret of at least 32 bytes");
        assert_ne!(
            t.chain_mac(&k1.0, GENESIS_HASH),
            t.chain_mac(&k2.0, GENESIS_HASH)
        );
        assert_ne!(t.chain_mac(&k1.0, GENESIS_HASH), t.chain_hash(GENESIS_HASH));
        assert_eq!(t.chain_mac(&k1.0, GENESIS_HASH).len(), 64);
    }

    #[test]
    fn the_hash_depends_on_the_previous_one() {
        let t = text("a", "b");
        assert_ne!(t.chain_hash(GENESIS_HASH), t.chain_hash(&"1".repeat(64)));
        assert_eq!(t.chain_hash(GENESIS_HASH).len(), 64);
    }
}
