//! `cryptobot firewall apply | confirm | watchdog` for a firewall whose own
//! tool keeps its rules in files: ufw ([`ufw::MANAGED`]). A child of
//! `firewall_live`, whose state directory, marker, watchdog and journal it
//! shares; what differs is here.
//!
//! Apply: (1) the managed files are saved as the apply's `previous-*` state
//! (ufw.conf among them says whether ufw was enabled); (2) the marker is
//! written and the watchdog started; (3) `ufw` runs the commands
//! ([`ufw::commands`]) after deleting the rules an earlier run added that
//! the new set lacks ([`ufw::stale`]; SSH's rule is never taken away); (4) the files are saved as the `applied-*` state;
//! (5) the previous files go back on disk, so an apply that is never
//! confirmed is never what boots (the running firewall keeps the new
//! rules). `confirm` writes the applied files (unless `--no-persist`); a
//! rollback puts the previous files back and runs `ufw reload`, or
//! `ufw --force disable` when ufw was not enabled before. A command that
//! fails in step 3 rolls back at once. No shell: `ufw` gets argument
//! vectors.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cryptobot_harden::firewall::RuleSet;
use cryptobot_harden::firewall::live::{self, LiveBackend, Pending};
use cryptobot_harden::firewall::managed::{Managed, ManagedFile};
use cryptobot_harden::firewall::ufw::{self, OwnRule};
use cryptobot_plan::{Change, Content, Planner, Root};
use serde_json::json;

use super::{Ran, State, already_pending, now_ms, read_host, run, spawn_watchdog};
use crate::cli::FirewallApplyArgs;
use crate::context::{Context, Failure};

const M: &Managed = &ufw::MANAGED;

/// The firewall's program: the sbin and bin directories, never `PATH`.
fn program(m: &Managed) -> Result<PathBuf, Failure> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(m.tool))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Failure::runtime(
                format!("`{}` is not installed", m.tool),
                Some(format!("install it: apt-get install {}", m.package)),
            )
        })
}

/// `tool ARGS` as the operator would type it.
fn shown(m: &Managed, args: &[String]) -> String {
    let mut s = m.tool.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&ufw::shell_word(a));
    }
    s
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_string()).collect()
}

/// Runs `tool args`: `Err` names the command and the tool's own message.
fn run_tool(program: &Path, m: &Managed, args: &[String]) -> Result<Ran, String> {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(program, &argv, None) {
        Ok(ran) if ran.ok => Ok(ran),
        Ok(ran) => Err(format!("`{}` failed: {}", shown(m, args), ran.error())),
        Err(f) => Err(f.message),
    }
}

