//! Unauthenticated service endpoints: health, public keys, the CA's
//! revocation list. The API description is served by [`crate::openapi`].

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, ProblemBody};
use crate::state::AppState;

/// Health report.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `ok`.
    pub database: &'static str,
}

/// Liveness and database reachability; no authentication.
///
/// While the database cannot be reached the answer is 503 `busy`
/// problem+json with `Retry-After`, like every 5xx (it used to be
/// documented as a `Health` body, which the problem layer replaced).
#[utoipa::path(
    get, path = "/healthz", operation_id = "health", tag = "meta",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database is unreachable", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Health {
            status: "ok",
            database: "ok",
        })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            Err(ApiError::unavailable())
        }
    }
}

/// The public keys that verify access tokens (RFC 7517 JWK Set).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "meta",
    responses((status = 200, description = "JWK Set", body = Object))
)]
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.key_ring().verifier.jwks())
}

/// The local CA's certificate revocation list (DER), as published by
/// `cryptobot ssl` in `config/tls/ca.crl`. Certificates the local CA issues
/// name this URL as their CRL distribution point. Public, like the CA
/// certificate itself.
#[utoipa::path(
    get, path = "/pki/ca.crl", operation_id = "ca_crl", tag = "meta",
    responses(
        (status = 200, description = "CRL, DER", content_type = "application/pkix-crl", body = Vec<u8>),
        (status = 404, description = "No local CA on this server", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn ca_crl(
    State(state): State<AppState>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], Vec<u8>), crate::problem::ApiError> {
    let path = state.layout.tls_dir().join("ca.crl");
    match tokio::fs::read(&path).await {
        Ok(der) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/pkix-crl")],
            der,
        )),
        Err(_) => Err(crate::problem::ApiError::new(
            crate::problem::Kind::NotFound,
            "this server publishes no revocation list: its certificate does not come from a local CA",
        )),
    }
}
