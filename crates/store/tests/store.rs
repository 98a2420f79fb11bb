//! Behaviour suite of the store, run against SQLite and PostgreSQL.
//!
//! Every behaviour is written once as an `async fn(&Store, &Target)` and run
//! on a fresh database of each backend by [`run_cases!`].

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cryptobot_store::{
    ACCOUNT_WIDE, AuditEvent, AuditQuery, AuditRecord, Backend, FailureBudget, NewSession, NewUser,
    RefreshUse, SCHEMA_VERSION, Store, StoreError, Target,
};
use cryptobot_testkit::{PgOptions, PgServer};
use secrecy::SecretString;
use sqlx::Connection;

// ---------------------------------------------------------------- helpers

/// Runs one statement on the target through a separate raw connection.
async fn raw_exec(target: &Target, sql: &str) {
    sqlx::any::install_default_drivers();
    let url = match target {
        Target::Sqlite(path) => format!("sqlite://{}", path.display()),
        Target::Postgres { url, .. } => url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

fn new_user(name: &str, now: i64) -> NewUser {
    NewUser {
        username: name.to_owned(),
        role: "user".to_owned(),
        password_hash: format!("$argon2id$hash-of-{name}"),
        now,
    }
}

fn new_session(id: &str, user_id: &str, now: i64, expires_at: i64) -> NewSession {
    NewSession {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_addr: "192.0.2.1".to_owned(),
        user_agent: "test-agent/1.0".to_owned(),
        now,
        expires_at,
        mfa_at: None,
    }
}

fn event(at_ms: i64, name: &str, actor: Option<&str>) -> AuditEvent {
    AuditEvent {
        at_ms,
        event: name.to_owned(),
        actor: actor.map(str::to_owned),
        subject: Some("subject".to_owned()),
        client_addr: None,
        outcome: "success".to_owned(),
        details: serde_json::json!({ "n": at_ms }),
    }
}

// ---------------------------------------------------------------- behaviours

async fn migrations_are_idempotent(store: &Store, target: &Target) {
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let alice = store.create_user(&new_user("alice", 100)).await.unwrap();
    for _ in 0..2 {
        let again = Store::open(target).await.unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(
            again.user_by_name("alice").await.unwrap().unwrap().id,
            alice.id
        );
        again.close().await;
    }
    store.ping().await.unwrap();
}

async fn newer_schema_is_refused(store: &Store, target: &Target) {
    raw_exec(
        target,
        "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)",
    )
    .await;
    let err = Store::open(target).await.unwrap_err();
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("999"), "{msg}");
    // The already-open store keeps working.
    store.ping().await.unwrap();
}

async fn users_basics(store: &Store, _target: &Target) {
    let bob = store.create_user(&new_user("bob", 100)).await.unwrap();
    let alice = store.create_user(&new_user("alice", 200)).await.unwrap();
    assert_eq!(alice.id.len(), 22);
    assert_ne!(alice.id, bob.id);
    assert!(
        alice
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    let err = store
        .create_user(&new_user("alice", 300))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(what) if what == "username"),
        "{err:?}"
    );

    let by_name = store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(by_name, alice);
    assert_eq!(by_name.password_changed_at, 200);
    assert_eq!(by_name.created_at, 200);
    assert!(!by_name.disabled);
    assert_eq!(by_name.locked_until, None);
    assert_eq!(by_name.last_login_at, None);
    assert_eq!(store.user_by_id(&bob.id).await.unwrap().unwrap(), bob);
    assert!(store.user_by_name("carol").await.unwrap().is_none());
    assert!(store.user_by_id("nope").await.unwrap().is_none());

    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    assert!(store.set_disabled(&alice.id, true).await.unwrap());
    assert!(store.user_by_id(&alice.id).await.unwrap().unwrap().disabled);
    assert!(store.set_disabled(&alice.id, false).await.unwrap());
    assert!(!store.user_by_id(&alice.id).await.unwrap().unwrap().disabled);
    assert!(!store.set_disabled("nope", true).await.unwrap());

    assert!(store.set_role(&alice.id, "admin").await.unwrap());
    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap().unwrap().role,
        "admin"
    );
    assert!(!store.set_role("nope", "admin").await.unwrap());

    let debug = format!("{alice:?}");
    assert!(!debug.contains("hash-of"), "{debug}");
    assert!(debug.contains("alice"), "{debug}");
    let debug = format!("{:?}", new_user("dave", 1));
    assert!(!debug.contains("hash-of"), "{debug}");

    assert_eq!(
        store.password_history(&alice.id, 10).await.unwrap(),
        vec![alice.password_hash]
    );
}

