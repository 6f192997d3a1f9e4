//! Agents as the fleet last reported them, batched heartbeats, and the per-agent event history.

use std::collections::HashMap;

use hivesched_policy::{Agent, AgentId, AgentState, Pin, Time};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::codec::{
    MAX_BIND_PARAMS, enum_text, get, get_time, get_unsigned, int, json_text, parse_enum,
    parse_json, unsigned, values_placeholders,
};
use crate::{Backend, Result, Store, StoreError};

/// An agent row: what the planner sees ([`Agent`]) plus what only the service tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// The planner's view of the agent.
    pub agent: Agent,
    /// When the operator pin (if any) lapses; `None` means until removed.
    pub pin_until: Option<Time>,
    /// Work items waiting on the agent, from its last heartbeat.
    pub queue_depth: u32,
    /// When the agent last reported; `None` if it never did (registered by an operator).
    pub last_heartbeat: Option<Time>,
    /// The pool the agent belongs to (`default` unless its heartbeats name another).
    pub pool: String,
}

/// One agent's report (the pool it names is the store handle's: [`Store::in_pool`]); heartbeats are written in batches with [`Store::record_heartbeats`].
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Which agent reports.
    pub agent: AgentId,
    /// When the agent reported.
    pub at: Time,
    /// Its state as it sees it.
    pub state: AgentState,
    /// Whether it is working on something.
    pub busy: bool,
    /// Work items waiting.
    pub queue_depth: u32,
    /// Context a sleep would consolidate, in tokens.
    pub context_tokens: u64,
    /// Task counters since the agent's previous heartbeat, if it reports them.
    pub tasks: Option<TaskCounters>,
}

/// What an agent did since its previous heartbeat: the observations rollout guardrails judge.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TaskCounters {
    /// Tasks completed.
    pub completed: u64,
    /// Tasks failed.
    pub failed: u64,
    /// p99 task latency over those tasks (milliseconds), if the agent measures it.
    pub latency_p99_ms: Option<f64>,
}

/// One stored task report: an agent's counters from one heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    /// Which agent.
    pub agent: AgentId,
    /// The heartbeat's time.
    pub at: Time,
    /// The counters.
    pub counters: TaskCounters,
}

/// Something that happened to an agent, to append to its history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAgentEvent {
    /// When.
    pub at: Time,
    /// Which agent.
    pub agent: AgentId,
    /// Short machine name, e.g. `state_changed`, `pinned`, `sleep_requested`.
    pub kind: String,
    /// Details (stored as JSON).
    pub detail: serde_json::Value,
}

/// A stored agent event.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEventRecord {
    /// Increasing id, assigned by the database.
    pub id: i64,
    /// The event itself.
    pub event: NewAgentEvent,
}

const AGENT_COLUMNS: usize = 14;
const HEARTBEAT_COLUMNS: usize = 9;
const EVENT_COLUMNS: usize = 4;
const REPORT_COLUMNS: usize = 5;

/// An agents row as spelled by the JSON aggregate [`Store::list_agents`] reads; the field
/// order is the column order of [`agents_as_json`].
#[derive(serde::Deserialize)]
struct AgentJson {
    id: String,
    state: String,
    busy: i64,
    do_not_disrupt: i64,
    pin: Option<String>,
    pin_until: Option<i64>,
    idle_since: Option<i64>,
    last_transition: i64,
    last_wake: Option<i64>,
    last_sleep: Option<i64>,
    context_tokens: i64,
    queue_depth: i64,
    last_heartbeat: Option<i64>,
    pool: String,
}

impl AgentJson {
    fn into_record(self) -> Result<AgentRecord> {
        let time = |ms: Option<i64>| ms.map(Time::from_millis);
        Ok(AgentRecord {
            agent: Agent {
                id: AgentId(self.id),
                state: parse_enum("state", &self.state)?,
                busy: self.busy != 0,
                do_not_disrupt: self.do_not_disrupt != 0,
                pin: self.pin.map(|p| parse_enum::<Pin>("pin", &p)).transpose()?,
                idle_since: time(self.idle_since),
                last_transition: Time::from_millis(self.last_transition),
                last_wake: time(self.last_wake),
                last_sleep: time(self.last_sleep),
                context_tokens: unsigned("context_tokens", self.context_tokens)?,
            },
            pin_until: time(self.pin_until),
            queue_depth: unsigned("queue_depth", self.queue_depth)?,
            last_heartbeat: time(self.last_heartbeat),
            pool: self.pool,
        })
    }
}

