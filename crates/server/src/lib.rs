//! The HTTPS security service behind `cryptobot serve`: accounts, sign-in
//! with lockout and progressive delays, EdDSA access tokens with rotating
//! single-use refresh tokens, sessions, role-based scopes and the audit log.
//!
//! [`start`] runs it; [`open_store`] and [`accounts`] serve the
//! `cryptobot user` commands.

pub mod accounts;
pub mod app;
pub mod connections;
pub mod extract;
pub mod keys;
pub mod limits;
pub mod mfa;
pub mod problem;
pub mod qr;
pub mod routes;
pub mod service_keys;
pub mod shared;
pub mod state;
pub mod tls;
pub mod vault;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cryptobot_auth::PasswordHasher;
use cryptobot_config::{Layout, Settings};
use cryptobot_store::{Store, StoreError, Target};
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::state::{AppState, Inner, now};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A TLS file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadTls {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The password hasher could not be built.
    #[error("password hashing: {0}")]
    Hasher(String),
    /// Redis (`redis.url`) cannot be used as configured.
    #[error(transparent)]
    Redis(#[from] shared::RedisSetupError),
}

impl ServeError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Store(_) => Some(
                "check [database] in the configuration; for PostgreSQL, that the server runs and `cryptobot secure-config --apply-db` created the role".into(),
            ),
            ServeError::Keys(k) => Some(k.hint().into()),
            ServeError::Tls(_) | ServeError::ReadTls { .. } => Some(
                "fix or remove the files named by server.tls_cert and server.tls_key (without them a self-signed localhost certificate is made)".into(),
            ),
            ServeError::Bind { .. } => Some(
                "stop whatever uses the port, or set server.bind to another address".into(),
            ),
            ServeError::Hasher(_) => None,
            ServeError::Redis(e) => Some(e.hint().into()),
        }
    }
}

/// Where the database is, from the configuration: PostgreSQL when
/// `database.url` is set (password from `config/secrets/postgres_password`
/// if that file exists), otherwise the SQLite file.
pub fn store_target(settings: &Settings, layout: &Layout) -> Result<Target, ServeError> {
    match &settings.database.url {
        Some(url) => {
            let path = layout.secret("postgres_password");
            let password = match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes).trim().to_string();
                    Some(SecretString::from(text))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(ServeError::ReadTls {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            Ok(Target::Postgres {
                url: url.clone(),
                password,
            })
        }
        None => Ok(Target::Sqlite(
            layout.resolve(&settings.database.sqlite_path),
        )),
    }
}

/// Opens (and migrates) the configured database.
pub async fn open_store(settings: &Settings, layout: &Layout) -> Result<Store, ServeError> {
    Ok(Store::open(&store_target(settings, layout)?).await?)
}

/// What [`start`] needs.
pub struct StartOptions {
    /// Validated settings.
    pub settings: Settings,
    /// The installation.
    pub layout: Layout,
    /// An already-open store (tests pass one; `None` opens the configured one).
    pub store: Option<Store>,
    /// Password hasher (tests use cheaper parameters; `None` = OWASP).
    pub hasher: Option<PasswordHasher>,
}

/// A running service.
pub struct Running {
    addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests read the store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets open requests finish (up to `grace`), and waits.
    pub async fn shutdown(self, grace: Duration) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(grace));
        self.wait().await
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }

    /// A handle that can stop the server from elsewhere.
    pub fn handle(&self) -> axum_server::Handle<SocketAddr> {
        self.handle.clone()
    }
}

fn read_file(path: &std::path::Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ServeError> {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|source| ServeError::ReadTls {
            path: path.display().to_string(),
            source,
        })
}

