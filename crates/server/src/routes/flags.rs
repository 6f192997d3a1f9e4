//! Feature flags and their progressive rollouts: create, read and edit flags; advance, pause,
//! resume, roll back, approve 100 % and re-arm a breaker; read the evidence behind every
//! decision. Every change is audited; the decisions are the flags crate's (see
//! docs/rollout.md, "In the service").

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use hivesched_flags::{
    Command, Decision, Flag, FlagError, GuardrailConfig, Observations, Percent, RollbackMode,
    RolloutState, Rule, Variant,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Change};
use crate::auth::{Admin, Auth, Operator, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PageLimit, check_non_blank, non_blank_pattern};
use crate::openapi::{array, items, object, parameter, property};
use crate::rollouts::{self, StoredFlag};
use crate::state::AppState;

/// Longest flag key, in characters (all ASCII); the flags crate's own limit.
pub const MAX_FLAG_KEY_LEN: usize = 200;

/// The characters of a flag key besides ASCII letters and digits (as in agent ids: none needs
/// escaping in a URL path). `-` is last so the pattern's character class reads it literally.
const FLAG_KEY_PUNCTUATION: [char; 4] = ['.', '_', ':', '-'];

/// Decisions returned by the evidence route, newest first: 200 unless `limit` says fewer (the
/// dashboard reads a few every 10 s).
pub const EVIDENCE_DECISIONS: PageLimit = PageLimit::new(200, 200);

/// How many decisions the evidence route returns.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    /// Newest decisions to return (default and most: 200).
    pub limit: Option<u32>,
}

/// The flag routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_flags, create_flag))
        .routes(routes!(get_flag, patch_flag))
        .routes(routes!(advance))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(rollback))
        .routes(routes!(approve))
        .routes(routes!(rearm))
        .routes(routes!(evidence))
}

/// A flag, its rollout and the versions a write names.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    /// The definition.
    pub flag: Flag,
    /// The definition's version (1 on creation, +1 per edit).
    pub version: i64,
    /// Who last changed the definition.
    pub updated_by: String,
    /// The rollout.
    pub rollout: RolloutState,
    /// Whether the rollout's breaker is open (rolled back; only a re-arm closes it).
    pub breaker_open: bool,
}

impl From<&StoredFlag> for FlagView {
    fn from(s: &StoredFlag) -> Self {
        FlagView {
            flag: s.flag.clone(),
            version: s.flag_version,
            updated_by: s.updated_by.clone(),
            rollout: s.rollout.clone(),
            breaker_open: s.rollout.breaker_open(),
        }
    }
}

/// Every flag.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagList {
    /// The flags, by key.
    pub flags: Vec<FlagView>,
}

/// A new flag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlag {
    /// The definition; its rollout starts at the first stage of its ladder at once.
    pub flag: Flag,
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// Changes to a flag's definition: every field given replaces the stored one. The key, kind,
/// unit, salt and bucket version are fixed for a flag's life (changing any of them would move
/// units between arms or change what is served), so they cannot be patched.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagPatch {
    /// What the flag changes, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Variants served to treatment (variants flags only).
    #[serde(default)]
    pub variants: Option<Vec<Variant>>,
    /// Value served outside treatment (variants flags only).
    #[serde(default)]
    pub off_variant: Option<String>,
    /// Targeting rules (all must match).
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    /// Treatment shares in percent, strictly increasing, ending at 100.
    #[serde(default)]
    #[schema(value_type = Option<Vec<f64>>)]
    pub ladder: Option<Vec<Percent>>,
    /// Minimum time at each stage before advancing (seconds).
    #[serde(default)]
    pub min_bake: Option<u64>,
    /// Minimum units in each arm at a stage before advancing.
    #[serde(default)]
    pub min_units_per_arm: Option<u64>,
    /// Minimum time from the start of the rollout to 100 % (seconds).
    #[serde(default)]
    pub min_full_rollout: Option<u64>,
    /// Guardrail thresholds; replaces them all (keys not given take their defaults).
    #[serde(default)]
    pub guardrails: Option<GuardrailConfig>,
    /// What an automatic rollback does.
    #[serde(default)]
    pub rollback: Option<RollbackMode>,
    /// When on, everyone gets the off value and the next check rolls the rollout back.
    #[serde(default)]
    pub kill_switch: Option<bool>,
    /// The definition version this edit is based on; a different stored version is a 409.
    #[serde(default)]
    pub version: Option<i64>,
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// Why an operator acts on a rollout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutCommand {
    /// Why (recorded in the audit log).
    pub reason: String,
}

