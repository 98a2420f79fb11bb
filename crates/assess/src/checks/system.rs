//! SSH server, kernel parameters and listening sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use cryptobot_firewall::{SSHD_CONFIG, SshdDirective, sshd_directives};

use crate::model::{Evidence, Finding};
use crate::snapshot::Snapshot;

// ----------------------------------------------------------------------- SSH

/// The directives of sshd_config and its includes, read by the reader
/// `cryptobot firewall` uses, which follows links as inside a chroot (an
/// absolute target starts again at the root), so nothing from outside the
/// root is ever read.
pub(crate) fn sshd(s: &Snapshot) -> Option<Vec<SshdDirective>> {
    match sshd_directives(s.root()) {
        Ok(d) => d,
        Err(e) => {
            s.note(format!("{SSHD_CONFIG} could not be read completely: {e}"));
            None
        }
    }
}

/// The effective global value of `keyword` (sshd takes the first), and
/// every value set inside a `Match` block.
fn ssh_values<'a>(
    d: &'a [SshdDirective],
    keyword: &str,
) -> (Option<&'a SshdDirective>, Vec<&'a SshdDirective>) {
    let global = d.iter().find(|x| !x.in_match && x.keyword == keyword);
    let matched = d
        .iter()
        .filter(|x| x.in_match && x.keyword == keyword)
        .collect();
    (global, matched)
}

/// Findings for `keyword` whose value (lower case, unquoted) is bad;
/// `default` is sshd's built-in value when the keyword is not set.
fn ssh_check(
    s: &Snapshot,
    id: &'static str,
    keyword: &str,
    shown: &str,
    default: &str,
    bad: fn(&str) -> bool,
) -> Vec<Finding> {
    let Some(d) = sshd(s) else {
        return Vec::new();
    };
    let norm = |v: &str| v.trim_matches('"').to_ascii_lowercase();
    let (global, matched) = ssh_values(&d, keyword);
    let mut out = Vec::new();
    match global {
        Some(x) if bad(&norm(&x.value)) => out.push(Finding::new(
            id,
            format!("sshd {shown}"),
            Evidence::at(&x.file, x.line, format!("{shown} {}", x.value)),
        )),
        None if bad(default) => out.push(Finding::new(
            id,
            format!("sshd {shown}"),
            Evidence::file(
                SSHD_CONFIG,
                format!("{shown} is not set: sshd's default is {default}"),
            ),
        )),
        _ => {}
    }
    for x in matched {
        if bad(&norm(&x.value)) {
            out.push(Finding::new(
                id,
                format!("sshd {shown} (Match block)"),
                Evidence::at(
                    &x.file,
                    x.line,
                    format!("{shown} {} (in a Match block)", x.value),
                ),
            ));
        }
    }
    out
}

pub fn ssh_root_password(s: &Snapshot) -> Vec<Finding> {
    ssh_check(
        s,
        "CB-SSH-001",
        "permitrootlogin",
        "PermitRootLogin",
        "prohibit-password",
        |v| v == "yes",
    )
}

pub fn ssh_root_key(s: &Snapshot) -> Vec<Finding> {
    ssh_check(
        s,
        "CB-SSH-002",
        "permitrootlogin",
        "PermitRootLogin",
        "prohibit-password",
        |v| {
            matches!(
                v,
                "prohibit-password" | "without-password" | "forced-commands-only"
            )
        },
    )
}

pub fn ssh_password_auth(s: &Snapshot) -> Vec<Finding> {
    ssh_check(
        s,
        "CB-SSH-003",
        "passwordauthentication",
        "PasswordAuthentication",
        "yes",
        |v| v == "yes",
    )
}

pub fn ssh_empty_passwords(s: &Snapshot) -> Vec<Finding> {
    ssh_check(
        s,
        "CB-SSH-004",
        "permitemptypasswords",
        "PermitEmptyPasswords",
        "no",
        |v| v == "yes",
    )
}

pub fn ssh_max_auth_tries(s: &Snapshot) -> Vec<Finding> {
    ssh_check(s, "CB-SSH-005", "maxauthtries", "MaxAuthTries", "6", |v| {
        v.parse::<u32>().map_or(true, |n| n > 4)
    })
}

pub fn ssh_x11(s: &Snapshot) -> Vec<Finding> {
    ssh_check(
        s,
        "CB-SSH-006",
        "x11forwarding",
        "X11Forwarding",
        "no",
        |v| v == "yes",
    )
}

// -------------------------------------------------------------------- Kernel

/// A kernel parameter rule: the sysctl names and which values are safe.
pub(crate) struct Sysctl {
    pub id: &'static str,
    pub keys: &'static [&'static str],
    pub want: &'static str,
    pub ok: fn(i64) -> bool,
}

