//! Envelope encryption with AES-256-GCM.
//!
//! `seal` draws a fresh 256-bit data key and two 96-bit nonces from the
//! OS, seals the secret under the data key and wraps the data key under
//! the current master key. Each data key seals exactly one plaintext, so
//! its nonce can never repeat; master-key wraps use random nonces (far
//! below the 2^32 messages per key that random GCM nonces allow).
//!
//! Associated data is the record binding (purpose, id, version), each
//! field length-prefixed so no two bindings encode alike, plus a label and,
//! for the wrap, the master version.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

use crate::{Keyring, VaultError};

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// What a sealed record is bound to: moving its fields to a record with
/// another id, version or purpose makes it fail to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The record's id.
    pub id: &'a str,
    /// The record's version.
    pub version: i64,
    /// What the secret is for (e.g. `exchange-credentials`).
    pub purpose: &'a str,
}

impl Binding<'_> {
    fn aad(&self, label: &str, master_version: Option<u32>) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.id.len() + self.purpose.len());
        out.extend_from_slice(b"cryptobot-vault/v1");
        for field in [
            label.as_bytes(),
            self.purpose.as_bytes(),
            self.id.as_bytes(),
        ] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        if let Some(v) = master_version {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }
}

/// A sealed secret as stored: which master version wraps its data key,
/// the wrapped data key and the ciphertext (both base64 of
/// nonce ‖ ciphertext ‖ tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Master key version that wraps the data key.
    pub master_version: u32,
    /// The wrapped data key.
    pub wrapped_key: String,
    /// The sealed secret.
    pub ciphertext: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("master_version", &self.master_version)
            .finish_non_exhaustive()
    }
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, VaultError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| VaultError::Damaged("key length"))
}

fn seal_with(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plain: &[u8],
) -> Result<String, VaultError> {
    let mut buf = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(plain);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf[NONCE_LEN..],
        )
        .map_err(|_| VaultError::Damaged("seal"))?;
    buf.extend_from_slice(tag.as_ref());
    let out = STANDARD_NO_PAD.encode(&buf);
    // The buffer held plaintext until sealing finished in place.
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(out)
}

fn open_with(
    key: &LessSafeKey,
    aad: &[u8],
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut raw = Zeroizing::new(
        STANDARD_NO_PAD
            .decode(sealed)
            .map_err(|_| VaultError::Damaged("not base64"))?,
    );
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Damaged("too short"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&raw[..NONCE_LEN]);
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut raw[NONCE_LEN..],
        )
        .map_err(|_| VaultError::Open)?
        .len();
    Ok(Zeroizing::new(
        raw[NONCE_LEN..NONCE_LEN + plain_len].to_vec(),
    ))
}

fn unwrap_data_key(
    ring: &Keyring,
    binding: &Binding<'_>,
    sealed: &Sealed,
) -> Result<LessSafeKey, VaultError> {
    let dek = open_with(
        ring.aead(sealed.master_version)?,
        &binding.aad("wrap", Some(sealed.master_version)),
        &sealed.wrapped_key,
    )?;
    if dek.len() != KEY_LEN {
        return Err(VaultError::Damaged("data key length"));
    }
    aead_key(&dek)
}

/// Seals `plain` for the record `binding` under the ring's current master
/// key.
pub fn seal(ring: &Keyring, binding: &Binding<'_>, plain: &[u8]) -> Result<Sealed, VaultError> {
    // One draw for the data key and both nonces.
    let mut random = Zeroizing::new([0u8; KEY_LEN + 2 * NONCE_LEN]);
    getrandom::fill(random.as_mut()).map_err(|_| VaultError::Random)?;
    let (dek, nonces) = random.split_at(KEY_LEN);
    let mut data_nonce = [0u8; NONCE_LEN];
    data_nonce.copy_from_slice(&nonces[..NONCE_LEN]);
    let mut wrap_nonce = [0u8; NONCE_LEN];
    wrap_nonce.copy_from_slice(&nonces[NONCE_LEN..]);

    let master_version = ring.current();
    let ciphertext = seal_with(
        &aead_key(dek)?,
        data_nonce,
        &binding.aad("data", None),
        plain,
    )?;
    let wrapped_key = seal_with(
        ring.aead(master_version)?,
        wrap_nonce,
        &binding.aad("wrap", Some(master_version)),
        dek,
    )?;
    Ok(Sealed {
        master_version,
        wrapped_key,
        ciphertext,
    })
}

