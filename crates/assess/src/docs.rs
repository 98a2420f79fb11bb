//! `docs/checks.md`, generated from the catalogue (a test keeps the
//! committed file equal to this output).

use std::fmt::Write as _;

use crate::checks::CATALOGUE;
use crate::model::Severity;

/// The Markdown catalogue of every check.
pub fn checks_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# `cryptobot assess` checks\n\n\
         <!-- Generated from crates/assess/src/checks/mod.rs by the test \
         `checks_md_is_current`; do not edit. Regenerate with \
         `UPDATE_DOCS=1 cargo test -p cryptobot-assess --test docs`. -->\n\n\
         Every check has a stable ID. `cryptobot assess list` prints this table, \
         `cryptobot assess explain ID` one entry. The score is 100 minus 25 per \
         critical, 10 per high, 4 per medium and 1 per low finding, never below 0 \
         (see [assess.md](assess.md)). \"Fixable\" marks checks that \
         `cryptobot assess --fix` repairs through the plan engine when it is safe \
         on the host (see [assess.md](assess.md#fixes)).\n\n",
    );
    let _ = writeln!(
        out,
        "| ID | severity | title | fixable |\n|---|---|---|---|"
    );
    for c in CATALOGUE {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            c.id,
            c.id.to_ascii_lowercase(),
            c.severity,
            c.title.replace('|', "\\|"),
            if c.fixable { "yes" } else { "no" }
        );
    }
    for c in CATALOGUE {
        let _ = write!(
            out,
            "\n## {}\n\n**{}**\n\n- severity: {}\n- guide section: {}\n- fixable: {}\n\n{}\n\n**Fix:** {}\n",
            c.id,
            c.title,
            c.severity,
            c.guide_section,
            if c.fixable { "yes" } else { "no" },
            c.rationale,
            c.remediation
        );
    }
    let _ = write!(
        out,
        "\n---\n\n{} checks: {}.\n",
        CATALOGUE.len(),
        Severity::ALL
            .iter()
            .map(|s| format!(
                "{} {s}",
                CATALOGUE.iter().filter(|c| c.severity == *s).count()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}
