//! The watchdog `apply` starts: its loop over the marker. The decision of
//! each round is [`model::watchdog_step`]; restoring is [`restore`].

use cryptobot_config::Layout;

use super::clock::now_ms;
use super::error::LiveError;
use super::model::{self, LiveBackend, Marker, Pending, WatchdogStep};
use super::restore::restore;
use super::state::State;

/// `cryptobot firewall watchdog` (hidden, started by `apply`): waits for
/// the deadline of apply `id` and restores the previous state unless the
/// apply was confirmed (or another one took its place) by then.
pub fn watchdog(
    layout: &Layout,
    backend: LiveBackend,
    id: &str,
    deadline_unix_ms: u64,
) -> Result<(), LiveError> {
    if !model::valid_id(id) {
        return Err(LiveError::input("invalid --id", None));
    }
    let Some(state) = State::open(layout, false)? else {
        return Ok(());
    };
    loop {
        // A lock or a read that fails counts as "still pending": at the
        // deadline the previous state comes back all the same.
        let lock = state.lock().ok();
        let marker = state.pending().unwrap_or_else(|f| Some(Err(f.message)));
        let m = match &marker {
            None => Marker::Absent,
            Some(Err(_)) => Marker::Corrupt,
            Some(Ok(p)) => Marker::Present(p),
        };
        match model::watchdog_step(m, id, deadline_unix_ms, now_ms()) {
            WatchdogStep::Exit(_) => return Ok(()),
            WatchdogStep::Wait(d) => {
                drop(lock);
                std::thread::sleep(d);
            }
            WatchdogStep::Restore => {
                let p = match marker {
                    Some(Ok(p)) => p,
                    _ => Pending {
                        format: model::PENDING_FORMAT.into(),
                        id: id.to_string(),
                        backend,
                        applied_unix_ms: 0,
                        deadline_unix_ms,
                        persist: false,
                        previous_present: false,
                    },
                };
                let (outcome, detail) = match restore(p.backend, &state, &p.id) {
                    Ok(d) => ("rolled back", d),
                    Err(d) => ("restore failed", d),
                };
                state.log(&format!(
                    "watchdog {}: not confirmed by {}: {outcome}: {detail}",
                    p.id,
                    model::rfc3339(p.deadline_unix_ms)
                ));
                state.finish(&p, outcome, &detail)?;
                return Ok(());
            }
        }
    }
}
