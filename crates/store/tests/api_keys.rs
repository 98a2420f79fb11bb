//! Service API keys in the store, on SQLite and PostgreSQL: the per-user
//! limit (also under concurrent inserts), rotation with a grace window,
//! revocation, last-use recording, listings, and redacted `Debug`.

#![allow(clippy::unwrap_used)]

use cryptobot_store::{
    Backend, KeyInsert, NewServiceKey, NewUser, ServiceKey, Store, StoreError, Target,
};
use cryptobot_testkit::PgServer;

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        role: "trader".to_owned(),
        password_hash: format!("$argon2id$hash-of-{name}"),
        now: 1,
    }
}

fn new_key(id: &str, user_id: &str, now: i64, expires_at: Option<i64>) -> NewServiceKey {
    NewServiceKey {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        name: format!("name-{id}"),
        scopes: "trade:execute trade:read".to_owned(),
        secret_hash: format!("hash-{id}"),
        now,
        expires_at,
    }
}

async fn created(store: &Store, new: &NewServiceKey, max: usize) -> ServiceKey {
    match store.insert_service_key(new, max).await.unwrap() {
        KeyInsert::Created(k) => *k,
        other => panic!("not created: {other:?}"),
    }
}

async fn basics(store: &Store) {
    let u = store.create_user(&new_user("svc")).await.unwrap();
    let other = store.create_user(&new_user("zed")).await.unwrap();
    let k = created(store, &new_key("aaaaaaaaaaaa", &u.id, 100, Some(1_000)), 3).await;
    assert_eq!(k.username, "svc");
    assert_eq!(k.name, "name-aaaaaaaaaaaa");
    assert_eq!(k.scopes, "trade:execute trade:read");
    assert_eq!(k.secret_hash, "hash-aaaaaaaaaaaa");
    assert_eq!((k.created_at, k.expires_at), (100, Some(1_000)));
    assert_eq!(
        (
            k.previous_hash.as_deref(),
            k.rotated_at,
            k.revoked_at,
            k.last_used_at
        ),
        (None, None, None, None)
    );
    assert!(k.is_active(999) && !k.is_active(1_000));
    // Debug never shows a digest.
    let debug = format!("{k:?}{:?}", new_key("x", "y", 0, None));
    assert!(!debug.contains("hash-"), "{debug}");

    // A taken id, an unknown owner.
    let err = store
        .insert_service_key(&new_key("aaaaaaaaaaaa", &u.id, 100, None), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .insert_service_key(&new_key("bbbbbbbbbbbb", "nobody", 100, None), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // The limit counts active keys only: revoked and expired ones free a slot.
    created(store, &new_key("k2", &u.id, 101, None), 3).await;
    created(store, &new_key("k3", &u.id, 102, Some(1_500)), 3).await;
    assert_eq!(
        store
            .insert_service_key(&new_key("k4", &u.id, 103, None), 3)
            .await
            .unwrap(),
        KeyInsert::LimitReached { active: 3 }
    );
    assert!(store.service_key("k4").await.unwrap().is_none());
    // Another user is not affected.
    created(store, &new_key("o1", &other.id, 103, None), 1).await;
    assert!(store.revoke_service_key("k2", 104).await.unwrap());
    assert!(!store.revoke_service_key("k2", 105).await.unwrap());
    assert!(!store.revoke_service_key("nope", 105).await.unwrap());
    created(store, &new_key("k4", &u.id, 105, None), 3).await;
    // At 1000 the first key has expired: one slot again.
    created(store, &new_key("k5", &u.id, 1_000, None), 3).await;
    assert!(matches!(
        store
            .insert_service_key(&new_key("k6", &u.id, 1_000, None), 3)
            .await
            .unwrap(),
        KeyInsert::LimitReached { active: 3 }
    ));

    // Listings: one user's newest first, or everyone's.
    let mine: Vec<String> = store
        .list_service_keys(Some(&u.id))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(mine, ["k5", "k4", "k3", "k2", "aaaaaaaaaaaa"]);
    let all = store.list_service_keys(None).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all.last().unwrap().username, "zed");
    assert!(
        store
            .list_service_keys(Some(&other.id))
            .await
            .unwrap()
            .iter()
            .all(|k| k.user_id == other.id)
    );

    // Last use: recorded, then not again within the interval.
    store.touch_service_key("k3", 200, 15).await.unwrap();
    store.touch_service_key("k3", 210, 15).await.unwrap();
    assert_eq!(
        store.service_key("k3").await.unwrap().unwrap().last_used_at,
        Some(200)
    );
    store.touch_service_key("k3", 215, 15).await.unwrap();
    assert_eq!(
        store.service_key("k3").await.unwrap().unwrap().last_used_at,
        Some(215)
    );

    // Rotation: the old digest stays as the previous one until the grace end.
    let r = store
        .rotate_service_key("k3", "hash-new", 300, 400, Some(1_500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.secret_hash, "hash-new");
    assert_eq!(r.previous_hash.as_deref(), Some("hash-k3"));
    assert_eq!(r.previous_valid_until, Some(400));
    assert_eq!(r.rotated_at, Some(300));
    assert_eq!(r.expires_at, Some(1_500));
    // A second rotation drops the first secret altogether.
    let r = store
        .rotate_service_key("k3", "hash-newer", 310, 410, Some(2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.previous_hash.as_deref(), Some("hash-new"));
    assert_eq!(r.expires_at, Some(2_000));
    // Revoked, expired or unknown keys are not rotated.
    assert!(
        store
            .rotate_service_key("k2", "h", 320, 420, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_service_key("aaaaaaaaaaaa", "h", 1_000, 1_100, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_service_key("nope", "h", 320, 420, None)
            .await
            .unwrap()
            .is_none()
    );
    // Revoking ends the grace window too.
    assert!(store.revoke_service_key("k3", 330).await.unwrap());
    let r = store.service_key("k3").await.unwrap().unwrap();
    assert_eq!((r.revoked_at, r.previous_valid_until), (Some(330), None));
    assert!(!r.is_active(331));
}

/// Concurrent inserts for one user never exceed the limit.
async fn concurrent_limit(store: &Store) {
    let u = store.create_user(&new_user("race")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        let uid = u.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert_service_key(&new_key(&format!("race{i:02}"), &uid, 100, None), 4)
                .await
        }));
    }
    let mut made = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            KeyInsert::Created(_) => made += 1,
            KeyInsert::LimitReached { active } => {
                assert_eq!(active, 4);
                refused += 1;
            }
        }
    }
    assert_eq!((made, refused), (4, 8));
    assert_eq!(store.list_service_keys(Some(&u.id)).await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for (name, case) in [("basics", 0), ("race", 1)] {
        let target = Target::Sqlite(dir.path().join(format!("{name}.db")));
        let store = Store::open(&target).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        if case == 0 {
            basics(&store).await;
        } else {
            concurrent_limit(&store).await;
        }
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let pg = PgServer::start().unwrap();
    for (name, case) in [("basics", 0), ("race", 1)] {
        let db = format!("k_{name}");
        pg.psql("postgres", &format!("CREATE DATABASE {db}"))
            .unwrap();
        let target = Target::Postgres {
            url: pg.socket_url("postgres", &db),
            password: None,
        };
        let store = Store::open(&target).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        if case == 0 {
            basics(&store).await;
        } else {
            concurrent_limit(&store).await;
        }
        store.close().await;
    }
}
