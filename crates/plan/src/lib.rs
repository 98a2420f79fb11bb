//! Plan, dry-run, atomic apply, journal and rollback for host changes.
//!
//! Every hardening command of `cryptobot` works the same way, after
//! Terraform's plan/apply and Ansible's check mode:
//!
//! 1. **Plan.** The command describes the *desired state* to a [`Planner`]
//!    (`ensure_dir`, `ensure_file`, `ensure_mode`, `ensure_owner`,
//!    `ensure_group`, `ensure_user`, `ensure_absent`, plus raw
//!    [`Change::Run`]s). The planner reads the host under a [`Root`] and
//!    emits only the [`Change`]s needed to get there. A second plan over the
//!    same desired state after applying is empty. `ensure_dir` creates missing
//!    ancestors with mode 0755 (like `install -d`); `ensure_file` requires its
//!    directory to exist or to be ensured earlier in the same plan.
//! 2. **Dry run.** [`Plan::render_text`] shows the plan as a readable diff
//!    (`--dry-run`), [`Plan::to_json`] as data (`--format json`). Nothing is
//!    touched.
//! 3. **Apply.** [`apply`] makes the changes in order. Each change is
//!    journaled *before* it is made; if one fails, the changes already made in
//!    that run are undone and the original error is returned. Nothing is ever
//!    half-written: files are replaced by `rename(2)`.
//! 4. **Rollback.** [`rollback_plan`] / [`rollback`] restore the state before
//!    the newest run that has not been rolled back yet; called again, they
//!    roll back the run before it.
//!
//! ```no_run
//! use std::path::Path;
//! use cryptobot_plan::{apply, ApplyOptions, Content, Planner, Root};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = Root::new("/")?;
//! let mut planner = Planner::new(&root);
//! planner.ensure_group("cryptobot", true)?;
//! let owner = planner.ensure_user(
//!     "cryptobot", "cryptobot", Path::new("/opt/cb"), Path::new("/usr/sbin/nologin"), true)?;
//! planner.ensure_dir(Path::new("/opt/cb"), 0o750, Some(owner.clone()))?;
//! planner.ensure_file(Path::new("/opt/cb/token"), Content::secret(b"s3cr3t".to_vec()), 0o600, Some(owner))?;
//! let plan = planner.finish();
//! print!("{}", plan.render_text());
//! apply(&plan, &root, &ApplyOptions::new("/opt/cb/data/changes", "secure-config"))?;
//! # Ok(()) }
//! ```
//!
//! # Paths and the root
//!
//! Every path in a plan is a *host path*: absolute, as seen on the target
//! system, UTF-8, without `..`. The [`Root`] is the directory those paths
//! live under: `/` on a live system, a temporary directory in tests and image
//! builds. The engine resolves paths component by component from a
//! descriptor of the root; a symlink met on the way is resolved *inside* the
//! root (an absolute target starts again at the root, `..` stops at it), so a
//! link in an image tree can never redirect a write to the build host. A link
//! is followed only when the directory holding it is writable by nobody but
//! root and the running user (or is sticky and the link is theirs):
//! otherwise another account, such as the service account in its own data
//! directory, could point root's change anywhere
//! ([`PlanError::UntrustedSymlink`]). The
//! final component is always handled with `*at(2)` calls and
//! `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`. Comparisons use `lstat`.
//!
//! # Safety rules
//!
//! Checked when planning (so a refused plan writes nothing) and checked
//! again by the executor just before each change, on the very directory
//! descriptor it then writes through:
//!
//! - **No write through a symlink.** A `WriteFile` whose target is a symlink
//!   is refused ([`PlanError::SymlinkRefused`]); so is `chmod` of a symlink.
//!   `SetOwner` has `lchown` semantics: it changes a symlink's own owner,
//!   never its target's.
//! - **Secrets live in safe directories.** For [`Content::Secret`], neither
//!   the file nor its directory may be a symlink
//!   ([`PlanError::SymlinkParent`]), and the directory must not be group- or
//!   world-writable ([`PlanError::UnsafeParent`]) unless the same plan creates
//!   or chmods it to a safe mode first.
//! - **Secrets are never shown or stored.** Not in [`Plan::render_text`], not
//!   in [`Plan::to_json`] (only the length), not in `Debug` (`[redacted]`),
//!   not in errors, not in the journal. Buffers that held secret bytes are
//!   zeroized.
//! - **The host must still match the plan.** If a file appeared, vanished or
//!   changed content/mode/owner since planning, the change fails with
//!   [`ApplyError::Stale`] and the run is undone.
//! - Programs are run as an argv with an absolute program path, never via a
//!   shell or a `PATH` lookup.
//!
//! # How changes are made
//!
//! - `WriteFile`: temporary file in the same directory, created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` and at most the final mode, then `fchown`
//!   (when an owner is given; otherwise an existing file keeps its owner),
//!   exact `fchmod` (umask does not matter; chown before chmod so set-id bits
//!   survive), write, `fsync`, `rename` over the target, `fsync` of the
//!   directory.
//! - `CreateDir`: `mkdir`, `fchown`, exact `fchmod`, `fsync` of the parent.
//! - `EnsureGroup`/`EnsureUser`: on a live root, `groupadd`/`useradd
//!   --system … --no-create-home`; under any other root, `ROOT/etc/group`,
//!   `gshadow` (if present), `passwd` and `shadow` are rewritten atomically
//!   keeping their lines, mode and owner, with a locked password (`!`). The
//!   planner picks the id (system: the highest id in 100..=999 that is free
//!   as both uid and gid), so later changes can own files by it. The running
//!   host's account database is never touched under a non-live root.
//!   Existence is decided by parsing the files, not NSS.
//! - `Run`: `std::process::Command`; a non-zero exit fails with the program,
//!   status and the last lines of its standard error.
//!
//! # The journal
//!
//! `apply` journals into `ApplyOptions::journal_dir` (a host path, created
//! 0700 with any missing parents; it must not be a symlink nor group- or
//! world-writable). When the plan itself creates one of those parents (the
//! journal usually lives under the service's home), the `CreateDir` adopts
//! the directory the journal already needed and gives it the planned mode
//! and owner; rolling it back leaves it in place because it is not empty. An exclusive `flock` on `<journal_dir>/.lock` keeps two
//! runs apart. Each run gets a directory (0700)
//! `<yyyymmddThhmmssZ>-<pid>[-k]/` with:
//!
//! - `journal.jsonl` (0600): one JSON object per line, each with an `"op"`.
//!   The first is `{"op":"begin","format":"cryptobot-journal/1","command",
//!   "root","started","started_unix_ns","pid","changes"}`. Then, **before**
//!   change `n` is made, a record that says how to undo it, `fsync`ed:
//!   `create_dir {n,path}`; `write_file {n,path,secret,prior}` where `prior`
//!   is `null` for a new file or `{mode,uid,gid,content:"before/<n>"}` for
//!   a replaced one; `set_mode {n,path,from}`; `set_owner {n,path,from:[uid,gid]}`;
//!   `ensure_group`/`ensure_user {n,name,existed,live}`;
//!   `run {n,program,args,why,undo}`; `remove_file`, `remove_dir`,
//!   `remove_group`, `remove_user` likewise. A successful run ends with
//!   `{"op":"commit","applied","finished"}`; a journal without it belongs to
//!   a run that was interrupted.
//! - `before/<n>` (0600): the previous content of a replaced or removed
//!   non-secret file.
//!
//! A **replaced secret is never stored**: its record has
//! `"secret_replaced":true` and no content. During the run the previous
//! secret is kept only as a hidden hard link beside it (no copy, same
//! directory and permissions) so that a failure can still put it back; the
//! link is deleted when the run commits. After that, rollback cannot bring a
//! replaced secret back and says so — deliberately: the old secret is
//! usually weak or compromised, and copies of secrets on disk are worse. A
//! secret the run *created* is rolled back by deleting it. Lines removed from
//! `shadow`/`gshadow` are journaled with the password field locked (`!`).
//!
//! After a successful apply only the newest [`KEEP_JOURNALS`] run
//! directories are kept. A run that was undone (automatically or by
//! `rollback`) is renamed to `<name>.rolled-back`; a rollback journals its own
//! changes in `undo-<stamp>-<pid>/` inside the run it rolls back, so that it
//! too is undone if it fails half-way.
//!
//! # Rollback
//!
//! [`rollback_plan`] reads the newest run that is not rolled back, takes for
//! every path, account and command the state recorded by its *first* record
//! (the state before the run), and plans — with the same [`Planner`] and the
//! same safety rules — the changes that restore it, newest first: created
//! files are removed, replaced files get their previous content, mode and
//! owner back, created directories are removed if empty (otherwise left and
//! reported), modes and owners are set back, created accounts are removed,
//! commands are undone with their `undo` argv when they have one (otherwise
//! reported as "cannot undo"), and replaced secrets are reported as kept.
//! The plan is a normal [`Plan`], so `rollback --dry-run` shows a diff.

mod accounts;
mod apply;
mod change;
mod error;
mod fsx;
mod journal;
mod outfile;
mod planner;
mod render;
mod rendered;
mod rollback;
mod root;

pub use apply::{ApplyOptions, ApplyReport, KEEP_JOURNALS, apply};
pub use change::{Before, Change, Content, Owner, Plan};
pub use error::{ApplyError, PlanError};
pub use journal::utc_stamps;
pub use outfile::write_atomic;
pub use planner::Planner;
pub use rendered::Rendered;
pub use rollback::{RollbackReport, RollbackTarget, rollback, rollback_plan};
pub use root::Root;
pub use secrecy;
