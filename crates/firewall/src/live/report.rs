//! What the live engine did, for the CLI to print: nothing in this crate
//! writes to standard output.

use std::path::PathBuf;

use super::error::LiveError;
use super::model::LiveBackend;

/// How `firewall apply` is to behave.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Only show what would change.
    pub dry_run: bool,
    /// Seconds until the rollback unless confirmed.
    pub confirm_within: u64,
    /// Do not write the boot files on confirm.
    pub no_persist: bool,
}

/// The outcome of `firewall apply`.
#[derive(Debug)]
pub enum ApplyReport {
    /// `--dry-run`: nothing was changed.
    DryRun(DryRun),
    /// The new rules are active and the watchdog waits for `confirm`.
    Armed(Armed),
}

/// What `apply --dry-run` found, per backend.
#[derive(Debug)]
pub enum DryRun {
    /// nftables or iptables: the kernel's listing against the new rules.
    Kernel {
        backend: LiveBackend,
        /// Whether our table (chains) is loaded now.
        present: bool,
        /// `table inet cryptobot` or `CRYPTOBOT-* chains`.
        what: &'static str,
        /// `has` or `have`.
        have: &'static str,
        /// Unified diff, empty when nothing changes.
        diff: String,
        /// Why the new rules are shown as rendered, if they are.
        note: Option<String>,
    },
    /// ufw: the commands an apply would run.
    Ufw {
        enabled: bool,
        /// `(the delete command, the comment of the rule it deletes)`.
        deletes: Vec<(String, String)>,
        commands: Vec<String>,
    },
    /// firewalld: the files' diffs, the commands and the offline check.
    Firewalld {
        /// `Err(what firewall-cmd --state said)` when not running.
        running: Result<(), String>,
        default_zone: String,
        /// `(path, unified diff)`, empty diff when unchanged.
        diffs: Vec<(&'static str, String)>,
        commands: Vec<String>,
        /// The check's result (`passed`, `not run`, why not checked), or
        /// the refusal — returned as the command's error after printing.
        check: Result<String, LiveError>,
        warnings: Vec<String>,
    },
}

/// An apply whose rules are active until `confirm` or the deadline.
#[derive(Debug)]
pub struct Armed {
    pub backend: LiveBackend,
    pub id: String,
    pub confirm_within: u64,
    pub deadline_unix_ms: u64,
    pub persist: bool,
    /// The previous rules: the restore script (nftables, iptables) or the
    /// state directory (ufw, firewalld).
    pub previous: PathBuf,
    /// `<home>/logs/firewall.log`.
    pub log: PathBuf,
    pub detail: ArmedDetail,
}

/// What differs per backend in [`Armed`].
#[derive(Debug)]
pub enum ArmedDetail {
    Kernel,
    Ufw {
        was_enabled: bool,
        deleted: usize,
        commands: usize,
        /// The command the rollback runs after putting the files back.
        settle: String,
    },
    Firewalld {
        default_zone: &'static str,
        previous_default_zone: String,
        /// Why the configuration was not checked offline, if it was not.
        check_note: Option<String>,
        warnings: Vec<String>,
    },
}

/// The outcome of a `firewall confirm` in time. The rules stay whatever
/// the two results say; [`ConfirmReport::finish`] turns a failed one into
/// the command's error (after the report was shown).
#[derive(Debug)]
pub struct ConfirmReport {
    pub id: String,
    pub backend: LiveBackend,
    pub persist: bool,
    /// The boot files written (nothing with `--no-persist`).
    pub persisted: Result<Vec<String>, LiveError>,
    /// The journal of `cryptobot rollback`.
    pub journal: Result<cryptobot_plan::ApplyReport, LiveError>,
    /// The plan's notes.
    pub notes: Vec<String>,
}

impl ConfirmReport {
    /// `Err` when the rules could not be made persistent or journaled.
    pub fn finish(self) -> Result<(), LiveError> {
        self.persisted.map_err(|e| LiveError {
            message: format!(
                "confirmed, but the rules could not be made persistent: {}",
                e.message
            ),
            hint: Some("fix that, then run `cryptobot firewall persist`".to_string()),
            kind: e.kind,
        })?;
        self.journal.map_err(|e| LiveError {
            message: format!(
                "confirmed, but the boot files and the journal could not be written: {}",
                e.message
            ),
            ..e
        })?;
        Ok(())
    }
}

/// The outcome of `firewall persist`.
#[derive(Debug)]
pub enum PersistReport {
    /// `--dry-run`: the plan, not applied; `notes` are the engine's own
    /// (the plan's are part of its text).
    DryRun {
        backend: LiveBackend,
        plan: cryptobot_plan::Plan,
        notes: Vec<String>,
    },
    /// The boot files were written; `notes` include the plan's.
    Applied {
        backend: LiveBackend,
        plan: cryptobot_plan::Plan,
        paths: Vec<String>,
        report: cryptobot_plan::ApplyReport,
        notes: Vec<String>,
    },
}
