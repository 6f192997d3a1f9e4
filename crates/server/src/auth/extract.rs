//! The per-route role check as an extractor: a handler taking `Auth<Operator>` cannot run
//! without a valid, unrevoked token of at least the operator role.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::auth::{Claims, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// A route's minimum role, as a type so it shows in the handler's signature.
pub trait MinRole: Send + Sync + 'static {
    /// The lowest role admitted.
    const ROLE: Role;
}

/// Marker: any valid token.
#[derive(Debug)]
pub struct Viewer;
/// Marker: operator or admin.
#[derive(Debug)]
pub struct Operator;
/// Marker: admin only.
#[derive(Debug)]
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Operator {
    const ROLE: Role = Role::Operator;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// The verified caller of a route whose minimum role is `R`.
#[derive(Debug)]
pub struct Auth<R> {
    /// The token's claims; `claims.sub` is the actor recorded in audit records.
    pub claims: Claims,
    _role: PhantomData<R>,
}

impl<R: MinRole> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = bearer_claims(&parts.headers, state).await?;
        if claims.role < R::ROLE {
            return Err(ApiError::Forbidden {
                need: R::ROLE,
                have: claims.role,
            });
        }
        Ok(Auth {
            claims,
            _role: PhantomData,
        })
    }
}

/// The claims of the request's `Authorization: Bearer` token, verified and checked against the
/// revocation list (the role is the caller's to check).
pub async fn bearer_claims(headers: &HeaderMap, state: &AppState) -> Result<Claims, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "expected `Authorization: Bearer <token>`",
        ))?;
    let claims = state.keys.verify(token)?;
    check_not_revoked(&claims, state).await?;
    Ok(claims)
}

/// Refuses claims whose token was revoked.
pub async fn check_not_revoked(claims: &Claims, state: &AppState) -> Result<(), ApiError> {
    if state.store.is_token_revoked(&claims.jti).await? {
        return Err(ApiError::Unauthorized("token revoked"));
    }
    Ok(())
}