/// A rollout after an operator's action, and the decision it made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RolloutResult {
    /// The flag and its rollout now.
    pub flag: FlagView,
    /// The decision, as recorded.
    pub decision: Decision,
}

/// One recorded decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionEvidence {
    /// Increasing id.
    pub id: i64,
    /// Who: a token subject, or `hivesched` for automatic decisions.
    pub actor: String,
    /// The rollout revision it belongs to (+1 per re-arm).
    pub revision: i64,
    /// The decision: action, cause, what it waited for, every check with its numbers, gates.
    pub decision: Decision,
    /// What each arm reported in the window it judged (`null` for operator commands).
    pub observations: Option<Observations>,
    /// Each check in one sentence: what was measured against what.
    pub explanation: Vec<String>,
}

/// Everything behind a rollout's decisions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// The flag and its rollout now.
    pub flag: FlagView,
    /// What each arm reported in the newest judged window (`null` before the first check).
    pub arms: Option<Observations>,
    /// The newest decisions (at most `limit`, 200), newest first.
    pub decisions: Vec<DecisionEvidence>,
    /// For `scheduler.acting` only: what the latest rollback (or step down) of this process
    /// did to the agents the scheduler stopped acting on (`null` before one).
    pub release: Option<ReleaseView>,
}

/// Waking the agents the scheduler had put to sleep in the treatment arm after its rollout
/// rolled back or stepped down, through the admission gate like every other wake.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    /// When the rollout decided (milliseconds since the epoch, engine clock).
    pub decided_at: i64,
    /// Agents that left the treatment arm.
    pub released: u32,
    /// Of those, the agents the scheduler had put to sleep: the wakes owed.
    pub to_wake: u32,
    /// Wakes the fleet accepted so far.
    pub woken: u32,
    /// Seconds from the decision to the last wake the fleet accepted (`null` while wakes are
    /// owed or when there was none to make).
    pub seconds: Option<f64>,
    /// Every owed wake was accepted.
    pub done: bool,
}

/// Checks a flag key: 1 to 200 letters, digits, `.`, `_`, `:`, `-`.
pub fn check_flag_key(field: &str, key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_FLAG_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || FLAG_KEY_PUNCTUATION.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_value(
            field,
            format!(
                "must be 1 to {MAX_FLAG_KEY_LEN} characters of letters, digits, '.', '_', ':', '-'"
            ),
        ))
    }
}

/// The rule of [`check_flag_key`] as a JSON Schema pattern.
pub fn flag_key_pattern() -> String {
    let punctuation: String = FLAG_KEY_PUNCTUATION.iter().collect();
    format!("^[A-Za-z0-9{punctuation}]{{1,{MAX_FLAG_KEY_LEN}}}$")
}

fn declare_key(schema: &mut utoipa::openapi::schema::Object) {
    schema.pattern = Some(flag_key_pattern());
    schema.min_length = Some(1);
    schema.max_length = Some(MAX_FLAG_KEY_LEN);
}

/// Every path that takes a flag key, with the method of each operation on it.
pub(crate) const KEY_PATHS: [(&str, &[Method]); 8] = [
    ("/api/v1/flags/{key}", &[Method::GET, Method::PATCH]),
    ("/api/v1/flags/{key}/advance", &[Method::POST]),
    ("/api/v1/flags/{key}/pause", &[Method::POST]),
    ("/api/v1/flags/{key}/resume", &[Method::POST]),
    ("/api/v1/flags/{key}/rollback", &[Method::POST]),
    ("/api/v1/flags/{key}/approve", &[Method::POST]),
    ("/api/v1/flags/{key}/rearm", &[Method::POST]),
    ("/api/v1/flags/{key}/evidence", &[Method::GET]),
];

