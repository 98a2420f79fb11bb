//! The account database (`/etc/passwd`, `/etc/group`, `/etc/shadow`,
//! `/etc/gshadow`) under a root: parsing, id allocation and line edits.
//!
//! On a live root the executor uses `groupadd`/`useradd` instead; this
//! module still parses the files to decide whether an account exists.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::error::PlanError;
use crate::fsx::{self, Kind, Located, Parent};

pub(crate) const PASSWD: &str = "/etc/passwd";
pub(crate) const GROUP: &str = "/etc/group";
pub(crate) const SHADOW: &str = "/etc/shadow";
pub(crate) const GSHADOW: &str = "/etc/gshadow";

pub(crate) const GROUPADD: &str = "/usr/sbin/groupadd";
pub(crate) const USERADD: &str = "/usr/sbin/useradd";
pub(crate) const GROUPDEL: &str = "/usr/sbin/groupdel";
pub(crate) const USERDEL: &str = "/usr/sbin/userdel";

/// Id range for system accounts (Debian: 100..=999).
pub(crate) const SYSTEM_IDS: (u32, u32) = (100, 999);
/// Id range for ordinary accounts (Debian: 1000..=59999).
pub(crate) const USER_IDS: (u32, u32) = (1000, 59999);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRec {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Parsed `passwd` and `group` of a root.
#[derive(Debug, Default)]
pub(crate) struct Db {
    pub users: Vec<UserRec>,
    /// (name, gid)
    pub groups: Vec<(String, u32)>,
}

impl Db {
    /// Reads `ROOT/etc/passwd` and `ROOT/etc/group` (missing files read as empty).
    pub(crate) fn read(root_fd: BorrowedFd<'_>) -> Result<Db, PlanError> {
        let passwd = read_text(root_fd, Path::new(PASSWD))?.unwrap_or_default();
        let group = read_text(root_fd, Path::new(GROUP))?.unwrap_or_default();
        Ok(Db {
            users: parse_users(&passwd),
            groups: parse_groups(&group),
        })
    }

    pub(crate) fn user(&self, name: &str) -> Option<&UserRec> {
        self.users.iter().find(|u| u.name == name)
    }

    pub(crate) fn group_gid(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.0 == name).map(|g| g.1)
    }

    pub(crate) fn user_name(&self, uid: u32) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map(|u| u.name.as_str())
    }

    pub(crate) fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.1 == gid)
            .map(|g| g.0.as_str())
    }

    /// Every uid and gid in use (a new system id must be free in both).
    pub(crate) fn used_ids(&self) -> BTreeSet<u32> {
        let mut ids: BTreeSet<u32> = self.users.iter().map(|u| u.uid).collect();
        ids.extend(self.groups.iter().map(|g| g.1));
        ids
    }
}

/// Reads a text file under the root; `None` if absent.
pub(crate) fn read_text(root_fd: BorrowedFd<'_>, host: &Path) -> Result<Option<String>, PlanError> {
    let slot = match fsx::locate(root_fd, host, Parent::Follow)? {
        Located::Found(slot) => slot,
        Located::ParentMissing | Located::ParentSymlink => return Ok(None),
    };
    if slot.lstat()?.is_none() {
        return Ok(None);
    }
    let bytes = slot.read()?;
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| PlanError::AccountDb {
            path: host.to_path_buf(),
            reason: "is not valid UTF-8".into(),
        })
}

pub(crate) fn parse_users(text: &str) -> Vec<UserRec> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(UserRec {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

pub(crate) fn parse_groups(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some((f[0].to_owned(), f[2].parse().ok()?))
        })
        .collect()
}

