//! `cryptobot permissions`: the service account, owners and modes of the
//! installation, the binary, and the hardened systemd unit — as one plan,
//! and the same desired state as a list of findings ([`check`]).
//!
//! Every finding is derived from the change that would fix it, so the check
//! and the fix cannot disagree: after applying the plan, [`check`] is empty.
//! Nothing here follows a symbolic link: links are inspected with `lstat`,
//! never descended into, never chowned or chmodded; a link that points out
//! of the installation is reported and left alone.

use std::fmt;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use cryptobot_config::{CONFIG_FILE_MODE, Config, Layout, PUBLIC_FILE_MODE, SECRET_FILE_MODE};
use cryptobot_plan::{Change, Content, Owner, Plan, PlanError, Planner, Root};

use crate::render::UnquotablePath;
use crate::systemd;

/// Default service account (user and group).
pub const DEFAULT_USER: &str = "cryptobot";
/// Default host path of the binary.
pub const DEFAULT_BINARY: &str = "/usr/local/bin/cryptobot";
/// Login shell of the service account.
pub const NOLOGIN: &str = "/usr/sbin/nologin";
/// Mode of the binary and of the unit file.
const BINARY_MODE: u32 = 0o755;
const UNIT_MODE: u32 = 0o644;
const SETID: u32 = 0o6000;

/// What the operator asked for.
#[derive(Debug)]
pub struct Options {
    /// Service account (user and group of the same name).
    pub user: String,
    /// Host path of the `cryptobot` binary the unit runs.
    pub binary: PathBuf,
    /// Installed, owned by the service account, when the configured
    /// certificate and key both are missing and live inside the
    /// installation: under the unit the configuration is read-only, so
    /// `serve` could not make its first self-signed certificate itself.
    pub certificate: Option<InitialCertificate>,
}

impl Default for Options {
    /// The default account and binary, no certificate.
    fn default() -> Self {
        Options {
            user: DEFAULT_USER.to_owned(),
            binary: PathBuf::from(DEFAULT_BINARY),
            certificate: None,
        }
    }
}

/// A certificate and its key (PEM) to install if none exists.
#[derive(Debug)]
pub struct InitialCertificate {
    pub cert_pem: String,
    /// Zeroized on drop; `Debug` is redacted.
    pub key_pem: zeroize::Zeroizing<String>,
}

/// The checks, each with a stable identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    WorldWritable,
    SetId,
    WrongOwner,
    WrongMode,
    SymlinkLeaves,
    Unit,
    Account,
    GroupWritable,
}

impl Check {
    /// Every check, in identifier order.
    pub const ALL: [Check; 8] = [
        Check::WorldWritable,
        Check::SetId,
        Check::WrongOwner,
        Check::WrongMode,
        Check::SymlinkLeaves,
        Check::Unit,
        Check::Account,
        Check::GroupWritable,
    ];

    /// The stable identifier, e.g. `PERM-001`.
    pub fn id(self) -> &'static str {
        match self {
            Check::WorldWritable => "PERM-001",
            Check::SetId => "PERM-002",
            Check::WrongOwner => "PERM-003",
            Check::WrongMode => "PERM-004",
            Check::SymlinkLeaves => "PERM-005",
            Check::Unit => "PERM-006",
            Check::Account => "PERM-007",
            Check::GroupWritable => "PERM-008",
        }
    }

    /// A short name, e.g. `world-writable`.
    pub fn name(self) -> &'static str {
        match self {
            Check::WorldWritable => "world-writable",
            Check::SetId => "setuid/setgid",
            Check::WrongOwner => "wrong owner",
            Check::WrongMode => "wrong mode",
            Check::SymlinkLeaves => "symlink leaves installation",
            Check::Unit => "unit missing/different",
            Check::Account => "account missing",
            Check::GroupWritable => "group-writable",
        }
    }

    /// Whether `cryptobot permissions` fixes it (a link out of the
    /// installation is only reported).
    pub fn fixable(self) -> bool {
        self != Check::SymlinkLeaves
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

/// One deviation from the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    /// A host path, or `user NAME` / `group NAME`.
    pub subject: String,
    /// What was found and what is wanted.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.check, self.subject, self.detail)
    }
}

