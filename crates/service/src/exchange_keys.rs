//! The exchange-key vault at work: the master key ring file (where it is,
//! loading, rotation), exchange keys (add, list, rotate, revoke, sign), and
//! the MFA root key kept in the vault. Shared by the HTTP routes and the
//! `cryptobot keys` / `cryptobot vault` commands, so both follow the same
//! rules and write the same audit records.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use cryptobot_config::{Layout, Settings, secret_files};
use cryptobot_store::{
    ExchangeKey, NewApproval, NewExchangeKey, Rewrap, Store, StoreError, VaultRecord,
};
use cryptobot_vault::policy::{self, BookEntry, Class, ExtraPath, KeyPolicy, Permissions, Refusal};
use cryptobot_vault::{
    Binding, Credentials, Exchange, Keyring, Sealed, SignRequest, Signed, VaultError,
};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::audit::{Who, audit_event, log_audit, record_audit};
use crate::audit_batch::{AuditBatcher, AuditWriteError};
use crate::key_access::{APPROVAL_EXPIRY_HOURS, Access, Budget, SignatureBudget};

/// Purpose of exchange credential records.
pub const PURPOSE_EXCHANGE: &str = "exchange-credentials";
/// Purpose (and id) of the record holding the MFA root key.
pub const PURPOSE_MFA_ROOT: &str = "mfa-root";
/// The signing policy's clock window: a timestamp (or Kraken nonce) more
/// than this far from the vault's clock is refused, so signatures cannot be
/// stockpiled for later (Binance's `recvWindow` is at most 60 s).
pub const MAX_TIMESTAMP_SKEW_MS: i64 = 60_000;
/// At most one `signing refused` alert per key in this many milliseconds
/// (the audit row is written for every refusal).
pub const REFUSAL_ALERT_EVERY_MS: i64 = 60_000;
/// Spikes need at least this many requests in an hour.
pub const SPIKE_MIN_REQUESTS: i64 = 20;

/// Why the vault master key ring cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The vault master key cannot be read.
    #[error("cannot read the vault master key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The vault master key file is not usable.
    #[error("the vault master key {path} is not usable: {why}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The master key ring does not open what the database holds.
    #[error(
        "the vault master key {path} does not open the secrets stored with master key version {version}"
    )]
    Mismatch {
        /// The file.
        path: String,
        /// The master version that does not open.
        version: i64,
    },
    /// The vault could not be checked against the database.
    #[error("cannot check the vault master key against the database: {0}")]
    Check(String),
}

impl MasterKeyError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            MasterKeyError::Read { .. } => {
                "restore vault_master.key from your backup (a new key cannot open secrets sealed with the old one); only for a fresh installation run `cryptobot secure-config`, then `cryptobot user reset-mfa` for every user with MFA"
            }
            MasterKeyError::Unusable { .. } => {
                "restore vault_master.key from a backup; a new one cannot decrypt existing data"
            }
            MasterKeyError::Mismatch { .. } => {
                "this is not the key ring the secrets were sealed with: restore the vault_master.key that belongs to this database from your backup, or point CRYPTOBOT_VAULT_KEY_FILE at it"
            }
            MasterKeyError::Check(_) => "check that the database is reachable and intact",
        }
    }
}

/// Where the vault master key is read from, first match wins:
/// `CRYPTOBOT_VAULT_KEY_FILE`, the systemd credential
/// `$CREDENTIALS_DIRECTORY/vault_master.key` (the unit from `cryptobot
/// permissions` passes it with `LoadCredential=`), then
/// `<home>/config/secrets/vault_master.key`.
pub fn vault_key_path(layout: &Layout) -> std::path::PathBuf {
    vault_key_path_from(
        layout,
        std::env::var_os("CRYPTOBOT_VAULT_KEY_FILE"),
        std::env::var_os("CREDENTIALS_DIRECTORY"),
    )
}

fn vault_key_path_from(
    layout: &Layout,
    file: Option<std::ffi::OsString>,
    credentials: Option<std::ffi::OsString>,
) -> std::path::PathBuf {
    if let Some(f) = file.filter(|f| !f.is_empty()) {
        return f.into();
    }
    if let Some(dir) = credentials.filter(|d| !d.is_empty()) {
        let p = std::path::Path::new(&dir).join(secret_files::VAULT_MASTER_KEY);
        if p.exists() {
            return p;
        }
    }
    layout.vault_master_key()
}

/// The master key ring as loaded from its file, re-read when the file
/// changes (after `cryptobot vault rotate-master`).
pub struct VaultKeys {
    path: PathBuf,
    ring: RwLock<Arc<Keyring>>,
    stamp: Mutex<Option<(i64, i64, u64)>>,
}

impl std::fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeys")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn file_stamp(path: &Path) -> Option<(i64, i64, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.ino()))
}

