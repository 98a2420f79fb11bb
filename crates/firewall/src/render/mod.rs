//! One module per backend renders a [`RuleSet`]; [`render`] picks it.

use cryptobot_config::Config;
use cryptobot_plan::Rendered;

use crate::rules::{RuleSet, Target};

pub mod fail2ban;
pub mod firewalld;
mod header;
pub mod iptables;
pub mod nftables;
pub mod pf;
pub mod ufw;
pub mod windows;

/// Renders the files for `target`. Names may contain one directory
/// (`jail.d/cryptobot.conf`), relative to the backend's configuration
/// directory.
pub fn render(target: Target, rules: &RuleSet, config: &Config) -> Vec<Rendered> {
    match target {
        Target::Nftables => vec![nftables::rendered(rules)],
        Target::Iptables => iptables::rendered(rules),
        Target::Ufw => vec![ufw::rendered(rules)],
        Target::Firewalld => firewalld::rendered(rules),
        Target::Pf => vec![pf::rendered(rules)],
        Target::Windows => vec![windows::rendered(rules)],
        Target::Fail2ban => {
            fail2ban::rendered(rules, &fail2ban::Fail2banOptions::from_config(config))
        }
    }
}
