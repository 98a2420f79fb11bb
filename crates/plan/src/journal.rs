//! The write-ahead journal: format, writer, reader, listing and retention.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::PlanError;
use crate::fsx::{self, Kind, Located, Parent, io_err};

/// Value of `format` in the `begin` record.
pub(crate) const FORMAT: &str = "cryptobot-journal/1";
/// Name of the journal file inside a run directory.
pub(crate) const JOURNAL_FILE: &str = "journal.jsonl";
/// Suffix of a run directory that has been rolled back.
pub(crate) const ROLLED_BACK: &str = ".rolled-back";
/// Lock file in the journal directory.
const LOCK_FILE: &str = ".lock";

/// What a path looked like before a change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Prior {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Copy of the previous content, relative to the run directory (`before/<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A secret was replaced or removed: its content was never stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret_replaced: bool,
    /// Hidden name in the same directory that holds the previous version
    /// while the run is in progress (deleted when the run commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aside: Option<String>,
    /// The previous entry was a symlink with this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One line of `journal.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    Begin {
        format: String,
        command: String,
        root: String,
        started: String,
        started_unix_ns: u64,
        pid: u32,
        changes: usize,
    },
    CreateDir {
        n: usize,
        path: String,
    },
    WriteFile {
        n: usize,
        path: String,
        secret: bool,
        /// `None`: the file did not exist.
        prior: Option<Prior>,
    },
    SetMode {
        n: usize,
        path: String,
        from: u32,
    },
    SetOwner {
        n: usize,
        path: String,
        from: (u32, u32),
    },
    EnsureGroup {
        n: usize,
        name: String,
        existed: bool,
        live: bool,
    },
    EnsureUser {
        n: usize,
        name: String,
        existed: bool,
        live: bool,
    },
    Run {
        n: usize,
        program: String,
        args: Vec<String>,
        why: String,
        undo: Option<(String, Vec<String>)>,
    },
    RemoveFile {
        n: usize,
        path: String,
        secret: bool,
        prior: Option<Prior>,
    },
    RemoveDir {
        n: usize,
        path: String,
        prior: Option<Prior>,
    },
    RemoveGroup {
        n: usize,
        name: String,
        live: bool,
        /// The removed `group` line and the `gshadow` line (password locked).
        prior: Option<(String, Option<String>)>,
    },
    RemoveUser {
        n: usize,
        name: String,
        live: bool,
        /// The removed `passwd` line and the `shadow` line (password locked).
        prior: Option<(String, Option<String>)>,
    },
    Commit {
        applied: usize,
        finished: String,
    },
}

/// UTC time as `yyyymmddThhmmssZ` and RFC 3339.
pub(crate) fn utc_now() -> (String, String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (compact, rfc3339) = utc_stamps(now.as_secs());
    (
        compact,
        rfc3339,
        u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
    )
}

/// Seconds since the Unix epoch as UTC `yyyymmddThhmmssZ` (for names) and
/// RFC 3339 (for people), the forms journal runs use.
pub fn utc_stamps(secs: u64) -> (String, String) {
    let (y, mo, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    (
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    )
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Exclusive lock on the journal directory, held while applying or rolling back.
pub(crate) struct Lock {
    _fd: OwnedFd,
}

pub(crate) fn lock(dir: BorrowedFd<'_>, host_dir: &Path) -> Result<Lock, PlanError> {
    let path = host_dir.join(LOCK_FILE);
    let fd = rfs::openat(
        dir,
        LOCK_FILE,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io_err(&path, "open the lock file", e))?;
    // Retry for a moment: a child process forked by another thread may hold
    // a copy of a just-released lock descriptor until it execs.
    let mut waited = 0;
    loop {
        match rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Lock { _fd: fd }),
            Err(Errno::WOULDBLOCK) if waited < LOCK_WAIT_MS => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                waited += 20;
            }
            Err(Errno::WOULDBLOCK) => return Err(PlanError::Busy { path }),
            Err(e) => return Err(io_err(&path, "lock", e)),
        }
    }
}

/// How long `lock` waits for another holder.
const LOCK_WAIT_MS: u64 = 3000;

/// Appends records to a new run directory.
pub(crate) struct Writer {
    parent: OwnedFd,
    parent_host: PathBuf,
    name: String,
    dir: OwnedFd,
    file: std::fs::File,
    before_dir: Option<OwnedFd>,
}

