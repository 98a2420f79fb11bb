//! Exchange credentials and request signing.
//!
//! - Binance (SIGNED endpoints): HMAC-SHA256 with the secret key over the
//!   query string immediately followed by the request body, as lower-case
//!   hex; the API key goes in `X-MBX-APIKEY`.
//! - Kraken (private REST): HMAC-SHA512 with the base64-decoded private key
//!   over the URI path followed by SHA-256(nonce ‖ POST data), as base64;
//!   headers `API-Key` and `API-Sign`.
//! - Bybit (v5, HMAC keys): HMAC-SHA256 over timestamp ‖ API key ‖ receive
//!   window ‖ (query string for GET/DELETE, JSON body for POST/PUT), as
//!   lower-case hex; headers `X-BAPI-*`.
//! - OKX (v5): HMAC-SHA256 over ISO-8601 timestamp ‖ method ‖ path (with
//!   `?query`) ‖ body, as base64; headers `OK-ACCESS-*`. OKX sends the
//!   passphrase itself as a header, so the signed headers carry it.
//! - KuCoin (API key version 2): HMAC-SHA256 over millisecond timestamp ‖
//!   method ‖ path (with `?query`) ‖ body, as base64; the passphrase header
//!   is the base64 HMAC-SHA256 of the passphrase, never the passphrase.
//! - Coinbase (CDP API keys, Advanced Trade): a JWT per request, valid
//!   for 120 s, signed with the key's private key — ES256 for an EC key
//!   (PEM), EdDSA for an Ed25519 key (base64 of seed ‖ public key); the
//!   `uri` claim is `METHOD api.coinbase.com/path`. Header
//!   `Authorization: Bearer <jwt>`.

use aws_lc_rs::signature;
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::VaultError;

/// Exchanges whose keys the vault stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exchange {
    /// Binance (spot, HMAC keys).
    Binance,
    /// Kraken (spot REST).
    Kraken,
    /// Coinbase (CDP API keys: ES256 or EdDSA JWTs).
    Coinbase,
    /// Bybit (v5, HMAC keys).
    Bybit,
    /// OKX (v5).
    Okx,
    /// KuCoin (API key version 2).
    Kucoin,
}

impl Exchange {
    /// Every exchange, in a fixed order.
    pub const ALL: [Exchange; 6] = [
        Exchange::Binance,
        Exchange::Kraken,
        Exchange::Coinbase,
        Exchange::Bybit,
        Exchange::Okx,
        Exchange::Kucoin,
    ];

