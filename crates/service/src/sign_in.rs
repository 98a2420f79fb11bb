//! Sign-in steps: verifying a password within the hashing limit, and what
//! a failed step costs. Every place that re-checks a password or a second
//! factor (sign-in, its MFA step, step-up, changing the password, disabling
//! MFA) goes through [`SignIn`], so a failure is counted and audited the
//! same way everywhere.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cryptobot_auth::{MfaKeys, PasswordCheck, PasswordHasher, lockout_group};
use cryptobot_config::Settings;
use cryptobot_store::{ACCOUNT_WIDE, FailureBudget, Lock, Store, StoreError, User};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::audit::{Who, record_audit};
use crate::mfa::{CodeError, Method, check_code};

/// Longest wait for a hashing slot before giving up ([`StepError::Busy`]).
const HASH_SLOT_WAIT: Duration = Duration::from_secs(2);
/// Failed steps are counted over a sliding window of this many seconds.
const FAILURE_WINDOW: i64 = 3600;
/// A lock within this many seconds of the previous one of the same scope
/// is longer (`security.rate_limiting.lock_minutes`).
const ESCALATE_WITHIN: i64 = 86_400;
/// An address group the account signed in from within this many days is
/// its owner's: an account-wide lock leaves it open.
pub const KNOWN_GROUP_DAYS: i64 = 90;

/// Password hashing with a bound on concurrent work, so a sign-in flood
/// cannot starve the rest of the service, and the typical time of one
/// verification, so answers that skip hashing take as long.
pub struct Hashing {
    hasher: PasswordHasher,
    slots: Semaphore,
    micros: AtomicU64,
}

impl std::fmt::Debug for Hashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashing").finish_non_exhaustive()
    }
}

impl Hashing {
    /// `hasher`, with at most `slots` verifications at once.
    pub fn new(hasher: PasswordHasher, slots: usize) -> Hashing {
        Hashing {
            hasher,
            slots: Semaphore::new(slots),
            micros: AtomicU64::new(0),
        }
    }

    /// argon2id at the configured parameters.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The typical time of one password verification.
    pub fn typical_time(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }

    /// Folds one measured verification into the running average.
    fn observe(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.micros.store(new, Ordering::Relaxed);
    }

    /// Verifies a password on the blocking pool, within the hashing limit.
    /// `None` as `phc` checks against a dummy hash (same cost).
    pub async fn verify(
        &self,
        password: SecretString,
        phc: Option<String>,
    ) -> Result<PasswordCheck, StepError> {
        let permit = tokio::time::timeout(HASH_SLOT_WAIT, self.slots.acquire())
            .await
            .map_err(|_| StepError::Busy)?
            .map_err(|_| StepError::Internal)?;
        let hasher = self.hasher.clone();
        let started = Instant::now();
        let check = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => hasher.verify(&password, &phc),
            None => {
                hasher.verify_dummy(&password);
                PasswordCheck::Mismatch
            }
        })
        .await
        .map_err(|_| StepError::Internal)?;
        self.observe(started.elapsed());
        drop(permit);
        Ok(check)
    }
}

/// Why a sign-in step did not pass.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The password is wrong (the failure is counted and audited).
    #[error("the password is wrong")]
    Refused,
    /// Too many password verifications at once; retry shortly.
    #[error("too many sign-ins at once")]
    Busy,
    /// The verification could not run.
    #[error("the password could not be verified")]
    Internal,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where failed steps from an address are counted towards its progressive
/// delay (in this process, or shared through Redis).
pub trait AddressDelays: Sync {
    /// Records a failed sign-in step from `addr`; returns the delay now
    /// imposed, in seconds.
    fn record_failure(&self, addr: IpAddr, now: i64) -> impl Future<Output = i64> + Send;
}

/// How a failed step is audited and what it costs.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    /// The audit event (`login_failed`, `password_change_failed`, …).
    pub event: &'a str,
    /// `reason` in the event's details.
    pub reason: &'a str,
    /// Whether the failure also counts towards the account's lockout
    /// (the event's details then carry `failures`).
    pub lockout: bool,
}

/// Everything a sign-in step needs.
pub struct SignIn<'a, D> {
    /// Accounts, failures, audit.
    pub store: &'a Store,
    /// `security.rate_limiting`.
    pub settings: &'a Settings,
    /// Password verification.
    pub hashing: &'a Hashing,
    /// Keys opening TOTP secrets and hashing backup codes.
    pub mfa: &'a MfaKeys,
    /// The address delays.
    pub delays: &'a D,
}

