//! `/api/v1/users`: account administration.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use cryptobot_store::User;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use cryptobot_service::accounts::{self, AccountError, Accounts};
use cryptobot_service::clock::now;

use crate::extract::{ApiJson, Caller, SessionCaller, Validate, check_len};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ScopeErrors};
use crate::state::AppState;

/// An account as administrators see it (never the password hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Account name.
    pub username: String,
    /// admin, trader, viewer or auditor.
    pub role: String,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Locked by failed sign-ins right now.
    pub locked: bool,
    /// End of the lock (unix seconds), if locked.
    pub locked_until: Option<i64>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last successful sign-in (unix seconds).
    pub last_login_at: Option<i64>,
    /// Last password change (unix seconds).
    pub password_changed_at: i64,
    /// A confirmed authenticator is enrolled.
    pub mfa_enabled: bool,
    /// Whole days since the password was set.
    pub password_age_days: i64,
    /// Open sessions (not ended, expired or idle).
    pub active_sessions: i64,
    /// Usable service API keys (not revoked, expired or suspended).
    pub active_api_keys: i64,
    /// The latest sign-in, session request or service-key call (unix
    /// seconds).
    pub last_used_at: Option<i64>,
    /// Whole days since `last_used_at` (since creation when never used).
    pub days_since_last_use: i64,
}

// The OpenAPI description of `cryptobot_service::accounts::UserView`
// (the service does not depend on utoipa): the same fields, in order.
impl From<accounts::UserView> for UserView {
    fn from(v: accounts::UserView) -> Self {
        UserView {
            username: v.username,
            role: v.role,
            disabled: v.disabled,
            locked: v.locked,
            locked_until: v.locked_until,
            created_at: v.created_at,
            last_login_at: v.last_login_at,
            password_changed_at: v.password_changed_at,
            mfa_enabled: v.mfa_enabled,
            password_age_days: v.password_age_days,
            active_sessions: v.active_sessions,
            active_api_keys: v.active_api_keys,
            last_used_at: v.last_used_at,
            days_since_last_use: v.days_since_last_use,
        }
    }
}

impl UserView {
    /// The view of `u` at `now`.
    pub fn of(u: User, now: i64) -> Self {
        accounts::UserView::of(u, now).into()
    }
}

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role.
    #[schema(example = "viewer", pattern = "^(admin|trader|viewer|auditor)$")]
    pub role: String,
}

impl Validate for RoleRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("role", &self.role, 1, 32)?;
        accounts::parse_role(&self.role)
            .map(|_| ())
            .map_err(|e| ApiError::invalid_field("role", e.to_string()))
    }
}

fn map_err(e: AccountError) -> ApiError {
    match e {
        // Never the name as sent: problem details do not echo input.
        AccountError::NoSuchUser(_) => ApiError::new(Kind::NotFound, "no such user"),
        AccountError::Disabled(_) => {
            ApiError::new(Kind::Conflict, "the account is disabled; enable it first")
        }
        AccountError::LastAdmin(_) => ApiError::new(
            Kind::Conflict,
            "this is the last enabled administrator; make another admin first",
        ),
        AccountError::BadRole(_) => ApiError::invalid_field("role", e.to_string()),
        AccountError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "account operation failed");
            ApiError::internal()
        }
    }
}

fn accounts(state: &AppState) -> Accounts<'_> {
    state.accounts()
}

fn not_self(caller: &Caller, username: &str, what: &str) -> Result<(), ApiError> {
    if caller.user.username == username {
        return Err(ApiError::new(
            Kind::Conflict,
            format!("you cannot {what} your own account; ask another administrator"),
        ));
    }
    Ok(())
}

/// List every account, with what an access review needs: last use,
/// password age, MFA, open sessions and usable service keys.
#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "Accounts by name", body = Vec<UserView>),
        ScopeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require(&state, Scope::UsersRead).await?;
    let users = accounts(&state).review().await.map_err(map_err)?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Disable an account; its sessions end at once and its service API keys
/// are suspended (enabling it again does not revive them). Needs a recent
/// second factor (step-up).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/disable", operation_id = "disableUser", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 200, description = "Disabled", body = UserView),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Your own account", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    not_self(&caller, &username, "disable")?;
    caller.require_step_up(&state).await?;
    let u = accounts(&state)
        .set_disabled(&caller.who(), &username, true)
        .await
        .map_err(map_err)?;
    Ok(Json(UserView::of(u, now())))
}

/// Enable an account.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/enable", operation_id = "enableUser", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 200, description = "Enabled", body = UserView),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    let u = accounts(&state)
        .set_disabled(&caller.who(), &username, false)
        .await
        .map_err(map_err)?;
    Ok(Json(UserView::of(u, now())))
}

/// Clear a lockout caused by failed sign-ins.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/unlock", operation_id = "unlockUser", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 200, description = "Unlocked", body = UserView),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    let u = accounts(&state)
        .unlock(&caller.who(), &username)
        .await
        .map_err(map_err)?;
    Ok(Json(UserView::of(u, now())))
}

/// Change an account's role.
#[utoipa::path(
    put, path = "/api/v1/users/{username}/role", operation_id = "setUserRole", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    request_body = RoleRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Changed", body = UserView),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Your own account", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    not_self(&caller, &username, "change the role of")?;
    caller.require_step_up(&state).await?;
    let u = accounts(&state)
        .set_role(&caller.who(), &username, &req.role)
        .await
        .map_err(map_err)?;
    Ok(Json(UserView::of(u, now())))
}

