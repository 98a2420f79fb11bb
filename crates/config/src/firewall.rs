//! `[firewall]`: what `cryptobot firewall` opens, limits and allows out.
//!
//! The ports to open come from `[services]` (`exposure = "public"`); this
//! section adds SSH, the outbound policy and the backend. Its validation
//! lives here too and is called from [`crate::validate`]. Values that end
//! up in rendered rules and scripts (host names, addresses, ports) are
//! checked strictly here, so no renderer ever sees text that could break
//! out of its syntax.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{Exposure, Settings};

/// Where SSH listens when neither `firewall.ssh_port` nor a `Port` line in
/// `sshd_config` says otherwise.
pub const DEFAULT_SSH_PORT: u16 = 22;

/// `[firewall]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// The SSH port to keep open. Unset: every `Port` of
    /// `<root>/etc/ssh/sshd_config` (and its `Include`s), else 22.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "port_from_int_or_text"
    )]
    pub ssh_port: Option<u16>,
    /// New SSH connections allowed per source address and minute.
    pub ssh_rate_limit_per_minute: u32,
    /// Outbound policy.
    pub egress: Egress,
    /// With `egress = "allowlist"`: hosts reachable over HTTPS (port 443).
    /// Their addresses are resolved when the rules are rendered or applied.
    pub egress_hosts: Vec<String>,
    /// With `egress = "allowlist"`: DNS resolvers (addresses) reachable on
    /// port 53.
    pub egress_dns: Vec<String>,
    /// With `egress = "allowlist"`: NTP servers (addresses) reachable on
    /// UDP port 123.
    pub egress_ntp: Vec<String>,
    /// Which firewall the rules are written for.
    pub backend: FirewallBackend,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall {
            ssh_port: None,
            ssh_rate_limit_per_minute: 6,
            egress: Egress::Open,
            egress_hosts: vec![
                "api.binance.com".into(),
                "api.kraken.com".into(),
                "api.coinbase.com".into(),
                "api.exchange.coinbase.com".into(),
            ],
            egress_dns: Vec::new(),
            egress_ntp: Vec::new(),
            backend: FirewallBackend::Auto,
        }
    }
}

impl Firewall {
    /// `egress_dns` as addresses. Validation guarantees every entry parses;
    /// an entry that does not is left out rather than trusted.
    pub fn dns_addrs(&self) -> Vec<IpAddr> {
        self.egress_dns
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// `egress_ntp` as addresses (see [`Firewall::dns_addrs`]).
    pub fn ntp_addrs(&self) -> Vec<IpAddr> {
        self.egress_ntp
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// Outbound policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    /// Everything may leave the machine.
    Open,
    /// Only DNS, NTP and HTTPS to `egress_hosts` may leave; the rest is
    /// logged and dropped.
    Allowlist,
}

/// The firewall the rules are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallBackend {
    /// nftables on Linux, pf on macOS, Windows Defender Firewall on Windows.
    Auto,
    Nftables,
    Iptables,
    Ufw,
    Firewalld,
    Pf,
    Windows,
}

impl FirewallBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallBackend::Auto => "auto",
            FirewallBackend::Nftables => "nftables",
            FirewallBackend::Iptables => "iptables",
            FirewallBackend::Ufw => "ufw",
            FirewallBackend::Firewalld => "firewalld",
            FirewallBackend::Pf => "pf",
            FirewallBackend::Windows => "windows",
        }
    }
}

/// Accepts `2222` and, for `CRYPTOBOT_FIREWALL__SSH_PORT=2222` (an unset
/// optional key has no type to read the variable as), `"2222"`.
fn port_from_int_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrText {
        Int(i64),
        Text(String),
    }
    let port = match Option::<IntOrText>::deserialize(d)? {
        None => return Ok(None),
        Some(IntOrText::Int(p)) => u16::try_from(p).ok(),
        Some(IntOrText::Text(t)) => t.trim().parse::<u16>().ok(),
    };
    port.map(Some).ok_or_else(|| {
        serde::de::Error::custom("invalid value: a port, expected an integer from 0 to 65535")
    })
}

