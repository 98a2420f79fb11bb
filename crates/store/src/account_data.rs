//! What an access review and a data subject need: each account's activity
//! (open sessions, usable service keys, last use), and deleting an account
//! with everything that lets it act, leaving the audit trail with a
//! pseudonymous id.

use std::collections::HashMap;

use sqlx::Row;

use crate::StoreError;
use crate::store::Store;

/// One account's activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserActivity {
    /// Sessions neither ended, expired nor idle.
    pub active_sessions: i64,
    /// Service API keys neither revoked, expired nor suspended.
    pub active_api_keys: i64,
    /// The latest request of any of its sessions (unix seconds).
    pub last_session_seen: Option<i64>,
    /// The latest use of any of its service API keys (unix seconds).
    pub last_key_use: Option<i64>,
}

/// What deleting an account removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedUser {
    /// Sessions removed (open or not).
    pub sessions: i64,
    /// Service API keys removed.
    pub api_keys: i64,
    /// Exchange-key grants removed (the user's and its keys').
    pub grants: i64,
    /// Audit records now naming the pseudonym instead of the name.
    pub audit_records: i64,
}

/// Keys of audit details whose value may be a username.
const PERSON_KEYS: &[&str] = &[
    "owner",
    "user",
    "username",
    "requested_by",
    "approver",
    "grantee",
    "created_by",
    "granted_by",
    "added_by",
    "decided_by",
];

/// Replaces `username` by `pseudonym` under [`PERSON_KEYS`], at any depth;
/// true when something changed.
fn rename_people(v: &mut serde_json::Value, username: &str, pseudonym: &str) -> bool {
    let mut changed = false;
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if PERSON_KEYS.contains(&k.as_str()) && val.as_str() == Some(username) {
                    *val = serde_json::Value::String(pseudonym.to_owned());
                    changed = true;
                } else {
                    changed |= rename_people(val, username, pseudonym);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                changed |= rename_people(item, username, pseudonym);
            }
        }
        _ => {}
    }
    changed
}

impl Store {
    /// Every account's activity at `now` (sessions idle for `idle_secs`
    /// do not count as open), by user id.
    pub async fn user_activity(
        &self,
        now: i64,
        idle_secs: i64,
    ) -> Result<HashMap<String, UserActivity>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, \
             (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.ended_at IS NULL \
                AND s.expires_at > $1 AND s.last_seen > $2) AS sessions, \
             (SELECT MAX(s.last_seen) FROM sessions s WHERE s.user_id = u.id) AS last_seen, \
             (SELECT COUNT(*) FROM service_keys k WHERE k.user_id = u.id \
                AND k.revoked_at IS NULL AND k.suspended_at IS NULL \
                AND (k.expires_at IS NULL OR k.expires_at > $1)) AS keys, \
             (SELECT MAX(k.last_used_at) FROM service_keys k WHERE k.user_id = u.id) AS key_used \
             FROM users u",
        )
        .bind(now)
        .bind(now - idle_secs)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            out.insert(
                r.try_get::<String, _>("id")?,
                UserActivity {
                    active_sessions: r.try_get("sessions")?,
                    active_api_keys: r.try_get("keys")?,
                    last_session_seen: r.try_get("last_seen")?,
                    last_key_use: r.try_get("key_used")?,
                },
            );
        }
        Ok(out)
    }

    /// Enabled administrators.
    pub async fn enabled_admins(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Deletes an account in one transaction: its credentials, sessions
    /// and refresh tokens, MFA, service keys, locks, reset tokens and
    /// grants (its own and its keys'). Audit records keep the events but
    /// name `pseudonym` where they named `username` (as actor, subject or
    /// a quoted value in the details). The last enabled administrator is
    /// not deleted ([`StoreError::Conflict`]`("last admin")`).
    pub async fn delete_user(
        &self,
        id: &str,
        username: &str,
        pseudonym: &str,
    ) -> Result<DeletedUser, StoreError> {
        let mut tx = self.begin_write().await?;
        // Holds the admins' rows (PostgreSQL; SQLite's write lock is held
        // already), so two deletions cannot remove the last two admins.
        sqlx::query("UPDATE users SET role = role WHERE role = 'admin'")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT role, disabled FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound("user".to_owned()))?;
        let role: String = row.try_get("role")?;
        let disabled: i64 = row.try_get("disabled")?;
        if role == "admin" && disabled == 0 {
            let admins: i64 = sqlx::query(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if admins == 0 {
                return Err(StoreError::Conflict("last admin".to_owned()));
            }
        }
        let count = |sql: &'static str| sqlx::query(sql).bind(id);
        let sessions: i64 = count("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let api_keys: i64 = count("SELECT COUNT(*) FROM service_keys WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let grants = sqlx::query(
            "DELETE FROM exchange_key_grants WHERE (grantee_kind = 'user' AND grantee = $1) \
             OR (grantee_kind = 'api_key' AND grantee IN \
                 (SELECT id FROM service_keys WHERE user_id = $1))",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let key_actor = format!("{username}/apikey:");
        let renamed = sqlx::query(
            "UPDATE audit_log SET \
             actor = CASE WHEN actor = $1 THEN $2 \
                 WHEN substr(actor, 1, length($3)) = $3 \
                 THEN $2 || substr(actor, length($1) + 1) ELSE actor END, \
             subject = CASE WHEN subject = $1 THEN $2 ELSE subject END \
             WHERE actor = $1 OR subject = $1 OR substr(actor, 1, length($3)) = $3",
        )
        .bind(username)
        .bind(pseudonym)
        .bind(&key_actor)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Details name people under a few keys only; other values equal to
        // the name (a role called like the user) are left alone.
        let quoted =
            serde_json::to_string(username).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query("SELECT id, details FROM audit_log WHERE details LIKE $1")
            .bind(format!("%{quoted}%"))
            .fetch_all(&mut *tx)
            .await?;
        let mut details_changed = 0u64;
        for r in &rows {
            let text: String = r.try_get("details")?;
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if rename_people(&mut v, username, pseudonym) {
                sqlx::query("UPDATE audit_log SET details = $2 WHERE id = $1")
                    .bind(r.try_get::<i64, _>("id")?)
                    .bind(v.to_string())
                    .execute(&mut *tx)
                    .await?;
                details_changed += 1;
            }
        }
        let audit = renamed + details_changed;
        // Everything else goes with the row (ON DELETE CASCADE).
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeletedUser {
            sessions,
            api_keys,
            grants: i64::try_from(grants).unwrap_or(i64::MAX),
            audit_records: i64::try_from(audit).unwrap_or(i64::MAX),
        })
    }
}
