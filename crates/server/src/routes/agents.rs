//! The fleet: register agents, take their heartbeats (one or a batch), list and inspect them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hivesched_policy::{Agent, AgentId, AgentState, Pin, Time};
use hivesched_store::{
    AgentEventRecord, AgentRecord, Heartbeat, NewAgentEvent, StoreError, TaskCounters,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Auth, Operator, Viewer};
use crate::clock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, check_non_blank, non_blank_pattern};
use crate::openapi::{array, item_count, object, parameter, property, range};
use crate::pools::{check_pool, declare_pool, pool_or_default};
use crate::state::AppState;

/// Largest heartbeat batch accepted in one request.
pub const MAX_HEARTBEAT_BATCH: usize = 10_000;

/// Largest `context_tokens` accepted (2^63 − 1). The store keeps the count as a signed 64-bit
/// integer; a larger value would be stored clamped, i.e. silently changed, so it is refused.
pub const MAX_CONTEXT_TOKENS: u64 = i64::MAX.unsigned_abs();

/// Longest agent id, in characters (all of them ASCII, so also in bytes).
pub const MAX_AGENT_ID_LEN: usize = 128;

/// The characters of an agent id besides ASCII letters and digits: none of them needs escaping
/// in a URL path or breaks a log line. `-` is last so the pattern's character class reads it
/// literally.
const AGENT_ID_PUNCTUATION: [char; 4] = ['.', '_', ':', '-'];

/// The agent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, register_agent))
        .routes(routes!(get_agent))
        .routes(routes!(heartbeat))
        .routes(routes!(heartbeat_batch))
}

/// Lifecycle state of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStateDto {
    /// Serving work.
    Awake,
    /// Writing its checkpoint.
    PreparingSleep,
    /// Compacting its context.
    Consolidating,
    /// Not running, not billed.
    Asleep,
    /// Restoring from its checkpoint.
    Waking,
    /// A transition failed.
    Error,
}

impl From<AgentStateDto> for AgentState {
    fn from(s: AgentStateDto) -> Self {
        match s {
            AgentStateDto::Awake => AgentState::Awake,
            AgentStateDto::PreparingSleep => AgentState::PreparingSleep,
            AgentStateDto::Consolidating => AgentState::Consolidating,
            AgentStateDto::Asleep => AgentState::Asleep,
            AgentStateDto::Waking => AgentState::Waking,
            AgentStateDto::Error => AgentState::Error,
        }
    }
}

impl From<AgentState> for AgentStateDto {
    fn from(s: AgentState) -> Self {
        match s {
            AgentState::Awake => AgentStateDto::Awake,
            AgentState::PreparingSleep => AgentStateDto::PreparingSleep,
            AgentState::Consolidating => AgentStateDto::Consolidating,
            AgentState::Asleep => AgentStateDto::Asleep,
            AgentState::Waking => AgentStateDto::Waking,
            AgentState::Error => AgentStateDto::Error,
        }
    }
}

/// An operator pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinDto {
    /// Keep the agent awake.
    Awake,
    /// Keep the agent asleep.
    Asleep,
}

impl From<PinDto> for Pin {
    fn from(p: PinDto) -> Self {
        match p {
            PinDto::Awake => Pin::Awake,
            PinDto::Asleep => Pin::Asleep,
        }
    }
}

impl From<Pin> for PinDto {
    fn from(p: Pin) -> Self {
        match p {
            Pin::Awake => PinDto::Awake,
            Pin::Asleep => PinDto::Asleep,
        }
    }
}

/// One agent as the scheduler knows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// Fleet-wide identifier.
    pub id: String,
    /// Current state.
    pub state: AgentStateDto,
    /// Working right now (never put to sleep).
    pub busy: bool,
    /// Operator flag: never put to sleep.
    pub do_not_disrupt: bool,
    /// Operator pin.
    pub pin: Option<PinDto>,
    /// When the override (pin, do-not-disrupt) lapses; `null` means until removed.
    pub override_until: Option<DateTime<Utc>>,
    /// Since when the agent has been idle.
    pub idle_since: Option<DateTime<Utc>>,
    /// When the agent entered its state.
    pub last_transition: DateTime<Utc>,
    /// When a wake last started.
    pub last_wake: Option<DateTime<Utc>>,
    /// When a sleep last started.
    pub last_sleep: Option<DateTime<Utc>>,
    /// Context a sleep would consolidate, in tokens.
    pub context_tokens: u64,
    /// Work items waiting, from the last heartbeat.
    pub queue_depth: u32,
    /// When the agent last reported.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The pool the agent belongs to (`default` unless its heartbeats name another).
    pub pool: String,
}

