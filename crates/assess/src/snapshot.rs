//! A read-only view of the host under `--root`, read lazily.
//!
//! Every path a check asks for is a *host* path (`/etc/redis/redis.conf`).
//! It is validated and mapped with [`Root::host`], then resolved one
//! component at a time with `lstat`: a symbolic link is followed as if the
//! root were `/` (an absolute target restarts at the root, `..` stops at
//! it), so nothing outside the root is ever read — a link planted in an
//! image cannot make the assessment read the build machine's files. The
//! last component is opened with `O_NOFOLLOW`.

use std::cell::{OnceCell, RefCell};
use std::ffi::OsString;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use cryptobot_config::{Config, ConfigError, Layout};
use cryptobot_plan::Root;

/// Files larger than this are not read (configuration files are small).
pub const MAX_READ: u64 = 4 * 1024 * 1024;
/// Symbolic links followed while resolving one path.
const MAX_LINKS: usize = 40;
/// Entries a walk visits at most.
const MAX_WALK: usize = 200_000;

/// The host as the checks see it.
pub struct Snapshot {
    root: Root,
    layout: Layout,
    config_path: PathBuf,
    now: i64,
    config: OnceCell<Result<Config, ConfigError>>,
    permissions: OnceCell<Vec<cryptobot_harden::permissions::Finding>>,
    notes: RefCell<Vec<String>>,
    advisory_db: Option<PathBuf>,
    advisories: OnceCell<Result<crate::osv::Database, String>>,
}

impl Snapshot {
    /// `config_path` is a host path (default `<home>/config/cryptobot.toml`);
    /// `now` is seconds since the Unix epoch (certificate expiry).
    pub fn new(root: Root, layout: Layout, config_path: Option<PathBuf>, now: i64) -> Snapshot {
        let config_path = config_path.unwrap_or_else(|| layout.config_file());
        Snapshot {
            root,
            layout,
            config_path,
            now,
            config: OnceCell::new(),
            permissions: OnceCell::new(),
            notes: RefCell::new(Vec::new()),
            advisory_db: None,
            advisories: OnceCell::new(),
        }
    }

    /// Uses the OSV advisories in `dir` (a directory on this machine, not
    /// under the root: the operator's copy of an OSV export) for the
    /// dependency checks.
    pub fn with_advisory_db(mut self, dir: Option<PathBuf>) -> Snapshot {
        self.advisory_db = dir;
        self
    }