/// Starts the service; returns once it listens.
pub async fn start(opts: StartOptions) -> Result<Running, ServeError> {
    tls::install_crypto_provider();
    let StartOptions {
        settings,
        layout,
        store,
        hasher,
    } = opts;
    let store = match store {
        Some(s) => s,
        None => open_store(&settings, &layout).await?,
    };
    let ring = keys::load(&layout, now())?;
    let vault_keys = vault::VaultKeys::load(&layout)?;
    vault::check_ring(&store, &vault_keys).await?;
    let mfa = vault::mfa_keys(&store, &vault_keys, now())
        .await
        .map_err(|e| keys::KeyError::VaultCheck(e.to_string()))?;
    let cert_path = layout.resolve(&settings.server.tls_cert);
    let key_path = layout.resolve(&settings.server.tls_key);
    let policy = cryptobot_tls::Policy::parse(&settings.tls.policy).unwrap_or_default();
    let cert_pem = read_file(&cert_path)?;
    let tls_config = tls::server_config(
        &cert_pem,
        &read_file(&key_path)?,
        &cert_path.display().to_string(),
        &key_path.display().to_string(),
        policy,
    )?;
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(tls_config);
    let certificate = CertWatch {
        cert: cert_path,
        key: key_path,
        policy,
        config: rustls_config.clone(),
        first_pem: cert_pem.to_vec(),
    };

    let addr = settings.server.bind;
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;

    let redis = match &settings.redis.url {
        Some(url) => {
            let password = shared::read_password(&layout.secret("redis_password"))?;
            let timeout = Duration::from_millis(u64::from(settings.redis.timeout_ms));
            let r = &settings.redis;
            let tls_files = shared::RedisTlsFiles {
                ca_pem: match &r.ca_file {
                    Some(path) => Some(shared::read_ca_file(&layout.resolve(path))?),
                    None => None,
                },
                client: match (&r.client_cert, &r.client_key) {
                    (Some(cert), Some(key)) => Some(shared::read_client_identity(
                        &layout.resolve(cert),
                        &layout.resolve(key),
                    )?),
                    _ => None,
                },
            };
            Some(shared::RedisBackend::connect_with_tls(
                url,
                &r.user,
                password.as_ref(),
                timeout,
                &tls_files,
            )?)
        }
        None => None,
    };
    let limits = shared::Limits::new(&settings.security.rate_limiting, redis, mfa.pseudonyms());
    tracing::info!(
        shared = limits.shared(),
        redis_user = settings
            .redis
            .url
            .as_ref()
            .map(|_| settings.redis.user.as_str()),
        redis_tls = settings
            .redis
            .url
            .as_deref()
            .map(|u| u.starts_with("rediss://")),
        redis_ca_file = settings
            .redis
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string()),
        redis_client_cert = settings.redis.client_cert.is_some(),
        "rate limits and sign-in delays {}",
        if limits.shared() {
            "are shared through Redis"
        } else {
            "are kept in this process"
        }
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = match hasher {
        Some(h) => h,
        None => PasswordHasher::owasp(),
    };
    let state = AppState(Arc::new(Inner {
        limits,
        policy: accounts::policy_from(&settings),
        hasher,
        hash_slots: Semaphore::new(cores),
        hash_micros: AtomicU64::new(0),
        previous_secret_alerts: std::sync::Mutex::default(),
        connections: Arc::default(),
        mfa,
        vault: vault_keys,
        trusted_proxies: settings
            .server
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect(),
        keys: RwLock::new(Arc::new(ring)),
        store,
        settings,
        layout,
    }));

    let app = app::router(state.clone());
    let handle = axum_server::Handle::new();
    let server = connections::build_server(
        listener,
        rustls_config,
        connections::ConnectionLimits::from_settings(&state.settings.server),
        Arc::clone(&state.connections),
    )
    .map_err(|source| ServeError::Bind { addr, source })?
    .handle(handle.clone());
    let task = tokio::spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    tokio::spawn(watch_keys(state.clone()));
    tokio::spawn(sweep_vault(state.clone()));
    tokio::spawn(watch_certificate(state.clone(), certificate));
    tokio::spawn(shared::log_counters(state.clone()));
    tracing::info!(addr = %local, "listening");
    Ok(Running {
        addr: local,
        handle,
        task,
        state,
    })
}

/// What the certificate watcher needs.
struct CertWatch {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    policy: cryptobot_tls::Policy,
    config: axum_server::tls_rustls::RustlsConfig,
    first_pem: Vec<u8>,
}

