//! The secrets `secure-config` manages: what each one is, how it is
//! generated from the OS CSPRNG, and when an existing value is too weak to
//! keep. Values only ever live in zeroizing buffers and are never displayed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cryptobot_config::secret_files;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

/// A secret value (bytes exactly as stored in its file).
pub type SecretBytes = SecretBox<[u8]>;

/// The secrets of an installation, stored as files in `config/secrets/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretName {
    /// Ed25519 private key (PKCS#8 PEM) that signs access tokens.
    JwtSigningKey,
    /// 32 random bytes keying password-reset tokens.
    ResetTokenKey,
    /// 32 random bytes: the key-encryption key of the exchange-key vault.
    VaultMasterKey,
    /// Password of the `cryptobot` Redis ACL user.
    RedisPassword,
    /// Password of the `cryptobot` PostgreSQL role.
    PostgresPassword,
    /// 32 random bytes mixed into every argon2id password hash (a pepper):
    /// a stolen database alone does not allow guessing passwords.
    PasswordPepper,
}

impl SecretName {
    pub const ALL: [SecretName; 6] = [
        SecretName::JwtSigningKey,
        SecretName::ResetTokenKey,
        SecretName::VaultMasterKey,
        SecretName::RedisPassword,
        SecretName::PostgresPassword,
        SecretName::PasswordPepper,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            SecretName::JwtSigningKey => secret_files::JWT_SIGNING_KEY,
            SecretName::ResetTokenKey => secret_files::RESET_TOKEN_KEY,
            SecretName::VaultMasterKey => secret_files::VAULT_MASTER_KEY,
            SecretName::RedisPassword => secret_files::REDIS_PASSWORD,
            SecretName::PostgresPassword => secret_files::POSTGRES_PASSWORD,
            SecretName::PasswordPepper => secret_files::PASSWORD_PEPPER,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SecretName::JwtSigningKey => "Ed25519 key that signs access tokens",
            SecretName::ResetTokenKey => "key for password-reset tokens",
            SecretName::VaultMasterKey => "master key of the exchange-key vault",
            SecretName::RedisPassword => "password of the Redis ACL user",
            SecretName::PostgresPassword => "password of the PostgreSQL role",
            SecretName::PasswordPepper => "pepper of the password hashes",
        }
    }

    /// Accepts the file name (`redis_password`, `jwt_signing.key`) or the
    /// name without its `.key` suffix.
    pub fn parse(s: &str) -> Option<SecretName> {
        SecretName::ALL
            .into_iter()
            .find(|n| n.file_name() == s || n.file_name().strip_suffix(".key") == Some(s))
    }

    /// Generates a fresh value from the operating system's CSPRNG.
    pub fn generate(self) -> Result<SecretBytes, getrandom::Error> {
        match self {
            SecretName::JwtSigningKey => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut())?;
                Ok(ed25519_pkcs8_pem(&seed))
            }
            SecretName::ResetTokenKey | SecretName::VaultMasterKey | SecretName::PasswordPepper => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key)?;
                Ok(SecretBox::new(key.into_boxed_slice()))
            }
            SecretName::RedisPassword | SecretName::PostgresPassword => {
                random_password(PASSWORD_LENGTH)
            }
        }
    }

    /// Why an existing value must not be kept, or `None` when it is strong.
    pub fn weakness(self, value: &[u8]) -> Option<Weakness> {
        match self {
            SecretName::JwtSigningKey => {
                (!is_ed25519_pkcs8_pem(value)).then_some(Weakness::NotEd25519Key)
            }
            SecretName::VaultMasterKey => match cryptobot_vault::Keyring::parse(value) {
                // 32 raw bytes, or the key ring `vault rotate-master` writes.
                Err(_) => Some(Weakness::NotA32ByteKey),
                Ok(ring) if ring.has_constant_key() => Some(Weakness::Constant),
                Ok(_) => None,
            },
            SecretName::PasswordPepper
                if value.len() != 32
                    && password_text(value).len() == 64
                    && password_text(value).iter().all(u8::is_ascii_hexdigit) =>
            {
                // The hex form `serve` also reads (`openssl rand -hex 32`).
                let text = password_text(value);
                text.iter()
                    .all(|b| *b == text[0])
                    .then_some(Weakness::Constant)
            }
            SecretName::ResetTokenKey | SecretName::PasswordPepper => {
                if value.len() != 32 {
                    Some(Weakness::NotA32ByteKey)
                } else if value.iter().all(|b| *b == value[0]) {
                    Some(Weakness::Constant)
                } else {
                    None
                }
            }
            SecretName::RedisPassword | SecretName::PostgresPassword => {
                password_weakness(password_text(value))
            }
        }
    }

    /// Replacing this secret would make data protected with it unusable
    /// (vault secrets unreadable, password hashes unverifiable), so
    /// `secure-config` never replaces it, not even a weak one.
    pub fn guards_data(self) -> bool {
        matches!(
            self,
            SecretName::VaultMasterKey | SecretName::PasswordPepper
        )
    }

    /// What replacing a [`Self::guards_data`] secret would break.
    pub fn guarded(self) -> &'static str {
        match self {
            SecretName::PasswordPepper => "every password hashed with it would stop working",
            _ => "secrets encrypted with it would become unreadable",
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// Why a stored secret is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    Empty,
    WellKnownDefault,
    TooShort,
    Constant,
    UnsupportedCharacters,
    NotA32ByteKey,
    NotEd25519Key,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Weakness::Empty => "empty",
            Weakness::WellKnownDefault => "a well-known default password",
            Weakness::TooShort => "shorter than 16 characters",
            Weakness::Constant => "one repeated character",
            Weakness::UnsupportedCharacters => "contains spaces, control or non-ASCII characters",
            Weakness::NotA32ByteKey => "not a 32-byte key",
            Weakness::NotEd25519Key => "not an Ed25519 private key in PKCS#8 PEM form",
        })
    }
}

