//! `/api/v1/sessions`: the caller's own sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use cryptobot_service::clock::now;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::extract::SessionCaller;
use crate::problem::{ApiError, Kind, ProblemBody, ScopeErrors};
use crate::state::AppState;

/// One open session.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Address it signed in from.
    pub client_addr: String,
    /// User-Agent at sign-in.
    pub user_agent: String,
    /// Sign-in time (unix seconds).
    pub created_at: i64,
    /// Last request (unix seconds, updated at most every 15 s).
    pub last_seen: i64,
    /// Absolute end (unix seconds).
    pub expires_at: i64,
    /// True for the session of this request's token.
    pub current: bool,
}

/// List your open sessions.
#[utoipa::path(
    get, path = "/api/v1/sessions", operation_id = "listSessions", tag = "sessions",
    security(("bearer" = ["account:self"])),
    responses(
        (status = 200, description = "Open sessions, newest first", body = Vec<SessionView>),
        ScopeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let sessions = state.store.list_sessions(&caller.user.id, now()).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == caller.session.id,
                id: s.id,
                client_addr: s.client_addr,
                user_agent: s.user_agent,
                created_at: s.created_at,
                last_seen: s.last_seen,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// End one of your sessions.
#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", operation_id = "endSession", tag = "sessions",
    security(("bearer" = ["account:self"])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        ScopeErrors,
        (status = 404, description = "No such open session of yours", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn end(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let now = now();
    let mine = state
        .store
        .session(&id)
        .await?
        .is_some_and(|s| s.user_id == caller.user.id && s.ended_at.is_none());
    if !mine || !state.store.end_session(&id, "ended_by_user", now).await? {
        return Err(ApiError::new(
            Kind::NotFound,
            "you have no open session with this id",
        ));
    }
    state
        .audit(
            "session_ended",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({"session": id, "reason": "ended_by_user"}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
