//! `<home>/data/assess-history.jsonl`: one JSON line per assessment, for
//! the score-over-time chart of the HTML report.
//!
//! A line is `{"time":"2026-11-29T05:00:00Z","unix":1795928400,"score":87,
//! "counts":{"critical":0,"high":1,"medium":0,"low":3,"info":1},"checks":61}`.
//! The file is created 0600 (in the data directory, created 0700 when
//! missing), owned like the data directory; it is appended to with
//! `O_APPEND`, never through a symbolic link. A line that does not parse is
//! skipped with a warning.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::model::Severity;
use crate::report::Report;
use crate::snapshot::Snapshot;

/// File name below `<home>/data/`.
pub const FILE: &str = "assess-history.jsonl";
/// At most this many entries are drawn.
pub const CHART_POINTS: usize = 200;

/// One past run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub unix: i64,
    pub time: String,
    pub score: u32,
    /// Findings per severity, worst first.
    pub counts: [(Severity, u64); 5],
}

/// The host path of the history file.
pub fn path(s: &Snapshot) -> PathBuf {
    s.layout().data_dir().join(FILE)
}

/// The line for `report` at `now`.
pub fn line(report: &Report, now: i64) -> String {
    let mut counts = serde_json::Map::new();
    for (s, n) in report.counts() {
        counts.insert(s.as_str().into(), json!(n));
    }
    json!({
        "time": cryptobot_plan::utc_stamps(u64::try_from(now).unwrap_or(0)).1,
        "unix": now,
        "score": report.score(),
        "counts": counts,
        "checks": report.checks.len(),
    })
    .to_string()
}

/// Parses one line; `None` when it is not a history entry.
pub fn parse(line: &str) -> Option<Entry> {
    let v: Value = serde_json::from_str(line).ok()?;
    let unix = v.get("unix")?.as_i64()?;
    let score = u32::try_from(v.get("score")?.as_u64()?)
        .ok()
        .filter(|s| *s <= 100)?;
    let time = v
        .get("time")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let c = v.get("counts")?;
    let counts = Severity::ALL.map(|s| (s, c.get(s.as_str()).and_then(Value::as_u64).unwrap_or(0)));
    Some(Entry {
        unix,
        time,
        score,
        counts,
    })
}

/// The entries of the history, oldest first, and a warning per bad line.
pub fn read(s: &Snapshot) -> (Vec<Entry>, Vec<String>) {
    let p = path(s);
    let Some(text) = s.read_bytes_limit(&p, 64 * 1024 * 1024) else {
        return (Vec::new(), Vec::new());
    };
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match parse(l) {
            Some(e) => out.push(e),
            None => warnings.push(format!(
                "{}:{}: not a history entry; skipped",
                p.display(),
                i + 1
            )),
        }
    }
    (out, warnings)
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot record the assessment in {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// Appends `line` to the history. Refuses symbolic links from the home
/// down; creates the data directory 0700 (owned like the home) and the
/// file 0600 owned like the data directory.
pub fn append(s: &Snapshot, line: &str) -> Result<PathBuf, HistoryError> {
    let host = path(s);
    let err = |reason: String| HistoryError::Write {
        path: host.clone(),
        reason,
    };
    let home = s.layout().home();
    let data = s.layout().data_dir();
    // No symbolic link on the way: the plain mapping must be the real path.
    for p in [home, data.as_path()] {
        if let Some(m) = s.lstat(p)
            && m.file_type().is_symlink()
        {
            return Err(err(format!("{} is a symbolic link", p.display())));
        }
    }
    let home_meta = s.lstat(home).ok_or_else(|| {
        err(format!(
            "the installation {} does not exist",
            home.display()
        ))
    })?;
    let real_data = s.root().host(&data).map_err(|e| err(e.to_string()))?;
    let am_root = rustix::process::geteuid().is_root();
    if s.lstat(&data).is_none() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&real_data)
            .map_err(|e| err(format!("cannot create {}: {e}", data.display())))?;
        if am_root {
            std::os::unix::fs::lchown(&real_data, Some(home_meta.uid()), Some(home_meta.gid()))
                .map_err(|e| err(format!("cannot set the owner of {}: {e}", data.display())))?;
        }
    }
    let data_meta = std::fs::symlink_metadata(&real_data).map_err(|e| err(e.to_string()))?;
    if !data_meta.is_dir() {
        return Err(err(format!("{} is not a directory", data.display())));
    }
    let real = real_data.join(FILE);
    let existed = std::fs::symlink_metadata(&real).is_ok();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&real)
        .map_err(|e| err(e.to_string()))?;
    let meta = file.metadata().map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if !existed && am_root && (meta.uid(), meta.gid()) != (data_meta.uid(), data_meta.gid()) {
        rustix::fs::fchown(
            &file,
            Some(rustix::fs::Uid::from_raw(data_meta.uid())),
            Some(rustix::fs::Gid::from_raw(data_meta.gid())),
        )
        .map_err(|e| err(format!("cannot set the owner: {e}")))?;
    }
    let mut bytes = line.trim_end().as_bytes().to_vec();
    bytes.push(b'\n');
    file.write_all(&bytes).map_err(|e| err(e.to_string()))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_are_refused() {
        let e = parse(
            r#"{"time":"2026-11-29T05:00:00Z","unix":1795928400,"score":87,"counts":{"critical":0,"high":1,"medium":0,"low":3,"info":1},"checks":61}"#,
        );
        let e = e.unwrap_or_else(|| panic!("does not parse"));
        assert_eq!(e.score, 87);
        assert_eq!(e.counts[1], (Severity::High, 1));
        for bad in [
            "",
            "{",
            "[]",
            r#"{"unix":1,"score":101,"counts":{}}"#,
            r#"{"unix":"x","score":1,"counts":{}}"#,
            r#"{"unix":1,"score":1}"#,
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
