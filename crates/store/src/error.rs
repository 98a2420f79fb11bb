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

impl StoreError {
    /// Whether the database is away or saturated for a moment rather than
    /// refusing this operation: it cannot be reached (refused, reset,
    /// restarting, no pooled connection in time), it is shutting down or
    /// starting, or it is out of room (connections, disk) or busy (SQLite's
    /// lock). Such a failure may succeed when retried; the HTTP service
    /// answers 503 for it instead of 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database(e) => sqlx_unavailable(e),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // PostgreSQL SQLSTATE: 08 connection exception, 53 insufficient
            // resources (disk full, out of memory, too many connections),
            // 57P01-57P03 admin/crash shutdown and "cannot connect now".
            if code.len() == 5 {
                return code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(code, "57P01" | "57P02" | "57P03");
            }
            // SQLite result codes (extended; the primary code is the low
            // byte): 5 BUSY, 13 FULL.
            code.parse::<u32>()
                .is_ok_and(|c| matches!(c & 0xff, 5 | 13))
        }
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_means_away_or_full_not_refused() {
        for e in [
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Database(sqlx::Error::PoolClosed),
            StoreError::Database(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
            StoreError::Connect {
                backend: "PostgreSQL",
                message: "connection refused".into(),
            },
        ] {
            assert!(e.is_unavailable(), "{e}");
        }
        for e in [
            StoreError::Database(sqlx::Error::RowNotFound),
            StoreError::Conflict("username".into()),
            StoreError::NotFound("user".into()),
            StoreError::Corrupt("details".into()),
        ] {
            assert!(!e.is_unavailable(), "{e}");
        }
    }
}
