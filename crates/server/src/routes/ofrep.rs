//! The OpenFeature Remote Evaluation Protocol (OFREP) core: single and bulk evaluation of our
//! flags, so any OpenFeature SDK with the OFREP provider reads them.
//!
//! The shapes are the protocol's, not the rest of the API's: successes carry `key`, `reason`,
//! `variant`, `value` and `metadata`; failures `errorCode` (`FLAG_NOT_FOUND`,
//! `TARGETING_KEY_MISSING`, `INVALID_CONTEXT`, `PARSE_ERROR`, `GENERAL`) and `errorDetails`.
//! Clients authenticate with a bearer token (viewer); what happens before the body is read
//! (401, 413, 503) keeps the API's `{"code", "message"}` shape.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hivesched_flags::{Arm, Flag, Kind, Reason, RolloutState, Value, evaluate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::BodyLimit;
use crate::openapi::{object, operation, property};
use crate::rollouts;
use crate::state::AppState;

/// The OpenAPI tag of the OFREP routes; [`crate::openapi`] gives them only the common answers
/// that keep the API's shape (their body errors are the protocol's).
pub const TAG: &str = "ofrep";

/// The context attribute OpenFeature names the evaluated subject with.
pub const TARGETING_KEY: &str = "targetingKey";

/// The OFREP routes (outside `/api/v1`: the protocol fixes their paths).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(evaluate_one))
        .routes(routes!(evaluate_all))
}

/// The constraints of the OFREP routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    // A bulk evaluation without a body is one of an empty context: every flag answers
    // `TARGETING_KEY_MISSING` in its entry. A single evaluation needs its unit, so its body is
    // required (an empty one answers 400 `TARGETING_KEY_MISSING`).
    let bulk = operation(doc, axum::http::Method::POST, "/ofrep/v1/evaluate/flags");
    if let Some(utoipa::openapi::RefOr::T(body)) = bulk.request_body.as_mut() {
        body.required = Some(utoipa::openapi::Required::False);
    }
    object(property(doc, "EvaluationContext", TARGETING_KEY)).min_length = Some(1);
}

/// A single evaluation request (for the document: the body is read by hand, so that its
/// faults are answered in the protocol's shape).
#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationRequest {
    /// The evaluation context; it must name the unit.
    pub context: EvaluationContext,
}

/// A bulk evaluation request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkEvaluationRequest {
    /// The evaluation context; without the unit every flag answers `TARGETING_KEY_MISSING`.
    #[serde(default)]
    pub context: Option<BulkEvaluationContext>,
}

/// The context of a bulk evaluation: as [`EvaluationContext`], with `targetingKey` optional.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkEvaluationContext {
    /// The subject evaluated, unless the context names each flag's unit attribute itself.
    #[serde(rename = "targetingKey", default)]
    pub targeting_key: Option<String>,
}

/// The evaluation context: `targetingKey` and any other attributes (any names, any values). The flag's unit attribute is
/// taken from the context when it is a non-empty string there, else from `targetingKey`; string, number and boolean attributes
/// are compared as text by targeting rules, other values are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationContext {
    /// The subject evaluated: the flag's unit (an agent id, a pool, …) unless the context
    /// names the unit attribute itself.
    #[serde(rename = "targetingKey")]
    pub targeting_key: String,
}

/// Why a value was served (OpenFeature's resolution reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepReason {
    /// The unit's bucket put it in the treatment or control arm.
    Split,
    /// A targeting rule left the unit out: it gets the off value.
    TargetingMatch,
    /// The unit is in neither arm at the current share (or the rollout is rolled back): it
    /// gets the off value.
    Default,
    /// The kill switch is on: everyone gets the off value.
    Disabled,
}

/// A served value: a boolean flag's `true`/`false`, a variants flag's variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OfrepValue {
    /// A boolean flag's value.
    Bool(bool),
    /// A variants flag's variant.
    String(String),
}

