//! The configuration model and its defaults.
//!
//! Defaults are the values of the Cryptobot Security Hardening Guide's
//! `security_config.json` and its service port map. Every struct denies unknown
//! keys, so a typo is an error instead of a silently ignored setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every setting in `cryptobot.toml`.
///
/// A `Settings` value by itself is not known to be valid; code that acts on
/// configuration takes a [`crate::Config`], which can only be built by loading
/// and validating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub services: Services,
    pub database: Database,
    pub redis: Redis,
    pub server: Server,
    pub security: Security,
    #[serde(default)]
    pub firewall: crate::Firewall,
    pub tls: Tls,
    #[serde(default)]
    pub vault: Vault,
}

impl Settings {
    /// Deprecated keys in use, each as `(dotted key, what to do)`; the
    /// command line prints them as warnings.
    pub fn deprecations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(on) = self.security.mfa.required_for_admins {
            out.push((
                "security.mfa.required_for_admins".to_string(),
                format!(
                    "deprecated: it {} `admin` {} required_for_roles; list the roles in security.mfa.required_for_roles instead",
                    if on { "adds" } else { "removes" },
                    if on { "to" } else { "from" }
                ),
            ));
        }
        if self.security.rate_limiting.lockout_seconds.is_some() {
            out.push((
                "security.rate_limiting.lockout_seconds".to_string(),
                "deprecated and ignored: locks last security.rate_limiting.lock_minutes (5, 15, then 60 minutes by default); remove the key".to_string(),
            ));
        }
        out
    }
}

/// Whether a service may be reached from other machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Reachable from the network (the firewall opens its port).
    Public,
    /// Reachable from this machine only.
    Loopback,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Public => "public",
            Exposure::Loopback => "loopback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub port: u16,
    pub exposure: Exposure,
}

impl Service {
    const fn new(port: u16, exposure: Exposure) -> Self {
        Service { port, exposure }
    }
}

/// The Cryptobot services and their ports (the guide's port map).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub auth: Service,
    pub data: Service,
    pub strategy: Service,
    pub backtest: Service,
    pub trade: Service,
    pub web: Service,
    pub postgres: Service,
    pub redis: Service,
}

