//! Service API key operations shared by the HTTP API and the
//! `cryptobot apikey` commands, so both enforce the same rules and write
//! the same audit records. Who may do what is decided by the caller (the
//! route or the CLI); this module decides what a valid key is.

use cryptobot_auth::{Role, Scope, ScopeSet, new_api_key, new_api_key_secret};
use cryptobot_config::Settings;
use cryptobot_store::{KeyInsert, NewServiceKey, ServiceKey, Store, StoreError, User};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;

use crate::audit::{Who, record_audit};

/// Longest key lifetime: ten years.
pub const MAX_LIFETIME_SECS: i64 = 3650 * 86_400;
/// Shortest key lifetime: one hour.
pub const MIN_LIFETIME_SECS: i64 = 3600;
/// Lifetime of a key created without one.
pub const DEFAULT_LIFETIME_DAYS: u32 = 90;

/// Why a service key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceKeyError {
    /// The name does not follow the rule.
    #[error("invalid key name: use 1-64 characters a-z, A-Z, 0-9, '.', '_', '-' or ' '")]
    BadName,
    /// No scope was given.
    #[error("a key needs at least one scope")]
    NoScopes,
    /// A scope name is unknown.
    #[error(transparent)]
    UnknownScope(#[from] cryptobot_auth::UnknownName),
    /// The owner's role does not grant a requested scope.
    #[error(
        "the `{scope}` scope is not granted to {owner}'s role ({role}); a key can only carry scopes its owner has"
    )]
    ScopeBeyondRole {
        /// The scope.
        scope: &'static str,
        /// The owner.
        owner: String,
        /// The owner's role.
        role: String,
    },
    /// The lifetime is outside 1 hour … `security.api_keys.max_lifetime_days`.
    #[error(
        "the key lifetime must be between 1 hour and {max_days} days (security.api_keys.max_lifetime_days)"
    )]
    BadLifetime {
        /// The configured longest lifetime.
        max_days: u32,
    },
    /// The owner already has the maximum number of active keys.
    #[error(
        "{owner} already has {active} active API keys, the most `security.api_keys.max_keys_per_user` allows ({limit})"
    )]
    LimitReached {
        /// The owner.
        owner: String,
        /// Active keys now.
        active: i64,
        /// The configured limit.
        limit: u32,
    },
    /// No key with this id.
    #[error("no API key with id `{0}`")]
    NoSuchKey(String),
    /// The key is revoked or expired: it cannot be rotated.
    #[error("the API key `{0}` is revoked or expired; create a new one")]
    Inactive(String),
    /// The operating system's random source failed.
    #[error("cannot make a key: {0}")]
    Random(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rule for key names: 1-64 of `a-z A-Z 0-9 . _ - space`, not blank.
pub fn valid_key_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._- ".contains(c))
}

