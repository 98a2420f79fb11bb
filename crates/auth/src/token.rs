//! Access tokens: compact JWS signed with Ed25519 (`alg: EdDSA`, RFC 8037),
//! verified strictly. No JWT library: the accepted format is small and every
//! rule is visible here.

use std::collections::HashMap;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::AuthError;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The largest clock leeway accepted.
const MAX_LEEWAY: i64 = 60;
/// DER prefix of an RFC 8410 PKCS#8 v1 Ed25519 private key (the 32-byte seed follows).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 thumbprint of an Ed25519 public key.
fn thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(public));
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// The private key that signs access tokens.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: [u8; 32],
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey {{ kid: {}, private: [redacted] }}", self.kid)
    }
}

impl SigningKey {
    fn from_seed(seed: &[u8]) -> Result<Self, AuthError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| AuthError::Key("not an Ed25519 seed"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| AuthError::Key("unexpected public key length"))?;
        Ok(SigningKey {
            kid: thumbprint(&public),
            pair,
            public,
        })
    }

    /// Reads a PEM `PRIVATE KEY` holding an RFC 8410 PKCS#8 v1 Ed25519 key.
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, AuthError> {
        let text = std::str::from_utf8(pem).map_err(|_| AuthError::Key("not PEM text"))?;
        let body: Zeroizing<String> = Zeroizing::new(
            text.lines()
                .map(str::trim)
                .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
                .skip(1)
                .take_while(|l| *l != "-----END PRIVATE KEY-----")
                .collect(),
        );
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| AuthError::Key("PEM body is not base64"))?,
        );
        if der.len() != 48 || der[..16] != PKCS8_PREFIX {
            return Err(AuthError::Key("not an Ed25519 PKCS#8 key"));
        }
        Self::from_seed(&der[16..])
    }

    /// A new random key and its PEM (RFC 8410 PKCS#8 v1).
    pub fn generate() -> Result<(SigningKey, Zeroizing<String>), AuthError> {
        let mut der = Zeroizing::new([0u8; 48]);
        der[..16].copy_from_slice(&PKCS8_PREFIX);
        getrandom::fill(&mut der[16..]).map_err(|_| AuthError::Random)?;
        let key = Self::from_seed(&der[16..])?;
        let body = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der.as_ref()));
        let pem = Zeroizing::new(format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            body.as_str()
        ));
        Ok((key, pem))
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            kid: self.kid.clone(),
            public: self.public,
        }
    }

    fn sign_bytes(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

/// A public key that verifies tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    kid: String,
    public: [u8; 32],
}

impl VerifyingKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// As a JWK (RFC 8037).
    pub fn to_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&self.public), "kid": self.kid, "alg": "EdDSA", "use": "sig"})
    }

    /// From a JWK; the `kid` must be the key's thumbprint.
    pub fn from_jwk(jwk: &Value) -> Result<Self, AuthError> {
        if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
            return Err(AuthError::Key("not an OKP Ed25519 JWK"));
        }
        let x = jwk["x"].as_str().ok_or(AuthError::Key("JWK without x"))?;
        let public: [u8; 32] = URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(AuthError::Key("JWK x is not 32 bytes of base64url"))?;
        let kid = thumbprint(&public);
        if let Some(given) = jwk.get("kid")
            && given != &Value::String(kid.clone())
        {
            return Err(AuthError::Key("JWK kid is not the key's thumbprint"));
        }
        Ok(VerifyingKey { kid, public })
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// Signs `claims` as a compact JWS.
pub fn sign(key: &SigningKey, claims: &Claims) -> Result<String, AuthError> {
    // Written by hand so the member order is exactly alg, typ, kid (`json!`
    // sorts keys); the kid is base64url, so it needs no escaping.
    let h = b64(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, key.kid).as_bytes());
    let p = b64(&serde_json::to_vec(claims).map_err(|_| AuthError::Sign)?);
    let input = format!("{h}.{p}");
    let sig = b64(&key.sign_bytes(input.as_bytes()));
    Ok(format!("{input}.{sig}"))
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed compact JWS.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not exactly `EdDSA`.
    #[error("unsupported algorithm")]
    UnsupportedAlg,
    /// No key with this `kid`.
    #[error("unknown key id")]
    UnknownKid,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A required claim is missing.
    #[error("missing claim")]
    MissingClaim,
    /// Wrong `iss`.
    #[error("wrong issuer")]
    WrongIssuer,
    /// Wrong `aud`.
    #[error("wrong audience")]
    WrongAudience,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Before `nbf`, or `iat` in the future.
    #[error("not yet valid")]
    NotYetValid,
}

