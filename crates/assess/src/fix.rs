//! `assess --fix`: the safe fixes for a report, as one plan for the
//! plan/apply engine (so `--dry-run` shows it as a diff, applying it is
//! journaled, and `cryptobot rollback` undoes it).
//!
//! | findings | fix |
//! |---|---|
//! | `CB-PERM-*` (not 005), `CB-APP-003` | the `cryptobot permissions` plan (owners, modes, set-id bits, account, unit) |
//! | `CB-FILE-001` | backup copies removed (`.env.*`, `*.bak`, `*.orig`, `*~`, swap files; not `.env`); the journal keeps their content for `rollback` |
//! | `CB-KERN-*` | `/etc/sysctl.d/60-cryptobot-assess.conf`, and the running values: `sysctl -p` on a live root (undone with `sysctl -w`), the `/proc/sys` files under any other root |
//! | `CB-SSH-004/005/006` | `/etc/ssh/sshd_config.d/00-cryptobot-assess.conf`, only when `sshd_config` includes that directory before the setting it overrides (outside any `Match`) |
//!
//! Everything else is left to the operator: changing pg_hba.conf, Redis
//! authentication, SSH logins or certificates could lock someone out or
//! break the service.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cryptobot_harden::permissions;
use cryptobot_plan::{Change, Content, Owner, Plan, PlanError, Planner};

use crate::checks::install::{PERM_IDS, is_leftover};
use crate::checks::system::{SYSCTLS, sshd, sysctl_path};
use crate::model::Finding;
use crate::report::Report;
use crate::snapshot::Snapshot;

/// The kernel drop-in `--fix` writes.
pub const SYSCTL_DROP_IN: &str = "/etc/sysctl.d/60-cryptobot-assess.conf";
/// The sshd drop-in `--fix` writes.
pub const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/00-cryptobot-assess.conf";
const SSHD_DIR: &str = "/etc/ssh/sshd_config.d";

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the permissions fix could not be planned: {0}")]
    Permissions(#[from] permissions::PermissionsError),
}

impl FixError {
    pub fn hint(&self) -> Option<String> {
        match self {
            FixError::Plan(e) => e.hint(),
            FixError::Permissions(e) => e.hint(),
        }
    }
}

/// One finding the plan fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub check_id: &'static str,
    pub subject: String,
    /// What the plan does about it.
    pub how: String,
}

/// The plan, what it fixes, and the fixable findings it leaves (with why).
#[derive(Debug)]
pub struct FixPlan {
    pub plan: Plan,
    pub fixed: Vec<Fixed>,
    pub left: Vec<Fixed>,
}

/// The value `--fix` sets for each kernel parameter (safe on any host:
/// rp_filter 2 is the loose mode that multi-homed hosts need).
fn sysctl_value(key: &str) -> &'static str {
    match key {
        "kernel.randomize_va_space" => "2",
        "net.ipv4.conf.all.rp_filter" | "net.ipv4.conf.default.rp_filter" => "2",
        "kernel.kptr_restrict"
        | "kernel.dmesg_restrict"
        | "kernel.yama.ptrace_scope"
        | "net.ipv4.tcp_syncookies"
        | "fs.protected_symlinks"
        | "fs.protected_hardlinks" => "1",
        _ => "0",
    }
}

/// The sshd settings `--fix` writes, by check.
const SSHD_FIXES: [(&str, &str, &str, &str); 3] = [
    (
        "CB-SSH-004",
        "permitemptypasswords",
        "PermitEmptyPasswords",
        "no",
    ),
    ("CB-SSH-005", "maxauthtries", "MaxAuthTries", "4"),
    ("CB-SSH-006", "x11forwarding", "X11Forwarding", "no"),
];

fn ids_of<'a>(report: &'a Report, ids: &'a [&str]) -> impl Iterator<Item = &'a Finding> + 'a {
    report
        .findings
        .iter()
        .filter(move |f| ids.contains(&f.check_id))
}

