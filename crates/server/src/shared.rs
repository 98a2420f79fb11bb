//! Where limit and delay state lives: in this process (the embedded
//! default), or in Redis when `redis.url` is set, so that every instance
//! behind a load balancer sees the same counts.
//!
//! Each Redis decision is one atomic Lua script (GCRA for the call limits,
//! the doubling delay for failed sign-ins), sent as `EVALSHA` with a
//! fallback to `EVAL` when Redis does not know the script (after a restart
//! or `SCRIPT FLUSH`). Time is Redis's own clock (`TIME`), so instances with
//! skewed clocks agree. Key names are `cryptobot:rl:<kind>:<pseudonym>`,
//! where the pseudonym is an HMAC of the id under a key derived from the
//! vault (the same on every instance), so no session id or address appears
//! in Redis. Every key carries a TTL and disappears once it means nothing.
//!
//! Every Redis call is bounded by `redis.timeout_ms`. When Redis cannot
//! answer, each kind of limit follows its configured mode
//! (`security.rate_limiting.redis_failure_login` / `_api`): `fail_closed`
//! refuses with 503, `fail_open` decides with this instance's in-process
//! limiter and raises an alert (at most once a minute). The connection
//! manager reconnects by itself, so service resumes when Redis returns.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use cryptobot_auth::{AddressThrottle, Decision, Gcra, Pseudonyms, RateLimiter, address_group};
use cryptobot_config::{RateLimiting, RedisFailure};
use cryptobot_service::key_access::{Budget, SignatureBudget};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, IntoConnectionInfo, ServerErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::pin::Pin;

use crate::limits::{LimitKey, mono_ns};
use crate::problem::{ApiError, Kind};

/// The GCRA script. KEYS[1]: the bucket. ARGV: interval and tolerance in
/// microseconds, and optionally "now" in microseconds (tests; otherwise
/// Redis's clock). Returns {allowed (1/0), stored arrival time − now}.
pub const GCRA_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now
-- A key lives until its bucket is full again, plus a second (a minute
-- under a test clock, which does not advance with Redis's).
local grace = 1000
if ARGV[3] then
  now = tonumber(ARGV[3])
  grace = 60000
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now <= tolerance then
  redis.call('SET', KEYS[1], string.format('%d', new_tat),
    'PX', string.format('%d', math.floor((new_tat - now) / 1000) + grace))
  return {1, new_tat - now}
end
return {0, tat - now}
"#;

/// The progressive-delay script. KEYS[1]: the address's hash (f = failures,
/// l = last failure, b = blocked until; seconds). ARGV[1] = "check" or
/// "fail"; for "fail" also free failures, base delay and maximum delay.
/// The last ARGV may be "now" in seconds (tests). "check" returns the
/// seconds the address must still wait (0 = none); "fail" records a failure
/// and returns the delay it imposes. The same rules as
/// [`cryptobot_auth::AddressThrottle`].
pub const DELAY_LUA: &str = r#"
local op = ARGV[1]
local now
local given = (op == 'check') and ARGV[2] or ARGV[5]
if given then
  now = tonumber(given)
else
  now = tonumber(redis.call('TIME')[1])
end
if op == 'check' then
  local b = tonumber(redis.call('HGET', KEYS[1], 'b') or 0)
  if b > now then return b - now end
  return 0
end
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local forget = max * 2
local v = redis.call('HMGET', KEYS[1], 'f', 'l')
local f = tonumber(v[1]) or 0
local l = tonumber(v[2]) or now
if now - l > forget then f = 0 end
f = f + 1
local delay = 0
if f > free then
  local shift = math.min(f - free - 1, 62)
  delay = math.floor(math.min(base * (2 ^ shift), max))
  redis.call('HSET', KEYS[1], 'f', string.format('%d', f), 'l', string.format('%d', now),
    'b', string.format('%d', now + delay))
else
  redis.call('HSET', KEYS[1], 'f', string.format('%d', f), 'l', string.format('%d', now))
end
redis.call('EXPIRE', KEYS[1], string.format('%d', forget + 1))
return delay
"#;

/// Counters of limiter decisions, for monitoring. Read them with
/// [`Counters::snapshot`]; the service logs them once a minute when they
/// change.
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls a limit let through.
    pub allowed: AtomicU64,
    /// Calls refused with 429 by a call limit.
    pub limited: AtomicU64,
    /// Sign-in calls refused with 429 by a progressive delay.
    pub delayed: AtomicU64,
    /// Calls refused with 503 because Redis could not answer (fail-closed).
    pub refused_unavailable: AtomicU64,
    /// Decisions made by the in-process fallback because Redis could not
    /// answer (fail-open).
    pub fallback: AtomicU64,
    /// Redis calls that failed or timed out.
    pub backend_errors: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// See [`Counters::allowed`].
    pub allowed: u64,
    /// See [`Counters::limited`].
    pub limited: u64,
    /// See [`Counters::delayed`].
    pub delayed: u64,
    /// See [`Counters::refused_unavailable`].
    pub refused_unavailable: u64,
    /// See [`Counters::fallback`].
    pub fallback: u64,
    /// See [`Counters::backend_errors`].
    pub backend_errors: u64,
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            allowed: r(&self.allowed),
            limited: r(&self.limited),
            delayed: r(&self.delayed),
            refused_unavailable: r(&self.refused_unavailable),
            fallback: r(&self.fallback),
            backend_errors: r(&self.backend_errors),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Redis could not answer and the limit is fail-closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    /// Whether a sign-in limit refused (else an API call limit).
    pub login: bool,
}