/// The constraints of the flag routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    for (path, methods) in KEY_PATHS {
        for method in methods {
            declare_key(parameter(doc, method.clone(), path, "key"));
        }
    }
    EVIDENCE_DECISIONS.declare(parameter(
        doc,
        Method::GET,
        "/api/v1/flags/{key}/evidence",
        "limit",
    ));
    declare_key(object(property(doc, "Flag", "key")));
    for field in ["salt", "unit"] {
        object(property(doc, "Flag", field)).min_length = Some(1);
    }
    object(property(doc, "FlagVariant", "weight")).minimum = Some(1.into());
    object(property(doc, "TargetingRule", "attribute")).min_length = Some(1);
    array(property(doc, "TargetingRule", "values")).min_items = Some(1);
    // A stage is a share above 0 and at most 100 (in steps of 0.01, which JSON Schema cannot
    // say exactly for decimals: the description does).
    for component in ["Flag", "FlagPatch"] {
        let stage = items(array(property(doc, component, "ladder")));
        stage.exclusive_minimum = Some(0.into());
        stage.maximum = Some(100.into());
    }
    for (field, min, max) in GUARDRAIL_BOUNDS {
        let schema = object(property(doc, "GuardrailConfig", field));
        match min {
            Bound::Inclusive(v) => schema.minimum = Some(v.into()),
            Bound::Exclusive(v) => schema.exclusive_minimum = Some(v.into()),
            Bound::None => {}
        }
        match max {
            Bound::Inclusive(v) => schema.maximum = Some(v.into()),
            Bound::Exclusive(v) => schema.exclusive_maximum = Some(v.into()),
            Bound::None => {}
        }
    }
    for component in ["CreateFlag", "FlagPatch", "RolloutCommand"] {
        object(property(doc, component, "reason")).pattern = Some(non_blank_pattern());
    }
}

/// One end of a declared range.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Inclusive(f64),
    Exclusive(f64),
    None,
}

/// The ranges `GuardrailConfig::validate` enforces, as declared in the document (a test holds
/// each end to the check).
const GUARDRAIL_BOUNDS: [(&str, Bound, Bound); 9] = [
    (
        "error_rate_slo",
        Bound::Exclusive(0.0),
        Bound::Exclusive(1.0),
    ),
    ("latency_tolerance_ms", Bound::Inclusive(0.0), Bound::None),
    (
        "throughput_drop_max",
        Bound::Exclusive(0.0),
        Bound::Exclusive(1.0),
    ),
    ("sustained_failures", Bound::Inclusive(1.0), Bound::None),
    ("alpha", Bound::Exclusive(0.0), Bound::Exclusive(0.5)),
    ("tuning_tasks", Bound::Inclusive(1.0), Bound::None),
    (
        "harm_tolerance",
        Bound::Inclusive(0.0),
        Bound::Exclusive(1.0),
    ),
    ("srm_p_min", Bound::Exclusive(0.0), Bound::Exclusive(1.0)),
    (
        "unserved_tolerance",
        Bound::Exclusive(0.0),
        Bound::Exclusive(1.0),
    ),
];

/// Creates `flag` and starts its rollout at its first stage, as `actor` with `reason`: validated
/// (422 naming the field), stored (409 if the key exists), put in force in the engine when it is
/// `scheduler.acting`, and audited as `flag.create`.
async fn create(
    state: &AppState,
    flag: Flag,
    actor: &str,
    reason: &str,
) -> Result<StoredFlag, ApiError> {
    check_non_blank("reason", reason)?;
    check_flag_key("flag.key", &flag.key)?;
    flag.validate().map_err(|e| invalid("flag.", e))?;
    rollouts::check_acting_kind("flag.", &flag)?;
    let decided = std::time::Instant::now();
    let now = state.now();
    let rollout = RolloutState::start(&flag, now);
    let key = flag.key.clone();
    state
        .store
        .create_flag(
            &key,
            &audit::json(&flag),
            &audit::json(&rollout),
            actor,
            reason,
            now,
        )
        .await?;
    let stored = rollouts::load(&state.store, &key).await?;
    if key == rollouts::ACTING_FLAG {
        rollouts::sync_acting(state, decided).await;
    }
    audit::record(
        &state.store,
        actor,
        Change {
            action: "flag.create",
            target: &key,
            before: serde_json::Value::Null,
            after: audit::json(&FlagView::from(&stored)),
            reason,
        },
    )
    .await?;
    Ok(stored)
}

