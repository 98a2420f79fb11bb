//! Resolving `firewall.egress_hosts` with the system resolver. This is the
//! one step of rendering an egress allow-list that needs the network; the
//! rule model takes its result as plain addresses.

use std::net::{IpAddr, ToSocketAddrs};

use crate::rules::FirewallError;

/// Every address (IPv4 and IPv6) of every host, sorted and deduplicated.
/// A host that does not resolve is an error: leaving it out would silently
/// cut the bot off that exchange.
pub fn resolve_hosts(hosts: &[String]) -> Result<Vec<IpAddr>, FirewallError> {
    let mut out = Vec::new();
    for host in hosts {
        // The configuration allows only [a-z0-9.-] here; check again, since
        // the name goes to the resolver.
        if !cryptobot_config::is_host_name(host) {
            return Err(FirewallError::Resolve {
                host: host.escape_debug().to_string(),
                reason: "not a plain host name".into(),
            });
        }
        let addrs = (host.as_str(), 443)
            .to_socket_addrs()
            .map_err(|e| FirewallError::Resolve {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        let before = out.len();
        out.extend(addrs.map(|a| a.ip()));
        if out.len() == before {
            return Err(FirewallError::NoAddress { host: host.clone() });
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
