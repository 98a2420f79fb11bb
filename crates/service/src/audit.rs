//! The audit writer: every security event is stored and written to the
//! service log as one JSON line (target `audit`).

use std::net::IpAddr;

use cryptobot_store::{AuditEvent, Store};
use serde_json::Value;

use crate::clock::now_ms;

/// Who did something and from where, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// Username of the actor (or `cli:<account>`), if known.
    pub actor: Option<String>,
    /// Client address.
    pub client: Option<IpAddr>,
}

/// An audit event of `who` at this moment.
pub fn audit_event(
    event: &str,
    who: &Who,
    subject: Option<&str>,
    outcome: &str,
    mut details: Value,
) -> AuditEvent {
    if let (Some(id), Some(map)) = (crate::request_id::current(), details.as_object_mut()) {
        map.insert("request_id".into(), Value::String(id.to_string()));
    }
    AuditEvent {
        at_ms: now_ms(),
        event: event.to_string(),
        actor: who.actor.clone(),
        subject: subject.map(str::to_string),
        client_addr: who.client.map(|c| c.to_string()),
        outcome: outcome.to_string(),
        details,
    }
}

/// Writes an audit event to the service log as one JSON line (target
/// `audit`).
pub fn log_audit(e: &AuditEvent) {
    tracing::info!(
        target: "audit",
        event = %e.event,
        actor = e.actor.as_deref().unwrap_or(""),
        subject = e.subject.as_deref().unwrap_or(""),
        client = e.client_addr.as_deref().unwrap_or(""),
        outcome = %e.outcome,
        details = %e.details,
    );
}

/// Stores an audit event and logs it as one JSON line (target `audit`).
/// A storage failure is logged, never hidden.
pub async fn record_audit(
    store: &Store,
    event: &str,
    who: &Who,
    subject: Option<&str>,
    outcome: &str,
    details: Value,
) {
    let e = audit_event(event, who, subject, outcome, details);
    log_audit(&e);
    if let Err(err) = store.append_audit(&e).await {
        tracing::error!(error = %err, event, "could not store an audit event");
    }
}
