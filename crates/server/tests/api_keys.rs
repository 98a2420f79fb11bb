//! Service API keys end to end against a real HTTPS server, on SQLite and
//! PostgreSQL: creation behind MFA, `Authorization: ApiKey` on scoped
//! endpoints, scope narrowing by role, session-only endpoints, rotation
//! with a grace period, revocation, expiry, the per-user limit, the per-key
//! rate limit, audit events, and database dumps without key secrets.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::*;
use cryptobot_service::clock::now;
use cryptobot_store::{KeyInsert, NewServiceKey};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

on_both!(
    api_key_lifecycle,
    api_key_rate_limit_and_no_grace,
    api_key_secrets_are_not_in_database_dumps
);

/// A request with `Authorization: ApiKey <key>`.
async fn with_key(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = c
        .request(method.clone(), url)
        .header("authorization", format!("ApiKey {key}"));
    if method == reqwest::Method::POST {
        r = r.json(&json!({}));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        json(&bytes)
    };
    (status, headers, body)
}

async fn key_get(c: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let (st, _, body) = with_key(c, reqwest::Method::GET, url, key).await;
    (st, body)
}

async fn delete(c: &reqwest::Client, url: &str, token: &str) -> u16 {
    c.delete(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Enrolls and confirms TOTP in the session of `token`, then steps up
/// with a backup code (confirming alone is not a step-up).
async fn enroll_mfa(s: &TestServer, c: &reqwest::Client, token: &str) {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/enroll"),
        Some(token),
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let secret = json(&body)["secret"].as_str().unwrap().to_string();
    let raw = cryptobot_auth::base32_decode(&secret).unwrap();
    let code = cryptobot_auth::totp_code(&raw, now());
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/confirm"),
        Some(token),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let backup = json(&body)["backup_codes"][0].as_str().unwrap().to_string();
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/auth/step-up"),
        Some(token),
        &json!({"code": backup}),
    )
    .await;
    assert_eq!(st, 204, "{}", String::from_utf8_lossy(&body));
}

async fn create_key(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let (st, _, bytes) = post(c, &s.url("/api/v1/api-keys"), Some(token), body).await;
    (st, json(&bytes))
}

async fn events(s: &TestServer, name: &str) -> Vec<cryptobot_store::AuditRecord> {
    s.store
        .query_audit(&cryptobot_store::AuditQuery {
            event: Some(name.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn api_key_lifecycle(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.api_keys.max_keys_per_user = 4;
        st.security.api_keys.rotation_grace_hours = 24;
        st.security.mfa.required_for_api_key_creation = true;
    })
    .await;
    s.add_user("ada", "admin").await;
    s.add_user("tom", "trader").await;
    let c = s.client();
    let list_url = s.url("/api/v1/api-keys");

    // Without a second factor in the session: refused, and nothing stored.
    let t = access(&login(&s, &c, "ada").await);
    let body = json!({"name": "ops", "scopes": ["users:read"]});
    let (st, p) = create_key(&s, &c, &t, &body).await;
    assert_eq!(st, 403, "{p}");
    assert_eq!(p["type"], "urn:cryptobot:problem:mfa-enrollment-required");
    assert!(s.store.list_service_keys(None).await.unwrap().is_empty());

    enroll_mfa(&s, &c, &t).await;

    // Bad bodies name the field.
    for (bad, field) in [
        (json!({"name": "", "scopes": ["users:read"]}), "name"),
        (json!({"name": "a\nb", "scopes": ["users:read"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (
            json!({"name": "x", "scopes": ["users:everything"]}),
            "scopes",
        ),
        (
            json!({"name": "x", "scopes": ["users:read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "scopes": ["users:read"], "secret": "mine"}),
            "secret",
        ),
    ] {
        let (st, p) = create_key(&s, &c, &t, &bad).await;
        assert_eq!(st, 422, "{bad}: {p}");
        assert_eq!(p["field"], field, "{bad}: {p}");
    }

    // Created: the key is shown once, with its metadata.
    let (st, created) = create_key(
        &s,
        &c,
        &t,
        &json!({"name": "ops", "scopes": ["users:read", "audit:read", "account:self"], "expires_in_days": 30}),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("cbk_{id}_")), "{created}");
    assert_eq!(key.len(), cryptobot_auth::API_KEY_LEN);
    assert_eq!(
        created["scopes"],
        json!(["users:read", "audit:read", "account:self"])
    );
    assert_eq!(created["owner"], "ada");
    assert_eq!(created["status"], "active");
    let exp = created["expires_at"].as_i64().unwrap();
    assert!((exp - (now() + 30 * 86_400)).abs() < 60, "{created}");

    // The key works on scoped endpoints …
    let (st, users) = key_get(&c, &s.url("/api/v1/users"), &key).await;
    assert_eq!(st, 200, "{users}");
    assert!(users.as_array().unwrap().len() >= 2);
    let (st, _) = key_get(&c, &s.url("/api/v1/audit?limit=5"), &key).await;
    assert_eq!(st, 200);
    // … but not beyond its own scopes, though its owner is an admin.
    let (st, _, p) = with_key(
        &c,
        reqwest::Method::POST,
        &s.url("/api/v1/users/tom/unlock"),
        &key,
    )
    .await;
    assert_eq!(st, 403, "{p}");
    assert_eq!(p["type"], "urn:cryptobot:problem:forbidden");
    assert!(
        p["detail"].as_str().unwrap().contains("users:manage"),
        "{p}"
    );
    let denied = events(&s, "permission_denied").await;
    assert!(
        denied.iter().any(
            |e| e.event.actor.as_deref() == Some(&format!("ada/apikey:{id}"))
                && e.event.details["scope"] == "users:manage"
        ),
        "{denied:?}"
    );

    // Endpoints for a signed-in person refuse keys with a clear 403.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/sessions"),
        (reqwest::Method::POST, "/api/v1/auth/logout"),
        (reqwest::Method::GET, "/api/v1/mfa"),
        (reqwest::Method::POST, "/api/v1/api-keys"),
        (reqwest::Method::POST, "/api/v1/auth/step-up"),
    ] {
        let (st, _, p) = with_key(&c, method, &s.url(path), &key).await;
        assert_eq!(st, 403, "{path}: {p}");
        assert!(
            p["detail"].as_str().unwrap().contains("signed-in session"),
            "{path}: {p}"
        );
    }
    // Nor may a key change roles (no scope, and no session to step up).
    let resp = c
        .put(s.url("/api/v1/users/tom/role"))
        .header("authorization", format!("ApiKey {key}"))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // Scope narrowing by the owner's current role: a viewer's key reads no
    // audit log, whatever the key says.
    let ada = s.store.user_by_name("ada").await.unwrap().unwrap();
    s.store.set_role(&ada.id, "auditor").await.unwrap();
    let (st, _) = key_get(&c, &s.url("/api/v1/audit"), &key).await;
    assert_eq!(st, 200, "auditors read the audit log");
    s.store.set_role(&ada.id, "viewer").await.unwrap();
    let (st, _) = key_get(&c, &s.url("/api/v1/audit"), &key).await;
    assert_eq!(st, 403);
    s.store.set_role(&ada.id, "admin").await.unwrap();
    // A disabled owner's keys stop working.
    s.store.set_disabled(&ada.id, true).await.unwrap();
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &key).await;
    assert_eq!(st, 401);
    s.store.set_disabled(&ada.id, false).await.unwrap();

    // Malformed, unknown and wrong keys: 401 like a bad token, audited
    // with a reason and never the secret.
    let wrong_secret = format!("cbk_{id}_{}", "a".repeat(52));
    let unknown = format!("cbk_{}_{}", "b".repeat(12), "a".repeat(52));
    for bad in ["nonsense", "cbk_", unknown.as_str(), wrong_secret.as_str()] {
        let (st, h, p) = with_key(&c, reqwest::Method::GET, &s.url("/api/v1/users"), bad).await;
        assert_eq!(st, 401, "{bad}: {p}");
        assert_eq!(p["type"], "urn:cryptobot:problem:unauthorized");
        assert!(h.contains_key("www-authenticate"));
    }
    let refused = events(&s, "api_key_refused").await;
    let reasons: Vec<&str> = refused
        .iter()
        .filter_map(|e| e.event.details["reason"].as_str())
        .collect();
    for r in ["malformed", "unknown_key", "wrong_secret", "owner_disabled"] {
        assert!(reasons.contains(&r), "{reasons:?}");
    }
    let audit_text = format!("{refused:?}");
    assert!(
        !audit_text.contains(&"a".repeat(52)),
        "a secret was audited"
    );

    // A second key with trade scopes only, made by a trader.
    let tt = access(&login(&s, &c, "tom").await);
    enroll_mfa(&s, &c, &tt).await;
    let (st, p) = create_key(
        &s,
        &c,
        &tt,
        &json!({"name": "strategy", "scopes": ["trade:execute", "users:manage"]}),
    )
    .await;
    assert_eq!(st, 403, "a scope beyond the caller's own: {p}");
    let (st, strat) = create_key(
        &s,
        &c,
        &tt,
        &json!({"name": "strategy", "scopes": ["trade:execute"]}),
    )
    .await;
    assert_eq!(st, 201, "{strat}");
    let strat_key = strat["key"].as_str().unwrap().to_string();
    let strat_id = strat["id"].as_str().unwrap().to_string();
    let exp = strat["expires_at"].as_i64().unwrap();
    assert!((exp - (now() + 90 * 86_400)).abs() < 60, "default 90 days");
    // No account:self: it cannot even list keys.
    let (st, _) = key_get(&c, &list_url, &strat_key).await;
    assert_eq!(st, 403);

    // Listings: own keys only, never secrets or digests; last use shown.
    let (st, _, bytes) = get(&c, &list_url, Some(&t)).await;
    assert_eq!(st, 200);
    let text = String::from_utf8_lossy(&bytes).to_string();
    assert!(
        !text.contains(&key[17..]) && !text.contains("hash"),
        "{text}"
    );
    let mine = json(&bytes);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], id.as_str());
    assert!(mine[0]["last_used_at"].as_i64().is_some(), "{mine}");
    let (st, _, bytes) = get(&c, &list_url, Some(&tt)).await;
    assert_eq!(st, 200);
    assert_eq!(json(&bytes)[0]["id"], strat_id.as_str());
    // Admins see others' keys; traders may not ask.
    let (st, _, bytes) = get(&c, &s.url("/api/v1/api-keys?user=tom"), Some(&t)).await;
    assert_eq!(st, 200);
    assert_eq!(json(&bytes)[0]["owner"], "tom");
    let (st, _, bytes) = get(&c, &s.url("/api/v1/api-keys?all=true"), Some(&t)).await;
    assert_eq!((st, json(&bytes).as_array().unwrap().len()), (200, 2));
    let (st, _, _) = get(&c, &s.url("/api/v1/api-keys?user=ada"), Some(&tt)).await;
    assert_eq!(st, 403);
    let (st, _, _) = get(&c, &s.url("/api/v1/api-keys?bogus=1"), Some(&t)).await;
    assert_eq!(st, 422);

    // Rotation: a new key once; old and new both work in the grace period.
    let rotate_url = s.url(&format!("/api/v1/api-keys/{id}/rotate"));
    let (st, _, p) = with_key(&c, reqwest::Method::POST, &rotate_url, &key).await;
    assert_eq!(st, 403, "keys do not rotate themselves: {p}");
    let (st, _, p) = post(&c, &rotate_url, Some(&tt), &json!({})).await;
    assert_eq!(st, 404, "not tom's key: {}", String::from_utf8_lossy(&p));
    let (st, _, bytes) = post(&c, &rotate_url, Some(&t), &json!({})).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
    let rotated = json(&bytes);
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert!(new_key.starts_with(&format!("cbk_{id}_")));
    let grace_end = rotated["previous_valid_until"].as_i64().unwrap();
    assert!((grace_end - (now() + 24 * 3600)).abs() < 60, "{rotated}");
    assert_eq!(rotated["expires_at"], created["expires_at"], "expiry kept");
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &key).await;
    assert_eq!(st, 200, "the old secret works during the grace period");
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &key).await;
    assert_eq!(st, 200);
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &new_key).await;
    assert_eq!(st, 200);
    // ...but its use is reported, once per key and hour, with the address.
    let old_used = events(&s, "api_key_previous_secret_used").await;
    assert_eq!(old_used.len(), 1, "{old_used:?}");
    assert_eq!(old_used[0].event.details["key"], id.as_str());
    assert!(old_used[0].event.client_addr.is_some(), "{old_used:?}");
    // The grace period ends (moved into the past through the store): only
    // the new secret works.
    let rec = s.store.service_key(&id).await.unwrap().unwrap();
    s.store
        .rotate_service_key(&id, &rec.secret_hash, now(), now() - 1, rec.expires_at)
        .await
        .unwrap()
        .unwrap();
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &key).await;
    assert_eq!(st, 401, "the old secret after the grace period");
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &new_key).await;
    assert_eq!(st, 200);
    // A new lifetime can be set on rotation.
    let (st, _, bytes) = post(
        &c,
        &s.url(&format!("/api/v1/api-keys/{id}/rotate?expires_in_days=7")),
        Some(&t),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    let again = json(&bytes);
    let exp = again["expires_at"].as_i64().unwrap();
    assert!((exp - (now() + 7 * 86_400)).abs() < 60, "{again}");
    let newest = again["key"].as_str().unwrap().to_string();

    // Revocation: the key (both secrets) stops at once.
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &new_key).await;
    assert_eq!(st, 200, "previous secret in its grace period");
    let revoke_url = s.url(&format!("/api/v1/api-keys/{id}"));
    assert_eq!(delete(&c, &revoke_url, &tt).await, 404, "not tom's key");
    assert_eq!(delete(&c, &revoke_url, &t).await, 204);
    for k in [&newest, &new_key] {
        let (st, _) = key_get(&c, &s.url("/api/v1/users"), k).await;
        assert_eq!(st, 401, "revoked");
    }
    let (st, _, bytes) = post(&c, &rotate_url, Some(&t), &json!({})).await;
    assert_eq!(st, 409, "{}", String::from_utf8_lossy(&bytes));
    let (_, _, bytes) = get(&c, &list_url, Some(&t)).await;
    assert_eq!(json(&bytes)[0]["status"], "revoked");
    // An admin may revoke anyone's key.
    assert_eq!(
        delete(&c, &s.url(&format!("/api/v1/api-keys/{strat_id}")), &t).await,
        204
    );

    // Expired: a key stored with a past expiry is refused.
    let fresh = cryptobot_auth::new_api_key().unwrap();
    let inserted = s
        .store
        .insert_service_key(
            &NewServiceKey {
                id: fresh.id.clone(),
                user_id: ada.id.clone(),
                name: "old".into(),
                scopes: "users:read".into(),
                secret_hash: fresh.secret_hash.clone(),
                now: now() - 100,
                expires_at: Some(now() - 10),
            },
            10,
        )
        .await
        .unwrap();
    assert!(matches!(inserted, KeyInsert::Created(_)));
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), fresh.key.expose_secret()).await;
    assert_eq!(st, 401, "expired");
    let refused = events(&s, "api_key_refused").await;
    let reasons: Vec<&str> = refused
        .iter()
        .filter_map(|e| e.event.details["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"revoked") && reasons.contains(&"expired"),
        "{reasons:?}"
    );

    // The limit: revoked and expired keys do not count.
    for i in 0..4 {
        let (st, p) = create_key(
            &s,
            &c,
            &t,
            &json!({"name": format!("k{i}"), "scopes": ["users:read"]}),
        )
        .await;
        assert_eq!(st, 201, "{i}: {p}");
    }
    let (st, p) = create_key(&s, &c, &t, &json!({"name": "k5", "scopes": ["users:read"]})).await;
    assert_eq!(st, 409, "{p}");
    assert_eq!(p["type"], "urn:cryptobot:problem:limit-reached");
    assert!(
        p["detail"].as_str().unwrap().contains("max_keys_per_user"),
        "{p}"
    );

    // Every operation is in the audit log; a key's first call once.
    for e in ["api_key_created", "api_key_rotated", "api_key_revoked"] {
        assert!(!events(&s, e).await.is_empty(), "{e}");
    }
    let first = events(&s, "api_key_first_use").await;
    assert_eq!(
        first
            .iter()
            .filter(|e| e.event.details["key"] == id.as_str())
            .count(),
        1,
        "{first:?}"
    );
    let created_events = events(&s, "api_key_created").await;
    assert!(
        created_events
            .iter()
            .any(|e| e.event.details["key"] == id.as_str())
    );
    let all = format!("{:?}", events(&s, "api_key_rotated").await);
    assert!(!all.contains(&new_key[17..]) && !all.contains(&key[17..]));

    s.stop().await;
}

