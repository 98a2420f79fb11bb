//! `/api/v1/api-keys`: service-to-service API keys (`Authorization: ApiKey
//! cbk_<id>_<secret>`). A key's secret is returned once, when it is made or
//! rotated; listings never show secrets or digests.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use cryptobot_service::api_keys::{
    self, DEFAULT_LIFETIME_DAYS, IssuedKey, ServiceKeyError, ServiceKeys, parse_scopes,
    valid_key_name,
};
use cryptobot_service::clock::now;
use cryptobot_store::ServiceKey;

use crate::extract::{ApiJson, Caller, SessionCaller, Validate, check_len, query_problem};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ScopeErrors};
use crate::state::AppState;

/// A key as listings show it: never a secret or a digest.
#[derive(Serialize, ToSchema)]
pub struct ServiceKeyView {
    /// Key id: the `<id>` in `cbk_<id>_<secret>`.
    #[schema(example = "k2m4q7x3bz5a")]
    pub id: String,
    /// What the key is for.
    pub name: String,
    /// The owner's account name.
    pub owner: String,
    /// Scopes the key carries (always narrowed to the owner's role when used).
    pub scopes: Vec<String>,
    /// `active`, `suspended` (after a credential change of its owner;
    /// `POST /api/v1/api-keys/{id}/reactivate`), `revoked` or `expired`.
    pub status: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry (unix seconds); `null` never expires.
    pub expires_at: Option<i64>,
    /// Last use (unix seconds, recorded at most every 15 s).
    pub last_used_at: Option<i64>,
    /// Last rotation (unix seconds).
    pub rotated_at: Option<i64>,
    /// The secret from before the last rotation works until then (unix seconds).
    pub previous_valid_until: Option<i64>,
    /// Revocation time (unix seconds).
    pub revoked_at: Option<i64>,
}

// The OpenAPI description of `cryptobot_service::api_keys::ServiceKeyView`
// (the service does not depend on utoipa): the same fields, in order.
impl From<api_keys::ServiceKeyView> for ServiceKeyView {
    fn from(v: api_keys::ServiceKeyView) -> Self {
        ServiceKeyView {
            id: v.id,
            name: v.name,
            owner: v.owner,
            scopes: v.scopes,
            status: v.status,
            created_at: v.created_at,
            expires_at: v.expires_at,
            last_used_at: v.last_used_at,
            rotated_at: v.rotated_at,
            previous_valid_until: v.previous_valid_until,
            revoked_at: v.revoked_at,
        }
    }
}

impl ServiceKeyView {
    /// The view of `k` at `now`.
    fn of(k: &ServiceKey, now: i64) -> Self {
        api_keys::ServiceKeyView::of(k, now).into()
    }
}

/// A new key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for: 1-64 of a-z, A-Z, 0-9, '.', '_', '-', ' '.
    #[schema(example = "strategy", min_length = 1, max_length = 64)]
    pub name: String,
    /// Scopes the key carries; each must be one you have.
    #[schema(schema_with = scope_names, example = json!(["trade:execute", "trade:read"]))]
    pub scopes: Vec<String>,
    /// Days until the key expires (1-3650, default 90).
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

impl Validate for CreateKeyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("name", &self.name, 1, 64)?;
        if !valid_key_name(&self.name) {
            return Err(ApiError::invalid_field(
                "name",
                "use 1-64 characters a-z, A-Z, 0-9, '.', '_', '-' or ' '",
            ));
        }
        if self.scopes.is_empty() || self.scopes.len() > 16 {
            return Err(ApiError::invalid_field(
                "scopes",
                "give 1 to 16 scope names, e.g. [\"trade:execute\"]",
            ));
        }
        for s in &self.scopes {
            check_len("scopes", s, 1, 32)?;
        }
        parse_scopes(&self.scopes).map_err(|e| ApiError::invalid_field("scopes", e.to_string()))?;
        days_ok("expires_in_days", self.expires_in_days)
    }
}

fn days_ok(field: &str, days: Option<u32>) -> Result<(), ApiError> {
    match days {
        Some(d) if !(1..=3650).contains(&d) => {
            Err(ApiError::invalid_field(field, "must be from 1 to 3650"))
        }
        _ => Ok(()),
    }
}

/// A key with its secret: shown exactly once.
#[derive(Serialize, ToSchema)]
pub struct IssuedKeyView {
    /// The whole key, `cbk_<id>_<secret>`. Store it now: it is never shown
    /// again. Send it as `Authorization: ApiKey <key>`.
    #[schema(example = "cbk_k2m4q7x3bz5a_…")]
    pub key: String,
    /// The key's metadata.
    #[serde(flatten)]
    pub info: ServiceKeyView,
}

impl IssuedKeyView {
    fn of(k: &IssuedKey, now: i64) -> Self {
        IssuedKeyView {
            key: k.key.expose_secret().to_string(),
            info: ServiceKeyView::of(&k.record, now),
        }
    }
}

