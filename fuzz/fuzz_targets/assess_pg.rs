//! PostgreSQL's `pg_hba.conf` and `postgresql.conf` (with `conf.d/`), as
//! the CB-PG checks of `cryptobot assess` read them under `--root`.
//!
//! Input: `pg_hba.conf`, then (after NUL bytes) `postgresql.conf` and
//! `conf.d/cryptobot.conf` of `/etc/postgresql/16/main/`.
//!
//! Oracles: no panic, no hang; the report renders (text without control
//! characters).
#![no_main]

use cryptobot_fuzz::{HostTree, assess, parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let tree = HostTree::fresh();
    let main = "/etc/postgresql/16/main";
    tree.write(&format!("{main}/pg_hba.conf"), p[0]);
    if let Some(conf) = p.get(1) {
        tree.write(&format!("{main}/postgresql.conf"), conf);
    }
    if let Some(conf) = p.get(2) {
        tree.write(&format!("{main}/conf.d/cryptobot.conf"), conf);
    }
    assess(&tree, &["CB-PG-*"]);
});