const BUDGET: FailureBudget<'static> = FailureBudget {
    window_secs: 3600,
    group_limit: 3,
    account_limit: 6,
    ladder: &[300, 900, 3600],
    escalate_within_secs: 86_400,
};

async fn lockout(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("locky", 0)).await.unwrap();
    let (g1, g2) = ("203.0.113.0/24", "198.51.100.0/24");
    store.auth_success_from(&u.id, g2, 900).await.unwrap();
    assert!(store.addr_group_known(&u.id, g2, 0).await.unwrap());
    // Three from one group lock that group, for five minutes.
    for (i, t) in [(1, 1000), (2, 1010)] {
        let c = store
            .count_auth_failure(&u.id, g1, t, &BUDGET)
            .await
            .unwrap();
        assert_eq!((c.group_failures, c.account_failures), (i, i));
        assert!(c.new_locks.is_empty());
    }
    let c = store
        .count_auth_failure(&u.id, g1, 1020, &BUDGET)
        .await
        .unwrap();
    assert_eq!(c.new_locks.len(), 1);
    assert_eq!(c.new_locks[0].scope, g1);
    assert_eq!((c.new_locks[0].until, c.new_locks[0].level), (1320, 1));
    assert!(store.auth_lock(&u.id, g1, 1100, 0).await.unwrap().is_some());
    assert!(store.auth_lock(&u.id, g2, 1100, 0).await.unwrap().is_none());
    assert_eq!(
        store.user_by_id(&u.id).await.unwrap().unwrap().locked_until,
        Some(1320)
    );
    // After it, three more take the next length; with them the account has
    // six in the hour and is locked everywhere but where it signed in.
    for t in [1400, 1410] {
        store
            .count_auth_failure(&u.id, g1, t, &BUDGET)
            .await
            .unwrap();
    }
    let c = store
        .count_auth_failure(&u.id, g1, 1420, &BUDGET)
        .await
        .unwrap();
    assert_eq!(c.account_failures, 6);
    assert_eq!(c.new_locks.len(), 2, "{c:?}");
    let group = c.new_locks.iter().find(|l| l.scope == g1).unwrap();
    assert_eq!((group.until, group.level), (1420 + 900, 2));
    assert!(c.new_locks.iter().any(|l| l.scope == ACCOUNT_WIDE));
    assert!(
        store
            .auth_lock(&u.id, "10.0.0.0/24", 1520, 0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store.auth_lock(&u.id, g2, 1520, 0).await.unwrap().is_none(),
        "a known group is spared"
    );
    assert!(
        store
            .auth_lock(&u.id, g2, 1520, 950)
            .await
            .unwrap()
            .is_some(),
        "known only if signed in from after `known_since`"
    );
    assert_eq!(store.auth_locks(&u.id, 1520).await.unwrap().len(), 2);
    // Old failures are forgotten after the window; unlock clears all.
    assert!(store.unlock(&u.id).await.unwrap());
    assert!(store.auth_locks(&u.id, 1520).await.unwrap().is_empty());
    let c = store
        .count_auth_failure(&u.id, g1, 9000, &BUDGET)
        .await
        .unwrap();
    assert_eq!(c.account_failures, 1);
    assert!(matches!(
        store.count_auth_failure("nope", g1, 1, &BUDGET).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn concurrent_failures_count_exactly(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("racy", 0)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let id = u.id.clone();
            tokio::spawn(async move {
                store
                    .count_auth_failure(&id, "203.0.113.0/24", 5000, &BUDGET)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    // Counted one after the other: 1 to 6, then the account-wide lock of
    // that second, after which (same second) nothing more counts towards
    // the next one.
    let mut counts: Vec<i64> = outcomes.iter().map(|o| o.account_failures).collect();
    counts.sort_unstable();
    let mut expected = vec![0; 14];
    expected.extend(1..=6);
    assert_eq!(counts, expected);
    let group_locks = outcomes
        .iter()
        .flat_map(|o| &o.new_locks)
        .filter(|l| l.scope != ACCOUNT_WIDE)
        .count();
    let account_locks = outcomes
        .iter()
        .flat_map(|o| &o.new_locks)
        .filter(|l| l.scope == ACCOUNT_WIDE)
        .count();
    assert_eq!((group_locks, account_locks), (1, 1), "each lock set once");
}

async fn password_history(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("hist", 10)).await.unwrap();
    for (i, t) in [(1, 20), (2, 30), (3, 40), (4, 50)] {
        store
            .set_password(&u.id, &format!("h{i}"), t, 3)
            .await
            .unwrap();
    }
    assert_eq!(
        store.password_history(&u.id, 10).await.unwrap(),
        ["h4", "h3", "h2"]
    );
    assert_eq!(
        store.password_history(&u.id, 2).await.unwrap(),
        ["h4", "h3"]
    );
    let stored = store.user_by_id(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "h4");
    assert_eq!(stored.password_changed_at, 50);

    // keep_history 0 still keeps the current hash.
    store.set_password(&u.id, "h5", 60, 0).await.unwrap();
    assert_eq!(store.password_history(&u.id, 10).await.unwrap(), ["h5"]);
    store.set_password(&u.id, "h6", 70, 5).await.unwrap();
    assert_eq!(
        store.password_history(&u.id, 10).await.unwrap(),
        ["h6", "h5"]
    );

    // Rehash: only from the current hash; history's newest matching row
    // follows; password_changed_at stays.
    assert!(!store.replace_hash(&u.id, "h5", "h5-new").await.unwrap());
    assert!(store.replace_hash(&u.id, "h6", "h6-new").await.unwrap());
    assert!(!store.replace_hash("nope", "h6-new", "x").await.unwrap());
    let stored = store.user_by_id(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "h6-new");
    assert_eq!(stored.password_changed_at, 70);
    assert_eq!(
        store.password_history(&u.id, 10).await.unwrap(),
        ["h6-new", "h5"]
    );

    let err = store.set_password("nope", "x", 1, 3).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // Histories are per user.
    let other = store.create_user(&new_user("other", 10)).await.unwrap();
    assert_eq!(
        store.password_history(&other.id, 10).await.unwrap().len(),
        1
    );
    assert_eq!(store.password_history(&u.id, 10).await.unwrap().len(), 2);
}

async fn session_limit_ends_the_oldest(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("sess", 0)).await.unwrap();
    let other = store.create_user(&new_user("other", 0)).await.unwrap();
    let far = 100_000;

    // An expired and an ended session do not count.
    store
        .create_session(&new_session("expired", &u.id, 10, 50), 3)
        .await
        .unwrap();
    store
        .create_session(&new_session("gone", &u.id, 11, far), 3)
        .await
        .unwrap();
    assert!(store.end_session("gone", "logout", 12).await.unwrap());
    assert!(!store.end_session("gone", "logout", 13).await.unwrap());
    assert!(!store.end_session("unknown", "logout", 13).await.unwrap());
    store
        .create_session(&new_session("theirs", &other.id, 100, far), 1)
        .await
        .unwrap();

    for (i, t) in [(1, 100), (2, 101), (3, 102)] {
        let (s, ended) = store
            .create_session(&new_session(&format!("s{i}"), &u.id, t, far), 3)
            .await
            .unwrap();
        assert!(ended.is_empty());
        assert_eq!(s.created_at, t);
        assert_eq!(s.last_seen, t);
    }
    let (_, ended) = store
        .create_session(&new_session("s4", &u.id, 103, far), 3)
        .await
        .unwrap();
    assert_eq!(ended, ["s1"]);
    let s1 = store.session("s1").await.unwrap().unwrap();
    assert_eq!(s1.ended_at, Some(103));
    assert_eq!(s1.end_reason.as_deref(), Some("session_limit"));

    // Same second: creation order still decides; two over the limit.
    let (_, ended) = store
        .create_session(&new_session("s5", &u.id, 103, far), 2)
        .await
        .unwrap();
    assert_eq!(ended, ["s2", "s3"]);

    let ids: Vec<String> = store
        .list_sessions(&u.id, 200)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["s5", "s4"]);
    // The other user's session was not touched.
    assert!(
        store
            .session("theirs")
            .await
            .unwrap()
            .unwrap()
            .ended_at
            .is_none()
    );
    // Nothing is active once everything has expired.
    assert!(store.list_sessions(&u.id, far).await.unwrap().is_empty());

    store.touch_session("s4", 150).await.unwrap();
    let s4 = store.session("s4").await.unwrap().unwrap();
    assert_eq!((s4.created_at, s4.last_seen), (103, 150));
    assert_eq!(s4.client_addr, "192.0.2.1");
    assert_eq!(s4.user_agent, "test-agent/1.0");
    assert!(store.session("unknown").await.unwrap().is_none());

    let err = store
        .create_session(&new_session("s4", &u.id, 160, far), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .create_session(&new_session("s9", "nope", 160, far), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn end_user_sessions(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("ender", 0)).await.unwrap();
    let other = store.create_user(&new_user("other", 0)).await.unwrap();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        store
            .create_session(&new_session(id, &u.id, 10 + i as i64, 1000), 10)
            .await
            .unwrap();
    }
    store
        .create_session(&new_session("x", &other.id, 10, 1000), 10)
        .await
        .unwrap();

    let mut ended = store
        .end_user_sessions(&u.id, Some("b"), "password_changed", 20)
        .await
        .unwrap();
    ended.sort();
    assert_eq!(ended, ["a", "c"]);
    let a = store.session("a").await.unwrap().unwrap();
    assert_eq!(a.end_reason.as_deref(), Some("password_changed"));
    assert_eq!(a.ended_at, Some(20));
    assert!(
        store
            .session("b")
            .await
            .unwrap()
            .unwrap()
            .ended_at
            .is_none()
    );
    assert!(
        store
            .session("x")
            .await
            .unwrap()
            .unwrap()
            .ended_at
            .is_none()
    );

    let ended = store
        .end_user_sessions(&u.id, None, "admin", 30)
        .await
        .unwrap();
    assert_eq!(ended, ["b"]);
    assert!(
        store
            .end_user_sessions(&u.id, None, "admin", 40)
            .await
            .unwrap()
            .is_empty()
    );
    let a = store.session("a").await.unwrap().unwrap();
    assert_eq!(a.end_reason.as_deref(), Some("password_changed"));
}

async fn refresh_tokens(store: &Store, _target: &Target) {
    let u = store.create_user(&new_user("tok", 0)).await.unwrap();
    store
        .create_session(&new_session("sess", &u.id, 0, 10_000), 5)
        .await
        .unwrap();
    let sid = "sess".to_owned();

    store
        .insert_refresh_token("aa", "sess", 100, 200)
        .await
        .unwrap();
    let err = store
        .insert_refresh_token("aa", "sess", 100, 200)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    assert_eq!(
        store.consume_refresh_token("aa", 150).await.unwrap(),
        RefreshUse::Fresh {
            session_id: sid.clone()
        }
    );
    assert_eq!(
        store.consume_refresh_token("aa", 151).await.unwrap(),
        RefreshUse::Reused {
            session_id: sid.clone()
        }
    );
    // Used stays Reused even after expiry.
    assert_eq!(
        store.consume_refresh_token("aa", 500).await.unwrap(),
        RefreshUse::Reused {
            session_id: sid.clone()
        }
    );

    store
        .insert_refresh_token("bb", "sess", 100, 200)
        .await
        .unwrap();
    assert_eq!(
        store.consume_refresh_token("bb", 200).await.unwrap(),
        RefreshUse::Expired {
            session_id: sid.clone()
        }
    );
    assert_eq!(
        store.consume_refresh_token("bb", 100).await.unwrap(),
        RefreshUse::Fresh {
            session_id: sid.clone()
        },
        "an expired token is not consumed"
    );
    assert_eq!(
        store.consume_refresh_token("zz", 100).await.unwrap(),
        RefreshUse::Unknown
    );

    // Concurrent consumers: exactly one wins.
    for round in 0..5 {
        let hash = format!("race{round}");
        store
            .insert_refresh_token(&hash, "sess", 100, 200)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                let hash = hash.clone();
                tokio::spawn(async move { store.consume_refresh_token(&hash, 150).await.unwrap() })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let fresh = results
            .iter()
            .filter(|r| matches!(r, RefreshUse::Fresh { .. }))
            .count();
        let reused = results
            .iter()
            .filter(|r| matches!(r, RefreshUse::Reused { .. }))
            .count();
        assert_eq!((fresh, reused), (1, 1), "{results:?}");
    }
}

async fn audit_log(store: &Store, _target: &Target) {
    // 30 events: at_ms = 1000 * i, actors alternate, every third is "logout".
    let mut ids = Vec::new();
    for i in 1..=30_i64 {
        let actor = if i % 2 == 0 {
            Some("alice")
        } else {
            Some("bob")
        };
        let name = if i % 3 == 0 { "logout" } else { "login" };
        ids.push(
            store
                .append_audit(&event(1000 * i, name, actor))
                .await
                .unwrap(),
        );
    }
    store
        .append_audit(&AuditEvent {
            actor: None,
            ..event(31_000, "startup", None)
        })
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let all = store
        .query_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 31);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].event.event, "startup");
    assert_eq!(all[0].event.actor, None);
    assert_eq!(all[1].event, event(30_000, "logout", Some("alice")));

    // Time range: [5000, 10000).
    let range = store
        .query_audit(&AuditQuery {
            since_ms: Some(5000),
            until_ms: Some(10_000),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let times: Vec<i64> = range.iter().map(|r| r.event.at_ms).collect();
    assert_eq!(times, [9000, 8000, 7000, 6000, 5000]);

    // Actor and event combine.
    let alice_logouts = store
        .query_audit(&AuditQuery {
            actor: Some("alice".into()),
            event: Some("logout".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let times: Vec<i64> = alice_logouts.iter().map(|r| r.event.at_ms).collect();
    assert_eq!(times, [30_000, 24_000, 18_000, 12_000, 6000]);
    let bob = store
        .query_audit(&AuditQuery {
            actor: Some("bob".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(bob.len(), 15);
    let nobody = store
        .query_audit(&AuditQuery {
            actor: Some("x' OR '1'='1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(nobody.is_empty());

    // Paging with before_id.
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .query_audit(&AuditQuery {
                actor: Some("alice".into()),
                before_id,
                limit: 4,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        before_id = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.event.at_ms));
    }
    let expected: Vec<i64> = (1..=15).rev().map(|i| 2000 * i).collect();
    assert_eq!(seen, expected);

    // Limit clamp.
    for (limit, expected) in [(0, 1), (-5, 1), (1, 1), (5000, 31)] {
        let got = store
            .query_audit(&AuditQuery {
                limit,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(got.len(), expected, "limit {limit}");
    }

    // Serialized flat.
    let json = serde_json::to_value(&all[1]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": all[1].id,
            "at_ms": 30_000,
            "event": "logout",
            "actor": "alice",
            "subject": "subject",
            "client_addr": null,
            "outcome": "success",
            "details": { "n": 30_000 },
        })
    );
    let back: AuditRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, all[1]);
}

async fn mfa_state(store: &Store, _target: &Target) {
    use cryptobot_store::Challenge;
    let u = store.create_user(&new_user("mia", 100)).await.unwrap();
    assert!(store.totp(&u.id).await.unwrap().is_none());
    store.totp_begin(&u.id, "sealed-1", 100).await.unwrap();
    store.totp_begin(&u.id, "sealed-2", 101).await.unwrap();
    let rec = store.totp(&u.id).await.unwrap().unwrap();
    assert_eq!(rec.sealed_secret, "sealed-2");
    assert!(!rec.confirmed);
    assert!(!format!("{rec:?}").contains("sealed-2"));
    assert!(!store.totp_use_step(&u.id, 5).await.unwrap(), "unconfirmed");
    let hashes: Vec<String> = (0..3).map(|i| format!("h{i}")).collect();
    assert!(store.totp_confirm(&u.id, 10, &hashes, 102).await.unwrap());
    assert!(!store.totp_confirm(&u.id, 11, &hashes, 103).await.unwrap());
    assert!(store.user_by_id(&u.id).await.unwrap().unwrap().mfa_enabled);
    assert!(matches!(
        store.totp_begin(&u.id, "x", 104).await,
        Err(StoreError::Conflict(_))
    ));
    // Replay guard: only steps after the last one used.
    assert!(!store.totp_use_step(&u.id, 10).await.unwrap());
    assert!(store.totp_use_step(&u.id, 11).await.unwrap());
    assert!(!store.totp_use_step(&u.id, 11).await.unwrap());
    // Backup codes: each once.
    assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 3);
    assert!(store.backup_code_use(&u.id, "h1", 105).await.unwrap());
    assert!(!store.backup_code_use(&u.id, "h1", 106).await.unwrap());
    assert!(!store.backup_code_use(&u.id, "nope", 106).await.unwrap());
    assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 2);
    store
        .backup_codes_replace(&u.id, &["n1".to_string()], 107)
        .await
        .unwrap();
    assert!(
        !store.backup_code_use(&u.id, "h2", 108).await.unwrap(),
        "old codes stop working"
    );
    assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 1);
    // Challenges: single use, expiring.
    let c = Challenge {
        user_id: u.id.clone(),
        client_addr: "192.0.2.1".into(),
        user_agent: "ua".into(),
    };
    store.challenge_insert("c1", &c, 100, 400).await.unwrap();
    assert_eq!(store.challenge("c1", 200).await.unwrap(), Some(c.clone()));
    assert!(
        store.challenge("c1", 400).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.challenge_consume("c1", 200).await.unwrap());
    assert!(!store.challenge_consume("c1", 201).await.unwrap());
    assert!(store.challenge("c1", 202).await.unwrap().is_none());
    // Session flag and removal.
    let (s, _) = store
        .create_session(&new_session("s-mfa", &u.id, 100, 1000), 5)
        .await
        .unwrap();
    assert_eq!(s.mfa_at, None);
    store.session_mfa_done("s-mfa", 150).await.unwrap();
    assert_eq!(
        store.session("s-mfa").await.unwrap().unwrap().mfa_at,
        Some(150)
    );
    assert!(store.mfa_remove(&u.id).await.unwrap());
    assert!(!store.user_by_id(&u.id).await.unwrap().unwrap().mfa_enabled);
    assert_eq!(store.backup_codes_left(&u.id).await.unwrap(), 0);
    assert!(!store.mfa_remove(&u.id).await.unwrap());
}

// ---------------------------------------------------------------- runners

/// Runs each case on a fresh database made by `$fresh(name).await`, which
/// yields `(Store, Target)`.
macro_rules! run_cases {
    ($fresh:expr; $($case:ident),* $(,)?) => {$(
        {
            let name = stringify!($case);
            eprintln!("--- case {name}");
            let (store, target) = $fresh(name).await;
            $case(&store, &target).await;
            store.close().await;
        }
    )*};
}

macro_rules! all_cases {
    ($fresh:expr) => {
        run_cases!(
            $fresh;
            migrations_are_idempotent,
            newer_schema_is_refused,
            users_basics,
            lockout,
            concurrent_failures_count_exactly,
            password_history,
            session_limit_ends_the_oldest,
            end_user_sessions,
            refresh_tokens,
            audit_log,
            mfa_state,
        )
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let target = Target::Sqlite(dir.path().join(format!("{name}.db")));
        async move {
            let store = Store::open(&target).await.unwrap();
            assert_eq!(store.backend(), Backend::Sqlite);
            (store, target)
        }
    };
    all_cases!(fresh);
}

/// `local` connections (the harness's psql, the suite's socket URLs) are
/// trusted; TCP needs a SCRAM password.
const HBA: &str = "local all all trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n\
                   host all all ::1/128 scram-sha-256\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_suite() {
    let conf = tempfile::tempdir().unwrap();
    let hba = conf.path().join("pg_hba.conf");
    std::fs::write(&hba, HBA).unwrap();
    let pg = PgServer::start_with(PgOptions {
        hba_file: Some(hba),
        ..Default::default()
    })
    .unwrap();

    let fresh = |name: &str| {
        let db = format!("t_{name}");
        pg.psql("postgres", &format!("CREATE DATABASE {db}"))
            .unwrap();
        let target = Target::Postgres {
            url: pg.socket_url("postgres", &db),
            password: None,
        };
        async move {
            let store = Store::open(&target).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            (store, target)
        }
    };
    all_cases!(fresh);

    // The injected password is used (SCRAM over TCP) and never echoed.
    pg.psql("postgres", "ALTER ROLE postgres PASSWORD 'Right pw/%@:1'")
        .unwrap();
    let target = Target::Postgres {
        url: pg.tcp_url("postgres", "t_users_basics"),
        password: Some(SecretString::from("Right pw/%@:1")),
    };
    let store = Store::open(&target).await.unwrap();
    assert!(store.user_by_name("alice").await.unwrap().is_some());
    store.close().await;
    // Also when the URL has no host part to carry it.
    let target = Target::Postgres {
        url: format!(
            "postgres:///t_users_basics?host=127.0.0.1&port={}&user=postgres",
            pg.port()
        ),
        password: Some(SecretString::from("Right pw/%@:1")),
    };
    Store::open(&target).await.unwrap().close().await;

    let target = Target::Postgres {
        url: pg.tcp_url("postgres", "postgres"),
        password: Some(SecretString::from("s3cret-XYZ")),
    };
    let err = Store::open(&target).await.unwrap_err();
    eprintln!("wrong password: {err}");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert_no_secret(&err, "s3cret-XYZ");
    let debug = format!("{target:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

fn assert_no_secret(err: &StoreError, secret: &str) {
    let display = err.to_string();
    let debug = format!("{err:?}");
    assert!(!display.contains(secret), "{display}");
    assert!(!debug.contains(secret), "{debug}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert!(!s.to_string().contains(secret));
        source = s.source();
    }
}

#[tokio::test]
async fn postgres_connection_error_hides_the_password() {
    let port = cryptobot_testkit::free_port();
    for url in [
        format!("postgres://app@127.0.0.1:{port}/app"),
        format!("postgres://app:s3cret-XYZ@127.0.0.1:{port}/app"),
    ] {
        let target = Target::Postgres {
            url,
            password: Some(SecretString::from("s3cret-XYZ")),
        };
        let err = Store::open(&target).await.unwrap_err();
        eprintln!("closed port: {err} / {err:?}");
        assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
        assert_no_secret(&err, "s3cret-XYZ");
        assert!(!format!("{target:?}").contains("s3cret-XYZ"));
    }
    let err = Store::open(&Target::Postgres {
        url: "mysql://u:s3cret-XYZ@h/db".into(),
        password: None,
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTarget(_)), "{err:?}");
    assert_no_secret(&err, "s3cret-XYZ");
}

#[tokio::test]
async fn sqlite_file_is_private_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth db #1.sqlite");
    let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    store.create_user(&new_user("walter", 1)).await.unwrap();
    assert!(sidecar(&path, "-wal").exists(), "WAL file missing");
    store.close().await;

    // An existing file keeps its mode and data.
    let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
    assert!(store.user_by_name("walter").await.unwrap().is_some());
    store.close().await;

    // The directory must exist.
    let err = Store::open(&Target::Sqlite(dir.path().join("missing/x.db")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(!dir.path().join("missing").exists());
}

fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}
