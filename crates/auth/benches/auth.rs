//! `cargo bench -p cryptobot-auth`: token verification and signing,
//! argon2id at the OWASP parameters (with and without a pepper), and the
//! common-password look-up.
#![allow(clippy::unwrap_used)]

use cryptobot_auth::{
    Claims, PasswordHasher, Pepper, SigningKey, Verifier, is_common_password, sign,
};
use secrecy::SecretString;

fn main() {
    divan::main();
}

fn claims() -> Claims {
    Claims {
        iss: "cryptobot".into(),
        aud: "cryptobot-api".into(),
        sub: "Wq3yJ1c9mQ0bKx8hTz2dVg".into(),
        sid: "p8Vn1kR3sT6uY0wZ2aB4cD".into(),
        exp: 4_000_000_000,
        iat: 1_800_000_000,
        nbf: 1_800_000_000,
        jti: "Zx9Yw8Vu7Ts6Rq5Po4Nm3L".into(),
        scope: "users:manage users:read keys:manage keys:read trade:execute trade:read audit:read system:admin account:self".into(),
    }
}

fn setup() -> (Verifier, String) {
    let (old, _) = SigningKey::generate().unwrap();
    let (key, _) = SigningKey::generate().unwrap();
    let v = Verifier::new(
        "cryptobot",
        "cryptobot-api",
        vec![old.verifying_key(), key.verifying_key()],
    );
    let token = sign(&key, &claims()).unwrap();
    (v, token)
}

/// A token seen for the first time: Ed25519 verification and claim checks.
#[divan::bench]
fn verify_access_token(b: divan::Bencher) {
    let (v, token) = setup();
    b.bench(|| {
        v.verify_uncached(divan::black_box(&token), 1_800_000_100)
            .unwrap()
    });
}

/// The same token again (what every request after the first does).
#[divan::bench]
fn verify_access_token_repeat(b: divan::Bencher) {
    let (v, token) = setup();
    v.verify(&token, 1_800_000_100).unwrap();
    b.bench(|| v.verify(divan::black_box(&token), 1_800_000_100).unwrap());
}

#[divan::bench]
fn sign_access_token(b: divan::Bencher) {
    let (key, _) = SigningKey::generate().unwrap();
    let c = claims();
    b.bench(|| sign(&key, divan::black_box(&c)).unwrap());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn argon2_hash_owasp(b: divan::Bencher) {
    let h = PasswordHasher::owasp();
    let pw = SecretString::from("Correct-Horse-Battery-42".to_string());
    b.bench(|| h.hash(&pw).unwrap());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn argon2_verify_owasp(b: divan::Bencher) {
    let h = PasswordHasher::owasp();
    let pw = SecretString::from("Correct-Horse-Battery-42".to_string());
    let phc = h.hash(&pw).unwrap();
    b.bench(|| h.verify(&pw, &phc));
}

/// What a server configured with a pepper does at sign-in: NFKC, then
/// argon2id with the pepper as secret input.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn argon2_verify_owasp_peppered(b: divan::Bencher) {
    let pepper = Pepper::from_bytes(&[0x5a; cryptobot_auth::PEPPER_LEN]).unwrap();
    let h = PasswordHasher::owasp().with_pepper(pepper).unwrap();
    let pw = SecretString::from("Correct-Horse-Battery-42".to_string());
    let phc = h.hash(&pw).unwrap();
    b.bench(|| h.verify(&pw, &phc));
}

/// One look-up in the ~100,000-entry common-password list (inflated on the
/// first call, outside the measured loop).
#[divan::bench]
fn common_password_lookup(b: divan::Bencher) {
    assert!(is_common_password("ranger66"));
    b.bench(|| is_common_password(divan::black_box("Correct-Horse-Battery-42")));
}

/// One in-process rate-limit decision (GCRA, 10,000 distinct keys).
#[divan::bench]
fn rate_limit_decision(b: divan::Bencher) {
    let l: cryptobot_auth::RateLimiter<u64> =
        cryptobot_auth::RateLimiter::new(1_000_000, 60, 1000, 100_000);
    let mut i: u64 = 0;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        l.check(divan::black_box(&(i % 10_000)), (i as i64) * 1000)
    });
}
