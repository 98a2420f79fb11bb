//! HTTP handlers, one module per area.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod exchange_keys;
pub mod key_controls;
pub mod meta;
pub mod mfa;
pub mod sessions;
pub mod users;
