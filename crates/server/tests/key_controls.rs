//! What limits an exchange key beyond its permissions, over real HTTPS on
//! SQLite and PostgreSQL: grants decide who may sign with a key and who
//! sees it; service API keys need their own grant; with two admins,
//! enabling withdraw and adding a withdrawal address wait for the second;
//! each key has a signing limit; OKX keys hand out their passphrase only
//! when added with `passphrase_in_headers`.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::*;
use cryptobot_service::clock::{now, now_ms};
use cryptobot_store::{AuditQuery, AuditRecord, KeyInsert, NewServiceKey};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

on_both!(
    grants_decide_who_signs_and_who_sees_a_key,
    withdraw_and_new_addresses_wait_for_a_second_admin,
    each_key_has_a_signing_limit,
    okx_passphrase_in_headers_is_opt_in,
);

const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

async fn add_binance(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    label: &str,
    permissions: &[&str],
) -> Value {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/exchange-keys"),
        Some(token),
        &json!({"exchange": "binance", "label": label, "api_key": BINANCE_KEY,
                "secret": BINANCE_SECRET, "permissions": permissions}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    json(&body)
}

fn read_request() -> Value {
    json!({"method": "GET", "path": "/api/v3/account",
           "query": format!("omitZeroBalances=true&timestamp={}", now_ms())})
}

async fn sign_as(
    s: &TestServer,
    c: &reqwest::Client,
    auth: &str,
    key: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = c
        .post(s.url(&format!("/api/v1/exchange-keys/{key}/sign")))
        .header("authorization", auth)
        .json(&read_request())
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    let headers = resp.headers().clone();
    (st, headers, json(&resp.bytes().await.unwrap()))
}

async fn delete(c: &reqwest::Client, url: &str, token: &str) -> (u16, Vec<u8>) {
    let r = c.delete(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn put(c: &reqwest::Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = c
        .put(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), json(&r.bytes().await.unwrap()))
}

async fn audit(s: &TestServer, event: &str) -> Vec<AuditRecord> {
    s.store
        .query_audit(&AuditQuery {
            event: Some(event.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn listed(s: &TestServer, c: &reqwest::Client, token: &str) -> Vec<String> {
    let (st, _, body) = get(c, &s.url("/api/v1/exchange-keys"), Some(token)).await;
    assert_eq!(st, 200);
    json(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

async fn grants_decide_who_signs_and_who_sees_a_key(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    s.add_user("tina", "trader").await;
    s.add_user("tom", "trader").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let tina = access(&login(&s, &c, "tina").await);
    let tom = access(&login(&s, &c, "tom").await);
    let id = add_binance(&s, &c, &admin, "bot", &["read", "trade"]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    grant_user(&s, &c, &admin, &id, "tina").await;

    // The adding admin holds a grant; admins see and use every key.
    let (st, _, body) = get(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants")),
        Some(&admin),
    )
    .await;
    assert_eq!(st, 200);
    let mut names: Vec<String> = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["root", "tina"]);
    assert_eq!(
        sign_as(&s, &c, &format!("Bearer {admin}"), &id).await.0,
        200
    );
    assert_eq!(sign_as(&s, &c, &format!("Bearer {tina}"), &id).await.0, 200);

    // A second trader without a grant: 403, audited, and the key is not
    // in their list.
    assert!(listed(&s, &c, &tom).await.is_empty());
    assert_eq!(listed(&s, &c, &tina).await, vec![id.clone()]);
    let (st, _, p) = sign_as(&s, &c, &format!("Bearer {tom}"), &id).await;
    assert_eq!(st, 403, "{p}");
    assert_eq!(p["type"], json!("urn:cryptobot:problem:forbidden"));
    assert!(p["detail"].as_str().unwrap().contains("no grant"), "{p}");
    let denied = audit(&s, "exchange_key_access_denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].event.actor.as_deref(), Some("tom"));
    assert_eq!(denied[0].event.details["operation"], json!("sign"));

    // Granted: signs. Grant withdrawn: refused on the next request.
    grant_user(&s, &c, &admin, &id, "tom").await;
    assert_eq!(listed(&s, &c, &tom).await, vec![id.clone()]);
    assert_eq!(sign_as(&s, &c, &format!("Bearer {tom}"), &id).await.0, 200);
    let (st, body) = delete(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants/users/tom")),
        &admin,
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(sign_as(&s, &c, &format!("Bearer {tom}"), &id).await.0, 403);
    assert!(listed(&s, &c, &tom).await.is_empty());
    assert_eq!(audit(&s, "exchange_key_granted").await.len(), 2);
    assert_eq!(audit(&s, "exchange_key_grant_revoked").await.len(), 1);
    // Withdrawing a grant that is not there: 409, nothing changes.
    let (st, _) = delete(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants/users/tom")),
        &admin,
    )
    .await;
    assert_eq!(st, 409);
    // Traders cannot grant (no keys:manage).
    let (st, _, _) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants")),
        Some(&tina),
        &json!({"user": "tom"}),
    )
    .await;
    assert_eq!(st, 403);
    // Exactly one grantee per request.
    let (st, _, _) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants")),
        Some(&admin),
        &json!({"user": "tom", "api_key": "ak_x"}),
    )
    .await;
    assert_eq!(st, 422);

    // A service API key of tina with keys:sign: tina's grant is not its
    // grant; with its own grant it signs, without it 403.
    let tina_user = s.store.user_by_name("tina").await.unwrap().unwrap();
    let fresh = cryptobot_auth::new_api_key().unwrap();
    let inserted = s
        .store
        .insert_service_key(
            &NewServiceKey {
                id: fresh.id.clone(),
                user_id: tina_user.id.clone(),
                name: "strategy".into(),
                scopes: "keys:sign keys:read".into(),
                secret_hash: fresh.secret_hash.clone(),
                now: now(),
                expires_at: None,
            },
            10,
        )
        .await
        .unwrap();
    assert!(matches!(inserted, KeyInsert::Created(_)));
    let auth = format!("ApiKey {}", fresh.key.expose_secret());
    let (st, _, p) = sign_as(&s, &c, &auth, &id).await;
    assert_eq!(st, 403, "{p}");
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/grants")),
        Some(&admin),
        &json!({"api_key": fresh.id}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        json(&body)
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["kind"] == json!("api_key") && g["name"] == json!("strategy"))
    );
    let (st, _, p) = sign_as(&s, &c, &auth, &id).await;
    assert_eq!(st, 200, "{p}");
    let (st, _) = delete(
        &c,
        &s.url(&format!(
            "/api/v1/exchange-keys/{id}/grants/api-keys/{}",
            fresh.id
        )),
        &admin,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(sign_as(&s, &c, &auth, &id).await.0, 403);
    s.stop().await;
}

async fn approve(s: &TestServer, c: &reqwest::Client, token: &str, request: &str) -> (u16, Value) {
    let (st, _, body) = post(
        c,
        &s.url(&format!("/api/v1/approvals/{request}/approve")),
        Some(token),
        &json!({}),
    )
    .await;
    (st, json(&body))
}

async fn withdraw_and_new_addresses_wait_for_a_second_admin(db: Db) {
    let s = TestServer::start(db, |st| st.security.api_keys.allow_withdraw_keys = true).await;
    s.add_user("ada", "admin").await;
    s.add_user("bob", "admin").await;
    let c = s.client();
    let ada = access(&login(&s, &c, "ada").await);
    let bob = access(&login(&s, &c, "bob").await);

    // Two admins: a key declared with withdraw is stored without it, and
    // a request waits.
    let key = add_binance(&s, &c, &ada, "funds", &["read", "withdraw"]).await;
    let id = key["id"].as_str().unwrap().to_string();
    assert_eq!(key["permissions"], json!(["read"]));
    let pending = key["pending_approvals"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 1, "{key}");
    let request = pending[0].as_str().unwrap().to_string();
    let (st, _, body) = get(&c, &s.url("/api/v1/approvals"), Some(&bob)).await;
    assert_eq!(st, 200);
    let list = json(&body);
    assert_eq!(list[0]["id"], json!(request));
    assert_eq!(list[0]["kind"], json!("enable-withdraw"));
    assert_eq!(list[0]["status"], json!("pending"));
    assert_eq!(list[0]["detail"], json!("permissions read,withdraw"));
    assert_eq!(audit(&s, "approval_requested").await.len(), 1);

    // The admin who asked cannot approve; the second admin can.
    let (st, p) = approve(&s, &c, &ada, &request).await;
    assert_eq!(st, 403, "{p}");
    let (_, _, body) = get(&c, &s.url("/api/v1/exchange-keys"), Some(&ada)).await;
    assert_eq!(
        json(&body)[0]["permissions"],
        json!(["read"]),
        "still pending"
    );
    let (st, p) = approve(&s, &c, &bob, &request).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["status"], json!("approved"));
    assert_eq!(p["decided_by"], json!("bob"));
    let (_, _, body) = get(&c, &s.url("/api/v1/exchange-keys"), Some(&ada)).await;
    let now_key = &json(&body)[0];
    assert_eq!(now_key["permissions"], json!(["read", "withdraw"]));
    assert_eq!(now_key["pending_approvals"], json!([]));
    // Approved once: a second approval is refused.
    assert_eq!(approve(&s, &c, &bob, &request).await.0, 409);
    assert_eq!(audit(&s, "approval_granted").await.len(), 1);

    // Narrowing applies at once; widening again waits.
    let url = s.url(&format!("/api/v1/exchange-keys/{id}/permissions"));
    let (st, v) = put(&c, &url, &ada, &json!({"permissions": ["read"]})).await;
    assert_eq!((st, &v["permissions"]), (200, &json!(["read"])), "{v}");
    let (st, v) = put(
        &c,
        &url,
        &bob,
        &json!({"permissions": ["read", "withdraw"]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["permissions"], json!(["read"]));
    let request = v["pending_approvals"][0].as_str().unwrap().to_string();
    assert_eq!(approve(&s, &c, &bob, &request).await.0, 403, "bob asked");
    assert_eq!(approve(&s, &c, &ada, &request).await.0, 200);

    // A new withdrawal address waits too, and is unusable until approved.
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/addresses")),
        Some(&ada),
        &json!({"address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "network": "BTC"}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let added = json(&body);
    let request = added["approval"].as_str().unwrap().to_string();
    assert_eq!(added["address"]["active_from"], Value::Null);
    assert_eq!(added["address"]["usable_from"], Value::Null);
    let alerts = audit(&s, "withdraw_address_added").await;
    assert_eq!(alerts.len(), 1);
    let (st, v) = approve(&s, &c, &bob, &request).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["detail"],
        json!("address bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh on BTC")
    );
    let (_, _, body) = get(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/addresses")),
        Some(&ada),
    )
    .await;
    let book = json(&body);
    let from = book[0]["active_from"].as_i64().unwrap();
    assert!((now() - from).abs() < 60, "{book}");
    assert_eq!(
        book[0]["usable_from"].as_i64().unwrap(),
        from + 24 * 3600,
        "usable withdraw_address_delay_hours after approval"
    );
    // Unknown requests: 404.
    assert_eq!(approve(&s, &c, &bob, "apr_0000000000000000").await.0, 404);
    s.stop().await;
}

async fn each_key_has_a_signing_limit(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let key = add_binance(&s, &c, &admin, "bot", &["read"]).await;
    assert_eq!(key["max_signatures_per_minute"], json!(600), "the default");
    let id = key["id"].as_str().unwrap().to_string();
    let url = s.url(&format!("/api/v1/exchange-keys/{id}/limit"));
    let (st, v) = put(&c, &url, &admin, &json!({"max_signatures_per_minute": 2})).await;
    assert_eq!(
        (st, &v["max_signatures_per_minute"]),
        (200, &json!(2)),
        "{v}"
    );
    let auth = format!("Bearer {admin}");
    assert_eq!(sign_as(&s, &c, &auth, &id).await.0, 200);
    assert_eq!(sign_as(&s, &c, &auth, &id).await.0, 200);
    let (st, headers, p) = sign_as(&s, &c, &auth, &id).await;
    assert_eq!(st, 429, "{p}");
    assert!(headers.contains_key("retry-after"));
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute"),
        "{p}"
    );
    assert_eq!(audit(&s, "exchange_key_sign_limited").await.len(), 1);
    // Another key has its own budget.
    let other = add_binance(&s, &c, &admin, "other", &["read"]).await;
    let other = other["id"].as_str().unwrap();
    assert_eq!(sign_as(&s, &c, &auth, other).await.0, 200);
    // Out of range: refused, nothing changes.
    let (st, _) = put(&c, &url, &admin, &json!({"max_signatures_per_minute": 0})).await;
    assert_eq!(st, 422);
    let (st, v) = put(
        &c,
        &url,
        &admin,
        &json!({"max_signatures_per_minute": null}),
    )
    .await;
    assert_eq!((st, &v["max_signatures_per_minute"]), (200, &json!(600)));
    s.stop().await;
}

async fn okx_passphrase_in_headers_is_opt_in(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let add = |label: &str, opt_in: bool| {
        json!({"exchange": "okx", "label": label, "api_key": "okx-public-key-01",
               "secret": "okx-secret-0123456789ABCDEF", "passphrase": "okx pass phrase",
               "permissions": ["read"], "passphrase_in_headers": opt_in})
    };
    let url = s.url("/api/v1/exchange-keys");
    let (st, _, body) = post(&c, &url, Some(&admin), &add("plain", false)).await;
    assert_eq!(st, 201);
    let plain = json(&body)["id"].as_str().unwrap().to_string();
    let (st, _, body) = post(&c, &url, Some(&admin), &add("opted", true)).await;
    assert_eq!(st, 201);
    let opted = json(&body);
    assert_eq!(opted["passphrase_in_headers"], json!(true));
    let opted = opted["id"].as_str().unwrap().to_string();
    let req = json!({"method": "GET", "path": "/api/v5/account/balance", "timestamp": now_ms()});
    let sign = |id: String| {
        let c = c.clone();
        let req = req.clone();
        let u = s.url(&format!("/api/v1/exchange-keys/{id}/sign"));
        let admin = admin.clone();
        async move {
            let (st, _, body) = post(&c, &u, Some(&admin), &req).await;
            (st, json(&body))
        }
    };
    let (st, p) = sign(plain).await;
    assert_eq!(st, 403, "{p}");
    assert_eq!(p["reason"], json!("passphrase-in-headers"));
    assert!(!p.to_string().contains("okx pass phrase"));
    let (st, v) = sign(opted).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["headers"]["OK-ACCESS-PASSPHRASE"],
        json!("okx pass phrase")
    );
    // Only OKX takes the option.
    let mut binance = add("b", true);
    binance["exchange"] = json!("binance");
    binance["api_key"] = json!(BINANCE_KEY);
    binance["secret"] = json!(BINANCE_SECRET);
    let (st, _, body) = post(&c, &url, Some(&admin), &binance).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    s.stop().await;
}
