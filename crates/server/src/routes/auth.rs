//! `/api/v1/auth/*`: login, refresh, logout, change password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cryptobot_auth::{
    Claims, MAX_PASSWORD_CHARS, Role, hash_opaque_token, new_opaque_token, random_id, scope_string,
    sign,
};
use cryptobot_service::accounts::{AccountError, password_expired};
use cryptobot_service::audit::Who;
use cryptobot_service::clock::now;
use cryptobot_service::sessions::session_end_reason;
use cryptobot_service::sign_in::Failed;
use cryptobot_service::signing_keys::{AUDIENCE, ISSUER};
use cryptobot_store::{Challenge, NewSession, RefreshUse, Session, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::extract::{
    ApiJson, ClientAddr, PASSWORD_CHANGE_ONLY, SessionCaller, UserAgent, Validate, check_len,
};
use crate::limits::{LimitKey, refused_login};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ProblemItem, SessionErrors};
use crate::routes::mfa::CodeRequest;
use crate::sign_in::{recheck_own_password, step_answer};
use crate::state::AppState;

/// Login credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Account name.
    #[schema(min_length = 1, max_length = 64, example = "alice")]
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub password: SecretString,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("username", &self.username, 1, 64)?;
        check_len(
            "password",
            self.password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )
    }
}

/// A refresh request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; it can be used once.
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub refresh_token: SecretString,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("refresh_token", self.refresh_token.expose_secret(), 1, 128)
    }
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password in use now.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub current_password: SecretString,
    /// The new password; it must meet the password policy.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub new_password: SecretString,
}

impl Validate for PasswordChangeRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len(
            "current_password",
            self.current_password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )?;
        check_len(
            "new_password",
            self.new_password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )
    }
}

/// Tokens, with OAuth 2.0 field names (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// EdDSA-signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// Space-separated scopes granted.
    pub scope: String,
    /// The session these tokens belong to.
    pub session_id: String,
    /// True when the password has expired, or was found in the
    /// breached-password list at sign-in: only changing it is allowed.
    pub password_expired: bool,
}

/// Seconds a sign-in challenge stays valid.
const MFA_CHALLENGE_SECONDS: i64 = 300;
/// Codes checked on one sign-in challenge at most; then the password step
/// must be repeated.
const MFA_CHALLENGE_ATTEMPTS: i64 = 5;
/// Wrong step-up codes that end the session (the fifth).
const STEP_UP_ATTEMPTS: i64 = 5;

/// The password step passed; a second factor is needed.
#[derive(Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always true.
    pub mfa_required: bool,
    /// Single-use token for `POST /api/v1/auth/mfa`.
    pub mfa_token: String,
    /// Seconds the challenge stays valid.
    pub expires_in: i64,
    /// `totp` and `backup_code`.
    pub methods: Vec<&'static str>,
}

/// What a successful password step returns.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    /// Signed in.
    Tokens(TokenResponse),
    /// A second factor is needed.
    Mfa(MfaChallenge),
}

/// The second step of an MFA sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the login response.
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub mfa_token: SecretString,
    /// 6 digits from the authenticator, or a backup code.
    #[schema(value_type = String, min_length = 6, max_length = 16, example = "123456")]
    pub code: SecretString,
}

impl Validate for MfaLoginRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("mfa_token", self.mfa_token.expose_secret(), 1, 128)?;
        check_len("code", self.code.expose_secret(), 6, 16)
    }
}

/// Result of a password change.
#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many other sessions were ended.
    pub sessions_ended: usize,
    /// Your service API keys suspended by the change (ids); each works
    /// again after `POST /api/v1/api-keys/{id}/reactivate`.
    pub api_keys_suspended: Vec<String>,
}

