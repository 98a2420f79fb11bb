//! `cryptobot apikey create|list|rotate|revoke` as an operator runs them,
//! on a fresh installation: the key printed once, only its digest stored,
//! the owner rule without `--user`, durations, the limit, rotation,
//! revocation, JSON output, one-line errors with a hint, audit records.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use cryptobot_store::{AuditQuery, Store, Target};
use serde_json::Value;

const PW: &str = "Sturdy-Lantern-Quartz-81";

fn add_user(home: &str, name: &str, role: &str) {
    common::add_user(home, name, role, PW);
}

fn apikey(home: &str, args: &[&str]) -> Run {
    let mut all = vec!["apikey"];
    all.extend_from_slice(args);
    all.extend(["--home", home]);
    cryptobot(&all)
}

/// A failure: exit status 2, one `error:` line and a `fix:` line.
fn input_error(r: &Run, needle: &str) {
    assert_eq!(r.status, 2, "{}", r.both());
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", r.stderr);
    assert!(lines[1].starts_with("  fix: "), "{}", r.stderr);
    assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("not JSON: {}", r.stdout))
}

async fn open(home: &Path) -> Store {
    Store::open(&Target::Sqlite(home.join("data/cryptobot.db")))
        .await
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apikey_commands() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("H");
    let h = home.to_str().unwrap();

    // Bad arguments are refused before anything is created.
    let r = apikey(
        h,
        &[
            "create",
            "--name",
            "x",
            "--scopes",
            "trade:read",
            "--expires",
            "90x",
        ],
    );
    input_error(&r, "invalid duration `90x`");
    let r = apikey(
        h,
        &["create", "--name", "x", "--scopes", "trade:everything"],
    );
    input_error(&r, "unknown scope");
    assert!(!home.exists(), "nothing prepared for bad input");

    // No administrator yet: whose key would it be?
    let r = apikey(h, &["create", "--name", "x", "--scopes", "trade:read"]);
    assert_eq!(r.status, 2, "{}", r.both());
    assert!(
        r.stderr.contains("0 enabled administrators"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: add --user NAME"), "{}", r.stderr);

    add_user(h, "alice", "admin");
    add_user(h, "tom", "trader");

    // The only admin owns a key made without --user; the key alone is on
    // stdout, the rest on stderr.
    let r = apikey(
        h,
        &[
            "create",
            "--name",
            "strategy",
            "--scopes",
            "trade:execute,trade:read",
            "--expires",
            "90d",
        ],
    )
    .ok();
    let key = r.stdout.trim().to_string();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        key.starts_with("cbk_") && key.len() == cryptobot_auth::API_KEY_LEN,
        "{key}"
    );
    assert!(
        r.stderr.contains("for alice") && r.stderr.contains("only time"),
        "{}",
        r.stderr
    );
    let id = key[4..16].to_string();

    // Only the digest is stored, and it is the digest of what was printed.
    let store = open(&home).await;
    let rec = store.service_key(&id).await.unwrap().unwrap();
    assert_eq!(rec.username, "alice");
    assert_eq!(rec.scopes, "trade:execute trade:read");
    assert_eq!(
        rec.secret_hash,
        cryptobot_auth::hash_opaque_token(&key[17..])
    );
    assert!((rec.expires_at.unwrap() - (now() + 90 * 86_400)).abs() < 60);
    let db = std::fs::read(home.join("data/cryptobot.db")).unwrap();
    assert!(!contains(&db, &key.as_bytes()[17..]));

    // Scopes beyond the owner's role, unknown owners.
    let r = apikey(
        h,
        &[
            "create",
            "--user",
            "tom",
            "--name",
            "x",
            "--scopes",
            "users:manage",
        ],
    );
    input_error(&r, "not granted to tom's role (trader)");
    let r = apikey(
        h,
        &[
            "create",
            "--user",
            "nobody",
            "--name",
            "x",
            "--scopes",
            "trade:read",
        ],
    );
    input_error(&r, "no user named `nobody`");
    let r = apikey(
        h,
        &[
            "create",
            "--user",
            "tom",
            "--name",
            "bad\nname",
            "--scopes",
            "trade:read",
        ],
    );
    input_error(&r, "invalid key name");
    let r = apikey(
        h,
        &[
            "create",
            "--user",
            "tom",
            "--name",
            "x",
            "--scopes",
            "trade:read",
            "--expires",
            "0h",
        ],
    );
    input_error(
        &r,
        "between 1 hour and 365 days (security.api_keys.max_lifetime_days)",
    );

    // JSON for programs, hours as a lifetime.
    let r = cryptobot(&[
        "--format",
        "json",
        "apikey",
        "create",
        "--user",
        "tom",
        "--name",
        "bot",
        "--scopes",
        "trade:execute",
        "--expires",
        "12h",
        "--home",
        h,
    ])
    .ok();
    let v = json_of(&r);
    assert_eq!(v["result"], "created");
    let tom_key = v["key"].as_str().unwrap().to_string();
    let tom_id = v["api_key"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["api_key"]["owner"], "tom");
    assert_eq!(v["api_key"]["scopes"], serde_json::json!(["trade:execute"]));
    let exp = v["api_key"]["expires_at"].as_i64().unwrap();
    assert!((exp - (now() + 12 * 3600)).abs() < 60, "{v}");

    // Listings: everyone's or one account's, never a secret or digest.
    let r = cryptobot(&["--format", "json", "apikey", "list", "--home", h]).ok();
    let all = json_of(&r);
    assert_eq!(all["api_keys"].as_array().unwrap().len(), 2);
    for secret in [&key[17..], &tom_key[17..], rec.secret_hash.as_str()] {
        assert!(!r.stdout.contains(secret), "{}", r.stdout);
    }
    let r = apikey(h, &["list", "--user", "tom"]).ok();
    assert!(
        r.stdout.contains(&tom_id) && !r.stdout.contains(&id),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("active") && r.stdout.contains("trade:execute"));

    // Rotation: a new secret for the same id; the old one stays as the
    // previous secret for the grace period (24 h by default).
    let r = apikey(h, &["rotate", &id]).ok();
    let rotated = r.stdout.trim().to_string();
    assert!(rotated.starts_with(&format!("cbk_{id}_")) && rotated != key);
    assert!(
        r.stderr.contains("previous secret keeps working until"),
        "{}",
        r.stderr
    );
    let rec2 = store.service_key(&id).await.unwrap().unwrap();
    assert_eq!(
        rec2.secret_hash,
        cryptobot_auth::hash_opaque_token(&rotated[17..])
    );
    assert_eq!(
        rec2.previous_hash.as_deref(),
        Some(rec.secret_hash.as_str())
    );
    assert!((rec2.previous_valid_until.unwrap() - (now() + 24 * 3600)).abs() < 60);
    assert_eq!(rec2.expires_at, rec.expires_at, "the expiry stays");
    let r = apikey(h, &["rotate", &id, "--expires", "7d"]).ok();
    assert!(r.stdout.starts_with("cbk_"));
    let rec3 = store.service_key(&id).await.unwrap().unwrap();
    assert!((rec3.expires_at.unwrap() - (now() + 7 * 86_400)).abs() < 60);

    // Revocation.
    let r = apikey(h, &["revoke", &id]).ok();
    assert!(
        r.stdout.contains(&format!("revoked API key {id}")),
        "{}",
        r.stdout
    );
    let r = apikey(h, &["revoke", &id]).ok();
    assert!(r.stdout.contains("already revoked"), "{}", r.stdout);
    let r = apikey(h, &["rotate", &id]);
    input_error(&r, "revoked or expired");
    let r = apikey(h, &["revoke", "nosuchkey000"]);
    input_error(&r, "no API key with id `nosuchkey000`");
    let r = cryptobot(&[
        "--format", "json", "apikey", "list", "--user", "alice", "--home", h,
    ])
    .ok();
    assert_eq!(json_of(&r)["api_keys"][0]["status"], "revoked");

    // The per-user limit (5 by default) counts active keys.
    for i in 2..=5 {
        apikey(
            h,
            &[
                "create",
                "--user",
                "tom",
                "--name",
                &format!("k{i}"),
                "--scopes",
                "trade:read",
            ],
        )
        .ok();
    }
    let r = apikey(
        h,
        &[
            "create",
            "--user",
            "tom",
            "--name",
            "k6",
            "--scopes",
            "trade:read",
        ],
    );
    input_error(&r, "max_keys_per_user");

    // With a second admin, --user is required.
    add_user(h, "bea", "admin");
    let r = apikey(h, &["create", "--name", "x", "--scopes", "trade:read"]);
    input_error(&r, "2 enabled administrators");

    // --root makes no sense here.
    let r = cryptobot(&[
        "apikey",
        "list",
        "--root",
        dir.path().to_str().unwrap(),
        "--home",
        "/opt/cryptobot",
    ]);
    assert_eq!(r.status, 2, "{}", r.both());

    // Every operation was audited as the operator; no secret in the log.
    let audit = store
        .query_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for e in [
        "api_key_created",
        "api_key_rotated",
        "api_key_revoked",
        "api_key_refused",
    ] {
        let found: Vec<_> = audit.iter().filter(|r| r.event.event == e).collect();
        assert!(!found.is_empty(), "{e}");
        assert!(
            found.iter().all(|r| r
                .event
                .actor
                .as_deref()
                .is_some_and(|a| a.starts_with("cli:"))),
            "{e}: {found:?}"
        );
    }
    let text = format!("{audit:?}");
    for secret in [&key[17..], &tom_key[17..], &rotated[17..]] {
        assert!(!text.contains(secret));
    }
    store.close().await;
}
