//! The state directory `<home>/data/firewall/` (0700): each apply's
//! `applied-<id>.*` and `previous-<id>.*` files, the `pending` marker, the
//! `last.json` outcome, the lock `confirm` and the watchdog share, and the
//! log `<home>/logs/firewall.log`.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cryptobot_config::Layout;
use cryptobot_plan::Root;

use super::clock::now_ms;
use super::error::LiveError;
use super::model::{self, Outcome, Pending};

/// State files of this many applies are kept (as many as journal runs), so
/// `cryptobot rollback` still finds the previous rules of a confirmed apply.
const KEEP_STATES: usize = cryptobot_plan::KEEP_JOURNALS;

/// `<home>/data/firewall/`, owned by the user running cryptobot (root),
/// mode 0700: what the watchdog loads as root must not be writable by
/// anyone else.
pub(crate) struct State {
    pub(crate) dir: PathBuf,
    pub(crate) logs: PathBuf,
}

fn io_failure(what: String) -> impl Fn(std::io::Error) -> LiveError {
    move |e| {
        LiveError::runtime(
            format!("{what}: {e}"),
            Some("check the owner and mode of the installation's data directory".to_string()),
        )
    }
}

impl State {
    /// The state directory; created when `create` (the home must exist),
    /// `None` when it does not exist and `create` is false.
    pub(crate) fn open(layout: &Layout, create: bool) -> Result<Option<State>, LiveError> {
        let home = layout.home();
        let data = layout.data_dir();
        let dir = data.join(model::STATE_DIR);
        let logs = layout.logs_dir();
        if create {
            if !home.is_dir() {
                return Err(LiveError::input(
                    format!("the installation home {} does not exist", home.display()),
                    Some(
                        "give the right --home, or prepare it with `cryptobot secure-config`"
                            .to_string(),
                    ),
                ));
            }
            for d in [&data, &dir] {
                match std::fs::DirBuilder::new().mode(0o700).create(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_failure(format!("cannot create {}", d.display()))(e)),
                }
            }
        }
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) => return Err(io_failure(format!("cannot inspect {}", dir.display()))(e)),
        };
        let me = rustix::process::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != me {
            return Err(LiveError::input(
                format!(
                    "{} is not a directory owned by this user (uid {me})",
                    dir.display()
                ),
                Some("remove it; cryptobot creates it again, mode 0700".to_string()),
            ));
        }
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_failure(format!("cannot chmod {}", dir.display())))?;
        }
        Ok(Some(State { dir, logs }))
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// An exclusive lock held while the marker is read and changed, so
    /// `confirm` and the watchdog never both act.
    pub(crate) fn lock(&self) -> Result<File, LiveError> {
        let path = self.path(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&path)
            .map_err(io_failure(format!("cannot open {}", path.display())))?;
        file.lock()
            .map_err(io_failure(format!("cannot lock {}", path.display())))?;
        Ok(file)
    }

    /// A state file's text; `None` when missing. Never follows a link.
    pub(crate) fn read(&self, name: &str) -> Result<Option<String>, LiveError> {
        let path = self.path(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_failure(format!("cannot read {}", path.display()))(e)),
        };
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(io_failure(format!("cannot read {}", path.display())))?;
        Ok(Some(text))
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> Result<(), LiveError> {
        write_atomic(&self.dir, name, text.as_bytes(), 0o600)
    }

    pub(crate) fn remove(&self, name: &str) -> Result<(), LiveError> {
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_failure(format!(
                "cannot remove {}",
                self.path(name).display()
            ))(e)),
        }
    }

    /// The marker: `None` when nothing is pending, `Some(Err)` when it
    /// cannot be read.
    pub(crate) fn pending(&self) -> Result<Option<Result<Pending, String>>, LiveError> {
        Ok(self
            .read(model::PENDING_FILE)?
            .map(|t| Pending::parse(&t).map_err(|e| e.to_string())))
    }

    pub(crate) fn last(&self) -> Option<Outcome> {
        self.read(model::LAST_FILE)
            .ok()
            .flatten()
            .and_then(|t| Outcome::parse(&t))
    }

    /// Ends the pending apply: `last.json` records how, then the marker goes.
    pub(crate) fn finish(&self, p: &Pending, outcome: &str, detail: &str) -> Result<(), LiveError> {
        let o = Outcome {
            pending: p.clone(),
            outcome: outcome.into(),
            at_unix_ms: now_ms(),
            detail: detail.into(),
        };
        self.write(model::LAST_FILE, &o.to_json())?;
        self.remove(model::PENDING_FILE)
    }

    /// Appends a line to `<home>/logs/firewall.log` (best effort: a log
    /// that cannot be written never stops a rollback).
    pub(crate) fn log(&self, line: &str) {
        let _ = std::fs::DirBuilder::new().mode(0o750).create(&self.logs);
        let path = self.logs.join(model::LOG_FILE);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(path)
        {
            let _ = writeln!(f, "{} {line}", model::rfc3339(now_ms()));
        }
    }

    /// Deletes the state files nothing needs any more (see
    /// [`model::prunable`]): never the pending apply's, nor a confirmed
    /// apply's whose journal `cryptobot rollback` can still reach.
    pub(crate) fn prune(&self, pending: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in model::prunable(&names, Some(pending), KEEP_STATES) {
            let _ = std::fs::remove_file(self.path(&name));
        }
    }
}

/// Writes `dir/name` with `mode`, replacing an older file atomically.
fn write_atomic(dir: &Path, name: &str, content: &[u8], mode: u32) -> Result<(), LiveError> {
    cryptobot_plan::write_atomic(dir, name, content, mode).map_err(|e| {
        LiveError::runtime(
            format!("cannot write {}: {e}", dir.join(name).display()),
            Some("check that the directory is writable".to_string()),
        )
    })
}

/// A file on the host (under `root`) and its mode; `None` when missing.
pub(crate) fn read_host(root: &Root, path: &str) -> Result<Option<(String, u32)>, LiveError> {
    let real = root.host(Path::new(path))?;
    match std::fs::symlink_metadata(&real) {
        Ok(m) => {
            let text = std::fs::read_to_string(&real).map_err(|e| {
                LiveError::input(
                    format!("cannot read {path}: {e}"),
                    Some("check the file".to_string()),
                )
            })?;
            Ok(Some((text, m.mode() & 0o7777)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LiveError::input(
            format!("cannot inspect {path}: {e}"),
            None,
        )),
    }
}

/// Whether `path` exists on the host (under `root`), links included.
pub(crate) fn exists(root: &Root, path: &str) -> Result<bool, LiveError> {
    Ok(std::fs::symlink_metadata(root.host(Path::new(path))?).is_ok())
}
