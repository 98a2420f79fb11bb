//! nftables: one table, `inet cryptobot`, for IPv4 and IPv6 at once.
//!
//! The file starts with `table inet cryptobot {}` and `delete table inet
//! cryptobot`, so `nft -f` replaces the table in one transaction whether it
//! existed or not. It never flushes the ruleset: tables of other tools
//! (Docker, libvirt, fail2ban) are left alone. A packet must be accepted by
//! every base chain on its hook, so another table cannot open what this
//! one drops.

use std::fmt::Write as _;
use std::net::IpAddr;

use cryptobot_plan::Rendered;

use super::header::{header, joined};
use crate::rules::{
    Family, LOG_PREFIX, RuleSet, SSH_LIMIT_LOG_PREFIX, Target, icmp_types, of_family,
};

/// Name of the table.
pub const TABLE: &str = "inet cryptobot";

/// `cryptobot.nft`.
pub fn rendered(rules: &RuleSet) -> Rendered {
    Rendered {
        name: "cryptobot.nft",
        purpose: "load with `nft -f cryptobot.nft` (replaces the table `inet cryptobot` atomically; check first with `nft -c -f`); for boot, include it from /etc/nftables.conf".into(),
        content: render(rules),
        executable: false,
    }
}

fn set_of(items: &[IpAddr]) -> String {
    format!("{{ {} }}", joined(items, ", "))
}

fn ports(p: &[u16]) -> String {
    format!("{{ {} }}", joined(p, ", "))
}

/// The limit that keeps a flood of drops from flooding the log.
fn log_limit(rules: &RuleSet) -> String {
    format!(
        "limit rate {r}/minute burst {r} packets",
        r = rules.log_rate_per_minute
    )
}

fn icmp_rules(out: &mut String, outbound: bool) {
    for (family, keyword) in [(Family::V4, "icmp"), (Family::V6, "icmpv6")] {
        let names: Vec<&str> = icmp_types(family)
            .iter()
            .filter(|t| !outbound || t.outbound)
            .map(|t| t.nft)
            .collect();
        let _ = writeln!(out, "\t\t{keyword} type {{ {} }} accept", names.join(", "));
    }
}

