//! What limits an exchange key beyond its permissions: grants (who may sign
//! with it), the withdrawal address book, approval requests that wait for
//! a second admin, and the per-key signing limit.
//!
//! An approval is decided and its effect applied in one transaction, so an
//! approved request is never left without its effect (or the reverse).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::error::conflict_or;
use crate::store::Store;

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// A user, by id.
    User(String),
    /// A service API key, by id.
    ApiKey(String),
}

impl Grantee {
    fn kind(&self) -> &'static str {
        match self {
            Grantee::User(_) => "user",
            Grantee::ApiKey(_) => "api_key",
        }
    }

    fn id(&self) -> &str {
        match self {
            Grantee::User(id) | Grantee::ApiKey(id) => id,
        }
    }

    fn from_parts(kind: &str, id: String) -> Result<Grantee, StoreError> {
        match kind {
            "user" => Ok(Grantee::User(id)),
            "api_key" => Ok(Grantee::ApiKey(id)),
            other => Err(StoreError::Corrupt(format!(
                "grant of an unknown kind `{}`",
                other.chars().take(16).collect::<String>()
            ))),
        }
    }
}

/// One grant of an exchange key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The exchange key.
    pub key_id: String,
    /// Who may sign with it.
    pub grantee: Grantee,
    /// The user's name, or the service key's name (when they still exist).
    pub grantee_name: Option<String>,
    /// Who granted it.
    pub granted_by: Option<String>,
    /// When (unix seconds).
    pub granted_at: i64,
}

/// An entry of a key's withdrawal address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawAddress {
    /// Entry id (`wa_…`).
    pub id: String,
    /// The exchange key.
    pub key_id: String,
    /// The address (for Kraken: the name of the withdrawal key).
    pub address: String,
    /// The network or chain; empty when the entry names none.
    pub network: String,
    /// The memo or tag; empty when none.
    pub memo: String,
    /// The operator's label.
    pub label: Option<String>,
    /// Who added it.
    pub added_by: Option<String>,
    /// When it was added (unix seconds).
    pub added_at: i64,
    /// When it took effect (added, or approved); `None` while its approval
    /// is pending. The withdrawal delay counts from here.
    pub active_from: Option<i64>,
    /// When it was removed.
    pub removed_at: Option<i64>,
}

/// A new address book entry.
#[derive(Debug, Clone)]
pub struct NewWithdrawAddress {
    /// Entry id.
    pub id: String,
    /// The exchange key.
    pub key_id: String,
    /// The address.
    pub address: String,
    /// The network, or empty.
    pub network: String,
    /// The memo, or empty.
    pub memo: String,
    /// Label.
    pub label: Option<String>,
    /// Who adds it.
    pub added_by: Option<String>,
    /// Now (unix seconds).
    pub now: i64,
    /// The approval it waits for; `None` takes effect at once.
    pub pending_approval: Option<NewApproval>,
}

/// A request that waits for a second admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// Request id (`apr_…`).
    pub id: String,
    /// `enable-withdraw` or `add-address`.
    pub kind: String,
    /// The exchange key.
    pub key_id: String,
    /// The new permission list, or the address entry's id.
    pub payload: String,
    /// The requester, as audited.
    pub requested_by: String,
    /// The requesting user's id (not set for the host's commands).
    pub requested_by_user: Option<String>,
    /// When (unix seconds).
    pub requested_at: i64,
    /// When it lapses.
    pub expires_at: i64,
}

/// A request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The request.
    pub request: NewApproval,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// `approved` or `expired`; `None` while pending.
    pub outcome: Option<String>,
}

impl Approval {
    /// Pending at `now`: undecided and not lapsed.
    pub fn pending(&self, now: i64) -> bool {
        self.outcome.is_none() && self.request.expires_at > now
    }
}

macro_rules! address_columns {
    () => {
        "id, key_id, address, network, memo, label, added_by, added_at, active_from, removed_at"
    };
}

fn address(row: &AnyRow) -> Result<WithdrawAddress, StoreError> {
    Ok(WithdrawAddress {
        id: row.try_get(0)?,
        key_id: row.try_get(1)?,
        address: row.try_get(2)?,
        network: row.try_get(3)?,
        memo: row.try_get(4)?,
        label: row.try_get(5)?,
        added_by: row.try_get(6)?,
        added_at: row.try_get(7)?,
        active_from: row.try_get(8)?,
        removed_at: row.try_get(9)?,
    })
}

