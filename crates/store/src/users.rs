//! Users, login failure accounting and password history.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::backend::Backend;
use crate::error::conflict_or;
use crate::model::{NewUser, User};
use crate::store::Store;
use crate::{StoreError, util};

/// The columns [`user_from_row`] reads, in a `SELECT` list.
macro_rules! user_cols {
    () => {
        "id, username, role, password_hash, password_changed_at, disabled, \
         failed_logins, locked_until, created_at, last_login_at, mfa_enabled, password_breached"
    };
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: row.try_get("role")?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? != 0,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        last_login_at: row.try_get("last_login_at")?,
        password_breached: row.try_get::<i64, _>("password_breached")? != 0,
    })
}

impl Store {
    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the
    /// write lock up front, so the busy timeout applies), `BEGIN` on
    /// PostgreSQL.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Creates a user with a fresh random id and records the initial hash in
    /// the password history. A taken username fails with
    /// [`StoreError::Conflict`]`("username")`.
    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let id = util::new_id()?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, username, role, password_hash, password_changed_at, \
             disabled, failed_logins, created_at) VALUES ($1, $2, $3, $4, $5, 0, 0, $5)",
        )
        .bind(&id)
        .bind(&new.username)
        .bind(&new.role)
        .bind(&new.password_hash)
        .bind(new.now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or("username"))?;
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, created_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(&id)
        .bind(&new.password_hash)
        .bind(new.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            username: new.username.clone(),
            role: new.role.clone(),
            password_hash: new.password_hash.clone(),
            password_changed_at: new.now,
            disabled: false,
            mfa_enabled: false,
            failed_logins: 0,
            locked_until: None,
            created_at: new.now,
            last_login_at: None,
            password_breached: false,
        })
    }

    /// The user with this username.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// All users, ordered by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    /// Disables or enables a user; `false` if there is no such user.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
            .bind(id)
            .bind(i64::from(disabled))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Changes a user's role; `false` if there is no such user.
    pub async fn set_role(&self, id: &str, role: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id)
            .bind(role)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Clears the failure counts and every lock; `false`
    /// if there is no such user.
    pub async fn unlock(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, failure_window_start = NULL, \
             locked_until = NULL, failure_locked = 0 WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM auth_locks WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM auth_failures WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Resets the failure state and sets `last_login_at = now`. Unknown ids
    /// fail with [`StoreError::NotFound`].
    pub async fn record_login_success(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, failure_window_start = NULL, \
             locked_until = NULL, failure_locked = 0, last_login_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user".to_owned()));
        }
        Ok(())
    }

    /// Sets a new password hash (`password_changed_at = now`), appends it to
    /// the history and keeps only the newest `max(keep_history, 1)` history
    /// rows. Unknown ids fail with [`StoreError::NotFound`].
    pub async fn set_password(
        &self,
        id: &str,
        hash: &str,
        now: i64,
        keep_history: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, password_breached = 0 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user".to_owned()));
        }
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, created_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM password_history WHERE user_id = $1 AND id NOT IN \
             (SELECT id FROM password_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(id)
        .bind(util::to_i64(keep_history.max(1)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Flags the password as found in the breached-password list: until it
    /// is changed, the account may only change it.
    pub async fn mark_password_breached(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_breached = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the hash after a parameter upgrade, only if the current hash
    /// is still `old_hash` (`false` otherwise, or for unknown ids). Leaves
    /// `password_changed_at` alone; the newest history row equal to
    /// `old_hash` is rewritten to `new_hash`.
    pub async fn replace_hash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
                .bind(id)
                .bind(old_hash)
                .bind(new_hash)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE password_history SET password_hash = $3 WHERE id = \
             (SELECT MAX(id) FROM password_history WHERE user_id = $1 AND password_hash = $2)",
        )
        .bind(id)
        .bind(old_hash)
        .bind(new_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Up to `limit` history hashes, newest first.
    pub async fn password_history(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT password_hash FROM password_history WHERE user_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(id)
        .bind(util::to_i64(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
    }
}
