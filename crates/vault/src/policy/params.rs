//! Parameters, the signed payload, the clock window and withdrawal
//! destinations: read from the request the way each exchange reads it.

use aws_lc_rs::digest;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::entry::{Class, Entry, Params, always_allowed};
use super::table::table;
use super::{Reason, clip};
use crate::sign::{Exchange, SignRequest, hex, iso_millis, param, path_with_query};

/// Longest parameter name accepted.
const MAX_NAME: usize = 64;

fn check_name(name: &str) -> Result<(), Reason> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']'));
    if plain {
        Ok(())
    } else {
        Err(Reason::ParameterName(clip(name)))
    }
}

fn no_controls(text: &str) -> Result<(), Reason> {
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(Reason::MalformedParameters(
            "the query or body contains a control character",
        ));
    }
    Ok(())
}

/// Names of `a=b&c=d` text, in order. Names must be plain (letters,
/// digits, `_ . - [ ]`): an encoded name such as `addr%65ss` could be
/// decoded by the exchange into one the allow-list never saw.
fn form_names(form: &str) -> Result<Vec<String>, Reason> {
    no_controls(form)?;
    if form.is_empty() {
        return Ok(Vec::new());
    }
    form.split('&')
        .map(|piece| {
            if piece.is_empty() {
                return Err(Reason::MalformedParameters("an empty parameter (`&&`)"));
            }
            let name = piece.split_once('=').map_or(piece, |(k, _)| k);
            check_name(name)?;
            Ok(name.to_string())
        })
        .collect()
}

/// The top-level keys of each object of a JSON body (one object, or an
/// array of objects for batch endpoints), duplicates kept so they can be
/// refused.
struct JsonKeys(Vec<Vec<String>>);

struct ObjectKeys(Vec<String>);

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = Vec<Vec<String>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        Ok(vec![object_keys(map)?])
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut out = Vec::new();
        while let Some(ObjectKeys(keys)) = seq.next_element()? {
            out.push(keys);
        }
        Ok(out)
    }
}

fn object_keys<'de, M: MapAccess<'de>>(mut map: M) -> Result<Vec<String>, M::Error> {
    let mut keys = Vec::new();
    while let Some(key) = map.next_key::<String>()? {
        map.next_value::<IgnoredAny>()?;
        keys.push(key);
    }
    Ok(keys)
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ObjectKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ObjectKeys, M::Error> {
        object_keys(map).map(ObjectKeys)
    }
}

impl<'de> de::Deserialize<'de> for ObjectKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

impl<'de> de::Deserialize<'de> for JsonKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeysVisitor).map(JsonKeys)
    }
}

/// Top-level keys of a JSON body; each object's keys must be unique.
fn json_names(body: &str) -> Result<Vec<String>, Reason> {
    no_controls(body)?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let JsonKeys(objects) = serde_json::from_str(body).map_err(|_| {
        Reason::MalformedParameters("the body is not a JSON object (or an array of objects)")
    })?;
    let mut out: Vec<String> = Vec::new();
    for keys in objects {
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Err(Reason::DuplicateParameter(clip(k)));
            }
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    Ok(out)
}

fn is_query_method(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("DELETE")
}

/// The parameter names of the request, as the exchange reads them (for
/// the allow-list and the audit): Binance and Kraken form parameters of
/// query and body; Bybit the query of a GET/DELETE or the top-level keys of
/// the JSON body of a POST/PUT; OKX, KuCoin and Coinbase query parameters
/// and top-level JSON body keys. A name given twice is refused.
pub fn parameter_names(exchange: Exchange, req: &SignRequest) -> Result<Vec<String>, Reason> {
    let query = req.query.as_deref().unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    let mut names = match exchange {
        Exchange::Binance | Exchange::Kraken => {
            let mut n = form_names(query)?;
            n.extend(form_names(body)?);
            n
        }
        Exchange::Bybit => {
            if is_query_method(&req.method) {
                if !body.is_empty() {
                    return Err(Reason::MalformedParameters(
                        "bybit signs the query of a GET or DELETE; it has no body",
                    ));
                }
                form_names(query)?
            } else {
                if !query.is_empty() {
                    return Err(Reason::MalformedParameters(
                        "bybit signs the JSON body of a POST or PUT; it has no query",
                    ));
                }
                json_names(body)?
            }
        }
        Exchange::Okx | Exchange::Kucoin | Exchange::Coinbase => {
            let mut n = form_names(query)?;
            n.extend(json_names(body)?);
            n
        }
    };
    for i in 0..names.len() {
        if names[..i].contains(&names[i]) {
            return Err(Reason::DuplicateParameter(clip(&names[i])));
        }
    }
    names.shrink_to_fit();
    Ok(names)
}

