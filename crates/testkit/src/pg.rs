//! Throwaway PostgreSQL clusters.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::Error;
use crate::util::{self, Runner};

/// Where Debian-style installations keep one directory per major version.
const PG_LIB_ROOT: &str = "/usr/lib/postgresql";

/// The superuser `initdb -U` creates.
const SUPERUSER: &str = "postgres";

/// Seconds `pg_ctl -w` waits for start-up / shutdown.
const PG_CTL_TIMEOUT: &str = "60";

/// Options for [`PgServer::start_with`].
///
/// The generated `postgresql.conf` ends with, in this order: the harness
/// settings (`port`, `listen_addresses = '127.0.0.1'`,
/// `unix_socket_directories`, `fsync = off`, `logging_collector = off`), then
/// `include '<include>'`, then [`settings`](Self::settings). Later lines win,
/// so the include file can override the harness defaults (e.g.
/// `listen_addresses`, `ssl`, `hba_file`) and `settings` override both.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Copied over the cluster's `pg_hba.conf` after `initdb` (owned by the
    /// server account, mode `0600`). Only the test process must be able to
    /// read the source file.
    pub hba_file: Option<PathBuf>,
    /// Copied over the cluster's `pg_ident.conf`, like `hba_file`.
    pub ident_file: Option<PathBuf>,
    /// Appended to `postgresql.conf` as `include '<path>'`. The server reads
    /// it directly, so it (and every file it references) must be readable by
    /// the server account — create it below a [`crate::shared_tempdir`] with
    /// mode `0644`. Use an absolute path. It must not set `port` (the harness
    /// would not know the new port) or `unix_socket_directories`.
    pub include: Option<PathBuf>,
    /// Extra `name = 'value'` lines appended after the include line. Values
    /// are single-quoted and escaped by the harness: pass them unquoted, e.g.
    /// `("log_connections".into(), "on".into())`.
    pub settings: Vec<(String, String)>,
}

/// A private PostgreSQL cluster on a free loopback port with its own unix
/// socket directory. Stopped (`pg_ctl stop -m immediate`) and deleted on drop.
///
/// The cluster is created with `initdb -U postgres -A trust -E UTF8
/// --locale=C`, so by default the `postgres` superuser can connect without a
/// password over the unix socket and over TCP on `127.0.0.1`/`::1`.
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    pg_ctl: PathBuf,
    psql: PathBuf,
    runner: Runner,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    /// Stops the server and deletes its directory when this process ends
    /// without dropping the `PgServer` (a `static`, a panic that aborts, a
    /// SIGKILL): it waits for end-of-file on a pipe only this process holds.
    reaper: Option<Child>,
    /// Declared last: removed after `Drop::drop` has stopped the server.
    dir: TempDir,
}

/// The reaper: `$1` the data directory, `$2` the cluster's directory.
/// SIGQUIT is PostgreSQL's immediate shutdown. A zombie counts as gone (a
/// daemonised postmaster's parent may be an init that does not reap).
const REAPER: &str = r#"read -r _ || true
alive() {
  s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  case "$s" in Z*|X*|'') return 1 ;; esac
}
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || pid=
case "$pid" in
  ''|*[!0-9]*) ;;
  *) kill -QUIT "$pid" 2>/dev/null
     i=0
     while alive "$pid" && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
     kill -KILL "$pid" 2>/dev/null ;;
esac
[ -n "$2" ] && rm -rf -- "$2"
"#;

fn spawn_reaper(data_dir: &Path, dir: &Path) -> std::io::Result<Child> {
    Command::new("/bin/sh")
        .args(["-c", REAPER, "cryptobot-pg-reaper"])
        .arg(data_dir)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: Ctrl-C of `cargo test` does not end it
        // before the servers it looks after.
        .process_group(0)
        .spawn()
}

