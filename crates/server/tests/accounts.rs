//! Accounts that survive a stolen credential (issue 19), end to end against
//! a real HTTPS server on SQLite and PostgreSQL: password reset tokens,
//! credential changes that suspend service API keys, MFA by role, the
//! sliding failure budget with address-group and account-wide locks,
//! atomic second-factor attempts, ending every session, the per-address
//! limit with a junk `Authorization` header, aggregated refusal records,
//! and problem details that never echo input.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::net::IpAddr;

use common::*;
use cryptobot_service::api_keys::ServiceKeys;
use cryptobot_service::audit::Who;
use cryptobot_service::clock::{now, now_ms};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

on_both!(
    password_reset_end_to_end,
    credential_changes_suspend_api_keys,
    an_unenrolled_trader_cannot_sign,
    rotating_addresses_lock_the_account_by_the_21st_failure,
    an_address_group_lock_spares_other_networks,
    refresh_with_a_junk_bearer_header_is_limited_per_address,
    bad_bearer_tokens_are_audited_once_per_address_and_minute,
    ending_every_session,
    concurrent_codes_on_one_challenge_stop_at_the_budget,
    the_fifth_wrong_step_up_code_ends_the_session,
    enrollment_needs_the_password_and_is_not_a_step_up,
    problem_details_do_not_echo_input,
    request_ids_are_returned_and_recorded,
    a_breached_password_signs_in_only_to_change_it,
    peppered_hashes_replace_old_ones_at_sign_in,
    access_review_export_and_delete,
    someone_elses_session_or_key_is_refused_and_audited
);

const NEW_PASSWORD: &str = "Quiet-Lantern-Meadow-77";

fn from(n: u8) -> IpAddr {
    IpAddr::from([127, 0, n, 1])
}

