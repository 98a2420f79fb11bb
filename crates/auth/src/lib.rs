//! Pure authentication logic for Cryptobot: argon2id password hashing (with
//! an optional pepper, over NFKC-normalised passwords) and the password
//! policy, strict EdDSA (Ed25519) JWS access tokens, roles and
//! scopes, opaque refresh tokens, and per-address progressive delays.
//!
//! No file or network I/O happens here; time is passed in as unix seconds.

mod api_keys;
mod error;
mod opaque;
mod password;
mod pepper;
mod policy;
mod ratelimit;
mod reset;
mod scope;
mod throttle;
mod token;
mod totp;

pub use api_keys::{
    API_KEY_ID_LEN, API_KEY_LEN, API_KEY_PREFIX, ApiKeyMatch, ApiKeyRefusal, NewApiKey,
    PresentedApiKey, StoredApiKey, check_api_key, new_api_key, new_api_key_secret, parse_api_key,
    valid_api_key_id,
};
pub use error::AuthError;
pub use opaque::{hash_opaque_token, new_opaque_token, random_id};
pub use password::{MAX_PASSWORD_CHARS, PasswordCheck, PasswordHasher, normalize_password};
pub use pepper::{PEPPER_LEN, Pepper, PepperError};
pub use policy::{PasswordPolicy, PolicyViolations, Violation, is_common_password};
pub use ratelimit::{Decision, Gcra, RateLimiter};
pub use reset::{RESET_TOKEN_PREFIX, ResetKey, new_reset_token};
pub use scope::{Role, Scope, ScopeSet, UnknownName, scope_string};
pub use throttle::{AddressThrottle, address_group, lockout_group, progressive_delay};
pub use token::{Claims, SigningKey, TokenError, Verifier, VerifyingKey, sign, verify_jws_ed25519};
pub use totp::{
    MfaKeys, OtpAlgorithm, Pseudonyms, TOTP_STEP, base32, base32_decode, hotp, new_backup_codes,
    new_totp_secret, normalize_backup_code, otpauth_uri, totp, totp_code, totp_match, totp_step,
};
