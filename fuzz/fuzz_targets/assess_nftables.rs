//! `/etc/nftables.conf` and the files it includes, as the firewall checks
//! of `cryptobot assess` (CB-NET-003, CB-NET-004) read them under `--root`.
//!
//! Input: `/etc/nftables.conf`, then (after NUL bytes)
//! `/etc/nftables.d/10-a.nft` and `/etc/nftables.d/20-b.nft`.
//!
//! Oracles: no panic, no hang, no unbounded memory; the report renders
//! (text without control characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let tree = HostTree::fresh();
    tree.write("/etc/nftables.conf", p[0]);
    if let Some(a) = p.get(1) {
        tree.write("/etc/nftables.d/10-a.nft", a);
    }
    if let Some(b) = p.get(2) {
        tree.write("/etc/nftables.d/20-b.nft", b);
    }
    assess(&tree, &["CB-NET-003", "CB-NET-004"]);
});