pub(crate) const SYSCTLS: [Sysctl; 10] = [
    Sysctl {
        id: "CB-KERN-001",
        keys: &["kernel.randomize_va_space"],
        want: "2",
        ok: |v| v == 2,
    },
    Sysctl {
        id: "CB-KERN-002",
        keys: &["net.ipv4.tcp_syncookies"],
        want: "1",
        ok: |v| v == 1,
    },
    Sysctl {
        id: "CB-KERN-003",
        keys: &[
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
        ],
        want: "1 (strict) or 2 (loose)",
        ok: |v| v == 1 || v == 2,
    },
    Sysctl {
        id: "CB-KERN-004",
        keys: &[
            "net.ipv4.conf.all.accept_redirects",
            "net.ipv4.conf.default.accept_redirects",
            "net.ipv6.conf.all.accept_redirects",
            "net.ipv6.conf.default.accept_redirects",
        ],
        want: "0",
        ok: |v| v == 0,
    },
    Sysctl {
        id: "CB-KERN-005",
        keys: &[
            "net.ipv4.conf.all.send_redirects",
            "net.ipv4.conf.default.send_redirects",
        ],
        want: "0",
        ok: |v| v == 0,
    },
    Sysctl {
        id: "CB-KERN-006",
        keys: &["kernel.kptr_restrict"],
        want: "1 or 2",
        ok: |v| v >= 1,
    },
    Sysctl {
        id: "CB-KERN-007",
        keys: &["kernel.dmesg_restrict"],
        want: "1",
        ok: |v| v == 1,
    },
    Sysctl {
        id: "CB-KERN-008",
        keys: &["kernel.yama.ptrace_scope"],
        want: "1, 2 or 3",
        ok: |v| v >= 1,
    },
    Sysctl {
        id: "CB-KERN-009",
        keys: &["fs.suid_dumpable"],
        want: "0",
        ok: |v| v == 0,
    },
    Sysctl {
        id: "CB-KERN-010",
        keys: &["fs.protected_symlinks", "fs.protected_hardlinks"],
        want: "1",
        ok: |v| v == 1,
    },
];

/// `/proc/sys/...` of a dotted sysctl name.
pub(crate) fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// The check for `SYSCTLS[I]`. A parameter whose file is missing (another
/// kernel, no `/proc` under the root) is skipped.
pub fn kernel<const I: usize>(s: &Snapshot) -> Vec<Finding> {
    let rule = &SYSCTLS[I];
    let mut out = Vec::new();
    for key in rule.keys {
        let path = sysctl_path(key);
        let Some(text) = s.read(&path) else { continue };
        let value = text.trim();
        let Ok(v) = value.parse::<i64>() else {
            s.note(format!("{}: unexpected value {value:?}", path.display()));
            continue;
        };
        if !(rule.ok)(v) {
            out.push(Finding::new(
                rule.id,
                (*key).to_owned(),
                Evidence::file(&path, format!("{key} = {v} (want {})", rule.want)),
            ));
        }
    }
    out
}

// ------------------------------------------------------------------- Network

/// A listening TCP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    pub file: PathBuf,
    pub line: usize,
}

/// Parses the hex address of `/proc/net/tcp` (`0100007F:1F90`) or
/// `/proc/net/tcp6`: 32-bit words in host (little-endian) order.
fn hex_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let words: Option<Vec<u32>> = (0..a.len() / 8)
        .map(|i| {
            a.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect();
    let words = words?;
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| w.swap_bytes().to_be_bytes())
        .collect();
    let addr = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((addr, port))
}

pub(crate) fn listeners(s: &Snapshot) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Some(text) = s.read(Path::new(file)) else {
            continue;
        };
        for (i, l) in text.lines().enumerate().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                continue;
            }
            let Some((addr, port)) = f.get(1).and_then(|a| hex_addr(a)) else {
                continue;
            };
            if !out.iter().any(|x| x.addr == addr && x.port == port) {
                out.push(Listener {
                    addr,
                    port,
                    file: PathBuf::from(file),
                    line: i + 1,
                });
            }
        }
    }
    out
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// The service known to use `port`: Cryptobot's port map and SSH.
fn service_of(s: &Snapshot, port: u16) -> Option<&'static str> {
    let config = s.config_or_default();
    if let Some((name, _)) = config
        .services
        .iter()
        .into_iter()
        .find(|(_, svc)| svc.port == port)
    {
        return Some(name);
    }
    (port == 22).then_some("ssh")
}

fn listener_evidence(l: &Listener, service: Option<&str>) -> Evidence {
    let sock = std::net::SocketAddr::new(l.addr, l.port);
    let value = match service {
        Some(name) => format!("listening on {sock} ({name})"),
        None => format!("listening on {sock}"),
    };
    Evidence::at(&l.file, l.line, value)
}

fn is_database(s: &Snapshot, port: u16) -> bool {
    let c = s.config_or_default();
    port == c.services.postgres.port || port == c.services.redis.port
}

pub fn net_database_exposed(s: &Snapshot) -> Vec<Finding> {
    listeners(s)
        .into_iter()
        .filter(|l| !is_loopback(l.addr) && is_database(s, l.port))
        .map(|l| {
            let service = service_of(s, l.port);
            Finding::new(
                "CB-NET-001",
                format!("{} port {}", service.unwrap_or("database"), l.port),
                listener_evidence(&l, service),
            )
        })
        .collect()
}

pub fn net_listeners(s: &Snapshot) -> Vec<Finding> {
    listeners(s)
        .into_iter()
        .filter(|l| !is_loopback(l.addr) && !is_database(s, l.port))
        .map(|l| {
            let service = service_of(s, l.port);
            Finding::new(
                "CB-NET-002",
                format!("tcp port {}", l.port),
                listener_evidence(&l, service),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            hex_addr("00000000:18EB"),
            Some((IpAddr::from([0, 0, 0, 0]), 6379))
        );
        assert_eq!(
            hex_addr("0100007F:1538"),
            Some((IpAddr::from([127, 0, 0, 1]), 5432))
        );
        assert_eq!(
            hex_addr("00000000000000000000000001000000:0016"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 22))
        );
        assert_eq!(
            hex_addr("0000000000000000FFFF00000100007F:0050"),
            Some((
                "::ffff:127.0.0.1".parse().unwrap_or(IpAddr::from([0u8; 4])),
                80
            ))
        );
        assert!(is_loopback(
            "::ffff:127.0.0.1".parse().unwrap_or(IpAddr::from([0u8; 4]))
        ));
        assert_eq!(hex_addr("zz:1"), None);
    }
}
