//! `firewall.backend = "auto"`: which firewall this host already uses.
//!
//! On Linux the firewall the operator already manages wins, so Cryptobot's
//! rules land where they look: ufw when it is enabled, firewalld when it is
//! enabled, otherwise nftables when `nft` is installed, otherwise iptables.
//! macOS uses pf and Windows its own firewall. What is read (under
//! `--root`) never follows a link, and anything unreadable counts as
//! absent.

use std::path::Path;

use cryptobot_plan::Root;

use cryptobot_config::FirewallBackend;

use crate::rules::Target;

/// The facts `auto` decides on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostFirewall {
    /// `etc/ufw/ufw.conf` says `ENABLED=yes`.
    pub ufw_enabled: bool,
    /// firewalld is enabled at boot or running.
    pub firewalld_enabled: bool,
    /// `nft` is installed.
    pub nft: bool,
    /// `iptables-restore` is installed.
    pub iptables: bool,
}

/// A regular file (or a link, for the boot-enablement symlinks) at `rel`
/// under the root, without following it.
fn exists(root: &Root, rel: &str, link_ok: bool) -> bool {
    root.host(&Path::new("/").join(rel))
        .ok()
        .and_then(|p| std::fs::symlink_metadata(p).ok())
        .is_some_and(|m| m.is_file() || m.is_dir() || (link_ok && m.file_type().is_symlink()))
}

fn read_small(root: &Root, rel: &str) -> Option<String> {
    let p = root.host(&Path::new("/").join(rel)).ok()?;
    let meta = std::fs::symlink_metadata(&p).ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

/// Whether ufw.conf text enables ufw.
pub(crate) fn ufw_enabled(conf: &str) -> bool {
    conf.lines().any(|l| {
        let l = l.trim();
        !l.starts_with('#')
            && l.split_once('=').is_some_and(|(k, v)| {
                k.trim() == "ENABLED" && v.trim().trim_matches('"').eq_ignore_ascii_case("yes")
            })
    })
}

fn installed(root: &Root, name: &str) -> bool {
    ["usr/sbin", "sbin", "usr/bin", "bin"]
        .iter()
        .any(|dir| exists(root, &format!("{dir}/{name}"), true))
}

impl HostFirewall {
    /// Reads the facts under `root`.
    pub fn read(root: &Root) -> HostFirewall {
        HostFirewall {
            ufw_enabled: read_small(root, "etc/ufw/ufw.conf").is_some_and(|t| ufw_enabled(&t)),
            firewalld_enabled: exists(
                root,
                "etc/systemd/system/multi-user.target.wants/firewalld.service",
                true,
            ) || exists(root, "run/firewalld/firewalld.pid", false),
            nft: installed(root, "nft"),
            iptables: installed(root, "iptables-restore"),
        }
    }

    /// The Linux backend for these facts, and why.
    pub fn choose(&self) -> (Target, &'static str) {
        if self.ufw_enabled {
            (Target::Ufw, "ufw is enabled on this host")
        } else if self.firewalld_enabled {
            (Target::Firewalld, "firewalld is enabled on this host")
        } else if self.nft {
            (
                Target::Nftables,
                "nft is installed and no firewall manager is enabled",
            )
        } else if self.iptables {
            (Target::Iptables, "iptables is installed, nft is not")
        } else {
            (
                Target::Nftables,
                "no firewall tool found; nftables is the Linux default",
            )
        }
    }
}

/// The backend `auto` means on this platform, and why.
pub fn auto_target(host: &HostFirewall) -> (Target, &'static str) {
    if cfg!(target_os = "macos") {
        (Target::Pf, "pf is macOS's firewall")
    } else if cfg!(windows) {
        (Target::Windows, "Windows Firewall")
    } else {
        host.choose()
    }
}

impl Target {
    /// The backend for `firewall.backend`; `auto` is what the host already
    /// uses ([`auto_target`]).
    pub fn from_config(backend: FirewallBackend, host: &HostFirewall) -> Target {
        match backend {
            FirewallBackend::Auto => auto_target(host).0,
            FirewallBackend::Nftables => Target::Nftables,
            FirewallBackend::Iptables => Target::Iptables,
            FirewallBackend::Ufw => Target::Ufw,
            FirewallBackend::Firewalld => Target::Firewalld,
            FirewallBackend::Pf => Target::Pf,
            FirewallBackend::Windows => Target::Windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_firewall_wins() {
        let all = HostFirewall {
            ufw_enabled: true,
            firewalld_enabled: true,
            nft: true,
            iptables: true,
        };
        assert_eq!(all.choose().0, Target::Ufw);
        let fwd = HostFirewall {
            ufw_enabled: false,
            ..all
        };
        assert_eq!(fwd.choose().0, Target::Firewalld);
        let plain = HostFirewall {
            firewalld_enabled: false,
            ..fwd
        };
        assert_eq!(plain.choose().0, Target::Nftables);
        let old = HostFirewall {
            nft: false,
            ..plain
        };
        assert_eq!(old.choose().0, Target::Iptables);
        assert_eq!(HostFirewall::default().choose().0, Target::Nftables);
    }

    #[test]
    fn ufw_conf_parsing() {
        assert!(ufw_enabled("# comment\nENABLED=yes\nLOGLEVEL=low\n"));
        assert!(ufw_enabled("ENABLED = \"yes\"\n"));
        assert!(!ufw_enabled("ENABLED=no\n"));
        assert!(!ufw_enabled("#ENABLED=yes\n"));
    }

    #[test]
    fn facts_are_read_under_the_root_without_following_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/ufw")).expect("mkdir");
        std::fs::create_dir_all(r.join("usr/sbin")).expect("mkdir");
        std::fs::write(r.join("usr/sbin/nft"), b"").expect("write");
        let root = Root::new(r).expect("root");
        let host = HostFirewall::read(&root);
        assert!(host.nft && !host.ufw_enabled && !host.iptables);
        // A ufw.conf that is a link (here to a file outside) is not read.
        let outside = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(outside.path(), b"ENABLED=yes\n").expect("write");
        std::os::unix::fs::symlink(outside.path(), r.join("etc/ufw/ufw.conf")).expect("link");
        assert!(!HostFirewall::read(&root).ufw_enabled);
        std::fs::remove_file(r.join("etc/ufw/ufw.conf")).expect("rm");
        std::fs::write(r.join("etc/ufw/ufw.conf"), b"ENABLED=yes\n").expect("write");
        assert_eq!(HostFirewall::read(&root).choose().0, Target::Ufw);
    }
}
