//! Request limits (`security.rate_limiting`, GCRA with `burst`): API calls
//! per session for authenticated calls, per client address otherwise; per
//! service API key with `api_key_requests_per_minute`; sign-in attempts per
//! client address and per account with `login_attempts_per_minute` and
//! `login_burst`. The
//! backend (in-process or Redis) is in [`crate::shared`]. Every limited
//! response carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset`; a refusal is 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cryptobot_auth::Decision;

use crate::client_ip::client_ip;
use crate::problem::{ApiError, Kind};
use crate::state::AppState;

/// Who a limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// An authenticated session.
    Session(String),
    /// An unauthenticated client address.
    Addr(IpAddr),
    /// A service API key (by id), limited by
    /// `security.rate_limiting.api_key_requests_per_minute`.
    ApiKey(String),
    /// Sign-in attempts from a client address (IPv6 by /64), limited by
    /// `security.rate_limiting.login_attempts_per_minute` with
    /// `login_burst` at once.
    LoginAddr(IpAddr),
    /// Sign-in attempts naming an account (the username as sent, lower
    /// case, whether or not it exists), limited the same way.
    LoginUser(String),
}

/// Nanoseconds on a monotonic clock (for the limiter).
pub fn mono_ns() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

/// Where the decision of a request is left for the response headers.
#[derive(Debug, Clone, Default)]
pub struct LimitSlot(Arc<Mutex<Option<Decision>>>);

impl LimitSlot {
    /// Records the decision.
    pub fn set(&self, d: Decision) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(d);
        }
    }
    fn get(&self) -> Option<Decision> {
        self.0.lock().ok().and_then(|g| *g)
    }
}

/// The 429 answer for a refused sign-in attempt.
pub fn refused_login(d: &Decision) -> ApiError {
    ApiError::new(
        Kind::TooManyRequests,
        format!(
            "more than {} sign-in attempts per minute from this address or for this account; wait before trying again",
            d.limit
        ),
    )
    .retry_after(d.retry_after_secs)
}

/// The 429 answer for a refused decision.
pub fn refused(d: &Decision) -> ApiError {
    ApiError::new(
        Kind::TooManyRequests,
        format!(
            "more than {} API calls per minute; slow down (see the RateLimit headers)",
            d.limit
        ),
    )
    .retry_after(d.retry_after_secs)
}

fn set_headers(resp: &mut Response, d: &Decision) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(d.limit)),
        ("ratelimit-remaining", u64::from(d.remaining)),
        ("ratelimit-reset", d.reset_secs),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            h.insert(name, v);
        }
    }
}

/// Access-token claims the middleware already verified, so the extractor
/// does not verify the signature twice.
#[derive(Debug, Clone)]
pub struct PreVerified(pub std::sync::Arc<(String, cryptobot_auth::Claims)>);

/// Whether the call is exempt from the per-address limit: it carries an
/// access token whose signature and lifetime verify (its session's own
/// limit then applies), or a service API key on an endpoint that checks it
/// (a refused key is charged to the address by the extractor). A header on
/// an endpoint that never checks one, or a token that does not verify,
/// exempts nothing.
fn exempt(state: &AppState, req: &mut Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if crate::openapi::public_paths().contains(req.uri().path()) {
        return false;
    }
    let Some((scheme, rest)) = value.split_once(' ') else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("apikey") {
        return true;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let token = rest.trim().to_owned();
    let now = cryptobot_service::clock::now();
    match state.key_ring().verifier.verify(&token, now) {
        Ok(claims) => {
            req.extensions_mut()
                .insert(PreVerified(Arc::new((token, claims))));
            true
        }
        Err(_) => false,
    }
}

/// Middleware: limits calls per address unless they carry a credential
/// that verifies ([`exempt`]), leaves a slot for the authenticated check in
/// [`crate::extract::Caller`], and writes the headers.
pub async fn limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = LimitSlot::default();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client_ip(peer, req.headers(), &state.trusted_proxies);
    if !exempt(&state, &mut req) {
        let d = match state.limits.check(&LimitKey::Addr(ip)).await {
            Ok(d) => d,
            Err(e) => return ApiError::from(e).into_response(),
        };
        if !d.allowed {
            state.note_refusal("rate_limited", "address", Some(ip));
            let mut resp = refused(&d).into_response();
            set_headers(&mut resp, &d);
            return resp;
        }
        slot.set(d);
    }
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    // Input-validation failures are security events too (ASVS 7.1.3):
    // counted per address and minute, never with the input.
    let invalid = match resp.status().as_u16() {
        400 => Some("bad_request"),
        413 => Some("too_large"),
        415 => Some("not_json"),
        422 => Some("invalid_input"),
        _ => None,
    };
    if let Some(reason) = invalid {
        state.note_refusal("request_invalid", reason, Some(ip));
    }
    if let Some(d) = slot.get() {
        set_headers(&mut resp, &d);
    }
    resp
}
