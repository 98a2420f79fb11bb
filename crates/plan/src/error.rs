//! Error types. Errors carry the host path, the operation and the I/O error;
//! they never carry file contents, and never secret material.

use std::io;
use std::path::PathBuf;

/// An error while computing a plan, or a safety rule that refused a change.
///
/// The executor re-checks the same rules just before each change, so these
/// also come back from [`apply`](crate::apply) wrapped in
/// [`ApplyError::Plan`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// `--root` does not exist.
    #[error(
        "root directory {} does not exist; create it first (mkdir -p {}) or pass an existing directory",
        path.display(), path.display()
    )]
    RootMissing { path: PathBuf },

    /// `--root` exists but is not a directory.
    #[error("root {} is not a directory", path.display())]
    RootNotADirectory { path: PathBuf },

    /// A host path is relative, contains `..`, is not UTF-8 or names `/`.
    #[error("invalid host path {}: it {reason}", path.display())]
    InvalidPath { path: PathBuf, reason: &'static str },

    /// A mode outside `0..=0o7777`.
    #[error("invalid mode {mode:#o} for {}: only permission bits (at most 07777) are allowed", path.display())]
    InvalidMode { path: PathBuf, mode: u32 },

    /// A user or group name, home or shell that cannot go into the account database.
    #[error("invalid {field} {value:?} for account {name:?}: {reason}")]
    InvalidAccount {
        name: String,
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    /// A `Run` whose program is not an absolute path.
    #[error("refusing to run {}: the program must be an absolute path (no PATH lookup)", program.display())]
    RelativeProgram { program: PathBuf },

    /// The directory that should hold a path does not exist and the plan does not create it.
    #[error("cannot plan {}: its directory {} does not exist", path.display(), parent.display())]
    MissingParent { path: PathBuf, parent: PathBuf },

    /// A path that must be a directory is something else.
    #[error("{} exists but is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    /// A path that must be a regular file is something else.
    #[error("{} exists but is a {found}, not a regular file", path.display())]
    NotARegularFile { path: PathBuf, found: &'static str },

    /// `ensure_mode` / `ensure_owner` on a path that does not exist.
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },

    /// The target itself is a symlink and the operation would write through or replace it.
    #[error("refusing to {op} {}: it is a symbolic link", path.display())]
    SymlinkRefused { path: PathBuf, op: &'static str },

    /// A symlink on the way to a path sits in a directory another user can write.
    #[error(
        "refusing to follow the symbolic link {link:?} on the way to {}: it is in a directory another user can write, so that user could point it anywhere",
        path.display()
    )]
    UntrustedSymlink { path: PathBuf, link: String },

    /// The change journal belongs to another user.
    #[error(
        "refusing to use the change journal {}: it is owned by uid {uid}, not by root or the running user, so it may have been planted",
        path.display()
    )]
    ForeignJournal { path: PathBuf, uid: u32 },

    /// A secret's directory is a symlink.
    #[error("refusing to write secret {}: its directory {} is a symbolic link", path.display(), parent.display())]
    SymlinkParent { path: PathBuf, parent: PathBuf },

    /// A secret's directory is group- or world-writable.
    #[error(
        "refusing to write secret {}: its directory {} has mode {mode:04o} (group- or world-writable), so another user could replace the file",
        path.display(), parent.display()
    )]
    UnsafeParent {
        path: PathBuf,
        parent: PathBuf,
        mode: u32,
    },

    /// Two incompatible desired states for one path (or account) in the same plan.
    #[error("conflicting desired state for {subject}: {reason}")]
    Conflict { subject: String, reason: String },

    /// `ensure_user` names a group that neither exists nor is planned.
    #[error("group {name:?} does not exist and the plan does not create it")]
    UnknownGroup { name: String },

    /// The account database under the root is missing or unusable.
    #[error("account database {}: {reason}", path.display())]
    AccountDb { path: PathBuf, reason: String },

    /// No free user/group id is left in the range.
    #[error("no free {what} id left in {lo}..={hi}")]
    IdsExhausted {
        what: &'static str,
        lo: u32,
        hi: u32,
    },

    /// An I/O error, with the host path and the operation that failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// A journal that cannot be read or does not have the expected format.
    #[error("journal {}: {reason}", path.display())]
    Journal { path: PathBuf, reason: String },

    /// `rollback` found no journal that has not been rolled back yet.
    #[error("nothing to roll back: no journal in {} that has not already been rolled back", journal_dir.display())]
    NothingToRollBack { journal_dir: PathBuf },

    /// Another apply or rollback holds the journal lock.
    #[error("another cryptobot apply or rollback is running (lock {} is held)", path.display())]
    Busy { path: PathBuf },
}

