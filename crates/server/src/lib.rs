//! The HTTPS security service behind `cryptobot serve`: the HTTP side of
//! accounts, sign-in with lockout and progressive delays, EdDSA access
//! tokens with rotating single-use refresh tokens, sessions, role-based
//! scopes and the audit log. The operations themselves live in
//! `cryptobot-service`; this crate routes, extracts, limits, answers with
//! problem+json, serves TLS and describes itself in OpenAPI.
//!
//! [`start`] runs it.

pub mod app;
pub mod client_ip;
pub mod connections;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod shared;
pub mod sign_in;
pub mod state;
mod tasks;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cryptobot_auth::PasswordHasher;
use cryptobot_config::{Layout, Settings};
use cryptobot_service::audit_batch::{AuditBatcher, BatchSettings};
use cryptobot_service::clock::now;
use cryptobot_service::exchange_keys::{self, MasterKeyError, VaultKeys};
use cryptobot_service::sign_in::Hashing;
use cryptobot_service::store::{OpenError, open_store};
use cryptobot_service::{accounts, signing_keys};
use cryptobot_store::Store;

use crate::state::{AppState, Inner};
use crate::tasks::CertWatch;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] signing_keys::KeyError),
    /// The vault master key ring cannot be used.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
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
    /// `reset_token.key` is missing or unusable.
    #[error(transparent)]
    ResetKey(#[from] accounts::ResetKeyError),
    /// `password_pepper.key` is unusable.
    #[error(transparent)]
    Pepper(#[from] accounts::PepperLoadError),
}

impl ServeError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Store(e) => e.hint(),
            ServeError::Keys(k) => Some(k.hint().into()),
            ServeError::MasterKey(k) => Some(k.hint().into()),
            ServeError::Tls(_) | ServeError::ReadTls { .. } => Some(
                "fix or remove the files named by server.tls_cert and server.tls_key (without them a self-signed localhost certificate is made)".into(),
            ),
            ServeError::Bind { .. } => Some(
                "stop whatever uses the port, or set server.bind to another address".into(),
            ),
            ServeError::Hasher(_) => None,
            ServeError::Redis(e) => Some(e.hint().into()),
            ServeError::ResetKey(e) => Some(e.hint().into()),
            ServeError::Pepper(e) => Some(e.hint().into()),
        }
    }
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

    /// Waits until the server stops; the refusals still being counted are
    /// then written to the audit log.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        self.state
            .noisy
            .flush(&self.state.store, cryptobot_service::clock::now_ms(), true)
            .await;
        result
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
    let ring = signing_keys::load(&layout, now())?;
    let reset_key = accounts::load_reset_key(&layout)?;
    let vault_keys = VaultKeys::load(&layout)?;
    exchange_keys::check_ring(&store, &vault_keys).await?;
    let mfa = exchange_keys::mfa_keys(&store, &vault_keys, now())
        .await
        .map_err(|e| MasterKeyError::Check(e.to_string()))?;
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
            let password = shared::read_password(&layout.redis_password())?;
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
    let base = match hasher {
        Some(h) => h,
        None => PasswordHasher::owasp(),
    };
    let (hasher, peppered) = accounts::peppered_hasher(&layout, base)?;
    if !peppered {
        tracing::warn!(
            "no password pepper ({}): password hashes are not peppered; run `cryptobot secure-config` to make one",
            layout.password_pepper().display()
        );
    }
    let state = AppState(Arc::new(Inner {
        limits,
        policy: accounts::policy_from(&settings),
        hashing: Hashing::new(hasher, cores),
        previous_secret_alerts: std::sync::Mutex::default(),
        connections: Arc::default(),
        reset_key,
        noisy: Default::default(),
        mfa,
        vault: vault_keys,
        audit_batcher: AuditBatcher::start(store.clone(), BatchSettings::default()),
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
    tokio::spawn(tasks::watch_keys(state.clone()));
    tokio::spawn(tasks::sweep_vault(state.clone()));
    tokio::spawn(tasks::watch_certificate(state.clone(), certificate));
    tokio::spawn(tasks::log_counters(state.clone()));
    tokio::spawn(tasks::flush_refusals(state.clone()));
    tracing::info!(addr = %local, "listening");
    Ok(Running {
        addr: local,
        handle,
        task,
        state,
    })
}
