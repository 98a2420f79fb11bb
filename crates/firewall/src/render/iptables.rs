//! iptables / ip6tables: `iptables-restore` input for each family.
//!
//! Everything lives in chains of its own (`CRYPTOBOT-INPUT`,
//! `CRYPTOBOT-SSH`, `CRYPTOBOT-OUTPUT`). Loaded with `--noflush`, a file
//! replaces exactly those chains in one transaction (a declared chain is
//! emptied first) and leaves every other rule — Docker's, fail2ban's —
//! where it is. The chains are hooked into `INPUT`/`OUTPUT` once, by the
//! two commands in the file's header (a restore file cannot add a jump
//! without duplicating it on every reload). `CRYPTOBOT-INPUT` ends in a
//! drop, so the built-in chain's policy does not matter.

use std::fmt::Write as _;

use cryptobot_plan::Rendered;

use super::header::{header, joined};
use crate::rules::{
    Family, LOG_PREFIX, RuleSet, SSH_LIMIT_LOG_PREFIX, Target, icmp_types, of_family,
};

/// The chains of this ruleset.
pub const CHAINS: [&str; 3] = ["CRYPTOBOT-INPUT", "CRYPTOBOT-SSH", "CRYPTOBOT-OUTPUT"];

/// `cryptobot-iptables.rules` (IPv4) and `cryptobot-ip6tables.rules` (IPv6).
pub fn rendered(rules: &RuleSet) -> Vec<Rendered> {
    vec![
        Rendered {
            name: "cryptobot-iptables.rules",
            purpose: "IPv4: load with `iptables-restore --noflush cryptobot-iptables.rules` (check first with --test), hook once as its header says".into(),
            content: render(rules, Family::V4),
            executable: false,
        },
        Rendered {
            name: "cryptobot-ip6tables.rules",
            purpose: "IPv6: load with `ip6tables-restore --noflush cryptobot-ip6tables.rules` (check first with --test), hook once as its header says".into(),
            content: render(rules, Family::V6),
            executable: false,
        },
    ]
}

