//! The entry points of `firewall apply`, `persist` and `normalize`: one
//! driver that hands each backend to its module.

use cryptobot_config::Layout;
use cryptobot_plan::Root;

use super::error::LiveError;
use super::model::LiveBackend;
use super::report::{ApplyOptions, ApplyReport, PersistReport};
use super::{firewalld, nft_ipt, ufw};
use crate::rules::RuleSet;

/// `cryptobot firewall apply`: loads `rules` into the running firewall
/// with a rollback at the deadline unless confirmed (`--dry-run`: shows
/// what would change). `layout` is the installation whose state directory
/// and log are used.
pub fn apply(
    layout: &Layout,
    backend: LiveBackend,
    rules: &RuleSet,
    opts: &ApplyOptions,
) -> Result<ApplyReport, LiveError> {
    match backend {
        LiveBackend::Ufw => ufw::apply(layout, opts, rules),
        LiveBackend::Firewalld => firewalld::apply(layout, opts, rules),
        LiveBackend::Nftables | LiveBackend::Iptables => {
            nft_ipt::apply(layout, backend, rules, opts)
        }
    }
}

/// `cryptobot firewall persist`: the boot files of `rules` under `root`,
/// journaled in `layout`'s changes directory (`dry_run`: the plan only).
pub fn persist(
    root: &Root,
    layout: &Layout,
    backend: LiveBackend,
    rules: &RuleSet,
    dry_run: bool,
) -> Result<PersistReport, LiveError> {
    match backend {
        LiveBackend::Ufw => Err(ufw::persist()),
        LiveBackend::Firewalld => Err(firewalld::persist()),
        LiveBackend::Nftables | LiveBackend::Iptables => {
            nft_ipt::persist(root, layout, backend, rules, dry_run)
        }
    }
}

/// `cryptobot firewall normalize` (hidden): loads the rules given on
/// standard input (a JSON list, one text per family) and returns them as
/// the kernel lists them. Refuses to run anywhere but in a network
/// namespace that has only a loopback interface and no rules, i.e. the
/// fresh one `unshare --net` made for it.
pub fn normalize(backend: LiveBackend) -> Result<String, LiveError> {
    nft_ipt::normalize(backend)
}
