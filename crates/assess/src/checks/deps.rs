//! Cryptobot's Python dependencies against an OSV advisory database
//! (`--advisory-db DIR`): pinned versions from `requirements*.txt`,
//! `poetry.lock` and `Pipfile.lock` found in the installation.

use std::path::{Path, PathBuf};

use crate::model::{Evidence, Finding};
use crate::pep440::{Version, normalize_name};
use crate::snapshot::Snapshot;

/// A pinned dependency and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    pub line: usize,
}

/// Directories of the installation never searched for dependency files.
fn skipped_dirs(s: &Snapshot) -> Vec<PathBuf> {
    let l = s.layout();
    vec![
        l.changes_dir(),
        l.secrets_dir(),
        l.backups_dir(),
        l.logs_dir(),
    ]
}

fn is_dependency_file(name: &str) -> bool {
    (name.starts_with("requirements") && name.ends_with(".txt"))
        || name == "poetry.lock"
        || name == "Pipfile.lock"
}

/// `requirements*.txt`: `name[extras]==version ; markers  # comment`;
/// options (`-r`, `--hash`, `-e`), URLs and unpinned lines are ignored;
/// backslash continuations join lines (the pin keeps its first line).
pub fn parse_requirements(text: &str) -> Vec<Pin> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
        }
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        if let Some(pin) = requirement(&logical) {
            out.push(Pin {
                name: pin.0,
                version: pin.1,
                line: start,
            });
        }
        logical.clear();
    }
    out
}

fn requirement(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('-') || line.contains("://") {
        return None;
    }
    let spec = line.split(';').next()?.trim();
    let spec = spec.split(" --").next()?.trim();
    let name_end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..name_end];
    let mut rest = spec[name_end..].trim_start();
    if rest.starts_with('[') {
        rest = rest[rest.find(']')? + 1..].trim_start();
    }
    // One clause, `==` or `===` (a pin); ranges are not versions.
    let version = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))?
        .trim();
    if name.is_empty() || version.contains([',', '*', ' ']) || version.is_empty() {
        return None;
    }
    Some((name.to_owned(), version.to_owned()))
}

/// `poetry.lock`: `[[package]]` tables with `name` and `version`.
pub fn parse_poetry_lock(text: &str) -> Vec<Pin> {
    let mut out = Vec::new();
    let mut in_package = false;
    let mut cur: (Option<(String, usize)>, Option<String>) = (None, None);
    let flush = |cur: &mut (Option<(String, usize)>, Option<String>), out: &mut Vec<Pin>| {
        if let (Some((name, line)), Some(version)) = (cur.0.take(), cur.1.take()) {
            out.push(Pin {
                name,
                version,
                line,
            });
        }
        *cur = (None, None);
    };
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.starts_with('[') {
            if in_package {
                flush(&mut cur, &mut out);
            }
            in_package = l == "[[package]]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim() {
            "name" => cur.0 = Some((v, i + 1)),
            "version" => cur.1 = Some(v),
            _ => {}
        }
    }
    if in_package {
        flush(&mut cur, &mut out);
    }
    out
}

/// `Pipfile.lock`: `{"default": {"name": {"version": "==1.2"}}, "develop": ...}`.
pub fn parse_pipfile_lock(text: &str) -> Vec<Pin> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for section in ["default", "develop"] {
        let Some(pkgs) = doc.get(section).and_then(|v| v.as_object()) else {
            continue;
        };
        for (name, spec) in pkgs {
            let Some(v) = spec
                .get("version")
                .and_then(|v| v.as_str())
                .and_then(|v| v.strip_prefix("=="))
            else {
                continue;
            };
            let needle = format!("\"{name}\": {{");
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(&needle))
                .map_or(0, |i| i + 1);
            out.push(Pin {
                name: name.clone(),
                version: v.to_owned(),
                line,
            });
        }
    }
    out
}

/// Every dependency file in the installation with its pins.
pub fn dependency_files(s: &Snapshot) -> Vec<(PathBuf, Vec<Pin>)> {
    if !s.has_install() {
        return Vec::new();
    }
    let skip = skipped_dirs(s);
    let mut out = Vec::new();
    let walk = s.walk(s.layout().home(), &|p: &Path| {
        skip.iter().any(|d| d == p)
            || p.file_name()
                .is_some_and(|n| n == "node_modules" || n == "site-packages" || n == ".git")
    });
    for (path, meta) in walk {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !meta.is_file() || !is_dependency_file(name) {
            continue;
        }
        let Some(text) = s.read(&path) else { continue };
        let pins = match name {
            "poetry.lock" => parse_poetry_lock(&text),
            "Pipfile.lock" => parse_pipfile_lock(&text),
            _ => parse_requirements(&text),
        };
        out.push((path, pins));
    }
    out
}

