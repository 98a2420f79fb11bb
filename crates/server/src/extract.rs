//! Request extractors: the client address, JSON bodies that fail with a
//! problem naming the field, and the authenticated caller.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use cryptobot_auth::{
    ApiKeyMatch, ApiKeyRefusal, Claims, Scope, ScopeSet, StoredApiKey, check_api_key, parse_api_key,
};
use cryptobot_service::accounts::password_expired;
use cryptobot_service::api_keys::role_scopes;
use cryptobot_service::audit::Who;
use cryptobot_service::clock::now;
use cryptobot_service::sessions::session_end_reason;
use cryptobot_store::{Session, User};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::client_ip::client_ip;
use crate::limits::{LimitKey, LimitSlot, refused};
use crate::problem::{ApiError, Kind};
use crate::state::AppState;

/// Scope word put in tokens minted while the password has expired: it
/// grants nothing but the change-password call.
pub const PASSWORD_CHANGE_ONLY: &str = "password:change";

/// The client address: the TCP peer, unless the peer is one of
/// `server.trusted_proxies`; then the nearest address in `Forwarded` (or
/// else `X-Forwarded-For`) that is not itself a trusted proxy. Headers
/// from anyone else are ignored, so they cannot dodge per-address limits.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientAddr(client_ip(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// The `User-Agent` header, cut to 256 characters.
#[derive(Debug, Clone)]
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let ua = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        Ok(UserAgent(ua))
    }
}

/// Request bodies check their own field rules after parsing.
pub trait Validate {
    /// Returns the first problem, naming the field.
    fn validate(&self) -> Result<(), ApiError>;
}

/// A JSON body: wrong media type, bad JSON, unknown fields, wrong types and
/// failed field rules each give one problem that names the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let media = v.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                Kind::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    Kind::PayloadTooLarge,
                    "the request body is larger than the server accepts",
                )
            } else {
                ApiError::new(Kind::InvalidRequest, "the request body could not be read")
            }
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// A request body as [`ApiJson`] reads it once the media type and size
/// are checked: JSON into `T` (the problem names the field), then `T`'s
/// own field rules. Public so the parser fuzz targets (`fuzz/`) run the
/// very code the routes run.
pub fn parse_body<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = describe_json_error(&inner);
        // The path names fields as sent (an unknown one too): only plain
        // dotted names are repeated.
        let plain_path = path.split('.').all(|part| {
            plain_name(part.trim_end_matches(|c: char| c == ']' || c.is_ascii_digit() || c == '['))
                .is_some()
                || part.is_empty()
        });
        if path == "." || path.is_empty() || !plain_path {
            ApiError::new(Kind::InvalidRequest, detail)
        } else {
            ApiError::invalid_field(path, detail)
        }
    })?;
    value.validate()?;
    Ok(value)
}

/// A serde error in words that never repeat the value sent.
fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("unknown field") {
        // serde: "unknown field `x`, expected one of `a`, `b`"
        let field = msg.split('`').nth(1).unwrap_or("?");
        return match plain_name(field) {
            Some(f) => format!("unknown field `{f}`; remove it"),
            None => "an unknown field; remove it (see /openapi.json)".to_string(),
        };
    }
    if msg.starts_with("missing field") {
        let field = msg.split('`').nth(1).unwrap_or("?");
        return format!("missing field `{field}`");
    }
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            "the body is not valid JSON".to_string()
        }
        serde_json::error::Category::Data => {
            "wrong type or value for this field; see /openapi.json".to_string()
        }
        serde_json::error::Category::Io => "the body could not be read".to_string(),
    }
}

/// A field or parameter name sent by a client, repeated in a problem
/// only when it is a plain name (1-64 of `A-Z a-z 0-9 _ -`): anything
/// else (control characters, markup, a pasted secret) is not echoed.
fn plain_name(name: &str) -> Option<&str> {
    ((1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    .then_some(name)
}

/// The problem for a query string axum could not read into the
/// parameters: an unknown parameter (named, 422) or a wrong type (422),
/// never repeating the value. Handlers take `Result<Query<T>,
/// QueryRejection>` and map the error after their scope check, so a
/// caller without the scope gets 403 whatever the query.
pub fn query_problem(e: &QueryRejection) -> ApiError {
    let text = e.body_text();
    // "Failed to deserialize query string: unknown field `x`, expected …"
    match text.split('`').nth(1) {
        Some(field) if text.contains("unknown field") => match plain_name(field) {
            Some(f) => ApiError::invalid_field(f, "unknown parameter; see /openapi.json"),
            None => ApiError::new(
                Kind::InvalidRequest,
                "an unknown query parameter; see /openapi.json",
            ),
        },
        _ => ApiError::new(
            Kind::InvalidRequest,
            "a query parameter has the wrong type; see /openapi.json",
        ),
    }
}

/// Checks a string field's length in characters.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be {min} to {max} characters long"),
        ));
    }
    Ok(())
}