/// Binds one agent row in the column order of the `agents` insert statements.
fn bind_agent<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    record: &AgentRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let a = &record.agent;
    q.bind(a.id.0.clone())
        .bind(enum_text(&a.state))
        .bind(i64::from(a.busy))
        .bind(i64::from(a.do_not_disrupt))
        .bind(a.pin.as_ref().map(enum_text))
        .bind(record.pin_until.map(Time::as_millis))
        .bind(a.idle_since.map(Time::as_millis))
        .bind(a.last_transition.as_millis())
        .bind(a.last_wake.map(Time::as_millis))
        .bind(a.last_sleep.map(Time::as_millis))
        .bind(int(a.context_tokens))
        .bind(i64::from(record.queue_depth))
        .bind(record.last_heartbeat.map(Time::as_millis))
        .bind(record.pool.clone())
}

/// Which agents [`agents_as_json`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Every agent.
    All,
    /// The agent whose id is bound as `$1`.
    One,
    /// The agents of the pool bound as `$1`.
    Pool,
}

/// Agents as one JSON array ordered by id, per backend: all of them, only the agent whose id
/// is bound as the first parameter, or only the pool's bound so. Each agent is a positional array in the
/// field order of [`AgentJson`] (serde reads a struct from an array), which keeps keys out of
/// a document that is megabytes long at 10 000 agents.
fn agents_as_json(backend: Backend, which: Which) -> String {
    const COLUMNS: &str = "id, state, busy, do_not_disrupt, pin, pin_until, idle_since, \
         last_transition, last_wake, last_sleep, context_tokens, queue_depth, last_heartbeat, \
         pool";
    let filter = match which {
        Which::All => "",
        Which::One => "WHERE id = $1",
        Which::Pool => "WHERE pool = $1",
    };
    match backend {
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({COLUMNS})) AS agents \
             FROM (SELECT * FROM agents {filter} ORDER BY id)"
        ),
        Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array({COLUMNS}) ORDER BY id), '[]'::json)::text \
             AS agents FROM agents {filter}"
        ),
    }
}

fn decode_agents(row: &AnyRow) -> Result<Vec<AgentRecord>> {
    let rows: Vec<AgentJson> = parse_json("agents", &get::<String>(row, "agents")?)?;
    rows.into_iter().map(AgentJson::into_record).collect()
}

fn event_from_row(row: &AnyRow) -> Result<AgentEventRecord> {
    Ok(AgentEventRecord {
        id: get(row, "id")?,
        event: NewAgentEvent {
            at: get_time(row, "ts")?,
            agent: AgentId(get(row, "agent_id")?),
            kind: get(row, "kind")?,
            detail: parse_json("detail", &get::<String>(row, "detail")?)?,
        },
    })
}

/// Keeps the newest heartbeat per agent, ordered by agent id.
///
/// PostgreSQL refuses to update one row twice in a statement, and a fixed row order means two
/// concurrent batches lock agents in the same order and cannot deadlock.
fn newest_per_agent(beats: &[Heartbeat]) -> Vec<&Heartbeat> {
    let mut newest: HashMap<&AgentId, &Heartbeat> = HashMap::with_capacity(beats.len());
    for hb in beats {
        newest
            .entry(&hb.agent)
            .and_modify(|cur| {
                if hb.at >= cur.at {
                    *cur = hb;
                }
            })
            .or_insert(hb);
    }
    let mut rows: Vec<&Heartbeat> = newest.into_values().collect();
    rows.sort_by(|a, b| a.agent.cmp(&b.agent));
    rows
}

impl Store {
    /// Inserts or fully replaces one agent (registration, overrides, engine transitions).
    pub async fn upsert_agent(&self, record: &AgentRecord) -> Result<()> {
        self.upsert_agents(std::slice::from_ref(record)).await
    }