async fn issue_tokens(
    state: &AppState,
    user: &User,
    session: &Session,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let expired =
        password_expired(&state.settings, user.password_changed_at, now) || user.password_breached;
    let scope = if expired {
        PASSWORD_CHANGE_ONLY.to_string()
    } else {
        user.role
            .parse::<Role>()
            .map(scope_string)
            .unwrap_or_default()
    };
    let ttl = i64::from(state.settings.security.session.access_token_seconds);
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: user.id.clone(),
        sid: session.id.clone(),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: random_id().map_err(|_| ApiError::internal())?,
        scope: scope.clone(),
    };
    let access = sign(&state.key_ring().signing, &claims).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        ApiError::internal()
    })?;
    let (refresh, hash) = new_opaque_token().map_err(|_| ApiError::internal())?;
    let refresh_ttl = i64::from(state.settings.security.session.expiry_seconds);
    let refresh_exp = (now + refresh_ttl).min(session.expires_at);
    state
        .store
        .insert_refresh_token(&hash, &session.id, now, refresh_exp)
        .await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: refresh.expose_secret().to_string(),
        refresh_expires_in: refresh_exp - now,
        scope,
        session_id: session.id.clone(),
        password_expired: expired,
    })
}

/// 429 with `Retry-After` while `client` is serving a progressive delay;
/// 503 when the shared state cannot be reached and sign-in fails closed.
pub(crate) async fn throttle_gate(
    state: &AppState,
    client: std::net::IpAddr,
    now: i64,
) -> Result<(), ApiError> {
    delay_answer(state, client, state.limits.delay_check(client, now).await?)
}

fn delay_answer(
    state: &AppState,
    client: std::net::IpAddr,
    wait: Option<u64>,
) -> Result<(), ApiError> {
    match wait {
        None => Ok(()),
        Some(retry) => {
            tracing::debug!(%client, retry, "throttled");
            state.note_refusal("rate_limited", "failure_delay", Some(client));
            Err(ApiError::new(
                Kind::TooManyRequests,
                "too many failed attempts from this address; wait before trying again",
            )
            .retry_after(retry))
        }
    }
}

/// The sign-in gate: the address's progressive delay, and the attempt
/// limits of the address and of the account named (decided together, one
/// round trip each when shared).
async fn login_gate(
    state: &AppState,
    client: std::net::IpAddr,
    username: &str,
    now: i64,
) -> Result<(), ApiError> {
    let addr_key = LimitKey::LoginAddr(cryptobot_auth::address_group(client));
    let user_key = LimitKey::LoginUser(username.to_string());
    let (wait, by_addr, by_user) = tokio::join!(
        state.limits.delay_check(client, now),
        state.limits.check(&addr_key),
        state.limits.check(&user_key),
    );
    delay_answer(state, client, wait?)?;
    for d in [by_addr?, by_user?] {
        if !d.allowed {
            state.note_refusal("rate_limited", "sign_in", Some(client));
            return Err(refused_login(&d));
        }
    }
    Ok(())
}

