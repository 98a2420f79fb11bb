//! Failed sign-in steps and the locks they cause: a sliding window of
//! failures per account and address group, locks per (account, address
//! group) and account-wide, and the address groups an account signed in
//! from (an account-wide lock leaves those open, so an outsider cannot
//! lock an owner out of their own network).

use sqlx::Row;

use crate::StoreError;
use crate::store::Store;

/// The scope name of an account-wide lock.
pub const ACCOUNT_WIDE: &str = "*";

/// The budget one failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureBudget<'a> {
    /// Failures older than this many seconds are forgotten.
    pub window_secs: i64,
    /// Failures from one address group that lock the account for that
    /// group.
    pub group_limit: i64,
    /// Failures from anywhere that lock the account everywhere (but its
    /// known groups).
    pub account_limit: i64,
    /// Lock lengths in seconds, by level (1 = first lock).
    pub ladder: &'a [i64],
    /// A lock within this many seconds of the previous one of the same
    /// scope takes the next level.
    pub escalate_within_secs: i64,
}

/// A lock in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The address group, or [`ACCOUNT_WIDE`].
    pub scope: String,
    /// End of the lock (unix seconds).
    pub until: i64,
    /// Its level (1 = first lock).
    pub level: i64,
}

/// What counting one failure did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureCount {
    /// Failures of the account in the window, this one included (since
    /// its last account-wide lock).
    pub account_failures: i64,
    /// Failures from this address group in the window (since its last
    /// lock).
    pub group_failures: i64,
    /// Locks this very failure set.
    pub new_locks: Vec<Lock>,
}

fn level_after(previous: Option<(i64, i64)>, now: i64, budget: &FailureBudget<'_>) -> i64 {
    let top = i64::try_from(budget.ladder.len())
        .unwrap_or(i64::MAX)
        .max(1);
    match previous {
        Some((locked_at, level)) if now - locked_at <= budget.escalate_within_secs => {
            (level + 1).min(top)
        }
        _ => 1,
    }
}

fn length_of(level: i64, budget: &FailureBudget<'_>) -> i64 {
    let i = usize::try_from(level - 1).unwrap_or(0);
    budget
        .ladder
        .get(i)
        .or(budget.ladder.last())
        .copied()
        .unwrap_or(300)
}

