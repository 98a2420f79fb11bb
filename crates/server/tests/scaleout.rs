//! Scale-out: several `serve` instances on one PostgreSQL database and one
//! Redis, the Redis started with the `redis.conf` and password that
//! `secure-config` renders (ACL user `cryptobot`, default user off), in
//! plain TCP or TLS only (a private CA from `cryptobot-tls`, optionally
//! client certificates).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use cryptobot_auth::{AddressThrottle, Gcra, Pseudonyms, RateLimiter};
use cryptobot_config::{Config, Layout};
use cryptobot_server::shared::{DelayRules, RedisBackend};
use cryptobot_testkit::{RedisServer, RedisTls};
use secrecy::SecretString;
use serde_json::json;

/// A Redis as `cryptobot secure-config` sets it up: the real planner and
/// executor write the home under a temporary root; Redis runs with the
/// rendered `redis.conf`.
struct Deployment {
    _root: tempfile::TempDir,
    password: Vec<u8>,
    redis: RedisServer,
}

impl Deployment {
    fn start() -> Deployment {
        Self::start_with(None)
    }

    /// The same, but Redis listens only for TLS with `pki`'s server
    /// certificate.
    fn start_tls(pki: &PrivatePki, auth_clients: bool) -> Deployment {
        Self::start_with(Some(pki.redis_tls(auth_clients)))
    }

    fn start_with(tls: Option<RedisTls>) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let root = cryptobot_plan::Root::new(dir.path()).unwrap();
        let layout = Layout::new("/opt/cryptobot");
        let config = Config::defaults(&[]).unwrap();
        let planned = cryptobot_harden::secure_config::plan(
            &root,
            &layout,
            &config,
            &cryptobot_harden::secure_config::Options {
                rotate: Vec::new(),
                write_default_config: true,
            },
        )
        .unwrap();
        cryptobot_plan::apply(
            &planned.plan,
            &root,
            &cryptobot_plan::ApplyOptions::new(layout.changes_dir(), "secure-config"),
        )
        .unwrap();
        let conf: PathBuf = root.host(&layout.redis_conf()).unwrap();
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("user default off"), "{text}");
        assert!(text.contains("user cryptobot on #"), "{text}");
        // The include names the host path; under the temporary root the
        // file is elsewhere.
        let include = layout.redis_include();
        let under_root = root.host(&include).unwrap();
        let text = text.replace(
            &format!("include \"{}\"", include.display()),
            &format!("include \"{}\"", under_root.display()),
        );
        assert!(
            text.contains(&format!("{}\"\n", under_root.display())),
            "{text}"
        );
        std::fs::write(&conf, text).unwrap();
        let password = std::fs::read(root.host(&layout.secret("redis_password")).unwrap()).unwrap();
        let redis = match tls {
            None => RedisServer::start_with_config(&conf).unwrap(),
            Some(tls) => RedisServer::start_tls_with_config(&conf, tls).unwrap(),
        };
        Deployment {
            _root: dir,
            password,
            redis,
        }
    }

    fn password(&self) -> SecretString {
        SecretString::from(
            String::from_utf8(self.password.clone())
                .unwrap()
                .trim()
                .to_string(),
        )
    }

    /// A plain connection as the ACL user, to look at the keys.
    async fn raw(&self) -> redis::aio::MultiplexedConnection {
        let url = format!(
            "redis://cryptobot:{}@127.0.0.1:{}",
            String::from_utf8(self.password.clone()).unwrap().trim(),
            self.redis.port()
        );
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// An instance using this Redis.
    async fn instance(&self, tweak: impl FnOnce(&mut cryptobot_config::Settings)) -> TestServer {
        self.instance_with(&[], tweak).await
    }

    /// An instance using this Redis, with more files in `config/secrets/`.
    async fn instance_with(
        &self,
        files: &[(&str, &[u8])],
        tweak: impl FnOnce(&mut cryptobot_config::Settings),
    ) -> TestServer {
        let url = self.redis.url();
        let mut secrets: Vec<(&str, &[u8])> = vec![("redis_password", &self.password)];
        secrets.extend_from_slice(files);
        TestServer::start_with_secrets(Db::Postgres, &secrets, move |st| {
            st.redis.url = Some(url);
            tweak(st);
        })
        .await
    }
}

