use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while starting, driving or restarting a test
/// server.
///
/// `Debug` prints the same text as `Display`, so a test that calls
/// `.unwrap()` on a failed start shows the command, exit status and the tail
/// of the server log in readable form.
#[derive(thiserror::Error)]
pub enum Error {
    /// A filesystem or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A required executable could not be located.
    #[error("could not find the `{binary}` executable (looked in: {searched})")]
    BinaryNotFound {
        /// Executable name, e.g. `initdb`.
        binary: String,
        /// Where the harness looked.
        searched: String,
    },

    /// The OS account the server has to run as does not exist.
    #[error(
        "the `{user}` OS account was not found in /etc/passwd; it is required to run \
         PostgreSQL when the tests run as root (initdb refuses to run as root)"
    )]
    UserNotFound {
        /// Account name.
        user: String,
    },

    /// A helper command (initdb, psql, …) exited unsuccessfully.
    #[error("`{command}` failed with {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    CommandFailed {
        /// The command line, shell-quoted for readability.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Captured standard output.
        stdout: String,
        /// Captured standard error.
        stderr: String,
    },

    /// A server did not come up (or did not come back after a restart).
    #[error(
        "{server} failed to start: {reason}\ncommand: {command}\n--- last lines of {} ---\n{log_tail}",
        log_path.display()
    )]
    StartFailed {
        /// `"PostgreSQL"` or `"Redis"`.
        server: &'static str,
        /// The command that was supposed to start it.
        command: String,
        /// Exit status, timeout, …
        reason: String,
        /// The server log file.
        log_path: PathBuf,
        /// The last lines of the server log.
        log_tail: String,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
