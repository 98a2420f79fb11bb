//! `cryptobot firewall apply | confirm | watchdog` through ufw
//! ([`ufw::MANAGED`]). It shares the state directory, marker, watchdog and
//! journal of every backend; the file handling shared with firewalld is in
//! [`super::managed`], what differs is here.
//!
//! Apply: (1) the managed files are saved as the apply's `previous-*` state
//! (ufw.conf among them says whether ufw was enabled); (2) the marker is
//! written and the watchdog started; (3) `ufw` runs the commands
//! ([`ufw::commands`]) after deleting the rules an earlier run added that
//! the new set lacks ([`ufw::stale`]; SSH's rule is never taken away);
//! (4) the files are saved as the `applied-*` state; (5) the previous
//! files go back on disk, so an apply that is never confirmed is never
//! what boots (the running firewall keeps the new rules). `confirm` writes the applied files (unless `--no-persist`); a
//! rollback puts the previous files back and runs `ufw reload`, or
//! `ufw --force disable` when ufw was not enabled before. A command that
//! fails in step 3 rolls back at once. No shell: `ufw` gets argument
//! vectors.

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
use super::report::{ApplyOptions, ApplyReport, Armed, ArmedDetail, DryRun};
use super::state::State;
use crate::managed::Managed;
use crate::render::ufw::{self, OwnRule};
use crate::rules::RuleSet;

const M: &Managed = &ufw::MANAGED;

fn hint_for(message: &str) -> String {
    if message.contains("root") || message.contains("ermission denied") {
        "run as root (ufw reads and writes /etc/ufw)".to_string()
    } else {
        "nothing was changed; the quoted message is the tool's own".to_string()
    }
}

/// Whether ufw was enabled, from the texts of [`read_files`].
fn was_enabled(m: &Managed, texts: &[Option<String>]) -> bool {
    m.files
        .iter()
        .zip(texts)
        .any(|(f, t)| f.key == "ufw.conf" && t.as_deref().is_some_and(ufw::enabled))
}

// -------------------------------------------------------------- rollback

/// Puts back the state saved before apply `id`: the previous files, then
/// `ufw reload` (ufw was enabled) or `ufw --force disable` (it was not).
/// When that fails, ufw is disabled: an open host is better than a
/// locked-out one. `Ok(what was done)` or `Err(what went wrong)`.
pub(crate) fn restore(state: &State, id: &str) -> Result<String, String> {
    restore_managed(M, state, id)
}

