//! Refresh tokens. Only the SHA-256 hex digest of a token is ever stored.

use sqlx::Row;

use crate::StoreError;
use crate::error::conflict_or;
use crate::model::RefreshUse;
use crate::store::Store;

impl Store {
    /// Stores a refresh token digest for a session. A digest already stored
    /// fails with [`StoreError::Conflict`]`("refresh token")`.
    pub async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(session_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_or("refresh token"))?;
        Ok(())
    }

    /// Uses a refresh token, atomically: of concurrent consumers of one
    /// token exactly one gets [`RefreshUse::Fresh`], the others
    /// [`RefreshUse::Reused`]. An unused token past its expiry yields
    /// [`RefreshUse::Expired`] (and stays unused); a used one yields
    /// `Reused` whatever its expiry.
    pub async fn consume_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        let fresh = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING session_id",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = fresh {
            return Ok(RefreshUse::Fresh {
                session_id: row.try_get(0)?,
            });
        }
        let Some(row) =
            sqlx::query("SELECT session_id, used_at FROM refresh_tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(RefreshUse::Unknown);
        };
        let session_id: String = row.try_get(0)?;
        let used_at: Option<i64> = row.try_get(1)?;
        Ok(match used_at {
            Some(_) => RefreshUse::Reused { session_id },
            None => RefreshUse::Expired { session_id },
        })
    }
}