fn hint_for(message: &str) -> String {
    if message.contains("root") || message.contains("ermission denied") {
        "run as root (ufw reads and writes /etc/ufw)".to_string()
    } else {
        "nothing was changed; the quoted message is the tool's own".to_string()
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

/// Every managed file's text, in [`Managed::files`] order.
fn read_files(m: &Managed) -> Result<Vec<String>, String> {
    m.files
        .iter()
        .map(|f| {
            read_file(f)?.ok_or_else(|| {
                format!(
                    "{} is missing (apt-get install --reinstall {} restores it)",
                    f.path, m.package
                )
            })
        })
        .collect()
}

/// Whether ufw was enabled, from the texts of [`read_files`].
fn was_enabled(m: &Managed, texts: &[String]) -> bool {
    m.files
        .iter()
        .zip(texts)
        .any(|(f, t)| f.key == "ufw.conf" && ufw::enabled(t))
}

/// Writes `text` to `f` atomically (temporary file in the same directory,
/// fsync, rename, directory fsync), keeping the mode and owner of the file
/// it replaces. A file that already holds `text` is left alone.
fn write_back(f: &ManagedFile, text: &str) -> Result<(), String> {
    let path = Path::new(f.path);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{} is not a file path", f.path));
    };
    let (mode, owner) = match std::fs::symlink_metadata(path) {
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
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

// -------------------------------------------------------------- rollback

/// Puts back the state saved before apply `id`: the previous files, then
/// `ufw reload` (ufw was enabled) or `ufw --force disable` (it was not).
/// When that fails, ufw is disabled: an open host is better than a
/// locked-out one. `Ok(what was done)` or `Err(what went wrong)`.
pub(super) fn restore(state: &State, id: &str) -> Result<String, String> {
    restore_managed(M, state, id)
}

fn restore_managed(m: &Managed, state: &State, id: &str) -> Result<String, String> {
    let program = program(m).map_err(|f| f.message)?;
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for (_, previous) in m.state_files(id) {
        match state.read(&previous) {
            Ok(Some(t)) => texts.push(t),
            Ok(None) => problems.push(format!("{} is missing", state.path(&previous).display())),
            Err(f) => problems.push(f.message),
        }
    }
    if problems.is_empty() {
        for (f, t) in m.files.iter().zip(&texts) {
            if let Err(e) = write_back(f, t) {
                problems.push(e);
            }
        }
    }
    let disable = strings(m.disable);
    if !problems.is_empty() {
        // The previous files cannot all be put back: open rather than locked out.
        return match run_tool(&program, m, &disable) {
            Ok(_) => Ok(format!(
                "could not put the previous files back ({}); ran `{}` instead",
                problems.join("; "),
                shown(m, &disable)
            )),
            Err(e) => Err(format!(
                "could not put the previous files back ({}) nor disable {} ({e})",
                problems.join("; "),
                m.name
            )),
        };
    }
    let enabled = was_enabled(m, &texts);
    let settle = strings(m.settle(enabled));
    let files: Vec<&str> = m.files.iter().map(|f| f.path).collect();
    match run_tool(&program, m, &settle) {
        Ok(_) => Ok(format!(
            "put back {} and ran `{}`",
            files.join(", "),
            shown(m, &settle)
        )),
        Err(e) if enabled => match run_tool(&program, m, &disable) {
            Ok(_) => Ok(format!(
                "put back {}, but {e}; ran `{}` instead",
                files.join(", "),
                shown(m, &disable)
            )),
            Err(e2) => Err(format!("put back {}, but {e}; {e2}", files.join(", "))),
        },
        Err(e) => Err(format!("put back {}, but {e}", files.join(", "))),
    }
}

// ----------------------------------------------------------------- apply

pub(super) fn apply(
    ctx: &Context,
    args: &FirewallApplyArgs,
    rules: &RuleSet,
) -> Result<(), Failure> {
    let m = M;
    let program = program(m)?;
    let commands = ufw::commands(rules);
    // What is there now: the rules of an earlier run and the files.
    let read = || -> Result<(Vec<OwnRule>, Vec<String>), Failure> {
        let listing = run_tool(&program, m, &strings(&["show", "added"])).map_err(|e| {
            let hint = hint_for(&e);
            Failure::runtime(e, Some(hint))
        })?;
        let before = read_files(m).map_err(|e| {
            Failure::runtime(
                e,
                Some("ufw's state files are needed to roll back; nothing was changed".to_string()),
            )
        })?;
        Ok((
            ufw::stale(&ufw::own_rules(&listing.stdout), &commands),
            before,
        ))
    };
    if args.dry_run {
        let (stale, before) = read()?;
        return dry_run(ctx, &stale, &commands, was_enabled(m, &before));
    }

    let state =
        State::open(ctx, true)?.ok_or_else(|| Failure::runtime("no state directory", None))?;
    let _lock = state.lock()?;
    if let Some(p) = state.pending()? {
        return Err(already_pending(p));
    }
    let (stale, before) = read()?;
    let enabled = was_enabled(m, &before);
    let now = now_ms();
    let id = live::new_id(now, std::process::id());
    let names = m.state_files(&id);
    // (1) The previous state.
    for ((_, previous), text) in names.iter().zip(&before) {
        state.write(previous, text)?;
    }
    let mut pending = Pending {
        format: live::PENDING_FORMAT.into(),
        id: id.clone(),
        backend: LiveBackend::Ufw,
        applied_unix_ms: now,
        deadline_unix_ms: now + args.confirm_within * 1000,
        persist: !args.no_persist,
        previous_present: enabled,
    };
    // (2) The marker and the watchdog first: there is never a moment with
    // new rules and nobody to take them back.
    state.write(live::PENDING_FILE, &pending.to_json())?;
    if let Err(e) = spawn_watchdog(ctx, LiveBackend::Ufw, &id, pending.deadline_unix_ms) {
        let _ = state.remove(live::PENDING_FILE);
        return Err(Failure::runtime(
            format!("cannot start the rollback watchdog: {e}; nothing was changed"),
            Some("check that the cryptobot binary is still in place".to_string()),
        ));
    }
    // (3)–(5); any failure rolls back at once.
    let staged = (|| -> Result<(), String> {
        for rule in &stale {
            run_tool(&program, m, &rule.delete_args())?;
        }
        for c in &commands {
            run_tool(&program, m, c)?;
        }
        let after = read_files(m)?;
        for ((applied, _), text) in names.iter().zip(&after) {
            state.write(applied, text).map_err(|f| f.message)?;
        }
        for (f, text) in m.files.iter().zip(&before) {
            write_back(f, text)?;
        }
        Ok(())
    })();
    if let Err(e) = staged {
        let undo = restore_managed(m, &state, &id);
        let (outcome, detail) = match &undo {
            Ok(d) => ("rolled back", d.clone()),
            Err(d) => ("restore failed", d.clone()),
        };
        state.log(&format!("apply {id}: {e}; {outcome} at once: {detail}"));
        let _ = state.finish(&pending, outcome, &detail);
        return Err(Failure::runtime(
            e,
            Some(match undo {
                Ok(_) => {
                    "the previous ufw rules and files were restored; fix the cause and apply again"
                        .to_string()
                }
                Err(d) => format!(
                    "restoring the previous ufw state failed too ({d}); check `ufw status` from the console"
                ),
            }),
        ));
    }
    // The window starts when the rules are in place (ufw is slow to run).
    let active = now_ms();
    pending.applied_unix_ms = active;
    pending.deadline_unix_ms = active + args.confirm_within * 1000;
    state.write(live::PENDING_FILE, &pending.to_json())?;
    let deadline = pending.deadline_unix_ms;
    let settle = shown(m, &strings(m.settle(enabled)));
    state.log(&format!(
        "apply {id}: new ufw rules active ({} deleted, {} commands); the previous state comes back at {} unless confirmed",
        stale.len(),
        commands.len(),
        live::rfc3339(deadline)
    ));
    state.prune(&id);

    let secs = args.confirm_within;
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall apply", "backend": "ufw", "id": id,
            "confirm_within": secs, "deadline": live::rfc3339(deadline),
            "persist": !args.no_persist, "previous": state.dir,
            "was_enabled": enabled, "deleted": stale.len(), "commands": commands.len(),
        });
        println!("{doc:#}");
    } else if !ctx.out.quiet {
        println!(
            "new rules active; run `cryptobot firewall confirm` within {secs} s from a NEW ssh session, or they are rolled back"
        );
        println!(
            "  rollback at {} puts ufw's previous files back (saved in {}) and runs `{settle}` (log: {})",
            live::rfc3339(deadline),
            state.dir.display(),
            state.logs.join(live::LOG_FILE).display()
        );
        println!(
            "  until confirmed, /etc/ufw (and so `ufw status`) holds the previous rules; a reboot or `ufw reload` goes back to them"
        );
        if args.no_persist {
            println!(
                "  --no-persist: after confirm the rules last until the next reboot or `ufw reload`"
            );
        }
    }
    Ok(())
}