/// Reads and parses a key ring file.
pub fn read_keyring(path: &Path) -> Result<Keyring, MasterKeyError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| MasterKeyError::Read {
        path: path.display().to_string(),
        source,
    })?);
    let ring = Keyring::parse(&bytes).map_err(|e| MasterKeyError::Unusable {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    if ring.has_constant_key() {
        return Err(MasterKeyError::Unusable {
            path: path.display().to_string(),
            why: "a key is one repeated byte (a placeholder, not a key)".into(),
        });
    }
    Ok(ring)
}

impl VaultKeys {
    /// Loads the ring from where [`vault_key_path`] says.
    pub fn load(layout: &Layout) -> Result<VaultKeys, MasterKeyError> {
        Self::load_from(vault_key_path(layout))
    }

    /// Loads the ring from `path`.
    pub fn load_from(path: PathBuf) -> Result<VaultKeys, MasterKeyError> {
        let stamp = file_stamp(&path);
        let ring = read_keyring(&path)?;
        Ok(VaultKeys {
            path,
            ring: RwLock::new(Arc::new(ring)),
            stamp: Mutex::new(stamp),
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ring now.
    pub fn ring(&self) -> Arc<Keyring> {
        match self.ring.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads the file if it changed; a file that does not parse is
    /// logged and the ring in memory kept.
    pub fn refresh(&self) {
        let now = file_stamp(&self.path);
        let mut stamp = match self.stamp.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if *stamp == now {
            return;
        }
        match read_keyring(&self.path) {
            Ok(ring) => {
                tracing::info!(versions = ?ring.versions(), "vault master key ring reloaded");
                match self.ring.write() {
                    Ok(mut g) => *g = Arc::new(ring),
                    Err(p) => *p.into_inner() = Arc::new(ring),
                }
                *stamp = now;
            }
            Err(e) => {
                tracing::error!(error = %e, "vault master key file changed but cannot be used; keeping the loaded keys")
            }
        }
    }
}

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultOpError {
    /// Bad input; the message says what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// No such key.
    #[error("no exchange key `{0}`")]
    NotFound(String),
    /// The key was revoked.
    #[error("exchange key `{0}` is revoked")]
    Revoked(String),
    /// A label already in use, or a concurrent change won.
    #[error("{0}")]
    Conflict(String),
    /// Crypto failure (wrong master key, damaged record).
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    /// Storage failure.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The audit row of a signature was not committed (nothing is signed).
    #[error("audit: {0}")]
    Audit(#[from] AuditWriteError),
    /// The key ring file could not be read or written.
    #[error("{0}")]
    KeyFile(String),
    /// The signing policy refuses the request (audited and alerted).
    #[error(transparent)]
    Refused(Refusal),
    /// The caller has no grant for the key (audited).
    #[error("{who} has no grant for exchange key `{key}`")]
    NoGrant {
        /// The key.
        key: String,
        /// The caller, as [`Access::describe`] names it.
        who: String,
    },
    /// The key's signing limit is used up.
    #[error("exchange key `{key}` may sign at most {limit} requests per minute")]
    Limited {
        /// The key.
        key: String,
        /// Its limit.
        limit: u32,
        /// Seconds until one more is signed.
        retry_after_secs: u64,
    },
    /// The caller may not do this (not an admin, or approving their own
    /// request).
    #[error("{0}")]
    Forbidden(String),
    /// The shared signing limit cannot be checked (Redis down, failing
    /// closed).
    #[error("the signing limit cannot be checked right now")]
    LimitUnavailable,
}

impl VaultOpError {
    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            VaultOpError::NotFound(_) => {
                Some("`cryptobot keys list` shows the keys and their ids".into())
            }
            VaultOpError::Vault(VaultError::Open | VaultError::UnknownMasterVersion(_)) => Some(
                "the master key ring does not match the database: restore the vault_master.key that belongs to this database".into(),
            ),
            VaultOpError::Refused(_) => Some(
                "the key's declared permissions do not cover this request: docs/vault.md lists what each permission allows; an operator can add an exact path to [[vault.extra_paths]]".into(),
            ),
            VaultOpError::NoGrant { key, .. } => Some(format!(
                "an admin can grant it: `cryptobot keys grant {key} --user NAME` or `--api-key ID`"
            )),
            VaultOpError::Limited { .. } => Some(
                "wait, or raise the key's limit: `cryptobot keys set-limit KEY N` (security.api_keys.max_signatures_per_minute is the default)".into(),
            ),
            VaultOpError::KeyFile(_) => Some(
                "run as the installation's owner, with the key file (not a read-only systemd credential) in reach".into(),
            ),
            _ => None,
        }
    }
}

/// A declared permission of an exchange key, in the order stored.
pub const PERMISSIONS: [&str; 4] = ["read", "trade", "withdraw", "account-admin"];

/// What an operator gives to add or rotate a key.
pub struct NewCredentials {
    /// The API key.
    pub api_key: Zeroizing<String>,
    /// The secret.
    pub secret: Zeroizing<String>,
    /// Optional passphrase.
    pub passphrase: Option<Zeroizing<String>>,
}

impl NewCredentials {
    /// The bytes that are sealed for these credentials.
    fn sealed_bytes(&self) -> Zeroizing<Vec<u8>> {
        Credentials {
            api_key: self.api_key.clone(),
            secret: self.secret.clone(),
            passphrase: self.passphrase.clone(),
        }
        .to_bytes()
    }
}

impl std::fmt::Debug for NewCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewCredentials([redacted])")
    }
}

/// Metadata of a key being added.
#[derive(Debug, Clone)]
pub struct NewKeyMeta {
    /// Exchange name.
    pub exchange: String,
    /// Label.
    pub label: String,
    /// Declared permissions.
    pub permissions: Vec<String>,
    /// IP allow-list note.
    pub ip_note: Option<String>,
    /// OKX: the passphrase may be handed out in the signed headers.
    pub passphrase_in_headers: bool,
    /// Its own signing limit per minute (default: the installation's).
    pub max_signatures_per_minute: Option<u32>,
}

/// A key as listings show it: never a secret.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeKeyView {
    /// Key id (`xk_…`).
    pub id: String,
    /// Exchange.
    pub exchange: String,
    /// Label.
    pub label: String,
    /// Fingerprint of the current API key (`sha256:` + 12 hex digits).
    pub fingerprint: String,
    /// Declared permissions.
    pub permissions: Vec<String>,
    /// Note about the exchange-side IP allow-list.
    pub ip_note: Option<String>,
    /// Who added it.
    pub created_by: Option<String>,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// Current credential version.
    pub version: i64,
    /// When the current version was stored (unix seconds).
    pub rotated_at: i64,
    /// Days since the current version was stored.
    pub age_days: i64,
    /// When rotation is due (unix seconds).
    pub rotation_due_at: i64,
    /// The current version is older than `rotation_days`.
    pub rotation_due: bool,
    /// When it was revoked (unix seconds).
    pub revoked_at: Option<i64>,
    /// Whether the vault can sign requests for this exchange.
    pub can_sign: bool,
    /// Signatures per minute it may make (its own limit, or the
    /// installation's `max_signatures_per_minute`).
    pub max_signatures_per_minute: u32,
    /// OKX: the passphrase may be handed out in the signed headers.
    pub passphrase_in_headers: bool,
    /// Approval requests for this key that wait for a second admin.
    pub pending_approvals: Vec<String>,
}

/// The signing limit of `k` per minute.
pub fn signing_limit(k: &ExchangeKey, settings: &Settings) -> u32 {
    k.max_signatures_per_minute
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(settings.security.api_keys.max_signatures_per_minute)
}

impl ExchangeKeyView {
    /// The view of `k` at `now`, with the ids of its pending approvals.
    pub fn of(
        k: ExchangeKey,
        settings: &Settings,
        now: i64,
        pending_approvals: Vec<String>,
    ) -> ExchangeKeyView {
        let due_at = k.rotated_at + i64::from(settings.security.api_keys.rotation_days) * 86_400;
        let can_sign = Exchange::parse(&k.exchange).is_ok_and(Exchange::can_sign);
        ExchangeKeyView {
            max_signatures_per_minute: signing_limit(&k, settings),
            passphrase_in_headers: k.passphrase_in_headers,
            pending_approvals,
            age_days: (now - k.rotated_at).max(0) / 86_400,
            rotation_due: k.revoked_at.is_none() && now >= due_at,
            rotation_due_at: due_at,
            permissions: k.permissions.split(',').map(str::to_string).collect(),
            id: k.id,
            exchange: k.exchange,
            label: k.label,
            fingerprint: k.fingerprint,
            ip_note: k.ip_note,
            created_by: k.created_by,
            created_at: k.created_at,
            version: k.current_version,
            rotated_at: k.rotated_at,
            revoked_at: k.revoked_at,
            can_sign,
        }
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

fn validate_meta(
    meta: &NewKeyMeta,
    settings: &Settings,
) -> Result<(Exchange, String), VaultOpError> {
    let exchange =
        Exchange::parse(meta.exchange.trim()).map_err(|e| VaultOpError::Invalid(e.to_string()))?;
    let label = meta.label.trim();
    if label.is_empty()
        || label.chars().count() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
    {
        return Err(VaultOpError::Invalid(
            "label must be 1-64 characters: letters, digits, space, `.`, `_` or `-`".into(),
        ));
    }
    let perms = permission_names(&meta.permissions)?;
    if perms.is_empty() {
        return Err(VaultOpError::Invalid(
            "declare the key's permissions on the exchange: read, trade, withdraw and/or account-admin".into(),
        ));
    }
    if perms.contains(&"withdraw") && !settings.security.api_keys.allow_withdraw_keys {
        return Err(VaultOpError::Invalid(
            "withdraw-enabled keys are refused: create a key without withdrawal permission on the exchange (a trading bot never needs it), or set security.api_keys.allow_withdraw_keys = true".into(),
        ));
    }
    if let Some(note) = &meta.ip_note
        && (note.chars().count() > 200 || !printable(note))
    {
        return Err(VaultOpError::Invalid(
            "ip_note must be at most 200 printable characters".into(),
        ));
    }
    if meta.passphrase_in_headers && exchange != Exchange::Okx {
        return Err(VaultOpError::Invalid(
            "passphrase_in_headers is for OKX keys only (the other exchanges never receive the passphrase itself)".into(),
        ));
    }
    if let Some(n) = meta.max_signatures_per_minute {
        validate_limit(n)?;
    }
    Ok((exchange, perms.join(",")))
}

/// Declared permission names, checked, without repeats, in the order of
/// [`PERMISSIONS`]; empty when none was given.
pub(crate) fn permission_names(given: &[String]) -> Result<Vec<&'static str>, VaultOpError> {
    let mut names: Vec<&'static str> = Vec::new();
    for p in given {
        let p = p.trim();
        let Some(known) = PERMISSIONS.iter().find(|k| k.eq_ignore_ascii_case(p)) else {
            return Err(VaultOpError::Invalid(format!(
                "unknown permission `{}`; use read, trade, withdraw or account-admin",
                p.chars().take(32).collect::<String>()
            )));
        };
        if !names.contains(known) {
            names.push(known);
        }
    }
    names.sort_by_key(|p| PERMISSIONS.iter().position(|k| k == p));
    Ok(names)
}

/// A per-key signing limit: 1 to 1,000,000 per minute.
pub fn validate_limit(per_minute: u32) -> Result<(), VaultOpError> {
    if (1..=1_000_000).contains(&per_minute) {
        Ok(())
    } else {
        Err(VaultOpError::Invalid(format!(
            "max_signatures_per_minute must be 1 to 1000000, not {per_minute}"
        )))
    }
}

fn validate_credentials(exchange: Exchange, c: &NewCredentials) -> Result<(), VaultOpError> {
    let key = c.api_key.as_str();
    if key.len() < 8 || key.len() > 256 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(VaultOpError::Invalid(
            "the API key must be 8-256 printable ASCII characters without spaces".into(),
        ));
    }
    cryptobot_vault::check_secret_format(exchange, &c.secret)
        .map_err(|e| VaultOpError::Invalid(e.to_string()))?;
    if exchange.needs_passphrase() && c.passphrase.is_none() {
        return Err(VaultOpError::Invalid(format!(
            "{exchange} API keys have a passphrase; give it too (`--with-passphrase`, or `passphrase` in the request)"
        )));
    }
    if let Some(p) = &c.passphrase
        && (p.is_empty() || p.len() > 128 || !printable(p))
    {
        return Err(VaultOpError::Invalid(
            "the passphrase must be 1-128 printable characters".into(),
        ));
    }
    Ok(())
}

/// 16 random hex digits, for ids.
pub(crate) fn random_id() -> Result<String, VaultOpError> {
    random_hex(8)
}

fn random_hex(bytes: usize) -> Result<String, VaultOpError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|_| VaultOpError::Vault(VaultError::Random))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn record_id(key_id: &str, version: i64) -> String {
    format!("{key_id}/v{version}")
}