    /// The name used in the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Kraken => "kraken",
            Exchange::Coinbase => "coinbase",
            Exchange::Bybit => "bybit",
            Exchange::Okx => "okx",
            Exchange::Kucoin => "kucoin",
        }
    }

    /// Whether the vault can sign requests for it.
    pub fn can_sign(self) -> bool {
        true
    }

    /// Whether the exchange's API keys come with a passphrase.
    pub fn needs_passphrase(self) -> bool {
        matches!(self, Exchange::Okx | Exchange::Kucoin)
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Result<Exchange, VaultError> {
        Exchange::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                VaultError::Request(format!(
                    "unknown exchange `{}`; use one of: {}",
                    s.chars().take(32).collect::<String>(),
                    Exchange::ALL.map(Exchange::as_str).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of an exchange key's credentials. `Debug` is redacted.
#[derive(Clone)]
pub struct Credentials {
    /// The API key (the exchange's public identifier of the key pair).
    pub api_key: Zeroizing<String>,
    /// The secret (private) key.
    pub secret: Zeroizing<String>,
    /// A passphrase, for exchanges that use one.
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

impl Credentials {
    /// The bytes that are sealed: each field length-prefixed.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            16 + self.api_key.len() + self.secret.len(),
        ));
        let empty = Zeroizing::new(String::new());
        let pass = self.passphrase.as_ref().unwrap_or(&empty);
        out.push(u8::from(self.passphrase.is_some()));
        for field in [&self.api_key, &self.secret, pass] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// Parses what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Credentials, VaultError> {
        let damaged = || VaultError::Damaged("credential encoding");
        let (&has_pass, mut rest) = bytes.split_first().ok_or_else(damaged)?;
        let mut fields = Vec::with_capacity(3);
        for _ in 0..3 {
            let (len, tail) = rest.split_at_checked(4).ok_or_else(damaged)?;
            let len = u32::from_be_bytes(len.try_into().map_err(|_| damaged())?) as usize;
            let (field, tail) = tail.split_at_checked(len).ok_or_else(damaged)?;
            fields.push(Zeroizing::new(
                String::from_utf8(field.to_vec()).map_err(|_| damaged())?,
            ));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(damaged());
        }
        let passphrase = fields.pop().filter(|_| has_pass == 1);
        let secret = fields.pop().ok_or_else(damaged)?;
        let api_key = fields.pop().ok_or_else(damaged)?;
        Ok(Credentials {
            api_key,
            secret,
            passphrase,
        })
    }
}

/// A short, stable fingerprint of an API key for listings:
/// `sha256:` and the first 12 hex digits of its SHA-256.
pub fn fingerprint(api_key: &str) -> String {
    let d = digest::digest(&digest::SHA256, api_key.as_bytes());
    let hex: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Checks a secret's shape for the exchange before it is stored, so a
/// paste error is caught at `add` instead of at the first signature.
pub fn check_secret_format(exchange: Exchange, secret: &str) -> Result<(), VaultError> {
    if exchange == Exchange::Coinbase {
        // A PEM key has spaces and newlines: it is parsed instead.
        return CoinbaseKey::parse(secret).map(|_| ());
    }
    let printable = !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic());
    if !printable {
        return Err(VaultError::Request(
            "the secret must be printable ASCII without spaces (check for a trailing newline or a cut-off paste)".into(),
        ));
    }
    if secret.len() < 16 || secret.len() > 512 {
        return Err(VaultError::Request(
            "the secret must be 16 to 512 characters long".into(),
        ));
    }
    if exchange == Exchange::Kraken {
        let raw = Zeroizing::new(STANDARD.decode(secret).map_err(|_| {
            VaultError::Request("a Kraken private key is base64; this one does not decode".into())
        })?);
        if raw.len() < 32 {
            return Err(VaultError::Request(
                "a Kraken private key decodes to at least 32 bytes".into(),
            ));
        }
    }
    Ok(())
}

/// An exchange request to sign: the fields the exchange's scheme uses.
#[derive(Debug, Clone, Default)]
pub struct SignRequest {
    /// HTTP method.
    pub method: String,
    /// Request path, e.g. `/api/v3/order` or `/0/private/AddOrder`.
    pub path: String,
    /// Query string without the `?`.
    pub query: Option<String>,
    /// Form-encoded request body.
    pub body: Option<String>,
    /// Milliseconds since the epoch (Binance: must match `timestamp=`).
    pub timestamp: Option<i64>,
    /// Kraken's nonce (must match `nonce=` in the body).
    pub nonce: Option<String>,
    /// Bybit's receive window in milliseconds (default 5000).
    pub recv_window: Option<u32>,
}

impl SignRequest {
    /// The `timestamp=` parameter of the query or body (Binance), else
    /// the `timestamp` field, in milliseconds.
    pub fn binance_timestamp(&self) -> Option<i64> {
        let query = self.query.as_deref().unwrap_or("");
        let body = self.body.as_deref().unwrap_or("");
        param(query, "timestamp")
            .or_else(|| param(body, "timestamp"))
            .and_then(|v| v.parse().ok())
            .or(self.timestamp)
    }

    /// The time the signature claims, in milliseconds, for the exchanges
    /// that sign one (the vault refuses one far from its clock); `None`
    /// for Kraken (a nonce) and when it is missing.
    pub fn signed_timestamp(&self, exchange: Exchange) -> Option<i64> {
        match exchange {
            Exchange::Binance => self.binance_timestamp(),
            Exchange::Bybit | Exchange::Okx | Exchange::Kucoin | Exchange::Coinbase => {
                self.timestamp
            }
            Exchange::Kraken => None,
        }
    }
}

/// What the caller sends with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signature in the exchange's encoding.
    pub signature: String,
    /// Headers to send (name, value), including the API key header.
    pub headers: Vec<(String, String)>,
}

fn invalid(msg: &str) -> VaultError {
    VaultError::Request(msg.into())
}

/// The value of the form parameter `name` in `a=b&c=d` text.
pub(crate) fn param<'a>(form: &'a str, name: &str) -> Option<&'a str> {
    form.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn check_common(req: &SignRequest) -> Result<(), VaultError> {
    if !matches!(req.method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
        return Err(invalid("method must be GET, POST, PUT or DELETE"));
    }
    if !req.path.starts_with('/') || req.path.contains(['?', '#', ' ']) {
        return Err(invalid(
            "path must start with `/` and hold no query, fragment or spaces",
        ));
    }
    for (name, v) in [("query", &req.query), ("body", &req.body)] {
        if v.as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(VaultError::Request(format!(
                "{name} must not contain control characters"
            )));
        }
    }
    Ok(())
}

