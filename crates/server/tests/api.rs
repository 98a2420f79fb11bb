//! The service end to end over real HTTPS, every scenario on SQLite and on
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use cryptobot_auth::{Claims, sign};
use cryptobot_service::clock::now;
use cryptobot_service::signing_keys::{AUDIENCE, ISSUER};
use serde_json::{Value, json};

on_both!(
    headers_health_and_problems,
    login_sessions_and_roles,
    failures_are_indistinguishable,
    lockout_until_unlock,
    progressive_delay_per_address,
    refresh_rotates_and_reuse_ends_session,
    logout_revokes_at_once,
    password_change_rules_and_other_sessions,
    expired_password_allows_only_change,
    session_limit_and_idle_timeout,
    forged_tokens_are_refused,
    body_validation_names_the_field,
    audit_log_filters,
    signing_key_rotation,
    rehash_on_login,
    every_scope_is_enforced,
    admin_user_management,
    slow_request_times_out,
    forwarded_headers_only_from_trusted_proxies,
    api_calls_are_limited,
    configured_csp_is_sent,
    default_sign_in_burst,
);

/// An operator serving a console from this origin relaxes the CSP; every
/// response (errors included) carries the configured policy.
async fn configured_csp_is_sent(db: Db) {
    let policy = "default-src 'self'; frame-ancestors 'self'";
    let s = TestServer::start(db, |st| {
        st.server.content_security_policy = policy.to_string();
    })
    .await;
    let c = s.client();
    for path in ["/healthz", "/no/such/thing"] {
        let (_, h, _) = get(&c, &s.url(path), None).await;
        assert_eq!(h["content-security-policy"], policy, "{path}");
    }
    s.stop().await;
}

const SECURITY_HEADERS: &[&str] = &[
    "strict-transport-security",
    "x-content-type-options",
    "content-security-policy",
    "referrer-policy",
    "cache-control",
];

