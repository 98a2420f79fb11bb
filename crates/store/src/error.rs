//! The error type of every store operation.

/// Why a store operation failed.
///
/// No variant's message ever contains a password or a connection URL:
/// connection failures are reported through [`StoreError::Connect`], whose
/// message is scrubbed of the password, and [`StoreError::Database`] wraps
/// errors of already-established connections only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value is already taken; the payload names what (e.g.
    /// `"username"`).
    #[error("{0} already exists")]
    Conflict(String),
    /// The row an operation needs does not exist; the payload names what.
    #[error("no such {0}")]
    NotFound(String),
    /// The database schema cannot be used by this build (e.g. it is newer
    /// than the code knows).
    #[error("database schema: {0}")]
    Schema(String),
    /// The [`Target`](crate::Target) is unusable (bad URL scheme, missing
    /// directory, non-UTF-8 path, …).
    #[error("invalid database target: {0}")]
    InvalidTarget(String),
    /// Connecting to the database failed. The message is the driver's,
    /// with any password replaced by `***`.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// `"SQLite"` or `"PostgreSQL"`.
        backend: &'static str,
        /// The scrubbed driver message.
        message: String,
    },
    /// A filesystem operation on the SQLite database file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, including the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A query on an established connection failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored value could not be interpreted (e.g. audit details that are
    /// not JSON).
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming
/// `what`, anything else to [`StoreError::Database`].
pub(crate) fn conflict_or(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_owned())
        }
        _ => StoreError::Database(err),
    }
}
