//! Second-factor checks shared by sign-in, step-up and disabling MFA.

use cryptobot_auth::{MfaKeys, new_backup_codes, normalize_backup_code, totp_match};
use cryptobot_store::{Store, StoreError, User};
use serde_json::json;

use crate::audit::{Who, record_audit};

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

/// Backup codes made at confirmation and on regeneration.
pub const BACKUP_CODES: usize = 10;

/// Fresh backup codes for `user_id`: the codes to show once, and the MACs
/// to store. `None` when the random source fails.
pub fn backup_codes(keys: &MfaKeys, user_id: &str) -> Option<(Vec<String>, Vec<String>)> {
    let codes = new_backup_codes(BACKUP_CODES).ok()?;
    let mut shown = Vec::with_capacity(codes.len());
    let mut hashes = Vec::with_capacity(codes.len());
    for c in &codes {
        let normalized = normalize_backup_code(c)?;
        hashes.push(keys.backup_code_hash(&normalized, user_id));
        shown.push(c.to_string());
    }
    Some((shown, hashes))
}

/// Why a second-factor code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The code is wrong, expired or already used (or no authenticator is
    /// enrolled).
    #[error("the code is wrong, expired or already used")]
    Invalid,
    /// The stored TOTP secret cannot be opened (logged).
    #[error("a TOTP secret cannot be opened")]
    Unreadable,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failed check: the audit reason and the error.
struct Fail(&'static str, CodeError);

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail("storage", CodeError::Store(e))
    }
}

/// Checks `code` (6 digits: TOTP; otherwise a backup code) for `user`,
/// consuming it: a TOTP step or a backup code works once. Failures are
/// audited (`mfa_failed`, `mfa_replay`); the caller decides what a failure
/// costs (lockout, delay; see [`crate::sign_in::SignIn::recheck_code`]).
pub async fn check_code(
    store: &Store,
    keys: &MfaKeys,
    user: &User,
    code: &str,
    who: &Who,
    now: i64,
) -> Result<Method, CodeError> {
    let code = code.trim();
    let fail = |reason: &'static str| Fail(reason, CodeError::Invalid);
    let result: Result<Method, Fail> = async {
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let rec = store
                .totp(&user.id)
                .await?
                .filter(|r| r.confirmed)
                .ok_or_else(|| fail("not_enrolled"))?;
            let secret = keys
                .open_secret(&rec.sealed_secret, &user.id)
                .map_err(|e| {
                    tracing::error!(error = %e, "a TOTP secret cannot be opened");
                    Fail("sealed_secret_unreadable", CodeError::Unreadable)
                })?;
            match totp_match(&secret, code, now, rec.last_step) {
                Some(step) if store.totp_use_step(&user.id, step).await? => Ok(Method::Totp),
                Some(_) => Err(fail("replay")),
                None if totp_match(&secret, code, now, None).is_some() => Err(fail("replay")),
                None => Err(fail("wrong_code")),
            }
        } else {
            let normalized = normalize_backup_code(code).ok_or_else(|| fail("wrong_code"))?;
            let hash = keys.backup_code_hash(&normalized, &user.id);
            if store.backup_code_use(&user.id, &hash, now).await? {
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
                let left = store.backup_codes_left(&user.id).await?;
                record_audit(
                    store,
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
            record_audit(
                store,
                event,
                who,
                Some(&user.username),
                "denied",
                // A replayed code means someone else saw it: the user
                // should hear of it.
                json!({"reason": reason, "notify": reason == "replay"}),
            )
            .await;
            Err(err)
        }
    }
}
