//! The rule model: what is allowed, with no backend syntax in it.

use std::net::IpAddr;
use std::path::PathBuf;

use cryptobot_config::{Config, Egress, Exposure};

/// Prefix of every line the firewall logs for a dropped packet (the
/// port-scan jail's filter looks for it). Ends with a space, as the kernel
/// writes the prefix directly before `IN=`.
pub const LOG_PREFIX: &str = "cryptobot-drop ";
/// Prefix of the lines logged for SSH connections over the rate limit.
/// Deliberately not [`LOG_PREFIX`]: an administrator opening many sessions
/// at once must not be banned from every port by the port-scan jail.
pub const SSH_LIMIT_LOG_PREFIX: &str = "cryptobot-ssh-limit ";
/// Dropped packets logged per minute (a burst of the same size first).
pub const LOG_RATE_PER_MINUTE: u32 = 20;

/// A TCP port of a named service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// The `[services]` key, e.g. `auth`.
    pub name: &'static str,
    pub port: u16,
}

/// Where the SSH ports came from, for messages and file headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshSource {
    /// `firewall.ssh_port` in the configuration.
    Config,
    /// `Port` / `ListenAddress` lines of this host path.
    SshdConfig(PathBuf),
    /// No configuration and no `sshd_config`: port 22.
    Default,
}

impl std::fmt::Display for SshSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshSource::Config => f.write_str("firewall.ssh_port"),
            SshSource::SshdConfig(p) => write!(f, "{}", p.display()),
            SshSource::Default => f.write_str("the default, no sshd_config found"),
        }
    }
}

/// The SSH ports to keep open, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPorts {
    /// Sorted, without duplicates, never empty.
    pub ports: Vec<u16>,
    pub source: SshSource,
}

impl SshPorts {
    /// One port from the configuration (tests, `--ssh-port`).
    pub fn configured(port: u16) -> SshPorts {
        SshPorts {
            ports: vec![port],
            source: SshSource::Config,
        }
    }
}

/// What the allow-list lets out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRules {
    /// Resolvers, reachable on UDP and TCP port 53.
    pub dns: Vec<IpAddr>,
    /// NTP servers, reachable on UDP port 123.
    pub ntp: Vec<IpAddr>,
    /// Resolved exchange API addresses, reachable on TCP port 443.
    pub https: Vec<IpAddr>,
    /// The host names those addresses were resolved from (comments only).
    pub hosts: Vec<String>,
}

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];

    fn matches(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// The addresses of `list` in `family`.
pub fn of_family(list: &[IpAddr], family: Family) -> Vec<IpAddr> {
    list.iter()
        .copied()
        .filter(|ip| family.matches(ip))
        .collect()
}

/// An ICMP or ICMPv6 message type the firewall lets through, with its
/// name in each backend's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub family: Family,
    /// The type number (Windows takes numbers).
    pub number: u8,
    /// nftables name (`icmp type` / `icmpv6 type`).
    pub nft: &'static str,
    /// iptables name (`--icmp-type` / `--icmpv6-type`); a number where
    /// iptables has no name.
    pub iptables: &'static str,
    /// pf name (`icmp-type` / `icmp6-type`).
    pub pf: &'static str,
    /// Also allowed out under an egress allow-list (what this host must be
    /// able to send: neighbour discovery, MLD reports, errors, echo).
    pub outbound: bool,
}

const fn icmp(
    family: Family,
    number: u8,
    nft: &'static str,
    iptables: &'static str,
    pf: &'static str,
    outbound: bool,
) -> Icmp {
    Icmp {
        family,
        number,
        nft,
        iptables,
        pf,
        outbound,
    }
}

impl Icmp {
    /// firewalld `icmptype` name, where firewalld has one (it has none for
    /// MLD; firewalld lets neighbour discovery through by itself).
    pub fn firewalld(&self) -> Option<&'static str> {
        (!self.iptables.bytes().all(|b| b.is_ascii_digit())).then_some(self.iptables)
    }
}