fn assert_security_headers(h: &reqwest::header::HeaderMap) {
    for name in SECURITY_HEADERS {
        assert!(h.contains_key(*name), "missing {name}");
    }
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

fn assert_problem(status: u16, h: &reqwest::header::HeaderMap, body: &[u8], want: u16, code: &str) {
    assert_eq!(status, want, "body: {}", String::from_utf8_lossy(body));
    assert_eq!(h["content-type"], "application/problem+json");
    let v = json(body);
    assert_eq!(v["type"], format!("urn:cryptobot:problem:{code}"), "{v}");
    assert_eq!(v["status"], want);
    assert!(v["title"].is_string() && v["detail"].is_string());
}

async fn headers_health_and_problems(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let c = s.client();
    let (st, h, body) = get(&c, &s.url("/healthz"), None).await;
    assert_eq!(st, 200);
    assert_eq!(json(&body)["status"], "ok");
    assert_security_headers(&h);

    let (st, h, body) = get(&c, &s.url("/no/such/thing"), None).await;
    assert_problem(st, &h, &body, 404, "not-found");
    assert_security_headers(&h);

    let resp = c.delete(s.url("/healthz")).send().await.unwrap();
    let (st, h) = (resp.status().as_u16(), resp.headers().clone());
    assert_problem(
        st,
        &h,
        &resp.bytes().await.unwrap(),
        405,
        "method-not-allowed",
    );

    let (st, h, body) = get(&c, &s.url("/api/v1/sessions"), None).await;
    assert_problem(st, &h, &body, 401, "unauthorized");
    assert!(h.contains_key("www-authenticate"));

    // CORS: the configured origin gets an answer, another does not.
    for (origin, allowed) in [
        ("https://localhost:3000", true),
        ("https://evil.example", false),
    ] {
        let resp = c
            .request(reqwest::Method::OPTIONS, s.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        let acao = resp.headers().get("access-control-allow-origin").cloned();
        assert_eq!(acao.is_some(), allowed, "{origin}");
        if allowed {
            assert_eq!(acao.unwrap(), origin);
        }
    }

    // The JWKS publishes the signing key.
    let (st, _, body) = get(&c, &s.url("/.well-known/jwks.json"), None).await;
    assert_eq!(st, 200);
    let jwks = json(&body);
    assert_eq!(jwks["keys"][0]["kid"], s.signing_key().kid());
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert!(jwks["keys"][0].get("d").is_none());

    // The OpenAPI document lists every route the server has.
    let (st, _, body) = get(&c, &s.url("/openapi.json"), None).await;
    assert_eq!(st, 200);
    let doc = json(&body);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in ALL_ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    let mut ids = std::collections::HashSet::new();
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
    let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        listed,
        ALL_ROUTES.len(),
        "openapi.json lists routes the test does not know"
    );
    s.stop().await;
}

/// Every route the server has; the OpenAPI test checks both directions.
const ALL_ROUTES: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/.well-known/jwks.json", "get"),
    ("/openapi.json", "get"),
    ("/pki/ca.crl", "get"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/auth/refresh", "post"),
    ("/api/v1/auth/logout", "post"),
    ("/api/v1/auth/password", "post"),
    ("/api/v1/sessions", "get"),
    ("/api/v1/sessions/{id}", "delete"),
    ("/api/v1/users", "get"),
    ("/api/v1/users/{username}/disable", "post"),
    ("/api/v1/users/{username}/enable", "post"),
    ("/api/v1/users/{username}/unlock", "post"),
    ("/api/v1/users/{username}/role", "put"),
    ("/api/v1/audit", "get"),
    ("/api/v1/auth/mfa", "post"),
    ("/api/v1/auth/step-up", "post"),
    ("/api/v1/mfa", "get"),
    ("/api/v1/mfa/totp/enroll", "post"),
    ("/api/v1/auth/password-reset", "post"),
    ("/api/v1/sessions/end-all", "post"),
    ("/api/v1/users/{username}/password-reset", "post"),
    ("/api/v1/users/{username}/sessions/end", "post"),
    ("/api/v1/api-keys/{id}/reactivate", "post"),
    ("/api/v1/users/{username}", "delete"),
    ("/api/v1/me/export", "get"),
    ("/api/v1/mfa/totp/confirm", "post"),
    ("/api/v1/mfa/backup-codes", "post"),
    ("/api/v1/mfa/totp/disable", "post"),
    ("/api/v1/api-keys", "post"),
    ("/api/v1/api-keys", "get"),
    ("/api/v1/api-keys/{id}/rotate", "post"),
    ("/api/v1/api-keys/{id}", "delete"),
    ("/api/v1/exchange-keys", "get"),
    ("/api/v1/exchange-keys", "post"),
    ("/api/v1/exchange-keys/{id}/rotate", "post"),
    ("/api/v1/exchange-keys/{id}", "delete"),
    ("/api/v1/exchange-keys/{id}/sign", "post"),
    ("/api/v1/exchange-keys/{id}/grants", "get"),
    ("/api/v1/exchange-keys/{id}/grants", "post"),
    ("/api/v1/exchange-keys/{id}/grants/users/{name}", "delete"),
    ("/api/v1/exchange-keys/{id}/grants/api-keys/{key}", "delete"),
    ("/api/v1/exchange-keys/{id}/permissions", "put"),
    ("/api/v1/exchange-keys/{id}/limit", "put"),
    ("/api/v1/exchange-keys/{id}/addresses", "get"),
    ("/api/v1/exchange-keys/{id}/addresses", "post"),
    ("/api/v1/exchange-keys/{id}/addresses/{entry}", "delete"),
    ("/api/v1/approvals", "get"),
    ("/api/v1/approvals/{request}/approve", "post"),
];

async fn login_sessions_and_roles(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    s.add_user("victor", "viewer").await;
    let c = s.client();
    let t = login(&s, &c, "alice").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["refresh_token"].as_str().unwrap().len() >= 40);
    assert_eq!(t["password_expired"], false);

    let (st, h, body) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t))).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_security_headers(&h);
    let sessions = json(&body);
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["client_addr"], "127.0.0.1");

    let v = login(&s, &c, "victor").await;
    let (st, h, body) = post(
        &c,
        &s.url("/api/v1/users/alice/disable"),
        Some(&access(&v)),
        &json!({}),
    )
    .await;
    assert_problem(st, &h, &body, 403, "forbidden");
    let (st, _, _) = get(&c, &s.url("/api/v1/users"), Some(&access(&v))).await;
    assert_eq!(st, 403);
    let denied = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            event: Some("permission_denied".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0].event.actor.as_deref(), Some("victor"));
    s.stop().await;
}