/// Signs `req` with `creds` the way `exchange` expects.
pub fn sign(
    exchange: Exchange,
    creds: &Credentials,
    req: &SignRequest,
) -> Result<Signed, VaultError> {
    check_common(req)?;
    match exchange {
        Exchange::Binance => sign_binance(creds, req),
        Exchange::Kraken => sign_kraken(creds, req),
        Exchange::Bybit => sign_bybit(creds, req),
        Exchange::Okx => sign_okx(creds, req),
        Exchange::Kucoin => sign_kucoin(creds, req),
        Exchange::Coinbase => sign_coinbase(creds, req),
    }
}

fn sign_binance(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    let query = req.query.as_deref().unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    let ts = param(query, "timestamp")
        .or_else(|| param(body, "timestamp"))
        .ok_or_else(|| {
            invalid("binance signs the full parameter string, which must include `timestamp=<milliseconds>`")
        })?;
    if param(query, "signature").is_some() || param(body, "signature").is_some() {
        return Err(invalid(
            "the parameters already hold a `signature`; send them unsigned",
        ));
    }
    if let Some(t) = req.timestamp
        && ts != t.to_string()
    {
        return Err(invalid(
            "`timestamp` differs from the `timestamp=` parameter",
        ));
    }
    let signature = hex(hmac_sha256(
        creds.secret.as_bytes(),
        &[query.as_bytes(), body.as_bytes()],
    )
    .as_ref());
    Ok(Signed {
        signature,
        headers: vec![("X-MBX-APIKEY".into(), creds.api_key.to_string())],
    })
}

fn sign_kraken(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    if !req.path.starts_with("/0/private/") {
        return Err(invalid(
            "kraken signs private endpoints: path must start with `/0/private/`",
        ));
    }
    let nonce = req
        .nonce
        .as_deref()
        .ok_or_else(|| invalid("kraken needs `nonce` (an always increasing integer)"))?;
    if nonce.is_empty() || nonce.len() > 20 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "`nonce` must be an unsigned integer of at most 20 digits",
        ));
    }
    let body = req.body.as_deref().unwrap_or("");
    if param(body, "nonce") != Some(nonce) {
        return Err(invalid(
            "kraken's POST data must carry the same `nonce=` as the `nonce` field",
        ));
    }
    let secret = Zeroizing::new(
        STANDARD
            .decode(creds.secret.as_bytes())
            .map_err(|_| invalid("the stored Kraken private key is not base64; rotate the key"))?,
    );
    let mut inner = digest::Context::new(&digest::SHA256);
    inner.update(nonce.as_bytes());
    inner.update(body.as_bytes());
    let inner = inner.finish();
    let key = hmac::Key::new(hmac::HMAC_SHA512, &secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(req.path.as_bytes());
    ctx.update(inner.as_ref());
    let signature = STANDARD.encode(ctx.sign().as_ref());
    Ok(Signed {
        headers: vec![
            ("API-Key".into(), creds.api_key.to_string()),
            ("API-Sign".into(), signature.clone()),
        ],
        signature,
    })
}

/// HMAC-SHA256 of the parts, one after another, with `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    ctx.sign()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `timestamp` field (milliseconds), which these schemes require.
fn timestamp_ms(exchange: Exchange, req: &SignRequest) -> Result<i64, VaultError> {
    match req.timestamp {
        Some(t) if t > 0 => Ok(t),
        _ => Err(VaultError::Request(format!(
            "{exchange} signs the request time: send `timestamp` (milliseconds since the epoch, the time you send the request)"
        ))),
    }
}

/// `path?query`, the way OKX and KuCoin sign the request target.
pub(crate) fn path_with_query(req: &SignRequest) -> String {
    match req.query.as_deref() {
        Some(q) if !q.is_empty() => format!("{}?{q}", req.path),
        _ => req.path.clone(),
    }
}