/// The restore file for one family.
pub fn render(rules: &RuleSet, family: Family) -> String {
    let (cmd, restore, file, icmp_proto, icmp_opt, loopback, multicast) = match family {
        Family::V4 => (
            "iptables",
            "iptables-restore",
            "cryptobot-iptables.rules",
            "icmp",
            "--icmp-type",
            "127.0.0.0/8",
            None,
        ),
        Family::V6 => (
            "ip6tables",
            "ip6tables-restore",
            "cryptobot-ip6tables.rules",
            "ipv6-icmp",
            "--icmpv6-type",
            "::1/128",
            Some("ff00::/8"),
        ),
    };
    let log = format!(
        "-m limit --limit {r}/min --limit-burst {r}",
        r = rules.log_rate_per_minute
    );
    let mut o = header("#", Target::Iptables, rules);
    let _ = write!(
        o,
        "# {} rules.\n\
         #\n\
         # Load (replaces only the CRYPTOBOT-* chains, atomically; check first with --test):\n\
         #   {restore} --noflush {file}\n\
         # Then hook the chains in, once:\n\
         #   {cmd} -C INPUT -j CRYPTOBOT-INPUT 2>/dev/null || {cmd} -I INPUT 1 -j CRYPTOBOT-INPUT\n\
         #   {cmd} -C OUTPUT -j CRYPTOBOT-OUTPUT 2>/dev/null || {cmd} -I OUTPUT 1 -j CRYPTOBOT-OUTPUT\n\
         *filter\n",
        if family == Family::V4 { "IPv4" } else { "IPv6" }
    );
    for chain in CHAINS {
        let _ = writeln!(o, ":{chain} - [0:0]");
    }
    let mut a = |rule: &str| {
        let _ = writeln!(o, "{rule}");
    };
    a("-A CRYPTOBOT-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
    a("-A CRYPTOBOT-INPUT -m conntrack --ctstate INVALID -j DROP");
    a("-A CRYPTOBOT-INPUT -i lo -j ACCEPT");
    a(&format!("-A CRYPTOBOT-INPUT -d {loopback} -j DROP"));
    for t in icmp_types(family) {
        a(&format!(
            "-A CRYPTOBOT-INPUT -p {icmp_proto} -m {icmp_proto_mod} {icmp_opt} {} -j ACCEPT",
            t.iptables,
            icmp_proto_mod = if family == Family::V4 {
                "icmp"
            } else {
                "icmp6"
            }
        ));
    }
    match family {
        Family::V4 => a("-A CRYPTOBOT-INPUT -p udp -m udp --sport 67 --dport 68 -j ACCEPT"),
        Family::V6 => {
            a("-A CRYPTOBOT-INPUT -s fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT")
        }
    }
    a(&format!(
        "-A CRYPTOBOT-INPUT -p tcp -m multiport --dports {} -m conntrack --ctstate NEW -j CRYPTOBOT-SSH",
        joined(&rules.ssh_ports, ",")
    ));
    if !rules.public.is_empty() {
        a(&format!(
            "-A CRYPTOBOT-INPUT -p tcp -m multiport --dports {} -m conntrack --ctstate NEW -j ACCEPT",
            joined(&rules.public_ports(), ",")
        ));
    }
    match multicast {
        None => {
            a("-A CRYPTOBOT-INPUT -m addrtype --dst-type BROADCAST -j DROP");
            a("-A CRYPTOBOT-INPUT -m addrtype --dst-type MULTICAST -j DROP");
        }
        Some(block) => a(&format!("-A CRYPTOBOT-INPUT -d {block} -j DROP")),
    }
    a(&format!(
        "-A CRYPTOBOT-INPUT {log} -j LOG --log-prefix \"{LOG_PREFIX}\" --log-level 6"
    ));
    a("-A CRYPTOBOT-INPUT -j DROP");

    let rate = rules.ssh_rate_per_minute;
    a(&format!(
        "-A CRYPTOBOT-SSH -m hashlimit --hashlimit-upto {rate}/min --hashlimit-burst {rate} --hashlimit-mode srcip --hashlimit-name cryptobot-ssh{} --hashlimit-htable-expire 60000 -j ACCEPT",
        if family == Family::V4 { "4" } else { "6" }
    ));
    a(&format!(
        "-A CRYPTOBOT-SSH {log} -j LOG --log-prefix \"{SSH_LIMIT_LOG_PREFIX}\" --log-level 6"
    ));
    a("-A CRYPTOBOT-SSH -j DROP");

    if let Some(e) = &rules.egress {
        a("-A CRYPTOBOT-OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
        a("-A CRYPTOBOT-OUTPUT -m conntrack --ctstate INVALID -j DROP");
        a("-A CRYPTOBOT-OUTPUT -o lo -j ACCEPT");
        for t in icmp_types(family).iter().filter(|t| t.outbound) {
            a(&format!(
                "-A CRYPTOBOT-OUTPUT -p {icmp_proto} -m {m} {icmp_opt} {} -j ACCEPT",
                t.iptables,
                m = if family == Family::V4 {
                    "icmp"
                } else {
                    "icmp6"
                }
            ));
        }
        match family {
            Family::V4 => a("-A CRYPTOBOT-OUTPUT -p udp -m udp --sport 68 --dport 67 -j ACCEPT"),
            Family::V6 => a("-A CRYPTOBOT-OUTPUT -p udp -m udp --sport 546 --dport 547 -j ACCEPT"),
        }
        for ip in of_family(&e.dns, family) {
            a(&format!(
                "-A CRYPTOBOT-OUTPUT -d {ip} -p udp -m udp --dport 53 -j ACCEPT"
            ));
            a(&format!(
                "-A CRYPTOBOT-OUTPUT -d {ip} -p tcp -m tcp --dport 53 -j ACCEPT"
            ));
        }
        for ip in of_family(&e.ntp, family) {
            a(&format!(
                "-A CRYPTOBOT-OUTPUT -d {ip} -p udp -m udp --dport 123 -j ACCEPT"
            ));
        }
        for ip in of_family(&e.https, family) {
            a(&format!(
                "-A CRYPTOBOT-OUTPUT -d {ip} -p tcp -m tcp --dport 443 -j ACCEPT"
            ));
        }
        a(&format!(
            "-A CRYPTOBOT-OUTPUT {log} -j LOG --log-prefix \"{LOG_PREFIX}\" --log-level 6"
        ));
        a("-A CRYPTOBOT-OUTPUT -j DROP");
    } else {
        o.push_str("# Outbound is open: CRYPTOBOT-OUTPUT stays empty (returns to OUTPUT).\n");
    }
    o.push_str("COMMIT\n");
    o
}
