//! Shared state of the running service.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cryptobot_auth::{MfaKeys, PasswordHasher, PasswordPolicy};
use cryptobot_config::{Layout, Settings};
use cryptobot_store::{AuditEvent, Store};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::keys::KeyRing;

/// Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Cheap-to-clone handle on everything a request needs.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The state itself.
pub struct Inner {
    /// Accounts, sessions, audit.
    pub store: Store,
    /// The validated configuration.
    pub settings: Settings,
    /// Where the installation lives.
    pub layout: Layout,
    /// Signing and verification keys; swapped on rotation.
    pub keys: RwLock<Arc<KeyRing>>,
    /// argon2id at the configured parameters.
    pub hasher: PasswordHasher,
    /// The password rules.
    pub policy: PasswordPolicy,
    /// Call limits (per session, address, service key, sign-in address and
    /// account) and progressive sign-in delays, in-process or in Redis,
    /// with their counters.
    pub limits: crate::shared::Limits,
    /// Bounds concurrent password hashing so a login flood cannot starve
    /// the rest of the service.
    pub hash_slots: Semaphore,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<cryptobot_config::IpNet>,
    /// Keys (from `vault_master.key`) sealing TOTP secrets and hashing
    /// backup codes.
    pub mfa: MfaKeys,
    /// The vault's master key ring.
    pub vault: crate::vault::VaultKeys,
    /// Running average of one password verification, in microseconds;
    /// answers that skip hashing wait this long so timing tells nothing.
    pub hash_micros: AtomicU64,
    /// Service keys whose previous secret was used during its grace period,
    /// with the hour of the last alert (one alert per key and hour here).
    pub previous_secret_alerts: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Open, refused and timed-out connections (`crate::connections`).
    pub connections: Arc<crate::connections::ConnectionCounters>,
}

/// Who did something and from where, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// Username of the actor (or `cli:<account>`), if known.
    pub actor: Option<String>,
    /// Client address.
    pub client: Option<IpAddr>,
}

impl Inner {
    /// Whether a use of service key `id`'s previous secret at `now` is the
    /// first of this hour (and so worth an alert).
    pub fn first_previous_secret_use(&self, id: &str, now: i64) -> bool {
        let hour = now.div_euclid(3600);
        let mut seen = match self.previous_secret_alerts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.get(id) == Some(&hour) {
            return false;
        }
        seen.retain(|_, h| *h >= hour - 1);
        seen.insert(id.to_string(), hour);
        true
    }

    /// The current key ring.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the key ring.
    pub fn set_key_ring(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.keys.write() {
            Ok(mut g) => *g = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// Records a security event: stored, and written to the service log as
    /// one JSON line. A storage failure is logged, never hidden.
    pub async fn audit(
        &self,
        event: &str,
        who: &Who,
        subject: Option<&str>,
        outcome: &str,
        details: Value,
    ) {
        record_audit(&self.store, event, who, subject, outcome, details).await;
    }

    /// The typical time of one password verification.
    pub fn typical_hash_time(&self) -> Duration {
        Duration::from_micros(self.hash_micros.load(Ordering::Relaxed))
    }

    /// Folds one measured verification into the running average.
    pub fn observe_hash_time(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.hash_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.hash_micros.store(new, Ordering::Relaxed);
    }
}

/// An audit event of `who` at this moment.
pub fn audit_event(
    event: &str,
    who: &Who,
    subject: Option<&str>,
    outcome: &str,
    details: Value,
) -> AuditEvent {
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