async fn failures_are_indistinguishable(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.address_group_failures_per_hour = 3;
    })
    .await;
    s.add_user("alice", "admin").await;
    s.add_user("dora", "viewer").await;
    s.add_user("lock", "viewer").await;
    let c = s.client();
    let url = s.url("/api/v1/auth/login");
    // Lock `lock`, disable `dora`.
    for _ in 0..3 {
        post(
            &c,
            &url,
            None,
            &json!({"username": "lock", "password": "wrong-Password-1"}),
        )
        .await;
    }
    let a = login(&s, &c, "alice").await;
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/dora/disable"),
        Some(&access(&a)),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);

    let attempts = [
        json!({"username": "nobody", "password": PASSWORD}),
        json!({"username": "alice", "password": "wrong-Password-1"}),
        json!({"username": "dora", "password": PASSWORD}),
        json!({"username": "lock", "password": PASSWORD}),
    ];
    let mut bodies = Vec::new();
    for a in &attempts {
        let (st, h, body) = post(&c, &url, None, a).await;
        assert_problem(st, &h, &body, 401, "invalid-credentials");
        // Every answer has its own request id; nothing else differs.
        let mut v = json(&body);
        assert!(v["request_id"].is_string());
        v.as_object_mut().unwrap().remove("request_id");
        bodies.push(v);
    }
    for b in &bodies[1..] {
        assert_eq!(b, &bodies[0], "failure bodies differ");
    }
    s.stop().await;
}

async fn lockout_until_unlock(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    s.add_user("bob", "trader").await;
    let c = s.client();
    let url = s.url("/api/v1/auth/login");
    let limit = s.settings.security.rate_limiting.login_attempts_per_minute;
    for _ in 0..limit {
        let (st, _, _) = post(
            &c,
            &url,
            None,
            &json!({"username": "bob", "password": "Wrong-password-9"}),
        )
        .await;
        assert_eq!(st, 401);
    }
    // Locked: even the right password is refused.
    let (st, _, _) = post(
        &c,
        &url,
        None,
        &json!({"username": "bob", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 401);
    let locked = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            event: Some("account_locked".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].event.subject.as_deref(), Some("bob"));

    let a = login(&s, &c, "admin").await;
    let (st, _, body) = get(&c, &s.url("/api/v1/users"), Some(&access(&a))).await;
    assert_eq!(st, 200);
    let bob = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .cloned()
        .unwrap();
    assert_eq!(bob["locked"], true);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/users/bob/unlock"),
        Some(&access(&a)),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["locked"], false);
    login(&s, &c, "bob").await;
    s.stop().await;
}

async fn progressive_delay_per_address(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.login_free_failures = 2;
        st.security.rate_limiting.login_attempts_per_minute = 60;
        // Long enough that a slow machine cannot outwait it mid-test.
        st.security.rate_limiting.login_delay_base_seconds = 30;
    })
    .await;
    s.add_user("carol", "viewer").await;
    let attacker = s.client_from(IpAddr::from([127, 0, 0, 9]));
    let url = s.url("/api/v1/auth/login");
    let wrong = json!({"username": "carol", "password": "Wrong-password-9"});
    for _ in 0..3 {
        let (st, _, _) = post(&attacker, &url, None, &wrong).await;
        assert_eq!(st, 401);
    }
    // The third failure imposed a delay: the next attempt is answered
    // at once with 429 and Retry-After, even with the right password.
    let (st, h, body) = post(
        &attacker,
        &url,
        None,
        &json!({"username": "carol", "password": PASSWORD}),
    )
    .await;
    assert_problem(st, &h, &body, 429, "too-many-requests");
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // Another address is not affected.
    let other = s.client_from(IpAddr::from([127, 0, 0, 10]));
    login(&s, &other, "carol").await;
    s.stop().await;
}

