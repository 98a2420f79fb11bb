//! The group-commit audit writer: callers return only once their row is
//! committed, and a failed commit fails every waiting caller.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cryptobot_service::audit::{Who, audit_event};
use cryptobot_service::audit_batch::{AuditBatcher, BatchSettings};
use cryptobot_store::{AuditQuery, NewExchangeKey, Store, Target, VaultRecord};

async fn store(dir: &tempfile::TempDir) -> Store {
    let store = Store::open(&Target::Sqlite(dir.path().join("a.db")))
        .await
        .unwrap();
    let key = NewExchangeKey {
        id: "xk_1".into(),
        exchange: "binance".into(),
        label: "main".into(),
        permissions: "read".into(),
        ip_note: None,
        created_by: None,
        fingerprint: "sha256:00".into(),
        now: 1,
        creator_user_id: None,
        max_signatures_per_minute: None,
        passphrase_in_headers: false,
        pending_approval: None,
    };
    let rec = VaultRecord {
        id: "xk_1/1".into(),
        purpose: "exchange-credentials".into(),
        version: 1,
        master_version: 1,
        wrapped_key: "w".into(),
        ciphertext: "c".into(),
        created_at: 1,
    };
    store.add_exchange_key(&key, &rec).await.unwrap();
    store
}

fn who() -> Who {
    Who {
        actor: Some("alice".into()),
        client: None,
    }
}

/// 200 concurrent callers (every other one a signature with a key use)
/// through a small queue: each finds its own row the moment it returns,
/// and the use counts are 1..=100, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_return_after_their_row_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let batcher = Arc::new(AuditBatcher::start(
        store.clone(),
        BatchSettings {
            queue: 16,
            max_batch: 32,
        },
    ));
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let (batcher, store) = (Arc::clone(&batcher), store.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("test_event_{n}");
            let e = audit_event(
                &name,
                &who(),
                Some("xk_1"),
                "success",
                serde_json::json!({"n": n}),
            );
            let count = if n % 2 == 0 {
                Some(batcher.record_use(e, "xk_1", 7).await.unwrap().this_hour)
            } else {
                batcher.submit(e).await.unwrap();
                None
            };
            let rows = store
                .query_audit(&AuditQuery {
                    event: Some(name),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(rows.len(), 1, "row of caller {n} is visible on return");
            count
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            counts.push(c);
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=100).collect::<Vec<i64>>());
}

/// When the database fails, every waiting caller gets an error (none is
/// told its row was written), and nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_fails_every_waiting_caller() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let batcher = Arc::new(AuditBatcher::start(store.clone(), BatchSettings::default()));
    batcher
        .submit(audit_event(
            "before",
            &who(),
            None,
            "success",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    store.close().await;
    let mut tasks = Vec::new();
    for n in 0..100u32 {
        let batcher = Arc::clone(&batcher);
        tasks.push(tokio::spawn(async move {
            let e = audit_event(
                "after",
                &who(),
                None,
                "success",
                serde_json::json!({"n": n}),
            );
            if n % 2 == 0 {
                batcher.record_use(e, "xk_1", 7).await.map(|_| ())
            } else {
                batcher.submit(e).await
            }
        }));
    }
    for t in tasks {
        let result = tokio::time::timeout(std::time::Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap();
        assert!(result.is_err(), "a caller was answered Ok without a commit");
    }
}

/// A batch holding a row that cannot be written (an unknown key) fails as
/// a whole: the plain event submitted with it is not written either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_fails_its_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let batcher = AuditBatcher::start(store.clone(), BatchSettings::default());
    let bad = audit_event("bad", &who(), None, "success", serde_json::json!({}));
    let good = audit_event("good", &who(), None, "success", serde_json::json!({}));
    let (a, b) = tokio::join!(batcher.record_use(bad, "xk_missing", 7), async {
        // Queued behind the bad row; may land in its batch or the next.
        tokio::task::yield_now().await;
        batcher.submit(good).await
    });
    assert!(a.is_err());
    let written = store
        .query_audit(&AuditQuery {
            event: Some("good".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(b.is_ok(), written.len() == 1, "Ok exactly when written");
}
