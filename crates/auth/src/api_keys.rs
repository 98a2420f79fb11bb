//! Service API keys: `cbk_<id>_<secret>`.
//!
//! The id (12 characters) names the key in listings, logs and URLs; the
//! secret (256 random bits, 52 characters) is shown once and only its
//! SHA-256 is stored. Both use lowercase RFC 4648 base32 (`a-z2-7`), so a
//! key is one word for a double click and needs no escaping anywhere.
//!
//! Checking a presented key is pure: [`check_api_key`] takes the stored
//! state and the time and says whether the key is accepted, and if not,
//! why (for the audit log; the client is told nothing more than 401).

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::AuthError;
use crate::opaque::hash_opaque_token;

/// Every service key starts with this.
pub const API_KEY_PREFIX: &str = "cbk_";
/// Length of a key id.
pub const API_KEY_ID_LEN: usize = 12;
/// Length of the secret part (base32 of 32 bytes).
const SECRET_LEN: usize = 52;
/// Total length of a key.
pub const API_KEY_LEN: usize = API_KEY_PREFIX.len() + API_KEY_ID_LEN + 1 + SECRET_LEN;

fn is_b32(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

fn random_b32<const N: usize>() -> Result<Zeroizing<String>, AuthError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|_| AuthError::Random)?;
    Ok(Zeroizing::new(
        crate::totp::base32(bytes.as_ref()).to_ascii_lowercase(),
    ))
}

/// A freshly made key: shown once, then only `secret_hash` is kept.
pub struct NewApiKey {
    /// The key id (not secret).
    pub id: String,
    /// The whole key, `cbk_<id>_<secret>`.
    pub key: SecretString,
    /// SHA-256 hex of the secret part: what is stored.
    pub secret_hash: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .field("secret_hash", &"[redacted]")
            .finish()
    }
}

/// A new key with a new random id.
pub fn new_api_key() -> Result<NewApiKey, AuthError> {
    let id: String = random_b32::<8>()?.chars().take(API_KEY_ID_LEN).collect();
    new_api_key_secret(&id)
}

/// A new secret for the key `id` (rotation keeps the id).
pub fn new_api_key_secret(id: &str) -> Result<NewApiKey, AuthError> {
    let secret = random_b32::<32>()?;
    let key = format!("{API_KEY_PREFIX}{id}_{}", secret.as_str());
    Ok(NewApiKey {
        id: id.to_string(),
        secret_hash: hash_opaque_token(&secret),
        key: SecretString::from(key),
    })
}

/// Whether `id` has the shape of a key id (safe to log and look up).
pub fn valid_api_key_id(id: &str) -> bool {
    id.len() == API_KEY_ID_LEN && id.bytes().all(is_b32)
}

/// A presented key, split. `Debug` never shows the secret.
#[derive(Clone, Copy)]
pub struct PresentedApiKey<'a> {
    id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for PresentedApiKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedApiKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl<'a> PresentedApiKey<'a> {
    /// The key id.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// SHA-256 hex of the secret part.
    pub fn secret_hash(&self) -> String {
        hash_opaque_token(self.secret)
    }
}

/// Splits `cbk_<id>_<secret>`; `None` unless every part has exactly the
/// shape [`new_api_key`] makes. Never panics, whatever the input.
pub fn parse_api_key(text: &str) -> Option<PresentedApiKey<'_>> {
    if text.len() != API_KEY_LEN {
        return None;
    }
    let rest = text.strip_prefix(API_KEY_PREFIX)?;
    let id = rest.get(..API_KEY_ID_LEN)?;
    let secret = rest.get(API_KEY_ID_LEN..)?.strip_prefix('_')?;
    (valid_api_key_id(id) && secret.len() == SECRET_LEN && secret.bytes().all(is_b32))
        .then_some(PresentedApiKey { id, secret })
}