/// Where the unit stands in the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationMetadata {
    /// `treatment`, `control` or `out`.
    pub arm: String,
    /// The unit's bucket (0 to 9 999), absent when it was not bucketed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u16>,
    /// The rollout's treatment share now, in percent.
    pub percentage: f64,
    /// The rollout's phase.
    pub phase: String,
    /// The rollout's revision (+1 per re-arm).
    pub revision: u32,
}

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationSuccess {
    /// The flag's key.
    pub key: String,
    /// Why this value.
    pub reason: OfrepReason,
    /// The variant served: `on`/`off` for a boolean flag, the variant's name otherwise.
    pub variant: String,
    /// The value served.
    pub value: OfrepValue,
    /// Where the unit stands in the rollout.
    pub metadata: EvaluationMetadata,
}

/// An evaluation error code (OpenFeature's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepErrorCode {
    /// The body is not JSON.
    ParseError,
    /// Neither the flag's unit attribute nor `targetingKey` is in the context.
    TargetingKeyMissing,
    /// The body or its context is not an object, or `targetingKey` is not a string.
    InvalidContext,
    /// The flag's stored definition cannot be read.
    General,
}

/// The code of [`FlagNotFound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotFoundCode {
    /// No flag with this key.
    FlagNotFound,
}

/// A failed evaluation of one flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationFailure {
    /// The flag's key.
    pub key: String,
    /// What went wrong.
    pub error_code: OfrepErrorCode,
    /// Details, for logs.
    pub error_details: String,
}

/// No flag with this key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlagNotFound {
    /// The key asked for.
    pub key: String,
    /// `FLAG_NOT_FOUND`.
    pub error_code: NotFoundCode,
    /// Details, for logs.
    pub error_details: String,
}

/// A bulk request that could not be evaluated at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkEvaluationFailure {
    /// What went wrong.
    pub error_code: OfrepErrorCode,
    /// Details, for logs.
    pub error_details: String,
}

/// A server-side failure of a single evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneralError {
    /// Details, for logs.
    pub error_details: String,
}

/// One flag of a bulk evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BulkEntry {
    /// Evaluated.
    Success(EvaluationSuccess),
    /// Not evaluated, and why.
    Failure(EvaluationFailure),
}

/// Every flag evaluated for one context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkEvaluationSuccess {
    /// One entry per flag, by key.
    pub flags: Vec<BulkEntry>,
}

/// The raw body: the protocol's errors, not the API's, say what is wrong with it. Only a body
/// over the limit is refused before (413, the API's shape, as on every route).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::MalformedJson(rejection.body_text())
                }
            })
    }
}

/// A context problem: the code and its details.
type ContextError = (OfrepErrorCode, String);

/// The context's attributes as text, with `targetingKey` apart. An empty body is an empty
/// context (some clients send none when they have nothing to say).
fn parse_context(body: &[u8]) -> Result<(BTreeMap<String, String>, Option<String>), ContextError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((BTreeMap::new(), None));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        (
            OfrepErrorCode::ParseError,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let invalid = |m: &str| (OfrepErrorCode::InvalidContext, m.to_owned());
    let serde_json::Value::Object(mut body) = value else {
        return Err(invalid("the body must be a JSON object"));
    };
    let context = match body.remove("context") {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(c)) => c,
        Some(_) => return Err(invalid("`context` must be an object")),
    };
    let mut attributes = BTreeMap::new();
    let mut targeting_key = None;
    for (name, value) in context {
        if name == TARGETING_KEY {
            match value {
                serde_json::Value::String(s) => targeting_key = Some(s),
                serde_json::Value::Null => {}
                _ => return Err(invalid("`context.targetingKey` must be a string")),
            }
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            // Objects, arrays and nulls cannot be compared by a rule: ignored, not refused,
            // so a client sharing one context across providers is not broken by them.
            _ => continue,
        };
        attributes.insert(name, text);
    }
    Ok((attributes, targeting_key))
}

