//! GCRA (generic cell rate algorithm) limiter: the in-process backend of
//! the request limits. Equivalent to a token bucket of `burst` tokens
//! refilled at `limit` per `period`, stored as one number per key (the
//! theoretical arrival time), sharded to keep lock contention low.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;

const SHARDS: usize = 64;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests per period (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    pub reset_secs: u64,
    /// When refused: seconds until one request is allowed (`Retry-After`).
    pub retry_after_secs: u64,
}

/// The parameters of one GCRA limit in some time unit, and the arithmetic
/// every backend shares: the in-process [`RateLimiter`] (nanoseconds) and
/// the server's Redis script (microseconds, which gets `interval` and
/// `tolerance` from here and returns what [`Gcra::decision`] needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Requests per period.
    pub limit: u32,
    /// Time units between requests at the sustained rate.
    pub interval: i64,
    /// How far ahead of now the arrival time may run (burst × interval).
    pub tolerance: i64,
    /// Time units per second.
    pub per_second: i64,
}

impl Gcra {
    /// `limit` requests per `period_secs`, up to `burst` at once, in a
    /// clock of `per_second` units per second.
    pub fn new(limit: u32, period_secs: u32, burst: u32, per_second: i64) -> Gcra {
        let limit = limit.max(1);
        let interval = ((i64::from(period_secs.max(1)) * per_second) / i64::from(limit)).max(1);
        Gcra {
            limit,
            interval,
            tolerance: interval * i64::from(burst.max(1)),
            per_second: per_second.max(1),
        }
    }

    /// One step: from the stored arrival time (`None` = unknown key) to
    /// whether the request is allowed and the arrival time to store.
    pub fn step(&self, tat: Option<i64>, now: i64) -> (bool, i64) {
        let tat = tat.unwrap_or(now).max(now);
        let new_tat = tat + self.interval;
        if new_tat - now <= self.tolerance {
            (true, new_tat)
        } else {
            (false, tat)
        }
    }

    /// The decision from `allowed` and `ahead` = stored arrival time − now
    /// (what a backend reports after [`step`](Self::step)).
    pub fn decision(&self, allowed: bool, ahead: i64) -> Decision {
        let remaining = ((self.tolerance - ahead) / self.interval).max(0);
        let unit = self.per_second;
        let secs = |t: i64| u64::try_from((t + unit - 1) / unit).unwrap_or(0);
        Decision {
            allowed,
            limit: self.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_secs: secs(ahead.max(0)),
            retry_after_secs: if allowed {
                0
            } else {
                // The next request fits once `ahead + interval` is within
                // the tolerance.
                secs(ahead + self.interval - self.tolerance).max(1)
            },
        }
    }
}

/// A keyed GCRA limiter. Times are nanoseconds on any monotonic clock.
#[derive(Debug)]
pub struct RateLimiter<K> {
    gcra: Gcra,
    max_keys_per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<K, i64>>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `limit` requests per `period_secs`, up to `burst` at once; at most
    /// about `max_keys` keys remembered (idle keys are dropped first).
    pub fn new(limit: u32, period_secs: u32, burst: u32, max_keys: usize) -> Self {
        RateLimiter {
            gcra: Gcra::new(limit, period_secs, burst, 1_000_000_000),
            max_keys_per_shard: (max_keys / SHARDS).max(16),
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The limit's parameters (nanoseconds).
    pub fn gcra(&self) -> Gcra {
        self.gcra
    }

    /// Decides one request for `key` at `now_ns`.
    pub fn check(&self, key: &K, now_ns: i64) -> Decision {
        self.check_with(key, &self.gcra, now_ns)
    }

    /// Decides one request for `key` at `now_ns` under `gcra` (in
    /// nanoseconds) instead of the limiter's own: for limits that differ
    /// per key, such as each exchange key's signing limit.
    pub fn check_with(&self, key: &K, gcra: &Gcra, now_ns: i64) -> Decision {
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut map = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        let (allowed, stored) = gcra.step(map.get(key).copied(), now_ns);
        if allowed {
            if map.len() >= self.max_keys_per_shard && !map.contains_key(key) {
                map.retain(|_, t| *t > now_ns);
                if map.len() >= self.max_keys_per_shard {
                    // Everyone remembered is still limited: forget the key
                    // closest to being free again.
                    if let Some(k) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                        map.remove(&k);
                    }
                }
            }
            map.insert(key.clone(), stored);
        }
        drop(map);
        gcra.decision(allowed, stored - now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_limit_per_call_is_kept_per_key() {
        let l: RateLimiter<&str> = RateLimiter::new(1, 60, 1, 1000);
        let two = Gcra::new(2, 60, 2, S);
        let t0 = 1_000 * S;
        assert!(l.check_with(&"k", &two, t0).allowed);
        assert!(l.check_with(&"k", &two, t0).allowed);
        let d = l.check_with(&"k", &two, t0);
        assert!(!d.allowed);
        assert_eq!((d.limit, d.retry_after_secs), (2, 30));
        assert!(l.check_with(&"k", &two, t0 + 30 * S).allowed);
    }

    #[test]
    fn sixty_per_minute_with_a_burst_of_five() {
        let l: RateLimiter<&str> = RateLimiter::new(60, 60, 5, 1000);
        let t0 = 1_000 * S;
        for i in 0..5 {
            let d = l.check(&"a", t0);
            assert!(d.allowed, "burst request {i}");
            assert_eq!(d.remaining, 4 - i);
        }
        let d = l.check(&"a", t0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        assert!(l.check(&"b", t0).allowed, "keys are independent");
        assert!(l.check(&"a", t0 + S).allowed, "one more per second");
        assert!(!l.check(&"a", t0 + S).allowed);
        // After a quiet period the burst is back.
        assert_eq!(l.check(&"a", t0 + 100 * S).remaining, 4);
    }

    #[test]
    fn sustained_rate_is_exact() {
        let l: RateLimiter<u32> = RateLimiter::new(10, 1, 1, 100);
        let allowed = (0..1000)
            .filter(|i| l.check(&7, i * S / 100).allowed)
            .count();
        assert_eq!(allowed, 100, "10/s over 10 s");
    }

    #[test]
    fn memory_is_bounded() {
        let l: RateLimiter<u64> = RateLimiter::new(1, 60, 1, 1024);
        for k in 0..100_000u64 {
            l.check(&k, 0);
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 1024 + SHARDS * 16, "{total}");
    }
}