async fn events(s: &TestServer, name: &str) -> Vec<cryptobot_store::AuditRecord> {
    s.store
        .query_audit(&cryptobot_store::AuditQuery {
            event: Some(name.to_string()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn problem_type(body: &[u8]) -> String {
    json(body)["type"].as_str().unwrap_or("").to_string()
}

async fn sign_in(s: &TestServer, c: &reqwest::Client, user: &str, password: &str) -> (u16, Value) {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": user, "password": password}),
    )
    .await;
    let v = if body.is_empty() {
        Value::Null
    } else {
        json(&body)
    };
    (st, v)
}

/// A service API key of `user` with `account:self`, made as the CLI does.
async fn service_key(s: &TestServer, user: &str) -> (String, String) {
    let owner = s.store.user_by_name(user).await.unwrap().unwrap();
    let issued = ServiceKeys {
        store: &s.store,
        settings: &s.settings,
    }
    .create(
        &Who::default(),
        &owner,
        "bot",
        cryptobot_auth::ScopeSet::parse("account:self"),
        86_400,
        now(),
    )
    .await
    .unwrap();
    (
        issued.key.expose_secret().to_string(),
        issued.record.id.clone(),
    )
}

async fn key_status(s: &TestServer, key: &str) -> u16 {
    s.client()
        .get(s.url("/api/v1/api-keys"))
        .header("authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Enrolls TOTP for the session `token` of a user with the test password;
/// returns the raw TOTP secret and the backup codes.
async fn enroll(s: &TestServer, c: &reqwest::Client, token: &str) -> (Vec<u8>, Vec<String>) {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/enroll"),
        Some(token),
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let secret = cryptobot_auth::base32_decode(json(&body)["secret"].as_str().unwrap()).unwrap();
    let code = cryptobot_auth::totp_code(&secret, now());
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/confirm"),
        Some(token),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let codes = json(&body)["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

/// A six-digit code that is not the authenticator's in any accepted step.
fn wrong_code(secret: &[u8]) -> String {
    let t = now();
    let taken: Vec<String> = (-2..=2)
        .map(|k| cryptobot_auth::totp_code(secret, t + k * 30))
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !taken.contains(c))
        .unwrap()
}

async fn issue_reset(s: &TestServer, c: &reqwest::Client, admin: &str, user: &str) -> String {
    let (st, _, body) = post(
        c,
        &s.url(&format!("/api/v1/users/{user}/password-reset")),
        Some(admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["username"], user);
    assert!(v["expires_at"].as_i64().unwrap() <= now() + 15 * 60);
    v["reset_token"].as_str().unwrap().to_string()
}

async fn reset(s: &TestServer, c: &reqwest::Client, token: &str, password: &str) -> (u16, Value) {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/auth/password-reset"),
        None,
        &json!({"token": token, "new_password": password}),
    )
    .await;
    (st, json(&body))
}

async fn password_reset_end_to_end(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    s.add_user("bob", "trader").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "admin").await);
    let bob = login(&s, &c, "bob").await;
    let (_, _) = enroll(&s, &c, &access(&bob)).await;
    let (key, key_id) = service_key(&s, "bob").await;
    assert_eq!(key_status(&s, &key).await, 200);

    // A refused new password leaves the token usable.
    let token = issue_reset(&s, &c, &admin, "bob").await;
    assert!(token.starts_with("cbr_"));
    let (st, v) = reset(&s, &c, &token, "password").await;
    assert_eq!(st, 422, "{v}");
    let (st, v) = reset(&s, &c, &token, NEW_PASSWORD).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["username"], "bob");
    assert_eq!(v["sessions_ended"], 1);
    assert_eq!(v["api_keys_suspended"], json!([key_id]));

    // Used once: a second use is refused with 401 and audited.
    let (st, v) = reset(&s, &c, &token, "Another-Quiet-Lantern-78").await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["type"], "urn:cryptobot:problem:invalid-reset-token");
    assert!(
        events(&s, "password_reset_failed")
            .await
            .iter()
            .any(|e| e.event.details["reason"] == "token_reused")
    );

    // The old password, the old session, its refresh token and the key
    // are dead; MFA is still enrolled.
    assert_eq!(sign_in(&s, &c, "bob", PASSWORD).await.0, 401);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&access(&bob))).await;
    assert_eq!(st, 401);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/refresh"),
        None,
        &json!({"refresh_token": bob["refresh_token"]}),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(key_status(&s, &key).await, 401);
    let refused = events(&s, "api_key_refused").await;
    assert!(
        refused
            .iter()
            .any(|e| e.event.details["reason"] == "suspended"
                && e.event.details["key"] == key_id.as_str()),
        "{refused:?}"
    );
    let (st, v) = sign_in(&s, &c, "bob", NEW_PASSWORD).await;
    assert_eq!(st, 200);
    assert_eq!(v["mfa_required"], true, "MFA stays enrolled: {v}");

    // A token stops working when the password changes by another way.
    let token = issue_reset(&s, &c, &admin, "bob").await;
    let newer = issue_reset(&s, &c, &admin, "bob").await;
    let (st, _) = reset(&s, &c, &token, "Superseded-Lantern-Meadow-1").await;
    assert_eq!(st, 401, "an earlier token is superseded");
    let user = s.store.user_by_name("bob").await.unwrap().unwrap();
    s.state()
        .accounts()
        .set_password(
            &Who::default(),
            &user,
            secrecy::SecretString::from("Changed-Elsewhere-Meadow-3".to_string()),
            None,
        )
        .await
        .unwrap();
    let (st, _) = reset(&s, &c, &newer, "Too-Late-Lantern-Meadow-4").await;
    assert_eq!(st, 401, "the password changed since the token was issued");
    assert!(
        events(&s, "password_reset_issued")
            .await
            .iter()
            .all(|e| e.event.details["notify"] == true
                && !e.event.details.to_string().contains("cbr_"))
    );
    s.stop().await;
}