/// Sign in with a username and password.
///
/// Every failure (unknown user, wrong password, disabled or locked account)
/// gets the same body and takes the same time.
#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body = LoginRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Signed in, or (for accounts with MFA) a challenge for POST /api/v1/auth/mfa", body = LoginResponse),
        (status = 401, description = "Invalid credentials", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures from this address, or too many attempts from it or for the account", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Too many sign-ins at once, or the shared rate-limit store (Redis) cannot be reached", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    UserAgent(agent): UserAgent,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let now = now();
    login_gate(&state, client, &req.username, now).await?;
    let user = state.store.user_by_name(&req.username).await?;
    let who = |u: &User| Who {
        actor: Some(u.username.clone()),
        client: Some(client),
    };

    // A locked account (for this address group, or account-wide) is
    // answered inside `recheck_password`, after the same hashing work.
    let failed = Failed {
        event: "login_failed",
        reason: if user.is_some() {
            "wrong_password"
        } else {
            "unknown_user"
        },
        lockout: true,
    };
    let caller = user.as_ref().map_or(
        Who {
            actor: None,
            client: Some(client),
        },
        who,
    );
    let needs_rehash = state
        .sign_in()
        .recheck_password(
            user.as_ref(),
            req.password.clone(),
            &caller,
            client,
            now,
            failed,
        )
        .await
        .map_err(|e| step_answer(e, ApiError::invalid_credentials))?;
    // An unknown account never matches: recheck_password refused it.
    let Some(user) = user else {
        return Err(ApiError::invalid_credentials());
    };
    if user.disabled {
        state
            .audit(
                "login_failed",
                &who(&user),
                Some(&user.username),
                "denied",
                json!({"reason": "disabled"}),
            )
            .await;
        return Err(ApiError::invalid_credentials());
    }

    if !user.password_breached && cryptobot_auth::is_common_password(req.password.expose_secret()) {
        // A password from the breached-password list still signs in, but
        // the session may only change it (ASVS 2.1.7).
        state.store.mark_password_breached(&user.id).await?;
        state
            .audit(
                "password_breached",
                &who(&user),
                Some(&user.username),
                "warning",
                json!({"notify": true}),
            )
            .await;
    }
    let user = match state.store.user_by_id(&user.id).await? {
        Some(u) => u,
        None => return Err(ApiError::invalid_credentials()),
    };
    if needs_rehash {
        let hasher = state.hashing.hasher().clone();
        let password = req.password.clone();
        if let Ok(Ok(new_hash)) = tokio::task::spawn_blocking(move || hasher.hash(&password)).await
        {
            state
                .store
                .replace_hash(&user.id, &user.password_hash, &new_hash)
                .await?;
        }
    }
    if user.mfa_enabled {
        // The failure count is reset only when the second factor succeeds,
        // so MFA guesses count towards the lockout.
        let (token, hash) = new_opaque_token().map_err(|_| ApiError::internal())?;
        state
            .store
            .challenge_insert(
                &hash,
                &Challenge {
                    user_id: user.id.clone(),
                    client_addr: client.to_string(),
                    user_agent: agent,
                },
                now,
                now + MFA_CHALLENGE_SECONDS,
            )
            .await?;
        state
            .audit(
                "mfa_challenge_issued",
                &who(&user),
                Some(&user.username),
                "ok",
                json!({}),
            )
            .await;
        return Ok(Json(LoginResponse::Mfa(MfaChallenge {
            mfa_required: true,
            mfa_token: token.expose_secret().to_string(),
            expires_in: MFA_CHALLENGE_SECONDS,
            methods: vec!["totp", "backup_code"],
        })));
    }
    let tokens = start_session(&state, &user, client, agent, now, None).await?;
    Ok(Json(LoginResponse::Tokens(tokens)))
}

/// Records the successful sign-in, opens a session and issues its tokens.
async fn start_session(
    state: &AppState,
    user: &User,
    client: std::net::IpAddr,
    agent: String,
    now: i64,
    mfa_at: Option<i64>,
) -> Result<TokenResponse, ApiError> {
    let who = Who {
        actor: Some(user.username.clone()),
        client: Some(client),
    };
    state.store.record_login_success(&user.id, now).await?;
    let group = cryptobot_auth::lockout_group(client);
    let known = state
        .store
        .addr_group_known(
            &user.id,
            &group,
            now - cryptobot_service::sign_in::KNOWN_GROUP_DAYS * 86_400,
        )
        .await?;
    state.store.auth_success_from(&user.id, &group, now).await?;
    if !known && user.last_login_at.is_some() {
        // A sign-in from a network this account has not used lately: the
        // user should hear of it.
        state
            .audit(
                "login_new_address",
                &who,
                Some(&user.username),
                "ok",
                json!({"address_group": group, "notify": true}),
            )
            .await;
    }
    let session_cfg = &state.settings.security.session;
    let (session, ended) = state
        .store
        .create_session(
            &NewSession {
                id: random_id().map_err(|_| ApiError::internal())?,
                user_id: user.id.clone(),
                client_addr: client.to_string(),
                user_agent: agent,
                now,
                expires_at: now + i64::from(session_cfg.refresh_expiry_seconds),
                mfa_at,
            },
            session_cfg.max_sessions_per_user as usize,
        )
        .await?;
    for id in &ended {
        state
            .audit(
                "session_ended",
                &who,
                Some(&user.username),
                "ok",
                json!({"session": id, "reason": "session_limit"}),
            )
            .await;
    }
    let tokens = issue_tokens(state, user, &session, now).await?;
    state
        .audit(
            "login_succeeded",
            &who,
            Some(&user.username),
            "ok",
            json!({"session": session.id, "password_expired": tokens.password_expired, "mfa": mfa_at.is_some()}),
        )
        .await;
    Ok(tokens)
}