/// The file's content.
pub fn render(rules: &RuleSet) -> String {
    let mut o = String::new();
    o.push_str("#!/usr/sbin/nft -f\n");
    o.push_str(&header("#", Target::Nftables, rules));
    o.push_str(
        "#\n\
         # Load:   nft -f cryptobot.nft     (check first: nft -c -f cryptobot.nft)\n\
         # Remove: nft delete table inet cryptobot\n\
         \n\
         # Create the table if it is missing, then delete it: loading this file\n\
         # replaces the table in one transaction, and never touches other tables.\n\
         table inet cryptobot {}\n\
         delete table inet cryptobot\n\
         \n\
         table inet cryptobot {\n",
    );
    let rate = rules.ssh_rate_per_minute;
    o.push_str("\t# Sources of new SSH connections, each address with its own rate limit.\n");
    for (family, ty) in [(Family::V4, "ipv4_addr"), (Family::V6, "ipv6_addr")] {
        let v = if family == Family::V4 { "v4" } else { "v6" };
        let _ = write!(
            o,
            "\tset ssh_limit_{v} {{\n\
             \t\ttype {ty}\n\
             \t\tflags dynamic\n\
             \t\ttimeout 1m\n\
             \t\tsize 65536\n\
             \t}}\n\n"
        );
    }
    if let Some(e) = &rules.egress {
        for (family, ty) in [(Family::V4, "ipv4_addr"), (Family::V6, "ipv6_addr")] {
            let v = if family == Family::V4 { "v4" } else { "v6" };
            let addrs = of_family(&e.https, family);
            let _ = write!(
                o,
                "\t# Resolved addresses of {}.\n\
                 \tset egress_https_{v} {{\n\
                 \t\ttype {ty}\n",
                e.hosts.join(", ")
            );
            if !addrs.is_empty() {
                let _ = writeln!(o, "\t\telements = {}", set_of(&addrs));
            }
            o.push_str("\t}\n\n");
        }
    }

    // Inbound.
    o.push_str(
        "\tchain input {\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tct state established,related accept\n\
         \t\tct state invalid drop\n\
         \t\tiif lo accept\n\
         \t\t# Loopback addresses arrive on lo only.\n\
         \t\tip daddr 127.0.0.0/8 drop\n\
         \t\tip6 daddr ::1 drop\n\
         \t\t# ICMP errors, echo, and IPv6 neighbour discovery and MLD (IPv6 breaks without them).\n",
    );
    icmp_rules(&mut o, false);
    o.push_str(
        "\t\t# DHCP replies.\n\
         \t\tudp sport 67 udp dport 68 accept\n\
         \t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n",
    );
    let ssh = ports(&rules.ssh_ports);
    let _ = write!(
        o,
        "\t\t# SSH, at most {rate} new connections per source address and minute.\n\
         \t\ttcp dport {ssh} ct state new update @ssh_limit_v4 {{ ip saddr limit rate over {rate}/minute burst {rate} packets }} jump ssh_over_limit\n\
         \t\ttcp dport {ssh} ct state new update @ssh_limit_v6 {{ ip6 saddr limit rate over {rate}/minute burst {rate} packets }} jump ssh_over_limit\n\
         \t\ttcp dport {ssh} ct state new accept\n"
    );
    if rules.public.is_empty() {
        o.push_str("\t\t# No service is public.\n");
    } else {
        let names: Vec<String> = rules
            .public
            .iter()
            .map(|p| format!("{} {}", p.name, p.port))
            .collect();
        let _ = write!(
            o,
            "\t\t# Public services: {}.\n\
             \t\ttcp dport {} ct state new accept\n",
            names.join(", "),
            ports(&rules.public_ports())
        );
    }
    let local: Vec<String> = rules
        .loopback_only
        .iter()
        .map(|p| format!("{} {}", p.name, p.port))
        .collect();
    let _ = write!(
        o,
        "\t\t# Not opened (loopback only): {}.\n\
         \t\t# Broadcast and multicast noise is dropped without a log line.\n\
         \t\tfib daddr type {{ broadcast, multicast }} drop\n\
         \t\t{} log prefix \"{LOG_PREFIX}\" level info\n\
         \t\tcounter drop\n\
         \t}}\n\n",
        local.join(", "),
        log_limit(rules)
    );
    let _ = write!(
        o,
        "\tchain ssh_over_limit {{\n\
         \t\t{} log prefix \"{SSH_LIMIT_LOG_PREFIX}\" level info\n\
         \t\tcounter drop\n\
         \t}}\n",
        log_limit(rules)
    );

    // Outbound.
    if let Some(e) = &rules.egress {
        o.push_str(
            "\n\tchain output {\n\
             \t\ttype filter hook output priority filter; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tct state invalid drop\n\
             \t\toif lo accept\n\
             \t\t# ICMP errors, echo, and IPv6 neighbour discovery and MLD reports.\n",
        );
        icmp_rules(&mut o, true);
        o.push_str(
            "\t\t# DHCP requests.\n\
             \t\tudp sport 68 udp dport 67 accept\n\
             \t\tudp sport 546 udp dport 547 accept\n",
        );
        o.push_str("\t\t# DNS to the resolvers, NTP to the time servers.\n");
        for (family, keyword) in [(Family::V4, "ip"), (Family::V6, "ip6")] {
            let dns = of_family(&e.dns, family);
            if !dns.is_empty() {
                let _ = writeln!(
                    o,
                    "\t\t{keyword} daddr {} meta l4proto {{ tcp, udp }} th dport 53 accept",
                    set_of(&dns)
                );
            }
            let ntp = of_family(&e.ntp, family);
            if !ntp.is_empty() {
                let _ = writeln!(
                    o,
                    "\t\t{keyword} daddr {} udp dport 123 accept",
                    set_of(&ntp)
                );
            }
        }
        let _ = write!(
            o,
            "\t\t# HTTPS to the exchange APIs; everything else is logged and dropped.\n\
             \t\tip daddr @egress_https_v4 tcp dport 443 accept\n\
             \t\tip6 daddr @egress_https_v6 tcp dport 443 accept\n\
             \t\t{} log prefix \"{LOG_PREFIX}\" level info\n\
             \t\tcounter drop\n\
             \t}}\n",
            log_limit(rules)
        );
    }
    o.push_str("}\n");
    o
}
