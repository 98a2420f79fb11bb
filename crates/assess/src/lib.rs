//! `cryptobot assess`: a vulnerability assessment with checks as data.
//!
//! - [`model`]: [`Check`] (stable ID, severity, guide section, rationale,
//!   remediation, fixable) and [`Finding`]s with [`Evidence`].
//! - [`checks::CATALOGUE`]: every check; each is a function from a
//!   [`Snapshot`] of the host (read under `--root`, never outside it) to
//!   findings.
//! - [`report`]: the score and the text, JSON and SARIF 2.1.0 renderings;
//!   [`formats`]: JUnit XML and self-contained HTML.
//! - [`fix`]: the safe fixes for a report, as one plan (`--fix`).
//! - [`history`]: `<home>/data/assess-history.jsonl`, one line per run.
//! - [`pep440`], [`osv`]: Python versions and an OSV advisory database for
//!   the dependency check; `checks::updates` compares Debian versions.
//! - [`docs`]: `docs/checks.md`, generated from the catalogue.
//!
//! Nothing here writes to the host, except [`history::append`]; fixes are
//! plans that the caller applies.

pub mod checks;
pub mod docs;
pub mod fix;
pub mod formats;
pub mod history;
pub mod model;
pub mod osv;
pub mod pep440;
pub mod report;
pub mod snapshot;

pub use checks::{CATALOGUE, find};
pub use model::{Check, Evidence, Finding, Severity};
pub use report::{Report, score};
pub use snapshot::Snapshot;

/// IDs given to `--only`/`--skip` that are not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownIds(pub Vec<String>);

impl std::fmt::Display for UnknownIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown check ID{}: {}",
            if self.0.len() == 1 { "" } else { "s" },
            self.0.join(", ")
        )
    }
}

impl std::error::Error for UnknownIds {}

/// Splits `--only`/`--skip` values (repeatable, comma-separated). An entry
/// ending in `*` is a prefix (`CB-PG-*`).
fn expand(list: &[String]) -> Result<Vec<&'static Check>, UnknownIds> {
    let mut out: Vec<&'static Check> = Vec::new();
    let mut unknown = Vec::new();
    for item in list
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let hits: Vec<&'static Check> = match item.strip_suffix('*') {
            Some(prefix) => CATALOGUE
                .iter()
                .filter(|c| {
                    c.id.to_ascii_uppercase()
                        .starts_with(&prefix.to_ascii_uppercase())
                })
                .collect(),
            None => find(item).into_iter().collect(),
        };
        if hits.is_empty() {
            unknown.push(item.to_owned());
        }
        for h in hits {
            if !out.iter().any(|c| c.id == h.id) {
                out.push(h);
            }
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(UnknownIds(unknown))
    }
}

/// The checks to run: all (or those in `only`) minus those in `skip`.
pub fn select(only: &[String], skip: &[String]) -> Result<Vec<&'static Check>, UnknownIds> {
    let only = expand(only)?;
    let skip = expand(skip)?;
    Ok(CATALOGUE
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o.id == c.id))
        .filter(|c| !skip.iter().any(|s| s.id == c.id))
        .collect())
}

/// Runs `checks` against the snapshot.
pub fn assess(snapshot: &Snapshot, checks: &[&'static Check]) -> Report {
    assess_with_progress(snapshot, checks, &mut |_, _, _| {})
}

/// Like [`assess`], calling `progress(done, total, next)` before each check.
pub fn assess_with_progress(
    snapshot: &Snapshot,
    checks: &[&'static Check],
    progress: &mut dyn FnMut(usize, usize, &Check),
) -> Report {
    let mut findings = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        progress(i, checks.len(), check);
        findings.extend((check.run)(snapshot));
    }
    if !snapshot.has_install() {
        snapshot.note(format!(
            "no installation at {}: the Cryptobot checks were skipped",
            snapshot.layout().home().display()
        ));
    }
    Report::new(checks.to_vec(), findings, snapshot.take_notes())
}
