//! argon2id password hashing in PHC strings, with an optional pepper.
//!
//! Two kinds of stored hash are told apart by the PHC `keyid` parameter:
//!
//! - **peppered** (`$argon2id$v=19$m=…,t=…,p=…,keyid=…$…`): argon2id with the
//!   pepper as its secret input, over the NFKC-normalised password. Made by a
//!   hasher that has a [`Pepper`]; the key id names that pepper.
//! - **legacy** (no `keyid`): argon2 over the password's bytes as typed, no
//!   secret. Made by a hasher without a pepper, exactly as before peppers
//!   existed; a peppered hasher still accepts them and asks for a rehash.

use argon2::password_hash::phc::PasswordHash;
use argon2::{
    Algorithm, Argon2, KeyId, Params, ParamsBuilder, PasswordHasher as _, PasswordVerifier as _,
    Version,
};
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::{AuthError, Pepper};

/// Longest password accepted, in characters (bounds hashing input).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Input and salt of the dummy hash; its result is thrown away.
const DUMMY_PASSWORD: &str = "cryptobot-dummy-password";
const DUMMY_SALT: &[u8] = b"cryptobot-dummy!";

/// `password` in Unicode normalisation form NFKC (ASVS V2.1, NIST SP 800-63B
/// 5.1.1.2): the ways of typing one password on different keyboards and systems
/// — a ligature `ﬁ` or `fi`, full-width `１` or `1`, a precomposed `é` or `e`
/// plus an accent — become one string. Used before the policy checks and before
/// hashing with a pepper. No copy of the password is left behind in freed
/// memory.
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
    /// parameters than this hasher, or is a legacy hash and this hasher has
    /// a pepper.
    Match {
        /// The stored hash should be replaced.
        needs_rehash: bool,
    },
    /// Wrong password, or an unusable stored hash.
    Mismatch,
}

/// argon2id with fixed parameters and, optionally, a pepper.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    pepper: Option<Pepper>,
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PasswordHasher(argon2id m={} t={} p={}, ",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )?;
        match &self.pepper {
            Some(pepper) => write!(f, "{pepper:?})"),
            None => f.write_str("no pepper)"),
        }
    }
}

