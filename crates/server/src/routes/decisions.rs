//! Scheduling decisions with their reasons, newest first, paged by cursor.

use axum::Json;
use axum::extract::State;
use hivesched_policy::Time;
use hivesched_store::DecisionCursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, PageLimit};
use crate::openapi::parameter;
use crate::pools::{declare_pool, pool_or_default};
use crate::state::AppState;
use crate::views::{self, DecisionView};

/// Page size of the decision list.
pub const PAGE: PageLimit = PageLimit::new(50, 500);

/// Most digits in each of a cursor's two numbers. Any number of at most 18 digits fits an
/// `i64`, so every string the declared pattern allows decodes; the numbers the API writes
/// (a time in milliseconds since 1970, a row id) are far shorter.
const CURSOR_DIGITS: usize = 18;

/// The decision routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_decisions))
}

/// Paging of the decision list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The agent pool (default `default`).
    pub pool: Option<String>,
}

/// A page of decisions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionPage {
    /// Newest first.
    pub decisions: Vec<DecisionView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `at_ms.id`, opaque to clients.
fn encode_cursor(c: DecisionCursor) -> String {
    format!("{}.{}", c.at.as_millis(), c.id)
}

/// The shape of a cursor as a JSON Schema `pattern`: two integers of at most
/// [`CURSOR_DIGITS`] digits, joined by a dot. [`decode_cursor`] accepts exactly these.
fn cursor_pattern() -> String {
    let number = format!("-?[0-9]{{1,{CURSOR_DIGITS}}}");
    format!("^{number}\\.{number}$")
}

fn decode_cursor(s: &str) -> Result<DecisionCursor, ApiError> {
    let bad = || ApiError::invalid_value("cursor", "is not a cursor returned by this API");
    // `str::parse` would also take a leading `+`; the declared shape does not.
    let number = |part: &str| {
        let digits = part.strip_prefix('-').unwrap_or(part);
        let shaped = (1..=CURSOR_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        shaped.then(|| part.parse::<i64>().ok()).flatten()
    };
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(DecisionCursor {
        at: Time::from_millis(number(at).ok_or_else(bad)?),
        id: number(id).ok_or_else(bad)?,
    })
}

/// The constraints of the decision list beyond its types (see [`crate::openapi`]).
pub(super) fn declare(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    PAGE.declare(parameter(doc, Method::GET, "/api/v1/decisions", "limit"));
    parameter(doc, Method::GET, "/api/v1/decisions", "cursor").pattern = Some(cursor_pattern());
    declare_pool(parameter(doc, Method::GET, "/api/v1/decisions", "pool"));
}

/// Decisions of one agent pool (`default` unless `pool` names another), newest first.
#[utoipa::path(get, path = "/decisions", tag = "decisions", params(DecisionQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "A page of decisions, newest first.",
            body = DecisionPage),
        (status = 422, description = "`invalid_value`: `limit` or `pool` is out of range or \
            `cursor` is not one this API wrote.", body = ErrorBody)))]
async fn list_decisions(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DecisionQuery>,
) -> Result<Json<DecisionPage>, ApiError> {
    let limit = PAGE.resolve(q.limit)?;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let pool = pool_or_default("pool", q.pool.as_deref())?;
    let records = state
        .store
        .in_pool(&pool)
        .list_decisions(after, limit)
        .await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| encode_cursor(r.cursor())))
        .flatten();
    Ok(Json(DecisionPage {
        decisions: records
            .iter()
            .map(|r| views::decision(r.id, &r.decision))
            .collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = DecisionCursor {
            at: Time::from_millis(1_700_000_000_000),
            id: 42,
        };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        assert!(decode_cursor("x.1").is_err());
        assert!(decode_cursor("12").is_err());
    }

    /// The declared pattern accepts exactly the cursors that decode.
    #[test]
    fn the_cursor_pattern_is_the_decoder() {
        let pattern = regex::Regex::new(&cursor_pattern()).unwrap();
        let long = "9".repeat(CURSOR_DIGITS);
        let longer = "1".repeat(CURSOR_DIGITS + 1);
        let cursors = [
            "1.2".to_owned(),
            "-1.-2".to_owned(),
            "0.0".to_owned(),
            format!("{long}.{long}"),
            format!("-{long}.1"),
            format!("{longer}.1"),
            format!("1.{longer}"),
            "+1.2".to_owned(),
            "1.+2".to_owned(),
            "1..2".to_owned(),
            "1.2.3".to_owned(),
            ".1".to_owned(),
            "1.".to_owned(),
            "-.1".to_owned(),
            "1 .2".to_owned(),
            "١.٢".to_owned(),
            String::new(),
        ];
        for c in &cursors {
            assert_eq!(pattern.is_match(c), decode_cursor(c).is_ok(), "{c:?}");
        }
        let newest = DecisionCursor {
            at: Time::from_millis(4_102_444_800_000),
            id: i64::from(i32::MAX),
        };
        assert!(pattern.is_match(&encode_cursor(newest)));
    }
}
