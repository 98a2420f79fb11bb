//! The data model: severities, checks, findings and their evidence. Pure.

use std::fmt;
use std::path::PathBuf;

use crate::snapshot::Snapshot;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, worst first (the order of the text report).
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// Parses `critical`, `high`, `medium`, `low` or `info` (any case).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Points a finding of this severity takes off the score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Critical => 25,
            Severity::High => 10,
            Severity::Medium => 4,
            Severity::Low => 1,
            Severity::Info => 0,
        }
    }

    /// SARIF `level`.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check of the catalogue: what it looks for, why, and how to fix it.
#[derive(Clone, Copy)]
pub struct Check {
    /// Stable identifier, e.g. `CB-PG-001`.
    pub id: &'static str,
    /// One line: what is wrong when it fires.
    pub title: &'static str,
    pub severity: Severity,
    /// The section of the hardening guide the check enforces.
    pub guide_section: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
    /// Whether `assess --fix` fixes it through the plan engine (safe fixes only).
    pub fixable: bool,
    /// The check itself: a snapshot of the host to findings.
    pub run: fn(&Snapshot) -> Vec<Finding>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("severity", &self.severity)
            .finish_non_exhaustive()
    }
}

/// Where a finding was seen and what was there. Never a secret value:
/// checks that find secrets describe them (kind, length, a short prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Host path of the file (as the target system names it).
    pub file: Option<PathBuf>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
    /// The offending value or a description of it.
    pub value: String,
}

impl Evidence {
    pub fn at(file: impl Into<PathBuf>, line: usize, value: impl Into<String>) -> Evidence {
        Evidence {
            file: Some(file.into()),
            line: u32::try_from(line).ok(),
            value: value.into(),
        }
    }

    pub fn file(file: impl Into<PathBuf>, value: impl Into<String>) -> Evidence {
        Evidence {
            file: Some(file.into()),
            line: None,
            value: value.into(),
        }
    }

    pub fn value(value: impl Into<String>) -> Evidence {
        Evidence {
            file: None,
            line: None,
            value: value.into(),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.value),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.value),
            _ => f.write_str(&self.value),
        }
    }
}

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check_id: &'static str,
    /// What is affected: a file, a socket, a setting.
    pub subject: String,
    pub evidence: Vec<Evidence>,
}

impl Finding {
    pub fn new(check_id: &'static str, subject: impl Into<String>, evidence: Evidence) -> Finding {
        Finding {
            check_id,
            subject: subject.into(),
            evidence: vec![evidence],
        }
    }
}
