//! Exact modes regardless of the process umask. Its own test binary because
//! the umask is process-wide.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use cryptobot_plan::{Content, Planner, apply};
use rustix::fs::Mode;

#[test]
fn new_tree_has_exact_modes_despite_umask() {
    for umask in [0o022, 0o077, 0o777] {
        let old = rustix::process::umask(Mode::from_raw_mode(umask));
        let (_tmp, root) = new_root();
        let mut p = Planner::new(&root);
        p.ensure_dir(Path::new("/opt"), 0o755, None).unwrap();
        p.ensure_dir(Path::new("/opt/cb"), 0o775, None).unwrap();
        p.ensure_dir(Path::new("/opt/cb/secrets"), 0o700, None)
            .unwrap();
        p.ensure_dir(Path::new("/opt/cb/shared"), 0o2775, None)
            .unwrap();
        p.ensure_file(
            Path::new("/opt/cb/app.conf"),
            Content::Text("a = 1\n".into()),
            0o664,
            None,
        )
        .unwrap();
        p.ensure_file(
            Path::new("/opt/cb/run.sh"),
            Content::Text("#!/bin/sh\n".into()),
            0o755,
            None,
        )
        .unwrap();
        p.ensure_file(
            Path::new("/opt/cb/secrets/token"),
            Content::secret(b"0123456789abcdef".to_vec()),
            0o600,
            None,
        )
        .unwrap();
        let plan = p.finish();
        let report = apply(&plan, &root, &opts("test")).unwrap();
        assert_eq!(report.applied, 7);

        assert_eq!(mode_of(&root, "/opt"), 0o755, "umask {umask:o}");
        assert_eq!(mode_of(&root, "/opt/cb"), 0o775, "umask {umask:o}");
        assert_eq!(mode_of(&root, "/opt/cb/secrets"), 0o700, "umask {umask:o}");
        assert_eq!(mode_of(&root, "/opt/cb/shared"), 0o2775, "umask {umask:o}");
        assert_eq!(mode_of(&root, "/opt/cb/app.conf"), 0o664, "umask {umask:o}");
        assert_eq!(mode_of(&root, "/opt/cb/run.sh"), 0o755, "umask {umask:o}");
        assert_eq!(
            mode_of(&root, "/opt/cb/secrets/token"),
            0o600,
            "umask {umask:o}"
        );
        assert_eq!(read(&root, "/opt/cb/app.conf"), "a = 1\n");
        // The journal is private whatever the umask.
        assert_eq!(mode_of(&root, JOURNAL), 0o700);
        let run = &journal_runs(&root)[0];
        assert_eq!(mode_of(&root, &format!("{JOURNAL}/{run}")), 0o700);
        assert_eq!(
            mode_of(&root, &format!("{JOURNAL}/{run}/journal.jsonl")),
            0o600
        );

        // Planning again finds nothing to do.
        let mut p = Planner::new(&root);
        p.ensure_dir(Path::new("/opt/cb/shared"), 0o2775, None)
            .unwrap();
        p.ensure_file(
            Path::new("/opt/cb/app.conf"),
            Content::Text("a = 1\n".into()),
            0o664,
            None,
        )
        .unwrap();
        assert!(p.finish().is_empty());
        rustix::process::umask(old);
    }
}
