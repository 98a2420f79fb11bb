//! The withdrawal address book rule: a `withdraw` request is signed only
//! when its destination is an entry of the key's book that took effect at
//! least the withdrawal delay earlier.

use super::params::Destination;
use super::{Reason, clip};

/// One entry of a key's address book, as the rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEntry {
    /// The address (for Kraken: the name of the withdrawal key).
    pub address: String,
    /// The network or chain; empty when the entry names none.
    pub network: String,
    /// The memo or tag; empty when none.
    pub memo: String,
    /// When the entry took effect (unix seconds); `None` while it waits
    /// for a second admin.
    pub active_from: Option<i64>,
}

impl BookEntry {
    /// Whether `dest` is this entry: the same address, and the same network
    /// and memo (a request without one matches only an entry without one,
    /// so the exchange's default network is never assumed). A Kraken
    /// withdrawal names the withdrawal key, which must be the entry's
    /// address.
    pub fn matches(&self, dest: &Destination) -> bool {
        match dest {
            Destination::Address {
                address,
                network,
                memo,
            } => {
                self.address == *address
                    && self.network == network.as_deref().unwrap_or("")
                    && self.memo == memo.as_deref().unwrap_or("")
            }
            Destination::KrakenKey { key, .. } => self.address == *key,
        }
    }
}

/// The rule, at `now` (unix seconds) with a delay of `delay_secs`.
pub fn check_destination(
    dest: Option<&Destination>,
    book: &[BookEntry],
    now: i64,
    delay_secs: i64,
) -> Result<(), Reason> {
    let Some(dest) = dest else {
        return Err(Reason::DestinationMissing);
    };
    let mut waiting: Option<Option<i64>> = None;
    for entry in book.iter().filter(|e| e.matches(dest)) {
        match entry.active_from {
            Some(from) if now >= from.saturating_add(delay_secs) => return Ok(()),
            Some(from) => {
                let at = from.saturating_add(delay_secs);
                waiting = Some(Some(waiting.flatten().map_or(at, |w| w.min(at))));
            }
            None => waiting = waiting.or(Some(None)),
        }
    }
    match waiting {
        Some(usable_at) => Err(Reason::DestinationNotYetUsable {
            destination: describe(dest),
            usable_at,
        }),
        None => Err(Reason::DestinationNotInBook {
            destination: describe(dest),
        }),
    }
}

/// The destination for a message: escaped and cut short.
pub fn describe(dest: &Destination) -> String {
    match dest {
        Destination::Address {
            address, network, ..
        } => match network {
            Some(n) => format!("{} on {}", clip(address), clip(n)),
            None => clip(address),
        },
        Destination::KrakenKey { key, .. } => format!("withdrawal key {}", clip(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, network: &str, active_from: Option<i64>) -> BookEntry {
        BookEntry {
            address: address.into(),
            network: network.into(),
            memo: String::new(),
            active_from,
        }
    }

    fn to(address: &str, network: Option<&str>) -> Destination {
        Destination::Address {
            address: address.into(),
            network: network.map(str::to_string),
            memo: None,
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn only_entries_past_their_delay() {
        let book = [entry("0xabc", "ETH", Some(1_000))];
        let d = to("0xabc", Some("ETH"));
        assert!(check_destination(Some(&d), &book, 1_000 + DAY, DAY).is_ok());
        assert_eq!(
            check_destination(Some(&d), &book, 1_060, DAY),
            Err(Reason::DestinationNotYetUsable {
                destination: "0xabc on ETH".into(),
                usable_at: Some(1_000 + DAY)
            })
        );
        assert!(matches!(
            check_destination(Some(&to("0xabd", Some("ETH"))), &book, 10 * DAY, DAY),
            Err(Reason::DestinationNotInBook { .. })
        ));
        assert!(
            matches!(
                check_destination(Some(&to("0xabc", None)), &book, 10 * DAY, DAY),
                Err(Reason::DestinationNotInBook { .. })
            ),
            "the default network is not assumed"
        );
        assert!(matches!(
            check_destination(Some(&to("0xabc", Some("BSC"))), &book, 10 * DAY, DAY),
            Err(Reason::DestinationNotInBook { .. })
        ));
        assert_eq!(
            check_destination(None, &book, 10 * DAY, DAY),
            Err(Reason::DestinationMissing)
        );
    }

    #[test]
    fn pending_entries_are_not_usable() {
        let book = [entry("0xabc", "", None)];
        assert_eq!(
            check_destination(Some(&to("0xabc", None)), &book, 10 * DAY, DAY),
            Err(Reason::DestinationNotYetUsable {
                destination: "0xabc".into(),
                usable_at: None
            })
        );
    }

    #[test]
    fn kraken_names_the_withdrawal_key() {
        let book = [entry("cold-wallet", "", Some(0))];
        let d = Destination::KrakenKey {
            key: "cold-wallet".into(),
            address: None,
        };
        assert!(check_destination(Some(&d), &book, DAY, DAY).is_ok());
        let other = Destination::KrakenKey {
            key: "hot\nwallet".into(),
            address: None,
        };
        let r = check_destination(Some(&other), &book, DAY, DAY);
        assert!(
            matches!(&r, Err(Reason::DestinationNotInBook { destination }) if destination == "withdrawal key hot\\nwallet"),
            "{r:?}"
        );
    }
}
