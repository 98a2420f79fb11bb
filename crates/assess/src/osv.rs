//! An advisory database in the OSV format (<https://ossf.github.io/osv-schema/>):
//! a directory of JSON files, one advisory each, as in OSV's bulk exports
//! (`PyPI/all.zip` unpacked). Only `PyPI` packages are used; versions are
//! matched with PEP 440 against `affected[].versions` and `affected[].ranges`
//! of type `ECOSYSTEM` (events `introduced`, `fixed`, `last_affected`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pep440::{Version, normalize_name};

/// Advisory files larger than this are skipped.
const MAX_ADVISORY: u64 = 4 * 1024 * 1024;
/// Directory levels searched below the database directory.
const MAX_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    #[error("cannot read the advisory database {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the advisory database {path} holds no OSV advisory (*.json)")]
    Empty { path: PathBuf },
}

/// One affected range as a list of events, in order.
#[derive(Debug, Clone)]
enum Event {
    Introduced(Option<Version>),
    Fixed(Version),
    LastAffected(Version),
}

/// What one advisory says about one package.
#[derive(Debug, Clone)]
pub struct Affected {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    versions: Vec<String>,
    ranges: Vec<Vec<Event>>,
}

/// A match of a version against an advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// The lowest `fixed` version above the matched one, if any.
    pub fixed: Option<String>,
}

impl Event {
    fn version(&self) -> Option<&Version> {
        match self {
            Event::Introduced(v) => v.as_ref(),
            Event::Fixed(v) | Event::LastAffected(v) => Some(v),
        }
    }
}

impl Affected {
    /// Whether `version` is affected, and the fix above it.
    fn matches(&self, version: &Version) -> Option<Option<String>> {
        let listed = self
            .versions
            .iter()
            .any(|v| Version::parse(v).is_some_and(|x| x == *version));
        let mut in_range = false;
        let mut fixed: Option<Version> = None;
        for events in &self.ranges {
            // The OSV evaluation: events sorted by version (an `introduced`
            // of 0 first), walked while they are at or below the version.
            let mut sorted: Vec<&Event> = events.iter().collect();
            sorted.sort_by(|a, b| match (a.version(), b.version()) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(y),
            });
            let mut affected = false;
            for e in &sorted {
                match e {
                    Event::Introduced(v) => {
                        if v.as_ref().is_none_or(|v| version >= v) {
                            affected = true;
                        }
                    }
                    Event::Fixed(v) => {
                        if version >= v {
                            affected = false;
                        }
                    }
                    Event::LastAffected(v) => {
                        if version > v {
                            affected = false;
                        }
                    }
                }
            }
            if affected {
                in_range = true;
                // The first fix above the version.
                let next = sorted.iter().find_map(|e| match e {
                    Event::Fixed(v) if v > version => Some(v),
                    _ => None,
                });
                if let Some(v) = next
                    && fixed.as_ref().is_none_or(|f| v < f)
                {
                    fixed = Some(v.clone());
                }
            }
        }
        (listed || in_range).then(|| fixed.map(|f| f.to_string()))
    }
}

/// The PyPI advisories of a database, by normalised package name.
#[derive(Debug, Default)]
pub struct Database {
    by_package: BTreeMap<String, Vec<Affected>>,
    /// Files read.
    pub files: usize,
    /// Files that were not OSV JSON (skipped).
    pub skipped: Vec<PathBuf>,
}

