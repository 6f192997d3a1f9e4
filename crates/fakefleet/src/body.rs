//! Strict parsing of the JSON bodies the fake fleet accepts. Every rejection names the field at
//! fault, so a fleet implementer or test sees exactly what was wrong; nothing here panics.

use std::time::Duration;

use axum::http::StatusCode;
use hivesched_policy::AgentId;
use serde_json::{Map, Value};

use super::{Fault, FaultKind};
use hivesched_actuator::ActuationRequest;
use hivesched_actuator::wire::ErrorBody;

/// Most faults one `POST /fake/faults` may queue.
const MAX_FAULT_COUNT: u64 = 1_000;

/// A body the fake fleet refuses: the status to answer with and the error to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) error: ErrorBody,
}

impl Rejection {
    fn field(code: &str, field: &str, message: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: ErrorBody::for_field(code, field, message),
        }
    }
}

/// `{"idempotency_key": non-empty string, "reason": string, "fencing_token": u64}`, nothing else.
pub(crate) fn actuation_request(bytes: &[u8]) -> Result<ActuationRequest, Rejection> {
    let mut fields = object(bytes, &["idempotency_key", "reason", "fencing_token"])?;
    let idempotency_key = string(&mut fields, "idempotency_key")?;
    if idempotency_key.is_empty() {
        return Err(Rejection::field(
            "invalid_field",
            "idempotency_key",
            "idempotency_key must not be empty",
        ));
    }
    Ok(ActuationRequest {
        idempotency_key,
        reason: string(&mut fields, "reason")?,
        fencing_token: unsigned(&mut fields, "fencing_token")?,
    })
}

/// `{"busy": bool}`.
pub(crate) fn busy(bytes: &[u8]) -> Result<bool, Rejection> {
    let mut fields = object(bytes, &["busy"])?;
    match take(&mut fields, "busy")? {
        Value::Bool(b) => Ok(b),
        _ => Err(wrong_type("busy", "a boolean")),
    }
}

/// `{"kind": "fail" | "lose_response" | "stall", "stall_ms": u64 (stall only), "agent": string?,
/// "count": 1..=1000?}`: the faults to queue.
pub(crate) fn faults(bytes: &[u8]) -> Result<Vec<Fault>, Rejection> {
    let mut fields = object(bytes, &["kind", "stall_ms", "agent", "count"])?;
    let kind = match string(&mut fields, "kind")?.as_str() {
        "fail" => FaultKind::Fail,
        "lose_response" => FaultKind::LoseResponse,
        "stall" => FaultKind::Stall(Duration::from_millis(unsigned(&mut fields, "stall_ms")?)),
        other => {
            return Err(Rejection::field(
                "invalid_field",
                "kind",
                format!("kind {other:?} is not one of fail, lose_response, stall"),
            ));
        }
    };
    if let Some(field) = fields.keys().find(|k| *k == "stall_ms") {
        return Err(Rejection::field(
            "unknown_field",
            field,
            "stall_ms only goes with kind \"stall\"",
        ));
    }
    let agent = match fields.remove("agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(AgentId(id)),
        Some(_) => return Err(wrong_type("agent", "a string")),
    };
    let count = match fields.remove("count") {
        None => 1,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|c| (1..=MAX_FAULT_COUNT).contains(c))
            .ok_or_else(|| {
                Rejection::field(
                    "invalid_field",
                    "count",
                    format!("count must be an integer from 1 to {MAX_FAULT_COUNT}"),
                )
            })?,
        Some(_) => return Err(wrong_type("count", "an integer")),
    };
    Ok((0..count)
        .map(|_| Fault {
            kind,
            agent: agent.clone(),
        })
        .collect())
}

