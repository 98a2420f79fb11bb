//! The schema migration runner.
//!
//! `schema_migrations(version, applied_at)` records applied steps. Each step
//! of [`STEPS`] runs in its own transaction together with the insertion of
//! its version, so a crash leaves either all or none of a step. On
//! PostgreSQL the transaction also takes an advisory lock, on SQLite it is a
//! `BEGIN IMMEDIATE` transaction, so concurrent starts do not race.

use sqlx::AnyPool;
use sqlx::Row;

use crate::backend::Backend;
use crate::{StoreError, util};

/// One migration step: its version and the DDL statements per backend.
struct Step {
    version: i64,
    sqlite: &'static [&'static str],
    postgres: &'static [&'static str],
}

/// The auto-increment primary key column type, per backend.
macro_rules! auto_id {
    (sqlite) => {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    };
    (postgres) => {
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    };
}

/// Version 1: the whole initial schema. Only the auto-increment ids differ.
macro_rules! v1 {
    ($backend:ident) => {
        &[
            "CREATE TABLE users (
                id TEXT NOT NULL PRIMARY KEY,
                username TEXT NOT NULL,
                role TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                password_changed_at BIGINT NOT NULL,
                disabled BIGINT NOT NULL DEFAULT 0,
                failed_logins BIGINT NOT NULL DEFAULT 0,
                failure_window_start BIGINT,
                locked_until BIGINT,
                failure_locked BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                last_login_at BIGINT
            )",
            "CREATE UNIQUE INDEX users_username ON users (username)",
            concat!(
                "CREATE TABLE password_history (
                id ",
                auto_id!($backend),
                ",
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                password_hash TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )"
            ),
            "CREATE INDEX password_history_user ON password_history (user_id, id)",
            concat!(
                "CREATE TABLE sessions (
                seq ",
                auto_id!($backend),
                ",
                id TEXT NOT NULL UNIQUE,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                client_addr TEXT NOT NULL,
                user_agent TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_seen BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                ended_at BIGINT,
                end_reason TEXT
            )"
            ),
            "CREATE INDEX sessions_user ON sessions (user_id, seq)",
            "CREATE TABLE refresh_tokens (
                hash TEXT NOT NULL PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                used_at BIGINT
            )",
            "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
            concat!(
                "CREATE TABLE audit_log (
                id ",
                auto_id!($backend),
                ",
                at_ms BIGINT NOT NULL,
                event TEXT NOT NULL,
                actor TEXT,
                subject TEXT,
                client_addr TEXT,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL
            )"
            ),
            "CREATE INDEX audit_log_at ON audit_log (at_ms)",
            "CREATE INDEX audit_log_actor ON audit_log (actor, id)",
            "CREATE INDEX audit_log_event ON audit_log (event, id)",
        ]
    };
}

/// Version 2: multi-factor authentication. The TOTP secret is stored only
/// sealed (AEAD) by the caller; backup codes and challenges only as MACs
/// or digests. `users.mfa_enabled` mirrors a confirmed TOTP so the
/// per-request user lookup carries it.
const V2: &[&str] = &[
    "ALTER TABLE users ADD COLUMN mfa_enabled BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE sessions ADD COLUMN mfa_at BIGINT",
    "CREATE TABLE mfa_totp (
        user_id TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        sealed_secret TEXT NOT NULL,
        confirmed BIGINT NOT NULL DEFAULT 0,
        last_step BIGINT,
        created_at BIGINT NOT NULL,
        confirmed_at BIGINT
    )",
    "CREATE TABLE mfa_backup_codes (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (user_id, code_hash)
    )",
    "CREATE TABLE mfa_challenges (
        hash TEXT NOT NULL PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        client_addr TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    )",
];

/// All steps, in ascending version order.
const STEPS: &[Step] = &[
    Step {
        version: 1,
        sqlite: v1!(sqlite),
        postgres: v1!(postgres),
    },
    Step {
        version: 2,
        sqlite: V2,
        postgres: V2,
    },
    Step {
        version: 3,
        sqlite: V3,
        postgres: V3,
    },
    Step {
        version: 4,
        sqlite: V4,
        postgres: V4,
    },
    Step {
        version: 5,
        sqlite: V5,
        postgres: V5,
    },
    Step {
        version: 6,
        sqlite: V6,
        postgres: V6,
    },
];

