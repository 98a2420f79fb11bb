//! Login sessions.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::error::conflict_or;
use crate::model::{NewSession, Session};
use crate::store::Store;

/// The columns [`session_from_row`] reads.
macro_rules! session_cols {
    () => {
        "id, user_id, client_addr, user_agent, created_at, last_seen, expires_at, \
         ended_at, end_reason, mfa_at"
    };
}

fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_addr: row.try_get("client_addr")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_seen: row.try_get("last_seen")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
        mfa_at: row.try_get("mfa_at")?,
    })
}

impl Store {
    /// Inserts a session and, in the same transaction, ends the user's
    /// oldest other active sessions (reason `"session_limit"`) so that at
    /// most `max(max_per_user, 1)` remain active; returns the new session
    /// and the ids it ended. The new session itself is never ended.
    ///
    /// Unknown users fail with [`StoreError::NotFound`], a taken session id
    /// with [`StoreError::Conflict`]`("session id")`.
    pub async fn create_session(
        &self,
        new: &NewSession,
        max_per_user: usize,
    ) -> Result<(Session, Vec<String>), StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks the user row (PostgreSQL) so concurrent logins of the same
        // user serialize here and each sees the others' sessions.
        let user = sqlx::query("UPDATE users SET role = role WHERE id = $1")
            .bind(&new.user_id)
            .execute(&mut *tx)
            .await?;
        if user.rows_affected() == 0 {
            return Err(StoreError::NotFound("user".to_owned()));
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, client_addr, user_agent, created_at, \
             last_seen, expires_at, mfa_at) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
        )
        .bind(&new.id)
        .bind(&new.user_id)
        .bind(&new.client_addr)
        .bind(&new.user_agent)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.mfa_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or("session id"))?;
        let others: Vec<String> = sqlx::query(
            "SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 \
             AND ended_at IS NULL AND expires_at > $3 ORDER BY seq DESC",
        )
        .bind(&new.user_id)
        .bind(&new.id)
        .bind(new.now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        let keep_others = max_per_user.max(1) - 1;
        let mut ended = Vec::new();
        for id in others.into_iter().skip(keep_others) {
            sqlx::query(
                "UPDATE sessions SET ended_at = $2, end_reason = 'session_limit' \
                 WHERE id = $1 AND ended_at IS NULL",
            )
            .bind(&id)
            .bind(new.now)
            .execute(&mut *tx)
            .await?;
            ended.push(id);
        }
        tx.commit().await?;
        // Oldest first, as they were created.
        ended.reverse();
        let session = Session {
            id: new.id.clone(),
            user_id: new.user_id.clone(),
            client_addr: new.client_addr.clone(),
            user_agent: new.user_agent.clone(),
            created_at: new.now,
            last_seen: new.now,
            expires_at: new.expires_at,
            ended_at: None,
            end_reason: None,
            mfa_at: new.mfa_at,
        };
        Ok((session, ended))
    }

    /// The session with this id (active or not).
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    /// Sets `last_seen = now` on a session that has not ended (no-op
    /// otherwise).
    pub async fn touch_session(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user's active sessions (not ended, `expires_at > now`), newest
    /// first.
    pub async fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
             ORDER BY seq DESC"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from_row)
        .collect()
    }

    /// Ends a session; `false` if it is unknown or already ended.
    pub async fn end_session(&self, id: &str, reason: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $2, end_reason = $3 \
             WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every not-yet-ended session of the user except `except`;
    /// returns the ids ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = match except {
            Some(keep) => {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $2, end_reason = $3 \
                     WHERE user_id = $1 AND ended_at IS NULL AND id <> $4 RETURNING id",
                )
                .bind(user_id)
                .bind(now)
                .bind(reason)
                .bind(keep)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $2, end_reason = $3 \
                     WHERE user_id = $1 AND ended_at IS NULL RETURNING id",
                )
                .bind(user_id)
                .bind(now)
                .bind(reason)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect()
    }
}