/// Complete a sign-in that needs a second factor.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa", tag = "auth", operation_id = "loginMfa",
    request_body = MfaLoginRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong, expired or used code or challenge", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures from this address", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The shared rate-limit store (Redis) cannot be reached", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn login_mfa(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<MfaLoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let now = now();
    throttle_gate(&state, client, now).await?;
    let hash = hash_opaque_token(req.mfa_token.expose_secret());
    let expired = || {
        ApiError::new(
            Kind::InvalidMfa,
            "the sign-in challenge is unknown, used or expired; sign in with your password again",
        )
    };
    let Some(challenge) = state.store.challenge(&hash, now).await? else {
        state.note_refusal("mfa_challenge_refused", "unknown_or_expired", Some(client));
        return Err(expired());
    };
    let user = state
        .store
        .user_by_id(&challenge.user_id)
        .await?
        .filter(|u| !u.disabled && u.mfa_enabled)
        .ok_or_else(expired)?;
    let who = Who {
        actor: Some(user.username.clone()),
        client: Some(client),
    };
    // One conditional update reserves the attempt before the code is
    // checked: of any number of concurrent guesses on one challenge, at
    // most MFA_CHALLENGE_ATTEMPTS are ever evaluated.
    if !state
        .store
        .challenge_attempt(&hash, now, MFA_CHALLENGE_ATTEMPTS)
        .await?
    {
        state
            .audit(
                "mfa_failed",
                &who,
                Some(&user.username),
                "denied",
                json!({"reason": "challenge_attempts_used"}),
            )
            .await;
        return Err(expired());
    }
    let method = state
        .sign_in()
        .recheck_code(&user, req.code.expose_secret(), &who, client, now, true)
        .await?;
    if !state.store.challenge_consume(&hash, now).await? {
        return Err(expired());
    }
    state
        .audit(
            "mfa_succeeded",
            &who,
            Some(&user.username),
            "ok",
            json!({"method": method.as_str()}),
        )
        .await;
    let tokens = start_session(&state, &user, client, challenge.user_agent, now, Some(now)).await?;
    Ok(Json(tokens))
}

