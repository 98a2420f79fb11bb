//! Limiter decisions per second through `shared::Limits::check`, the path
//! every request takes: in-process, and Redis-backed against a throwaway
//! `redis-server` on loopback (testkit), with 1 to 256 decisions in flight
//! over the one multiplexed connection (the connection manager pipelines
//! them). Run with `cargo bench -p cryptobot-server --bench limiter`;
//! `LIMITER_BENCH_SECS` sets the seconds per row (default 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cryptobot_auth::Pseudonyms;
use cryptobot_config::RateLimiting;
use cryptobot_server::limits::LimitKey;
use cryptobot_server::shared::{Limits, RedisBackend};
use cryptobot_testkit::RedisServer;

async fn run(limits: Arc<Limits>, keys: Arc<Vec<LimitKey>>, tasks: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (limits, keys, stop, done) = (limits.clone(), keys.clone(), stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut i = t;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let d = limits.check(&keys[i % keys.len()]).await.expect("decision");
                std::hint::black_box(d);
                i = i.wrapping_add(7919);
                n += 1;
                if n.is_multiple_of(1024) {
                    // The in-process check never waits: let the timer run.
                    tokio::task::yield_now().await;
                }
            }
            done.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let secs: u64 = std::env::var("LIMITER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = RedisServer::start().expect("redis-server (Debian package redis-server)");
    let rules = RateLimiting {
        api_requests_per_minute: 1_000_000,
        burst: 10_000,
        ..RateLimiting::default()
    };
    let names = Pseudonyms::from_key(&[1u8; 32]);
    let keys: Arc<Vec<LimitKey>> = Arc::new(
        (0..10_000)
            .map(|i| LimitKey::Session(format!("session-{i:08}")))
            .collect(),
    );
    rt.block_on(async {
        let local = Arc::new(Limits::new(&rules, None, names.clone()));
        let backend =
            RedisBackend::connect(&redis.url(), "default", None, Duration::from_secs(1)).unwrap();
        let shared = Arc::new(Limits::new(&rules, Some(backend), names.clone()));
        // Warm up the connection and the script cache.
        run(shared.clone(), keys.clone(), 4, 1).await;
        println!("backend     in flight   decisions/s");
        for tasks in [1usize, 2] {
            let r = run(local.clone(), keys.clone(), tasks, secs).await;
            println!("in-process  {tasks:>9}   {r:>11.0}");
        }
        for tasks in [1usize, 16, 64, 256] {
            let r = run(shared.clone(), keys.clone(), tasks, secs).await;
            println!("redis       {tasks:>9}   {r:>11.0}");
        }
        let c = shared.counters.snapshot();
        assert_eq!(c.backend_errors, 0, "{c:?}");
    });
}
