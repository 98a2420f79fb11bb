//! firewalld: a zone (`zones/cryptobot.xml`) and an outbound policy
//! (`policies/cryptobot-egress.xml`, firewalld 0.9 or later).
//!
//! The zone's target is `DROP`; `icmp-block-inversion` turns its
//! `icmp-block` list into the ICMP types that are allowed. firewalld
//! itself accepts established traffic, loopback and neighbour
//! discovery before any zone. A rich rule with the highest priority logs
//! what the zone is about to drop with [`LOG_PREFIX`]. firewalld cannot
//! limit new connections per source address (a rich-rule limit counts all
//! sources together, which would let anyone use up SSH's budget), so SSH
//! is opened without a limit here: fail2ban's `sshd` jail covers password
//! guessing. With an open outbound policy the policy file is still
//! written, with target `CONTINUE`, so it replaces an earlier allow-list.
//!
//! `cryptobot firewall apply --backend firewalld` writes both files, reloads
//! and makes the zone the default zone; [`MANAGED`] lists the files it saves
//! and puts back, [`active_zones`] and [`uncovered`] read
//! `firewall-cmd --get-active-zones` for the warning about interfaces bound
//! to other zones.

use std::fmt::Write as _;
use std::net::IpAddr;

use cryptobot_plan::Rendered;

use super::header::header_with;
use crate::managed::{Managed, ManagedFile};
use crate::rules::{Family, LOG_PREFIX, RuleSet, Target, icmp_types};

/// The zone's name (`zones/cryptobot.xml`), made the default zone.
pub const ZONE: &str = "cryptobot";
/// The outbound policy's name.
pub const POLICY: &str = "cryptobot-egress";
/// Where firewalld keeps its permanent configuration.
pub const CONF: &str = "/etc/firewalld/firewalld.conf";
/// The copy of the replaced firewalld.conf firewalld keeps.
pub const CONF_OLD: &str = "/etc/firewalld/firewalld.conf.old";

/// The files `cryptobot firewall apply --backend firewalld` writes (the
/// zone and the policy, usually absent before the first apply) and the one
/// `firewall-cmd --set-default-zone` rewrites; `firewall-cmd --reload`
/// loads them into the running firewalld.
pub const MANAGED: Managed = Managed {
    name: "firewalld",
    tool: "firewall-cmd",
    package: "firewalld",
    files: &[
        ManagedFile {
            key: "zone.xml",
            path: "/etc/firewalld/zones/cryptobot.xml",
            mode: 0o644,
            required: false,
        },
        ManagedFile {
            key: "policy.xml",
            path: "/etc/firewalld/policies/cryptobot-egress.xml",
            mode: 0o644,
            required: false,
        },
        ManagedFile {
            key: "firewalld.conf",
            path: CONF,
            mode: 0o644,
            required: true,
        },
        // firewalld keeps the file it replaces as `.old` when it rewrites
        // firewalld.conf; a rollback puts that back too.
        ManagedFile {
            key: "firewalld.conf.old",
            path: CONF_OLD,
            mode: 0o644,
            required: false,
        },
    ],
    reload: &["--reload"],
    disable: &[],
};

/// The argument vectors apply runs after writing the zone and the policy.
pub fn commands() -> Vec<Vec<String>> {
    vec![
        vec!["--reload".to_string()],
        vec![format!("--set-default-zone={ZONE}")],
    ]
}

/// `DefaultZone=` of a firewalld.conf (`None` when it is not set, which
/// firewalld reads as `public`).
pub fn default_zone(conf: &str) -> Option<&str> {
    conf.lines().find_map(|l| {
        let (k, v) = l.trim().split_once('=')?;
        (k.trim() == "DefaultZone")
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// firewalld.conf with `DefaultZone=zone` (the line replaced, or appended
/// when there is none): what `firewall-cmd --set-default-zone` leaves, for
/// the dry run's diff.
pub fn with_default_zone(conf: &str, zone: &str) -> String {
    let mut found = false;
    let mut out = String::new();
    for l in conf.lines() {
        if !found
            && l.trim()
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == "DefaultZone")
        {
            found = true;
            out.push_str(&format!("DefaultZone={zone}\n"));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("DefaultZone={zone}\n"));
    }
    out
}

/// One zone of `firewall-cmd --get-active-zones`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveZone {
    pub name: String,
    pub interfaces: Vec<String>,
    pub sources: Vec<String>,
}

/// Parses `firewall-cmd --get-active-zones`: a zone name per line (newer
/// versions append ` (default)` or ` (active)`), then indented
/// `interfaces: …` and `sources: …` lines.
pub fn active_zones(listing: &str) -> Vec<ActiveZone> {
    let mut zones: Vec<ActiveZone> = Vec::new();
    for line in listing.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        if !indented {
            let name = line.split_whitespace().next().unwrap_or_default();
            zones.push(ActiveZone {
                name: name.to_string(),
                ..ActiveZone::default()
            });
            continue;
        }
        let Some(zone) = zones.last_mut() else {
            continue;
        };
        if let Some((key, values)) = line.trim().split_once(':') {
            let values = values.split_whitespace().map(str::to_string);
            match key.trim() {
                "interfaces" => zone.interfaces.extend(values),
                "sources" => zone.sources.extend(values),
                _ => {}
            }
        }
    }
    zones
}

