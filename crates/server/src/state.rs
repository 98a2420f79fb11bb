//! Shared state of the running service.

use std::sync::{Arc, RwLock};

use cryptobot_auth::{MfaKeys, PasswordPolicy};
use cryptobot_config::{Layout, Settings};
use cryptobot_service::audit::{Who, record_audit};
use cryptobot_service::audit_batch::AuditBatcher;
use cryptobot_service::exchange_keys::VaultKeys;
use cryptobot_service::sign_in::{Hashing, SignIn};
use cryptobot_service::signing_keys::KeyRing;
use cryptobot_store::Store;
use serde_json::Value;

use crate::shared::Limits;

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
    /// argon2id at the configured parameters, with concurrent password
    /// hashing bounded so a login flood cannot starve the rest of the
    /// service, and the running average of one verification (answers that
    /// skip hashing wait this long so timing tells nothing).
    pub hashing: Hashing,
    /// The password rules.
    pub policy: PasswordPolicy,
    /// Call limits (per session, address, service key, sign-in address and
    /// account) and progressive sign-in delays, in-process or in Redis,
    /// with their counters.
    pub limits: Limits,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<cryptobot_config::IpNet>,
    /// Keys (from `vault_master.key`) sealing TOTP secrets and hashing
    /// backup codes.
    pub mfa: MfaKeys,
    /// The vault's master key ring.
    pub vault: VaultKeys,
    /// The group-commit audit writer: signatures (and refusals) share
    /// durable transactions.
    pub audit_batcher: AuditBatcher,
    /// Service keys whose previous secret was used during its grace period,
    /// with the hour of the last alert (one alert per key and hour here).
    pub previous_secret_alerts: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Open, refused and timed-out connections (`crate::connections`).
    pub connections: Arc<crate::connections::ConnectionCounters>,
    /// The key of password-reset tokens (`reset_token.key`).
    pub reset_key: cryptobot_auth::ResetKey,
    /// Noisy refusals, recorded once per event, reason, address and minute.
    pub noisy: cryptobot_service::audit_aggregate::AuditAggregator,
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

    /// Counts a noisy refusal (written with its count once its minute is
    /// over; see [`cryptobot_service::audit_aggregate`]).
    pub fn note_refusal(
        &self,
        event: &'static str,
        reason: &'static str,
        client: Option<std::net::IpAddr>,
    ) {
        self.noisy
            .note(event, reason, client, cryptobot_service::clock::now_ms());
    }

    /// The account operations, with this service's hashing and rules.
    pub fn accounts(&self) -> cryptobot_service::accounts::Accounts<'_> {
        cryptobot_service::accounts::Accounts {
            store: &self.store,
            hasher: self.hashing.hasher(),
            policy: &self.policy,
            settings: &self.settings,
        }
    }

    /// The sign-in steps, counting failed ones in [`Inner::limits`].
    pub fn sign_in(&self) -> SignIn<'_, Limits> {
        SignIn {
            store: &self.store,
            settings: &self.settings,
            hashing: &self.hashing,
            mfa: &self.mfa,
            delays: &self.limits,
        }
    }
}