/// ICMP types allowed in (and, where marked, out). Errors that belong to a
/// tracked connection (most unreachables, every packet-too-big for our own
/// connections) also pass as `related`; listing them keeps path MTU
/// discovery working for traffic conntrack does not know.
pub const ICMP: &[Icmp] = &[
    icmp(
        Family::V4,
        8,
        "echo-request",
        "echo-request",
        "echoreq",
        true,
    ),
    icmp(
        Family::V4,
        3,
        "destination-unreachable",
        "destination-unreachable",
        "unreach",
        true,
    ),
    icmp(
        Family::V4,
        11,
        "time-exceeded",
        "time-exceeded",
        "timex",
        true,
    ),
    icmp(
        Family::V4,
        12,
        "parameter-problem",
        "parameter-problem",
        "paramprob",
        true,
    ),
];

/// ICMPv6 types allowed in (and, where marked, out). Neighbour discovery
/// (133–136) is what IPv6 needs to find anything on the link — dropping it
/// breaks IPv6 outright; packet-too-big (2) is path MTU discovery, which
/// IPv6 routers never fragment for; MLD (130 query in, 131/143 reports
/// out) keeps switches with MLD snooping forwarding neighbour discovery.
pub const ICMPV6: &[Icmp] = &[
    icmp(
        Family::V6,
        1,
        "destination-unreachable",
        "destination-unreachable",
        "unreach",
        true,
    ),
    icmp(
        Family::V6,
        2,
        "packet-too-big",
        "packet-too-big",
        "toobig",
        true,
    ),
    icmp(
        Family::V6,
        3,
        "time-exceeded",
        "time-exceeded",
        "timex",
        true,
    ),
    icmp(
        Family::V6,
        4,
        "parameter-problem",
        "parameter-problem",
        "paramprob",
        true,
    ),
    icmp(
        Family::V6,
        128,
        "echo-request",
        "echo-request",
        "echoreq",
        true,
    ),
    icmp(
        Family::V6,
        130,
        "mld-listener-query",
        "130",
        "groupqry",
        false,
    ),
    icmp(
        Family::V6,
        131,
        "mld-listener-report",
        "131",
        "grouprep",
        true,
    ),
    icmp(
        Family::V6,
        133,
        "nd-router-solicit",
        "router-solicitation",
        "routersol",
        true,
    ),
    icmp(
        Family::V6,
        134,
        "nd-router-advert",
        "router-advertisement",
        "routeradv",
        false,
    ),
    icmp(
        Family::V6,
        135,
        "nd-neighbor-solicit",
        "neighbour-solicitation",
        "neighbrsol",
        true,
    ),
    icmp(
        Family::V6,
        136,
        "nd-neighbor-advert",
        "neighbour-advertisement",
        "neighbradv",
        true,
    ),
    icmp(Family::V6, 143, "mld2-listener-report", "143", "143", true),
];

/// The ICMP table of `family`.
pub fn icmp_types(family: Family) -> &'static [Icmp] {
    match family {
        Family::V4 => ICMP,
        Family::V6 => ICMPV6,
    }
}

/// The whole policy, with no backend syntax in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// SSH ports, sorted, never empty.
    pub ssh_ports: Vec<u16>,
    /// Where they came from (written into the file headers).
    pub ssh_source: SshSource,
    /// New SSH connections per source address and minute.
    pub ssh_rate_per_minute: u32,
    /// Services opened to the network (TCP), in `[services]` order.
    pub public: Vec<Port>,
    /// Services reachable from this machine only; never opened. Listed so
    /// backends that cannot default-deny loopback-bound services reliably
    /// (Windows, ufw with earlier rules) can close them explicitly.
    pub loopback_only: Vec<Port>,
    /// `None`: everything may leave.
    pub egress: Option<EgressRules>,
    /// Dropped packets logged per minute.
    pub log_rate_per_minute: u32,
}

impl RuleSet {
    /// The public ports' numbers.
    pub fn public_ports(&self) -> Vec<u16> {
        self.public.iter().map(|p| p.port).collect()
    }
}

/// Why no rule set can be built.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The SSH port collides with a service; opening the rules would lock
    /// out SSH (or throttle the service).
    #[error("{message} (SSH port from {source_desc})")]
    SshPort {
        port: u16,
        message: String,
        fix: String,
        source_desc: String,
    },
    #[error("cannot read {path}: {source}")]
    ReadSshd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: `{keyword}` does not give a port from 1 to 65535")]
    BadSshdPort {
        path: PathBuf,
        line: usize,
        keyword: String,
    },
    #[error("{path}: `Include` nests deeper than 16 levels")]
    SshdIncludeDepth { path: PathBuf },
    #[error(
        "{path}:{line}: cannot follow `Include {pattern}` (only `*` and `?` in the file name are understood)"
    )]
    SshdInclude {
        path: PathBuf,
        line: usize,
        pattern: String,
    },
    #[error("firewall.egress_hosts: cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("firewall.egress_hosts: {host} has no address")]
    NoAddress { host: String },
}