impl From<&AgentRecord> for AgentView {
    fn from(r: &AgentRecord) -> Self {
        let a = &r.agent;
        AgentView {
            id: a.id.0.clone(),
            state: a.state.into(),
            busy: a.busy,
            do_not_disrupt: a.do_not_disrupt,
            pin: a.pin.map(Into::into),
            override_until: r.pin_until.map(clock::to_api),
            idle_since: a.idle_since.map(clock::to_api),
            last_transition: clock::to_api(a.last_transition),
            last_wake: a.last_wake.map(clock::to_api),
            last_sleep: a.last_sleep.map(clock::to_api),
            context_tokens: a.context_tokens,
            queue_depth: r.queue_depth,
            last_heartbeat: r.last_heartbeat.map(clock::to_api),
            pool: r.pool.clone(),
        }
    }
}

/// Which agents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    /// Only the agents of this pool (default: every pool's).
    pub pool: Option<String>,
}

/// The agents (every pool's, or one pool's), with counts per state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    /// The agents, ordered by id.
    pub agents: Vec<AgentView>,
    /// Number of agents.
    pub total: usize,
    /// Agents currently awake.
    pub awake: usize,
    /// Agents currently asleep.
    pub asleep: usize,
}

/// One entry of an agent's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentEventView {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Short machine name, e.g. `registered`, `override_set`.
    pub kind: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AgentEventRecord> for AgentEventView {
    fn from(r: AgentEventRecord) -> Self {
        AgentEventView {
            at: clock::to_api(r.event.at),
            kind: r.event.kind,
            detail: r.event.detail,
        }
    }
}

/// An agent and its recent history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentDetail {
    /// The agent.
    pub agent: AgentView,
    /// Its newest events, newest first (at most 50).
    pub events: Vec<AgentEventView>,
}

/// Registration of a new agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Identifier: letters, digits, `.`, `_`, `:` and `-` (length and pattern in the schema).
    pub id: String,
    /// Its state now (default `awake`).
    #[serde(default)]
    pub state: Option<AgentStateDto>,
    /// Whether it is working now (default false).
    #[serde(default)]
    pub busy: bool,
    /// Never put it to sleep (default false).
    #[serde(default)]
    pub do_not_disrupt: bool,
    /// Context it holds, in tokens (at most 2^63 − 1, what the store keeps exactly).
    #[serde(default)]
    pub context_tokens: u64,
    /// Why it is registered (recorded in the audit log; default "registered via API"); if
    /// given, not blank.
    #[serde(default)]
    pub reason: Option<String>,
    /// The pool it belongs to (default `default`): 1 to 64 of `a-z 0-9 _ -`, starting with
    /// a letter or digit.
    #[serde(default)]
    pub pool: Option<String>,
}

/// One agent's report about itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    /// Its state as it sees it.
    pub state: AgentStateDto,
    /// Whether it is working on something.
    pub busy: bool,
    /// Work items waiting (default 0).
    #[serde(default)]
    pub queue_depth: u32,
    /// Context a sleep would consolidate, in tokens (default 0, at most 2^63 − 1).
    #[serde(default)]
    pub context_tokens: u64,
    /// When the agent observed this (default: when the server received it); not before
    /// 1970-01-01T00:00:00Z, at most 5 minutes ahead of the server's clock.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Tasks completed since the agent's previous heartbeat (optional; the rollout
    /// guardrails' observations; at most 2^63 − 1).
    #[serde(default)]
    pub tasks_completed: Option<u64>,
    /// Tasks failed since the agent's previous heartbeat (optional; at most 2^63 − 1).
    #[serde(default)]
    pub tasks_failed: Option<u64>,
    /// p99 latency of those tasks in milliseconds (optional; 0 to 86 400 000).
    #[serde(default)]
    pub task_latency_ms_p99: Option<f64>,
    /// The pool the agent belongs to (default `default`; 1 to 64 of `a-z 0-9 _ -`, starting
    /// with a letter or digit). An agent that reports another pool moves to it; a pool named
    /// for the first time is created, and every replica plans it within seconds.
    #[serde(default)]
    pub pool: Option<String>,
}

