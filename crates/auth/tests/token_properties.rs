//! Properties of the compact-JWS access tokens: what is signed verifies
//! to the same claims, and no single-character change of a token is
//! accepted. (The verifier is fuzzed by `fuzz/fuzz_targets/jws_verify.rs`.)

use std::sync::OnceLock;

use cryptobot_auth::{Claims, SigningKey, Verifier, sign};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| match SigningKey::generate() {
        Ok((k, _)) => k,
        Err(e) => panic!("no signing key: {e}"),
    })
}

fn verifier() -> Verifier {
    Verifier::new("cryptobot", "cryptobot-api", vec![key().verifying_key()])
}

fn claims() -> impl Strategy<Value = Claims> {
    (
        any::<String>(),
        any::<String>(),
        "[a-z0-9:]{0,12}( [a-z0-9:]{1,12}){0,3}",
        any::<String>(),
        0i64..100_000,
        0i64..100_000,
    )
        .prop_map(|(sub, sid, scope, jti, ttl, age)| Claims {
            iss: "cryptobot".into(),
            aud: "cryptobot-api".into(),
            sub,
            sid,
            exp: NOW + ttl,
            iat: NOW - age,
            nbf: NOW - age,
            jti,
            scope,
        })
}

proptest! {
    #[test]
    fn signed_claims_verify_to_themselves(c in claims()) {
        let token = sign(key(), &c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verifier().verify_uncached(&token, NOW), Ok(c.clone()));
        prop_assert_eq!(verifier().verify(&token, NOW), Ok(c));
    }

    #[test]
    fn no_changed_character_is_accepted(c in claims(), at in any::<prop::sample::Index>(), to in "[A-Za-z0-9_.=+/-]") {
        let token = sign(key(), &c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let i = at.index(token.len());
        let mut changed = token.clone();
        changed.replace_range(i..=i, &to);
        prop_assume!(changed != token);
        prop_assert!(verifier().verify(&changed, NOW).is_err(), "{} accepted", changed);
    }
}