async fn refresh_rotates_and_reuse_ends_session(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    let c = s.client();
    let t1 = login(&s, &c, "alice").await;
    let refresh_url = s.url("/api/v1/auth/refresh");
    let (st, _, body) = post(
        &c,
        &refresh_url,
        None,
        &json!({"refresh_token": t1["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let t2 = json(&body);
    assert_ne!(t2["refresh_token"], t1["refresh_token"]);
    assert_eq!(t2["session_id"], t1["session_id"]);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
    assert_eq!(st, 200);

    // Reusing the first refresh token: refused, and the session ends.
    let (st, h, body) = post(
        &c,
        &refresh_url,
        None,
        &json!({"refresh_token": t1["refresh_token"]}),
    )
    .await;
    assert_problem(st, &h, &body, 401, "invalid-refresh-token");
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
    assert_eq!(
        st, 401,
        "the session must end when a refresh token is reused"
    );
    let (st, _, _) = post(
        &c,
        &refresh_url,
        None,
        &json!({"refresh_token": t2["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 401);
    let reuse = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            event: Some("refresh_token_reused".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].event.subject.as_deref(), Some("alice"));
    s.stop().await;
}

async fn logout_revokes_at_once(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    let c = s.client();
    let t = login(&s, &c, "alice").await;
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/logout"),
        Some(&access(&t)),
        &json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t))).await;
    assert_eq!(st, 401);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/refresh"),
        None,
        &json!({"refresh_token": t["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 401);
    s.stop().await;
}

async fn password_change_rules_and_other_sessions(db: Db) {
    // History is off by default (ASVS 2.1.10); this scenario turns it on.
    let s = TestServer::start(db, |st| st.security.password_policy.prevent_reuse = 5).await;
    s.add_user("alice", "trader").await;
    let c = s.client();
    let t1 = login(&s, &c, "alice").await;
    let t2 = login(&s, &c, "alice").await;
    let url = s.url("/api/v1/auth/password");

    let (st, h, body) = post(
        &c,
        &url,
        Some(&access(&t1)),
        &json!({"current_password": "nope-Nope-1", "new_password": "Another-Good-Pass-77"}),
    )
    .await;
    assert_problem(st, &h, &body, 422, "invalid-request");
    assert_eq!(json(&body)["field"], "current_password");

    let (st, h, body) = post(
        &c,
        &url,
        Some(&access(&t1)),
        &json!({"current_password": PASSWORD, "new_password": "password"}),
    )
    .await;
    assert_problem(st, &h, &body, 422, "password-policy");
    let codes: Vec<String> = json(&body)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.contains(&"too_short".to_string()), "{codes:?}");
    assert!(!String::from_utf8_lossy(&body).contains("\"password\""));

    let (st, _, body) = post(
        &c,
        &url,
        Some(&access(&t1)),
        &json!({"current_password": PASSWORD, "new_password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["errors"][0]["code"], "reused");

    let (st, _, body) = post(
        &c,
        &url,
        Some(&access(&t1)),
        &json!({"current_password": PASSWORD, "new_password": "Another-Good-Pass-77"}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["sessions_ended"], 1);
    // The other session ended; this one continues.
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
    assert_eq!(st, 401);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t1))).await;
    assert_eq!(st, 200);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "alice", "password": "Another-Good-Pass-77"}),
    )
    .await;
    assert_eq!(st, 200);
    s.stop().await;
}

async fn expired_password_allows_only_change(db: Db) {
    let s = TestServer::start(db, |st| st.security.password_policy.max_age_days = 30).await;
    s.add_user("eve", "trader").await;
    let user = s.store.user_by_name("eve").await.unwrap().unwrap();
    s.store
        .set_password(&user.id, &user.password_hash, now() - 31 * 86_400, 5)
        .await
        .unwrap();
    let c = s.client();
    let t = login(&s, &c, "eve").await;
    assert_eq!(t["password_expired"], true);
    let (st, h, body) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t))).await;
    assert_problem(st, &h, &body, 403, "password-expired");
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/password"),
        Some(&access(&t)),
        &json!({"current_password": PASSWORD, "new_password": "Fresh-Secure-Phrase-58"}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/refresh"),
        None,
        &json!({"refresh_token": t["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 200);
    let t2 = json(&body);
    assert_eq!(t2["password_expired"], false);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
    assert_eq!(st, 200);
    s.stop().await;
}

async fn session_limit_and_idle_timeout(db: Db) {
    let s = TestServer::start(db, |st| st.security.session.max_sessions_per_user = 2).await;
    s.add_user("alice", "admin").await;
    let c = s.client();
    let t1 = login(&s, &c, "alice").await;
    let t2 = login(&s, &c, "alice").await;
    let t3 = login(&s, &c, "alice").await;
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t1))).await;
    assert_eq!(st, 401, "the oldest session ends when the limit is passed");
    let (st, _, body) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t3))).await;
    assert_eq!(st, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 2);

    // Ending one of my sessions by id.
    let sid2 = t2["session_id"].as_str().unwrap();
    let resp = c
        .delete(s.url(&format!("/api/v1/sessions/{sid2}")))
        .bearer_auth(access(&t3))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t2))).await;
    assert_eq!(st, 401);

    // Idle: a session not seen for longer than the idle timeout is refused.
    let idle = i64::from(s.settings.security.session.idle_timeout_seconds);
    let sid3 = t3["session_id"].as_str().unwrap();
    s.store.touch_session(sid3, now() - idle - 5).await.unwrap();
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&t3))).await;
    assert_eq!(st, 401);
    s.stop().await;
}

