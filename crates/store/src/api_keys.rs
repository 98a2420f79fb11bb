//! Service API keys. Only SHA-256 digests of their secrets are stored; the
//! caller makes keys and digests (see `cryptobot_auth::new_api_key`).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::error::conflict_or;
use crate::store::Store;
use crate::util;

/// A service API key as stored. `Debug` never shows the digests.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceKey {
    /// Public key id (the `<id>` of `cbk_<id>_<secret>`).
    pub id: String,
    /// Owner's user id.
    pub user_id: String,
    /// Owner's username.
    pub username: String,
    /// What the key is for (free text, e.g. `strategy`).
    pub name: String,
    /// Space-separated scope names.
    pub scopes: String,
    /// SHA-256 hex of the current secret.
    pub secret_hash: String,
    /// SHA-256 hex of the secret before the last rotation.
    pub previous_hash: Option<String>,
    /// The previous secret is accepted until this time (unix seconds).
    pub previous_valid_until: Option<i64>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry (unix seconds); `None` never expires.
    pub expires_at: Option<i64>,
    /// Time of the last rotation.
    pub rotated_at: Option<i64>,
    /// Time of revocation.
    pub revoked_at: Option<i64>,
    /// Last successful use (updated at most every few seconds).
    pub last_used_at: Option<i64>,
    /// Suspended at this time (a credential change of the owner); it
    /// works again only after an explicit reactivation.
    pub suspended_at: Option<i64>,
    /// Why it was suspended (`password_changed`, `mfa_reset`, …).
    pub suspend_reason: Option<String>,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("secret_hash", &"<redacted>")
            .field(
                "previous_hash",
                &self.previous_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("previous_valid_until", &self.previous_valid_until)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("rotated_at", &self.rotated_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .field("suspended_at", &self.suspended_at)
            .field("suspend_reason", &self.suspend_reason)
            .finish()
    }
}