/// Parses a JSON object whose keys are all in `allowed`.
fn object(bytes: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Rejection> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Rejection {
        status: StatusCode::BAD_REQUEST,
        error: ErrorBody::new("invalid_json", format!("body is not valid JSON: {e}")),
    })?;
    let Value::Object(fields) = value else {
        return Err(Rejection {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: ErrorBody::new("invalid_body", "body must be a JSON object"),
        });
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Rejection::field(
            "unknown_field",
            unknown,
            format!("unknown field {unknown:?}; expected {}", allowed.join(", ")),
        ));
    }
    Ok(fields)
}

fn take(fields: &mut Map<String, Value>, field: &str) -> Result<Value, Rejection> {
    fields
        .remove(field)
        .ok_or_else(|| Rejection::field("missing_field", field, format!("{field} is required")))
}

fn string(fields: &mut Map<String, Value>, field: &str) -> Result<String, Rejection> {
    match take(fields, field)? {
        Value::String(s) => Ok(s),
        _ => Err(wrong_type(field, "a string")),
    }
}

fn unsigned(fields: &mut Map<String, Value>, field: &str) -> Result<u64, Rejection> {
    take(fields, field)?
        .as_u64()
        .ok_or_else(|| wrong_type(field, "a non-negative integer"))
}

fn wrong_type(field: &str, expected: &str) -> Rejection {
    Rejection::field(
        "invalid_field",
        field,
        format!("{field} must be {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected_field(r: Result<impl std::fmt::Debug, Rejection>) -> (u16, Option<String>) {
        let r = r.expect_err("should be rejected");
        (r.status.as_u16(), r.error.field)
    }

    #[test]
    fn actuation_request_accepts_the_contract_and_names_bad_fields() {
        let ok = actuation_request(br#"{"idempotency_key":"k","reason":"r","fencing_token":3}"#);
        assert_eq!(ok.map(|r| r.fencing_token), Ok(3));
        let field = |body: &[u8]| rejected_field(actuation_request(body));
        assert_eq!(field(b"{"), (400, None));
        assert_eq!(field(b"[]"), (422, None));
        let missing = br#"{"idempotency_key":"k","reason":"r"}"#;
        assert_eq!(field(missing), (422, Some("fencing_token".into())));
        let negative = br#"{"idempotency_key":"k","reason":"r","fencing_token":-1}"#;
        assert_eq!(field(negative), (422, Some("fencing_token".into())));
        let empty_key = br#"{"idempotency_key":"","reason":"r","fencing_token":1}"#;
        assert_eq!(field(empty_key), (422, Some("idempotency_key".into())));
        let extra = br#"{"idempotency_key":"k","reason":"r","fencing_token":1,"x":1}"#;
        assert_eq!(field(extra), (422, Some("x".into())));
        let reason = br#"{"idempotency_key":"k","reason":7,"fencing_token":1}"#;
        assert_eq!(field(reason), (422, Some("reason".into())));
    }

    #[test]
    fn faults_expand_count_and_check_kind_specific_fields() {
        let queued = faults(br#"{"kind":"stall","stall_ms":50,"agent":"agent-1","count":2}"#);
        let queued = queued.expect("valid");
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].kind, FaultKind::Stall(Duration::from_millis(50)));
        assert_eq!(queued[0].agent, Some(AgentId::from("agent-1")));
        let field = |body: &[u8]| rejected_field(faults(body));
        assert_eq!(
            field(br#"{"kind":"stall"}"#),
            (422, Some("stall_ms".into()))
        );
        assert_eq!(
            field(br#"{"kind":"fail","stall_ms":5}"#),
            (422, Some("stall_ms".into()))
        );
        assert_eq!(field(br#"{"kind":"boom"}"#), (422, Some("kind".into())));
        assert_eq!(
            field(br#"{"kind":"fail","count":0}"#),
            (422, Some("count".into()))
        );
        assert_eq!(field(br#"{"busy":1}"#), (422, Some("busy".into())));
        assert_eq!(
            rejected_field(busy(br#"{"busy":1}"#)),
            (422, Some("busy".into()))
        );
    }
}
