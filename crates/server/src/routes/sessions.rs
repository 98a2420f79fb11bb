//! `/api/v1/sessions`: the caller's own sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use cryptobot_service::clock::now;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use cryptobot_auth::MAX_PASSWORD_CHARS;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::extract::{ApiJson, SessionCaller, Validate, check_len};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ScopeErrors};
use crate::sign_in::recheck_own_password;
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
    let found = state.store.session(&id).await?;
    if found.as_ref().is_some_and(|s| s.user_id != caller.user.id) {
        // Someone else's session id: a refused access decision.
        state
            .audit(
                "permission_denied",
                &caller.who(),
                None,
                "denied",
                json!({"reason": "not_owner", "resource": "session"}),
            )
            .await;
    }
    let mine = found.is_some_and(|s| s.user_id == caller.user.id && s.ended_at.is_none());
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

/// Proof that the person asking is the account holder: the password, or a
/// current second-factor code (exactly one).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// Your password.
    #[schema(value_type = Option<String>, format = Password, min_length = 1, max_length = 128)]
    pub password: Option<SecretString>,
    /// A code from your authenticator, or a backup code.
    #[schema(value_type = Option<String>, min_length = 6, max_length = 16)]
    pub code: Option<SecretString>,
}

impl Validate for ReauthRequest {
    fn validate(&self) -> Result<(), ApiError> {
        match (&self.password, &self.code) {
            (Some(p), None) => check_len("password", p.expose_secret(), 1, MAX_PASSWORD_CHARS),
            (None, Some(c)) => check_len("code", c.expose_secret(), 6, 16),
            _ => Err(ApiError::invalid_field(
                "password",
                "give exactly one of `password` or `code`",
            )),
        }
    }
}

/// End every session of yours except this one (a device lost, a token
/// leaked). Needs your password or a current second-factor code; wrong
/// ones count towards the sign-in lockout.
#[utoipa::path(
    post, path = "/api/v1/sessions/end-all", operation_id = "endAllSessions", tag = "sessions",
    security(("bearer" = ["account:self"])),
    request_body = ReauthRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Ended", body = crate::routes::users::SessionsEnded),
        ScopeErrors,
        (status = 429, description = "Too many failures from this address", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn end_all(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<Json<crate::routes::users::SessionsEnded>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let now = now();
    crate::routes::auth::throttle_gate(&state, caller.client, now).await?;
    let sign_in = state.sign_in();
    match (req.password, req.code) {
        (Some(password), _) => {
            recheck_own_password(
                &state,
                &caller,
                password,
                now,
                ("sessions_end_all_failed", "wrong_password", "password"),
            )
            .await?;
        }
        (None, Some(code)) => {
            sign_in
                .recheck_code(
                    &caller.user,
                    code.expose_secret(),
                    &caller.who(),
                    caller.client,
                    now,
                    true,
                )
                .await?;
        }
        (None, None) => {
            return Err(ApiError::invalid_field(
                "password",
                "give exactly one of `password` or `code`",
            ));
        }
    }
    let ended = state
        .accounts()
        .end_sessions(
            &caller.who(),
            &caller.user.username,
            Some(&caller.session.id),
            "ended_by_user_all",
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "ending sessions failed");
            ApiError::internal()
        })?;
    Ok(Json(crate::routes::users::SessionsEnded {
        sessions_ended: ended.len(),
    }))
}