/// A list of scope names, none empty (the document says what the server
/// checks).
fn scope_names() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64)),
        )
        .build()
}

/// Whose keys to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Another account's keys (needs `users:manage`).
    #[param(min_length = 1, max_length = 64)]
    pub user: Option<String>,
    /// Everyone's keys (needs `users:manage`).
    pub all: Option<bool>,
}

/// Options of a rotation.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateParams {
    /// A new lifetime in days from now (1-3650); without it the expiry stays.
    #[param(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

fn map_err(e: ServiceKeyError) -> ApiError {
    match e {
        ServiceKeyError::BadName => ApiError::invalid_field("name", e.to_string()),
        ServiceKeyError::NoScopes | ServiceKeyError::UnknownScope(_) => {
            ApiError::invalid_field("scopes", e.to_string())
        }
        ServiceKeyError::ScopeBeyondRole { .. } => ApiError::new(Kind::Forbidden, e.to_string()),
        ServiceKeyError::BadLifetime { .. } => {
            ApiError::invalid_field("expires_in_days", e.to_string())
        }
        ServiceKeyError::LimitReached { .. } => ApiError::new(
            Kind::LimitReached,
            format!("{e}; revoke one with DELETE /api/v1/api-keys/{{id}} first"),
        ),
        ServiceKeyError::NoSuchKey(_) => not_found(),
        ServiceKeyError::Inactive(_) => ApiError::new(Kind::Conflict, e.to_string()),
        ServiceKeyError::Store(s) => s.into(),
        ServiceKeyError::Random(_) => {
            tracing::error!(error = %e, "API key operation failed");
            ApiError::internal()
        }
    }
}

/// Someone else's key, to a caller who may not manage it: audited as a
/// refused access decision, answered as if it did not exist.
async fn not_yours(state: &AppState, caller: &Caller, key: &ServiceKey) -> ApiError {
    state
        .audit(
            "permission_denied",
            &caller.who(),
            Some(&key.id),
            "denied",
            serde_json::json!({"reason": "not_owner", "resource": "api_key"}),
        )
        .await;
    not_found()
}

fn not_found() -> ApiError {
    ApiError::new(Kind::NotFound, "you have no API key with this id")
}

fn keys(state: &AppState) -> ServiceKeys<'_> {
    ServiceKeys {
        store: &state.store,
        settings: &state.settings,
    }
}

/// The second-factor rule for making a secret (creation and rotation).
async fn mfa_gate(state: &AppState, caller: &SessionCaller) -> Result<(), ApiError> {
    if state.settings.security.mfa.required_for_api_key_creation {
        caller.require_mfa_session(state).await?;
    }
    Ok(())
}

/// Create a service API key for yourself. Needs a signed-in session, and
/// one completed with a second factor when
/// `security.mfa.required_for_api_key_creation` is on. The key's scopes
/// must be among your own.
#[utoipa::path(
    post, path = "/api/v1/api-keys", operation_id = "createApiKey", tag = "api-keys",
    security(("bearer" = ["account:self"])),
    request_body = CreateKeyRequest,
    responses(
        BodyErrors,
        (status = 201, description = "Created; `key` is shown only now", body = IssuedKeyView),
        ScopeErrors,
        (status = 409, description = "`security.api_keys.max_keys_per_user` reached", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<IssuedKeyView>), ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let scopes = parse_scopes(&req.scopes).map_err(map_err)?;
    // Only scopes you have (same refusal and audit as using them).
    for s in scopes.scopes() {
        caller.require(&state, s).await?;
    }
    mfa_gate(&state, &caller).await?;
    let now = now();
    let days = req.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    let issued = keys(&state)
        .create(
            &caller.who(),
            &caller.user,
            &req.name,
            scopes,
            i64::from(days) * 86_400,
            now,
        )
        .await
        .map_err(map_err)?;
    Ok((StatusCode::CREATED, Json(IssuedKeyView::of(&issued, now))))
}

