//! The live event stream's durable tail: every event the server published, by sequence number,
//! so a client that reconnects with `?since=N` gets what it missed beyond the in-memory buffer.

use hivesched_policy::Time;

use crate::codec::{MAX_BIND_PARAMS, get, get_time, json_text, parse_json};
use crate::{Result, Store};

/// One published event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// Position in the stream, strictly increasing.
    pub seq: i64,
    /// When it was published.
    pub at: Time,
    /// Its type (`decision`, `alert`, …).
    pub kind: String,
    /// Its payload.
    pub data: serde_json::Value,
}

impl Store {
    /// Stores events (a batch from the publisher); an already stored sequence number is kept.
    pub async fn insert_stream_events(&self, events: &[StreamEvent]) -> Result<()> {
        for chunk in events.chunks(MAX_BIND_PARAMS / 4) {
            let mut sql = String::from("INSERT INTO stream_events (seq, ts, kind, data) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            }
            sql.push_str(" ON CONFLICT (seq) DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at.as_millis())
                    .bind(e.kind.clone())
                    .bind(json_text(&e.data));
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub async fn stream_events_after(&self, seq: i64, limit: u32) -> Result<Vec<StreamEvent>> {
        sqlx::query("SELECT * FROM stream_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(StreamEvent {
                    seq: get(row, "seq")?,
                    at: get_time(row, "ts")?,
                    kind: get(row, "kind")?,
                    data: parse_json("data", &get::<String>(row, "data")?)?,
                })
            })
            .collect()
    }

    /// The newest stored sequence number (0 when none): a restarted server continues after it.
    pub async fn last_stream_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM stream_events")
            .fetch_one(&self.pool)
            .await?;
        get(&row, "seq")
    }

    /// Deletes events published before `before`; returns how many.
    pub async fn purge_stream_events_before(&self, before: Time) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM stream_events WHERE ts < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
