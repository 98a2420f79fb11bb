//! `cryptobot firewall confirm`.

use cryptobot_config::Layout;
use cryptobot_plan::{Planner, Root};

use super::clock::now_ms;
use super::error::LiveError;
use super::model as live;
use super::report::ConfirmReport;
use super::restore::{restore, rollback_changes};
use super::state::State;
use super::{managed, nft_ipt};

/// `cryptobot firewall confirm`: the pending apply's rules stay (and, in
/// time, are journaled and made persistent); past the deadline it does what
/// the watchdog was to do.
pub fn confirm(root: &Root, layout: &Layout) -> Result<ConfirmReport, LiveError> {
    let nothing = |state: Option<&State>| {
        let last = state.and_then(State::last).map(|o| {
            format!(
                " (the last apply, {}, was {} at {})",
                o.pending.id,
                o.outcome,
                live::rfc3339(o.at_unix_ms)
            )
        });
        LiveError::input(
            format!(
                "nothing to confirm: no firewall apply is waiting{}",
                last.unwrap_or_default()
            ),
            Some("run `cryptobot firewall apply` first".to_string()),
        )
    };
    let Some(state) = State::open(layout, false)? else {
        return Err(nothing(None));
    };
    let lock = state.lock()?;
    let p = match state.pending()? {
        None => return Err(nothing(Some(&state))),
        Some(Err(e)) => {
            return Err(LiveError::runtime(
                format!("the pending apply's marker cannot be read: {e}"),
                Some("its watchdog restores the previous rules at the deadline; apply again afterwards".to_string()),
            ));
        }
        Some(Ok(p)) => p,
    };
    if now_ms() >= p.deadline_unix_ms {
        // Too late: do what the watchdog was to do.
        let result = restore(p.backend, &state, &p.id);
        let (outcome, detail) = match &result {
            Ok(d) => ("rolled back", d.clone()),
            Err(d) => ("restore failed", d.clone()),
        };
        state.log(&format!("confirm {}: too late: {outcome}: {detail}", p.id));
        state.finish(&p, outcome, &detail)?;
        return Err(LiveError::runtime(
            format!(
                "too late: the confirmation window of apply {} closed at {}; {}",
                p.id,
                live::rfc3339(p.deadline_unix_ms),
                match result {
                    Ok(_) => "the previous rules are restored".to_string(),
                    Err(d) => format!("restoring the previous rules failed: {d}"),
                }
            ),
            Some(
                "run `cryptobot firewall apply` again and confirm within --confirm-within seconds"
                    .to_string(),
            ),
        ));
    }
    state.finish(&p, "confirmed", "")?;
    // Keeps this apply's previous rules for the journal's undo (pruning).
    state.write(&format!("{}{}", live::CONFIRMED_PREFIX, p.id), "")?;
    drop(lock);
    state.log(&format!("confirm {}: the new rules stay", p.id));

    // Journal it, so `cryptobot rollback` can bring the previous rules (and
    // boot files) back; the boot files too, unless --no-persist. The rules
    // stay whatever happens from here on.
    // ufw's and firewalld's undo (`ufw reload`, `firewall-cmd --reload`)
    // must run after the journal has put the previous files back, so their
    // run is planned first (undone last).
    let runs = rollback_changes(&state, &p);
    let runs_first = p.backend.managed().is_some();
    let start = || {
        let mut planner = Planner::new(root);
        if let (true, Ok(changes)) = (runs_first, rollback_changes(&state, &p)) {
            for c in changes {
                planner.push(c);
            }
        }
        planner
    };
    let mut planner = start();
    let persisted = if !p.persist {
        Ok(Vec::new())
    } else if let Some(m) = p.backend.managed() {
        managed::load(&state, m, &p.id, managed::Saved::Applied)
            .map_err(|problems| LiveError::runtime(problems.join("; "), None))
            .and_then(|files| managed::plan_persist(m, &mut planner, root, &files))
    } else {
        nft_ipt::persisted_files(&state, &p)
            .and_then(|boot| nft_ipt::plan_persist(&mut planner, root, p.backend, &boot))
    };
    if persisted.is_err() {
        // Not half of the boot files: only the journal entry.
        planner = start();
    }
    let report = runs.and_then(|changes| {
        if !runs_first {
            for c in changes {
                planner.push(c);
            }
        }
        cryptobot_plan::apply(
            planner.plan(),
            root,
            &cryptobot_plan::ApplyOptions {
                journal_dir: layout.changes_dir(),
                command: "firewall confirm".into(),
            },
        )
        .map_err(LiveError::from)
    });
    let plan = planner.finish();
    Ok(ConfirmReport {
        id: p.id,
        backend: p.backend,
        persist: p.persist,
        persisted,
        journal: report,
        notes: plan.notes().to_vec(),
    })
}