/// What is stored about a key, as [`check_api_key`] needs it.
#[derive(Clone, Copy)]
pub struct StoredApiKey<'a> {
    /// SHA-256 hex of the current secret.
    pub secret_hash: &'a str,
    /// SHA-256 hex of the secret before the last rotation, if any.
    pub previous_hash: Option<&'a str>,
    /// The previous secret is accepted while `now < previous_valid_until`.
    pub previous_valid_until: Option<i64>,
    /// The key is refused from this time on (unix seconds).
    pub expires_at: Option<i64>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When the key was suspended (its owner's credentials changed), if
    /// it is; it works again only after an explicit reactivation.
    pub suspended_at: Option<i64>,
}

impl std::fmt::Debug for StoredApiKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApiKey")
            .field("secret_hash", &"[redacted]")
            .field("previous_hash", &self.previous_hash.map(|_| "[redacted]"))
            .field("previous_valid_until", &self.previous_valid_until)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("suspended_at", &self.suspended_at)
            .finish()
    }
}

/// Which secret of the key matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyMatch {
    /// The current secret.
    Current,
    /// The secret before the last rotation, inside its grace period.
    Previous,
}

/// Why a presented key is refused (for the audit log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyRefusal {
    /// Not of the form `cbk_<id>_<secret>`.
    Malformed,
    /// No key with that id.
    UnknownKey,
    /// The secret is not the key's (or a previous secret past its grace).
    WrongSecret,
    /// The key was revoked.
    Revoked,
    /// The key has expired.
    Expired,
    /// The key's owner is disabled or gone.
    OwnerDisabled,
    /// The key is suspended after a credential change of its owner.
    Suspended,
}

