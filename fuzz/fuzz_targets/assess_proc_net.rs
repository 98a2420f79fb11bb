//! `/proc/net/tcp` and `/proc/net/tcp6`, as the listening-socket checks
//! of `cryptobot assess` (CB-NET-001, CB-NET-002) read them under `--root`.
//!
//! Input: `/proc/net/tcp`, then (after a NUL byte) `/proc/net/tcp6`.
//!
//! Oracles: no panic; the report renders (text without control
//! characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let tree = HostTree::fresh();
    tree.write("/proc/net/tcp", p[0]);
    if let Some(v6) = p.get(1) {
        tree.write("/proc/net/tcp6", v6);
    }
    assess(&tree, &["CB-NET-001", "CB-NET-002"]);
});
