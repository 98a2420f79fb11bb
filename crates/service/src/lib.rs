//! The operations behind Cryptobot's HTTP API and its shell commands, in
//! one place so both follow the same rules and write the same audit
//! records: accounts, service API keys, the exchange-key vault and its
//! master key ring, the token signing-key ring, sign-in steps and second
//! factors, the audit writer, the clock and opening the database.
//!
//! Nothing here speaks HTTP: `cryptobot-server` maps these operations and
//! their errors to routes and problem answers; the `cryptobot` commands
//! map them to terminal output.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod audit_aggregate;
pub mod audit_batch;
pub mod clock;
pub mod exchange_keys;
pub mod key_access;
pub mod key_controls;
pub mod mfa;
pub mod qr;
pub mod request_id;
pub mod sessions;
pub mod sign_in;
pub mod signing_keys;
pub mod store;
