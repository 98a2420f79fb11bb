//! The client address of a request: the TCP peer, or for a trusted proxy
//! the nearest untrusted hop it forwards for.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

/// Parses one `for=` value or `X-Forwarded-For` entry: an address,
/// optionally quoted, bracketed and with a port.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    v.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The forwarding chain, client first; `None` if a hop is malformed.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        let mut chain = Vec::new();
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let for_value = element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map(|(_, v)| v)?;
            chain.push(parse_hop(for_value)?);
        }
        return Some(chain);
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_hop)
        .collect()
}

/// The client address (see [`crate::extract::ClientAddr`]). IPv4-mapped
/// IPv6 addresses (`::ffff:192.0.2.1`,
/// what a dual-stack socket reports for an IPv4 client) are turned back
/// into IPv4, so limits, logs and `trusted_proxies` see one form.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[cryptobot_config::IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(chain) = forwarded_chain(headers) else {
        return peer;
    };
    chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        let headers = axum::http::HeaderMap::new();
        assert_eq!(
            client_ip(mapped, &headers, &[]),
            IpAddr::from([192, 0, 2, 7])
        );
        // A trusted proxy written as IPv4 matches its mapped form, and the
        // forwarded hop is canonical too.
        let proxy: cryptobot_config::IpNet = "10.0.0.1".parse().expect("net");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("::ffff:198.51.100.9"),
        );
        let peer: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        assert_eq!(
            client_ip(peer, &headers, &[proxy]),
            IpAddr::from([198, 51, 100, 9])
        );
    }
}