/// How a request authenticated.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An access token (`Authorization: Bearer`) of an interactive session.
    Session {
        /// The verified claims.
        claims: Box<Claims>,
        /// The session the token belongs to.
        session: Box<Session>,
    },
    /// A service API key (`Authorization: ApiKey cbk_…`). It has no
    /// session: endpoints about sessions, passwords and second factors
    /// refuse it (see [`SessionCaller`]).
    ServiceKey {
        /// The key id.
        key_id: String,
        /// The key's name.
        name: String,
        /// True when the secret from before the last rotation was used
        /// (inside the grace period).
        previous_secret: bool,
    },
}

/// An authenticated request: either a valid access token whose session is
/// still open, or a valid service API key; in both cases the user is still
/// enabled. Every scope check ([`Caller::require`]) works the same for both.
#[derive(Debug, Clone)]
pub struct Caller {
    /// How the request authenticated.
    pub principal: Principal,
    /// The user (the key's owner for a service key), as stored now.
    pub user: User,
    /// Scopes granted: the token's or the key's, narrowed to what the
    /// user's current role allows.
    pub scopes: ScopeSet,
    /// True when the password has expired: only changing it is allowed
    /// (never for service keys, which do not use the password).
    pub password_expired: bool,
    /// Client address.
    pub client: IpAddr,
}

impl Caller {
    /// Audit identity of the caller: the username, or for a service key
    /// `<username>/apikey:<id>`.
    pub fn who(&self) -> Who {
        let actor = match &self.principal {
            Principal::Session { .. } => self.user.username.clone(),
            Principal::ServiceKey { key_id, .. } => {
                format!("{}/apikey:{key_id}", self.user.username)
            }
        };
        Who {
            actor: Some(actor),
            client: Some(self.client),
        }
    }

    /// Who asks to use an exchange key: the user (admins may use every
    /// key), or the service API key (which needs its own grants).
    pub fn access(&self) -> cryptobot_service::key_access::Access {
        use cryptobot_service::key_access::Access;
        match &self.principal {
            Principal::Session { .. } => Access::User {
                id: self.user.id.clone(),
                name: self.user.username.clone(),
                admin: self.user.role == "admin",
            },
            Principal::ServiceKey { key_id, .. } => Access::ApiKey {
                id: key_id.clone(),
                owner_id: self.user.id.clone(),
                owner: self.user.username.clone(),
            },
        }
    }

    /// The session, for callers with an access token.
    pub fn session(&self) -> Option<&Session> {
        match &self.principal {
            Principal::Session { session, .. } => Some(session),
            Principal::ServiceKey { .. } => None,
        }
    }

