//! Second-factor checks shared by sign-in, step-up and disabling MFA.

use cryptobot_auth::{normalize_backup_code, totp_match};
use cryptobot_store::User;
use serde_json::json;

use crate::problem::{ApiError, Kind};
use crate::state::{AppState, Who};

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A TOTP code from the authenticator.
    Totp,
    /// A one-time backup code.
    BackupCode,
}

impl Method {
    /// Name used in responses and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::BackupCode => "backup_code",
        }
    }
}

/// The answer to any failed second-factor code.
pub fn invalid_code() -> ApiError {
    ApiError::new(
        Kind::InvalidMfa,
        "the code is wrong, expired or already used; use the current code from your authenticator or an unused backup code",
    )
}

/// Checks `code` (6 digits: TOTP; otherwise a backup code) for `user`,
/// consuming it: a TOTP step or a backup code works once. Failures are
/// audited (`mfa_failed`, `mfa_replay`); the caller decides what a failure
/// costs (lockout, delay).
pub async fn check_code(
    state: &AppState,
    user: &User,
    code: &str,
    who: &Who,
    now: i64,
) -> Result<Method, ApiError> {
    let code = code.trim();
    let fail = |reason: &'static str| Fail(reason, invalid_code());
    let result: Result<Method, Fail> = async {
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let rec = state
                .store
                .totp(&user.id)
                .await?
                .filter(|r| r.confirmed)
                .ok_or_else(|| fail("not_enrolled"))?;
            let secret = state
                .mfa
                .open_secret(&rec.sealed_secret, &user.id)
                .map_err(|e| {
                    tracing::error!(error = %e, "a TOTP secret cannot be opened");
                    Fail("sealed_secret_unreadable", ApiError::internal())
                })?;
            match totp_match(&secret, code, now, rec.last_step) {
                Some(step) if state.store.totp_use_step(&user.id, step).await? => Ok(Method::Totp),
                Some(_) => Err(fail("replay")),
                None if totp_match(&secret, code, now, None).is_some() => Err(fail("replay")),
                None => Err(fail("wrong_code")),
            }
        } else {
            let normalized = normalize_backup_code(code).ok_or_else(|| fail("wrong_code"))?;
            let hash = state.mfa.backup_code_hash(&normalized, &user.id);
            if state.store.backup_code_use(&user.id, &hash, now).await? {
                Ok(Method::BackupCode)
            } else {
                Err(fail("wrong_code"))
            }
        }
    }
    .await;
    match result {
        Ok(method) => {
            if method == Method::BackupCode {
                let left = state.store.backup_codes_left(&user.id).await?;
                state
                    .audit(
                        "mfa_backup_code_used",
                        who,
                        Some(&user.username),
                        "ok",
                        json!({"left": left}),
                    )
                    .await;
            }
            Ok(method)
        }
        Err(Fail(reason, err)) => {
            let event = if reason == "replay" {
                "mfa_replay"
            } else {
                "mfa_failed"
            };
            state
                .audit(
                    event,
                    who,
                    Some(&user.username),
                    "denied",
                    json!({"reason": reason}),
                )
                .await;
            Err(err)
        }
    }
}

/// A failed check: the audit reason and the answer.
struct Fail(&'static str, ApiError);

impl From<cryptobot_store::StoreError> for Fail {
    fn from(e: cryptobot_store::StoreError) -> Self {
        Fail("storage", ApiError::from(e))
    }
}