pub fn vulnerable_dependencies(s: &Snapshot) -> Vec<Finding> {
    let Some(Ok(db)) = s.advisories() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (file, pins) in dependency_files(s) {
        for pin in pins {
            let Some(version) = Version::parse(&pin.version) else {
                s.note(format!(
                    "{}:{}: {}=={} is not a PEP 440 version; not checked",
                    file.display(),
                    pin.line,
                    pin.name,
                    pin.version
                ));
                continue;
            };
            for hit in db.lookup(&pin.name, &version) {
                let fixed = hit.fixed.map_or_else(
                    || "no fixed version".to_owned(),
                    |f| format!("fixed in {f}"),
                );
                let aliases = if hit.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", hit.aliases.join(", "))
                };
                out.push(Finding::new(
                    "CB-DEP-001",
                    format!("{} {} {}", normalize_name(&pin.name), pin.version, hit.id),
                    Evidence::at(
                        &file,
                        pin.line,
                        format!(
                            "package {}, version {}, advisory {}{aliases}, {fixed}",
                            pin.name, pin.version, hit.id
                        ),
                    ),
                ));
            }
        }
    }
    out
}

/// Reports that the dependency check could not run (no database, or an
/// unreadable one): a skipped check is not a pass.
pub fn dependencies_not_checked(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    match s.advisories() {
        Some(Ok(_)) => Vec::new(),
        Some(Err(e)) => vec![Finding::new(
            "CB-DEP-002",
            "dependency advisories",
            Evidence::value(format!("skipped: {e}")),
        )],
        None => {
            let files = dependency_files(s);
            let what = if files.is_empty() {
                "no dependency files found either".to_owned()
            } else {
                format!(
                    "{} dependency file{} not checked: {}",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    files
                        .iter()
                        .map(|(p, _)| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            vec![Finding::new(
                "CB-DEP-002",
                "dependency advisories",
                Evidence::value(format!(
                    "skipped: no advisory database was given (--advisory-db DIR); {what}"
                )),
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(v: &[Pin]) -> Vec<(&str, &str, usize)> {
        v.iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.line))
            .collect()
    }

    #[test]
    fn requirements_lines() {
        let text = "# comment\nrequests==2.19.0  # pinned\nuvicorn[standard]==0.20.0 ; python_version >= \"3.8\"\n\
                    -r other.txt\n--index-url https://x\nflask>=2.0\nnumpy==1.*\nPyYAML === 5.3.1\n\
                    cryptography==3.2 \\\n    --hash=sha256:abc\n-e git+https://x/y.git#egg=z\nurllib3==1.26.4,<2\nDjango==3.2.0\n";
        assert_eq!(
            pins(&parse_requirements(text)),
            [
                ("requests", "2.19.0", 2),
                ("uvicorn", "0.20.0", 3),
                ("PyYAML", "5.3.1", 8),
                ("cryptography", "3.2", 9),
                ("Django", "3.2.0", 13),
            ]
        );
    }

    #[test]
    fn lock_files() {
        let poetry = "[[package]]\nname = \"aiohttp\"\nversion = \"3.8.1\"\ndescription = \"x\"\n\n[package.dependencies]\nfoo = \"*\"\n\n[[package]]\nname = \"jinja2\"\nversion = \"2.11.2\"\n\n[metadata]\nlock-version = \"2.0\"\n";
        assert_eq!(
            pins(&parse_poetry_lock(poetry)),
            [("aiohttp", "3.8.1", 2), ("jinja2", "2.11.2", 10)]
        );
        let pipfile = "{\n    \"_meta\": {},\n    \"default\": {\n        \"requests\": {\n            \"version\": \"==2.19.0\"\n        },\n        \"local\": {\"path\": \".\"}\n    },\n    \"develop\": {}\n}\n";
        assert_eq!(
            pins(&parse_pipfile_lock(pipfile)),
            [("requests", "2.19.0", 4)]
        );
    }
}
