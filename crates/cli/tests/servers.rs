//! The configurations `secure-config` renders, proven against real servers
//! started by the test harness: Redis with `redis.conf`, PostgreSQL with
//! `pg_hba.conf`, `pg_ident.conf` and the `cryptobot.conf` include.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use cryptobot_testkit::{PgOptions, PgServer, RedisServer, shared_tempdir};

/// A minimal RESP client: sends one command, returns the first reply line
/// (with bulk strings resolved).
struct Resp(BufReader<TcpStream>);

impl Resp {
    fn connect(port: u16) -> Resp {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Resp(BufReader::new(s))
    }
    fn cmd(&mut self, args: &[&[u8]]) -> String {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&buf).unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        if let Some(len) = line.strip_prefix('$') {
            let len: i64 = len.trim().parse().unwrap();
            if len < 0 {
                return "(nil)".into();
            }
            let mut body = String::new();
            self.0.read_line(&mut body).unwrap();
            return body.trim_end().to_string();
        }
        if line.starts_with('*') {
            // Read and discard array elements (only used for KEYS, which must fail).
            return line.trim_end().to_string();
        }
        line.trim_end().to_string()
    }
}

/// Local addresses (hex from /proc/net/tcp{,6}) listening on `port`.
fn listening_addresses(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 || cols[3] != "0A" {
                continue;
            }
            let Some((addr, p)) = cols[1].split_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port) {
                out.push(addr.to_string());
            }
        }
    }
    out
}

fn is_loopback_hex(addr: &str) -> bool {
    // 127.0.0.1 in /proc/net/tcp is little-endian 0100007F; ::1 in tcp6.
    addr == "0100007F" || addr == "00000000000000000000000001000000"
}

#[test]
fn rendered_redis_conf_locks_down_a_real_redis() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("cb");
    on_home(&home, &["secure-config", "-q"]).ok();
    let password = std::fs::read(home.join("config/secrets/redis_password")).unwrap();

    let redis = RedisServer::start_with_config(&home.join("config/redis/redis.conf"))
        .expect("redis starts with the rendered config");
    let mut c = Resp::connect(redis.port());
    let r = c.cmd(&[b"GET", b"k"]);
    assert!(r.starts_with("-NOAUTH"), "unauthenticated GET answered {r}");
    let r = c.cmd(&[b"AUTH", b"default", b"anything"]);
    assert!(r.starts_with("-WRONGPASS"), "default user must be off: {r}");
    let r = c.cmd(&[b"AUTH", b"cryptobot", b"wrong-password-123"]);
    assert!(r.starts_with("-WRONGPASS"), "{r}");
    assert_eq!(c.cmd(&[b"AUTH", b"cryptobot", &password]), "+OK");
    assert_eq!(c.cmd(&[b"SET", b"cryptobot:test", b"v1"]), "+OK");
    assert_eq!(c.cmd(&[b"GET", b"cryptobot:test"]), "v1");
    assert_eq!(c.cmd(&[b"SET", b"any-key", b"v2"]), "+OK");
    for cmd in [
        &[&b"FLUSHALL"[..]][..],
        &[b"FLUSHDB"],
        &[b"CONFIG", b"GET", b"*"],
        &[b"CONFIG", b"SET", b"protected-mode", b"no"],
        &[b"DEBUG", b"SLEEP", b"0"],
        &[b"KEYS", b"*"],
        &[b"SHUTDOWN"],
        &[b"MODULE", b"LIST"],
        &[b"MONITOR"],
        &[b"ACL", b"SETUSER", b"x", b"on"],
    ] {
        let r = c.cmd(cmd);
        // NOPERM from the ACL; DEBUG and MODULE are also closed server-wide.
        let refused =
            r.starts_with("-NOPERM") || (r.starts_with("-ERR") && r.contains("not allowed"));
        assert!(refused, "{} answered {r}", String::from_utf8_lossy(cmd[0]));
    }
    assert_eq!(
        c.cmd(&[b"GET", b"any-key"]),
        "v2",
        "a refused FLUSHALL must not have run"
    );
    let addrs = listening_addresses(redis.port());
    assert!(!addrs.is_empty(), "redis not listening");
    assert!(
        addrs.iter().all(|a| is_loopback_hex(a)),
        "redis listens beyond loopback: {addrs:?}"
    );
}

fn psql_tcp(port: u16, user: &str, password: &[u8], sql: &str) -> std::process::Output {
    std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=cryptobot sslmode=disable"
        ))
        .env("PGPASSWORD", std::str::from_utf8(password).unwrap())
        .env_remove("PGHOST")
        .env_remove("PGUSER")
        .env_remove("PGDATABASE")
        .output()
        .expect("run psql")
}