fn passphrase(exchange: Exchange, creds: &Credentials) -> Result<&str, VaultError> {
    creds.passphrase.as_deref().map(String::as_str).ok_or_else(|| {
        VaultError::Request(format!(
            "{exchange} keys have a passphrase and this key was stored without one; rotate it with the passphrase"
        ))
    })
}

fn sign_bybit(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    let ts = timestamp_ms(Exchange::Bybit, req)?.to_string();
    let window = req.recv_window.unwrap_or(5000);
    if !(1..=60_000).contains(&window) {
        return Err(invalid("`recv_window` must be 1 to 60000 milliseconds"));
    }
    let window = window.to_string();
    let query = req.query.as_deref().unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    // Bybit signs the query string of a GET and the JSON body of a POST.
    let payload = match req.method.as_str() {
        "GET" | "DELETE" if body.is_empty() => query,
        "POST" | "PUT" if query.is_empty() => body,
        "GET" | "DELETE" => {
            return Err(invalid(
                "bybit: a GET request has no body; send the parameters as `query`",
            ));
        }
        _ => {
            return Err(invalid(
                "bybit: a POST request carries its parameters as a JSON `body`, without `query`",
            ));
        }
    };
    let tag = hmac_sha256(
        creds.secret.as_bytes(),
        &[
            ts.as_bytes(),
            creds.api_key.as_bytes(),
            window.as_bytes(),
            payload.as_bytes(),
        ],
    );
    let signature = hex(tag.as_ref());
    Ok(Signed {
        headers: vec![
            ("X-BAPI-API-KEY".into(), creds.api_key.to_string()),
            ("X-BAPI-TIMESTAMP".into(), ts),
            ("X-BAPI-RECV-WINDOW".into(), window),
            ("X-BAPI-SIGN".into(), signature.clone()),
        ],
        signature,
    })
}

/// `2020-12-08T09:08:57.715Z`: OKX's timestamp format.
pub(crate) fn iso_millis(ms: i64) -> Result<String, VaultError> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| invalid("`timestamp` is out of range"))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

fn sign_okx(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    let ts = iso_millis(timestamp_ms(Exchange::Okx, req)?)?;
    let pass = passphrase(Exchange::Okx, creds)?;
    let target = path_with_query(req);
    let body = req.body.as_deref().unwrap_or("");
    let tag = hmac_sha256(
        creds.secret.as_bytes(),
        &[
            ts.as_bytes(),
            req.method.as_bytes(),
            target.as_bytes(),
            body.as_bytes(),
        ],
    );
    let signature = STANDARD.encode(tag.as_ref());
    Ok(Signed {
        headers: vec![
            ("OK-ACCESS-KEY".into(), creds.api_key.to_string()),
            ("OK-ACCESS-SIGN".into(), signature.clone()),
            ("OK-ACCESS-TIMESTAMP".into(), ts),
            ("OK-ACCESS-PASSPHRASE".into(), pass.to_string()),
        ],
        signature,
    })
}

fn sign_kucoin(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    let ts = timestamp_ms(Exchange::Kucoin, req)?.to_string();
    let pass = passphrase(Exchange::Kucoin, creds)?;
    let target = path_with_query(req);
    let body = req.body.as_deref().unwrap_or("");
    let secret = creds.secret.as_bytes();
    let tag = hmac_sha256(
        secret,
        &[
            ts.as_bytes(),
            req.method.as_bytes(),
            target.as_bytes(),
            body.as_bytes(),
        ],
    );
    let signature = STANDARD.encode(tag.as_ref());
    let pass_sign = STANDARD.encode(hmac_sha256(secret, &[pass.as_bytes()]).as_ref());
    Ok(Signed {
        headers: vec![
            ("KC-API-KEY".into(), creds.api_key.to_string()),
            ("KC-API-SIGN".into(), signature.clone()),
            ("KC-API-TIMESTAMP".into(), ts),
            ("KC-API-PASSPHRASE".into(), pass_sign),
            ("KC-API-KEY-VERSION".into(), "2".into()),
        ],
        signature,
    })
}

/// The host in a Coinbase JWT's `uri` claim (Advanced Trade REST).
pub const COINBASE_HOST: &str = "api.coinbase.com";

