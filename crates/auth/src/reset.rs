//! Password-reset tokens: random, single-use, stored only as an HMAC
//! under `reset_token.key`, and bound to the account and the password
//! hash they were issued against (a password change by any other way
//! voids them).

use aws_lc_rs::hmac;
use secrecy::SecretString;

use crate::AuthError;
use crate::opaque::new_opaque_token;

/// The prefix of a reset token, so one pasted in the wrong place is
/// recognisable.
pub const RESET_TOKEN_PREFIX: &str = "cbr_";

/// The key of `config/secrets/reset_token.key`. `Debug` shows nothing of
/// it.
pub struct ResetKey(hmac::Key);

impl std::fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetKey(<redacted>)")
    }
}

fn hex(tag: &[u8]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

impl ResetKey {
    /// The key from the file's bytes (at least 32).
    pub fn from_bytes(bytes: &[u8]) -> Result<ResetKey, AuthError> {
        if bytes.len() < 32 {
            return Err(AuthError::Key(
                "the reset-token key must be at least 32 bytes",
            ));
        }
        Ok(ResetKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// The MAC a token is stored and looked up by.
    pub fn token_mac(&self, token: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"cryptobot/reset-token/v1\0");
        ctx.update(token.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// What binds a token to `user_id` and its password hash at issue
    /// time.
    pub fn binding(&self, user_id: &str, password_hash: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"cryptobot/reset-binding/v1\0");
        ctx.update(user_id.as_bytes());
        ctx.update(b"\0");
        ctx.update(password_hash.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// Whether `binding` was made for `user_id` with `password_hash`
    /// (compared in constant time).
    pub fn binding_matches(&self, binding: &str, user_id: &str, password_hash: &str) -> bool {
        let expected = self.binding(user_id, password_hash);
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), binding.as_bytes())
            .is_ok()
    }
}

/// A new reset token (`cbr_` and 43 base64url characters) and its MAC.
pub fn new_reset_token(key: &ResetKey) -> Result<(SecretString, String), AuthError> {
    use secrecy::ExposeSecret;
    let (raw, _) = new_opaque_token()?;
    let token = format!("{RESET_TOKEN_PREFIX}{}", raw.expose_secret());
    let mac = key.token_mac(&token);
    Ok((SecretString::from(token), mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_macs_and_bindings() {
        let key = ResetKey::from_bytes(&[7u8; 32]).unwrap();
        let other = ResetKey::from_bytes(&[8u8; 32]).unwrap();
        let (t, mac) = new_reset_token(&key).unwrap();
        assert!(t.expose_secret().starts_with("cbr_"));
        assert_eq!(t.expose_secret().len(), 47);
        assert_eq!(key.token_mac(t.expose_secret()), mac);
        assert_ne!(other.token_mac(t.expose_secret()), mac);
        let b = key.binding("u1", "$argon2id$a");
        assert!(key.binding_matches(&b, "u1", "$argon2id$a"));
        assert!(!key.binding_matches(&b, "u1", "$argon2id$b"));
        assert!(!key.binding_matches(&b, "u2", "$argon2id$a"));
        assert!(ResetKey::from_bytes(&[1u8; 31]).is_err());
        assert_eq!(format!("{key:?}"), "ResetKey(<redacted>)");
    }
}