impl Store {
    /// Counts one failed step of `user_id` from `group`, and sets the locks
    /// it earns, in one write transaction that holds the user's row, so
    /// concurrent failures are counted one after the other.
    pub async fn count_auth_failure(
        &self,
        user_id: &str,
        group: &str,
        now: i64,
        budget: &FailureBudget<'_>,
    ) -> Result<FailureCount, StoreError> {
        let mut tx = self.begin_write().await?;
        let owner = sqlx::query("UPDATE users SET role = role WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if owner.rows_affected() == 0 {
            return Err(StoreError::NotFound("user".to_owned()));
        }
        let since = now - budget.window_secs;
        sqlx::query("DELETE FROM auth_failures WHERE user_id = $1 AND at <= $2")
            .bind(user_id)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO auth_failures (user_id, addr_group, at) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(group)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let mut out = FailureCount::default();
        for (scope, limit) in [
            (group, budget.group_limit),
            (ACCOUNT_WIDE, budget.account_limit),
        ] {
            let lock = sqlx::query(
                "SELECT locked_at, until, level FROM auth_locks WHERE user_id = $1 AND scope = $2",
            )
            .bind(user_id)
            .bind(scope)
            .fetch_optional(&mut *tx)
            .await?;
            let (last_at, until, level) = match &lock {
                Some(r) => (
                    Some(r.try_get::<i64, _>("locked_at")?),
                    r.try_get::<i64, _>("until")?,
                    r.try_get::<i64, _>("level")?,
                ),
                None => (None, 0, 0),
            };
            // Failures after the scope's last lock began count towards
            // the next one.
            let from = last_at.map_or(since, |t| since.max(t));
            let count: i64 = if scope == ACCOUNT_WIDE {
                sqlx::query("SELECT COUNT(*) FROM auth_failures WHERE user_id = $1 AND at > $2")
                    .bind(user_id)
                    .bind(from)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?
            } else {
                sqlx::query(
                    "SELECT COUNT(*) FROM auth_failures \
                     WHERE user_id = $1 AND addr_group = $2 AND at > $3",
                )
                .bind(user_id)
                .bind(scope)
                .bind(from)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?
            };
            if scope == ACCOUNT_WIDE {
                out.account_failures = count;
            } else {
                out.group_failures = count;
            }
            if count < limit || until > now {
                continue;
            }
            let level = level_after(last_at.map(|t| (t, level)), now, budget);
            let until = now + length_of(level, budget);
            sqlx::query(
                "INSERT INTO auth_locks (user_id, scope, locked_at, until, level) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, scope) DO UPDATE SET \
                 locked_at = excluded.locked_at, until = excluded.until, level = excluded.level",
            )
            .bind(user_id)
            .bind(scope)
            .bind(now)
            .bind(until)
            .bind(level)
            .execute(&mut *tx)
            .await?;
            // `users.locked_until` shows the latest end of any lock (what
            // `user list` reports); the locks themselves decide.
            sqlx::query(
                "UPDATE users SET locked_until = $2 WHERE id = $1 \
                 AND (locked_until IS NULL OR locked_until < $2)",
            )
            .bind(user_id)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            out.new_locks.push(Lock {
                scope: scope.to_owned(),
                until,
                level,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The lock that applies to `user_id` signing in from `group` at
    /// `now`: the group's own, or the account-wide one unless the account
    /// signed in from `group` after `known_since`.
    pub async fn auth_lock(
        &self,
        user_id: &str,
        group: &str,
        now: i64,
        known_since: i64,
    ) -> Result<Option<Lock>, StoreError> {
        let row = sqlx::query(
            "SELECT scope, until, level FROM auth_locks l WHERE l.user_id = $1 AND l.until > $2 \
             AND (l.scope = $3 OR (l.scope = '*' AND NOT EXISTS (SELECT 1 FROM known_addr_groups k \
               WHERE k.user_id = $1 AND k.addr_group = $3 AND k.last_success_at > $4))) \
             ORDER BY l.until DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(now)
        .bind(group)
        .bind(known_since)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Lock {
                scope: r.try_get("scope")?,
                until: r.try_get("until")?,
                level: r.try_get("level")?,
            })
        })
        .transpose()
    }

    /// Every lock of `user_id` in force at `now`.
    pub async fn auth_locks(&self, user_id: &str, now: i64) -> Result<Vec<Lock>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope, until, level FROM auth_locks WHERE user_id = $1 AND until > $2 \
             ORDER BY scope",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Lock {
                    scope: r.try_get("scope")?,
                    until: r.try_get("until")?,
                    level: r.try_get("level")?,
                })
            })
            .collect()
    }

    /// A successful sign-in of `user_id` from `group`: the group becomes
    /// known, and its failures and lock are forgotten.
    pub async fn auth_success_from(
        &self,
        user_id: &str,
        group: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO known_addr_groups (user_id, addr_group, last_success_at) \
             VALUES ($1, $2, $3) ON CONFLICT (user_id, addr_group) DO UPDATE SET \
             last_success_at = excluded.last_success_at",
        )
        .bind(user_id)
        .bind(group)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM auth_failures WHERE user_id = $1 AND addr_group = $2")
            .bind(user_id)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM auth_locks WHERE user_id = $1 AND scope = $2")
            .bind(user_id)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE users SET locked_until = \
             (SELECT MAX(until) FROM auth_locks WHERE user_id = $1) WHERE id = $1",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `user_id` signed in from `group` after `since`.
    pub async fn addr_group_known(
        &self,
        user_id: &str,
        group: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM known_addr_groups WHERE user_id = $1 AND addr_group = $2 \
             AND last_success_at > $3",
        )
        .bind(user_id)
        .bind(group)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }
}