#[test]
fn rendered_postgres_config_and_apply_db_on_a_real_postgres() {
    if !cryptobot_testkit::is_root() {
        eprintln!(
            "skipping: the rendered peer map lets root act as postgres; run the suite as root (CI does)"
        );
        return;
    }
    // PostgreSQL runs as `postgres` and reads the include and hba files from
    // the home, so the home must be traversable (its modes allow it).
    let dir = shared_tempdir().unwrap();
    let home = dir.path().join("cb");
    on_home(&home, &["secure-config", "-q"]).ok();
    let password = std::fs::read(home.join("config/secrets/postgres_password")).unwrap();

    let pg = PgServer::start_with(PgOptions {
        include: Some(home.join("config/postgresql/cryptobot.conf")),
        ..PgOptions::default()
    })
    .expect("postgres starts with the rendered include");

    // The include took effect.
    let hba = pg.psql("postgres", "SHOW hba_file").unwrap();
    assert_eq!(
        hba.trim(),
        home.join("config/postgresql/pg_hba.conf").to_str().unwrap()
    );
    assert_eq!(
        pg.psql("postgres", "SHOW password_encryption")
            .unwrap()
            .trim(),
        "scram-sha-256"
    );
    assert_eq!(
        pg.psql("postgres", "SHOW log_connections").unwrap().trim(),
        "on"
    );

    // Before --apply-db the role does not exist.
    assert!(
        !psql_tcp(pg.port(), "cryptobot", &password, "SELECT 1")
            .status
            .success()
    );

    let url = pg.superuser_socket_url();
    let run = on_home(&home, &["secure-config", "--apply-db", &url]).ok();
    assert!(
        run.stdout.contains("created role `cryptobot`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("created database `cryptobot`"),
        "{}",
        run.stdout
    );

    let ok = psql_tcp(
        pg.port(),
        "cryptobot",
        &password,
        "SHOW password_encryption",
    );
    assert!(
        ok.status.success(),
        "SCRAM login failed: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "scram-sha-256");
    let stored = pg
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'cryptobot'",
        )
        .unwrap();
    assert!(stored.trim().starts_with("SCRAM-SHA-256$4096:"), "{stored}");

    let bad = psql_tcp(
        pg.port(),
        "cryptobot",
        b"Wrong-Password-1234567890",
        "SELECT 1",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));

    // Other roles and databases are rejected from the network.
    let other = psql_tcp(pg.port(), "postgres", &password, "SELECT 1");
    assert!(!other.status.success());

    // Idempotent: the second run sees the password is current.
    let run = on_home(&home, &["secure-config", "--apply-db", &url]).ok();
    assert!(
        run.stdout.contains("already has the current password"),
        "{}",
        run.stdout
    );

    // A rotation is pushed to the server.
    on_home(
        &home,
        &[
            "secure-config",
            "-q",
            "--rotate",
            "postgres_password",
            "--apply-db",
            &url,
        ],
    )
    .ok();
    let new_password = std::fs::read(home.join("config/secrets/postgres_password")).unwrap();
    assert!(
        !psql_tcp(pg.port(), "cryptobot", &password, "SELECT 1")
            .status
            .success()
    );
    assert!(
        psql_tcp(pg.port(), "cryptobot", &new_password, "SELECT 1")
            .status
            .success()
    );

    let log = pg.log();
    assert!(
        log.contains("connection authorized: user=cryptobot"),
        "log_connections is on"
    );
    for pw in [&password, &new_password] {
        assert!(
            !contains(log.as_bytes(), pw),
            "the server log holds the password"
        );
    }
    assert!(
        !log.contains("SCRAM-SHA-256$"),
        "the server log holds the verifier"
    );

    // The service's accounts live in this PostgreSQL once `database.url`
    // names it: the role's password comes from the secret, over SCRAM.
    let db_url = format!("postgres://cryptobot@127.0.0.1:{}/cryptobot", pg.port());
    let env = [("CRYPTOBOT_DATABASE__URL", db_url.as_str())];
    let h = home.to_str().unwrap();
    cryptobot_io(
        &[
            "user",
            "add",
            "pat",
            "--role",
            "trader",
            "--password-stdin",
            "--home",
            h,
        ],
        &env,
        "Sturdy-Lantern-Quartz-81\n",
    )
    .ok();
    let list = cryptobot_io(&["user", "list", "--home", h], &env, "").ok();
    assert!(list.stdout.contains("pat"), "{}", list.stdout);
    let rows = pg
        .psql("cryptobot", "SELECT username, role FROM users")
        .unwrap();
    assert!(rows.contains("pat") && rows.contains("trader"), "{rows}");
    assert!(!contains(pg.log().as_bytes(), &new_password));
    assert!(!contains(&list.raw.stderr, &new_password));
}

#[test]
fn apply_db_errors_are_clear_and_secret_free() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("cb");
    on_home(&home, &["secure-config", "-q"]).ok();
    let port = cryptobot_testkit::free_port();
    let url = format!("postgresql://postgres:AdminPw-123456789@127.0.0.1:{port}/postgres");
    let run = on_home(&home, &["secure-config", "--apply-db", &url]);
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(
        run.stderr.contains("cannot connect to PostgreSQL"),
        "{}",
        run.stderr
    );
    assert!(!run.both().contains("AdminPw-123456789"));
    let pw = std::fs::read(home.join("config/secrets/postgres_password")).unwrap();
    assert!(!contains(run.both().as_bytes(), &pw));
}

#[allow(dead_code)]
fn unused(_: &Path) {}
