//! Signing policy: which exchange requests a key may have signed.
//!
//! A key's declared permissions (`read`, `trade`, `withdraw`,
//! `account-admin`) are enforced here, before the vault signs. Everything
//! is pure: the caller passes the time, the key's policy and the settings.
//!
//! 1. [`normalize_method`] and [`check_path`] refuse anything that is not a
//!    canonical request target (control characters, `%`, `?`, `#`, `//`,
//!    `.`/`..`, a trailing slash, non-ASCII, a case variant of a known path).
//! 2. [`classify`] looks the request up in the exchange's table (one file
//!    per exchange, each entry citing the API documentation page it comes
//!    from); paths not in a table are [`Class::Unknown`].
//! 3. Binance and Bybit do not sign the path, so a signature obtained for a
//!    `read` path is valid on every endpoint that accepts the same
//!    parameters. For them every entry carries the documented parameter
//!    names ([`Params::Only`]) and anything else is refused
//!    ([`check_parameters`]); parameters that would also satisfy a riskier
//!    endpoint of the table are refused too.
//! 4. [`check_freshness`] refuses a timestamp or Kraken nonce outside the
//!    clock window, so signatures cannot be stockpiled.
//! 5. [`decide`] applies the permission rules, the `allow_withdraw_keys`
//!    setting, the step-up rule and the operator's extra paths.
//!
//! [`check`] runs all of it and returns what the audit needs
//! ([`Checked`]: class, parameter names, SHA-256 of the signed payload,
//! withdrawal destination).

mod binance;
mod book;
mod bybit;
mod coinbase;
mod decide;
mod entry;
mod kraken;
mod kucoin;
mod okx;
mod params;
mod path;
mod table;

pub use book::{BookEntry, check_destination, describe};
pub use decide::{
    Checked, Decision, DecisionInput, ExtraPath, KeyPolicy, PermissionError, Permissions, Settings,
    check, decide,
};
pub use entry::{Class, Entry, Match, Params, always_allowed};
pub use params::{
    Destination, check_freshness, check_parameters, destination, nonce_millis, parameter_names,
    payload_sha256, signed_payload,
};
pub use path::{check_path, normalize_method};
pub use table::{Lookup, classify, lookup, markdown_table, table};

use crate::sign::Exchange;

/// The problem type the HTTP layer answers a refusal with (403,
/// `application/problem+json`).
pub const PROBLEM_TYPE: &str = "urn:cryptobot:problem:signing-refused";

/// Why the vault refuses to sign: the reason, the request's class (as far
/// as it was determined; [`Class::Unknown`] for a request refused before it
/// was classified) and the key's declared permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing refused: {reason} (request class `{class}`, key permissions `{permissions}`)")]
pub struct Refusal {
    /// What is wrong.
    pub reason: Reason,
    /// The request's class.
    pub class: Class,
    /// The key's declared permissions.
    pub permissions: Permissions,
}

impl Refusal {
    /// The problem type of the HTTP answer.
    pub fn problem_type(&self) -> &'static str {
        PROBLEM_TYPE
    }
}