/// Version 3: listing a user's open sessions reads only open ones (ended
/// sessions accumulate with every sign-in).
const V3: &[&str] =
    &["CREATE INDEX sessions_user_open ON sessions (user_id, seq) WHERE ended_at IS NULL"];

/// Version 4: the key vault and service API keys.
///
/// `vault_secrets` holds envelope-encrypted records: the data key wrapped
/// by master key `master_version`, the secret sealed by the data key; the
/// record id, version and purpose are bound as associated data by the
/// caller. Exchange keys point at one record per credential version; a
/// destroyed version has no record left. Service API keys are stored as
/// SHA-256 digests of their secret only.
const V4: &[&str] = &[
    "CREATE TABLE vault_secrets (
        id TEXT NOT NULL PRIMARY KEY,
        purpose TEXT NOT NULL,
        version BIGINT NOT NULL,
        master_version BIGINT NOT NULL,
        wrapped_key TEXT NOT NULL,
        ciphertext TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        rewrapped_at BIGINT
    )",
    "CREATE INDEX vault_secrets_master ON vault_secrets (master_version, id)",
    "CREATE TABLE exchange_keys (
        id TEXT NOT NULL PRIMARY KEY,
        exchange TEXT NOT NULL,
        label TEXT NOT NULL,
        permissions TEXT NOT NULL,
        ip_note TEXT,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        current_version BIGINT NOT NULL,
        rotated_at BIGINT NOT NULL,
        revoked_at BIGINT,
        rotation_alerted_at BIGINT
    )",
    "CREATE UNIQUE INDEX exchange_keys_label ON exchange_keys (exchange, label) WHERE revoked_at IS NULL",
    "CREATE TABLE exchange_key_versions (
        key_id TEXT NOT NULL REFERENCES exchange_keys (id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        secret_id TEXT,
        fingerprint TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        valid_until BIGINT,
        destroyed_at BIGINT,
        PRIMARY KEY (key_id, version)
    )",
    "CREATE TABLE exchange_key_usage (
        key_id TEXT NOT NULL REFERENCES exchange_keys (id) ON DELETE CASCADE,
        hour BIGINT NOT NULL,
        count BIGINT NOT NULL,
        alerted BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, hour)
    )",
    "CREATE TABLE service_keys (
        id TEXT NOT NULL PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        previous_hash TEXT,
        previous_valid_until BIGINT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        rotated_at BIGINT,
        revoked_at BIGINT,
        last_used_at BIGINT
    )",
    "CREATE INDEX service_keys_user ON service_keys (user_id)",
];

/// Version 5: who may sign with an exchange key (grants), where a
/// withdrawal may go (the address book), requests that wait for a second
/// admin (approvals), and per-key signing limits.
///
/// Existing keys keep working for the user who added them: a grant row is
/// written for every key whose `created_by` names a user. A grantee is a
/// user id (`user`) or a service API key id (`api_key`). An address is
/// usable `withdraw_address_delay_hours` after `active_from`, which stays
/// NULL while its approval is pending. An approval's `payload` is the new
/// permission list (`enable-withdraw`) or the address id (`add-address`).
const V5: &[&str] = &[
    "ALTER TABLE exchange_keys ADD COLUMN max_signatures_per_minute BIGINT",
    "ALTER TABLE exchange_keys ADD COLUMN passphrase_in_headers BIGINT NOT NULL DEFAULT 0",
    "CREATE TABLE exchange_key_grants (
        key_id TEXT NOT NULL REFERENCES exchange_keys (id) ON DELETE CASCADE,
        grantee_kind TEXT NOT NULL,
        grantee TEXT NOT NULL,
        granted_by TEXT,
        granted_at BIGINT NOT NULL,
        PRIMARY KEY (key_id, grantee_kind, grantee)
    )",
    "CREATE INDEX exchange_key_grants_grantee ON exchange_key_grants (grantee_kind, grantee)",
    "INSERT INTO exchange_key_grants (key_id, grantee_kind, grantee, granted_by, granted_at)
        SELECT k.id, 'user', u.id, 'migration', k.created_at
        FROM exchange_keys k JOIN users u ON u.username = k.created_by",
    "CREATE TABLE withdraw_addresses (
        id TEXT NOT NULL PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES exchange_keys (id) ON DELETE CASCADE,
        address TEXT NOT NULL,
        network TEXT NOT NULL,
        memo TEXT NOT NULL,
        label TEXT,
        added_by TEXT,
        added_at BIGINT NOT NULL,
        active_from BIGINT,
        removed_at BIGINT
    )",
    "CREATE UNIQUE INDEX withdraw_addresses_entry ON withdraw_addresses (key_id, address, network, memo) WHERE removed_at IS NULL",
    "CREATE TABLE approvals (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES exchange_keys (id) ON DELETE CASCADE,
        payload TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_by_user TEXT,
        requested_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        decided_by TEXT,
        decided_at BIGINT,
        outcome TEXT
    )",
    "CREATE INDEX approvals_open ON approvals (expires_at) WHERE outcome IS NULL",
];