    /// Inserts or fully replaces many agents in one transaction with multi-row upserts.
    pub async fn upsert_agents(&self, records: &[AgentRecord]) -> Result<()> {
        self.insert_agents(
            records,
            "state = excluded.state, busy = excluded.busy, \
             do_not_disrupt = excluded.do_not_disrupt, pin = excluded.pin, \
             pin_until = excluded.pin_until, idle_since = excluded.idle_since, \
             last_transition = excluded.last_transition, last_wake = excluded.last_wake, \
             last_sleep = excluded.last_sleep, context_tokens = excluded.context_tokens, \
             queue_depth = excluded.queue_depth, last_heartbeat = excluded.last_heartbeat, \
             pool = excluded.pool",
        )
        .await
    }

    /// Writes what a tick observed from the fleet's listing: a new agent is inserted whole; for a
    /// known one only the observed fields (state, busy, context, idle since, last transition)
    /// change. Operator fields (pin, do-not-disrupt), heartbeat fields and the pool are left alone, so an
    /// override or heartbeat that lands between the tick's read and this write is not undone.
    pub async fn observe_agents(&self, records: &[AgentRecord]) -> Result<()> {
        self.insert_agents(
            records,
            "state = excluded.state, busy = excluded.busy, \
             idle_since = excluded.idle_since, last_transition = excluded.last_transition, \
             context_tokens = excluded.context_tokens",
        )
        .await
    }

    /// Inserts agents in one transaction with multi-row statements; a row already there gets
    /// the `on_conflict` assignments.
    async fn insert_agents(
        &self,
        records: &[AgentRecord],
        on_conflict: &'static str,
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(MAX_BIND_PARAMS / AGENT_COLUMNS) {
            let sql = format!(
                "INSERT INTO agents (id, state, busy, do_not_disrupt, pin, pin_until, \
                 idle_since, last_transition, last_wake, last_sleep, context_tokens, \
                 queue_depth, last_heartbeat, pool) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET {on_conflict}",
                values_placeholders(self.backend, chunk.len(), AGENT_COLUMNS)
            );
            let q = chunk
                .iter()
                .fold(sqlx::query(AssertSqlSafe(sql)), bind_agent);
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets or clears an agent's operator override (pin, do-not-disrupt, until when) without
    /// touching anything else on the row; returns the agent as it now stands.
    pub async fn set_agent_override(
        &self,
        id: &AgentId,
        pin: Option<Pin>,
        do_not_disrupt: bool,
        until: Option<Time>,
    ) -> Result<AgentRecord> {
        let done = sqlx::query(
            "UPDATE agents SET pin = $1, do_not_disrupt = $2, pin_until = $3 WHERE id = $4",
        )
        .bind(pin.as_ref().map(enum_text))
        .bind(i64::from(do_not_disrupt))
        .bind(until.map(Time::as_millis))
        .bind(id.0.clone())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("agent", id.0.clone()));
        }
        self.get_agent(id).await
    }

    /// Clears every time-limited override (pin and do-not-disrupt) of this pool's agents whose
    /// end is at or before `now`, returning the agents it cleared. The condition is re-checked
    /// in the statement, so an override renewed meanwhile is kept.
    pub async fn clear_lapsed_overrides(&self, now: Time) -> Result<Vec<AgentId>> {
        let rows = sqlx::query(
            "UPDATE agents SET pin = NULL, do_not_disrupt = 0, pin_until = NULL \
             WHERE pin_until IS NOT NULL AND pin_until <= $1 AND pool = $2 RETURNING id",
        )
        .bind(now.as_millis())
        .bind(self.scope.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| get::<String>(r, "id").map(AgentId))
            .collect()
    }

