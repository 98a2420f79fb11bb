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
use cryptobot_service::exchange_keys::{NewCredentials, NewKeyMeta, Vault, VaultOpError};

use crate::extract::{ApiJson, Caller, Validate, check_len, query_problem};
use crate::problem::{ApiError, BodyErrors, Kind, ProblemBody, ScopeErrors};
use crate::state::AppState;

pub use cryptobot_service::exchange_keys::ExchangeKeyView;

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
    /// OKX only: let the vault hand the passphrase out in the signed
    /// `OK-ACCESS-PASSPHRASE` header (OKX's scheme needs it there);
    /// without it OKX requests are refused.
    #[serde(default)]
    pub passphrase_in_headers: bool,
    /// This key's own signing limit per minute (default:
    /// `security.api_keys.max_signatures_per_minute`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_signatures_per_minute: Option<u32>,
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

/// The vault as the routes use it: the server's audit writer and signing
/// limits.
pub(crate) fn vault(state: &AppState) -> Vault<'_> {
    Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &state.settings,
        batcher: Some(&state.audit_batcher),
        budget: Some(&state.limits),
    }
}

/// The problem answer of a vault error.
pub(crate) fn map_err(e: VaultOpError) -> ApiError {
    match e {
        VaultOpError::Invalid(m) => ApiError::new(Kind::InvalidRequest, m),
        VaultOpError::NoGrant { .. } | VaultOpError::Forbidden(_) => {
            let hint = e.hint();
            let msg = match hint {
                Some(h) => format!("{e}; {h}"),
                None => e.to_string(),
            };
            ApiError::new(Kind::Forbidden, msg)
        }
        VaultOpError::Limited {
            retry_after_secs, ..
        } => ApiError::new(Kind::TooManyRequests, e.to_string()).retry_after(retry_after_secs),
        VaultOpError::LimitUnavailable => ApiError::new(
            Kind::Busy,
            "signing is paused: the shared signing limit cannot be checked; retry shortly",
        )
        .retry_after(1),
        // Never the id as sent: problem details do not echo input.
        VaultOpError::NotFound(_) => ApiError::new(
            Kind::NotFound,
            "no such exchange key, address entry or request; `GET /api/v1/exchange-keys` lists the keys",
        ),
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
        .list(&caller.access(), q.include_revoked, now())
        .await
        .map_err(map_err)?;
    Ok(Json(keys))
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
        passphrase_in_headers: req.passphrase_in_headers,
        max_signatures_per_minute: req.max_signatures_per_minute,
    };
    let creds = NewCredentials {
        api_key: req.api_key,
        secret: req.secret,
        passphrase: req.passphrase,
    };
    let view = vault(&state)
        .add(&caller.who(), &caller.access(), &meta, &creds, now())
        .await
        .map_err(map_err)?;
    Ok((StatusCode::CREATED, Json(view)))
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
        .rotate(&caller.who(), &caller.access(), &id, &creds, now())
        .await
        .map_err(map_err)?;
    Ok(Json(view))
}

/// Revoke a key: every version is destroyed at once. Needs a recent second
/// factor (step-up); `cryptobot keys revoke` on the host does not.
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
    caller.require_step_up(&state).await?;
    let view = vault(&state)
        .revoke(&caller.who(), &caller.access(), &id, now())
        .await
        .map_err(map_err)?;
    Ok(Json(view))
}

/// Sign an exchange request with the key's current credentials, if the
/// signing policy allows it: the request's class (read, trade, withdraw,
/// account-admin) must be covered by the key's declared permissions, the
/// path canonical, the parameters documented (Binance, Bybit) and the
/// timestamp or nonce within 60 s; a withdrawal also needs
/// `allow_withdraw_keys`, a session second factor within
/// `withdraw_step_up_seconds`, and a destination from the key's address
/// book that was added at least `withdraw_address_delay_hours` ago. The
/// caller needs a grant for the key (admins may use every key; a service
/// API key needs its own grant), and the key's signing limit applies.
#[utoipa::path(
    post, path = "/api/v1/exchange-keys/{id}/sign", operation_id = "signExchangeRequest", tag = "vault",
    security(("bearer" = ["keys:sign"])),
    params(("id" = String, Path, description = "Key id")),
    request_body = SignBody,
    responses(
        (status = 200, description = "Signature and headers", body = SignResponse),
        BodyErrors,
        ScopeErrors,
        (status = 403, description = "The token lacks `keys:sign`; the caller has no grant for the key (audited as `exchange_key_access_denied`); or the signing policy refuses the request (`type` `urn:cryptobot:problem:signing-refused`, with `class`, `permissions` and `reason`; audited as `exchange_key_sign_refused`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Revoked", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "The key's signing limit (`max_signatures_per_minute`) is used up; `Retry-After` says when to retry", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The shared signing limit cannot be checked (Redis unreachable and `redis_failure_api = fail_closed`)", body = ProblemBody, content_type = "application/problem+json"),
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
        .sign(
            &caller.who(),
            &caller.access(),
            &id,
            &request,
            now_ms(),
            step_up_fresh,
        )
        .await
        .map_err(map_err)?;
    Ok(Json(SignResponse {
        signature: signed.signature,
        headers: signed.headers.into_iter().collect(),
    }))
}
