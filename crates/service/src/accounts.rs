//! Account operations shared by the HTTP API and the `cryptobot user`
//! commands, so both enforce the same rules and write the same audit
//! records.

use cryptobot_auth::{
    PasswordCheck, PasswordHasher, PasswordPolicy, ResetKey, Role, new_reset_token,
};
use cryptobot_config::Settings;
use cryptobot_store::{DeletedUser, NewUser, ResetUse, Store, StoreError, User, UserActivity};
use secrecy::{ExposeSecret, SecretString};
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
    #[error("unknown role: use one of admin, trader, viewer, auditor")]
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
    /// The reset token is unknown, superseded, expired, or for a password
    /// that has changed since.
    #[error(
        "the reset token is unknown, expired or no longer valid; ask an administrator for a new one"
    )]
    InvalidResetToken,
    /// The reset token was used before.
    #[error("the reset token was already used; ask an administrator for a new one")]
    ResetTokenUsed,
    /// The account is disabled.
    #[error("the account `{0}` is disabled")]
    Disabled(String),
    /// Deleting it would leave no enabled administrator.
    #[error("`{0}` is the last enabled administrator; make another admin first")]
    LastAdmin(String),
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
    /// Whole days since the password was set.
    pub password_age_days: i64,
    /// Open sessions (not ended, expired or idle).
    pub active_sessions: i64,
    /// Usable service API keys (not revoked, expired or suspended).
    pub active_api_keys: i64,
    /// The latest sign-in, session request or service-key call (unix
    /// seconds).
    pub last_used_at: Option<i64>,
    /// Whole days since `last_used_at` (since creation when never used).
    pub days_since_last_use: i64,
}

impl UserView {
    /// The view of `u` at `now`, without activity figures (zero).
    pub fn of(u: User, now: i64) -> Self {
        Self::with_activity(u, &UserActivity::default(), now)
    }

    /// The view of `u` with its `activity` at `now`.
    pub fn with_activity(u: User, activity: &UserActivity, now: i64) -> Self {
        let locked_until = u.locked_until.filter(|t| *t > now);
        let last_used_at = [
            u.last_login_at,
            activity.last_session_seen,
            activity.last_key_use,
        ]
        .into_iter()
        .flatten()
        .max();
        let days = |since: i64| (now - since).max(0) / 86_400;
        UserView {
            locked: locked_until.is_some(),
            locked_until,
            password_age_days: days(u.password_changed_at),
            days_since_last_use: days(last_used_at.unwrap_or(u.created_at)),
            last_used_at,
            active_sessions: activity.active_sessions,
            active_api_keys: activity.active_api_keys,
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

struct ChangedPassword {
    ended: Vec<String>,
    suspended: Vec<String>,
}

impl From<ChangedPassword> for Contained {
    fn from(c: ChangedPassword) -> Contained {
        Contained {
            sessions_ended: c.ended.len(),
            api_keys_suspended: c.suspended,
        }
    }
}

/// Why `config/secrets/reset_token.key` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the password-reset key {path}: {why}")]
pub struct ResetKeyError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

impl ResetKeyError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        "run `cryptobot secure-config` to create it (32 random bytes, mode 0600, owned by the service account)"
    }
}

/// Reads the key of password-reset tokens (`config/secrets/reset_token.key`).
pub fn load_reset_key(layout: &cryptobot_config::Layout) -> Result<ResetKey, ResetKeyError> {
    let path = layout.reset_token_key();
    let fail = |why: String| ResetKeyError {
        path: path.display().to_string(),
        why,
    };
    let bytes = zeroize::Zeroizing::new(std::fs::read(&path).map_err(|e| fail(e.to_string()))?);
    ResetKey::from_bytes(&bytes).map_err(|e| fail(e.to_string()))
}

/// Why `config/secrets/password_pepper.key` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the password pepper {path}: {why}")]
pub struct PepperLoadError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

impl PepperLoadError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        "restore password_pepper.key from your backup (every password hashed with it depends on it); only while no user exists, delete it and run `cryptobot secure-config`"
    }
}