fn dry_run(
    ctx: &Context,
    stale: &[OwnRule],
    commands: &[Vec<String>],
    enabled: bool,
) -> Result<(), Failure> {
    let deletes: Vec<String> = stale.iter().map(|r| shown(M, &r.delete_args())).collect();
    let runs: Vec<String> = commands.iter().map(|c| shown(M, c)).collect();
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall apply", "dry_run": true, "backend": "ufw",
            "enabled": enabled, "delete": deletes, "commands": runs,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if ctx.out.quiet {
        return Ok(());
    }
    println!("dry run: nothing is changed.");
    println!(
        "ufw is {}; `cryptobot firewall apply` would run:",
        if enabled { "enabled" } else { "not enabled" }
    );
    if deletes.is_empty() {
        println!("\n# no rules of an earlier run to delete");
    } else {
        println!("\n# delete the rules an earlier run added");
        for (d, r) in deletes.iter().zip(stale) {
            println!("{d}    # was: {}", r.comment);
        }
    }
    println!("\n# the rules");
    for r in &runs {
        println!("{r}");
    }
    Ok(())
}

// --------------------------------------------------------------- confirm

/// The journaled `run` of a confirmed apply: `ufw status` now (nothing
/// changes); its undo — after the journal has put the previous files back
/// — is `ufw reload`, or `ufw --force disable` when ufw was not enabled,
/// which is how `cryptobot rollback` takes a confirmed apply back. The
/// caller plans it before the files, so it is undone after them.
pub(super) fn rollback_changes(p: &Pending) -> Result<Vec<Change>, Failure> {
    let program = program(M)?;
    Ok(vec![Change::Run {
        program: program.clone(),
        args: strings(&["status"]),
        why: format!(
            "confirmed firewall apply {} (rollback restores the ufw rules before it)",
            p.id
        ),
        undo: Some((program, strings(M.settle(p.previous_present)))),
    }])
}

/// The applied files of a confirmed apply written back (`confirm` with
/// persistence): each keeps its mode, its owner is not changed.
pub(super) fn plan_persist(
    planner: &mut Planner,
    root: &Root,
    files: &[String],
) -> Result<Vec<String>, Failure> {
    let mut paths = Vec::new();
    for (f, content) in M.files.iter().zip(files) {
        let mode = read_host(root, f.path)?.map(|(_, m)| m).unwrap_or(f.mode);
        planner.ensure_file(
            Path::new(f.path),
            Content::Text(content.clone()),
            mode,
            None,
        )?;
        paths.push(f.path.to_string());
    }
    Ok(paths)
}

// --------------------------------------------------------------- persist

/// `cryptobot firewall persist` with ufw: there is nothing of ours to write.
pub(super) fn persist() -> Result<(), Failure> {
    Err(Failure::input(
        "`cryptobot firewall persist` has nothing to write for ufw: ufw keeps its rules in /etc/ufw itself and loads them at boot, and `cryptobot firewall confirm` leaves the confirmed rules there",
        Some(
            "on this host: `cryptobot firewall apply --backend ufw`, then `cryptobot firewall confirm`; for an image: run the script of `cryptobot firewall render --backend ufw` in it".to_string(),
        ),
    ))
}