impl Writer {
    /// Creates `<parent>/<prefix><stamp>-<pid>[-k]/journal.jsonl` (dirs 0700,
    /// files 0600) and writes the `begin` record.
    pub(crate) fn create(
        parent: BorrowedFd<'_>,
        parent_host: &Path,
        prefix: &str,
        command: &str,
        root: &Path,
        changes: usize,
    ) -> Result<Writer, PlanError> {
        let (stamp, iso, ns) = utc_now();
        let pid = std::process::id();
        let parent = rfs::openat(
            parent,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(parent_host, "open", e))?;
        let mut k = 1;
        let name = loop {
            let name = if k == 1 {
                format!("{prefix}{stamp}-{pid}")
            } else {
                format!("{prefix}{stamp}-{pid}-{k}")
            };
            match rfs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => break name,
                Err(Errno::EXIST) if k < 1000 => k += 1,
                Err(e) => {
                    return Err(io_err(
                        &parent_host.join(&name),
                        "create the journal directory",
                        e,
                    ));
                }
            }
        };
        let begin = Record::Begin {
            format: FORMAT.into(),
            command: command.into(),
            root: root.to_string_lossy().into_owned(),
            started: iso,
            started_unix_ns: ns,
            pid,
            changes,
        };
        let host = parent_host.join(&name);
        let result = (|| {
            let dir = rfs::openat(
                &parent,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(&host, "open", e))?;
            rfs::fchmod(&dir, Mode::from_raw_mode(0o700)).map_err(|e| io_err(&host, "chmod", e))?;
            let file = create_private(&dir, JOURNAL_FILE, &host.join(JOURNAL_FILE))?;
            rfs::fsync(&dir).map_err(|e| io_err(&host, "fsync", e))?;
            rfs::fsync(&parent).map_err(|e| io_err(parent_host, "fsync", e))?;
            Ok((dir, file))
        })();
        let (dir, file) = match result {
            Ok(x) => x,
            Err(e) => {
                // Leave no run directory without a journal behind.
                let _ = remove_tree(parent.as_fd(), &name, &host, 0);
                return Err(e);
            }
        };
        let mut writer = Writer {
            parent,
            parent_host: parent_host.to_path_buf(),
            name,
            dir,
            file,
            before_dir: None,
        };
        if let Err(e) = writer.append(&begin) {
            let _ = remove_tree(writer.parent.as_fd(), &writer.name, &host, 0);
            return Err(e);
        }
        Ok(writer)
    }

    /// Host path of the run directory.
    pub(crate) fn host_dir(&self) -> PathBuf {
        self.parent_host.join(&self.name)
    }

    /// Appends one record and `fsync`s it.
    pub(crate) fn append(&mut self, record: &Record) -> Result<(), PlanError> {
        let path = self.host_dir().join(JOURNAL_FILE);
        let mut line = serde_json::to_vec(record).map_err(|e| PlanError::Journal {
            path: path.clone(),
            reason: format!("cannot encode a record: {e}"),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| PlanError::Io {
                path,
                op: "append to the journal",
                source,
            })
    }

    /// Stores the previous content of change `n` as `before/<n>` (0600) and
    /// returns that relative name. Never called for secrets.
    pub(crate) fn save_before(&mut self, n: usize, data: &[u8]) -> Result<String, PlanError> {
        let host = self.host_dir().join("before");
        if self.before_dir.is_none() {
            match rfs::mkdirat(&self.dir, "before", Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(&host, "create", e)),
            }
            let fd = rfs::openat(
                &self.dir,
                "before",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(&host, "open", e))?;
            rfs::fchmod(&fd, Mode::from_raw_mode(0o700)).map_err(|e| io_err(&host, "chmod", e))?;
            rfs::fsync(&self.dir).map_err(|e| io_err(&host, "fsync", e))?;
            self.before_dir = Some(fd);
        }
        let Some(before) = &self.before_dir else {
            return Err(io_err(&host, "open", Errno::BADF));
        };
        let name = n.to_string();
        let path = host.join(&name);
        let mut file = create_private(before, &name, &path)?;
        file.write_all(data)
            .and_then(|()| file.sync_all())
            .map_err(|source| PlanError::Io {
                path: path.clone(),
                op: "write",
                source,
            })?;
        rfs::fsync(before).map_err(|e| io_err(&host, "fsync", e))?;
        Ok(format!("before/{name}"))
    }

    /// Renames the run directory to `<name>.rolled-back`.
    pub(crate) fn mark_rolled_back(&self) -> Result<PathBuf, PlanError> {
        mark_rolled_back(self.parent.as_fd(), &self.parent_host, &self.name)
    }
}