impl From<Unavailable> for ApiError {
    fn from(u: Unavailable) -> ApiError {
        let what = if u.login {
            "sign-in is"
        } else {
            "API calls are"
        };
        ApiError::new(
            Kind::Busy,
            format!("{what} paused: the shared rate-limit store cannot be reached; retry shortly"),
        )
        .retry_after(1)
    }
}

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// `redis.url` is not usable.
    #[error("redis.url is not a usable Redis URL: {0}")]
    Url(String),
    /// The password file could not be read.
    #[error("cannot read {path}: {source}")]
    Password {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `redis.ca_file` cannot be read or holds no usable certificate.
    #[error("redis.ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `redis.client_cert` / `redis.client_key` cannot be read or parsed.
    #[error("{key} {path}: {reason}")]
    ClientCert {
        /// `redis.client_cert` or `redis.client_key`.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong with it (never the key's content).
        reason: String,
    },
    /// `redis.url` asks to skip certificate verification (`#insecure`).
    #[error(
        "redis.url asks to skip TLS certificate verification (#insecure); Cryptobot always verifies"
    )]
    Insecure,
    /// `redis.ca_file` or a client certificate is set but the URL is not
    /// `rediss://`.
    #[error("redis.ca_file, client_cert and client_key need a rediss:// URL")]
    TlsWithoutRediss,
}

impl RedisSetupError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            RedisSetupError::CaFile { .. } => {
                "point redis.ca_file at the PEM file of the CA that signed the Redis server's certificate, or remove it to use the system's root certificates"
            }
            RedisSetupError::ClientCert { .. } => {
                "point redis.client_cert at the client certificate (PEM) and redis.client_key at its private key (PEM), or remove both"
            }
            RedisSetupError::Insecure => {
                "remove #insecure from redis.url; to trust a private CA, set redis.ca_file to its PEM file"
            }
            RedisSetupError::TlsWithoutRediss => {
                "write redis.url as rediss://HOST:PORT, or remove redis.ca_file, client_cert and client_key"
            }
            RedisSetupError::Url(_) | RedisSetupError::Password { .. } => {
                "fix redis.url (redis://host:port or rediss:// for TLS) and make config/secrets/redis_password readable, or remove redis.url to keep limits in-process"
            }
        }
    }
}

/// Reads `redis.ca_file` (already resolved) and checks that it holds at
/// least one PEM certificate that X.509-parses and can serve as a trust
/// anchor. Returns the PEM text for the TLS connection.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<u8>, RedisSetupError> {
    let bad = |reason: String| RedisSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let ders = cryptobot_tls::inspect::pem_certificates(&pem).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for (n, der) in ders.into_iter().enumerate() {
        cryptobot_tls::inspect(&der)
            .map_err(|e| bad(format!("certificate {} is not valid X.509: {e}", n + 1)))?;
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| {
                bad(format!(
                    "certificate {} cannot be a trust anchor: {e}",
                    n + 1
                ))
            })?;
    }
    Ok(pem)
}

/// One Redis call failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisCallError {
    /// No answer within `redis.timeout_ms`.
    #[error("no answer within {0} ms")]
    Timeout(u128),
    /// Redis or the connection answered with an error.
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// The script answered something unexpected.
    #[error("unexpected script answer")]
    Answer,
}

