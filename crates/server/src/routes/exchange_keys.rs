//! `/api/v1/exchange-keys`: the exchange API key vault. Secrets go in once
//! and never come back out; strategies ask the vault to sign instead.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cryptobot_auth::Scope;
use cryptobot_vault::{SignRequest, VaultError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use cryptobot_service::audit_batch::AuditWriteError;
use cryptobot_service::clock::{now, now_ms};
use cryptobot_service::exchange_keys::{self, NewCredentials, NewKeyMeta, Vault, VaultOpError};

use crate::extract::{ApiJson, Caller, Validate, check_len, query_problem};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ScopeErrors};
use crate::state::AppState;

/// A key as listings show it: never a secret.
#[derive(Serialize, ToSchema)]
pub struct ExchangeKeyView {
    /// Key id (`xk_…`).
    pub id: String,
    /// Exchange.
    pub exchange: String,
    /// Label.
    pub label: String,
    /// Fingerprint of the current API key (`sha256:` + 12 hex digits).
    pub fingerprint: String,
    /// Declared permissions.
    pub permissions: Vec<String>,
    /// Note about the exchange-side IP allow-list.
    pub ip_note: Option<String>,
    /// Who added it.
    pub created_by: Option<String>,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// Current credential version.
    pub version: i64,
    /// When the current version was stored (unix seconds).
    pub rotated_at: i64,
    /// Days since the current version was stored.
    pub age_days: i64,
    /// When rotation is due (unix seconds).
    pub rotation_due_at: i64,
    /// The current version is older than `rotation_days`.
    pub rotation_due: bool,
    /// When it was revoked (unix seconds).
    pub revoked_at: Option<i64>,
    /// Whether the vault can sign requests for this exchange.
    pub can_sign: bool,
}

// The OpenAPI description of `cryptobot_service::exchange_keys::ExchangeKeyView`
// (the service does not depend on utoipa): the same fields, in order.
impl From<exchange_keys::ExchangeKeyView> for ExchangeKeyView {
    fn from(v: exchange_keys::ExchangeKeyView) -> Self {
        ExchangeKeyView {
            id: v.id,
            exchange: v.exchange,
            label: v.label,
            fingerprint: v.fingerprint,
            permissions: v.permissions,
            ip_note: v.ip_note,
            created_by: v.created_by,
            created_at: v.created_at,
            version: v.version,
            rotated_at: v.rotated_at,
            age_days: v.age_days,
            rotation_due_at: v.rotation_due_at,
            rotation_due: v.rotation_due,
            revoked_at: v.revoked_at,
            can_sign: v.can_sign,
        }
    }
}

/// A new exchange key. The secret is accepted here and never returned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKeyRequest {
    /// binance, kraken, coinbase, bybit, okx or kucoin.
    #[schema(example = "binance")]
    pub exchange: String,
    /// A name to tell keys apart (unique per exchange).
    #[schema(example = "main")]
    pub label: String,
    /// The API key.
    #[schema(value_type = String, min_length = 1)]
    pub api_key: Zeroizing<String>,
    /// The secret key.
    #[schema(value_type = String)]
    pub secret: Zeroizing<String>,
    /// Passphrase, for exchanges that use one.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub passphrase: Option<Zeroizing<String>>,
    /// What the key may do on the exchange: read, trade, withdraw,
    /// account-admin. The vault signs only requests these cover.
    #[schema(example = json!(["read", "trade"]))]
    pub permissions: Vec<String>,
    /// Where the key is IP-restricted on the exchange (a note).
    #[serde(default)]
    pub ip_note: Option<String>,
}

impl Validate for AddKeyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("exchange", &self.exchange, 1, 32)?;
        check_len("label", &self.label, 1, 64)?;
        check_len("api_key", &self.api_key, 1, 256)?;
        check_len("secret", &self.secret, 1, 512)?;
        if self.permissions.len() > 4 {
            return Err(ApiError::invalid_field(
                "permissions",
                "at most read, trade, withdraw and account-admin",
            ));
        }
        Ok(())
    }
}

/// New credentials for an existing key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// The new API key.
    #[schema(value_type = String, min_length = 1)]
    pub api_key: Zeroizing<String>,
    /// The new secret.
    #[schema(value_type = String)]
    pub secret: Zeroizing<String>,
    /// The new passphrase, if any.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub passphrase: Option<Zeroizing<String>>,
}

impl Validate for RotateKeyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("api_key", &self.api_key, 1, 256)?;
        check_len("secret", &self.secret, 1, 512)
    }
}