/// Confirm a second factor in the current session (step-up) before an
/// action that needs a recent one.
#[utoipa::path(
    post, path = "/api/v1/auth/step-up", tag = "auth", operation_id = "stepUp",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        BodyErrors,
        (status = 204, description = "Confirmed for the next 5 minutes"),
        (status = 401, description = "No valid access token, or a wrong code", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "A service API key: this endpoint needs a signed-in session (`Authorization: Bearer`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "MFA is not enabled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn step_up(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<StatusCode, ApiError> {
    if !caller.user.mfa_enabled {
        return Err(ApiError::new(
            Kind::Conflict,
            "MFA is not enabled; enroll first",
        ));
    }
    let now = now();
    throttle_gate(&state, caller.client, now).await?;
    let ended = || {
        ApiError::new(
            Kind::Unauthorized,
            "too many wrong codes: this session has ended; sign in again",
        )
    };
    let Some(attempt) = state
        .store
        .step_up_attempt(&caller.session.id, STEP_UP_ATTEMPTS)
        .await?
    else {
        return Err(ended());
    };
    let checked = state
        .sign_in()
        .recheck_code(
            &caller.user,
            req.code.expose_secret(),
            &caller.who(),
            caller.client,
            now,
            true,
        )
        .await;
    if let Err(e) = checked {
        if attempt >= STEP_UP_ATTEMPTS {
            // Someone holding this session's token is guessing codes.
            if state
                .store
                .end_session(&caller.session.id, "step_up_failures", now)
                .await?
            {
                state
                    .audit(
                        "session_ended",
                        &caller.who(),
                        Some(&caller.user.username),
                        "ok",
                        json!({"session": caller.session.id, "reason": "step_up_failures", "notify": true}),
                    )
                    .await;
            }
            return Err(ended());
        }
        return Err(e.into());
    }
    state
        .store
        .session_mfa_done(&caller.session.id, now)
        .await?;
    state
        .audit(
            "mfa_step_up",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Exchange a refresh token for new tokens.
///
/// Each refresh token works once; presenting a used one ends the whole
/// session (it has probably been stolen).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        BodyErrors,
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired or reused refresh token", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let now = now();
    let refused = || {
        ApiError::new(
            Kind::InvalidRefreshToken,
            "the refresh token is unknown, expired or already used; sign in again",
        )
    };
    let hash = hash_opaque_token(req.refresh_token.expose_secret());
    let anonymous = Who {
        actor: None,
        client: Some(client),
    };
    let session_id = match state.store.consume_refresh_token(&hash, now).await? {
        RefreshUse::Fresh { session_id } => session_id,
        RefreshUse::Reused { session_id } => {
            let ended = state
                .store
                .end_session(&session_id, "refresh_token_reuse", now)
                .await?;
            let subject = state.store.session(&session_id).await?.map(|s| s.user_id);
            let username = match subject {
                Some(id) => state.store.user_by_id(&id).await?.map(|u| u.username),
                None => None,
            };
            state
                .audit(
                    "refresh_token_reused",
                    &anonymous,
                    username.as_deref(),
                    "denied",
                    json!({"session": session_id, "session_ended": ended, "notify": true}),
                )
                .await;
            return Err(refused());
        }
        RefreshUse::Expired { .. } => {
            state.note_refusal("refresh_token_refused", "expired", Some(client));
            return Err(refused());
        }
        RefreshUse::Unknown => {
            state.note_refusal("refresh_token_refused", "unknown", Some(client));
            return Err(refused());
        }
    };
    let session = state
        .store
        .session(&session_id)
        .await?
        .ok_or_else(refused)?;
    if let Some(reason) = session_end_reason(&state.settings, &session, now) {
        if session.ended_at.is_none() {
            state.store.end_session(&session.id, reason, now).await?;
        }
        state.note_refusal("refresh_token_refused", "session_ended", Some(client));
        return Err(refused());
    }
    let user = state
        .store
        .user_by_id(&session.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(refused)?;
    state.store.touch_session(&session.id, now).await?;
    let tokens = issue_tokens(&state, &user, &session, now).await?;
    state
        .audit(
            "token_refreshed",
            &Who {
                actor: Some(user.username.clone()),
                client: Some(client),
            },
            Some(&user.username),
            "ok",
            json!({"session": session.id}),
        )
        .await;
    Ok(Json(tokens))
}

/// End the current session; its access token stops working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        SessionErrors,
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> Result<StatusCode, ApiError> {
    let now = now();
    state
        .store
        .end_session(&caller.session.id, "logout", now)
        .await?;
    state
        .audit(
            "logout",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({"session": caller.session.id}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password (the current one is required). Every other session
/// ends. Allowed even when the password has expired.
#[utoipa::path(
    post, path = "/api/v1/auth/password", operation_id = "changePassword", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Changed", body = PasswordChanged),
        SessionErrors,
        (status = 429, description = "Too many failures from this address", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<PasswordChangeRequest>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let now = now();
    throttle_gate(&state, caller.client, now).await?;
    recheck_own_password(
        &state,
        &caller,
        req.current_password.clone(),
        now,
        (
            "password_change_failed",
            "wrong_current_password",
            "current_password",
        ),
    )
    .await?;
    match state
        .accounts()
        .set_password(
            &caller.who(),
            &caller.user,
            req.new_password,
            Some(&caller.session.id),
        )
        .await
    {
        Ok(c) => Ok(Json(PasswordChanged {
            sessions_ended: c.sessions_ended,
            api_keys_suspended: c.api_keys_suspended,
        })),
        Err(e) => Err(password_problem(e)),
    }
}

/// The answer to a refused new password (or another account error).
fn password_problem(e: AccountError) -> ApiError {
    match e {
        AccountError::Policy(v) => ApiError::new(
            Kind::PasswordPolicy,
            "the new password does not meet the password policy",
        )
        .with_errors(
            v.0.iter()
                .map(|x| ProblemItem {
                    code: x.code.to_string(),
                    message: x.message.clone(),
                })
                .collect(),
        ),
        e @ AccountError::Reused(_) => ApiError::new(Kind::PasswordPolicy, e.to_string())
            .with_errors(vec![ProblemItem {
                code: "reused".into(),
                message: e.to_string(),
            }]),
        AccountError::InvalidResetToken | AccountError::ResetTokenUsed => ApiError::new(
            Kind::InvalidResetToken,
            "the reset token is unknown, expired, used or no longer valid; ask an administrator for a new one",
        ),
        AccountError::Store(s) => s.into(),
        e => {
            tracing::error!(error = %e, "password change failed");
            ApiError::internal()
        }
    }
}

/// A password reset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The token an administrator issued (`cbr_…`).
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub token: SecretString,
    /// The new password; it must meet the password policy.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub new_password: SecretString,
}

impl Validate for PasswordResetRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("token", self.token.expose_secret(), 1, 128)?;
        check_len(
            "new_password",
            self.new_password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )
    }
}

/// Result of a password reset.
#[derive(Serialize, ToSchema)]
pub struct PasswordResetDone {
    /// The account whose password was set.
    pub username: String,
    /// Sessions ended (all of them).
    pub sessions_ended: usize,
    /// Service API keys suspended (ids); each works again after
    /// `POST /api/v1/api-keys/{id}/reactivate`.
    pub api_keys_suspended: Vec<String>,
}

/// Set a new password with a reset token from an administrator. The token
/// works once, within 15 minutes, and only while the password it was
/// issued for is unchanged. Every session of the account ends, its refresh
/// tokens stop working and its service API keys are suspended; MFA stays
/// enrolled. Sign in afterwards.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset", operation_id = "resetPassword", tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        BodyErrors,
        (status = 200, description = "The password is set", body = PasswordResetDone),
        (status = 401, description = "Unknown, expired, used or superseded token", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures from this address", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn password_reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> Result<Json<PasswordResetDone>, ApiError> {
    let now = now();
    throttle_gate(&state, client, now).await?;
    let who = Who {
        actor: None,
        client: Some(client),
    };
    // The new password is checked before the token is spent, so a
    // refused password leaves the token usable.
    if let Err(v) = state.policy.check(&req.new_password, "") {
        return Err(password_problem(AccountError::Policy(v)));
    }
    match state
        .accounts()
        .complete_reset(&who, &state.reset_key, &req.token, req.new_password)
        .await
    {
        Ok((user, c)) => Ok(Json(PasswordResetDone {
            username: user.username,
            sessions_ended: c.sessions_ended,
            api_keys_suspended: c.api_keys_suspended,
        })),
        Err(e) => {
            if matches!(
                e,
                AccountError::InvalidResetToken | AccountError::ResetTokenUsed
            ) {
                state
                    .sign_in()
                    .count_failure(None, &who, client, now, false)
                    .await?;
            }
            Err(password_problem(e))
        }
    }
}