/// What a `rediss://` connection trusts and presents, read at start.
#[derive(Default)]
pub struct RedisTlsFiles {
    /// The CA certificates to trust instead of the system's roots (from
    /// [`read_ca_file`]).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate for mutual TLS (from [`read_client_identity`]).
    pub client: Option<ClientIdentity>,
}

impl std::fmt::Debug for RedisTlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTlsFiles")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client", &self.client)
            .finish()
    }
}

/// A client certificate chain and its private key, PEM.
pub struct ClientIdentity {
    cert_pem: Vec<u8>,
    key_pem: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Reads `redis.client_cert` and `redis.client_key` (already resolved) and
/// checks that they hold a certificate and a private key. Errors name the
/// file, never the key's content.
pub fn read_client_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<ClientIdentity, RedisSetupError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |key_name: &'static str, path: &std::path::Path, reason: String| {
        RedisSetupError::ClientCert {
            key: key_name,
            path: path.display().to_string(),
            reason,
        }
    };
    let cert_pem = std::fs::read(cert)
        .map_err(|e| bad("redis.client_cert", cert, format!("cannot read it: {e}")))?;
    let ders = cryptobot_tls::inspect::pem_certificates(&cert_pem)
        .map_err(|e| bad("redis.client_cert", cert, e.to_string()))?;
    for (n, der) in ders.iter().enumerate() {
        cryptobot_tls::inspect(der).map_err(|e| {
            bad(
                "redis.client_cert",
                cert,
                format!("certificate {} is not valid X.509: {e}", n + 1),
            )
        })?;
    }
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read(key)
            .map_err(|e| bad("redis.client_key", key, format!("cannot read it: {e}")))?,
    );
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        bad(
            "redis.client_key",
            key,
            "no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".into(),
        )
    })?;
    Ok(ClientIdentity { cert_pem, key_pem })
}

/// A Lua script and its SHA-1.
#[derive(Debug, Clone)]
struct Lua {
    code: &'static str,
    sha: String,
}

impl Lua {
    fn new(code: &'static str) -> Lua {
        Lua {
            code,
            sha: redis::Script::new(code).get_hash().to_string(),
        }
    }
}

/// The connection to Redis and the scripts.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    timeout: Duration,
    gcra: Lua,
    delay: Lua,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info holds the password: never printed.
        f.debug_struct("RedisBackend")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects lazily (the first call connects; a Redis that is down at
    /// start is the same as one that fails later) as `user` with
    /// `password`. `rediss://` URLs use TLS with the system's roots.
    pub fn connect(
        url: &str,
        user: &str,
        password: Option<&SecretString>,
        timeout: Duration,
    ) -> Result<RedisBackend, RedisSetupError> {
        Self::connect_with_tls(url, user, password, timeout, &RedisTlsFiles::default())
    }

    /// [`RedisBackend::connect`] with `tls_files` for a `rediss://` URL:
    /// their CA certificates are trusted instead of the system's roots, and
    /// their client certificate is presented. The server certificate is always
    /// verified: a URL with `#insecure` is refused, and so are TLS files
    /// for a plain `redis://` URL.
    pub fn connect_with_tls(
        url: &str,
        user: &str,
        password: Option<&SecretString>,
        timeout: Duration,
        tls_files: &RedisTlsFiles,
    ) -> Result<RedisBackend, RedisSetupError> {
        let info = url
            .into_connection_info()
            .map_err(|e| RedisSetupError::Url(e.to_string()))?;
        let tls = match info.addr() {
            redis::ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(RedisSetupError::Insecure);
            }
            redis::ConnectionAddr::TcpTls { .. } => true,
            _ => false,
        };
        let mut redis_info = info.redis_settings().clone().set_username(user);
        if let Some(p) = password {
            redis_info = redis_info.set_password(p.expose_secret());
        }
        let info = info.set_redis_settings(redis_info);
        let client = match tls_files {
            RedisTlsFiles {
                ca_pem: None,
                client: None,
            } => redis::Client::open(info),
            _ if !tls => return Err(RedisSetupError::TlsWithoutRediss),
            RedisTlsFiles { ca_pem, client } => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: client.as_ref().map(|c| redis::ClientTlsConfig {
                        client_cert: c.cert_pem.clone(),
                        client_key: c.key_pem.to_vec(),
                    }),
                    root_cert: ca_pem.clone(),
                },
            ),
        }
        .map_err(|e| RedisSetupError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisSetupError::Url(e.to_string()))?;
        Ok(RedisBackend {
            conn,
            timeout,
            gcra: Lua::new(GCRA_LUA),
            delay: Lua::new(DELAY_LUA),
        })
    }

    /// Runs a script: `EVALSHA`, and `EVAL` when Redis does not know it.
    async fn eval(
        &self,
        lua: &Lua,
        key: &str,
        args: &[String],
    ) -> Result<redis::Value, RedisCallError> {
        let call = async {
            let mut conn = self.conn.clone();
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(&lua.sha).arg(1).arg(key).arg(args);
            match cmd.query_async::<redis::Value>(&mut conn).await {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    let mut cmd = redis::cmd("EVAL");
                    cmd.arg(lua.code).arg(1).arg(key).arg(args);
                    cmd.query_async::<redis::Value>(&mut conn).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(RedisCallError::Timeout(self.timeout.as_millis())),
        }
    }

    /// One GCRA decision for `key` (in microseconds); `now_us` only for tests.
    pub async fn gcra(
        &self,
        key: &str,
        gcra: &Gcra,
        now_us: Option<i64>,
    ) -> Result<Decision, RedisCallError> {
        let mut args = vec![gcra.interval.to_string(), gcra.tolerance.to_string()];
        if let Some(n) = now_us {
            args.push(n.to_string());
        }
        let v = self.eval(&self.gcra, key, &args).await?;
        let (allowed, ahead): (i64, i64) =
            redis::FromRedisValue::from_redis_value(v).map_err(|_| RedisCallError::Answer)?;
        Ok(gcra.decision(allowed == 1, ahead))
    }

    /// Seconds `key` must still wait; `now` only for tests.
    pub async fn delay_check(&self, key: &str, now: Option<i64>) -> Result<i64, RedisCallError> {
        let mut args = vec!["check".to_string()];
        args.extend(now.map(|n| n.to_string()));
        let v = self.eval(&self.delay, key, &args).await?;
        redis::FromRedisValue::from_redis_value(v).map_err(|_| RedisCallError::Answer)
    }

    /// Records a failure for `key`; returns the delay imposed.
    pub async fn delay_fail(
        &self,
        key: &str,
        rules: DelayRules,
        now: Option<i64>,
    ) -> Result<i64, RedisCallError> {
        let mut args = vec![
            "fail".to_string(),
            rules.free.to_string(),
            rules.base.to_string(),
            rules.max.to_string(),
        ];
        args.extend(now.map(|n| n.to_string()));
        let v = self.eval(&self.delay, key, &args).await?;
        redis::FromRedisValue::from_redis_value(v).map_err(|_| RedisCallError::Answer)
    }
}

