//! The workspace's shape, checked on every test run (ARCHITECTURE.md says
//! why): no two source files of one crate import each other, dependencies
//! between our crates point one way only, the library crates that every
//! front end shares pull in no HTTP server or argument parser, nothing is
//! pulled in with `#[path]`, and only the binaries print.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace's `crates/` directory.
fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every crate directory that has a `src/`.
fn crates() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(crates_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file: `src/a/b.rs` and `src/a/b/mod.rs` are
/// `a::b`; `lib.rs` and `main.rs` are the crate root (empty).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The code of a file without comments, string and character literals, and
/// its test module (everything from the first `#[cfg(test)]`).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident_before = |i: usize| i > 0 && is_ident(b[i - 1]);
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && !ident_before(i) && matches!(next, Some('"' | '#')) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{…}'
            i += 3;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads a path after `crate::`/`super::` at `rest`: its segments, and for a
/// `{…}` group, each member's leading segments.
fn paths_at(rest: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut s = rest;
    loop {
        if let Some(group) = s.strip_prefix('{') {
            // One level of grouping: `crate::{a::b, c}`, `crate::a::{b, c::d}`.
            let close = group.find('}').unwrap_or(group.len());
            let out: Vec<Vec<String>> = group[..close]
                .split(',')
                .map(|member| {
                    let mut path = segs.clone();
                    path.extend(
                        member
                            .split("::")
                            .map(str::trim)
                            .take_while(|p| !p.is_empty() && p.chars().all(is_ident))
                            .map(str::to_string),
                    );
                    path
                })
                .collect();
            return out;
        }
        let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
        if end == 0 {
            return vec![segs];
        }
        segs.push(s[..end].to_string());
        s = &s[end..];
        match s.strip_prefix("::") {
            Some(after) => s = after,
            None => return vec![segs],
        }
    }
}

/// The modules `code` (of module `me`) refers to through `crate::` and
/// `super::`, as module paths.
fn references(me: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (needle, base) in [
        ("crate::", Vec::new()),
        ("super::", me[..me.len().saturating_sub(1)].to_vec()),
    ] {
        let mut from = 0;
        while let Some(i) = code[from..].find(needle) {
            let at = from + i;
            from = at + needle.len();
            if at > 0 && code[..at].ends_with(is_ident) {
                continue;
            }
            for path in paths_at(&code[from..]) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

#[test]
fn no_two_source_files_of_a_crate_import_each_other() {
    let mut cycles = Vec::new();
    let mut files_seen = 0;
    for (_, dir) in crates() {
        let src = dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files_seen += files.len();
        let modules: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .map(|f| (module_of(&src, f), f.clone()))
            .collect();
        // The file a path names: its longest prefix that is a file.
        let resolve = |path: &[String]| -> Option<Vec<String>> {
            (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p))
        };
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (me, file) in &modules {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let targets = edges.entry(me.clone()).or_default();
            for path in references(me, &code) {
                if let Some(t) = resolve(&path)
                    && &t != me
                    && !t.is_empty()
                {
                    targets.insert(t);
                }
            }
        }
        for (a, targets) in &edges {
            for b in targets {
                if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                    cycles.push(format!(
                        "{} <-> {}",
                        modules[a].display(),
                        modules[b].display()
                    ));
                }
            }
        }
    }
    assert!(files_seen > 100, "read only {files_seen} files");
    assert!(
        cycles.is_empty(),
        "source files that import each other (move what both need into a third module):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_reader_sees_grouped_and_relative_imports() {
    let me = vec!["routes".to_string(), "auth".to_string()];
    let code = code_of(
        "use crate::{state::Who, problem};\nuse super::mfa::x; // crate::ignored\nlet s = \"crate::nope\";\nfoo_crate::bar();\n#[cfg(test)]\nuse crate::tests_only;",
    );
    let refs = references(&me, &code);
    assert!(refs.contains(&vec!["state".into(), "Who".into()]));
    assert!(refs.contains(&vec!["problem".into()]));
    assert!(refs.contains(&vec!["routes".into(), "mfa".into(), "x".into()]));
    assert_eq!(refs.len(), 3, "{refs:?}");
}

/// Our crates each library may depend on (normal dependencies). The arrows
/// of ARCHITECTURE.md: pure leaves, then firewall and harden, then service,
/// then server and assess, then the binary.
const ALLOWED: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("plan", &[]),
    ("auth", &[]),
    ("vault", &[]),
    ("tls", &[]),
    ("store", &[]),
    ("firewall", &["config", "plan"]),
    ("harden", &["config", "plan", "vault", "tls"]),
    (
        "service",
        &["config", "plan", "auth", "store", "vault", "tls"],
    ),
    (
        "server",
        &["config", "auth", "store", "tls", "vault", "service"],
    ),
    ("assess", &["config", "plan", "tls", "harden", "firewall"]),
    ("testkit", &[]),
    ("loadgen", &[]),
];

/// Crates that the shared libraries must not pull in: those belong to the
/// HTTP layer and the command line.
const FRONT_END_ONLY: &[&str] = &[
    "axum",
    "axum-server",
    "tower",
    "tower-http",
    "utoipa",
    "utoipa-axum",
    "clap",
    "clap_complete",
    "clap_mangen",
];

/// The names in the `[dependencies]` table of a manifest, with their line.
fn dependency_lines(manifest: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push((name.to_string(), line.to_string()));
            }
        }
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    let mut wrong = Vec::new();
    for (name, dir) in crates() {
        if name == "cli" {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            wrong.push(format!(
                "crates/{name} is not in ALLOWED: add it with the crates it may use (and to ARCHITECTURE.md)"
            ));
            continue;
        };
        for (dep, line) in dependency_lines(&dir.join("Cargo.toml")) {
            if let Some(ours) = dep.strip_prefix("cryptobot-")
                && !allowed.contains(&ours)
            {
                wrong.push(format!("crates/{name} depends on {dep}"));
            }
            // A library may describe its views for the API's OpenAPI
            // document behind an optional feature, with utoipa's derive
            // only (no web framework).
            let schema_only =
                dep == "utoipa" && line.contains("optional = true") && !line.contains("axum");
            if name != "server"
                && name != "loadgen"
                && !schema_only
                && FRONT_END_ONLY.contains(&dep.as_str())
            {
                wrong.push(format!("crates/{name} depends on {dep} (front ends only)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_path_attributes_and_only_binaries_print() {
    let mut wrong = Vec::new();
    for (name, dir) in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            if code.contains("#[path") {
                wrong.push(format!("{}: #[path] attribute", file.display()));
            }
            let prints = ["println!", "print!(", "eprintln!", "eprint!("]
                .iter()
                .any(|m| code.contains(m));
            if prints && name != "cli" && name != "loadgen" {
                wrong.push(format!(
                    "{}: prints (return a report and let the CLI print it)",
                    file.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