fn seal_record(
    ring: &Keyring,
    id: String,
    purpose: &str,
    version: i64,
    plain: &[u8],
    now: i64,
) -> Result<VaultRecord, VaultOpError> {
    let sealed = cryptobot_vault::seal(
        ring,
        &Binding {
            id: &id,
            version,
            purpose,
        },
        plain,
    )?;
    Ok(VaultRecord {
        id,
        purpose: purpose.to_string(),
        version,
        master_version: i64::from(sealed.master_version),
        wrapped_key: sealed.wrapped_key,
        ciphertext: sealed.ciphertext,
        created_at: now,
    })
}

fn sealed_of(rec: &VaultRecord) -> Result<Sealed, VaultOpError> {
    Ok(Sealed {
        master_version: u32::try_from(rec.master_version)
            .map_err(|_| VaultError::Damaged("master version"))?,
        wrapped_key: rec.wrapped_key.clone(),
        ciphertext: rec.ciphertext.clone(),
    })
}

/// Opens a stored record with its own binding.
pub fn open_record(ring: &Keyring, rec: &VaultRecord) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let sealed = sealed_of(rec).map_err(|_| VaultError::Damaged("master version"))?;
    cryptobot_vault::open(
        ring,
        &Binding {
            id: &rec.id,
            version: rec.version,
            purpose: &rec.purpose,
        },
        &sealed,
    )
}