/// The progressive-delay settings.
#[derive(Debug, Clone, Copy)]
pub struct DelayRules {
    /// Failures that cost nothing.
    pub free: u32,
    /// First delay, seconds.
    pub base: i64,
    /// Longest delay, seconds.
    pub max: i64,
}

/// Which failure mode a limit follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Login,
    Api,
}

/// Every limit of the service, with its backend.
pub struct Limits {
    api: RateLimiter<LimitKey>,
    api_key: RateLimiter<LimitKey>,
    login: RateLimiter<LimitKey>,
    /// Signatures per exchange key (each key has its own limit).
    signing: RateLimiter<String>,
    /// The same limits in microseconds, for the Redis script.
    api_us: Gcra,
    api_key_us: Gcra,
    login_us: Gcra,
    delays: AddressThrottle,
    delay_rules: DelayRules,
    redis: Option<RedisBackend>,
    pseudonyms: Pseudonyms,
    login_mode: RedisFailure,
    api_mode: RedisFailure,
    /// Decision counters.
    pub counters: Counters,
    /// When the last "Redis unreachable" alert was logged (mono seconds).
    last_alert: AtomicI64,
    /// Whether the last Redis call failed (to log the recovery once).
    degraded: AtomicBool,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("redis", &self.redis)
            .field("login_mode", &self.login_mode)
            .field("api_mode", &self.api_mode)
            .finish_non_exhaustive()
    }
}

/// Microseconds per second (the Redis scripts' unit).
const MICROS: i64 = 1_000_000;