fn json_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), OsvError> {
    let entries = std::fs::read_dir(dir).map_err(|source| OsvError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() && depth < MAX_DEPTH {
            json_files(&p, depth + 1, out)?;
        } else if m.is_file() && p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    Ok(())
}

fn events(range: &Value) -> Option<Vec<Event>> {
    if range.get("type").and_then(Value::as_str) != Some("ECOSYSTEM") {
        return None;
    }
    let mut out = Vec::new();
    for e in range.get("events")?.as_array()? {
        if let Some(v) = e.get("introduced").and_then(Value::as_str) {
            out.push(Event::Introduced(if v == "0" {
                None
            } else {
                Some(Version::parse(v)?)
            }));
        } else if let Some(v) = e.get("fixed").and_then(Value::as_str) {
            out.push(Event::Fixed(Version::parse(v)?));
        } else if let Some(v) = e.get("last_affected").and_then(Value::as_str) {
            out.push(Event::LastAffected(Version::parse(v)?));
        }
    }
    Some(out)
}

impl Database {
    /// Reads every `*.json` below `dir`.
    pub fn load(dir: &Path) -> Result<Database, OsvError> {
        let mut files = Vec::new();
        json_files(dir, 0, &mut files)?;
        let mut db = Database::default();
        for path in files {
            let doc = std::fs::metadata(&path)
                .ok()
                .filter(|m| m.len() <= MAX_ADVISORY)
                .and_then(|_| std::fs::read(&path).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let Some(doc) = doc else {
                db.skipped.push(path);
                continue;
            };
            if db.add(&doc).is_none() {
                db.skipped.push(path);
                continue;
            }
            db.files += 1;
        }
        if db.files == 0 {
            return Err(OsvError::Empty {
                path: dir.to_path_buf(),
            });
        }
        Ok(db)
    }

    /// Adds one OSV document; `None` when it is not one.
    pub fn add(&mut self, doc: &Value) -> Option<()> {
        let id = doc.get("id")?.as_str()?.to_owned();
        if doc.get("withdrawn").and_then(Value::as_str).is_some() {
            return Some(());
        }
        let aliases: Vec<String> = doc
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let summary = doc
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for a in doc.get("affected")?.as_array()? {
            let Some(pkg) = a.get("package") else {
                continue;
            };
            if pkg.get("ecosystem").and_then(Value::as_str) != Some("PyPI") {
                continue;
            }
            let Some(name) = pkg.get("name").and_then(Value::as_str) else {
                continue;
            };
            let versions = a
                .get("versions")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let ranges = a
                .get("ranges")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(events).collect())
                .unwrap_or_default();
            self.by_package
                .entry(normalize_name(name))
                .or_default()
                .push(Affected {
                    id: id.clone(),
                    aliases: aliases.clone(),
                    summary: summary.clone(),
                    versions,
                    ranges,
                });
        }
        Some(())
    }

    /// The advisories affecting `name` at `version`, by advisory ID.
    pub fn lookup(&self, name: &str, version: &Version) -> Vec<Hit> {
        let mut out: Vec<Hit> = Vec::new();
        for a in self
            .by_package
            .get(&normalize_name(name))
            .into_iter()
            .flatten()
        {
            if let Some(fixed) = a.matches(version)
                && !out.iter().any(|h| h.id == a.id)
            {
                out.push(Hit {
                    id: a.id.clone(),
                    aliases: a.aliases.clone(),
                    summary: a.summary.clone(),
                    fixed,
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn ranges_versions_and_last_affected() {
        let mut db = Database::default();
        db.add(&json!({
            "id": "X-1", "summary": "s",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "Some_Pkg"},
                "ranges": [{"type": "ECOSYSTEM", "events": [
                    {"introduced": "0"}, {"fixed": "1.2"},
                    {"introduced": "2.0"}, {"fixed": "2.0.3"}
                ]}]
            }]
        }))
        .unwrap();
        db.add(&json!({
            "id": "X-2",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "some-pkg"},
                "ranges": [{"type": "ECOSYSTEM", "events": [
                    {"introduced": "1.5"}, {"last_affected": "1.9"}
                ]}],
                "versions": ["3.0"]
            }, {
                "package": {"ecosystem": "npm", "name": "other"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
            }]
        }))
        .unwrap();
        let ids = |ver: &str| -> Vec<(String, Option<String>)> {
            db.lookup("some.pkg", &v(ver))
                .into_iter()
                .map(|h| (h.id, h.fixed))
                .collect()
        };
        assert_eq!(ids("1.1"), [("X-1".to_owned(), Some("1.2".to_owned()))]);
        assert_eq!(ids("1.2"), []);
        assert_eq!(ids("1.5"), [("X-2".to_owned(), None)]);
        assert_eq!(ids("1.9"), [("X-2".to_owned(), None)]);
        assert_eq!(ids("1.9.1"), []);
        assert_eq!(ids("2.0.2"), [("X-1".to_owned(), Some("2.0.3".to_owned()))]);
        assert_eq!(ids("2.0.3"), []);
        assert_eq!(ids("3.0.0"), [("X-2".to_owned(), None)], "versions list");
        assert!(db.lookup("other", &v("1.0")).is_empty(), "npm is ignored");
        // Events out of order are evaluated in version order.
        db.add(&json!({
            "id": "X-3",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "late"},
                "ranges": [{"type": "ECOSYSTEM", "events": [
                    {"fixed": "2.5"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}
                ]}]
            }]
        }))
        .unwrap();
        let late = |ver: &str| -> Vec<Option<String>> {
            db.lookup("late", &v(ver))
                .into_iter()
                .map(|h| h.fixed)
                .collect()
        };
        assert_eq!(late("0.9"), Vec::<Option<String>>::new());
        assert_eq!(late("1.2"), [Some("1.5".to_owned())]);
        assert_eq!(late("1.7"), Vec::<Option<String>>::new());
        assert_eq!(late("2.1rc1"), [Some("2.5".to_owned())]);
        assert_eq!(late("2.5"), Vec::<Option<String>>::new());
    }
}