/// Warnings for the interfaces and sources bound to a zone other than
/// [`ZONE`]: the default zone does not cover their traffic.
pub fn uncovered(zones: &[ActiveZone]) -> Vec<String> {
    zones
        .iter()
        .filter(|z| z.name != ZONE && (!z.interfaces.is_empty() || !z.sources.is_empty()))
        .map(|z| {
            let mut what = Vec::new();
            if !z.interfaces.is_empty() {
                what.push(format!("interfaces {}", z.interfaces.join(", ")));
            }
            if !z.sources.is_empty() {
                what.push(format!("sources {}", z.sources.join(", ")));
            }
            format!(
                "{} {} bound to zone {}, not to the default zone {ZONE}: cryptobot's rules do not cover them (`firewall-cmd --zone={ZONE} --change-interface=IFACE --permanent` moves an interface)",
                what.join(" and "),
                if z.interfaces.len() + z.sources.len() == 1 { "is" } else { "are" },
                z.name
            )
        })
        .collect()
}

/// `zones/cryptobot.xml` and `policies/cryptobot-egress.xml`.
pub fn rendered(rules: &RuleSet) -> Vec<Rendered> {
    vec![
        Rendered {
            name: "zones/cryptobot.xml",
            purpose: "/etc/firewalld/zones/cryptobot.xml; then `firewall-cmd --reload` and `firewall-cmd --set-default-zone=cryptobot` (or bind interfaces to it)".into(),
            content: zone(rules),
            executable: false,
        },
        Rendered {
            name: "policies/cryptobot-egress.xml",
            purpose: "/etc/firewalld/policies/cryptobot-egress.xml (firewalld 0.9+); then `firewall-cmd --reload`".into(),
            content: policy(rules),
            executable: false,
        },
    ]
}

fn comment(rules: &RuleSet) -> String {
    // An XML comment may not contain "--": the command is spelled out, and
    // a host name with a double hyphen (IDNA `xn--`) is split in the text.
    let mut text = header_with(
        "  ",
        Target::Firewalld,
        "  `cryptobot firewall render`, options backend firewalld and out DIR (each with two leading dashes)",
        rules,
    );
    while text.contains("--") {
        text = text.replace("--", "- -");
    }
    format!("<!--\n{text}-->\n")
}

fn family_of(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() { "ipv4" } else { "ipv6" }
}

fn log_rule(rules: &RuleSet) -> String {
    format!(
        "  <!-- Logs what the target is about to drop (highest priority: evaluated last). -->\n  \
         <rule priority=\"32767\">\n    \
         <log prefix=\"{LOG_PREFIX}\" level=\"info\">\n      \
         <limit value=\"{}/m\"/>\n    \
         </log>\n  \
         </rule>\n",
        rules.log_rate_per_minute
    )
}

/// The zone.
pub fn zone(rules: &RuleSet) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    o.push_str(&comment(rules));
    o.push_str(
        "<zone target=\"DROP\">\n  \
         <short>Cryptobot</short>\n  \
         <description>Default deny; SSH, the public Cryptobot services and essential ICMP only. Generated by cryptobot.</description>\n  \
         <!-- The icmp-block entries below are the ICMP types that are ALLOWED. -->\n  \
         <icmp-block-inversion/>\n",
    );
    let mut seen = Vec::new();
    for t in Family::BOTH.iter().flat_map(|f| icmp_types(*f)) {
        if let Some(name) = t.firewalld()
            && !seen.contains(&name)
        {
            seen.push(name);
            let _ = writeln!(o, "  <icmp-block name=\"{name}\"/>");
        }
    }
    o.push_str("  <!-- DHCPv6 replies. -->\n  <service name=\"dhcpv6-client\"/>\n");
    let _ = writeln!(
        o,
        "  <!-- SSH (no per-address limit in firewalld: fail2ban's sshd jail covers guessing). -->"
    );
    for port in &rules.ssh_ports {
        let _ = writeln!(o, "  <port port=\"{port}\" protocol=\"tcp\"/>");
    }
    for p in &rules.public {
        let _ = writeln!(
            o,
            "  <!-- {} -->\n  <port port=\"{}\" protocol=\"tcp\"/>",
            p.name, p.port
        );
    }
    let local: Vec<String> = rules
        .loopback_only
        .iter()
        .map(|p| format!("{} {}", p.name, p.port))
        .collect();
    let _ = writeln!(
        o,
        "  <!-- Not opened (loopback only): {}. -->",
        local.join(", ")
    );
    o.push_str(
        "  <!-- Broadcast and multicast are dropped without a log line. -->\n  \
         <rule family=\"ipv4\" priority=\"32766\">\n    \
         <destination address=\"224.0.0.0/4\"/>\n    <drop/>\n  </rule>\n  \
         <rule family=\"ipv4\" priority=\"32766\">\n    \
         <destination address=\"255.255.255.255\"/>\n    <drop/>\n  </rule>\n  \
         <rule family=\"ipv6\" priority=\"32766\">\n    \
         <destination address=\"ff00::/8\"/>\n    <drop/>\n  </rule>\n",
    );
    o.push_str(&log_rule(rules));
    o.push_str("</zone>\n");
    o
}

