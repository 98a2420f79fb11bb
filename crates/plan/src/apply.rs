//! The executor: applies a plan atomically, journaled, with automatic undo.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::accounts::{self, Db, GROUP, GSHADOW, PASSWD, SHADOW};
use crate::change::{Change, Plan};
use crate::error::{ApplyError, PlanError};
use crate::fsx::{self, Kind, Located, Parent, Slot};
use crate::journal::{self, Prior, Record, Writer};
use crate::root::{Root, normalize_entry};

/// How many journals `apply` keeps (older ones are deleted after a successful apply).
pub const KEEP_JOURNALS: usize = 20;

/// Where and under which name the executor journals a run.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Host path of the journal directory, e.g. `<home>/data/changes`.
    /// Created with mode 0700 (and missing parents) on the first change.
    pub journal_dir: PathBuf,
    /// The command that built the plan, e.g. `secure-config`; recorded in the journal.
    pub command: String,
}

impl ApplyOptions {
    /// Options for a journal directory (host path) and command name.
    pub fn new(journal_dir: impl Into<PathBuf>, command: impl Into<String>) -> ApplyOptions {
        ApplyOptions {
            journal_dir: journal_dir.into(),
            command: command.into(),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Number of changes applied.
    pub applied: usize,
    /// Host path of the run's journal directory; `None` for an empty plan.
    pub journal: Option<PathBuf>,
    /// Things worth telling the user (a directory left because it was not
    /// empty, an account that already existed, …), plus the plan's notes.
    pub notes: Vec<String>,
}

/// Applies a plan under `root`.
///
/// An empty plan does nothing at all: no journal, no directory, no write.
/// Otherwise every change is journaled before it is made, and if any change
/// fails, the changes already made in this run are undone before the error
/// is returned. See the crate documentation for the details.
pub fn apply(plan: &Plan, root: &Root, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    if plan.is_empty() {
        return Ok(ApplyReport {
            applied: 0,
            journal: None,
            notes: plan.notes().to_vec(),
        });
    }
    preflight(plan)?;
    let root_fd = fsx::open_root(root)?;
    let jhost = normalize_entry(&opts.journal_dir)?;
    let (jdir, created) = fsx::ensure_private_dir(root_fd.as_fd(), &jhost)?;
    let _lock = journal::lock(jdir.as_fd(), &jhost)?;
    let writer = Writer::create(
        jdir.as_fd(),
        &jhost,
        "",
        &opts.command,
        root.path(),
        plan.len(),
    )?;
    let mut report = execute(plan, root, root_fd.as_fd(), writer, &created)?;
    report
        .notes
        .extend(journal::prune(jdir.as_fd(), &jhost, KEEP_JOURNALS));
    Ok(report)
}

/// Static checks over the whole plan before anything is touched.
pub(crate) fn preflight(plan: &Plan) -> Result<(), PlanError> {
    for change in plan.changes() {
        if let Some(path) = change.path() {
            normalize_entry(path)?;
        }
        match change {
            Change::CreateDir { path, mode, .. }
            | Change::WriteFile { path, mode, .. }
            | Change::SetMode { path, to: mode, .. } => {
                if *mode > 0o7777 {
                    return Err(PlanError::InvalidMode {
                        path: path.clone(),
                        mode: *mode,
                    });
                }
            }
            Change::EnsureGroup { name, .. } | Change::RemoveGroup { name } => {
                accounts::validate_name(name, "group name", name)?;
            }
            Change::EnsureUser {
                name,
                group,
                home,
                shell,
                ..
            } => {
                accounts::validate_name(name, "user name", name)?;
                accounts::validate_name(name, "group", group)?;
                accounts::validate_field_path(name, "home", home)?;
                accounts::validate_field_path(name, "shell", shell)?;
            }
            Change::RemoveUser { name } => accounts::validate_name(name, "user name", name)?,
            Change::Run { program, undo, .. } => {
                if !program.is_absolute() {
                    return Err(PlanError::RelativeProgram {
                        program: program.clone(),
                    });
                }
                if let Some((p, _)) = undo
                    && !p.is_absolute()
                {
                    return Err(PlanError::RelativeProgram { program: p.clone() });
                }
            }
            Change::SetOwner { .. } | Change::RemoveFile { .. } | Change::RemoveDir { .. } => {}
        }
    }
    Ok(())
}

/// State shared by the steps of one run.
pub(crate) struct Ctx<'a> {
    pub root_fd: BorrowedFd<'a>,
    pub live: bool,
    pub notes: Vec<String>,
    /// Directories created for the journal before the first change; a
    /// `CreateDir` of one of them adopts it (sets mode and owner).
    pub adopted: &'a [PathBuf],
    /// Directories to remove at commit: they only held previous versions
    /// that are kept until then.
    pub deferred_rmdirs: Vec<PathBuf>,
}

fn stale(path: &Path, what: impl Into<String>) -> ApplyError {
    ApplyError::Stale {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Locates a host path; `None` if its directory is missing.
fn locate(ctx: &Ctx<'_>, path: &Path, parent: Parent) -> Result<Option<Slot>, PlanError> {
    let path = normalize_entry(path)?;
    match fsx::locate(ctx.root_fd, &path, parent)? {
        Located::Found(slot) => Ok(Some(slot)),
        Located::ParentMissing => Ok(None),
        Located::ParentSymlink => Err(PlanError::SymlinkParent {
            parent: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path,
        }),
    }
}

fn locate_required(ctx: &Ctx<'_>, path: &Path, parent: Parent) -> Result<Slot, PlanError> {
    locate(ctx, path, parent)?.ok_or_else(|| PlanError::MissingParent {
        path: path.to_path_buf(),
        parent: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    })
}

/// Applies `plan` with `writer` as its journal; undoes on failure.
pub(crate) fn execute(
    plan: &Plan,
    root: &Root,
    root_fd: BorrowedFd<'_>,
    mut writer: Writer,
    adopted: &[PathBuf],
) -> Result<ApplyReport, ApplyError> {
    let mut ctx = Ctx {
        root_fd,
        live: root.is_live(),
        notes: plan.notes().to_vec(),
        adopted,
        deferred_rmdirs: Vec::new(),
    };
    let mut done: Vec<Record> = Vec::new();
    for (n, change) in plan.changes().iter().enumerate() {
        let (record, slot) = match prepare(&ctx, &mut writer, n, change) {
            Ok(x) => x,
            Err(e) => return Err(fail(&mut ctx, &writer, done, None, e)),
        };
        if let Err(e) = writer.append(&record) {
            return Err(fail(&mut ctx, &writer, done, None, e.into()));
        }
        match perform(&mut ctx, change, &record, slot) {
            Ok(()) => done.push(record),
            Err(e) => return Err(fail(&mut ctx, &writer, done, Some(record), e)),
        }
    }
    commit(&mut ctx, &done);
    let (_, finished, _) = journal::utc_now();
    if let Err(e) = writer.append(&Record::Commit {
        applied: done.len(),
        finished,
    }) {
        ctx.notes
            .push(format!("the journal could not be marked complete: {e}"));
    }
    Ok(ApplyReport {
        applied: done.len(),
        journal: Some(writer.host_dir()),
        notes: ctx.notes,
    })
}

/// Undoes the records of a failed run (newest first) and builds the error.
fn fail(
    ctx: &mut Ctx<'_>,
    writer: &Writer,
    mut done: Vec<Record>,
    failed: Option<Record>,
    error: ApplyError,
) -> ApplyError {
    let failed_n = failed.as_ref().and_then(record_n);
    done.extend(failed);
    let run_host = writer.host_dir();
    let mut failures = Vec::new();
    for record in done.iter().rev() {
        if let Err(e) = undo_record(ctx, &run_host, record, failed_n) {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        // Best effort: an unmarked journal only means `rollback` would find
        // nothing left to do for it.
        let _ = writer.mark_rolled_back();
        error
    } else {
        ApplyError::UndoFailed {
            error: Box::new(error),
            failures,
            journal: run_host,
        }
    }
}

fn record_n(r: &Record) -> Option<usize> {
    match r {
        Record::CreateDir { n, .. }
        | Record::WriteFile { n, .. }
        | Record::SetMode { n, .. }
        | Record::SetOwner { n, .. }
        | Record::EnsureGroup { n, .. }
        | Record::EnsureUser { n, .. }
        | Record::Run { n, .. }
        | Record::RemoveFile { n, .. }
        | Record::RemoveDir { n, .. }
        | Record::RemoveGroup { n, .. }
        | Record::RemoveUser { n, .. } => Some(*n),
        Record::Begin { .. } | Record::Commit { .. } => None,
    }
}

/// Re-checks the safety rules and the host state for one change, and
/// builds its journal record (saving the previous content when needed).
/// Changes nothing on the host except the journal.
fn prepare(
    ctx: &Ctx<'_>,
    writer: &mut Writer,
    n: usize,
    change: &Change,
) -> Result<(Record, Option<Slot>), ApplyError> {
    Ok(match change {
        Change::CreateDir { path, .. } => {
            let slot = locate_required(ctx, path, Parent::Follow)?;
            match slot.lstat()? {
                None => {}
                Some(m) if m.kind == Kind::Dir && ctx.adopted.contains(&slot.host) => {}
                Some(_) => return Err(stale(path, "it already exists")),
            }
            (
                Record::CreateDir {
                    n,
                    path: s(&slot.host),
                },
                Some(slot),
            )
        }
        Change::WriteFile {
            path,
            content,
            before,
            ..
        } => {
            let secret = content.is_secret();
            let parent = if secret {
                Parent::NoFollow
            } else {
                Parent::Follow
            };
            let slot = locate_required(ctx, path, parent)?;
            if secret {
                let dir = slot.dir_meta()?;
                if dir.mode & 0o022 != 0 {
                    return Err(PlanError::UnsafeParent {
                        path: slot.host.clone(),
                        parent: slot
                            .host
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default(),
                        mode: dir.mode,
                    }
                    .into());
                }
            }
            let prior = match slot.lstat()? {
                None => {
                    if before.is_some() {
                        return Err(stale(path, "it no longer exists"));
                    }
                    None
                }
                Some(m) if m.kind == Kind::Symlink => {
                    return Err(PlanError::SymlinkRefused {
                        path: slot.host.clone(),
                        op: "write",
                    }
                    .into());
                }
                Some(m) if m.kind != Kind::File => {
                    return Err(PlanError::NotARegularFile {
                        path: slot.host.clone(),
                        found: m.kind.describe(),
                    }
                    .into());
                }
                Some(m) => {
                    let Some(before) = before else {
                        return Err(stale(path, "it was created after the plan was computed"));
                    };
                    let mut prior = Prior {
                        mode: m.mode,
                        uid: m.uid,
                        gid: m.gid,
                        content: None,
                        secret_replaced: false,
                        aside: None,
                        link: None,
                    };
                    if secret {
                        prior.secret_replaced = true;
                        prior.aside = Some(fsx::side_name(&slot.name, "old"));
                    } else {
                        let old = slot.read()?;
                        if before
                            .text
                            .as_ref()
                            .is_some_and(|t| t.as_bytes() != old.as_slice())
                        {
                            return Err(stale(path, "its content changed"));
                        }
                        prior.content = Some(writer.save_before(n, &old)?);
                    }
                    Some(prior)
                }
            };
            let record = Record::WriteFile {
                n,
                path: s(&slot.host),
                secret,
                prior,
            };
            (record, Some(slot))
        }
        Change::SetMode { path, from, .. } => {
            let slot = locate_required(ctx, path, Parent::Follow)?;
            let m = slot
                .lstat()?
                .ok_or_else(|| PlanError::NotFound { path: path.clone() })?;
            if m.kind == Kind::Symlink {
                return Err(PlanError::SymlinkRefused {
                    path: path.clone(),
                    op: "chmod",
                }
                .into());
            }
            if m.mode != *from {
                return Err(stale(
                    path,
                    format!("its mode is {:04o}, the plan expected {from:04o}", m.mode),
                ));
            }
            (
                Record::SetMode {
                    n,
                    path: s(&slot.host),
                    from: m.mode,
                },
                Some(slot),
            )
        }
        Change::SetOwner { path, from, .. } => {
            let slot = locate_required(ctx, path, Parent::Follow)?;
            let m = slot
                .lstat()?
                .ok_or_else(|| PlanError::NotFound { path: path.clone() })?;
            if (m.uid, m.gid) != *from {
                return Err(stale(
                    path,
                    format!(
                        "its owner is {}:{}, the plan expected {}:{}",
                        m.uid, m.gid, from.0, from.1
                    ),
                ));
            }
            (
                Record::SetOwner {
                    n,
                    path: s(&slot.host),
                    from: (m.uid, m.gid),
                },
                Some(slot),
            )
        }
        Change::EnsureGroup { name, .. } => {
            let existed = Db::read(ctx.root_fd)?.group_gid(name).is_some();
            let record = Record::EnsureGroup {
                n,
                name: name.clone(),
                existed,
                live: ctx.live,
            };
            (record, None)
        }
        Change::EnsureUser { name, .. } => {
            let existed = Db::read(ctx.root_fd)?.user(name).is_some();
            let record = Record::EnsureUser {
                n,
                name: name.clone(),
                existed,
                live: ctx.live,
            };
            (record, None)
        }
        Change::Run {
            program,
            args,
            why,
            undo,
        } => (
            Record::Run {
                n,
                program: s(program),
                args: args.clone(),
                why: why.clone(),
                undo: undo.as_ref().map(|(p, a)| (s(p), a.clone())),
            },
            None,
        ),
        Change::RemoveFile { path, secret } => {
            let parent = if *secret {
                Parent::NoFollow
            } else {
                Parent::Follow
            };
            let slot = locate(ctx, path, parent)?;
            let meta = match &slot {
                Some(slot) => slot.lstat()?,
                None => None,
            };
            let prior = match (&slot, meta) {
                (Some(slot), Some(m)) => {
                    let mut prior = Prior {
                        mode: m.mode,
                        uid: m.uid,
                        gid: m.gid,
                        content: None,
                        secret_replaced: false,
                        aside: Some(fsx::side_name(&slot.name, "old")),
                        link: None,
                    };
                    match m.kind {
                        Kind::Symlink => prior.link = Some(slot.read_link()?),
                        Kind::File if *secret => prior.secret_replaced = true,
                        Kind::File => prior.content = Some(writer.save_before(n, &slot.read()?)?),
                        other => {
                            return Err(PlanError::NotARegularFile {
                                path: path.clone(),
                                found: other.describe(),
                            }
                            .into());
                        }
                    }
                    Some(prior)
                }
                _ => None,
            };
            let record = Record::RemoveFile {
                n,
                path: s(path),
                secret: *secret,
                prior,
            };
            (record, slot)
        }
        Change::RemoveDir { path } => {
            let slot = locate(ctx, path, Parent::Follow)?;
            let meta = match &slot {
                Some(slot) => slot.lstat()?,
                None => None,
            };
            let prior = match meta {
                None => None,
                Some(m) if m.kind == Kind::Symlink => {
                    return Err(PlanError::SymlinkRefused {
                        path: path.clone(),
                        op: "remove directory",
                    }
                    .into());
                }
                Some(m) if m.kind != Kind::Dir => {
                    return Err(PlanError::NotADirectory { path: path.clone() }.into());
                }
                Some(m) => Some(Prior {
                    mode: m.mode,
                    uid: m.uid,
                    gid: m.gid,
                    content: None,
                    secret_replaced: false,
                    aside: None,
                    link: None,
                }),
            };
            (
                Record::RemoveDir {
                    n,
                    path: s(path),
                    prior,
                },
                slot,
            )
        }
        Change::RemoveGroup { name } => {
            let prior = accounts::find_line(ctx.root_fd, GROUP, name)?
                .map(|line| {
                    Ok::<_, PlanError>((line, accounts::find_line(ctx.root_fd, GSHADOW, name)?))
                })
                .transpose()?;
            (
                Record::RemoveGroup {
                    n,
                    name: name.clone(),
                    live: ctx.live,
                    prior,
                },
                None,
            )
        }
        Change::RemoveUser { name } => {
            let prior = accounts::find_line(ctx.root_fd, PASSWD, name)?
                .map(|line| {
                    Ok::<_, PlanError>((line, accounts::find_line(ctx.root_fd, SHADOW, name)?))
                })
                .transpose()?;
            (
                Record::RemoveUser {
                    n,
                    name: name.clone(),
                    live: ctx.live,
                    prior,
                },
                None,
            )
        }
    })
}

fn prior_of(record: &Record) -> Option<&Prior> {
    match record {
        Record::WriteFile { prior, .. }
        | Record::RemoveFile { prior, .. }
        | Record::RemoveDir { prior, .. } => prior.as_ref(),
        _ => None,
    }
}

fn no_slot(change: &Change) -> ApplyError {
    PlanError::NotFound {
        path: change.path().map(Path::to_path_buf).unwrap_or_default(),
    }
    .into()
}

/// Makes one change (after its record is in the journal).
fn perform(
    ctx: &mut Ctx<'_>,
    change: &Change,
    record: &Record,
    slot: Option<Slot>,
) -> Result<(), ApplyError> {
    let prior = prior_of(record);
    match change {
        Change::CreateDir { mode, owner, .. } => {
            let slot = slot.ok_or_else(|| no_slot(change))?;
            if slot.lstat()?.is_some() {
                // A directory created for the journal: adopt it.
                if let Some(o) = owner {
                    slot.lchown(o.uid, o.gid)?;
                }
                slot.chmod(*mode)?;
            } else {
                slot.mkdir(*mode, owner.as_ref().map(|o| o.ids()))?;
            }
        }
        Change::WriteFile {
            content,
            mode,
            owner,
            ..
        } => {
            let slot = slot.ok_or_else(|| no_slot(change))?;
            if let Some(aside) = prior.and_then(|p| p.aside.as_deref()) {
                slot.link_aside(aside)?;
            }
            let ids = owner
                .as_ref()
                .map(|o| o.ids())
                .or(prior.map(|p| (p.uid, p.gid)));
            slot.write_atomic(content.bytes(), *mode, ids)?;
        }
        Change::SetMode { to, .. } => slot.ok_or_else(|| no_slot(change))?.chmod(*to)?,
        Change::SetOwner { to, .. } => slot
            .ok_or_else(|| no_slot(change))?
            .lchown(to.uid, to.gid)?,
        Change::EnsureGroup { name, system, gid } => {
            if matches!(record, Record::EnsureGroup { existed: true, .. }) {
                ctx.notes.push(format!("group {name} already exists"));
                return Ok(());
            }
            if ctx.live {
                let (program, args) = accounts::groupadd_argv(name, *system, *gid);
                run_command(&program, &args)?;
            } else {
                add_group(ctx, name, *system, *gid)?;
            }
        }
        Change::EnsureUser {
            name,
            group,
            home,
            shell,
            system,
            uid,
        } => {
            if matches!(record, Record::EnsureUser { existed: true, .. }) {
                ctx.notes.push(format!("user {name} already exists"));
                return Ok(());
            }
            if ctx.live {
                let (program, args) =
                    accounts::useradd_argv(name, group, home, shell, *system, *uid);
                run_command(&program, &args)?;
            } else {
                add_user(ctx, name, group, home, shell, *system, *uid)?;
            }
        }
        Change::Run { program, args, .. } => run_command(program, args)?,
        Change::RemoveFile { .. } => {
            if let (Some(slot), Some(aside)) = (slot, prior.and_then(|p| p.aside.as_deref())) {
                slot.rename_aside(aside)?;
            }
        }
        Change::RemoveDir { path } => {
            if let (Some(slot), Some(_)) = (slot, prior)
                && !slot.rmdir()?
            {
                if slot.only_asides()? {
                    ctx.deferred_rmdirs.push(slot.host.clone());
                } else {
                    ctx.notes
                        .push(format!("left {} in place: it is not empty", path.display()));
                }
            }
        }
        Change::RemoveGroup { name } => {
            if matches!(record, Record::RemoveGroup { prior: Some(_), .. }) {
                if ctx.live {
                    run_command(Path::new(accounts::GROUPDEL), std::slice::from_ref(name))?;
                } else {
                    accounts::remove_line(ctx.root_fd, GROUP, name)?;
                    accounts::remove_line(ctx.root_fd, GSHADOW, name)?;
                }
            }
        }
        Change::RemoveUser { name } => {
            if matches!(record, Record::RemoveUser { prior: Some(_), .. }) {
                if ctx.live {
                    run_command(Path::new(accounts::USERDEL), std::slice::from_ref(name))?;
                } else {
                    accounts::remove_line(ctx.root_fd, PASSWD, name)?;
                    accounts::remove_line(ctx.root_fd, SHADOW, name)?;
                }
            }
        }
    }
    Ok(())
}

fn file_exists(ctx: &Ctx<'_>, host: &str) -> Result<bool, PlanError> {
    Ok(fsx::lstat(ctx.root_fd, Path::new(host))?.is_some())
}

/// Adds a group to `ROOT/etc/group` (and `gshadow` when present).
fn add_group(ctx: &Ctx<'_>, name: &str, system: bool, gid: Option<u32>) -> Result<(), ApplyError> {
    let db = Db::read(ctx.root_fd)?;
    if db.group_gid(name).is_some() {
        return Ok(());
    }
    let gid = match gid {
        Some(g) if db.groups.iter().any(|(_, id)| *id == g) => {
            return Err(stale(
                Path::new(GROUP),
                format!("gid {g} is now used by another group"),
            ));
        }
        Some(g) => g,
        None => accounts::pick_id(&db.used_ids(), system, None, "group")?,
    };
    accounts::add_line(ctx.root_fd, GROUP, &accounts::group_line(name, gid))?;
    if file_exists(ctx, GSHADOW)? {
        accounts::add_line(ctx.root_fd, GSHADOW, &accounts::gshadow_line(name))?;
    }
    Ok(())
}

/// Adds a user to `ROOT/etc/passwd` and `ROOT/etc/shadow` (locked password).
fn add_user(
    ctx: &Ctx<'_>,
    name: &str,
    group: &str,
    home: &Path,
    shell: &Path,
    system: bool,
    uid: Option<u32>,
) -> Result<(), ApplyError> {
    let db = Db::read(ctx.root_fd)?;
    if db.user(name).is_some() {
        return Ok(());
    }
    let gid = db.group_gid(group).ok_or_else(|| PlanError::UnknownGroup {
        name: group.to_owned(),
    })?;
    let uid = match uid {
        Some(u) if db.users.iter().any(|usr| usr.uid == u) => {
            return Err(stale(
                Path::new(PASSWD),
                format!("uid {u} is now used by another user"),
            ));
        }
        Some(u) => u,
        None => accounts::pick_uid(&db, &db.used_ids(), system, gid)?,
    };
    accounts::add_line(
        ctx.root_fd,
        PASSWD,
        &accounts::passwd_line(name, uid, gid, home, shell),
    )?;
    accounts::add_line(ctx.root_fd, SHADOW, &accounts::shadow_line(name, system))?;
    Ok(())
}

/// Runs a program with an argv (no shell), stdin from /dev/null.
pub(crate) fn run_command(program: &Path, args: &[String]) -> Result<(), ApplyError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ApplyError::Spawn {
            program: program.to_path_buf(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    let tail: String = tail
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(ApplyError::Command {
        program: program.to_path_buf(),
        status: output.status.to_string(),
        stderr: tail,
    })
}

/// After every change succeeded: delete the hidden previous versions of
/// replaced or removed secrets (and removed files, whose copy is in the journal).
fn commit(ctx: &mut Ctx<'_>, done: &[Record]) {
    for record in done {
        let (path, secret, prior) = match record {
            Record::WriteFile {
                path,
                secret,
                prior,
                ..
            }
            | Record::RemoveFile {
                path,
                secret,
                prior,
                ..
            } => (path, *secret, prior),
            _ => continue,
        };
        let Some(aside) = prior.as_ref().and_then(|p| p.aside.as_deref()) else {
            continue;
        };
        let parent = if secret {
            Parent::NoFollow
        } else {
            Parent::Follow
        };
        let result = locate(ctx, Path::new(path), parent).and_then(|slot| match slot {
            Some(slot) => slot.drop_aside(aside),
            None => Ok(()),
        });
        if let Err(e) = result {
            ctx.notes.push(format!(
                "the previous version of {path} is still in the hidden file {aside} beside it ({e}); delete it by hand"
            ));
        }
    }
    for dir in std::mem::take(&mut ctx.deferred_rmdirs) {
        let removed = locate(ctx, &dir, Parent::Follow).and_then(|slot| match slot {
            Some(slot) => slot.rmdir(),
            None => Ok(true),
        });
        match removed {
            Ok(true) => {}
            Ok(false) => ctx
                .notes
                .push(format!("left {} in place: it is not empty", dir.display())),
            Err(e) => ctx
                .notes
                .push(format!("left {} in place: {e}", dir.display())),
        }
    }
}

fn to_msg(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Undoes one record. Tolerant: a change that did not happen (the failed
/// one, or one interrupted by a crash) undoes to nothing.
pub(crate) fn undo_record(
    ctx: &mut Ctx<'_>,
    run_host: &Path,
    record: &Record,
    failed_n: Option<usize>,
) -> Result<(), String> {
    match record {
        Record::Begin { .. } | Record::Commit { .. } => Ok(()),
        Record::CreateDir { path, .. } => {
            let Some(slot) = locate(ctx, Path::new(path), Parent::Follow).map_err(to_msg)? else {
                return Ok(());
            };
            match slot.lstat().map_err(to_msg)? {
                None => Ok(()),
                Some(m) if m.kind == Kind::Dir => {
                    if !slot.rmdir().map_err(to_msg)? {
                        ctx.notes
                            .push(format!("left {path} in place: it is not empty"));
                    }
                    Ok(())
                }
                Some(m) => Err(format!(
                    "{path} is now a {}; left in place",
                    m.kind.describe()
                )),
            }
        }
        Record::WriteFile {
            path,
            secret,
            prior,
            n,
        } => {
            let parent = if *secret {
                Parent::NoFollow
            } else {
                Parent::Follow
            };
            let slot = locate(ctx, Path::new(path), parent).map_err(to_msg)?;
            let Some(slot) = slot else {
                return match prior {
                    None => Ok(()),
                    Some(_) => Err(format!("cannot restore {path}: its directory is gone")),
                };
            };
            let current = slot.lstat().map_err(to_msg)?;
            match prior {
                None => match current {
                    None => Ok(()),
                    Some(m) if m.kind == Kind::File => slot.unlink().map_err(to_msg),
                    Some(m) => Err(format!(
                        "{path} is now a {}; left in place",
                        m.kind.describe()
                    )),
                },
                Some(p) if p.secret_replaced => {
                    let aside = p.aside.as_deref().unwrap_or_default();
                    if !aside.is_empty() && slot.aside_exists(aside).map_err(to_msg)? {
                        slot.restore_aside(aside).map_err(to_msg)
                    } else if Some(*n) == failed_n {
                        // The previous secret is kept aside before the new one is
                        // written, so without it nothing was replaced.
                        Ok(())
                    } else {
                        Err(format!(
                            "the previous secret {path} cannot be restored (secrets are never stored); the new secret is kept"
                        ))
                    }
                }
                Some(p) => {
                    if current.is_some_and(|m| m.kind == Kind::Symlink) {
                        return Err(format!(
                            "{path} is now a symbolic link; refusing to write through it"
                        ));
                    }
                    let Some(rel) = &p.content else {
                        return Err(format!("no previous content of {path} in the journal"));
                    };
                    let bytes = journal::read_before(ctx.root_fd, run_host, rel).map_err(to_msg)?;
                    slot.write_atomic(&bytes, p.mode, Some((p.uid, p.gid)))
                        .map_err(to_msg)
                }
            }
        }
        Record::SetMode { path, from, .. } => {
            let slot = locate_required(ctx, Path::new(path), Parent::Follow).map_err(to_msg)?;
            slot.chmod(*from).map_err(to_msg)
        }
        Record::SetOwner { path, from, .. } => {
            let slot = locate_required(ctx, Path::new(path), Parent::Follow).map_err(to_msg)?;
            slot.lchown(from.0, from.1).map_err(to_msg)
        }
        Record::EnsureGroup {
            name,
            existed,
            live,
            ..
        } => {
            if *existed {
                return Ok(());
            }
            remove_group(ctx, name, *live).map_err(to_msg)
        }
        Record::EnsureUser {
            name,
            existed,
            live,
            ..
        } => {
            if *existed {
                return Ok(());
            }
            remove_user(ctx, name, *live).map_err(to_msg)
        }
        Record::Run {
            n,
            program,
            args,
            why,
            undo,
        } => {
            if Some(*n) == failed_n {
                return Ok(());
            }
            match undo {
                Some((p, a)) => run_command(Path::new(p), a).map_err(to_msg),
                None => Err(format!(
                    "cannot undo: ran {program} {} ({why})",
                    args.join(" ")
                )),
            }
        }
        Record::RemoveFile {
            path,
            secret,
            prior,
            ..
        } => {
            let Some(p) = prior else { return Ok(()) };
            let parent = if *secret {
                Parent::NoFollow
            } else {
                Parent::Follow
            };
            let slot = locate_required(ctx, Path::new(path), parent).map_err(to_msg)?;
            if let Some(aside) = p.aside.as_deref()
                && slot.aside_exists(aside).map_err(to_msg)?
            {
                return slot.restore_aside(aside).map_err(to_msg);
            }
            if slot.lstat().map_err(to_msg)?.is_some() {
                // Not removed (the failed change) or already back.
                return Ok(());
            }
            if let Some(target) = &p.link {
                return slot.symlink(target).map_err(to_msg);
            }
            if let Some(rel) = &p.content {
                let bytes = journal::read_before(ctx.root_fd, run_host, rel).map_err(to_msg)?;
                return slot
                    .write_atomic(&bytes, p.mode, Some((p.uid, p.gid)))
                    .map_err(to_msg);
            }
            Err(format!(
                "the removed secret {path} cannot be restored (secrets are never stored)"
            ))
        }
        Record::RemoveDir { path, prior, .. } => {
            let Some(p) = prior else { return Ok(()) };
            let slot = locate_required(ctx, Path::new(path), Parent::Follow).map_err(to_msg)?;
            if slot.lstat().map_err(to_msg)?.is_some() {
                return Ok(());
            }
            slot.mkdir(p.mode, Some((p.uid, p.gid))).map_err(to_msg)
        }
        Record::RemoveGroup {
            name, live, prior, ..
        } => {
            let Some((line, gshadow)) = prior else {
                return Ok(());
            };
            restore_group(ctx, name, *live, line, gshadow.as_deref()).map_err(to_msg)
        }
        Record::RemoveUser {
            name, live, prior, ..
        } => {
            let Some((line, shadow)) = prior else {
                return Ok(());
            };
            restore_user(ctx, name, *live, line, shadow.as_deref()).map_err(to_msg)
        }
    }
}

fn remove_group(ctx: &Ctx<'_>, name: &str, live: bool) -> Result<(), ApplyError> {
    if Db::read(ctx.root_fd)?.group_gid(name).is_none() {
        return Ok(());
    }
    if live {
        run_command(Path::new(accounts::GROUPDEL), &[name.to_owned()])
    } else {
        accounts::remove_line(ctx.root_fd, GROUP, name)?;
        accounts::remove_line(ctx.root_fd, GSHADOW, name)?;
        Ok(())
    }
}

fn remove_user(ctx: &Ctx<'_>, name: &str, live: bool) -> Result<(), ApplyError> {
    if Db::read(ctx.root_fd)?.user(name).is_none() {
        // shadow may still hold a line if passwd was edited first.
        if !live {
            accounts::remove_line(ctx.root_fd, SHADOW, name)?;
        }
        return Ok(());
    }
    if live {
        run_command(Path::new(accounts::USERDEL), &[name.to_owned()])
    } else {
        accounts::remove_line(ctx.root_fd, PASSWD, name)?;
        accounts::remove_line(ctx.root_fd, SHADOW, name)?;
        Ok(())
    }
}

fn restore_group(
    ctx: &Ctx<'_>,
    name: &str,
    live: bool,
    line: &str,
    gshadow: Option<&str>,
) -> Result<(), ApplyError> {
    let db = Db::read(ctx.root_fd)?;
    if db.group_gid(name).is_some() {
        return Ok(());
    }
    if live {
        let gid = accounts::parse_groups(line).first().map(|g| g.1);
        let (program, args) = accounts::groupadd_argv(name, gid.is_some_and(|g| g < 1000), gid);
        return run_command(&program, &args);
    }
    accounts::add_line(ctx.root_fd, GROUP, line)?;
    if let Some(g) = gshadow
        && file_exists(ctx, GSHADOW)?
    {
        accounts::add_line(ctx.root_fd, GSHADOW, g)?;
    }
    Ok(())
}

fn restore_user(
    ctx: &Ctx<'_>,
    name: &str,
    live: bool,
    line: &str,
    shadow: Option<&str>,
) -> Result<(), ApplyError> {
    let db = Db::read(ctx.root_fd)?;
    if db.user(name).is_some() {
        return Ok(());
    }
    if live {
        let Some(u) = accounts::parse_users(line).into_iter().next() else {
            return Err(PlanError::AccountDb {
                path: PathBuf::from(PASSWD),
                reason: format!("the journaled line for {name} cannot be parsed"),
            }
            .into());
        };
        let group = db
            .group_name(u.gid)
            .map_or_else(|| u.gid.to_string(), str::to_owned);
        let (program, args) = accounts::useradd_argv(
            name,
            &group,
            Path::new(&u.home),
            Path::new(&u.shell),
            u.uid < 1000,
            Some(u.uid),
        );
        return run_command(&program, &args);
    }
    accounts::add_line(ctx.root_fd, PASSWD, line)?;
    if let Some(sh) = shadow {
        accounts::add_line(ctx.root_fd, SHADOW, sh)?;
    }
    Ok(())
}
