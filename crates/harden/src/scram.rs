//! Client-side SCRAM-SHA-256 verifiers (RFC 5802 / RFC 7677), in the form
//! PostgreSQL stores in `pg_authid.rolpassword`:
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
//!
//! Sending this verifier in `ALTER ROLE … PASSWORD` (as psql's `\password`
//! does) means the plaintext password never reaches the server, its
//! statement log or `pg_stat_activity`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// PostgreSQL's default `scram_iterations`.
pub const ITERATIONS: u32 = 4096;

/// The derived keys of a password.
struct Keys {
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Keys {
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, salted.as_mut());
    let client_key = Zeroizing::new(hmac(salted.as_ref(), b"Client Key"));
    Keys {
        stored_key: Sha256::digest(client_key.as_ref()).into(),
        server_key: hmac(salted.as_ref(), b"Server Key"),
    }
}

/// A verifier for `password` with a fresh random 16-byte salt.
///
/// `password` must be printable ASCII, for which SASLprep is the identity;
/// `secure-config` only keeps such passwords.
pub fn verifier(password: &[u8]) -> Result<String, getrandom::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    Ok(verifier_with_salt(password, &salt, ITERATIONS))
}

pub fn verifier_with_salt(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let keys = derive(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(keys.stored_key),
        STANDARD.encode(keys.server_key)
    )
}

/// Whether `stored` (a verifier read from the server) was made from
/// `password`. Used to leave a role untouched when its password is current.
pub fn matches(stored: &str, password: &[u8]) -> bool {
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((iter_salt, keys)) = rest.split_once('$') else {
        return false;
    };
    let Some((iterations, salt)) = iter_salt.split_once(':') else {
        return false;
    };
    let (Ok(iterations), Ok(salt)) = (iterations.parse::<u32>(), STANDARD.decode(salt)) else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let expected = verifier_with_salt(password, &salt, iterations);
    let expected_keys = expected.rsplit_once('$').map(|x| x.1).unwrap_or("");
    constant_time_eq(expected_keys.as_bytes(), keys.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Only the characters a verifier can contain: it is embedded in SQL as a
/// literal (ALTER ROLE takes no parameters), so anything else is refused.
pub fn is_safe_literal(verifier: &str) -> bool {
    verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b':' | b'$' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil". Checking the
    /// server signature proves StoredKey/ServerKey derivation is right.
    #[test]
    fn rfc7677_exchange() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = derive(b"pencil", &salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final_wo_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{client_first_bare},{server_first},{client_final_wo_proof}");
        let server_sig = hmac(&keys.server_key, auth.as_bytes());
        assert_eq!(
            STANDARD.encode(server_sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), and
        // SHA-256(ClientKey) must equal StoredKey.
        let client_sig = hmac(&keys.stored_key, auth.as_bytes());
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(client_sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(
            <[u8; 32]>::from(Sha256::digest(&client_key)),
            keys.stored_key
        );
    }

    #[test]
    fn verifier_shape_and_matching() {
        let v = verifier(b"Correct-Horse-Battery-Staple-1").unwrap();
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(is_safe_literal(&v));
        assert!(matches(&v, b"Correct-Horse-Battery-Staple-1"));
        assert!(!matches(&v, b"Correct-Horse-Battery-Staple-2"));
        assert!(!matches("md5abc", b"x"));
        assert!(!matches("SCRAM-SHA-256$0:AAAA$x:y", b"x"));
        assert!(!is_safe_literal("abc'; DROP ROLE x; --"));
    }
}