impl FirewallError {
    /// One sentence telling the operator how to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            FirewallError::SshPort { fix, .. } => fix.clone(),
            FirewallError::ReadSshd { .. } => {
                "run as root, or set firewall.ssh_port in cryptobot.toml".into()
            }
            FirewallError::BadSshdPort { .. }
            | FirewallError::SshdIncludeDepth { .. }
            | FirewallError::SshdInclude { .. } => {
                "correct sshd_config (`sshd -t` checks it), or set firewall.ssh_port in cryptobot.toml"
                    .into()
            }
            FirewallError::Resolve { .. } | FirewallError::NoAddress { .. } => {
                "check the name and DNS, or give the addresses with --egress-address IP".into()
            }
        })
    }
}

/// Builds the rule set. `resolved_https` are the addresses of
/// `firewall.egress_hosts` (resolved by the caller at render or apply
/// time); they are used only with `egress = "allowlist"`.
///
/// Refuses an SSH port that is also a service's port: a loopback-only
/// service's port would block SSH, a public one would be shared.
pub fn rules(
    config: &Config,
    ssh: &SshPorts,
    resolved_https: &[IpAddr],
) -> Result<RuleSet, FirewallError> {
    let mut ssh_ports = ssh.ports.clone();
    ssh_ports.sort_unstable();
    ssh_ports.dedup();
    if ssh_ports.is_empty() {
        ssh_ports.push(cryptobot_config::DEFAULT_SSH_PORT);
    }
    for &port in &ssh_ports {
        if let Some((message, fix)) = cryptobot_config::ssh_port_conflict(&config.services, port) {
            let fix = match &ssh.source {
                SshSource::Config => fix,
                SshSource::SshdConfig(path) => format!(
                    "move sshd to a port no service uses (`Port` in {}) or move the service named above to another port",
                    path.display()
                ),
                SshSource::Default => {
                    "move the service named above off port 22, or set firewall.ssh_port to the port sshd listens on".to_string()
                }
            };
            return Err(FirewallError::SshPort {
                port,
                message,
                fix,
                source_desc: ssh.source.to_string(),
            });
        }
    }
    let mut public = Vec::new();
    let mut loopback_only = Vec::new();
    for (name, svc) in config.services.iter() {
        let port = Port {
            name,
            port: svc.port,
        };
        match svc.exposure {
            Exposure::Public => public.push(port),
            Exposure::Loopback => loopback_only.push(port),
        }
    }
    let fw = &config.firewall;
    let egress = match fw.egress {
        Egress::Open => None,
        Egress::Allowlist => {
            let mut https = resolved_https.to_vec();
            https.sort_unstable();
            https.dedup();
            let sorted = |mut v: Vec<IpAddr>| {
                v.sort_unstable();
                v.dedup();
                v
            };
            Some(EgressRules {
                dns: sorted(fw.dns_addrs()),
                ntp: sorted(fw.ntp_addrs()),
                https,
                hosts: fw.egress_hosts.clone(),
            })
        }
    };
    Ok(RuleSet {
        ssh_ports,
        ssh_source: ssh.source.clone(),
        ssh_rate_per_minute: fw.ssh_rate_limit_per_minute,
        public,
        loopback_only,
        egress,
        log_rate_per_minute: LOG_RATE_PER_MINUTE,
    })
}

/// A backend `cryptobot firewall render` writes for; [`Target::from_config`]
/// picks the one `firewall.backend` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Nftables,
    Iptables,
    Ufw,
    Firewalld,
    Pf,
    Windows,
    Fail2ban,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Nftables => "nftables",
            Target::Iptables => "iptables",
            Target::Ufw => "ufw",
            Target::Firewalld => "firewalld",
            Target::Pf => "pf",
            Target::Windows => "windows",
            Target::Fail2ban => "fail2ban",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_names_are_plain() {
        for t in ICMP.iter().chain(ICMPV6) {
            for name in [t.nft, t.iptables, t.pf] {
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn neighbour_discovery_is_allowed() {
        for n in [133, 134, 135, 136] {
            assert!(ICMPV6.iter().any(|t| t.number == n), "{n}");
        }
    }
}
