//! Multi-factor authentication state: the sealed TOTP secret, the last
//! used step (replay guard), backup-code MACs and sign-in challenges.
//! Nothing here is stored in plaintext: the caller seals and hashes.

use sqlx::Row;

use crate::StoreError;
use crate::store::Store;

/// A user's TOTP enrollment.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed by the caller (AEAD bound to the user id).
    pub sealed_secret: String,
    /// Whether a code confirmed the enrollment.
    pub confirmed: bool,
    /// The newest TOTP step accepted, if any.
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("sealed_secret", &"<redacted>")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A pending second-factor challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Whose sign-in it is.
    pub user_id: String,
    /// Client address of the password step.
    pub client_addr: String,
    /// User agent of the password step.
    pub user_agent: String,
}

impl Store {
    /// The user's TOTP enrollment, if any.
    pub async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT sealed_secret, confirmed, last_step FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(TotpRecord {
                sealed_secret: r.try_get(0)?,
                confirmed: r.try_get::<i64, _>(1)? != 0,
                last_step: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Starts (or restarts) an unconfirmed enrollment. Fails with
    /// [`StoreError::Conflict`]`("mfa")` when a confirmed one exists.
    pub async fn totp_begin(
        &self,
        user_id: &str,
        sealed: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let confirmed: Option<i64> =
            sqlx::query("SELECT confirmed FROM mfa_totp WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        if confirmed == Some(1) {
            return Err(StoreError::Conflict("mfa".into()));
        }
        sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_totp (user_id, sealed_secret, confirmed, created_at) \
             VALUES ($1, $2, 0, $3)",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Confirms the pending enrollment with the step of the code that
    /// proved it, and stores the backup-code hashes (replacing any).
    /// Returns false if there was nothing pending.
    pub async fn totp_confirm(
        &self,
        user_id: &str,
        step: i64,
        backup_hashes: &[String],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE mfa_totp SET confirmed = 1, confirmed_at = $2, last_step = $3 \
             WHERE user_id = $1 AND confirmed = 0",
        )
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET mfa_enabled = 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        replace_codes(&mut tx, user_id, backup_hashes, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records `step` as used, atomically: false if it (or a later step)
    /// was already used — a replay.
    pub async fn totp_use_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND confirmed = 1 \
             AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Removes the user's TOTP and backup codes. Returns whether MFA was on.
    pub async fn mfa_remove(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let had = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET mfa_enabled = 0 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(had)
    }

    /// Replaces the user's backup codes.
    pub async fn backup_codes_replace(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        replace_codes(&mut tx, user_id, hashes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a backup code, atomically: false if unknown or already used.
    pub async fn backup_code_use(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE mfa_backup_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Unused backup codes left.
    pub async fn backup_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }

    /// Stores a sign-in challenge by the digest of its token.
    pub async fn challenge_insert(
        &self,
        hash: &str,
        c: &Challenge,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mfa_challenges (hash, user_id, client_addr, user_agent, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash)
        .bind(&c.user_id)
        .bind(&c.client_addr)
        .bind(&c.user_agent)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An open (unused, unexpired) challenge.
    pub async fn challenge(&self, hash: &str, now: i64) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, client_addr, user_agent FROM mfa_challenges \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Challenge {
                user_id: r.try_get(0)?,
                client_addr: r.try_get(1)?,
                user_agent: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Marks a challenge used, atomically: false if it was already used or
    /// has expired (exactly one of concurrent completions wins).
    pub async fn challenge_consume(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE mfa_challenges SET used_at = $2 \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Reserves one code attempt on an open challenge, in one conditional
    /// update: true while fewer than `max` attempts were made, so of any
    /// number of concurrent guesses at most `max` are ever checked.
    pub async fn challenge_attempt(
        &self,
        hash: &str,
        now: i64,
        max: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE mfa_challenges SET attempts = attempts + 1 \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3",
        )
        .bind(hash)
        .bind(now)
        .bind(max)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Reserves one step-up attempt of an open session, in one conditional
    /// update: the attempt's number (1 = first since the last success), or
    /// `None` once `max` attempts were made.
    pub async fn step_up_attempt(
        &self,
        session_id: &str,
        max: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions SET step_up_failures = step_up_failures + 1 \
             WHERE id = $1 AND ended_at IS NULL AND step_up_failures < $2 \
             RETURNING step_up_failures",
        )
        .bind(session_id)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    /// Records that the session completed a second factor at `now` (and
    /// forgets its failed step-up attempts).
    pub async fn session_mfa_done(&self, session_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET mfa_at = $2, step_up_failures = 0 WHERE id = $1")
            .bind(session_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn replace_codes(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO mfa_backup_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(h)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
