//! `sshd_config` and the files it includes, as `cryptobot assess` (the
//! CB-SSH checks) and `cryptobot firewall` (the SSH ports to keep open)
//! read them under `--root`.
//!
//! Input: `/etc/ssh/sshd_config`, then (after NUL bytes)
//! `/etc/ssh/sshd_config.d/10-a.conf` and `/etc/ssh/sshd_config.d/20-b.conf`.
//!
//! Oracles: no panic, no hang; the report renders (text without control
//! characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let tree = HostTree::fresh();
    tree.write("/etc/ssh/sshd_config", p[0]);
    if let Some(a) = p.get(1) {
        tree.write("/etc/ssh/sshd_config.d/10-a.conf", a);
    }
    if let Some(b) = p.get(2) {
        tree.write("/etc/ssh/sshd_config.d/20-b.conf", b);
    }
    assess(&tree, &["CB-SSH-*"]);
    if let Ok(config) = cryptobot_config::Config::defaults(&[]) {
        match cryptobot_firewall::ssh_ports(&config, &tree.root()) {
            Ok(ports) => assert!(!ports.ports.is_empty() && !ports.ports.contains(&0)),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