/// Evaluates `flag` in its rollout for the context; `Err` when the unit is missing.
fn resolve(
    flag: &Flag,
    rollout: &RolloutState,
    attributes: &BTreeMap<String, String>,
    targeting_key: Option<&str>,
) -> Result<EvaluationSuccess, EvaluationFailure> {
    let mut context = attributes.clone();
    if let Some(t) = targeting_key
        && context.get(&flag.unit).is_none_or(String::is_empty)
    {
        context.insert(flag.unit.clone(), t.to_owned());
    }
    let e = evaluate(flag, rollout.percentage, &context);
    let reason = match (e.reason, e.arm) {
        (Reason::TargetingKeyMissing, _) => {
            return Err(EvaluationFailure {
                key: flag.key.clone(),
                error_code: OfrepErrorCode::TargetingKeyMissing,
                error_details: format!(
                    "the context has neither `{}` (the flag's unit) nor `targetingKey`",
                    flag.unit
                ),
            });
        }
        (Reason::Disabled, _) => OfrepReason::Disabled,
        (Reason::TargetingMatch, _) => OfrepReason::TargetingMatch,
        (Reason::Split, Arm::Out) => OfrepReason::Default,
        (Reason::Split, _) => OfrepReason::Split,
    };
    let (variant, value) = match (&e.value, flag.kind) {
        (Value::Bool(b), _) => (
            if *b { "on" } else { "off" }.to_owned(),
            OfrepValue::Bool(*b),
        ),
        (Value::Variant(v), Kind::Variants | Kind::Boolean) => {
            (v.clone(), OfrepValue::String(v.clone()))
        }
    };
    Ok(EvaluationSuccess {
        key: flag.key.clone(),
        reason,
        variant,
        value,
        metadata: EvaluationMetadata {
            arm: e.arm.as_str().to_owned(),
            bucket: e.bucket,
            percentage: rollout.percentage.as_percent(),
            phase: rollout.phase.as_str().to_owned(),
            revision: rollout.revision,
        },
    })
}

fn failure(key: &str, (code, details): ContextError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(EvaluationFailure {
            key: key.to_owned(),
            error_code: code,
            error_details: details,
        }),
    )
        .into_response()
}

/// Evaluate one flag for a context (OFREP core).
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "ofrep",
    request_body(content = EvaluationRequest, description = "The evaluation context."),
    params(("key" = String, Path, description = "Flag key")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Evaluated.", body = EvaluationSuccess),
        (status = 400, description = "`PARSE_ERROR`: the body is not JSON; `INVALID_CONTEXT`: \
            it or its `context` is not an object, or `targetingKey` is not a string; \
            `TARGETING_KEY_MISSING`: the context has neither the flag's unit attribute nor \
            `targetingKey`.", body = EvaluationFailure),
        (status = 404, description = "`FLAG_NOT_FOUND`: no flag with this key.",
            body = FlagNotFound),
        (status = 413, description = "`payload_too_large`: the body is larger than \
            `max_body_bytes`.", body = ErrorBody),
        (status = 500, description = "The flag's stored definition cannot be read.",
            body = GeneralError)))]
async fn evaluate_one(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    Path(key): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let (attributes, targeting_key) = match parse_context(&body) {
        Ok(c) => c,
        Err(e) => return Ok(failure(&key, e)),
    };
    let stored = match rollouts::load(&state.store, &key).await {
        Ok(s) => s,
        Err(ApiError::NotFound { .. }) => {
            return Ok((
                StatusCode::NOT_FOUND,
                Json(FlagNotFound {
                    key: key.clone(),
                    error_code: NotFoundCode::FlagNotFound,
                    error_details: format!("no flag {key}"),
                }),
            )
                .into_response());
        }
        Err(ApiError::Internal(details)) => {
            tracing::error!(flag = %key, error = %details, "OFREP evaluation failed");
            return Ok((
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(GeneralError {
                    error_details: "the flag's stored definition cannot be read".into(),
                }),
            )
                .into_response());
        }
        Err(e) => return Err(e),
    };
    Ok(
        match resolve(
            &stored.flag,
            &stored.rollout,
            &attributes,
            targeting_key.as_deref(),
        ) {
            Ok(success) => Json(success).into_response(),
            Err(f) => (StatusCode::BAD_REQUEST, Json(f)).into_response(),
        },
    )
}

