//! The plan journal reader: `rollback_plan` reads the newest run's
//! `journal.jsonl` (and the `before/` copies it names) and plans the
//! restore, as `cryptobot rollback --dry-run` does. Nothing is applied.
//!
//! Input: `journal.jsonl`, then (after NUL bytes) `before/1` of the run,
//! and the root's `/etc/passwd` and `/etc/group` (rollback plans account
//! changes from them).
//!
//! Oracles: no panic, no hang; a plan renders as text and JSON.
#![no_main]

use std::path::Path;

use cryptobot_fuzz::{HostTree, parts};
use libfuzzer_sys::fuzz_target;

const JOURNALS: &str = "/opt/cryptobot/data/changes";

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 4);
    let tree = HostTree::fresh();
    let run = format!("{JOURNALS}/20260101T000000Z-1");
    tree.write(&format!("{run}/journal.jsonl"), p[0]);
    if let Some(before) = p.get(1) {
        tree.write(&format!("{run}/before/1"), before);
    }
    if let Some(passwd) = p.get(2) {
        tree.write("/etc/passwd", passwd);
    }
    if let Some(group) = p.get(3) {
        tree.write("/etc/group", group);
    }
    match cryptobot_plan::rollback_plan(&tree.root(), Path::new(JOURNALS)) {
        Ok((plan, target)) => {
            let _ = target.to_string();
            let _ = plan.render_text();
            if let Err(e) = serde_json::to_string(&plan.to_json()) {
                panic!("a rollback plan does not render as JSON: {e}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
