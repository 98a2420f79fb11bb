//! Noisy refusals (bad bearer tokens, unknown refresh tokens or sign-in
//! challenges, throttled calls) are recorded once per event, reason,
//! client address and minute, with a count: every refusal is accounted
//! for, and a flood cannot flood the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use cryptobot_store::Store;
use serde_json::json;

use crate::audit::{Who, record_audit};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    event: &'static str,
    reason: &'static str,
    client: Option<IpAddr>,
    minute: i64,
}

#[derive(Debug, Clone, Copy)]
struct Tally {
    count: u64,
    first_ms: i64,
    last_ms: i64,
}

/// One aggregated record, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregated {
    /// The audit event.
    pub event: &'static str,
    /// `reason` in its details.
    pub reason: &'static str,
    /// The client address.
    pub client: Option<IpAddr>,
    /// How many refusals the record stands for.
    pub count: u64,
    /// The first and last of them (unix milliseconds).
    pub first_ms: i64,
    /// The last of them.
    pub last_ms: i64,
}

/// Distinct (event, reason, address) entries kept at most; past it, new
/// ones are folded into one entry without an address.
const MAX_ENTRIES: usize = 10_000;

/// The tallies of the current and recent minutes.
#[derive(Debug, Default)]
pub struct AuditAggregator {
    tallies: Mutex<HashMap<Key, Tally>>,
}

impl AuditAggregator {
    /// Counts one refusal at `now_ms`.
    pub fn note(
        &self,
        event: &'static str,
        reason: &'static str,
        client: Option<IpAddr>,
        now_ms: i64,
    ) {
        let mut map = match self.tallies.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let minute = now_ms.div_euclid(60_000);
        let mut key = Key {
            event,
            reason,
            client,
            minute,
        };
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            key.client = None;
        }
        let t = map.entry(key).or_insert(Tally {
            count: 0,
            first_ms: now_ms,
            last_ms: now_ms,
        });
        t.count += 1;
        t.last_ms = now_ms;
    }

    /// Takes the tallies of minutes before the one of `now_ms` (all of
    /// them with `everything`, e.g. at shutdown), oldest first.
    pub fn take(&self, now_ms: i64, everything: bool) -> Vec<Aggregated> {
        let minute = now_ms.div_euclid(60_000);
        let mut map = match self.tallies.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let due: Vec<Key> = map
            .keys()
            .filter(|k| everything || k.minute < minute)
            .cloned()
            .collect();
        let mut out: Vec<Aggregated> = due
            .into_iter()
            .filter_map(|k| {
                map.remove(&k).map(|t| Aggregated {
                    event: k.event,
                    reason: k.reason,
                    client: k.client,
                    count: t.count,
                    first_ms: t.first_ms,
                    last_ms: t.last_ms,
                })
            })
            .collect();
        out.sort_by_key(|a| (a.first_ms, a.event, a.reason));
        out
    }

    /// Writes what [`Self::take`] returns as audit records (`details`:
    /// `reason`, `count`, `first_at_ms`, `last_at_ms`, `per: "minute"`).
    pub async fn flush(&self, store: &Store, now_ms: i64, everything: bool) -> usize {
        let due = self.take(now_ms, everything);
        for a in &due {
            let who = Who {
                actor: None,
                client: a.client,
            };
            record_audit(
                store,
                a.event,
                &who,
                None,
                "denied",
                json!({
                    "reason": a.reason,
                    "count": a.count,
                    "first_at_ms": a.first_ms,
                    "last_at_ms": a.last_ms,
                    "per": "minute",
                }),
            )
            .await;
        }
        due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_event_reason_address_and_minute() {
        let a = AuditAggregator::default();
        let ip: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for i in 0..50 {
            a.note(
                "access_token_refused",
                "bad_signature",
                Some(ip),
                60_000 + i,
            );
        }
        a.note("access_token_refused", "expired", Some(ip), 60_100);
        a.note("access_token_refused", "bad_signature", Some(ip), 120_001);
        assert!(a.take(119_999, false).is_empty(), "the minute is not over");
        let done = a.take(120_002, false);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].count, 50);
        assert_eq!((done[0].first_ms, done[0].last_ms), (60_000, 60_049));
        assert_eq!(done[1].reason, "expired");
        let rest = a.take(120_002, true);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].count, 1);
        assert!(a.take(999_999, true).is_empty());
    }

    #[test]
    fn the_number_of_entries_is_bounded() {
        let a = AuditAggregator::default();
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            a.note(
                "rate_limited",
                "addr",
                Some(IpAddr::from(i.to_be_bytes())),
                1,
            );
        }
        let all = a.take(0, true);
        assert_eq!(all.len(), MAX_ENTRIES + 1);
        assert_eq!(
            all.iter().map(|x| x.count).sum::<u64>(),
            MAX_ENTRIES as u64 + 100
        );
    }
}