impl TokenError {
    /// snake_case code, for logs.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedAlg => "unsupported_alg",
            TokenError::UnknownKid => "unknown_kid",
            TokenError::BadSignature => "bad_signature",
            TokenError::MissingClaim => "missing_claim",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
        }
    }
}

/// Strict base64url without padding.
fn decode(part: &str) -> Result<Vec<u8>, TokenError> {
    if part.contains('=') {
        return Err(TokenError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

fn split3(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(TokenError::Malformed),
    }
}

/// Checks only the Ed25519 signature of a compact JWS (no claim rules):
/// used to prove interoperability with RFC 8037's examples.
pub fn verify_jws_ed25519(public: &[u8; 32], jws: &str) -> bool {
    let Ok((h, p, s)) = split3(jws) else {
        return false;
    };
    let Ok(sig) = decode(s) else { return false };
    let input = &jws[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&ED25519, public)
        .verify(input.as_bytes(), &sig)
        .is_ok()
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<Value>,
    sub: Option<String>,
    sid: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    scope: Option<String>,
}

/// Most tokens remembered as already verified.
const CACHE_ENTRIES: usize = 16_384;

/// Tokens whose signature and fixed claims (`iss`, `aud`, key) were already
/// checked, by SHA-256 of the whole token. Only validly signed tokens get
/// in, so an attacker cannot fill it; time claims are re-checked on every
/// use. Clients send the same access token for its whole lifetime, so this
/// turns the Ed25519 verification (about 38 µs) into a hash and a lookup.
#[derive(Debug, Default)]
struct VerifiedCache {
    map: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

impl VerifiedCache {
    fn get(&self, digest: &[u8; 32]) -> Option<Claims> {
        self.map.lock().ok()?.get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], claims: &Claims, now: i64) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= CACHE_ENTRIES {
                map.retain(|_, c| c.exp + MAX_LEEWAY >= now);
                if map.len() >= CACHE_ENTRIES {
                    map.clear();
                }
            }
            map.insert(digest, claims.clone());
        }
    }
}

/// Verifies access tokens against a set of keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
    issuer: String,
    audience: String,
    leeway: i64,
    cache: std::sync::Arc<VerifiedCache>,
}