/// Evaluate every flag for a context (OFREP core); a flag that cannot be evaluated for it is
/// an entry with its `errorCode`.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "ofrep",
    request_body(content = BulkEvaluationRequest, description = "The evaluation context."),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "Every flag, by key.", body = BulkEvaluationSuccess),
        (status = 400, description = "`PARSE_ERROR`: the body is not JSON; `INVALID_CONTEXT`: \
            it or its `context` is not an object, or `targetingKey` is not a string.",
            body = BulkEvaluationFailure),
        (status = 413, description = "`payload_too_large`: the body is larger than \
            `max_body_bytes`.", body = ErrorBody)))]
async fn evaluate_all(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let (attributes, targeting_key) = match parse_context(&body) {
        Ok(c) => c,
        Err((code, details)) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                Json(BulkEvaluationFailure {
                    error_code: code,
                    error_details: details,
                }),
            )
                .into_response());
        }
    };
    let flags = rollouts::load_all(&state.store)
        .await?
        .into_iter()
        .map(|(key, stored)| match stored {
            Ok(s) => match resolve(&s.flag, &s.rollout, &attributes, targeting_key.as_deref()) {
                Ok(success) => BulkEntry::Success(success),
                Err(f) => BulkEntry::Failure(f),
            },
            Err(e) => {
                tracing::error!(flag = %key, error = %e, "OFREP evaluation failed");
                BulkEntry::Failure(EvaluationFailure {
                    key,
                    error_code: OfrepErrorCode::General,
                    error_details: "the flag's stored definition cannot be read".into(),
                })
            }
        })
        .collect();
    Ok(Json(BulkEvaluationSuccess { flags }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_parsed_or_refused_with_the_protocol_codes() {
        let (attrs, key) =
            parse_context(br#"{"context":{"targetingKey":"a1","pool":"gpu","n":3,"x":{}}}"#)
                .unwrap();
        assert_eq!(key.as_deref(), Some("a1"));
        assert_eq!(attrs.get("pool").map(String::as_str), Some("gpu"));
        assert_eq!(attrs.get("n").map(String::as_str), Some("3"));
        assert!(!attrs.contains_key("x"));
        assert!(parse_context(b"").unwrap().0.is_empty());
        let code = |b: &[u8]| parse_context(b).unwrap_err().0;
        assert_eq!(code(b"{nope"), OfrepErrorCode::ParseError);
        assert_eq!(code(b"[1]"), OfrepErrorCode::InvalidContext);
        assert_eq!(code(br#"{"context":5}"#), OfrepErrorCode::InvalidContext);
        assert_eq!(
            code(br#"{"context":{"targetingKey":7}}"#),
            OfrepErrorCode::InvalidContext
        );
    }

    #[test]
    fn the_unit_comes_from_the_context_before_the_targeting_key() {
        let mut flag = Flag::boolean("f");
        flag.unit = "pool".into();
        let rollout = RolloutState::start(&flag, hivesched_policy::Time::from_millis(0));
        let attrs = BTreeMap::from([("pool".to_owned(), "p1".to_owned())]);
        let a = resolve(&flag, &rollout, &attrs, Some("agent-1")).unwrap();
        let b = resolve(&flag, &rollout, &attrs, Some("agent-2")).unwrap();
        assert_eq!(a.metadata.bucket, b.metadata.bucket);
        let missing = resolve(&flag, &rollout, &BTreeMap::new(), None).unwrap_err();
        assert_eq!(missing.error_code, OfrepErrorCode::TargetingKeyMissing);
    }
}