/// The outbound policy (from the host to any zone).
pub fn policy(rules: &RuleSet) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    o.push_str(&comment(rules));
    let Some(e) = &rules.egress else {
        o.push_str(
            "<policy target=\"CONTINUE\">\n  \
             <short>Cryptobot egress</short>\n  \
             <description>Outbound is open (firewall.egress = \"open\"). Generated by cryptobot.</description>\n  \
             <ingress-zone name=\"HOST\"/>\n  \
             <egress-zone name=\"ANY\"/>\n\
             </policy>\n",
        );
        return o;
    };
    o.push_str(
        "<policy target=\"DROP\">\n  \
         <short>Cryptobot egress</short>\n  \
         <description>Outbound allow-list: DNS, NTP, HTTPS to the exchange APIs. Generated by cryptobot.</description>\n  \
         <ingress-zone name=\"HOST\"/>\n  \
         <egress-zone name=\"ANY\"/>\n",
    );
    let mut seen = Vec::new();
    for t in Family::BOTH
        .iter()
        .flat_map(|f| icmp_types(*f))
        .filter(|t| t.outbound)
    {
        if let Some(name) = t.firewalld()
            && !seen.contains(&name)
        {
            seen.push(name);
            let _ = writeln!(
                o,
                "  <rule>\n    <icmp-type name=\"{name}\"/>\n    <accept/>\n  </rule>"
            );
        }
    }
    for port in [67, 547] {
        let _ = writeln!(
            o,
            "  <rule>\n    <port port=\"{port}\" protocol=\"udp\"/>\n    <accept/>\n  </rule>"
        );
    }
    let mut to = |ip: &IpAddr, port: u16, proto: &str, what: &str| {
        let _ = writeln!(
            o,
            "  <rule family=\"{}\">\n    <!-- {what} -->\n    <destination address=\"{ip}\"/>\n    <port port=\"{port}\" protocol=\"{proto}\"/>\n    <accept/>\n  </rule>",
            family_of(ip)
        );
    };
    for ip in &e.dns {
        to(ip, 53, "udp", "DNS");
        to(ip, 53, "tcp", "DNS");
    }
    for ip in &e.ntp {
        to(ip, 123, "udp", "NTP");
    }
    for ip in &e.https {
        to(ip, 443, "tcp", "HTTPS");
    }
    o.push_str(&log_rule(rules));
    o.push_str("</policy>\n");
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn active_zones_are_parsed_with_their_interfaces_and_sources() {
        let listing = "public\n  interfaces: eth0 eth1\ncryptobot (default)\n  interfaces: veth0\ntrusted\n  sources: 10.0.0.0/8\n";
        let zones = active_zones(listing);
        assert_eq!(zones.len(), 3);
        assert_eq!(zones[0].name, "public");
        assert_eq!(zones[0].interfaces, ["eth0", "eth1"]);
        assert_eq!(zones[1].name, "cryptobot");
        assert_eq!(zones[2].sources, ["10.0.0.0/8"]);
        let warnings = uncovered(&zones);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("interfaces eth0, eth1 are bound to zone public"));
        assert!(warnings[1].starts_with("sources 10.0.0.0/8 is bound to zone trusted"));
        assert!(active_zones("").is_empty());
        assert!(uncovered(&active_zones("cryptobot\n  interfaces: eth0\n")).is_empty());
    }

    #[test]
    fn the_default_zone_is_read_and_replaced() {
        let conf = "# comment\n# DefaultZone=x\nDefaultZone=public\nCleanupOnExit=yes\n";
        assert_eq!(default_zone(conf), Some("public"));
        let new = with_default_zone(conf, ZONE);
        assert_eq!(
            new,
            "# comment\n# DefaultZone=x\nDefaultZone=cryptobot\nCleanupOnExit=yes\n"
        );
        assert_eq!(default_zone(&new), Some("cryptobot"));
        assert_eq!(default_zone("DefaultZone=\n"), None);
        assert_eq!(with_default_zone("", ZONE), "DefaultZone=cryptobot\n");
    }

    #[test]
    fn apply_writes_the_rendered_zone_and_policy_then_reloads() {
        let cmds = commands();
        assert_eq!(cmds[0], ["--reload"]);
        assert_eq!(cmds[1], ["--set-default-zone=cryptobot"]);
        // The managed files are where the rendered ones go.
        let rules = crate::rules::rules(
            &cryptobot_config::Config::defaults(&[]).unwrap(),
            &crate::rules::SshPorts::configured(22),
            &[],
        )
        .unwrap();
        for (r, f) in rendered(&rules).iter().zip(MANAGED.files) {
            assert_eq!(f.path, format!("/etc/firewalld/{}", r.name));
        }
    }
}
