//! Certificates and TLS policy for Cryptobot.
//!
//! - [`issue`]: a local CA and the certificates it issues (server, client).
//! - [`inspect`]: what a certificate says (names, key, issuer, validity).
//! - [`check`]: the rules a certificate must pass before it is installed.
//! - [`policy`]: the rustls server configuration for Mozilla's
//!   "intermediate" and "modern" profiles.
//! - [`self_signed`]: the self-signed `localhost` certificate of a first
//!   start.
//!
//! Pure functions over PEM text; reading and writing files is the caller's
//! business (through the plan engine). Private keys live in
//! [`zeroize::Zeroizing`] strings.

pub mod check;
pub mod inspect;
pub mod issue;
pub mod policy;
pub mod self_signed;

pub use check::{CheckError, check_pair};
pub use inspect::{CertInfo, KeyInfo, San, inspect, inspect_pem};
pub use issue::{Issued, KeyType, Revoked, crl, issue_client, issue_server, new_ca};
pub use policy::{Policy, PolicyError, server_config};
pub use self_signed::{SELF_SIGNED_DAYS, SelfSigned, SelfSignedError, self_signed_localhost};

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// Days between `now` and `not_after`, rounded down (negative once expired).
pub fn days_left(not_after: UnixTime, now: UnixTime) -> i64 {
    (not_after - now).div_euclid(86_400)
}
