//! Storage for the `cryptobot` HTTPS auth service: users, password history,
//! sessions, refresh tokens and the audit log.
//!
//! One code path serves both backends: every statement goes through
//! [`sqlx::AnyPool`] and every DML statement is written once with
//! `$1, $2, …` placeholders (SQLite accepts `$N` too). Only the DDL in the
//! migration steps differs per backend. Column types are portable: `TEXT`
//! and `BIGINT` (timestamps in unix seconds, audit times in milliseconds,
//! booleans as `0`/`1`).
//!
//! Open a [`Store`] with [`Store::open`] on a [`Target`]; the schema is
//! migrated on every start by a small built-in runner (see
//! [`SCHEMA_VERSION`]).

mod account_data;
mod api_keys;
mod audit;
mod backend;
mod error;
mod exchange_keys;
mod key_controls;
mod lockout;
mod mfa;
mod migrate;
mod model;
mod resets;
mod sessions;
mod store;
mod tokens;
mod users;
mod util;

pub use account_data::{DeletedUser, UserActivity};
pub use api_keys::{KeyInsert, NewServiceKey, ServiceKey};
pub use backend::Backend;
pub use error::StoreError;
pub use exchange_keys::{
    AuditEntry, ExchangeKey, ExchangeKeyVersion, KeyUse, NewExchangeKey, Rewrap, Usage, VaultRecord,
};
pub use key_controls::{
    Approval, Grant, Grantee, NewApproval, NewWithdrawAddress, WithdrawAddress,
};
pub use lockout::{ACCOUNT_WIDE, FailureBudget, FailureCount, Lock};
pub use mfa::{Challenge, TotpRecord};
pub use migrate::SCHEMA_VERSION;
pub use model::{
    AuditEvent, AuditQuery, AuditRecord, NewSession, NewUser, RefreshUse, Session, User,
};
pub use resets::ResetUse;
pub use store::{Store, Target};