    /// The key id, for callers with a service API key.
    pub fn service_key_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::Session { .. } => None,
            Principal::ServiceKey { key_id, .. } => Some(key_id),
        }
    }

    /// Whether the caller's role must use MFA by policy.
    pub fn mfa_required(&self, state: &AppState) -> bool {
        state.settings.security.mfa.required_for(&self.user.role)
    }

    async fn deny(&self, state: &AppState, reason: &str, err: ApiError) -> ApiError {
        state
            .audit(
                "permission_denied",
                &self.who(),
                None,
                "denied",
                json!({"reason": reason}),
            )
            .await;
        err
    }

    fn enrollment_error() -> ApiError {
        ApiError::new(
            Kind::MfaEnrollmentRequired,
            "your role requires multi-factor authentication: enroll with POST /api/v1/mfa/totp/enroll and confirm with POST /api/v1/mfa/totp/confirm",
        )
    }

    /// The session, or a 403 (audited) for a service key: the endpoint
    /// needs someone signed in.
    pub async fn require_session(&self, state: &AppState) -> Result<&Session, ApiError> {
        match self.session() {
            Some(s) => Ok(s),
            None => Err(self
                .deny(state, "session_required", session_required_error())
                .await),
        }
    }

    /// Refuses (403, audited) unless a second factor was completed in this
    /// session within the last `security.mfa.step_up_seconds`. Users without MFA pass
    /// when their role does not require it. Service keys are refused: they
    /// have no session to step up.
    pub async fn require_step_up(&self, state: &AppState) -> Result<(), ApiError> {
        let session = self.require_session(state).await?;
        if !self.user.mfa_enabled {
            if self.mfa_required(state) {
                return Err(self
                    .deny(state, "mfa_enrollment_required", Self::enrollment_error())
                    .await);
            }
            return Ok(());
        }
        let fresh = step_up_fresh(state, session);
        if !fresh {
            return Err(self
                .deny(
                    state,
                    "mfa_step_up_required",
                    ApiError::new(
                        Kind::MfaStepUpRequired,
                        "confirm with a current authenticator or backup code: POST /api/v1/auth/step-up, then retry",
                    ),
                )
                .await);
        }
        Ok(())
    }

    /// Whether a withdrawal may be signed for this caller as far as the
    /// second factor goes: a session whose second factor is at most
    /// `security.api_keys.withdraw_step_up_seconds` old. A service API key
    /// has no session, and a user without MFA no second factor: for them
    /// it is never fresh.
    pub fn withdraw_step_up_fresh(&self, state: &AppState) -> bool {
        let window = i64::from(state.settings.security.api_keys.withdraw_step_up_seconds);
        self.session()
            .and_then(|s| s.mfa_at)
            .is_some_and(|t| (0..=window).contains(&(now() - t)))
    }

    /// Refuses (403, audited) unless this session completed a second factor
    /// within `security.mfa.step_up_seconds`, whatever the role (API-key
    /// creation and rotation when `required_for_api_key_creation`).
    /// Service keys are refused.
    pub async fn require_mfa_session(&self, state: &AppState) -> Result<(), ApiError> {
        let session = self.require_session(state).await?;
        if !step_up_fresh(state, session) {
            let err = if self.user.mfa_enabled {
                ApiError::new(
                    Kind::MfaStepUpRequired,
                    "this needs a session signed in with a second factor: POST /api/v1/auth/step-up",
                )
            } else {
                Self::enrollment_error()
            };
            return Err(self.deny(state, "mfa_session_required", err).await);
        }
        Ok(())
    }

    /// Refuses with 403 (and an audit record) unless the caller has `scope`.
    pub async fn require(&self, state: &AppState, scope: Scope) -> Result<(), ApiError> {
        // Un-enrolled users whose role requires MFA keep their own account
        // (sessions, password, MFA enrollment) and nothing else.
        if scope != Scope::AccountSelf && self.mfa_required(state) && !self.user.mfa_enabled {
            return Err(self
                .deny(state, "mfa_enrollment_required", Self::enrollment_error())
                .await);
        }
        if self.password_expired {
            state
                .audit(
                    "permission_denied",
                    &self.who(),
                    None,
                    "denied",
                    json!({"scope": scope.as_str(), "reason": "password_expired"}),
                )
                .await;
            return Err(ApiError::new(
                Kind::PasswordExpired,
                "your password has expired or is in a list of breached passwords: change it with POST /api/v1/auth/password, then sign in again",
            ));
        }
        if !self.scopes.contains(scope) {
            let (details, holder) = match &self.principal {
                Principal::Session { .. } => (
                    json!({"scope": scope.as_str(), "role": self.user.role}),
                    "your role does not have",
                ),
                Principal::ServiceKey { key_id, .. } => (
                    json!({"scope": scope.as_str(), "role": self.user.role, "key": key_id}),
                    "this API key (or its owner's role) does not have",
                ),
            };
            state
                .audit("permission_denied", &self.who(), None, "denied", details)
                .await;
            return Err(ApiError::new(
                Kind::Forbidden,
                format!("this needs the `{}` scope, which {holder}", scope.as_str()),
            ));
        }
        Ok(())
    }
}

/// The 403 for a service key on an endpoint that needs a signed-in session.
fn session_required_error() -> ApiError {
    ApiError::new(
        Kind::Forbidden,
        "this endpoint needs a signed-in session (Authorization: Bearer <access token>); service API keys cannot use it",
    )
}