/// For exchanges whose signature does not cover the path (Binance,
/// Bybit): every name must be on the entry's list (or
/// [`always_allowed`]), and the names must not also fit a riskier
/// endpoint of the table, one whose required parameters they hold and
/// whose allow-list they fit (where the same signature would be valid).
/// `allowed` is [`Params::Any`] for the other exchanges, which is not
/// checked.
pub fn check_parameters(
    exchange: Exchange,
    method: &str,
    endpoint: &str,
    allowed: Params,
    class: Class,
    names: &[String],
) -> Result<(), Reason> {
    let Params::Only(list) = allowed else {
        return Ok(());
    };
    let always = always_allowed(exchange);
    let fits =
        |list: &[&str], n: &String| list.contains(&n.as_str()) || always.contains(&n.as_str());
    if let Some(n) = names.iter().find(|n| !fits(list, n)) {
        return Err(Reason::UnknownParameter {
            name: clip(n),
            endpoint: clip(endpoint),
        });
    }
    let riskier = table(exchange).iter().filter(|e: &&Entry| {
        e.class.risk() > class.risk()
            && !e.required.is_empty()
            // Bybit signs a query for GET/DELETE and a JSON body for
            // POST/PUT: one cannot pass for the other. Binance signs
            // query ‖ body whatever the method.
            && (exchange != Exchange::Bybit || is_query_method(e.method) == is_query_method(method))
    });
    for e in riskier {
        let Params::Only(other) = e.params else {
            continue;
        };
        let holds_required = e.required.iter().all(|r| names.iter().any(|n| n == r));
        if holds_required && names.iter().all(|n| fits(other, n)) {
            return Err(Reason::ParametersFitRiskierEndpoint {
                endpoint: e.endpoint(),
                class: e.class,
            });
        }
    }
    Ok(())
}

/// A Kraken nonce read as a time: milliseconds since the epoch and the
/// unit it was read in. By magnitude: below 10^14 milliseconds (13 digits
/// today), below 10^17 microseconds (16 digits), else nanoseconds.
pub fn nonce_millis(nonce: &str) -> Result<(i128, &'static str), Reason> {
    if nonce.is_empty() || nonce.len() > 20 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::NonceNotNumeric);
    }
    let n: u128 = nonce.parse().map_err(|_| Reason::NonceNotNumeric)?;
    let (ms, unit) = if n < 100_000_000_000_000 {
        (n, "milliseconds")
    } else if n < 100_000_000_000_000_000 {
        (n / 1_000, "microseconds")
    } else {
        (n / 1_000_000, "nanoseconds")
    };
    // At most 10^20 / 10^6: fits.
    let ms = i128::try_from(ms).map_err(|_| Reason::NonceNotNumeric)?;
    Ok((ms, unit))
}

fn kraken_nonce(req: &SignRequest) -> Option<&str> {
    req.nonce
        .as_deref()
        .or_else(|| param(req.body.as_deref().unwrap_or(""), "nonce"))
}

