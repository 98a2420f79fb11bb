//! The application: the routes of [`crate::openapi`] and the layers every
//! response passes through (security headers, problem bodies, CORS, body
//! limit, timeout, panic catcher).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use cryptobot_config::Settings;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use crate::openapi::api_router;
use crate::problem::{ApiError, Kind, PROBLEM_JSON};
use crate::state::AppState;

/// Headers on every response.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
    // Responses carry tokens, sessions or account data: never cache them.
    ("cache-control", "no-store"),
    ("pragma", "no-cache"),
];

/// Turns any error response that is not yet problem+json (axum's 404/405,
/// the body limit's 413, the timeout's 408, a caught panic) into one, and
/// adds the security headers (the CSP from `server.content_security_policy`).
async fn finish_response(
    axum::extract::State(state): axum::extract::State<AppState>,
    resp: Response<Body>,
) -> Response<Body> {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let mut resp = if status.as_u16() >= 400 && !is_problem {
        let kind = match status {
            StatusCode::NOT_FOUND => Kind::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Kind::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Kind::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => Kind::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => Kind::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => Kind::Busy,
            s if s.is_client_error() => Kind::InvalidRequest,
            _ => Kind::Internal,
        };
        let detail = match kind {
            Kind::NotFound => "no such endpoint; /openapi.json lists them all",
            Kind::MethodNotAllowed => "this endpoint does not accept that method",
            Kind::Timeout => "the request took too long and was stopped",
            Kind::PayloadTooLarge => "the request body is larger than the server accepts",
            _ => "the request could not be handled",
        };
        let allow = resp.headers().get(header::ALLOW).cloned();
        let mut new = ApiError::new(kind, detail).into_response();
        if let Some(allow) = allow {
            new.headers_mut().insert(header::ALLOW, allow);
        }
        new
    } else {
        resp
    };
    let h = resp.headers_mut();
    // Validated when the configuration was loaded; the API default otherwise.
    let csp = HeaderValue::from_str(&state.settings.server.content_security_policy)
        .unwrap_or_else(|_| HeaderValue::from_static(cryptobot_config::API_CSP));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    for (name, value) in SECURITY_HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    resp
}

/// `X-Request-Id`: kept from the request when it is a plain token (a
/// proxy's id), otherwise a fresh random one; served as the task's request
/// id (audit records and problem answers carry it) and returned.
async fn request_id(req: axum::extract::Request, next: axum::middleware::Next) -> Response<Body> {
    use cryptobot_service::request_id;
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| request_id::acceptable(v))
        .map(str::to_owned)
        .or_else(|| cryptobot_auth::random_id().ok())
        .unwrap_or_else(|| "unavailable".to_owned());
    let id: std::sync::Arc<str> = std::sync::Arc::from(id);
    let mut resp = request_id::scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn cors(settings: &Settings) -> CorsLayer {
    let origins: Vec<HeaderValue> = settings
        .server
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

/// The complete application for `state`.
pub fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let timeout = Duration::from_secs(u64::from(settings.server.request_timeout_seconds));
    let limit = settings.server.max_body_bytes as usize;
    let (router, _) = api_router().split_for_parts();
    router
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(DefaultBodyLimit::max(limit))
        .layer(cors(settings))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::limit,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            finish_response,
        ))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}
