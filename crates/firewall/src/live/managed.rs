//! What ufw and firewalld share when `cryptobot firewall apply` goes
//! through a firewall whose own tool keeps its rules in files
//! ([`Managed`]): running the tool, reading and atomically writing its
//! files, saving them as an apply's `previous-*` / `applied-*` state (a
//! file that did not exist is saved as an empty `….absent` marker, and
//! putting it back removes it), and the journaled plan of `confirm`.
//! The steps of each firewall are in [`super::ufw`] and [`super::firewalld`].

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cryptobot_plan::{Change, Content, Planner, Root};

use super::error::LiveError;
use super::model::Pending;
use super::process::{Ran, run};
use super::state::{State, read_host};
use crate::managed::{Managed, ManagedFile, absent_marker};
use crate::render::ufw::shell_word;

/// The firewall's program: the sbin and bin directories, never `PATH`.
pub(crate) fn program(m: &Managed) -> Result<PathBuf, LiveError> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(m.tool))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            LiveError::runtime(
                format!("`{}` is not installed", m.tool),
                Some(format!("install it: apt-get install {}", m.package)),
            )
        })
}

/// `tool ARGS` as the operator would type it.
pub(crate) fn shown(m: &Managed, args: &[String]) -> String {
    let mut s = m.tool.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&shell_word(a));
    }
    s
}

pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_string()).collect()
}

/// Runs `tool args`: `Err` names the command and the tool's own message.
pub(crate) fn run_tool(program: &Path, m: &Managed, args: &[String]) -> Result<Ran, String> {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(program, &argv, None) {
        Ok(ran) if ran.ok => Ok(ran),
        Ok(ran) => Err(format!("`{}` failed: {}", shown(m, args), ran.error())),
        Err(f) => Err(f.message),
    }
}

// ------------------------------------------------------------- the files

/// A managed file's text; `None` when it is missing. Never follows a link.
fn read_file(f: &ManagedFile) -> Result<Option<String>, String> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
        .open(f.path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", f.path)),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", f.path))?;
    Ok(Some(text))
}

/// Every managed file's text (`None`: absent), in [`Managed::files`]
/// order. A required file that is missing is an error.
pub(crate) fn read_files(m: &Managed) -> Result<Vec<Option<String>>, String> {
    m.files
        .iter()
        .map(|f| match read_file(f)? {
            None if f.required => Err(format!(
                "{} is missing (apt-get install --reinstall {} restores it)",
                f.path, m.package
            )),
            text => Ok(text),
        })
        .collect()
}

/// Syncs the directory holding `path` (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Puts `text` in `f` atomically (temporary file in the same directory,
/// fsync, rename, directory fsync), keeping the mode and owner of the file
/// it replaces; a new file gets [`ManagedFile::mode`] and this process's
/// owner. `None` removes the file. A file that already holds `text` is
/// left alone.
pub(crate) fn write_back(f: &ManagedFile, text: Option<&str>) -> Result<(), String> {
    let path = Path::new(f.path);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{} is not a file path", f.path));
    };
    let meta = std::fs::symlink_metadata(path);
    let Some(text) = text else {
        return match meta {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Ok(m) if m.is_dir() => Err(format!("{} is a directory", f.path)),
            _ => {
                std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", f.path))?;
                sync_dir(dir);
                Ok(())
            }
        };
    };
    let (mode, owner) = match meta {
        Ok(meta) if meta.is_file() => (meta.mode() & 0o7777, Some((meta.uid(), meta.gid()))),
        Ok(_) => return Err(format!("{} is not a regular file", f.path)),
        Err(_) => (f.mode, None),
    };
    if read_file(f).ok().flatten().as_deref() == Some(text) {
        return Ok(());
    }
    let tmp = dir.join(format!(
        ".{}.cryptobot-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let fail = |e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", f.path)
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(fail)?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(fail)?;
    sync_dir(dir);
    Ok(())
}

// ------------------------------------------------------------- the state

/// Which half of an apply's saved state.
#[derive(Clone, Copy)]
pub(crate) enum Saved {
    Previous,
    Applied,
}

fn names(m: &Managed, id: &str, which: Saved) -> Vec<String> {
    m.state_files(id)
        .into_iter()
        .map(|(applied, previous)| match which {
            Saved::Applied => applied,
            Saved::Previous => previous,
        })
        .collect()
}

