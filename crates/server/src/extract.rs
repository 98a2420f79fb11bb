//! Request extractors: the client address, JSON bodies that fail with a
//! problem naming the field, and the authenticated caller.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use cryptobot_auth::{Claims, Role, Scope, ScopeSet};
use cryptobot_store::{Session, User};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::problem::{ApiError, Kind};
use crate::state::{AppState, Who, now};

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

/// Parses one `for=` value or `X-Forwarded-For` entry: an address,
/// optionally quoted, bracketed and with a port.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    v.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The forwarding chain, client first; `None` if a hop is malformed.
fn forwarded_chain(headers: &axum::http::HeaderMap) -> Option<Vec<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        let mut chain = Vec::new();
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let for_value = element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map(|(_, v)| v)?;
            chain.push(parse_hop(for_value)?);
        }
        return Some(chain);
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_hop)
        .collect()
}

/// See [`ClientAddr`]. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`,
/// what a dual-stack socket reports for an IPv4 client) are turned back
/// into IPv4, so limits, logs and `trusted_proxies` see one form.
pub fn client_ip(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[cryptobot_config::IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(chain) = forwarded_chain(headers) else {
        return peer;
    };
    chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
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
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let detail = describe_json_error(&inner);
            if path == "." || path.is_empty() {
                ApiError::new(Kind::InvalidRequest, detail)
            } else {
                ApiError::invalid_field(path, detail)
            }
        })?;
        value.validate()?;
        Ok(ApiJson(value))
    }
}

/// A serde error in words that never repeat the value sent.
fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("unknown field") {
        // serde: "unknown field `x`, expected one of `a`, `b`"
        let field = msg.split('`').nth(1).unwrap_or("?");
        return format!("unknown field `{field}`; remove it");
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

/// An authenticated request: a valid access token whose session is still
/// open and whose user is still enabled.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified claims.
    pub claims: Claims,
    /// The session the token belongs to.
    pub session: Session,
    /// The user, as stored now.
    pub user: User,
    /// Scopes granted: the token's, narrowed to what the user's current
    /// role allows.
    pub scopes: ScopeSet,
    /// True when the password has expired: only changing it is allowed.
    pub password_expired: bool,
    /// Client address.
    pub client: IpAddr,
}

impl Caller {
    /// Audit identity of the caller.
    pub fn who(&self) -> Who {
        Who {
            actor: Some(self.user.username.clone()),
            client: Some(self.client),
        }
    }

    /// Whether the caller's role must use MFA by policy.
    pub fn mfa_required(&self, state: &AppState) -> bool {
        self.user.role == "admin" && state.settings.security.mfa.required_for_admins
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

    /// Refuses (403, audited) unless a second factor was completed in this
    /// session within the last [`STEP_UP_SECONDS`]. Users without MFA pass
    /// when their role does not require it.
    pub async fn require_step_up(&self, state: &AppState) -> Result<(), ApiError> {
        if !self.user.mfa_enabled {
            if self.mfa_required(state) {
                return Err(self
                    .deny(state, "mfa_enrollment_required", Self::enrollment_error())
                    .await);
            }
            return Ok(());
        }
        let fresh = self
            .session
            .mfa_at
            .is_some_and(|t| now() - t <= STEP_UP_SECONDS);
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

    /// Refuses (403, audited) unless this session completed a second factor
    /// at all (API-key creation when `required_for_api_key_creation`).
    pub async fn require_mfa_session(&self, state: &AppState) -> Result<(), ApiError> {
        if self.session.mfa_at.is_none() {
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
                "your password has expired: change it with POST /api/v1/auth/password, then refresh your token",
            ));
        }
        if !self.scopes.contains(scope) {
            state
                .audit(
                    "permission_denied",
                    &self.who(),
                    None,
                    "denied",
                    json!({"scope": scope.as_str(), "role": self.user.role}),
                )
                .await;
            return Err(ApiError::new(
                Kind::Forbidden,
                format!(
                    "this needs the `{}` scope, which your role does not have",
                    scope.as_str()
                ),
            ));
        }
        Ok(())
    }
}

/// Whether a password set at `changed_at` has expired.
pub fn password_expired(state: &AppState, changed_at: i64, now: i64) -> bool {
    let days = i64::from(state.settings.security.password_policy.max_age_days);
    days > 0 && now > changed_at.saturating_add(days * 86_400)
}

/// Why a session is no longer usable, if it is not.
pub fn session_end_reason(state: &AppState, s: &Session, now: i64) -> Option<&'static str> {
    if s.ended_at.is_some() {
        return Some("ended");
    }
    if s.expires_at <= now {
        return Some("expired");
    }
    let idle = i64::from(state.settings.security.session.idle_timeout_seconds);
    if s.last_seen + idle <= now {
        return Some("idle_timeout");
    }
    None
}

/// A step-up (second factor) counts for this long.
pub const STEP_UP_SECONDS: i64 = 300;

/// Touch a session at most this often (seconds), to keep writes rare.
const TOUCH_EVERY: i64 = 15;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(ApiError::unauthorized)?;
        let now = now();
        let claims = state.key_ring().verifier.verify(token, now).map_err(|e| {
            tracing::debug!(reason = e.code(), "access token refused");
            ApiError::unauthorized()
        })?;
        // The call limit of the session, before any database work.
        let decision = state.api_limiter.check(
            &crate::limits::LimitKey::Session(claims.sid.clone()),
            crate::limits::mono_ns(),
        );
        if let Some(slot) = parts.extensions.get::<crate::limits::LimitSlot>() {
            slot.set(decision);
        }
        if !decision.allowed {
            return Err(crate::limits::refused(&decision));
        }
        let session = state
            .store
            .session(&claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub)
            .ok_or_else(ApiError::unauthorized)?;
        if let Some(reason) = session_end_reason(state, &session, now) {
            if session.ended_at.is_none()
                && state.store.end_session(&session.id, reason, now).await?
            {
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
        let scopes = user
            .role
            .parse::<Role>()
            .map(ScopeSet::of_role)
            .unwrap_or_default()
            .intersect(ScopeSet::parse(&claims.scope));
        let expired = claims.scope.split(' ').any(|w| w == PASSWORD_CHANGE_ONLY)
            || password_expired(state, user.password_changed_at, now);
        Ok(Caller {
            claims,
            session,
            user,
            scopes,
            password_expired: expired,
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        let headers = axum::http::HeaderMap::new();
        assert_eq!(
            client_ip(mapped, &headers, &[]),
            IpAddr::from([192, 0, 2, 7])
        );
        // A trusted proxy written as IPv4 matches its mapped form, and the
        // forwarded hop is canonical too.
        let proxy: cryptobot_config::IpNet = "10.0.0.1".parse().expect("net");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("::ffff:198.51.100.9"),
        );
        let peer: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        assert_eq!(
            client_ip(peer, &headers, &[proxy]),
            IpAddr::from([198, 51, 100, 9])
        );
    }
}
