//! Kernel parameters as the CB-KERN checks of `cryptobot assess` read
//! them from `/proc/sys` under `--root`.
//!
//! Input: NUL-separated values, written in order to the files of the
//! parameters the checks read (`kernel.randomize_va_space`, …).
//!
//! Oracles: no panic; the report renders (text without control
//! characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

/// Every parameter the CB-KERN checks read.
const KEYS: [&str; 16] = [
    "kernel.randomize_va_space",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.default.accept_redirects",
    "net.ipv6.conf.all.accept_redirects",
    "net.ipv6.conf.default.accept_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.default.send_redirects",
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "kernel.yama.ptrace_scope",
    "fs.suid_dumpable",
    "fs.protected_symlinks",
    "fs.protected_hardlinks",
];

fuzz_target!(|data: &[u8]| {
    let tree = HostTree::fresh();
    for (key, value) in KEYS.iter().zip(parts(data, KEYS.len())) {
        tree.write(&format!("/proc/sys/{}", key.replace('.', "/")), value);
    }
    assess(&tree, &["CB-KERN-*"]);
});