/// The safe fixes for `report`'s findings. Reads the host; writes nothing.
pub fn plan(snapshot: &Snapshot, report: &Report) -> Result<FixPlan, FixError> {
    let mut out = FixPlan {
        plan: Plan::new(),
        fixed: Vec::new(),
        left: Vec::new(),
    };
    permissions_fixes(snapshot, report, &mut out)?;
    // Paths the permissions plan changes are not also removed in this run
    // (rollback restores a path from its first journal record).
    let touched: Vec<PathBuf> = out
        .plan
        .changes()
        .iter()
        .filter_map(|c| c.path().map(Path::to_path_buf))
        .collect();
    let mut planner = Planner::new(snapshot.root());
    leftover_fixes(report, &touched, &mut planner, &mut out)?;
    sysctl_fixes(snapshot, report, &mut planner, &mut out)?;
    sshd_fixes(snapshot, report, &mut planner, &mut out)?;
    out.plan.append(planner.finish());
    Ok(out)
}

fn permissions_fixes(s: &Snapshot, report: &Report, out: &mut FixPlan) -> Result<(), FixError> {
    let mut ids: Vec<&str> = PERM_IDS
        .iter()
        .copied()
        .filter(|id| *id != "CB-PERM-005")
        .collect();
    ids.push("CB-APP-003");
    let wanted: Vec<&Finding> = ids_of(report, &ids).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let config = s.config_or_default();
    let planned = permissions::plan(
        s.root(),
        s.layout(),
        &config,
        &permissions::Options::default(),
    )?;
    for f in wanted {
        out.fixed.push(Fixed {
            check_id: f.check_id,
            subject: f.subject.clone(),
            how: "the `cryptobot permissions` plan".into(),
        });
    }
    out.plan.append(planned.plan);
    Ok(())
}

fn leftover_fixes(
    report: &Report,
    touched: &[PathBuf],
    planner: &mut Planner<'_>,
    out: &mut FixPlan,
) -> Result<(), FixError> {
    for f in ids_of(report, &["CB-FILE-001"]) {
        let path = PathBuf::from(&f.subject);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == ".env" || !is_leftover(name) {
            out.left.push(Fixed {
                check_id: f.check_id,
                subject: f.subject.clone(),
                how: "`.env` may be a live configuration file: move its settings to config/ and config/secrets/, then delete it".into(),
            });
            continue;
        }
        if touched.contains(&path) {
            out.left.push(Fixed {
                check_id: f.check_id,
                subject: f.subject.clone(),
                how: "its owner or mode is corrected first; run `assess --fix` again to remove it"
                    .into(),
            });
            continue;
        }
        planner.ensure_absent(&path)?;
        out.fixed.push(Fixed {
            check_id: f.check_id,
            subject: f.subject.clone(),
            how: "removed (the journal keeps its content for `cryptobot rollback`)".into(),
        });
    }
    Ok(())
}