fn b64(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

async fn forged_tokens_are_refused(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    let c = s.client();
    let t = login(&s, &c, "alice").await;
    let good = access(&t);
    let key = s.signing_key();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Claims = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    let now = now();
    let url = s.url("/api/v1/sessions");
    let (st, _, _) = get(&c, &url, Some(&good)).await;
    assert_eq!(st, 200);

    let with = |f: &dyn Fn(&mut Claims)| {
        let mut c2 = claims.clone();
        f(&mut c2);
        sign(&key, &c2).unwrap()
    };
    let other_key = cryptobot_auth::SigningKey::generate().unwrap().0;
    let header = |alg: &str| b64(&json!({"alg": alg, "typ": "JWT", "kid": key.kid()}));
    let mut forged: Vec<(&str, String)> = vec![
        (
            "expired",
            with(&|c| {
                c.exp = now - 120;
                c.iat = now - 1000;
                c.nbf = now - 1000;
            }),
        ),
        ("future nbf", with(&|c| c.nbf = now + 300)),
        ("wrong aud", with(&|c| c.aud = "someone-else".into())),
        (
            "wrong iss",
            with(&|c| c.iss = "https://evil.example".into()),
        ),
        ("other key", sign(&other_key, &claims).unwrap()),
        ("removed signature", format!("{}.{}.", parts[0], parts[1])),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("modified payload", {
            let mut c2 = claims.clone();
            c2.scope = "system:admin users:manage".into();
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&serde_json::to_value(&c2).unwrap()),
                parts[2]
            )
        }),
        (
            "unknown kid",
            format!(
                "{}.{}.{}",
                b64(&json!({"alg": "EdDSA", "kid": "nope"})),
                parts[1],
                parts[2]
            ),
        ),
    ];
    for alg in ["none", "None", "HS256", "RS256"] {
        forged.push((alg, format!("{}.{}.{}", header(alg), parts[1], parts[2])));
        forged.push((alg, format!("{}.{}.", header(alg), parts[1])));
    }
    for (what, token) in &forged {
        let (st, h, body) = get(&c, &url, Some(token)).await;
        assert_eq!(st, 401, "{what} was accepted");
        assert_problem(st, &h, &body, 401, "unauthorized");
    }
    // Leeway is at most 60 s: 30 s past exp is still accepted.
    let (st, _, _) = get(&c, &url, Some(&with(&|c| c.exp = now - 30))).await;
    assert_eq!(st, 200);
    let _ = (ISSUER, AUDIENCE);
    s.stop().await;
}

async fn body_validation_names_the_field(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let c = s.client();
    let url = s.url("/api/v1/auth/login");
    let (st, h, body) = post(
        &c,
        &url,
        None,
        &json!({"username": "a", "password": "b", "admin": true}),
    )
    .await;
    assert_problem(st, &h, &body, 422, "invalid-request");
    assert!(json(&body)["detail"].as_str().unwrap().contains("admin"));
    let (st, _, body) = post(&c, &url, None, &json!({"username": 5, "password": "b"})).await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["field"], "username");
    let (st, _, body) = post(&c, &url, None, &json!({"username": "a"})).await;
    assert_eq!(st, 422);
    assert!(json(&body)["detail"].as_str().unwrap().contains("password"));
    let (st, _, body) = post(&c, &url, None, &json!({"username": "", "password": "b"})).await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["field"], "username");
    let (st, _, body) = post(
        &c,
        &url,
        None,
        &json!({"username": "a", "password": "x".repeat(200)}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["field"], "password");
    let resp = c
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = c
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(100_000)
    );
    let resp = c
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    s.stop().await;
}

