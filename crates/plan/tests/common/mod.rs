//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cryptobot_plan::{ApplyOptions, Root};

/// Host path of the journal directory used by the tests.
pub const JOURNAL: &str = "/journal/changes";

pub fn opts(command: &str) -> ApplyOptions {
    ApplyOptions::new(JOURNAL, command)
}

pub fn new_root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    // tempdir is 0700; make the root look like `/` (0755) so parents are not world-writable.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = Root::new(dir.path()).unwrap();
    (dir, root)
}

/// Absolute path under the root of a host path.
pub fn at(root: &Root, host: &str) -> PathBuf {
    root.host(Path::new(host)).unwrap()
}

pub fn mkdir(root: &Root, host: &str, mode: u32) {
    let p = at(root, host);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn write(root: &Root, host: &str, content: &str, mode: u32) {
    let p = at(root, host);
    fs::write(&p, content).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode_of(root: &Root, host: &str) -> u32 {
    fs::symlink_metadata(at(root, host))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

pub fn read(root: &Root, host: &str) -> String {
    fs::read_to_string(at(root, host)).unwrap()
}

pub fn exists(root: &Root, host: &str) -> bool {
    fs::symlink_metadata(at(root, host)).is_ok()
}

/// One entry of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Vec<u8>,
    pub mtime_ns: i128,
}

/// Every entry under the root except the journal (`/journal`).
pub fn snapshot(root: &Root) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root.path(), root.path(), &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let rel = format!("/{}", path.strip_prefix(base).unwrap().display());
        if rel.starts_with("/journal") {
            continue;
        }
        let m = fs::symlink_metadata(&path).unwrap();
        let (kind, content) = if m.file_type().is_symlink() {
            (
                "symlink",
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else if m.is_dir() {
            ("dir", Vec::new())
        } else {
            ("file", fs::read(&path).unwrap())
        };
        out.insert(
            rel,
            Entry {
                kind,
                mode: m.permissions().mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                content,
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            },
        );
        if kind == "dir" {
            walk(base, &path, out);
        }
    }
}

/// Snapshot without mtimes (for "restored exactly" comparisons).
pub fn tree(root: &Root) -> BTreeMap<String, (String, u32, u32, u32, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .map(|(k, e)| (k, (e.kind.to_owned(), e.mode, e.uid, e.gid, e.content)))
        .collect()
}

/// Every file under a directory, recursively, as bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.extend(all_files(&p));
            } else if m.is_file() {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out
}

pub fn journal_runs(root: &Root) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(at(root, JOURNAL))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A minimal account database under the root.
pub fn account_db(root: &Root) {
    mkdir(root, "/etc", 0o755);
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/nonexistent:/usr/sbin/nologin\n",
        0o644,
    );
    write(
        root,
        "/etc/group",
        "root:x:0:\nshadow:x:42:\nsvc:x:999:\n",
        0o644,
    );
    write(
        root,
        "/etc/shadow",
        "root:$y$j9T$abcdefghijklmnopqrstuv$0123456789abcdefghijklmnopqrstuvwxyzABCDE:19700:0:99999:7:::\nsvc:!:19700::::::\n",
        0o640,
    );
    std::os::unix::fs::chown(at(root, "/etc/shadow"), Some(0), Some(42)).unwrap();
}