/// Version 6: containing a stolen credential (issue 19).
///
/// A service key can be suspended (a credential change of its owner) and
/// comes back only by an explicit reactivation. Password-reset tokens are
/// stored as HMACs, bound to a digest of the password hash they were
/// issued against. Failed sign-in steps are kept one row each for a
/// sliding hour, per account and address group; locks apply to one
/// address group or (`scope = '*'`) to the whole account, with a level
/// that escalates their length. Address groups an account signed in from
/// are remembered, so an account-wide lock does not shut its owner out of
/// their own network. A sign-in challenge and a session count their wrong
/// codes, so a burst of concurrent guesses is cut off in one conditional
/// update. A password found in the breached-password list at sign-in is
/// flagged until it is changed.
const V6: &[&str] = &[
    "ALTER TABLE service_keys ADD COLUMN suspended_at BIGINT",
    "ALTER TABLE service_keys ADD COLUMN suspend_reason TEXT",
    "CREATE TABLE password_resets (
        token_mac TEXT NOT NULL PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        binding TEXT NOT NULL,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    )",
    "CREATE INDEX password_resets_user ON password_resets (user_id)",
    "CREATE TABLE auth_failures (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        addr_group TEXT NOT NULL,
        at BIGINT NOT NULL
    )",
    "CREATE INDEX auth_failures_user ON auth_failures (user_id, at)",
    "CREATE TABLE auth_locks (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        scope TEXT NOT NULL,
        locked_at BIGINT NOT NULL,
        until BIGINT NOT NULL,
        level BIGINT NOT NULL,
        PRIMARY KEY (user_id, scope)
    )",
    "CREATE TABLE known_addr_groups (
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        addr_group TEXT NOT NULL,
        last_success_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, addr_group)
    )",
    "ALTER TABLE mfa_challenges ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE sessions ADD COLUMN step_up_failures BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE users ADD COLUMN password_breached BIGINT NOT NULL DEFAULT 0",
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 6;

const _: () = assert!(STEPS[STEPS.len() - 1].version == SCHEMA_VERSION);

/// Arbitrary key of the PostgreSQL advisory lock serializing migrations.
const PG_LOCK_KEY: i64 = 0x6372_7970_746f_6231; // "cryptob1"

/// Brings the schema up to [`SCHEMA_VERSION`]; fails with
/// [`StoreError::Schema`] if the database is newer.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    loop {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        if backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(PG_LOCK_KEY)
                .fetch_optional(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT NOT NULL PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await?;
        let current: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let current = current.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Schema(format!(
                "the database has schema version {current}, newer than version \
                 {SCHEMA_VERSION} known to this build; upgrade the software"
            )));
        }
        let Some(step) = STEPS.iter().find(|s| s.version > current) else {
            tx.commit().await?;
            return Ok(());
        };
        let statements = match backend {
            Backend::Sqlite => step.sqlite,
            Backend::Postgres => step.postgres,
        };
        for &statement in statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::Schema(format!("migration to version {} failed: {e}", step.version))
                })?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(step.version)
            .bind(util::unix_now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
}

/// The highest applied version (0 for an empty database).
pub(crate) async fn current_version(pool: &AnyPool) -> Result<i64, StoreError> {
    let v: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    Ok(v.unwrap_or(0))
}