/// One reason to refuse. Messages are one line; untrusted text in them is
/// escaped and cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// Not GET, POST, PUT or DELETE.
    #[error("method `{0}` is not signed; use GET, POST, PUT or DELETE")]
    Method(String),
    /// A control character (including TAB, CR, LF, ESC, NUL, DEL and the
    /// Unicode line and paragraph separators) in the path.
    #[error("the path contains the control character U+{0:04X}")]
    ControlCharacter(u32),
    /// A character outside ASCII in the path.
    #[error("the path contains a character outside ASCII (U+{0:04X})")]
    NonAscii(u32),
    /// `%` in the path: percent-encoding is never canonical here.
    #[error("the path is percent-encoded; send the decoded, canonical path")]
    PercentEncoding,
    /// `?` in the path: the query goes in `query`.
    #[error("the path holds a query (`?`); send it as `query`")]
    QueryInPath,
    /// `#` in the path.
    #[error("the path holds a fragment (`#`)")]
    FragmentInPath,
    /// Another character that has no place in a canonical path.
    #[error("the path contains `{0}`, which no canonical exchange path holds")]
    Character(char),
    /// The path does not start with `/`.
    #[error("the path must start with `/`")]
    NotAbsolute,
    /// The path is longer than any exchange path.
    #[error("the path is longer than {0} characters")]
    TooLong(usize),
    /// `//` in the path.
    #[error("the path has an empty segment (`//`)")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    /// The path ends with `/`.
    #[error("the path ends with `/`")]
    TrailingSlash,
    /// The path matches a table entry only when case is ignored.
    #[error("the path is not canonical: the exchange's path is `{canonical}`")]
    NonCanonical {
        /// The table's spelling.
        canonical: &'static str,
    },
    /// Not in the exchange's table, and not an extra path of this key.
    #[error(
        "`{method} {path}` is not in the {exchange} policy table; an operator can add it to [vault.extra_paths] for this key"
    )]
    UnknownEndpoint {
        /// The exchange.
        exchange: Exchange,
        /// The method.
        method: String,
        /// The path (escaped, cut short).
        path: String,
    },
    /// Not in the table, and not an extra path of this key ([`decide`]).
    #[error(
        "`{method} {path}` is not in the policy table and not an extra path of this key ([vault.extra_paths])"
    )]
    NoExtraPath {
        /// The method.
        method: String,
        /// The path (escaped, cut short).
        path: String,
    },
    /// The query or body cannot be read as the exchange reads it.
    #[error("the parameters are malformed: {0}")]
    MalformedParameters(&'static str),
    /// A parameter name with characters no exchange uses (e.g. `%`).
    #[error("the parameter name `{0}` is not a plain name")]
    ParameterName(String),
    /// A parameter given twice.
    #[error("the parameter `{0}` is given twice")]
    DuplicateParameter(String),
    /// A parameter the endpoint does not document (Binance, Bybit: the
    /// signature does not cover the path).
    #[error("the parameter `{name}` is not documented for `{endpoint}`")]
    UnknownParameter {
        /// The parameter (escaped, cut short).
        name: String,
        /// `METHOD path` of the endpoint.
        endpoint: String,
    },
    /// The parameters also satisfy a riskier endpoint, where the same
    /// signature would be valid (Binance, Bybit).
    #[error("these parameters also fit `{endpoint}` ({class}), where the same signature is valid")]
    ParametersFitRiskierEndpoint {
        /// `METHOD path` of that endpoint.
        endpoint: String,
        /// Its class.
        class: Class,
    },
    /// An extra path for Binance or Bybit without its parameter list.
    #[error(
        "extra path `{0}` needs its documented parameter names: {1} signatures do not cover the path"
    )]
    ExtraPathNeedsParameters(String, Exchange),
    /// No timestamp to check.
    #[error("the request has no timestamp (milliseconds since the epoch)")]
    TimestampMissing,
    /// The timestamp is outside the clock window.
    #[error(
        "the timestamp {claimed_ms} is {skew_ms} ms from the vault's clock; the window is {window_ms} ms"
    )]
    TimestampOutsideWindow {
        /// The claimed time.
        claimed_ms: i64,
        /// Claimed minus now.
        skew_ms: i128,
        /// The window.
        window_ms: i64,
    },
    /// No Kraken nonce.
    #[error("the request has no `nonce`")]
    NonceMissing,
    /// The Kraken nonce is not an unsigned integer of at most 20 digits.
    #[error("the nonce is not an unsigned integer of at most 20 digits")]
    NonceNotNumeric,
    /// The Kraken nonce, read as a time, is outside the clock window.
    #[error(
        "the nonce, read as {unit} since the epoch, is {skew_ms} ms from the vault's clock; the window is {window_ms} ms"
    )]
    NonceOutsideWindow {
        /// `milliseconds`, `microseconds` or `nanoseconds`.
        unit: &'static str,
        /// Nonce time minus now, in milliseconds.
        skew_ms: i128,
        /// The window.
        window_ms: i64,
    },
    /// The key does not declare the permission the class needs.
    #[error("a `{class}` request needs a key declared with `{needs}`")]
    NotPermitted {
        /// The request's class.
        class: Class,
        /// The permission it needs.
        needs: &'static str,
    },
    /// OKX signatures carry the passphrase itself in a header; the key
    /// was not added with `--passphrase-in-headers`.
    #[error(
        "OKX requests carry the key's passphrase in the OK-ACCESS-PASSPHRASE header, and this key was not allowed to hand it out"
    )]
    PassphraseInHeaders,
    /// A withdrawal whose destination the vault cannot read.
    #[error("the withdrawal names no destination the vault can check against the address book")]
    DestinationMissing,
    /// The destination is not in the key's address book.
    #[error("the destination {destination} is not in this key's withdrawal address book")]
    DestinationNotInBook {
        /// The destination (escaped, cut short).
        destination: String,
    },
    /// The destination is in the book but its delay has not passed, or it
    /// waits for a second admin.
    #[error("{}", not_yet_message(destination, *usable_at))]
    DestinationNotYetUsable {
        /// The destination (escaped, cut short).
        destination: String,
        /// When it becomes usable (unix seconds); `None` while it waits
        /// for approval.
        usable_at: Option<i64>,
    },
    /// A withdrawal, but the setting is off and/or no fresh step-up.
    #[error("{}", withdraw_message(*setting_off, *step_up_missing))]
    WithdrawNotEnabled {
        /// `security.api_keys.allow_withdraw_keys` is off.
        setting_off: bool,
        /// No second factor within the step-up window.
        step_up_missing: bool,
    },
}

