//! The router: every route with its OpenAPI description, and the layers
//! every response passes through (security headers, problem bodies, CORS,
//! body limit, timeout, panic catcher).

use std::sync::OnceLock;
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
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::{ApiError, Kind, PROBLEM_JSON};
use crate::routes::{api_keys, audit, auth, exchange_keys, meta, mfa, sessions, users};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cryptobot security API",
        description = "Accounts, sign-in, sessions, roles and the audit log of a Cryptobot installation. \
Errors are RFC 9457 problem+json with a stable `type`. Scopes per role: admin = all; \
trader = account:self keys:read keys:sign trade:execute trade:read; \
viewer = account:self keys:read trade:read; auditor = account:self audit:read users:read trade:read.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerScheme),
    components(schemas(crate::problem::ProblemBody, crate::problem::ProblemItem)),
    tags(
        (name = "auth", description = "Sign-in and tokens"),
        (name = "mfa", description = "Multi-factor authentication"),
        (name = "sessions", description = "Your sessions"),
        (name = "users", description = "Account administration"),
        (name = "audit", description = "Security events"),
        (name = "api-keys", description = "Service-to-service API keys (`Authorization: ApiKey cbk_<id>_<secret>`), accepted wherever a bearer token is, with the key's scopes narrowed to its owner's role"),
        (name = "vault", description = "Exchange API keys: sealed at rest, never returned after creation; the vault signs exchange requests so strategies never hold a secret"),
        (name = "meta", description = "Health, keys, this description"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT (EdDSA)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "`ApiKey cbk_<id>_<secret>`: a service API key (see POST /api/v1/api-keys)",
                ),
            )),
        );
    }
}

/// Every route, each registered together with its description.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::jwks))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(meta::ca_crl))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::login_mfa))
        .routes(routes!(auth::step_up))
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::regenerate))
        .routes(routes!(mfa::disable))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::end))
        .routes(routes!(users::list))
        .routes(routes!(users::disable))
        .routes(routes!(users::enable))
        .routes(routes!(users::unlock))
        .routes(routes!(users::set_role))
        .routes(routes!(audit::list))
        .routes(routes!(exchange_keys::list, exchange_keys::add))
        .routes(routes!(exchange_keys::rotate))
        .routes(routes!(exchange_keys::revoke))
        .routes(routes!(exchange_keys::sign))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::rotate))
        .routes(routes!(api_keys::revoke))
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApiDoc {
    api_router().split_for_parts().1
}

/// The OpenAPI document as JSON, built once.
pub fn openapi_value() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(openapi()).unwrap_or_default())
}

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
        .with_state(state)
}
