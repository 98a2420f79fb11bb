//! The API's OpenAPI description: every route is registered together with
//! its description (utoipa-axum), so `/openapi.json` cannot miss one.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{
    api_keys, audit, auth, exchange_keys, key_controls, meta, mfa, sessions, users,
};
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
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::jwks))
        .routes(routes!(openapi_json))
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
        .routes(routes!(key_controls::grants, key_controls::grant))
        .routes(routes!(key_controls::revoke_user_grant))
        .routes(routes!(key_controls::revoke_api_key_grant))
        .routes(routes!(key_controls::set_permissions))
        .routes(routes!(key_controls::set_limit))
        .routes(routes!(key_controls::addresses, key_controls::add_address))
        .routes(routes!(key_controls::remove_address))
        .routes(routes!(key_controls::approvals))
        .routes(routes!(key_controls::approve))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::rotate))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(api_keys::reactivate))
        .routes(routes!(auth::password_reset))
        .routes(routes!(sessions::end_all))
        .routes(routes!(users::issue_password_reset))
        .routes(routes!(users::end_sessions))
        .routes(routes!(users::delete))
        .routes(routes!(users::export_me))
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApiDoc {
    let mut doc = api_router().split_for_parts().1;
    common_answers(&mut doc);
    doc
}

/// Answers any operation can give whatever it does, from the layers every
/// request passes (timeout, call limits) and from the database or Redis
/// being away for a moment. Added to each operation that does not describe
/// them itself; where an operation describes the status with another body
/// (`/healthz`'s 503), the problem body is added beside it.
const COMMON_ANSWERS: &[(&str, &str)] = &[
    (
        "408",
        "The request was not complete within `server.request_timeout_seconds`",
    ),
    (
        "429",
        "Over a call limit: the session's or service API key's (`api_requests_per_minute`, \
`api_key_requests_per_minute`), or the client address's for unauthenticated calls; \
sign-in steps also have attempt limits and per-address delays. `Retry-After` gives the seconds to wait",
    ),
    (
        "503",
        "Unavailable for a moment: the database cannot be reached, or the shared rate-limit \
store (Redis) cannot be reached and the call fails closed (sign-in steps by default, \
`security.rate_limiting.redis_failure_*`). `Retry-After` gives the seconds to wait",
    ),
];

fn common_answers(doc: &mut OpenApiDoc) {
    use utoipa::openapi::{
        Content, Ref, RefOr, ResponseBuilder, header::HeaderBuilder, schema::Type,
    };
    let problem = || Content::new(Some(Ref::from_schema_name("ProblemBody")));
    let retry_after = || {
        HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            ))
            .description(Some("Seconds to wait before retrying"))
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for (status, description) in COMMON_ANSWERS {
                let answers = &mut op.responses.responses;
                match answers.get_mut(*status) {
                    None => {
                        let mut r = ResponseBuilder::new()
                            .description(*description)
                            .content(crate::problem::PROBLEM_JSON, problem());
                        if *status != "408" {
                            r = r.header("Retry-After", retry_after());
                        }
                        answers.insert((*status).to_string(), RefOr::T(r.build()));
                    }
                    Some(RefOr::T(r)) => {
                        if !r.content.contains_key(crate::problem::PROBLEM_JSON) {
                            r.content
                                .insert(crate::problem::PROBLEM_JSON.to_string(), problem().into());
                            r.description = format!("{}; or: {description}", r.description);
                        }
                        if *status != "408" {
                            r.headers
                                .entry("Retry-After".to_string())
                                .or_insert_with(|| retry_after().into());
                        }
                    }
                    Some(RefOr::Ref(_)) => {}
                }
            }
        }
    }
}

/// The OpenAPI document as JSON, built once.
pub fn openapi_value() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(openapi()).unwrap_or_default())
}

/// The paths of operations that need no credential (sign-in, refresh,
/// reset, health, keys): an `Authorization` header there is never checked,
/// so it must not exempt the call from the per-address limit.
pub fn public_paths() -> &'static std::collections::HashSet<String> {
    static PUBLIC: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    PUBLIC.get_or_init(|| {
        let mut out = std::collections::HashSet::new();
        if let Some(paths) = openapi_value()["paths"].as_object() {
            for (path, item) in paths {
                let public = item.as_object().is_some_and(|ops| {
                    ops.values()
                        .any(|op| op.is_object() && op.get("security").is_none())
                });
                if public {
                    out.insert(path.clone());
                }
            }
        }
        out
    })
}

/// This API's OpenAPI description, generated from the code.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi_value().clone())
}
