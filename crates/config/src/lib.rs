//! Cryptobot configuration: the model and its defaults (the hardening guide's
//! values), loading from `cryptobot.toml` plus `CRYPTOBOT_<SECTION>__<KEY>`
//! environment overrides, validation with file/line/key/fix messages, and the
//! installation layout.
//!
//! Pure logic apart from reading the one file in [`Config::load`].

mod firewall;
mod ipnet;
mod layout;
mod load;
mod model;
mod validate;

pub use firewall::{
    DEFAULT_SSH_PORT, Egress, Firewall, FirewallBackend, is_host_name, ssh_port_conflict,
};
pub use ipnet::IpNet;
pub use layout::{
    CONFIG_FILE_MODE, Layout, LayoutDir, PUBLIC_FILE_MODE, SECRET_FILE_MODE, secret_files,
};
pub use load::{Config, ConfigError, ENV_PREFIX, Problem, Source, env_overrides};
pub use model::*;
pub use validate::is_identifier;
