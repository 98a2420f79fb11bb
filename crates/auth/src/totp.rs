//! One-time passwords: HOTP (RFC 4226), TOTP (RFC 6238), `otpauth://` URIs,
//! backup codes, and the encryption of TOTP secrets at rest.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

use crate::AuthError;

/// The HMAC behind an OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpAlgorithm {
    /// What authenticator apps use.
    Sha1,
    /// RFC 6238 variant.
    Sha256,
    /// RFC 6238 variant.
    Sha512,
}

/// Seconds per TOTP step.
pub const TOTP_STEP: i64 = 30;
/// Digits of our TOTP codes.
pub const TOTP_DIGITS: u32 = 6;
/// Bytes of a new TOTP secret (160 bits, RFC 4226's recommendation).
pub const TOTP_SECRET_BYTES: usize = 20;

/// HOTP value (RFC 4226 §5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32, alg: OtpAlgorithm) -> u32 {
    let algorithm = match alg {
        OtpAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        OtpAlgorithm::Sha256 => hmac::HMAC_SHA256,
        OtpAlgorithm::Sha512 => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    binary % 10u32.pow(digits.min(9))
}

/// The TOTP step of a unix time.
pub fn totp_step(unix: i64) -> i64 {
    unix.div_euclid(TOTP_STEP)
}

/// TOTP value (RFC 6238) at `unix` time.
pub fn totp(secret: &[u8], unix: i64, digits: u32, alg: OtpAlgorithm) -> u32 {
    hotp(secret, totp_step(unix).max(0) as u64, digits, alg)
}

/// Our TOTP code (SHA-1, 6 digits, 30 s) as the app shows it.
pub fn totp_code(secret: &[u8], unix: i64) -> String {
    format!("{:06}", totp(secret, unix, TOTP_DIGITS, OtpAlgorithm::Sha1))
}

/// Checks a 6-digit code for steps now-1..=now+1 that are newer than
/// `last_used_step`. Returns the matching step; `None` if no step matches
/// or the match was already used (replay).
pub fn totp_match(secret: &[u8], code: &str, now: i64, last_used_step: Option<i64>) -> Option<i64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = totp_step(now);
    let mut found = None;
    // Check every candidate so the time does not depend on which matched.
    for step in current - 1..=current + 1 {
        let candidate = format!(
            "{:06}",
            hotp(secret, step.max(0) as u64, TOTP_DIGITS, OtpAlgorithm::Sha1)
        );
        let equal = candidate
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if equal && found.is_none() {
            found = Some(step);
        }
    }
    found.filter(|s| last_used_step.is_none_or(|last| *s > last))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(BASE32[((n >> (35 - i * 5)) & 31) as usize] as char);
        }
    }
    out
}

/// Decodes [`base32`] text (case-insensitive, padding and spaces ignored).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u64;
        bits = bits << 5 | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

fn uri_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `otpauth://totp/…` URI authenticator apps read (Google's Key URI
/// format): SHA1, 6 digits, 30 s.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        uri_escape(issuer),
        uri_escape(account),
        base32(secret),
        uri_escape(issuer)
    )
}

/// A new random TOTP secret.
pub fn new_totp_secret() -> Result<Zeroizing<Vec<u8>>, AuthError> {
    let mut s = Zeroizing::new(vec![0u8; TOTP_SECRET_BYTES]);
    getrandom::fill(s.as_mut_slice()).map_err(|_| AuthError::Random)?;
    Ok(s)
}

/// Backup codes use Crockford's base32 alphabet (no i, l, o, u).
const CODE_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `count` new backup codes like `k3f9-2mxa` (40 random bits each).
pub fn new_backup_codes(count: usize) -> Result<Vec<Zeroizing<String>>, AuthError> {
    (0..count)
        .map(|_| {
            let mut raw = Zeroizing::new([0u8; 8]);
            getrandom::fill(raw.as_mut()).map_err(|_| AuthError::Random)?;
            let mut s = Zeroizing::new(String::with_capacity(9));
            for (i, b) in raw.iter().enumerate() {
                if i == 4 {
                    s.push('-');
                }
                s.push(CODE_ALPHABET[usize::from(b & 31)] as char);
            }
            Ok(s)
        })
        .collect()
}