/// Parses scope names (each must be known; at least one).
pub fn parse_scopes<S: AsRef<str>>(names: &[S]) -> Result<ScopeSet, ServiceKeyError> {
    let scopes = names
        .iter()
        .map(|n| n.as_ref().trim().parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()?;
    let set = ScopeSet::of(scopes);
    if set.is_empty() {
        return Err(ServiceKeyError::NoScopes);
    }
    Ok(set)
}

/// The scopes of a user's role (none for an unknown role).
pub fn role_scopes(user: &User) -> ScopeSet {
    user.role
        .parse::<Role>()
        .map(ScopeSet::of_role)
        .unwrap_or_default()
}

/// A key as listings show it: never a secret or a digest.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceKeyView {
    /// Key id: the `<id>` in `cbk_<id>_<secret>`.
    pub id: String,
    /// What the key is for.
    pub name: String,
    /// The owner's account name.
    pub owner: String,
    /// Scopes the key carries (always narrowed to the owner's role when used).
    pub scopes: Vec<String>,
    /// `active`, `suspended`, `revoked` or `expired`.
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

impl ServiceKeyView {
    /// The view of `k` at `now`.
    pub fn of(k: &ServiceKey, now: i64) -> Self {
        let status = if k.revoked_at.is_some() {
            "revoked"
        } else if !k.is_active(now) {
            "expired"
        } else if k.suspended_at.is_some() {
            "suspended"
        } else {
            "active"
        };
        ServiceKeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            owner: k.username.clone(),
            scopes: ScopeSet::parse(&k.scopes)
                .scopes()
                .into_iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            status: status.to_string(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            rotated_at: k.rotated_at,
            previous_valid_until: k.previous_valid_until.filter(|t| *t > now),
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just made or rotated: the only time its secret exists outside the
/// client.
#[derive(Debug)]
pub struct IssuedKey {
    /// `cbk_<id>_<secret>`.
    pub key: SecretString,
    /// The stored key.
    pub record: ServiceKey,
}

/// Everything the operations need.
pub struct ServiceKeys<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Configuration (`security.api_keys`).
    pub settings: &'a Settings,
}

fn lifetime_ok(secs: i64, settings: &Settings) -> Result<(), ServiceKeyError> {
    let max_days = settings.security.api_keys.max_lifetime_days;
    let max = (i64::from(max_days) * 86_400).min(MAX_LIFETIME_SECS);
    if (MIN_LIFETIME_SECS..=max).contains(&secs) {
        Ok(())
    } else {
        Err(ServiceKeyError::BadLifetime { max_days })
    }
}

impl ServiceKeys<'_> {
    /// Lifts the suspension of a key (an explicit, audited decision after
    /// its owner's credentials changed). `false` if the key is revoked,
    /// expired or not suspended.
    pub async fn reactivate(
        &self,
        who: &Who,
        key: &ServiceKey,
        now: i64,
    ) -> Result<bool, ServiceKeyError> {
        if !key.is_active(now) || !self.store.reactivate_service_key(&key.id).await? {
            return Ok(false);
        }
        record_audit(
            self.store,
            "api_key_reactivated",
            who,
            Some(&key.id),
            "ok",
            json!({"key": key.id, "owner": key.username, "was_suspended_for": key.suspend_reason}),
        )
        .await;
        Ok(true)
    }

    /// Makes a key for `owner` with `scopes` (which the owner's role must
    /// grant), valid for `lifetime_secs` from `now`. Enforces
    /// `max_keys_per_user`. Audited as `api_key_created`.
    pub async fn create(
        &self,
        who: &Who,
        owner: &User,
        name: &str,
        scopes: ScopeSet,
        lifetime_secs: i64,
        now: i64,
    ) -> Result<IssuedKey, ServiceKeyError> {
        if !valid_key_name(name) {
            return Err(ServiceKeyError::BadName);
        }
        if scopes.is_empty() {
            return Err(ServiceKeyError::NoScopes);
        }
        let granted = role_scopes(owner);
        if let Some(s) = scopes.scopes().into_iter().find(|s| !granted.contains(*s)) {
            return Err(ServiceKeyError::ScopeBeyondRole {
                scope: s.as_str(),
                owner: owner.username.clone(),
                role: owner.role.clone(),
            });
        }
        lifetime_ok(lifetime_secs, self.settings)?;
        let limit = self.settings.security.api_keys.max_keys_per_user;
        // A 60-bit random id practically never collides; retry if it does.
        let mut attempts = 0;
        let (fresh, record) = loop {
            attempts += 1;
            let fresh = new_api_key().map_err(|e| ServiceKeyError::Random(e.to_string()))?;
            let new = NewServiceKey {
                id: fresh.id.clone(),
                user_id: owner.id.clone(),
                name: name.to_string(),
                scopes: scopes.to_string(),
                secret_hash: fresh.secret_hash.clone(),
                now,
                expires_at: Some(now + lifetime_secs),
            };
            match self.store.insert_service_key(&new, limit as usize).await {
                Ok(KeyInsert::Created(k)) => break (fresh, *k),
                Ok(KeyInsert::LimitReached { active }) => {
                    record_audit(
                        self.store,
                        "api_key_refused",
                        who,
                        Some(&owner.username),
                        "denied",
                        json!({"reason": "limit_reached", "active": active, "limit": limit, "name": name}),
                    )
                    .await;
                    return Err(ServiceKeyError::LimitReached {
                        owner: owner.username.clone(),
                        active,
                        limit,
                    });
                }
                Err(StoreError::Conflict(_)) if attempts < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        record_audit(
            self.store,
            "api_key_created",
            who,
            Some(&owner.username),
            "success",
            json!({
                "notify": true,
                "key": record.id,
                "name": record.name,
                "scopes": record.scopes,
                "expires_at": record.expires_at,
            }),
        )
        .await;
        Ok(IssuedKey {
            key: fresh.key,
            record,
        })
    }

    /// The key with this id.
    pub async fn get(&self, id: &str) -> Result<ServiceKey, ServiceKeyError> {
        let shown: String = id.chars().take(32).collect();
        if !cryptobot_auth::valid_api_key_id(id) {
            return Err(ServiceKeyError::NoSuchKey(shown));
        }
        self.store
            .service_key(id)
            .await?
            .ok_or(ServiceKeyError::NoSuchKey(shown))
    }

    /// Gives `key` a new secret; the old one keeps working for
    /// `security.api_keys.rotation_grace_hours`. The expiry stays unless
    /// `lifetime_secs` sets a new one from `now`. Audited as
    /// `api_key_rotated`.
    pub async fn rotate(
        &self,
        who: &Who,
        key: &ServiceKey,
        lifetime_secs: Option<i64>,
        now: i64,
    ) -> Result<IssuedKey, ServiceKeyError> {
        if !key.is_active(now) {
            return Err(ServiceKeyError::Inactive(key.id.clone()));
        }
        if let Some(secs) = lifetime_secs {
            lifetime_ok(secs, self.settings)?;
        }
        let expires_at = match lifetime_secs {
            Some(secs) => Some(now + secs),
            None => key.expires_at,
        };
        let grace = i64::from(self.settings.security.api_keys.rotation_grace_hours) * 3600;
        let fresh =
            new_api_key_secret(&key.id).map_err(|e| ServiceKeyError::Random(e.to_string()))?;
        let record = self
            .store
            .rotate_service_key(&key.id, &fresh.secret_hash, now, now + grace, expires_at)
            .await?
            .ok_or_else(|| ServiceKeyError::Inactive(key.id.clone()))?;
        record_audit(
            self.store,
            "api_key_rotated",
            who,
            Some(&key.username),
            "success",
            json!({
                "key": key.id,
                "name": key.name,
                "previous_valid_until": now + grace,
                "expires_at": record.expires_at,
            }),
        )
        .await;
        Ok(IssuedKey {
            key: fresh.key,
            record,
        })
    }

    /// Revokes `key`: both its secrets stop working at once. `false` if it
    /// was already revoked. Audited as `api_key_revoked`.
    pub async fn revoke(
        &self,
        who: &Who,
        key: &ServiceKey,
        now: i64,
    ) -> Result<bool, ServiceKeyError> {
        let done = self.store.revoke_service_key(&key.id, now).await?;
        if done {
            record_audit(
                self.store,
                "api_key_revoked",
                who,
                Some(&key.username),
                "success",
                json!({"key": key.id, "name": key.name}),
            )
            .await;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scopes() {
        assert!(valid_key_name("strategy"));
        assert!(valid_key_name("Grid bot 2.1_x-y"));
        assert!(!valid_key_name(""));
        assert!(!valid_key_name("   "));
        assert!(!valid_key_name("a\nb"));
        assert!(!valid_key_name("ü"));
        assert!(!valid_key_name(&"a".repeat(65)));
        let s = parse_scopes(&["trade:execute", " trade:read"]).unwrap();
        assert_eq!(s.to_string(), "trade:execute trade:read");
        assert!(matches!(
            parse_scopes(&["trade:everything"]),
            Err(ServiceKeyError::UnknownScope(_))
        ));
        assert!(matches!(
            parse_scopes::<&str>(&[]),
            Err(ServiceKeyError::NoScopes)
        ));
    }
}