/// A flags-crate validation error as a 422 naming the field under `prefix`.
fn invalid(prefix: &str, e: FlagError) -> ApiError {
    match e {
        FlagError::Invalid { field, reason } => {
            ApiError::invalid_value(format!("{prefix}{field}"), reason)
        }
        FlagError::NotAllowed { .. } => ApiError::Conflict(e.to_string()),
    }
}

/// Every flag and its rollout.
#[utoipa::path(get, path = "/flags", tag = "flags",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The flags, by key.", body = FlagList)))]
async fn list_flags(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
) -> Result<Json<FlagList>, ApiError> {
    let flags = rollouts::load_all(&state.store)
        .await?
        .into_iter()
        .map(|(_, f)| f.map(|f| FlagView::from(&f)))
        .collect::<Result<_, _>>()?;
    Ok(Json(FlagList { flags }))
}

/// Create a flag; its rollout starts at the first stage (audited as `flag.create`).
#[utoipa::path(post, path = "/flags", tag = "flags", request_body = CreateFlag,
    security(("bearer" = ["operator"])),
    responses((status = 201, description = "Created; the flag and its rollout.", body = FlagView),
        (status = 409, description = "`conflict`: a flag with this key exists.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank, or a field of `flag` \
            breaks its rule (`flag.key`, `flag.ladder`, `flag.guardrails.alpha`, \
            `flag.guardrails.kind` of `scheduler.acting`, which must be `service`, …); `field` \
            names it.", body = ErrorBody)))]
async fn create_flag(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateFlag>,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    let stored = create(&state, body.flag, &auth.claims.sub, &body.reason).await?;
    let view = FlagView::from(&stored);
    Ok((StatusCode::CREATED, Json(view)))
}

/// One flag and its rollout.
#[utoipa::path(get, path = "/flags/{key}", tag = "flags",
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The flag and its rollout.", body = FlagView),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody)))]
async fn get_flag(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<FlagView>, ApiError> {
    Ok(Json(FlagView::from(
        &rollouts::load(&state.store, &key).await?,
    )))
}

/// Edit a flag's definition (audited as `flag.update`); the rollout keeps its stage.
#[utoipa::path(patch, path = "/flags/{key}", tag = "flags", request_body = FlagPatch,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Changed; the flag and its rollout.", body = FlagView),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: `version` is not the stored version, or \
            another edit landed first.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank, or the edited flag \
            breaks a rule (`ladder`, `variants`, `guardrails.alpha`, …); `field` names it.",
            body = ErrorBody)))]
