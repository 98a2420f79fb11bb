//! The exchange-key vault over real HTTPS, on SQLite and on PostgreSQL:
//! sealing, scopes, signing, rotation with grace, revocation, usage
//! spikes, rotation reminders, dumps without plaintext, and a wrong
//! master key refusing to start.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::*;
use cryptobot_service::clock::{now, now_ms};
use cryptobot_service::exchange_keys::{Vault, open_record};
use cryptobot_service::key_access::Access;
use cryptobot_store::AuditQuery;
use cryptobot_vault::{Credentials, Exchange, SignRequest};
use serde_json::{Value, json};
use zeroize::Zeroizing;

on_both!(
    keys_are_sealed_scoped_and_sign,
    rotation_grace_and_revocation,
    usage_spike_and_rotation_reminder,
    wrong_master_key_refuses_to_start,
);

const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const KRAKEN_KEY: &str = "kraken-public-key-0001";
const KRAKEN_SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

async fn delete(c: &reqwest::Client, url: &str, token: &str) -> (u16, Vec<u8>) {
    let r = c.delete(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn add_key(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    exchange: &str,
    label: &str,
    key: &str,
    secret: &str,
) -> Value {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/exchange-keys"),
        Some(token),
        &json!({"exchange": exchange, "label": label, "api_key": key, "secret": secret,
                "permissions": ["read", "trade"], "ip_note": "203.0.113.7 only"}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8_lossy(&body).to_string();
    assert!(!text.contains(secret), "the secret came back: {text}");
    json(&body)
}

fn binance_query() -> String {
    format!(
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp={}",
        now_ms()
    )
}

fn expected_binance(secret: &str, query: &str) -> String {
    let c = Credentials {
        api_key: Zeroizing::new(BINANCE_KEY.into()),
        secret: Zeroizing::new(secret.into()),
        passphrase: None,
    };
    let req = SignRequest {
        method: "POST".into(),
        path: "/api/v3/order".into(),
        query: Some(query.into()),
        ..SignRequest::default()
    };
    cryptobot_vault::sign(Exchange::Binance, &c, &req)
        .unwrap()
        .signature
}

async fn sign_binance(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    id: &str,
    query: &str,
) -> (u16, Value) {
    let (st, _, body) = post(
        c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/sign")),
        Some(token),
        &json!({"method": "POST", "path": "/api/v3/order", "query": query}),
    )
    .await;
    (st, json(&body))
}

async fn keys_are_sealed_scoped_and_sign(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    s.add_user("tina", "trader").await;
    s.add_user("vic", "viewer").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let trader = access(&login(&s, &c, "tina").await);
    let viewer = access(&login(&s, &c, "vic").await);

    let b = add_key(
        &s,
        &c,
        &admin,
        "binance",
        "main",
        BINANCE_KEY,
        BINANCE_SECRET,
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("xk_"));
    assert_eq!(b["permissions"], json!(["read", "trade"]));
    assert_eq!(
        b["fingerprint"],
        json!(cryptobot_vault::fingerprint(BINANCE_KEY))
    );
    assert_eq!(b["rotation_due"], json!(false));
    let k = add_key(&s, &c, &admin, "kraken", "main", KRAKEN_KEY, KRAKEN_SECRET).await;
    let kid = k["id"].as_str().unwrap().to_string();
    for key in [&id, &kid] {
        for user in ["tina", "vic"] {
            grant_user(&s, &c, &admin, key, user).await;
        }
    }

    // Same label on the same exchange: 409. Withdraw-enabled: refused.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/exchange-keys"),
        Some(&admin),
        &json!({"exchange": "binance", "label": "main", "api_key": "another-key-1", "secret": BINANCE_SECRET, "permissions": ["read"]}),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/exchange-keys"),
        Some(&admin),
        &json!({"exchange": "binance", "label": "w", "api_key": "another-key-1", "secret": BINANCE_SECRET, "permissions": ["read", "withdraw"]}),
    )
    .await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("allow_withdraw_keys"));
    // A Kraken secret that is not base64 is caught at add time; an unknown
    // exchange and an unknown field are named.
    for bad in [
        json!({"exchange": "kraken", "label": "k2", "api_key": "abcdefgh", "secret": "not base64 at all!", "permissions": ["read"]}),
        json!({"exchange": "mtgox", "label": "m", "api_key": "abcdefgh", "secret": BINANCE_SECRET, "permissions": ["read"]}),
        json!({"exchange": "binance", "label": "x", "api_key": "abcdefgh", "secret": BINANCE_SECRET, "permissions": ["read"], "extra": 1}),
    ] {
        let (st, _, body) = post(&c, &s.url("/api/v1/exchange-keys"), Some(&admin), &bad).await;
        assert!(
            st == 400 || st == 422,
            "{st} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!String::from_utf8_lossy(&body).contains(BINANCE_SECRET));
    }

    // Scopes: traders list and sign but cannot add or revoke; viewers
    // list but cannot sign.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/exchange-keys"),
        Some(&trader),
        &json!({"exchange": "binance", "label": "t", "api_key": "another-key-2", "secret": BINANCE_SECRET, "permissions": ["read"]}),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(
        delete(&c, &s.url(&format!("/api/v1/exchange-keys/{id}")), &trader)
            .await
            .0,
        403
    );
    let (st, _, body) = get(&c, &s.url("/api/v1/exchange-keys"), Some(&viewer)).await;
    assert_eq!(st, 200);
    let listing = String::from_utf8_lossy(&body).to_string();
    assert!(
        listing.contains(&id)
            && !listing.contains(BINANCE_SECRET)
            && !listing.contains(KRAKEN_SECRET)
    );
    assert!(
        !listing.contains(BINANCE_KEY),
        "listings show a fingerprint, not the key"
    );
    let q = binance_query();
    assert_eq!(sign_binance(&s, &c, &viewer, &id, &q).await.0, 403);

    // Binance through HTTP: the signature of the documented scheme, and
    // the API key header.
    let (st, signed) = sign_binance(&s, &c, &trader, &id, &q).await;
    assert_eq!(st, 200, "{signed}");
    assert_eq!(
        signed["signature"],
        json!(expected_binance(BINANCE_SECRET, &q))
    );
    assert_eq!(signed["headers"]["X-MBX-APIKEY"], json!(BINANCE_KEY));
    // A stale timestamp cannot be signed for later use: the signing
    // policy's clock window refuses it.
    let stale = q.replace(
        &format!("timestamp={}", &q[q.rfind('=').unwrap() + 1..]),
        "timestamp=1499827319559",
    );
    let (st, body) = sign_binance(&s, &c, &trader, &id, &stale).await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["type"], json!("urn:cryptobot:problem:signing-refused"));
    assert_eq!(body["reason"], json!("timestamp-outside-window"));

    // Kraken through HTTP: the documented scheme (the vault's own tests
    // reproduce the example of Kraken's documentation, whose 2021 nonce is
    // outside the clock window now) and the API key header.
    let nonce = now_ms().to_string();
    let kraken_req = SignRequest {
        method: "POST".into(),
        path: "/0/private/AddOrder".into(),
        nonce: Some(nonce.clone()),
        body: Some(format!(
            "nonce={nonce}&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
        )),
        ..SignRequest::default()
    };
    let kraken_creds = Credentials {
        api_key: Zeroizing::new(KRAKEN_KEY.into()),
        secret: Zeroizing::new(KRAKEN_SECRET.into()),
        passphrase: None,
    };
    let want = cryptobot_vault::sign(Exchange::Kraken, &kraken_creds, &kraken_req).unwrap();
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{kid}/sign")),
        Some(&trader),
        &json!({"method": "POST", "path": "/0/private/AddOrder", "nonce": nonce,
                "body": kraken_req.body}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["signature"], json!(want.signature));
    assert_eq!(v["headers"]["API-Key"], json!(KRAKEN_KEY));

    // OKX: the passphrase is required when the key is added, and a request
    // is signed only with a current timestamp.
    let okx = json!({"exchange": "okx", "label": "okx", "api_key": "okx-public-key-01",
                     "secret": "okx-secret-0123456789ABCDEF", "permissions": ["read"]});
    let (st, _, body) = post(&c, &s.url("/api/v1/exchange-keys"), Some(&admin), &okx).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("passphrase"));
    let mut with_pass = okx.clone();
    with_pass["passphrase"] = json!("okx pass phrase");
    with_pass["passphrase_in_headers"] = json!(true);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/exchange-keys"),
        Some(&admin),
        &with_pass,
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let oid = json(&body)["id"].as_str().unwrap().to_string();
    grant_user(&s, &c, &admin, &oid, "tina").await;
    let ts = now_ms();
    let okx_req = SignRequest {
        method: "GET".into(),
        path: "/api/v5/account/balance".into(),
        query: Some("ccy=BTC".into()),
        timestamp: Some(ts),
        ..SignRequest::default()
    };
    let okx_creds = Credentials {
        api_key: Zeroizing::new("okx-public-key-01".into()),
        secret: Zeroizing::new("okx-secret-0123456789ABCDEF".into()),
        passphrase: Some(Zeroizing::new("okx pass phrase".into())),
    };
    let want = cryptobot_vault::sign(Exchange::Okx, &okx_creds, &okx_req).unwrap();
    let sign_url = s.url(&format!("/api/v1/exchange-keys/{oid}/sign"));
    let (st, _, body) = post(
        &c,
        &sign_url,
        Some(&trader),
        &json!({"method": "GET", "path": "/api/v5/account/balance", "query": "ccy=BTC", "timestamp": ts}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["signature"], json!(want.signature));
    assert_eq!(v["headers"]["OK-ACCESS-KEY"], json!("okx-public-key-01"));
    let (st, _, body) = post(
        &c,
        &sign_url,
        Some(&trader),
        &json!({"method": "GET", "path": "/api/v5/account/balance", "timestamp": ts - 3_600_000}),
    )
    .await;
    assert_eq!(st, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["reason"], json!("timestamp-outside-window"));

    // Coinbase: an EC key pasted as Coinbase's key file has it (one line,
    // `\n` escapes); the vault answers with a JWT to send as a bearer token.
    let tmp = tempfile::tempdir().unwrap();
    let keygen = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let pem = String::from_utf8(keygen.stdout)
        .unwrap()
        .replace('\n', "\\n");
    let name = "organizations/0f7e/apiKeys/5a1c";
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/exchange-keys"),
        Some(&admin),
        &json!({"exchange": "coinbase", "label": "cb", "api_key": name, "secret": pem, "permissions": ["read"]}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("PRIVATE"));
    let cid = json(&body)["id"].as_str().unwrap().to_string();
    grant_user(&s, &c, &admin, &cid, "tina").await;
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{cid}/sign")),
        Some(&trader),
        &json!({"method": "GET", "path": "/api/v3/brokerage/accounts", "timestamp": now_ms()}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    let jwt = v["signature"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(
        v["headers"]["Authorization"],
        json!(format!("Bearer {jwt}"))
    );

    // A sealed record moved onto another record does not open.
    let state = s.running.as_ref().unwrap().state();
    let ring = state.vault.ring();
    let rec_b = s
        .store
        .vault_record(&format!("{id}/v1"))
        .await
        .unwrap()
        .unwrap();
    let rec_k = s
        .store
        .vault_record(&format!("{kid}/v1"))
        .await
        .unwrap()
        .unwrap();
    assert!(open_record(&ring, &rec_b).is_ok());
    let moved = cryptobot_store::VaultRecord {
        wrapped_key: rec_b.wrapped_key.clone(),
        ciphertext: rec_b.ciphertext.clone(),
        ..rec_k.clone()
    };
    assert!(open_record(&ring, &moved).is_err());

    // Every operation is audited; no secret in the audit log.
    let events = s
        .store
        .query_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.event.as_str()).collect();
    for e in [
        "exchange_key_added",
        "exchange_key_used",
        "exchange_key_refused",
        "permission_denied",
    ] {
        assert!(names.contains(&e), "missing {e} in {names:?}");
    }

    // Neither dump holds a secret, an API key or a plaintext credential.
    for dump in [s.dump(), s.tool_dump()] {
        for needle in [BINANCE_SECRET, KRAKEN_SECRET, BINANCE_KEY, KRAKEN_KEY] {
            assert!(
                !contains(&dump, needle.as_bytes()),
                "{needle} is in the database dump"
            );
        }
    }
    s.stop().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn rotation_grace_and_revocation(db: Db) {
    let s = TestServer::start(db, |st| st.security.api_keys.rotation_grace_hours = 1).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let b = add_key(
        &s,
        &c,
        &admin,
        "binance",
        "main",
        BINANCE_KEY,
        BINANCE_SECRET,
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    let new_secret = "Zy9qPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/rotate")),
        Some(&admin),
        &json!({"api_key": "rotated-api-key-0002", "secret": new_secret}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["version"], json!(2));
    assert_eq!(
        v["fingerprint"],
        json!(cryptobot_vault::fingerprint("rotated-api-key-0002"))
    );
    // New signatures use the new secret; the old version stays usable for
    // the grace period, then is destroyed.
    let q = binance_query();
    let (st, signed) = sign_binance(&s, &c, &admin, &id, &q).await;
    assert_eq!(st, 200);
    assert_eq!(signed["signature"], json!(expected_binance(new_secret, &q)));
    let usable = s.store.usable_key_versions(&id, now()).await.unwrap();
    assert_eq!(
        usable.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let state = s.running.as_ref().unwrap().state();
    let vault = Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &state.settings,
        batcher: Some(&state.audit_batcher),
        budget: None,
    };
    vault.sweep(now() + 3601).await.unwrap();
    let usable = s
        .store
        .usable_key_versions(&id, now() + 3601)
        .await
        .unwrap();
    assert_eq!(
        usable.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(
        s.store
            .vault_record(&format!("{id}/v1"))
            .await
            .unwrap()
            .is_none(),
        "the old version's record is destroyed"
    );

    // Revocation destroys every version at once; signing is refused.
    let (st, _) = delete(&c, &s.url(&format!("/api/v1/exchange-keys/{id}")), &admin).await;
    assert_eq!(st, 200);
    assert!(
        s.store
            .vault_record(&format!("{id}/v2"))
            .await
            .unwrap()
            .is_none()
    );
    let (st, _) = sign_binance(&s, &c, &admin, &id, &binance_query()).await;
    assert_eq!(st, 409);
    let (st, _, body) = get(&c, &s.url("/api/v1/exchange-keys"), Some(&admin)).await;
    assert_eq!(st, 200);
    assert_eq!(json(&body), json!([]));
    let (_, _, body) = get(
        &c,
        &s.url("/api/v1/exchange-keys?include_revoked=true"),
        Some(&admin),
    )
    .await;
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (st, _) = delete(&c, &s.url("/api/v1/exchange-keys/xk_nope"), &admin).await;
    assert_eq!(st, 404);
    s.stop().await;
}

async fn usage_spike_and_rotation_reminder(db: Db) {
    let s = TestServer::start(db, |st| st.security.api_keys.usage_spike_factor = 2).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let b = add_key(
        &s,
        &c,
        &admin,
        "binance",
        "main",
        BINANCE_KEY,
        BINANCE_SECRET,
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    for _ in 0..25 {
        assert_eq!(
            sign_binance(&s, &c, &admin, &id, &binance_query()).await.0,
            200
        );
    }
    let spikes = s
        .store
        .query_audit(&AuditQuery {
            event: Some("exchange_key_usage_spike".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(spikes.len(), 1, "one spike event per key and hour");

    // 91 days later the key is flagged, and one reminder is recorded.
    let state = s.running.as_ref().unwrap().state();
    let vault = Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &state.settings,
        batcher: Some(&state.audit_batcher),
        budget: None,
    };
    let later = now() + 91 * 86_400;
    let listed = vault.list(&Access::Host, false, later).await.unwrap();
    assert!(listed[0].rotation_due);
    vault.list(&Access::Host, false, later + 60).await.unwrap();
    let due = s
        .store
        .query_audit(&AuditQuery {
            event: Some("exchange_key_rotation_due".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    s.stop().await;
}

async fn wrong_master_key_refuses_to_start(db: Db) {
    let mut s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    add_key(
        &s,
        &c,
        &admin,
        "binance",
        "main",
        BINANCE_KEY,
        BINANCE_SECRET,
    )
    .await;
    if let Some(r) = s.running.take() {
        r.shutdown(std::time::Duration::from_secs(5)).await.unwrap();
    }
    let key_path = s.layout.secret("vault_master.key");
    let mut other = [0u8; 32];
    getrandom::fill(&mut other).unwrap();
    std::fs::write(&key_path, other).unwrap();
    let err = cryptobot_server::start(cryptobot_server::StartOptions {
        settings: s.settings.clone(),
        layout: s.layout.clone(),
        store: Some(s.store.clone()),
        hasher: Some(cheap_hasher()),
    })
    .await
    .err()
    .expect("a wrong master key must stop the start");
    let msg = err.to_string();
    assert!(
        msg.contains("vault_master.key") && msg.contains("version 1"),
        "{msg}"
    );
    assert!(err.hint().unwrap().contains("restore"), "{:?}", err.hint());
    // A missing key file is named too.
    std::fs::remove_file(&key_path).unwrap();
    let err = cryptobot_server::start(cryptobot_server::StartOptions {
        settings: s.settings.clone(),
        layout: s.layout.clone(),
        store: Some(s.store.clone()),
        hasher: Some(cheap_hasher()),
    })
    .await
    .err()
    .expect("a missing master key must stop the start");
    assert!(err.to_string().contains("vault_master.key"), "{err}");
    s.stop().await;
}