impl Limits {
    /// The limits of `r`; shared through `redis` when given. `pseudonyms`
    /// names the Redis keys.
    pub fn new(r: &RateLimiting, redis: Option<RedisBackend>, pseudonyms: Pseudonyms) -> Limits {
        Limits {
            api: RateLimiter::new(r.api_requests_per_minute, 60, r.burst, 1_000_000),
            api_key: RateLimiter::new(r.api_key_requests_per_minute, 60, r.burst, 100_000),
            login: RateLimiter::new(r.login_attempts_per_minute, 60, r.login_burst, 100_000),
            signing: RateLimiter::new(1, 60, 1, 100_000),
            api_us: Gcra::new(r.api_requests_per_minute, 60, r.burst, MICROS),
            api_key_us: Gcra::new(r.api_key_requests_per_minute, 60, r.burst, MICROS),
            login_us: Gcra::new(r.login_attempts_per_minute, 60, r.login_burst, MICROS),
            delays: AddressThrottle::new(
                r.login_free_failures,
                i64::from(r.login_delay_base_seconds),
                i64::from(r.login_delay_max_seconds),
                100_000,
            ),
            delay_rules: DelayRules {
                free: r.login_free_failures,
                base: i64::from(r.login_delay_base_seconds).max(1),
                max: i64::from(r.login_delay_max_seconds).max(1),
            },
            redis,
            pseudonyms,
            login_mode: r.redis_failure_login,
            api_mode: r.redis_failure_api,
            counters: Counters::default(),
            last_alert: AtomicI64::new(i64::MIN),
            degraded: AtomicBool::new(false),
        }
    }

    /// Whether the state is shared through Redis.
    pub fn shared(&self) -> bool {
        self.redis.is_some()
    }

    /// The in-process limiter of `key` and its limit in microseconds.
    fn rate(&self, key: &LimitKey) -> (&RateLimiter<LimitKey>, &Gcra) {
        match key {
            LimitKey::Session(_) | LimitKey::Addr(_) => (&self.api, &self.api_us),
            LimitKey::ApiKey(_) => (&self.api_key, &self.api_key_us),
            LimitKey::LoginAddr(_) | LimitKey::LoginUser(_) => (&self.login, &self.login_us),
        }
    }

    fn class(key: &LimitKey) -> Class {
        match key {
            LimitKey::LoginAddr(_) | LimitKey::LoginUser(_) => Class::Login,
            _ => Class::Api,
        }
    }

    fn mode(&self, class: Class) -> RedisFailure {
        match class {
            Class::Login => self.login_mode,
            Class::Api => self.api_mode,
        }
    }

    /// The Redis key of `key`.
    pub fn redis_key(&self, key: &LimitKey) -> String {
        let (kind, id): (&str, Vec<u8>) = match key {
            LimitKey::Session(s) => ("session", s.as_bytes().to_vec()),
            LimitKey::Addr(a) => ("addr", a.to_canonical().to_string().into_bytes()),
            LimitKey::ApiKey(k) => ("apikey", k.as_bytes().to_vec()),
            LimitKey::LoginAddr(a) => ("login-addr", address_group(*a).to_string().into_bytes()),
            LimitKey::LoginUser(u) => ("login-user", u.to_lowercase().into_bytes()),
        };
        format!("cryptobot:rl:{kind}:{}", self.pseudonyms.name(kind, &id))
    }

    fn delay_key(&self, addr: IpAddr) -> String {
        let id = address_group(addr).to_string();
        format!(
            "cryptobot:rl:delay:{}",
            self.pseudonyms.name("delay", id.as_bytes())
        )
    }