/// A heartbeat in a batch: the body of a single heartbeat plus the agent id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchHeartbeat {
    /// Which agent reports.
    pub agent: String,
    /// Its state as it sees it.
    pub state: AgentStateDto,
    /// Whether it is working on something.
    pub busy: bool,
    /// Work items waiting (default 0).
    #[serde(default)]
    pub queue_depth: u32,
    /// Context a sleep would consolidate, in tokens (default 0, at most 2^63 − 1).
    #[serde(default)]
    pub context_tokens: u64,
    /// When the agent observed this (default: when the server received it); not before
    /// 1970-01-01T00:00:00Z, at most 5 minutes ahead of the server's clock.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Tasks completed since the agent's previous heartbeat (optional; the rollout
    /// guardrails' observations; at most 2^63 − 1).
    #[serde(default)]
    pub tasks_completed: Option<u64>,
    /// Tasks failed since the agent's previous heartbeat (optional; at most 2^63 − 1).
    #[serde(default)]
    pub tasks_failed: Option<u64>,
    /// p99 latency of those tasks in milliseconds (optional; 0 to 86 400 000).
    #[serde(default)]
    pub task_latency_ms_p99: Option<f64>,
    /// The pool the agent belongs to (default `default`), as in a single heartbeat.
    #[serde(default)]
    pub pool: Option<String>,
}

/// A batch of heartbeats.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBatch {
    /// The heartbeats (how many: `minItems`, `maxItems`); the newest per agent wins.
    pub heartbeats: Vec<BatchHeartbeat>,
}

/// How many reports were taken.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Items accepted.
    pub accepted: usize,
}

/// Checks an agent id: non-empty, bounded, and free of characters that break URLs and logs.
pub fn check_agent_id(field: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_AGENT_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || AGENT_ID_PUNCTUATION.contains(&c));
    if ok {
        Ok(())
    } else {
        let punctuation: Vec<String> = AGENT_ID_PUNCTUATION
            .iter()
            .map(|c| format!("'{c}'"))
            .collect();
        Err(ApiError::invalid_value(
            field,
            format!(
                "must be 1 to {MAX_AGENT_ID_LEN} characters of letters, digits, {}",
                punctuation.join(", ")
            ),
        ))
    }
}

/// The rule of [`check_agent_id`] as a JSON Schema `pattern`.
pub fn agent_id_pattern() -> String {
    let punctuation: String = AGENT_ID_PUNCTUATION.iter().collect();
    format!("^[A-Za-z0-9{punctuation}]{{1,{MAX_AGENT_ID_LEN}}}$")
}

/// Declares an agent id's rule on a string schema.
pub fn declare_agent_id(schema: &mut utoipa::openapi::schema::Object) {
    schema.pattern = Some(agent_id_pattern());
    schema.min_length = Some(1);
    schema.max_length = Some(MAX_AGENT_ID_LEN);
}

/// Declares `context_tokens` at most [`MAX_CONTEXT_TOKENS`].
fn declare_context_tokens(doc: &mut utoipa::openapi::OpenApi, component: &str) {
    object(property(doc, component, "context_tokens")).maximum = Some(MAX_CONTEXT_TOKENS.into());
}

/// The constraints of the agent routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    declare_agent_id(object(property(doc, "RegisterAgent", "id")));
    object(property(doc, "RegisterAgent", "reason")).pattern = Some(non_blank_pattern());
    declare_agent_id(object(property(doc, "BatchHeartbeat", "agent")));
    declare_agent_id(parameter(
        doc,
        Method::POST,
        "/api/v1/agents/{id}/heartbeat",
        "id",
    ));
    for component in ["RegisterAgent", "HeartbeatBody", "BatchHeartbeat"] {
        declare_context_tokens(doc, component);
        declare_pool(object(property(doc, component, "pool")));
    }
    declare_pool(parameter(doc, Method::GET, "/api/v1/agents", "pool"));
    for component in ["HeartbeatBody", "BatchHeartbeat"] {
        for counter in ["tasks_completed", "tasks_failed"] {
            object(property(doc, component, counter)).maximum = Some(MAX_CONTEXT_TOKENS.into());
        }
        range(
            object(property(doc, component, "task_latency_ms_p99")),
            0.0,
            MAX_TASK_LATENCY_MS,
        );
    }
    item_count(
        array(property(doc, "HeartbeatBatch", "heartbeats")),
        1,
        MAX_HEARTBEAT_BATCH,
    );
}

/// Largest `task_latency_ms_p99` accepted: one day, in milliseconds. A task slower than that
/// is a stuck task, not a latency, and an unbounded float would let one report swamp an arm.
pub const MAX_TASK_LATENCY_MS: f64 = 86_400_000.0;

