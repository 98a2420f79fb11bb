//! The Cryptobot installation: secrets, configuration, certificates,
//! permissions (through `cryptobot_harden::permissions::check`), leftover
//! copies and hard-coded secrets.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cryptobot_config::{ConfigError, Source};
use cryptobot_harden::SecretName;
use cryptobot_harden::permissions::Check as PermCheck;
use cryptobot_tls::check::RENEW_DAYS;
use cryptobot_tls::{CertInfo, days_left, inspect_pem};

use super::secrets;
use crate::model::{Evidence, Finding};
use crate::snapshot::Snapshot;

fn source_evidence(source: &Source, value: String) -> Evidence {
    match source {
        Source::File { path, line } => Evidence::at(path, *line, value),
        Source::Env { var } => Evidence::value(format!("{value} (from {var})")),
        Source::Default => Evidence::value(value),
    }
}

// ------------------------------------------------------------------- Secrets

pub fn secret_missing(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    SecretName::ALL
        .into_iter()
        .filter_map(|name| {
            let path = s.layout().secret(name.file_name());
            s.lstat(&path).is_none().then(|| {
                Finding::new(
                    "CB-APP-001",
                    path.display().to_string(),
                    Evidence::file(&path, format!("missing: the {}", name.describe())),
                )
            })
        })
        .collect()
}

pub fn secret_weak(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in SecretName::ALL {
        let path = s.layout().secret(name.file_name());
        match s.lstat(&path) {
            None => continue,
            Some(m) if m.file_type().is_symlink() || !m.is_file() => {
                out.push(Finding::new(
                    "CB-APP-002",
                    path.display().to_string(),
                    Evidence::file(&path, "not a regular file (a link or a directory)"),
                ));
                continue;
            }
            Some(_) => {}
        }
        let Some(bytes) = s.read_bytes(&path) else {
            continue;
        };
        let bytes = zeroize::Zeroizing::new(bytes);
        if let Some(weak) = name.weakness(&bytes) {
            out.push(Finding::new(
                "CB-APP-002",
                path.display().to_string(),
                Evidence::file(&path, format!("weak: {weak}")),
            ));
        }
    }
    out
}