async fn audit_log_filters(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    s.add_user("audrey", "auditor").await;
    let c = s.client();
    let before = cryptobot_service::clock::now_ms();
    post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "alice", "password": "Wrong-password-9"}),
    )
    .await;
    login(&s, &c, "alice").await;
    let t = login(&s, &c, "audrey").await;
    let tok = access(&t);
    let (st, _, body) = get(&c, &s.url("/api/v1/audit?type=login_failed"), Some(&tok)).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["subject"], "alice");
    assert_eq!(v[0]["details"]["reason"], "wrong_password");
    assert!(
        !body.windows(8).any(|w| w == b"Wrong-pa"),
        "a password reached the audit log"
    );
    let (_, _, body) = get(
        &c,
        &s.url("/api/v1/audit?actor=audrey&type=login_succeeded"),
        Some(&tok),
    )
    .await;
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (_, _, body) = get(
        &c,
        &s.url(&format!("/api/v1/audit?since={before}&limit=2")),
        Some(&tok),
    )
    .await;
    assert_eq!(json(&body).as_array().unwrap().len(), 2);
    let (_, _, body) = get(&c, &s.url("/api/v1/audit?until=1"), Some(&tok)).await;
    assert_eq!(json(&body).as_array().unwrap().len(), 0);
    let (st, _, body) = get(&c, &s.url("/api/v1/audit?bogus=1"), Some(&tok)).await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["field"], "bogus");
    let (st, _, _) = get(&c, &s.url("/api/v1/audit?limit=0"), Some(&tok)).await;
    assert_eq!(st, 422);
    // A trader may not read it.
    s.add_user("tom", "trader").await;
    let tt = login(&s, &c, "tom").await;
    let (st, _, _) = get(&c, &s.url("/api/v1/audit"), Some(&access(&tt))).await;
    assert_eq!(st, 403);
    s.stop().await;
}

async fn signing_key_rotation(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    let c = s.client();
    let old = login(&s, &c, "alice").await;
    let old_key = s.signing_key();
    // What `cryptobot token rotate-signing-key` writes.
    let list = cryptobot_service::signing_keys::retire(Default::default(), &old_key, now(), 900);
    std::fs::write(
        cryptobot_service::signing_keys::retired_path(&s.layout),
        serde_json::to_vec(&list).unwrap(),
    )
    .unwrap();
    let (new_key, pem) = cryptobot_auth::SigningKey::generate().unwrap();
    std::fs::write(s.layout.secret("jwt_signing.key"), pem.as_bytes()).unwrap();
    let state = s.running.as_ref().unwrap().state().clone();
    state.set_key_ring(cryptobot_service::signing_keys::load(&s.layout, now()).unwrap());

    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&old))).await;
    assert_eq!(
        st, 200,
        "tokens of the retired key stay valid until they expire"
    );
    let new = login(&s, &c, "alice").await;
    let header: Value =
        serde_json::from_slice(&B64.decode(access(&new).split('.').next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(header["kid"], new_key.kid());
    let (_, _, body) = get(&c, &s.url("/.well-known/jwks.json"), None).await;
    let kids: Vec<String> = json(&body)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(kids.contains(&old_key.kid().to_string()) && kids.contains(&new_key.kid().to_string()));
    // Once the retired key's tokens have expired it is no longer accepted.
    state.set_key_ring(cryptobot_service::signing_keys::load(&s.layout, now() + 2000).unwrap());
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&old))).await;
    assert_eq!(st, 401);
    s.stop().await;
}

async fn rehash_on_login(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    // Created with other (older) parameters than the server's.
    let old = cryptobot_auth::PasswordHasher::with_params(16, 1, 1).unwrap();
    let hash = old
        .hash(&secrecy::SecretString::from(PASSWORD.to_string()))
        .unwrap();
    s.store
        .create_user(&cryptobot_store::NewUser {
            username: "olga".into(),
            role: "viewer".into(),
            password_hash: hash.clone(),
            now: now(),
        })
        .await
        .unwrap();
    let c = s.client();
    login(&s, &c, "olga").await;
    let after = s
        .store
        .user_by_name("olga")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_ne!(after, hash);
    assert!(
        after.starts_with("$argon2id$") && after.contains("m=8,"),
        "{after}"
    );
    login(&s, &c, "olga").await;
    s.stop().await;
}