async fn credential_changes_suspend_api_keys(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    s.add_user("carol", "trader").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "admin").await);

    // A password change suspends the owner's keys.
    let (key, _) = service_key(&s, "carol").await;
    let carol = access(&login(&s, &c, "carol").await);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/password"),
        Some(&carol),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        json(&body)["api_keys_suspended"].as_array().unwrap().len(),
        1
    );
    assert_eq!(key_status(&s, &key).await, 401);

    // Disabling suspends; enabling does not revive.
    let (key2, id2) = service_key(&s, "carol").await;
    assert_eq!(key_status(&s, &key2).await, 200);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/carol/disable"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/carol/enable"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        key_status(&s, &key2).await,
        401,
        "re-enabling revives no key"
    );
    let (_, _, body) = get(&c, &s.url("/api/v1/api-keys?all=true"), Some(&admin)).await;
    let listed = json(&body);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id2.as_str())
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_eq!(entry["status"], "suspended");

    // Reactivation is explicit and audited.
    let (st, _, body) = post(
        &c,
        &s.url(&format!("/api/v1/api-keys/{id2}/reactivate")),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["status"], "active");
    assert_eq!(key_status(&s, &key2).await, 200);
    let (st, _, _) = post(
        &c,
        &s.url(&format!("/api/v1/api-keys/{id2}/reactivate")),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 409, "not suspended any more");
    assert_eq!(events(&s, "api_key_reactivated").await.len(), 1);
    let suspended = events(&s, "api_keys_suspended").await;
    let reasons: Vec<&str> = suspended
        .iter()
        .map(|e| e.event.details["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["user_disabled", "password_changed"],
        "newest first"
    );

    // An MFA reset by an administrator suspends too, and ends sessions.
    let carol = access(&login_as(&s, &c, "carol", NEW_PASSWORD).await);
    let (c1, c2) = s
        .state()
        .accounts()
        .reset_mfa(&Who::default(), "carol")
        .await
        .unwrap();
    assert!(!c1);
    assert_eq!(c2.api_keys_suspended, std::slice::from_ref(&id2));
    assert!(c2.sessions_ended >= 1);
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&carol)).await;
    assert_eq!(st, 401);
    s.stop().await;
}

async fn login_as(s: &TestServer, c: &reqwest::Client, user: &str, password: &str) -> Value {
    let (st, v) = sign_in(s, c, user, password).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn an_unenrolled_trader_cannot_sign(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.mfa.required_for_roles = vec!["admin".into(), "trader".into()];
    })
    .await;
    s.add_user("tess", "trader").await;
    let c = s.client();
    let tess = access(&login(&s, &c, "tess").await);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/exchange-keys/xk_00aa/sign"),
        Some(&tess),
        &json!({"method": "GET", "path": "/api/v3/account", "query": ""}),
    )
    .await;
    assert_eq!(st, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        problem_type(&body),
        "urn:cryptobot:problem:mfa-enrollment-required"
    );
    // Their own account still works, enrollment included.
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&tess)).await;
    assert_eq!(st, 200);
    enroll(&s, &c, &tess).await;
    s.stop().await;
}

async fn rotating_addresses_lock_the_account_by_the_21st_failure(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("dave", "trader").await;
    // dave's own network: 127.0.0.0/24.
    let home = s.client();
    login(&s, &home, "dave").await;
    let mut first_refused = None;
    for i in 1..=21u8 {
        let c = s.client_from(from(i));
        let (st, _) = sign_in(&s, &c, "dave", "Wrong-Lantern-Meadow-9").await;
        assert_eq!(st, 401);
        // The right password from a network dave never used.
        if first_refused.is_none() {
            let probe = s.client_from(IpAddr::from([127, 1, i, 1]));
            let (st, _) = sign_in(&s, &probe, "dave", PASSWORD).await;
            if st == 401 {
                first_refused = Some(i);
            }
        }
    }
    assert_eq!(
        first_refused,
        Some(20),
        "locked account-wide at the 20th failure"
    );
    let locks = events(&s, "account_locked").await;
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].event.details["scope"], "account");
    assert_eq!(locks[0].event.details["failures"], 20);
    assert_eq!(locks[0].event.details["notify"], true);
    let until = locks[0].event.details["until"].as_i64().unwrap();
    assert!((until - now() - 5 * 60).abs() <= 5, "first lock: 5 minutes");
    // dave's own network is spared.
    login(&s, &home, "dave").await;
    s.stop().await;
}