/// The optional task counters of a heartbeat (`prefix` is the field path before their names);
/// `None` when none is given. Counts are deltas since the agent's previous heartbeat.
fn task_counters(
    prefix: &str,
    completed: Option<u64>,
    failed: Option<u64>,
    p99: Option<f64>,
) -> Result<Option<TaskCounters>, ApiError> {
    if completed.is_none() && failed.is_none() && p99.is_none() {
        return Ok(None);
    }
    let count = |name: &str, v: Option<u64>| {
        let v = v.unwrap_or(0);
        if v <= MAX_CONTEXT_TOKENS {
            Ok(v)
        } else {
            Err(ApiError::invalid_value(
                format!("{prefix}{name}"),
                format!("must be at most {MAX_CONTEXT_TOKENS}"),
            ))
        }
    };
    if let Some(ms) = p99
        && !(ms.is_finite() && (0.0..=MAX_TASK_LATENCY_MS).contains(&ms))
    {
        return Err(ApiError::invalid_value(
            format!("{prefix}task_latency_ms_p99"),
            format!("must be 0 to {MAX_TASK_LATENCY_MS}"),
        ));
    }
    Ok(Some(TaskCounters {
        completed: count("tasks_completed", completed)?,
        failed: count("tasks_failed", failed)?,
        latency_p99_ms: p99,
    }))
}

/// Checks a context size against [`MAX_CONTEXT_TOKENS`].
fn check_context_tokens(field: &str, tokens: u64) -> Result<u64, ApiError> {
    if tokens <= MAX_CONTEXT_TOKENS {
        Ok(tokens)
    } else {
        Err(ApiError::invalid_value(
            field,
            format!("must be at most {MAX_CONTEXT_TOKENS} (2^63 - 1), got {tokens}"),
        ))
    }
}

/// Resolves a heartbeat's optional time: when the server received it if absent, else checked
/// by the one rule for reported times ([`clock::reported_time`]).
fn heartbeat_time(field: &str, at: Option<DateTime<Utc>>, now: Time) -> Result<Time, ApiError> {
    at.map_or(Ok(now), |at| clock::reported_time(field, at, now))
}

/// List every agent, or one pool's.
#[utoipa::path(get, path = "/agents", tag = "agents", params(AgentQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Every agent (of every pool, or of `pool`), by id, \
            with counts by state.", body = AgentList),
        (status = 422, description = "`invalid_value`: `pool` breaks its rule.",
            body = ErrorBody)))]
async fn list_agents(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AgentQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let records = match &q.pool {
        Some(pool) => {
            check_pool("pool", pool)?;
            state.store.in_pool(pool).list_pool_agents().await?
        }
        None => state.store.list_agents().await?,
    };
    let agents: Vec<AgentView> = records.iter().map(AgentView::from).collect();
    let count = |s| agents.iter().filter(|a| a.state == s).count();
    Ok(Json(AgentList {
        total: agents.len(),
        awake: count(AgentStateDto::Awake),
        asleep: count(AgentStateDto::Asleep),
        agents,
    }))
}

/// Register an agent (audited as `agent.register`).
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = RegisterAgent,
    security(("bearer" = ["operator"])),
    responses((status = 201, description = "Registered.", body = AgentView),
        (status = 409, description = "`conflict`: an agent with this id is registered, or \
            `pool` would be one pool more than the most agents may create (100).",
            body = ErrorBody),
        (status = 422, description = "`invalid_value`: `id`, `context_tokens` or `reason` \
            breaks its rule; `field` names it.", body = ErrorBody)))]
async fn register_agent(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    check_agent_id("id", &body.id)?;
    let pool = pool_or_default("pool", body.pool.as_deref())?;
    let context_tokens = check_context_tokens("context_tokens", body.context_tokens)?;
    if let Some(reason) = &body.reason {
        check_non_blank("reason", reason)?;
    }
    let id = AgentId(body.id.clone());
    match state.store.get_agent(&id).await {
        Ok(_) => {
            return Err(ApiError::Conflict(format!(
                "agent {} is already registered",
                body.id
            )));
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let now = state.now();
    let mut agent = Agent::awake(body.id.clone(), now);
    agent.state = body.state.map_or(AgentState::Awake, Into::into);
    agent.busy = body.busy;
    agent.do_not_disrupt = body.do_not_disrupt;
    agent.context_tokens = context_tokens;
    if body.busy {
        agent.idle_since = None;
    }
    let record = AgentRecord {
        agent,
        pin_until: None,
        queue_depth: 0,
        last_heartbeat: None,
        pool: pool.clone(),
    };
    state
        .store
        .in_pool(&pool)
        .ensure_pool_within(hivesched_store::MAX_POOLS)
        .await?;
    state.store.upsert_agent(&record).await?;
    start_pool(&state, &pool);
    let view = AgentView::from(&record);
    state
        .store
        .record_agent_events(&[NewAgentEvent {
            at: now,
            agent: id,
            kind: "registered".into(),
            detail: serde_json::json!({ "by": auth.claims.sub }),
        }])
        .await?;
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "agent.register",
            target: &body.id,
            before: serde_json::Value::Null,
            after: audit::json(&view),
            reason: body.reason.as_deref().unwrap_or("registered via API"),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One agent and its recent events.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The agent and its newest events.", body = AgentDetail),
        (status = 404, description = "`not_found`: no agent with this id.", body = ErrorBody)))]