fn create_private(dir: impl AsFd, name: &str, host: &Path) -> Result<std::fs::File, PlanError> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::APPEND
            | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io_err(host, "create", e))?;
    rfs::fchmod(&fd, Mode::from_raw_mode(0o600)).map_err(|e| io_err(host, "chmod", e))?;
    Ok(std::fs::File::from(fd))
}

/// Renames `<parent>/<name>` to `<name>.rolled-back` and returns the new host path.
pub(crate) fn mark_rolled_back(
    parent: BorrowedFd<'_>,
    parent_host: &Path,
    name: &str,
) -> Result<PathBuf, PlanError> {
    let new = format!("{name}{ROLLED_BACK}");
    rfs::renameat_with(
        parent,
        name,
        parent,
        new.as_str(),
        rfs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| io_err(&parent_host.join(name), "mark as rolled back", e))?;
    rfs::fsync(parent).map_err(|e| io_err(parent_host, "fsync", e))?;
    Ok(parent_host.join(new))
}

/// A run directory found in the journal directory.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    pub name: String,
    pub rolled_back: bool,
    /// Sort key: timestamp in the name, then the precise start time.
    key: (String, u64, String),
}

/// `yyyymmddThhmmssZ-<pid>[-k]`, optionally with `.rolled-back`.
fn parse_run_name(name: &str) -> Option<(String, bool)> {
    let (base, rolled_back) = match name.strip_suffix(ROLLED_BACK) {
        Some(b) => (b, true),
        None => (name, false),
    };
    let b = base.as_bytes();
    if b.len() < 18 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(|c| c.is_ascii_digit() || *c == b'-');
    ok.then(|| (base[..16].to_owned(), rolled_back))
}

/// Run directories, oldest first.
pub(crate) fn list_runs(dir: BorrowedFd<'_>, host_dir: &Path) -> Result<Vec<RunDir>, PlanError> {
    let mut runs = Vec::new();
    for (name, kind) in fsx::list_dir(dir, host_dir)? {
        if kind != Kind::Dir {
            continue;
        }
        let Some((stamp, rolled_back)) = parse_run_name(&name) else {
            continue;
        };
        let ns = read_records(dir, host_dir, &name)
            .ok()
            .and_then(|r| match r.first() {
                Some(Record::Begin {
                    started_unix_ns, ..
                }) => Some(*started_unix_ns),
                _ => None,
            })
            .unwrap_or(0);
        runs.push(RunDir {
            key: (stamp, ns, name.clone()),
            name,
            rolled_back,
        });
    }
    runs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(runs)
}

/// Reads and parses `<dir>/<run>/journal.jsonl`. A torn last line (crash
/// while appending) is ignored; any other bad line is an error.
pub(crate) fn read_records(
    dir: BorrowedFd<'_>,
    host_dir: &Path,
    run: &str,
) -> Result<Vec<Record>, PlanError> {
    let host = host_dir.join(run).join(JOURNAL_FILE);
    let run_fd = rfs::openat(
        dir,
        run,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(&host_dir.join(run), "open", e))?;
    let slot = fsx::Slot {
        dir: run_fd,
        name: JOURNAL_FILE.to_owned(),
        host: host.clone(),
    };
    let bytes = slot.read()?;
    let text = std::str::from_utf8(&bytes).map_err(|_| PlanError::Journal {
        path: host.clone(),
        reason: "is not valid UTF-8".into(),
    })?;
    // Every record is written with its newline and synced before its
    // change starts. Text after the last newline is a torn write, even when
    // it happens to parse: the change it announced was never started.
    let complete = text.rsplit_once('\n').map_or("", |(lines, _torn)| lines);
    let mut out = Vec::new();
    for (i, line) in complete.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(e) => {
                return Err(PlanError::Journal {
                    path: host,
                    reason: format!("line {} cannot be read: {e}", i + 1),
                });
            }
        }
    }
    match out.first() {
        Some(Record::Begin { format, .. }) if format == FORMAT => Ok(out),
        _ => Err(PlanError::Journal {
            path: host,
            reason: format!("does not start with a `begin` record of format {FORMAT}"),
        }),
    }
}

