//! Desired state → minimal changes.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::accounts::{self, Db, Pending};
use crate::change::{Before, Change, Content, Owner, Plan};
use crate::error::PlanError;
use crate::fsx::{self, Kind, Located, Meta, Parent};
use crate::root::{Root, normalize_entry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PKind {
    Dir,
    File,
    Absent,
}

/// The state a path will have once the plan so far is applied.
#[derive(Debug, Clone, Copy)]
struct Planned {
    kind: PKind,
    created: bool,
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
}

/// What the planner knows about the directory that holds a path.
struct ParentInfo {
    is_symlink: bool,
    mode: u32,
}

/// Builds a [`Plan`] from desired state: each `ensure_*` call compares the
/// desired state with what is on the host (read with `lstat`, never
/// following a symlink at the final component) and adds only the changes
/// needed. Applying the resulting plan and planning again gives an empty plan.
///
/// Paths that an earlier call in the same planner creates or changes count
/// as already being in their planned state.
pub struct Planner<'r> {
    root: &'r Root,
    plan: Plan,
    paths: BTreeMap<PathBuf, Planned>,
    db: Option<Db>,
    pending: Pending,
}

fn check_mode(path: &Path, mode: u32) -> Result<(), PlanError> {
    if mode > 0o7777 {
        return Err(PlanError::InvalidMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn conflict(path: &Path, reason: impl Into<String>) -> PlanError {
    PlanError::Conflict {
        subject: path.display().to_string(),
        reason: reason.into(),
    }
}

impl<'r> Planner<'r> {
    /// A planner reading the host under `root`.
    pub fn new(root: &'r Root) -> Self {
        Planner {
            root,
            plan: Plan::new(),
            paths: BTreeMap::new(),
            db: None,
            pending: Pending::default(),
        }
    }

    /// The root this planner reads.
    pub fn root(&self) -> &Root {
        self.root
    }

    /// The plan built so far.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Adds a change as is (e.g. a [`Change::Run`]).
    pub fn push(&mut self, change: Change) {
        self.plan.push(change);
    }

    /// Adds a note for the report.
    pub fn note(&mut self, note: impl Into<String>) {
        self.plan.note(note);
    }

    /// The finished plan.
    pub fn finish(self) -> Plan {
        self.plan
    }

    fn fd(&self) -> Result<OwnedFd, PlanError> {
        fsx::open_root(self.root)
    }

    fn lstat(&self, path: &Path) -> Result<Option<Meta>, PlanError> {
        let fd = self.fd()?;
        fsx::lstat(fd.as_fd(), path)
    }

    fn db(&mut self) -> Result<&Db, PlanError> {
        if self.db.is_none() {
            let fd = self.fd()?;
            self.db = Some(Db::read(fd.as_fd())?);
        }
        match &self.db {
            Some(db) => Ok(db),
            None => Err(PlanError::AccountDb {
                path: PathBuf::from(accounts::PASSWD),
                reason: "could not be read".into(),
            }),
        }
    }

    fn parent_info(&self, path: &Path) -> Result<ParentInfo, PlanError> {
        let parent = path.parent().unwrap_or(Path::new("/"));
        if let Some(p) = self.paths.get(parent) {
            return match (p.kind, p.mode) {
                (PKind::Dir, Some(mode)) => Ok(ParentInfo {
                    is_symlink: false,
                    mode,
                }),
                (PKind::Dir, None) => self.host_parent_info(path, parent),
                (PKind::File, _) => Err(conflict(
                    parent,
                    "planned as a file but used as a directory",
                )),
                (PKind::Absent, _) => Err(conflict(
                    parent,
                    "planned to be removed but used as a directory",
                )),
            };
        }
        self.host_parent_info(path, parent)
    }

    fn host_parent_info(&self, path: &Path, parent: &Path) -> Result<ParentInfo, PlanError> {
        let fd = self.fd()?;
        let missing = || PlanError::MissingParent {
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        };
        let is_symlink = if parent == Path::new("/") {
            false
        } else {
            match fsx::lstat(fd.as_fd(), parent)? {
                None => return Err(missing()),
                Some(m) => match m.kind {
                    Kind::Dir => false,
                    Kind::Symlink => true,
                    _ => {
                        return Err(PlanError::NotADirectory {
                            path: parent.to_path_buf(),
                        });
                    }
                },
            }
        };
        let Some(dir) = fsx::open_dir(fd.as_fd(), parent)? else {
            return Err(missing());
        };
        let meta = fsx::fstat_dir(dir.as_fd(), parent)?;
        Ok(ParentInfo {
            is_symlink,
            mode: meta.mode,
        })
    }

    /// Ensures a directory exists with `mode` (and `owner`, when given).
    ///
    /// Absent → `CreateDir`; other owner → `SetOwner`; other mode →
    /// `SetMode`. A symlink or a non-directory at `path` is an error.
    /// Missing ancestors are created first with mode 0755 and the default
    /// owner (like `install -d`); each shows in the plan.
    pub fn ensure_dir(
        &mut self,
        path: &Path,
        mode: u32,
        owner: Option<Owner>,
    ) -> Result<(), PlanError> {
        let path = normalize_entry(path)?;
        check_mode(&path, mode)?;
        let ids = owner.as_ref().map(Owner::ids);
        if let Some(p) = self.paths.get(&path).copied() {
            if p.kind != PKind::Dir {
                return Err(conflict(
                    &path,
                    "planned as a file or for removal, now wanted as a directory",
                ));
            }
            if p.mode.is_some_and(|m| m != mode) {
                return Err(conflict(&path, "two different modes in one plan"));
            }
            if ids.is_some() && p.owner.is_some() && p.owner != ids {
                return Err(conflict(&path, "two different owners in one plan"));
            }
            if p.mode.is_none() {
                self.ensure_mode(&path, mode)?;
            }
            if let (Some(o), None) = (owner, p.owner) {
                self.ensure_owner(&path, o)?;
            }
            return Ok(());
        }
        self.ensure_ancestors(&path)?;
        self.parent_info(&path)?;
        match self.lstat(&path)? {
            None => {
                self.plan.push(Change::CreateDir {
                    path: path.clone(),
                    mode,
                    owner,
                });
                self.paths.insert(
                    path,
                    Planned {
                        kind: PKind::Dir,
                        created: true,
                        mode: Some(mode),
                        owner: ids,
                    },
                );
            }
            Some(m) if m.kind == Kind::Symlink => {
                return Err(PlanError::SymlinkRefused {
                    path,
                    op: "manage directory",
                });
            }
            Some(m) if m.kind != Kind::Dir => return Err(PlanError::NotADirectory { path }),
            Some(m) => {
                self.attrs(&path, &m, mode, owner);
                self.paths.insert(
                    path,
                    Planned {
                        kind: PKind::Dir,
                        created: false,
                        mode: Some(mode),
                        owner: ids.or(Some((m.uid, m.gid))),
                    },
                );
            }
        }
        Ok(())
    }

    /// `mkdir -p` for the ancestors of a directory: each missing one is
    /// planned as `CreateDir` with mode 0755 and the default owner, like
    /// `install -d`. Shown in the plan like any other change.
    fn ensure_ancestors(&mut self, path: &Path) -> Result<(), PlanError> {
        let mut missing = Vec::new();
        for anc in path.ancestors().skip(1) {
            if anc == Path::new("/") || self.paths.contains_key(anc) {
                break;
            }
            if self.lstat(anc)?.is_some() {
                break;
            }
            missing.push(anc.to_path_buf());
        }
        for anc in missing.into_iter().rev() {
            self.plan.push(Change::CreateDir {
                path: anc.clone(),
                mode: 0o755,
                owner: None,
            });
            self.paths.insert(
                anc,
                Planned {
                    kind: PKind::Dir,
                    created: true,
                    mode: Some(0o755),
                    owner: None,
                },
            );
        }
        Ok(())
    }

    /// Owner first (chown clears set-id bits), then mode.
    fn attrs(&mut self, path: &Path, m: &Meta, mode: u32, owner: Option<Owner>) {
        if let Some(o) = owner
            && (m.uid, m.gid) != o.ids()
        {
            self.plan.push(Change::SetOwner {
                path: path.to_path_buf(),
                from: (m.uid, m.gid),
                to: o,
            });
        }
        if m.mode != mode {
            self.plan.push(Change::SetMode {
                path: path.to_path_buf(),
                from: m.mode,
                to: mode,
            });
        }
    }

    /// Ensures a regular file has exactly `content`, `mode` (and `owner`, when given).
    ///
    /// Absent → `WriteFile`; other content → `WriteFile` with `before`; same
    /// content → only `SetOwner`/`SetMode` where they differ; identical →
    /// nothing. With `owner: None` a new file belongs to the user running
    /// cryptobot and an existing file keeps its owner.
    ///
    /// A secret is refused when its directory is a symlink or is group- or
    /// world-writable (unless this plan creates or chmods it to a safe mode).
    /// Any file is refused when the target is a symlink.
    pub fn ensure_file(
        &mut self,
        path: &Path,
        content: Content,
        mode: u32,
        owner: Option<Owner>,
    ) -> Result<(), PlanError> {
        let path = normalize_entry(path)?;
        check_mode(&path, mode)?;
        if self.paths.contains_key(&path) {
            return Err(conflict(&path, "the file is already in this plan"));
        }
        let parent = self.parent_info(&path)?;
        if content.is_secret() {
            let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            if parent.is_symlink {
                return Err(PlanError::SymlinkParent { path, parent: dir });
            }
            if parent.mode & 0o022 != 0 {
                return Err(PlanError::UnsafeParent {
                    path,
                    parent: dir,
                    mode: parent.mode,
                });
            }
        }
        let ids = owner.as_ref().map(Owner::ids);
        let current = self.lstat(&path)?;
        let planned = Planned {
            kind: PKind::File,
            created: current.is_none(),
            mode: Some(mode),
            owner: ids.or(current.map(|m| (m.uid, m.gid))),
        };
        match current {
            None => {
                self.plan.push(Change::WriteFile {
                    path: path.clone(),
                    content,
                    mode,
                    owner,
                    before: None,
                });
            }
            Some(m) if m.kind == Kind::Symlink => {
                return Err(PlanError::SymlinkRefused { path, op: "write" });
            }
            Some(m) if m.kind != Kind::File => {
                return Err(PlanError::NotARegularFile {
                    path,
                    found: m.kind.describe(),
                });
            }
            Some(m) => {
                let old = self.read(&path)?;
                if old.as_slice() == content.bytes() {
                    self.attrs(&path, &m, mode, owner);
                } else {
                    let text = if content.is_secret() {
                        None
                    } else {
                        std::str::from_utf8(&old).ok().map(str::to_owned)
                    };
                    self.plan.push(Change::WriteFile {
                        path: path.clone(),
                        content,
                        mode,
                        owner,
                        before: Some(Before {
                            text,
                            mode: m.mode,
                            uid: m.uid,
                            gid: m.gid,
                        }),
                    });
                }
            }
        }
        self.paths.insert(path, planned);
        Ok(())
    }

    fn read(&self, path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, PlanError> {
        let fd = self.fd()?;
        match fsx::locate(fd.as_fd(), path, Parent::Follow)? {
            Located::Found(slot) => slot.read(),
            Located::ParentMissing | Located::ParentSymlink => Err(PlanError::NotFound {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Ensures an existing file or directory has `mode` (refused on a symlink).
    pub fn ensure_mode(&mut self, path: &Path, mode: u32) -> Result<(), PlanError> {
        let path = normalize_entry(path)?;
        check_mode(&path, mode)?;
        let planned = self.paths.get(&path).copied();
        if let Some(p) = planned {
            if p.kind == PKind::Absent {
                return Err(conflict(
                    &path,
                    "planned for removal, now wanted with a mode",
                ));
            }
            match p.mode {
                Some(m) if m == mode => return Ok(()),
                Some(_) => return Err(conflict(&path, "two different modes in one plan")),
                None if p.created => return Err(conflict(&path, "created without a mode")),
                None => {}
            }
        }
        let m = match self.lstat(&path)? {
            None => return Err(PlanError::NotFound { path }),
            Some(m) if m.kind == Kind::Symlink => {
                return Err(PlanError::SymlinkRefused { path, op: "chmod" });
            }
            Some(m) if !matches!(m.kind, Kind::File | Kind::Dir) => {
                return Err(PlanError::NotARegularFile {
                    path,
                    found: m.kind.describe(),
                });
            }
            Some(m) => m,
        };
        if m.mode != mode {
            self.plan.push(Change::SetMode {
                path: path.clone(),
                from: m.mode,
                to: mode,
            });
        }
        let kind = if m.kind == Kind::Dir {
            PKind::Dir
        } else {
            PKind::File
        };
        let entry = self.paths.entry(path).or_insert(Planned {
            kind,
            created: false,
            mode: None,
            owner: Some((m.uid, m.gid)),
        });
        entry.mode = Some(mode);
        Ok(())
    }

    /// Ensures an existing path has `owner` (`lchown` semantics: a symlink's
    /// own owner is changed, its target never).
    pub fn ensure_owner(&mut self, path: &Path, owner: Owner) -> Result<(), PlanError> {
        let path = normalize_entry(path)?;
        let ids = owner.ids();
        if let Some(p) = self.paths.get(&path).copied() {
            if p.kind == PKind::Absent {
                return Err(conflict(
                    &path,
                    "planned for removal, now wanted with an owner",
                ));
            }
            if p.created {
                return match p.owner {
                    Some(o) if o == ids => Ok(()),
                    _ => Err(conflict(
                        &path,
                        "created with a different owner in this plan",
                    )),
                };
            }
        }
        let m = match self.lstat(&path)? {
            None => return Err(PlanError::NotFound { path }),
            Some(m) => m,
        };
        let already = self.paths.get(&path).and_then(|p| p.owner);
        if already.is_some_and(|o| o != (m.uid, m.gid) && o != ids) {
            return Err(conflict(&path, "two different owners in one plan"));
        }
        if (m.uid, m.gid) != ids && already != Some(ids) {
            self.plan.push(Change::SetOwner {
                path: path.clone(),
                from: (m.uid, m.gid),
                to: owner,
            });
        }
        let kind = if m.kind == Kind::Dir {
            PKind::Dir
        } else {
            PKind::File
        };
        let entry = self.paths.entry(path).or_insert(Planned {
            kind,
            created: false,
            mode: None,
            owner: None,
        });
        entry.owner = Some(ids);
        Ok(())
    }

    /// Ensures nothing exists at `path`: a file or symlink → `RemoveFile`
    /// (the symlink itself, never its target), a directory → `RemoveDir`
    /// (removed only if empty when applied).
    pub fn ensure_absent(&mut self, path: &Path) -> Result<(), PlanError> {
        self.ensure_absent_inner(path, false)
    }

    pub(crate) fn ensure_absent_inner(
        &mut self,
        path: &Path,
        secret: bool,
    ) -> Result<(), PlanError> {
        let path = normalize_entry(path)?;
        if let Some(p) = self.paths.get(&path) {
            if p.kind == PKind::Absent {
                return Ok(());
            }
            return Err(conflict(&path, "planned to exist, now wanted absent"));
        }
        match self.lstat(&path)? {
            None => {}
            Some(m) => match m.kind {
                Kind::File | Kind::Symlink => self.plan.push(Change::RemoveFile {
                    path: path.clone(),
                    secret,
                }),
                Kind::Dir => self.plan.push(Change::RemoveDir { path: path.clone() }),
                other => {
                    return Err(PlanError::NotARegularFile {
                        path,
                        found: other.describe(),
                    });
                }
            },
        }
        self.paths.insert(
            path,
            Planned {
                kind: PKind::Absent,
                created: false,
                mode: None,
                owner: None,
            },
        );
        Ok(())
    }

    fn used_ids(&mut self) -> Result<BTreeSet<u32>, PlanError> {
        let mut used = self.db()?.used_ids();
        used.extend(self.pending.groups.values().copied());
        used.extend(self.pending.users.values().map(|(u, _)| *u));
        Ok(used)
    }

    /// Ensures a group exists and returns its gid. A new group gets a free
    /// id chosen now (system: the highest free id in 100..=999, free as both
    /// uid and gid), so later changes in the plan can use it.
    pub fn ensure_group(&mut self, name: &str, system: bool) -> Result<u32, PlanError> {
        accounts::validate_name(name, "group name", name)?;
        if let Some(gid) = self.pending.groups.get(name) {
            return Ok(*gid);
        }
        if let Some(gid) = self.db()?.group_gid(name) {
            return Ok(gid);
        }
        let used = self.used_ids()?;
        let gid = accounts::pick_id(&used, system, None, "group")?;
        self.plan.push(Change::EnsureGroup {
            name: name.to_owned(),
            system,
            gid: Some(gid),
        });
        self.pending.groups.insert(name.to_owned(), gid);
        Ok(gid)
    }

    /// The owner (user and primary group) of an existing account under the
    /// root, read from its `etc/passwd` and `etc/group`; `None` when the
    /// account does not exist.
    pub fn existing_user(&mut self, name: &str) -> Result<Option<Owner>, PlanError> {
        let db = self.db()?;
        Ok(db.user(name).map(|u| {
            let (user, group) = accounts::owner_names(db, u.uid, u.gid);
            Owner::new(u.uid, u.gid, user, group)
        }))
    }

    /// The owner of an existing path under the root (`lstat`), with names
    /// from the root's account database; `None` when it does not exist.
    pub fn owner_of(&mut self, path: &Path) -> Result<Option<Owner>, PlanError> {
        let fd = self.fd()?;
        let Some(meta) = fsx::lstat(fd.as_fd(), path)? else {
            return Ok(None);
        };
        let db = self.db()?;
        let (user, group) = accounts::owner_names(db, meta.uid, meta.gid);
        Ok(Some(Owner::new(meta.uid, meta.gid, user, group)))
    }

    /// Ensures a user exists (locked password, home not created) and returns
    /// it as an [`Owner`]. An existing user is never modified; differences
    /// in home, shell or group become notes.
    pub fn ensure_user(
        &mut self,
        name: &str,
        group: &str,
        home: &Path,
        shell: &Path,
        system: bool,
    ) -> Result<Owner, PlanError> {
        accounts::validate_name(name, "user name", name)?;
        accounts::validate_name(name, "group", group)?;
        accounts::validate_field_path(name, "home", home)?;
        accounts::validate_field_path(name, "shell", shell)?;
        if let Some((uid, gid)) = self.pending.users.get(name).copied() {
            let group_name = self.group_name(gid)?;
            return Ok(Owner::new(uid, gid, name, group_name));
        }
        let gid = match self.pending.groups.get(group) {
            Some(g) => *g,
            None => self
                .db()?
                .group_gid(group)
                .ok_or_else(|| PlanError::UnknownGroup {
                    name: group.to_owned(),
                })?,
        };
        if let Some(user) = self.db()?.user(name).cloned() {
            let group_name = self.group_name(user.gid)?;
            let mut diffs = Vec::new();
            if user.gid != gid {
                diffs.push(format!("primary group {group_name} (wanted {group})"));
            }
            if Path::new(&user.home) != home {
                diffs.push(format!("home {} (wanted {})", user.home, home.display()));
            }
            if Path::new(&user.shell) != shell {
                diffs.push(format!("shell {} (wanted {})", user.shell, shell.display()));
            }
            if !diffs.is_empty() {
                self.plan.note(format!(
                    "user {name} already exists and is left as it is: {}",
                    diffs.join(", ")
                ));
            }
            return Ok(Owner::new(user.uid, user.gid, name, group_name));
        }
        let used = self.used_ids()?;
        let uid_taken = self.pending.users.values().any(|(u, _)| *u == gid);
        let uid = if uid_taken {
            accounts::pick_id(&used, system, None, "user")?
        } else {
            accounts::pick_uid(self.db()?, &used, system, gid)?
        };
        self.plan.push(Change::EnsureUser {
            name: name.to_owned(),
            group: group.to_owned(),
            home: home.to_path_buf(),
            shell: shell.to_path_buf(),
            system,
            uid: Some(uid),
        });
        self.pending.users.insert(name.to_owned(), (uid, gid));
        Ok(Owner::new(uid, gid, name, group))
    }

    fn group_name(&mut self, gid: u32) -> Result<String, PlanError> {
        if let Some((name, _)) = self.pending.groups.iter().find(|(_, g)| **g == gid) {
            return Ok(name.clone());
        }
        Ok(self
            .db()?
            .group_name(gid)
            .map_or_else(|| gid.to_string(), str::to_owned))
    }

    /// Resolves `user:group` to an [`Owner`] from the root's account
    /// database and the accounts this plan creates.
    pub fn owner(&mut self, user: &str, group: &str) -> Result<Owner, PlanError> {
        let uid = match self.pending.users.get(user) {
            Some((u, _)) => *u,
            None => self
                .db()?
                .user(user)
                .map(|u| u.uid)
                .ok_or_else(|| PlanError::AccountDb {
                    path: PathBuf::from(accounts::PASSWD),
                    reason: format!("has no user {user:?}"),
                })?,
        };
        let gid = match self.pending.groups.get(group) {
            Some(g) => *g,
            None => self
                .db()?
                .group_gid(group)
                .ok_or_else(|| PlanError::UnknownGroup {
                    name: group.to_owned(),
                })?,
        };
        Ok(Owner::new(uid, gid, user, group))
    }

    /// Ensures a group does not exist (`RemoveGroup` if it does).
    pub fn ensure_group_absent(&mut self, name: &str) -> Result<(), PlanError> {
        accounts::validate_name(name, "group name", name)?;
        if self.pending.groups.contains_key(name) {
            return Err(PlanError::Conflict {
                subject: format!("group {name}"),
                reason: "created and removed in one plan".into(),
            });
        }
        if self.db()?.group_gid(name).is_some() {
            self.plan.push(Change::RemoveGroup {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Ensures a user does not exist (`RemoveUser` if it does).
    pub fn ensure_user_absent(&mut self, name: &str) -> Result<(), PlanError> {
        accounts::validate_name(name, "user name", name)?;
        if self.pending.users.contains_key(name) {
            return Err(PlanError::Conflict {
                subject: format!("user {name}"),
                reason: "created and removed in one plan".into(),
            });
        }
        if self.db()?.user(name).is_some() {
            self.plan.push(Change::RemoveUser {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// The kind of `path` on the host right now (for the rollback planner).
    pub(crate) fn host_kind(&self, path: &Path) -> Result<Option<Kind>, PlanError> {
        Ok(self.lstat(path)?.map(|m| m.kind))
    }

    pub(crate) fn has_group(&mut self, name: &str) -> Result<bool, PlanError> {
        Ok(self.pending.groups.contains_key(name) || self.db()?.group_gid(name).is_some())
    }

    pub(crate) fn has_user(&mut self, name: &str) -> Result<bool, PlanError> {
        Ok(self.pending.users.contains_key(name) || self.db()?.user(name).is_some())
    }

    /// Display names for ids from the root's account database.
    pub(crate) fn owner_for_ids(&mut self, uid: u32, gid: u32) -> Result<Owner, PlanError> {
        let (user, group) = accounts::owner_names(self.db()?, uid, gid);
        Ok(Owner::new(uid, gid, user, group))
    }
}
