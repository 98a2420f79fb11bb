//! The key vault's tables: sealed records, exchange keys and their
//! credential versions, and hourly signing counts.
//!
//! The store never sees plaintext: records arrive sealed (see the
//! `cryptobot-vault` crate). Destroying a credential version deletes its
//! record, so the data key is gone with it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::error::conflict_or;
use crate::store::Store;

/// One sealed record of `vault_secrets`. `Debug` omits the sealed fields.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultRecord {
    /// Record id (bound into the seal).
    pub id: String,
    /// What it holds (bound into the seal).
    pub purpose: String,
    /// Record version (bound into the seal).
    pub version: i64,
    /// Master key version wrapping the data key.
    pub master_version: i64,
    /// The wrapped data key.
    pub wrapped_key: String,
    /// The sealed secret.
    pub ciphertext: String,
    /// When it was written (unix seconds).
    pub created_at: i64,
}

impl std::fmt::Debug for VaultRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRecord")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("version", &self.version)
            .field("master_version", &self.master_version)
            .finish_non_exhaustive()
    }
}

/// A new wrap for a record, written only if it still has `from`.
#[derive(Debug, Clone)]
pub struct Rewrap {
    /// Record id.
    pub id: String,
    /// Master version the record must still have.
    pub from: i64,
    /// The new master version.
    pub to: i64,
    /// The data key wrapped under `to`.
    pub wrapped_key: String,
}

/// An exchange key's metadata with its current version's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeKey {
    /// Key id (`xk_…`).
    pub id: String,
    /// Exchange name.
    pub exchange: String,
    /// Operator's label.
    pub label: String,
    /// Declared permissions, comma-separated (`read,trade`).
    pub permissions: String,
    /// Free-text note about the exchange-side IP allow-list.
    pub ip_note: Option<String>,
    /// Who added it.
    pub created_by: Option<String>,
    /// When it was added.
    pub created_at: i64,
    /// The version new signatures use.
    pub current_version: i64,
    /// When the current version was stored.
    pub rotated_at: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// When the rotation-due event was raised for the current version.
    pub rotation_alerted_at: Option<i64>,
    /// Fingerprint of the current version's API key.
    pub fingerprint: String,
    /// This key's signing limit per minute (`None`: the installation's
    /// `max_signatures_per_minute`).
    pub max_signatures_per_minute: Option<i64>,
    /// The OKX passphrase may be handed out in the signed headers.
    pub passphrase_in_headers: bool,
}

/// One credential version of an exchange key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeKeyVersion {
    /// The key.
    pub key_id: String,
    /// Version number, from 1.
    pub version: i64,
    /// Its sealed record, until destroyed.
    pub secret_id: Option<String>,
    /// Fingerprint of its API key.
    pub fingerprint: String,
    /// When it was stored.
    pub created_at: i64,
    /// Usable until then (set when a newer version replaces it).
    pub valid_until: Option<i64>,
    /// When its record was destroyed.
    pub destroyed_at: Option<i64>,
}

/// What is stored when an exchange key is added.
#[derive(Debug, Clone)]
pub struct NewExchangeKey {
    /// Key id.
    pub id: String,
    /// Exchange name.
    pub exchange: String,
    /// Label, unique per exchange among keys not revoked.
    pub label: String,
    /// Declared permissions.
    pub permissions: String,
    /// IP allow-list note.
    pub ip_note: Option<String>,
    /// Who adds it.
    pub created_by: Option<String>,
    /// Fingerprint of the API key.
    pub fingerprint: String,
    /// Now (unix seconds).
    pub now: i64,
    /// The user who adds it, granted its use in the same transaction.
    pub creator_user_id: Option<String>,
    /// Its own signing limit per minute, if any.
    pub max_signatures_per_minute: Option<i64>,
    /// The OKX passphrase may be handed out in the signed headers.
    pub passphrase_in_headers: bool,
    /// The permissions that wait for a second admin: an `enable-withdraw`
    /// approval request created in the same transaction.
    pub pending_approval: Option<crate::NewApproval>,
}

/// The signing count of one key for one hour, after counting a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Requests in this hour so far.
    pub this_hour: i64,
    /// Requests in the 24 hours before it.
    pub previous_24h: i64,
    /// Whether a spike was already recorded for this hour.
    pub alerted: bool,
}

