//! The filesystem prefix under which host paths are read and written.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::PlanError;

/// Filesystem prefix under which every host path is read and written.
///
/// `/` on a live system; a temporary directory in tests and image builds.
/// The stored path is canonical (absolute, no symlinks), so [`Root::is_live`]
/// cannot be fooled by `/./` or a symlink to `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// Opens a root. The directory must already exist: cryptobot never
    /// creates the root itself, because a typo in `--root` would otherwise
    /// silently build a fresh tree somewhere unexpected.
    pub fn new(path: impl Into<PathBuf>) -> Result<Root, PlanError> {
        let given: PathBuf = path.into();
        let canonical = match std::fs::canonicalize(&given) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PlanError::RootMissing { path: given });
            }
            Err(source) => {
                return Err(PlanError::Io {
                    path: given,
                    op: "resolve the root directory",
                    source,
                });
            }
        };
        match std::fs::metadata(&canonical) {
            Ok(m) if m.is_dir() => Ok(Root { path: canonical }),
            Ok(_) => Err(PlanError::RootNotADirectory { path: given }),
            Err(source) => Err(PlanError::Io {
                path: given,
                op: "inspect the root directory",
                source,
            }),
        }
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the root is `/`, i.e. changes affect the running system.
    pub fn is_live(&self) -> bool {
        self.path == Path::new("/")
    }

    /// Maps a host path (absolute, as seen on the target system) to the path
    /// under this root. The host path must be absolute, valid UTF-8 and must
    /// not contain `..`.
    ///
    /// This is a plain join for display and for simple reads by callers; the
    /// executor itself never follows a symlink out of the root (see the crate
    /// documentation).
    pub fn host(&self, host_path: &Path) -> Result<PathBuf, PlanError> {
        let parts = host_components(host_path)?;
        let mut out = self.path.clone();
        for p in parts {
            out.push(p);
        }
        Ok(out)
    }
}

/// Validates a host path and returns its normal components (`.` dropped).
pub(crate) fn host_components(host_path: &Path) -> Result<Vec<&str>, PlanError> {
    let Some(text) = host_path.to_str() else {
        return Err(PlanError::InvalidPath {
            path: host_path.to_path_buf(),
            reason: "is not valid UTF-8",
        });
    };
    if text.contains('\0') {
        return Err(PlanError::InvalidPath {
            path: host_path.to_path_buf(),
            reason: "contains a NUL byte",
        });
    }
    if !host_path.is_absolute() {
        return Err(PlanError::InvalidPath {
            path: host_path.to_path_buf(),
            reason: "is not absolute",
        });
    }
    let mut parts = Vec::new();
    for c in host_path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(PlanError::InvalidPath {
                    path: host_path.to_path_buf(),
                    reason: "contains `..`",
                });
            }
            Component::Normal(s) => {
                // Valid UTF-8 was checked on the whole path above.
                if let Some(s) = s.to_str() {
                    parts.push(s);
                }
            }
            Component::Prefix(_) => {
                return Err(PlanError::InvalidPath {
                    path: host_path.to_path_buf(),
                    reason: "is not a Unix path",
                });
            }
        }
    }
    Ok(parts)
}

/// Validates a host path that names an entry (not `/` itself) and returns it
/// in normal form (`/a/b`, no `.` or duplicate slashes).
pub(crate) fn normalize_entry(host_path: &Path) -> Result<PathBuf, PlanError> {
    let parts = host_components(host_path)?;
    if parts.is_empty() {
        return Err(PlanError::InvalidPath {
            path: host_path.to_path_buf(),
            reason: "names the root directory itself, which cryptobot does not manage",
        });
    }
    let mut out = PathBuf::from("/");
    for p in parts {
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_validated() -> Result<(), PlanError> {
        let root = Root::new("/")?;
        assert!(root.is_live());
        assert_eq!(root.host(Path::new("/etc/x"))?, Path::new("/etc/x"));
        assert!(root.host(Path::new("etc/x")).is_err());
        assert!(root.host(Path::new("/etc/../x")).is_err());
        assert_eq!(
            normalize_entry(Path::new("/etc/./x//y"))?,
            Path::new("/etc/x/y")
        );
        assert!(normalize_entry(Path::new("/")).is_err());
        Ok(())
    }

    #[test]
    fn missing_root_names_the_path() {
        let Err(err) = Root::new("/nonexistent/cryptobot-root") else {
            panic!("a missing root was accepted");
        };
        let text = err.to_string();
        assert!(text.contains("/nonexistent/cryptobot-root"), "{text}");
        assert!(text.contains("create it"), "{text}");
    }
}
