//! The key vault's pure logic: no files, no database, no clock.
//!
//! - [`Keyring`]: the versioned master keys (`vault_master.key`), parsed
//!   from and written to their file format.
//! - [`seal`], [`open`], [`rewrap`]: envelope encryption. Every secret gets
//!   a fresh random data key; the secret is sealed with AES-256-GCM under
//!   that data key, and the data key is wrapped with AES-256-GCM under one
//!   master key version. The record's id, version and purpose are bound as
//!   associated data to both, so a ciphertext copied onto another record
//!   does not open. Rewrapping changes only the wrapped data key.
//! - [`sign`]: exchange request signing (Binance, Kraken), so strategies
//!   ask the vault for a signature instead of holding the secret.
//! - [`policy`]: which requests a key may have signed, from its declared
//!   permissions (checked before [`sign`]).

mod envelope;
mod keyring;
pub mod policy;
mod sign;

pub use envelope::{Binding, Sealed, open, rewrap, seal};
pub use keyring::{Keyring, MASTER_KEY_LEN};
pub use sign::{
    Credentials, Exchange, SignRequest, Signed, check_secret_format, fingerprint, sign,
};

/// Why a vault operation failed. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The master key file is not in a format this build reads.
    #[error("the vault master key file is not valid: {0}")]
    KeyFile(String),
    /// A record names a master key version the key ring does not hold.
    #[error("master key version {0} is not in the key ring")]
    UnknownMasterVersion(u32),
    /// Authentication of a wrapped key or ciphertext failed: wrong master
    /// key, a record moved or altered, or damaged data.
    #[error("the sealed record does not open with this master key and record binding")]
    Open,
    /// A stored field is not in the expected encoding.
    #[error("the sealed record is damaged: {0}")]
    Damaged(&'static str),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// The request to sign is not valid for the exchange's scheme.
    #[error("{0}")]
    Request(String),
}
