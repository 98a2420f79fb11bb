//! Opaque random tokens (refresh tokens) and identifiers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::AuthError;

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, AuthError> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).map_err(|_| AuthError::Random)?;
    Ok(b)
}

/// A new opaque token (32 random bytes, base64url) and the SHA-256 hex of
/// it, which is all that is stored.
pub fn new_opaque_token() -> Result<(SecretString, String), AuthError> {
    let bytes = random::<32>()?;
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    let hash = hash_opaque_token(&token);
    Ok((SecretString::from(token.as_str().to_string()), hash))
}

/// SHA-256 hex of an opaque token, for lookup.
pub fn hash_opaque_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random identifier (16 bytes, base64url): session ids, `jti`.
pub fn random_id() -> Result<String, AuthError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<16>()?.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_opaque_token().unwrap();
        let (b, hb) = new_opaque_token().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert_eq!(ha, hash_opaque_token(a.expose_secret()));
        assert_ne!(ha, hb);
        assert_eq!(ha.len(), 64);
        assert_eq!(random_id().unwrap().len(), 22);
    }
}