/// An exchange request to sign. Send the fields your exchange's scheme
/// uses: Binance signs `query` followed by `body` (which must include
/// `timestamp=`); Kraken signs `path`, `nonce` and `body` (which must
/// include the same `nonce=`); Bybit, OKX and KuCoin sign `timestamp`,
/// `method`, `path`, `query` and the JSON `body` (Bybit also
/// `recv_window`); Coinbase answers a JWT for `method`, `path` and
/// `timestamp`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// HTTP method of the exchange request.
    #[schema(example = "POST")]
    pub method: String,
    /// Path of the exchange request.
    #[schema(example = "/api/v3/order")]
    pub path: String,
    /// Query string, without `?`.
    #[serde(default)]
    pub query: Option<String>,
    /// Form-encoded body.
    #[serde(default)]
    pub body: Option<String>,
    /// Milliseconds since the epoch (Binance, Bybit, OKX, KuCoin, Coinbase); within
    /// 60 s of the vault's clock.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Nonce (Kraken), as a string of digits.
    #[serde(default)]
    #[schema(min_length = 1, pattern = "^[0-9]+$")]
    pub nonce: Option<String>,
    /// Receive window in milliseconds (Bybit; default 5000).
    #[serde(default)]
    pub recv_window: Option<u32>,
}

impl Validate for SignBody {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("method", &self.method, 1, 8)?;
        check_len("path", &self.path, 1, 512)?;
        for (name, v) in [("query", &self.query), ("body", &self.body)] {
            if let Some(v) = v {
                check_len(name, v, 0, 8192)?;
            }
        }
        if let Some(n) = &self.nonce {
            check_len("nonce", n, 1, 20)?;
        }
        Ok(())
    }
}

/// What to send with the exchange request.
#[derive(Serialize, ToSchema)]
pub struct SignResponse {
    /// The signature, in the exchange's encoding.
    pub signature: String,
    /// Headers to add to the request (the API key header included).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Listing options.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include revoked keys.
    #[serde(default)]
    pub include_revoked: bool,
}

fn vault(state: &AppState) -> Vault<'_> {
    Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &state.settings,
        batcher: Some(&state.audit_batcher),
    }
}

fn map_err(e: VaultOpError) -> ApiError {
    match e {
        VaultOpError::Invalid(m) => ApiError::new(Kind::InvalidRequest, m),
        VaultOpError::NotFound(_) => ApiError::new(Kind::NotFound, e.to_string()),
        VaultOpError::Revoked(_) | VaultOpError::Conflict(_) => {
            ApiError::new(Kind::Conflict, e.to_string())
        }
        VaultOpError::Vault(VaultError::Request(m)) => ApiError::new(Kind::InvalidRequest, m),
        VaultOpError::Refused(r) => ApiError::signing_refused(&r),
        VaultOpError::Store(s) => s.into(),
        // The writer logged the failed batch once; nothing was signed.
        VaultOpError::Audit(AuditWriteError::Unavailable(_)) => ApiError::unavailable(),
        VaultOpError::Audit(_) => ApiError::internal(),
        other => {
            tracing::error!(error = %other, "vault operation failed");
            ApiError::internal()
        }
    }
}