/// Length of generated passwords: 32 characters of [A-Za-z0-9] ≈ 190 bits.
pub const PASSWORD_LENGTH: usize = 32;
/// Passwords shorter than this are replaced.
pub const MIN_PASSWORD_LENGTH: usize = 16;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Passwords shipped as defaults or typed by people who meant to change
/// them later; compared case-insensitively.
const WELL_KNOWN: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "password",
    "password1",
    "password123",
    "passw0rd",
    "redis",
    "redispassword",
    "redis_password",
    "postgres",
    "postgrespassword",
    "postgres_password",
    "cryptobot",
    "cryptobot123",
    "secret",
    "secretpassword",
    "admin",
    "admin123",
    "root",
    "toor",
    "default",
    "letmein",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "test",
    "example",
    "your_password_here",
    "yourpassword",
    "replace_me",
    "foobared",
];

/// A stored password file may end with one newline (editors add it).
pub fn password_text(value: &[u8]) -> &[u8] {
    let v = value.strip_suffix(b"\n").unwrap_or(value);
    v.strip_suffix(b"\r").unwrap_or(v)
}

fn password_weakness(pw: &[u8]) -> Option<Weakness> {
    if pw.is_empty() {
        return Some(Weakness::Empty);
    }
    if !pw.iter().all(|b| b.is_ascii_graphic()) {
        return Some(Weakness::UnsupportedCharacters);
    }
    let lower = pw.to_ascii_lowercase();
    if WELL_KNOWN.iter().any(|w| w.as_bytes() == lower.as_slice()) {
        return Some(Weakness::WellKnownDefault);
    }
    if pw.len() < MIN_PASSWORD_LENGTH {
        return Some(Weakness::TooShort);
    }
    if pw.iter().all(|b| *b == pw[0]) {
        return Some(Weakness::Constant);
    }
    None
}

fn random_password(len: usize) -> Result<SecretBytes, getrandom::Error> {
    let mut out = Vec::with_capacity(len);
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(buf.as_mut())?;
        // Rejection sampling keeps the choice uniform: 248 = 4 * 62.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(*b) % ALPHABET.len()]);
        }
    }
    Ok(SecretBox::new(out.into_boxed_slice()))
}

/// RFC 8410 PKCS#8 v1 prefix of an Ed25519 private key (algorithm
/// 1.3.101.112, no attributes, no public key), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

fn ed25519_pkcs8_pem(seed: &[u8; 32]) -> SecretBytes {
    let mut der = Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&ED25519_PKCS8_PREFIX);
    der.extend_from_slice(seed);
    let b64 = Zeroizing::new(STANDARD.encode(der.as_slice()));
    let pem = format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", b64.as_str());
    SecretBox::new(pem.into_bytes().into_boxed_slice())
}