/// The vault as the routes and the CLI use it.
pub struct Vault<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Master keys.
    pub keys: &'a VaultKeys,
    /// Settings (`[security.api_keys]`).
    pub settings: &'a Settings,
    /// The group-commit audit writer signatures go through (the server's);
    /// `None` writes each signature's row in its own transaction (commands).
    pub batcher: Option<&'a AuditBatcher>,
    /// The per-key signing limit (the server's); `None` signs without one
    /// (the host's commands do not sign).
    pub budget: Option<&'a dyn SignatureBudget>,
}

/// A new approval request's id.
pub(crate) fn approval_id() -> Result<String, VaultOpError> {
    Ok(format!("apr_{}", random_id()?))
}

/// A new approval request of `kind` for `key_id` by `access`, open for
/// [`APPROVAL_EXPIRY_HOURS`] from `now`.
pub(crate) fn new_approval(
    kind: &str,
    key_id: &str,
    payload: String,
    who: &Who,
    access: &Access,
    now: i64,
) -> Result<NewApproval, VaultOpError> {
    Ok(NewApproval {
        id: approval_id()?,
        kind: kind.to_string(),
        key_id: key_id.to_string(),
        payload,
        requested_by: who.actor.clone().unwrap_or_else(|| "unknown".into()),
        requested_by_user: access.user_id().map(str::to_string),
        requested_at: now,
        expires_at: now + APPROVAL_EXPIRY_HOURS * 3600,
    })
}

impl Vault<'_> {
    /// The permissions that apply now, and the `enable-withdraw` request
    /// that waits for a second admin, when `adds_withdraw` and the
    /// installation has two or more admins (then `withdraw` is left out
    /// until approved). Refused when nothing but `withdraw` was asked.
    pub(crate) async fn withdraw_waits(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        list: &str,
        adds_withdraw: bool,
        now: i64,
    ) -> Result<(String, Option<NewApproval>), VaultOpError> {
        if !(adds_withdraw && self.needs_second_admin().await?) {
            return Ok((list.to_string(), None));
        }
        let now_list = without_withdraw(list);
        if now_list.is_empty() {
            return Err(VaultOpError::Invalid(
                "withdraw needs a second admin's approval on this installation; declare read or trade beside it, and the key can withdraw once the request is approved".into(),
            ));
        }
        let approval = new_approval(
            "enable-withdraw",
            key_id,
            list.to_string(),
            who,
            access,
            now,
        )?;
        Ok((now_list, Some(approval)))
    }
}

/// `list` without `withdraw`.
pub(crate) fn without_withdraw(list: &str) -> String {
    list.split(',')
        .filter(|p| *p != "withdraw")
        .collect::<Vec<_>>()
        .join(",")
}