/// List exchange keys (metadata only; never a secret).
#[utoipa::path(
    get, path = "/api/v1/exchange-keys", operation_id = "listExchangeKeys", tag = "vault",
    security(("bearer" = ["keys:read"])),
    params(ListQuery),
    responses(
        (status = 200, description = "Keys, oldest first", body = Vec<ExchangeKeyView>),
        ScopeErrors,
        (status = 422, description = "Bad parameter", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<ExchangeKeyView>>, ApiError> {
    caller.require(&state, Scope::KeysRead).await?;
    let Query(q) = q.map_err(|e| query_problem(&e))?;
    let keys = vault(&state)
        .list(q.include_revoked, now())
        .await
        .map_err(map_err)?;
    Ok(Json(keys.into_iter().map(ExchangeKeyView::from).collect()))
}

/// Store an exchange key, sealed. Needs a recent second factor when the
/// caller has MFA.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys", operation_id = "addExchangeKey", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    request_body = AddKeyRequest,
    responses(
        (status = 201, description = "Stored; the secret is not returned", body = ExchangeKeyView),
        BodyErrors,
        ScopeErrors,
        (status = 409, description = "The label is taken on that exchange", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<AddKeyRequest>, ApiError>,
) -> Result<(StatusCode, Json<ExchangeKeyView>), ApiError> {
    // The scope is checked before the body is looked at, so a caller
    // without it learns nothing from validation errors.
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let meta = NewKeyMeta {
        exchange: req.exchange,
        label: req.label,
        permissions: req.permissions,
        ip_note: req.ip_note,
    };
    let creds = NewCredentials {
        api_key: req.api_key,
        secret: req.secret,
        passphrase: req.passphrase,
    };
    let view = vault(&state)
        .add(&caller.who(), &meta, &creds, now())
        .await
        .map_err(map_err)?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Store new credentials for a key. The previous ones keep signing for
/// `rotation_grace_hours`, then are destroyed.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys/{id}/rotate", operation_id = "rotateExchangeKey", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = "Key id")),
    request_body = RotateKeyRequest,
    responses(
        (status = 200, description = "Rotated", body = ExchangeKeyView),
        BodyErrors,
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked, or changed meanwhile", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<RotateKeyRequest>, ApiError>,
) -> Result<Json<ExchangeKeyView>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    caller.require_step_up(&state).await?;
    let ApiJson(req) = body?;
    let creds = NewCredentials {
        api_key: req.api_key,
        secret: req.secret,
        passphrase: req.passphrase,
    };
    let view = vault(&state)
        .rotate(&caller.who(), &id, &creds, now())
        .await
        .map_err(map_err)?;
    Ok(Json(view.into()))
}

/// Revoke a key: every version is destroyed at once.
#[utoipa::path(
    delete, path = "/api/v1/exchange-keys/{id}", operation_id = "revokeExchangeKey", tag = "vault",
    security(("bearer" = ["keys:manage"])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked", body = ExchangeKeyView),
        ScopeErrors,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExchangeKeyView>, ApiError> {
    caller.require(&state, Scope::KeysManage).await?;
    let view = vault(&state)
        .revoke(&caller.who(), &id, now())
        .await
        .map_err(map_err)?;
    Ok(Json(view.into()))
}

/// Sign an exchange request with the key's current credentials, if the
/// signing policy allows it: the request's class (read, trade, withdraw,
/// account-admin) must be covered by the key's declared permissions, the
/// path canonical, the parameters documented (Binance, Bybit) and the
/// timestamp or nonce within 60 s; a withdrawal also needs
/// `allow_withdraw_keys` and a session second factor within
/// `withdraw_step_up_seconds`.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys/{id}/sign", operation_id = "signExchangeRequest", tag = "vault",
    security(("bearer" = ["keys:sign"])),
    params(("id" = String, Path, description = "Key id")),
    request_body = SignBody,
    responses(
        (status = 200, description = "Signature and headers", body = SignResponse),
        BodyErrors,
        ScopeErrors,
        (status = 403, description = "The token lacks `keys:sign`, or the signing policy refuses the request (`type` `urn:cryptobot:problem:signing-refused`, with `class`, `permissions` and `reason`); refusals are audited as `exchange_key_sign_refused`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<SignBody>, ApiError>,
) -> Result<Json<SignResponse>, ApiError> {
    caller.require(&state, Scope::KeysSign).await?;
    let ApiJson(req) = body?;
    let request = SignRequest {
        method: req.method,
        path: req.path,
        query: req.query,
        body: req.body,
        timestamp: req.timestamp,
        nonce: req.nonce,
        recv_window: req.recv_window,
    };
    let step_up_fresh = caller.withdraw_step_up_fresh(&state);
    let signed = vault(&state)
        .sign(&caller.who(), &id, &request, now_ms(), step_up_fresh)
        .await
        .map_err(map_err)?;
    Ok(Json(SignResponse {
        signature: signed.signature,
        headers: signed.headers.into_iter().collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_described_view_is_the_service_view() {
        let v = exchange_keys::ExchangeKeyView {
            id: "xk_1".into(),
            exchange: "binance".into(),
            label: "main".into(),
            fingerprint: "sha256:0123456789ab".into(),
            permissions: vec!["read".into()],
            ip_note: None,
            created_by: Some("alice".into()),
            created_at: 1,
            version: 2,
            rotated_at: 3,
            age_days: 0,
            rotation_due_at: 4,
            rotation_due: false,
            revoked_at: None,
            can_sign: true,
        };
        let sent = serde_json::to_string(&ExchangeKeyView::from(v.clone())).expect("json");
        assert_eq!(sent, serde_json::to_string(&v).expect("json"));
    }
}