impl Services {
    /// `(name, service)` for every service, in a fixed order.
    pub fn iter(&self) -> [(&'static str, Service); 8] {
        [
            ("auth", self.auth),
            ("data", self.data),
            ("strategy", self.strategy),
            ("backtest", self.backtest),
            ("trade", self.trade),
            ("web", self.web),
            ("postgres", self.postgres),
            ("redis", self.redis),
        ]
    }
}

impl Default for Services {
    fn default() -> Self {
        use Exposure::{Loopback, Public};
        Services {
            auth: Service::new(8000, Public),
            data: Service::new(8001, Loopback),
            strategy: Service::new(8010, Loopback),
            backtest: Service::new(8020, Loopback),
            trade: Service::new(8030, Loopback),
            web: Service::new(3000, Public),
            postgres: Service::new(5432, Loopback),
            redis: Service::new(6379, Loopback),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// PostgreSQL URL without a password (the password is read from
    /// `config/secrets/postgres_password`). Unset: the embedded SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SQLite database file; relative paths are below the installation home.
    pub sqlite_path: PathBuf,
    /// PostgreSQL database name used in `pg_hba.conf` and by `--apply-db`.
    pub name: String,
    /// PostgreSQL role used by Cryptobot.
    pub user: String,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: None,
            sqlite_path: PathBuf::from("data/cryptobot.db"),
            name: "cryptobot".into(),
            user: "cryptobot".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// `redis://` or `rediss://` URL without a password (the password is read
    /// from `config/secrets/redis_password`). Unset: in-process state only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PEM file of the CA(s) that signed the Redis server's certificate, for
    /// a `rediss://` URL whose server is not covered by the system's roots
    /// (e.g. a private CA). Relative paths are below the installation home.
    /// Unset: the system's root certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM, the chain) for mutual TLS, for a Redis that
    /// asks for one (`tls-auth-clients yes`); together with `client_key`,
    /// `rediss://` only. Relative paths are below the installation home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of `client_cert`; keep it in `config/secrets/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// ACL user Cryptobot connects as.
    pub user: String,
    /// `dir` of the rendered `redis.conf` (where Redis keeps its files).
    pub server_dir: PathBuf,
    /// Longest wait for one Redis answer, in milliseconds; past it the
    /// `security.rate_limiting.redis_failure_*` mode applies.
    pub timeout_ms: u32,
    /// Whether the Redis that `secure-config` renders serves TLS only (its
    /// `tls.conf` gets `port 0` and `tls-port`, with the pair `cryptobot
    /// ssl` issues). Off by default: every client of that Redis — the
    /// trading services too — must first move to TLS.
    #[serde(default)]
    pub server_tls: bool,
}

impl Default for Redis {
    fn default() -> Self {
        Redis {
            url: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            user: "cryptobot".into(),
            server_dir: PathBuf::from("/var/lib/redis"),
            timeout_ms: 250,
            server_tls: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Address `cryptobot serve` listens on.
    pub bind: SocketAddr,
    /// Certificate chain (PEM); relative paths are below the installation home.
    pub tls_cert: PathBuf,
    /// Private key (PEM); relative paths are below the installation home.
    pub tls_key: PathBuf,
    /// Origins allowed to call the API from a browser. Never `*`.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u32,
    /// A request not answered within this time gets 408/503 and is dropped.
    pub request_timeout_seconds: u32,
    /// Reverse proxies (addresses or blocks) whose `X-Forwarded-For` /
    /// `Forwarded` headers name the real client. Empty: the TCP peer is the
    /// client and those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// `Content-Security-Policy` on every response. The default suits a
    /// JSON API; an operator serving a web console from this origin can
    /// relax it (it must keep a `frame-ancestors` directive).
    pub content_security_policy: String,
    /// Open connections the server holds at most; more are closed at once.
    pub max_connections: u32,
    /// Open connections one client address holds at most (loopback too);
    /// more are closed at once.
    pub max_connections_per_address: u32,
    /// A TLS handshake not finished within this time is dropped.
    pub tls_handshake_timeout_seconds: u32,
    /// A request head (line and headers) not complete within this time
    /// closes the connection (slow-header clients, "slowloris").
    pub header_read_timeout_seconds: u32,
    /// A connection with no request in flight that sends nothing for this
    /// long is closed.
    pub idle_timeout_seconds: u32,
    /// Largest request head (line and headers) in bytes; larger gets 431.
    pub max_header_bytes: u32,
}

/// The API's policy: nothing may load, frame or post anything.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            tls_cert: PathBuf::from("config/tls/server.crt"),
            tls_key: PathBuf::from("config/tls/server.key"),
            cors_origins: vec!["https://localhost:3000".into()],
            max_body_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            trusted_proxies: Vec::new(),
            content_security_policy: API_CSP.into(),
            max_connections: 16_384,
            max_connections_per_address: 256,
            tls_handshake_timeout_seconds: 10,
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            max_header_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub password_policy: PasswordPolicy,
    pub session: Session,
    pub rate_limiting: RateLimiting,
    pub mfa: Mfa,
    pub api_keys: ApiKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    pub min_length: u32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_special: bool,
    /// Days after which a password must be changed; 0 = never.
    pub max_age_days: u32,
    /// How many previous passwords may not be reused; 0 = no history.
    pub prevent_reuse: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        // OWASP ASVS 4.0.3: at least 12 characters (2.1.1), no
        // composition rules (2.1.9), no periodic expiry or forced history
        // (2.1.10); common and breached passwords are refused instead.
        PasswordPolicy {
            min_length: 12,
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_special: false,
            max_age_days: 0,
            prevent_reuse: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Lifetime of an access token (a signed JWT).
    pub access_token_seconds: u32,
    /// A session not refreshed within this time ends (the guide's session expiry).
    pub expiry_seconds: u32,
    /// Absolute lifetime of a session and its refresh tokens.
    pub refresh_expiry_seconds: u32,
    /// A session with no request for this long ends.
    pub idle_timeout_seconds: u32,
    /// Logins beyond this end the user's oldest session.
    pub max_sessions_per_user: u32,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            access_token_seconds: 900,
            expiry_seconds: 3600,
            // ASVS 3.3.2 (L2): re-authenticate at least every 12 hours.
            refresh_expiry_seconds: 43_200,
            idle_timeout_seconds: 1800,
            max_sessions_per_user: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimiting {
    /// Sign-in attempts per minute per client address and per account
    /// name (GCRA, with `login_burst`).
    pub login_attempts_per_minute: u32,
    /// Deprecated and ignored: locks last `lock_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_seconds: Option<u32>,
    /// Failed sign-in steps (passwords, codes, re-checks) of one account
    /// within a sliding hour, from anywhere, that lock it account-wide
    /// (except from address groups it signed in from before).
    #[serde(default = "default_account_failures")]
    pub account_failures_per_hour: u32,
    /// Failed steps of one account from one address group (/24 for IPv4,
    /// /56 for IPv6) within a sliding hour that lock it for that group.
    #[serde(default = "default_group_failures")]
    pub address_group_failures_per_hour: u32,
    /// Lengths of successive locks of one scope, in minutes; a lock within
    /// a day of the previous one takes the next length.
    #[serde(default = "default_lock_minutes")]
    pub lock_minutes: Vec<u32>,
    /// Failed logins from one client address before delays start.
    pub login_free_failures: u32,
    /// First delay imposed on a client address; it doubles per failure.
    pub login_delay_base_seconds: u32,
    /// Ceiling of the doubling delay imposed on a client address.
    pub login_delay_max_seconds: u32,
    /// API calls per minute per session (authenticated) or per client
    /// address (unauthenticated).
    pub api_requests_per_minute: u32,
    pub api_key_requests_per_minute: u32,
    /// Calls allowed at once above the steady rate (GCRA burst), for the API
    /// and service-key limits.
    pub burst: u32,
    /// Sign-in attempts allowed at once per client address and per account
    /// before `login_attempts_per_minute` applies (GCRA burst).
    pub login_burst: u32,
    /// Sign-in calls while Redis (`redis.url`) cannot be reached:
    /// `fail_closed` answers 503, `fail_open` uses this instance's own
    /// limiter.
    pub redis_failure_login: RedisFailure,
    /// Every other limited call while Redis cannot be reached.
    pub redis_failure_api: RedisFailure,
}

/// What a limit does while its shared backend (Redis) cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFailure {
    /// Refuse the call with 503 until Redis answers again.
    FailClosed,
    /// Decide with this instance's in-process limiter (each instance then
    /// allows the full limit) and raise an alert.
    FailOpen,
}

impl RedisFailure {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisFailure::FailClosed => "fail_closed",
            RedisFailure::FailOpen => "fail_open",
        }
    }
}

fn default_account_failures() -> u32 {
    20
}

fn default_group_failures() -> u32 {
    5
}

fn default_lock_minutes() -> Vec<u32> {
    vec![5, 15, 60]
}

impl Default for RateLimiting {
    fn default() -> Self {
        RateLimiting {
            login_attempts_per_minute: 5,
            lockout_seconds: None,
            account_failures_per_hour: default_account_failures(),
            address_group_failures_per_hour: default_group_failures(),
            lock_minutes: default_lock_minutes(),
            login_free_failures: 3,
            login_delay_base_seconds: 1,
            login_delay_max_seconds: 60,
            api_requests_per_minute: 60,
            api_key_requests_per_minute: 120,
            burst: 20,
            login_burst: 5,
            redis_failure_login: RedisFailure::FailClosed,
            redis_failure_api: RedisFailure::FailOpen,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mfa {
    /// Roles whose members must enroll a second factor before they may do
    /// anything but manage their own account.
    #[serde(default = "default_mfa_roles")]
    pub required_for_roles: Vec<String>,
    /// Deprecated alias: `true` adds `admin` to `required_for_roles`,
    /// `false` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_for_admins: Option<bool>,
    pub required_for_api_key_creation: bool,
    pub totp_issuer: String,
    /// A sensitive action needs a second factor from at most this many
    /// seconds ago (step-up).
    #[serde(default = "default_step_up_seconds")]
    pub step_up_seconds: u32,
}

fn default_mfa_roles() -> Vec<String> {
    vec!["admin".into(), "trader".into()]
}

fn default_step_up_seconds() -> u32 {
    300
}

impl Mfa {
    /// Whether members of `role` must use a second factor
    /// (`required_for_roles`, adjusted by the deprecated
    /// `required_for_admins`).
    pub fn required_for(&self, role: &str) -> bool {
        if role == "admin"
            && let Some(admins) = self.required_for_admins
        {
            return admins;
        }
        self.required_for_roles.iter().any(|r| r == role)
    }
}

impl Default for Mfa {
    fn default() -> Self {
        Mfa {
            required_for_roles: default_mfa_roles(),
            required_for_admins: None,
            required_for_api_key_creation: true,
            totp_issuer: "Cryptobot".into(),
            step_up_seconds: default_step_up_seconds(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeys {
    /// Exchange keys older than this are flagged for rotation.
    pub rotation_days: u32,
    /// Service API keys one user may hold at once.
    pub max_keys_per_user: u32,
    /// Store exchange keys declared withdraw-enabled (refused by default).
    pub allow_withdraw_keys: bool,
    /// After a rotation the previous credentials stay usable this long.
    pub rotation_grace_hours: u32,
    /// An hour with more signing requests than this multiple of the key's
    /// trailing hourly average is recorded as a security event.
    pub usage_spike_factor: u32,
    /// A withdrawal is signed only for a session whose second factor is
    /// at most this old (seconds); a service API key never has one.
    #[serde(default = "default_withdraw_step_up_seconds")]
    pub withdraw_step_up_seconds: u32,
    /// A withdrawal address is usable this many hours after it was added
    /// to a key's address book (or approved).
    #[serde(default = "default_withdraw_address_delay_hours")]
    pub withdraw_address_delay_hours: u32,
    /// Signatures per minute per exchange key (a key may set its own).
    #[serde(default = "default_max_signatures_per_minute")]
    pub max_signatures_per_minute: u32,
    /// A password change or reset, an MFA reset or removal, and disabling
    /// a user suspend the user's service API keys (reactivated only
    /// explicitly).
    #[serde(default = "default_true")]
    pub suspend_on_credential_change: bool,
    /// Longest lifetime of a service API key, in days.
    #[serde(default = "default_max_lifetime_days")]
    pub max_lifetime_days: u32,
}

fn default_true() -> bool {
    true
}

fn default_max_lifetime_days() -> u32 {
    365
}

fn default_withdraw_step_up_seconds() -> u32 {
    300
}

fn default_withdraw_address_delay_hours() -> u32 {
    24
}

fn default_max_signatures_per_minute() -> u32 {
    600
}

impl Default for ApiKeys {
    fn default() -> Self {
        ApiKeys {
            rotation_days: 90,
            max_keys_per_user: 5,
            allow_withdraw_keys: false,
            rotation_grace_hours: 24,
            usage_spike_factor: 5,
            withdraw_step_up_seconds: default_withdraw_step_up_seconds(),
            withdraw_address_delay_hours: default_withdraw_address_delay_hours(),
            max_signatures_per_minute: default_max_signatures_per_minute(),
            suspend_on_credential_change: true,
            max_lifetime_days: default_max_lifetime_days(),
        }
    }
}

/// `[vault]`: the exchange-key vault's signing policy additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// Requests the policy tables do not know, allowed for one key each
    /// (`[[vault.extra_paths]]`).
    #[serde(default)]
    pub extra_paths: Vec<ExtraPath>,
}

/// One `[[vault.extra_paths]]` entry: an exact method and path the
/// vault's policy table does not list, its class, and (Binance, Bybit)
/// its documented parameter names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraPath {
    /// The exchange key id (`xk_…`).
    pub key: String,
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The canonical path, matched exactly.
    pub path: String,
    /// `read`, `trade`, `withdraw` or `account-admin`.
    pub class: String,
    /// The documented parameter names (required for Binance and Bybit
    /// keys, whose signatures do not cover the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<String>>,
}

/// `[tls]`: what `cryptobot ssl` issues and how `cryptobot serve` speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Names the server certificate covers: host names become DNS SANs,
    /// addresses IP SANs.
    pub san: Vec<String>,
    /// `intermediate` (TLS 1.2 and 1.3) or `modern` (TLS 1.3 only).
    pub policy: String,
    /// Key of new certificates: `ecdsa-p256` or `rsa-3072`.
    pub key_type: String,
    /// Lifetime of issued server and client certificates.
    pub validity_days: u32,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            san: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            policy: "intermediate".into(),
            key_type: "ecdsa-p256".into(),
            validity_days: 90,
        }
    }
}
