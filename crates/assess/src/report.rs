//! The result of an assessment: findings sorted worst first, the score,
//! and its renderings (text, JSON, SARIF 2.1.0).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::checks::find;
use crate::model::{Check, Evidence, Finding, Severity};

/// Version of the JSON document (`docs/assess.schema.json`).
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The score: 100 minus 25 per critical, 10 per high, 4 per medium and 1
/// per low finding, never below 0. Informational findings cost nothing.
pub fn score(severities: impl IntoIterator<Item = Severity>) -> u32 {
    let lost: u32 = severities.into_iter().map(Severity::weight).sum();
    100u32.saturating_sub(lost)
}

/// An assessment's result.
#[derive(Debug)]
pub struct Report {
    /// The checks that ran, catalogue order.
    pub checks: Vec<&'static Check>,
    /// Worst first, then by ID and subject.
    pub findings: Vec<Finding>,
    /// Things that could not be read or checked.
    pub notes: Vec<String>,
}

fn check_of(f: &Finding) -> &'static Check {
    match find(f.check_id) {
        Some(c) => c,
        // Every check emits only its own ID (tested).
        None => unreachable!("finding with an unknown check ID {}", f.check_id),
    }
}

impl Report {
    pub fn new(
        checks: Vec<&'static Check>,
        mut findings: Vec<Finding>,
        notes: Vec<String>,
    ) -> Report {
        findings.sort_by(|a, b| {
            let (ca, cb) = (check_of(a), check_of(b));
            cb.severity
                .cmp(&ca.severity)
                .then_with(|| ca.id.cmp(cb.id))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        Report {
            checks,
            findings,
            notes,
        }
    }

    pub fn check(f: &Finding) -> &'static Check {
        check_of(f)
    }

    pub fn score(&self) -> u32 {
        score(self.findings.iter().map(|f| check_of(f).severity))
    }

    /// Findings per severity, worst first.
    pub fn counts(&self) -> [(Severity, usize); 5] {
        Severity::ALL.map(|s| {
            (
                s,
                self.findings
                    .iter()
                    .filter(|f| check_of(f).severity == s)
                    .count(),
            )
        })
    }

    /// The worst severity found.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| check_of(f).severity).max()
    }