async fn every_scope_is_enforced(db: Db) {
    // For every operation that declares a scope, a role without it gets 403.
    let s = TestServer::start(db, |_| {}).await;
    for role in ["admin", "trader", "viewer", "auditor"] {
        s.add_user(role, role).await;
    }
    let c = s.client();
    let mut tokens = std::collections::HashMap::new();
    for role in ["admin", "trader", "viewer", "auditor"] {
        tokens.insert(role, access(&login(&s, &c, role).await));
    }
    let doc = cryptobot_server::openapi::openapi_value();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(scope) = op["security"][0]["bearer"][0].as_str() else {
                continue;
            };
            let scope: cryptobot_auth::Scope = scope.parse().unwrap();
            for role in ["trader", "viewer", "auditor"] {
                let r: cryptobot_auth::Role = role.parse().unwrap();
                if r.scopes().contains(&scope) {
                    continue;
                }
                let concrete = path.replace("{username}", "admin").replace("{id}", "x");
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let resp = c
                    .request(m, s.url(&concrete))
                    .bearer_auth(&tokens[role])
                    .json(&json!({"role": "viewer"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 403, "{role} on {method} {path}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} checks");
    s.stop().await;
}

async fn admin_user_management(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("alice", "admin").await;
    s.add_user("bob", "trader").await;
    let c = s.client();
    let a = access(&login(&s, &c, "alice").await);
    let b = login(&s, &c, "bob").await;
    let role_url = s.url("/api/v1/users/bob/role");
    let resp = c
        .put(&role_url)
        .bearer_auth(&a)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(&resp.bytes().await.unwrap())["role"], "viewer");
    let resp = c
        .put(&role_url)
        .bearer_auth(&a)
        .json(&json!({"role": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(json(&resp.bytes().await.unwrap())["field"], "role");
    let resp = c
        .put(s.url("/api/v1/users/alice/role"))
        .bearer_auth(&a)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/nobody/disable"),
        Some(&a),
        &json!({}),
    )
    .await;
    assert_eq!(st, 404);
    // Disabling ends bob's sessions at once; enabling lets him sign in again.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/bob/disable"),
        Some(&a),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&b))).await;
    assert_eq!(st, 401);
    let (st, _, _) = post(&c, &s.url("/api/v1/users/bob/enable"), Some(&a), &json!({})).await;
    assert_eq!(st, 200);
    let b2 = login(&s, &c, "bob").await;
    assert!(
        !b2["scope"].as_str().unwrap().contains("trade:execute"),
        "role change applies"
    );
    s.stop().await;
}

async fn slow_request_times_out(db: Db) {
    let s = TestServer::start(db, |st| st.server.request_timeout_seconds = 1).await;
    let ca = s.home.path().join("ca.pem");
    std::fs::write(&ca, &s.cert_pem).unwrap();
    // The body trickles in slower than the timeout allows.
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 4; echo '{{}}') | curl -sS --max-time 20 --cacert {} --resolve localhost:{}:127.0.0.1 \
             -H 'content-type: application/json' -X POST -T - \
             -D - {}",
            ca.display(),
            s.addr.port(),
            s.url("/api/v1/auth/login")
        ))
        .output()
        .await
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    // (curl first shows the `100 Continue` interim response.)
    assert!(
        head.contains("http/1.1 408"),
        "{head}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    s.stop().await;
}