/// Reads `before/<n>` of a run.
pub(crate) fn read_before(
    root_fd: BorrowedFd<'_>,
    run_host: &Path,
    rel: &str,
) -> Result<Zeroizing<Vec<u8>>, PlanError> {
    if !(rel.starts_with("before/")
        && rel[7..].bytes().all(|b| b.is_ascii_digit())
        && rel.len() > 7)
    {
        return Err(PlanError::Journal {
            path: run_host.join(JOURNAL_FILE),
            reason: format!("unexpected content reference {rel:?}"),
        });
    }
    let host = run_host.join(rel);
    match fsx::locate(root_fd, &host, Parent::Follow)? {
        Located::Found(slot) => slot.read(),
        Located::ParentMissing | Located::ParentSymlink => Err(PlanError::NotFound { path: host }),
    }
}

/// Deletes the oldest run directories so that at most `keep` remain.
/// Returns notes for directories that could not be deleted.
pub(crate) fn prune(dir: BorrowedFd<'_>, host_dir: &Path, keep: usize) -> Vec<String> {
    let runs = match list_runs(dir, host_dir) {
        Ok(r) => r,
        Err(e) => return vec![format!("old journals were not pruned: {e}")],
    };
    let excess = runs.len().saturating_sub(keep);
    let mut notes = Vec::new();
    for run in runs.iter().take(excess) {
        if let Err(e) = remove_tree(dir, &run.name, &host_dir.join(&run.name), 0) {
            notes.push(format!("old journal was not deleted: {e}"));
        }
    }
    notes
}