/// Refuses a request whose signed time is more than `window_ms` from
/// `now_ms`, either way: Binance's `timestamp=` parameter, the `timestamp`
/// of Bybit, OKX, KuCoin and Coinbase, and Kraken's nonce read as a time
/// ([`nonce_millis`]).
///
/// Kraken nonces in the past are refused too. Kraken only refuses a nonce
/// that is not above the last one it saw, so a nonce far ahead of now
/// could be stockpiled and used later; and a nonce that reads as a time
/// long past (a counter, or seconds) may still be ahead of the key's last
/// counter value. Use millisecond or microsecond time nonces, as Kraken's
/// documentation suggests.
pub fn check_freshness(
    exchange: Exchange,
    req: &SignRequest,
    now_ms: i64,
    window_ms: i64,
) -> Result<(), Reason> {
    let window = i128::from(window_ms.max(0));
    if exchange == Exchange::Kraken {
        kraken_nonce(req).ok_or(Reason::NonceMissing)?;
        // The `nonce` field and the body's `nonce=` (signing insists they
        // are equal): each must be fresh on its own.
        let body_nonce = param(req.body.as_deref().unwrap_or(""), "nonce");
        for nonce in [req.nonce.as_deref(), body_nonce].into_iter().flatten() {
            let (ms, unit) = nonce_millis(nonce)?;
            let skew = ms - i128::from(now_ms);
            if skew.abs() > window {
                return Err(Reason::NonceOutsideWindow {
                    unit,
                    skew_ms: skew,
                    window_ms,
                });
            }
        }
        return Ok(());
    }
    let claimed = req
        .signed_timestamp(exchange)
        .ok_or(Reason::TimestampMissing)?;
    // Binance: the `timestamp=` parameter is what is signed; a `timestamp`
    // field beside it (signing insists they are equal) is checked too.
    let field = if exchange == Exchange::Binance {
        req.timestamp
    } else {
        None
    };
    for claimed in std::iter::once(claimed).chain(field) {
        let skew = i128::from(claimed) - i128::from(now_ms);
        if skew.abs() > window {
            return Err(Reason::TimestampOutsideWindow {
                claimed_ms: claimed,
                skew_ms: skew,
                window_ms,
            });
        }
    }
    Ok(())
}

/// The bytes the exchange's signature covers, as far as the request
/// determines them:
///
/// - Binance: `query ‖ body`.
/// - Kraken: `path ‖ SHA-256(nonce ‖ body)`.
/// - Bybit: `timestamp ‖ recv_window ‖ payload` (the query of a GET/DELETE,
///   the body of a POST/PUT); the API key, which Bybit signs between the
///   timestamp and the window, is the key's and left out.
/// - OKX: `ISO-8601 timestamp ‖ method ‖ path?query ‖ body`.
/// - KuCoin: `timestamp ‖ method ‖ path?query ‖ body`.
/// - Coinbase: the JWT's `uri` claim (`METHOD api.coinbase.com/path`), a
///   newline and its `nbf` (seconds); the JWT's random nonce and key name
///   are left out. Coinbase signs neither query nor body.
pub fn signed_payload(exchange: Exchange, req: &SignRequest) -> Result<Vec<u8>, Reason> {
    let query = req.query.as_deref().unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    let ts = || {
        req.timestamp
            .filter(|t| *t > 0)
            .ok_or(Reason::TimestampMissing)
    };
    Ok(match exchange {
        Exchange::Binance => [query, body].concat().into_bytes(),
        Exchange::Kraken => {
            let nonce = kraken_nonce(req).ok_or(Reason::NonceMissing)?;
            let inner = digest::digest(&digest::SHA256, [nonce, body].concat().as_bytes());
            let mut out = req.path.as_bytes().to_vec();
            out.extend_from_slice(inner.as_ref());
            out
        }
        Exchange::Bybit => {
            let window = req.recv_window.unwrap_or(5000);
            let payload = if is_query_method(&req.method) {
                query
            } else {
                body
            };
            format!("{}{window}{payload}", ts()?).into_bytes()
        }
        Exchange::Okx => {
            let iso = iso_millis(ts()?).map_err(|_| Reason::TimestampMissing)?;
            format!("{iso}{}{}{body}", req.method, path_with_query(req)).into_bytes()
        }
        Exchange::Kucoin => {
            format!("{}{}{}{body}", ts()?, req.method, path_with_query(req)).into_bytes()
        }
        Exchange::Coinbase => format!(
            "{} {}{}\n{}",
            req.method,
            crate::sign::COINBASE_HOST,
            req.path,
            ts()?.div_euclid(1000)
        )
        .into_bytes(),
    })
}

/// Lower-case hex SHA-256 of [`signed_payload`], for the audit.
pub fn payload_sha256(exchange: Exchange, req: &SignRequest) -> Result<String, Reason> {
    let payload = signed_payload(exchange, req)?;
    Ok(hex(digest::digest(&digest::SHA256, &payload).as_ref()))
}