async fn patch_flag(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<FlagPatch>,
) -> Result<Json<FlagView>, ApiError> {
    check_non_blank("reason", &body.reason)?;
    let stored = rollouts::load(&state.store, &key).await?;
    if body.version.is_some_and(|v| v != stored.flag_version) {
        return Err(ApiError::Conflict(format!(
            "flag {key} is at version {}, not {}",
            stored.flag_version,
            body.version.unwrap_or_default()
        )));
    }
    let before = FlagView::from(&stored);
    let mut flag = stored.flag.clone();
    if let Some(v) = body.description {
        flag.description = v;
    }
    if let Some(v) = body.variants {
        flag.variants = v;
    }
    if let Some(v) = body.off_variant {
        flag.off_variant = Some(v);
    }
    if let Some(v) = body.rules {
        flag.rules = v;
    }
    if let Some(v) = body.ladder {
        flag.ladder = v;
    }
    if let Some(v) = body.min_bake {
        flag.min_bake = std::time::Duration::from_secs(v);
    }
    if let Some(v) = body.min_units_per_arm {
        flag.min_units_per_arm = v;
    }
    if let Some(v) = body.min_full_rollout {
        flag.min_full_rollout = std::time::Duration::from_secs(v);
    }
    if let Some(v) = body.guardrails {
        flag.guardrails = v;
    }
    if let Some(v) = body.rollback {
        flag.rollback = v;
    }
    if let Some(v) = body.kill_switch {
        flag.kill_switch = v;
    }
    flag.validate().map_err(|e| invalid("", e))?;
    rollouts::check_acting_kind("", &flag)?;
    state
        .store
        .put_flag(
            &key,
            &audit::json(&flag),
            stored.flag_version,
            &auth.claims.sub,
            &body.reason,
            state.now(),
        )
        .await?;
    if key == rollouts::ACTING_FLAG {
        rollouts::sync_acting(&state, std::time::Instant::now()).await;
    }
    let after = FlagView::from(&rollouts::load(&state.store, &key).await?);
    audit::record(
        &state.store,
        &auth.claims.sub,
        Change {
            action: "flag.update",
            target: &key,
            before: audit::json(&before),
            after: audit::json(&after),
            reason: &body.reason,
        },
    )
    .await?;
    Ok(Json(after))
}

/// Applies an operator command, records the decision and audits it as `flag.<command>`.
async fn command(
    state: &AppState,
    actor: &str,
    key: &str,
    command: Command,
    reason: &str,
) -> Result<Json<RolloutResult>, ApiError> {
    check_non_blank("reason", reason)?;
    let stored = rollouts::load(&state.store, key).await?;
    let now = state.now();
    let decided = std::time::Instant::now();
    let (next, decision) = hivesched_flags::apply(&stored.flag, &stored.rollout, command, now)
        .map_err(|e| invalid("", e))?;
    // A re-armed rollout starts a new revision: its first window starts now, not at the last
    // check of the revision it replaces.
    let checked_at = if command == Command::Rearm {
        now
    } else {
        stored.checked_at
    };
    let record = rollouts::decision_record(key, &next, actor, &decision, None);
    state
        .store
        .save_rollout(
            key,
            &audit::json(&next),
            stored.rollout_version,
            checked_at,
            &record,
        )
        .await?;
    state.flag_metrics.observe(key, &next, &decision);
    if key == rollouts::ACTING_FLAG {
        // A rollback stops acting on the treatment arm and wakes it before the response.
        rollouts::sync_acting(state, decided).await;
    }
    let after = FlagView::from(&rollouts::load(&state.store, key).await?);
    audit::record(
        &state.store,
        actor,
        Change {
            action: &format!("flag.{command}"),
            target: key,
            before: audit::json(&stored.rollout),
            after: audit::json(&serde_json::json!({
                "rollout": after.rollout,
                "decision": decision,
            })),
            reason,
        },
    )
    .await?;
    Ok(Json(RolloutResult {
        flag: after,
        decision,
    }))
}

/// Check the rollout now and advance if every gate holds (audited as `flag.advance`).
///
/// There is no forced advance: the guardrails and gates decide, as on every automatic check;
/// this only does not wait for the next one. The decision says what the stage still waits for.
#[utoipa::path(post, path = "/flags/{key}/advance", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Checked; the decision (an advance, a hold with \
            what it waits for, or a rollback) and the rollout now.", body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the breaker is open (re-arm first), or a \
            check or command landed meanwhile; retry.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn advance(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    check_non_blank("reason", &body.reason)?;
    let stored = rollouts::load(&state.store, &key).await?;
    if stored.rollout.breaker_open() {
        return Err(ApiError::Conflict(format!(
            "cannot advance {key}: its breaker is open (rolled back); re-arm it first"
        )));
    }
    let decision = rollouts::check_as(&state, &key, &auth.claims.sub, &body.reason)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("{key}: the rollout changed meanwhile; retry"))
        })?;
    let flag = FlagView::from(&rollouts::load(&state.store, &key).await?);
    Ok(Json(RolloutResult { flag, decision }))
}

