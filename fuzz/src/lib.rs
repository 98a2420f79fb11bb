//! What the fuzz targets share: a throwaway host tree for the readers that
//! take a `--root`, splitting one input into several files, and the
//! oracles every report rendering must meet.
//!
//! Nothing here touches the network, and files are only written below one
//! temporary directory per process (under `$TMPDIR`, which `fuzz/run.sh`
//! points at a directory it removes afterwards).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cryptobot_assess::{Report, Snapshot};
use cryptobot_config::Layout;
use cryptobot_plan::Root;

/// The installation home the host readers assume.
pub const HOME: &str = "/opt/cryptobot";

/// Splits `data` at NUL bytes into at most `n` parts (the last one keeps
/// any further NULs). Always at least one part.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0).collect()
}

/// A host tree under a temporary directory, emptied for every input.
pub struct HostTree {
    base: PathBuf,
}

fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("cryptobot-fuzz-")
            .tempdir()
            .map(tempfile::TempDir::keep);
        match dir {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        }
    })
}

impl HostTree {
    /// An empty tree (whatever the previous input wrote is removed).
    pub fn fresh() -> HostTree {
        let base = base_dir().join("root");
        match std::fs::remove_dir_all(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot empty {}: {e}", base.display()),
        }
        if let Err(e) = std::fs::create_dir_all(&base) {
            panic!("cannot create {}: {e}", base.display());
        }
        HostTree { base }
    }

    /// The real directory that stands for `/`.
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// Writes `host` (an absolute host path) with `bytes`, creating its
    /// directories.
    pub fn write(&self, host: &str, bytes: &[u8]) {
        let real = self.base.join(host.trim_start_matches('/'));
        if let Some(dir) = real.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            panic!("cannot create {}: {e}", dir.display());
        }
        if let Err(e) = std::fs::write(&real, bytes) {
            panic!("cannot write {}: {e}", real.display());
        }
    }

    /// The tree as a plan root.
    pub fn root(&self) -> Root {
        match Root::new(&self.base) {
            Ok(r) => r,
            Err(e) => panic!("the fuzz root is unusable: {e}"),
        }
    }

    /// A snapshot of the tree as `cryptobot assess --root` takes it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.root(), Layout::new(HOME), None, 1_800_000_000)
    }
}

/// Runs the checks whose IDs match `patterns` (`CB-SSH-*`) on the tree
/// and renders the report every way the CLI can, checking the renderings.
pub fn assess(tree: &HostTree, patterns: &[&str]) -> Report {
    let only: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
    let checks = match cryptobot_assess::select(&only, &[]) {
        Ok(c) => c,
        Err(e) => panic!("unknown check pattern: {e}"),
    };
    let snapshot = tree.snapshot();
    let report = cryptobot_assess::assess(&snapshot, &checks);
    check_renderings(&report);
    report
}

/// What every rendering of a report must hold, whatever the host files
/// held: the JSON and SARIF documents serialise and parse again, and the
/// plain text (printed to a terminal) carries no control character but
/// newlines, so a hostile file cannot send escape sequences to the
/// operator's terminal.
pub fn check_renderings(report: &Report) {
    let json = report.to_json(Path::new("/"), Path::new(HOME));
    let sarif = report.to_sarif();
    for doc in [&json, &sarif] {
        let text = match serde_json::to_string(doc) {
            Ok(t) => t,
            Err(e) => panic!("a report does not serialise: {e}"),
        };
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            panic!("a report does not parse again: {e}");
        }
    }
    let text = report.to_text("fuzz");
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        panic!(
            "the text report holds the control character U+{:04X}",
            u32::from(c)
        );
    }
}
