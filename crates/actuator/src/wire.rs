//! JSON shapes of the contract that are not plain data types: the error body every non-2xx
//! answer carries. Shared by [`HttpActuator`](super::HttpActuator) and the fake fleet's server
//! so both sides read and write the same bytes.

use serde::{Deserialize, Serialize};

/// Error body of the contract: `{"code": "...", "message": "...", "field": "..."}`.
///
/// `code` is stable and machine-readable (a 409 says `busy`, `stale_token` or `invalid_state`);
/// `message` is for humans; `field` names the offending request field on 400/422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// An error body with no field.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    /// An error body naming the request field at fault.
    pub fn for_field(code: &str, field: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.to_owned(),
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }
}