impl PasswordHasher {
    /// OWASP's argon2id minimum: m = 19456 KiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        // These constants are within argon2's limits; a failure here would
        // be a bug caught by the tests.
        Self::with_params(19_456, 2, 1).unwrap_or_else(|_| Self {
            params: Params::default(),
            pepper: None,
            dummy: String::new(),
        })
    }

    /// Custom parameters (tests use small ones).
    pub fn with_params(m_kib: u32, t: u32, p: u32) -> Result<Self, AuthError> {
        let params = Params::new(m_kib, t, p, None).map_err(|e| AuthError::Hash(e.to_string()))?;
        let mut h = PasswordHasher {
            params,
            pepper: None,
            dummy: String::new(),
        };
        h.dummy = h.dummy_hash()?;
        Ok(h)
    }

    /// The same hasher with `pepper`: new hashes are peppered (see the
    /// module documentation), and legacy ones verify but need a rehash.
    pub fn with_pepper(mut self, pepper: Pepper) -> Result<Self, AuthError> {
        self.pepper = Some(pepper);
        self.dummy = self.dummy_hash()?;
        Ok(self)
    }

    /// A real hash in the form this hasher makes, so a dummy verification
    /// costs exactly what a real one does (pepper and normalisation
    /// included). Its result is thrown away, so a fixed input and salt are
    /// fine and need no random source.
    fn dummy_hash(&self) -> Result<String, AuthError> {
        self.hash_with_salt(&SecretString::from(DUMMY_PASSWORD), DUMMY_SALT)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes with a fresh 16-byte salt; returns the PHC string.
    pub fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| AuthError::Random)?;
        self.hash_with_salt(password, &salt)
    }

    fn hash_with_salt(&self, password: &SecretString, salt: &[u8]) -> Result<String, AuthError> {
        let hash = match &self.pepper {
            None => self
                .argon()
                .hash_password_with_salt(password.expose_secret().as_bytes(), salt),
            Some(pepper) => {
                let key_id = KeyId::new(pepper.id()).map_err(|e| AuthError::Hash(e.to_string()))?;
                let params = ParamsBuilder::new()
                    .m_cost(self.params.m_cost())
                    .t_cost(self.params.t_cost())
                    .p_cost(self.params.p_cost())
                    .keyid(key_id)
                    .build()
                    .map_err(|e| AuthError::Hash(e.to_string()))?;
                let normalized = nfkc(password.expose_secret());
                Argon2::new_with_secret(
                    pepper.secret(),
                    Algorithm::Argon2id,
                    Version::V0x13,
                    params,
                )
                .map_err(|e| AuthError::Hash(e.to_string()))?
                .hash_password_with_salt(normalized.as_bytes(), salt)
            }
        };
        Ok(hash
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .to_string())
    }

    /// Checks `password` against a stored PHC string.
    ///
    /// A peppered hash is checked with this hasher's pepper over the
    /// normalised password; it is a mismatch when this hasher has no pepper
    /// or another one. A legacy hash is checked as it was made, over the
    /// password as typed.
    pub fn verify(&self, password: &SecretString, phc: &str) -> PasswordCheck {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return PasswordCheck::Mismatch;
        };
        if !matches!(
            parsed.algorithm.as_str(),
            "argon2id" | "argon2i" | "argon2d"
        ) {
            return PasswordCheck::Mismatch;
        }
        // The stored parameters drive the verification (argon2 reads them
        // from the PHC string).
        let Ok(stored) = Params::try_from(&parsed) else {
            return PasswordCheck::Mismatch;
        };
        let legacy = stored.keyid().is_empty();
        let right = if legacy {
            self.argon()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        } else {
            match &self.pepper {
                Some(pepper) if pepper.id() == stored.keyid() => {
                    let normalized = nfkc(password.expose_secret());
                    Argon2::new_with_secret(
                        pepper.secret(),
                        Algorithm::Argon2id,
                        Version::V0x13,
                        self.params.clone(),
                    )
                    .is_ok_and(|argon| {
                        argon
                            .verify_password(normalized.as_bytes(), &parsed)
                            .is_ok()
                    })
                }
                // Made with a pepper this hasher lacks: it cannot match. Spend
                // the usual time anyway, so the answer's timing does not tell
                // which accounts still have hashes from an older pepper.
                _ => {
                    self.verify_dummy(password);
                    false
                }
            }
        };
        if !right {
            return PasswordCheck::Mismatch;
        }
        let same = parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(0x13)
            && legacy == self.pepper.is_none()
            && stored.m_cost() == self.params.m_cost()
            && stored.t_cost() == self.params.t_cost()
            && stored.p_cost() == self.params.p_cost();
        PasswordCheck::Match {
            needs_rehash: !same,
        }
    }

    /// A full verification against a dummy hash: the cost of checking an
    /// unknown user's password equals that of a known one (with this
    /// hasher's pepper, if it has one).
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

    fn pepper(byte: u8) -> Pepper {
        Pepper::from_bytes(&[byte; crate::PEPPER_LEN]).unwrap()
    }

    fn peppered(byte: u8) -> PasswordHasher {
        PasswordHasher::with_params(8, 1, 1)
            .unwrap()
            .with_pepper(pepper(byte))
            .unwrap()
    }

    #[test]
    fn peppered_round_trip() {
        let h = peppered(7);
        let phc = h.hash(&s("correct horse")).unwrap();
        assert!(
            phc.starts_with("$argon2id$v=19$m=8,t=1,p=1,keyid="),
            "{phc}"
        );
        assert!(PasswordHash::new(&phc).is_ok(), "{phc}");
        assert_eq!(
            h.verify(&s("correct horse"), &phc),
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
        assert_eq!(h.verify(&s("correct horsE"), &phc), PasswordCheck::Mismatch);
        // The pepper is really an input: the same password and salt give
        // another hash with another pepper, or none.
        let salt = b"0123456789abcdef";
        let a = h.hash_with_salt(&s("pw"), salt).unwrap();
        let b = peppered(8).hash_with_salt(&s("pw"), salt).unwrap();
        let plain = PasswordHasher::with_params(8, 1, 1)
            .unwrap()
            .hash_with_salt(&s("pw"), salt)
            .unwrap();
        let output = |phc: &str| phc.rsplit('$').next().unwrap_or_default().to_string();
        assert_ne!(output(&a), output(&b));
        assert_ne!(output(&a), output(&plain));
    }

    #[test]
    fn wrong_or_missing_pepper_is_mismatch() {
        let phc = peppered(7).hash(&s("pw")).unwrap();
        assert_eq!(peppered(8).verify(&s("pw"), &phc), PasswordCheck::Mismatch);
        let plain = PasswordHasher::with_params(8, 1, 1).unwrap();
        assert_eq!(plain.verify(&s("pw"), &phc), PasswordCheck::Mismatch);
        // A hash carrying this hasher's key id but made without the pepper.
        let unpeppered_output = plain.hash_with_salt(&s("pw"), b"0123456789abcdef").unwrap();
        let key_id = phc.split(',').nth(3).unwrap().split('$').next().unwrap();
        let forged = unpeppered_output.replacen("p=1$", &format!("p=1,{key_id}$"), 1);
        assert_eq!(
            peppered(7).verify(&s("pw"), &forged),
            PasswordCheck::Mismatch
        );
    }

    #[test]
    fn legacy_hash_verifies_and_needs_rehash() {
        let legacy = PasswordHasher::with_params(8, 1, 1)
            .unwrap()
            .hash(&s("correct horse"))
            .unwrap();
        assert!(!legacy.contains("keyid"), "{legacy}");
        let h = peppered(7);
        assert_eq!(
            h.verify(&s("correct horse"), &legacy),
            PasswordCheck::Match { needs_rehash: true }
        );
        assert_eq!(
            h.verify(&s("Correct horse"), &legacy),
            PasswordCheck::Mismatch
        );
        // The rehash is peppered and needs nothing more.
        let rehashed = h.hash(&s("correct horse")).unwrap();
        assert_eq!(
            h.verify(&s("correct horse"), &rehashed),
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn peppered_with_other_params_needs_rehash() {
        let old = PasswordHasher::with_params(16, 1, 1)
            .unwrap()
            .with_pepper(pepper(7))
            .unwrap();
        let phc = old.hash(&s("pw")).unwrap();
        assert_eq!(
            peppered(7).verify(&s("pw"), &phc),
            PasswordCheck::Match { needs_rehash: true }
        );
    }

    #[test]
    fn nfkc_equivalent_inputs_match() {
        let h = peppered(7);
        for (typed_then, typed_now) in [
            ("ﬁle-cabinet-stairs", "file-cabinet-stairs"),
            ("file-cabinet-stairs", "ﬁle-cabinet-stairs"),
            ("pin １２３４ ａｂｃ", "pin 1234 abc"),
            ("cafe\u{301} au lait", "café au lait"),
            (
                "\u{2126}-ohm-\u{212B}-angstrom",
                "\u{3A9}-ohm-\u{C5}-angstrom",
            ),
        ] {
            let phc = h.hash(&s(typed_then)).unwrap();
            assert_eq!(
                h.verify(&s(typed_now), &phc),
                PasswordCheck::Match {
                    needs_rehash: false
                },
                "{typed_then} / {typed_now}"
            );
        }
        let phc = h.hash(&s("ﬁle")).unwrap();
        assert_eq!(h.verify(&s("FILE"), &phc), PasswordCheck::Mismatch);
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
    fn dummy_costs_a_peppered_verification() {
        let h = peppered(7);
        assert!(h.dummy.contains(",keyid="), "{}", h.dummy);
        assert_eq!(
            h.verify(&s(DUMMY_PASSWORD), &h.dummy),
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
        h.verify_dummy(&s("pw"));
        let plain = PasswordHasher::with_params(8, 1, 1).unwrap();
        assert!(!plain.dummy.contains("keyid"), "{}", plain.dummy);
    }

    #[test]
    fn debug_never_shows_the_pepper() {
        let bytes = [0xab; crate::PEPPER_LEN];
        let p = Pepper::from_bytes(&bytes).unwrap();
        let h = PasswordHasher::with_params(8, 1, 1)
            .unwrap()
            .with_pepper(p.clone())
            .unwrap();
        for shown in [format!("{h:?}"), format!("{h:#?}"), format!("{p:?}")] {
            assert!(shown.contains("[redacted]"), "{shown}");
            assert!(!shown.contains("abab"), "{shown}");
            assert!(!shown.contains("171"), "{shown}");
        }
        assert!(format!("{h:?}").contains(&p.key_id()));
    }

    #[test]
    fn owasp_parameters() {
        let h = PasswordHasher::owasp();
        let phc = h.hash(&s("pw")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!format!("{h:?}").contains('$'));
    }
}
