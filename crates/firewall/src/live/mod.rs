//! Loading the rules into the running firewall without locking anyone out,
//! the way `iptables-apply` does it: `apply`, `confirm`, `persist`, the
//! watchdog that rolls an unconfirmed apply back, and `normalize` (the
//! dry run's view of the new rules as the kernel lists them).
//!
//! State lives in `<home>/data/firewall/` (0700): `applied-<id>.*` and
//! `previous-<id>.*` (the new rules and what restores the state before
//! them), `pending` (the deadline of the apply waiting for `confirm`) and
//! `last.json` (how the last apply ended). Every step is logged to
//! `<home>/logs/firewall.log`. Nothing here prints: each entry point
//! returns a report ([`ApplyReport`], [`ConfirmReport`], [`PersistReport`])
//! or a [`LiveError`].
//!
//! - [`model`] (re-exported here): the pure parts — the marker, the
//!   watchdog's decision, restore scripts, boot files, pruning.
//! - `nft_ipt`: nftables and iptables, straight into the kernel.
//! - `managed`, `ufw`, `firewalld`: firewalls whose own tool keeps the
//!   rules in files.
//! - `state`, `arm`, `watchdog`, `confirm`, `restore`, `engine`: the state
//!   directory, arming an apply, the watchdog loop, `confirm`, the rollback
//!   per backend and the entry points.

mod arm;
mod clock;
mod confirm;
mod engine;
mod error;
mod firewalld;
mod managed;
pub mod model;
mod nft_ipt;
mod process;
mod report;
mod restore;
mod state;
mod ufw;
mod watchdog;

pub use confirm::confirm;
pub use engine::{apply, normalize, persist};
pub use error::{ErrorKind, LiveError};
pub use model::*;
pub use report::{
    ApplyOptions, ApplyReport, Armed, ArmedDetail, ConfirmReport, DryRun, PersistReport,
};
pub use watchdog::watchdog;
