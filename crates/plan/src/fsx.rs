//! Low-level filesystem operations under a root.
//!
//! Every path is resolved component by component from a descriptor of the
//! root directory. Symlinks met on the way are resolved *inside* the root
//! (an absolute link target starts again at the root, `..` never climbs
//! above it), so a link in an image tree can never send a write to the
//! build host. The final component is always handled with `*at` calls and
//! `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use zeroize::Zeroizing;

use crate::error::PlanError;
use crate::root::{Root, host_components};

/// Maximum number of symlinks followed while resolving one path.
const MAX_LINKS: usize = 40;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Other(&'static str),
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink => "symbolic link",
            Kind::Other(s) => s,
        }
    }
}

/// The parts of `lstat` the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub kind: Kind,
    /// Permission bits only (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

fn meta_of(st: &rfs::Stat) -> Meta {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Other("fifo"),
        FileType::Socket => Kind::Other("socket"),
        FileType::CharacterDevice => Kind::Other("character device"),
        FileType::BlockDevice => Kind::Other("block device"),
        FileType::Unknown => Kind::Other("special file"),
    };
    Meta {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: u64::try_from(st.st_size).unwrap_or(0),
    }
}

pub(crate) fn io_err(path: &Path, op: &'static str, e: Errno) -> PlanError {
    PlanError::Io {
        path: path.to_path_buf(),
        op,
        source: std::io::Error::from(e),
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// A descriptor of the root directory.
pub(crate) fn open_root(root: &Root) -> Result<OwnedFd, PlanError> {
    rfs::open(root.path(), dir_flags(), Mode::empty())
        .map_err(|e| io_err(root.path(), "open the root directory", e))
}

/// Why [`walk_dir`] could not resolve a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkError {
    Os(Errno),
    /// A symbolic link sits in a directory that a user other than root and
    /// the running user can write: that user could point it anywhere, so it
    /// is not followed.
    UntrustedLink {
        name: String,
    },
}

impl From<Errno> for WalkError {
    fn from(e: Errno) -> Self {
        WalkError::Os(e)
    }
}

/// The error for a failed walk towards `host`.
pub(crate) fn walk_err(host: &Path, op: &'static str, e: WalkError) -> PlanError {
    match e {
        WalkError::Os(e) => io_err(host, op, e),
        WalkError::UntrustedLink { name } => PlanError::UntrustedSymlink {
            path: host.to_path_buf(),
            link: name,
        },
    }
}

/// Whether a symlink found in the directory `dir` may be followed: the
/// directory is writable only by root or the running user, or it is sticky
/// (like `/tmp`) and the link belongs to root or the running user (the
/// kernel's `protected_symlinks` rule). Anything else could have been
/// planted by another account, e.g. the service account in its own data
/// directory while root runs `permissions` or `rollback`.
fn link_trusted(dir: &rfs::Stat, link: &rfs::Stat) -> bool {
    let me = rustix::process::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == me;
    let mode = dir.st_mode;
    (trusted(dir.st_uid) && mode & 0o022 == 0) || (mode & 0o1000 != 0 && trusted(link.st_uid))
}

/// Resolves a directory inside the root. With `follow_last == false` a
/// symlink as the last component fails with `ELOOP`. Links are followed
/// only when [`link_trusted`] allows it.
pub(crate) fn walk_dir(
    root_fd: BorrowedFd<'_>,
    parts: &[&str],
    follow_last: bool,
) -> Result<OwnedFd, WalkError> {
    let mut stack: Vec<OwnedFd> = vec![rfs::openat(root_fd, ".", dir_flags(), Mode::empty())?];
    let mut queue: VecDeque<Vec<u8>> = parts.iter().map(|p| p.as_bytes().to_vec()).collect();
    let mut links = 0usize;
    while let Some(comp) = queue.pop_front() {
        // Only the caller's last component can be last here while
        // `follow_last` is false: a followed link's target is queued in front.
        let is_last = queue.is_empty();
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if comp == b".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let cur = stack.last().ok_or(Errno::INVAL)?;
        let name = OsStr::from_bytes(&comp);
        match rfs::openat(cur, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => stack.push(fd),
            Err(e) if e == Errno::LOOP || e == Errno::NOTDIR => {
                let st = rfs::statat(cur, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                    return Err(Errno::NOTDIR.into());
                }
                if is_last && !follow_last {
                    return Err(Errno::LOOP.into());
                }
                if !link_trusted(&rfs::fstat(cur)?, &st) {
                    return Err(WalkError::UntrustedLink {
                        name: name.to_string_lossy().into_owned(),
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP.into());
                }
                let target = rfs::readlinkat(cur, name, Vec::new())?;
                let target = target.as_bytes();
                if target.first() == Some(&b'/') {
                    stack.truncate(1);
                }
                let new: Vec<Vec<u8>> = target
                    .split(|b| *b == b'/')
                    .filter(|c| !c.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                for c in new.into_iter().rev() {
                    queue.push_front(c);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stack.pop().ok_or(Errno::INVAL)?)
}

/// A directory descriptor plus the final name of a host path.
pub(crate) struct Slot {
    pub dir: OwnedFd,
    pub name: String,
    /// The host path, for messages.
    pub host: PathBuf,
}

/// How the parent directory of a slot must be resolved.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    /// Symlinks are resolved inside the root, including the parent itself.
    Follow,
    /// The parent directory itself must not be a symlink (secrets).
    NoFollow,
}

/// Outcome of locating a slot.
pub(crate) enum Located {
    Found(Slot),
    /// The parent directory (or one above it) does not exist.
    ParentMissing,
    /// `Parent::NoFollow` and the parent is a symlink.
    ParentSymlink,
}

/// Locates the parent directory of `host` (a normalized entry path).
pub(crate) fn locate(
    root_fd: BorrowedFd<'_>,
    host: &Path,
    parent: Parent,
) -> Result<Located, PlanError> {
    let parts = host_components(host)?;
    let Some((name, dirs)) = parts.split_last() else {
        return Err(PlanError::InvalidPath {
            path: host.to_path_buf(),
            reason: "names the root directory itself, which cryptobot does not manage",
        });
    };
    match walk_dir(root_fd, dirs, parent == Parent::Follow) {
        Ok(dir) => Ok(Located::Found(Slot {
            dir,
            name: (*name).to_owned(),
            host: host.to_path_buf(),
        })),
        Err(WalkError::Os(Errno::NOENT)) => Ok(Located::ParentMissing),
        Err(WalkError::Os(Errno::LOOP)) if parent == Parent::NoFollow && !dirs.is_empty() => {
            // Distinguish "the parent is a link" from a link loop further up.
            match walk_dir(root_fd, dirs, true) {
                Ok(_) => Ok(Located::ParentSymlink),
                Err(e) => Err(walk_err(host, "resolve the directory of", e)),
            }
        }
        Err(WalkError::Os(Errno::NOTDIR)) => Err(PlanError::NotADirectory {
            path: host.parent().map(Path::to_path_buf).unwrap_or_default(),
        }),
        Err(e) => Err(walk_err(host, "resolve the directory of", e)),
    }
}

/// `lstat` of a host path; `None` if it (or a parent) does not exist.
pub(crate) fn lstat(root_fd: BorrowedFd<'_>, host: &Path) -> Result<Option<Meta>, PlanError> {
    match locate(root_fd, host, Parent::Follow)? {
        Located::Found(slot) => slot.lstat(),
        Located::ParentMissing | Located::ParentSymlink => Ok(None),
    }
}

/// `fstat` of an open directory.
pub(crate) fn fstat_dir(fd: BorrowedFd<'_>, host: &Path) -> Result<Meta, PlanError> {
    rfs::fstat(fd)
        .map(|st| meta_of(&st))
        .map_err(|e| io_err(host, "inspect", e))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn side_name(name: &str, tag: &str) -> String {
    let mut short = name;
    while short.len() > 120 {
        let mut cut = 120;
        while !short.is_char_boundary(cut) {
            cut -= 1;
        }
        short = &short[..cut];
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{short}.cb-{tag}-{}-{n}", std::process::id())
}

fn uid(u: u32) -> rfs::Uid {
    rfs::Uid::from_raw(u)
}

fn gid(g: u32) -> rfs::Gid {
    rfs::Gid::from_raw(g)
}

impl Slot {
    pub(crate) fn lstat(&self) -> Result<Option<Meta>, PlanError> {
        match rfs::statat(&self.dir, self.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(meta_of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(&self.host, "inspect", e)),
        }
    }

    /// The directory holding the slot.
    pub(crate) fn dir_meta(&self) -> Result<Meta, PlanError> {
        let parent = self.host.parent().unwrap_or(Path::new("/"));
        fstat_dir(self.dir.as_fd(), parent)
    }

    /// Opens the final component without following a symlink and checks it
    /// is a regular file or directory.
    fn open_nofollow(&self, op: &'static str) -> Result<(OwnedFd, Meta), PlanError> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match rfs::openat(&self.dir, self.name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => {
                return Err(PlanError::SymlinkRefused {
                    path: self.host.clone(),
                    op,
                });
            }
            Err(Errno::NOENT) => {
                return Err(PlanError::NotFound {
                    path: self.host.clone(),
                });
            }
            Err(e) => return Err(io_err(&self.host, op, e)),
        };
        let meta = rfs::fstat(&fd)
            .map(|st| meta_of(&st))
            .map_err(|e| io_err(&self.host, op, e))?;
        match meta.kind {
            Kind::File | Kind::Dir => Ok((fd, meta)),
            other => Err(PlanError::NotARegularFile {
                path: self.host.clone(),
                found: other.describe(),
            }),
        }
    }

    /// Reads a regular file (never through a symlink). The buffer is zeroized on drop.
    pub(crate) fn read(&self) -> Result<Zeroizing<Vec<u8>>, PlanError> {
        let (fd, meta) = self.open_nofollow("read")?;
        if meta.kind != Kind::File {
            return Err(PlanError::NotARegularFile {
                path: self.host.clone(),
                found: meta.kind.describe(),
            });
        }
        let cap = usize::try_from(meta.size).unwrap_or(0).saturating_add(1);
        let mut buf = Zeroizing::new(Vec::with_capacity(cap));
        std::fs::File::from(fd)
            .read_to_end(&mut buf)
            .map_err(|source| PlanError::Io {
                path: self.host.clone(),
                op: "read",
                source,
            })?;
        Ok(buf)
    }

    /// Writes `data` atomically: temp file in the same directory
    /// (`O_CREAT|O_EXCL|O_NOFOLLOW`, final mode from the start), `fchown`,
    /// exact `fchmod`, write, `fsync`, rename over the target, `fsync` the directory.
    pub(crate) fn write_atomic(
        &self,
        data: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), PlanError> {
        let mut attempts = 0;
        let (tmp, fd) = loop {
            let tmp = side_name(&self.name, "tmp");
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rfs::openat(
                &self.dir,
                tmp.as_str(),
                flags,
                Mode::from_raw_mode(mode & 0o777),
            ) {
                Ok(fd) => break (tmp, fd),
                Err(Errno::EXIST) if attempts < 10 => attempts += 1,
                Err(e) => return Err(io_err(&self.host, "create a temporary file beside", e)),
            }
        };
        let result = (|| {
            // chown before chmod: chown clears set-id bits.
            if let Some((u, g)) = owner {
                rfs::fchown(&fd, Some(uid(u)), Some(gid(g)))
                    .map_err(|e| io_err(&self.host, "chown", e))?;
            }
            rfs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| io_err(&self.host, "chmod", e))?;
            let mut file = std::fs::File::from(fd);
            file.write_all(data).map_err(|source| PlanError::Io {
                path: self.host.clone(),
                op: "write",
                source,
            })?;
            file.sync_all().map_err(|source| PlanError::Io {
                path: self.host.clone(),
                op: "fsync",
                source,
            })?;
            drop(file);
            rfs::renameat(&self.dir, tmp.as_str(), &self.dir, self.name.as_str())
                .map_err(|e| io_err(&self.host, "rename the temporary file over", e))
        })();
        if result.is_err() {
            let _ = rfs::unlinkat(&self.dir, tmp.as_str(), AtFlags::empty());
        }
        result?;
        self.sync_dir()
    }

    pub(crate) fn sync_dir(&self) -> Result<(), PlanError> {
        rfs::fsync(&self.dir).map_err(|e| io_err(&self.host, "fsync the directory of", e))
    }

    /// `mkdir` with the mode, then exact `chmod` (umask) and `chown`, `fsync` the parent.
    pub(crate) fn mkdir(&self, mode: u32, owner: Option<(u32, u32)>) -> Result<(), PlanError> {
        rfs::mkdirat(
            &self.dir,
            self.name.as_str(),
            Mode::from_raw_mode(mode & 0o777),
        )
        .map_err(|e| io_err(&self.host, "create directory", e))?;
        let result = (|| {
            let fd = rfs::openat(
                &self.dir,
                self.name.as_str(),
                dir_flags() | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(|e| io_err(&self.host, "open new directory", e))?;
            if let Some((u, g)) = owner {
                rfs::fchown(&fd, Some(uid(u)), Some(gid(g)))
                    .map_err(|e| io_err(&self.host, "chown", e))?;
            }
            rfs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| io_err(&self.host, "chmod", e))?;
            rfs::fsync(&fd).map_err(|e| io_err(&self.host, "fsync", e))
        })();
        if result.is_err() {
            let _ = rfs::unlinkat(&self.dir, self.name.as_str(), AtFlags::REMOVEDIR);
        }
        result?;
        self.sync_dir()
    }

    /// `chmod` of a regular file or directory; refused on a symlink.
    pub(crate) fn chmod(&self, mode: u32) -> Result<(), PlanError> {
        let (fd, _) = self.open_nofollow("chmod")?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| io_err(&self.host, "chmod", e))?;
        rfs::fsync(&fd).map_err(|e| io_err(&self.host, "fsync", e))
    }

    /// `lchown` semantics: a symlink gets its own owner changed; otherwise
    /// the file is opened without following and `fchown`ed, keeping set-id bits.
    pub(crate) fn lchown(&self, u: u32, g: u32) -> Result<(), PlanError> {
        let meta = self.lstat()?.ok_or_else(|| PlanError::NotFound {
            path: self.host.clone(),
        })?;
        if meta.kind == Kind::Symlink {
            return rfs::chownat(
                &self.dir,
                self.name.as_str(),
                Some(uid(u)),
                Some(gid(g)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| io_err(&self.host, "chown", e));
        }
        let (fd, before) = self.open_nofollow("chown")?;
        rfs::fchown(&fd, Some(uid(u)), Some(gid(g))).map_err(|e| io_err(&self.host, "chown", e))?;
        let after = rfs::fstat(&fd)
            .map(|st| meta_of(&st))
            .map_err(|e| io_err(&self.host, "inspect", e))?;
        if after.mode != before.mode {
            rfs::fchmod(&fd, Mode::from_raw_mode(before.mode))
                .map_err(|e| io_err(&self.host, "chmod", e))?;
        }
        rfs::fsync(&fd).map_err(|e| io_err(&self.host, "fsync", e))
    }

    /// Removes a file or symlink (never follows it).
    pub(crate) fn unlink(&self) -> Result<(), PlanError> {
        rfs::unlinkat(&self.dir, self.name.as_str(), AtFlags::empty())
            .map_err(|e| io_err(&self.host, "remove", e))?;
        self.sync_dir()
    }

    /// Removes an empty directory. `Ok(false)` if it is not empty.
    pub(crate) fn rmdir(&self) -> Result<bool, PlanError> {
        match rfs::unlinkat(&self.dir, self.name.as_str(), AtFlags::REMOVEDIR) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(Errno::NOTEMPTY) | Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(io_err(&self.host, "remove directory", e)),
        }
    }

    /// True if the directory at this slot only holds hidden previous
    /// versions kept by a run in progress (see [`side_name`]).
    pub(crate) fn only_asides(&self) -> Result<bool, PlanError> {
        let fd = rfs::openat(
            &self.dir,
            self.name.as_str(),
            dir_flags() | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| io_err(&self.host, "open", e))?;
        let entries = list_dir(fd.as_fd(), &self.host)?;
        Ok(entries
            .iter()
            .all(|(name, _)| name.starts_with('.') && name.contains(".cb-old-")))
    }

    /// Hard-links the current file to the hidden name `aside` in the same
    /// directory (no copy of the data).
    pub(crate) fn link_aside(&self, aside: &str) -> Result<(), PlanError> {
        rfs::linkat(
            &self.dir,
            self.name.as_str(),
            &self.dir,
            aside,
            AtFlags::empty(),
        )
        .map_err(|e| io_err(&self.host, "keep the previous version of", e))?;
        self.sync_dir()
    }

    /// Renames the current entry to the hidden name `aside` in the same directory.
    pub(crate) fn rename_aside(&self, aside: &str) -> Result<(), PlanError> {
        rfs::renameat_with(
            &self.dir,
            self.name.as_str(),
            &self.dir,
            aside,
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| io_err(&self.host, "remove", e))?;
        self.sync_dir()
    }

    /// The target of a symlink.
    pub(crate) fn read_link(&self) -> Result<String, PlanError> {
        let target = rfs::readlinkat(&self.dir, self.name.as_str(), Vec::new())
            .map_err(|e| io_err(&self.host, "read the link", e))?;
        Ok(String::from_utf8_lossy(target.as_bytes()).into_owned())
    }

    /// Creates a symlink.
    pub(crate) fn symlink(&self, target: &str) -> Result<(), PlanError> {
        rfs::symlinkat(target, &self.dir, self.name.as_str())
            .map_err(|e| io_err(&self.host, "create the link", e))?;
        self.sync_dir()
    }

    /// True if the hidden name exists in this directory.
    pub(crate) fn aside_exists(&self, aside: &str) -> Result<bool, PlanError> {
        match rfs::statat(&self.dir, aside, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err(&self.host, "inspect the previous version of", e)),
        }
    }

    /// Renames a hidden name back over the target.
    pub(crate) fn restore_aside(&self, aside: &str) -> Result<(), PlanError> {
        rfs::renameat(&self.dir, aside, &self.dir, self.name.as_str())
            .map_err(|e| io_err(&self.host, "restore the previous version of", e))?;
        self.sync_dir()
    }

    /// Deletes a hidden name.
    pub(crate) fn drop_aside(&self, aside: &str) -> Result<(), PlanError> {
        match rfs::unlinkat(&self.dir, aside, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => self.sync_dir(),
            Err(e) => Err(io_err(&self.host, "delete the previous version of", e)),
        }
    }
}

/// Creates a directory and any missing parents with mode 0700 (for the
/// journal). Returns a descriptor of it and the host paths it created. The final directory must not be a
/// symlink and must not be group- or world-writable.
pub(crate) fn ensure_private_dir(
    root_fd: BorrowedFd<'_>,
    host: &Path,
) -> Result<(OwnedFd, Vec<PathBuf>), PlanError> {
    let parts = host_components(host)?;
    let mut created = Vec::new();
    for i in 1..=parts.len() {
        let sub = &parts[..i];
        match walk_dir(root_fd, sub, i < parts.len()) {
            Ok(_) => {}
            Err(WalkError::Os(Errno::NOENT)) => {
                let (name, dirs) = sub.split_last().ok_or(PlanError::InvalidPath {
                    path: host.to_path_buf(),
                    reason: "is empty",
                })?;
                let parent =
                    walk_dir(root_fd, dirs, true).map_err(|e| walk_err(host, "create", e))?;
                match rfs::mkdirat(&parent, *name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {
                        let mut p = PathBuf::from("/");
                        p.extend(sub);
                        created.push(p);
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_err(host, "create", e)),
                }
                let fd = rfs::openat(
                    &parent,
                    *name,
                    dir_flags() | OFlags::NOFOLLOW,
                    Mode::empty(),
                )
                .map_err(|e| io_err(host, "open", e))?;
                rfs::fchmod(&fd, Mode::from_raw_mode(0o700))
                    .map_err(|e| io_err(host, "chmod", e))?;
                rfs::fsync(&parent).map_err(|e| io_err(host, "fsync", e))?;
            }
            Err(WalkError::Os(Errno::LOOP)) if i == parts.len() => {
                return Err(PlanError::SymlinkRefused {
                    path: host.to_path_buf(),
                    op: "keep the journal in",
                });
            }
            Err(e) => return Err(walk_err(host, "open", e)),
        }
    }
    let fd = walk_dir(root_fd, &parts, false).map_err(|e| walk_err(host, "open", e))?;
    check_journal_dir(fd.as_fd(), host)?;
    Ok((fd, created))
}

/// Opens an existing directory under the root (following links inside the root).
pub(crate) fn open_dir(root_fd: BorrowedFd<'_>, host: &Path) -> Result<Option<OwnedFd>, PlanError> {
    let parts = host_components(host)?;
    match walk_dir(root_fd, &parts, true) {
        Ok(fd) => Ok(Some(fd)),
        Err(WalkError::Os(Errno::NOENT)) => Ok(None),
        Err(e) => Err(walk_err(host, "open", e)),
    }
}

/// The journal decides what `rollback` writes, so it must be the running
/// user's own (or root's) and not writable by anyone else: a journal
/// planted by the service account, which owns the data directory, is never
/// trusted by root.
pub(crate) fn check_journal_dir(fd: BorrowedFd<'_>, host: &Path) -> Result<(), PlanError> {
    let meta = fstat_dir(fd, host)?;
    if meta.mode & 0o022 != 0 {
        return Err(PlanError::UnsafeParent {
            path: host.join("journal.jsonl"),
            parent: host.to_path_buf(),
            mode: meta.mode,
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid != me && meta.uid != 0 {
        return Err(PlanError::ForeignJournal {
            path: host.to_path_buf(),
            uid: meta.uid,
        });
    }
    Ok(())
}

/// Names in a directory (without `.` and `..`), with their kind.
pub(crate) fn list_dir(dir: BorrowedFd<'_>, host: &Path) -> Result<Vec<(String, Kind)>, PlanError> {
    let mut out = Vec::new();
    let entries = rfs::Dir::read_from(dir).map_err(|e| io_err(host, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(host, "list", e))?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let kind = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => meta_of(&st).kind,
            Err(_) => continue,
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}
