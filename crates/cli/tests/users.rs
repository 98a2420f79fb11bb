//! `cryptobot user …` for containing a stolen credential, as an operator
//! runs them on a fresh installation: the access review (`user list`,
//! also as JSON), a password-reset token shown once, ending a user's
//! sessions, disabling (API keys suspended, not revived by enabling),
//! `apikey reactivate`, and `user delete` (the last admin stays, the audit
//! trail keeps a pseudonym). The pepper made by `secure-config` is used for
//! every hash the commands make.
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

fn run(home: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--home", home]);
    cryptobot(&all)
}

fn run_json(home: &str, args: &[&str]) -> Run {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    all.extend(["--home", home]);
    cryptobot(&all)
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("not JSON: {}", r.stdout))
}

async fn open(home: &Path) -> Store {
    Store::open(&Target::Sqlite(home.join("data/cryptobot.db")))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containing_a_stolen_credential_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("H");
    let h = home.to_str().unwrap();
    add_user(h, "alice", "admin");
    add_user(h, "tom", "trader");

    // secure-config made a pepper, and the commands use it.
    let pepper = home.join("config/secrets/password_pepper.key");
    assert_eq!(std::fs::read(&pepper).unwrap().len(), 32);
    let store = open(&home).await;
    let tom = store.user_by_name("tom").await.unwrap().unwrap();
    assert!(tom.password_hash.contains("keyid="), "peppered");

    // The access review, as a table and as JSON.
    let r = run(h, &["user", "list"]).ok();
    assert!(
        r.stdout.contains("LAST USED") && r.stdout.contains("IDLE DAYS"),
        "{}",
        r.stdout
    );
    let r = run_json(h, &["user", "list"]).ok();
    let users = json_of(&r)["users"].as_array().unwrap().clone();
    let t = users.iter().find(|u| u["username"] == "tom").unwrap();
    assert_eq!(t["active_sessions"], 0);
    assert_eq!(t["active_api_keys"], 0);
    assert_eq!(t["password_age_days"], 0);

    // A reset token, shown once, stored only as a MAC.
    let r = run_json(h, &["user", "reset-password", "tom"]).ok();
    let v = json_of(&r);
    let token = v["reset_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cbr_"));
    assert!(!store_dump(&home).contains(&token[4..]));
    let r = run(h, &["user", "reset-password", "nobody"]);
    assert_eq!(r.status, 2, "{}", r.both());
    assert!(r.stderr.contains("fix:"), "{}", r.stderr);

    // Disabling suspends the keys; enabling does not revive them.
    let r = run_json(
        h,
        &[
            "apikey",
            "create",
            "--user",
            "tom",
            "--name",
            "bot",
            "--scopes",
            "trade:read",
        ],
    )
    .ok();
    let id = json_of(&r)["api_key"]["id"].as_str().unwrap().to_string();
    run(h, &["user", "disable", "tom"]).ok();
    run(h, &["user", "enable", "tom"]).ok();
    let r = run_json(h, &["apikey", "list"]).ok();
    let keys = json_of(&r)["api_keys"].as_array().unwrap().clone();
    assert_eq!(keys[0]["status"], "suspended");
    let r = run(h, &["apikey", "reactivate", &id]).ok();
    assert!(r.stdout.contains("reactivated"), "{}", r.stdout);
    let r = run(h, &["apikey", "reactivate", &id]);
    assert_eq!(r.status, 2, "not suspended any more: {}", r.both());

    // Ending sessions of a user with none.
    let r = run(h, &["user", "end-sessions", "tom"]).ok();
    assert!(r.stdout.contains("ended 0 session"), "{}", r.stdout);

    // Deleting: the trail keeps a pseudonym; the last admin stays.
    let r = run_json(h, &["user", "delete", "tom"]).ok();
    let v = json_of(&r);
    let pseudonym = v["pseudonym"].as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("deleted:"));
    assert_eq!(v["api_keys"], 1);
    let r = run(h, &["user", "delete", "alice"]);
    assert_eq!(r.status, 2, "{}", r.both());
    assert!(
        r.stderr.contains("last enabled administrator"),
        "{}",
        r.stderr
    );
    let about_tom = store
        .query_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.subject.as_deref() == Some("tom"))
        .count();
    assert_eq!(about_tom, 0, "no record names tom any more");
    store.close().await;
}

/// The database file's bytes as text (the token must not be in it).
fn store_dump(home: &Path) -> String {
    let mut all = Vec::new();
    for f in ["data/cryptobot.db", "data/cryptobot.db-wal"] {
        if let Ok(b) = std::fs::read(home.join(f)) {
            all.extend(b);
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}