/// A caller that signed in interactively (an access token of an open
/// session). Service API keys are refused with 403: sessions, sign-out,
/// step-up, passwords, MFA enrollment and creating or rotating API keys
/// make sense only for a person. Dereferences to [`Caller`].
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// The caller.
    pub caller: Caller,
    /// The verified claims of the access token.
    pub claims: Claims,
    /// The session the token belongs to.
    pub session: Session,
}

impl std::ops::Deref for SessionCaller {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match &caller.principal {
            Principal::Session { claims, session } => Ok(SessionCaller {
                claims: (**claims).clone(),
                session: (**session).clone(),
                caller,
            }),
            Principal::ServiceKey { .. } => Err(caller
                .deny(state, "session_required", session_required_error())
                .await),
        }
    }
}

/// Whether `session` completed a second factor within
/// `security.mfa.step_up_seconds`.
fn step_up_fresh(state: &AppState, session: &Session) -> bool {
    let window = i64::from(state.settings.security.mfa.step_up_seconds);
    session
        .mfa_at
        .is_some_and(|t| (0..=window).contains(&(now() - t)))
}

/// Touch a session or a service key at most this often (seconds), to keep
/// writes rare.
const TOUCH_EVERY: i64 = 15;

/// The credential of the `Authorization` header.
enum Credential<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
}

fn credential(parts: &Parts) -> Option<Credential<'_>> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Credential::Bearer(rest.trim()))
    } else if scheme.eq_ignore_ascii_case("apikey") {
        Some(Credential::ApiKey(rest.trim()))
    } else {
        None
    }
}

/// Leaves the decision for the response headers.
fn record_decision(parts: &Parts, decision: cryptobot_auth::Decision) {
    if let Some(slot) = parts.extensions.get::<LimitSlot>() {
        slot.set(decision);
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        match credential(parts).ok_or_else(ApiError::unauthorized)? {
            Credential::Bearer(token) => {
                let token = token.to_owned();
                session_caller(parts, state, client, &token).await
            }
            Credential::ApiKey(key) => {
                let key = zeroize::Zeroizing::new(key.to_owned());
                api_key_caller(parts, state, client, &key).await
            }
        }
    }
}

/// `Authorization: Bearer <access token>`.
async fn session_caller(
    parts: &Parts,
    state: &AppState,
    client: IpAddr,
    token: &str,
) -> Result<Caller, ApiError> {
    let now = now();
    let pre = parts
        .extensions
        .get::<crate::limits::PreVerified>()
        .filter(|p| p.0.0 == token)
        .map(|p| p.0.1.clone());
    let claims = match pre {
        Some(claims) => claims,
        None => state.key_ring().verifier.verify(token, now).map_err(|e| {
            state.note_refusal("access_token_refused", e.code(), Some(client));
            ApiError::unauthorized()
        })?,
    };
    // The call limit of the session, before any database work.
    let decision = state
        .limits
        .check(&LimitKey::Session(claims.sid.clone()))
        .await?;
    record_decision(parts, decision);
    if !decision.allowed {
        state.note_refusal("rate_limited", "session", Some(client));
        return Err(refused(&decision));
    }
    let session = state
        .store
        .session(&claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub)
        .ok_or_else(|| {
            state.note_refusal("access_token_refused", "unknown_session", Some(client));
            ApiError::unauthorized()
        })?;
    if let Some(reason) = session_end_reason(&state.settings, &session, now) {
        if session.ended_at.is_none() && state.store.end_session(&session.id, reason, now).await? {
            state
                .audit(
                    "session_ended",
                    &Who {
                        actor: None,
                        client: Some(client),
                    },
                    Some(&session.user_id),
                    "ok",
                    json!({"session": session.id, "reason": reason}),
                )
                .await;
        }
        // A token of a session that has ended (logout, end-all, a
        // password change or reset): possibly a stolen copy still in use.
        state.note_refusal("access_token_refused", "session_ended", Some(client));
        return Err(ApiError::unauthorized());
    }
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(ApiError::unauthorized)?;
    if now - session.last_seen >= TOUCH_EVERY {
        state.store.touch_session(&session.id, now).await?;
    }
    let scopes = role_scopes(&user).intersect(ScopeSet::parse(&claims.scope));
    let expired = claims.scope.split(' ').any(|w| w == PASSWORD_CHANGE_ONLY)
        || password_expired(&state.settings, user.password_changed_at, now)
        || user.password_breached;
    Ok(Caller {
        principal: Principal::Session {
            claims: Box::new(claims),
            session: Box::new(session),
        },
        user,
        scopes,
        password_expired: expired,
        client,
    })
}

