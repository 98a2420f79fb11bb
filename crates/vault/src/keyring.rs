//! The master key ring and its file format.
//!
//! `secure-config` writes `vault_master.key` as 32 random bytes: that is
//! master key version 1. After `cryptobot vault rotate-master` the file is
//! a small text file listing every version still in use, newest first:
//!
//! ```text
//! # cryptobot vault master keys: keep secret (mode 0600), back up with the database
//! cryptobot-vault-keyring 1
//! 2 <32 bytes, base64>
//! 1 <32 bytes, base64>
//! ```
//!
//! The highest version seals new secrets; older versions only open what
//! still refers to them, and leave the file once nothing does.

use std::collections::BTreeMap;

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::VaultError;

/// Length of one master key.
pub const MASTER_KEY_LEN: usize = 32;

const HEADER: &str = "cryptobot-vault-keyring 1";
const COMMENT: &str =
    "# cryptobot vault master keys: keep secret (mode 0600), back up with the database";

/// One master key and its expanded AEAD key (built once, not per use).
#[derive(Clone)]
struct Entry {
    raw: Zeroizing<[u8; MASTER_KEY_LEN]>,
    aead: Arc<LessSafeKey>,
}

impl Entry {
    fn new(raw: Zeroizing<[u8; MASTER_KEY_LEN]>) -> Entry {
        let aead = UnboundKey::new(&AES_256_GCM, raw.as_ref())
            .map(LessSafeKey::new)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM takes 32-byte keys"));
        Entry {
            raw,
            aead: Arc::new(aead),
        }
    }
}

/// The master key versions an installation holds. `Debug` shows versions
/// only.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, Entry>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

fn bad(why: impl Into<String>) -> VaultError {
    VaultError::KeyFile(why.into())
}

impl Keyring {
    /// A ring holding one key as version 1.
    pub fn single(key: [u8; MASTER_KEY_LEN]) -> Keyring {
        let mut keys = BTreeMap::new();
        keys.insert(1, Entry::new(Zeroizing::new(key)));
        Keyring { keys }
    }