/// Removes a directory tree without following symlinks.
fn remove_tree(
    parent: BorrowedFd<'_>,
    name: &str,
    host: &Path,
    depth: usize,
) -> Result<(), PlanError> {
    if depth > 8 {
        return Err(io_err(host, "remove (too deep)", Errno::LOOP));
    }
    let fd = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(host, "open", e))?;
    for (child, kind) in fsx::list_dir(fd.as_fd(), host)? {
        if kind == Kind::Dir {
            remove_tree(fd.as_fd(), &child, &host.join(&child), depth + 1)?;
        } else {
            rfs::unlinkat(&fd, child.as_str(), AtFlags::empty())
                .map_err(|e| io_err(&host.join(&child), "remove", e))?;
        }
    }
    drop(fd);
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(|e| io_err(host, "remove", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let (stamp, iso, _) = utc_now();
        assert_eq!(stamp.len(), 16);
        assert_eq!(iso.len(), 20);
    }

    #[test]
    fn run_names() {
        assert_eq!(
            parse_run_name("20250102T030405Z-123"),
            Some(("20250102T030405Z".into(), false))
        );
        assert_eq!(
            parse_run_name("20250102T030405Z-123-2.rolled-back"),
            Some(("20250102T030405Z".into(), true))
        );
        assert_eq!(parse_run_name(".lock"), None);
        assert_eq!(parse_run_name("undo-20250102T030405Z-1"), None);
    }

    // Write → read of the journal, for any records. (The reader alone is
    // fuzzed by `fuzz/fuzz_targets/plan_journal.rs`.)

    use proptest::prelude::*;

    fn prior() -> impl Strategy<Value = Option<Prior>> {
        proptest::option::of(
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                proptest::option::of(any::<String>()),
                any::<bool>(),
                proptest::option::of(any::<String>()),
                proptest::option::of(any::<String>()),
            )
                .prop_map(|(mode, uid, gid, content, secret_replaced, aside, link)| {
                    Prior {
                        mode,
                        uid,
                        gid,
                        content,
                        secret_replaced,
                        aside,
                        link,
                    }
                }),
        )
    }

    fn record() -> impl Strategy<Value = Record> {
        let n = any::<usize>();
        let text = any::<String>();
        prop_oneof![
            (n, text).prop_map(|(n, path)| Record::CreateDir { n, path }),
            (n, text, any::<bool>(), prior()).prop_map(|(n, path, secret, prior)| {
                Record::WriteFile {
                    n,
                    path,
                    secret,
                    prior,
                }
            }),
            (n, text, any::<u32>()).prop_map(|(n, path, from)| Record::SetMode { n, path, from }),
            (n, text, any::<(u32, u32)>()).prop_map(|(n, path, from)| Record::SetOwner {
                n,
                path,
                from
            }),
            (n, text, any::<bool>(), any::<bool>()).prop_map(|(n, name, existed, live)| {
                Record::EnsureUser {
                    n,
                    name,
                    existed,
                    live,
                }
            }),
            (
                n,
                text,
                proptest::collection::vec(any::<String>(), 0..3),
                text,
                proptest::option::of((
                    any::<String>(),
                    proptest::collection::vec(any::<String>(), 0..3)
                )),
            )
                .prop_map(|(n, program, args, why, undo)| Record::Run {
                    n,
                    program,
                    args,
                    why,
                    undo
                }),
            (
                n,
                text,
                any::<bool>(),
                proptest::option::of((any::<String>(), proptest::option::of(any::<String>())))
            )
                .prop_map(|(n, name, live, prior)| Record::RemoveGroup {
                    n,
                    name,
                    live,
                    prior
                }),
            (n, text, prior()).prop_map(|(n, path, prior)| Record::RemoveDir { n, path, prior }),
            (n, text).prop_map(|(applied, finished)| Record::Commit { applied, finished }),
        ]
    }

    fn as_json(records: &[Record]) -> Vec<serde_json::Value> {
        records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect()
    }

    /// Writes `records` after the `begin` record of a new run; returns the
    /// journal directory (kept alive), its descriptor and the run's name.
    fn written(records: &[Record], command: &str) -> (tempfile::TempDir, OwnedFd, String) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fd = rfs::open(
            tmp.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open");
        let mut w = Writer::create(
            fd.as_fd(),
            Path::new("/j"),
            "",
            command,
            Path::new("/"),
            records.len(),
        )
        .expect("create");
        for r in records {
            w.append(r).expect("append");
        }
        let name = w.name.clone();
        (tmp, fd, name)
    }

    /// Found while writing `a_torn_last_record_is_ignored`: a last record
    /// written without its newline was read as if its change had started,
    /// against what `read_records` promises.
    #[test]
    fn proptest_regression_torn_record_without_newline_is_ignored() {
        let records = [
            Record::SetMode {
                n: 0,
                path: "/etc/a".into(),
                from: 0o644,
            },
            Record::Commit {
                applied: 1,
                finished: "2026-01-01T00:00:00Z".into(),
            },
        ];
        let (tmp, fd, name) = written(&records, "test");
        let file = tmp.path().join(&name).join(JOURNAL_FILE);
        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(&file, text.trim_end_matches('\n')).expect("write");
        let read = read_records(fd.as_fd(), Path::new("/j"), &name).expect("records");
        assert_eq!(as_json(&read[1..]), as_json(&records[..1]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn journal_records_read_back_as_written(
            records in proptest::collection::vec(record(), 0..6),
            command in any::<String>(),
        ) {
            let (_tmp, fd, name) = written(&records, &command);
            let read = read_records(fd.as_fd(), Path::new("/j"), &name)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let Some((Record::Begin { command: c, format, .. }, rest)) = read.split_first() else {
                return Err(TestCaseError::fail("no begin record"));
            };
            prop_assert_eq!(c, &command);
            prop_assert_eq!(format, FORMAT);
            prop_assert_eq!(as_json(rest), as_json(&records));
        }

        #[test]
        fn a_torn_last_record_is_ignored(
            records in proptest::collection::vec(record(), 1..5),
            cut in any::<prop::sample::Index>(),
            only_the_newline in any::<bool>(),
        ) {
            let (tmp, fd, name) = written(&records, "test");
            let file = tmp.path().join(&name).join(JOURNAL_FILE);
            let mut bytes = std::fs::read(&file).expect("read");
            // Cut inside the last line (its newline included): a crash
            // while appending it.
            let last_start = bytes[..bytes.len() - 1]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            // Half the cases lose just the newline: a complete record whose
            // newline was never written is torn all the same.
            let keep = if only_the_newline {
                bytes.len() - 1
            } else {
                last_start + cut.index(bytes.len() - last_start)
            };
            bytes.truncate(keep);
            // A cut that keeps only complete UTF-8 is a torn write; one in
            // the middle of a character is reported instead (not valid UTF-8).
            prop_assume!(std::str::from_utf8(&bytes).is_ok());
            std::fs::write(&file, &bytes).expect("write");
            let read = read_records(fd.as_fd(), Path::new("/j"), &name)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(as_json(&read[1..]), as_json(&records[..records.len() - 1]));
        }
    }
}