/// A backup code as typed, normalized: lower case, no separators, with
/// the look-alikes o→0 and i/l→1. `None` if it cannot be a backup code.
pub fn normalize_backup_code(code: &str) -> Option<String> {
    let s: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (s.len() == 8 && s.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(s)
}

/// Keys derived from the vault's root key for MFA data at rest, and the
/// key of the pseudonyms that name shared limiter state (Redis keys), so
/// that every instance of one installation derives the same names and none
/// reveals a session id or address.
pub struct MfaKeys {
    seal: LessSafeKey,
    code_mac: hmac::Key,
    pseudonym: hmac::Key,
}

/// Stable, non-reversible names (HMAC-SHA256, 128 bits, hex) for ids such
/// as session ids and client addresses, the same on every instance that
/// shares the vault.
#[derive(Clone)]
pub struct Pseudonyms(hmac::Key);

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms([redacted])")
    }
}

impl Pseudonyms {
    /// From any key material of at least 32 bytes (benchmarks and tests).
    pub fn from_key(key: &[u8]) -> Pseudonyms {
        Pseudonyms(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The name of `id` within `domain`.
    pub fn name(&self, domain: &str, id: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(domain.as_bytes());
        ctx.update(b"\0");
        ctx.update(id);
        ctx.sign().as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for MfaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKeys([redacted])")
    }
}

impl MfaKeys {
    /// Derives the keys (HMAC-SHA256 of the master key over fixed labels).
    pub fn derive(master: &[u8]) -> Result<Self, AuthError> {
        if master.len() < 32 {
            return Err(AuthError::Key(
                "the vault master key must be at least 32 bytes",
            ));
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, master);
        let sub = |label: &[u8]| Zeroizing::new(hmac::sign(&root, label).as_ref().to_vec());
        let seal_key = sub(b"cryptobot/mfa/totp-secret/v1");
        let mac_key = sub(b"cryptobot/mfa/backup-code/v1");
        let pseudonym_key = sub(b"cryptobot/shared-state/pseudonym/v1");
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &seal_key)
            .map_err(|_| AuthError::Key("cannot derive the sealing key"))?;
        Ok(MfaKeys {
            seal: LessSafeKey::new(unbound),
            code_mac: hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
            pseudonym: hmac::Key::new(hmac::HMAC_SHA256, &pseudonym_key),
        })
    }

    /// The key that names shared limiter state.
    pub fn pseudonyms(&self) -> Pseudonyms {
        Pseudonyms(self.pseudonym.clone())
    }

    /// Encrypts a TOTP secret, bound to `user_id`; base64 of nonce‖ciphertext.
    pub fn seal_secret(&self, secret: &[u8], user_id: &str) -> Result<String, AuthError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| AuthError::Random)?;
        let mut buf = secret.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| AuthError::Sign)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD_NO_PAD.encode(out))
    }

    /// Decrypts what [`seal_secret`](Self::seal_secret) made for `user_id`.
    pub fn open_secret(
        &self,
        sealed: &str,
        user_id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        let raw = STANDARD_NO_PAD
            .decode(sealed)
            .map_err(|_| AuthError::Key("sealed secret is not base64"))?;
        if raw.len() < 12 + 16 {
            return Err(AuthError::Key("sealed secret too short"));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| AuthError::Key("bad nonce"))?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = self
            .seal
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| AuthError::Key("sealed secret does not open (wrong key or user)"))?;
        Ok(Zeroizing::new(plain.to_vec()))
    }

    /// The stored form of a (normalized) backup code.
    pub fn backup_code_hash(&self, normalized: &str, user_id: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.code_mac);
        ctx.update(user_id.as_bytes());
        ctx.update(b"\0");
        ctx.update(normalized.as_bytes());
        ctx.sign()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_domain() {
        let a = MfaKeys::derive(&[7u8; 32]).unwrap().pseudonyms();
        let b = MfaKeys::derive(&[7u8; 32]).unwrap().pseudonyms();
        let other = MfaKeys::derive(&[8u8; 32]).unwrap().pseudonyms();
        let n = a.name("addr", b"192.0.2.1");
        assert_eq!(n, b.name("addr", b"192.0.2.1"));
        assert_eq!(n.len(), 32);
        assert!(!n.contains("192"));
        assert_ne!(n, a.name("session", b"192.0.2.1"));
        assert_ne!(n, other.name("addr", b"192.0.2.1"));
    }

    #[test]
    fn rfc4226_appendix_d() {
        let secret = b"12345678901234567890";
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(
                hotp(secret, i as u64, 6, OtpAlgorithm::Sha1),
                *w,
                "counter {i}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let s1 = b"12345678901234567890".as_slice();
        let s256 = b"12345678901234567890123456789012".as_slice();
        let s512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let rows: [(i64, u32, u32, u32); 6] = [
            (59, 94287082, 46119246, 90693936),
            (1111111109, 7081804, 68084774, 25091201),
            (1111111111, 14050471, 67062674, 99943326),
            (1234567890, 89005924, 91819424, 93441116),
            (2000000000, 69279037, 90698825, 38618901),
            (20000000000, 65353130, 77737706, 47863826),
        ];
        for (t, sha1, sha256, sha512) in rows {
            assert_eq!(totp(s1, t, 8, OtpAlgorithm::Sha1), sha1, "SHA1 at {t}");
            assert_eq!(
                totp(s256, t, 8, OtpAlgorithm::Sha256),
                sha256,
                "SHA256 at {t}"
            );
            assert_eq!(
                totp(s512, t, 8, OtpAlgorithm::Sha512),
                sha512,
                "SHA512 at {t}"
            );
        }
    }

    #[test]
    fn window_and_replay() {
        let secret = b"12345678901234567890";
        let now = 1_800_000_015;
        let step = totp_step(now);
        let code = totp_code(secret, now);
        assert_eq!(totp_match(secret, &code, now, None), Some(step));
        assert_eq!(
            totp_match(secret, &code, now + 30, None),
            Some(step),
            "previous step accepted"
        );
        assert_eq!(
            totp_match(secret, &code, now - 30, None),
            Some(step),
            "next step accepted"
        );
        assert_eq!(
            totp_match(secret, &code, now + 60, None),
            None,
            "two steps late"
        );
        assert_eq!(totp_match(secret, &code, now, Some(step)), None, "replay");
        assert_eq!(totp_match(secret, "12345", now, None), None);
        assert_eq!(totp_match(secret, "abcdef", now, None), None);
    }

    #[test]
    fn base32_round_trip() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        let s = new_totp_secret().unwrap();
        assert_eq!(base32_decode(&base32(&s)).unwrap(), s.to_vec());
        assert!(base32_decode("1!").is_none());
    }

    #[test]
    fn uri() {
        let u = otpauth_uri("Cryptobot Prod", "alice", b"12345678901234567890");
        assert_eq!(
            u,
            "otpauth://totp/Cryptobot%20Prod:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Cryptobot%20Prod&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn backup_codes() {
        let codes = new_backup_codes(10).unwrap();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 9);
            assert!(normalize_backup_code(c).is_some(), "{}", c.as_str());
        }
        assert_eq!(
            normalize_backup_code("K3F9-2MXO").as_deref(),
            Some("k3f92mx0")
        );
        assert!(normalize_backup_code("123456").is_none());
        assert!(normalize_backup_code("uuuu-uuuu").is_none());
    }

    #[test]
    fn sealing() {
        let keys = MfaKeys::derive(&[7u8; 32]).unwrap();
        let sealed = keys.seal_secret(b"top secret", "user-1").unwrap();
        assert_eq!(
            keys.open_secret(&sealed, "user-1").unwrap().as_slice(),
            b"top secret"
        );
        assert!(
            keys.open_secret(&sealed, "user-2").is_err(),
            "bound to the user"
        );
        assert!(
            MfaKeys::derive(&[8u8; 32])
                .unwrap()
                .open_secret(&sealed, "user-1")
                .is_err()
        );
        assert_ne!(
            sealed,
            keys.seal_secret(b"top secret", "user-1").unwrap(),
            "fresh nonce"
        );
        let h = keys.backup_code_hash("k3f92mx0", "u");
        assert_eq!(h.len(), 64);
        assert_ne!(h, keys.backup_code_hash("k3f92mx0", "v"));
        assert!(MfaKeys::derive(&[1u8; 8]).is_err());
        assert!(!format!("{keys:?}").contains('7'));
    }
}
