//! ufw: a shell script of `ufw` commands.
//!
//! Every rule it adds carries the comment `cryptobot …`; a run first
//! deletes the rules an earlier run added (newest first), so rules of
//! ports that are no longer public disappear. ufw's own `before.rules`
//! already accept established traffic, loopback, DHCP replies and the
//! ICMP/ICMPv6 messages IPv4 and IPv6 need, so the script only sets the
//! defaults and adds the ports. Every value written into the script is a
//! number or an address, never configured text.

use std::fmt::Write as _;

use super::{RuleSet, Target, header};
use crate::platforms::Rendered;

/// The comment every rule carries; the cleanup matches on it.
pub const COMMENT: &str = "cryptobot";

/// `cryptobot-ufw.sh`.
pub fn rendered(rules: &RuleSet) -> Rendered {
    Rendered {
        name: "cryptobot-ufw.sh",
        purpose: "run as root: sh cryptobot-ufw.sh (sets ufw's defaults, replaces the rules it added before, enables ufw)".into(),
        content: render(rules),
        executable: true,
    }
}

/// The script.
pub fn render(rules: &RuleSet) -> String {
    let mut o = String::from("#!/bin/sh\n");
    o.push_str(&header("#", Target::Ufw, rules));
    o.push_str(
        "#\n\
         # Run as root: sh cryptobot-ufw.sh\n\
         # ufw's before.rules already accept established traffic, loopback, DHCP replies\n\
         # and the ICMP/ICMPv6 messages IPv4 and IPv6 need (neighbour discovery).\n\
         # Dropped packets are logged by ufw itself (`ufw logging low`, prefix \"[UFW BLOCK]\").\n\
         set -eu\n\
         \n\
         if ! command -v ufw >/dev/null 2>&1; then\n\
         \techo \"cryptobot-ufw.sh: ufw is not installed\" >&2\n\
         \texit 1\n\
         fi\n\
         \n\
         # Delete the rules an earlier run added (comment \"cryptobot ...\"), highest number first.\n\
         ufw status numbered \\\n\
         \t| sed -n 's/^\\[ *\\([0-9][0-9]*\\)\\].*# cryptobot\\( .*\\)\\{0,1\\}$/\\1/p' \\\n\
         \t| sort -rn \\\n\
         \t| while read -r n; do ufw --force delete \"$n\" >/dev/null; done\n\
         \n\
         ufw default deny incoming\n",
    );
    let _ = writeln!(
        o,
        "ufw default {} outgoing",
        if rules.egress.is_some() {
            "deny"
        } else {
            "allow"
        }
    );
    o.push_str("ufw logging low\n\n");
    let _ = writeln!(
        o,
        "# SSH: `ufw limit` refuses an address's 7th new connection within 30 seconds\n\
         # (ufw's fixed rate; firewall.ssh_rate_limit_per_minute = {} applies to the other backends).",
        rules.ssh_rate_per_minute
    );
    for port in &rules.ssh_ports {
        let _ = writeln!(o, "ufw limit {port}/tcp comment '{COMMENT} ssh'");
    }
    if !rules.public.is_empty() {
        o.push_str("\n# Public services.\n");
    }
    for p in &rules.public {
        let _ = writeln!(o, "ufw allow {}/tcp comment '{COMMENT} {}'", p.port, p.name);
    }
    o.push_str(
        "\n# Loopback only: refused from the network even if another rule allows the port\n\
         # (loopback traffic is accepted by before.rules and never reaches these).\n",
    );
    for p in &rules.loopback_only {
        let _ = writeln!(
            o,
            "ufw prepend deny {}/tcp comment '{COMMENT} {} loopback only'",
            p.port, p.name
        );
    }
    if let Some(e) = &rules.egress {
        o.push_str(
            "\n# Outbound allow-list. DHCP requests, then DNS, NTP and HTTPS to the listed addresses.\n",
        );
        let _ = writeln!(o, "ufw allow out 67/udp comment '{COMMENT} dhcp'");
        let _ = writeln!(o, "ufw allow out 547/udp comment '{COMMENT} dhcpv6'");
        for ip in &e.dns {
            for proto in ["udp", "tcp"] {
                let _ = writeln!(
                    o,
                    "ufw allow out to {ip} port 53 proto {proto} comment '{COMMENT} dns'"
                );
            }
        }
        for ip in &e.ntp {
            let _ = writeln!(
                o,
                "ufw allow out to {ip} port 123 proto udp comment '{COMMENT} ntp'"
            );
        }
        if !e.hosts.is_empty() {
            let _ = writeln!(o, "# HTTPS: {}.", e.hosts.join(", "));
        }
        for ip in &e.https {
            let _ = writeln!(
                o,
                "ufw allow out to {ip} port 443 proto tcp comment '{COMMENT} https'"
            );
        }
    }
    o.push_str("\nufw --force enable\nufw status verbose\n");
    o
}
