//! The catalogue is documented: IDs unique and well-formed, every check
//! with a rationale and a remediation, and `docs/checks.md` generated
//! from it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use cryptobot_assess::CATALOGUE;

#[test]
fn ids_are_unique_and_documented() {
    let mut seen = BTreeSet::new();
    for c in CATALOGUE {
        assert!(seen.insert(c.id), "{} appears twice", c.id);
        let parts: Vec<&str> = c.id.split('-').collect();
        assert!(
            parts.len() == 3
                && parts[0] == "CB"
                && parts[1].chars().all(|ch| ch.is_ascii_uppercase())
                && parts[2].len() == 3
                && parts[2].chars().all(|ch| ch.is_ascii_digit()),
            "{} is not CB-AREA-NNN",
            c.id
        );
        for (what, text) in [
            ("title", c.title),
            ("guide section", c.guide_section),
            ("rationale", c.rationale),
            ("remediation", c.remediation),
        ] {
            assert!(text.trim().len() >= 10, "{}: {what} is missing", c.id);
        }
        assert!(cryptobot_assess::find(&c.id.to_ascii_lowercase()).is_some());
    }
}

#[test]
fn checks_md_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/checks.md");
    let want = cryptobot_assess::docs::checks_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/checks.md is out of date with the catalogue; regenerate it with\n  UPDATE_DOCS=1 cargo test -p cryptobot-assess --test docs"
    );
}