impl ServiceKey {
    /// Neither revoked nor expired at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

/// Input of [`Store::insert_service_key`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewServiceKey {
    /// Public key id (unique).
    pub id: String,
    /// Owner (must exist).
    pub user_id: String,
    /// What the key is for.
    pub name: String,
    /// Space-separated scope names.
    pub scopes: String,
    /// SHA-256 hex of the secret. Never printed by `Debug`.
    pub secret_hash: String,
    /// Creation time (unix seconds).
    pub now: i64,
    /// Expiry (unix seconds), if any.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for NewServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewServiceKey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("secret_hash", &"<redacted>")
            .field("now", &self.now)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Result of [`Store::insert_service_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInsert {
    /// Stored.
    Created(Box<ServiceKey>),
    /// The owner already holds `active` keys, at or above the limit;
    /// nothing was stored.
    LimitReached {
        /// Active (unrevoked, unexpired) keys of the owner.
        active: i64,
    },
}

/// The columns [`key_from_row`] reads (`k` = service_keys, `u` = users).
macro_rules! key_cols {
    () => {
        "k.id, k.user_id, u.username, k.name, k.scopes, k.secret_hash, k.previous_hash, \
         k.previous_valid_until, k.created_at, k.expires_at, k.rotated_at, k.revoked_at, \
         k.last_used_at, k.suspended_at, k.suspend_reason \
         FROM service_keys k JOIN users u ON u.id = k.user_id"
    };
}

fn key_from_row(row: &AnyRow) -> Result<ServiceKey, StoreError> {
    Ok(ServiceKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        scopes: row.try_get("scopes")?,
        secret_hash: row.try_get("secret_hash")?,
        previous_hash: row.try_get("previous_hash")?,
        previous_valid_until: row.try_get("previous_valid_until")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        rotated_at: row.try_get("rotated_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        suspended_at: row.try_get("suspended_at")?,
        suspend_reason: row.try_get("suspend_reason")?,
    })
}

impl Store {
    /// Stores a key unless its owner already has `max_per_user` active
    /// (unrevoked, unexpired at `new.now`) keys. The count and the insert
    /// run in one write transaction that first locks the owner's row, so
    /// concurrent inserts for one owner cannot exceed the limit.
    ///
    /// Unknown owners fail with [`StoreError::NotFound`]`("user")`, a taken
    /// id with [`StoreError::Conflict`]`("service key id")`.
    pub async fn insert_service_key(
        &self,
        new: &NewServiceKey,
        max_per_user: usize,
    ) -> Result<KeyInsert, StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks the user row (PostgreSQL; SQLite's write lock is already
        // held) so that concurrent creations for one user serialize here.
        let owner = sqlx::query("UPDATE users SET role = role WHERE id = $1")
            .bind(&new.user_id)
            .execute(&mut *tx)
            .await?;
        if owner.rows_affected() == 0 {
            return Err(StoreError::NotFound("user".to_owned()));
        }
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) FROM service_keys WHERE user_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(&new.user_id)
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if active >= util::to_i64(max_per_user) {
            tx.rollback().await?;
            return Ok(KeyInsert::LimitReached { active });
        }
        sqlx::query(
            "INSERT INTO service_keys (id, user_id, name, scopes, secret_hash, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&new.id)
        .bind(&new.user_id)
        .bind(&new.name)
        .bind(&new.scopes)
        .bind(&new.secret_hash)
        .bind(new.now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or("service key id"))?;
        tx.commit().await?;
        self.service_key(&new.id)
            .await?
            .map(|k| KeyInsert::Created(Box::new(k)))
            .ok_or_else(|| StoreError::NotFound("service key".to_owned()))
    }

    /// The key with this id (whatever its state).
    pub async fn service_key(&self, id: &str) -> Result<Option<ServiceKey>, StoreError> {
        sqlx::query(concat!("SELECT ", key_cols!(), " WHERE k.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    /// Every key of one user (`Some`) or of everyone (`None`), revoked and
    /// expired ones included, newest first.
    pub async fn list_service_keys(
        &self,
        user_id: Option<&str>,
    ) -> Result<Vec<ServiceKey>, StoreError> {
        let rows = match user_id {
            Some(uid) => {
                sqlx::query(concat!(
                    "SELECT ",
                    key_cols!(),
                    " WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id"
                ))
                .bind(uid)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    key_cols!(),
                    " ORDER BY u.username, k.created_at DESC, k.id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(key_from_row).collect()
    }

    /// Replaces the secret digest of an active key, atomically: the
    /// current digest becomes the previous one, accepted until
    /// `previous_valid_until` (a digest from an earlier rotation is
    /// dropped); `expires_at` is set as given. Returns the updated key, or
    /// `None` if the key is unknown, revoked or expired at `now`.
    pub async fn rotate_service_key(
        &self,
        id: &str,
        new_hash: &str,
        now: i64,
        previous_valid_until: i64,
        expires_at: Option<i64>,
    ) -> Result<Option<ServiceKey>, StoreError> {
        let done = sqlx::query(
            "UPDATE service_keys SET previous_hash = secret_hash, previous_valid_until = $4, \
             secret_hash = $2, rotated_at = $3, expires_at = $5 \
             WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(id)
        .bind(new_hash)
        .bind(now)
        .bind(previous_valid_until)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.service_key(id).await
    }

    /// Revokes a key (both its secrets stop working); `false` if it is
    /// unknown or already revoked.
    pub async fn revoke_service_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE service_keys SET revoked_at = $2, previous_valid_until = NULL \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a use at `now`, unless one was recorded less than
    /// `every_secs` ago (keeps writes rare under load). True when this call
    /// recorded it — of concurrent first uses, exactly one.
    pub async fn touch_service_key(
        &self,
        id: &str,
        now: i64,
        every_secs: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE service_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at <= $2 - $3)",
        )
        .bind(id)
        .bind(now)
        .bind(every_secs)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Suspends every usable (unrevoked, unexpired, not yet suspended) key
    /// of a user; returns the ids suspended.
    pub async fn suspend_user_service_keys(
        &self,
        user_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE service_keys SET suspended_at = $2, suspend_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL AND suspended_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) RETURNING id",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .fetch_all(&self.pool)
        .await?;
        let mut ids = rows
            .iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect::<Result<Vec<String>, _>>()?;
        ids.sort();
        Ok(ids)
    }

    /// Lifts a key's suspension; `false` if it is unknown, revoked or not
    /// suspended.
    pub async fn reactivate_service_key(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE service_keys SET suspended_at = NULL, suspend_reason = NULL \
             WHERE id = $1 AND revoked_at IS NULL AND suspended_at IS NOT NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
