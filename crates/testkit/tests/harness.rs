//! End-to-end checks of the throwaway servers.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cryptobot_testkit::{
    PgOptions, PgServer, RedisServer, free_port, pg_binary, server_account_command, shared_tempdir,
};

/// Whether a process exists and is not a zombie. Daemonised postmasters are
/// reaped by init, which may take a moment, so callers poll.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..].trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) {
        assert!(Instant::now() < deadline, "process {pid} still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// psql over TCP to 127.0.0.1, as the same OS account the harness uses.
fn psql_tcp(pg: &PgServer) -> std::process::Output {
    let mut cmd = server_account_command(pg_binary("psql").unwrap());
    cmd.args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p"])
        .arg(pg.port().to_string())
        .args(["-U", "postgres", "-d", "postgres", "-c", "SELECT 1"])
        .current_dir("/");
    cmd.output().unwrap()
}

/// Sends one RESP command and returns the first reply line.
fn redis_cmd(stream: &mut TcpStream, args: &[&str]) -> String {
    let mut req = format!("*{}\r\n", args.len());
    for arg in args {
        req.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(req.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&*stream).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

fn redis_connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let a = free_port();
    let b = free_port();
    assert_ne!(a, b);
    std::net::TcpListener::bind(("127.0.0.1", a)).unwrap();
}

#[test]
fn shared_tempdir_is_world_traversable() {
    let dir = shared_tempdir().unwrap();
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn pg_select_one() {
    let pg = PgServer::start().unwrap();
    assert_eq!(pg.psql("postgres", "SELECT 1").unwrap(), "1\n");
    assert_eq!(pg.superuser(), "postgres");
    assert_eq!(
        pg.superuser_socket_url(),
        format!(
            "postgres://postgres@localhost:{}/postgres?host={}",
            pg.port(),
            pg.socket_dir().display()
        )
    );
    assert!(
        pg.socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists()
    );
    assert!(pg.data_dir().join("PG_VERSION").exists());
    assert!(
        pg.log().contains("database system is ready"),
        "{}",
        pg.log()
    );
    // Several statements run one by one (CREATE DATABASE cannot run inside
    // a transaction block), command tags are not printed.
    let out = pg
        .psql(
            "postgres",
            "CREATE DATABASE t1; CREATE TABLE x(a int, b text); \
             INSERT INTO x VALUES (1, 'é'), (2, 'b'); SELECT * FROM x ORDER BY a;",
        )
        .unwrap();
    assert_eq!(out, "1|é\n2|b\n");
    assert_eq!(pg.psql("t1", "SELECT current_database()").unwrap(), "t1\n");
    // The default cluster trusts TCP on 127.0.0.1.
    let tcp = psql_tcp(&pg);
    assert!(tcp.status.success(), "{tcp:?}");
}

#[test]
fn pg_psql_error_is_reported() {
    let pg = PgServer::start().unwrap();
    let err = pg
        .psql("postgres", "SELECT 1; SELECT nope; SELECT 2")
        .unwrap_err()
        .to_string();
    assert!(err.contains("psql"), "{err}");
    assert!(err.contains("column \"nope\" does not exist"), "{err}");
}

#[test]
fn pg_hba_reject_tcp_but_socket_works() {
    let tmp = shared_tempdir().unwrap();
    // As root psql runs as the postgres OS account, so peer works.
    let local = if cryptobot_testkit::is_root() {
        "local all postgres peer\n"
    } else {
        "local all all trust\n"
    };
    let hba = write_file(
        tmp.path(),
        "hba.conf",
        &format!("{local}host all all 127.0.0.1/32 reject\nhost all all ::1/128 reject\n"),
    );
    std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pg = PgServer::start_with(PgOptions {
        hba_file: Some(hba),
        ..PgOptions::default()
    })
    .unwrap();
    assert_eq!(pg.psql("postgres", "SELECT 1").unwrap(), "1\n");
    let tcp = psql_tcp(&pg);
    assert!(!tcp.status.success(), "{tcp:?}");
    let stderr = String::from_utf8_lossy(&tcp.stderr);
    assert!(stderr.contains("rejects connection"), "{stderr}");
}

#[test]
fn pg_include_wins_and_settings_apply() {
    let tmp = shared_tempdir().unwrap();
    let include = write_file(
        tmp.path(),
        "extra.conf",
        "listen_addresses = ''\nwork_mem = '5MB'\n",
    );
    let pg = PgServer::start_with(PgOptions {
        include: Some(include),
        settings: vec![
            ("work_mem".into(), "7MB".into()),
            ("application_name".into(), "it's quoted".into()),
        ],
        ..PgOptions::default()
    })
    .unwrap();
    assert_eq!(pg.psql("postgres", "SHOW listen_addresses").unwrap(), "\n");
    assert_eq!(pg.psql("postgres", "SHOW work_mem").unwrap(), "7MB\n");
    let port = pg.psql("postgres", "SHOW port").unwrap();
    assert_eq!(port.trim(), pg.port().to_string());
    // No TCP listener at all.
    assert!(TcpStream::connect(("127.0.0.1", pg.port())).is_err());
}

#[test]
fn two_pg_servers_at_once() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(PgServer::start);
        let b = s.spawn(PgServer::start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_eq!(
        a.psql("postgres", "SHOW port").unwrap().trim(),
        a.port().to_string()
    );
    assert_eq!(
        b.psql("postgres", "SHOW port").unwrap().trim(),
        b.port().to_string()
    );
}

#[test]
fn pg_restart_keeps_port() {
    let pg = PgServer::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE kept(a int); INSERT INTO kept VALUES (42)",
    )
    .unwrap();
    let before = pg.pid().unwrap();
    pg.restart().unwrap();
    let after = pg.pid().unwrap();
    assert_ne!(before, after);
    assert_gone(before);
    assert_eq!(pg.psql("postgres", "SELECT a FROM kept").unwrap(), "42\n");
    assert_eq!(
        pg.psql("postgres", "SHOW port").unwrap().trim(),
        pg.port().to_string()
    );
}

#[test]
fn pg_drop_stops_server_and_removes_dir() {
    let pg = PgServer::start().unwrap();
    let pid = pg.pid().unwrap();
    let base = pg.base_dir().to_owned();
    assert!(running(pid));
    drop(pg);
    assert_gone(pid);
    assert!(!base.exists(), "{} still exists", base.display());
}

#[test]
fn pg_teardown_on_panic() {
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pg = PgServer::start().unwrap();
        *seen.lock().unwrap() = Some((pg.pid().unwrap(), pg.base_dir().to_owned()));
        panic!("simulated test failure");
    }));
    assert!(result.is_err());
    let (pid, base) = seen.lock().unwrap().take().unwrap();
    assert_gone(pid);
    assert!(!base.exists());
}