/// The `bin` directory of the highest PostgreSQL version under
/// `/usr/lib/postgresql` (one that contains `initdb`), or `$PG_BIN`.
pub(crate) fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let entries = std::fs::read_dir(PG_LIB_ROOT).ok()?;
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let version: Vec<u32> = name
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// Locates a PostgreSQL executable (`initdb`, `pg_ctl`, `psql`, …): in
/// `$PG_BIN` if set, else in the highest version under
/// `/usr/lib/postgresql/*/bin`, else on `PATH`.
pub fn pg_binary(name: &str) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("PG_BIN").filter(|d| !d.is_empty()) {
        let candidate = PathBuf::from(&dir).join(name);
        return if candidate.is_file() {
            Ok(candidate)
        } else {
            Err(Error::BinaryNotFound {
                binary: name.to_owned(),
                searched: format!("$PG_BIN={}", PathBuf::from(dir).display()),
            })
        };
    }
    if let Some(candidate) = bin_dir().map(|dir| dir.join(name))
        && candidate.is_file()
    {
        return Ok(candidate);
    }
    util::which(name).ok_or_else(|| Error::BinaryNotFound {
        binary: name.to_owned(),
        searched: format!("{PG_LIB_ROOT}/*/bin and PATH"),
    })
}

/// A string literal for `postgresql.conf`.
fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', "''"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`).
fn url_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl PgServer {
    /// Starts a cluster with the harness defaults: `trust` authentication on
    /// the unix socket and on TCP `127.0.0.1`/`::1`, listening on
    /// `127.0.0.1` only.
    pub fn start() -> Result<PgServer, Error> {
        Self::start_with(PgOptions::default())
    }

    /// Starts a cluster with custom hba/ident files, an include file and/or
    /// extra settings. See [`PgOptions`] for the order in which settings
    /// apply.
    ///
    /// If the chosen port turns out to be taken ("Address already in use"),
    /// start-up is retried once on another free port.
    pub fn start_with(opts: PgOptions) -> Result<PgServer, Error> {
        Self::start_on(opts, &mut crate::free_port)
    }

    /// `start_with`, taking ports from `next_port` (a test seam for the
    /// address-in-use retry).
    fn start_on(opts: PgOptions, next_port: &mut dyn FnMut() -> u16) -> Result<PgServer, Error> {
        let initdb = pg_binary("initdb")?;
        let pg_ctl = pg_binary("pg_ctl")?;
        let psql = pg_binary("psql")?;
        let runner = Runner::detect_lenient();
        let owner = if crate::is_root() {
            Some(util::lookup_account(util::SERVER_ACCOUNT)?)
        } else {
            None
        };

        let dir = util::server_tempdir("cryptobot-pg-")?;
        let socket_dir = dir.path().join("sock");
        std::fs::create_dir(&socket_dir)
            .map_err(|e| Error::io(format!("creating {}", socket_dir.display()), e))?;
        util::chmod(&socket_dir, 0o755)?;
        if let Some(owner) = owner {
            util::chown(dir.path(), owner)?;
            util::chown(&socket_dir, owner)?;
        }

        // From here on, `Drop` cleans up whatever happens.
        let mut server = PgServer {
            port: 0,
            pg_ctl,
            psql,
            runner,
            data_dir: dir.path().join("data"),
            socket_dir,
            log_path: dir.path().join("postgres.log"),
            reaper: None,
            dir,
        };

        let mut cmd = server.runner.command(&initdb);
        cmd.arg("-D")
            .arg(&server.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
                "--no-sync",
            ])
            .current_dir(server.dir.path());
        util::run_checked(&mut cmd, None)?;

        if let Some(src) = &opts.hba_file {
            server.install_config_file(src, "pg_hba.conf", owner)?;
        }
        if let Some(src) = &opts.ident_file {
            server.install_config_file(src, "pg_ident.conf", owner)?;
        }

        let conf_path = server.data_dir.join("postgresql.conf");
        let base_conf = std::fs::read_to_string(&conf_path)
            .map_err(|e| Error::io(format!("reading {}", conf_path.display()), e))?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = next_port();
            let conf = format!("{base_conf}{}", server.conf_block(&opts));
            std::fs::write(&conf_path, conf)
                .map_err(|e| Error::io(format!("writing {}", conf_path.display()), e))?;
            let log_before = util::read_lossy(&server.log_path).len();
            match server.pg_ctl_start("start") {
                Ok(()) => {
                    // Best effort: without it only a leaked server is at stake.
                    server.reaper = spawn_reaper(&server.data_dir, server.dir.path()).ok();
                    return Ok(server);
                }
                Err(err) => {
                    let log = util::read_lossy(&server.log_path);
                    let new_log = log.get(log_before..).unwrap_or(&log);
                    if attempt >= 2 || !new_log.contains("Address already in use") {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// Lines appended to the `postgresql.conf` written by `initdb`.
    fn conf_block(&self, opts: &PgOptions) -> String {
        let mut block = format!(
            "\n# ---- added by cryptobot-testkit ----\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {sock}\n\
             fsync = off\n\
             logging_collector = off\n",
            port = self.port,
            sock = conf_quote(&self.socket_dir.to_string_lossy()),
        );
        if let Some(include) = &opts.include {
            block.push_str(&format!(
                "include {}\n",
                conf_quote(&include.to_string_lossy())
            ));
        }
        for (name, value) in &opts.settings {
            block.push_str(&format!("{name} = {}\n", conf_quote(value)));
        }
        block
    }

    /// Copies `src` over `DATA/name`, owned by the server account, mode 0600.
    fn install_config_file(
        &self,
        src: &Path,
        name: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<(), Error> {
        let contents = std::fs::read(src)
            .map_err(|e| Error::io(format!("reading {name} source {}", src.display()), e))?;
        let dst = self.data_dir.join(name);
        std::fs::write(&dst, contents)
            .map_err(|e| Error::io(format!("writing {}", dst.display()), e))?;
        if let Some(owner) = owner {
            util::chown(&dst, owner)?;
        }
        util::chmod(&dst, 0o600)
    }

    /// `pg_ctl -D DATA -l LOG -w -t 60 [extra] <action>`, where the action
    /// starts the server; failures carry the tail of the server log.
    fn pg_ctl_start(&self, action: &str) -> Result<(), Error> {
        let mut cmd = self.pg_ctl_command();
        cmd.arg("-l")
            .arg(&self.log_path)
            .args(["-w", "-t", PG_CTL_TIMEOUT]);
        if action == "restart" {
            cmd.args(["-m", "fast"]);
        }
        cmd.arg(action);
        let output = util::run(&mut cmd, None)?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        Err(Error::StartFailed {
            server: "PostgreSQL",
            command: util::describe(&cmd),
            reason: format!(
                "pg_ctl {action} failed with {}\n--- pg_ctl output ---\n{}\n{}",
                output.status,
                stdout.trim(),
                stderr.trim()
            ),
            log_path: self.log_path.clone(),
            log_tail: util::tail(&util::read_lossy(&self.log_path)),
        })
    }

    fn pg_ctl_command(&self) -> Command {
        let mut cmd = self.runner.command(&self.pg_ctl);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .current_dir(self.dir.path());
        cmd
    }

    /// The TCP port (also the number in the unix socket's file name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the `.s.PGSQL.<port>` unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The cluster's data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temporary directory holding the data directory, socket directory
    /// and log; removed on drop.
    pub fn base_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The superuser role: always `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// `postgres://postgres@localhost:PORT/postgres?host=SOCKETDIR` — a URL
    /// that sqlx and libpq accept for a unix-socket connection as the
    /// superuser.
    pub fn superuser_socket_url(&self) -> String {
        self.socket_url(SUPERUSER, "postgres")
    }

    /// A unix-socket connection URL for any role and database (no password).
    pub fn socket_url(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{}@localhost:{}/{}?host={}",
            url_encode(user, false),
            self.port,
            url_encode(db, false),
            url_encode(&self.socket_dir.to_string_lossy(), true),
        )
    }

    /// A TCP connection URL to `127.0.0.1` for any role and database (no
    /// password).
    pub fn tcp_url(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{}",
            url_encode(user, false),
            self.port,
            url_encode(db, false),
        )
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        util::read_lossy(&self.log_path)
    }

    /// The postmaster's pid, read from `postmaster.pid` (`None` when the
    /// server is not running).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Runs `sql` with `psql -X -A -t -q -v ON_ERROR_STOP=1 -f -` as the
    /// superuser over the unix socket and returns its stdout unchanged (one
    /// row per line, columns separated by `|`, no command tags, trailing
    /// newline included).
    ///
    /// The SQL is fed on stdin, so several statements run one after another
    /// in autocommit mode (`CREATE DATABASE` works), and the first error
    /// aborts with [`Error::CommandFailed`] carrying psql's stderr. When the
    /// test process is root, psql runs as the `postgres` OS account, so
    /// `peer` authentication works with any hba file.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        let mut cmd = self.psql_command(db);
        cmd.args(["-f", "-"]);
        let output = util::run_checked(&mut cmd, Some(sql.as_bytes().to_vec()))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A `psql -X -A -t -q -v ON_ERROR_STOP=1` command connected as the
    /// superuser to `db` over the unix socket (through `runuser` when root),
    /// ready for more arguments such as `-c SQL`.
    pub fn psql_command(&self, db: &str) -> Command {
        let mut cmd = self.runner.command(&self.psql);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", db])
            .env("PGCLIENTENCODING", "UTF8")
            .current_dir(self.dir.path());
        cmd
    }

    /// `pg_dump` of database `db` (plain SQL, data and schema) as the
    /// superuser over the unix socket.
    pub fn pg_dump(&self, db: &str) -> Result<Vec<u8>, Error> {
        let pg_dump = pg_binary("pg_dump")?;
        let mut cmd = self.runner.command(&pg_dump);
        cmd.arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", db])
            .current_dir(self.dir.path());
        Ok(util::run_checked(&mut cmd, None)?.stdout)
    }

    /// `pg_ctl restart -m fast -w` on the same port and data directory (the
    /// configuration files are re-read).
    pub fn restart(&self) -> Result<(), Error> {
        self.pg_ctl_start("restart")
    }

    /// Stops the server immediately and makes sure the postmaster is gone.
    fn shutdown(&self) {
        let pid = self.pid();
        if self.data_dir.join("postmaster.pid").exists() {
            let mut cmd = self.pg_ctl_command();
            cmd.args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = cmd.status();
        }
        if let Some(pid) = pid
            && !util::wait_gone(pid, Duration::from_secs(5))
        {
            util::kill9(pid);
            util::wait_gone(pid, Duration::from_secs(5));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        self.shutdown();
        // `self.dir` (the TempDir) is removed when the fields drop.
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(conf_quote("a'b\\c"), r"'a''b\\c'");
        assert_eq!(url_encode("/tmp/x y", true), "/tmp/x%20y");
        assert_eq!(url_encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn retries_once_when_the_port_is_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut ports = vec![crate::free_port(), taken_port];
        let pg = PgServer::start_on(PgOptions::default(), &mut || ports.pop().unwrap()).unwrap();
        assert_ne!(pg.port(), taken_port);
        assert!(pg.log().contains("Address already in use"));
        assert_eq!(pg.psql("postgres", "SELECT 1").unwrap(), "1\n");
    }

    #[test]
    fn gives_up_after_the_second_taken_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut calls = 0;
        let err = PgServer::start_on(PgOptions::default(), &mut || {
            calls += 1;
            taken_port
        })
        .unwrap_err();
        assert_eq!(calls, 2);
        assert!(err.to_string().contains("Address already in use"), "{err}");
    }
}