/// Files holding secrets or private keys: everything in `config/secrets/`,
/// the configured TLS key, `*.key` in `config/tls/` (and its `ca/`) and
/// the keys of PostgreSQL and Redis.
fn secret_files(s: &Snapshot) -> Vec<PathBuf> {
    let l = s.layout();
    let mut out: Vec<PathBuf> = s
        .list(&l.secrets_dir())
        .into_iter()
        .map(|n| l.secrets_dir().join(n))
        .collect();
    let config = s.config_or_default();
    out.push(l.resolve(&config.server.tls_key));
    for dir in [
        l.tls_dir(),
        l.tls_dir().join("ca"),
        l.postgres_dir(),
        l.redis_dir(),
    ] {
        for n in s.list(&dir) {
            if n.ends_with(".key") {
                out.push(dir.join(n));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn secret_readable(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for path in secret_files(s) {
        let Some(m) = s.lstat(&path) else { continue };
        if !m.is_file() {
            continue;
        }
        let mode = m.mode() & 0o7777;
        if mode & 0o077 != 0 {
            let who = if mode & 0o007 != 0 {
                "everyone"
            } else {
                "its group"
            };
            out.push(Finding::new(
                "CB-APP-003",
                path.display().to_string(),
                Evidence::file(
                    &path,
                    format!("mode {mode:04o}: readable by {who}, wanted 0600"),
                ),
            ));
        }
    }
    out
}

/// The vault master key (by name, or by content) below `backups/`.
pub fn master_key_in_backups(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let l = s.layout();
    let key = s
        .read_bytes(&l.secret(SecretName::VaultMasterKey.file_name()))
        .map(zeroize::Zeroizing::new);
    let mut out = Vec::new();
    for (path, meta) in s.walk(&l.backups_dir(), &|_| false) {
        if !meta.is_file() {
            continue;
        }
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("vault_master"));
        let same = !named
            && key.as_ref().is_some_and(|k| {
                !k.is_empty()
                    && meta.len() == k.len() as u64
                    && s.read_bytes(&path)
                        .map(zeroize::Zeroizing::new)
                        .is_some_and(|b| b.as_slice() == k.as_slice())
            });
        if named || same {
            let why = if named {
                "named like the vault master key"
            } else {
                "holds the same bytes as config/secrets/vault_master.key"
            };
            out.push(Finding::new(
                "CB-APP-008",
                path.display().to_string(),
                Evidence::file(&path, why),
            ));
        }
    }
    out
}

// ------------------------------------------------------------- Configuration

pub fn config_invalid(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let path = s.config_path().to_path_buf();
    let subject = path.display().to_string();
    match s.config() {
        Some(Err(ConfigError::Invalid { problems })) => {
            let evidence = problems
                .iter()
                .map(|p| {
                    let mut value = String::new();
                    if !p.key.is_empty() {
                        value.push_str(&format!("key `{}`: ", p.key));
                    }
                    value.push_str(&p.message);
                    if !p.fix.is_empty() {
                        value.push_str(&format!(" (fix: {})", p.fix));
                    }
                    match &p.source {
                        Source::Default => Evidence::file(&path, value),
                        other => source_evidence(other, value),
                    }
                })
                .collect();
            vec![Finding {
                check_id: "CB-APP-004",
                subject,
                evidence,
            }]
        }
        Some(Err(e)) => vec![Finding::new(
            "CB-APP-004",
            subject,
            Evidence::file(&path, e.to_string()),
        )],
        _ => Vec::new(),
    }
}

/// `server.cors_origins` containing `*`. The loader refuses it, so the raw
/// file is read.
pub fn cors_wildcard(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let path = s.config_path().to_path_buf();
    let Some(text) = s.read(&path) else {
        return Vec::new();
    };
    let Ok(table) = toml::from_str::<toml::Table>(&text) else {
        return Vec::new();
    };
    let wild = table
        .get("server")
        .and_then(|v| v.get("cors_origins"))
        .and_then(|v| v.as_array())
        .is_some_and(|a| {
            a.iter()
                .any(|o| o.as_str().is_some_and(|o| o.trim() == "*"))
        });
    if !wild {
        return Vec::new();
    }
    let line = text
        .lines()
        .position(|l| {
            let l = l.trim_start();
            !l.starts_with('#') && l.starts_with("cors_origins")
        })
        .map_or(0, |i| i + 1);
    let evidence = if line > 0 {
        Evidence::at(&path, line, "server.cors_origins contains \"*\"")
    } else {
        Evidence::file(&path, "server.cors_origins contains \"*\"")
    };
    vec![Finding::new("CB-APP-005", "server.cors_origins", evidence)]
}

pub fn session_lifetimes(s: &Snapshot) -> Vec<Finding> {
    let Some(Ok(config)) = s.config() else {
        return Vec::new();
    };
    let have = &config.security.session;
    let policy = cryptobot_config::Session::default();
    let mut out = Vec::new();
    for (key, value, max) in [
        (
            "access_token_seconds",
            have.access_token_seconds,
            policy.access_token_seconds,
        ),
        ("expiry_seconds", have.expiry_seconds, policy.expiry_seconds),
        (
            "refresh_expiry_seconds",
            have.refresh_expiry_seconds,
            policy.refresh_expiry_seconds,
        ),
        (
            "idle_timeout_seconds",
            have.idle_timeout_seconds,
            policy.idle_timeout_seconds,
        ),
    ] {
        if value > max {
            let full = format!("security.session.{key}");
            out.push(Finding::new(
                "CB-APP-006",
                full.clone(),
                source_evidence(
                    &config.source_of(&full),
                    format!("{full} = {value} (policy: at most {max})"),
                ),
            ));
        }
    }
    out
}

pub fn password_policy(s: &Snapshot) -> Vec<Finding> {
    let Some(Ok(config)) = s.config() else {
        return Vec::new();
    };
    let p = &config.security.password_policy;
    let d = cryptobot_config::PasswordPolicy::default();
    let mut weaker: Vec<(&str, String)> = Vec::new();
    if p.min_length < d.min_length {
        weaker.push((
            "min_length",
            format!("{} (default {})", p.min_length, d.min_length),
        ));
    }
    for (key, have, default) in [
        (
            "require_uppercase",
            p.require_uppercase,
            d.require_uppercase,
        ),
        (
            "require_lowercase",
            p.require_lowercase,
            d.require_lowercase,
        ),
        ("require_digit", p.require_digit, d.require_digit),
        ("require_special", p.require_special, d.require_special),
    ] {
        if default && !have {
            weaker.push((key, "false (default true)".into()));
        }
    }
    if p.prevent_reuse < d.prevent_reuse {
        weaker.push((
            "prevent_reuse",
            format!("{} (default {})", p.prevent_reuse, d.prevent_reuse),
        ));
    }
    weaker
        .into_iter()
        .map(|(key, value)| {
            let full = format!("security.password_policy.{key}");
            Finding::new(
                "CB-APP-007",
                full.clone(),
                source_evidence(&config.source_of(&full), format!("{full} = {value}")),
            )
        })
        .collect()
}

// --------------------------------------------------------------- Certificates

/// `(host path, certificate, whether it is the API's server certificate)`
/// for the configured server certificate and those of PostgreSQL and Redis.
fn certificates(s: &Snapshot) -> Vec<(PathBuf, Result<CertInfo, String>, bool)> {
    if !s.has_install() {
        return Vec::new();
    }
    let config = s.config_or_default();
    let server = s.layout().resolve(&config.server.tls_cert);
    let (pg, _) = cryptobot_harden::render::pg_tls_files(s.layout());
    let (redis, _, _) = cryptobot_harden::render::redis_tls_files(s.layout());
    let mut out = Vec::new();
    for (path, is_server) in [(server, true), (pg, false), (redis, false)] {
        let Some(bytes) = s.read_bytes(&path) else {
            continue;
        };
        out.push((path, inspect_pem(&bytes).map_err(|e| e.0), is_server));
    }
    out
}

fn date(t: i64) -> String {
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let days = t.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn cert_expired(s: &Snapshot) -> Vec<Finding> {
    let now = s.now();
    certificates(s)
        .into_iter()
        .filter_map(|(path, info, _)| {
            let info = info.ok()?;
            (now >= info.not_after).then(|| {
                Finding::new(
                    "CB-TLS-001",
                    path.display().to_string(),
                    Evidence::file(
                        &path,
                        format!(
                            "expired {} days ago (not after {})",
                            -days_left(info.not_after, now),
                            date(info.not_after)
                        ),
                    ),
                )
            })
        })
        .collect()
}

pub fn cert_expiring(s: &Snapshot) -> Vec<Finding> {
    let now = s.now();
    certificates(s)
        .into_iter()
        .filter_map(|(path, info, _)| {
            let info = info.ok()?;
            let left = days_left(info.not_after, now);
            (now < info.not_after && left < RENEW_DAYS).then(|| {
                Finding::new(
                    "CB-TLS-002",
                    path.display().to_string(),
                    Evidence::file(
                        &path,
                        format!(
                            "expires in {left} days ({}), fewer than {RENEW_DAYS}",
                            date(info.not_after)
                        ),
                    ),
                )
            })
        })
        .collect()
}

pub fn cert_weak_key(s: &Snapshot) -> Vec<Finding> {
    certificates(s)
        .into_iter()
        .filter_map(|(path, info, _)| {
            let info = info.ok()?;
            (!info.key.is_strong()).then(|| {
                Finding::new(
                    "CB-TLS-003",
                    path.display().to_string(),
                    Evidence::file(&path, format!("key: {}", info.key)),
                )
            })
        })
        .collect()
}

pub fn cert_names(s: &Snapshot) -> Vec<Finding> {
    let config = s.config_or_default();
    certificates(s)
        .into_iter()
        .filter_map(|(path, info, is_server)| {
            let info = info.ok()?;
            if !is_server {
                return None;
            }
            let missing: Vec<&str> = config
                .tls
                .san
                .iter()
                .filter(|n| !info.sans.iter().any(|san| san.covers(n)))
                .map(String::as_str)
                .collect();
            (!missing.is_empty()).then(|| {
                let have: Vec<String> = info.sans.iter().map(ToString::to_string).collect();
                Finding::new(
                    "CB-TLS-004",
                    path.display().to_string(),
                    Evidence::file(
                        &path,
                        format!(
                            "does not cover {} (tls.san); it names {}",
                            missing.join(", "),
                            if have.is_empty() {
                                "nothing".into()
                            } else {
                                have.join(", ")
                            }
                        ),
                    ),
                )
            })
        })
        .collect()
}

pub fn cert_unreadable(s: &Snapshot) -> Vec<Finding> {
    certificates(s)
        .into_iter()
        .filter_map(|(path, info, _)| {
            let e = info.err()?;
            Some(Finding::new(
                "CB-TLS-005",
                path.display().to_string(),
                Evidence::file(&path, e),
            ))
        })
        .collect()
}

// --------------------------------------------------------------- Permissions

/// The `CB-PERM-*` identifiers, in the order of [`PermCheck::ALL`].
pub(crate) const PERM_IDS: [&str; 8] = [
    "CB-PERM-001",
    "CB-PERM-002",
    "CB-PERM-003",
    "CB-PERM-004",
    "CB-PERM-005",
    "CB-PERM-006",
    "CB-PERM-007",
    "CB-PERM-008",
];

/// The findings of `permissions --check` for `PermCheck::ALL[I]`, as
/// `CB-PERM-00n` (the same number as its `PERM-00n`).
pub fn perm<const I: usize>(s: &Snapshot) -> Vec<Finding> {
    let which = PermCheck::ALL[I];
    s.permission_findings()
        .iter()
        .filter(|f| f.check == which)
        .map(|f| {
            let evidence = if f.subject.starts_with('/') {
                Evidence::file(&f.subject, format!("{} ({})", f.detail, which.id()))
            } else {
                Evidence::value(format!("{} ({})", f.detail, which.id()))
            };
            Finding::new(PERM_IDS[I], f.subject.clone(), evidence)
        })
        .collect()
}

// --------------------------------------------------------------------- Files

/// Whether a walk of the installation skips `host`: the change journal
/// (root's own record of previous file versions).
fn journal(s: &Snapshot) -> PathBuf {
    s.layout().changes_dir()
}

/// Names of leftover copies: `.env`, `.env.*`, `*.bak`, `*.orig`, `*~`,
/// editor swap files.
pub(crate) fn is_leftover(name: &str) -> bool {
    name == ".env"
        || name.starts_with(".env.")
        || name.ends_with(".bak")
        || name.ends_with(".orig")
        || name.ends_with('~')
        || (name.starts_with('.') && (name.ends_with(".swp") || name.ends_with(".swo")))
}

pub fn leftover_copies(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let skip = journal(s);
    s.walk(s.layout().home(), &|p: &Path| p == skip)
        .into_iter()
        .filter(|(p, m)| {
            m.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_leftover)
        })
        .map(|(p, m)| {
            Finding::new(
                "CB-FILE-001",
                p.display().to_string(),
                Evidence::file(
                    &p,
                    format!(
                        "leftover copy, {} bytes, mode {:04o}",
                        m.len(),
                        m.mode() & 0o7777
                    ),
                ),
            )
        })
        .collect()
}

/// Largest file scanned for hard-coded secrets.
const MAX_SCAN: u64 = 1024 * 1024;

/// Extensions of files that are keys, certificates or databases: they
/// hold secrets (or binary data) by design.
const NOT_SCANNED: [&str; 10] = [
    ".key", ".crt", ".pem", ".cert", ".crl", ".der", ".p12", ".db", ".sqlite", ".sqlite3",
];

pub fn hardcoded_secrets(s: &Snapshot) -> Vec<Finding> {
    if !s.has_install() {
        return Vec::new();
    }
    let l = s.layout();
    let skip_dirs = [l.changes_dir(), l.secrets_dir(), l.tls_dir(), l.logs_dir()];
    let data = l.data_dir();
    let backups = l.backups_dir();
    let mut out = Vec::new();
    for (path, meta) in s.walk(l.home(), &|p: &Path| skip_dirs.iter().any(|d| d == p)) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_SCAN || NOT_SCANNED.iter().any(|e| name.ends_with(e))
        {
            continue;
        }
        // Databases and backups hold data, not configuration; leftover
        // copies there are still scanned.
        if (path.starts_with(&data) || path.starts_with(&backups)) && !is_leftover(name) {
            continue;
        }
        let Some(bytes) = s.read_bytes(&path) else {
            continue;
        };
        if bytes.contains(&0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let hits = secrets::scan(&text);
        if hits.is_empty() {
            continue;
        }
        out.push(Finding {
            check_id: "CB-FILE-002",
            subject: path.display().to_string(),
            evidence: hits
                .into_iter()
                .map(|h| Evidence::at(&path, h.line, h.what))
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_767_225_599), "2025-12-31");
    }

    #[test]
    fn leftovers() {
        for yes in [
            ".env",
            ".env.bak",
            "x.bak",
            "a.orig",
            "b~",
            ".cryptobot.toml.swp",
        ] {
            assert!(is_leftover(yes), "{yes}");
        }
        for no in ["env", "cryptobot.toml", "swp", "x.swp", "bak"] {
            assert!(!is_leftover(no), "{no}");
        }
    }
}
