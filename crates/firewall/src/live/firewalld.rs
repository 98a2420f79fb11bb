//! `cryptobot firewall apply | confirm | watchdog` through firewalld
//! ([`firewalld::MANAGED`]). It shares the state directory, marker,
//! watchdog and journal of every backend; the file handling shared with
//! ufw is in [`super::managed`].
//!
//! firewalld must be running (`firewall-cmd --state`). Before anything is
//! touched, the new configuration is checked by firewalld's own parser:
//! `firewall-offline-cmd --system-config COPY --check-config` on a private
//! copy of `/etc/firewalld` holding the new zone, policy and default zone.
//! Apply: (1) the zone, the policy (usually absent) and firewalld.conf are
//! saved as the `previous-*` state; (2) the marker is written and the
//! watchdog started; (3) the rendered zone and policy are written (0644),
//! then `firewall-cmd --reload` and `firewall-cmd --set-default-zone=cryptobot`
//! (which rewrites firewalld.conf); (4) the three files are saved as the
//! `applied-*` state; (5) the previous files go back on disk (the zone and
//! policy are removed when they were absent). firewalld's runtime then has
//! the new rules and its permanent configuration is the old one, so a
//! rollback — the watchdog, a late `confirm`, a failure in step 3 — is the
//! previous files plus `firewall-cmd --reload`, which makes the runtime the
//! permanent configuration again and keeps established connections.
//! `confirm` writes the applied files (a journaled plan). No shell:
//! `firewall-cmd` gets argument vectors.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use cryptobot_config::Layout;
use cryptobot_plan::Change;

use super::arm::{arm, open_for_apply};
use super::clock::now_ms;
use super::error::LiveError;
use super::managed::{
    self as generic, Saved, paths, program, put_back, read_files, run_tool, save, shown, strings,
    write_back,
};
use super::model::{self as live, LiveBackend, Pending};
use super::process::run;
use super::report::{ApplyOptions, ApplyReport, Armed, ArmedDetail, DryRun};
use super::state::State;
use crate::managed::Managed;
use crate::render::firewalld::{self, ZONE};
use crate::rules::RuleSet;

const M: &Managed = &firewalld::MANAGED;

/// `Ok` when `firewall-cmd --state` says `running`; `Err(what it said)`.
fn running(program: &Path) -> Result<(), String> {
    match run(program, &["--state"], None) {
        Ok(ran) if ran.ok && ran.stdout.trim() == "running" => Ok(()),
        Ok(ran) => {
            let said = if ran.stdout.trim().is_empty() {
                ran.error()
            } else {
                ran.stdout.trim().to_string()
            };
            Err(said)
        }
        Err(f) => Err(f.message),
    }
}

fn not_running(said: &str) -> LiveError {
    LiveError::runtime(
        format!("firewalld is not running (`firewall-cmd --state` says: {said}); nothing was changed"),
        Some(
            "start firewalld (`systemctl start firewalld`) and apply again, or load the rules into nftables with `--backend nftables`".to_string(),
        ),
    )
}

fn hint_for(message: &str) -> String {
    if message.contains("lockdown") {
        "firewalld's lockdown refuses this caller: add root to /etc/firewalld/lockdown-whitelist.xml, or `firewall-cmd --lockdown-off`".to_string()
    } else if message.contains("NOT_AUTHORIZED")
        || message.contains("ermission denied")
        || message.contains("root")
    {
        "run as root (firewalld's configuration is root's)".to_string()
    } else {
        "nothing was changed; the quoted message is firewalld's own".to_string()
    }
}

// ------------------------------------------------------------- the check

/// The `firewall-offline-cmd` program, if installed (it comes with
/// firewalld).
fn offline_program() -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join("firewall-offline-cmd"))
        .find(|p| p.is_file())
}

/// Copies the regular files and directories of `from` (two levels, as
/// firewalld's configuration is laid out) into `to`.
fn copy_tree(from: &Path, to: &Path, depth: usize) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let meta = std::fs::metadata(entry.path())?;
        let target = to.join(entry.file_name());
        if meta.is_dir() && depth > 0 {
            std::fs::DirBuilder::new().mode(0o700).create(&target)?;
            copy_tree(&entry.path(), &target, depth - 1)?;
        } else if meta.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Checks the new configuration with firewalld's own parser, without