/// A Coinbase CDP API key's private key.
enum CoinbaseKey {
    /// EC P-256 (`-----BEGIN EC PRIVATE KEY-----` or PKCS#8), signs ES256.
    Ec(signature::EcdsaKeyPair),
    /// Ed25519 (base64 of the 32-byte seed and the 32-byte public key),
    /// signs EdDSA.
    Ed25519(signature::Ed25519KeyPair),
}

impl CoinbaseKey {
    /// Parses the secret as Coinbase hands it out; `\n` written as two
    /// characters (the one-line form of the key file) counts as a newline.
    fn parse(secret: &str) -> Result<CoinbaseKey, VaultError> {
        let text = Zeroizing::new(secret.replace("\\n", "\n"));
        let bad = |what: &str| {
            VaultError::Request(format!(
                "a Coinbase API secret is an EC private key (PEM) or an Ed25519 key (base64); {what}"
            ))
        };
        if text.contains("-----BEGIN") {
            let body: String = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("-----"))
                .collect();
            let der = Zeroizing::new(
                STANDARD
                    .decode(body.as_bytes())
                    .map_err(|_| bad("this PEM does not decode"))?,
            );
            let pair = signature::EcdsaKeyPair::from_private_key_der(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
            )
            .map_err(|_| bad("this PEM is not a P-256 private key"))?;
            return Ok(CoinbaseKey::Ec(pair));
        }
        let raw = Zeroizing::new(
            STANDARD
                .decode(text.trim().as_bytes())
                .map_err(|_| bad("this one is neither PEM nor base64"))?,
        );
        let (seed, public) = raw
            .split_at_checked(32)
            .filter(|(_, p)| p.len() == 32)
            .ok_or_else(|| bad("an Ed25519 key decodes to 64 bytes (seed and public key)"))?;
        let pair = signature::Ed25519KeyPair::from_seed_and_public_key(seed, public)
            .map_err(|_| bad("its public half does not match its seed"))?;
        Ok(CoinbaseKey::Ed25519(pair))
    }
}

