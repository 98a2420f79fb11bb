//! Rollback: a plan that restores the state before the newest journaled run.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::accounts;
use crate::apply::{self, preflight};
use crate::change::{Change, Content, Plan};
use crate::error::{ApplyError, PlanError};
use crate::fsx::{self, Kind};
use crate::journal::{self, Record, Writer};
use crate::planner::Planner;
use crate::root::{Root, normalize_entry};

/// The journaled run a rollback restores from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    /// Host path of the run's journal directory.
    pub journal: PathBuf,
    /// The command that made the run (e.g. `secure-config`).
    pub command: String,
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    /// False if the run was interrupted (crash) before it finished.
    pub committed: bool,
    /// Number of changes the run recorded.
    pub changes: usize,
}

impl std::fmt::Display for RollbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let command = if self.command.is_empty() {
            "unnamed"
        } else {
            &self.command
        };
        let started = if self.started.is_empty() {
            "an unknown time"
        } else {
            &self.started
        };
        write!(
            f,
            "the {command} run of {started} ({} changes",
            self.changes
        )?;
        if !self.committed {
            f.write_str(", interrupted")?;
        }
        write!(f, "; journal {})", self.journal.display())
    }
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackReport {
    /// The run that was rolled back.
    pub target: RollbackTarget,
    /// Number of changes applied to restore it.
    pub applied: usize,
    /// Host path of the run's journal directory after marking it rolled back.
    pub journal: PathBuf,
    /// What could not be restored and why (replaced secrets, commands without
    /// an undo, directories that are not empty, …).
    pub notes: Vec<String>,
}

/// What a path looked like before the run (earliest record wins).
#[derive(Debug, Default)]
struct PathPrior {
    exists: Option<bool>,
    dir: bool,
    content: Option<String>,
    link: Option<String>,
    secret_lost: bool,
    secret_new: bool,
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
    leftover_aside: Option<String>,
}

#[derive(Debug)]
enum Subject {
    Path(String),
    Group(String),
    User(String),
    Run(usize),
}

