//! Throwaway PostgreSQL and Redis servers for `cryptobot` integration tests.
//!
//! [`PgServer`] runs `initdb` into a fresh temporary directory and starts a
//! private PostgreSQL cluster on a free loopback port with its own unix socket
//! directory; [`RedisServer`] spawns `redis-server` as a child process on a
//! free loopback port. Both are real servers (no mocks), never touch the system
//! instances on the default ports, and are torn down in [`Drop`] — including
//! while a test is unwinding from a panic — so no server process and no
//! temporary directory outlives the value that owns it.
//!
//! # Why PostgreSQL runs as the `postgres` account when the tests run as root
//!
//! `initdb` and `postgres` refuse to run as root. When the test process has
//! effective uid 0, the harness therefore chowns the directories it creates to
//! the `postgres` OS account (uid/gid are read from `/etc/passwd`) and runs
//! `initdb`, `pg_ctl` and `psql` through `runuser -u postgres --`. Running
//! `psql` as `postgres` also means `peer` authentication on the unix socket
//! works with whatever `pg_hba.conf` a test installs. Files handed to the
//! server by path (a [`PgOptions::include`] file and anything it references,
//! such as TLS keys or an `hba_file`) must be readable by that account; create
//! them below a [`shared_tempdir`], whose mode is `0755`. The hba/ident files
//! given in [`PgOptions`] are copied into the cluster by the harness, so they
//! only need to be readable by the test process. When the tests do not run as
//! root, every command runs directly as the current user.
//!
//! # Binaries
//!
//! PostgreSQL binaries come from `$PG_BIN` if set, else from the highest
//! version under `/usr/lib/postgresql/*/bin`, else from `PATH`.
//! `redis-server` comes from `$REDIS_SERVER` if set, else from `PATH`.
//!
//! # Limitations
//!
//! Teardown relies on `Drop`. If the test process is killed (`SIGKILL`, or a
//! build with `panic = "abort"`), the servers are orphaned.

mod error;
mod pg;
mod redis;
mod util;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub use error::Error;
pub use pg::{PgOptions, PgServer, pg_binary};
pub use redis::{RedisServer, RedisTls, redis_binary};

/// Ports already handed out by [`free_port`] in this process, so that two
/// servers started concurrently by the same test binary never get the same
/// port from the kernel's ephemeral allocator.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port the kernel chose and drops the
/// listener. Another process can grab the port before the server binds it;
/// the server constructors retry once with a new port when that happens.
/// Within one process a port is never returned twice.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port());
        if let Ok(port) = port
            && handed_out.insert(port)
        {
            return port;
        }
    }
    // Binding to port 0 on loopback does not fail on a sane machine; fall
    // back to a pseudo-random high port rather than panicking.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    let port = 20_000 + (seed % 40_000) as u16;
    handed_out.insert(port);
    port
}

/// Creates a temporary directory with mode `0755`.
///
/// An unprivileged server account (`postgres`) can traverse into it, so files
/// created below it with a mode such as `0644` can be handed to the server by
/// path (e.g. a [`PgOptions::include`] file). The directory is created under
/// `std::env::temp_dir()` when every ancestor of that directory is traversable
/// by others, else under `/tmp`.
pub fn shared_tempdir() -> std::io::Result<tempfile::TempDir> {
    let base = util::shared_temp_base(false);
    let dir = tempfile::Builder::new()
        .prefix("cryptobot-testkit-")
        .tempdir_in(base)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Whether the test process runs as root (effective uid 0), in which case the
/// PostgreSQL commands run as the `postgres` OS account.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A [`Command`] that runs `program` as the account PostgreSQL runs as:
/// through `runuser -u postgres --` when the test process is root, directly
/// otherwise.
///
/// Useful for tests that run `psql` themselves (e.g. over TCP) and need the
/// same OS identity the harness uses, so `peer` authentication matches. The
/// `PG*` connection environment variables (`PGHOST`, `PGPORT`, …) are removed
/// so they cannot redirect the command to another server.
pub fn server_account_command(program: impl AsRef<OsStr>) -> Command {
    util::Runner::detect_lenient().command(Path::new(program.as_ref()))
}

/// The directory PostgreSQL binaries are taken from, or `None` when they are
/// looked up on `PATH` one by one.
pub fn pg_bin_dir() -> Option<PathBuf> {
    pg::bin_dir()
}