/// The plan and the findings it fixes.
#[derive(Debug)]
pub struct PermissionsPlan {
    pub plan: Plan,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum PermissionsError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("--user {name:?} is not a valid account name")]
    InvalidUser { name: String },
    #[error("--binary {path} {reason}")]
    InvalidBinary { path: PathBuf, reason: &'static str },
    #[error("the installation {home} does not exist under the root {root}")]
    HomeMissing { home: PathBuf, root: PathBuf },
    #[error("refusing to manage {path}: it or one of its parent directories is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Unquotable(#[from] UnquotablePath),
}

impl PermissionsError {
    /// One sentence telling the operator how to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PermissionsError::Plan(e) => e.hint(),
            PermissionsError::InvalidUser { .. } => Some(
                "use 1 to 32 characters: a lowercase letter or `_` first, then lowercase letters, digits, `_` or `-`".into(),
            ),
            PermissionsError::InvalidBinary { .. } => {
                Some("give --binary as an absolute path without `..`, e.g. /usr/local/bin/cryptobot".into())
            }
            PermissionsError::HomeMissing { home, .. } => Some(format!(
                "create the installation first: cryptobot secure-config --home {}",
                home.display()
            )),
            PermissionsError::Symlink { .. } => Some(
                "replace the link with the real directory (permissions are never changed through links)".into(),
            ),
            PermissionsError::Read { .. } => Some("run the command as root".into()),
            PermissionsError::Unquotable(_) => Some(
                "use paths made of letters, digits and / . _ - + @ for the home and the binary".into(),
            ),
        }
    }
}

/// The account-name rule: `^[a-z_][a-z0-9_-]{0,31}$`.
pub fn valid_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Who should own a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// root:root
    Root,
    /// root:<service group>: root writes, the service reads.
    RootService,
    /// <service>:<service>
    Service,
    /// Leave the owner alone.
    Keep,
}

/// What mode a path should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Exact(u32),
    /// Clear these bits, keep the others.
    Clear(u32),
}

/// Group/world write and set-id bits: cleared everywhere.
const UNSAFE_BITS: u32 = 0o6022;
/// Everything but the owner's bits (and set-id).
const PRIVATE_CLEAR: u32 = 0o6077;

/// The rule for a path below the home, from its path relative to the home.
fn rule(layout: &Layout, rel: &Path, is_dir: bool) -> (Who, Want) {
    let parts: Vec<&str> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let layout_mode = |p: &Path| {
        layout
            .directories()
            .into_iter()
            .find(|d| d.path == p)
            .map(|d| d.mode)
    };
    let abs = layout.home().join(rel);
    if is_dir && let Some(mode) = layout_mode(&abs) {
        let who = match parts.as_slice() {
            [] => Who::Root,
            ["config"] | ["config", "redis"] | ["config", "postgresql"] => Who::RootService,
            _ => Who::Service,
        };
        return (who, Want::Exact(mode));
    }
    match parts.as_slice() {
        ["config", "cryptobot.toml"] => (Who::RootService, Want::Exact(CONFIG_FILE_MODE)),
        ["config", "secrets", ..] => (
            Who::Service,
            Want::Exact(if is_dir { 0o700 } else { SECRET_FILE_MODE }),
        ),
        // The local CA: root's alone; the service never holds the CA key.
        ["config", "tls", "ca", ..] => (
            Who::Root,
            Want::Exact(match (is_dir, parts.last()) {
                (true, _) => 0o700,
                (false, Some(n)) if n.ends_with(".crt") => PUBLIC_FILE_MODE,
                _ => SECRET_FILE_MODE,
            }),
        ),
        ["config", "tls", .., name] => {
            let public = [".crt", ".pem", ".cert", ".crl"]
                .iter()
                .any(|ext| name.ends_with(ext));
            let mode = match (is_dir, public) {
                (true, _) => 0o700,
                (false, true) => PUBLIC_FILE_MODE,
                (false, false) => SECRET_FILE_MODE,
            };
            (Who::Service, Want::Exact(mode))
        }
        // PostgreSQL's and Redis's TLS keys: their owner (postgres, redis)
        // stays, nobody else reads them.
        ["config", "postgresql" | "redis", name] if !is_dir && name.ends_with(".key") => {
            (Who::Keep, Want::Exact(SECRET_FILE_MODE))
        }
        ["config", "redis" | "postgresql", ..] => (
            Who::RootService,
            Want::Exact(if is_dir { 0o755 } else { PUBLIC_FILE_MODE }),
        ),
        ["config", ..] => (Who::RootService, Want::Clear(UNSAFE_BITS)),
        // The change journal: root's alone (rollback runs as root).
        ["data", "changes", ..] => (
            Who::Root,
            if is_dir {
                Want::Exact(0o700)
            } else {
                Want::Clear(PRIVATE_CLEAR)
            },
        ),
        ["data" | "backups", ..] => (
            Who::Service,
            if is_dir {
                Want::Exact(0o700)
            } else {
                Want::Clear(PRIVATE_CLEAR)
            },
        ),
        ["logs", ..] => (
            Who::Service,
            Want::Exact(if is_dir { 0o750 } else { 0o640 }),
        ),
        _ => (Who::Keep, Want::Clear(UNSAFE_BITS)),
    }
}

