//! PostgreSQL away while `serve` runs (found by the soak, `tests/soak`):
//! requests are answered 503 `busy` with `Retry-After` within a few
//! seconds, never 500, and service resumes by itself when the database is
//! back. In a file of its own: it stops this test process's PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn pg_ctl(action: &[&str]) {
    let bin = cryptobot_testkit::pg_binary("pg_ctl").unwrap();
    let pg = shared_pg();
    let out = cryptobot_testkit::server_account_command(&bin)
        .arg("-D")
        .arg(pg.data_dir())
        .args(action)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl {action:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_was_answered_500() {
    let s = TestServer::start(Db::Postgres, |_| {}).await;
    s.add_user("tom", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "tom").await);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&t)).await;
    assert_eq!(st, 200);

    pg_ctl(&["stop", "-m", "fast", "-w"]);
    let started = Instant::now();
    let (st, h, body) = get(&c, &s.url("/api/v1/sessions"), Some(&t)).await;
    assert_eq!(st, 503, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(h["retry-after"], "1");
    assert_eq!(json(&body)["type"], "urn:cryptobot:problem:busy");
    // Bounded by the pool's acquire timeout, well inside the request timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "tom", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 503, "{}", String::from_utf8_lossy(&body));
    healthz_503_body_was_not_the_documented_one(&s, &c).await;

    // Back: the same token works again, without a restart of serve.
    shared_pg().restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&t)).await;
        if st == 200 {
            break;
        }
        assert_eq!(st, 503);
        assert!(Instant::now() < deadline, "no recovery after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}

/// Found with the test above: `/healthz` was documented to answer 503 with
/// a `Health` body, but the problem layer turned every 5xx into
/// problem+json, so clients got a body the document did not describe. It
/// is now documented (and sent) as the `busy` problem with `Retry-After`.
async fn healthz_503_body_was_not_the_documented_one(s: &TestServer, c: &reqwest::Client) {
    let (st, h, body) = get(c, &s.url("/healthz"), None).await;
    assert_eq!(st, 503);
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(h["retry-after"], "1");
    assert_eq!(json(&body)["type"], "urn:cryptobot:problem:busy");
    let doc = cryptobot_server::openapi::openapi_value();
    let answer = &doc["paths"]["/healthz"]["get"]["responses"]["503"]["content"];
    assert!(answer["application/problem+json"].is_object(), "{answer}");
    assert!(answer.get("application/json").is_none(), "{answer}");
}