async fn get_agent(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgentDetail>, ApiError> {
    let id = AgentId(id);
    let record = state.store.get_agent(&id).await?;
    let events = state.store.list_agent_events(Some(&id), 50).await?;
    Ok(Json(AgentDetail {
        agent: AgentView::from(&record),
        events: events.into_iter().map(Into::into).collect(),
    }))
}

/// One agent's heartbeat; an unknown agent is registered as it reports.
#[utoipa::path(post, path = "/agents/{id}/heartbeat", tag = "agents", request_body = HeartbeatBody,
    params(("id" = String, Path, description = "Agent id")),
    security(("bearer" = ["operator"])),
    responses((status = 202, description = "Recorded (durably: answered after its commit).",
            body = Accepted),
        (status = 409, description = "`conflict`: `pool` is new and would be one pool more \
            than the most agents may create (100).", body = ErrorBody),
        (status = 422, description = "`invalid_value`: the path's agent id, `context_tokens` \
            or `at` breaks its rule; `field` names it.", body = ErrorBody)))]
async fn heartbeat(
    _auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HeartbeatBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    check_agent_id("id", &id)?;
    let pool = pool_or_default("pool", body.pool.as_deref())?;
    let beat = Heartbeat {
        agent: AgentId(id),
        at: heartbeat_time("at", body.at, state.now())?,
        state: body.state.into(),
        busy: body.busy,
        queue_depth: body.queue_depth,
        context_tokens: check_context_tokens("context_tokens", body.context_tokens)?,
        tasks: task_counters(
            "",
            body.tasks_completed,
            body.tasks_failed,
            body.task_latency_ms_p99,
        )?,
    };
    state.heartbeats.record_in(&pool, beat).await?;
    start_pool(&state, &pool);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: 1 })))
}

/// Many agents' heartbeats in one request (the efficient path for large fleets).
#[utoipa::path(post, path = "/heartbeats", tag = "agents", request_body = HeartbeatBatch,
    security(("bearer" = ["operator"])),
    responses((status = 202, description = "Recorded, all of one pool in one transaction.",
            body = Accepted),
        (status = 409, description = "`conflict`: an entry's `pool` is new and would be one \
            pool more than the most agents may create (100); no heartbeat of the batch is stored.",
            body = ErrorBody),
        (status = 422, description = "`invalid_value`: `heartbeats` is empty or too long, or \
            an entry's `agent`, `context_tokens`, `at` or `pool` breaks its rule; `field` names \
            it.",
            body = ErrorBody)))]
async fn heartbeat_batch(
    _auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<HeartbeatBatch>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let n = body.heartbeats.len();
    if n == 0 || n > MAX_HEARTBEAT_BATCH {
        return Err(ApiError::invalid_value(
            "heartbeats",
            format!("must hold 1 to {MAX_HEARTBEAT_BATCH} entries, got {n}"),
        ));
    }
    let now = state.now();
    let beats = body
        .heartbeats
        .into_iter()
        .enumerate()
        .map(|(i, hb)| {
            check_agent_id(&format!("heartbeats[{i}].agent"), &hb.agent)?;
            let pool = pool_or_default(&format!("heartbeats[{i}].pool"), hb.pool.as_deref())?;
            let beat = Heartbeat {
                agent: AgentId(hb.agent),
                at: heartbeat_time(&format!("heartbeats[{i}].at"), hb.at, now)?,
                state: hb.state.into(),
                busy: hb.busy,
                queue_depth: hb.queue_depth,
                context_tokens: check_context_tokens(
                    &format!("heartbeats[{i}].context_tokens"),
                    hb.context_tokens,
                )?,
                tasks: task_counters(
                    &format!("heartbeats[{i}]."),
                    hb.tasks_completed,
                    hb.tasks_failed,
                    hb.task_latency_ms_p99,
                )?,
            };
            Ok((pool, beat))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut by_pool: std::collections::BTreeMap<String, Vec<Heartbeat>> = Default::default();
    for (pool, beat) in beats {
        by_pool.entry(pool).or_default().push(beat);
    }
    // Every new pool is recorded (or refused) before any heartbeat is stored.
    for pool in by_pool.keys() {
        state.heartbeats.ensure_pool(pool).await?;
    }
    for (pool, beats) in &by_pool {
        state.heartbeats.write(pool, beats).await?;
        start_pool(&state, pool);
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })))
}