    /// Counts a Redis failure and raises the alert (at most once a minute).
    fn backend_failed(&self, what: &str, e: &RedisCallError) {
        bump(&self.counters.backend_errors);
        self.degraded.store(true, Ordering::Relaxed);
        let now = mono_ns() / 1_000_000_000;
        let last = self.last_alert.load(Ordering::Relaxed);
        if (last == i64::MIN || now - last >= 60)
            && self
                .last_alert
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                alert = true,
                error = %e,
                what,
                login_mode = self.login_mode.as_str(),
                api_mode = self.api_mode.as_str(),
                "Redis (shared rate-limit state) cannot be reached; limits follow security.rate_limiting.redis_failure_*"
            );
        }
    }

    fn backend_ok(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis (shared rate-limit state) answers again");
        }
    }

    fn count(&self, d: &Decision) {
        bump(if d.allowed {
            &self.counters.allowed
        } else {
            &self.counters.limited
        });
    }

    /// Decides one call for `key`.
    pub async fn check(&self, key: &LimitKey) -> Result<Decision, Unavailable> {
        let (local, gcra) = self.rate(key);
        let Some(redis) = &self.redis else {
            let d = local.check(key, mono_ns());
            self.count(&d);
            return Ok(d);
        };
        match redis.gcra(&self.redis_key(key), gcra, None).await {
            Ok(d) => {
                self.backend_ok();
                self.count(&d);
                Ok(d)
            }
            Err(e) => {
                self.backend_failed("rate limit", &e);
                self.fail(Self::class(key), || {
                    let d = local.check(key, mono_ns());
                    self.count(&d);
                    d
                })
            }
        }
    }

    /// Applies the failure mode of `class`: the fallback's answer, or
    /// [`Unavailable`].
    fn fail<T>(&self, class: Class, fallback: impl FnOnce() -> T) -> Result<T, Unavailable> {
        match self.mode(class) {
            RedisFailure::FailOpen => {
                bump(&self.counters.fallback);
                Ok(fallback())
            }
            RedisFailure::FailClosed => {
                bump(&self.counters.refused_unavailable);
                Err(Unavailable {
                    login: class == Class::Login,
                })
            }
        }
    }

    /// `Ok(Some(seconds))` while `addr` serves a progressive delay.
    pub async fn delay_check(&self, addr: IpAddr, now: i64) -> Result<Option<u64>, Unavailable> {
        let local = || self.delays.check(addr, now).err();
        let wait = match &self.redis {
            None => local(),
            Some(redis) => match redis.delay_check(&self.delay_key(addr), None).await {
                Ok(secs) => {
                    self.backend_ok();
                    (secs > 0).then_some(secs)
                }
                Err(e) => {
                    self.backend_failed("sign-in delay", &e);
                    self.fail(Class::Login, local)?
                }
            },
        };
        if wait.is_some() {
            bump(&self.counters.delayed);
        }
        Ok(wait.map(|s| u64::try_from(s).unwrap_or(1).max(1)))
    }

    /// Records a failed sign-in step from `addr`; returns the delay now
    /// imposed. When Redis cannot answer the failure is kept in-process
    /// (and logged), so it still counts on this instance.
    pub async fn record_failure(&self, addr: IpAddr, now: i64) -> i64 {
        if let Some(redis) = &self.redis {
            match redis
                .delay_fail(&self.delay_key(addr), self.delay_rules, None)
                .await
            {
                Ok(delay) => {
                    self.backend_ok();
                    return delay;
                }
                Err(e) => self.backend_failed("sign-in delay", &e),
            }
        }
        self.delays.record_failure(addr, now)
    }
}

impl Limits {
    /// One signature of exchange key `key_id`, under its limit of
    /// `per_minute` (a bucket of `per_minute` refilled evenly over a
    /// minute), shared through Redis when configured. When Redis cannot
    /// answer, the API calls' failure mode applies.
    pub async fn take_signature(&self, key_id: &str, per_minute: u32) -> Budget {
        let local = || {
            let gcra = Gcra::new(per_minute, 60, per_minute, 1_000_000_000);
            self.signing
                .check_with(&key_id.to_string(), &gcra, mono_ns())
        };
        let d = match &self.redis {
            None => local(),
            Some(redis) => {
                let gcra = Gcra::new(per_minute, 60, per_minute, MICROS);
                let key = format!(
                    "cryptobot:rl:sign:{}",
                    self.pseudonyms.name("sign", key_id.as_bytes())
                );
                match redis.gcra(&key, &gcra, None).await {
                    Ok(d) => {
                        self.backend_ok();
                        d
                    }
                    Err(e) => {
                        self.backend_failed("signing limit", &e);
                        match self.fail(Class::Api, local) {
                            Ok(d) => d,
                            Err(_) => return Budget::Unavailable,
                        }
                    }
                }
            }
        };
        if d.allowed {
            Budget::Allowed
        } else {
            bump(&self.counters.limited);
            Budget::Limited {
                limit: d.limit,
                retry_after_secs: d.retry_after_secs,
            }
        }
    }
}

impl SignatureBudget for Limits {
    fn take<'a>(
        &'a self,
        key_id: &'a str,
        per_minute: u32,
    ) -> Pin<Box<dyn Future<Output = Budget> + Send + 'a>> {
        Box::pin(self.take_signature(key_id, per_minute))
    }
}

impl cryptobot_service::sign_in::AddressDelays for Limits {
    fn record_failure(&self, addr: IpAddr, now: i64) -> impl Future<Output = i64> + Send {
        Limits::record_failure(self, addr, now)
    }
}

/// Reads the Redis password from `path`; `None` when the file does not
/// exist (a Redis without ACLs, e.g. in development).
pub fn read_password(path: &std::path::Path) -> Result<Option<SecretString>, RedisSetupError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            Ok(Some(SecretString::from(text)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RedisSetupError::Password {
            path: path.display().to_string(),
            source,
        }),
    }
}