#[test]
fn pg_start_failure_reports_log_tail() {
    let err = PgServer::start_with(PgOptions {
        settings: vec![("shared_buffers".into(), "lots".into())],
        ..PgOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("PostgreSQL failed to start"), "{err}");
    assert!(err.contains("pg_ctl"), "{err}");
    assert!(err.contains("last lines of"), "{err}");
    assert!(err.contains("shared_buffers"), "{err}");
}

#[test]
fn redis_ping() {
    let redis = RedisServer::start().unwrap();
    let mut conn = redis_connect(redis.port());
    assert_eq!(redis_cmd(&mut conn, &["PING"]), "+PONG");
    assert!(redis.log().contains("Ready to accept connections"));
}

#[test]
fn redis_config_requirepass() {
    let tmp = shared_tempdir().unwrap();
    let conf = write_file(
        tmp.path(),
        "redis.conf",
        "bind 127.0.0.1\nrequirepass xyz\n",
    );
    let redis = RedisServer::start_with_config(&conf).unwrap();
    let mut conn = redis_connect(redis.port());
    let reply = redis_cmd(&mut conn, &["PING"]);
    assert!(reply.starts_with("-NOAUTH"), "{reply}");
    assert_eq!(redis_cmd(&mut conn, &["AUTH", "xyz"]), "+OK");
    assert_eq!(redis_cmd(&mut conn, &["PING"]), "+PONG");
    // The overrides were applied.
    assert_eq!(redis_cmd(&mut conn, &["CONFIG", "GET", "save"]), "*2");
}

#[test]
fn redis_stop_and_restart_same_port() {
    let mut redis = RedisServer::start().unwrap();
    let port = redis.port();
    let pid = redis.pid().unwrap();
    redis.stop();
    redis.stop(); // idempotent
    assert!(redis.pid().is_none());
    assert_gone(pid);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    redis.restart().unwrap();
    assert_eq!(redis.port(), port);
    let mut conn = redis_connect(port);
    assert_eq!(redis_cmd(&mut conn, &["PING"]), "+PONG");
    // restart() while running also works.
    redis.restart().unwrap();
    let mut conn = redis_connect(port);
    assert_eq!(redis_cmd(&mut conn, &["PING"]), "+PONG");
}

#[test]
fn redis_drop_kills_and_removes_dir() {
    let redis = RedisServer::start().unwrap();
    let pid = redis.pid().unwrap();
    let dir = redis.dir().to_owned();
    assert!(running(pid));
    drop(redis);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(!dir.exists());
}

#[test]
fn redis_teardown_on_panic() {
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let redis = RedisServer::start().unwrap();
        *seen.lock().unwrap() = Some((redis.pid().unwrap(), redis.dir().to_owned()));
        panic!("simulated test failure");
    }));
    assert!(result.is_err());
    let (pid, dir) = seen.lock().unwrap().take().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(!dir.exists());
}

#[test]
fn redis_bad_config_reports_log_tail() {
    let tmp = shared_tempdir().unwrap();
    let conf = write_file(tmp.path(), "bad.conf", "no-such-directive 1\n");
    let err = RedisServer::start_with_config(&conf)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Redis failed to start"), "{err}");
    assert!(err.contains("no-such-directive"), "{err}");
}

#[test]
fn redis_two_at_once() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_eq!(redis_cmd(&mut redis_connect(a.port()), &["PING"]), "+PONG");
    assert_eq!(redis_cmd(&mut redis_connect(b.port()), &["PING"]), "+PONG");
}

/// Run by [`pg_is_stopped_when_the_test_process_ends_without_dropping_it`]
/// in a child process: starts a cluster and exits without dropping it, as a
/// test binary does with a server kept in a `static`.
#[test]
fn pg_leaky_child() {
    if std::env::var_os("TESTKIT_LEAKY_CHILD").is_none() {
        return;
    }
    let pg = PgServer::start().unwrap();
    println!("LEAKY {} {}", pg.pid().unwrap(), pg.base_dir().display());
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

#[test]
fn pg_is_stopped_when_the_test_process_ends_without_dropping_it() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pg_leaky_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESTKIT_LEAKY_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("LEAKY ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no LEAKY line: {stdout}"));
    let (pid, dir) = line.split_once(' ').unwrap();
    let pid: u32 = pid.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while running(pid) || Path::new(dir).exists() {
        assert!(
            Instant::now() < deadline,
            "the cluster of an ended process is still there (pid {pid}, {dir})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
