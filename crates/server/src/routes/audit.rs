//! `/api/v1/audit`: the security event log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use cryptobot_auth::Scope;
use cryptobot_store::{AuditQuery, AuditRecord};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Caller, check_len, query_problem};
use crate::problem::{ApiError, ProblemBody, ScopeErrors};
use crate::state::AppState;

/// Filters for the audit log; all optional.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only events at or after this time (unix milliseconds).
    pub since: Option<i64>,
    /// Only events before this time (unix milliseconds).
    pub until: Option<i64>,
    /// Only events by this actor (username).
    #[param(min_length = 1, max_length = 64)]
    pub actor: Option<String>,
    /// Only events of this type, e.g. `login_failed`.
    #[param(rename = "type", min_length = 1, max_length = 64)]
    #[serde(rename = "type")]
    pub event: Option<String>,
    /// Paging: only events with an id below this.
    pub before_id: Option<i64>,
    /// At most this many events (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One audit record.
#[derive(serde::Serialize, ToSchema)]
pub struct AuditEntry {
    /// Sequence number; newer is larger.
    pub id: i64,
    /// Time (unix milliseconds).
    pub at_ms: i64,
    /// Event type, e.g. `login_failed`, `permission_denied`.
    #[serde(rename = "type")]
    pub event: String,
    /// Who acted (username, or `cli:<account>`).
    pub actor: Option<String>,
    /// Whom it concerned (username).
    pub subject: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// ok, denied, locked …
    pub outcome: String,
    /// Event-specific facts; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        AuditEntry {
            id: r.id,
            at_ms: r.event.at_ms,
            event: r.event.event,
            actor: r.event.actor,
            subject: r.event.subject,
            client_addr: r.event.client_addr,
            outcome: r.event.outcome,
            details: r.event.details,
        }
    }
}

/// Read the audit log, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", operation_id = "listAudit", tag = "audit",
    security(("bearer" = ["audit:read"])),
    params(AuditParams),
    responses(
        (status = 200, description = "Matching events, newest first", body = Vec<AuditEntry>),
        ScopeErrors,
        (status = 422, description = "Bad filter", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(&state, Scope::AuditRead).await?;
    let Query(p) = params.map_err(|e| query_problem(&e))?;
    if let Some(limit) = p.limit
        && !(1..=1000).contains(&limit)
    {
        return Err(ApiError::invalid_field("limit", "must be from 1 to 1000"));
    }
    for (field, v) in [("actor", &p.actor), ("type", &p.event)] {
        if let Some(v) = v {
            check_len(field, v, 1, 64)?;
        }
    }
    let records = state
        .store
        .query_audit(&AuditQuery {
            since_ms: p.since,
            until_ms: p.until,
            actor: p.actor,
            event: p.event,
            before_id: p.before_id,
            limit: p.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(records.into_iter().map(AuditEntry::from).collect()))
}