/// `key = value` lines of an existing drop-in (to keep what an earlier
/// fix persisted).
fn drop_in_values(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = if sep == '=' {
                l.split_once('=')?
            } else {
                l.split_once(char::is_whitespace)?
            };
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn existing_mode(s: &Snapshot, path: &Path, default: u32) -> u32 {
    s.lstat(path).map_or(default, |m| m.mode() & 0o7777)
}

fn sysctl_program() -> Option<PathBuf> {
    ["/usr/sbin/sysctl", "/sbin/sysctl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn sysctl_fixes(
    s: &Snapshot,
    report: &Report,
    planner: &mut Planner<'_>,
    out: &mut FixPlan,
) -> Result<(), FixError> {
    let ids: Vec<&str> = SYSCTLS.iter().map(|r| r.id).collect();
    let findings: Vec<&Finding> = ids_of(report, &ids).collect();
    if findings.is_empty() {
        return Ok(());
    }
    let drop_in = Path::new(SYSCTL_DROP_IN);
    let mut values = s
        .read(drop_in)
        .map(|t| drop_in_values(&t, '='))
        .unwrap_or_default();
    // (key, old runtime value) of what changes now.
    let mut changed: Vec<(String, String)> = Vec::new();
    for f in &findings {
        let key = f.subject.clone();
        let old = s
            .read(&sysctl_path(&key))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        values.insert(key.clone(), sysctl_value(&key).to_owned());
        changed.push((key, old));
    }
    let mut text = String::from(
        "# Written by `cryptobot assess --fix`: kernel settings from the\n\
         # assessment's CB-KERN checks (docs/checks.md). Loaded at boot by\n\
         # systemd-sysctl; `cryptobot rollback` removes what the fix added.\n",
    );
    for (k, v) in &values {
        text.push_str(&format!("{k} = {v}\n"));
    }
    let dir = Path::new("/etc/sysctl.d");
    if s.lstat(dir).is_none() {
        planner.ensure_dir(dir, 0o755, Some(Owner::root()))?;
    }
    planner.ensure_file(
        drop_in,
        Content::Text(text),
        existing_mode(s, drop_in, 0o644),
        None,
    )?;
    // The running kernel.
    if s.root().is_live() {
        match sysctl_program() {
            Some(program) => {
                // `sysctl -q -w key=old ...`: the values before the fix.
                let undo: Vec<String> = ["-q", "-w"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain(
                        changed
                            .iter()
                            .filter(|(_, old)| !old.is_empty())
                            .map(|(k, old)| format!("{k}={old}")),
                    )
                    .collect();
                planner.push(Change::Run {
                    program: program.clone(),
                    args: vec!["-q".into(), "-p".into(), SYSCTL_DROP_IN.into()],
                    why: "set the running kernel's values from the drop-in".into(),
                    undo: Some((program, undo)),
                });
            }
            None => planner.note(
                "sysctl was not found: the drop-in takes effect at the next boot (or run `sysctl --system`)",
            ),
        }
    } else {
        // Under another root the `/proc/sys` files stand for the kernel
        // the image or fixture describes.
        for (key, _) in &changed {
            let path = sysctl_path(key);
            if s.lstat(&path).is_some_and(|m| m.is_file()) {
                planner.ensure_file(
                    &path,
                    Content::Text(format!("{}\n", sysctl_value(key))),
                    existing_mode(s, &path, 0o644),
                    None,
                )?;
            }
        }
    }
    for f in findings {
        out.fixed.push(Fixed {
            check_id: f.check_id,
            subject: f.subject.clone(),
            how: format!(
                "{} = {} in {SYSCTL_DROP_IN}",
                f.subject,
                sysctl_value(&f.subject)
            ),
        });
    }
    Ok(())
}

/// The line of the first `Include` in sshd_config (before any `Match`)
/// whose pattern covers the drop-in.
fn sshd_include_line(s: &Snapshot) -> Option<usize> {
    let text = s.read(Path::new(cryptobot_firewall::SSHD_CONFIG))?;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        let mut f = l.split_whitespace();
        let Some(k) = f.next() else { continue };
        if k.starts_with('#') {
            continue;
        }
        if k.eq_ignore_ascii_case("match") {
            return None;
        }
        if !k.eq_ignore_ascii_case("include") {
            continue;
        }
        for pat in f {
            let pat = pat.trim_matches('"');
            let full = if pat.starts_with('/') {
                pat.to_owned()
            } else {
                format!("/etc/ssh/{pat}")
            };
            let covered = full == SSHD_DROP_IN
                || full
                    .strip_prefix(&format!("{SSHD_DIR}/"))
                    .is_some_and(|name| {
                        let (pre, post) = name.split_once('*').unwrap_or((name, ""));
                        name.contains('*')
                            && "00-cryptobot-assess.conf".starts_with(pre)
                            && "00-cryptobot-assess.conf".ends_with(post)
                    });
            if covered {
                return Some(i + 1);
            }
        }
    }
    None
}

fn sshd_fixes(
    s: &Snapshot,
    report: &Report,
    planner: &mut Planner<'_>,
    out: &mut FixPlan,
) -> Result<(), FixError> {
    let ids: Vec<&str> = SSHD_FIXES.iter().map(|x| x.0).collect();
    let findings: Vec<&Finding> = ids_of(report, &ids).collect();
    if findings.is_empty() {
        return Ok(());
    }
    let include = sshd_include_line(s);
    let directives = sshd(s).unwrap_or_default();
    let main = Path::new(cryptobot_firewall::SSHD_CONFIG);
    let drop_in = Path::new(SSHD_DROP_IN);
    let mut values = s
        .read(drop_in)
        .map(|t| drop_in_values(&t, ' '))
        .unwrap_or_default();
    let mut adds = Vec::new();
    for f in findings {
        let Some((_, keyword, shown, value)) = SSHD_FIXES.iter().find(|x| x.0 == f.check_id) else {
            continue;
        };
        let left = |why: &str| Fixed {
            check_id: f.check_id,
            subject: f.subject.clone(),
            how: why.to_owned(),
        };
        let Some(inc) = include else {
            out.left.push(left(&format!(
                "{} does not include {SSHD_DIR}/*.conf before any Match block: set `{shown} {value}` there yourself",
                main.display()
            )));
            continue;
        };
        if f.subject.contains("(Match block)") {
            out.left.push(left(&format!(
                "set inside a Match block: change `{shown}` there yourself"
            )));
            continue;
        }
        // sshd uses the first value it reads: the drop-in must come first.
        let first = directives
            .iter()
            .find(|d| !d.in_match && d.keyword == *keyword && d.file != drop_in);
        let wins = match first {
            None => true,
            Some(d) if d.file == main => d.line > inc,
            Some(d) => {
                d.file.parent() == Some(Path::new(SSHD_DIR))
                    && d.file
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().as_ref() > "00-cryptobot-assess.conf")
            }
        };
        if !wins {
            let at = first.map_or_else(String::new, |d| {
                format!(" ({}:{})", d.file.display(), d.line)
            });
            out.left.push(left(&format!(
                "`{shown}` is set before the include of {SSHD_DIR}{at}: change it there yourself"
            )));
            continue;
        }
        values.insert((*shown).to_owned(), (*value).to_owned());
        adds.push(Fixed {
            check_id: f.check_id,
            subject: f.subject.clone(),
            how: format!("`{shown} {value}` in {SSHD_DROP_IN} (reload sshd to apply)"),
        });
    }
    if adds.is_empty() {
        return Ok(());
    }
    let mut text = String::from(
        "# Written by `cryptobot assess --fix` (CB-SSH checks, docs/checks.md).\n\
         # sshd uses the first value it reads; this file is included early.\n",
    );
    for (k, v) in &values {
        text.push_str(&format!("{k} {v}\n"));
    }
    if s.lstat(Path::new(SSHD_DIR)).is_none() {
        planner.ensure_dir(Path::new(SSHD_DIR), 0o755, Some(Owner::root()))?;
    }
    planner.ensure_file(
        drop_in,
        Content::Text(text),
        existing_mode(s, drop_in, 0o644),
        None,
    )?;
    if s.root().is_live() {
        planner.note("reload sshd (`systemctl reload ssh`) to apply the new settings; `sshd -t` checks them first");
    }
    out.fixed.extend(adds);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Evidence;
    use cryptobot_config::Layout;
    use cryptobot_plan::Root;

    /// On the live root the running kernel is changed with `sysctl -p` and
    /// put back with `sysctl -w` and the values read now. Planning only
    /// reads; nothing is applied here.
    #[test]
    fn a_live_root_sets_the_running_kernel_with_an_undo() {
        let Ok(root) = Root::new("/") else {
            return;
        };
        let s = Snapshot::new(root, Layout::new("/nonexistent/cryptobot"), None, 0);
        let key = "kernel.randomize_va_space";
        let Some(now) = s.read(&sysctl_path(key)) else {
            return; // no /proc/sys here
        };
        let check = crate::find("CB-KERN-001").unwrap_or_else(|| panic!("catalogue"));
        let report = Report::new(
            vec![check],
            vec![Finding::new("CB-KERN-001", key, Evidence::value("test"))],
            Vec::new(),
        );
        let fixes = plan(&s, &report).unwrap_or_else(|e| panic!("{e}"));
        let runs: Vec<&Change> = fixes
            .plan
            .changes()
            .iter()
            .filter(|c| matches!(c, Change::Run { .. }))
            .collect();
        match sysctl_program() {
            None => assert!(runs.is_empty()),
            Some(program) => {
                let [
                    Change::Run {
                        program: p,
                        args,
                        undo: Some((up, undo)),
                        ..
                    },
                ] = runs[..]
                else {
                    panic!("{runs:?}");
                };
                assert_eq!(p, &program);
                assert_eq!(args, &["-q", "-p", SYSCTL_DROP_IN]);
                assert_eq!(up, &program);
                assert_eq!(
                    undo,
                    &[
                        "-q".to_owned(),
                        "-w".into(),
                        format!("{key}={}", now.trim())
                    ]
                );
            }
        }
        // The /proc/sys files of a live root are never written as files.
        assert!(
            !fixes
                .plan
                .changes()
                .iter()
                .any(|c| c.path().is_some_and(|p| p.starts_with("/proc")))
        );
    }
}
