//! The records the store reads and writes.

use serde::{Deserialize, Serialize};

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Random 16-byte identifier, base64url without padding (22 characters).
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// Role name (interpreted by the auth service).
    pub role: String,
    /// The current password hash (PHC string). Never printed by `Debug`.
    pub password_hash: String,
    /// When the password was last set (unix seconds).
    pub password_changed_at: i64,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Whether a confirmed TOTP authenticator is enrolled.
    pub mfa_enabled: bool,
    /// Failed logins in the current failure window.
    pub failed_logins: i64,
    /// Locked until this time (unix seconds), if a lock was ever set; the
    /// caller compares it with the current time.
    pub locked_until: Option<i64>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Time of the last successful login (unix seconds).
    pub last_login_at: Option<i64>,
    /// The password was found in the breached-password list at sign-in;
    /// only changing it is allowed until then.
    pub password_breached: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("password_changed_at", &self.password_changed_at)
            .field("disabled", &self.disabled)
            .field("mfa_enabled", &self.mfa_enabled)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .field("password_breached", &self.password_breached)
            .finish()
    }
}

/// Input of [`Store::create_user`](crate::Store::create_user).
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Unique login name.
    pub username: String,
    /// Role name.
    pub role: String,
    /// The initial password hash. Never printed by `Debug`.
    pub password_hash: String,
    /// Creation time (unix seconds); also the password change time.
    pub now: i64,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("now", &self.now)
            .finish()
    }
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Caller-supplied identifier.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Client address at login.
    pub client_addr: String,
    /// Client `User-Agent` at login.
    pub user_agent: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last activity (unix seconds).
    pub last_seen: i64,
    /// Expiry (unix seconds); the session is active while `expires_at > now`
    /// and `ended_at` is `None`.
    pub expires_at: i64,
    /// When the session was ended (logout, revocation, limit), if it was.
    pub ended_at: Option<i64>,
    /// Why the session was ended (e.g. `"logout"`, `"session_limit"`).
    pub end_reason: Option<String>,
    /// When a second factor was last completed in this session, if ever.
    pub mfa_at: Option<i64>,
}

/// Input of [`Store::create_session`](crate::Store::create_session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Caller-generated unique identifier.
    pub id: String,
    /// Owner (must exist).
    pub user_id: String,
    /// Client address.
    pub client_addr: String,
    /// Client `User-Agent`.
    pub user_agent: String,
    /// Creation time (unix seconds); also `last_seen`.
    pub now: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
    /// When a second factor was completed for this sign-in, if it was.
    pub mfa_at: Option<i64>,
}

/// Result of [`Store::consume_refresh_token`](crate::Store::consume_refresh_token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use of a valid token; it is now marked used.
    Fresh {
        /// The session the token belongs to.
        session_id: String,
    },
    /// The token was already used: a replay (revoke the session).
    Reused {
        /// The session the token belongs to.
        session_id: String,
    },
    /// The token is unused but past its expiry; it stays unused.
    Expired {
        /// The session the token belongs to.
        session_id: String,
    },
    /// No such token.
    Unknown,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Event time in unix milliseconds.
    pub at_ms: i64,
    /// Event name (e.g. `"login"`).
    pub event: String,
    /// Who acted (username or id), if known.
    pub actor: Option<String>,
    /// Whom or what the event concerns, if anything.
    pub subject: Option<String>,
    /// Client address, if any.
    pub client_addr: Option<String>,
    /// Outcome (e.g. `"success"`, `"failure"`).
    pub outcome: String,
    /// Free-form structured details (stored as JSON text).
    pub details: serde_json::Value,
}

/// A stored audit entry: its id plus the event (serialized flat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Monotonically increasing id (newest = largest).
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Filter for [`Store::query_audit`](crate::Store::query_audit). All filters
/// combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only entries with `at_ms >= since_ms`.
    pub since_ms: Option<i64>,
    /// Only entries with `at_ms < until_ms` (exclusive).
    pub until_ms: Option<i64>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only entries with this event name.
    pub event: Option<String>,
    /// Only entries with `id < before_id` (paging: pass the last id seen).
    pub before_id: Option<i64>,
    /// Maximum number of entries, clamped to `1..=1000`.
    pub limit: i64,
}