/// `base.join(target)` with `.` and `..` resolved lexically (never on disk).
fn lexical(base: &Path, target: &Path) -> PathBuf {
    let joined = if target.is_absolute() {
        target.to_path_buf()
    } else {
        base.join(target)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> PermissionsError + '_ {
    move |source| PermissionsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// The owners a run assigns.
struct Owners {
    root: Owner,
    root_service: Owner,
    service: Owner,
}

impl Owners {
    fn get(&self, who: Who) -> Option<Owner> {
        match who {
            Who::Root => Some(self.root.clone()),
            Who::RootService => Some(self.root_service.clone()),
            Who::Service => Some(self.service.clone()),
            Who::Keep => None,
        }
    }
}

struct Builder<'p, 'r> {
    planner: Planner<'p>,
    root: &'r Root,
    findings: Vec<Finding>,
}

fn octal(mode: u32) -> String {
    format!("{mode:04o}")
}

impl Builder<'_, '_> {
    /// Turns the changes added since `start` into findings.
    fn record(&mut self, start: usize) {
        let changes = &self.planner.plan().changes()[start..];
        let mut found = Vec::new();
        for change in changes {
            match change {
                Change::SetOwner { path, from, to } => found.push(Finding {
                    check: Check::WrongOwner,
                    subject: path.display().to_string(),
                    detail: format!(
                        "owned by {}:{}, wanted {}:{}",
                        from.0, from.1, to.user, to.group
                    ),
                }),
                Change::SetMode { path, from, to } => {
                    let mut checks = Vec::new();
                    if from & 0o002 != 0 && to & 0o002 == 0 {
                        checks.push((Check::WorldWritable, "is writable by everyone"));
                    }
                    if from & 0o020 != 0 && to & 0o020 == 0 {
                        checks.push((Check::GroupWritable, "is writable by its group"));
                    }
                    if from & SETID != 0 && to & SETID == 0 {
                        checks.push((Check::SetId, "has a set-user/group-id bit"));
                    }
                    if checks.is_empty() {
                        checks.push((Check::WrongMode, "is not the hardened mode"));
                    }
                    for (check, what) in checks {
                        found.push(Finding {
                            check,
                            subject: path.display().to_string(),
                            detail: format!("mode {} {what}, wanted {}", octal(*from), octal(*to)),
                        });
                    }
                }
                Change::WriteFile { path, before, .. } => found.push(Finding {
                    check: Check::Unit,
                    subject: path.display().to_string(),
                    detail: if before.is_some() {
                        "differs from the hardened unit".into()
                    } else {
                        "is missing".into()
                    },
                }),
                Change::EnsureGroup { name, gid, .. } => found.push(Finding {
                    check: Check::Account,
                    subject: format!("group {name}"),
                    detail: format!(
                        "does not exist; would be created as a system group{}",
                        gid.map(|g| format!(" (gid {g})")).unwrap_or_default()
                    ),
                }),
                Change::EnsureUser { name, uid, .. } => found.push(Finding {
                    check: Check::Account,
                    subject: format!("user {name}"),
                    detail: format!(
                        "does not exist; would be created as a locked system user without a login shell{}",
                        uid.map(|u| format!(" (uid {u})")).unwrap_or_default()
                    ),
                }),
                _ => {}
            }
        }
        self.findings.extend(found);
    }

    /// Owner first (the engine keeps set-id bits across chown), then mode.
    fn ensure(
        &mut self,
        path: &Path,
        current_mode: u32,
        owner: Option<Owner>,
        want: Want,
    ) -> Result<(), PermissionsError> {
        let start = self.planner.plan().len();
        if let Some(owner) = owner {
            self.planner.ensure_owner(path, owner)?;
        }
        let mode = match want {
            Want::Exact(m) => m,
            Want::Clear(bits) => current_mode & !bits,
        };
        self.planner.ensure_mode(path, mode)?;
        self.record(start);
        Ok(())
    }

    fn lstat(&self, host: &Path) -> Result<Option<std::fs::Metadata>, PermissionsError> {
        let real = self.root.host(host)?;
        match std::fs::symlink_metadata(&real) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_err(host)(e)),
        }
    }

    /// Walks the directory `dir` (already handled itself), never
    /// descending into a symbolic link.
    fn walk(
        &mut self,
        layout: &Layout,
        owners: &Owners,
        dir: &Path,
    ) -> Result<(), PermissionsError> {
        let real = self.root.host(dir)?;
        let mut names: Vec<_> = std::fs::read_dir(&real)
            .map_err(read_err(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read_err(dir))?;
        names.sort();
        for name in names {
            let Some(name) = name.to_str() else {
                self.planner.note(format!(
                    "{}: an entry whose name is not UTF-8 was skipped",
                    dir.display()
                ));
                continue;
            };
            let path = dir.join(name);
            let Some(meta) = self.lstat(&path)? else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(self.root.host(&path)?).map_err(read_err(&path))?;
                let resolved = lexical(dir, &target);
                if !resolved.starts_with(layout.home()) {
                    self.findings.push(Finding {
                        check: Check::SymlinkLeaves,
                        subject: path.display().to_string(),
                        detail: format!(
                            "points to {} outside the installation; left alone, remove it or replace it with the file",
                            target.display()
                        ),
                    });
                }
                continue;
            }
            if !kind.is_dir() && !kind.is_file() {
                self.planner.note(format!(
                    "{}: not a regular file or directory; left alone",
                    path.display()
                ));
                continue;
            }
            let rel = path.strip_prefix(layout.home()).unwrap_or(&path);
            let (who, want) = rule(layout, rel, kind.is_dir());
            self.ensure(&path, meta.mode() & 0o7777, owners.get(who), want)?;
            if kind.is_dir() {
                self.walk(layout, owners, &path)?;
            }
        }
        Ok(())
    }
}

