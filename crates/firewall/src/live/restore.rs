//! Taking an apply back, whatever the backend: the watchdog and a late
//! `confirm` restore the previous state now, `cryptobot rollback` later
//! through the journaled changes of `confirm`.

use cryptobot_plan::Change;

use super::error::LiveError;
use super::model::{LiveBackend, Pending};
use super::state::State;
use super::{firewalld, nft_ipt, ufw};

/// Puts back the state saved before apply `id`. `Ok(what was done)`, or
/// `Err(what went wrong)`.
pub(crate) fn restore(backend: LiveBackend, state: &State, id: &str) -> Result<String, String> {
    match backend {
        LiveBackend::Ufw => ufw::restore(state, id),
        LiveBackend::Firewalld => firewalld::restore(state, id),
        LiveBackend::Nftables | LiveBackend::Iptables => nft_ipt::restore(backend, state, id),
    }
}

/// The journaled changes of a confirmed apply, whose undo restores the
/// state before it.
pub(crate) fn rollback_changes(state: &State, p: &Pending) -> Result<Vec<Change>, LiveError> {
    match p.backend {
        LiveBackend::Ufw => ufw::rollback_changes(p),
        LiveBackend::Firewalld => firewalld::rollback_changes(p),
        LiveBackend::Nftables | LiveBackend::Iptables => nft_ipt::rollback_changes(state, p),
    }
}