/// Serves new certificate files without a restart: checked every second
/// and on SIGHUP. New connections get the new certificate; open ones keep
/// theirs. A pair that cannot be loaded (e.g. the key written after the
/// certificate) is logged and retried; the old one stays in service. Also
/// raises the expiry alert, at most once a day.
async fn watch_certificate(state: AppState, w: CertWatch) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut stamp = tls::files_stamp(&w.cert, &w.key);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_alert: Option<i64> = None;
    let mut pending_error: Option<String> = None;
    expiry_alert(&state, &w.cert, &w.first_pem, &mut last_alert).await;
    let mut ticks: u64 = 0;
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        ticks = ticks.wrapping_add(1);
        let now_stamp = tls::files_stamp(&w.cert, &w.key);
        if !forced && now_stamp == stamp {
            if ticks.is_multiple_of(3600)
                && let Ok(pem) = std::fs::read(&w.cert)
            {
                expiry_alert(&state, &w.cert, &pem, &mut last_alert).await;
            }
            continue;
        }
        let loaded = std::fs::read(&w.cert)
            .and_then(|c| std::fs::read(&w.key).map(|k| (c, zeroize::Zeroizing::new(k))))
            .map_err(|e| e.to_string())
            .and_then(|(c, k)| {
                tls::server_config(
                    &c,
                    &k,
                    &w.cert.display().to_string(),
                    &w.key.display().to_string(),
                    w.policy,
                )
                .map(|cfg| (c, cfg))
                .map_err(|e| e.to_string())
            });
        match loaded {
            Ok((pem, cfg)) => {
                w.config.reload_from_config(cfg);
                stamp = now_stamp;
                pending_error = None;
                let info = cryptobot_tls::inspect_pem(&pem).ok();
                tracing::info!(
                    cert = %w.cert.display(),
                    fingerprint = info.as_ref().map(|i| i.fingerprint.as_str()).unwrap_or(""),
                    "certificate reloaded"
                );
                state
                    .audit(
                        "certificate_reloaded",
                        &state::Who {
                            actor: Some("system".into()),
                            client: None,
                        },
                        Some(&w.cert.display().to_string()),
                        "success",
                        serde_json::json!({
                            "fingerprint": info.as_ref().map(|i| i.fingerprint.clone()),
                            "not_after": info.as_ref().map(|i| i.not_after),
                        }),
                    )
                    .await;
                last_alert = None;
                expiry_alert(&state, &w.cert, &pem, &mut last_alert).await;
            }
            Err(e) => {
                // Logged once per distinct error, retried every second.
                if pending_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(error = %e, "certificate files changed but cannot be loaded; still serving the previous certificate");
                    pending_error = Some(e);
                }
                if forced {
                    stamp = now_stamp;
                }
            }
        }
    }
}

/// An audit event and an alert when the served certificate has fewer than
/// [`tls::ALERT_DAYS`] days left (once a day at most).
async fn expiry_alert(
    state: &AppState,
    path: &std::path::Path,
    pem: &[u8],
    last: &mut Option<i64>,
) {
    let Ok(info) = cryptobot_tls::inspect_pem(pem) else {
        return;
    };
    let now = now();
    let left = cryptobot_tls::days_left(info.not_after, now);
    if left >= tls::ALERT_DAYS || last.is_some_and(|t| now - t < 86_400) {
        return;
    }
    *last = Some(now);
    tracing::warn!(
        alert = true,
        cert = %path.display(),
        days_left = left,
        "the served certificate expires soon: run `cryptobot ssl renew` or import a new one"
    );
    state
        .audit(
            "certificate_expiring",
            &state::Who { actor: Some("system".into()), client: None },
            Some(&path.display().to_string()),
            "warning",
            serde_json::json!({ "days_left": left, "not_after": info.not_after, "subject": info.subject }),
        )
        .await;
}

/// Reloads the key ring when `cryptobot token rotate-signing-key` changed
/// the files, so running servers pick up a rotation without a restart.
async fn watch_keys(state: AppState) {
    let mut stamp = keys::files_stamp(&state.layout);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut ticks: u32 = 0;
    loop {
        tick.tick().await;
        ticks = ticks.wrapping_add(1);
        let now_stamp = keys::files_stamp(&state.layout);
        // Reload on a change, and every minute so retired keys age out.
        if now_stamp == stamp && !ticks.is_multiple_of(30) {
            continue;
        }
        let changed = now_stamp != stamp;
        match keys::load(&state.layout, now()) {
            Ok(ring) => {
                tracing::info!(kids = ?ring.verifier.kids(), "signing keys reloaded");
                state.set_key_ring(ring);
                stamp = now_stamp;
            }
            // Out of descriptors, the files cannot be opened: say so rather
            // than blame the files.
            Err(keys::KeyError::Read { ref source, .. })
                if connections::descriptors_exhausted(source) =>
            {
                tracing::error!(
                    open_connections = state.connections.snapshot().open,
                    "cannot reload the signing keys: file descriptors are exhausted (raise LimitNOFILE or lower server.max_connections); keeping the old ones"
                )
            }
            Err(e) if changed => {
                tracing::error!(error = %e, "signing keys changed but cannot be loaded; keeping the old ones")
            }
            Err(e) => {
                tracing::error!(error = %e, "signing keys cannot be reloaded; keeping the old ones")
            }
        }
    }
}

/// Once a minute: destroys exchange-key versions whose grace period ended,
/// raises rotation-due events, and picks up a rotated master key ring.
async fn sweep_vault(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.vault.refresh();
        let v = vault::Vault {
            store: &state.store,
            keys: &state.vault,
            settings: &state.settings,
        };
        if let Err(e) = v.sweep(now()).await {
            tracing::error!(error = %e, "vault sweep failed");
        }
    }
}