/// `base` with the installation's pepper (`config/secrets/password_pepper.key`)
/// when the file exists: new hashes are peppered and older ones are
/// upgraded at the next successful sign-in. `None` as the second value
/// when there is no pepper yet (`cryptobot secure-config` makes one).
pub fn peppered_hasher(
    layout: &cryptobot_config::Layout,
    base: PasswordHasher,
) -> Result<(PasswordHasher, bool), PepperLoadError> {
    let path = layout.password_pepper();
    let fail = |why: String| PepperLoadError {
        path: path.display().to_string(),
        why,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((base, false)),
        Err(e) => return Err(fail(e.to_string())),
    };
    let pepper = cryptobot_auth::Pepper::parse(&bytes).map_err(|e| fail(e.to_string()))?;
    let hasher = base.with_pepper(pepper).map_err(|e| fail(e.to_string()))?;
    Ok((hasher, true))
}

/// Minutes a password-reset token stays valid.
pub const RESET_TOKEN_MINUTES: i64 = 15;

/// A password-reset token as issued (shown once).
#[derive(Debug)]
pub struct IssuedReset {
    /// The token; only its MAC is stored.
    pub token: SecretString,
    /// The account it resets.
    pub username: String,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// What a credential change ended and suspended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Contained {
    /// Sessions ended.
    pub sessions_ended: usize,
    /// Service API keys suspended (ids).
    pub api_keys_suspended: Vec<String>,
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

