//! Windows Defender Firewall: a PowerShell script of `NetSecurity` cmdlets.
//!
//! Every rule it creates is named `Cryptobot …` and is in the group
//! `Cryptobot`; a run first removes the rules an earlier run created.
//! Windows Firewall is stateful and never filters loopback traffic, so
//! replies and local connections need no rule. Block rules win over allow
//! rules there, so the loopback-only services get explicit block rules
//! that also override an allow rule an installer may have added. Windows
//! cannot limit new connections per source address: SSH is opened without
//! a rate limit.

use std::fmt::Write as _;
use std::net::IpAddr;

use cryptobot_plan::Rendered;

use super::header::{header, joined};
use crate::rules::{Family, RuleSet, Target, icmp_types};

/// Prefix of every rule's display name.
pub const RULE_PREFIX: &str = "Cryptobot";

/// `cryptobot-firewall.ps1`.
pub fn rendered(rules: &RuleSet) -> Rendered {
    Rendered {
        name: "cryptobot-firewall.ps1",
        purpose: "run in an elevated PowerShell: replaces the `Cryptobot *` firewall rules and blocks inbound by default".into(),
        content: render(rules),
        executable: true,
    }
}

fn addresses(list: &[IpAddr]) -> String {
    list.iter()
        .map(|ip| format!("'{ip}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The script.
pub fn render(rules: &RuleSet) -> String {
    let mut o = header("#", Target::Windows, rules);
    o.push_str(
        "#\n\
         # Run in an elevated PowerShell: powershell -ExecutionPolicy Bypass -File cryptobot-firewall.ps1\n\
         #Requires -RunAsAdministrator\n\
         $ErrorActionPreference = 'Stop'\n\
         \n\
         # Remove the rules an earlier run created.\n\
         Get-NetFirewallRule -DisplayName 'Cryptobot *' -ErrorAction SilentlyContinue | Remove-NetFirewallRule\n\
         \n",
    );
    let outbound = if rules.egress.is_some() {
        "Block"
    } else {
        "Allow"
    };
    let _ = writeln!(
        o,
        "# Default deny inbound on every profile; blocked packets are logged\n\
         # (%SystemRoot%\\System32\\LogFiles\\Firewall\\pfirewall.log).\n\
         Set-NetFirewallProfile -Profile Domain,Private,Public -Enabled True -DefaultInboundAction Block -DefaultOutboundAction {outbound} -LogBlocked True -LogMaxSizeKilobytes 16384\n"
    );
    let common = "-Group 'Cryptobot' -Profile Any -Enabled True";
    let _ = writeln!(
        o,
        "# SSH (Windows cannot limit new connections per address: no rate limit here).\n\
         New-NetFirewallRule -DisplayName '{RULE_PREFIX} SSH' {common} -Direction Inbound -Protocol TCP -LocalPort {} -Action Allow | Out-Null",
        joined(&rules.ssh_ports, ",")
    );
    for p in &rules.public {
        let _ = writeln!(
            o,
            "New-NetFirewallRule -DisplayName '{RULE_PREFIX} {}' {common} -Direction Inbound -Protocol TCP -LocalPort {} -Action Allow | Out-Null",
            p.name, p.port
        );
    }
    o.push_str(
        "\n# Loopback only: blocked from the network (block rules win over any allow rule;\n\
         # loopback traffic is never filtered).\n",
    );
    for p in &rules.loopback_only {
        let _ = writeln!(
            o,
            "New-NetFirewallRule -DisplayName '{RULE_PREFIX} {} loopback only' {common} -Direction Inbound -Protocol TCP -LocalPort {} -Action Block | Out-Null",
            p.name, p.port
        );
    }
    o.push_str("\n# ICMP errors and echo; IPv6 neighbour discovery and MLD.\n");
    for (direction, outbound_only) in [("Inbound", false), ("Outbound", true)] {
        if outbound_only && rules.egress.is_none() {
            continue;
        }
        for (family, proto) in [(Family::V4, "ICMPv4"), (Family::V6, "ICMPv6")] {
            for t in icmp_types(family)
                .iter()
                .filter(|t| !outbound_only || t.outbound)
            {
                let _ = writeln!(
                    o,
                    "New-NetFirewallRule -DisplayName '{RULE_PREFIX} {proto} {} {}' {common} -Direction {direction} -Protocol {proto} -IcmpType {} -Action Allow | Out-Null",
                    t.nft,
                    direction.to_ascii_lowercase(),
                    t.number
                );
            }
        }
    }
    if let Some(e) = &rules.egress {
        o.push_str("\n# Outbound allow-list: DHCP, DNS, NTP, HTTPS to the exchange APIs.\n");
        let _ = writeln!(
            o,
            "New-NetFirewallRule -DisplayName '{RULE_PREFIX} out DHCP' {common} -Direction Outbound -Protocol UDP -RemotePort 67,547 -Action Allow | Out-Null"
        );
        if !e.dns.is_empty() {
            for proto in ["UDP", "TCP"] {
                let _ = writeln!(
                    o,
                    "New-NetFirewallRule -DisplayName '{RULE_PREFIX} out DNS {proto}' {common} -Direction Outbound -Protocol {proto} -RemotePort 53 -RemoteAddress {} -Action Allow | Out-Null",
                    addresses(&e.dns)
                );
            }
        }
        if !e.ntp.is_empty() {
            let _ = writeln!(
                o,
                "New-NetFirewallRule -DisplayName '{RULE_PREFIX} out NTP' {common} -Direction Outbound -Protocol UDP -RemotePort 123 -RemoteAddress {} -Action Allow | Out-Null",
                addresses(&e.ntp)
            );
        }
        if !e.https.is_empty() {
            let _ = writeln!(
                o,
                "# HTTPS: {}.\n\
                 New-NetFirewallRule -DisplayName '{RULE_PREFIX} out HTTPS' {common} -Direction Outbound -Protocol TCP -RemotePort 443 -RemoteAddress {} -Action Allow | Out-Null",
                e.hosts.join(", "),
                addresses(&e.https)
            );
        }
    }
    o.push_str(
        "\nGet-NetFirewallRule -DisplayName 'Cryptobot *' | Format-Table -AutoSize DisplayName, Direction, Action\n",
    );
    o
}
