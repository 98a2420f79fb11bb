//! Unauthenticated service endpoints: health, public keys, the API description.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Health report.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
}

/// Liveness and database reachability; no authentication.
#[utoipa::path(
    get, path = "/healthz", operation_id = "health", tag = "meta",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database is unreachable", body = Health),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: "ok",
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded",
                    database: "unavailable",
                }),
            )
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

/// This API's OpenAPI description, generated from the code.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(crate::app::openapi_value().clone())
}
