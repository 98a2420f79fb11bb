//! Password-reset tokens. Only a MAC of each token is stored (keyed by
//! `reset_token.key`, computed by the caller), with a digest of the
//! password hash it was issued against: a reset token stops working when
//! the password changes by any other way, when a newer token is issued,
//! once used, and after its expiry.

use sqlx::Row;

use crate::StoreError;
use crate::store::Store;

/// What consuming a reset token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetUse {
    /// Valid and now used: the account and the binding it was issued with.
    Fresh {
        /// The account.
        user_id: String,
        /// Digest of the password hash at issue time.
        binding: String,
    },
    /// It was used before.
    Used {
        /// The account.
        user_id: String,
    },
    /// Unknown, superseded or expired.
    Unknown,
}

impl Store {
    /// Stores a new reset token for a user, replacing any earlier unused
    /// one (only the newest token works).
    pub async fn insert_password_reset(
        &self,
        token_mac: &str,
        user_id: &str,
        binding: &str,
        created_by: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO password_resets (token_mac, user_id, binding, created_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_mac)
        .bind(user_id)
        .bind(binding)
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a reset token once: of concurrent uses exactly one gets
    /// [`ResetUse::Fresh`].
    pub async fn consume_password_reset(
        &self,
        token_mac: &str,
        now: i64,
    ) -> Result<ResetUse, StoreError> {
        let fresh = sqlx::query(
            "UPDATE password_resets SET used_at = $2 \
             WHERE token_mac = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id, binding",
        )
        .bind(token_mac)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = fresh {
            return Ok(ResetUse::Fresh {
                user_id: row.try_get("user_id")?,
                binding: row.try_get("binding")?,
            });
        }
        let used = sqlx::query(
            "SELECT user_id FROM password_resets WHERE token_mac = $1 AND used_at IS NOT NULL",
        )
        .bind(token_mac)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match used {
            Some(row) => ResetUse::Used {
                user_id: row.try_get("user_id")?,
            },
            None => ResetUse::Unknown,
        })
    }

    /// Drops a user's unused reset tokens (after their password changed
    /// by another way); returns how many.
    pub async fn drop_password_resets(&self, user_id: &str) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
