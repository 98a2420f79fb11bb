//! `/api/v1/mfa/*`: TOTP enrollment, backup codes, disabling.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use cryptobot_auth::{MAX_PASSWORD_CHARS, new_totp_secret, otpauth_uri, totp_match};
use cryptobot_service::clock::now;
use cryptobot_service::{mfa, qr};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::extract::{ApiJson, SessionCaller, Validate, check_len};
use crate::problem::{ApiError, AuthErrors, BodyErrors, Kind, ProblemBody, SessionErrors};
use crate::sign_in::{invalid_code, recheck_own_password};
use crate::state::AppState;

/// MFA state of the caller.
#[derive(Serialize, ToSchema)]
pub struct MfaStatus {
    /// A confirmed authenticator is enrolled.
    pub totp_enabled: bool,
    /// An enrollment waits for its confirming code.
    pub enrollment_pending: bool,
    /// Unused backup codes.
    pub backup_codes_left: i64,
    /// The caller's role must use MFA.
    pub required: bool,
    /// When this session last completed a second factor (unix seconds).
    pub session_mfa_at: Option<i64>,
}

/// A new enrollment, to show once.
#[derive(Serialize, ToSchema)]
pub struct Enrollment {
    /// For authenticator apps (SHA1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The secret in base32, for typing it in by hand.
    pub secret: String,
    /// QR code of the URI, an SVG document.
    pub qr_svg: String,
    /// QR code of the URI, a PNG image in base64.
    pub qr_png: String,
}

/// A code from the authenticator (or, where allowed, a backup code).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// 6 digits from the authenticator, or a backup code like `k3f9-2mxa`.
    #[schema(value_type = String, min_length = 6, max_length = 16, example = "123456")]
    pub code: SecretString,
}

impl Validate for CodeRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("code", self.code.expose_secret(), 6, 16)
    }
}

/// Disabling MFA: the password and a current code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    /// The account password.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub password: SecretString,
    /// A current authenticator code or a backup code.
    #[schema(value_type = String, min_length = 6, max_length = 16)]
    pub code: SecretString,
}

impl Validate for DisableRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len(
            "password",
            self.password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )?;
        check_len("code", self.code.expose_secret(), 6, 16)
    }
}

/// Backup codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct BackupCodes {
    /// Each works once; earlier codes no longer work.
    pub backup_codes: Vec<String>,
}

/// Your MFA state.
#[utoipa::path(
    get, path = "/api/v1/mfa", tag = "mfa", operation_id = "mfaStatus",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA state", body = MfaStatus),
        SessionErrors,
    )
)]
pub async fn status(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> Result<Json<MfaStatus>, ApiError> {
    let rec = state.store.totp(&caller.user.id).await?;
    Ok(Json(MfaStatus {
        totp_enabled: rec.as_ref().is_some_and(|r| r.confirmed),
        enrollment_pending: rec.as_ref().is_some_and(|r| !r.confirmed),
        backup_codes_left: state.store.backup_codes_left(&caller.user.id).await?,
        required: caller.mfa_required(&state),
        session_mfa_at: caller.session.mfa_at,
    }))
}

/// The password, to start enrolling an authenticator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Your password.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 128)]
    pub password: SecretString,
}

impl Validate for EnrollRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_len(
            "password",
            self.password.expose_secret(),
            1,
            MAX_PASSWORD_CHARS,
        )
    }
}