/// Debian's rule for account names (`adduser` default, stricter than `useradd`).
pub(crate) fn validate_name(
    account: &str,
    field: &'static str,
    value: &str,
) -> Result<(), PlanError> {
    let bad = |reason| PlanError::InvalidAccount {
        name: account.to_owned(),
        field,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() || value.len() > 32 {
        return Err(bad("must be 1 to 32 characters"));
    }
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok {
        return Err(bad("must start with a lowercase letter or `_`"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(bad(
            "may only contain lowercase letters, digits, `_` and `-`",
        ));
    }
    Ok(())
}

/// Home and shell go into a `:`-separated line.
pub(crate) fn validate_field_path(
    account: &str,
    field: &'static str,
    value: &Path,
) -> Result<(), PlanError> {
    let text = value.to_string_lossy();
    let bad = |reason| PlanError::InvalidAccount {
        name: account.to_owned(),
        field,
        value: text.to_string(),
        reason,
    };
    if value.to_str().is_none() {
        return Err(bad("is not valid UTF-8"));
    }
    if !value.is_absolute() {
        return Err(bad("must be an absolute path"));
    }
    if text.contains([':', '\n', '\r', '\0']) {
        return Err(bad("must not contain `:` or line breaks"));
    }
    Ok(())
}

/// A free id: the highest free system id (as `useradd --system` does), or
/// the lowest free ordinary id. `prefer` is taken when free.
pub(crate) fn pick_id(
    used: &BTreeSet<u32>,
    system: bool,
    prefer: Option<u32>,
    what: &'static str,
) -> Result<u32, PlanError> {
    let (lo, hi) = if system { SYSTEM_IDS } else { USER_IDS };
    if let Some(p) = prefer
        && (lo..=hi).contains(&p)
        && !used.contains(&p)
    {
        return Ok(p);
    }
    let found = if system {
        (lo..=hi).rev().find(|id| !used.contains(id))
    } else {
        (lo..=hi).find(|id| !used.contains(id))
    };
    found.ok_or(PlanError::IdsExhausted { what, lo, hi })
}

/// A uid for a new user whose primary group is `gid`: the gid itself when
/// no user has it as uid (so uid = gid), otherwise an id free in both files.
pub(crate) fn pick_uid(
    db: &Db,
    used: &BTreeSet<u32>,
    system: bool,
    gid: u32,
) -> Result<u32, PlanError> {
    let (lo, hi) = if system { SYSTEM_IDS } else { USER_IDS };
    if (lo..=hi).contains(&gid) && !db.users.iter().any(|u| u.uid == gid) {
        return Ok(gid);
    }
    pick_id(used, system, None, "user")
}

fn days_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

pub(crate) fn group_line(name: &str, gid: u32) -> String {
    format!("{name}:x:{gid}:")
}

pub(crate) fn gshadow_line(name: &str) -> String {
    format!("{name}:!::")
}

pub(crate) fn passwd_line(name: &str, uid: u32, gid: u32, home: &Path, shell: &Path) -> String {
    format!(
        "{name}:x:{uid}:{gid}::{}:{}",
        home.display(),
        shell.display()
    )
}

/// Locked password (`!`), as `useradd` writes for a new account.
pub(crate) fn shadow_line(name: &str, system: bool) -> String {
    let days = days_since_epoch();
    if system {
        format!("{name}:!:{days}::::::")
    } else {
        format!("{name}:!:{days}:0:99999:7:::")
    }
}

/// Appends a line to an account file, atomically, keeping its mode and owner.
/// A missing `shadow`/`gshadow` is created (0640, group `shadow` if it exists).
pub(crate) fn add_line(root_fd: BorrowedFd<'_>, host: &str, line: &str) -> Result<(), PlanError> {
    let path = Path::new(host);
    let slot = match fsx::locate(root_fd, path, Parent::Follow)? {
        Located::Found(slot) => slot,
        Located::ParentMissing | Located::ParentSymlink => {
            return Err(PlanError::AccountDb {
                path: PathBuf::from(host),
                reason: "its directory does not exist under the root".into(),
            });
        }
    };
    let (mut text, mode, owner) = match slot.lstat()? {
        None => {
            if host == PASSWD || host == GROUP {
                return Err(PlanError::AccountDb {
                    path: PathBuf::from(host),
                    reason: "does not exist under the root".into(),
                });
            }
            let shadow_gid = Db::read(root_fd)?.group_gid("shadow");
            match shadow_gid {
                Some(g) => (String::new(), 0o640, (0, g)),
                None => (String::new(), 0o600, (0, 0)),
            }
        }
        Some(m) if m.kind == Kind::Symlink => {
            return Err(PlanError::SymlinkRefused {
                path: PathBuf::from(host),
                op: "edit",
            });
        }
        Some(m) => {
            let bytes = slot.read()?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| PlanError::AccountDb {
                path: PathBuf::from(host),
                reason: "is not valid UTF-8".into(),
            })?;
            (text, m.mode, (m.uid, m.gid))
        }
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    let result = slot.write_atomic(text.as_bytes(), mode, Some(owner));
    zeroize::Zeroize::zeroize(&mut text);
    result
}

/// Removes the line for `name` from an account file (atomic rewrite, mode
/// and owner kept). Returns the removed line; `None` if there was none. For
/// `shadow`/`gshadow` the password field of the returned line is replaced by
/// `!` (locked): password hashes are never handed out or journaled.
pub(crate) fn remove_line(
    root_fd: BorrowedFd<'_>,
    host: &str,
    name: &str,
) -> Result<Option<String>, PlanError> {
    let path = Path::new(host);
    let slot = match fsx::locate(root_fd, path, Parent::Follow)? {
        Located::Found(slot) => slot,
        Located::ParentMissing | Located::ParentSymlink => return Ok(None),
    };
    let meta = match slot.lstat()? {
        None => return Ok(None),
        Some(m) if m.kind == Kind::Symlink => {
            return Err(PlanError::SymlinkRefused {
                path: PathBuf::from(host),
                op: "edit",
            });
        }
        Some(m) => m,
    };
    let bytes = slot.read()?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(PlanError::AccountDb {
            path: PathBuf::from(host),
            reason: "is not valid UTF-8".into(),
        });
    };
    let prefix = format!("{name}:");
    let mut removed = None;
    let mut kept = zeroize::Zeroizing::new(String::with_capacity(text.len()));
    for line in text.split_inclusive('\n') {
        if line.starts_with(&prefix) && removed.is_none() {
            removed = Some(line.trim_end_matches('\n').to_owned());
        } else {
            kept.push_str(line);
        }
    }
    let Some(removed) = removed else {
        return Ok(None);
    };
    slot.write_atomic(kept.as_bytes(), meta.mode, Some((meta.uid, meta.gid)))?;
    if host == SHADOW || host == GSHADOW {
        let mut removed = removed;
        let mut fields: Vec<&str> = removed.split(':').collect();
        if let Some(pw) = fields.get_mut(1) {
            *pw = "!";
        }
        let locked = fields.join(":");
        zeroize::Zeroize::zeroize(&mut removed);
        return Ok(Some(locked));
    }
    Ok(Some(removed))
}

/// The line for `name` in an account file, if any. For `shadow`/`gshadow`
/// the password field is replaced by `!` (locked).
pub(crate) fn find_line(
    root_fd: BorrowedFd<'_>,
    host: &str,
    name: &str,
) -> Result<Option<String>, PlanError> {
    let Some(mut text) = read_text(root_fd, Path::new(host))? else {
        return Ok(None);
    };
    let prefix = format!("{name}:");
    let found = text.lines().find(|l| l.starts_with(&prefix)).map(|line| {
        if host == SHADOW || host == GSHADOW {
            let mut fields: Vec<&str> = line.split(':').collect();
            if let Some(pw) = fields.get_mut(1) {
                *pw = "!";
            }
            fields.join(":")
        } else {
            line.to_owned()
        }
    });
    zeroize::Zeroize::zeroize(&mut text);
    Ok(found)
}

/// `groupadd --system [--gid N] NAME`.
pub(crate) fn groupadd_argv(name: &str, system: bool, gid: Option<u32>) -> (PathBuf, Vec<String>) {
    let mut args = Vec::new();
    if system {
        args.push("--system".to_owned());
    }
    if let Some(g) = gid {
        args.push("--gid".into());
        args.push(g.to_string());
    }
    args.push(name.to_owned());
    (PathBuf::from(GROUPADD), args)
}

/// `useradd --system [--uid N] --gid GROUP --home-dir HOME --no-create-home --shell SHELL NAME`.
pub(crate) fn useradd_argv(
    name: &str,
    group: &str,
    home: &Path,
    shell: &Path,
    system: bool,
    uid: Option<u32>,
) -> (PathBuf, Vec<String>) {
    let mut args = Vec::new();
    if system {
        args.push("--system".to_owned());
    }
    if let Some(u) = uid {
        args.push("--uid".into());
        args.push(u.to_string());
    }
    args.extend([
        "--gid".to_owned(),
        group.to_owned(),
        "--home-dir".to_owned(),
        home.to_string_lossy().into_owned(),
        "--no-create-home".to_owned(),
        "--shell".to_owned(),
        shell.to_string_lossy().into_owned(),
        name.to_owned(),
    ]);
    (PathBuf::from(USERADD), args)
}

/// Display names for ids (falls back to the number).
pub(crate) fn owner_names(db: &Db, uid: u32, gid: u32) -> (String, String) {
    (
        db.user_name(uid)
            .map_or_else(|| uid.to_string(), str::to_owned),
        db.group_name(gid)
            .map_or_else(|| gid.to_string(), str::to_owned),
    )
}

/// Groups and users a plan is going to create, for id allocation and lookups.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub groups: BTreeMap<String, u32>,
    pub users: BTreeMap<String, (u32, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_ids() -> Result<(), PlanError> {
        let users = parse_users(
            "root:x:0:0:root:/root:/bin/bash\nbad line\nsvc:x:999:999::/:/usr/sbin/nologin\n",
        );
        assert_eq!(users.len(), 2);
        let groups = parse_groups("root:x:0:\nsvc:x:999:\n");
        let mut used: BTreeSet<u32> = users.iter().map(|u| u.uid).collect();
        used.extend(groups.iter().map(|g| g.1));
        assert_eq!(pick_id(&used, true, None, "uid")?, 998);
        assert_eq!(pick_id(&used, true, Some(500), "uid")?, 500);
        assert_eq!(pick_id(&used, true, Some(999), "uid")?, 998);
        assert_eq!(pick_id(&used, false, None, "uid")?, 1000);
        Ok(())
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("x", "name", "cryptobot").is_ok());
        assert!(validate_name("x", "name", "_svc-1").is_ok());
        assert!(validate_name("x", "name", "Root").is_err());
        assert!(validate_name("x", "name", "a:b").is_err());
        assert!(validate_name("x", "name", "a\nb").is_err());
        assert!(validate_name("x", "name", "").is_err());
        assert!(validate_field_path("x", "home", Path::new("/opt/a:b")).is_err());
        assert!(validate_field_path("x", "home", Path::new("opt")).is_err());
    }

    #[test]
    fn live_argv() {
        let (p, a) = useradd_argv(
            "cb",
            "cb",
            Path::new("/opt/cb"),
            Path::new("/usr/sbin/nologin"),
            true,
            Some(998),
        );
        assert_eq!(p, Path::new(USERADD));
        assert_eq!(
            a,
            [
                "--system",
                "--uid",
                "998",
                "--gid",
                "cb",
                "--home-dir",
                "/opt/cb",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "cb"
            ]
        );
        let (p, a) = groupadd_argv("cb", true, None);
        assert_eq!(p, Path::new(GROUPADD));
        assert_eq!(a, ["--system", "cb"]);
    }
}