/// Refuses a home that is missing, not a directory, or reached through a
/// symbolic link (checked on every component below the root).
fn check_home(root: &Root, home: &Path) -> Result<(), PermissionsError> {
    let mut cur = PathBuf::from("/");
    for c in home.components() {
        let Component::Normal(part) = c else { continue };
        cur.push(part);
        let real = root.host(&cur)?;
        match std::fs::symlink_metadata(&real) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(PermissionsError::HomeMissing {
                    home: home.to_path_buf(),
                    root: root.path().to_path_buf(),
                });
            }
            Err(e) => return Err(read_err(&cur)(e)),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(PermissionsError::Symlink { path: cur });
            }
            Ok(m) if !m.is_dir() => {
                return Err(PermissionsError::HomeMissing {
                    home: home.to_path_buf(),
                    root: root.path().to_path_buf(),
                });
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

pub fn check_binary(binary: &Path) -> Result<(), PermissionsError> {
    let bad = |reason| PermissionsError::InvalidBinary {
        path: binary.to_path_buf(),
        reason,
    };
    if !binary.is_absolute() {
        return Err(bad("is not an absolute path"));
    }
    if binary.components().any(|c| c == Component::ParentDir) {
        return Err(bad("contains `..`"));
    }
    if binary.to_str().is_none() {
        return Err(bad("is not valid UTF-8"));
    }
    Ok(())
}

/// Computes the whole `permissions` plan and the findings it fixes. Reads
/// the host under `root`; writes nothing.
pub fn plan(
    root: &Root,
    layout: &Layout,
    config: &Config,
    opts: &Options,
) -> Result<PermissionsPlan, PermissionsError> {
    if !valid_user_name(&opts.user) {
        return Err(PermissionsError::InvalidUser {
            name: opts.user.clone(),
        });
    }
    check_binary(&opts.binary)?;
    check_home(root, layout.home())?;
    let unit_text = systemd::systemd_unit(config, layout, &opts.binary, &opts.user)?;

    let mut b = Builder {
        planner: Planner::new(root),
        root,
        findings: Vec::new(),
    };

    // The account: a system group and a locked system user without a login
    // shell whose home is the data directory (not created by useradd).
    let user = opts.user.as_str();
    let start = b.planner.plan().len();
    let gid = b.planner.ensure_group(user, true)?;
    let service =
        b.planner
            .ensure_user(user, user, &layout.data_dir(), Path::new(NOLOGIN), true)?;
    b.record(start);
    let owners = Owners {
        root: Owner::root(),
        root_service: Owner::new(0, gid, "root", user),
        service,
    };

    // The installation, the home first, then everything below it.
    let home = layout.home();
    let meta = b
        .lstat(home)?
        .ok_or_else(|| PermissionsError::HomeMissing {
            home: home.to_path_buf(),
            root: root.path().to_path_buf(),
        })?;
    let (who, want) = rule(layout, Path::new(""), true);
    b.ensure(home, meta.mode() & 0o7777, owners.get(who), want)?;
    b.walk(layout, &owners, home)?;

    // The binary: root's, 0755. Never followed when it is a link.
    let binary = &opts.binary;
    match b.lstat(binary)? {
        None => b.planner.note(format!(
            "{} does not exist; its owner and mode were not checked (use --binary PATH)",
            binary.display()
        )),
        Some(_) if binary.starts_with(home) => b.planner.note(format!(
            "{} is inside the installation; it was handled with the installation's files",
            binary.display()
        )),
        Some(m) if m.file_type().is_symlink() => b.planner.note(format!(
            "{} is a symbolic link; it was not followed (give the real file with --binary)",
            binary.display()
        )),
        Some(m) if !m.is_file() => b.planner.note(format!(
            "{} is not a regular file; skipped",
            binary.display()
        )),
        Some(m) => b.ensure(
            binary,
            m.mode() & 0o7777,
            Some(owners.root.clone()),
            Want::Exact(BINARY_MODE),
        )?,
    }

    // A first certificate, when the configured one is missing.
    if let Some(initial) = &opts.certificate {
        let server = &config.settings().server;
        let cert = layout.resolve(&server.tls_cert);
        let key = layout.resolve(&server.tls_key);
        if cert.starts_with(home)
            && key.starts_with(home)
            && b.lstat(&cert)?.is_none()
            && b.lstat(&key)?.is_none()
        {
            for dir in [cert.parent(), key.parent()].into_iter().flatten() {
                if b.lstat(dir)?.is_none() {
                    b.planner
                        .ensure_dir(dir, 0o700, Some(owners.service.clone()))?;
                }
            }
            b.planner.ensure_file(
                &cert,
                Content::Text(initial.cert_pem.clone()),
                PUBLIC_FILE_MODE,
                Some(owners.service.clone()),
            )?;
            b.planner.ensure_file(
                &key,
                Content::secret(initial.key_pem.as_bytes().to_vec()),
                SECRET_FILE_MODE,
                Some(owners.service.clone()),
            )?;
            b.planner.note(format!(
                "{} did not exist: a self-signed certificate for localhost was added (the service cannot write its configuration under the unit); replace it with `cryptobot ssl` or your own",
                cert.display()
            ));
        }
    }

    // The unit.
    let unit = systemd::unit_path();
    let start = b.planner.plan().len();
    if let Some(dir) = unit.parent()
        && b.lstat(dir)?.is_none()
    {
        b.planner
            .ensure_dir(dir, 0o755, Some(owners.root.clone()))?;
    }
    b.planner.ensure_file(
        &unit,
        Content::Text(unit_text),
        UNIT_MODE,
        Some(owners.root.clone()),
    )?;
    b.record(start);
    let unit_changed = b.planner.plan().len() > start;
    if unit_changed && root.is_live() && Path::new("/run/systemd/system").is_dir() {
        for program in ["/usr/bin/systemctl", "/bin/systemctl"] {
            if Path::new(program).is_file() {
                b.planner.push(Change::Run {
                    program: PathBuf::from(program),
                    args: vec!["daemon-reload".into()],
                    why: "make systemd read the new unit".into(),
                    undo: Some((PathBuf::from(program), vec!["daemon-reload".into()])),
                });
                break;
            }
        }
    }

    Ok(PermissionsPlan {
        plan: b.planner.finish(),
        findings: b.findings,
    })
}

/// Every deviation from the desired state, without changing anything (for
/// `permissions --check` and `assess`).
pub fn check(
    root: &Root,
    layout: &Layout,
    config: &Config,
    opts: &Options,
) -> Result<Vec<Finding>, PermissionsError> {
    Ok(plan(root, layout, config, opts)?.findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["cryptobot", "_svc", "a", "svc-1_x", &"a".repeat(32)] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in ["", "Root", "1abc", "-x", "a:b", "a b", &"a".repeat(33), "é"] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn lexical_resolution() {
        let d = Path::new("/opt/cb/data");
        assert_eq!(lexical(d, Path::new("x")), Path::new("/opt/cb/data/x"));
        assert_eq!(lexical(d, Path::new("../../etc")), Path::new("/opt/etc"));
        assert_eq!(
            lexical(d, Path::new("/etc/shadow")),
            Path::new("/etc/shadow")
        );
        assert_eq!(lexical(d, Path::new("../../../../..")), Path::new("/"));
    }

    #[test]
    fn rules() {
        let l = Layout::new("/opt/cb");
        let r = |p: &str, d| rule(&l, Path::new(p), d);
        assert_eq!(r("", true), (Who::Root, Want::Exact(0o755)));
        assert_eq!(r("config", true), (Who::RootService, Want::Exact(0o755)));
        assert_eq!(
            r("config/cryptobot.toml", false),
            (Who::RootService, Want::Exact(0o640))
        );
        assert_eq!(
            r("config/secrets", true),
            (Who::Service, Want::Exact(0o700))
        );
        assert_eq!(
            r("config/secrets/x", false),
            (Who::Service, Want::Exact(0o600))
        );
        assert_eq!(
            r("config/tls/server.key", false),
            (Who::Service, Want::Exact(0o600))
        );
        assert_eq!(
            r("config/tls/server.crt", false),
            (Who::Service, Want::Exact(0o644))
        );
        assert_eq!(
            r("config/postgresql", true),
            (Who::RootService, Want::Exact(0o755))
        );
        assert_eq!(
            r("config/postgresql/pg_hba.conf", false),
            (Who::RootService, Want::Exact(0o644))
        );
        assert_eq!(
            r("config/postgresql/server.key", false),
            (Who::Keep, Want::Exact(0o600))
        );
        assert_eq!(
            r("config/redis/redis.key", false),
            (Who::Keep, Want::Exact(0o600))
        );
        for public in [
            "config/redis/redis.crt",
            "config/redis/ca.crt",
            "config/redis/tls.conf",
        ] {
            assert_eq!(
                r(public, false),
                (Who::RootService, Want::Exact(0o644)),
                "{public}"
            );
        }
        assert_eq!(r("config/tls/ca", true), (Who::Root, Want::Exact(0o700)));
        assert_eq!(
            r("config/tls/ca/ca.key", false),
            (Who::Root, Want::Exact(0o600))
        );
        assert_eq!(
            r("config/tls/ca/ca.crt", false),
            (Who::Root, Want::Exact(0o644))
        );
        assert_eq!(r("data", true), (Who::Service, Want::Exact(0o700)));
        assert_eq!(r("data/changes", true), (Who::Root, Want::Exact(0o700)));
        assert_eq!(r("logs/a.log", false), (Who::Service, Want::Exact(0o640)));
        assert_eq!(
            r("backups/x", false),
            (Who::Service, Want::Clear(PRIVATE_CLEAR))
        );
        assert_eq!(r("other", false), (Who::Keep, Want::Clear(UNSAFE_BITS)));
    }

    #[test]
    fn ids_are_unique_and_stable() {
        let ids: std::collections::BTreeSet<_> = Check::ALL.iter().map(|c| c.id()).collect();
        assert_eq!(ids.len(), Check::ALL.len());
        assert_eq!(Check::WorldWritable.to_string(), "PERM-001 world-writable");
    }
}
