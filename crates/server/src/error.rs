//! The crate's one error type: every failure, from a bad config key at startup to a rejected
//! request body, is an [`ApiError`], and every HTTP error response is its JSON rendering.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hivesched_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Role;

/// Everything that can go wrong in the server, each with a stable machine `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token, or one that is malformed, badly signed, expired or revoked.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The token is valid but its role is below the route's minimum.
    #[error("this route needs role {need}, the token has {have}")]
    Forbidden {
        /// The route's minimum role.
        need: Role,
        /// The token's role.
        have: Role,
    },
    /// The one-time authorization code is unknown, expired, already used or missing.
    #[error("the authorization code is invalid, expired or already used")]
    InvalidCode,
    /// The body is not syntactically valid JSON.
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// A body or query field is unknown, missing or of the wrong type.
    #[error("{field}: {message}")]
    InvalidField {
        /// Dotted path of the field, e.g. `settings.scheduler.rails.min_awake`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field has the right type but a value outside its accepted range.
    #[error("{field}: {message}")]
    InvalidValue {
        /// Dotted path of the field.
        field: String,
        /// The accepted range or rule.
        message: String,
    },
    /// A write route got a body that is not `application/json`.
    #[error("expected a body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes (`max_body_bytes`).
        limit: usize,
    },
    /// No such route.
    #[error("no route {0}")]
    NoRoute(String),
    /// The route exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The record asked for does not exist.
    #[error("{what} not found: {key}")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// The key looked up.
        key: String,
    },
    /// Someone else changed the record first, or it already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request did not finish within `request_timeout`.
    #[error("request did not finish within the server's timeout")]
    Timeout,
    /// A WebSocket route was called without the upgrade handshake.
    #[error(
        "this route is a WebSocket: connect with `Connection: Upgrade` and `Upgrade: websocket` ({0})"
    )]
    UpgradeRequired(String),
    /// A dependency (the forecaster, the fleet) cannot answer now; the request may be retried.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database failed; the request may be retried.
    #[error("database unavailable: {0}")]
    Database(String),
    /// No scheduling tick has succeeded for this many seconds: the service is not deciding.
    #[error("no scheduling tick has succeeded for {0} s")]
    TicksStalled(u64),
    /// A configuration key is missing or out of range (startup and `config check`).
    #[error("configuration: {key}: {reason}")]
    Config {
        /// The key, dotted, as written in the TOML file.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the config file or binding the listener failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A bug or corrupt stored data: the details are logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code to branch on, e.g. `invalid_field`, `forbidden`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field for `invalid_field` / `invalid_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// The stable code clients branch on (documented in `docs/api.md`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::InvalidCode => "invalid_code",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::InvalidValue { .. } => "invalid_value",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::NoRoute(_) => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Timeout => "timeout",
            ApiError::UpgradeRequired(_) => "upgrade_required",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Database(_) => "database_unavailable",
            ApiError::TicksStalled(_) => "ticks_stalled",
            ApiError::Config { .. } => "invalid_config",
            ApiError::Io { .. } | ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::InvalidCode => StatusCode::FORBIDDEN,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidField { .. } | ApiError::InvalidValue { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoRoute(_) | ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            ApiError::Timeout | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::TicksStalled(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Config { .. } | ApiError::Io { .. } | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Shorthand for a range or rule violation on `field`.
    pub fn invalid_value(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidValue {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for a configuration error on `key`.
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::InvalidField { field, .. } | ApiError::InvalidValue { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        };
        let message = match self {
            // Details of server-side faults go to the log, not to the client.
            ApiError::Database(_) => "the database is unavailable; retry later".to_owned(),
            ApiError::Io { .. } | ApiError::Internal(_) | ApiError::Config { .. } => {
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        ErrorBody {
            code: self.code().to_owned(),
            message,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, key } => ApiError::NotFound { what, key },
            StoreError::Conflict { what, key } => ApiError::Conflict(format!("{what}: {key}")),
            StoreError::Database(e) => ApiError::Database(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<hivesched_policy::PolicyError> for ApiError {
    fn from(e: hivesched_policy::PolicyError) -> Self {
        match e {
            hivesched_policy::PolicyError::InvalidConfig { key, reason } => {
                ApiError::invalid_value(key, reason)
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<hivesched_engine::EngineError> for ApiError {
    fn from(e: hivesched_engine::EngineError) -> Self {
        use hivesched_engine::EngineError as E;
        match e {
            E::InvalidConfig { key, reason } => ApiError::invalid_value(key, reason),
            E::Store(e) => e.into(),
            E::Policy(e) => e.into(),
            E::Forecast(e) => ApiError::Unavailable(format!("forecast: {e}")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_faults_do_not_leak_details() {
        let body = ApiError::Database("password=hunter2".into()).body();
        assert_eq!(body.code, "database_unavailable");
        assert!(!body.message.contains("hunter2"));
    }

    #[test]
    fn field_errors_name_the_field() {
        let e = ApiError::invalid_value("rails.min_awake", "too large");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body().field.as_deref(), Some("rails.min_awake"));
    }
}
