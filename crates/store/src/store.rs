//! Opening the database: targets, pools, pragmas.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool};

use crate::backend::Backend;
use crate::{StoreError, migrate, util};

/// SQLite pool size.
const SQLITE_POOL: u32 = 4;
/// PostgreSQL pool size.
const POSTGRES_POOL: u32 = 8;
/// How long a query waits for a pooled connection: a free one, or a new
/// one while the database is unreachable. Well below the service's request
/// timeout, so a database outage is answered with a quick 503
/// ([`StoreError::is_unavailable`]) instead of holding every request for
/// the whole timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the data lives.
#[derive(Clone)]
pub enum Target {
    /// A SQLite database file (created with mode `0600` if missing; its
    /// directory must exist).
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres {
        /// `postgres://` or `postgresql://` connection URL.
        url: String,
        /// Password to use instead of any in the URL; injected in memory
        /// only.
        password: Option<SecretString>,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Target::Postgres { url, password } => f
                .debug_struct("Postgres")
                .field("url", &util::redact_url(url))
                .field("password", &password.as_ref().map(|_| "***"))
                .finish(),
        }
    }
}

/// Handle to the database: a connection pool plus the backend kind. Cheap
/// to clone (clones share the pool).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Installs the sqlx `Any` drivers exactly once.
fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

impl Store {
    /// Opens (creating if needed) the database and migrates the schema.
    ///
    /// SQLite: the parent directory must exist; a missing file is created
    /// with mode `0600` before the driver opens it; connections use WAL,
    /// foreign keys and a 5 s busy timeout; pool of 4.
    /// PostgreSQL: `password`, if given, overrides the URL's; pool of 8.
    /// Fails with [`StoreError::Schema`] if the database schema is newer
    /// than this build.
    pub async fn open(target: &Target) -> Result<Store, StoreError> {
        install_drivers();
        let store = match target {
            Target::Sqlite(path) => open_sqlite(path).await?,
            Target::Postgres { url, password } => open_postgres(url, password.as_ref()).await?,
        };
        if let Err(err) = migrate::migrate(&store.pool, store.backend).await {
            store.close().await;
            return Err(err);
        }
        Ok(store)
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `SELECT 1` (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrate::current_version(&self.pool).await
    }
}

/// Connection error, scrubbed of the given secrets.
fn connect_error(backend: &'static str, err: &sqlx::Error, secrets: &[String]) -> StoreError {
    StoreError::Connect {
        backend,
        message: util::scrub(&err.to_string(), secrets),
    }
}

async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
    let path = sqlite_path(path)?;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(StoreError::Io {
                context: format!("creating the database file {}", path.display()),
                source,
            });
        }
    }
    let url = format!(
        "sqlite://{}",
        util::percent_encode(path.as_os_str().as_encoded_bytes(), true)
    );
    let options =
        AnyConnectOptions::from_str(&url).map_err(|e| connect_error("SQLite", &e, &[]))?;
    let pool = AnyPoolOptions::new()
        .max_connections(SQLITE_POOL)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("PRAGMA busy_timeout = 5000")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| connect_error("SQLite", &e, &[]))?;
    // Persistent in the file; set once while only this pool's first
    // connection exists.
    let mode: String = sqlx::Row::try_get(
        &sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_one(&pool)
            .await?,
        0,
    )?;
    if !mode.eq_ignore_ascii_case("wal") {
        pool.close().await;
        return Err(StoreError::Schema(format!(
            "cannot switch the SQLite database to WAL mode (journal mode is {mode})"
        )));
    }
    Ok(Store {
        pool,
        backend: Backend::Sqlite,
    })
}

/// Absolute path of the database file with a canonical parent directory,
/// which must exist.
fn sqlite_path(path: &Path) -> Result<PathBuf, StoreError> {
    let file_name = path.file_name().ok_or_else(|| {
        StoreError::InvalidTarget(format!("{} does not name a file", path.display()))
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent.canonicalize().map_err(|source| StoreError::Io {
        context: format!(
            "the directory of the database file {} is not accessible",
            path.display()
        ),
        source,
    })?;
    if !parent.is_dir() {
        return Err(StoreError::InvalidTarget(format!(
            "{} is not a directory",
            parent.display()
        )));
    }
    let full = parent.join(file_name);
    if full.to_str().is_none() {
        return Err(StoreError::InvalidTarget(format!(
            "the database path {} is not valid UTF-8",
            full.display()
        )));
    }
    Ok(full)
}

async fn open_postgres(url: &str, password: Option<&SecretString>) -> Result<Store, StoreError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        return Err(StoreError::InvalidTarget(
            "the PostgreSQL URL must start with postgres:// or postgresql://".to_owned(),
        ));
    }
    // Everything that could echo a password gets scrubbed: the injected
    // password (raw and encoded) and whatever password the URL carries.
    let mut secrets: Vec<String> = Vec::new();
    if let Some(pw) = password {
        let pw = pw.expose_secret();
        secrets.push(pw.to_owned());
        secrets.push(util::percent_encode(pw.as_bytes(), false));
    }
    let mut options = AnyConnectOptions::from_str(url)
        .map_err(|_| StoreError::InvalidTarget("the PostgreSQL URL cannot be parsed".to_owned()))?;
    if let Some(pw) = options.database_url.password() {
        secrets.push(pw.to_owned());
    }
    if let Some(pw) = password {
        let encoded = util::percent_encode(pw.expose_secret().as_bytes(), false);
        if options.database_url.set_password(Some(&encoded)).is_err() {
            // No host in the URL (e.g. `postgres:///db?host=/run/pg`): the
            // driver also reads a `password` query parameter, last one wins.
            options
                .database_url
                .query_pairs_mut()
                .append_pair("password", pw.expose_secret());
        }
    }
    // One direct connection first: reports the real cause (refused,
    // authentication, TLS) instead of a pool timeout.
    let probe = AnyConnection::connect_with(&options)
        .await
        .map_err(|e| connect_error("PostgreSQL", &e, &secrets))?;
    let _ = probe.close().await;
    let pool = AnyPoolOptions::new()
        .max_connections(POSTGRES_POOL)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    Ok(Store {
        pool,
        backend: Backend::Postgres,
    })
}