fn restore_managed(m: &Managed, state: &State, id: &str) -> Result<String, String> {
    let program = program(m).map_err(|f| f.message)?;
    let disable = strings(m.disable);
    let texts = match put_back(state, m, id) {
        Ok(texts) => texts,
        // The previous files cannot all be put back: open rather than locked out.
        Err(problems) => {
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
    };
    let enabled = was_enabled(m, &texts);
    let settle = strings(m.settle(enabled));
    let files = paths(m);
    match run_tool(&program, m, &settle) {
        Ok(_) => Ok(format!("put back {files} and ran `{}`", shown(m, &settle))),
        Err(e) if enabled => match run_tool(&program, m, &disable) {
            Ok(_) => Ok(format!(
                "put back {files}, but {e}; ran `{}` instead",
                shown(m, &disable)
            )),
            Err(e2) => Err(format!("put back {files}, but {e}; {e2}")),
        },
        Err(e) => Err(format!("put back {files}, but {e}")),
    }
}

// ----------------------------------------------------------------- apply

pub(crate) fn apply(
    layout: &Layout,
    opts: &ApplyOptions,
    rules: &RuleSet,
) -> Result<ApplyReport, LiveError> {
    let m = M;
    let program = program(m)?;
    let commands = ufw::commands(rules);
    // What is there now: the rules of an earlier run and the files.
    let read = || -> Result<(Vec<OwnRule>, Vec<Option<String>>), LiveError> {
        let listing = run_tool(&program, m, &strings(&["show", "added"])).map_err(|e| {
            let hint = hint_for(&e);
            LiveError::runtime(e, Some(hint))
        })?;
        let before = read_files(m).map_err(|e| {
            LiveError::runtime(
                e,
                Some("ufw's state files are needed to roll back; nothing was changed".to_string()),
            )
        })?;
        Ok((
            ufw::stale(&ufw::own_rules(&listing.stdout), &commands),
            before,
        ))
    };
    if opts.dry_run {
        let (stale, before) = read()?;
        return Ok(ApplyReport::DryRun(dry_run(
            &stale,
            &commands,
            was_enabled(m, &before),
        )));
    }

    let (state, _lock) = open_for_apply(layout)?;
    let (stale, before) = read()?;
    let enabled = was_enabled(m, &before);
    let now = now_ms();
    let id = live::new_id(now, std::process::id());
    // (1) The previous state.
    save(&state, m, &id, Saved::Previous, &before)?;
    let mut pending = Pending {
        format: live::PENDING_FORMAT.into(),
        id: id.clone(),
        backend: LiveBackend::Ufw,
        applied_unix_ms: now,
        deadline_unix_ms: now + opts.confirm_within * 1000,
        persist: !opts.no_persist,
        previous_present: enabled,
    };
    // (2) The marker and the watchdog first.
    arm(layout, &state, &pending)?;
    // (3)–(5); any failure rolls back at once.
    let staged = (|| -> Result<(), String> {
        for rule in &stale {
            run_tool(&program, m, &rule.delete_args())?;
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
        let undo = restore_managed(m, &state, &id);
        let (outcome, detail) = match &undo {
            Ok(d) => ("rolled back", d.clone()),
            Err(d) => ("restore failed", d.clone()),
        };
        state.log(&format!("apply {id}: {e}; {outcome} at once: {detail}"));
        let _ = state.finish(&pending, outcome, &detail);
        return Err(LiveError::runtime(
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
    pending.deadline_unix_ms = active + opts.confirm_within * 1000;
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

    Ok(ApplyReport::Armed(Armed {
        backend: LiveBackend::Ufw,
        id,
        confirm_within: opts.confirm_within,
        deadline_unix_ms: deadline,
        persist: !opts.no_persist,
        previous: state.dir.clone(),
        log: state.logs.join(live::LOG_FILE),
        detail: ArmedDetail::Ufw {
            was_enabled: enabled,
            deleted: stale.len(),
            commands: commands.len(),
            settle,
        },
    }))
}

fn dry_run(stale: &[OwnRule], commands: &[Vec<String>], enabled: bool) -> DryRun {
    DryRun::Ufw {
        enabled,
        deletes: stale
            .iter()
            .map(|r| (shown(M, &r.delete_args()), r.comment.clone()))
            .collect(),
        commands: commands.iter().map(|c| shown(M, c)).collect(),
    }
}

// --------------------------------------------------------------- confirm

/// The journaled `run` of a confirmed apply: `ufw status` now (nothing
/// changes); its undo — after the journal has put the previous files back
/// — is `ufw reload`, or `ufw --force disable` when ufw was not enabled.
pub(crate) fn rollback_changes(p: &Pending) -> Result<Vec<Change>, LiveError> {
    generic::rollback_changes(M, p, &["status"])
}

// --------------------------------------------------------------- persist

/// `cryptobot firewall persist` with ufw: there is nothing of ours to write.
pub(crate) fn persist() -> LiveError {
    LiveError::input(
        "`cryptobot firewall persist` has nothing to write for ufw: ufw keeps its rules in /etc/ufw itself and loads them at boot, and `cryptobot firewall confirm` leaves the confirmed rules there",
        Some(
            "on this host: `cryptobot firewall apply --backend ufw`, then `cryptobot firewall confirm`; for an image: run the script of `cryptobot firewall render --backend ufw` in it".to_string(),
        ),
    )
}