/// Opens a record sealed by [`seal`] for the same binding.
pub fn open(
    ring: &Keyring,
    binding: &Binding<'_>,
    sealed: &Sealed,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let dek = unwrap_data_key(ring, binding, sealed)?;
    open_with(&dek, &binding.aad("data", None), &sealed.ciphertext)
}

/// Re-wraps a record's data key under master version `to`; the ciphertext
/// is untouched. The data key is checked against the ciphertext first, so
/// a damaged record is reported instead of being rewritten.
pub fn rewrap(
    ring: &Keyring,
    binding: &Binding<'_>,
    sealed: &Sealed,
    to: u32,
) -> Result<Sealed, VaultError> {
    let dek = open_with(
        ring.aead(sealed.master_version)?,
        &binding.aad("wrap", Some(sealed.master_version)),
        &sealed.wrapped_key,
    )?;
    // Proves the pair is intact before the old wrap is replaced.
    open_with(
        &aead_key(&dek)?,
        &binding.aad("data", None),
        &sealed.ciphertext,
    )?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let wrapped_key = seal_with(ring.aead(to)?, nonce, &binding.aad("wrap", Some(to)), &dek)?;
    Ok(Sealed {
        master_version: to,
        wrapped_key,
        ciphertext: sealed.ciphertext.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Binding<'static> = Binding {
        id: "xk_1/v1",
        version: 1,
        purpose: "exchange-credentials",
    };

    #[test]
    fn round_trip() {
        let ring = Keyring::generate().expect("ring");
        let s = seal(&ring, &B, b"top secret").expect("seal");
        assert_eq!(open(&ring, &B, &s).expect("open").as_slice(), b"top secret");
        assert!(!s.ciphertext.contains("top"));
        let empty = seal(&ring, &B, b"").expect("seal");
        assert!(open(&ring, &B, &empty).expect("open").is_empty());
    }

    #[test]
    fn moved_to_another_record_does_not_open() {
        let ring = Keyring::generate().expect("ring");
        let s = seal(&ring, &B, b"secret").expect("seal");
        for other in [
            Binding { id: "xk_2/v1", ..B },
            Binding { version: 2, ..B },
            Binding {
                purpose: "mfa-root",
                ..B
            },
        ] {
            assert_eq!(open(&ring, &other, &s), Err(VaultError::Open));
        }
        // Swapping the wrapped key of one record into another fails too.
        let t = seal(&ring, &B, b"other").expect("seal");
        let mixed = Sealed {
            wrapped_key: t.wrapped_key.clone(),
            ..s.clone()
        };
        assert_eq!(open(&ring, &B, &mixed), Err(VaultError::Open));
    }

    #[test]
    fn wrong_master_key_fails_closed() {
        let ring = Keyring::generate().expect("ring");
        let s = seal(&ring, &B, b"secret").expect("seal");
        let other = Keyring::generate().expect("ring");
        assert_eq!(open(&other, &B, &s), Err(VaultError::Open));
        let relabeled = Sealed {
            master_version: 7,
            ..s
        };
        assert_eq!(
            open(&ring, &B, &relabeled),
            Err(VaultError::UnknownMasterVersion(7))
        );
    }

    #[test]
    fn rewrap_moves_to_the_new_version_and_keeps_the_secret() {
        let mut ring = Keyring::generate().expect("ring");
        let s = seal(&ring, &B, b"secret").expect("seal");
        let v2 = ring.add_next().expect("next");
        let r = rewrap(&ring, &B, &s, v2).expect("rewrap");
        assert_eq!(r.master_version, 2);
        assert_eq!(r.ciphertext, s.ciphertext);
        ring.retire(1);
        assert_eq!(open(&ring, &B, &r).expect("open").as_slice(), b"secret");
        assert!(open(&ring, &B, &s).is_err());
        // A wrapped key relabeled with another master version fails.
        let lie = Sealed {
            master_version: 2,
            ..s
        };
        assert_eq!(open(&ring, &B, &lie), Err(VaultError::Open));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let ring = Keyring::generate().expect("ring");
        let s = seal(&ring, &B, b"secret").expect("seal");
        for (w, c) in [
            ("!!", s.ciphertext.as_str()),
            ("", s.ciphertext.as_str()),
            (s.wrapped_key.as_str(), "AAAA"),
        ] {
            let d = Sealed {
                master_version: 1,
                wrapped_key: w.into(),
                ciphertext: c.into(),
            };
            assert!(open(&ring, &B, &d).is_err());
        }
    }
}