    /// Findings at or above `level`.
    pub fn at_or_above(&self, level: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| check_of(f).severity >= level)
            .count()
    }

    /// Text for people, grouped by severity.
    pub fn to_text(&self, target: &str) -> String {
        self.to_text_styled(target, false)
    }

    /// Text for people; with `color`, severities, IDs and the score are
    /// coloured with ANSI escapes (for a terminal).
    pub fn to_text_styled(&self, target: &str, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let mut out = String::new();
        let n = self.findings.len();
        let counts: Vec<String> = self
            .counts()
            .iter()
            .filter(|(_, c)| *c > 0)
            .map(|(s, c)| paint(severity_color(*s), &format!("{c} {s}")))
            .collect();
        let score = self.score();
        let score_color = match score {
            90.. => "1;32",
            70..=89 => "1;33",
            _ => "1;31",
        };
        let target = terminal_safe(target);
        let _ = writeln!(
            out,
            "cryptobot assess: {target}\nscore {}, {n} finding{}{} from {} checks",
            paint(score_color, &format!("{score}/100")),
            if n == 1 { "" } else { "s" },
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            },
            self.checks.len()
        );
        for sev in Severity::ALL {
            let group: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| check_of(f).severity == sev)
                .collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "\n{}",
                paint(severity_color(sev), &sev.as_str().to_ascii_uppercase())
            );
            for f in group {
                let c = check_of(f);
                let _ = writeln!(out, "  {} {}", paint("1", c.id), c.title);
                let _ = writeln!(out, "    subject: {}", terminal_safe(&f.subject));
                for e in &f.evidence {
                    let _ = writeln!(out, "    {}", terminal_safe(&e.to_string()));
                }
                let _ = writeln!(out, "    {} {}", paint("32", "fix:"), c.remediation);
            }
        }
        if n == 0 {
            let _ = writeln!(out, "\nno findings");
        }
        for note in &self.notes {
            let _ = writeln!(out, "{} {}", paint("2", "note:"), terminal_safe(note));
        }
        out
    }

    /// The JSON document described by `docs/assess.schema.json`.
    pub fn to_json(&self, root: &Path, home: &Path) -> Value {
        let mut summary = serde_json::Map::new();
        for (s, c) in self.counts() {
            summary.insert(s.as_str().into(), json!(c));
        }
        summary.insert("total".into(), json!(self.findings.len()));
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let c = check_of(f);
                json!({
                    "id": c.id,
                    "title": c.title,
                    "severity": c.severity.as_str(),
                    "guide_section": c.guide_section,
                    "subject": f.subject,
                    "evidence": f.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
                    "remediation": c.remediation,
                    "fixable": c.fixable,
                })
            })
            .collect();
        json!({
            "format_version": JSON_FORMAT_VERSION,
            "tool": {"name": "cryptobot assess", "version": env!("CARGO_PKG_VERSION")},
            "root": root.display().to_string(),
            "home": home.display().to_string(),
            "score": self.score(),
            "summary": summary,
            "checks_run": self.checks.iter().map(|c| c.id).collect::<Vec<_>>(),
            "findings": findings,
            "notes": self.notes,
        })
    }

    /// A SARIF 2.1.0 log with one run: every check that ran is a rule.
    pub fn to_sarif(&self) -> Value {
        let rules: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": rule_name(c.id),
                    "shortDescription": {"text": c.title},
                    "fullDescription": {"text": c.rationale},
                    "help": {"text": c.remediation, "markdown": c.remediation},
                    "defaultConfiguration": {"level": c.severity.sarif_level()},
                    "properties": {
                        "severity": c.severity.as_str(),
                        "security-severity": security_severity(c.severity),
                        "guide_section": c.guide_section,
                        "fixable": c.fixable,
                        "tags": ["security"],
                    },
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let c = check_of(f);
                let mut text = format!("{}: {}", c.title, f.subject);
                for e in &f.evidence {
                    let _ = write!(text, "\n{e}");
                }
                let mut r = json!({
                    "ruleId": c.id,
                    "level": c.severity.sarif_level(),
                    "message": {"text": text},
                });
                if let Some(i) = self.checks.iter().position(|x| x.id == c.id) {
                    r["ruleIndex"] = json!(i);
                }
                let locations: Vec<Value> = f.evidence.iter().filter_map(location).collect();
                if !locations.is_empty() {
                    r["locations"] = Value::Array(locations);
                }
                r
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "cryptobot-assess",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/cryptobot-security/docs/checks.md",
                    "rules": rules,
                }},
                "results": results,
            }],
        })
    }
}

/// ANSI colour of a severity.
fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

fn evidence_json(e: &Evidence) -> Value {
    json!({
        "file": e.file.as_ref().map(|p| p.display().to_string()),
        "line": e.line,
        "value": e.value,
    })
}

/// `CB-PG-001` → `CbPg001` (SARIF rule names are identifiers).
fn rule_name(id: &str) -> String {
    id.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

/// GitHub code scanning's numeric severity (0.1–10).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.1",
    }
}

/// Text from the host (file lines, file names) as it may go to a terminal:
/// control characters are written as escapes (`\u{1b}`), so a hostile
/// configuration file in an assessed image cannot send escape sequences
/// to the operator's terminal or fake lines of the report.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A `file://` URI for an absolute host path (percent-encoding what is not
/// unreserved or `/`).
pub fn file_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn location(e: &Evidence) -> Option<Value> {
    let file = e.file.as_ref()?;
    let mut physical = json!({"artifactLocation": {"uri": file_uri(file)}});
    if let Some(line) = e.line.filter(|l| *l > 0) {
        physical["region"] = json!({"startLine": line});
    }
    Some(json!({"physicalLocation": physical}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_formula() {
        assert_eq!(score([]), 100);
        assert_eq!(score([Severity::Info; 9]), 100);
        assert_eq!(
            score([
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low
            ]),
            60
        );
        assert_eq!(score([Severity::Critical; 5]), 0, "capped at 0");
    }

    #[test]
    fn names_and_uris() {
        assert_eq!(rule_name("CB-PG-001"), "CbPg001");
        assert_eq!(
            file_uri(Path::new("/etc/a b.conf")),
            "file:///etc/a%20b.conf"
        );
    }
}