async fn an_address_group_lock_spares_other_networks(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("erin", "viewer").await;
    let attacker = s.client_from(IpAddr::from([127, 0, 77, 1]));
    for _ in 0..5 {
        let (st, _) = sign_in(&s, &attacker, "erin", "Wrong-Lantern-Meadow-9").await;
        assert_eq!(st, 401);
    }
    // The same /24, another address: locked.
    let neighbour = s.client_from(IpAddr::from([127, 0, 77, 200]));
    let (st, v) = sign_in(&s, &neighbour, "erin", PASSWORD).await;
    assert_eq!(st, 401);
    assert_eq!(v["type"], "urn:cryptobot:problem:invalid-credentials");
    // Another network: not locked.
    login(&s, &s.client(), "erin").await;
    let locks = events(&s, "account_locked").await;
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].event.details["scope"], "address_group");
    assert_eq!(locks[0].event.details["address_group"], "127.0.77.0/24");
    let denied = events(&s, "login_failed").await;
    assert!(denied.iter().any(|e| e.event.details["reason"] == "locked"));
    s.stop().await;
}

async fn refresh_with_a_junk_bearer_header_is_limited_per_address(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.api_requests_per_minute = 10;
        st.security.rate_limiting.burst = 10;
    })
    .await;
    let c = s.client_from(from(9));
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let resp = c
            .post(s.url("/api/v1/auth/refresh"))
            .header("authorization", "Bearer x")
            .json(&json!({"refresh_token": "nope"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    let first_429 = statuses.iter().position(|s| *s == 429);
    assert!(
        first_429.is_some_and(|i| i <= 12),
        "the address limit applies: {statuses:?}"
    );
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 180);
    // The same for health checks and the second sign-in step.
    let resp = c
        .get(s.url("/healthz"))
        .header("authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    s.stop().await;
}

async fn bad_bearer_tokens_are_audited_once_per_address_and_minute(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let c = s.client_from(from(10));
    // Start at the beginning of a minute so all 50 fall into one.
    let into_minute = now_ms().rem_euclid(60_000);
    if into_minute > 50_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (60_000 - into_minute + 200) as u64,
        ))
        .await;
    }
    for i in 0..50 {
        let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&format!("junk{i}"))).await;
        assert_eq!(st, 401);
    }
    s.state().noisy.flush(&s.store, now_ms(), true).await;
    let recs = events(&s, "access_token_refused").await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].event.details["count"], 50);
    assert_eq!(recs[0].event.details["reason"], "malformed");
    assert_eq!(recs[0].event.client_addr.as_deref(), Some("127.0.10.1"));
    s.stop().await;
}

async fn ending_every_session(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    s.add_user("fay", "trader").await;
    let c = s.client();
    let a = access(&login(&s, &c, "fay").await);
    let b = access(&login(&s, &c, "fay").await);
    let d = access(&login(&s, &c, "fay").await);
    // Wrong password: refused, nothing ended.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/sessions/end-all"),
        Some(&a),
        &json!({"password": "Wrong-Lantern-Meadow-9"}),
    )
    .await;
    assert_eq!(st, 422);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/sessions/end-all"),
        Some(&a),
        &json!({"password": PASSWORD, "code": "123456"}),
    )
    .await;
    assert_eq!(st, 422, "exactly one of password or code");
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/sessions/end-all"),
        Some(&a),
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["sessions_ended"], 2);
    for t in [&b, &d] {
        assert_eq!(get(&c, &s.url("/api/v1/sessions"), Some(t)).await.0, 401);
    }
    // Their tokens still in use are recorded (a stolen copy, perhaps).
    s.state().noisy.flush(&s.store, now_ms(), true).await;
    let refused = events(&s, "access_token_refused").await;
    assert!(
        refused
            .iter()
            .any(|r| r.event.details["reason"] == "session_ended" && r.event.details["count"] == 2),
        "{refused:?}"
    );
    assert_eq!(get(&c, &s.url("/api/v1/sessions"), Some(&a)).await.0, 200);
    // An administrator ends the rest.
    let admin = access(&login(&s, &c, "admin").await);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/users/fay/sessions/end"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["sessions_ended"], 1);
    assert_eq!(get(&c, &s.url("/api/v1/sessions"), Some(&a)).await.0, 401);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/users/admin/sessions/end"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 409, "not your own: use end-all");
    assert_eq!(events(&s, "sessions_ended_all").await.len(), 2);
    s.stop().await;
}