/// A private CA made by the project's own issuer (as `cryptobot ssl`
/// does), a Redis server certificate from it for 127.0.0.1 and localhost,
/// a client certificate from it (mutual TLS) and an unrelated second CA,
/// as files.
struct PrivatePki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl PrivatePki {
    fn new() -> PrivatePki {
        use cryptobot_tls::KeyType::EcdsaP256;
        let now = cryptobot_service::clock::now();
        let ca = cryptobot_tls::new_ca(EcdsaP256, now, 30).unwrap();
        let names = ["localhost".to_string(), "127.0.0.1".to_string()];
        let server = cryptobot_tls::issue_server(
            &ca.cert_pem,
            &ca.key_pem,
            &names,
            EcdsaP256,
            now,
            30,
            None,
        )
        .unwrap();
        let client = cryptobot_tls::issue_client(
            &ca.cert_pem,
            &ca.key_pem,
            "cryptobot",
            EcdsaP256,
            now,
            30,
            None,
        )
        .unwrap();
        let other = cryptobot_tls::new_ca(EcdsaP256, now, 30).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("ca.pem", ca.cert_pem.as_str()),
            ("other-ca.pem", other.cert_pem.as_str()),
            ("redis.crt", server.cert_pem.as_str()),
            ("redis.key", server.key_pem.as_str()),
            ("client.crt", client.cert_pem.as_str()),
            ("client.key", client.key_pem.as_str()),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        PrivatePki {
            dir,
            ca_pem: ca.cert_pem,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn redis_tls(&self, auth_clients: bool) -> RedisTls {
        RedisTls {
            cert_file: self.path("redis.crt"),
            key_file: self.path("redis.key"),
            ca_file: self.path("ca.pem"),
            auth_clients,
        }
    }
}

/// Every log line of this test process (one subscriber for the binary).
fn captured_logs() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
}

fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

async fn all_keys(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

fn assert_problem_status(st: u16, h: &reqwest::header::HeaderMap, body: &[u8], want: u16) {
    assert_eq!(st, want, "{}", String::from_utf8_lossy(body));
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(json(body)["status"], want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_lockout_limits_and_revocation() {
    let dep = Deployment::start();
    let a = dep
        .instance(|st| {
            st.security.rate_limiting.api_requests_per_minute = 60;
            st.security.rate_limiting.burst = 60;
        })
        .await;
    let b = a.start_peer().await;
    assert_ne!(a.addr.port(), b.addr.port());
    assert!(a.state().limits.shared() && b.state().limits.shared());
    a.add_user("alice", "admin").await;
    a.add_user("bob", "trader").await;
    let (ca, cb) = (a.client(), b.client());

    // 6 failed logins spread over both instances lock the account on both.
    let wrong = json!({"username": "bob", "password": "Wrong-password-9"});
    for i in 0..6 {
        let (s, c) = if i % 2 == 0 { (&a, &ca) } else { (&b, &cb) };
        let (st, _, _) = post(c, &s.url("/api/v1/auth/login"), None, &wrong).await;
        assert_eq!(st, 401, "failure {i}");
    }
    let right = json!({"username": "bob", "password": PASSWORD});
    for (s, c) in [(&a, &ca), (&b, &cb)] {
        let (st, _, _) = post(c, &s.url("/api/v1/auth/login"), None, &right).await;
        assert_eq!(st, 401, "bob is locked on {}", s.addr);
    }
    let bob = a.store.user_by_name("bob").await.unwrap().unwrap();
    assert!(
        bob.locked_until
            .is_some_and(|t| t > cryptobot_service::clock::now())
    );

    // 60 calls per minute (burst 60) per session, whichever instance
    // answers: calls alternate between the two as fast as they can.
    let t = login(&a, &ca, "alice").await;
    let token = access(&t);
    let started = Instant::now();
    let (mut allowed, mut refused_a, mut refused_b) = (0u32, 0u32, 0u32);
    for i in 0..80 {
        let (s, c) = if i % 2 == 0 { (&a, &ca) } else { (&b, &cb) };
        let (st, h, body) = get(c, &s.url("/api/v1/sessions"), Some(&token)).await;
        match st {
            200 => allowed += 1,
            429 => {
                assert_problem_status(st, &h, &body, 429);
                assert!(h.contains_key("retry-after"));
                assert_eq!(h["ratelimit-limit"], "60");
                if i % 2 == 0 {
                    refused_a += 1
                } else {
                    refused_b += 1
                }
            }
            other => panic!("call {i}: {other}"),
        }
    }
    let refills = started.elapsed().as_secs() + 1;
    assert!(
        allowed >= 60 && u64::from(allowed) <= 60 + refills,
        "{allowed} calls allowed in {:?}: the limit is not shared",
        started.elapsed()
    );
    assert!(refused_a > 0 && refused_b > 0, "{refused_a} / {refused_b}");

    // A session ended through A is refused by B within 1 s.
    let t = login(&b, &cb, "alice").await;
    let token = access(&t);
    let (st, _, _) = get(&ca, &a.url("/api/v1/sessions"), Some(&token)).await;
    assert_eq!(st, 200, "a session from B works on A");
    let (st, _, body) = post(&ca, &a.url("/api/v1/auth/logout"), Some(&token), &json!({})).await;
    assert!(
        st == 200 || st == 204,
        "logout: {st} {}",
        String::from_utf8_lossy(&body)
    );
    let ended = Instant::now();
    loop {
        let (st, _, _) = get(&cb, &b.url("/api/v1/sessions"), Some(&token)).await;
        if st == 401 {
            break;
        }
        assert!(
            ended.elapsed() < Duration::from_secs(1),
            "B still accepts the session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A refresh token rotated on A and replayed on B is reuse: refused,
    // and the session ends on both.
    let t1 = login(&a, &ca, "alice").await;
    let (st, _, body) = post(
        &ca,
        &a.url("/api/v1/auth/refresh"),
        None,
        &json!({"refresh_token": t1["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let t2 = json(&body);
    let (st, _, _) = post(
        &cb,
        &b.url("/api/v1/auth/refresh"),
        None,
        &json!({"refresh_token": t1["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 401, "reuse through B");
    for (s, c) in [(&a, &ca), (&b, &cb)] {
        let (st, _, _) = get(c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
        assert_eq!(st, 401, "the reused session still works on {}", s.addr);
    }

    // Redis holds only namespaced, pseudonymous keys, each with a TTL.
    let mut raw = dep.raw().await;
    let keys = all_keys(&mut raw).await;
    assert!(!keys.is_empty());
    let sid = t["session_id"].as_str().unwrap();
    for k in &keys {
        assert!(k.starts_with("cryptobot:rl:"), "{k}");
        assert!(
            !k.contains("127.0.0") && !k.contains(sid) && !k.contains("bob"),
            "{k}"
        );
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(ttl > 0, "{k} has no TTL ({ttl})");
    }
    let counters = a.state().limits.counters.snapshot();
    assert!(
        counters.limited > 0 && counters.backend_errors == 0,
        "{counters:?}"
    );
    b.stop().await;
    a.stop().await;
}

/// Sign-in attempts per account and the per-address delays are one count
/// across instances; a spoofed `X-Forwarded-For` from an untrusted peer
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_and_delays_hold_across_instances() {
    let dep = Deployment::start();
    let a = dep
        .instance(|st| {
            st.security.rate_limiting.login_attempts_per_minute = 2;
            st.security.rate_limiting.login_burst = 2;
            st.security.rate_limiting.login_free_failures = 1;
            st.security.rate_limiting.login_delay_base_seconds = 30;
        })
        .await;
    let b = a.start_peer().await;
    a.add_user("carol", "viewer").await;
    a.add_user("dave", "viewer").await;

    // Per account: two attempts, then 429 on either instance (one refill
    // takes 30 s).
    let ok = json!({"username": "carol", "password": PASSWORD});
    let (ca, cb) = (
        a.client_from(IpAddr::from([127, 0, 0, 11])),
        b.client_from(IpAddr::from([127, 0, 0, 12])),
    );
    let (st, _, _) = post(&ca, &a.url("/api/v1/auth/login"), None, &ok).await;
    assert_eq!(st, 200);
    let (st, _, _) = post(&cb, &b.url("/api/v1/auth/login"), None, &ok).await;
    assert_eq!(st, 200);
    for (s, c) in [(&a, &ca), (&b, &cb)] {
        let (st, h, body) = post(c, &s.url("/api/v1/auth/login"), None, &ok).await;
        assert_problem_status(st, &h, &body, 429);
        assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }

    // Per address, with a different spoofed X-Forwarded-For each time
    // (neither instance trusts the peer): one free failure on A, a second
    // on B imposes the delay, and A then refuses.
    let from = IpAddr::from([127, 0, 0, 13]);
    let (ca, cb) = (a.client_from(from), b.client_from(from));
    let wrong = json!({"username": "dave", "password": "Wrong-password-9"});
    for (i, (s, c, fake)) in [
        (&a, &ca, "192.0.2.1"),
        (&b, &cb, "192.0.2.2"),
        (&a, &ca, "192.0.2.3"),
    ]
    .into_iter()
    .enumerate()
    {
        let resp = c
            .post(s.url("/api/v1/auth/login"))
            .header("x-forwarded-for", fake)
            .json(&wrong)
            .send()
            .await
            .unwrap();
        let want = if i < 2 { 401 } else { 429 };
        assert_eq!(resp.status(), want, "attempt {i} via {}", s.addr);
    }
    assert!(a.state().limits.counters.snapshot().delayed >= 1);
    b.stop().await;
    a.stop().await;
}

/// Redis stopped mid-test: sign-in fails closed (503 problem+json), API
/// calls fail open, nothing is a 500; after Redis restarts sign-in works
/// again without restarting the service. A hung Redis costs at most the
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_closed_for_login_and_open_for_api() {
    let mut dep = Deployment::start();
    let s = dep.instance(|_| {}).await;
    s.add_user("erin", "admin").await;
    let c = s.client();
    let token = access(&login(&s, &c, "erin").await);

    dep.redis.stop();
    let right = json!({"username": "erin", "password": PASSWORD});
    let wrong = json!({"username": "erin", "password": "Wrong-password-9"});
    for body in [&right, &wrong, &right] {
        let (st, h, b) = post(&c, &s.url("/api/v1/auth/login"), None, body).await;
        assert_problem_status(st, &h, &b, 503);
        assert_eq!(json(&b)["type"], "urn:cryptobot:problem:busy");
        assert!(h.contains_key("retry-after"));
    }
    for _ in 0..5 {
        let (st, _, b) = get(&c, &s.url("/api/v1/sessions"), Some(&token)).await;
        assert_eq!(
            st,
            200,
            "fail-open API call: {}",
            String::from_utf8_lossy(&b)
        );
        let (st, _, _) = get(&c, &s.url("/healthz"), None).await;
        assert_eq!(st, 200, "unauthenticated call");
    }
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/mfa"),
        None,
        &json!({"mfa_token": "x", "code": "123456"}),
    )
    .await;
    assert_eq!(st, 503);
    let n = s.state().limits.counters.snapshot();
    assert!(
        n.backend_errors > 0 && n.refused_unavailable >= 4 && n.fallback >= 10,
        "{n:?}"
    );

    // Back: sign-in works again, without a restart of the service.
    dep.redis.restart().unwrap();
    let back = Instant::now();
    loop {
        let (st, _, b) = post(&c, &s.url("/api/v1/auth/login"), None, &right).await;
        assert_ne!(st, 500);
        if st == 200 {
            break;
        }
        assert_eq!(st, 503, "{}", String::from_utf8_lossy(&b));
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "sign-in did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Hung (SIGSTOP): answers come after about the timeout, not never.
    let pid = rustix::process::Pid::from_raw(dep.redis.pid().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let started = Instant::now();
    let (st, h, b) = post(&c, &s.url("/api/v1/auth/login"), None, &right).await;
    let took = started.elapsed();
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    assert_problem_status(st, &h, &b, 503);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&token)).await;
    assert_eq!(st, 200);
    s.stop().await;
}

/// The Redis scripts decide exactly as the in-process limiter and delay
/// table on the same sequence of requests and times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_scripts_match_the_in_process_limiters() {
    let dep = Deployment::start();
    let backend = RedisBackend::connect(
        &dep.redis.url(),
        "cryptobot",
        Some(&dep.password()),
        Duration::from_secs(2),
    )
    .unwrap();
    let shown = format!("{backend:?}");
    let password = String::from_utf8(dep.password.clone()).unwrap();
    assert!(!shown.contains(password.trim()), "{shown}");
    let names = Pseudonyms::from_key(&[9u8; 32]);
    // (limit, period, burst): intervals exact in both units.
    let rates = [
        (60, 60, 5),
        (5, 60, 20),
        (120, 60, 20),
        (10, 1, 1),
        (7, 70, 3),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0_us: i64 = 1_700_000_000_000_000;
    let mut compared = 0;
    for (n, (limit, period, burst)) in rates.into_iter().enumerate() {
        let local: RateLimiter<u64> = RateLimiter::new(limit, period, burst, 1000);
        let gcra = Gcra::new(limit, period, burst, 1_000_000);
        let mut now_us = t0_us;
        for step in 0..400 {
            // Mostly bursts, sometimes long pauses.
            now_us += match next() % 10 {
                0..=5 => (next() % 50_000) as i64,
                6..=8 => (next() % 2_000_000) as i64,
                _ => (next() % 120_000_000) as i64,
            };
            let key = next() % 3;
            let want = local.check(&key, now_us * 1000);
            let name = format!(
                "cryptobot:rl:test{n}:{}",
                names.name("t", &key.to_be_bytes())
            );
            let got = backend.gcra(&name, &gcra, Some(now_us)).await.unwrap();
            assert_eq!(
                got, want,
                "rate {limit}/{period}s burst {burst}, step {step}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 2000);

    // The progressive delay.
    let rules = DelayRules {
        free: 2,
        base: 1,
        max: 60,
    };
    let local = AddressThrottle::new(2, 1, 60, 1000);
    let addr = IpAddr::from([192, 0, 2, 44]);
    let key = format!("cryptobot:rl:testdelay:{}", names.name("d", b"x"));
    let mut now: i64 = 1_700_000_000;
    for step in 0..200 {
        now += (next() % 40) as i64 + if next() % 25 == 0 { 200 } else { 0 };
        let want = local.check(addr, now).err().unwrap_or(0);
        let got = backend.delay_check(&key, Some(now)).await.unwrap();
        assert_eq!(got, want, "check, step {step}");
        if want == 0 {
            let want = local.record_failure(addr, now);
            let got = backend.delay_fail(&key, rules, Some(now)).await.unwrap();
            assert_eq!(got, want, "failure, step {step}");
        }
    }

    // Without the script cached (SCRIPT FLUSH is closed to the ACL user,
    // so start a fresh Redis on the same port): EVALSHA falls back to EVAL.
    let mut dep = dep;
    dep.redis.restart().unwrap();
    let gcra = Gcra::new(60, 60, 5, 1_000_000);
    let mut answered = false;
    for _ in 0..50 {
        match backend.gcra("cryptobot:rl:test:fresh", &gcra, None).await {
            Ok(d) => {
                assert!(d.allowed);
                answered = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(answered, "no answer after the restart");
    let mut raw = dep.raw().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("cryptobot:rl:test:fresh")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 2_000, "{ttl}");
}

/// Redis listening only for TLS (`port 0`, `tls-port`), its certificate
/// issued by a private CA: with `redis.ca_file` naming that CA (a path
/// relative to the home) sign-in limits and lockout work through it. With
/// another CA the certificate is not trusted and sign-in fails closed with
/// 503 problem+json (never 500); the alert names the certificate problem
/// and no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    captured_logs();
    let pki = PrivatePki::new();
    let dep = Deployment::start_tls(&pki, false);
    let url = dep.redis.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");

    let s = dep
        .instance_with(&[("redis-ca.pem", pki.ca_pem.as_bytes())], |st| {
            st.redis.ca_file = Some("config/secrets/redis-ca.pem".into());
            st.security.rate_limiting.login_burst = 5;
        })
        .await;
    assert!(s.state().limits.shared());
    s.add_user("bob", "trader").await;
    let c = s.client();
    let login_url = s.url("/api/v1/auth/login");
    // Five failures lock the account (the limiter answered through TLS,
    // else sign-in would be 503); the sixth attempt at once is over the
    // sign-in burst: 429 even with the right password.
    let wrong = json!({"username": "bob", "password": "Wrong-password-9"});
    for i in 0..5 {
        let (st, _, body) = post(&c, &login_url, None, &wrong).await;
        assert_eq!(st, 401, "failure {i}: {}", String::from_utf8_lossy(&body));
    }
    let right = json!({"username": "bob", "password": PASSWORD});
    let (st, h, body) = post(&c, &login_url, None, &right).await;
    assert_problem_status(st, &h, &body, 429);
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let bob = s.store.user_by_name("bob").await.unwrap().unwrap();
    assert!(
        bob.locked_until
            .is_some_and(|t| t > cryptobot_service::clock::now())
    );
    let n = s.state().limits.counters.snapshot();
    assert!(n.limited >= 1 && n.backend_errors == 0, "{n:?}");

    // The counts are in that Redis (read over TLS with the same CA).
    let raw_url = format!(
        "rediss://cryptobot:{}@127.0.0.1:{}",
        String::from_utf8(dep.password.clone()).unwrap().trim(),
        dep.redis.port()
    );
    let client = redis::Client::build_with_tls(
        raw_url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let keys = all_keys(&mut raw).await;
    assert!(
        keys.iter()
            .any(|k| k.starts_with("cryptobot:rl:login-user:")),
        "{keys:?}"
    );

    // Another CA: the server's certificate is not trusted.
    let before = logs_text().len();
    let w = dep
        .instance(|st| {
            st.redis.ca_file = Some(pki.path("other-ca.pem"));
        })
        .await;
    w.add_user("carol", "viewer").await;
    let cw = w.client();
    let right = json!({"username": "carol", "password": PASSWORD});
    for _ in 0..2 {
        let (st, h, body) = post(&cw, &w.url("/api/v1/auth/login"), None, &right).await;
        assert_problem_status(st, &h, &body, 503);
        assert_eq!(json(&body)["type"], "urn:cryptobot:problem:busy");
        assert!(h.contains_key("retry-after"));
    }
    let n = w.state().limits.counters.snapshot();
    assert!(n.backend_errors >= 1 && n.refused_unavailable >= 1, "{n:?}");
    let logs = logs_text();
    let new = &logs[before..];
    let alert = new
        .lines()
        .find(|l| l.contains("cannot be reached"))
        .unwrap_or_else(|| panic!("no alert in {new}"));
    assert!(
        alert.to_lowercase().contains("certificate"),
        "the alert does not name the certificate problem: {alert}"
    );
    let password = String::from_utf8(dep.password.clone()).unwrap();
    assert!(
        !logs.contains(password.trim()),
        "a log line holds the password"
    );
    w.stop().await;
    s.stop().await;
}

/// The checks at start: `redis.ca_file` must hold PEM certificates, a CA
/// needs `rediss://`, and `#insecure` is refused, each with a hint; no error
/// repeats the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tls_setup_errors() {
    use cryptobot_server::shared::{
        RedisSetupError, RedisTlsFiles, read_ca_file, read_client_identity,
    };
    cryptobot_server::tls::install_crypto_provider();
    let pki = PrivatePki::new();
    assert_eq!(
        read_ca_file(&pki.path("ca.pem")).unwrap(),
        pki.ca_pem.as_bytes()
    );

    let missing = pki.path("missing.pem");
    let e = read_ca_file(&missing).unwrap_err();
    assert!(matches!(e, RedisSetupError::CaFile { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("redis.ca_file ") && text.contains("missing.pem"),
        "{text}"
    );
    assert!(e.hint().contains("redis.ca_file"), "{}", e.hint());
    std::fs::write(pki.path("junk.pem"), "not a certificate\n").unwrap();
    let e = read_ca_file(&pki.path("junk.pem")).unwrap_err();
    assert!(e.to_string().contains("no PEM CERTIFICATE"), "{e}");
    // A key is not a certificate.
    let e = read_ca_file(&pki.path("redis.key")).unwrap_err();
    assert!(matches!(e, RedisSetupError::CaFile { .. }), "{e:?}");
    std::fs::write(
        pki.path("broken.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = read_ca_file(&pki.path("broken.pem")).unwrap_err();
    assert!(e.to_string().contains("not valid X.509"), "{e}");

    // Client certificate and key.
    let id = read_client_identity(&pki.path("client.crt"), &pki.path("client.key")).unwrap();
    assert!(!format!("{id:?}").contains("PRIVATE KEY"));
    let e = read_client_identity(&pki.path("client.key"), &pki.path("client.key")).unwrap_err();
    assert!(
        matches!(
            e,
            RedisSetupError::ClientCert {
                key: "redis.client_cert",
                ..
            }
        ),
        "{e:?}"
    );
    let e = read_client_identity(&pki.path("client.crt"), &pki.path("client.crt")).unwrap_err();
    assert!(
        matches!(
            e,
            RedisSetupError::ClientCert {
                key: "redis.client_key",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("redis.client_key "), "{e}");
    let e = read_client_identity(&pki.path("client.crt"), &missing).unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
    assert!(e.hint().contains("redis.client_key"));

    let secret = SecretString::from("Not-Shown-Password-1".to_string());
    let t = Duration::from_millis(250);
    let files = || RedisTlsFiles {
        ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        client: None,
    };
    for url in [
        "rediss://127.0.0.1:6380/#insecure",
        "rediss://127.0.0.1:6380#insecure",
    ] {
        for tls in [RedisTlsFiles::default(), files()] {
            let e = RedisBackend::connect_with_tls(url, "cryptobot", Some(&secret), t, &tls)
                .unwrap_err();
            assert!(matches!(e, RedisSetupError::Insecure), "{e:?}");
            assert!(e.hint().contains("#insecure"));
        }
    }
    let e = RedisBackend::connect_with_tls(
        "redis://127.0.0.1:6379",
        "cryptobot",
        Some(&secret),
        t,
        &files(),
    )
    .unwrap_err();
    assert!(matches!(e, RedisSetupError::TlsWithoutRediss), "{e:?}");
    assert!(e.to_string().contains("need a rediss:// URL"), "{e}");
    let with_client = RedisTlsFiles {
        ca_pem: None,
        client: Some(id),
    };
    let e = RedisBackend::connect_with_tls(
        "redis://127.0.0.1:6379",
        "cryptobot",
        Some(&secret),
        t,
        &with_client,
    )
    .unwrap_err();
    assert!(matches!(e, RedisSetupError::TlsWithoutRediss), "{e:?}");
    let ok = RedisBackend::connect_with_tls(
        "rediss://127.0.0.1:6380",
        "cryptobot",
        Some(&secret),
        t,
        &with_client,
    )
    .unwrap();
    assert!(!format!("{ok:?}").contains("Not-Shown"));
}

/// A Redis that requires client certificates (`tls-auth-clients yes`):
/// with `redis.client_cert`/`client_key` sign-in works through it; without
/// them Redis ends the handshake and sign-in fails closed (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_client_certificate() {
    let pki = PrivatePki::new();
    let dep = Deployment::start_tls(&pki, true);
    let ca = pki.path("ca.pem");
    let (cert, key) = (pki.path("client.crt"), pki.path("client.key"));
    let s = dep
        .instance(|st| {
            st.redis.ca_file = Some(ca.clone());
            st.redis.client_cert = Some(cert);
            st.redis.client_key = Some(key);
        })
        .await;
    s.add_user("dora", "viewer").await;
    login(&s, &s.client(), "dora").await;
    let n = s.state().limits.counters.snapshot();
    assert!(n.allowed >= 1 && n.backend_errors == 0, "{n:?}");

    let w = dep
        .instance(|st| {
            st.redis.ca_file = Some(ca);
        })
        .await;
    let (st, h, body) = post(
        &w.client(),
        &w.url("/api/v1/auth/login"),
        None,
        &json!({"username": "dora", "password": PASSWORD}),
    )
    .await;
    assert_problem_status(st, &h, &body, 503);
    assert!(w.state().limits.counters.snapshot().backend_errors >= 1);
    w.stop().await;
    s.stop().await;
}

/// The default sign-in burst (5) holds across instances sharing Redis:
/// five immediate attempts from one address, alternating between two
/// instances, pass; the sixth is 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sign_in_burst_is_shared() {
    let dep = Deployment::start();
    let a = dep
        .instance(|st| {
            st.security.rate_limiting = cryptobot_config::RateLimiting::default();
        })
        .await;
    let b = a.start_peer().await;
    let users: Vec<String> = (0..6).map(|i| format!("burst{i}")).collect();
    for u in &users {
        a.add_user(u, "viewer").await;
    }
    let from = IpAddr::from([127, 0, 0, 50]);
    let (ca, cb) = (a.client_from(from), b.client_from(from));
    for (i, u) in users.iter().enumerate() {
        let (s, c) = if i % 2 == 0 { (&a, &ca) } else { (&b, &cb) };
        let (st, h, body) = post(
            c,
            &s.url("/api/v1/auth/login"),
            None,
            &json!({"username": u, "password": PASSWORD}),
        )
        .await;
        if i < 5 {
            assert_eq!(st, 200, "attempt {i}: {}", String::from_utf8_lossy(&body));
        } else {
            assert_problem_status(st, &h, &body, 429);
            assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        }
    }
    b.stop().await;
    a.stop().await;
}

/// An exchange key's signing limit is one budget across instances: with
/// a limit of 4 per minute, signatures alternating between two instances
/// get 4 answers, then 429 on either, and the budget lives in Redis under
/// a pseudonymous key (never the key id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_limit_of_a_key_is_shared_between_instances() {
    let dep = Deployment::start();
    let a = dep.instance(|_| {}).await;
    let b = a.start_peer().await;
    a.add_user("alice", "admin").await;
    let (ca, cb) = (a.client(), b.client());
    let token = access(&login(&a, &ca, "alice").await);
    let (st, _, body) = post(
        &ca,
        &a.url("/api/v1/exchange-keys"),
        Some(&token),
        &json!({"exchange": "binance", "label": "bot",
                "api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
                "secret": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
                "permissions": ["read"], "max_signatures_per_minute": 4}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (s, c) = if i % 2 == 0 { (&a, &ca) } else { (&b, &cb) };
        let req = json!({"method": "GET", "path": "/api/v3/account",
                         "query": format!("timestamp={}", cryptobot_service::clock::now_ms())});
        let (st, h, body) = post(
            c,
            &s.url(&format!("/api/v1/exchange-keys/{id}/sign")),
            Some(&token),
            &req,
        )
        .await;
        if st == 429 {
            assert_problem_status(st, &h, &body, 429);
            assert!(h.contains_key("retry-after"));
        }
        statuses.push(st);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429, 429, 429]);
    let mut conn = dep.raw().await;
    let keys = all_keys(&mut conn).await;
    assert!(
        keys.iter().any(|k| k.starts_with("cryptobot:rl:sign:")),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains(&id)), "{keys:?}");
    b.stop().await;
    a.stop().await;
}
