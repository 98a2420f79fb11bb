//! argon2id password hashing in PHC strings.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::AuthError;

/// Longest password accepted, in characters (bounds hashing input).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// `password` in Unicode normalisation form NFKC (ASVS V2.1, NIST SP 800-63B
/// 5.1.1.2): the ways of typing one password on different keyboards and systems
/// — a ligature `ﬁ` or `fi`, full-width `１` or `1`, a precomposed `é` or `e`
/// plus an accent — become one string. Used before the policy checks. No copy
/// of the password is left behind in freed memory.
pub fn normalize_password(password: &SecretString) -> SecretString {
    let normalized = nfkc(password.expose_secret());
    // An exact-size copy: `String` → `Box<str>` would reallocate otherwise.
    SecretString::from(normalized.as_str())
}

/// NFKC of `s` in a buffer that is wiped when dropped, and that is grown by
/// hand so no earlier, smaller buffer is freed unwiped.
pub(crate) fn nfkc(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len() + 16));
    for c in s.nfkc() {
        if out.len() + c.len_utf8() > out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(2 * out.capacity()));
            bigger.push_str(&out);
            out = bigger;
        }
        out.push(c);
    }
    out
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Right password; `needs_rehash` when the stored hash used other
    /// parameters than this hasher.
    Match {
        /// The stored hash should be replaced.
        needs_rehash: bool,
    },
    /// Wrong password, or an unusable stored hash.
    Mismatch,
}

/// argon2id with fixed parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PasswordHasher(argon2id m={} t={} p={})",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }
}

impl PasswordHasher {
    /// OWASP's argon2id minimum: m = 19456 KiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        // These constants are within argon2's limits; a failure here would
        // be a bug caught by the tests.
        Self::with_params(19_456, 2, 1).unwrap_or_else(|_| Self {
            params: Params::default(),
            dummy: String::new(),
        })
    }

    /// Custom parameters (tests use small ones).
    pub fn with_params(m_kib: u32, t: u32, p: u32) -> Result<Self, AuthError> {
        let params = Params::new(m_kib, t, p, None).map_err(|e| AuthError::Hash(e.to_string()))?;
        let mut h = PasswordHasher {
            params,
            dummy: String::new(),
        };
        // A real hash with the same parameters, so a dummy verification
        // costs exactly what a real one does. Its result is thrown away, so
        // a fixed input and salt are fine and need no random source.
        h.dummy = h
            .argon()
            .hash_password_with_salt(b"cryptobot-dummy-password", b"cryptobot-dummy!")
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .to_string();
        Ok(h)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes with a fresh 16-byte salt; returns the PHC string.
    pub fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| AuthError::Random)?;
        let hash = self
            .argon()
            .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored PHC string.
    pub fn verify(&self, password: &SecretString, phc: &str) -> PasswordCheck {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return PasswordCheck::Mismatch;
        };
        if parsed.algorithm.as_str() != "argon2id"
            && parsed.algorithm.as_str() != "argon2i"
            && parsed.algorithm.as_str() != "argon2d"
        {
            return PasswordCheck::Mismatch;
        }
        // The stored parameters drive the verification (argon2 reads them
        // from the PHC string).
        if self
            .argon()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_err()
        {
            return PasswordCheck::Mismatch;
        }
        let same = parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(0x13)
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            });
        PasswordCheck::Match {
            needs_rehash: !same,
        }
    }

    /// A full verification against a dummy hash: the cost of checking an
    /// unknown user's password equals that of a known one.
    pub fn verify_dummy(&self, password: &SecretString) {
        let _ = self.verify(password, &self.dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &str) -> SecretString {
        SecretString::from(p.to_string())
    }

    #[test]
    fn round_trip_and_mismatch() {
        let h = PasswordHasher::with_params(8, 1, 1).unwrap();
        let phc = h.hash(&s("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert_eq!(
            h.verify(&s("correct horse"), &phc),
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
        assert_eq!(h.verify(&s("Correct horse"), &phc), PasswordCheck::Mismatch);
        assert_ne!(phc, h.hash(&s("correct horse")).unwrap(), "salted");
    }

    #[test]
    fn other_params_need_rehash() {
        let old = PasswordHasher::with_params(16, 1, 1).unwrap();
        let new = PasswordHasher::with_params(8, 1, 1).unwrap();
        let phc = old.hash(&s("pw")).unwrap();
        assert_eq!(
            new.verify(&s("pw"), &phc),
            PasswordCheck::Match { needs_rehash: true }
        );
    }

    #[test]
    fn malformed_is_mismatch() {
        let h = PasswordHasher::with_params(8, 1, 1).unwrap();
        for bad in [
            "",
            "plain",
            "$argon2id$",
            "$pbkdf2-sha256$i=1$abc$def",
            "$argon2id$v=19$m=8,t=1,p=1$!!$!!",
        ] {
            assert_eq!(h.verify(&s("pw"), bad), PasswordCheck::Mismatch, "{bad}");
        }
        h.verify_dummy(&s("pw"));
    }

    #[test]
    fn normalisation() {
        let n = |p: &str| normalize_password(&s(p)).expose_secret().to_string();
        assert_eq!(n("ﬁ"), "fi");
        assert_eq!(n("１２３"), "123");
        assert_eq!(n("ｐａｓｓ ｗｏｒｄ"), "pass word");
        assert_eq!(n("e\u{301}"), "é");
        assert_eq!(n("already normal"), "already normal");
        assert_eq!(n(""), "");
        // U+FDFA grows to 18 characters: the buffer grows by hand.
        assert_eq!(n(&"\u{FDFA}".repeat(40)).chars().count(), 18 * 40);
    }

    #[test]
    fn owasp_parameters() {
        let h = PasswordHasher::owasp();
        let phc = h.hash(&s("pw")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!format!("{h:?}").contains('$'));
    }
}
