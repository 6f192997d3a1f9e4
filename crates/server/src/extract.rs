//! Request extractors whose rejections are [`ApiError`]s that name the offending field, instead
//! of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: 415 without a JSON content type, 413 over the body limit, 400 for broken JSON,
/// 422 naming the field for unknown fields, missing fields and wrong types.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The configured body limit, put in request extensions so rejections can quote it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserializes `bytes`, classifying failures: syntax → [`ApiError::MalformedJson`], anything
/// about the data → [`ApiError::InvalidField`] with the dotted path of the field. The body must
/// be one JSON value: anything but whitespace after it is malformed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // serde_json reports some type mismatches (a number where an enum is expected) as
        // syntax errors: if the body is valid JSON, the fault is the field's value.
        let valid_json = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, &inner.to_string()),
            serde_json::error::Category::Syntax if valid_json() => {
                field_error(&path, &format!("invalid value: {inner}"))
            }
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    // Deserializing stops after the first complete value; without this check
    // `{"a":1} garbage` would be taken as `{"a":1}` and the rest silently dropped.
    de.end()
        .map_err(|e| ApiError::MalformedJson(format!("after the JSON value: {e}")))?;
    Ok(value)
}

/// Builds an [`ApiError::InvalidField`] from a serde path and message.
pub fn field_error(path: &str, message: &str) -> ApiError {
    let (field, message) = name_field(path, message);
    ApiError::InvalidField { field, message }
}

/// The full field name and a clean message from a serde path and error message. serde reports
/// unknown and missing fields at their parent, naming the field only in the message; the field
/// is appended to the path so callers always get the full field name (`(body)` for the root).
pub fn name_field(path: &str, message: &str) -> (String, String) {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    let field = match named {
        Some(name) if parent.is_empty() => name.to_owned(),
        // Some deserializers (toml's) already include the field in the path.
        Some(name) if parent == name || parent.ends_with(&format!(".{name}")) => parent.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "(body)".to_owned(),
        None => parent.to_owned(),
    };
    // serde_json appends " at line 1 column 12"; the field path says more.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(m, _)| m)
        .to_owned();
    (field, message)
}

/// Query parameters, rejected with 422 naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                field_error(&path, &err.into_inner().to_string())
            })
    }
}

/// The `limit` query parameter of a listing: `default` when absent, else 1..=`max`, or a 422
/// naming `limit`. One rule for every paged route, so they all refuse alike.
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid_value(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}
