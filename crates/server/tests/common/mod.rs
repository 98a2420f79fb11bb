//! Test harness: a real HTTPS server (in-process, real TLS on loopback) over
//! a real SQLite file or a real PostgreSQL server, and a client that can
//! connect from any 127.x.y.z address.
#![allow(dead_code, unused_macros, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use cryptobot_auth::{PasswordHasher, SigningKey};
use cryptobot_config::{Config, Layout, Settings};
use cryptobot_server::{Running, StartOptions};
use cryptobot_service::accounts::{Accounts, policy_from};
use cryptobot_service::audit::Who;
use cryptobot_store::{Store, Target};
use cryptobot_testkit::PgServer;
use secrecy::SecretString;
use serde_json::Value;

/// Runs each named scenario `async fn name(db: Db)` as two tests, on
/// SQLite and on PostgreSQL (use with `#[macro_use] mod common;`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}

pub const PASSWORD: &str = "Correct-Horse-Battery-42";

/// Which database a suite runs on.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// One PostgreSQL server per test process; a database per server instance.
fn pg() -> &'static PgServer {
    static PG: OnceLock<PgServer> = OnceLock::new();
    PG.get_or_init(|| PgServer::start().expect("start PostgreSQL"))
}

/// The PostgreSQL server of this test process (for tests that stop and
/// restart it; keep such tests in a file of their own).
pub fn shared_pg() -> &'static PgServer {
    pg()
}

pub fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::with_params(8, 1, 1).unwrap()
}

pub struct TestServer {
    pub home: tempfile::TempDir,
    pub layout: Layout,
    pub settings: Settings,
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub cert_pem: String,
    pub store: Store,
    /// The PostgreSQL database name, when on PostgreSQL.
    pub pg_db: Option<String>,
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl TestServer {
    /// Starts a server; `tweak` edits the settings first.
    pub async fn start(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_with_secrets(db, &[], tweak).await
    }

    /// Starts a server with extra files in `config/secrets/` (e.g. the
    /// `redis_password` that `secure-config` wrote).
    pub async fn start_with_secrets(
        db: Db,
        secrets: &[(&str, &[u8])],
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        cryptobot_server::tls::install_crypto_provider();
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path());
        for d in [layout.data_dir(), layout.secrets_dir(), layout.tls_dir()] {
            std::fs::create_dir_all(&d).unwrap();
        }
        let (_, pem) = SigningKey::generate().unwrap();
        std::fs::write(layout.secret("jwt_signing.key"), pem.as_bytes()).unwrap();
        let mut vault = [0u8; 32];
        getrandom::fill(&mut vault).unwrap();
        std::fs::write(layout.secret("vault_master.key"), vault).unwrap();
        let mut reset = [0u8; 32];
        getrandom::fill(&mut reset).unwrap();
        std::fs::write(layout.secret("reset_token.key"), reset).unwrap();
        for (name, bytes) in secrets {
            std::fs::write(layout.secret(name), bytes).unwrap();
        }
        let cert = cryptobot_tls::self_signed_localhost(cryptobot_service::clock::now()).unwrap();
        std::fs::write(layout.tls_dir().join("server.crt"), &cert.cert_pem).unwrap();
        std::fs::write(layout.tls_dir().join("server.key"), cert.key_pem.as_bytes()).unwrap();

        let mut settings = Config::defaults(&[]).unwrap().settings().clone();
        settings.server.bind = "127.0.0.1:0".parse().unwrap();
        // Most scenarios sign in repeatedly from 127.0.0.1; the delay
        // scenarios set this back down.
        settings.security.rate_limiting.login_free_failures = 20;
        // The admin scenarios of the base service run without the MFA
        // policy; the MFA scenarios switch it back on.
        settings.security.mfa.required_for_roles = Vec::new();
        // Scenarios make many calls quickly; the limit scenario sets its own.
        settings.security.rate_limiting.api_requests_per_minute = 1_000_000;
        settings.security.rate_limiting.burst = 10_000;
        // The same for sign-ins (the default allows 5 at once); the
        // sign-in limit scenarios set their own.
        settings.security.rate_limiting.login_burst = 100;
        tweak(&mut settings);

        let mut pg_db = None;
        let target = match db {
            Db::Sqlite => Target::Sqlite(layout.data_dir().join("cryptobot.db")),
            Db::Postgres => {
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let name = format!("t{}_{n}", std::process::id());
                pg().psql("postgres", &format!("CREATE DATABASE {name}"))
                    .unwrap();
                pg_db = Some(name.clone());
                Target::Postgres {
                    url: pg().socket_url("postgres", &name),
                    password: None,
                }
            }
        };
        let store = Store::open(&target).await.unwrap();
        let running = cryptobot_server::start(StartOptions {
            settings: settings.clone(),
            layout: layout.clone(),
            store: Some(store.clone()),
            hasher: Some(cheap_hasher()),
        })
        .await
        .unwrap();
        TestServer {
            addr: running.addr(),
            home,
            layout,
            settings,
            running: Some(running),
            cert_pem: cert.cert_pem,
            store,
            pg_db,
        }
    }

