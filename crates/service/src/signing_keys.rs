//! The token signing key ring: the current Ed25519 key in
//! `config/secrets/jwt_signing.key` and, after `cryptobot token
//! rotate-signing-key`, the public halves of earlier keys in
//! `data/jwt-verify-keys.json`, each kept until the last token it signed has
//! expired.

use std::path::{Path, PathBuf};

use cryptobot_auth::{SigningKey, Verifier, VerifyingKey};
use cryptobot_config::Layout;
use serde::{Deserialize, Serialize};

/// `iss` of every access token.
pub const ISSUER: &str = "cryptobot";
/// `aud` of every access token.
pub const AUDIENCE: &str = "cryptobot-api";
/// Name of the file listing retired verification keys, under `data/`.
pub const RETIRED_KEYS_FILE: &str = "jwt-verify-keys.json";

/// Why the signing-key ring could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key is not an Ed25519 PKCS#8 key.
    #[error("{path} is not an Ed25519 private key in PKCS#8 PEM form")]
    BadSigningKey {
        /// The file.
        path: String,
    },
    /// The retired-keys file is damaged.
    #[error("{path} is not a valid list of retired verification keys: {why}")]
    BadRetired {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

impl KeyError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            KeyError::Read { .. } | KeyError::BadSigningKey { .. } => {
                "run `cryptobot secure-config` to create the missing keys"
            }
            KeyError::BadRetired { .. } => {
                "restore the file from a backup, or delete it (tokens signed by retired keys then stop working)"
            }
        }
    }
}

/// One retired key in `data/jwt-verify-keys.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKey {
    /// The public key as a JWK.
    pub jwk: serde_json::Value,
    /// When it stopped signing (unix seconds).
    pub retired_at: i64,
    /// Tokens it signed are accepted until then (unix seconds).
    pub verify_until: i64,
}

/// The whole retired-keys file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKeys {
    /// Retired keys, oldest first.
    pub keys: Vec<RetiredKey>,
}

/// What the service signs and verifies with.
pub struct KeyRing {
    /// Signs new access tokens.
    pub signing: SigningKey,
    /// Verifies tokens from the current and still-valid retired keys.
    pub verifier: Verifier,
}

/// Path of the retired-keys file.
pub fn retired_path(layout: &Layout) -> PathBuf {
    layout.data_dir().join(RETIRED_KEYS_FILE)
}

/// Path of the signing key.
pub fn signing_path(layout: &Layout) -> PathBuf {
    layout.jwt_signing_key()
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Reads the retired-keys file; a missing file is an empty list.
pub fn read_retired(layout: &Layout) -> Result<RetiredKeys, KeyError> {
    let path = retired_path(layout);
    match std::fs::read(&path) {
        Ok(bytes) => parse_retired(&bytes, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RetiredKeys::default()),
        Err(source) => Err(KeyError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn parse_retired(bytes: &[u8], path: &Path) -> Result<RetiredKeys, KeyError> {
    let bad = |why: String| KeyError::BadRetired {
        path: path.display().to_string(),
        why,
    };
    let list: RetiredKeys = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    for k in &list.keys {
        VerifyingKey::from_jwk(&k.jwk).map_err(|e| bad(e.to_string()))?;
    }
    Ok(list)
}

/// Loads the signing key from `path` (PEM).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = zeroize::Zeroizing::new(read(path)?);
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::BadSigningKey {
        path: path.display().to_string(),
    })
}

/// Loads the key ring as of `now`.
pub fn load(layout: &Layout, now: i64) -> Result<KeyRing, KeyError> {
    let signing = read_signing_key(&signing_path(layout))?;
    let retired = read_retired(layout)?;
    let mut keys = vec![signing.verifying_key()];
    for k in retired.keys.iter().filter(|k| k.verify_until > now) {
        // parse_retired already checked every entry.
        if let Ok(v) = VerifyingKey::from_jwk(&k.jwk)
            && v.kid() != signing.kid()
        {
            keys.push(v);
        }
    }
    let verifier = Verifier::new(ISSUER, AUDIENCE, keys);
    Ok(KeyRing { signing, verifier })
}

/// The retired-keys list after retiring `current` at `now`: entries whose
/// tokens have all expired are dropped.
pub fn retire(
    mut list: RetiredKeys,
    current: &SigningKey,
    now: i64,
    token_lifetime: i64,
) -> RetiredKeys {
    list.keys.retain(|k| k.verify_until > now);
    list.keys.push(RetiredKey {
        jwk: current.verifying_key().to_jwk(),
        retired_at: now,
        // Leeway: verification accepts up to 60 s past `exp`.
        verify_until: now + token_lifetime + 60,
    });
    list
}

/// A fingerprint of the files behind the ring, to notice a rotation.
pub fn files_stamp(layout: &Layout) -> Vec<Option<(u64, i64, i64)>> {
    use std::os::unix::fs::MetadataExt;
    [signing_path(layout), retired_path(layout)]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}
