//! Throwaway Redis servers.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::Error;
use crate::util;

/// How long to wait for the port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Locates `redis-server`: `$REDIS_SERVER` if set, else `PATH`.
pub fn redis_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("REDIS_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::BinaryNotFound {
                binary: "redis-server".to_owned(),
                searched: format!("$REDIS_SERVER={}", path.display()),
            })
        };
    }
    util::which("redis-server").ok_or_else(|| Error::BinaryNotFound {
        binary: "redis-server".to_owned(),
        searched: "PATH".to_owned(),
    })
}

/// Certificate files for a TLS-only Redis ([`RedisServer::start_tls_with_config`]).
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The server certificate (PEM), `tls-cert-file`.
    pub cert_file: PathBuf,
    /// Its private key (PEM), `tls-key-file`.
    pub key_file: PathBuf,
    /// The CA certificate (PEM), `tls-ca-cert-file`: it also verifies
    /// client certificates.
    pub ca_file: PathBuf,
    /// Whether clients must present a certificate from that CA
    /// (`tls-auth-clients yes`, mutual TLS) or not (`no`).
    pub auth_clients: bool,
}

/// A `redis-server` child process on a free loopback port, with its working
/// directory, log and pid file in a temporary directory. Killed, reaped and
/// deleted on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    binary: PathBuf,
    conf: Option<PathBuf>,
    tls: Option<RedisTls>,
    log_path: PathBuf,
    child: Option<Child>,
    /// Declared last: removed after `Drop::drop` has killed the server.
    dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` without a config file, bound to `127.0.0.1`,
    /// without authentication or persistence.
    pub fn start() -> Result<RedisServer, Error> {
        Self::launch(None, None, &mut crate::free_port)
    }

    /// Starts `redis-server CONF` followed by the overrides `--port P --dir
    /// TMP --save "" --appendonly no --daemonize no --logfile TMP/redis.log
    /// --pidfile TMP/redis.pid`. Everything else (`bind`, `requirepass`, ACL
    /// users, `protected-mode`, TLS, …) stays as the file says. If the file
    /// binds neither `127.0.0.1` nor `::1`, readiness is detected from the
    /// "Ready to accept connections" log line instead of a TCP probe.
    pub fn start_with_config(conf: &Path) -> Result<RedisServer, Error> {
        let conf = std::path::absolute(conf)
            .map_err(|e| Error::io(format!("resolving {}", conf.display()), e))?;
        Self::launch(Some(conf), None, &mut crate::free_port)
    }

    /// Like [`RedisServer::start_with_config`], but TLS only: `--port 0
    /// --tls-port P` with the given certificate, key and CA files and
    /// `--tls-auth-clients yes|no`. [`RedisServer::url`] is then
    /// `rediss://127.0.0.1:P`.
    pub fn start_tls_with_config(conf: &Path, tls: RedisTls) -> Result<RedisServer, Error> {
        let conf = std::path::absolute(conf)
            .map_err(|e| Error::io(format!("resolving {}", conf.display()), e))?;
        Self::launch(Some(conf), Some(tls), &mut crate::free_port)
    }

    /// Starts the server, taking ports from `next_port` (a test seam for the
    /// address-in-use retry).
    fn launch(
        conf: Option<PathBuf>,
        tls: Option<RedisTls>,
        next_port: &mut dyn FnMut() -> u16,
    ) -> Result<RedisServer, Error> {
        let binary = redis_binary()?;
        let dir = util::server_tempdir("cryptobot-redis-")?;
        let mut server = RedisServer {
            port: 0,
            binary,
            conf,
            tls,
            log_path: dir.path().join("redis.log"),
            child: None,
            dir,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = next_port();
            let log_before = util::read_lossy(&server.log_path).len();
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err) => {
                    let log = server.log();
                    let new_log = log.get(log_before..).unwrap_or(&log);
                    if attempt >= 2 || !new_log.contains("Address already in use") {
                        return Err(err);
                    }
                }
            }
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        match &self.conf {
            Some(conf) => {
                cmd.arg(conf);
            }
            None => {
                cmd.args(["--bind", "127.0.0.1"]);
            }
        }
        match &self.tls {
            None => {
                cmd.arg("--port").arg(self.port.to_string());
            }
            Some(tls) => {
                cmd.args(["--port", "0", "--tls-port"])
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(&tls.cert_file)
                    .arg("--tls-key-file")
                    .arg(&tls.key_file)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca_file)
                    .arg("--tls-auth-clients")
                    .arg(if tls.auth_clients { "yes" } else { "no" });
            }
        }
        cmd.arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&self.log_path)
            .arg("--pidfile")
            .arg(self.pid_path())
            .current_dir(self.dir.path());
        cmd
    }

    /// Spawns the child and waits until it is ready; on failure the child is
    /// killed and reaped and the error carries the log tail.
    fn spawn(&mut self) -> Result<(), Error> {
        let mut cmd = self.command();
        let described = util::describe(&cmd);
        // Errors printed before the log file is opened (config file errors)
        // go to stdout/stderr, so send those to the log file as well.
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))
        };
        cmd.stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(open_log()?);
        // Redis writes its pid file only after binding its listeners; a stale
        // one from before a restart must not count.
        match std::fs::remove_file(self.pid_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(
                    format!("removing {}", self.pid_path().display()),
                    e,
                ));
            }
            _ => {}
        }
        let log_before = self.log().len();
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("failed to run `{described}`"), e))?;
        self.child = Some(child);
        match self.wait_ready(log_before) {
            Ok(()) => Ok(()),
            Err(reason) => {
                self.stop();
                Err(Error::StartFailed {
                    server: "Redis",
                    command: described,
                    reason,
                    log_path: self.log_path.clone(),
                    log_tail: util::tail(&self.log()),
                })
            }
        }
    }

    /// Polls until the server is running, has written its pid file (Redis
    /// < 7.2 does so only after binding its listeners) and has either logged
    /// "Ready to accept connections" or accepts TCP connections on loopback
    /// (for configs with a `loglevel` above `notice`).
    fn wait_ready(&mut self, log_before: usize) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addrs = [
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, self.port)),
        ];
        loop {
            self.check_running()?;
            if self.pid_path().exists() {
                let log = self.log();
                let logged_ready = log
                    .get(log_before..)
                    .is_some_and(|new| new.contains("Ready to accept connections"));
                let accepting = || {
                    addrs.iter().any(|addr| {
                        TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
                    })
                };
                if logged_ready {
                    return self.check_running();
                }
                if accepting() {
                    // Redis >= 7.2 writes the pid file before binding, so the
                    // listener we reached could belong to another process that
                    // grabbed the port; our server would then exit right away.
                    std::thread::sleep(Duration::from_millis(50));
                    return self.check_running();
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "port {} did not accept connections within {} s",
                    self.port,
                    READY_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn pid_path(&self) -> PathBuf {
        self.dir.path().join("redis.pid")
    }

    fn check_running(&mut self) -> Result<(), String> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => Ok(()),
            Some(Ok(Some(status))) => Err(format!("redis-server exited with {status}")),
            Some(Err(e)) => Err(format!("could not query the redis-server process: {e}")),
            None => Err("redis-server is not running".to_owned()),
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://127.0.0.1:PORT` when started
    /// with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temporary working directory (log, pid file); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole server log so far (including anything redis-server printed
    /// to stdout/stderr), across restarts.
    pub fn log(&self) -> String {
        util::read_lossy(&self.log_path)
    }

    /// Kills the server with SIGKILL and reaps it. Does nothing when it is
    /// not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same arguments
    /// (stopping it first if it is still running), e.g. after [`stop`] to
    /// simulate an outage.
    ///
    /// [`stop`]: RedisServer::stop
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        // `self.dir` (the TempDir) is removed when the fields drop.
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retries_once_when_the_port_is_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut ports = vec![crate::free_port(), taken_port];
        let redis = RedisServer::launch(None, None, &mut || ports.pop().unwrap()).unwrap();
        assert_ne!(redis.port(), taken_port);
        assert!(redis.log().contains("Address already in use"));
    }

    #[test]
    fn gives_up_after_the_second_taken_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut calls = 0;
        let err = RedisServer::launch(None, None, &mut || {
            calls += 1;
            taken_port
        })
        .unwrap_err();
        assert_eq!(calls, 2);
        assert!(err.to_string().contains("Address already in use"), "{err}");
    }
}