/// Where a withdrawal sends the funds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An address on a network (chain).
    Address {
        /// The address.
        address: String,
        /// The network or chain, when given.
        network: Option<String>,
        /// The memo or tag, when given.
        memo: Option<String>,
    },
    /// Kraken: the name of a withdrawal key (an address-book entry).
    KrakenKey {
        /// The key's name.
        key: String,
        /// The address, when given to confirm it.
        address: Option<String>,
    },
}

/// `%XX` decoded and `+` as a space, as form values are; the raw text if
/// that is not UTF-8.
fn form_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hexval = |c: u8| (c as char).to_digit(16);
        match b {
            b'%' if i + 2 < bytes.len() => match (hexval(bytes[i + 1]), hexval(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            },
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| v.to_string())
}

fn form_value(req: &SignRequest, name: &str) -> Option<String> {
    let query = req.query.as_deref().unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    param(query, name)
        .or_else(|| param(body, name))
        .map(form_decode)
        .filter(|v| !v.is_empty())
}

fn json_value(body: &serde_json::Value, name: &str) -> Option<String> {
    match body.get(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The withdrawal destination the request names, if any: Binance
/// `address`, `network`, `addressTag` (query or body); Kraken `key`,
/// `address` (form body); Bybit `address`, `chain`, `tag`; OKX `toAddr`,
/// `chain`; KuCoin `address` (or `toAddress`), `chain`, `memo`; Coinbase
/// `to`, `network` (JSON bodies). Malformed input gives `None`.
pub fn destination(exchange: Exchange, req: &SignRequest) -> Option<Destination> {
    match exchange {
        Exchange::Binance => Some(Destination::Address {
            address: form_value(req, "address")?,
            network: form_value(req, "network"),
            memo: form_value(req, "addressTag"),
        }),
        Exchange::Kraken => Some(Destination::KrakenKey {
            key: form_value(req, "key")?,
            address: form_value(req, "address"),
        }),
        _ => {
            let body: serde_json::Value = serde_json::from_str(req.body.as_deref()?).ok()?;
            let (address, network, memo) = match exchange {
                Exchange::Bybit => (json_value(&body, "address"), "chain", "tag"),
                Exchange::Okx => (json_value(&body, "toAddr"), "chain", "memo"),
                Exchange::Kucoin => (
                    json_value(&body, "address").or_else(|| json_value(&body, "toAddress")),
                    "chain",
                    "memo",
                ),
                _ => (json_value(&body, "to"), "network", "destination_tag"),
            };
            Some(Destination::Address {
                address: address?,
                network: json_value(&body, network),
                memo: json_value(&body, memo),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_json() {
        assert_eq!(
            form_names("a=1&b&c[d]=2").unwrap_or_default(),
            vec!["a", "b", "c[d]"]
        );
        assert!(form_names("a=1&&b=2").is_err());
        assert!(matches!(
            form_names("addr%65ss=x"),
            Err(Reason::ParameterName(_))
        ));
        assert!(form_names("a=1\n").is_err());
        assert_eq!(
            json_names(r#"[{"a":1,"b":{"a":2}},{"c":3,"a":4}]"#).unwrap_or_default(),
            vec!["a", "b", "c"]
        );
        assert!(matches!(
            json_names(r#"{"a":1,"a":2}"#),
            Err(Reason::DuplicateParameter(_))
        ));
        for bad in ["[1]", "\"x\"", "{", "{\"a\":}", "null", &"[".repeat(200)] {
            assert!(json_names(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decode() {
        assert_eq!(form_decode("a%20b+c"), "a b c");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%ff"), "%ff");
    }

    #[test]
    fn nonces() {
        let now = 1_765_000_000_000_i64;
        assert_eq!(
            nonce_millis("1765000000000"),
            Ok((1_765_000_000_000, "milliseconds"))
        );
        assert_eq!(
            nonce_millis("1765000000000123"),
            Ok((1_765_000_000_000, "microseconds"))
        );
        assert_eq!(
            nonce_millis("1765000000000123456"),
            Ok((1_765_000_000_000, "nanoseconds"))
        );
        assert_eq!(
            nonce_millis("99999999999999999999").map(|x| x.1),
            Ok("nanoseconds")
        );
        for bad in ["", "-1", "1.5", "123456789012345678901", "1e9", " 1"] {
            assert_eq!(nonce_millis(bad), Err(Reason::NonceNotNumeric), "{bad}");
        }
        let _ = now;
    }
}