impl ApiKeyRefusal {
    /// Stable code for logs and audit details.
    pub fn code(self) -> &'static str {
        match self {
            ApiKeyRefusal::Malformed => "malformed",
            ApiKeyRefusal::UnknownKey => "unknown_key",
            ApiKeyRefusal::WrongSecret => "wrong_secret",
            ApiKeyRefusal::Revoked => "revoked",
            ApiKeyRefusal::Expired => "expired",
            ApiKeyRefusal::OwnerDisabled => "owner_disabled",
            ApiKeyRefusal::Suspended => "suspended",
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// Decides whether `presented` opens `stored` at `now`. The secret is
/// compared first (in constant time, against both secrets), so revocation
/// and expiry are only reported for someone holding a real secret.
pub fn check_api_key(
    presented: &PresentedApiKey<'_>,
    stored: &StoredApiKey<'_>,
    now: i64,
) -> Result<ApiKeyMatch, ApiKeyRefusal> {
    let hash = presented.secret_hash();
    let current = same(&hash, stored.secret_hash);
    let previous = stored.previous_hash.is_some_and(|p| same(&hash, p))
        && stored.previous_valid_until.is_some_and(|t| now < t);
    let matched = match (current, previous) {
        (true, _) => ApiKeyMatch::Current,
        (false, true) => ApiKeyMatch::Previous,
        (false, false) => return Err(ApiKeyRefusal::WrongSecret),
    };
    if stored.revoked_at.is_some() {
        return Err(ApiKeyRefusal::Revoked);
    }
    if stored.expires_at.is_some_and(|t| now >= t) {
        return Err(ApiKeyRefusal::Expired);
    }
    if stored.suspended_at.is_some() {
        return Err(ApiKeyRefusal::Suspended);
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn keys_have_the_documented_shape() {
        let k = new_api_key().unwrap();
        let text = k.key.expose_secret();
        assert_eq!(text.len(), API_KEY_LEN);
        assert!(text.starts_with("cbk_"));
        assert!(valid_api_key_id(&k.id));
        let p = parse_api_key(text).unwrap();
        assert_eq!(p.id(), k.id);
        assert_eq!(p.secret_hash(), k.secret_hash);
        assert_eq!(k.secret_hash.len(), 64);
        assert!(!format!("{k:?}{p:?}").contains(&text[17..]));
        let again = new_api_key_secret(&k.id).unwrap();
        assert_eq!(again.id, k.id);
        assert_ne!(again.secret_hash, k.secret_hash);
        assert_ne!(new_api_key().unwrap().id, k.id);
    }

    #[test]
    fn parsing_rejects_everything_else() {
        let k = new_api_key().unwrap();
        let good = k.key.expose_secret().to_string();
        let mut bad = vec![
            String::new(),
            "cbk_".into(),
            good.to_uppercase(),
            good.replacen("cbk_", "cbx_", 1),
            format!("{good}a"),
            good[..good.len() - 1].to_string(),
            good.replacen('_', "-", 2),
        ];
        // Non-ASCII of the right byte length, at every boundary.
        bad.push(format!("cbk_é{}", &good[6..]));
        bad.push(format!("{}é", &good[..good.len() - 2]));
        // A '1' is not base32.
        bad.push(format!("{}1", &good[..good.len() - 1]));
        for b in bad {
            assert!(parse_api_key(&b).is_none(), "{b}");
        }
        // Any byte soup of the right length, never a panic.
        for seed in 0..2000u32 {
            let s: String = (0..API_KEY_LEN)
                .map(|i| char::from_u32((seed * 31 + i as u32 * 7) % 0x2ff).unwrap_or('x'))
                .collect();
            let _ = parse_api_key(&s);
        }
    }

    fn px_of(id: &str) -> PresentedApiKey<'static> {
        let other = new_api_key_secret(id).unwrap();
        let text: &'static str = Box::leak(other.key.expose_secret().to_string().into_boxed_str());
        parse_api_key(text).unwrap()
    }

    #[test]
    fn checking() {
        let k = new_api_key().unwrap();
        let old = new_api_key_secret(&k.id).unwrap();
        let text = k.key.expose_secret().to_string();
        let old_text = old.key.expose_secret().to_string();
        let p = parse_api_key(&text).unwrap();
        let po = parse_api_key(&old_text).unwrap();
        let s = StoredApiKey {
            secret_hash: &k.secret_hash,
            previous_hash: Some(&old.secret_hash),
            previous_valid_until: Some(200),
            expires_at: Some(1000),
            revoked_at: None,
            suspended_at: None,
        };
        assert_eq!(check_api_key(&p, &s, 100), Ok(ApiKeyMatch::Current));
        assert_eq!(check_api_key(&po, &s, 199), Ok(ApiKeyMatch::Previous));
        assert_eq!(check_api_key(&po, &s, 200), Err(ApiKeyRefusal::WrongSecret));
        assert_eq!(check_api_key(&p, &s, 999), Ok(ApiKeyMatch::Current));
        assert_eq!(check_api_key(&p, &s, 1000), Err(ApiKeyRefusal::Expired));
        let revoked = StoredApiKey {
            revoked_at: Some(50),
            ..s
        };
        assert_eq!(
            check_api_key(&p, &revoked, 100),
            Err(ApiKeyRefusal::Revoked)
        );
        assert_eq!(
            check_api_key(&po, &revoked, 100),
            Err(ApiKeyRefusal::Revoked)
        );
        let suspended = StoredApiKey {
            suspended_at: Some(60),
            ..s
        };
        assert_eq!(
            check_api_key(&p, &suspended, 100),
            Err(ApiKeyRefusal::Suspended)
        );
        assert_eq!(
            check_api_key(&po, &suspended, 100),
            Err(ApiKeyRefusal::Suspended)
        );
        // A stranger's secret learns nothing about revocation, expiry or
        // suspension.
        assert_eq!(
            check_api_key(&px_of(&k.id), &suspended, 100),
            Err(ApiKeyRefusal::WrongSecret)
        );
        let other = new_api_key_secret(&k.id).unwrap();
        let other_text = other.key.expose_secret().to_string();
        let px = parse_api_key(&other_text).unwrap();
        assert_eq!(
            check_api_key(&px, &revoked, 2000),
            Err(ApiKeyRefusal::WrongSecret)
        );
        let never = StoredApiKey {
            previous_hash: None,
            previous_valid_until: None,
            expires_at: None,
            ..s
        };
        assert_eq!(
            check_api_key(&p, &never, i64::MAX),
            Ok(ApiKeyMatch::Current)
        );
        assert_eq!(
            check_api_key(&po, &never, 0),
            Err(ApiKeyRefusal::WrongSecret)
        );
    }
}