impl PlanError {
    /// The sentence that tells the user how to fix it, where there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PlanError::RootMissing { path } => format!(
                "create the directory first (mkdir -p {}) or pass an existing directory as --root",
                path.display()
            ),
            PlanError::RootNotADirectory { .. } => {
                "pass a directory as --root (\"/\" for the running system)".into()
            }
            PlanError::InvalidPath { .. } | PlanError::InvalidMode { .. } => return None,
            PlanError::InvalidAccount { .. } => {
                "use a name of lowercase letters, digits, `_` and `-` (at most 32 characters) and paths without `:`".into()
            }
            PlanError::RelativeProgram { .. } => {
                "give the full path of the program, e.g. /usr/sbin/sysctl".into()
            }
            PlanError::MissingParent { parent, .. } => format!(
                "create {} first (the command should ensure the directory before the file)",
                parent.display()
            ),
            PlanError::NotADirectory { path } => format!(
                "move {} out of the way; cryptobot needs a directory there",
                path.display()
            ),
            PlanError::NotARegularFile { path, .. } => format!(
                "move {} out of the way; cryptobot only manages regular files there",
                path.display()
            ),
            PlanError::NotFound { .. } => return None,
            PlanError::SymlinkRefused { path, .. } => format!(
                "replace the symlink {} with a real file or directory owned by root; cryptobot never writes through symlinks",
                path.display()
            ),
            PlanError::UntrustedSymlink { link, .. } => format!(
                "replace the link {link:?} with the real directory, or make the directory holding it owned by root and not group- or world-writable"
            ),
            PlanError::ForeignJournal { path, .. } => format!(
                "inspect {} and move it aside: a journal root did not write must never drive a rollback",
                path.display()
            ),
            PlanError::SymlinkParent { parent, .. } => format!(
                "replace the symlink {} with a real directory owned by root, mode 0700",
                parent.display()
            ),
            PlanError::UnsafeParent { parent, .. } => format!(
                "chmod 0700 {} (or 0750) and make sure it is owned by root or the service user",
                parent.display()
            ),
            PlanError::Conflict { .. } => {
                "this is a bug in the command that built the plan; please report it".into()
            }
            PlanError::UnknownGroup { name } => {
                format!("plan the group first (ensure_group {name:?}) or create it")
            }
            PlanError::AccountDb { .. } => {
                "check that the root contains etc/passwd, etc/group and etc/shadow in the usual format".into()
            }
            PlanError::IdsExhausted { .. } => {
                "free an id in the range or create the account by hand".into()
            }
            PlanError::Io { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied => "run cryptobot as root".into(),
                io::ErrorKind::ReadOnlyFilesystem => {
                    "remount the filesystem read-write or choose another --root".into()
                }
                io::ErrorKind::StorageFull => "free some disk space and try again".into(),
                _ => return None,
            },
            PlanError::Journal { path, .. } => format!(
                "inspect {}; move it aside if it is damaged, then try again",
                path.display()
            ),
            PlanError::NothingToRollBack { .. } => return None,
            PlanError::Busy { .. } => "wait for the other run to finish, then try again".into(),
        })
    }
}

/// An error while applying a plan.
///
/// When a change fails, the changes already applied in that run are undone
/// before this error is returned; if undoing failed too, the error is
/// [`ApplyError::UndoFailed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A safety rule refused the change, or an I/O error (path + operation).
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// The host no longer looks like it did when the plan was computed.
    #[error("{} changed after the plan was computed: {what}", path.display())]
    Stale { path: PathBuf, what: String },

    /// A program could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A program exited unsuccessfully.
    #[error("{} failed ({status}){}", program.display(), fmt_stderr(stderr))]
    Command {
        program: PathBuf,
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },

    /// A change failed and undoing the changes already applied failed too.
    #[error(
        "{error}; undoing the changes already applied also failed ({}); the journal {} was kept",
        failures.join("; "), journal.display()
    )]
    UndoFailed {
        error: Box<ApplyError>,
        failures: Vec<String>,
        journal: PathBuf,
    },
}

fn fmt_stderr(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim_end())
    }
}

impl ApplyError {
    /// The sentence that tells the user how to fix it, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Plan(e) => e.hint(),
            ApplyError::Stale { .. } => Some(
                "run the command again so that the plan is computed from the current state".into(),
            ),
            ApplyError::Spawn { program, .. } => Some(format!(
                "install the package that provides {}",
                program.display()
            )),
            ApplyError::Command { .. } => None,
            ApplyError::UndoFailed { .. } => Some(
                "fix the cause shown above, then run `cryptobot rollback` to finish restoring the previous state".into(),
            ),
        }
    }
}
