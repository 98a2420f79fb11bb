//! The dpkg status database and the security repositories' package lists,
//! as the pending-updates check of `cryptobot assess` (CB-UPD-001) reads
//! them under `--root`, with Debian version comparison.
//!
//! Input: `/var/lib/dpkg/status`, then (after NUL bytes) a security
//! `_Packages` list and an lz4-framed `_Packages.lz4` list.
//!
//! Oracles: no panic, no hang; Debian version comparison is reflexive and
//! antisymmetric for every version seen; the report renders (text without
//! control characters).
#![no_main]

use std::cmp::Ordering;

use cryptobot_assess::checks::updates::compare_debian;
use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

const LISTS: &str = "/var/lib/apt/lists";

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let tree = HostTree::fresh();
    tree.write("/var/lib/dpkg/status", p[0]);
    if let Some(list) = p.get(1) {
        tree.write(
            &format!("{LISTS}/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"),
            list,
        );
    }
    if let Some(list) = p.get(2) {
        tree.write(
            &format!("{LISTS}/security.debian.org_dists_bookworm-security_updates_main_binary-arm64_Packages.lz4"),
            list,
        );
    }
    assess(&tree, &["CB-UPD-*"]);
    let versions: Vec<String> = p
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .into_owned()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_owned()))
        .take(8)
        .collect();
    for a in &versions {
        assert_eq!(
            compare_debian(a, a),
            Ordering::Equal,
            "{a:?} is not equal to itself"
        );
        for b in &versions {
            assert_eq!(
                compare_debian(a, b),
                compare_debian(b, a).reverse(),
                "{a:?} vs {b:?} is not antisymmetric"
            );
        }
    }
});