    /// The advisory database given with `--advisory-db`, loaded once;
    /// `None` when none was given.
    pub fn advisories(&self) -> Option<&Result<crate::osv::Database, String>> {
        let dir = self.advisory_db.as_ref()?;
        Some(
            self.advisories
                .get_or_init(|| crate::osv::Database::load(dir).map_err(|e| e.to_string())),
        )
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// Host path of the Cryptobot configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Records something the reader should know (a file that could not be
    /// read, a check that could not run).
    pub fn note(&self, note: impl Into<String>) {
        self.notes.borrow_mut().push(note.into());
    }

    /// The notes recorded so far, without duplicates, in order.
    pub fn take_notes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in self.notes.borrow_mut().drain(..) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    /// Whether the installation's home exists (as a directory).
    pub fn has_install(&self) -> bool {
        self.lstat(self.layout.home()).is_some_and(|m| m.is_dir())
    }

    /// The configuration as the service would load it from the file
    /// (environment overrides are not applied: the service's environment
    /// is not the assessor's). `None` when the file does not exist.
    pub fn config(&self) -> Option<&Result<Config, ConfigError>> {
        let path = self.config_path.clone();
        self.lstat(&path)?;
        Some(self.config.get_or_init(|| match self.read(&path) {
            Some(text) => Config::from_toml(&text, &path, &[]),
            None => Err(ConfigError::Read {
                path: path.clone(),
                source: std::io::Error::other("not a readable regular file"),
            }),
        }))
    }

    /// What `cryptobot permissions --check` reports for the installation
    /// (computed once; empty without an installation).
    pub fn permission_findings(&self) -> &[cryptobot_harden::permissions::Finding] {
        self.permissions.get_or_init(|| {
            if !self.has_install() {
                return Vec::new();
            }
            let config = self.config_or_default();
            let options = cryptobot_harden::permissions::Options::default();
            match cryptobot_harden::permissions::check(
                self.root(),
                self.layout(),
                &config,
                &options,
            ) {
                Ok(f) => f,
                Err(e) => {
                    self.note(format!("the permission checks could not run: {e}"));
                    Vec::new()
                }
            }
        })
    }

    /// The configuration when it is valid, otherwise the defaults (for
    /// checks that need paths and ports from it).
    pub fn config_or_default(&self) -> Config {
        match self.config() {
            Some(Ok(c)) => c.clone(),
            _ => match Config::defaults(&[]) {
                Ok(c) => c,
                // The defaults are valid (tested in cryptobot-config).
                Err(e) => unreachable!("the default configuration is invalid: {e}"),
            },
        }
    }

    /// The real path of `host` on this machine, symbolic links resolved
    /// within the root; `follow_last` decides whether a link in the last
    /// component is followed. `None` when the path is invalid, a component
    /// is missing, or too many links were followed.
    pub fn resolve(&self, host: &Path, follow_last: bool) -> Option<PathBuf> {
        // Validates (absolute, UTF-8, no `..`).
        self.root.host(host).ok()?;
        let mut pending: Vec<OsString> = host
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_os_string()),
                _ => None,
            })
            .rev()
            .collect();
        let mut cur: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                cur.pop();
                continue;
            }
            if part == "." || part.is_empty() {
                continue;
            }
            let mut real = self.root.path().to_path_buf();
            real.extend(&cur);
            real.push(&part);
            let meta = std::fs::symlink_metadata(&real).ok()?;
            let last = pending.is_empty();
            if meta.file_type().is_symlink() && (!last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&real).ok()?;
                if target.is_absolute() {
                    cur.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push(OsString::from("..")),
                        _ => {}
                    }
                }
            } else {
                cur.push(part);
            }
        }
        let mut real = self.root.path().to_path_buf();
        real.extend(&cur);
        Some(real)
    }

    /// `lstat` of a host path (the last component is not followed).
    pub fn lstat(&self, host: &Path) -> Option<Metadata> {
        let real = self.resolve(host, false)?;
        std::fs::symlink_metadata(real).ok()
    }

    /// The text of a regular file (links resolved within the root), lossy
    /// UTF-8; `None` when it is missing, not a regular file, larger than
    /// [`MAX_READ`] or unreadable (the latter with a note).
    pub fn read(&self, host: &Path) -> Option<String> {
        let bytes = self.read_bytes(host)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Like [`Snapshot::read`], as bytes.
    pub fn read_bytes(&self, host: &Path) -> Option<Vec<u8>> {
        self.read_bytes_limit(host, MAX_READ)
    }

    /// Like [`Snapshot::read_bytes`] with another size limit (package
    /// databases are larger than configuration files).
    pub fn read_bytes_limit(&self, host: &Path, limit: u64) -> Option<Vec<u8>> {
        let real = self.resolve(host, true)?;
        let meta = std::fs::symlink_metadata(&real).ok()?;
        if !meta.is_file() || meta.len() > limit {
            return None;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&real);
        let mut file = match file {
            Ok(f) => f,
            Err(e) => {
                self.note(format!("cannot read {}: {e}", host.display()));
                return None;
            }
        };
        let mut out = Vec::new();
        match file.by_ref().take(limit).read_to_end(&mut out) {
            Ok(_) => Some(out),
            Err(e) => {
                self.note(format!("cannot read {}: {e}", host.display()));
                None
            }
        }
    }

    /// Names in a directory, sorted; empty when it does not exist.
    pub fn list(&self, host: &Path) -> Vec<String> {
        let Some(real) = self.resolve(host, true) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(real) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Every entry below the directory `host` (not the directory itself),
    /// parents first, never entering a symbolic link; `skip` prunes a
    /// host path (and everything below it).
    pub fn walk(&self, host: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<(PathBuf, Metadata)> {
        let mut out = Vec::new();
        let Some(real) = self.resolve(host, false) else {
            return out;
        };
        let mut stack = vec![(host.to_path_buf(), real)];
        while let Some((dir_host, dir_real)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir_real) else {
                continue;
            };
            let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
            names.sort();
            let mut subdirs = Vec::new();
            for name in names {
                let h = dir_host.join(&name);
                if skip(&h) {
                    continue;
                }
                let r = dir_real.join(&name);
                let Ok(meta) = std::fs::symlink_metadata(&r) else {
                    continue;
                };
                if meta.is_dir() {
                    subdirs.push((h.clone(), r));
                }
                out.push((h, meta));
                if out.len() >= MAX_WALK {
                    self.note(format!(
                        "stopped walking {} after {MAX_WALK} entries",
                        host.display()
                    ));
                    return out;
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_root() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "outside")?;
        let r = dir.path().join("root");
        std::fs::create_dir_all(r.join("etc/redis"))?;
        std::fs::write(r.join("etc/real.conf"), "inside")?;
        std::os::unix::fs::symlink("/etc/real.conf", r.join("etc/redis/abs.conf"))?;
        std::os::unix::fs::symlink("../real.conf", r.join("etc/redis/rel.conf"))?;
        std::os::unix::fs::symlink(&outside, r.join("etc/redis/out.conf"))?;
        std::os::unix::fs::symlink("../../../../../outside", r.join("etc/redis/up.conf"))?;
        let s = Snapshot::new(Root::new(&r)?, Layout::new("/opt/cryptobot"), None, 0);
        let read = |p: &str| s.read(Path::new(p));
        assert_eq!(read("/etc/redis/abs.conf").as_deref(), Some("inside"));
        assert_eq!(read("/etc/redis/rel.conf").as_deref(), Some("inside"));
        // An absolute link to the real path of the outside file maps into
        // the root, where it does not exist.
        assert_eq!(read("/etc/redis/out.conf"), None);
        // `..` stops at the root: `/outside` under the root does not exist.
        assert_eq!(read("/etc/redis/up.conf"), None);
        assert!(s.lstat(Path::new("/etc/redis/out.conf")).is_some());
        assert_eq!(read("/etc/../etc/real.conf"), None, "`..` is refused");
        Ok(())
    }
}