/// Stop advancing; guardrails keep judging and may still roll back (audited as `flag.pause`).
#[utoipa::path(post, path = "/flags/{key}/pause", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Paused.", body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the rollout is rolled back, or changed \
            meanwhile.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn pause(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    command(&state, &auth.claims.sub, &key, Command::Pause, &body.reason).await
}

/// Advance again after a pause (audited as `flag.resume`).
#[utoipa::path(post, path = "/flags/{key}/resume", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Resumed.", body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the rollout is rolled back, or changed \
            meanwhile.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn resume(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    command(
        &state,
        &auth.claims.sub,
        &key,
        Command::Resume,
        &body.reason,
    )
    .await
}

/// Roll back to 0 % now and open the breaker (audited as `flag.rollback`); idempotent.
#[utoipa::path(post, path = "/flags/{key}/rollback", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["operator"])),
    responses((status = 200, description = "Rolled back (or already was).", body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the rollout changed meanwhile; retry.",
            body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn rollback(
    auth: Auth<Operator>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    command(
        &state,
        &auth.claims.sub,
        &key,
        Command::Rollback,
        &body.reason,
    )
    .await
}

/// Approve going to 100 % (admin; audited as `flag.approve`).
#[utoipa::path(post, path = "/flags/{key}/approve", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Approved; the next check may go to 100 %.",
            body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the rollout is at 100 % or rolled back, or \
            changed meanwhile.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn approve(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    command(
        &state,
        &auth.claims.sub,
        &key,
        Command::Approve,
        &body.reason,
    )
    .await
}

/// Close an open breaker and restart the rollout at its first stage as a new revision (admin;
/// audited as `flag.rearm`).
#[utoipa::path(post, path = "/flags/{key}/rearm", tag = "flags", request_body = RolloutCommand,
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Re-armed.", body = RolloutResult),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 409, description = "`conflict`: the breaker is not open, the kill switch is \
            on, or the rollout changed meanwhile.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `reason` is blank.", body = ErrorBody)))]
async fn rearm(
    auth: Auth<Admin>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RolloutCommand>,
) -> Result<Json<RolloutResult>, ApiError> {
    command(&state, &auth.claims.sub, &key, Command::Rearm, &body.reason).await
}

/// The evidence behind a rollout: what each arm reported, and every recent decision with its
/// checks, bounds and thresholds.
#[utoipa::path(get, path = "/flags/{key}/evidence", tag = "flags",
    params(("key" = String, Path, description = "Flag key"), EvidenceQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The rollout and its newest decisions.",
            body = EvidenceView),
        (status = 404, description = "`not_found`: no flag with this key.", body = ErrorBody),
        (status = 422, description = "`invalid_value`: `limit` is out of range.",
            body = ErrorBody)))]
