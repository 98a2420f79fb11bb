//! Who may use an exchange key, and how fast.
//!
//! Every exchange key has grants: the users and service API keys that may
//! sign with it. The user who added a key is granted it when it is added;
//! admins may use every key; a service API key needs its own grant, even
//! an admin's, so that a stolen strategy host reaches only the keys it was
//! given. The host's own commands (`cryptobot keys …`, run by the
//! installation's owner) may use every key.
//!
//! The per-key signing limit is enforced through a [`SignatureBudget`]
//! that the caller provides (the server's limiter, shared through Redis
//! when configured).

use std::future::Future;
use std::pin::Pin;

use cryptobot_store::{ExchangeKey, Grantee, Store, StoreError};

/// Hours an approval request stays open.
pub const APPROVAL_EXPIRY_HOURS: i64 = 24;

/// Who asks to use an exchange key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The host's own commands: every key.
    Host,
    /// A signed-in user.
    User {
        /// User id.
        id: String,
        /// Username.
        name: String,
        /// Has the admin role.
        admin: bool,
    },
    /// A service API key.
    ApiKey {
        /// The service key's id.
        id: String,
        /// Its owner's user id.
        owner_id: String,
        /// Its owner's username.
        owner: String,
    },
}

impl Access {
    /// The user behind the access (`None` for the host).
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Access::Host => None,
            Access::User { id, .. } => Some(id),
            Access::ApiKey { owner_id, .. } => Some(owner_id),
        }
    }

    /// Whether every key is open to it without a grant.
    pub fn sees_every_key(&self) -> bool {
        matches!(self, Access::Host | Access::User { admin: true, .. })
    }

    /// The grant that opens a key to it (none for the host and admins).
    pub fn grantee(&self) -> Option<Grantee> {
        match self {
            Access::Host | Access::User { admin: true, .. } => None,
            Access::User { id, .. } => Some(Grantee::User(id.clone())),
            Access::ApiKey { id, .. } => Some(Grantee::ApiKey(id.clone())),
        }
    }

    /// Whether it may use `key`.
    pub async fn may_use(&self, store: &Store, key: &ExchangeKey) -> Result<bool, StoreError> {
        match self.grantee() {
            None => Ok(true),
            Some(g) => store.has_exchange_key_grant(&key.id, &g).await,
        }
    }

    /// How an answer names it: the username, or `apikey:<id>`.
    pub fn describe(&self) -> String {
        match self {
            Access::Host => "this host's commands".into(),
            Access::User { name, .. } => format!("user {name}"),
            Access::ApiKey { id, .. } => format!("service API key {id}"),
        }
    }
}

/// What a [`SignatureBudget`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Sign.
    Allowed,
    /// Over the key's limit.
    Limited {
        /// Signatures per minute allowed.
        limit: u32,
        /// Seconds until one more is allowed.
        retry_after_secs: u64,
    },
    /// The shared limit cannot be checked and the installation fails
    /// closed.
    Unavailable,
}

/// The per-key signing limit: takes one signature from `key_id`'s budget
/// of `per_minute` (up to `per_minute` at once, refilled evenly).
pub trait SignatureBudget: Send + Sync {
    /// Takes one signature.
    fn take<'a>(
        &'a self,
        key_id: &'a str,
        per_minute: u32,
    ) -> Pin<Box<dyn Future<Output = Budget> + Send + 'a>>;
}