/// Starts the engine of a pool this replica does not plan yet, in the background (every
/// replica's discovery would within seconds; this one need not wait).
fn start_pool(state: &AppState, pool: &str) {
    if state.pools.get(pool).is_some() {
        return;
    }
    let pools = state.pools.clone();
    let pool = pool.to_owned();
    tokio::spawn(async move {
        if let Err(e) = pools.ensure(&pool).await {
            tracing::warn!(pool = %pool, error = %e, "cannot start the pool's engine");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_checked() {
        assert!(check_agent_id("id", "agent-7.eu:1_a").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(129)] {
            assert!(check_agent_id("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heartbeat_times_default_to_now_and_are_checked() {
        let now = Time::from_millis(1_000_000_000);
        let later = clock::to_api(Time::from_millis(now.as_millis() + 3_600_000));
        assert!(heartbeat_time("at", Some(later), now).is_err());
        assert_eq!(heartbeat_time("at", None, now).unwrap(), now);
    }

    #[test]
    fn context_tokens_beyond_what_the_store_holds_are_refused() {
        assert_eq!(MAX_CONTEXT_TOKENS, 9_223_372_036_854_775_807);
        assert_eq!(
            check_context_tokens("x", MAX_CONTEXT_TOKENS).unwrap(),
            MAX_CONTEXT_TOKENS
        );
        let err = check_context_tokens("heartbeats[3].context_tokens", MAX_CONTEXT_TOKENS + 1)
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidValue { field, .. } if field == "heartbeats[3].context_tokens"),
            "{err:?}"
        );
    }

    #[test]
    fn the_schema_declares_the_context_tokens_maximum() {
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        for schema in ["HeartbeatBody", "BatchHeartbeat", "RegisterAgent"] {
            let max =
                &doc["components"]["schemas"][schema]["properties"]["context_tokens"]["maximum"];
            assert_eq!(max.as_u64(), Some(MAX_CONTEXT_TOKENS), "{schema}: {max}");
        }
    }

    /// The declared pattern accepts exactly the ids the check accepts.
    #[test]
    fn the_agent_id_pattern_is_the_check() {
        let pattern = regex::Regex::new(&agent_id_pattern()).unwrap();
        let mut ids: Vec<String> = (0..0x3100u32)
            .filter_map(char::from_u32)
            .flat_map(|c| [c.to_string(), format!("a{c}b")])
            .collect();
        for len in [
            0,
            1,
            MAX_AGENT_ID_LEN - 1,
            MAX_AGENT_ID_LEN,
            MAX_AGENT_ID_LEN + 1,
        ] {
            ids.push("a".repeat(len));
            ids.push("é".repeat(len));
        }
        ids.extend(["agent-7.eu:1_a", "a\nb", "-", "..", "a b", "a/b", "a%20b"].map(String::from));
        for id in &ids {
            assert_eq!(
                pattern.is_match(id),
                check_agent_id("id", id).is_ok(),
                "{id:?}"
            );
        }
    }

    #[test]
    fn the_schema_declares_the_batch_size_and_the_id_rule() {
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let beats = &schemas["HeartbeatBatch"]["properties"]["heartbeats"];
        assert_eq!(beats["minItems"], 1);
        assert_eq!(beats["maxItems"], MAX_HEARTBEAT_BATCH);
        for id in [
            &schemas["RegisterAgent"]["properties"]["id"],
            &schemas["BatchHeartbeat"]["properties"]["agent"],
            &doc["paths"]["/api/v1/agents/{id}/heartbeat"]["post"]["parameters"][0]["schema"],
        ] {
            assert_eq!(id["pattern"].as_str(), Some(agent_id_pattern().as_str()));
        }
    }
}
