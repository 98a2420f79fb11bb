//! What limits an exchange key beyond its permissions, over HTTP: grants,
//! permissions, the signing limit, the withdrawal address book and the
//! approvals of a second admin. The rules are in
//! `cryptobot_service::key_controls`; changes need `keys:manage` and a
//! fresh second factor.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use cryptobot_service::clock::now;
use cryptobot_service::exchange_keys::ExchangeKeyView;
use cryptobot_service::key_controls::{
    AddressAdded, AddressView, ApprovalView, GrantTarget, GrantView, NewAddress,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, Caller, Validate, check_len, query_problem};
use crate::problem::{ApiError, BodyErrors, ProblemBody, ScopeErrors};
use crate::routes::exchange_keys::{map_err, vault};
use crate::state::AppState;

/// Who to grant the use of a key: exactly one of `user` and `api_key`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// A username.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub user: Option<String>,
    /// A service API key id (`ak_…`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub api_key: Option<String>,
}

impl Validate for GrantBody {
    fn validate(&self) -> Result<(), ApiError> {
        match (&self.user, &self.api_key) {
            (Some(u), None) => check_len("user", u, 1, 64),
            (None, Some(k)) => check_len("api_key", k, 1, 64),
            _ => Err(ApiError::invalid_field(
                "user",
                "give exactly one of `user` and `api_key`",
            )),
        }
    }
}

impl GrantBody {
    fn target(self) -> Result<GrantTarget, ApiError> {
        match (self.user, self.api_key) {
            (Some(u), None) => Ok(GrantTarget::User(u)),
            (None, Some(k)) => Ok(GrantTarget::ApiKey(k)),
            _ => Err(ApiError::invalid_field(
                "user",
                "give exactly one of `user` and `api_key`",
            )),
        }
    }
}

/// The key's new declared permissions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsBody {
    /// read, trade, withdraw, account-admin. Adding `withdraw` waits for a
    /// second admin when the installation has two or more.
    #[schema(example = json!(["read", "trade"]))]
    pub permissions: Vec<String>,
}

impl Validate for PermissionsBody {
    fn validate(&self) -> Result<(), ApiError> {
        if self.permissions.is_empty() || self.permissions.len() > 4 {
            return Err(ApiError::invalid_field(
                "permissions",
                "one to four of read, trade, withdraw and account-admin",
            ));
        }
        for p in &self.permissions {
            check_len("permissions", p, 1, 16)?;
        }
        Ok(())
    }
}

/// The key's own signing limit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    /// Signatures per minute; `null` for the installation's
    /// `max_signatures_per_minute`.
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_signatures_per_minute: Option<u32>,
}

impl Validate for LimitBody {
    fn validate(&self) -> Result<(), ApiError> {
        match self.max_signatures_per_minute {
            Some(n) if !(1..=1_000_000).contains(&n) => Err(ApiError::invalid_field(
                "max_signatures_per_minute",
                "1 to 1000000, or null for the default",
            )),
            _ => Ok(()),
        }
    }
}

/// A withdrawal address for the key's book.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// The address (for Kraken: the name of the withdrawal key set up on
    /// Kraken).
    #[schema(min_length = 1, max_length = 128)]
    pub address: String,
    /// The network or chain, as the exchange names it; a withdrawal must
    /// name the same one (none matches none).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32)]
    pub network: Option<String>,
    /// The memo or tag, if the destination needs one.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub memo: Option<String>,
    /// A label.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub label: Option<String>,
}

impl Validate for AddressBody {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("address", &self.address, 1, 128)?;
        if let Some(n) = &self.network {
            check_len("network", n, 1, 32)?;
        }
        if let Some(m) = &self.memo {
            check_len("memo", m, 1, 128)?;
        }
        if let Some(l) = &self.label {
            check_len("label", l, 0, 64)?;
        }
        Ok(())
    }
}

/// Listing options.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncludeQuery {
    /// Also show removed entries, or decided requests.
    #[serde(default)]
    pub all: bool,
}

const KEY: &str = "Exchange key id";

/// Who may sign with the key: users and service API keys.
#[utoipa::path(
    get, path = "/api/v1/exchange-keys/{id}/grants", operation_id = "listExchangeKeyGrants", tag = "vault",
    security(("bearer" = ["keys:read"])),
    params(("id" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The grants", body = Vec<GrantView>),
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    caller.require(&state, Scope::KeysRead).await?;
    let list = vault(&state)
        .grants(&caller.who(), &caller.access(), &id)
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Let a user or a service API key sign with the key.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys/{id}/grants", operation_id = "grantExchangeKey", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY)),
    request_body = GrantBody,
    responses(
        (status = 200, description = "The grants now", body = Vec<GrantView>),
        BodyErrors,
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<GrantBody>, ApiError>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let target = req.target()?;
    let list = vault(&state)
        .grant(&caller.who(), &caller.access(), &id, &target, now())
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Withdraw a user's grant; their next signing request is refused.
#[utoipa::path(
    delete, path = "/api/v1/exchange-keys/{id}/grants/users/{name}", operation_id = "revokeExchangeKeyUserGrant", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY), ("name" = String, Path, description = "Username")),
    responses(
        (status = 200, description = "The grants now", body = Vec<GrantView>),
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No such grant, or the key is revoked", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "No such user", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_user_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let list = vault(&state)
        .revoke_grant(
            &caller.who(),
            &caller.access(),
            &id,
            &GrantTarget::User(name),
        )
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Withdraw a service API key's grant; its next signing request is
/// refused.
#[utoipa::path(
    delete, path = "/api/v1/exchange-keys/{id}/grants/api-keys/{key}", operation_id = "revokeExchangeKeyApiKeyGrant", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY), ("key" = String, Path, description = "Service API key id")),
    responses(
        (status = 200, description = "The grants now", body = Vec<GrantView>),
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No such grant, or the key is revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_api_key_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let list = vault(&state)
        .revoke_grant(
            &caller.who(),
            &caller.access(),
            &id,
            &GrantTarget::ApiKey(key),
        )
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Replace the key's declared permissions. Narrowing applies at once;
/// adding `withdraw` needs `allow_withdraw_keys` and, with two or more
/// admins, waits for a second admin (`pending_approvals`).
#[utoipa::path(
    put, path = "/api/v1/exchange-keys/{id}/permissions", operation_id = "setExchangeKeyPermissions", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY)),
    request_body = PermissionsBody,
    responses(
        (status = 200, description = "The key now", body = ExchangeKeyView),
        BodyErrors,
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<PermissionsBody>, ApiError>,
) -> Result<Json<ExchangeKeyView>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let view = vault(&state)
        .set_permissions(
            &caller.who(),
            &caller.access(),
            &id,
            &req.permissions,
            now(),
        )
        .await
        .map_err(map_err)?;
    Ok(Json(view))
}

