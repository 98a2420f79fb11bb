//! Account operations shared by the HTTP API and the `cryptobot user`
//! commands, so both enforce the same rules and write the same audit
//! records.

use cryptobot_auth::{PasswordCheck, PasswordHasher, PasswordPolicy, Role};
use cryptobot_config::Settings;
use cryptobot_store::{NewUser, Store, StoreError, User};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;

use crate::audit::{Who, record_audit};
use crate::clock::now;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username does not follow the naming rule.
    #[error(
        "invalid username: use 1-64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    )]
    BadUsername,
    /// The role is not one of ours.
    #[error("unknown role `{0}`: use one of admin, trader, viewer, auditor")]
    BadRole(String),
    /// No such user.
    #[error("no user named `{0}`")]
    NoSuchUser(String),
    /// The username is taken.
    #[error("a user named `{0}` already exists")]
    Exists(String),
    /// The password breaks the policy.
    #[error("the password does not meet the policy: {0}")]
    Policy(cryptobot_auth::PolicyViolations),
    /// The password was used recently.
    #[error("the password was used recently; choose one not among the last {0}")]
    Reused(u32),
    /// The current password given is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account as administrators see it (never the password hash): what
/// `GET /api/v1/users` answers and `cryptobot user list` prints.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Account name.
    pub username: String,
    /// admin, trader, viewer or auditor.
    pub role: String,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Locked by failed sign-ins right now.
    pub locked: bool,
    /// End of the lock (unix seconds), if locked.
    pub locked_until: Option<i64>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last successful sign-in (unix seconds).
    pub last_login_at: Option<i64>,
    /// Last password change (unix seconds).
    pub password_changed_at: i64,
    /// A confirmed authenticator is enrolled.
    pub mfa_enabled: bool,
}

impl UserView {
    /// The view of `u` at `now`.
    pub fn of(u: User, now: i64) -> Self {
        let locked_until = u.locked_until.filter(|t| *t > now);
        UserView {
            locked: locked_until.is_some(),
            locked_until,
            username: u.username,
            role: u.role,
            disabled: u.disabled,
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            password_changed_at: u.password_changed_at,
        }
    }
}

/// Whether a password set at `changed_at` has expired
/// (`security.password_policy.max_age_days`; 0 = never).
pub fn password_expired(settings: &Settings, changed_at: i64, now: i64) -> bool {
    let days = i64::from(settings.security.password_policy.max_age_days);
    days > 0 && now > changed_at.saturating_add(days * 86_400)
}

/// Checks the username rule: 1-64 of `a-z 0-9 . _ -`, first a letter or digit.
pub fn valid_username(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// Parses a role name.
pub fn parse_role(role: &str) -> Result<Role, AccountError> {
    role.parse::<Role>()
        .map_err(|_| AccountError::BadRole(role.chars().take(32).collect()))
}

/// The password policy from the configuration.
pub fn policy_from(settings: &Settings) -> PasswordPolicy {
    let p = &settings.security.password_policy;
    PasswordPolicy {
        min_length: p.min_length as usize,
        require_upper: p.require_uppercase,
        require_lower: p.require_lowercase,
        require_digit: p.require_digit,
        require_special: p.require_special,
    }
}

/// Everything the operations need.
pub struct Accounts<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Hashing.
    pub hasher: &'a PasswordHasher,
    /// Rules.
    pub policy: &'a PasswordPolicy,
    /// Configuration.
    pub settings: &'a Settings,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))
}

