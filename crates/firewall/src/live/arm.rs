//! Arming an apply: the state directory locked against a second apply,
//! the marker written and the watchdog started before any rule changes.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use cryptobot_config::Layout;

use super::clock::now_ms;
use super::error::LiveError;
use super::model::{self, LiveBackend, Pending};
use super::state::State;

fn already_pending(p: Result<Pending, String>) -> LiveError {
    match p {
        Ok(p) if p.deadline_unix_ms > now_ms() => LiveError::input(
            format!(
                "the rules of an earlier apply ({}) wait for confirmation until {}",
                p.id,
                model::rfc3339(p.deadline_unix_ms)
            ),
            Some("run `cryptobot firewall confirm` from a new SSH session, or wait for the rollback; then apply again".to_string()),
        ),
        Ok(p) => LiveError::input(
            format!(
                "the rules of an earlier apply ({}) were not confirmed by {} and have not been rolled back (was the watchdog stopped?)",
                p.id,
                model::rfc3339(p.deadline_unix_ms)
            ),
            Some("run `cryptobot firewall confirm`: past the deadline it restores the previous rules; then apply again".to_string()),
        ),
        Err(e) => LiveError::input(
            format!("an earlier apply is pending, but its marker cannot be read: {e}"),
            Some("its watchdog restores the previous rules at the deadline; run `cryptobot firewall confirm` to restore them now".to_string()),
        ),
    }
}

/// The state directory, locked, for a new apply: refused while an earlier
/// apply waits for confirmation. Keep the lock while applying.
pub(crate) fn open_for_apply(layout: &Layout) -> Result<(State, File), LiveError> {
    let state =
        State::open(layout, true)?.ok_or_else(|| LiveError::runtime("no state directory", None))?;
    let lock = state.lock()?;
    if let Some(p) = state.pending()? {
        return Err(already_pending(p));
    }
    Ok((state, lock))
}

/// Writes the marker, then starts the watchdog — before any rule changes,
/// so there is never a moment with new rules and nobody to take them back.
pub(crate) fn arm(layout: &Layout, state: &State, pending: &Pending) -> Result<(), LiveError> {
    state.write(model::PENDING_FILE, &pending.to_json())?;
    if let Err(e) = spawn_watchdog(
        layout,
        pending.backend,
        &pending.id,
        pending.deadline_unix_ms,
    ) {
        let _ = state.remove(model::PENDING_FILE);
        return Err(LiveError::runtime(
            format!("cannot start the rollback watchdog: {e}; nothing was changed"),
            Some("check that the cryptobot binary is still in place".to_string()),
        ));
    }
    Ok(())
}

fn spawn_watchdog(
    layout: &Layout,
    backend: LiveBackend,
    id: &str,
    deadline: u64,
) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("firewall")
        .arg("watchdog")
        .arg("--home")
        .arg(layout.home())
        .args(["--backend", backend.as_str(), "--id", id])
        .arg("--deadline")
        .arg(deadline.to_string())
        .env_remove("CRYPTOBOT_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a hangup or Ctrl-C of the session that ran
        // `apply` does not reach it.
        .process_group(0)
        .spawn()
        .map(|_| ())
}