/// Set the key's own signing limit per minute (`null`: the default).
#[utoipa::path(
    put, path = "/api/v1/exchange-keys/{id}/limit", operation_id = "setExchangeKeyLimit", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY)),
    request_body = LimitBody,
    responses(
        (status = 200, description = "The key now", body = ExchangeKeyView),
        BodyErrors,
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<LimitBody>, ApiError>,
) -> Result<Json<ExchangeKeyView>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let view = vault(&state)
        .set_limit(
            &caller.who(),
            &caller.access(),
            &id,
            req.max_signatures_per_minute,
            now(),
        )
        .await
        .map_err(map_err)?;
    Ok(Json(view))
}

/// The key's withdrawal address book.
#[utoipa::path(
    get, path = "/api/v1/exchange-keys/{id}/addresses", operation_id = "listWithdrawAddresses", tag = "vault",
    security(("bearer" = ["keys:read"])),
    params(("id" = String, Path, description = KEY), IncludeQuery),
    responses(
        (status = 200, description = "The entries, oldest first", body = Vec<AddressView>),
        ScopeErrors,
        (status = 422, description = "Bad parameter", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn addresses(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<IncludeQuery>, QueryRejection>,
) -> Result<Json<Vec<AddressView>>, ApiError> {
    caller.require(&state, Scope::KeysRead).await?;
    let Query(q) = q.map_err(|e| query_problem(&e))?;
    let list = vault(&state)
        .addresses(&caller.who(), &caller.access(), &id, q.all)
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Add a withdrawal address (alerted). Withdrawals to it are signed
/// `withdraw_address_delay_hours` after it takes effect: at once with one
/// admin, when a second admin approves with two or more.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys/{id}/addresses", operation_id = "addWithdrawAddress", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY)),
    request_body = AddressBody,
    responses(
        (status = 201, description = "Added (`approval` names the request a second admin must approve)", body = AddressAdded),
        BodyErrors,
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already in the book, or the key is revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn add_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<AddressBody>, ApiError>,
) -> Result<(StatusCode, Json<AddressAdded>), ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let new = NewAddress {
        address: req.address,
        network: req.network,
        memo: req.memo,
        label: req.label,
    };
    let added = vault(&state)
        .add_address(&caller.who(), &caller.access(), &id, &new, now())
        .await
        .map_err(map_err)?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Remove a withdrawal address (at once: it only narrows what is signed).
#[utoipa::path(
    delete, path = "/api/v1/exchange-keys/{id}/addresses/{entry}", operation_id = "removeWithdrawAddress", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = KEY), ("entry" = String, Path, description = "Address entry id (`wa_…`)")),
    responses(
        (status = 204, description = "Removed"),
        ScopeErrors,
        (status = 404, description = "No such key or entry", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn remove_address(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, entry)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    vault(&state)
        .remove_address(&caller.who(), &caller.access(), &id, &entry, now())
        .await
        .map_err(map_err)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Requests that wait for a second admin (decided ones with `all`).
#[utoipa::path(
    get, path = "/api/v1/approvals", operation_id = "listApprovals", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(IncludeQuery),
    responses(
        (status = 200, description = "The requests, oldest first", body = Vec<ApprovalView>),
        ScopeErrors,
        (status = 422, description = "Bad parameter", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<IncludeQuery>, QueryRejection>,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    let Query(q) = q.map_err(|e| query_problem(&e))?;
    let list = vault(&state)
        .approvals(q.all, now())
        .await
        .map_err(map_err)?;
    Ok(Json(list))
}

/// Approve a request as a second admin: it applies at once (alerted). The
/// admin who asked cannot approve it.
#[utoipa::path(
    post, path = "/api/v1/approvals/{request}/approve", operation_id = "approveRequest", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("request" = String, Path, description = "Request id (`apr_…`)")),
    responses(
        (status = 200, description = "Approved and applied", body = ApprovalView),
        ScopeErrors,
        (status = 404, description = "No such request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Not pending (approved or expired), or its key was revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(request): Path<String>,
) -> Result<Json<ApprovalView>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let view = vault(&state)
        .approve(&caller.who(), &caller.access(), &request, now())
        .await
        .map_err(map_err)?;
    Ok(Json(view))
}