    /// Every account with its activity (the access review), by name.
    pub async fn review(&self) -> Result<Vec<UserView>, AccountError> {
        let now = now();
        let idle = i64::from(self.settings.security.session.idle_timeout_seconds);
        let activity = self.store.user_activity(now, idle).await?;
        let none = UserActivity::default();
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| {
                let a = activity.get(&u.id).unwrap_or(&none).clone();
                UserView::with_activity(u, &a, now)
            })
            .collect())
    }

    /// Deletes an account: credentials, sessions, MFA, service keys and
    /// grants go; the audit trail keeps its events under the pseudonym
    /// `deleted:<user id>`. The last enabled administrator stays.
    pub async fn delete(
        &self,
        who: &Who,
        username: &str,
    ) -> Result<(String, DeletedUser), AccountError> {
        let user = self.user(username).await?;
        let pseudonym = format!("deleted:{}", user.id);
        let deleted = self
            .store
            .delete_user(&user.id, &user.username, &pseudonym)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::LastAdmin(user.username.clone()),
                other => AccountError::Store(other),
            })?;
        record_audit(
            self.store,
            "user_deleted",
            who,
            Some(&pseudonym),
            "ok",
            json!({
                "role": user.role,
                "sessions": deleted.sessions,
                "api_keys": deleted.api_keys,
                "grants": deleted.grants,
                "audit_records_pseudonymised": deleted.audit_records,
                "notify": true,
            }),
        )
        .await;
        Ok((pseudonym, deleted))
    }

    /// Everything stored about `user` that they may see, as JSON: the
    /// account, open sessions, service keys (never secrets), the exchange
    /// keys granted to them, and the audit records by or about them.
    pub async fn export(&self, user: &User) -> Result<serde_json::Value, AccountError> {
        let now = now();
        let sessions = self.store.list_sessions(&user.id, now).await?;
        let keys = self.store.list_service_keys(Some(&user.id)).await?;
        let granted = self
            .store
            .exchange_keys_granted(&cryptobot_store::Grantee::User(user.id.clone()))
            .await?;
        let audit = self.store.audit_of_user(&user.username, 100_000).await?;
        let totp = self.store.totp(&user.id).await?;
        let backup_left = self.store.backup_codes_left(&user.id).await?;
        Ok(json!({
            "exported_at": now,
            "account": {
                "username": user.username,
                "role": user.role,
                "disabled": user.disabled,
                "created_at": user.created_at,
                "last_login_at": user.last_login_at,
                "password_changed_at": user.password_changed_at,
                "mfa": {
                    "totp_enabled": totp.as_ref().is_some_and(|t| t.confirmed),
                    "backup_codes_left": backup_left,
                },
            },
            "sessions": sessions.iter().map(|s| json!({
                "id": s.id,
                "client_addr": s.client_addr,
                "user_agent": s.user_agent,
                "created_at": s.created_at,
                "last_seen": s.last_seen,
                "expires_at": s.expires_at,
            })).collect::<Vec<_>>(),
            "api_keys": keys.iter().map(|k| crate::api_keys::ServiceKeyView::of(k, now)).collect::<Vec<_>>(),
            "exchange_keys_granted": granted,
            "audit": audit.iter().map(|r| json!({
                "id": r.id,
                "at_ms": r.event.at_ms,
                "event": r.event.event,
                "actor": r.event.actor,
                "subject": r.event.subject,
                "client_addr": r.event.client_addr,
                "outcome": r.event.outcome,
                "details": r.event.details,
            })).collect::<Vec<_>>(),
        }))
    }

    /// After a credential change of `user` (`reason`): suspends the user's
    /// service API keys when `security.api_keys.suspend_on_credential_change`
    /// is on (audited `api_keys_suspended`, for the user to hear about).
    pub async fn suspend_keys(
        &self,
        who: &Who,
        user: &User,
        reason: &str,
    ) -> Result<Vec<String>, AccountError> {
        if !self.settings.security.api_keys.suspend_on_credential_change {
            return Ok(Vec::new());
        }
        let ids = self
            .store
            .suspend_user_service_keys(&user.id, reason, now())
            .await?;
        if !ids.is_empty() {
            record_audit(
                self.store,
                "api_keys_suspended",
                who,
                Some(&user.username),
                "ok",
                json!({"keys": ids, "reason": reason, "notify": true}),
            )
            .await;
        }
        Ok(ids)
    }

    /// Ends every session of `username` but `keep` (audited
    /// `sessions_ended_all`).
    pub async fn end_sessions(
        &self,
        who: &Who,
        username: &str,
        keep: Option<&str>,
        reason: &str,
    ) -> Result<Vec<String>, AccountError> {
        let user = self.user(username).await?;
        let ended = self
            .store
            .end_user_sessions(&user.id, keep, reason, now())
            .await?;
        record_audit(
            self.store,
            "sessions_ended_all",
            who,
            Some(&user.username),
            "ok",
            json!({"sessions_ended": ended.len(), "reason": reason, "kept_current": keep.is_some()}),
        )
        .await;
        Ok(ended)
    }

    /// Issues a single-use password-reset token for `username`, valid
    /// [`RESET_TOKEN_MINUTES`] and bound to the account's current password
    /// hash; an earlier unused token stops working.
    pub async fn issue_reset(
        &self,
        who: &Who,
        username: &str,
        key: &ResetKey,
    ) -> Result<IssuedReset, AccountError> {
        let user = self.user(username).await?;
        if user.disabled {
            return Err(AccountError::Disabled(user.username));
        }
        let (token, mac) = new_reset_token(key).map_err(|e| AccountError::Hash(e.to_string()))?;
        let now = now();
        let expires_at = now + RESET_TOKEN_MINUTES * 60;
        let binding = key.binding(&user.id, &user.password_hash);
        self.store
            .insert_password_reset(
                &mac,
                &user.id,
                &binding,
                who.actor.as_deref(),
                now,
                expires_at,
            )
            .await?;
        record_audit(
            self.store,
            "password_reset_issued",
            who,
            Some(&user.username),
            "ok",
            json!({"expires_at": expires_at, "notify": true}),
        )
        .await;
        Ok(IssuedReset {
            token,
            username: user.username,
            expires_at,
        })
    }

    /// Sets a new password with a reset token: once, before its expiry, and
    /// only while the password it was issued against is unchanged. Every
    /// session ends, refresh tokens die with them, the user's service API
    /// keys are suspended, and locks are lifted; MFA stays enrolled.
    pub async fn complete_reset(
        &self,
        who: &Who,
        key: &ResetKey,
        token: &SecretString,
        new_password: SecretString,
    ) -> Result<(User, Contained), AccountError> {
        let now = now();
        let mac = key.token_mac(token.expose_secret());
        let (user_id, binding) = match self.store.consume_password_reset(&mac, now).await? {
            ResetUse::Fresh { user_id, binding } => (user_id, binding),
            ResetUse::Used { user_id } => {
                let name = self.store.user_by_id(&user_id).await?.map(|u| u.username);
                record_audit(
                    self.store,
                    "password_reset_failed",
                    who,
                    name.as_deref(),
                    "denied",
                    json!({"reason": "token_reused", "notify": true}),
                )
                .await;
                return Err(AccountError::ResetTokenUsed);
            }
            ResetUse::Unknown => {
                record_audit(
                    self.store,
                    "password_reset_failed",
                    who,
                    None,
                    "denied",
                    json!({"reason": "unknown_or_expired"}),
                )
                .await;
                return Err(AccountError::InvalidResetToken);
            }
        };
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(AccountError::InvalidResetToken)?;
        if user.disabled || !key.binding_matches(&binding, &user.id, &user.password_hash) {
            record_audit(
                self.store,
                "password_reset_failed",
                who,
                Some(&user.username),
                "denied",
                json!({"reason": if user.disabled { "disabled" } else { "password_changed_since" }}),
            )
            .await;
            return Err(AccountError::InvalidResetToken);
        }
        let actor = Who {
            actor: Some(user.username.clone()),
            client: who.client,
        };
        let contained: Contained = self
            .change_password(&actor, &user, new_password, None, "password_reset")
            .await?
            .into();
        self.store.unlock(&user.id).await?;
        let user = self
            .store
            .user_by_id(&user.id)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(user.username.clone()))?;
        Ok((user, contained))
    }

    /// Disables or enables a user; disabling ends every session and
    /// suspends the user's service API keys (enabling revives neither).
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
            self.suspend_keys(who, &user, "user_disabled").await?;
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
            json!({"from": user.role, "to": role.to_string(), "notify": role == Role::Admin}),
        )
        .await;
        self.user(username).await
    }

    /// Removes a user's MFA (lost device), ends every session of theirs and
    /// suspends their service API keys; audited as `mfa_reset`.
    pub async fn reset_mfa(
        &self,
        who: &Who,
        username: &str,
    ) -> Result<(bool, Contained), AccountError> {
        let user = self.user(username).await?;
        let had = self.store.mfa_remove(&user.id).await?;
        let ended = self
            .store
            .end_user_sessions(&user.id, None, "mfa_reset", now())
            .await?;
        let suspended = self.suspend_keys(who, &user, "mfa_reset").await?;
        record_audit(
            self.store,
            "mfa_reset",
            who,
            Some(username),
            "ok",
            json!({"was_enabled": had, "sessions_ended": ended.len(), "notify": true}),
        )
        .await;
        Ok((
            had,
            Contained {
                sessions_ended: ended.len(),
                api_keys_suspended: suspended,
            },
        ))
    }

    /// The user removed their own second factor (password and code
    /// checked by the caller): their service API keys are suspended.
    pub async fn mfa_disabled(&self, who: &Who, user: &User) -> Result<Contained, AccountError> {
        self.store.mfa_remove(&user.id).await?;
        record_audit(
            self.store,
            "mfa_disabled",
            who,
            Some(&user.username),
            "ok",
            json!({"notify": true}),
        )
        .await;
        let suspended = self.suspend_keys(who, user, "mfa_disabled").await?;
        Ok(Contained {
            sessions_ended: 0,
            api_keys_suspended: suspended,
        })
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
    /// session except `keep_session` and suspends the user's service API
    /// keys.
    pub async fn set_password(
        &self,
        who: &Who,
        user: &User,
        new_password: SecretString,
        keep_session: Option<&str>,
    ) -> Result<Contained, AccountError> {
        Ok(self
            .change_password(who, user, new_password, keep_session, "password_changed")
            .await?
            .into())
    }

    async fn change_password(
        &self,
        who: &Who,
        user: &User,
        new_password: SecretString,
        keep_session: Option<&str>,
        reason: &str,
    ) -> Result<ChangedPassword, AccountError> {
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
            .end_user_sessions(&user.id, keep_session, reason, now)
            .await?;
        self.store.drop_password_resets(&user.id).await?;
        record_audit(
            self.store,
            reason,
            who,
            Some(&user.username),
            "ok",
            json!({"sessions_ended": ended.len(), "notify": true}),
        )
        .await;
        let suspended = self.suspend_keys(who, user, reason).await?;
        Ok(ChangedPassword { ended, suspended })
    }
}