/// The per-key limit answers 429 with the usual headers; with no grace
/// period the old secret stops at once.
async fn api_key_rate_limit_and_no_grace(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.api_key_requests_per_minute = 1;
        st.security.rate_limiting.burst = 2;
        st.security.api_keys.rotation_grace_hours = 0;
        st.security.mfa.required_for_api_key_creation = false;
    })
    .await;
    s.add_user("ada", "admin").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ada").await);
    // MFA is not required by this configuration.
    let (st, created) = create_key(
        &s,
        &c,
        &t,
        &json!({"name": "bot", "scopes": ["users:read"]}),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let url = s.url("/api/v1/users");
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let (st, h, p) = with_key(&c, reqwest::Method::GET, &url, &key).await;
        statuses.push(st);
        last = Some((h, p));
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (h, p) = last.unwrap();
    assert_eq!(p["type"], "urn:cryptobot:problem:too-many-requests");
    assert_eq!(h["ratelimit-limit"], "1");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert!(h.contains_key("retry-after"));
    // The session's own limit is separate.
    let (st, _, _) = get(&c, &url, Some(&t)).await;
    assert_eq!(st, 200);

    // No grace: after rotation the old secret is refused at once.
    let id = created["id"].as_str().unwrap();
    let (st, _, bytes) = post(
        &c,
        &s.url(&format!("/api/v1/api-keys/{id}/rotate")),
        Some(&t),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    assert!(json(&bytes)["previous_valid_until"].is_null());
    let rec = s.store.service_key(id).await.unwrap().unwrap();
    assert!(rec.previous_valid_until.unwrap() <= now());
    let (st, _) = key_get(&c, &url, &key).await;
    assert_eq!(st, 401, "the old secret, without a grace period");
    s.stop().await;
}

/// `sqlite3 .dump` / `pg_dump` of a database with keys made, rotated and
/// used hold no key secret; only the digests are there.
async fn api_key_secrets_are_not_in_database_dumps(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.mfa.required_for_api_key_creation = false;
    })
    .await;
    s.add_user("ada", "admin").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ada").await);
    let mut secrets = Vec::new();
    for i in 0..3 {
        let (st, k) = create_key(
            &s,
            &c,
            &t,
            &json!({"name": format!("svc{i}"), "scopes": ["users:read", "account:self"]}),
        )
        .await;
        assert_eq!(st, 201);
        let key = k["key"].as_str().unwrap().to_string();
        let (st, _) = key_get(&c, &s.url("/api/v1/api-keys"), &key).await;
        assert_eq!(st, 200);
        secrets.push(key);
    }
    let id = secrets[0][4..16].to_string();
    let (st, _, bytes) = post(
        &c,
        &s.url(&format!("/api/v1/api-keys/{id}/rotate")),
        Some(&t),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    secrets.push(json(&bytes)["key"].as_str().unwrap().to_string());
    // A refused attempt with a real secret under a wrong id is audited
    // without it.
    let wrong = format!("cbk_{}_{}", "q".repeat(12), &secrets[1][17..]);
    let (st, _) = key_get(&c, &s.url("/api/v1/users"), &wrong).await;
    assert_eq!(st, 401);

    let dump = String::from_utf8_lossy(&s.tool_dump()).into_owned();
    assert!(dump.contains("service_keys"), "the dump has the table");
    assert!(dump.contains("password_hash"), "the dump has the accounts");
    let raw = String::from_utf8_lossy(&s.dump()).into_owned();
    for key in &secrets {
        let secret = &key[17..];
        assert_eq!(secret.len(), 52);
        for (what, hay) in [("tool dump", &dump), ("raw dump", &raw)] {
            assert!(!hay.contains(secret), "{what} holds a key secret");
            assert!(!hay.contains(secret.to_uppercase().as_str()), "{what}");
        }
        // What is stored is the digest.
        let digest = cryptobot_auth::hash_opaque_token(secret);
        assert!(
            dump.contains(&digest) || key == &secrets[0],
            "the digest of each current secret is stored"
        );
    }
    s.stop().await;
}
