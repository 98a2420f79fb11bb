//! Host hardening plans. Each command is a pure-ish planner — it reads the
//! host under a [`cryptobot_plan::Root`] and returns a
//! [`cryptobot_plan::Plan`] — plus the few steps that must talk to a running
//! server (such as [`apply_db`]).
//!
//! - [`secure_config`]: the guide's `secure_config.sh`: layout, secrets,
//!   default configuration, hardened Redis and PostgreSQL configuration.
//! - [`permissions`]: the service account, owners and modes of the
//!   installation, and the hardened systemd unit ([`systemd`]).
//!
//! The firewall (rule model, renderers and the live engine) is its own
//! crate, `cryptobot-firewall`.

pub mod apply_db;
pub mod permissions;
pub mod platforms;
pub mod render;
pub mod scram;
pub mod secrets;
pub mod secure_config;
pub mod ssl;
pub mod systemd;

pub use secrets::{SecretBytes, SecretName, Weakness};