impl Accounts<'_> {
    async fn user(&self, name: &str) -> Result<User, AccountError> {
        self.store
            .user_by_name(name)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(name.chars().take(64).collect()))
    }

    /// Creates a user after checking name, role and password policy.
    pub async fn create(
        &self,
        who: &Who,
        username: &str,
        role: &str,
        password: SecretString,
    ) -> Result<User, AccountError> {
        if !valid_username(username) {
            return Err(AccountError::BadUsername);
        }
        let role = parse_role(role)?;
        self.policy
            .check(&password, username)
            .map_err(AccountError::Policy)?;
        let hasher = self.hasher.clone();
        let hash = blocking(move || hasher.hash(&password))
            .await?
            .map_err(|e| AccountError::Hash(e.to_string()))?;
        let user = self
            .store
            .create_user(&NewUser {
                username: username.to_string(),
                role: role.to_string(),
                password_hash: hash,
                now: now(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::Exists(username.to_string()),
                other => AccountError::Store(other),
            })?;
        record_audit(
            self.store,
            "user_created",
            who,
            Some(username),
            "ok",
            json!({"role": role.to_string()}),
        )
        .await;
        Ok(user)
    }

    /// Disables or enables a user; disabling ends every session.
    pub async fn set_disabled(
        &self,
        who: &Who,
        username: &str,
        disabled: bool,
    ) -> Result<User, AccountError> {
        let user = self.user(username).await?;
        self.store.set_disabled(&user.id, disabled).await?;
        let mut ended = Vec::new();
        if disabled {
            ended = self
                .store
                .end_user_sessions(&user.id, None, "user_disabled", now())
                .await?;
        }
        let event = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        record_audit(
            self.store,
            event,
            who,
            Some(username),
            "ok",
            json!({"sessions_ended": ended.len()}),
        )
        .await;
        self.user(username).await
    }

    /// Changes a user's role.
    pub async fn set_role(
        &self,
        who: &Who,
        username: &str,
        role: &str,
    ) -> Result<User, AccountError> {
        let role = parse_role(role)?;
        let user = self.user(username).await?;
        self.store.set_role(&user.id, &role.to_string()).await?;
        record_audit(
            self.store,
            "user_role_changed",
            who,
            Some(username),
            "ok",
            json!({"from": user.role, "to": role.to_string()}),
        )
        .await;
        self.user(username).await
    }

    /// Removes a user's MFA (lost device); audited as `mfa_reset`.
    pub async fn reset_mfa(&self, who: &Who, username: &str) -> Result<bool, AccountError> {
        let user = self.user(username).await?;
        let had = self.store.mfa_remove(&user.id).await?;
        record_audit(
            self.store,
            "mfa_reset",
            who,
            Some(username),
            "ok",
            json!({"was_enabled": had}),
        )
        .await;
        Ok(had)
    }

    /// Clears a lockout.
    pub async fn unlock(&self, who: &Who, username: &str) -> Result<User, AccountError> {
        let user = self.user(username).await?;
        self.store.unlock(&user.id).await?;
        record_audit(
            self.store,
            "user_unlocked",
            who,
            Some(username),
            "ok",
            json!({"was_locked_until": user.locked_until}),
        )
        .await;
        self.user(username).await
    }

    /// Sets a new password after the policy and reuse checks; ends every
    /// session except `keep_session`. Returns the ended session ids.
    pub async fn set_password(
        &self,
        who: &Who,
        user: &User,
        new_password: SecretString,
        keep_session: Option<&str>,
    ) -> Result<Vec<String>, AccountError> {
        self.policy
            .check(&new_password, &user.username)
            .map_err(AccountError::Policy)?;
        let reuse = self.settings.security.password_policy.prevent_reuse;
        if reuse > 0 {
            let history = self
                .store
                .password_history(&user.id, reuse as usize)
                .await?;
            let hasher = self.hasher.clone();
            let candidate = new_password.clone();
            let reused = blocking(move || {
                history.iter().any(|old| {
                    matches!(hasher.verify(&candidate, old), PasswordCheck::Match { .. })
                })
            })
            .await?;
            if reused {
                return Err(AccountError::Reused(reuse));
            }
        }
        let hasher = self.hasher.clone();
        let hash = blocking(move || hasher.hash(&new_password))
            .await?
            .map_err(|e| AccountError::Hash(e.to_string()))?;
        let now = now();
        self.store
            .set_password(&user.id, &hash, now, reuse.max(1) as usize)
            .await?;
        let ended = self
            .store
            .end_user_sessions(&user.id, keep_session, "password_changed", now)
            .await?;
        record_audit(
            self.store,
            "password_changed",
            who,
            Some(&user.username),
            "ok",
            json!({"sessions_ended": ended.len()}),
        )
        .await;
        Ok(ended)
    }
}
