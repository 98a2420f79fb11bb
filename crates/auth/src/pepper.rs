//! The password pepper: a server-wide secret mixed into every new password
//! hash as argon2's secret input, kept outside the database so a stolen
//! table of hashes cannot be attacked offline without it.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a pepper in bytes.
pub const PEPPER_LEN: usize = 32;

/// Length of a pepper's key id in bytes (8 characters in a PHC string).
const KEY_ID_LEN: usize = 6;

/// Why a pepper was refused. Never carries the pepper or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PepperError {
    /// Neither 32 raw bytes nor 64 hexadecimal digits.
    #[error(
        "a pepper is 32 raw bytes or 64 hexadecimal digits; found {found} bytes \
         (create one with `openssl rand -hex 32`)"
    )]
    Length {
        /// Bytes found (after trimming white space, for the hex form).
        found: usize,
    },
    /// 64 characters, but not all of them hexadecimal digits.
    #[error("the pepper has a character that is not a hexadecimal digit")]
    NotHex,
    /// Every byte is zero: a placeholder, not a secret.
    #[error("the pepper is all zero bytes; generate a random one")]
    AllZero,
}

/// A 32-byte secret for argon2id, wiped from memory when dropped; its
/// `Debug` shows only the key id.
///
/// Its key id (6 bytes of a SHA-256 of the pepper) is written into each hash
/// made with it as the PHC `keyid` parameter, so a hash made with another
/// pepper, or none, is told apart without trying the password.
#[derive(Clone)]
pub struct Pepper {
    key: Zeroizing<[u8; PEPPER_LEN]>,
    id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pepper(key_id={}, [redacted])", hex(&self.id))
    }
}

impl Pepper {
    /// A pepper from exactly 32 bytes, which must not all be zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PepperError> {
        let mut key = Zeroizing::new([0u8; PEPPER_LEN]);
        if bytes.len() != PEPPER_LEN {
            return Err(PepperError::Length { found: bytes.len() });
        }
        key.copy_from_slice(bytes);
        Self::new(key)
    }

    /// A pepper from the content of its file: either exactly 32 raw bytes,
    /// or 64 hexadecimal digits (either case) with optional white space
    /// around them, such as the newline of `openssl rand -hex 32 > pepper`.
    pub fn parse(content: &[u8]) -> Result<Self, PepperError> {
        if content.len() == PEPPER_LEN {
            return Self::from_bytes(content);
        }
        let digits = content.trim_ascii();
        if digits.len() != 2 * PEPPER_LEN {
            return Err(PepperError::Length {
                found: digits.len(),
            });
        }
        let mut key = Zeroizing::new([0u8; PEPPER_LEN]);
        for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(PepperError::NotHex);
            };
            *byte = (hi << 4) | lo;
        }
        Self::new(key)
    }

    fn new(key: Zeroizing<[u8; PEPPER_LEN]>) -> Result<Self, PepperError> {
        if key.iter().all(|&b| b == 0) {
            return Err(PepperError::AllZero);
        }
        let digest = Sha256::new()
            .chain_update(b"cryptobot password pepper key id v1\0")
            .chain_update(key.as_slice())
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Ok(Pepper { key, id })
    }

    /// The secret bytes, for argon2.
    pub(crate) fn secret(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// The key id bytes, as stored in a hash's `keyid` parameter.
    pub(crate) fn id(&self) -> &[u8] {
        &self.id
    }

    /// The key id in hexadecimal (12 digits): which pepper is loaded, for
    /// logs and status output. Not secret: every hash made with this pepper
    /// carries it.
    pub fn key_id(&self) -> String {
        hex(&self.id)
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    #[test]
    fn hex_and_raw_forms_agree() {
        let from_hex = Pepper::parse(format!("  {HEX}\n").as_bytes()).unwrap();
        let raw: Vec<u8> = (0..2).flat_map(|_| (0u8..16).map(|i| i * 0x11)).collect();
        let from_raw = Pepper::parse(&raw).unwrap();
        assert_eq!(from_hex.secret(), from_raw.secret());
        assert_eq!(from_hex.key_id(), from_raw.key_id());
        assert_eq!(
            Pepper::from_bytes(&raw).unwrap().secret(),
            from_raw.secret()
        );
        assert_eq!(from_hex.key_id().len(), 12);
    }

    #[test]
    fn bad_content_is_refused_without_echoing_it() {
        assert_eq!(
            Pepper::parse(b"abcd").unwrap_err(),
            PepperError::Length { found: 4 }
        );
        assert_eq!(
            Pepper::parse(format!("{HEX}00").as_bytes()).unwrap_err(),
            PepperError::Length { found: 66 }
        );
        let not_hex = format!("{}zz", &HEX[..62]);
        let err = Pepper::parse(not_hex.as_bytes()).unwrap_err();
        assert_eq!(err, PepperError::NotHex);
        assert!(!err.to_string().contains("zz"));
        assert_eq!(
            Pepper::parse(&[0u8; PEPPER_LEN]).unwrap_err(),
            PepperError::AllZero
        );
        assert_eq!(
            Pepper::parse("0".repeat(64).as_bytes()).unwrap_err(),
            PepperError::AllZero
        );
        assert_eq!(
            Pepper::from_bytes(&[1u8; 31]).unwrap_err(),
            PepperError::Length { found: 31 }
        );
    }

    #[test]
    fn different_peppers_have_different_ids() {
        let a = Pepper::from_bytes(&[1u8; PEPPER_LEN]).unwrap();
        let b = Pepper::from_bytes(&[2u8; PEPPER_LEN]).unwrap();
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let p = Pepper::parse(HEX.as_bytes()).unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(shown.contains(&p.key_id()), "{shown}");
        for secret_part in ["00112233", "aabbcc", "AABBCC", "[0, 17"] {
            assert!(!shown.contains(secret_part), "{shown}");
        }
    }
}