async fn concurrent_codes_on_one_challenge_stop_at_the_budget(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.rate_limiting.login_free_failures = 20;
    })
    .await;
    s.add_user("gus", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "gus").await);
    let (secret, _) = enroll(&s, &c, &t).await;
    let attacker = s.client_from(from(20));
    let (st, v) = sign_in(&s, &attacker, "gus", PASSWORD).await;
    assert_eq!(st, 200);
    let challenge = v["mfa_token"].as_str().unwrap().to_string();
    let code = wrong_code(&secret);
    let mut tasks = Vec::new();
    for _ in 0..150 {
        let c = attacker.clone();
        let url = s.url("/api/v1/auth/mfa");
        let body = json!({"mfa_token": challenge, "code": code});
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        let st = t.await.unwrap();
        assert!(st == 401 || st == 429, "{st}");
    }
    let evaluated = events(&s, "mfa_failed")
        .await
        .into_iter()
        .filter(|e| e.event.details["reason"] == "wrong_code")
        .count();
    assert!(
        (1..=5).contains(&evaluated),
        "at most the challenge's budget of codes is checked: {evaluated}"
    );
    s.stop().await;
}

async fn the_fifth_wrong_step_up_code_ends_the_session(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("hal", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "hal").await);
    let (secret, _) = enroll(&s, &c, &t).await;
    let code = wrong_code(&secret);
    for i in 1..=5 {
        let (st, _, body) = post(
            &c,
            &s.url("/api/v1/auth/step-up"),
            Some(&t),
            &json!({"code": code}),
        )
        .await;
        assert_eq!(st, 401, "attempt {i}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(get(&c, &s.url("/api/v1/sessions"), Some(&t)).await.0, 401);
    assert!(
        events(&s, "session_ended")
            .await
            .iter()
            .any(|e| e.event.details["reason"] == "step_up_failures")
    );
    s.stop().await;
}

async fn enrollment_needs_the_password_and_is_not_a_step_up(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("ivy", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ivy").await);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/mfa/totp/enroll"),
        Some(&t),
        &json!({"password": "Wrong-Lantern-Meadow-9"}),
    )
    .await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    let (st, _, _) = post(&c, &s.url("/api/v1/mfa/totp/enroll"), Some(&t), &json!({})).await;
    assert_eq!(st, 422, "the password is required");
    let (_, codes) = enroll(&s, &c, &t).await;
    // Confirming is not a step-up: creating an API key asks for one.
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/api-keys"),
        Some(&t),
        &json!({"name": "bot", "scopes": ["trade:read"]}),
    )
    .await;
    assert_eq!(st, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        problem_type(&body),
        "urn:cryptobot:problem:mfa-step-up-required"
    );
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/step-up"),
        Some(&t),
        &json!({"code": codes[0]}),
    )
    .await;
    assert_eq!(st, 204);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/api-keys"),
        Some(&t),
        &json!({"name": "bot", "scopes": ["trade:read"], "expires_in_days": 400}),
    )
    .await;
    assert_eq!(
        st,
        422,
        "longer than max_lifetime_days: {}",
        String::from_utf8_lossy(&body)
    );
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/api-keys"),
        Some(&t),
        &json!({"name": "bot", "scopes": ["trade:read"], "expires_in_days": 365}),
    )
    .await;
    assert_eq!(st, 201);
    s.stop().await;
}

