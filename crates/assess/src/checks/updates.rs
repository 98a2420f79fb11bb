//! Pending security updates, read offline from the package manager's state
//! under `--root`: Debian/Ubuntu's installed versions
//! (`/var/lib/dpkg/status`) against the versions in the security
//! repositories' package lists (`/var/lib/apt/lists/*security*_Packages`,
//! plain or `.lz4` as Docker images store them).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{Evidence, Finding};
use crate::snapshot::Snapshot;

pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
pub const APT_LISTS: &str = "/var/lib/apt/lists";

// ---------------------------------------------------------- dpkg versions

/// dpkg's ordering of one character of a version part: `~` before
/// everything (even the end), then the end, then letters, then the rest.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// `[epoch:]upstream[-revision]`.
fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

/// Compares two Debian package versions as `dpkg --compare-versions` does.
pub fn compare_debian(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

// ------------------------------------------------------------ control files

/// One stanza of a Debian control file: fields (lower-case names) and the
/// 1-based line it starts on.
struct Stanza<'a> {
    line: usize,
    fields: Vec<(String, &'a str)>,
}

impl Stanza<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }
}

fn stanzas(text: &str) -> Vec<Stanza<'_>> {
    let mut out = Vec::new();
    let mut cur: Option<Stanza<'_>> = None;
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            out.extend(cur.take());
            continue;
        }
        if l.starts_with(' ') || l.starts_with('\t') {
            continue; // continuation of a multi-line field
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        cur.get_or_insert_with(|| Stanza {
            line: i + 1,
            fields: Vec::new(),
        })
        .fields
        .push((k.trim().to_ascii_lowercase(), v));
    }
    out.extend(cur);
    out
}

/// An installed package: name, architecture, version, line in the status file.
struct Installed {
    arch: String,
    version: String,
    line: usize,
}

fn installed(text: &str) -> BTreeMap<String, Vec<Installed>> {
    let mut out: BTreeMap<String, Vec<Installed>> = BTreeMap::new();
    for s in stanzas(text) {
        let ok = s
            .get("status")
            .is_some_and(|st| st.split_whitespace().last() == Some("installed"));
        let (Some(name), Some(version)) = (s.get("package"), s.get("version")) else {
            continue;
        };
        if !ok {
            continue;
        }
        out.entry(name.to_owned()).or_default().push(Installed {
            arch: s.get("architecture").unwrap_or("all").to_owned(),
            version: version.to_owned(),
            line: s.line,
        });
    }
    out
}

/// The newest version of each `(package, architecture)` in a Packages list.
fn candidates(text: &str, file: &Path, into: &mut BTreeMap<(String, String), (String, PathBuf)>) {
    for s in stanzas(text) {
        let (Some(name), Some(version)) = (s.get("package"), s.get("version")) else {
            continue;
        };
        let arch = s.get("architecture").unwrap_or("all").to_owned();
        let key = (name.to_owned(), arch);
        match into.get(&key) {
            Some((v, _)) if compare_debian(v, version) != Ordering::Less => {}
            _ => {
                into.insert(key, (version.to_owned(), file.to_path_buf()));
            }
        }
    }
}

/// The text of a package list: plain, or lz4-framed (`.lz4`).
fn list_text(s: &Snapshot, path: &Path) -> Option<String> {
    let bytes = s.read_bytes_limit(path, 256 * 1024 * 1024)?;
    if path.extension().is_some_and(|e| e == "lz4") {
        let mut out = Vec::new();
        let mut dec = lz4_flex::frame::FrameDecoder::new(bytes.as_slice());
        if let Err(e) = std::io::Read::read_to_end(&mut dec, &mut out) {
            s.note(format!("cannot decompress {}: {e}", path.display()));
            return None;
        }
        return Some(String::from_utf8_lossy(&out).into_owned());
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn security_updates(s: &Snapshot) -> Vec<Finding> {
    let status = Path::new(DPKG_STATUS);
    let Some(text) = s.read_bytes_limit(status, 256 * 1024 * 1024) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&text);
    let lists: Vec<PathBuf> = s
        .list(Path::new(APT_LISTS))
        .into_iter()
        .filter(|n| n.contains("security") && n.contains("_Packages"))
        .map(|n| Path::new(APT_LISTS).join(n))
        .collect();
    let mut cands = BTreeMap::new();
    let mut read_any = false;
    for list in &lists {
        let name = list.to_string_lossy();
        if !(name.ends_with("_Packages") || name.ends_with("_Packages.lz4")) {
            s.note(format!(
                "{} is compressed in a format the assessment does not read; pending security updates from it were not checked",
                list.display()
            ));
            continue;
        }
        if let Some(t) = list_text(s, list) {
            candidates(&t, list, &mut cands);
            read_any = true;
        }
    }
    if !read_any {
        s.note(format!(
            "no security repository package list under {APT_LISTS}: pending security updates were not checked (run `apt-get update`)"
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, copies) in installed(&text) {
        for inst in copies {
            let cand = cands
                .get(&(name.clone(), inst.arch.clone()))
                .or_else(|| cands.get(&(name.clone(), "all".to_owned())));
            let Some((available, list)) = cand else {
                continue;
            };
            if compare_debian(available, &inst.version) == Ordering::Greater {
                let file = list
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push(Finding::new(
                    "CB-UPD-001",
                    format!("{name}:{}", inst.arch),
                    Evidence::at(
                        status,
                        inst.line,
                        format!(
                            "package {name}, installed {}, available {available} (from {file})",
                            inst.version
                        ),
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn dpkg_version_order() {
        // Cases from dpkg's own test suite (t-version.c) and Debian policy 5.6.12.
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.1", "1.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1:0.1", "2.0", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.10", "1.9", Greater),
            ("1.010", "1.10", Equal),
            ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", Less),
            ("3.0.13-1~deb12u1", "3.0.13-1", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Less),
            ("1:2.0", "1:10.0", Less),
            ("a", "b", Less),
            ("1.2.3-1ubuntu0.1", "1.2.3-1", Greater),
            ("1.2.3-1ubuntu0.1", "1.2.3-1ubuntu0.10", Less),
            ("0:0-0", "0", Equal),
            ("1-1-1", "1-1", Greater),
        ] {
            assert_eq!(compare_debian(a, b), want, "{a} vs {b}");
            assert_eq!(compare_debian(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn status_and_lists() {
        let status = "Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\nDescription: x\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
        let inst = installed(status);
        assert_eq!(inst.len(), 1);
        assert_eq!(inst["openssl"][0].line, 1);
        assert_eq!(inst["openssl"][0].arch, "amd64");
        let mut c = BTreeMap::new();
        candidates(
            "Package: openssl\nVersion: 3.0.13-1~deb12u1\nArchitecture: amd64\n\nPackage: openssl\nVersion: 3.0.12-1~deb12u1\nArchitecture: amd64\n",
            Path::new("/l"),
            &mut c,
        );
        assert_eq!(
            c[&("openssl".to_owned(), "amd64".to_owned())].0,
            "3.0.13-1~deb12u1"
        );
    }
}