macro_rules! approval_columns {
    () => {
        "id, kind, key_id, payload, requested_by, requested_by_user, requested_at, expires_at, \
         decided_by, decided_at, outcome"
    };
}

fn approval(row: &AnyRow) -> Result<Approval, StoreError> {
    Ok(Approval {
        request: NewApproval {
            id: row.try_get(0)?,
            kind: row.try_get(1)?,
            key_id: row.try_get(2)?,
            payload: row.try_get(3)?,
            requested_by: row.try_get(4)?,
            requested_by_user: row.try_get(5)?,
            requested_at: row.try_get(6)?,
            expires_at: row.try_get(7)?,
        },
        decided_by: row.try_get(8)?,
        decided_at: row.try_get(9)?,
        outcome: row.try_get(10)?,
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Inserts a grant (nothing when it exists); true when it was new.
pub(crate) async fn insert_grant(
    tx: &mut Tx,
    key_id: &str,
    grantee: Grantee,
    by: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO exchange_key_grants (key_id, grantee_kind, grantee, granted_by, granted_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(key_id)
    .bind(grantee.kind())
    .bind(grantee.id())
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts an approval request.
pub(crate) async fn insert_approval(tx: &mut Tx, a: &NewApproval) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO approvals (id, kind, key_id, payload, requested_by, requested_by_user, \
         requested_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(&a.kind)
    .bind(&a.key_id)
    .bind(&a.payload)
    .bind(&a.requested_by)
    .bind(&a.requested_by_user)
    .bind(a.requested_at)
    .bind(a.expires_at)
    .execute(&mut **tx)
    .await
    .map_err(conflict_or("approval request"))?;
    Ok(())
}

impl Store {
    /// Grants `grantee` the use of `key_id`; false when it already had it.
    pub async fn grant_exchange_key(
        &self,
        key_id: &str,
        grantee: &Grantee,
        by: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let new = insert_grant(&mut tx, key_id, grantee.clone(), by, now).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Withdraws a grant; false when there was none.
    pub async fn revoke_exchange_key_grant(
        &self,
        key_id: &str,
        grantee: &Grantee,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM exchange_key_grants WHERE key_id = $1 AND grantee_kind = $2 \
             AND grantee = $3",
        )
        .bind(key_id)
        .bind(grantee.kind())
        .bind(grantee.id())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether `grantee` may use `key_id`.
    pub async fn has_exchange_key_grant(
        &self,
        key_id: &str,
        grantee: &Grantee,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM exchange_key_grants WHERE key_id = $1 AND grantee_kind = $2 \
             AND grantee = $3",
        )
        .bind(key_id)
        .bind(grantee.kind())
        .bind(grantee.id())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The grants of a key, users first, then service keys, each oldest
    /// first, with the grantee's name where it still exists.
    pub async fn exchange_key_grants(&self, key_id: &str) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.key_id, g.grantee_kind, g.grantee, \
             COALESCE(u.username, s.name), g.granted_by, g.granted_at \
             FROM exchange_key_grants g \
             LEFT JOIN users u ON g.grantee_kind = 'user' AND u.id = g.grantee \
             LEFT JOIN service_keys s ON g.grantee_kind = 'api_key' AND s.id = g.grantee \
             WHERE g.key_id = $1 ORDER BY g.grantee_kind DESC, g.granted_at, g.grantee",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(Grant {
                    key_id: r.try_get(0)?,
                    grantee: Grantee::from_parts(&kind, r.try_get(2)?)?,
                    grantee_name: r.try_get(3)?,
                    granted_by: r.try_get(4)?,
                    granted_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// The ids of the keys granted to any of `grantees`.
    pub async fn exchange_keys_granted(
        &self,
        grantee: &Grantee,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id FROM exchange_key_grants WHERE grantee_kind = $1 AND grantee = $2 \
             ORDER BY key_id",
        )
        .bind(grantee.kind())
        .bind(grantee.id())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Replaces a key's declared permissions; false when the key is
    /// revoked or unknown.
    pub async fn set_exchange_key_permissions(
        &self,
        key_id: &str,
        permissions: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE exchange_keys SET permissions = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(permissions)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or with `None` clears) a key's own signing limit per minute.
    pub async fn set_exchange_key_limit(
        &self,
        key_id: &str,
        per_minute: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE exchange_keys SET max_signatures_per_minute = $2 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(per_minute)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds an address book entry (and its approval request, if any, in
    /// the same transaction). The same address, network and memo twice on
    /// one key fails with [`StoreError::Conflict`]`("withdrawal address")`.
    pub async fn add_withdraw_address(&self, a: &NewWithdrawAddress) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO withdraw_addresses (",
            address_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)"
        ))
        .bind(&a.id)
        .bind(&a.key_id)
        .bind(&a.address)
        .bind(&a.network)
        .bind(&a.memo)
        .bind(&a.label)
        .bind(&a.added_by)
        .bind(a.now)
        .bind(a.pending_approval.is_none().then_some(a.now))
        .execute(&mut *tx)
        .await
        .map_err(conflict_or("withdrawal address"))?;
        if let Some(approval) = &a.pending_approval {
            insert_approval(&mut tx, approval).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A key's address book, oldest first; removed entries when asked.
    pub async fn withdraw_addresses(
        &self,
        key_id: &str,
        include_removed: bool,
    ) -> Result<Vec<WithdrawAddress>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            address_columns!(),
            " FROM withdraw_addresses WHERE key_id = $1 AND ($2 = 1 OR removed_at IS NULL) \
             ORDER BY added_at, id"
        ))
        .bind(key_id)
        .bind(i64::from(include_removed))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(address).collect()
    }

    /// Removes an entry; false when it is not an entry of `key_id` in use.
    pub async fn remove_withdraw_address(
        &self,
        key_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE withdraw_addresses SET removed_at = $3 \
             WHERE key_id = $1 AND id = $2 AND removed_at IS NULL",
        )
        .bind(key_id)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores an approval request on its own (the key exists already).
    pub async fn request_approval(&self, a: &NewApproval) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_approval(&mut tx, a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One approval request.
    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(approval)
        .transpose()
    }

    /// Approval requests, oldest first: only undecided ones unless asked.
    pub async fn approvals(&self, include_decided: bool) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE ($1 = 1 OR outcome IS NULL) ORDER BY requested_at, id"
        ))
        .bind(i64::from(include_decided))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(approval).collect()
    }

    /// Marks undecided requests whose time ran out as `expired`; returns
    /// them (for the audit).
    pub async fn expire_approvals(&self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE outcome IS NULL AND expires_at <= $1 ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let lapsed = rows.iter().map(approval).collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "UPDATE approvals SET outcome = 'expired', decided_at = $1 \
             WHERE outcome IS NULL AND expires_at <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(lapsed)
    }

    /// Approves a pending request and applies it in one transaction: an
    /// `enable-withdraw` request sets the key's permissions to its
    /// payload, an `add-address` request makes the address take effect
    /// now. `None` when the request is not pending at `now` (decided,
    /// lapsed or unknown) or its key was revoked meanwhile.
    pub async fn approve(
        &self,
        id: &str,
        decided_by: &str,
        now: i64,
    ) -> Result<Option<Approval>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(found) = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE id = $1 AND outcome IS NULL AND expires_at > $2"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(approval)
        .transpose()?
        else {
            return Ok(None);
        };
        let r = &found.request;
        let applied = match r.kind.as_str() {
            "enable-withdraw" => sqlx::query(
                "UPDATE exchange_keys SET permissions = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(&r.key_id)
            .bind(&r.payload)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            "add-address" => sqlx::query(
                "UPDATE withdraw_addresses SET active_from = $3 \
                 WHERE key_id = $1 AND id = $2 AND removed_at IS NULL AND active_from IS NULL \
                 AND EXISTS (SELECT 1 FROM exchange_keys k WHERE k.id = $1 \
                 AND k.revoked_at IS NULL)",
            )
            .bind(&r.key_id)
            .bind(&r.payload)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "approval request of an unknown kind `{}`",
                    other.chars().take(32).collect::<String>()
                )));
            }
        };
        if applied != 1 {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE approvals SET outcome = 'approved', decided_by = $2, decided_at = $3 \
             WHERE id = $1 AND outcome IS NULL",
        )
        .bind(id)
        .bind(decided_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Approval {
            decided_by: Some(decided_by.to_string()),
            decided_at: Some(now),
            outcome: Some("approved".into()),
            ..found
        }))
    }

    /// Users with the admin role who are not disabled.
    pub async fn active_admins(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}