fn sign_coinbase(creds: &Credentials, req: &SignRequest) -> Result<Signed, VaultError> {
    let now = timestamp_ms(Exchange::Coinbase, req)?.div_euclid(1000);
    let key = CoinbaseKey::parse(&creds.secret)?;
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let alg = match key {
        CoinbaseKey::Ec(_) => "ES256",
        CoinbaseKey::Ed25519(_) => "EdDSA",
    };
    let name = creds.api_key.as_str();
    let header = serde_json::json!({"alg": alg, "kid": name, "nonce": hex(&nonce), "typ": "JWT"});
    let claims = serde_json::json!({
        "sub": name, "iss": "cdp", "nbf": now, "exp": now + 120,
        "uri": format!("{} {COINBASE_HOST}{}", req.method, req.path),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = match &key {
        CoinbaseKey::Ec(pair) => pair
            .sign(
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
            )
            .map_err(|_| VaultError::Random)?
            .as_ref()
            .to_vec(),
        CoinbaseKey::Ed25519(pair) => pair.sign(signing_input.as_bytes()).as_ref().to_vec(),
    };
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    Ok(Signed {
        headers: vec![("Authorization".into(), format!("Bearer {jwt}"))],
        signature: jwt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(api_key: &str, secret: &str) -> Credentials {
        Credentials {
            api_key: Zeroizing::new(api_key.into()),
            secret: Zeroizing::new(secret.into()),
            passphrase: None,
        }
    }

    // The example key pair and requests of Binance's "SIGNED endpoint
    // examples for POST /api/v3/order" (HMAC keys), developers.binance.com.
    const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn binance(query: Option<&str>, body: Option<&str>) -> Signed {
        let req = SignRequest {
            method: "POST".into(),
            path: "/api/v3/order".into(),
            query: query.map(Into::into),
            body: body.map(Into::into),
            ..SignRequest::default()
        };
        sign(Exchange::Binance, &creds(BINANCE_KEY, BINANCE_SECRET), &req).expect("sign")
    }

    #[test]
    fn binance_documented_examples() {
        let all = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let expect = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        // Example 1: everything in the query string; example 2: in the body.
        assert_eq!(binance(Some(all), None).signature, expect);
        assert_eq!(binance(None, Some(all)).signature, expect);
        // Example 3: mixed; the body follows the query without a separator.
        let mixed = binance(
            Some("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"),
            Some("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"),
        );
        assert_eq!(
            mixed.signature,
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
        assert_eq!(
            mixed.headers,
            vec![("X-MBX-APIKEY".to_string(), BINANCE_KEY.to_string())]
        );
    }

    #[test]
    fn kraken_documented_example() {
        // The example of Kraken's "Spot REST Authentication" guide: a limit
        // order buying 1.25 XBTUSD at 37,500.
        let secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
        check_secret_format(Exchange::Kraken, secret).expect("format");
        let req = SignRequest {
            method: "POST".into(),
            path: "/0/private/AddOrder".into(),
            body: Some(
                "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
                    .into(),
            ),
            nonce: Some("1616492376594".into()),
            ..SignRequest::default()
        };
        let s = sign(Exchange::Kraken, &creds("pub", secret), &req).expect("sign");
        assert_eq!(
            s.signature,
            "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
        );
        assert!(
            s.headers
                .contains(&("API-Sign".into(), s.signature.clone()))
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        let c = creds(BINANCE_KEY, BINANCE_SECRET);
        let base = SignRequest {
            method: "POST".into(),
            path: "/api/v3/order".into(),
            query: Some("symbol=LTCBTC&timestamp=1".into()),
            ..SignRequest::default()
        };
        for bad in [
            SignRequest {
                method: "TRACE".into(),
                ..base.clone()
            },
            SignRequest {
                path: "api".into(),
                ..base.clone()
            },
            SignRequest {
                query: Some("symbol=X".into()),
                ..base.clone()
            },
            SignRequest {
                query: Some("timestamp=1&signature=ab".into()),
                ..base.clone()
            },
            SignRequest {
                timestamp: Some(2),
                ..base.clone()
            },
            SignRequest {
                query: Some("timestamp=1\n".into()),
                ..base.clone()
            },
        ] {
            assert!(sign(Exchange::Binance, &c, &bad).is_err(), "{bad:?}");
        }
        let k = creds(
            "pub",
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        );
        let kb = SignRequest {
            method: "POST".into(),
            path: "/0/private/Balance".into(),
            body: Some("nonce=5".into()),
            nonce: Some("5".into()),
            ..SignRequest::default()
        };
        assert!(sign(Exchange::Kraken, &k, &kb).is_ok());
        for bad in [
            SignRequest {
                nonce: None,
                ..kb.clone()
            },
            SignRequest {
                nonce: Some("6".into()),
                ..kb.clone()
            },
            SignRequest {
                nonce: Some("-1".into()),
                ..kb.clone()
            },
            SignRequest {
                path: "/0/public/Time".into(),
                ..kb.clone()
            },
        ] {
            assert!(sign(Exchange::Kraken, &k, &bad).is_err(), "{bad:?}");
        }
        assert!(sign(Exchange::Coinbase, &c, &base).is_err());
    }

    #[test]
    fn credentials_encoding_round_trips_and_redacts() {
        let mut c = creds("key", "sec");
        c.passphrase = Some(Zeroizing::new("pass".into()));
        let back = Credentials::from_bytes(&c.to_bytes()).expect("parse");
        assert_eq!(
            (back.api_key.as_str(), back.secret.as_str()),
            ("key", "sec")
        );
        assert_eq!(back.passphrase.as_deref().map(String::as_str), Some("pass"));
        let none = Credentials::from_bytes(&creds("k", "s").to_bytes()).expect("parse");
        assert!(none.passphrase.is_none());
        assert!(Credentials::from_bytes(&[1, 0, 0]).is_err());
        assert!(!format!("{c:?}").contains("sec"));
    }

    #[test]
    fn secret_formats() {
        assert!(check_secret_format(Exchange::Binance, BINANCE_SECRET).is_ok());
        assert!(check_secret_format(Exchange::Binance, "short").is_err());
        assert!(check_secret_format(Exchange::Binance, "with space in the middle of it").is_err());
        assert!(check_secret_format(Exchange::Kraken, "not-base64-secret!!").is_err());
        assert!(check_secret_format(Exchange::Kraken, "c2hvcnQga2V5IGJ5dGVz").is_err());
        assert_eq!(fingerprint("abc").len(), "sha256:".len() + 12);
    }
}