/// Saves the files' texts as apply `id`'s `which` state; an absent file
/// as its `….absent` marker.
pub(crate) fn save(
    state: &State,
    m: &Managed,
    id: &str,
    which: Saved,
    texts: &[Option<String>],
) -> Result<(), LiveError> {
    for (name, text) in names(m, id, which).iter().zip(texts) {
        let marker = absent_marker(name);
        match text {
            Some(t) => {
                state.write(name, t)?;
                state.remove(&marker)?;
            }
            None => {
                state.write(&marker, "")?;
                state.remove(name)?;
            }
        }
    }
    Ok(())
}

/// Apply `id`'s `which` state, one text per file (`None`: it was absent);
/// `Err` lists what is missing or unreadable.
pub(crate) fn load(
    state: &State,
    m: &Managed,
    id: &str,
    which: Saved,
) -> Result<Vec<Option<String>>, Vec<String>> {
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for name in names(m, id, which) {
        match state.read(&name) {
            Ok(Some(t)) => texts.push(Some(t)),
            Ok(None) => match state.read(&absent_marker(&name)) {
                Ok(Some(_)) => texts.push(None),
                Ok(None) => problems.push(format!("{} is missing", state.path(&name).display())),
                Err(f) => problems.push(f.message),
            },
            Err(f) => problems.push(f.message),
        }
    }
    if problems.is_empty() {
        Ok(texts)
    } else {
        Err(problems)
    }
}

/// Puts the files saved before apply `id` back on disk (an absent one is
/// removed). Nothing is written when the saved state is incomplete.
/// `Ok(the previous texts)`, or `Err(what went wrong)`.
pub(crate) fn put_back(
    state: &State,
    m: &Managed,
    id: &str,
) -> Result<Vec<Option<String>>, Vec<String>> {
    let texts = load(state, m, id, Saved::Previous)?;
    let problems: Vec<String> = m
        .files
        .iter()
        .zip(&texts)
        .filter_map(|(f, t)| write_back(f, t.as_deref()).err())
        .collect();
    if problems.is_empty() {
        Ok(texts)
    } else {
        Err(problems)
    }
}

/// The host paths of the managed files, for messages.
pub(crate) fn paths(m: &Managed) -> String {
    m.files
        .iter()
        .map(|f| f.path)
        .collect::<Vec<_>>()
        .join(", ")
}

// --------------------------------------------------------------- confirm

/// The journaled `run` of a confirmed apply: `tool check` now (nothing
/// changes); its undo — after the journal has put the previous files back
/// — brings them into effect ([`Managed::settle`]), which is how
/// `cryptobot rollback` takes a confirmed apply back. The caller plans it
/// before the files, so it is undone after them.
pub(crate) fn rollback_changes(
    m: &Managed,
    p: &Pending,
    check: &[&str],
) -> Result<Vec<Change>, LiveError> {
    let program = program(m)?;
    Ok(vec![Change::Run {
        program: program.clone(),
        args: strings(check),
        why: format!(
            "confirmed firewall apply {} (rollback restores the {} rules before it)",
            p.id, m.name
        ),
        undo: Some((program, strings(m.settle(p.previous_present)))),
    }])
}

/// The applied files of a confirmed apply written back (`confirm` with
/// persistence): an existing file keeps its mode and owner, a new one gets
/// [`ManagedFile::mode`], one that was absent after the apply is removed.
pub(crate) fn plan_persist(
    m: &Managed,
    planner: &mut Planner,
    root: &Root,
    files: &[Option<String>],
) -> Result<Vec<String>, LiveError> {
    let mut paths = Vec::new();
    for (f, content) in m.files.iter().zip(files) {
        let path = Path::new(f.path);
        match content {
            Some(content) => {
                let mode = read_host(root, f.path)?.map(|(_, m)| m).unwrap_or(f.mode);
                planner.ensure_file(path, Content::Text(content.clone()), mode, None)?;
            }
            None => planner.ensure_absent(path)?,
        }
        paths.push(f.path.to_string());
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn write_back_creates_replaces_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path: &'static str = Box::leak(
            dir.path()
                .join("a.xml")
                .to_string_lossy()
                .into_owned()
                .into_boxed_str(),
        );
        let f = ManagedFile {
            key: "a",
            path,
            mode: 0o644,
            required: false,
        };
        write_back(&f, None).unwrap();
        assert!(!Path::new(path).exists());
        write_back(&f, Some("one\n")).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "one\n");
        let mode = std::fs::metadata(path).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_back(&f, Some("two\n")).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "two\n");
        assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o7777, 0o600);
        write_back(&f, None).unwrap();
        assert!(!Path::new(path).exists());
        // Only the file itself was ever in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