/// Start enrolling an authenticator (your password is required). It
/// becomes active only after `POST /api/v1/mfa/totp/confirm` with a code
/// from it; confirming does not count as a step-up.
#[utoipa::path(
    post, path = "/api/v1/mfa/totp/enroll", tag = "mfa", operation_id = "mfaEnroll",
    security(("bearer" = [])),
    request_body = EnrollRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Scan the QR code, then confirm", body = Enrollment),
        SessionErrors,
        (status = 409, description = "MFA is already enabled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn enroll(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<Enrollment>, ApiError> {
    // Someone holding only a session token must not bind their own
    // authenticator to the account: the password is checked again.
    let now = now();
    recheck_own_password(
        &state,
        &caller,
        req.password.clone(),
        now,
        ("mfa_enroll_failed", "wrong_password", "password"),
    )
    .await?;
    let secret = new_totp_secret().map_err(|_| ApiError::internal())?;
    let sealed = state
        .mfa
        .seal_secret(&secret, &caller.user.id)
        .map_err(|_| ApiError::internal())?;
    match state.store.totp_begin(&caller.user.id, &sealed, now).await {
        Ok(()) => {}
        Err(cryptobot_store::StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                Kind::Conflict,
                "MFA is already enabled; disable it first (POST /api/v1/mfa/totp/disable)",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let uri = otpauth_uri(
        &state.settings.security.mfa.totp_issuer,
        &caller.user.username,
        &secret,
    );
    let qr_png = qr::png(&uri).map_err(|_| ApiError::internal())?;
    let qr_svg = qr::svg(&uri).map_err(|_| ApiError::internal())?;
    state
        .audit(
            "mfa_enrollment_started",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({}),
        )
        .await;
    Ok(Json(Enrollment {
        secret: cryptobot_auth::base32(&secret),
        otpauth_uri: uri,
        qr_svg,
        qr_png: base64::engine::general_purpose::STANDARD.encode(qr_png),
    }))
}

/// Confirm the enrollment with a code from the authenticator; returns the
/// backup codes (shown once).
#[utoipa::path(
    post, path = "/api/v1/mfa/totp/confirm", tag = "mfa", operation_id = "mfaConfirm",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        BodyErrors,
        (status = 200, description = "Enabled", body = BackupCodes),
        (status = 401, description = "No valid access token, or a wrong code", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "A service API key: this endpoint needs a signed-in session (`Authorization: Bearer`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Nothing to confirm", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Json<BackupCodes>, ApiError> {
    let now = now();
    let rec = state
        .store
        .totp(&caller.user.id)
        .await?
        .filter(|r| !r.confirmed)
        .ok_or_else(|| {
            ApiError::new(
                Kind::Conflict,
                "no enrollment is pending; start one with POST /api/v1/mfa/totp/enroll",
            )
        })?;
    let secret = state
        .mfa
        .open_secret(&rec.sealed_secret, &caller.user.id)
        .map_err(|_| ApiError::internal())?;
    let Some(step) = totp_match(&secret, req.code.expose_secret().trim(), now, None) else {
        state
            .audit(
                "mfa_failed",
                &caller.who(),
                Some(&caller.user.username),
                "denied",
                json!({"reason": "wrong_confirmation_code"}),
            )
            .await;
        return Err(invalid_code());
    };
    let (shown, hashes) =
        mfa::backup_codes(&state.mfa, &caller.user.id).ok_or_else(ApiError::internal)?;
    if !state
        .store
        .totp_confirm(&caller.user.id, step, &hashes, now)
        .await?
    {
        return Err(ApiError::new(
            Kind::Conflict,
            "the enrollment was already confirmed",
        ));
    }
    // Confirming proves the new authenticator, not the person: the
    // session is not marked as stepped up (POST /api/v1/auth/step-up).
    state
        .audit(
            "mfa_enabled",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({"backup_codes": shown.len(), "notify": true}),
        )
        .await;
    Ok(Json(BackupCodes {
        backup_codes: shown,
    }))
}

/// Replace your backup codes (the old ones stop working). Needs a second
/// factor within the last 5 minutes.
#[utoipa::path(
    post, path = "/api/v1/mfa/backup-codes", tag = "mfa", operation_id = "mfaBackupCodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New codes", body = BackupCodes),
        AuthErrors,
        (status = 403, description = "Step-up needed, or a service API key (this endpoint needs a signed-in session)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "MFA is not enabled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn regenerate(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> Result<Json<BackupCodes>, ApiError> {
    if !caller.user.mfa_enabled {
        return Err(ApiError::new(Kind::Conflict, "MFA is not enabled"));
    }
    caller.require_step_up(&state).await?;
    let (shown, hashes) =
        mfa::backup_codes(&state.mfa, &caller.user.id).ok_or_else(ApiError::internal)?;
    state
        .store
        .backup_codes_replace(&caller.user.id, &hashes, now())
        .await?;
    state
        .audit(
            "mfa_backup_codes_regenerated",
            &caller.who(),
            Some(&caller.user.username),
            "ok",
            json!({"count": shown.len()}),
        )
        .await;
    Ok(Json(BackupCodes {
        backup_codes: shown,
    }))
}

/// Turn MFA off: needs the password and a current code.
#[utoipa::path(
    post, path = "/api/v1/mfa/totp/disable", tag = "mfa", operation_id = "mfaDisable",
    security(("bearer" = [])),
    request_body = DisableRequest,
    responses(
        BodyErrors,
        (status = 204, description = "Disabled"),
        (status = 401, description = "No valid access token, or a wrong code", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "A service API key: this endpoint needs a signed-in session (`Authorization: Bearer`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "MFA is not enabled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: SessionCaller,
    ApiJson(req): ApiJson<DisableRequest>,
) -> Result<StatusCode, ApiError> {
    if !caller.user.mfa_enabled {
        return Err(ApiError::new(Kind::Conflict, "MFA is not enabled"));
    }
    let now = now();
    recheck_own_password(
        &state,
        &caller,
        req.password.clone(),
        now,
        ("mfa_disable_failed", "wrong_password", "password"),
    )
    .await?;
    state
        .sign_in()
        .recheck_code(
            &caller.user,
            req.code.expose_secret(),
            &caller.who(),
            caller.client,
            now,
            true,
        )
        .await?;
    state
        .accounts()
        .mfa_disabled(&caller.who(), &caller.user)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "disabling MFA failed");
            ApiError::internal()
        })?;
    Ok(StatusCode::NO_CONTENT)
}