/// touching `/etc/firewalld` or the running firewalld: a private copy
/// (mode 0700, in the temporary directory) gets the new files, then
/// `firewall-offline-cmd --system-config COPY --check-config`.
/// `Ok(None)`: it passed; `Ok(Some(why not checked))`; `Err`: refused.
fn offline_check(new: &[Option<String>]) -> Result<Option<String>, LiveError> {
    let Some(offline) = offline_program() else {
        return Ok(Some(
            "`firewall-offline-cmd` is not installed: the new zone was not checked before the reload"
                .to_string(),
        ));
    };
    let dir = std::env::temp_dir().join(format!(
        "cryptobot-firewalld-check-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let cannot = |e: std::io::Error| {
        LiveError::runtime(
            format!("cannot prepare the check of the firewalld configuration: {e}"),
            Some("nothing was changed".to_string()),
        )
    };
    // `create` (not `create_all`) fails when the name exists: never
    // someone else's directory.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(cannot)?;
    let checked = (|| -> Result<Option<String>, LiveError> {
        copy_tree(Path::new("/etc/firewalld"), &dir, 2).map_err(cannot)?;
        for (f, text) in M.files.iter().zip(new) {
            let rel = f.path.strip_prefix("/etc/firewalld/").unwrap_or(f.path);
            let target = dir.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(cannot)?;
            }
            match text {
                Some(t) => std::fs::write(&target, t).map_err(cannot)?,
                None => {
                    let _ = std::fs::remove_file(&target);
                }
            }
        }
        let config = dir.to_string_lossy().into_owned();
        let ran = run(
            &offline,
            &["--system-config", &config, "--check-config"],
            None,
        )?;
        if ran.ok {
            Ok(None)
        } else {
            Err(LiveError::runtime(
                format!(
                    "firewalld refuses the new configuration (`firewall-offline-cmd --check-config` on a copy of /etc/firewalld with the new zone and policy): {}",
                    ran.error()
                ),
                Some(
                    "nothing was changed; check the [firewall] and [services] settings, and `cryptobot firewall render --backend firewalld`".to_string(),
                ),
            ))
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    checked
}

// -------------------------------------------------------------- rollback

/// Puts back the state saved before apply `id`: the previous files (the
/// zone and policy removed when they were absent), then
/// `firewall-cmd --reload`. `Ok(what was done)` or `Err(what went wrong)`.
pub(crate) fn restore(state: &State, id: &str) -> Result<String, String> {
    let program = program(M).map_err(|f| f.message)?;
    let put = put_back(state, M, id);
    let reload = strings(M.reload);
    let reloaded = run_tool(&program, M, &reload);
    let files = paths(M);
    match (put, reloaded) {
        (Ok(_), Ok(_)) => Ok(format!("put back {files} and ran `{}`", shown(M, &reload))),
        (Ok(_), Err(e)) => Err(format!(
            "put back {files}, but {e} (firewalld loads them when it starts)"
        )),
        (Err(problems), Ok(_)) => Err(format!(
            "could not put the previous files back ({}); ran `{}` with the files on disk",
            problems.join("; "),
            shown(M, &reload)
        )),
        (Err(problems), Err(e)) => Err(format!(
            "could not put the previous files back ({}), and {e}",
            problems.join("; ")
        )),
    }
}

// ----------------------------------------------------------------- apply

/// Warnings for interfaces and sources bound to another zone than
/// [`ZONE`] (best effort: a listing that fails gives none).
fn uncovered(program: &Path) -> Vec<String> {
    run_tool(program, M, &strings(&["--get-active-zones"]))
        .map(|ran| firewalld::uncovered(&firewalld::active_zones(&ran.stdout)))
        .unwrap_or_default()
}

pub(crate) fn apply(
    layout: &Layout,
    opts: &ApplyOptions,
    rules: &RuleSet,
) -> Result<ApplyReport, LiveError> {
    let m = M;
    let program = program(m)?;
    let is_running = running(&program);
    let before = read_files(m).map_err(|e| {
        LiveError::runtime(
            e,
            Some(
                "firewalld's configuration is needed to roll back; nothing was changed".to_string(),
            ),
        )
    })?;
    let conf_before = before.get(2).cloned().flatten().unwrap_or_default();
    // The zone and the policy as rendered; firewalld.conf as
    // `--set-default-zone` leaves it, and the copy of the old one it keeps.
    let new = vec![
        Some(firewalld::zone(rules)),
        Some(firewalld::policy(rules)),
        Some(firewalld::with_default_zone(&conf_before, ZONE)),
        Some(conf_before.clone()),
    ];
    if opts.dry_run {
        return Ok(ApplyReport::DryRun(dry_run(
            &program,
            is_running,
            &before,
            &new,
            &conf_before,
        )));
    }
    if let Err(said) = &is_running {
        return Err(not_running(said));
    }
    let check_note = offline_check(&new)?;

    let (state, _lock) = open_for_apply(layout)?;
    let now = now_ms();
    let id = live::new_id(now, std::process::id());
    // (1) The previous state.
    save(&state, m, &id, Saved::Previous, &before)?;
    let mut pending = Pending {
        format: live::PENDING_FORMAT.into(),
        id: id.clone(),
        backend: LiveBackend::Firewalld,
        applied_unix_ms: now,
        deadline_unix_ms: now + opts.confirm_within * 1000,
        persist: !opts.no_persist,
        previous_present: true,
    };
    // (2) The marker and the watchdog first.
    arm(layout, &state, &pending)?;
    // (3)–(5); any failure rolls back at once.
    let commands = firewalld::commands();
    let staged = (|| -> Result<(), String> {
        for (f, text) in m.files.iter().zip(&new).take(2) {
            write_back(f, text.as_deref())?;
        }
        for c in &commands {
            run_tool(&program, m, c)?;
        }
        let after = read_files(m)?;
        save(&state, m, &id, Saved::Applied, &after).map_err(|f| f.message)?;
        for (f, text) in m.files.iter().zip(&before) {
            write_back(f, text.as_deref())?;
        }
        Ok(())
    })();
    if let Err(e) = staged {
        let undo = restore(&state, &id);
        let (outcome, detail) = match &undo {
            Ok(d) => ("rolled back", d.clone()),
            Err(d) => ("restore failed", d.clone()),
        };
        state.log(&format!("apply {id}: {e}; {outcome} at once: {detail}"));
        let _ = state.finish(&pending, outcome, &detail);
        let hint = match undo {
            Ok(_) => format!(
                "the previous firewalld configuration was restored and reloaded; {}",
                hint_for(&e).replace("nothing was changed; ", "")
            ),
            Err(d) => format!(
                "restoring the previous firewalld configuration failed too ({d}); check `firewall-cmd --state` and `firewall-cmd --get-default-zone` from the console"
            ),
        };
        return Err(LiveError::runtime(e, Some(hint)));
    }
    // The window starts when the rules are in place.
    let active = now_ms();
    pending.applied_unix_ms = active;
    pending.deadline_unix_ms = active + opts.confirm_within * 1000;
    state.write(live::PENDING_FILE, &pending.to_json())?;
    let deadline = pending.deadline_unix_ms;
    let previous_zone = firewalld::default_zone(&conf_before).unwrap_or("public");
    let warnings = uncovered(&program);
    state.log(&format!(
        "apply {id}: new firewalld rules active (default zone {ZONE}, was {previous_zone}); the previous state comes back at {} unless confirmed",
        live::rfc3339(deadline)
    ));
    for w in &warnings {
        state.log(&format!("apply {id}: warning: {w}"));
    }
    state.prune(&id);

    Ok(ApplyReport::Armed(Armed {
        backend: LiveBackend::Firewalld,
        id,
        confirm_within: opts.confirm_within,
        deadline_unix_ms: deadline,
        persist: !opts.no_persist,
        previous: state.dir.clone(),
        log: state.logs.join(live::LOG_FILE),
        detail: ArmedDetail::Firewalld {
            default_zone: ZONE,
            previous_default_zone: previous_zone.to_string(),
            check_note,
            warnings,
        },
    }))
}

fn dry_run(
    program: &Path,
    is_running: Result<(), String>,
    before: &[Option<String>],
    new: &[Option<String>],
    conf_before: &str,
) -> DryRun {
    let m = M;
    let mut diffs = Vec::new();
    for (f, (old, new)) in m.files.iter().zip(before.iter().zip(new)) {
        let old_name = if old.is_some() {
            format!("{} (now)", f.path)
        } else {
            format!("{} (absent)", f.path)
        };
        let diff = live::unified_diff(
            old.as_deref().unwrap_or(""),
            new.as_deref().unwrap_or(""),
            &old_name,
            &format!("{} (new)", f.path),
        );
        diffs.push((f.path, diff));
    }
    let commands: Vec<String> = firewalld::commands().iter().map(|c| shown(m, c)).collect();
    let check = if is_running.is_ok() {
        offline_check(new).map(|n| n.unwrap_or_else(|| "passed".to_string()))
    } else {
        Ok("not run".to_string())
    };
    let warnings = if is_running.is_ok() {
        uncovered(program)
    } else {
        Vec::new()
    };
    let previous_zone = firewalld::default_zone(conf_before).unwrap_or("public");
    DryRun::Firewalld {
        running: is_running,
        default_zone: previous_zone.to_string(),
        diffs,
        commands,
        check,
        warnings,
    }
}

// --------------------------------------------------------------- confirm

/// The journaled `run` of a confirmed apply: `firewall-cmd --state` now
/// (nothing changes); its undo — after the journal has put the previous
/// files back — is `firewall-cmd --reload`.
pub(crate) fn rollback_changes(p: &Pending) -> Result<Vec<Change>, LiveError> {
    generic::rollback_changes(M, p, &["--state"])
}

// --------------------------------------------------------------- persist

/// `cryptobot firewall persist` with firewalld: there is nothing of ours
/// to write.
pub(crate) fn persist() -> LiveError {
    LiveError::input(
        "`cryptobot firewall persist` has nothing to write for firewalld: firewalld keeps its own configuration in /etc/firewalld and loads it at boot, and `cryptobot firewall confirm` leaves the confirmed zone, policy and default zone there",
        Some(
            "on this host: `cryptobot firewall apply --backend firewalld`, then `cryptobot firewall confirm`; for an image: copy the files of `cryptobot firewall render --backend firewalld` into its /etc/firewalld and set DefaultZone=cryptobot in firewalld.conf".to_string(),
        ),
    )
}