    /// A ring with one fresh random key as version 1.
    pub fn generate() -> Result<Keyring, VaultError> {
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|_| VaultError::Random)?;
        Ok(Keyring::single(*key))
    }

    /// Parses the file's bytes: either exactly 32 raw bytes (version 1, as
    /// `secure-config` writes it) or the text format above.
    pub fn parse(bytes: &[u8]) -> Result<Keyring, VaultError> {
        // A text ring is always longer than 32 bytes (its header alone is
        // 25 and one key line 46), so exactly 32 bytes are a raw key,
        // whatever they start with.
        let text_start = bytes.starts_with(b"#") || bytes.starts_with(HEADER.as_bytes());
        if bytes.len() == MASTER_KEY_LEN {
            let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
            key.copy_from_slice(bytes);
            return Ok(Keyring::single(*key));
        }
        if !text_start {
            return Err(bad(format!(
                "it is {} bytes; expected 32 raw bytes or a `{HEADER}` key ring",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("the key ring is not UTF-8"))?;
        let mut lines = text
            .lines()
            .map(str::trim)
            .enumerate()
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some((_, l)) if l == HEADER => {}
            _ => return Err(bad(format!("the first line must be `{HEADER}`"))),
        }
        let mut keys = BTreeMap::new();
        for (no, line) in lines {
            let line_no = no + 1;
            let (version, b64) = line
                .split_once(' ')
                .ok_or_else(|| bad(format!("line {line_no} is not `<version> <key>`")))?;
            let version: u32 = version.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                bad(format!(
                    "line {line_no}: the version must be a positive number"
                ))
            })?;
            let raw = Zeroizing::new(
                STANDARD
                    .decode(b64.trim())
                    .map_err(|_| bad(format!("line {line_no}: the key is not base64")))?,
            );
            if raw.len() != MASTER_KEY_LEN {
                return Err(bad(format!("line {line_no}: the key is not 32 bytes")));
            }
            let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
            key.copy_from_slice(&raw);
            if keys.insert(version, Entry::new(key)).is_some() {
                return Err(bad(format!(
                    "line {line_no}: version {version} appears twice"
                )));
            }
        }
        if keys.is_empty() {
            return Err(bad("the key ring holds no key"));
        }
        Ok(Keyring { keys })
    }

    /// The file's bytes. A ring holding only version 1 is written as the
    /// 32 raw bytes, as `secure-config` made it.
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        if let (1, Some(key)) = (self.keys.len(), self.keys.get(&1)) {
            return Zeroizing::new(key.raw.to_vec());
        }
        let mut out = Zeroizing::new(format!("{COMMENT}\n{HEADER}\n").into_bytes());
        for (version, key) in self.keys.iter().rev() {
            let line = Zeroizing::new(format!("{version} {}\n", STANDARD.encode(key.raw.as_ref())));
            out.extend_from_slice(line.as_bytes());
        }
        out
    }

    /// The version new secrets are sealed with: the highest.
    pub fn current(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(1)
    }

    /// Every version held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The AEAD key of a version.
    pub(crate) fn aead(&self, version: u32) -> Result<&LessSafeKey, VaultError> {
        self.keys
            .get(&version)
            .map(|k| &*k.aead)
            .ok_or(VaultError::UnknownMasterVersion(version))
    }

    #[cfg(test)]
    fn raw(&self, version: u32) -> Option<&[u8; MASTER_KEY_LEN]> {
        self.keys.get(&version).map(|k| &*k.raw)
    }

    /// Adds a fresh random key as the next version, which becomes current.
    pub fn add_next(&mut self) -> Result<u32, VaultError> {
        let next = self
            .current()
            .checked_add(1)
            .ok_or(bad("too many versions"))?;
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|_| VaultError::Random)?;
        self.keys.insert(next, Entry::new(key));
        Ok(next)
    }

    /// Removes a version that is not current; returns whether it was held.
    pub fn retire(&mut self, version: u32) -> bool {
        version != self.current() && self.keys.remove(&version).is_some()
    }

    /// Whether any key is one byte repeated (a placeholder, not a key).
    pub fn has_constant_key(&self) -> bool {
        self.keys
            .values()
            .any(|k| k.raw.iter().all(|b| *b == k.raw[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_32_bytes_are_version_1_and_stay_raw() {
        let ring = Keyring::parse(&[7u8; 32]).expect("parse");
        assert_eq!(ring.versions(), vec![1]);
        assert_eq!(ring.to_file_bytes().as_slice(), &[7u8; 32]);
        assert!(ring.has_constant_key());
    }

    #[test]
    fn any_32_raw_bytes_are_a_key_even_if_they_look_like_text() {
        // One random key in 256 starts with `#`.
        let mut key = [0x41u8; 32];
        key[0] = b'#';
        key[1] = 0xff;
        assert_eq!(Keyring::parse(&key).expect("parse").versions(), vec![1]);
        let mut text = *b"cryptobot-vault-keyring 1\n1 AAAA";
        text[31] = b'A';
        assert_eq!(Keyring::parse(&text).expect("parse").versions(), vec![1]);
    }

    #[test]
    fn text_ring_round_trips_newest_first() {
        let mut ring = Keyring::generate().expect("gen");
        assert_eq!(ring.add_next().expect("next"), 2);
        let bytes = ring.to_file_bytes();
        let text = std::str::from_utf8(&bytes).expect("utf8");
        assert!(text.contains("\n2 ") && text.find("\n2 ") < text.find("\n1 "));
        let back = Keyring::parse(&bytes).expect("parse");
        assert_eq!(back.versions(), vec![1, 2]);
        assert_eq!(back.current(), 2);
        assert_eq!(back.raw(1).expect("k1"), ring.raw(1).expect("k1"));
    }

    #[test]
    fn retire_keeps_the_current_version() {
        let mut ring = Keyring::generate().expect("gen");
        ring.add_next().expect("next");
        assert!(!ring.retire(2));
        assert!(ring.retire(1));
        assert_eq!(ring.versions(), vec![2]);
        // A ring whose only key is version 2 is written as text, so the
        // version survives.
        let back = Keyring::parse(&ring.to_file_bytes()).expect("parse");
        assert_eq!(back.versions(), vec![2]);
    }

    #[test]
    fn damaged_files_are_refused_without_echoing_content() {
        for bad_file in [
            &b"short"[..],
            b"cryptobot-vault-keyring 1\n",
            b"cryptobot-vault-keyring 1\n1 notbase64!!\n",
            b"cryptobot-vault-keyring 1\n0 AAAA\n",
            b"# c\ncryptobot-vault-keyring 2\n",
        ] {
            let err = Keyring::parse(bad_file).expect_err("must fail").to_string();
            assert!(!err.contains("notbase64"), "{err}");
        }
        let dup = format!("{HEADER}\n1 {k}\n1 {k}\n", k = STANDARD.encode([1u8; 32]));
        assert!(Keyring::parse(dup.as_bytes()).is_err());
    }

    #[test]
    fn debug_shows_versions_only() {
        let ring = Keyring::single([9u8; 32]);
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("versions") && !dbg.contains('9'));
    }
}