async fn problem_details_do_not_echo_input(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "admin").await);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/users/victim%0D%0AX-Injected:%20yes/disable"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(st, 404);
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("victim") && !text.contains("Injected"),
        "{text}"
    );
    // An unknown field or parameter is named only when it is a plain name.
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "a", "password": "b", "x\r\nX-Injected: yes": 1}),
    )
    .await;
    assert_eq!(st, 422);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("Injected"), "{text}");
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "a", "password": "b", "bogus": 1}),
    )
    .await;
    assert_eq!(st, 422);
    assert!(String::from_utf8_lossy(&body).contains("bogus"));
    let (st, _, body) = get(
        &c,
        &s.url("/api/v1/audit?x%0D%0AX-Injected=1"),
        Some(&admin),
    )
    .await;
    assert_eq!(st, 422);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("Injected"), "{text}");
    // Input-validation failures are recorded, counted, without the input.
    s.state().noisy.flush(&s.store, now_ms(), true).await;
    let invalid = events(&s, "request_invalid").await;
    let counted: u64 = invalid
        .iter()
        .map(|r| r.event.details["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 3, "{invalid:?}");
    assert!(!format!("{invalid:?}").contains("Injected"));
    s.stop().await;
}

async fn request_ids_are_returned_and_recorded(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("jo", "viewer").await;
    let c = s.client();
    // A problem answer names the id it was given in the header.
    let resp = c.get(s.url("/api/v1/sessions")).send().await.unwrap();
    let header = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["request_id"], header.as_str());
    assert!(header.len() >= 16);
    // A proxy's plain id is kept; anything else is replaced.
    let resp = c
        .post(s.url("/api/v1/auth/login"))
        .header("x-request-id", "proxy-7.abc_9")
        .json(&json!({"username": "jo", "password": "Wrong-Lantern-Meadow-9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "proxy-7.abc_9");
    let failed = events(&s, "login_failed").await;
    assert_eq!(failed[0].event.details["request_id"], "proxy-7.abc_9");
    let resp = c
        .get(s.url("/healthz"))
        .header("x-request-id", "bad id")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id");
    s.stop().await;
}

async fn a_breached_password_signs_in_only_to_change_it(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    // Set before the list was checked (or by an older version).
    let hash = cheap_hasher()
        .hash(&secrecy::SecretString::from("iloveyou".to_string()))
        .unwrap();
    s.store
        .create_user(&cryptobot_store::NewUser {
            username: "kim".into(),
            role: "trader".into(),
            password_hash: hash,
            now: now(),
        })
        .await
        .unwrap();
    let c = s.client();
    let v = login_as(&s, &c, "kim", "iloveyou").await;
    assert_eq!(v["password_expired"], true);
    assert_eq!(v["scope"], "password:change");
    let t = access(&v);
    let (st, _, body) = get(&c, &s.url("/api/v1/exchange-keys"), Some(&t)).await;
    assert_eq!(st, 403);
    assert_eq!(
        problem_type(&body),
        "urn:cryptobot:problem:password-expired"
    );
    assert_eq!(events(&s, "password_breached").await.len(), 1);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/auth/password"),
        Some(&t),
        &json!({"current_password": "iloveyou", "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v = login_as(&s, &c, "kim", NEW_PASSWORD).await;
    assert_eq!(v["password_expired"], false);
    s.stop().await;
}

async fn peppered_hashes_replace_old_ones_at_sign_in(db: Db) {
    let mut pepper = [0u8; 32];
    getrandom::fill(&mut pepper).unwrap();
    let s = TestServer::start_with_secrets(db, &[("password_pepper.key", &pepper)], |_| {}).await;
    s.add_user("lee", "viewer").await;
    let before = s.store.user_by_name("lee").await.unwrap().unwrap();
    assert!(
        !before.password_hash.contains("keyid="),
        "made without the pepper"
    );
    let c = s.client();
    login(&s, &c, "lee").await;
    let after = s.store.user_by_name("lee").await.unwrap().unwrap();
    assert!(
        after.password_hash.contains("keyid="),
        "{}",
        after.password_hash
    );
    login(&s, &c, "lee").await;
    // The hash alone no longer verifies: the pepper is needed.
    let plain = cheap_hasher().verify(
        &secrecy::SecretString::from(PASSWORD.to_string()),
        &after.password_hash,
    );
    assert_eq!(plain, cryptobot_auth::PasswordCheck::Mismatch);
    s.stop().await;
}

async fn access_review_export_and_delete(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("admin", "admin").await;
    s.add_user("admin2", "admin").await;
    s.add_user("mia", "trader").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "admin").await);
    let mia = access(&login(&s, &c, "mia").await);
    let (key, _) = service_key(&s, "mia").await;
    assert_eq!(key_status(&s, &key).await, 200);

    // The access review.
    let (st, _, body) = get(&c, &s.url("/api/v1/users"), Some(&admin)).await;
    assert_eq!(st, 200);
    let users = json(&body);
    let m = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "mia")
        .unwrap()
        .clone();
    assert_eq!(m["active_sessions"], 1, "{m}");
    assert_eq!(m["active_api_keys"], 1);
    assert_eq!(m["password_age_days"], 0);
    assert_eq!(m["days_since_last_use"], 0);
    assert!(m["last_used_at"].as_i64().unwrap() >= now() - 60);
    assert_eq!(m["mfa_enabled"], false);

    // Her own data.
    let (st, _, body) = get(&c, &s.url("/api/v1/me/export"), Some(&mia)).await;
    assert_eq!(st, 200);
    let data = json(&body);
    assert_eq!(data["account"]["username"], "mia");
    assert_eq!(data["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(data["api_keys"].as_array().unwrap().len(), 1);
    assert!(
        data["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"] == "login_succeeded")
    );
    let text = data.to_string();
    assert!(!text.contains("password_hash") && !text.contains("$argon2"));

    // Deleting: not yourself, not the last admin.
    let (st, _) = delete_user(&s, &c, &admin, "admin").await;
    assert_eq!(st, 409);
    let (st, v) = delete_user(&s, &c, &admin, "mia").await;
    assert_eq!(st, 200, "{v}");
    let pseudonym = v["pseudonym"].as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("deleted:"));
    assert_eq!(v["sessions"], 1);
    assert_eq!(v["api_keys"], 1);
    assert_eq!(get(&c, &s.url("/api/v1/sessions"), Some(&mia)).await.0, 401);
    assert_eq!(sign_in(&s, &c, "mia", PASSWORD).await.0, 401);
    assert_eq!(key_status(&s, &key).await, 401);
    let by_name = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            actor: Some("mia".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_name.is_empty(), "{by_name:?}");
    let by_pseudonym = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            actor: Some(pseudonym.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        by_pseudonym
            .iter()
            .any(|r| r.event.event == "login_succeeded")
    );
    assert_eq!(
        events(&s, "user_deleted").await[0].event.subject.as_deref(),
        Some(pseudonym.as_str())
    );

    // The last enabled administrator stays.
    let (st, _) = delete_user(&s, &c, &admin, "admin2").await;
    assert_eq!(st, 200);
    let last = s.state().accounts().delete(&Who::default(), "admin").await;
    assert!(
        matches!(
            last,
            Err(cryptobot_service::accounts::AccountError::LastAdmin(_))
        ),
        "{last:?}"
    );
    s.stop().await;
}

async fn delete_user(s: &TestServer, c: &reqwest::Client, token: &str, name: &str) -> (u16, Value) {
    let resp = c
        .delete(s.url(&format!("/api/v1/users/{name}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

async fn someone_elses_session_or_key_is_refused_and_audited(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("ned", "trader").await;
    s.add_user("oli", "trader").await;
    let c = s.client();
    let ned = login(&s, &c, "ned").await;
    let oli = access(&login(&s, &c, "oli").await);
    let (_, key_id) = service_key(&s, "ned").await;
    let sid = ned["session_id"].as_str().unwrap();
    let st = c
        .delete(s.url(&format!("/api/v1/sessions/{sid}")))
        .bearer_auth(&oli)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st.as_u16(), 404);
    let st = c
        .delete(s.url(&format!("/api/v1/api-keys/{key_id}")))
        .bearer_auth(&oli)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st.as_u16(), 404);
    let denied = events(&s, "permission_denied").await;
    let resources: Vec<&str> = denied
        .iter()
        .filter(|r| r.event.details["reason"] == "not_owner")
        .map(|r| r.event.details["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["api_key", "session"], "newest first");
    // ned's session and key are untouched.
    assert_eq!(
        get(&c, &s.url("/api/v1/sessions"), Some(&access(&ned)))
            .await
            .0,
        200
    );
    s.stop().await;
}