/// One audit entry of a batch, with the key use it counts, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The audit row.
    pub event: crate::AuditEvent,
    /// One more use of this key in this hour, if the entry is a signature.
    pub key_use: Option<KeyUse>,
}

/// One use of an exchange key in one hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyUse {
    /// Key id.
    pub key_id: String,
    /// Unix hour (`unix seconds / 3600`).
    pub hour: i64,
}

/// Rows per multi-row `INSERT` of a batch: 7 parameters a row stays far
/// below both backends' parameter limits (SQLite 32766, PostgreSQL 65535).
const AUDIT_ROWS_PER_INSERT: usize = 128;

macro_rules! record_columns {
    () => {
        "id, purpose, version, master_version, wrapped_key, ciphertext, created_at"
    };
}

fn record(row: &AnyRow) -> Result<VaultRecord, StoreError> {
    Ok(VaultRecord {
        id: row.try_get(0)?,
        purpose: row.try_get(1)?,
        version: row.try_get(2)?,
        master_version: row.try_get(3)?,
        wrapped_key: row.try_get(4)?,
        ciphertext: row.try_get(5)?,
        created_at: row.try_get(6)?,
    })
}

macro_rules! key_columns {
    () => {
        "k.id, k.exchange, k.label, k.permissions, k.ip_note, k.created_by, \
         k.created_at, k.current_version, k.rotated_at, k.revoked_at, k.rotation_alerted_at, \
         v.fingerprint, k.max_signatures_per_minute, k.passphrase_in_headers"
    };
}

fn exchange_key(row: &AnyRow) -> Result<ExchangeKey, StoreError> {
    Ok(ExchangeKey {
        id: row.try_get(0)?,
        exchange: row.try_get(1)?,
        label: row.try_get(2)?,
        permissions: row.try_get(3)?,
        ip_note: row.try_get(4)?,
        created_by: row.try_get(5)?,
        created_at: row.try_get(6)?,
        current_version: row.try_get(7)?,
        rotated_at: row.try_get(8)?,
        revoked_at: row.try_get(9)?,
        rotation_alerted_at: row.try_get(10)?,
        fingerprint: row.try_get(11)?,
        max_signatures_per_minute: row.try_get(12)?,
        passphrase_in_headers: row.try_get::<i64, _>(13)? != 0,
    })
}

fn key_version(row: &AnyRow) -> Result<ExchangeKeyVersion, StoreError> {
    Ok(ExchangeKeyVersion {
        key_id: row.try_get(0)?,
        version: row.try_get(1)?,
        secret_id: row.try_get(2)?,
        fingerprint: row.try_get(3)?,
        created_at: row.try_get(4)?,
        valid_until: row.try_get(5)?,
        destroyed_at: row.try_get(6)?,
    })
}

async fn insert_record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rec: &VaultRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO vault_secrets (id, purpose, version, master_version, wrapped_key, \
         ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&rec.id)
    .bind(&rec.purpose)
    .bind(rec.version)
    .bind(rec.master_version)
    .bind(&rec.wrapped_key)
    .bind(&rec.ciphertext)
    .bind(rec.created_at)
    .execute(&mut **tx)
    .await
    .map_err(conflict_or("vault record"))?;
    Ok(())
}