/// List API keys: your own, or (with `users:manage`) another account's or
/// everyone's. Revoked and expired keys are included.
#[utoipa::path(
    get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    security(("bearer" = ["account:self"]), ("api_key" = ["account:self"])),
    params(ListParams),
    responses(
        (status = 200, description = "Keys, newest first", body = Vec<ServiceKeyView>),
        ScopeErrors,
        (status = 404, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameter", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<ServiceKeyView>>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let Query(p) = params.map_err(|e| query_problem(&e))?;
    // Checked whenever it is sent, also when `all` makes it moot.
    if let Some(name) = &p.user {
        check_len("user", name, 1, 64)?;
    }
    let all = p.all.unwrap_or(false);
    let other = p.user.as_deref().filter(|u| *u != caller.user.username);
    if all || other.is_some() {
        caller.require(&state, Scope::UsersManage).await?;
    }
    let owner = match other {
        _ if all => None,
        Some(name) => {
            let u = state
                .store
                .user_by_name(name)
                .await?
                .ok_or_else(|| ApiError::new(Kind::NotFound, "no such user"))?;
            Some(u.id)
        }
        None => Some(caller.user.id.clone()),
    };
    let now = now();
    let list = state.store.list_service_keys(owner.as_deref()).await?;
    Ok(Json(
        list.iter().map(|k| ServiceKeyView::of(k, now)).collect(),
    ))
}

/// Give one of your keys a new secret. The previous secret keeps working
/// for `security.api_keys.rotation_grace_hours`, so services can switch
/// without downtime. Same session and second-factor rules as creation.
#[utoipa::path(
    post, path = "/api/v1/api-keys/{id}/rotate", operation_id = "rotateApiKey", tag = "api-keys",
    security(("bearer" = ["account:self"])),
    params(("id" = String, Path, description = "Key id"), RotateParams),
    responses(
        (status = 200, description = "Rotated; `key` is the new key, shown only now", body = IssuedKeyView),
        ScopeErrors,
        (status = 404, description = "You have no key with this id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked or expired", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameter", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(id): Path<String>,
    params: Result<Query<RotateParams>, QueryRejection>,
) -> Result<Json<IssuedKeyView>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let Query(p) = params.map_err(|e| query_problem(&e))?;
    days_ok("expires_in_days", p.expires_in_days)?;
    let ops = keys(&state);
    let key = ops.get(&id).await.map_err(map_err)?;
    if key.user_id != caller.user.id {
        return Err(not_yours(&state, &caller, &key).await);
    }
    mfa_gate(&state, &caller).await?;
    let now = now();
    let issued = ops
        .rotate(
            &caller.who(),
            &key,
            p.expires_in_days.map(|d| i64::from(d) * 86_400),
            now,
        )
        .await
        .map_err(map_err)?;
    Ok(Json(IssuedKeyView::of(&issued, now)))
}

/// Revoke a key at once (both secrets, if it was rotated). Your own keys
/// need `account:self`; anyone's, `users:manage`. A key may revoke itself.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api-keys",
    security(("bearer" = ["account:self"]), ("api_key" = ["account:self"])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        ScopeErrors,
        (status = 404, description = "No such key of yours", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let ops = keys(&state);
    let key = ops.get(&id).await.map_err(map_err)?;
    if key.user_id != caller.user.id {
        // Someone else's key: only administrators learn that it exists.
        if !caller.scopes.contains(Scope::UsersManage) {
            return Err(not_yours(&state, &caller, &key).await);
        }
        caller.require(&state, Scope::UsersManage).await?;
    }
    ops.revoke(&caller.who(), &key, now())
        .await
        .map_err(map_err)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a suspended key work again. A key is suspended when its owner's
/// password is changed or reset, their MFA is reset or removed, or the
/// account is disabled; re-enabling the account does not revive it. Your
/// own keys need `account:self`, anyone's `users:manage`; both need a
/// recent second factor (step-up).
#[utoipa::path(
    post, path = "/api/v1/api-keys/{id}/reactivate", operation_id = "reactivateApiKey", tag = "api-keys",
    security(("bearer" = ["account:self"])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Active again", body = ServiceKeyView),
        ScopeErrors,
        (status = 404, description = "No such key of yours", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The key is not suspended (or is revoked or expired)", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reactivate(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path(id): Path<String>,
) -> Result<Json<ServiceKeyView>, ApiError> {
    caller.require(&state, Scope::AccountSelf).await?;
    let ops = keys(&state);
    let key = ops.get(&id).await.map_err(map_err)?;
    if key.user_id != caller.user.id {
        if !caller.scopes.contains(Scope::UsersManage) {
            return Err(not_yours(&state, &caller, &key).await);
        }
        caller.require(&state, Scope::UsersManage).await?;
    }
    caller.require_step_up(&state).await?;
    let now = now();
    if !ops
        .reactivate(&caller.who(), &key, now)
        .await
        .map_err(map_err)?
    {
        return Err(ApiError::new(
            Kind::Conflict,
            "the key is not suspended (or it is revoked or expired); nothing was changed",
        ));
    }
    let key = ops.get(&id).await.map_err(map_err)?;
    Ok(Json(api_keys::ServiceKeyView::of(&key, now).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_described_view_is_the_service_view() {
        let v = api_keys::ServiceKeyView {
            id: "k2m4q7x3bz5a".into(),
            name: "strategy".into(),
            owner: "alice".into(),
            scopes: vec!["trade:read".into()],
            status: "active".into(),
            created_at: 1,
            expires_at: Some(2),
            last_used_at: None,
            rotated_at: Some(3),
            previous_valid_until: None,
            revoked_at: None,
        };
        let sent = serde_json::to_string(&ServiceKeyView::from(v.clone())).expect("json");
        assert_eq!(sent, serde_json::to_string(&v).expect("json"));
    }
}
