//! How a request is looked up in the exchanges' tables.

use super::entry::{Class, Entry, Match};
use super::{Reason, check_path, normalize_method};
use crate::sign::Exchange;

/// The exchange's table.
pub fn table(exchange: Exchange) -> &'static [Entry] {
    match exchange {
        Exchange::Binance => super::binance::TABLE,
        Exchange::Kraken => super::kraken::TABLE,
        Exchange::Bybit => super::bybit::TABLE,
        Exchange::Okx => super::okx::TABLE,
        Exchange::Kucoin => super::kucoin::TABLE,
        Exchange::Coinbase => super::coinbase::TABLE,
    }
}

/// What the table says about a (checked) method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The entry that matches.
    Entry(&'static Entry),
    /// An entry matches only when case is ignored: not canonical.
    NonCanonical(&'static Entry),
    /// Nothing matches.
    Unknown,
}

fn segment_matches(pattern: &str, segment: &str, ignore_case: bool) -> bool {
    if pattern.starts_with('{') && pattern.ends_with('}') {
        return !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    }
    if ignore_case {
        pattern.eq_ignore_ascii_case(segment)
    } else {
        pattern == segment
    }
}

fn path_matches(entry: &Entry, path: &str, ignore_case: bool) -> bool {
    let pattern: Vec<&str> = entry.path.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    let count_ok = match entry.matching {
        Match::Exact => pattern.len() == segments.len(),
        Match::Prefix => pattern.len() <= segments.len(),
    };
    count_ok
        && pattern
            .iter()
            .zip(&segments)
            .all(|(p, s)| segment_matches(p, s, ignore_case))
}

/// The most specific match first: exact before prefix, then more literal
/// segments, then longer patterns.
fn specificity(entry: &Entry) -> (bool, usize, usize) {
    let segments = entry.path.split('/');
    let literal = segments.clone().filter(|s| !s.starts_with('{')).count();
    (entry.matching == Match::Exact, literal, segments.count())
}

/// Looks up a method (upper case) and a path that passed
/// [`check_path`]. A path that matches any entry (of any method) only
/// when case is ignored is [`Lookup::NonCanonical`].
pub fn lookup(exchange: Exchange, method: &str, path: &str) -> Lookup {
    let entries = table(exchange);
    if let Some(e) = entries
        .iter()
        .find(|e| path_matches(e, path, true) && !path_matches(e, path, false))
    {
        return Lookup::NonCanonical(e);
    }
    entries
        .iter()
        .filter(|e| e.method == method && path_matches(e, path, false))
        .max_by_key(|e| specificity(e))
        .map_or(Lookup::Unknown, Lookup::Entry)
}

/// Normalises the method, checks the path and looks it up: the class and
/// entry, `Unknown` with no entry, or why the request is refused.
pub fn classify(
    exchange: Exchange,
    method: &str,
    path: &str,
) -> Result<(Class, Option<&'static Entry>), Reason> {
    let method = normalize_method(method)?;
    check_path(path)?;
    match lookup(exchange, &method, path) {
        Lookup::Entry(e) => Ok((e.class, Some(e))),
        Lookup::NonCanonical(e) => Err(Reason::NonCanonical { canonical: e.path }),
        Lookup::Unknown => Ok((Class::Unknown, None)),
    }
}

/// The class tables of every exchange as a Markdown table (exchange,
/// method, path, class, documentation page), as `docs/vault.md` holds it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| exchange | method | path | class | documented in |\n|---|---|---|---|---|\n",
    );
    for exchange in Exchange::ALL {
        for e in table(exchange) {
            let path = match e.matching {
                Match::Exact => format!("`{}`", e.path),
                Match::Prefix => format!("`{}/…` (prefix)", e.path),
            };
            out.push_str(&format!(
                "| {exchange} | {} | {path} | {} | {} |\n",
                e.method,
                e.class,
                e.doc.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::entry::{Params, R, W};

    #[test]
    fn tables_are_well_formed() {
        for exchange in Exchange::ALL {
            let entries = table(exchange);
            assert!(!entries.is_empty(), "{exchange}");
            for (i, e) in entries.iter().enumerate() {
                let where_ = format!("{exchange} {}", e.endpoint());
                assert!(
                    matches!(e.method, "GET" | "POST" | "PUT" | "DELETE"),
                    "{where_}"
                );
                // Table paths are canonical themselves (ids aside).
                let concrete = e
                    .path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                assert_eq!(check_path(&concrete), Ok(()), "{where_}");
                assert_ne!(e.class, Class::Unknown, "{where_}");
                assert!(!e.doc.is_empty() && !e.doc.contains('|'), "{where_}");
                // No entry is listed twice.
                assert!(
                    entries[..i]
                        .iter()
                        .all(|o| !(o.method == e.method && o.path.eq_ignore_ascii_case(e.path))),
                    "{where_} is listed twice"
                );
                // Where the path is not signed, every entry is an exact
                // path with its parameter list.
                if matches!(exchange, Exchange::Binance | Exchange::Bybit) {
                    assert_eq!(e.matching, Match::Exact, "{where_}");
                    assert!(!e.path.contains('{'), "{where_}");
                    let Params::Only(names) = e.params else {
                        panic!("{where_} has no parameter list");
                    };
                    for r in e.required {
                        assert!(names.contains(r), "{where_}: required {r} not allowed");
                    }
                } else {
                    assert_eq!(e.params, Params::Any, "{where_}");
                }
            }
        }
    }

    #[test]
    fn templates_and_prefixes() {
        let e = Entry::new("POST", "/v2/accounts/{id}/transactions", W, "doc");
        assert!(path_matches(&e, "/v2/accounts/abc-123/transactions", false));
        assert!(!path_matches(
            &e,
            "/v2/accounts/abc_123/transactions",
            false
        ));
        assert!(!path_matches(&e, "/v2/accounts/a/b/transactions", false));
        assert!(!path_matches(&e, "/v2/accounts/transactions", false));
        let p = Entry::new("GET", "/api/v3/brokerage/orders", R, "doc").prefix();
        assert!(path_matches(&p, "/api/v3/brokerage/orders", false));
        assert!(path_matches(
            &p,
            "/api/v3/brokerage/orders/historical/batch",
            false
        ));
        assert!(!path_matches(&p, "/api/v3/brokerage/order", false));
        assert!(!path_matches(&p, "/api/v3/brokerage/ORDERS", false));
        assert!(path_matches(&p, "/api/v3/brokerage/ORDERS", true));
    }
}
