//! `cryptobot firewall`: one rule model, rendered for every backend, and
//! the live engine that loads it into the running firewall ([`live`]).
//!
//! [`rules`] turns the configuration, the SSH ports and the resolved
//! addresses of the exchange hosts into a [`RuleSet`]: a pure value that
//! says what is allowed, with no backend syntax in it. One module per
//! backend renders it ([`nftables`], [`iptables`], [`ufw`], [`firewalld`],
//! [`pf`], [`windows`]), and [`fail2ban`] renders the jails that feed on
//! the service's log and on the firewall's drop log.
//!
//! Policy, the same on every backend as far as the backend can express it:
//!
//! - inbound: default deny; established/related, loopback, the ICMP and
//!   ICMPv6 messages IPv4 and IPv6 need (neighbour discovery, path MTU,
//!   errors, echo), DHCP replies, SSH with a per-address limit on new
//!   connections, and the TCP ports of the services whose exposure is
//!   `public`. Every loopback service — PostgreSQL and Redis always — is
//!   reachable from this machine only. What is dropped is logged with the
//!   prefix [`LOG_PREFIX`] at a limited rate (broadcast and multicast noise
//!   is dropped silently, so the port-scan jail never bans a neighbour).
//! - outbound: open, or with `egress = "allowlist"` only established
//!   traffic, loopback, ICMP essentials, DHCP, DNS to the configured
//!   resolvers, NTP to the configured servers and HTTPS to the resolved
//!   exchange addresses; everything else is logged with the same prefix
//!   and dropped.
//! - IPv4 and IPv6 always.
//!
//! Nothing here touches the host except [`ssh_ports`] (reads
//! `sshd_config`) and [`resolve_hosts`] (asks the system resolver).
//! [`live`] does the rest of the I/O: it runs the firewall tools and keeps
//! the state directory, the watchdog, `confirm`, the rollback and the boot
//! files. It never prints; the CLI shows its reports.

mod detect;
pub mod live;
pub mod managed;
mod render;
mod resolve;
mod rules;
mod sshd;

pub use detect::{HostFirewall, auto_target};
pub use render::{fail2ban, firewalld, iptables, nftables, pf, render, ufw, windows};
pub use resolve::resolve_hosts;
pub use rules::{
    EgressRules, Family, FirewallError, ICMP, ICMPV6, Icmp, LOG_PREFIX, LOG_RATE_PER_MINUTE, Port,
    RuleSet, SSH_LIMIT_LOG_PREFIX, SshPorts, SshSource, Target, icmp_types, of_family, rules,
};
pub use sshd::{SSHD_CONFIG, SshdDirective, ssh_ports, sshd_directives};
