//! Progressive delays per client address: after a few free failures each
//! further failure blocks the address for a doubling, capped time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// `base * 2^n`, capped at `max`, without overflow.
pub fn progressive_delay(failures_over_free: u32, base: i64, max: i64) -> i64 {
    let shift = failures_over_free.min(62);
    base.max(0).saturating_mul(1i64 << shift).min(max)
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: i64,
    last: i64,
}

/// Per-address failure memory with bounded size.
#[derive(Debug)]
pub struct AddressThrottle {
    free: u32,
    base: i64,
    max: i64,
    max_entries: usize,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// The address a client's limits are kept under: IPv6 clients are grouped
/// by /64 (one subscriber usually holds a /64), IPv4-mapped ones are IPv4.
pub fn address_group(addr: IpAddr) -> IpAddr {
    key(addr)
}

/// The address group a sign-in lock applies to: the /24 of an IPv4
/// address, the /56 of an IPv6 one (IPv4-mapped addresses count as IPv4),
/// written as a network, e.g. `203.0.113.0/24`.
pub fn lockout_group(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => lockout_group(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3] & 0xff00, 0, 0, 0, 0);
                format!("{net}/56")
            }
        },
    }
}

fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

impl AddressThrottle {
    /// `free_failures` cost nothing; then `base_delay_secs` doubling up to
    /// `max_delay_secs`; at most `max_entries` addresses remembered.
    pub fn new(
        free_failures: u32,
        base_delay_secs: i64,
        max_delay_secs: i64,
        max_entries: usize,
    ) -> Self {
        AddressThrottle {
            free: free_failures,
            base: base_delay_secs.max(1),
            max: max_delay_secs.max(1),
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget_after(&self) -> i64 {
        self.max.saturating_mul(2)
    }

    /// `Err(retry_after_secs)` while `addr` is blocked.
    pub fn check(&self, addr: IpAddr, now: i64) -> Result<(), i64> {
        match self.lock().get(&key(addr)) {
            Some(e) if e.blocked_until > now => Err(e.blocked_until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the delay now imposed (0 if none).
    pub fn record_failure(&self, addr: IpAddr, now: i64) -> i64 {
        let k = key(addr);
        let forget = self.forget_after();
        let mut map = self.lock();
        if !map.contains_key(&k) && map.len() >= self.max_entries {
            map.retain(|_, e| e.last + forget > now && e.blocked_until > now - forget);
            if map.len() >= self.max_entries
                && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let e = map.entry(k).or_insert(Entry {
            failures: 0,
            blocked_until: 0,
            last: now,
        });
        if now - e.last > forget {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if e.failures <= self.free {
            return 0;
        }
        let delay = progressive_delay(e.failures - self.free - 1, self.base, self.max);
        e.blocked_until = now + delay;
        delay
    }

    /// Forgets `addr`'s failures.
    pub fn record_success(&self, addr: IpAddr) {
        self.lock().remove(&key(addr));
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn lockout_groups() {
        let g = |a: &str| lockout_group(a.parse().unwrap());
        assert_eq!(g("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(g("::ffff:203.0.113.77"), "203.0.113.0/24");
        assert_eq!(g("2001:db8:1:2345:6789::1"), "2001:db8:1:2300::/56");
        assert_eq!(g("2001:db8:1:23ff::1"), g("2001:db8:1:2300::2"));
        assert_ne!(g("2001:db8:1:2400::1"), g("2001:db8:1:2300::1"));
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn doubling_and_cap() {
        assert_eq!(progressive_delay(0, 1, 60), 1);
        assert_eq!(progressive_delay(3, 1, 60), 8);
        assert_eq!(progressive_delay(10, 1, 60), 60);
        assert_eq!(progressive_delay(u32::MAX, i64::MAX, 60), 60);
        let t = AddressThrottle::new(2, 1, 8, 100);
        let a = ip("192.0.2.1");
        assert_eq!(t.record_failure(a, 100), 0);
        assert_eq!(t.record_failure(a, 100), 0);
        assert!(t.check(a, 100).is_ok());
        assert_eq!(t.record_failure(a, 100), 1);
        assert_eq!(t.check(a, 100), Err(1));
        assert!(t.check(a, 101).is_ok());
        assert_eq!(t.record_failure(a, 101), 2);
        assert_eq!(t.record_failure(a, 103), 4);
        assert_eq!(t.record_failure(a, 107), 8);
        assert_eq!(t.record_failure(a, 115), 8);
        assert!(t.check(ip("192.0.2.2"), 115).is_ok());
        t.record_success(a);
        assert!(t.check(a, 115).is_ok());
        assert_eq!(t.record_failure(a, 115), 0);
    }

    #[test]
    fn forgets_after_quiet() {
        let t = AddressThrottle::new(1, 1, 10, 100);
        let a = ip("192.0.2.1");
        t.record_failure(a, 0);
        assert_eq!(t.record_failure(a, 0), 1);
        assert_eq!(t.record_failure(a, 100), 0, "quiet for longer than 2 x max");
    }

    #[test]
    fn memory_is_bounded() {
        let t = AddressThrottle::new(0, 1, 10, 50);
        for i in 0..1000u32 {
            t.record_failure(IpAddr::from(i.to_be_bytes()), i64::from(i));
        }
        assert!(t.len() <= 50);
        assert!(!t.is_empty());
    }

    #[test]
    fn ipv6_grouped_by_64() {
        let t = AddressThrottle::new(0, 5, 10, 100);
        t.record_failure(ip("2001:db8:1:2::1"), 0);
        assert!(t.check(ip("2001:db8:1:2:ffff::9"), 0).is_err());
        assert!(t.check(ip("2001:db8:1:3::1"), 0).is_ok());
    }
}
