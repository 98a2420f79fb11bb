//! The class tables and how a request is looked up in them.

use super::{Reason, check_path, normalize_method};
use crate::sign::Exchange;

/// What a request can do with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Market and account reads.
    Read,
    /// Place, amend and cancel orders (and in-account conversions).
    Trade,
    /// Move funds off the account or between accounts: withdrawals,
    /// deposit-address creation, transfers, universal transfers.
    Withdraw,
    /// API-key management, sub-account creation, security settings.
    AccountAdmin,
    /// Not in the table.
    Unknown,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 5] = [
        Class::Read,
        Class::Trade,
        Class::Withdraw,
        Class::AccountAdmin,
        Class::Unknown,
    ];

    /// `read`, `trade`, `withdraw`, `account-admin` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Trade => "trade",
            Class::Withdraw => "withdraw",
            Class::AccountAdmin => "account-admin",
            Class::Unknown => "unknown",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names (exactly).
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How much harm a signature of this class can do; `Unknown` counts as
    /// the most.
    pub(crate) fn risk(self) -> u8 {
        match self {
            Class::Read => 0,
            Class::Trade => 1,
            Class::AccountAdmin => 2,
            Class::Withdraw => 3,
            Class::Unknown => 4,
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an entry's path matches a request path. Either way a segment
/// written `{name}` in the entry matches one non-empty segment of
/// `A-Z a-z 0-9 -` (an id); everything else is compared literally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The same segments.
    Exact,
    /// The entry's segments, then any further segments.
    Prefix,
}

/// The parameters an entry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// Not checked: the exchange signs the path, so the signature is bound
    /// to this endpoint.
    Any,
    /// Only these names (plus [`ALWAYS_ALLOWED`] for the exchange).
    Only(&'static [&'static str]),
}

/// Parameters every endpoint of the exchange takes besides its own:
/// Binance's `timestamp` and `recvWindow` (`signature` is refused: the
/// vault computes it). Bybit sends its timestamp and receive window as
/// headers, so none.
pub fn always_allowed(exchange: Exchange) -> &'static [&'static str] {
    match exchange {
        Exchange::Binance => &["timestamp", "recvWindow"],
        _ => &[],
    }
}

/// One row of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Canonical path (`{id}` marks an id segment).
    pub path: &'static str,
    /// Exact or prefix.
    pub matching: Match,
    /// The class of requests it matches.
    pub class: Class,
    /// The documented parameter names (Binance, Bybit).
    pub params: Params,
    /// Parameters the endpoint requires (kept for the riskier endpoints of
    /// Binance and Bybit): a request whose parameters hold all of these
    /// and fit the allow-list would be accepted there.
    pub required: &'static [&'static str],
    /// The exchange's documentation page, by name.
    pub doc: &'static str,
}

impl Entry {
    /// An exact entry, any parameters.
    pub(crate) const fn new(
        method: &'static str,
        path: &'static str,
        class: Class,
        doc: &'static str,
    ) -> Entry {
        Entry {
            method,
            path,
            matching: Match::Exact,
            class,
            params: Params::Any,
            required: &[],
            doc,
        }
    }

    /// The same entry, matching as a prefix.
    pub(crate) const fn prefix(self) -> Entry {
        Entry {
            matching: Match::Prefix,
            ..self
        }
    }

    /// The same entry, accepting only `names`.
    pub(crate) const fn params(self, names: &'static [&'static str]) -> Entry {
        Entry {
            params: Params::Only(names),
            ..self
        }
    }

    /// The same entry, requiring `names`.
    pub(crate) const fn required(self, names: &'static [&'static str]) -> Entry {
        Entry {
            required: names,
            ..self
        }
    }

    /// `METHOD path`.
    pub fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub(crate) const R: Class = Class::Read;
pub(crate) const T: Class = Class::Trade;
pub(crate) const W: Class = Class::Withdraw;
pub(crate) const A: Class = Class::AccountAdmin;

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