/// A host name as the firewall takes it: lower-case labels of `a-z`, `0-9`
/// and `-`, separated by dots, at most 253 characters. Nothing else can
/// reach a rendered rule or script.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The message for an SSH port that collides with a service, or `None`.
/// Shared with the firewall planner, which checks the port it read from
/// `sshd_config` the same way.
pub fn ssh_port_conflict(services: &crate::Services, port: u16) -> Option<(String, String)> {
    let (name, svc) = services.iter().into_iter().find(|(_, s)| s.port == port)?;
    Some(match svc.exposure {
        Exposure::Loopback => (
            format!(
                "SSH port {port} is services.{name}'s port, which the firewall keeps loopback-only: it would block SSH"
            ),
            format!(
                "set firewall.ssh_port to the port sshd listens on, or move services.{name}.port"
            ),
        ),
        Exposure::Public => (
            format!(
                "SSH port {port} is also services.{name}'s public port: SSH and the service cannot share it, and the SSH rate limit would throttle the service"
            ),
            format!(
                "set firewall.ssh_port to the port sshd listens on, or move services.{name}.port"
            ),
        ),
    })
}

/// Semantic problems of `[firewall]` as `(key, message, fix)`.
pub(crate) fn problems(s: &Settings) -> Vec<(String, String, String)> {
    let f = &s.firewall;
    let mut out = Vec::new();
    let mut push = |key: &str, message: String, fix: &str| {
        out.push((key.to_string(), message, fix.to_string()));
    };
    if let Some(port) = f.ssh_port {
        if port == 0 {
            push(
                "firewall.ssh_port",
                "port 0 is not a port SSH can listen on".into(),
                "use the port sshd listens on (22 by default), or remove the key to read it from /etc/ssh/sshd_config",
            );
        } else if let Some((message, fix)) = ssh_port_conflict(&s.services, port) {
            push("firewall.ssh_port", message, &fix);
        }
    }
    if !(1..=600).contains(&f.ssh_rate_limit_per_minute) {
        push(
            "firewall.ssh_rate_limit_per_minute",
            format!(
                "{} is outside the allowed range 1..=600 (new SSH connections per address and minute)",
                f.ssh_rate_limit_per_minute
            ),
            "use a value from 1 to 600; 6 (the default) stops password guessing",
        );
    }
    for (i, host) in f.egress_hosts.iter().enumerate() {
        if !is_host_name(host) {
            push(
                &format!("firewall.egress_hosts[{i}]"),
                "not a plain host name (lower-case letters, digits, '-' and '.')".into(),
                "list host names such as \"api.binance.com\", without scheme, port or path",
            );
        }
    }
    for (key, list, example) in [
        ("firewall.egress_dns", &f.egress_dns, "[\"192.0.2.53\"]"),
        ("firewall.egress_ntp", &f.egress_ntp, "[\"192.0.2.123\"]"),
    ] {
        for (i, addr) in list.iter().enumerate() {
            if addr.parse::<IpAddr>().is_err() {
                push(
                    &format!("{key}[{i}]"),
                    "not an IP address".into(),
                    &format!("list addresses, not names or blocks, e.g. {example}"),
                );
            }
        }
    }
    if f.egress == Egress::Allowlist {
        if f.egress_dns.is_empty() {
            push(
                "firewall.egress_dns",
                "egress = \"allowlist\" with no DNS resolver would block name resolution".into(),
                "list the resolvers of /etc/resolv.conf (or their upstreams, for a local stub), e.g. egress_dns = [\"192.0.2.53\"]",
            );
        }
        if f.egress_ntp.is_empty() {
            push(
                "firewall.egress_ntp",
                "egress = \"allowlist\" with no NTP server would block time synchronisation; exchanges refuse requests from a drifting clock".into(),
                "list the addresses of your NTP servers, e.g. egress_ntp = [\"192.0.2.123\"]",
            );
        }
        if f.egress_hosts.is_empty() {
            push(
                "firewall.egress_hosts",
                "egress = \"allowlist\" with no host would block every exchange API".into(),
                "list the exchange API hosts the bot trades on, e.g. egress_hosts = [\"api.binance.com\"]",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for ok in ["api.binance.com", "a", "x-1.example", "1.2.3.4"] {
            assert!(is_host_name(ok), "{ok}");
        }
        for bad in [
            "",
            "API.binance.com",
            "a..b",
            "-a.com",
            "a-.com",
            "a.com;reboot",
            "a.com\n",
            "a com",
            "$(id)",
            "https://a.com",
            "a.com:443",
            "*.a.com",
        ] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problems(&Settings::default()).is_empty());
    }
}
