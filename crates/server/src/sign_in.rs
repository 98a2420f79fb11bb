//! The HTTP answers of the sign-in steps ([`cryptobot_service::sign_in`])
//! and of second-factor checks ([`cryptobot_service::mfa`]).

use cryptobot_service::mfa::CodeError;
use cryptobot_service::sign_in::StepError;

use crate::problem::{ApiError, Kind};

/// The answer to any failed second-factor code.
pub fn invalid_code() -> ApiError {
    ApiError::new(
        Kind::InvalidMfa,
        "the code is wrong, expired or already used; use the current code from your authenticator or an unused backup code",
    )
}

impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> ApiError {
        match e {
            CodeError::Invalid => invalid_code(),
            CodeError::Unreadable => ApiError::internal(),
            CodeError::Store(s) => s.into(),
        }
    }
}

/// The answer to a failed password step: `refused()` when the password
/// was wrong (the step's own answer), 503 when too many are checked at
/// once.
pub fn step_answer(e: StepError, refused: impl FnOnce() -> ApiError) -> ApiError {
    match e {
        StepError::Refused => refused(),
        StepError::Busy => {
            ApiError::new(Kind::Busy, "too many sign-ins at once; retry shortly").retry_after(1)
        }
        StepError::Internal => ApiError::internal(),
        StepError::Store(s) => s.into(),
    }
}

/// Re-checks the signed-in caller's own password before a sensitive step
/// (changing it, enrolling or removing MFA, ending every session): a wrong
/// one counts towards the lockout, is audited as `event` with reason
/// `reason`, and answers 422 naming `field`.
pub async fn recheck_own_password(
    state: &crate::state::AppState,
    caller: &crate::extract::Caller,
    password: secrecy::SecretString,
    now: i64,
    (event, reason, field): (&str, &str, &'static str),
) -> Result<(), ApiError> {
    let failed = cryptobot_service::sign_in::Failed {
        event,
        reason,
        lockout: true,
    };
    state
        .sign_in()
        .recheck_password(
            Some(&caller.user),
            password,
            &caller.who(),
            caller.client,
            now,
            failed,
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            step_answer(e, || {
                ApiError::invalid_field(field, format!("the {} is wrong", field.replace('_', " ")))
            })
        })
}
