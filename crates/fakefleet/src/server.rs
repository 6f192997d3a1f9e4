//! The fake fleet over HTTP, exactly per the contract in `docs/actuator.md`, plus a `/fake/`
//! control surface for tests and demos (mark agents busy, read counters, inject faults).

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, extract::Request};
use hivesched_policy::{ActionKind, AgentId};
use tokio::net::TcpListener;

use super::FakeFleet;
use super::body::{self, Rejection};
use super::model::Answer;
use hivesched_actuator::wire::ErrorBody;
use hivesched_actuator::{ActuatorError, Outcome};

/// Largest request body accepted; the contract's bodies are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The fake fleet's routes:
/// - `GET /agents`, `POST /agents/{id}/sleep`, `POST /agents/{id}/wake`: the contract;
/// - `GET /actions`: the requests accepted, `[{"agent", "kind", "idempotency_key",
///   "fencing_token", "at"}]`, for outside checks (nothing done twice, no stale token);
/// - `PUT /fake/agents/{id}/busy` `{"busy": bool}`, `GET /fake/counters`,
///   `POST /fake/faults` `{"kind", "stall_ms"?, "agent"?, "count"?}`: controls for tests.
///
/// Every error is a JSON [`ErrorBody`].
pub fn router(fleet: FakeFleet) -> Router {
    Router::new()
        .route("/agents", get(list_agents))
        .route("/agents/{id}/sleep", post(sleep))
        .route("/agents/{id}/wake", post(wake))
        .route("/fake/agents/{id}/busy", put(set_busy))
        .route("/fake/counters", get(counters))
        .route("/actions", get(actions))
        .route("/fake/faults", post(inject_faults))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(fleet)
}

/// Serves `fleet` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    fleet: FakeFleet,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ActuatorError> {
    axum::serve(listener, router(fleet))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn list_agents(State(fleet): State<FakeFleet>) -> Response {
    Json(fleet.agents()).into_response()
}

async fn sleep(
    State(fleet): State<FakeFleet>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(fleet, ActionKind::Sleep, AgentId(id), body).await
}

async fn wake(
    State(fleet): State<FakeFleet>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    act(fleet, ActionKind::Wake, AgentId(id), body).await
}

async fn act(
    fleet: FakeFleet,
    kind: ActionKind,
    agent: AgentId,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request = match readable(body).and_then(|b| body::actuation_request(&b)) {
        Ok(request) => request,
        Err(rejection) => return rejected(rejection),
    };
    match fleet.answer(kind, &agent, &request).await {
        Answer::Outcome(Outcome::Accepted) => match fleet.agent(&agent) {
            Some(status) => (StatusCode::ACCEPTED, Json(status)).into_response(),
            None => unknown_agent(&agent),
        },
        Answer::Outcome(Outcome::NotFound) => unknown_agent(&agent),
        Answer::Outcome(Outcome::Busy(refusal)) => error(
            StatusCode::CONFLICT,
            ErrorBody::new(
                refusal.code(),
                format!("agent {agent} refused: {}", refusal.code()),
            ),
        ),
        Answer::Unavailable(message) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new("unavailable", message),
        ),
        Answer::KeyReused => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::for_field(
                "idempotency_key_reused",
                "idempotency_key",
                "this idempotency key was already used for another agent or direction",
            ),
        ),
    }
}

async fn set_busy(
    State(fleet): State<FakeFleet>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let agent = AgentId(id);
    match readable(body).and_then(|b| body::busy(&b)) {
        Ok(busy) => match fleet.set_busy(&agent, busy) {
            Some(status) => Json(status).into_response(),
            None => unknown_agent(&agent),
        },
        Err(rejection) => rejected(rejection),
    }
}

async fn actions(State(fleet): State<FakeFleet>) -> Response {
    Json(fleet.actions()).into_response()
}

async fn counters(State(fleet): State<FakeFleet>) -> Response {
    Json(fleet.counters()).into_response()
}

async fn inject_faults(
    State(fleet): State<FakeFleet>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match readable(body).and_then(|b| body::faults(&b)) {
        Ok(faults) => {
            for fault in faults {
                fleet.inject(fault);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(rejection) => rejected(rejection),
    }
}

async fn not_found(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorBody::new(
            "not_found",
            format!("no route for {} {}", request.method(), request.uri().path()),
        ),
    )
}

/// The body, or why it could not be read (413 when over [`MAX_BODY_BYTES`]).
fn readable(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Rejection> {
    body.map_err(|rejection| Rejection {
        status: rejection.status(),
        error: ErrorBody::new("unreadable_body", rejection.body_text()),
    })
}

fn unknown_agent(agent: &AgentId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorBody::new("agent_not_found", format!("no agent {agent} in this fleet")),
    )
}

fn rejected(rejection: Rejection) -> Response {
    error(rejection.status, rejection.error)
}

fn error(status: StatusCode, body: ErrorBody) -> Response {
    (status, Json(body)).into_response()
}