    /// A second instance of the same installation: its own home (a copy of
    /// this one's secrets and certificate), its own port and its own
    /// connection pool, on the same database, with the same settings.
    pub async fn start_peer(&self) -> TestServer {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path());
        for d in [layout.data_dir(), layout.secrets_dir(), layout.tls_dir()] {
            std::fs::create_dir_all(&d).unwrap();
        }
        for dir in [
            (self.layout.secrets_dir(), layout.secrets_dir()),
            (self.layout.tls_dir(), layout.tls_dir()),
        ] {
            for entry in std::fs::read_dir(&dir.0).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.1.join(entry.file_name())).unwrap();
            }
        }
        let target = match &self.pg_db {
            Some(name) => Target::Postgres {
                url: pg().socket_url("postgres", name),
                password: None,
            },
            None => Target::Sqlite(self.layout.data_dir().join("cryptobot.db")),
        };
        let store = Store::open(&target).await.unwrap();
        let running = cryptobot_server::start(StartOptions {
            settings: self.settings.clone(),
            layout: layout.clone(),
            store: Some(store.clone()),
            hasher: Some(cheap_hasher()),
        })
        .await
        .unwrap();
        TestServer {
            addr: running.addr(),
            home,
            layout,
            settings: self.settings.clone(),
            running: Some(running),
            cert_pem: self.cert_pem.clone(),
            store,
            pg_db: self.pg_db.clone(),
        }
    }

    /// The running service's state (limits and their counters).
    pub fn state(&self) -> &cryptobot_server::state::AppState {
        self.running.as_ref().unwrap().state()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A client trusting only this server's certificate, connecting from `from`.
    pub fn client_from(&self, from: IpAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap()])
            .local_address(from)
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn client(&self) -> reqwest::Client {
        self.client_from(IpAddr::from([127, 0, 0, 1]))
    }

    pub async fn add_user(&self, name: &str, role: &str) {
        let hasher = cheap_hasher();
        let policy = policy_from(&self.settings);
        Accounts {
            store: &self.store,
            hasher: &hasher,
            policy: &policy,
            settings: &self.settings,
        }
        .create(
            &Who::default(),
            name,
            role,
            SecretString::from(PASSWORD.to_string()),
        )
        .await
        .unwrap();
    }

    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_pkcs8_pem(&std::fs::read(self.layout.secret("jwt_signing.key")).unwrap())
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(5)).await.unwrap();
        }
        self.store.close().await;
    }

    /// Everything the database holds, as bytes: the SQLite file and its
    /// WAL, or every row of every PostgreSQL table as JSON.
    pub fn dump(&self) -> Vec<u8> {
        match &self.pg_db {
            None => {
                let mut out = Vec::new();
                for suffix in ["", "-wal"] {
                    let p = self.layout.data_dir().join(format!("cryptobot.db{suffix}"));
                    if let Ok(b) = std::fs::read(p) {
                        out.extend(b);
                    }
                }
                out
            }
            Some(db) => {
                let tables = pg()
                    .psql(
                        db,
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                    )
                    .unwrap();
                let mut out = String::new();
                for t in tables.lines().map(str::trim).filter(|t| !t.is_empty()) {
                    out.push_str(
                        &pg()
                            .psql(db, &format!("SELECT row_to_json(x)::text FROM {t} x"))
                            .unwrap(),
                    );
                }
                assert!(out.contains("password_hash"), "the dump is empty");
                out.into_bytes()
            }
        }
    }

    pub fn home_path(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }
}

/// POST JSON; returns status, headers and body bytes.
pub async fn post(
    c: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.post(url).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

pub async fn get(
    c: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

/// Signs in; panics unless it works. Returns the token response.
pub async fn login(s: &TestServer, c: &reqwest::Client, user: &str) -> Value {
    let (status, _, body) = post(
        c,
        &s.url("/api/v1/auth/login"),
        None,
        &serde_json::json!({"username": user, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        status,
        200,
        "login {user}: {}",
        String::from_utf8_lossy(&body)
    );
    json(&body)
}

pub fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

impl TestServer {
    /// The database as its own dump tool writes it: `sqlite3 FILE .dump`
    /// or `pg_dump`.
    pub fn tool_dump(&self) -> Vec<u8> {
        match &self.pg_db {
            None => {
                let out = std::process::Command::new("sqlite3")
                    .arg(self.layout.data_dir().join("cryptobot.db"))
                    .arg(".dump")
                    .output()
                    .expect("run sqlite3 (Debian package sqlite3)");
                assert!(out.status.success(), "sqlite3 .dump failed");
                out.stdout
            }
            Some(db) => pg().pg_dump(db).expect("pg_dump"),
        }
    }
}

/// Grants `user` the use of exchange key `key`, as the admin of `token`.
pub async fn grant_user(s: &TestServer, c: &reqwest::Client, token: &str, key: &str, user: &str) {
    let (st, _, body) = post(
        c,
        &s.url(&format!("/api/v1/exchange-keys/{key}/grants")),
        Some(token),
        &serde_json::json!({ "user": user }),
    )
    .await;
    assert_eq!(
        st,
        200,
        "grant {key} to {user}: {}",
        String::from_utf8_lossy(&body)
    );
}