async fn evidence(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<EvidenceQuery>,
) -> Result<Json<EvidenceView>, ApiError> {
    let limit = EVIDENCE_DECISIONS.resolve(q.limit)?;
    let stored = rollouts::load(&state.store, &key).await?;
    let records = state.store.flag_decisions(&key, limit).await?;
    let mut decisions = Vec::with_capacity(records.len());
    for r in records {
        let decision: Decision = serde_json::from_value(r.decision.decision)
            .map_err(|e| ApiError::Internal(format!("flag {key}: stored decision: {e}")))?;
        let observations: Option<Observations> = serde_json::from_value(r.decision.observations)
            .map_err(|e| ApiError::Internal(format!("flag {key}: stored observations: {e}")))?;
        decisions.push(DecisionEvidence {
            id: r.id,
            actor: r.decision.actor,
            revision: r.decision.revision,
            explanation: decision.checks.iter().map(|c| c.explain()).collect(),
            decision,
            observations,
        });
    }
    let arms = decisions.iter().find_map(|d| d.observations);
    let release = (key == rollouts::ACTING_FLAG)
        .then(|| state.engine.last_release())
        .flatten()
        .map(|r| ReleaseView {
            decided_at: r.decided_at.as_millis(),
            released: r.released,
            to_wake: r.to_wake,
            woken: r.woken,
            seconds: r.seconds,
            done: r.done,
        });
    Ok(Json(EvidenceView {
        flag: FlagView::from(&stored),
        arms,
        decisions,
        release,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags crate's enums are written by their one `as_str()`; the document lists
    /// exactly those names.
    #[test]
    fn the_documented_enums_are_the_wire_names() {
        use hivesched_flags::{
            Action, Cause, Guardrail, Kind, NoDataPolicy, Op, Outcome, Phase, Wait,
        };
        fn names<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<String> {
            all.iter().map(|v| f(*v).to_owned()).collect()
        }
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        for (component, wire) in [
            ("RolloutPhase", names(&Phase::ALL, Phase::as_str)),
            ("RolloutAction", names(&Action::ALL, Action::as_str)),
            ("RollbackCause", names(&Cause::ALL, Cause::as_str)),
            ("RolloutWait", names(&Wait::ALL, Wait::as_str)),
            ("FlagKind", names(&Kind::ALL, Kind::as_str)),
            (
                "RollbackMode",
                names(&RollbackMode::ALL, RollbackMode::as_str),
            ),
            (
                "NoDataPolicy",
                names(&NoDataPolicy::ALL, NoDataPolicy::as_str),
            ),
            ("Guardrail", names(&Guardrail::ALL, Guardrail::as_str)),
            ("CheckOutcome", names(&Outcome::ALL, Outcome::as_str)),
            ("TargetingOp", names(&Op::ALL, Op::as_str)),
        ] {
            let documented: Vec<String> =
                serde_json::from_value(doc["components"]["schemas"][component]["enum"].clone())
                    .unwrap_or_else(|e| panic!("{component}: {e}"));
            assert_eq!(documented, wire, "{component}");
        }
    }

    /// Each declared end of a guardrail's range is where the validation starts refusing.
    #[test]
    fn the_declared_guardrail_ranges_are_the_validation() {
        let set = |field: &str, v: f64| {
            let mut g = serde_json::to_value(GuardrailConfig::default()).unwrap();
            g[field] = if field.ends_with("failures") || field.ends_with("tasks") {
                serde_json::json!(v as u64)
            } else {
                serde_json::json!(v)
            };
            serde_json::from_value::<GuardrailConfig>(g)
                .unwrap()
                .validate()
        };
        for (field, min, max) in GUARDRAIL_BOUNDS {
            for (bound, step) in [(min, -1e-9), (max, 1e-9)] {
                match bound {
                    Bound::Inclusive(v) => {
                        assert!(set(field, v).is_ok(), "{field} = {v}");
                        if !field.ends_with("failures") && !field.ends_with("tasks") {
                            assert!(set(field, v + step).is_err(), "{field} past {v}");
                        } else {
                            assert!(set(field, v - 1.0).is_err(), "{field} below {v}");
                        }
                    }
                    Bound::Exclusive(v) => assert!(set(field, v).is_err(), "{field} = {v}"),
                    Bound::None => {}
                }
            }
        }
    }

    /// The declared pattern accepts exactly the keys the check accepts.
    #[test]
    fn the_flag_key_pattern_is_the_check() {
        let pattern = regex::Regex::new(&flag_key_pattern()).unwrap();
        let mut keys: Vec<String> = (0..0x3100u32)
            .filter_map(char::from_u32)
            .flat_map(|c| [c.to_string(), format!("a{c}b")])
            .collect();
        for len in [0, 1, MAX_FLAG_KEY_LEN, MAX_FLAG_KEY_LEN + 1] {
            keys.push("a".repeat(len));
        }
        keys.push("scheduler.acting".into());
        for key in &keys {
            assert_eq!(
                pattern.is_match(key),
                check_flag_key("key", key).is_ok(),
                "{key:?}"
            );
        }
    }
}