impl<D: AddressDelays> SignIn<'_, D> {
    /// Counts a failed step from `client` towards its address delay and,
    /// with `lockout`, towards `user`'s failure budget (auditing every lock
    /// it sets). Returns the account's failure count when it was counted.
    pub async fn count_failure(
        &self,
        user: Option<&User>,
        who: &Who,
        client: IpAddr,
        now: i64,
        lockout: bool,
    ) -> Result<Option<i64>, StoreError> {
        self.delays.record_failure(client, now).await;
        let Some(user) = user.filter(|_| lockout) else {
            return Ok(None);
        };
        let limits = &self.settings.security.rate_limiting;
        let ladder: Vec<i64> = limits
            .lock_minutes
            .iter()
            .map(|m| i64::from(*m) * 60)
            .collect();
        let budget = FailureBudget {
            window_secs: FAILURE_WINDOW,
            group_limit: i64::from(limits.address_group_failures_per_hour),
            account_limit: i64::from(limits.account_failures_per_hour),
            ladder: &ladder,
            escalate_within_secs: ESCALATE_WITHIN,
        };
        let group = lockout_group(client);
        let counted = self
            .store
            .count_auth_failure(&user.id, &group, now, &budget)
            .await?;
        for lock in &counted.new_locks {
            let account_wide = lock.scope == ACCOUNT_WIDE;
            record_audit(
                self.store,
                "account_locked",
                who,
                Some(&user.username),
                "locked",
                json!({
                    "scope": if account_wide { "account" } else { "address_group" },
                    "address_group": (!account_wide).then_some(&lock.scope),
                    "until": lock.until,
                    "level": lock.level,
                    "failures": if account_wide { counted.account_failures } else { counted.group_failures },
                    "notify": true,
                }),
            )
            .await;
        }
        Ok(Some(counted.account_failures))
    }

    /// The lock that keeps `user` from signing in from `client` now, if
    /// any: a lock of the client's address group, or the account-wide one
    /// unless the account signed in from that group in the last
    /// [`KNOWN_GROUP_DAYS`] days.
    pub async fn lock_for(
        &self,
        user: &User,
        client: IpAddr,
        now: i64,
    ) -> Result<Option<Lock>, StoreError> {
        self.store
            .auth_lock(
                &user.id,
                &lockout_group(client),
                now,
                now - KNOWN_GROUP_DAYS * 86_400,
            )
            .await
    }

    /// A failed step: counted as `failed` says, then audited as
    /// `failed.event` about `user` with `failed.reason`.
    pub async fn fail(
        &self,
        user: Option<&User>,
        who: &Who,
        client: IpAddr,
        now: i64,
        failed: Failed<'_>,
    ) -> Result<(), StoreError> {
        let failures = self
            .count_failure(user, who, client, now, failed.lockout)
            .await?;
        let details = match failures {
            Some(n) => json!({"reason": failed.reason, "failures": n}),
            None => json!({"reason": failed.reason}),
        };
        record_audit(
            self.store,
            failed.event,
            who,
            user.map(|u| u.username.as_str()),
            "denied",
            details,
        )
        .await;
        Ok(())
    }

    /// Re-checks `user`'s password (`None`: an unknown account, checked
    /// against a dummy hash at the same cost, never matching). A wrong
    /// password is counted and audited ([`Self::fail`]) and answers
    /// [`StepError::Refused`]. On a match, returns whether the stored hash
    /// should be upgraded.
    pub async fn recheck_password(
        &self,
        user: Option<&User>,
        password: SecretString,
        who: &Who,
        client: IpAddr,
        now: i64,
        failed: Failed<'_>,
    ) -> Result<bool, StepError> {
        if failed.lockout
            && let Some(u) = user
            && self.lock_for(u, client, now).await?.is_some()
        {
            // Locked: the same work as a wrong password (a real hash
            // verification), so timing does not tell a lock apart.
            self.hashing.verify(password, None).await?;
            let locked = Failed {
                reason: "locked",
                lockout: false,
                ..failed
            };
            self.fail(user, who, client, now, locked).await?;
            return Err(StepError::Refused);
        }
        let phc = user.map(|u| u.password_hash.clone());
        match self.hashing.verify(password, phc).await? {
            PasswordCheck::Match { needs_rehash } => Ok(needs_rehash),
            PasswordCheck::Mismatch => {
                self.fail(user, who, client, now, failed).await?;
                Err(StepError::Refused)
            }
        }
    }

    /// Checks a second-factor code ([`check_code`], which audits a
    /// failure); a failure is counted towards `client`'s delay and, with
    /// `lockout`, towards the account's lockout.
    pub async fn recheck_code(
        &self,
        user: &User,
        code: &str,
        who: &Who,
        client: IpAddr,
        now: i64,
        lockout: bool,
    ) -> Result<Method, CodeError> {
        if lockout && self.lock_for(user, client, now).await?.is_some() {
            self.delays.record_failure(client, now).await;
            record_audit(
                self.store,
                "mfa_failed",
                who,
                Some(&user.username),
                "denied",
                json!({"reason": "locked"}),
            )
            .await;
            return Err(CodeError::Invalid);
        }
        match check_code(self.store, self.mfa, user, code, who, now).await {
            Ok(m) => Ok(m),
            Err(e) => {
                self.count_failure(Some(user), who, client, now, lockout)
                    .await?;
                Err(e)
            }
        }
    }
}
