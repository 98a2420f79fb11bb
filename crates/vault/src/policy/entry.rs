//! What a table row says: the request classes and the row type every
//! exchange's table is written in.

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
