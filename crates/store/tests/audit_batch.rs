//! The audit log's group commit (`Store::record_audit_batch`) on SQLite and
//! PostgreSQL: every row of a batch, and usage sums per key and hour.

#![allow(clippy::unwrap_used)]

use cryptobot_store::{
    AuditEntry, AuditEvent, AuditQuery, Backend, KeyUse, NewExchangeKey, Store, Target, Usage,
    VaultRecord,
};
use cryptobot_testkit::PgServer;

async fn add_key(store: &Store, id: &str) {
    let key = NewExchangeKey {
        id: id.to_owned(),
        exchange: "binance".to_owned(),
        label: id.to_owned(),
        permissions: "read".to_owned(),
        ip_note: None,
        created_by: None,
        fingerprint: format!("sha256:{id}"),
        now: 1_000,
        creator_user_id: None,
        max_signatures_per_minute: None,
        passphrase_in_headers: false,
        pending_approval: None,
    };
    let rec = VaultRecord {
        id: format!("{id}/1"),
        purpose: "exchange-credentials".to_owned(),
        version: 1,
        master_version: 1,
        wrapped_key: "wrapped".to_owned(),
        ciphertext: "sealed".to_owned(),
        created_at: 1_000,
    };
    store.add_exchange_key(&key, &rec).await.unwrap();
}

fn entry(n: usize, key_use: Option<(&str, i64)>) -> AuditEntry {
    AuditEntry {
        event: AuditEvent {
            at_ms: 5_000 + n as i64,
            event: if key_use.is_some() {
                "exchange_key_used".to_owned()
            } else {
                "exchange_key_sign_refused".to_owned()
            },
            actor: Some("alice".to_owned()),
            subject: key_use.map(|(k, _)| k.to_owned()),
            client_addr: Some("192.0.2.1".to_owned()),
            outcome: "success".to_owned(),
            details: serde_json::json!({ "n": n }),
        },
        key_use: key_use.map(|(k, hour)| KeyUse {
            key_id: k.to_owned(),
            hour,
        }),
    }
}

async fn all_rows(store: &Store) -> Vec<i64> {
    let mut ns = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .query_audit(&AuditQuery {
                before_id: before,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        ns.extend(
            page.iter()
                .filter_map(|r| r.event.details["n"].as_i64())
                .collect::<Vec<_>>(),
        );
    }
    ns.sort_unstable();
    ns
}

/// 600 entries (more than one multi-row insert) over two keys and two
/// hours plus plain events; then a second batch continues the counts.
async fn batch_commits_rows_and_sums(store: &Store) {
    add_key(store, "xk_a").await;
    add_key(store, "xk_b").await;
    // Hour 100 of xk_a had 48 uses in the day before: previous_24h = 48.
    for hour in [90, 99] {
        let e: Vec<AuditEntry> = (0..24).map(|i| entry(i, Some(("xk_a", hour)))).collect();
        store.record_audit_batch(&e).await.unwrap();
    }
    let before = all_rows(store).await.len();
    let mix = |i: usize| match i % 5 {
        0 => None,
        1 | 2 => Some(("xk_a", 100)),
        3 => Some(("xk_a", 101)),
        _ => Some(("xk_b", 100)),
    };
    let entries: Vec<AuditEntry> = (0..600).map(|i| entry(1_000 + i, mix(i))).collect();
    let usages = store.record_audit_batch(&entries).await.unwrap();
    assert_eq!(usages.len(), 600);

    // Every row is there, once.
    let rows = all_rows(store).await;
    assert_eq!(rows.len(), before + 600);
    for i in 0..600 {
        assert!(rows.binary_search(&(1_000 + i as i64)).is_ok(), "row {i}");
    }

    // Each use sees the count as if written one by one, in order.
    let mut seen = std::collections::HashMap::new();
    for (i, usage) in usages.iter().enumerate() {
        match mix(i) {
            None => assert_eq!(*usage, None),
            Some(k) => {
                let n = seen.entry(k).or_insert(0i64);
                *n += 1;
                // Hour 101's day before includes hour 100, already
                // counted in this batch: 24 + 24 + 240.
                let previous = match k {
                    ("xk_a", 100) => 48,
                    ("xk_a", 101) => 288,
                    _ => 0,
                };
                assert_eq!(
                    *usage,
                    Some(Usage {
                        this_hour: *n,
                        previous_24h: previous,
                        alerted: false,
                    }),
                    "entry {i}"
                );
            }
        }
    }
    assert_eq!(seen[&("xk_a", 100)], 240);
    assert_eq!(seen[&("xk_a", 101)], 120);
    assert_eq!(seen[&("xk_b", 100)], 120);

    // A second batch continues from the stored sums; alerted is read back.
    assert!(store.mark_usage_alerted("xk_a", 100).await.unwrap());
    let more = store
        .record_audit_batch(&[entry(2_000, Some(("xk_a", 100))), entry(2_001, None)])
        .await
        .unwrap();
    assert_eq!(
        more,
        vec![
            Some(Usage {
                this_hour: 241,
                previous_24h: 48,
                alerted: true,
            }),
            None
        ]
    );
    // And the single-row path agrees with it.
    let one = store
        .record_key_use("xk_a", 100, &entry(2_002, None).event)
        .await
        .unwrap();
    assert_eq!(one.this_hour, 242);
    assert!(store.record_audit_batch(&[]).await.unwrap().is_empty());
}

/// A batch that cannot be written leaves nothing behind.
async fn failed_batch_writes_nothing(store: &Store) {
    let before = all_rows(store).await.len();
    let err = store
        .record_audit_batch(&[entry(3_000, None), entry(3_001, Some(("xk_missing", 1)))])
        .await;
    assert!(err.is_err(), "an unknown key violates the foreign key");
    assert_eq!(all_rows(store).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Target::Sqlite(dir.path().join("a.db")))
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    batch_commits_rows_and_sums(&store).await;
    failed_batch_writes_nothing(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches() {
    let pg = PgServer::start().unwrap();
    pg.psql("postgres", "CREATE DATABASE t_batch").unwrap();
    let store = Store::open(&Target::Postgres {
        url: pg.socket_url("postgres", "t_batch"),
        password: None,
    })
    .await
    .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    batch_commits_rows_and_sums(&store).await;
    failed_batch_writes_nothing(&store).await;
    store.close().await;
}