/// Deletes the records of the given versions and marks them destroyed.
async fn destroy_versions(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    versions: &[ExchangeKeyVersion],
    now: i64,
) -> Result<(), StoreError> {
    for v in versions {
        if let Some(secret) = &v.secret_id {
            sqlx::query("DELETE FROM vault_secrets WHERE id = $1")
                .bind(secret)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query(
            "UPDATE exchange_key_versions SET secret_id = NULL, destroyed_at = $3 \
             WHERE key_id = $1 AND version = $2",
        )
        .bind(&v.key_id)
        .bind(v.version)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

macro_rules! version_columns {
    () => {
        "key_id, version, secret_id, fingerprint, created_at, valid_until, destroyed_at"
    };
}

impl Store {
    /// Stores a sealed record. An existing id fails with
    /// [`StoreError::Conflict`]`("vault record")`.
    pub async fn insert_vault_record(&self, rec: &VaultRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_record(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One sealed record.
    pub async fn vault_record(&self, id: &str) -> Result<Option<VaultRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            record_columns!(),
            " FROM vault_secrets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(record)
        .transpose()
    }

    /// Any one record wrapped by master version `version`.
    pub async fn vault_record_by_master(
        &self,
        version: i64,
    ) -> Result<Option<VaultRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            record_columns!(),
            " FROM vault_secrets WHERE master_version = $1 ORDER BY id LIMIT 1"
        ))
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(record)
        .transpose()
    }

    /// Up to `limit` records after `after_id` (by id), optionally only
    /// those whose data key is not wrapped by `not_master`.
    pub async fn vault_records_page(
        &self,
        after_id: &str,
        not_master: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VaultRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            record_columns!(),
            " FROM vault_secrets \
             WHERE id > $1 AND ($2 < 0 OR master_version <> $2) ORDER BY id LIMIT $3"
        ))
        .bind(after_id)
        .bind(not_master.unwrap_or(-1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Writes new wraps in one transaction; a record whose master version
    /// changed meanwhile is left alone. Returns how many were written.
    pub async fn rewrap_vault_records(&self, batch: &[Rewrap]) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        let now = crate::util::unix_now();
        for r in batch {
            n += sqlx::query(
                "UPDATE vault_secrets SET master_version = $3, wrapped_key = $4, rewrapped_at = $5 \
                 WHERE id = $1 AND master_version = $2",
            )
            .bind(&r.id)
            .bind(r.from)
            .bind(r.to)
            .bind(&r.wrapped_key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// How many records each master version wraps, ascending by version.
    pub async fn vault_master_usage(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT master_version, COUNT(*) FROM vault_secrets \
             GROUP BY master_version ORDER BY master_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Adds an exchange key with its first credential version. A label in
    /// use on the same exchange fails with
    /// [`StoreError::Conflict`]`("exchange key label")`.
    pub async fn add_exchange_key(
        &self,
        key: &NewExchangeKey,
        rec: &VaultRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO exchange_keys (id, exchange, label, permissions, ip_note, created_by, \
             created_at, current_version, rotated_at, max_signatures_per_minute, \
             passphrase_in_headers) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(&key.exchange)
        .bind(&key.label)
        .bind(&key.permissions)
        .bind(&key.ip_note)
        .bind(&key.created_by)
        .bind(key.now)
        .bind(key.max_signatures_per_minute)
        .bind(i64::from(key.passphrase_in_headers))
        .execute(&mut *tx)
        .await
        .map_err(conflict_or("exchange key label"))?;
        if let Some(user) = &key.creator_user_id {
            crate::key_controls::insert_grant(
                &mut tx,
                &key.id,
                crate::Grantee::User(user.clone()),
                key.created_by.as_deref(),
                key.now,
            )
            .await?;
        }
        if let Some(a) = &key.pending_approval {
            crate::key_controls::insert_approval(&mut tx, a).await?;
        }
        insert_record(&mut tx, rec).await?;
        sqlx::query(
            "INSERT INTO exchange_key_versions (key_id, version, secret_id, fingerprint, \
             created_at) VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(&rec.id)
        .bind(&key.fingerprint)
        .bind(key.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Exchange keys, oldest first; revoked ones only when asked.
    pub async fn exchange_keys(
        &self,
        include_revoked: bool,
    ) -> Result<Vec<ExchangeKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM exchange_keys k JOIN exchange_key_versions v \
             ON v.key_id = k.id AND v.version = k.current_version \
             WHERE ($1 = 1 OR k.revoked_at IS NULL) ORDER BY k.created_at, k.id"
        ))
        .bind(i64::from(include_revoked))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exchange_key).collect()
    }

    /// One exchange key.
    pub async fn exchange_key(&self, id: &str) -> Result<Option<ExchangeKey>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM exchange_keys k JOIN exchange_key_versions v \
             ON v.key_id = k.id AND v.version = k.current_version WHERE k.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(exchange_key)
        .transpose()
    }

    /// The versions of a key that can sign at `now`, newest first.
    pub async fn usable_key_versions(
        &self,
        key_id: &str,
        now: i64,
    ) -> Result<Vec<ExchangeKeyVersion>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM exchange_key_versions \
             WHERE key_id = $1 AND secret_id IS NOT NULL \
             AND (valid_until IS NULL OR valid_until > $2) ORDER BY version DESC"
        ))
        .bind(key_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_version).collect()
    }

    /// Every version of a key, newest first.
    pub async fn exchange_key_versions(
        &self,
        key_id: &str,
    ) -> Result<Vec<ExchangeKeyVersion>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM exchange_key_versions WHERE key_id = $1 \
             ORDER BY version DESC"
        ))
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_version).collect()
    }

    /// Stores new credentials as version `from + 1`; version `from` stays
    /// usable until `grace_until`. False (nothing written) when the key is
    /// revoked or its current version is no longer `from` (a concurrent
    /// rotation won).
    pub async fn rotate_exchange_key(
        &self,
        key_id: &str,
        from: i64,
        fingerprint: &str,
        rec: &VaultRecord,
        now: i64,
        grace_until: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE exchange_keys SET current_version = $3, rotated_at = $4, \
             rotation_alerted_at = NULL WHERE id = $1 AND current_version = $2 \
             AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(from)
        .bind(from + 1)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        // Earlier versions still in grace keep their own, earlier end.
        sqlx::query(
            "UPDATE exchange_key_versions SET valid_until = $3 \
             WHERE key_id = $1 AND version = $2 AND valid_until IS NULL",
        )
        .bind(key_id)
        .bind(from)
        .bind(grace_until)
        .execute(&mut *tx)
        .await?;
        insert_record(&mut tx, rec).await?;
        sqlx::query(
            "INSERT INTO exchange_key_versions (key_id, version, secret_id, fingerprint, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key_id)
        .bind(from + 1)
        .bind(&rec.id)
        .bind(fingerprint)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes a key and destroys every credential version at once.
    /// False when it does not exist or was already revoked.
    pub async fn revoke_exchange_key(&self, key_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE exchange_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM exchange_key_versions \
             WHERE key_id = $1 AND secret_id IS NOT NULL"
        ))
        .bind(key_id)
        .fetch_all(&mut *tx)
        .await?;
        let versions = rows
            .iter()
            .map(key_version)
            .collect::<Result<Vec<_>, _>>()?;
        destroy_versions(&mut tx, &versions, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Destroys the records of versions whose grace period ended; returns
    /// them.
    pub async fn destroy_expired_key_versions(
        &self,
        now: i64,
    ) -> Result<Vec<ExchangeKeyVersion>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM exchange_key_versions \
             WHERE secret_id IS NOT NULL AND valid_until IS NOT NULL AND valid_until <= $1"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let versions = rows
            .iter()
            .map(key_version)
            .collect::<Result<Vec<_>, _>>()?;
        destroy_versions(&mut tx, &versions, now).await?;
        tx.commit().await?;
        Ok(versions)
    }

    /// Records that the rotation-due event was raised for the key's
    /// current version; false if another caller already did.
    pub async fn mark_rotation_alerted(&self, key_id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE exchange_keys SET rotation_alerted_at = $2 \
             WHERE id = $1 AND rotation_alerted_at IS NULL",
        )
        .bind(key_id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records one signing request: its audit entry, and one more use of
    /// `key_id` in hour `hour` (unix hours), in one transaction (one
    /// durable write per signature). Returns the counts spike detection
    /// needs.
    pub async fn record_key_use(
        &self,
        key_id: &str,
        hour: i64,
        audit: &crate::AuditEvent,
    ) -> Result<Usage, StoreError> {
        let details = serde_json::to_string(&audit.details)
            .map_err(|err| StoreError::Corrupt(format!("audit details: {err}")))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_log (at_ms, event, actor, subject, client_addr, outcome, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(audit.at_ms)
        .bind(&audit.event)
        .bind(audit.actor.as_deref())
        .bind(audit.subject.as_deref())
        .bind(audit.client_addr.as_deref())
        .bind(&audit.outcome)
        .bind(details)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO exchange_key_usage (key_id, hour, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key_id, hour) DO UPDATE SET count = exchange_key_usage.count + 1 \
             RETURNING count, alerted",
        )
        .bind(key_id)
        .bind(hour)
        .fetch_one(&mut *tx)
        .await?;
        let this_hour: i64 = row.try_get(0)?;
        let alerted: i64 = row.try_get(1)?;
        let previous: Option<i64> = sqlx::query(
            "SELECT CAST(SUM(count) AS BIGINT) FROM exchange_key_usage \
             WHERE key_id = $1 AND hour >= $2 AND hour < $3",
        )
        .bind(key_id)
        .bind(hour - 24)
        .bind(hour)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(Usage {
            this_hour,
            previous_24h: previous.unwrap_or(0),
            alerted: alerted != 0,
        })
    }

    /// Records a batch of audit entries and the key uses they count in one
    /// transaction (one durable commit for the whole batch): the rows are
    /// inserted in order, and the uses of each key and hour are summed into
    /// one upsert (in key order, so concurrent writers lock alike).
    ///
    /// Returns one item per entry: the [`Usage`] for entries with a key use
    /// — counted as if the batch's uses had been written one by one in
    /// order, so the n-th use of a key in the batch sees `this_hour` of the
    /// count before the batch plus n — and `None` for plain entries. On any
    /// error nothing is written.
    pub async fn record_audit_batch(
        &self,
        entries: &[AuditEntry],
    ) -> Result<Vec<Option<Usage>>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut details = Vec::with_capacity(entries.len());
        for e in entries {
            details.push(
                serde_json::to_string(&e.event.details)
                    .map_err(|err| StoreError::Corrupt(format!("audit details: {err}")))?,
            );
        }
        let mut uses: std::collections::BTreeMap<&KeyUse, i64> = std::collections::BTreeMap::new();
        for u in entries.iter().filter_map(|e| e.key_use.as_ref()) {
            *uses.entry(u).or_default() += 1;
        }
        let mut tx = self.begin_write().await?;
        for (chunk, details) in entries
            .chunks(AUDIT_ROWS_PER_INSERT)
            .zip(details.chunks(AUDIT_ROWS_PER_INSERT))
        {
            let mut sql = String::from(
                "INSERT INTO audit_log (at_ms, event, actor, subject, client_addr, outcome, \
                 details) VALUES ",
            );
            for i in 0..chunk.len() {
                let n = i * 7;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7
                ));
            }
            // Only placeholders are generated; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, d) in chunk.iter().zip(details) {
                let a = &e.event;
                query = query
                    .bind(a.at_ms)
                    .bind(a.event.as_str())
                    .bind(a.actor.as_deref())
                    .bind(a.subject.as_deref())
                    .bind(a.client_addr.as_deref())
                    .bind(a.outcome.as_str())
                    .bind(d.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        // Per key and hour: (count before the batch, alerted, previous 24 h).
        let mut counted: std::collections::BTreeMap<&KeyUse, (i64, bool, i64)> =
            std::collections::BTreeMap::new();
        for (u, n) in &uses {
            let row = sqlx::query(
                "INSERT INTO exchange_key_usage (key_id, hour, count) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id, hour) DO UPDATE SET count = exchange_key_usage.count + $3 \
                 RETURNING count, alerted",
            )
            .bind(u.key_id.as_str())
            .bind(u.hour)
            .bind(*n)
            .fetch_one(&mut *tx)
            .await?;
            let after: i64 = row.try_get(0)?;
            let alerted: i64 = row.try_get(1)?;
            let previous: Option<i64> = sqlx::query(
                "SELECT CAST(SUM(count) AS BIGINT) FROM exchange_key_usage \
                 WHERE key_id = $1 AND hour >= $2 AND hour < $3",
            )
            .bind(u.key_id.as_str())
            .bind(u.hour - 24)
            .bind(u.hour)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            counted.insert(*u, (after - n, alerted != 0, previous.unwrap_or(0)));
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            out.push(match &e.key_use {
                Some(u) => match counted.get_mut(u) {
                    Some((count, alerted, previous)) => {
                        *count += 1;
                        Some(Usage {
                            this_hour: *count,
                            previous_24h: *previous,
                            alerted: *alerted,
                        })
                    }
                    None => None,
                },
                None => None,
            });
        }
        Ok(out)
    }

    /// Marks the spike of this hour as recorded; false if another caller
    /// already did.
    pub async fn mark_usage_alerted(&self, key_id: &str, hour: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE exchange_key_usage SET alerted = 1 \
             WHERE key_id = $1 AND hour = $2 AND alerted = 0",
        )
        .bind(key_id)
        .bind(hour)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