fn not_yet_message(destination: &str, usable_at: Option<i64>) -> String {
    match usable_at {
        Some(at) => format!(
            "the destination {destination} was added to the address book too recently; it can be used from {at} (unix time)"
        ),
        None => format!(
            "the destination {destination} waits for a second admin's approval (`cryptobot keys approve`)"
        ),
    }
}

fn withdraw_message(setting_off: bool, step_up_missing: bool) -> String {
    let setting = "security.api_keys.allow_withdraw_keys is off";
    let step_up =
        "no second factor was given within the step-up window (POST /api/v1/auth/step-up)";
    match (setting_off, step_up_missing) {
        (true, true) => format!("withdrawals are not signed: {setting}, and {step_up}"),
        (true, false) => format!("withdrawals are not signed: {setting}"),
        _ => format!("withdrawals are not signed: {step_up}"),
    }
}

impl Reason {
    /// A stable short code for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Method(_) => "method",
            Reason::ControlCharacter(_) => "control-character",
            Reason::NonAscii(_) => "non-ascii",
            Reason::PercentEncoding => "percent-encoding",
            Reason::QueryInPath => "query-in-path",
            Reason::FragmentInPath => "fragment-in-path",
            Reason::Character(_) => "character",
            Reason::NotAbsolute => "not-absolute",
            Reason::TooLong(_) => "too-long",
            Reason::EmptySegment => "empty-segment",
            Reason::DotSegment => "dot-segment",
            Reason::TrailingSlash => "trailing-slash",
            Reason::NonCanonical { .. } => "non-canonical",
            Reason::UnknownEndpoint { .. } => "unknown-endpoint",
            Reason::NoExtraPath { .. } => "no-extra-path",
            Reason::MalformedParameters(_) => "malformed-parameters",
            Reason::ParameterName(_) => "parameter-name",
            Reason::DuplicateParameter(_) => "duplicate-parameter",
            Reason::UnknownParameter { .. } => "unknown-parameter",
            Reason::ParametersFitRiskierEndpoint { .. } => "parameters-fit-riskier-endpoint",
            Reason::ExtraPathNeedsParameters(..) => "extra-path-needs-parameters",
            Reason::TimestampMissing => "timestamp-missing",
            Reason::TimestampOutsideWindow { .. } => "timestamp-outside-window",
            Reason::NonceMissing => "nonce-missing",
            Reason::NonceNotNumeric => "nonce-not-numeric",
            Reason::NonceOutsideWindow { .. } => "nonce-outside-window",
            Reason::NotPermitted { .. } => "not-permitted",
            Reason::WithdrawNotEnabled { .. } => "withdraw-not-enabled",
            Reason::PassphraseInHeaders => "passphrase-in-headers",
            Reason::DestinationMissing => "destination-missing",
            Reason::DestinationNotInBook { .. } => "destination-not-in-book",
            Reason::DestinationNotYetUsable { .. } => "destination-not-yet-usable",
        }
    }
}

/// Untrusted text for a message: escaped (no control characters survive)
/// and cut to 80 characters.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}