/// A refused service key: 401 like a bad access token, audited as
/// `api_key_refused` with the reason (never the secret). Refusals count
/// against the client address's call limit, so guessing costs the guesser
/// and cannot flood the audit log.
async fn refuse_api_key(
    parts: &Parts,
    state: &AppState,
    client: IpAddr,
    key_id: Option<&str>,
    reason: ApiKeyRefusal,
) -> ApiError {
    let decision = match state.limits.check(&LimitKey::Addr(client)).await {
        Ok(d) => d,
        Err(e) => return e.into(),
    };
    record_decision(parts, decision);
    if !decision.allowed {
        state.note_refusal("rate_limited", "address", Some(client));
        return refused(&decision);
    }
    state
        .audit(
            "api_key_refused",
            &Who {
                actor: None,
                client: Some(client),
            },
            key_id,
            "denied",
            json!({"reason": reason.code(), "key": key_id}),
        )
        .await;
    ApiError::unauthorized()
}

/// `Authorization: ApiKey cbk_<id>_<secret>`.
async fn api_key_caller(
    parts: &Parts,
    state: &AppState,
    client: IpAddr,
    text: &str,
) -> Result<Caller, ApiError> {
    let now = now();
    let Some(presented) = parse_api_key(text) else {
        return Err(refuse_api_key(parts, state, client, None, ApiKeyRefusal::Malformed).await);
    };
    let id = presented.id();
    let Some(key) = state.store.service_key(id).await? else {
        return Err(
            refuse_api_key(parts, state, client, Some(id), ApiKeyRefusal::UnknownKey).await,
        );
    };
    let stored = StoredApiKey {
        secret_hash: &key.secret_hash,
        previous_hash: key.previous_hash.as_deref(),
        previous_valid_until: key.previous_valid_until,
        expires_at: key.expires_at,
        revoked_at: key.revoked_at,
        suspended_at: key.suspended_at,
    };
    let matched = match check_api_key(&presented, &stored, now) {
        Ok(m) => m,
        Err(reason) => return Err(refuse_api_key(parts, state, client, Some(id), reason).await),
    };
    // The call limit of the key, once it is known to be the key's holder.
    let decision = state
        .limits
        .check(&LimitKey::ApiKey(key.id.clone()))
        .await?;
    record_decision(parts, decision);
    if !decision.allowed {
        state.note_refusal("rate_limited", "api_key", Some(client));
        return Err(refused(&decision));
    }
    let Some(user) = state
        .store
        .user_by_id(&key.user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Err(
            refuse_api_key(parts, state, client, Some(id), ApiKeyRefusal::OwnerDisabled).await,
        );
    };
    if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
        let recorded = state
            .store
            .touch_service_key(&key.id, now, TOUCH_EVERY)
            .await?;
        if recorded && key.last_used_at.is_none() {
            // A new key's first call: the operator sees where it came from.
            state
                .audit(
                    "api_key_first_use",
                    &Who {
                        actor: Some(user.username.clone()),
                        client: Some(client),
                    },
                    Some(&key.id),
                    "success",
                    json!({"key": key.id, "name": key.name}),
                )
                .await;
        }
    }
    if matched == ApiKeyMatch::Previous && state.first_previous_secret_use(&key.id, now) {
        // After a rotation every client should move to the new secret; the
        // old one still in use is a client not yet updated — or a copy
        // someone else holds.
        tracing::warn!(target: "alert", key = %key.id, %client, "a service key's previous secret is still in use");
        state
            .audit(
                "api_key_previous_secret_used",
                &Who {
                    actor: Some(user.username.clone()),
                    client: Some(client),
                },
                Some(&key.id),
                "warning",
                json!({"key": key.id, "name": key.name, "previous_valid_until": key.previous_valid_until}),
            )
            .await;
    }
    let scopes = role_scopes(&user).intersect(ScopeSet::parse(&key.scopes));
    Ok(Caller {
        principal: Principal::ServiceKey {
            key_id: key.id,
            name: key.name,
            previous_secret: matched == ApiKeyMatch::Previous,
        },
        user,
        scopes,
        password_expired: false,
        client,
    })
}