async fn forwarded_headers_only_from_trusted_proxies(db: Db) {
    let s = TestServer::start(db, |st| {
        st.server.trusted_proxies = vec!["127.0.0.1".into()];
        st.security.rate_limiting.login_free_failures = 1;
        st.security.rate_limiting.login_delay_base_seconds = 30;
    })
    .await;
    s.add_user("alice", "admin").await;
    let login_from = |from: [u8; 4], header: (&'static str, &'static str)| {
        let c = s.client_from(IpAddr::from(from));
        let url = s.url("/api/v1/auth/login");
        async move {
            let resp = c
                .post(url)
                .header(header.0, header.1)
                .json(&json!({"username": "alice", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let t: Value = resp.json().await.unwrap();
            access(&t)
        }
    };
    let addr_of = |token: String| {
        let c = s.client();
        let url = s.url("/api/v1/sessions");
        async move {
            let (_, _, body) = get(&c, &url, Some(&token)).await;
            let v = json(&body);
            v.as_array()
                .unwrap()
                .iter()
                .find(|x| x["current"] == true)
                .unwrap()["client_addr"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // Through the trusted proxy: the forwarded client counts.
    let t = login_from([127, 0, 0, 1], ("x-forwarded-for", "198.51.100.7")).await;
    assert_eq!(addr_of(t).await, "198.51.100.7");
    let t = login_from(
        [127, 0, 0, 1],
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
    )
    .await;
    assert_eq!(addr_of(t).await, "203.0.113.9", "the nearest untrusted hop");
    let t = login_from(
        [127, 0, 0, 1],
        ("forwarded", "for=\"[2001:db8::5]:4711\";proto=https"),
    )
    .await;
    assert_eq!(addr_of(t).await, "2001:db8::5");
    // From anyone else the header is ignored.
    let t = login_from([127, 0, 0, 2], ("x-forwarded-for", "198.51.100.8")).await;
    assert_eq!(addr_of(t).await, "127.0.0.2");
    // A spoofed header does not reset the per-address delay.
    let c = s.client_from(IpAddr::from([127, 0, 0, 3]));
    let url = s.url("/api/v1/auth/login");
    for (i, fake) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        let resp = c
            .post(&url)
            .header("x-forwarded-for", *fake)
            .json(&json!({"username": "alice", "password": "Wrong-password-9"}))
            .send()
            .await
            .unwrap();
        let want = if i < 2 { 401 } else { 429 };
        assert_eq!(
            resp.status(),
            want,
            "attempt {i} with X-Forwarded-For {fake}"
        );
    }
    s.stop().await;
}

async fn api_calls_are_limited(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.api_requests_per_minute = 60;
        st.security.rate_limiting.burst = 5;
    })
    .await;
    s.add_user("alice", "admin").await;
    // Unauthenticated: per address. The login itself is one call.
    let c = s.client_from(IpAddr::from([127, 0, 0, 20]));
    let t = access(&login(&s, &c, "alice").await);
    let url = s.url("/api/v1/sessions");
    let mut last = None;
    for i in 0..5 {
        let (st, h, _) = get(&c, &url, Some(&t)).await;
        assert_eq!(st, 200, "call {i} within the burst");
        assert_eq!(h["ratelimit-limit"], "60");
        last = Some(
            h["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(last, Some(0));
    let (st, h, body) = get(&c, &url, Some(&t)).await;
    assert_problem(st, &h, &body, 429, "too-many-requests");
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(h.contains_key("ratelimit-reset"));
    // Another session of the same user from elsewhere has its own budget.
    let c2 = s.client_from(IpAddr::from([127, 0, 0, 21]));
    let t2 = access(&login(&s, &c2, "alice").await);
    let (st, _, _) = get(&c2, &url, Some(&t2)).await;
    assert_eq!(st, 200);
    // Unauthenticated calls from one address share a budget.
    let c3 = s.client_from(IpAddr::from([127, 0, 0, 22]));
    let mut codes = Vec::new();
    for _ in 0..7 {
        let (st, _, _) = get(&c3, &s.url("/healthz"), None).await;
        codes.push(st);
    }
    assert_eq!(codes[..5], [200; 5]);
    assert!(codes[5..].iter().all(|c| *c == 429), "{codes:?}");
    s.stop().await;
}

/// With the default limits a client address gets 5 sign-in attempts at
/// once (`login_burst`), not the API's 20: the 6th immediate attempt is
/// 429 with `Retry-After`, even with the right password for a fresh
/// account. Another address is not affected.
async fn default_sign_in_burst(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting = cryptobot_config::RateLimiting::default();
    })
    .await;
    assert_eq!(s.settings.security.rate_limiting.login_burst, 5);
    let users: Vec<String> = (0..6).map(|i| format!("burst{i}")).collect();
    for u in &users {
        s.add_user(u, "viewer").await;
    }
    let c = s.client_from(IpAddr::from([127, 0, 0, 40]));
    let url = s.url("/api/v1/auth/login");
    for u in &users[..5] {
        let (st, _, body) = post(
            &c,
            &url,
            None,
            &json!({"username": u, "password": PASSWORD}),
        )
        .await;
        assert_eq!(st, 200, "{u}: {}", String::from_utf8_lossy(&body));
    }
    let (st, h, body) = post(
        &c,
        &url,
        None,
        &json!({"username": users[5], "password": PASSWORD}),
    )
    .await;
    assert_problem(st, &h, &body, 429, "too-many-requests");
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(
        json(&body)["detail"]
            .as_str()
            .unwrap()
            .contains("more than 5 sign-in attempts"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let other = s.client_from(IpAddr::from([127, 0, 0, 41]));
    login(&s, &other, &users[5]).await;
    s.stop().await;
}
