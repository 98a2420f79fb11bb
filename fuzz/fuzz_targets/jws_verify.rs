//! The compact-JWS access-token verifier (`Verifier::verify`).
//!
//! Input: the first byte picks the mode. `r`: the rest is a token as a
//! client sends it. `s`: the rest is a header and a payload (JSON, split
//! at a NUL byte; `$kid` in the header becomes the test key's id), which
//! are base64url-encoded and signed with the test key, so the claim rules
//! behind the signature check are reached too.
//!
//! Oracles: no panic; the cached and uncached paths agree; an accepted
//! token has the configured issuer and audience and is within its time
//! window (60 s leeway).
#![no_main]

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cryptobot_auth::{SigningKey, Verifier, verify_jws_ed25519};
use cryptobot_fuzz::parts;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;
/// DER prefix of an RFC 8410 PKCS#8 Ed25519 private key.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The fixed test key's seed: fuzzing must be reproducible.
const SEED: [u8; 32] = [0x2a; 32];

/// The test key, as the service loads one (PKCS#8 PEM).
fn key() -> &'static SigningKey {
    static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend(SEED);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        match SigningKey::from_pkcs8_pem(pem.as_bytes()) {
            Ok(k) => k,
            Err(e) => panic!("the test key does not load: {e}"),
        }
    })
}

fn signed(header: &[u8], payload: &[u8]) -> String {
    let header = String::from_utf8_lossy(header).replace("$kid", key().kid());
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.as_bytes()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    // `cryptobot_auth::sign` only signs well-formed claims; sign the
    // fuzzed bytes with the same seed directly.
    let pair = match Ed25519KeyPair::from_seed_unchecked(&SEED) {
        Ok(p) => p,
        Err(e) => panic!("the test seed does not load: {e}"),
    };
    let sig = pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode {
        b's' => {
            let p = parts(rest, 2);
            signed(p[0], p.get(1).copied().unwrap_or_default())
        }
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    let verifier = Verifier::new("cryptobot", "cryptobot-api", vec![key().verifying_key()]);
    let uncached = verifier.verify_uncached(&token, NOW);
    let first = verifier.verify(&token, NOW);
    let cached = verifier.verify(&token, NOW);
    assert_eq!(uncached, first, "verify and verify_uncached disagree");
    assert_eq!(first, cached, "the cache changed the answer");
    let public = key().verifying_key().public_bytes();
    if let Ok(claims) = &first {
        assert!(
            verify_jws_ed25519(&public, &token),
            "accepted without a signature"
        );
        assert_eq!(claims.iss, "cryptobot");
        assert_eq!(claims.aud, "cryptobot-api");
        assert!(
            NOW <= claims.exp.saturating_add(60),
            "expired token accepted"
        );
        assert!(
            claims.nbf <= NOW + 60 && claims.iat <= NOW + 60,
            "future token accepted"
        );
    }
});
