//! `redis.conf` and the ACL file it names, as the CB-REDIS checks of
//! `cryptobot assess` read them under `--root`.
//!
//! Input: `/etc/redis/redis.conf`, then (after a NUL byte)
//! `/etc/redis/users.acl` (an `aclfile /etc/redis/users.acl` line makes
//! the checks read it).
//!
//! Oracles: no panic, no hang; the report renders (text without control
//! characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let tree = HostTree::fresh();
    tree.write("/etc/redis/redis.conf", p[0]);
    if let Some(acl) = p.get(1) {
        tree.write("/etc/redis/users.acl", acl);
    }
    assess(&tree, &["CB-REDIS-*"]);
});