/// The 32-byte seed inside an Ed25519 PKCS#8 PEM, if `pem` is one.
pub fn ed25519_seed(pem: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let text = std::str::from_utf8(pem).ok()?;
    let body = text.trim().strip_prefix(PEM_BEGIN)?.strip_suffix(PEM_END)?;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = Zeroizing::new(STANDARD.decode(b64.as_bytes()).ok()?);
    let seed = der.strip_prefix(&ED25519_PKCS8_PREFIX)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if seed.len() != 32 || seed.iter().all(|b| *b == 0) {
        return None;
    }
    out.copy_from_slice(seed);
    Some(out)
}

fn is_ed25519_pkcs8_pem(value: &[u8]) -> bool {
    ed25519_seed(value).is_some()
}

/// Lower-case hex SHA-256 of a password, as Redis ACL `#<hash>` expects.
pub fn redis_password_hash(password: &SecretBytes) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(password_text(password.expose_secret()));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_strong_and_distinct() {
        for name in SecretName::ALL {
            let a = name.generate().unwrap();
            let b = name.generate().unwrap();
            assert_eq!(name.weakness(a.expose_secret()), None, "{name}");
            assert_ne!(a.expose_secret(), b.expose_secret(), "{name}");
        }
    }

    #[test]
    fn passwords_are_alphanumeric_of_the_right_length() {
        let pw = SecretName::RedisPassword.generate().unwrap();
        assert_eq!(pw.expose_secret().len(), PASSWORD_LENGTH);
        assert!(pw.expose_secret().iter().all(u8::is_ascii_alphanumeric));
    }

    #[test]
    fn weak_passwords() {
        let w = |s: &str| SecretName::RedisPassword.weakness(s.as_bytes());
        assert_eq!(w(""), Some(Weakness::Empty));
        assert_eq!(w("\n"), Some(Weakness::Empty));
        assert_eq!(w("changeme"), Some(Weakness::WellKnownDefault));
        assert_eq!(w("ChangeMe\n"), Some(Weakness::WellKnownDefault));
        assert_eq!(w("redis"), Some(Weakness::WellKnownDefault));
        assert_eq!(w("short-but-ok1"), Some(Weakness::TooShort));
        assert_eq!(w("aaaaaaaaaaaaaaaaaaaa"), Some(Weakness::Constant));
        assert_eq!(
            w("has space in it 12345"),
            Some(Weakness::UnsupportedCharacters)
        );
        assert_eq!(w("Xk3-long-enough-pass!\n"), None);
    }

    #[test]
    fn weak_keys() {
        assert_eq!(
            SecretName::VaultMasterKey.weakness(&[7u8; 32]),
            Some(Weakness::Constant)
        );
        assert_eq!(
            SecretName::ResetTokenKey.weakness(b"short"),
            Some(Weakness::NotA32ByteKey)
        );
        assert_eq!(
            SecretName::JwtSigningKey
                .weakness(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Some(Weakness::NotEd25519Key)
        );
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            SecretName::parse("redis_password"),
            Some(SecretName::RedisPassword)
        );
        assert_eq!(
            SecretName::parse("jwt_signing.key"),
            Some(SecretName::JwtSigningKey)
        );
        assert_eq!(
            SecretName::parse("jwt_signing"),
            Some(SecretName::JwtSigningKey)
        );
        assert_eq!(SecretName::parse("nope"), None);
    }

    #[test]
    fn rfc8032_seed_round_trips_through_pem() {
        // RFC 8410 section 10.3 example private key.
        let pem = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let seed = ed25519_seed(pem).unwrap();
        assert_eq!(seed[0], 0xd4);
        let again = ed25519_pkcs8_pem(&seed);
        assert_eq!(again.expose_secret(), pem);
    }

    #[test]
    fn redis_hash_ignores_trailing_newline() {
        let a = SecretBox::new(b"abc".to_vec().into_boxed_slice());
        let b = SecretBox::new(b"abc\n".to_vec().into_boxed_slice());
        assert_eq!(redis_password_hash(&a), redis_password_hash(&b));
        assert_eq!(
            redis_password_hash(&a),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