/// Computes the plan that restores the state before the newest journal in
/// `journal_dir` (a host path) that has not been rolled back yet.
pub fn rollback_plan(root: &Root, journal_dir: &Path) -> Result<(Plan, RollbackTarget), PlanError> {
    let root_fd = fsx::open_root(root)?;
    let jhost = normalize_entry(journal_dir)?;
    let nothing = || PlanError::NothingToRollBack {
        journal_dir: jhost.clone(),
    };
    let Some(jdir) = fsx::open_dir(root_fd.as_fd(), &jhost)? else {
        return Err(nothing());
    };
    fsx::check_journal_dir(jdir.as_fd(), &jhost)?;
    let runs = journal::list_runs(jdir.as_fd(), &jhost)?;
    let Some(run) = runs.iter().rev().find(|r| !r.rolled_back) else {
        return Err(nothing());
    };
    let run_host = jhost.join(&run.name);
    let records = journal::read_records(jdir.as_fd(), &jhost, &run.name)?;
    let committed = records.iter().any(|r| matches!(r, Record::Commit { .. }));
    let (command, started) = match records.first() {
        Some(Record::Begin {
            command, started, ..
        }) => (command.clone(), started.clone()),
        _ => (String::new(), String::new()),
    };
    let changes = records
        .iter()
        .filter(|r| !matches!(r, Record::Begin { .. } | Record::Commit { .. }))
        .count();
    let target = RollbackTarget {
        journal: run_host.clone(),
        command,
        started,
        committed,
        changes,
    };

    // Merge the records per subject: the earliest record tells the state before the run.
    let mut order: Vec<Subject> = Vec::new();
    let mut paths: HashMap<String, PathPrior> = HashMap::new();
    let mut groups: HashMap<String, Option<Option<String>>> = HashMap::new();
    let mut users: HashMap<String, Option<Option<String>>> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        let path = match record {
            Record::CreateDir { path, .. }
            | Record::WriteFile { path, .. }
            | Record::SetMode { path, .. }
            | Record::SetOwner { path, .. }
            | Record::RemoveFile { path, .. }
            | Record::RemoveDir { path, .. } => Some(path.clone()),
            _ => None,
        };
        if let Some(path) = path {
            if !paths.contains_key(&path) {
                order.push(Subject::Path(path.clone()));
            }
            let p = paths.entry(path).or_default();
            merge_path(p, record);
            continue;
        }
        match record {
            // existed: nothing to restore; created: remove it again.
            Record::EnsureGroup { name, existed, .. } if !groups.contains_key(name) => {
                order.push(Subject::Group(name.clone()));
                groups.insert(name.clone(), (!existed).then_some(None));
            }
            Record::RemoveGroup { name, prior, .. } if !groups.contains_key(name) => {
                order.push(Subject::Group(name.clone()));
                groups.insert(
                    name.clone(),
                    prior.as_ref().map(|(line, _)| Some(line.clone())),
                );
            }
            Record::EnsureUser { name, existed, .. } if !users.contains_key(name) => {
                order.push(Subject::User(name.clone()));
                users.insert(name.clone(), (!existed).then_some(None));
            }
            Record::RemoveUser { name, prior, .. } if !users.contains_key(name) => {
                order.push(Subject::User(name.clone()));
                users.insert(
                    name.clone(),
                    prior.as_ref().map(|(line, _)| Some(line.clone())),
                );
            }
            Record::Run { .. } => order.push(Subject::Run(i)),
            _ => {}
        }
    }

    let mut planner = Planner::new(root);
    planner.note(format!("rolling back {target}"));
    if !committed {
        planner.note(
            "that run did not finish (it was interrupted or failed); rolling back what it recorded",
        );
    }
    for subject in order.iter().rev() {
        match subject {
            Subject::Path(path) => {
                let prior = paths.get(path);
                if let Some(prior) = prior {
                    restore_path(
                        &mut planner,
                        root_fd.as_fd(),
                        &run_host,
                        Path::new(path),
                        prior,
                        committed,
                    )?;
                }
            }
            Subject::Group(name) => match groups.get(name) {
                Some(Some(None)) => planner.ensure_group_absent(name)?,
                Some(Some(Some(line))) => {
                    if let Some((_, gid)) = accounts::parse_groups(line).first().cloned()
                        && !planner.has_group(name)?
                    {
                        planner.push(Change::EnsureGroup {
                            name: name.clone(),
                            system: gid < 1000,
                            gid: Some(gid),
                        });
                    }
                }
                _ => {}
            },
            Subject::User(name) => match users.get(name) {
                Some(Some(None)) => planner.ensure_user_absent(name)?,
                Some(Some(Some(line))) => {
                    if let Some(u) = accounts::parse_users(line).into_iter().next()
                        && !planner.has_user(name)?
                    {
                        let group = planner.owner_for_ids(0, u.gid)?.group;
                        planner.push(Change::EnsureUser {
                            name: name.clone(),
                            group,
                            home: PathBuf::from(u.home),
                            shell: PathBuf::from(u.shell),
                            system: u.uid < 1000,
                            uid: Some(u.uid),
                        });
                    }
                }
                _ => {}
            },
            Subject::Run(i) => {
                if let Some(Record::Run {
                    program,
                    args,
                    why,
                    undo,
                    ..
                }) = records.get(*i)
                {
                    match undo {
                        Some((p, a)) => planner.push(Change::Run {
                            program: PathBuf::from(p),
                            args: a.clone(),
                            why: format!("undo: {why}"),
                            undo: None,
                        }),
                        None => planner.note(format!(
                            "cannot undo: ran {program} {} ({why}); it has no undo command",
                            args.join(" ")
                        )),
                    }
                }
            }
        }
    }
    Ok((planner.finish(), target))
}

fn merge_path(p: &mut PathPrior, record: &Record) {
    let first = p.exists.is_none();
    match record {
        Record::CreateDir { .. } if first => {
            p.exists = Some(false);
            p.dir = true;
        }
        Record::WriteFile { secret, prior, .. } => {
            p.secret_new |= *secret;
            match prior {
                None => {
                    p.exists.get_or_insert(false);
                }
                Some(pr) => {
                    p.exists.get_or_insert(true);
                    p.mode.get_or_insert(pr.mode);
                    p.owner.get_or_insert((pr.uid, pr.gid));
                    if first {
                        if pr.secret_replaced {
                            p.secret_lost = true;
                        } else {
                            p.content.clone_from(&pr.content);
                        }
                    }
                    if p.leftover_aside.is_none() {
                        p.leftover_aside.clone_from(&pr.aside);
                    }
                }
            }
        }
        Record::SetMode { from, .. } => {
            p.exists.get_or_insert(true);
            p.mode.get_or_insert(*from);
        }
        Record::SetOwner { from, .. } => {
            p.exists.get_or_insert(true);
            p.owner.get_or_insert(*from);
        }
        Record::RemoveFile { prior, secret, .. } => match prior {
            None => {
                p.exists.get_or_insert(false);
            }
            Some(pr) => {
                p.exists.get_or_insert(true);
                p.mode.get_or_insert(pr.mode);
                p.owner.get_or_insert((pr.uid, pr.gid));
                if first {
                    if pr.link.is_some() {
                        p.link.clone_from(&pr.link);
                    } else if *secret {
                        p.secret_lost = true;
                    } else {
                        p.content.clone_from(&pr.content);
                    }
                }
            }
        },
        Record::RemoveDir { prior, .. } => match prior {
            None => {
                p.exists.get_or_insert(false);
            }
            Some(pr) => {
                if first {
                    p.dir = true;
                }
                p.exists.get_or_insert(true);
                p.mode.get_or_insert(pr.mode);
                p.owner.get_or_insert((pr.uid, pr.gid));
            }
        },
        _ => {}
    }
}

