//! Multi-factor authentication end to end, on SQLite and PostgreSQL: the
//! authenticator side is played by Debian's `oathtool` and our own TOTP,
//! the QR code is read back by `zbarimg`.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::process::Command;

use base64::Engine;
use common::*;
use cryptobot_service::clock::now;
use serde_json::{Value, json};

on_both!(
    mfa_walkthrough,
    mfa_failures_lock_the_account,
    mfa_secrets_are_not_stored_in_plaintext
);

fn secret_of(uri: &str) -> (String, Vec<u8>) {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let raw = cryptobot_auth::base32_decode(&b32).unwrap();
    (b32, raw)
}

fn oathtool(b32: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", b32])
        .output()
        .expect("oathtool is installed (Debian package oathtool)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn problem_type(body: &[u8]) -> String {
    json(body)["type"].as_str().unwrap_or("").to_string()
}

/// Enrolls and confirms MFA for the signed-in `token`; returns the
/// enrollment response, the base32 secret and the backup codes.
async fn enroll(s: &TestServer, c: &reqwest::Client, token: &str) -> (Value, String, Vec<String>) {
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/enroll"),
        Some(token),
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let e = json(&body);
    let uri = e["otpauth_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("otpauth://totp/Cryptobot:"), "{uri}");
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"));
    let (b32, _) = secret_of(&uri);
    assert_eq!(e["secret"], b32);
    // Not active before confirmation.
    let (_, _, body) = get(c, &s.url("/api/v1/mfa"), Some(token)).await;
    assert_eq!(json(&body)["enrollment_pending"], true);
    assert_eq!(json(&body)["totp_enabled"], false);
    // A wrong code does not confirm.
    let (st, _, _) = post(
        c,
        &s.url("/api/v1/mfa/totp/confirm"),
        Some(token),
        &json!({"code": "000000"}),
    )
    .await;
    assert_eq!(st, 401);
    let code = oathtool(&b32);
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/mfa/totp/confirm"),
        Some(token),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let codes: Vec<String> = json(&body)["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (e, b32, codes)
}

async fn start_mfa_login(s: &TestServer, c: &reqwest::Client, user: &str) -> String {
    let t = login(s, c, user).await;
    assert_eq!(t["mfa_required"], true, "{t}");
    assert!(t.get("access_token").is_none());
    assert_eq!(t["methods"], json!(["totp", "backup_code"]));
    t["mfa_token"].as_str().unwrap().to_string()
}

async fn mfa_walkthrough(db: Db) {
    let s = TestServer::start(db, |st| {
        st.security.mfa.required_for_roles = vec!["admin".into()]
    })
    .await;
    s.add_user("ada", "admin").await;
    s.add_user("bob", "trader").await;
    let c = s.client();
    let t0 = access(&login(&s, &c, "ada").await);

    // An admin without MFA: only her own account and enrollment.
    let (st, _, body) = get(&c, &s.url("/api/v1/users"), Some(&t0)).await;
    assert_eq!(st, 403);
    assert_eq!(
        problem_type(&body),
        "urn:cryptobot:problem:mfa-enrollment-required"
    );
    assert!(
        json(&body)["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/mfa/totp/enroll")
    );
    let (st, _, _) = get(&c, &s.url("/api/v1/sessions"), Some(&t0)).await;
    assert_eq!(st, 200);

    let (e, _, backup) = enroll(&s, &c, &t0).await;
    let uri = e["otpauth_uri"].as_str().unwrap();
    // The QR code, read by an independent decoder, is exactly the URI.
    let png = base64::engine::general_purpose::STANDARD
        .decode(e["qr_png"].as_str().unwrap())
        .unwrap();
    let file = s.home.path().join("qr.png");
    std::fs::write(&file, &png).unwrap();
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(&file)
        .output()
        .expect("zbarimg is installed (Debian package zbar-tools)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        uri,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));

    let (st, _, _) = get(&c, &s.url("/api/v1/users"), Some(&t0)).await;
    assert_eq!(st, 200, "enrolled: the admin endpoints open");
    let (st, _, _) = post(&c, &s.url("/api/v1/auth/logout"), Some(&t0), &json!({})).await;
    assert_eq!(st, 204);

    // Sign-in now needs the second factor.
    let challenge = start_mfa_login(&s, &c, "ada").await;
    let (_, secret) = secret_of(uri);
    // The confirmation used the current step; the next one is accepted (±1).
    let code = cryptobot_auth::totp_code(&secret, now() + 30);
    let mfa_url = s.url("/api/v1/auth/mfa");
    let (st, _, body) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": code}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(json(&body)["access_token"].is_string());
    // The challenge is single-use.
    let (st, _, body) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": code}),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(problem_type(&body), "urn:cryptobot:problem:invalid-mfa");

    // The same code in a new sign-in is a replay.
    let challenge = start_mfa_login(&s, &c, "ada").await;
    let (st, _, body) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": code}),
    )
    .await;
    assert_eq!(st, 401, "replayed TOTP accepted");
    assert_eq!(problem_type(&body), "urn:cryptobot:problem:invalid-mfa");
    // A backup code completes it, once.
    let (st, _, body) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": backup[0]}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let t1 = access(&json(&body));
    let challenge = start_mfa_login(&s, &c, "ada").await;
    let (st, _, _) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": backup[0]}),
    )
    .await;
    assert_eq!(st, 401, "a backup code works once");

    // Step-up: a role change needs a second factor within 5 minutes.
    let role = |tok: String| {
        let c = c.clone();
        let url = s.url("/api/v1/users/bob/role");
        async move {
            c.put(url)
                .bearer_auth(tok)
                .json(&json!({"role": "viewer"}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        role(t1.clone()).await.status(),
        200,
        "fresh MFA from the sign-in"
    );
    let session_id = {
        let (_, _, body) = get(&c, &s.url("/api/v1/sessions"), Some(&t1)).await;
        json(&body)
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["current"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    s.store
        .session_mfa_done(&session_id, now() - 600)
        .await
        .unwrap();
    let resp = role(t1.clone()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        problem_type(&resp.bytes().await.unwrap()),
        "urn:cryptobot:problem:mfa-step-up-required"
    );
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/step-up"),
        Some(&t1),
        &json!({"code": backup[1]}),
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(role(t1.clone()).await.status(), 200);

    // Backup codes: count, regeneration.
    let (_, _, body) = get(&c, &s.url("/api/v1/mfa"), Some(&t1)).await;
    assert_eq!(json(&body)["backup_codes_left"], 8);
    let (st, _, body) = post(
        &c,
        &s.url("/api/v1/mfa/backup-codes"),
        Some(&t1),
        &json!({}),
    )
    .await;
    assert_eq!(st, 200);
    let fresh: Vec<String> = json(&body)["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let challenge = start_mfa_login(&s, &c, "ada").await;
    let (st, _, _) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": backup[2]}),
    )
    .await;
    assert_eq!(st, 401, "old backup codes stop working");
    let (st, _, _) = post(
        &c,
        &mfa_url,
        None,
        &json!({"mfa_token": challenge, "code": fresh[0]}),
    )
    .await;
    assert_eq!(st, 200);

    // Disabling needs the password and a current code.
    let disable = s.url("/api/v1/mfa/totp/disable");
    let (st, _, body) = post(
        &c,
        &disable,
        Some(&t1),
        &json!({"password": "Wrong-Password-1", "code": fresh[1]}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(json(&body)["field"], "password");
    let (st, _, _) = post(
        &c,
        &disable,
        Some(&t1),
        &json!({"password": PASSWORD, "code": fresh[1]}),
    )
    .await;
    assert_eq!(st, 204);
    let (_, _, body) = get(&c, &s.url("/api/v1/mfa"), Some(&t1)).await;
    assert_eq!(json(&body)["totp_enabled"], false);
    assert!(login(&s, &c, "ada").await["access_token"].is_string());

    // Every step left an audit record.
    let events: Vec<String> = s
        .store
        .query_audit(&cryptobot_store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.event)
        .collect();
    for e in [
        "mfa_enrollment_started",
        "mfa_enabled",
        "mfa_challenge_issued",
        "mfa_succeeded",
        "mfa_replay",
        "mfa_failed",
        "mfa_backup_code_used",
        "mfa_step_up",
        "mfa_backup_codes_regenerated",
        "mfa_disabled",
        "permission_denied",
    ] {
        assert!(events.iter().any(|x| x == e), "no {e} in {events:?}");
    }
    s.stop().await;
}

async fn mfa_failures_lock_the_account(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("tina", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "tina").await);
    let (_, b32, _) = enroll(&s, &c, &t).await;
    let limit = s.settings.security.rate_limiting.login_attempts_per_minute;
    let challenge = start_mfa_login(&s, &c, "tina").await;
    for _ in 0..limit {
        let (st, _, _) = post(
            &c,
            &s.url("/api/v1/auth/mfa"),
            None,
            &json!({"mfa_token": challenge, "code": "000000"}),
        )
        .await;
        assert_eq!(st, 401);
    }
    // Locked: the password step fails, and so does the right code.
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/login"),
        None,
        &json!({"username": "tina", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 401);
    let (_, secret) = secret_of(&format!("secret={b32}&"));
    let code = cryptobot_auth::totp_code(&secret, now() + 30);
    let (st, _, _) = post(
        &c,
        &s.url("/api/v1/auth/mfa"),
        None,
        &json!({"mfa_token": challenge, "code": code}),
    )
    .await;
    assert_eq!(st, 401);
    // `cryptobot user reset-mfa` (the account operation) removes MFA, audited.
    let hasher = cheap_hasher();
    let policy = cryptobot_service::accounts::policy_from(&s.settings);
    let accounts = cryptobot_service::accounts::Accounts {
        store: &s.store,
        hasher: &hasher,
        policy: &policy,
        settings: &s.settings,
    };
    let who = cryptobot_service::audit::Who {
        actor: Some("cli:root".into()),
        client: None,
    };
    assert!(accounts.reset_mfa(&who, "tina").await.unwrap().0);
    accounts.unlock(&who, "tina").await.unwrap();
    assert!(login(&s, &c, "tina").await["access_token"].is_string());
    s.stop().await;
}

async fn mfa_secrets_are_not_stored_in_plaintext(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("sam", "viewer").await;
    let c = s.client();
    let t = access(&login(&s, &c, "sam").await);
    let (_, b32, codes) = enroll(&s, &c, &t).await;
    let (_, raw) = secret_of(&format!("secret={b32}&"));
    let dump = s.dump();
    let has = |needle: &[u8]| {
        dump.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    assert!(!has(b32.as_bytes()), "the base32 secret is stored");
    assert!(!has(&raw), "the raw secret is stored");
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!has(hex.as_bytes()), "the hex secret is stored");
    for code in &codes {
        assert!(!has(code.as_bytes()), "a backup code is stored");
        assert!(
            !has(code.replace('-', "").as_bytes()),
            "a backup code is stored"
        );
    }
    s.stop().await;
}