    /// Records that the fleet accepted a sleep (`to` = preparing sleep) or a wake (`to` =
    /// waking) at `at`, touching only the state and movement times.
    pub async fn note_agent_moved(&self, id: &AgentId, to: AgentState, at: Time) -> Result<()> {
        let column = if to == AgentState::Waking {
            "last_wake"
        } else {
            "last_sleep"
        };
        let sql = format!(
            "UPDATE agents SET state = $1, {column} = $2, last_transition = $2 WHERE id = $3"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(enum_text(&to))
            .bind(at.as_millis())
            .bind(id.0.clone())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One agent, or [`StoreError::NotFound`].
    pub async fn get_agent(&self, id: &AgentId) -> Result<AgentRecord> {
        let row = sqlx::query(AssertSqlSafe(agents_as_json(self.backend, Which::One)))
            .bind(id.0.clone())
            .fetch_one(&self.pool)
            .await?;
        decode_agents(&row)?
            .pop()
            .ok_or_else(|| StoreError::not_found("agent", id.0.clone()))
    }

    /// Every agent of every pool, ordered by id ([`Store::list_pool_agents`]: one pool's).
    ///
    /// The rows come back as one JSON array built by the database rather than one result row
    /// per agent: the driver hands every row between threads and copies every column, which
    /// made reading 10 000 agents cost about 100 ms of a tick; one value parsed by serde costs
    /// a fraction of that (`cargo bench -p hivesched-engine --bench tick`).
    pub async fn list_agents(&self) -> Result<Vec<AgentRecord>> {
        let row = sqlx::query(AssertSqlSafe(agents_as_json(self.backend, Which::All)))
            .fetch_one(&self.pool)
            .await?;
        decode_agents(&row)
    }

    /// This handle's pool's agents, ordered by id: the fleet snapshot a pool's tick starts
    /// from (read as one JSON array, like [`Store::list_agents`]).
    pub async fn list_pool_agents(&self) -> Result<Vec<AgentRecord>> {
        let row = sqlx::query(AssertSqlSafe(agents_as_json(self.backend, Which::Pool)))
            .bind(self.scope.to_string())
            .fetch_one(&self.pool)
            .await?;
        decode_agents(&row)
    }

    /// The ids of the agents that belong to another pool than this handle's: a pool's tick
    /// leaves them alone when the fleet's listing (which spans every pool) names them.
    pub async fn agent_ids_outside_pool(&self) -> Result<std::collections::HashSet<AgentId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM agents WHERE pool <> $1")
            .bind(self.scope.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(ids.into_iter().map(AgentId).collect())
    }

    /// Removes an agent that left the fleet; its events stay until retention removes them.
    pub async fn delete_agent(&self, id: &AgentId) -> Result<()> {
        let done = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id.0.clone())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("agent", id.0.clone()));
        }
        Ok(())
    }

    /// Applies a batch of heartbeats of this handle's pool in one transaction with multi-row
    /// upserts; returns how many agent rows changed. An agent that reports a pool belongs to
    /// it from then on (one that moves is planned by its new pool from that pool's next tick).
    ///
    /// An unknown agent is registered awake-or-as-reported. For a known one the state, busy flag,
    /// queue depth and context are replaced; `last_transition` moves only when the state changed,
    /// `idle_since` is cleared while busy and kept while idle; operator fields (pin,
    /// do-not-disrupt) are untouched. A heartbeat older than the agent's last one is ignored, so
    /// reordered deliveries cannot roll state back.
    pub async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<u64> {
        let rows = newest_per_agent(beats);
        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        for chunk in rows.chunks(MAX_BIND_PARAMS / HEARTBEAT_COLUMNS) {
            let sql = format!(
                "INSERT INTO agents (id, state, busy, queue_depth, context_tokens, \
                 last_heartbeat, idle_since, last_transition, pool) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, busy = excluded.busy, \
                 pool = excluded.pool, \
                 queue_depth = excluded.queue_depth, context_tokens = excluded.context_tokens, \
                 last_heartbeat = excluded.last_heartbeat, \
                 idle_since = CASE WHEN excluded.busy <> 0 THEN NULL \
                   ELSE COALESCE(agents.idle_since, excluded.idle_since) END, \
                 last_transition = CASE WHEN agents.state = excluded.state \
                   THEN agents.last_transition ELSE excluded.last_transition END \
                 WHERE agents.last_heartbeat IS NULL \
                   OR agents.last_heartbeat <= excluded.last_heartbeat",
                values_placeholders(self.backend, chunk.len(), HEARTBEAT_COLUMNS)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for hb in chunk {
                let at = hb.at.as_millis();
                q = q
                    .bind(hb.agent.0.clone())
                    .bind(enum_text(&hb.state))
                    .bind(i64::from(hb.busy))
                    .bind(i64::from(hb.queue_depth))
                    .bind(int(hb.context_tokens))
                    .bind(at)
                    .bind((!hb.busy).then_some(at))
                    .bind(at)
                    .bind(self.scope.to_string());
            }
            changed += q.execute(&mut *tx).await?.rows_affected();
        }
        // Every report counts, not only the newest per agent: counters are deltas, so a batch
        // holding two heartbeats of one agent holds two windows of work.
        let reports: Vec<&Heartbeat> = beats.iter().filter(|hb| hb.tasks.is_some()).collect();
        for chunk in reports.chunks(MAX_BIND_PARAMS / REPORT_COLUMNS) {
            let sql = format!(
                "INSERT INTO agent_task_reports (agent_id, ts, completed, failed, \
                 latency_p99_ms) VALUES {}",
                values_placeholders(self.backend, chunk.len(), REPORT_COLUMNS)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for hb in chunk {
                let c = hb.tasks.unwrap_or_default();
                q = q
                    .bind(hb.agent.0.clone())
                    .bind(hb.at.as_millis())
                    .bind(int(c.completed))
                    .bind(int(c.failed))
                    .bind(c.latency_p99_ms);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Task reports with a time in `(after, until]`, oldest first.
    pub async fn task_reports(&self, after: Time, until: Time) -> Result<Vec<TaskReport>> {
        sqlx::query("SELECT * FROM agent_task_reports WHERE ts > $1 AND ts <= $2 ORDER BY ts, id")
            .bind(after.as_millis())
            .bind(until.as_millis())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(TaskReport {
                    agent: AgentId(get(row, "agent_id")?),
                    at: get_time(row, "ts")?,
                    counters: TaskCounters {
                        completed: get_unsigned(row, "completed")?,
                        failed: get_unsigned(row, "failed")?,
                        latency_p99_ms: get(row, "latency_p99_ms")?,
                    },
                })
            })
            .collect()
    }

    /// Appends agent events in one transaction with multi-row inserts.
    pub async fn record_agent_events(&self, events: &[NewAgentEvent]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in events.chunks(MAX_BIND_PARAMS / EVENT_COLUMNS) {
            let sql = format!(
                "INSERT INTO agent_events (ts, agent_id, kind, detail) VALUES {}",
                values_placeholders(self.backend, chunk.len(), EVENT_COLUMNS)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(e.at.as_millis())
                    .bind(e.agent.0.clone())
                    .bind(e.kind.clone())
                    .bind(json_text(&e.detail));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` events, of one agent or of all, newest first.
    pub async fn list_agent_events(
        &self,
        agent: Option<&AgentId>,
        limit: u32,
    ) -> Result<Vec<AgentEventRecord>> {
        let rows = match agent {
            Some(id) => {
                sqlx::query(
                    "SELECT * FROM agent_events WHERE agent_id = $1 \
                     ORDER BY ts DESC, id DESC LIMIT $2",
                )
                .bind(id.0.clone())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM agent_events ORDER BY ts DESC, id DESC LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(event_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(id: &str, at: i64) -> Heartbeat {
        Heartbeat {
            agent: AgentId::from(id),
            at: Time::from_millis(at),
            state: AgentState::Awake,
            busy: false,
            queue_depth: 0,
            context_tokens: 0,
            tasks: None,
        }
    }

    #[test]
    fn batches_keep_the_newest_beat_per_agent_in_id_order() {
        let beats = [hb("b", 1), hb("a", 5), hb("b", 3), hb("a", 2)];
        let rows = newest_per_agent(&beats);
        let got: Vec<(&str, i64)> = rows
            .iter()
            .map(|h| (h.agent.0.as_str(), h.at.as_millis()))
            .collect();
        assert_eq!(got, [("a", 5), ("b", 3)]);
    }
}