fn restore_path(
    planner: &mut Planner<'_>,
    root_fd: std::os::fd::BorrowedFd<'_>,
    run_host: &Path,
    path: &Path,
    prior: &PathPrior,
    committed: bool,
) -> Result<(), PlanError> {
    let current = planner.host_kind(path)?;
    // A run that did not commit may have left the previous version of a
    // file under a hidden name beside it.
    if !committed && let (Some(aside), Some(dir)) = (&prior.leftover_aside, path.parent()) {
        let hidden = dir.join(aside);
        if planner.host_kind(&hidden)?.is_some() {
            planner.note(format!(
                "removing {}: a hidden previous version of {} left by the interrupted run",
                hidden.display(),
                path.display()
            ));
            planner.ensure_absent_inner(&hidden, prior.secret_new)?;
        }
    }
    match prior.exists {
        None => Ok(()),
        Some(false) => match current {
            None => Ok(()),
            Some(Kind::Symlink) => {
                planner.note(format!(
                    "left {} in place: it is now a symbolic link, which cryptobot did not create",
                    path.display()
                ));
                Ok(())
            }
            Some(_) => planner.ensure_absent_inner(path, prior.secret_new),
        },
        Some(true) => {
            if prior.secret_lost {
                planner.note(format!(
                    "{}: the previous secret cannot be restored (cryptobot never stores secrets); the new secret is kept",
                    path.display()
                ));
                return Ok(());
            }
            if let Some(target) = &prior.link {
                if current.is_none() {
                    planner.note(format!(
                        "cannot recreate the symbolic link {} -> {target}; recreate it with `ln -s {target} {}`",
                        path.display(),
                        path.display()
                    ));
                }
                return Ok(());
            }
            let owner = match prior.owner {
                Some((u, g)) => Some(planner.owner_for_ids(u, g)?),
                None => None,
            };
            if let Some(rel) = &prior.content {
                let bytes = journal::read_before(root_fd, run_host, rel)?;
                let content = match std::str::from_utf8(&bytes) {
                    Ok(text) => Content::Text(text.to_owned()),
                    Err(_) => Content::Bytes(bytes.to_vec()),
                };
                let mode = prior.mode.unwrap_or(0o600);
                return planner.ensure_file(path, content, mode, owner);
            }
            match current {
                None if prior.dir => planner.ensure_dir(path, prior.mode.unwrap_or(0o700), owner),
                None => {
                    planner.note(format!(
                        "{} no longer exists; its previous mode and owner cannot be restored",
                        path.display()
                    ));
                    Ok(())
                }
                Some(kind) => {
                    if let Some(o) = owner {
                        planner.ensure_owner(path, o)?;
                    }
                    if let Some(m) = prior.mode
                        && kind != Kind::Symlink
                    {
                        planner.ensure_mode(path, m)?;
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Rolls back the newest journaled run that has not been rolled back yet:
/// applies [`rollback_plan`] (atomically, journaled inside that run's
/// directory, undone again if it fails), then marks the run rolled back by
/// renaming its directory to `<name>.rolled-back`. Calling it again rolls
/// back the run before.
pub fn rollback(root: &Root, journal_dir: &Path) -> Result<RollbackReport, ApplyError> {
    let root_fd = fsx::open_root(root)?;
    let jhost = normalize_entry(journal_dir)?;
    let Some(jdir) = fsx::open_dir(root_fd.as_fd(), &jhost)? else {
        return Err(PlanError::NothingToRollBack { journal_dir: jhost }.into());
    };
    fsx::check_journal_dir(jdir.as_fd(), &jhost)?;
    let _lock = journal::lock(jdir.as_fd(), &jhost)?;
    let (plan, target) = rollback_plan(root, &jhost)?;
    let mut notes = Vec::new();
    let mut applied = 0;
    if plan.is_empty() {
        notes.extend(plan.notes().iter().cloned());
    } else {
        preflight(&plan)?;
        let Some(run_dir) = fsx::open_dir(root_fd.as_fd(), &target.journal)? else {
            return Err(PlanError::NotFound {
                path: target.journal.clone(),
            }
            .into());
        };
        let writer = Writer::create(
            run_dir.as_fd(),
            &target.journal,
            "undo-",
            "rollback",
            root.path(),
            plan.len(),
        )?;
        let report = apply::execute(&plan, root, root_fd.as_fd(), writer, &[])?;
        applied = report.applied;
        notes.extend(report.notes);
    }
    let name = target
        .journal
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let journal = journal::mark_rolled_back(jdir.as_fd(), &jhost, &name)?;
    Ok(RollbackReport {
        target,
        applied,
        journal,
        notes,
    })
}