/// A password-reset token, shown once.
#[derive(Serialize, ToSchema)]
pub struct IssuedReset {
    /// The account.
    pub username: String,
    /// Give this to the user over a trusted channel; they set a new
    /// password with `POST /api/v1/auth/password-reset` before
    /// `expires_at`. It works once, and not after their password changed
    /// by another way.
    #[schema(example = "cbr_…")]
    pub reset_token: String,
    /// Expiry (unix seconds): 15 minutes from now.
    pub expires_at: i64,
}

/// Issue a single-use password-reset token for an account (valid 15
/// minutes; an earlier unused one stops working). Needs `users:manage`
/// and a recent second factor (step-up).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/password-reset", operation_id = "issuePasswordReset", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 201, description = "Issued; the token is shown only now", body = IssuedReset),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The account is disabled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn issue_password_reset(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(username): Path<String>,
) -> Result<(StatusCode, Json<IssuedReset>), ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    caller.require_step_up(&state).await?;
    let issued = accounts(&state)
        .issue_reset(&caller.who(), &username, &state.reset_key)
        .await
        .map_err(map_err)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedReset {
            username: issued.username,
            reset_token: issued.token.expose_secret().to_string(),
            expires_at: issued.expires_at,
        }),
    ))
}

/// How many sessions were ended.
#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// Sessions ended (their refresh tokens stop working with them).
    pub sessions_ended: usize,
}

/// End every session of another account (a suspected stolen session).
/// Needs `users:manage` and a recent second factor (step-up).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/sessions/end", operation_id = "endUserSessions", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 200, description = "Ended", body = SessionsEnded),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Your own account: use POST /api/v1/sessions/end-all", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn end_sessions(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(username): Path<String>,
) -> Result<Json<SessionsEnded>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    not_self(&caller, &username, "end all sessions of")?;
    caller.require_step_up(&state).await?;
    let ended = accounts(&state)
        .end_sessions(&caller.who(), &username, None, "ended_by_admin")
        .await
        .map_err(map_err)?;
    Ok(Json(SessionsEnded {
        sessions_ended: ended.len(),
    }))
}

/// What deleting an account removed.
#[derive(Serialize, ToSchema)]
pub struct UserDeleted {
    /// The name its audit records carry from now on (`deleted:<id>`).
    pub pseudonym: String,
    /// Sessions removed.
    pub sessions: i64,
    /// Service API keys removed.
    pub api_keys: i64,
    /// Exchange-key grants removed.
    pub grants: i64,
    /// Audit records that named the account and now name the pseudonym.
    pub audit_records_pseudonymised: i64,
}

/// Delete an account: its credentials, sessions, MFA, service keys and
/// grants are removed; the audit trail keeps its events under a
/// pseudonymous id. Not the last enabled administrator, not yourself.
/// Needs `users:manage` and a recent second factor (step-up).
#[utoipa::path(
    delete, path = "/api/v1/users/{username}", operation_id = "deleteUser", tag = "users",
    security(("bearer" = ["users:manage"])),
    params(("username" = String, Path, description = "Account name")),
    responses(
        (status = 200, description = "Deleted", body = UserDeleted),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Your own account, or the last enabled administrator", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(username): Path<String>,
) -> Result<Json<UserDeleted>, ApiError> {
    caller.require(&state, Scope::UsersManage).await?;
    not_self(&caller, &username, "delete")?;
    caller.require_step_up(&state).await?;
    let (pseudonym, d) = accounts(&state)
        .delete(&caller.who(), &username)
        .await
        .map_err(map_err)?;
    Ok(Json(UserDeleted {
        pseudonym,
        sessions: d.sessions,
        api_keys: d.api_keys,
        grants: d.grants,
        audit_records_pseudonymised: d.audit_records,
    }))
}

/// Everything stored about you that you may see, as one JSON document:
/// your account, open sessions, service keys (never secrets), the exchange
/// keys granted to you, and the audit records by or about you.
#[utoipa::path(
    get, path = "/api/v1/me/export", operation_id = "exportMyData", tag = "users",
    security(("bearer" = ["account:self"])),
    responses(
        (status = 200, description = "Your data", body = Object),
        ScopeErrors,
    )
)]
pub async fn export_me(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let data = accounts(&state)
        .export(&caller.user)
        .await
        .map_err(map_err)?;
    state
        .audit(
            "data_exported",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            serde_json::json!({}),
        )
        .await;
    Ok(Json(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_described_view_is_the_service_view() {
        let v = accounts::UserView {
            username: "alice".into(),
            role: "admin".into(),
            disabled: false,
            locked: true,
            locked_until: Some(7),
            created_at: 1,
            last_login_at: None,
            password_changed_at: 2,
            mfa_enabled: true,
            password_age_days: 3,
            active_sessions: 4,
            active_api_keys: 5,
            last_used_at: Some(6),
            days_since_last_use: 7,
        };
        let sent = serde_json::to_string(&UserView::from(v.clone())).expect("json");
        assert_eq!(sent, serde_json::to_string(&v).expect("json"));
    }
}
