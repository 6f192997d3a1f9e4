//! The live event stream: a WebSocket of numbered JSON messages (see [`crate::stream`] and
//! `docs/api.md`), and the one-use tickets browsers open it with.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer, bearer_claims, check_not_revoked};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::openapi::{parameter, range};
use crate::state::AppState;
use crate::stream::connection::{self, Subscription};
use crate::stream::tickets::TICKET_TTL;

/// Largest `since` accepted (sequence numbers are stored as 64-bit signed integers).
pub const MAX_SINCE: u64 = i64::MAX as u64;
/// Largest message a client may send (it has nothing to say; pongs and close frames are tiny).
const MAX_CLIENT_MESSAGE: usize = 4096;

/// The stream routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream))
        .routes(routes!(stream_ticket))
}

/// How to open the stream.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this `seq`: the server replays what it still holds after it, and sends a
    /// `gap` message for what it no longer holds. Without it the stream starts with the next
    /// message.
    pub since: Option<u64>,
    /// A ticket from `POST /api/v1/stream/ticket`, for clients that cannot send the
    /// `Authorization` header (browsers). Ignored when the header is present.
    pub ticket: Option<String>,
}

/// A one-use ticket for the stream.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamTicket {
    /// Pass as `?ticket=` to `GET /api/v1/stream` once, within `expires_in_s`.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in_s: u64,
}

/// The constraints of the stream routes beyond their types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    let since = parameter(doc, Method::GET, "/api/v1/stream", "since");
    range(since, 0, MAX_SINCE);
}

/// The live event stream (WebSocket).
///
/// Upgrade to a WebSocket carrying JSON messages `{"seq", "type", "at", "data"}`, `seq`
/// strictly increasing per server. Types: `decision`, `agent`, `forecast`, `alert`,
/// `control`, `task`, `tick_failed`, `gap`. Authenticate with the bearer header, or with a
/// `ticket`. The server closes with 4008 when the client falls behind, 4001 when its token
/// expires, 1001 on shutdown.
#[utoipa::path(get, path = "/stream", tag = "stream", params(StreamQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 101, description = "Switching Protocols: the stream follows."),
        (status = 401, description = "`unauthorized`: no valid bearer token and no valid, \
            unused, unexpired ticket.", body = ErrorBody),
        (status = 422, description = "`invalid_field` / `invalid_value`: `since` is not a \
            sequence number, or an unknown parameter.", body = ErrorBody),
        (status = 426, description = "`upgrade_required`: not a WebSocket handshake.",
            body = ErrorBody)))]
async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if q.since.is_some_and(|s| s > MAX_SINCE) {
        return Err(ApiError::invalid_value(
            "since",
            format!("must be between 0 and {MAX_SINCE}"),
        ));
    }
    let claims = match (
        &q.ticket,
        headers.contains_key(axum::http::header::AUTHORIZATION),
    ) {
        (Some(ticket), false) => {
            let claims = state.tickets.redeem(ticket, Instant::now())?;
            check_not_revoked(&claims, &state).await?;
            claims
        }
        _ => bearer_claims(&headers, &state).await?,
    };
    // Every role may watch: the stream carries what a viewer may read.
    let upgrade = upgrade.map_err(|e| ApiError::UpgradeRequired(e.to_string()))?;
    let hub = state.stream.clone();
    let subscription = Subscription::new(&hub);
    let shutdown = state.shutdown.clone();
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            connection::run(socket, hub, subscription, q.since, claims.exp, shutdown)
        }))
}

/// A one-use ticket to open the stream.
///
/// For browsers, which cannot set headers on a WebSocket: trade the token (sent in the
/// header, never in a URL) for a ticket that opens one stream within 30 s.
#[utoipa::path(post, path = "/stream/ticket", tag = "stream",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "The ticket.", body = StreamTicket),
        (status = 503, description = "`unavailable`: too many tickets outstanding.",
            body = ErrorBody)))]
async fn stream_ticket(
    auth: Auth<Viewer>,
    State(state): State<AppState>,
) -> Result<Json<StreamTicket>, ApiError> {
    let ticket = state.tickets.issue(auth.claims, Instant::now())?;
    Ok(Json(StreamTicket {
        ticket,
        expires_in_s: TICKET_TTL.as_secs(),
    }))
}
