//! Opening the configured database.

use cryptobot_config::{Layout, Settings};
use cryptobot_store::{Store, StoreError, Target};
use secrecy::SecretString;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The PostgreSQL password file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadPassword {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl OpenError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            OpenError::Store(_) => Some(
                "check [database] in the configuration; for PostgreSQL, that the server runs and `cryptobot secure-config --apply-db` created the role".into(),
            ),
            // The same words `cryptobot serve` has always given for a file
            // it cannot read.
            OpenError::ReadPassword { .. } => Some(
                "fix or remove the files named by server.tls_cert and server.tls_key (without them a self-signed localhost certificate is made)".into(),
            ),
        }
    }
}

/// Where the database is, from the configuration: PostgreSQL when
/// `database.url` is set (password from `config/secrets/postgres_password`
/// if that file exists), otherwise the SQLite file.
pub fn store_target(settings: &Settings, layout: &Layout) -> Result<Target, OpenError> {
    match &settings.database.url {
        Some(url) => {
            let path = layout.postgres_password();
            let password = match std::fs::read(&path) {
                Ok(bytes) => {
                    let bytes = zeroize::Zeroizing::new(bytes);
                    let text = String::from_utf8_lossy(&bytes).trim().to_string();
                    Some(SecretString::from(text))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(OpenError::ReadPassword {
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
pub async fn open_store(settings: &Settings, layout: &Layout) -> Result<Store, OpenError> {
    Ok(Store::open(&store_target(settings, layout)?).await?)
}
