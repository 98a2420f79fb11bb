//! The audit log.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::model::{AuditEvent, AuditQuery, AuditRecord};
use crate::store::Store;

/// Bounds of [`AuditQuery::limit`].
const MAX_AUDIT_LIMIT: i64 = 1000;

/// A bound parameter of a dynamically assembled query.
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

fn record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let details: String = row.try_get("details")?;
    let details = serde_json::from_str(&details)
        .map_err(|e| StoreError::Corrupt(format!("audit details are not JSON: {e}")))?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        event: AuditEvent {
            at_ms: row.try_get("at_ms")?,
            event: row.try_get("event")?,
            actor: row.try_get("actor")?,
            subject: row.try_get("subject")?,
            client_addr: row.try_get("client_addr")?,
            outcome: row.try_get("outcome")?,
            details,
        },
    })
}

impl Store {
    /// Appends an audit entry; returns its id.
    pub async fn append_audit(&self, e: &AuditEvent) -> Result<i64, StoreError> {
        let details = serde_json::to_string(&e.details)
            .map_err(|err| StoreError::Corrupt(format!("audit details: {err}")))?;
        let row = sqlx::query(
            "INSERT INTO audit_log (at_ms, event, actor, subject, client_addr, outcome, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(e.at_ms)
        .bind(&e.event)
        .bind(e.actor.as_deref())
        .bind(e.subject.as_deref())
        .bind(e.client_addr.as_deref())
        .bind(&e.outcome)
        .bind(details)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Audit entries matching every given filter, newest (highest id)
    /// first, at most `q.limit` clamped to `1..=1000`.
    pub async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // Only these fixed fragments are ever concatenated; all values are
        // bound parameters.
        let mut filters: Vec<(&'static str, Param<'_>)> = Vec::new();
        if let Some(v) = q.since_ms {
            filters.push(("at_ms >= $", Param::Int(v)));
        }
        if let Some(v) = q.until_ms {
            filters.push(("at_ms < $", Param::Int(v)));
        }
        if let Some(v) = &q.actor {
            filters.push(("actor = $", Param::Text(v)));
        }
        if let Some(v) = &q.event {
            filters.push(("event = $", Param::Text(v)));
        }
        if let Some(v) = q.before_id {
            filters.push(("id < $", Param::Int(v)));
        }
        let mut sql = String::from(
            "SELECT id, at_ms, event, actor, subject, client_addr, outcome, details \
             FROM audit_log",
        );
        for (i, (fragment, _)) in filters.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(fragment);
            sql.push_str(&(i + 1).to_string());
        }
        sql.push_str(" ORDER BY id DESC LIMIT $");
        sql.push_str(&(filters.len() + 1).to_string());

        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, param) in filters {
            query = match param {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        query
            .bind(q.limit.clamp(1, MAX_AUDIT_LIMIT))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record_from_row)
            .collect()
    }

    /// The newest `limit` audit records by or about `username` (as actor,
    /// through one of its service keys, or as subject).
    pub async fn audit_of_user(
        &self,
        username: &str,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let key_actor = format!("{username}/apikey:");
        sqlx::query(
            "SELECT id, at_ms, event, actor, subject, client_addr, outcome, details \
             FROM audit_log WHERE actor = $1 OR subject = $1 \
             OR substr(actor, 1, length($2)) = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(username)
        .bind(&key_actor)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(record_from_row)
        .collect()
    }
}