impl Verifier {
    /// A verifier for `issuer`/`audience` holding `keys`, leeway 60 s.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: Vec<VerifyingKey>,
    ) -> Self {
        Verifier {
            keys: keys.into_iter().map(|k| (k.kid.clone(), k)).collect(),
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: MAX_LEEWAY,
            cache: Default::default(),
        }
    }

    /// Sets the leeway (clamped to 0..=60 s).
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway = secs.clamp(0, MAX_LEEWAY);
        self
    }

    /// The key ids held.
    pub fn kids(&self) -> Vec<String> {
        let mut k: Vec<String> = self.keys.keys().cloned().collect();
        k.sort();
        k
    }

    /// The JWK Set of the keys.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<&VerifyingKey> = self.keys.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        json!({"keys": keys.iter().map(|k| k.to_jwk()).collect::<Vec<_>>()})
    }

    /// Verifies `token` at time `now`. A token seen before (same bytes,
    /// already verified by this key set) skips the signature check; its
    /// time claims are checked again.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cache.get(&digest) {
            self.check_times(claims.exp, claims.nbf, claims.iat, now)?;
            return Ok(claims);
        }
        let claims = self.verify_uncached(token, now)?;
        self.cache.put(digest, &claims, now);
        Ok(claims)
    }

    fn check_times(&self, exp: i64, nbf: i64, iat: i64, now: i64) -> Result<(), TokenError> {
        if now > exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(self.leeway) < nbf || now.saturating_add(self.leeway) < iat {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// Verifies `token` from scratch: signature first, claims after.
    pub fn verify_uncached(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let (h, p, s) = split3(token)?;
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
        if header.get("alg") != Some(&Value::String("EdDSA".into())) {
            return Err(TokenError::UnsupportedAlg);
        }
        for forbidden in ["crit", "jku", "jwk", "x5u", "x5c"] {
            if header.contains_key(forbidden) {
                return Err(TokenError::Malformed);
            }
        }
        if let Some(typ) = header.get("typ")
            && typ != "JWT"
        {
            return Err(TokenError::Malformed);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenError::UnknownKid)?;
        let key = self.keys.get(kid).ok_or(TokenError::UnknownKid)?;
        let sig = decode(s)?;
        if sig.len() != 64 {
            return Err(TokenError::BadSignature);
        }
        let input = &token[..h.len() + 1 + p.len()];
        UnparsedPublicKey::new(&ED25519, &key.public)
            .verify(input.as_bytes(), &sig)
            .map_err(|_| TokenError::BadSignature)?;

        let raw: RawClaims =
            serde_json::from_slice(&decode(p)?).map_err(|_| TokenError::Malformed)?;
        let (
            Some(iss),
            Some(aud),
            Some(sub),
            Some(sid),
            Some(exp),
            Some(iat),
            Some(nbf),
            Some(jti),
            Some(scope),
        ) = (
            raw.iss, raw.aud, raw.sub, raw.sid, raw.exp, raw.iat, raw.nbf, raw.jti, raw.scope,
        )
        else {
            return Err(TokenError::MissingClaim);
        };
        if iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let aud_ok = match &aud {
            Value::String(a) => *a == self.audience,
            Value::Array(list) => list
                .iter()
                .any(|a| a == &Value::String(self.audience.clone())),
            _ => false,
        };
        if !aud_ok {
            return Err(TokenError::WrongAudience);
        }
        self.check_times(exp, nbf, iat, now)?;
        Ok(Claims {
            iss,
            aud: self.audience.clone(),
            sub,
            sid,
            exp,
            iat,
            nbf,
            jti,
            scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8037 appendix A.1 (keys), A.3 (thumbprint), A.4 (JWS).
    const RFC_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn rfc_public() -> [u8; 32] {
        URL_SAFE_NO_PAD.decode(RFC_X).unwrap().try_into().unwrap()
    }

    #[test]
    fn rfc8037_example_verifies() {
        assert!(verify_jws_ed25519(&rfc_public(), RFC_JWS));
        let mut broken = RFC_JWS.to_string();
        broken.replace_range(20..21, "A");
        assert!(!verify_jws_ed25519(&rfc_public(), &broken));
    }

    #[test]
    fn rfc8037_signature_and_thumbprint() {
        let seed = URL_SAFE_NO_PAD.decode(RFC_D).unwrap();
        let key = SigningKey::from_seed(&seed).unwrap();
        assert_eq!(key.public, rfc_public());
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        let (h, p, s) = split3(RFC_JWS).unwrap();
        let sig = key.sign_bytes(format!("{h}.{p}").as_bytes());
        assert_eq!(b64(&sig), s);
    }

    #[test]
    fn header_is_exact() {
        let (k, _) = SigningKey::generate().unwrap();
        let t = sign(&k, &claims(1)).unwrap();
        let (h, _, _) = split3(&t).unwrap();
        assert_eq!(
            String::from_utf8(decode(h).unwrap()).unwrap(),
            format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, k.kid())
        );
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "cryptobot".into(),
            aud: "cryptobot-api".into(),
            sub: "u1".into(),
            sid: "s1".into(),
            exp: now + 900,
            iat: now,
            nbf: now,
            jti: "j1".into(),
            scope: "account:self".into(),
        }
    }

    fn verifier(keys: &[&SigningKey]) -> Verifier {
        Verifier::new(
            "cryptobot",
            "cryptobot-api",
            keys.iter().map(|k| k.verifying_key()).collect(),
        )
    }

    #[test]
    fn pem_round_trip() {
        let (k, pem) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8_pem(pem.as_bytes()).unwrap();
        assert_eq!(k.kid(), again.kid());
        assert!(!format!("{k:?}").contains(pem.lines().nth(1).unwrap()));
        assert!(SigningKey::from_pkcs8_pem(b"nope").is_err());
        let jwk = k.verifying_key().to_jwk();
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap(), k.verifying_key());
        let mut bad = jwk.clone();
        bad["kid"] = "other".into();
        assert!(VerifyingKey::from_jwk(&bad).is_err());
    }

    #[test]
    fn round_trip_and_rotation() {
        let now = 1_800_000_000;
        let (old, _) = SigningKey::generate().unwrap();
        let (new, _) = SigningKey::generate().unwrap();
        let v = verifier(&[&old, &new]);
        assert_eq!(
            v.verify(&sign(&old, &claims(now)).unwrap(), now).unwrap(),
            claims(now)
        );
        assert!(v.verify(&sign(&new, &claims(now)).unwrap(), now).is_ok());
        assert_eq!(v.jwks()["keys"].as_array().unwrap().len(), 2);
        assert_eq!(
            verifier(&[&new]).verify(&sign(&old, &claims(now)).unwrap(), now),
            Err(TokenError::UnknownKid)
        );
    }

    #[test]
    fn every_rejection() {
        let now = 1_800_000_000;
        let (k, _) = SigningKey::generate().unwrap();
        let (other, _) = SigningKey::generate().unwrap();
        let v = verifier(&[&k]);
        let good = sign(&k, &claims(now)).unwrap();
        let (h, p, s) = split3(&good).unwrap();
        let with = |f: &dyn Fn(&mut Claims)| {
            let mut c = claims(now);
            f(&mut c);
            sign(&k, &c).unwrap()
        };
        let hdr = |v: Value| b64(&serde_json::to_vec(&v).unwrap());
        let kid = k.kid().to_string();
        let cases: Vec<(String, TokenError)> = vec![
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"none","kid":kid}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.", hdr(json!({"alg":"none"}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"None","kid":kid}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"HS256","kid":kid}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"RS256","kid":kid}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"eddsa","kid":kid}))),
                TokenError::UnsupportedAlg,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"EdDSA","kid":"x"}))),
                TokenError::UnknownKid,
            ),
            (
                format!("{}.{p}.{s}", hdr(json!({"alg":"EdDSA"}))),
                TokenError::UnknownKid,
            ),
            (
                format!(
                    "{}.{p}.{s}",
                    hdr(json!({"alg":"EdDSA","kid":kid,"crit":["x"]}))
                ),
                TokenError::Malformed,
            ),
            (with(&|c| c.exp = now - 61), TokenError::Expired),
            (with(&|c| c.nbf = now + 61), TokenError::NotYetValid),
            (with(&|c| c.iat = now + 61), TokenError::NotYetValid),
            (with(&|c| c.aud = "x".into()), TokenError::WrongAudience),
            (with(&|c| c.iss = "x".into()), TokenError::WrongIssuer),
            (
                format!("{h}.{}.{s}", b64(br#"{"sub":"admin"}"#)),
                TokenError::BadSignature,
            ),
            (format!("{h}.{p}."), TokenError::BadSignature),
            (format!("{h}.{p}"), TokenError::Malformed),
            (format!("{h}.{p}.{s}.x"), TokenError::Malformed),
            (format!("{h}.{p}.{s}="), TokenError::Malformed),
            (format!("{h}.{p}.!!!"), TokenError::Malformed),
            (
                {
                    let sig = b64(&other.sign_bytes(format!("{h}.{p}").as_bytes()));
                    format!("{h}.{p}.{sig}")
                },
                TokenError::BadSignature,
            ),
            ("x".repeat(9000), TokenError::Malformed),
            ("".into(), TokenError::Malformed),
        ];
        for (token, want) in cases {
            assert_eq!(v.verify(&token, now), Err(want), "{token}");
        }
        // A signed token missing a claim.
        let partial = {
            let hh = hdr(json!({"alg":"EdDSA","kid":kid}));
            let pp = b64(br#"{"iss":"cryptobot","aud":"cryptobot-api"}"#);
            let sig = b64(&k.sign_bytes(format!("{hh}.{pp}").as_bytes()));
            format!("{hh}.{pp}.{sig}")
        };
        assert_eq!(v.verify(&partial, now), Err(TokenError::MissingClaim));
        // The cache re-checks time: a token accepted once expires all the same.
        let once = with(&|c| c.exp = now + 10);
        assert!(v.verify(&once, now).is_ok());
        assert!(v.verify(&once, now).is_ok());
        assert_eq!(v.verify(&once, now + 71), Err(TokenError::Expired));
        // A different key set does not share the cache.
        assert_eq!(
            verifier(&[&other]).verify(&once, now),
            Err(TokenError::UnknownKid)
        );
        // Within leeway is fine; audience arrays are accepted.
        assert!(v.verify(&with(&|c| c.exp = now - 59), now).is_ok());
        assert!(
            v.clone()
                .with_leeway(0)
                .verify(&with(&|c| c.exp = now - 1), now)
                .is_err()
        );
    }
}
