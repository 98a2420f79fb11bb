//! HTTP handlers, one module per area.

pub mod audit;
pub mod auth;
pub mod meta;
pub mod mfa;
pub mod sessions;
pub mod users;
