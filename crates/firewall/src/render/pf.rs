//! macOS pf: the rules of an anchor `cryptobot`, loaded from
//! `/etc/pf.anchors/cryptobot` by two lines in `/etc/pf.conf`.
//!
//! pf keeps state for every passed connection (`keep state`), so replies
//! need no rule; `max-src-conn-rate` limits new SSH connections per source
//! address. pf has no log prefix: dropped packets go to `pflog0` (read
//! them with `tcpdump -n -e -ttt -i pflog0`), so the fail2ban port-scan
//! jail does not apply on macOS.

use std::fmt::Write as _;

use cryptobot_plan::Rendered;

use super::header::{header, joined};
use crate::rules::{Family, RuleSet, Target, icmp_types};

/// Anchor name.
pub const ANCHOR: &str = "cryptobot";

/// `cryptobot.pf`.
pub fn rendered(rules: &RuleSet) -> Rendered {
    Rendered {
        name: "cryptobot.pf",
        purpose:
            "/etc/pf.anchors/cryptobot on macOS; its header says which two lines /etc/pf.conf needs"
                .into(),
        content: render(rules),
        executable: false,
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    format!("{{ {} }}", joined(items, ", "))
}

fn icmp_rule(o: &mut String, direction: &str, outbound: bool) {
    for (family, af, proto, keyword) in [
        (Family::V4, "inet", "icmp", "icmp-type"),
        (Family::V6, "inet6", "icmp6", "icmp6-type"),
    ] {
        let names: Vec<&str> = icmp_types(family)
            .iter()
            .filter(|t| !outbound || t.outbound)
            .map(|t| t.pf)
            .collect();
        let _ = writeln!(
            o,
            "pass {direction} quick {af} proto {proto} {keyword} {} keep state",
            list(&names)
        );
    }
}

/// The anchor's rules.
pub fn render(rules: &RuleSet) -> String {
    let mut o = header("#", Target::Pf, rules);
    o.push_str(
        "#\n\
         # Install (as root):\n\
         #   cp cryptobot.pf /etc/pf.anchors/cryptobot\n\
         #   and add these two lines to /etc/pf.conf, after its other anchors:\n\
         #     anchor \"cryptobot\"\n\
         #     load anchor \"cryptobot\" from \"/etc/pf.anchors/cryptobot\"\n\
         #   pfctl -vnf /etc/pf.conf     (check)\n\
         #   pfctl -f /etc/pf.conf && pfctl -E\n\
         # Reload only this anchor: pfctl -a cryptobot -f /etc/pf.anchors/cryptobot\n\
         # Dropped packets are logged to pflog0 (pf has no log prefix).\n\
         \n",
    );
    if let Some(e) = &rules.egress {
        for (name, addrs) in [
            ("cryptobot_dns", &e.dns),
            ("cryptobot_ntp", &e.ntp),
            ("cryptobot_https", &e.https),
        ] {
            if addrs.is_empty() {
                let _ = writeln!(o, "table <{name}> const persist");
            } else {
                let _ = writeln!(o, "table <{name}> const {}", list(addrs));
            }
        }
        o.push('\n');
    }
    o.push_str(
        "# Inbound: default deny.\n\
         block drop in log all\n\
         pass quick on lo0 all\n\
         # Loopback addresses arrive on lo0 only.\n\
         block drop in quick from 127.0.0.0/8\n\
         block drop in quick inet6 from ::1\n\
         # ICMP errors, echo, and IPv6 neighbour discovery and MLD (IPv6 breaks without them).\n",
    );
    icmp_rule(&mut o, "in", false);
    o.push_str(
        "# DHCP replies.\n\
         pass in quick inet proto udp from port 67 to port 68 keep state\n\
         pass in quick inet6 proto udp from fe80::/10 port 547 to port 546 keep state\n",
    );
    let rate = rules.ssh_rate_per_minute;
    let _ = writeln!(
        o,
        "# SSH, at most {rate} new connections per source address and minute.\n\
         pass in quick proto tcp to port {} flags S/SA keep state (max-src-conn-rate {rate}/60)",
        list(&rules.ssh_ports)
    );
    if !rules.public.is_empty() {
        let names: Vec<String> = rules
            .public
            .iter()
            .map(|p| format!("{} {}", p.name, p.port))
            .collect();
        let _ = writeln!(
            o,
            "# Public services: {}.\n\
             pass in quick proto tcp to port {} flags S/SA keep state",
            names.join(", "),
            list(&rules.public_ports())
        );
    }
    let local: Vec<String> = rules
        .loopback_only
        .iter()
        .map(|p| format!("{} {}", p.name, p.port))
        .collect();
    let _ = writeln!(o, "# Not opened (loopback only): {}.", local.join(", "));

    match &rules.egress {
        None => o.push_str("\n# Outbound: open.\npass out all keep state\n"),
        Some(e) => {
            let _ = writeln!(
                o,
                "\n# Outbound: allow-list; everything else is logged and dropped.\n\
                 block drop out log all"
            );
            icmp_rule(&mut o, "out", true);
            o.push_str(
                "pass out quick inet proto udp from port 68 to port 67 keep state\n\
                 pass out quick inet6 proto udp from port 546 to port 547 keep state\n\
                 pass out quick proto { udp, tcp } to <cryptobot_dns> port 53 keep state\n\
                 pass out quick proto udp to <cryptobot_ntp> port 123 keep state\n",
            );
            let _ = writeln!(
                o,
                "# HTTPS: {}.\n\
                 pass out quick proto tcp to <cryptobot_https> port 443 flags S/SA keep state",
                e.hosts.join(", ")
            );
        }
    }
    o
}