impl Vault<'_> {
    async fn audit(
        &self,
        event: &str,
        who: &Who,
        subject: &str,
        outcome: &str,
        details: serde_json::Value,
    ) {
        record_audit(self.store, event, who, Some(subject), outcome, details).await;
    }

    /// Whether a change that widens what money can do needs a second
    /// admin: when the installation has two or more active admins.
    pub async fn needs_second_admin(&self) -> Result<bool, VaultOpError> {
        Ok(self.store.active_admins().await? >= 2)
    }

    /// Adds a key. The secret is validated, sealed and never returned. The
    /// user who adds it is granted its use. A `withdraw` permission waits
    /// for a second admin's approval when the installation has two or
    /// more admins (the key is stored without it meanwhile).
    pub async fn add(
        &self,
        who: &Who,
        access: &Access,
        meta: &NewKeyMeta,
        creds: &NewCredentials,
        now: i64,
    ) -> Result<ExchangeKeyView, VaultOpError> {
        let (exchange, permissions) = match validate_meta(meta, self.settings) {
            Ok(v) => v,
            Err(e) => {
                if meta
                    .permissions
                    .iter()
                    .any(|p| p.trim().eq_ignore_ascii_case("withdraw"))
                {
                    self.audit(
                        "exchange_key_refused",
                        who,
                        meta.label.trim(),
                        "denied",
                        json!({"reason": "withdraw_permission", "exchange": meta.exchange}),
                    )
                    .await;
                }
                return Err(e);
            }
        };
        validate_credentials(exchange, creds)?;
        self.keys.refresh();
        let id = format!("xk_{}", random_hex(8)?);
        let fingerprint = cryptobot_vault::fingerprint(&creds.api_key);
        let plain = creds.sealed_bytes();
        let rec = seal_record(
            &self.keys.ring(),
            record_id(&id, 1),
            PURPOSE_EXCHANGE,
            1,
            &plain,
            now,
        )?;
        let adds_withdraw = permissions.split(',').any(|p| p == "withdraw");
        let (stored_permissions, pending_approval) = self
            .withdraw_waits(who, access, &id, &permissions, adds_withdraw, now)
            .await?;
        let new = NewExchangeKey {
            id: id.clone(),
            exchange: exchange.as_str().to_string(),
            label: meta.label.trim().to_string(),
            permissions: stored_permissions.clone(),
            ip_note: meta.ip_note.clone(),
            created_by: who.actor.clone(),
            fingerprint: fingerprint.clone(),
            now,
            creator_user_id: match access {
                Access::User { id, .. } => Some(id.clone()),
                _ => None,
            },
            max_signatures_per_minute: meta.max_signatures_per_minute.map(i64::from),
            passphrase_in_headers: meta.passphrase_in_headers,
            pending_approval: pending_approval.clone(),
        };
        match self.store.add_exchange_key(&new, &rec).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(VaultOpError::Conflict(format!(
                    "a {exchange} key labelled `{}` exists; choose another label or rotate that key",
                    new.label
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            "exchange_key_added",
            who,
            &id,
            "success",
            json!({"exchange": exchange.as_str(), "label": new.label, "permissions": stored_permissions, "fingerprint": fingerprint, "passphrase_in_headers": meta.passphrase_in_headers, "max_signatures_per_minute": meta.max_signatures_per_minute, "notify": true}),
        )
        .await;
        if let Some(a) = &pending_approval {
            self.approval_requested(who, a).await;
        }
        self.view(&id, now).await
    }

    /// Audits and alerts a new approval request.
    pub(crate) async fn approval_requested(&self, who: &Who, a: &NewApproval) {
        tracing::warn!(target: "alert", key = %a.key_id, request = %a.id, kind = %a.kind, "a change to an exchange key waits for a second admin's approval");
        self.audit(
            "approval_requested",
            who,
            &a.key_id,
            "pending",
            json!({"request": a.id, "kind": a.kind, "payload": a.payload, "expires_at": a.expires_at}),
        )
        .await;
    }

    /// Destroys versions whose grace period ended and raises the
    /// rotation-due event once per key version.
    pub async fn sweep(&self, now: i64) -> Result<(), VaultOpError> {
        let system = Who {
            actor: Some("system".into()),
            client: None,
        };
        for v in self.store.destroy_expired_key_versions(now).await? {
            self.audit(
                "exchange_key_version_destroyed",
                &system,
                &v.key_id,
                "success",
                json!({"version": v.version, "reason": "grace_period_ended"}),
            )
            .await;
        }
        for a in self.store.expire_approvals(now).await? {
            self.audit(
                "approval_expired",
                &system,
                &a.request.key_id,
                "expired",
                json!({"request": a.request.id, "kind": a.request.kind, "requested_by": a.request.requested_by}),
            )
            .await;
        }
        for k in self.store.exchange_keys(false).await? {
            let view = ExchangeKeyView::of(k.clone(), self.settings, now, Vec::new());
            if view.rotation_due
                && k.rotation_alerted_at.is_none()
                && self.store.mark_rotation_alerted(&k.id, now).await?
            {
                tracing::warn!(target: "alert", key = %k.id, age_days = view.age_days, "exchange key rotation due");
                self.audit(
                    "exchange_key_rotation_due",
                    &system,
                    &k.id,
                    "warning",
                    json!({"exchange": k.exchange, "label": k.label, "age_days": view.age_days, "rotation_days": self.settings.security.api_keys.rotation_days}),
                )
                .await;
            }
        }
        Ok(())
    }

    /// The keys `access` may use (every key for the host and admins;
    /// revoked ones when asked), after a sweep.
    pub async fn list(
        &self,
        access: &Access,
        include_revoked: bool,
        now: i64,
    ) -> Result<Vec<ExchangeKeyView>, VaultOpError> {
        self.sweep(now).await?;
        let granted: Option<std::collections::HashSet<String>> = match access.grantee() {
            None => None,
            Some(g) => Some(
                self.store
                    .exchange_keys_granted(&g)
                    .await?
                    .into_iter()
                    .collect(),
            ),
        };
        let mut pending: HashMap<String, Vec<String>> = HashMap::new();
        for a in self.store.approvals(false).await? {
            if a.pending(now) {
                pending
                    .entry(a.request.key_id)
                    .or_default()
                    .push(a.request.id);
            }
        }
        Ok(self
            .store
            .exchange_keys(include_revoked)
            .await?
            .into_iter()
            .filter(|k| granted.as_ref().is_none_or(|g| g.contains(&k.id)))
            .map(|k| {
                let p = pending.remove(&k.id).unwrap_or_default();
                ExchangeKeyView::of(k, self.settings, now, p)
            })
            .collect())
    }

    /// The current view of a key.
    pub(crate) async fn view(&self, id: &str, now: i64) -> Result<ExchangeKeyView, VaultOpError> {
        let key = self
            .store
            .exchange_key(id)
            .await?
            .ok_or_else(|| VaultOpError::NotFound(short(id)))?;
        let pending = self
            .store
            .approvals(false)
            .await?
            .into_iter()
            .filter(|a| a.request.key_id == key.id && a.pending(now))
            .map(|a| a.request.id)
            .collect();
        Ok(ExchangeKeyView::of(key, self.settings, now, pending))
    }

    async fn active(&self, id: &str) -> Result<ExchangeKey, VaultOpError> {
        let key = self
            .store
            .exchange_key(id)
            .await?
            .ok_or_else(|| VaultOpError::NotFound(short(id)))?;
        if key.revoked_at.is_some() {
            return Err(VaultOpError::Revoked(key.id));
        }
        Ok(key)
    }

    /// A key that is not revoked and that `access` may use. Without a
    /// grant the answer is [`VaultOpError::NoGrant`], audited as
    /// `exchange_key_access_denied` with the operation.
    pub(crate) async fn usable(
        &self,
        who: &Who,
        access: &Access,
        id: &str,
        operation: &str,
    ) -> Result<ExchangeKey, VaultOpError> {
        let key = self.active(id).await?;
        if access.may_use(self.store, &key).await? {
            return Ok(key);
        }
        self.audit(
            "exchange_key_access_denied",
            who,
            &key.id,
            "denied",
            json!({"operation": operation, "reason": "no_grant", "caller": access.describe()}),
        )
        .await;
        Err(VaultOpError::NoGrant {
            key: key.id,
            who: access.describe(),
        })
    }

    /// Stores new credentials as the next version; the previous one signs
    /// for `rotation_grace_hours` more, then is destroyed.
    pub async fn rotate(
        &self,
        who: &Who,
        access: &Access,
        id: &str,
        creds: &NewCredentials,
        now: i64,
    ) -> Result<ExchangeKeyView, VaultOpError> {
        let key = self.usable(who, access, id, "rotate").await?;
        let exchange = Exchange::parse(&key.exchange)?;
        validate_credentials(exchange, creds)?;
        self.keys.refresh();
        let next = key.current_version + 1;
        let plain = creds.sealed_bytes();
        let rec = seal_record(
            &self.keys.ring(),
            record_id(&key.id, next),
            PURPOSE_EXCHANGE,
            next,
            &plain,
            now,
        )?;
        let grace_until =
            now + i64::from(self.settings.security.api_keys.rotation_grace_hours) * 3600;
        let fingerprint = cryptobot_vault::fingerprint(&creds.api_key);
        if !self
            .store
            .rotate_exchange_key(
                &key.id,
                key.current_version,
                &fingerprint,
                &rec,
                now,
                grace_until,
            )
            .await?
        {
            return Err(VaultOpError::Conflict(
                "the key changed meanwhile (rotated or revoked); list it and try again".into(),
            ));
        }
        self.audit(
            "exchange_key_rotated",
            who,
            &key.id,
            "success",
            json!({"from_version": key.current_version, "to_version": next, "previous_valid_until": grace_until, "fingerprint": fingerprint}),
        )
        .await;
        if grace_until <= now {
            self.sweep(now).await?;
        }
        self.view(&key.id, now).await
    }

    /// Revokes a key: every version's sealed record is destroyed at once.
    pub async fn revoke(
        &self,
        who: &Who,
        access: &Access,
        id: &str,
        now: i64,
    ) -> Result<ExchangeKeyView, VaultOpError> {
        let key = self.usable(who, access, id, "revoke").await?;
        if !self.store.revoke_exchange_key(&key.id, now).await? {
            return Err(VaultOpError::Revoked(key.id));
        }
        self.audit(
            "exchange_key_revoked",
            who,
            &key.id,
            "success",
            json!({"exchange": key.exchange, "label": key.label}),
        )
        .await;
        self.view(&key.id, now).await
    }

    /// Signs an exchange request with the key's current credentials, if
    /// the signing policy allows it for this key: the request's class
    /// (from the exchange's table or the key's `[[vault.extra_paths]]`)
    /// must be covered by the key's declared permissions, its path
    /// canonical, its parameters documented (Binance, Bybit) and its
    /// timestamp or nonce within the clock window; a withdrawal also needs
    /// `allow_withdraw_keys` and `step_up_fresh` (a second factor within
    /// `withdraw_step_up_seconds`, which the caller determines). The policy
    /// runs before anything is decrypted; a refusal is audited
    /// (`exchange_key_sign_refused`), alerted and returned as
    /// [`VaultOpError::Refused`].
    ///
    /// Before that, `access` must hold a grant for the key
    /// ([`VaultOpError::NoGrant`], audited); after it, a withdrawal's
    /// destination must be in the key's address book for at least
    /// `withdraw_address_delay_hours` (a refusal like the others), and the
    /// key's signing limit must allow one more ([`VaultOpError::Limited`]).
    pub async fn sign(
        &self,
        who: &Who,
        access: &Access,
        id: &str,
        req: &SignRequest,
        now_ms: i64,
        step_up_fresh: bool,
    ) -> Result<Signed, VaultOpError> {
        let now = now_ms.div_euclid(1000);
        let key = self.usable(who, access, id, "sign").await?;
        let exchange = Exchange::parse(&key.exchange)?;
        let policy = self.key_policy(&key)?;
        let settings = policy::Settings {
            allow_withdraw_keys: self.settings.security.api_keys.allow_withdraw_keys,
            window_ms: MAX_TIMESTAMP_SKEW_MS,
        };
        let checked = match policy::check(exchange, req, &policy, now_ms, step_up_fresh, &settings)
        {
            Ok(c) => c,
            Err(refusal) => {
                self.refused(who, &key, exchange, req, &refusal, now_ms)
                    .await;
                return Err(VaultOpError::Refused(refusal));
            }
        };
        if checked.class == Class::Withdraw {
            let book: Vec<BookEntry> = self
                .store
                .withdraw_addresses(&key.id, false)
                .await?
                .into_iter()
                .map(|a| BookEntry {
                    address: a.address,
                    network: a.network,
                    memo: a.memo,
                    active_from: a.active_from,
                })
                .collect();
            let delay =
                i64::from(self.settings.security.api_keys.withdraw_address_delay_hours) * 3600;
            if let Err(reason) =
                policy::check_destination(checked.destination.as_ref(), &book, now, delay)
            {
                let refusal = Refusal {
                    reason,
                    class: Class::Withdraw,
                    permissions: policy.permissions,
                };
                self.refused(who, &key, exchange, req, &refusal, now_ms)
                    .await;
                return Err(VaultOpError::Refused(refusal));
            }
        }
        if let Some(budget) = self.budget {
            match budget
                .take(&key.id, signing_limit(&key, self.settings))
                .await
            {
                Budget::Allowed => {}
                Budget::Limited {
                    limit,
                    retry_after_secs,
                } => {
                    if limit_alert_due(&key.id, now_ms) {
                        tracing::warn!(target: "alert", key = %key.id, limit, "exchange key signing limit reached");
                        self.audit(
                            "exchange_key_sign_limited",
                            who,
                            &key.id,
                            "denied",
                            json!({"limit_per_minute": limit}),
                        )
                        .await;
                    }
                    return Err(VaultOpError::Limited {
                        key: key.id,
                        limit,
                        retry_after_secs,
                    });
                }
                Budget::Unavailable => return Err(VaultOpError::LimitUnavailable),
            }
        }
        let versions = self.store.usable_key_versions(&key.id, now).await?;
        let Some(secret_id) = versions.first().and_then(|v| v.secret_id.clone()) else {
            return Err(VaultOpError::Revoked(key.id));
        };
        let rec = self
            .store
            .vault_record(&secret_id)
            .await?
            .ok_or_else(|| VaultOpError::Revoked(key.id.clone()))?;
        let plain = match open_record(&self.keys.ring(), &rec) {
            Ok(p) => p,
            Err(VaultError::UnknownMasterVersion(_) | VaultError::Open) => {
                // A rotation may have moved the record to a newer master
                // version: re-read the ring once.
                self.keys.refresh();
                open_record(&self.keys.ring(), &rec)?
            }
            Err(e) => return Err(e.into()),
        };
        let creds = Credentials::from_bytes(&plain)?;
        let signed = cryptobot_vault::sign(exchange, &creds, req)?;
        drop(creds);
        let version = versions.first().map_or(0, |v| v.version);
        let used = audit_event(
            "exchange_key_used",
            who,
            Some(&key.id),
            "success",
            json!({
                "key": key.id,
                "version": version,
                "class": checked.class.as_str(),
                "via_extra_path": checked.via_extra_path,
                "method": req.method.to_ascii_uppercase(),
                "path": escaped(&req.path),
                "params": checked.params,
                "payload_sha256": checked.payload_sha256,
                "destination": checked.destination.as_ref().map(policy::describe),
            }),
        );
        log_audit(&used);
        let hour = now.div_euclid(3600);
        let usage = match self.batcher {
            Some(batcher) => batcher.record_use(used, &key.id, hour).await?,
            None => self.store.record_key_use(&key.id, hour, &used).await?,
        };
        self.check_spike(&key, now, usage).await?;
        Ok(signed)
    }

    /// The key's declared permissions and its `[[vault.extra_paths]]`.
    fn key_policy(&self, key: &ExchangeKey) -> Result<KeyPolicy, VaultOpError> {
        let permissions = Permissions::parse(&key.permissions)
            .map_err(|_| VaultError::Damaged("the key's stored permissions"))?;
        let mut extra_paths = Vec::new();
        for x in self
            .settings
            .vault
            .extra_paths
            .iter()
            .filter(|x| x.key == key.id)
        {
            let class = Class::parse(&x.class).filter(|c| *c != Class::Unknown);
            match class.map(|c| ExtraPath::new(&x.method, &x.path, c, x.params.clone())) {
                Some(Ok(p)) => extra_paths.push(p),
                // Validation at load refuses these; never widen on doubt.
                _ => {
                    tracing::error!(key = %key.id, "an extra path of this key is not valid and is ignored")
                }
            }
        }
        Ok(KeyPolicy {
            permissions,
            extra_paths,
            passphrase_in_headers: key.passphrase_in_headers,
        })
    }

    /// Audits a refusal (always) and raises the alert (at most once per
    /// key and minute in this process).
    async fn refused(
        &self,
        who: &Who,
        key: &ExchangeKey,
        exchange: Exchange,
        req: &SignRequest,
        refusal: &Refusal,
        now_ms: i64,
    ) {
        let params: Option<Vec<String>> = policy::parameter_names(exchange, req)
            .ok()
            .map(|names| names.iter().take(64).map(|n| escaped(n)).collect());
        let payload_sha256 = policy::payload_sha256(exchange, req).ok();
        let reason = refusal.reason.code();
        if refusal_alert_due(&key.id, now_ms) {
            tracing::warn!(
                target: "alert",
                key = %key.id,
                class = refusal.class.as_str(),
                reason,
                permissions = %refusal.permissions,
                "exchange key signing refused"
            );
        }
        self.audit(
            "exchange_key_sign_refused",
            who,
            &key.id,
            "denied",
            json!({
                "key": key.id,
                "version": key.current_version,
                "exchange": exchange.as_str(),
                "class": refusal.class.as_str(),
                "permissions": refusal.permissions.to_string(),
                "method": escaped(&req.method),
                "path": escaped(&req.path),
                "reason": reason,
                "params": params,
                "payload_sha256": payload_sha256,
            }),
        )
        .await;
    }

    async fn check_spike(
        &self,
        key: &ExchangeKey,
        now: i64,
        usage: cryptobot_store::Usage,
    ) -> Result<(), VaultOpError> {
        let hour = now.div_euclid(3600);
        let factor = i64::from(self.settings.security.api_keys.usage_spike_factor);
        let average = (usage.previous_24h + 23) / 24;
        let threshold = (factor * average).max(SPIKE_MIN_REQUESTS);
        if usage.this_hour > threshold
            && !usage.alerted
            && self.store.mark_usage_alerted(&key.id, hour).await?
        {
            tracing::warn!(target: "alert", key = %key.id, this_hour = usage.this_hour, average, "unusual exchange key usage");
            self.audit(
                "exchange_key_usage_spike",
                &Who {
                    actor: Some("system".into()),
                    client: None,
                },
                &key.id,
                "warning",
                json!({"this_hour": usage.this_hour, "hourly_average_24h": average, "factor": factor}),
            )
            .await;
        }
        Ok(())
    }
}

fn short(id: &str) -> String {
    id.chars().take(40).collect()
}

/// Untrusted request text for the audit: escaped (no control character
/// survives) and cut to 80 characters.
fn escaped(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

/// Whether a refusal of `key` at `now_ms` raises the alert: once per key
/// per [`REFUSAL_ALERT_EVERY_MS`] in this process, so a flood of refused
/// requests cannot flood the log (every refusal is still audited).
fn refusal_alert_due(key: &str, now_ms: i64) -> bool {
    static LAST: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    alert_due(&LAST, key, now_ms)
}

/// Whether reaching the signing limit of `key` at `now_ms` raises the
/// alert (and its audit row): once per key per [`REFUSAL_ALERT_EVERY_MS`]
/// in this process, so a runaway strategy cannot flood log and audit.
fn limit_alert_due(key: &str, now_ms: i64) -> bool {
    static LAST: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    alert_due(&LAST, key, now_ms)
}

fn alert_due(table: &OnceLock<Mutex<HashMap<String, i64>>>, key: &str, now_ms: i64) -> bool {
    let mut last = match table.get_or_init(Default::default).lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if last.len() >= 4096 {
        last.retain(|_, at| now_ms - *at < REFUSAL_ALERT_EVERY_MS);
    }
    match last.get(key) {
        Some(at) if now_ms - *at < REFUSAL_ALERT_EVERY_MS && now_ms >= *at => false,
        _ => {
            last.insert(key.to_string(), now_ms);
            true
        }
    }
}

/// Reads the MFA root key from the vault, creating it on first use.
pub async fn mfa_keys(
    store: &Store,
    keys: &VaultKeys,
    now: i64,
) -> Result<cryptobot_auth::MfaKeys, VaultOpError> {
    let rec = match store.vault_record(PURPOSE_MFA_ROOT).await? {
        Some(r) => r,
        None => {
            let mut root = Zeroizing::new([0u8; 32]);
            getrandom::fill(root.as_mut()).map_err(|_| VaultError::Random)?;
            let rec = seal_record(
                &keys.ring(),
                PURPOSE_MFA_ROOT.into(),
                PURPOSE_MFA_ROOT,
                1,
                root.as_ref(),
                now,
            )?;
            match store.insert_vault_record(&rec).await {
                Ok(()) => rec,
                // Another instance created it first: use theirs.
                Err(StoreError::Conflict(_)) => store
                    .vault_record(PURPOSE_MFA_ROOT)
                    .await?
                    .ok_or_else(|| VaultOpError::NotFound(PURPOSE_MFA_ROOT.into()))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let root = open_record(&keys.ring(), &rec)?;
    cryptobot_auth::MfaKeys::derive(&root)
        .map_err(|_| VaultOpError::Vault(VaultError::Damaged("mfa root key")))
}

/// Checks at startup that the ring opens one record of every master
/// version in use; the error names the version that does not.
pub async fn check_ring(store: &Store, keys: &VaultKeys) -> Result<(), MasterKeyError> {
    let ring = keys.ring();
    let mismatch = |version: i64| MasterKeyError::Mismatch {
        path: keys.path().display().to_string(),
        version,
    };
    let usage = store
        .vault_master_usage()
        .await
        .map_err(|e| MasterKeyError::Check(e.to_string()))?;
    for (version, _) in usage {
        let rec = store
            .vault_record_by_master(version)
            .await
            .map_err(|e| MasterKeyError::Check(e.to_string()))?;
        if let Some(rec) = rec {
            open_record(&ring, &rec).map_err(|_| mismatch(version))?;
        }
    }
    Ok(())
}

/// What `vault rotate-master` did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    /// Versions in the ring before.
    pub before: Vec<u32>,
    /// The version everything is wrapped by now.
    pub current: u32,
    /// Whether an interrupted rotation was resumed.
    pub resumed: bool,
    /// Records rewrapped by this run.
    pub rewrapped: u64,
    /// Versions removed from the ring.
    pub retired: Vec<u32>,
    /// Versions kept because records still use them, with their counts.
    pub still_used: Vec<(i64, i64)>,
}

/// Records per rewrap transaction.
const REWRAP_BATCH: i64 = 50;

/// Rotates the master key: adds a new version to the ring file (or, if a
/// previous run was interrupted, resumes with the newest one), rewraps
/// every data key to it batch by batch, and removes older versions once
/// no record uses them. Crash-safe at every point: the file is replaced
/// atomically and always holds every version a record uses; each batch is
/// one transaction whose updates only apply to records still wrapped by
/// the version read.
pub async fn rotate_master(store: &Store, path: &Path) -> Result<RotateReport, VaultOpError> {
    let _lock = lock_ring(path)?;
    remove_stale_copies(path);
    let mut ring = read_keyring(path).map_err(|e| VaultOpError::KeyFile(e.to_string()))?;
    let before = ring.versions();
    let resumed = before.len() > 1;
    if !resumed {
        ring.add_next()?;
        write_ring(path, &ring)?;
    }
    let current = ring.current();
    let mut rewrapped = 0;
    loop {
        let page = store
            .vault_records_page("", Some(i64::from(current)), REWRAP_BATCH)
            .await?;
        if page.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(page.len());
        for rec in &page {
            let sealed = sealed_of(rec)?;
            let moved = cryptobot_vault::rewrap(
                &ring,
                &Binding {
                    id: &rec.id,
                    version: rec.version,
                    purpose: &rec.purpose,
                },
                &sealed,
                current,
            )
            .map_err(|e| match e {
                VaultError::UnknownMasterVersion(v) => VaultOpError::KeyFile(format!(
                    "record {} is wrapped by master version {v}, which {} does not hold",
                    rec.id,
                    path.display()
                )),
                other => other.into(),
            })?;
            batch.push(Rewrap {
                id: rec.id.clone(),
                from: rec.master_version,
                to: i64::from(current),
                wrapped_key: moved.wrapped_key,
            });
        }
        rewrapped += store.rewrap_vault_records(&batch).await?;
    }
    let usage = store.vault_master_usage().await?;
    let mut retired = Vec::new();
    for v in ring.versions() {
        if v != current && !usage.iter().any(|(mv, n)| *mv == i64::from(v) && *n > 0) {
            retired.push(v);
        }
    }
    if !retired.is_empty() {
        for v in &retired {
            ring.retire(*v);
        }
        write_ring(path, &ring)?;
    }
    let still_used = usage
        .into_iter()
        .filter(|(mv, _)| *mv != i64::from(current))
        .collect();
    Ok(RotateReport {
        before,
        current,
        resumed,
        rewrapped,
        retired,
        still_used,
    })
}

/// Opens every record; returns (opened, ids that failed).
pub async fn verify_all(
    store: &Store,
    keys: &VaultKeys,
) -> Result<(u64, Vec<String>), VaultOpError> {
    let ring = keys.ring();
    let mut after = String::new();
    let (mut ok, mut bad) = (0, Vec::new());
    loop {
        let page = store.vault_records_page(&after, None, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for rec in &page {
            match open_record(&ring, rec) {
                Ok(_) => ok += 1,
                Err(_) => bad.push(rec.id.clone()),
            }
        }
    }
    Ok((ok, bad))
}

fn key_file_error(path: &Path, what: &str, e: std::io::Error) -> VaultOpError {
    VaultOpError::KeyFile(format!("cannot {what} {}: {e}", path.display()))
}

/// An exclusive lock next to the ring file, so two rotations never run at
/// once. Released when dropped.
fn lock_ring(path: &Path) -> Result<std::fs::File, VaultOpError> {
    let lock_path = path.with_file_name(".vault_master.key.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&lock_path)
        .map_err(|e| key_file_error(&lock_path, "open", e))?;
    file.try_lock()
        .map_err(|_| VaultOpError::Conflict("another `vault rotate-master` is running".into()))?;
    Ok(file)
}

/// Removes new-ring files a killed run left beside the ring (they hold
/// key material and must not linger). Only called under the lock.
fn remove_stale_copies(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.new-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Replaces the ring file atomically: a new file beside it (same owner,
/// mode 0600), synced, renamed over the old one, and the directory synced.
fn write_ring(path: &Path, ring: &Keyring) -> Result<(), VaultOpError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let meta = std::fs::metadata(path).map_err(|e| key_file_error(path, "read", e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.new-{}", std::process::id()));
    let bytes = ring.to_file_bytes();
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        key_file_error(path, "replace", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_alerts_are_rate_limited_per_key() {
        let t = 1_000_000_000_000;
        assert!(refusal_alert_due("xk_test_a", t));
        assert!(!refusal_alert_due("xk_test_a", t + 1));
        assert!(!refusal_alert_due(
            "xk_test_a",
            t + REFUSAL_ALERT_EVERY_MS - 1
        ));
        assert!(refusal_alert_due("xk_test_b", t + 1));
        assert!(refusal_alert_due("xk_test_a", t + REFUSAL_ALERT_EVERY_MS));
    }

    #[test]
    fn audit_text_is_escaped_and_cut() {
        assert_eq!(escaped("/a\r\nb"), "/a\\r\\nb");
        assert!(escaped(&"x".repeat(200)).ends_with('…'));
    }

    #[test]
    fn vault_key_location_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path().join("home"));
        let home_key = layout.vault_master_key();
        assert_eq!(vault_key_path_from(&layout, None, None), home_key);
        // A credentials directory without the file falls back to the home.
        let creds = dir.path().to_path_buf();
        assert_eq!(
            vault_key_path_from(&layout, None, Some(creds.clone().into())),
            home_key
        );
        std::fs::write(creds.join("vault_master.key"), [7u8; 32]).expect("write");
        assert_eq!(
            vault_key_path_from(&layout, None, Some(creds.clone().into())),
            creds.join("vault_master.key")
        );
        assert_eq!(
            vault_key_path_from(&layout, Some("/k".into()), Some(creds.into())),
            std::path::PathBuf::from("/k")
        );
    }
}
