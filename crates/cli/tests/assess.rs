//! `cryptobot assess` through the binary: a root prepared by this
//! product's own hardening commands reports nothing; options, exit codes,
//! formats, the history, and `--fix` with `--dry-run` and `rollback`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

const HOME: &str = "/opt/cryptobot";
/// The synthetic OSV advisories of the assess crate's tests.
const ADVISORY_DB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assess/tests/fixtures/osv");

/// `cryptobot firewall persist` under the root. As root it asks `nft -c`
/// about the rules when nft is installed: that runs in a network namespace
/// of its own, never the machine's.
fn firewall_persist(r: &Path) {
    let rs = r.to_str().unwrap();
    let args = ["firewall", "persist", "--root", rs, "--home", HOME, "-q"];
    let unshare = Path::new("/usr/bin/unshare");
    if rustix::process::geteuid().is_root() && unshare.exists() {
        let out = std::process::Command::new(unshare)
            .args(["--net", "--", env!("CARGO_BIN_EXE_cryptobot")])
            .args(args)
            .env_remove("CRYPTOBOT_HOME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "firewall persist: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        cryptobot(&args).ok();
    }
}

/// A root with a minimal account database, hardened by `secure-config`,
/// `ssl`, `permissions` and `firewall persist`; the rendered Redis and
/// PostgreSQL files are also installed where the system's servers read them.
fn hardened() -> (tempfile::TempDir, PathBuf) {
    let (dir, r) = root_with_accounts();
    let rs = r.to_str().unwrap();
    for cmd in ["secure-config", "ssl", "permissions"] {
        cryptobot_env(
            &[cmd, "--root", rs, "--home", HOME, "-q"],
            &[("CRYPTOBOT_REDIS__SERVER_TLS", "true")],
        )
        .ok();
    }
    firewall_persist(&r);
    // What an operator does with the rendered files.
    let config = r.join("opt/cryptobot/config");
    // Redis is TLS only (ssl issued its pair, `redis.server_tls` is on):
    // that is part of "our own".
    let tls = std::fs::read_to_string(config.join("redis/tls.conf")).unwrap();
    assert!(tls.contains("\ntls-port "), "{tls}");
    assert!(config.join("redis/redis.key").exists());
    std::fs::create_dir_all(r.join("etc/redis")).unwrap();
    std::fs::copy(
        config.join("redis/redis.conf"),
        r.join("etc/redis/redis.conf"),
    )
    .unwrap();
    let main = r.join("etc/postgresql/16/main");
    std::fs::create_dir_all(&main).unwrap();
    std::fs::copy(
        config.join("postgresql/pg_hba.conf"),
        main.join("pg_hba.conf"),
    )
    .unwrap();
    std::fs::write(
        main.join("postgresql.conf"),
        "include '/opt/cryptobot/config/postgresql/cryptobot.conf'\n",
    )
    .unwrap();
    (dir, r)
}

fn assess(r: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["assess", "--root", r.to_str().unwrap(), "--home", HOME];
    args.extend(extra);
    cryptobot(&args)
}

#[test]
fn our_own_hardening_reports_nothing() {
    let (_dir, r) = hardened();
    let run = assess(
        &r,
        &[
            "--format",
            "json",
            "--fail-on",
            "info",
            "--advisory-db",
            ADVISORY_DB,
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc["findings"],
        serde_json::json!([]),
        "findings on our own output:\n{:#}",
        doc["findings"]
    );
    assert_eq!(run.status, 0, "{}", run.both());
    assert_eq!(doc["score"], 100);
    assert_eq!(doc["notes"], serde_json::json!([]), "{:#}", doc["notes"]);
    let text = assess(&r, &["--advisory-db", ADVISORY_DB]).ok();
    assert!(
        text.stdout.contains("score 100/100, 0 findings"),
        "{}",
        text.stdout
    );
    // Nothing to fix on our own output.
    let fix = assess(&r, &["--fix", "--advisory-db", ADVISORY_DB]).ok();
    assert!(
        fix.stdout.contains("--fix: nothing to fix safely"),
        "{}",
        fix.stdout
    );
    // Without a database the dependency check says it was skipped.
    let skipped = assess(&r, &["--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&skipped.stdout).unwrap();
    assert_eq!(doc["findings"][0]["id"], "CB-DEP-002", "{doc:#}");
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn planted_problems_set_the_exit_status() {
    let (_dir, r) = hardened();
    let home = r.join("opt/cryptobot");
    std::fs::set_permissions(
        home.join("config/secrets/jwt_signing.key"),
        PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(home.join(".env.bak"), "JWT_SECRET=Zx9pL2mQ8vR4tY7uK3wQ\n").unwrap();
    std::fs::write(r.join("etc/redis/redis.conf"), "protected-mode no\n").unwrap();
    std::fs::create_dir_all(r.join("proc/net")).unwrap();
    std::fs::write(
        r.join("proc/net/tcp"),
        "  sl  local_address rem_address   st\n   0: 00000000:18EB 00000000:0000 0A 0\n",
    )
    .unwrap();

    let run = assess(&r, &["--fail-on", "high"]);
    assert_eq!(run.status, 3, "{}", run.both());
    for id in [
        "CB-APP-003",
        "CB-PERM-004",
        "CB-FILE-001",
        "CB-FILE-002",
        "CB-REDIS-001",
        "CB-REDIS-002",
        "CB-REDIS-003",
        "CB-NET-001",
    ] {
        assert!(run.stdout.contains(id), "{id} missing:\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains(
            "/opt/cryptobot/.env.bak:1: JWT_SECRET holds a literal secret (20 characters)"
        )
    );
    assert!(
        run.stdout
            .contains("/proc/net/tcp:2: listening on 0.0.0.0:6379 (redis)")
    );
    assert!(
        !run.both().contains("Zx9pL2mQ8vR4tY7uK3wQ"),
        "a secret was printed"
    );
    assert!(run.stderr.contains("at or above high"), "{}", run.stderr);
    // Below the threshold: success.
    assess(
        &r,
        &[
            "--fail-on",
            "critical",
            "--skip",
            "CB-APP-003,CB-REDIS-001",
            "-q",
        ],
    )
    .ok();
    // --only narrows the run.
    let only = assess(
        &r,
        &[
            "--only",
            "CB-NET-*",
            "--skip",
            "CB-NET-003,CB-NET-004",
            "--format",
            "json",
        ],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&only.stdout).unwrap();
    assert_eq!(
        doc["checks_run"],
        serde_json::json!(["CB-NET-001", "CB-NET-002"])
    );
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);

    let sarif = assess(&r, &["--format", "sarif"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|x| x["ruleId"] == "CB-NET-001"
        && x["locations"][0]["physicalLocation"]["region"]["startLine"] == 2));
}

#[test]
fn unknown_ids_and_the_catalogue() {
    let (_dir, r) = hardened();
    let run = assess(&r, &["--only", "CB-PG-001,CB-NOPE-9"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("CB-NOPE-9"), "{}", run.stderr);
    assert!(
        run.stderr.contains("cryptobot assess list"),
        "{}",
        run.stderr
    );
    let run = assess(&r, &["--skip", "nope"]);
    assert_eq!(run.status, 2);

    let list = cryptobot(&["assess", "list"]).ok();
    assert!(list.stdout.lines().count() >= 50);
    assert!(list.stdout.contains("CB-PG-001"));
    let list = cryptobot(&["assess", "list", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(doc["checks"].as_array().unwrap().len() >= 50);

    let explain = cryptobot(&["assess", "explain", "cb-redis-002"]).ok();
    assert!(
        explain
            .stdout
            .starts_with("CB-REDIS-002 Redis protected mode is off")
    );
    assert!(explain.stdout.contains("fix: Set `protected-mode yes`."));
    let bad = cryptobot(&["assess", "explain", "CB-X-001"]);
    assert_eq!(bad.status, 2);
    assert!(bad.stderr.contains("assess list"));

    let sarif_elsewhere = cryptobot(&["config", "check", "--format", "sarif"]);
    assert_eq!(sarif_elsewhere.status, 2);
}

fn write(r: &Path, host: &str, text: &str, mode: u32) {
    let p = r.join(host.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
}

const LEFTOVER: &str = "# old settings\nJWT_SECRET=Zx9pL2mQ8vR4tY7uK3wQ\n";

/// The hardened root with problems planted, fixable ones and others.
fn vulnerable() -> (tempfile::TempDir, PathBuf) {
    let (dir, r) = hardened();
    let home = r.join("opt/cryptobot");
    std::fs::set_permissions(
        home.join("config/secrets/jwt_signing.key"),
        PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    write(&r, "/opt/cryptobot/.env.bak", LEFTOVER, 0o640);
    write(&r, "/opt/cryptobot/config/extra.conf", "x = 1\n", 0o666);
    write(&r, "/opt/cryptobot/data/helper", "#!/bin/sh\n", 0o4755);
    write(&r, "/proc/sys/kernel/randomize_va_space", "0\n", 0o644);
    write(&r, "/proc/sys/fs/suid_dumpable", "2\n", 0o644);
    write(&r, "/proc/sys/net/ipv4/tcp_syncookies", "1\n", 0o644);
    write(
        &r,
        "/etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n",
        0o644,
    );
    write(
        &r,
        "/etc/ssh/sshd_config.d/50-cloud.conf",
        "X11Forwarding yes\nMaxAuthTries 10\n",
        0o644,
    );
    let hba = r.join("etc/postgresql/16/main/pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).unwrap();
    text.insert_str(0, "host all all 0.0.0.0/0 trust\n");
    std::fs::write(&hba, text).unwrap();
    write(&r, "/etc/redis/redis.conf", "protected-mode no\n", 0o640);
    write(
        &r,
        "/opt/cryptobot/app/requirements.txt",
        "requests==2.19.0\n",
        0o644,
    );
    write(
        &r,
        "/proc/net/tcp",
        "  sl  local_address rem_address   st\n   0: 00000000:18EB 00000000:0000 0A 0\n",
        0o444,
    );
    (dir, r)
}

fn ids(run: &Run) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.both()));
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

const FIXED: [&str; 8] = [
    "CB-APP-003",
    "CB-PERM-001",
    "CB-PERM-002",
    "CB-FILE-001",
    "CB-KERN-001",
    "CB-KERN-009",
    "CB-SSH-005",
    "CB-SSH-006",
];
const NOT_FIXED: [&str; 5] = [
    "CB-PG-001",
    "CB-REDIS-002",
    "CB-SSH-001",
    "CB-DEP-001",
    "CB-NET-001",
];

#[test]
fn fix_dry_run_changes_nothing_fix_fixes_and_rollback_undoes() {
    let (_dir, r) = vulnerable();
    let rs = r.to_str().unwrap();
    let db = ["--advisory-db", ADVISORY_DB];
    let before_ids = ids(&assess(&r, &["--format", "json", "--no-history", db[0], db[1]]).ok());
    for id in FIXED.iter().chain(&NOT_FIXED) {
        assert!(
            before_ids.iter().any(|x| x == id),
            "{id} not planted: {before_ids:?}"
        );
    }

    // --dry-run: the fixes as a diff, and the tree is untouched.
    let before = snapshot(&r);
    let dry = assess(&r, &["--fix", "--dry-run", db[0], db[1]]).ok();
    assert!(
        dry.stdout.contains("dry run: nothing is written"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("would fix:"), "{}", dry.stdout);
    for needle in [
        "/etc/sysctl.d/60-cryptobot-assess.conf",
        "+kernel.randomize_va_space = 2",
        "/etc/ssh/sshd_config.d/00-cryptobot-assess.conf",
        "+X11Forwarding no",
        "/opt/cryptobot/.env.bak",
        "/opt/cryptobot/config/secrets/jwt_signing.key",
    ] {
        assert!(
            dry.stdout.contains(needle),
            "{needle} missing:\n{}",
            dry.stdout
        );
    }
    for id in FIXED {
        assert!(
            dry.stdout.contains(&format!("  {id} ")),
            "{id} not listed as a fix:\n{}",
            dry.stdout
        );
    }
    assert!(
        !dry.both().contains("Zx9pL2mQ8vR4tY7uK3wQ"),
        "a secret was printed"
    );
    assert_eq!(snapshot(&r), before, "--fix --dry-run changed the tree");
    // The JSON form of the dry run matches its schema's shape.
    let dry_json = assess(
        &r,
        &["--fix", "--dry-run", "--format", "json", db[0], db[1]],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&dry_json.stdout).unwrap();
    assert_eq!(doc["fix"]["dry_run"], true);
    assert_eq!(doc["fix"]["applied"], 0);
    assert!(
        !doc["fix"]["changes"]["changes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        snapshot(&r),
        before,
        "--format json --dry-run changed the tree"
    );
    validate_json(&dry_json.stdout);

    // --fix: applied, journaled; the re-run no longer reports them.
    let fix = assess(&r, &["--fix", db[0], db[1]]).ok();
    assert!(fix.stdout.contains("fixed:"), "{}", fix.stdout);
    assert!(
        fix.stdout
            .contains(&format!("`cryptobot rollback --root {rs}` undoes them")),
        "{}",
        fix.stdout
    );
    assert!(!r.join("opt/cryptobot/.env.bak").exists());
    assert_eq!(
        std::fs::read_to_string(r.join("proc/sys/kernel/randomize_va_space")).unwrap(),
        "2\n"
    );
    let after = ids(&assess(&r, &["--format", "json", db[0], db[1]]).ok());
    for id in FIXED {
        assert!(
            !after.iter().any(|x| x == id),
            "{id} still reported after --fix: {after:?}"
        );
    }
    for id in NOT_FIXED {
        assert!(
            after.iter().any(|x| x == id),
            "{id} was changed by --fix: {after:?}"
        );
    }
    // Idempotent: nothing left to fix safely.
    let again = assess(&r, &["--fix", "--dry-run", db[0], db[1]]).ok();
    assert!(
        again.stdout.contains("--fix: nothing to fix safely"),
        "{}",
        again.stdout
    );

    // rollback: the planted problems are back, the leftover with its content.
    cryptobot(&["rollback", "--root", rs, "--home", HOME, "-q"]).ok();
    assert_eq!(
        std::fs::read_to_string(r.join("opt/cryptobot/.env.bak")).unwrap(),
        LEFTOVER
    );
    assert_eq!(
        mode(&r.join("opt/cryptobot/config/secrets/jwt_signing.key")),
        0o644
    );
    assert!(!r.join("etc/sysctl.d/60-cryptobot-assess.conf").exists());
    let back = ids(&assess(&r, &["--format", "json", db[0], db[1]]).ok());
    for id in FIXED {
        assert!(
            back.iter().any(|x| x == id),
            "{id} not back after rollback: {back:?}"
        );
    }
}

fn history_lines(r: &Path) -> Vec<String> {
    std::fs::read_to_string(r.join("opt/cryptobot/data/assess-history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn junit_html_colour_and_the_history() {
    let (_dir, r) = vulnerable();
    // A leftover whose name is markup: the HTML must escape it.
    write(&r, "/opt/cryptobot/<b>x</b>.bak", "x\n", 0o640);
    let data = r.join("opt/cryptobot/data");
    let hist = data.join("assess-history.jsonl");
    assert!(!hist.exists());

    let text = assess(&r, &[]).ok();
    assert!(!text.stdout.contains('\x1b'), "coloured without a terminal");
    let lines = history_lines(&r);
    assert_eq!(lines.len(), 1);
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(line["score"].as_u64().unwrap() < 100);
    assert!(line["counts"]["critical"].as_u64().unwrap() >= 1);
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(mode(&hist), 0o600);
    use std::os::unix::fs::MetadataExt;
    let (h, d) = (
        std::fs::metadata(&hist).unwrap(),
        std::fs::metadata(&data).unwrap(),
    );
    assert_eq!(
        (h.uid(), h.gid()),
        (d.uid(), d.gid()),
        "owned like the data directory"
    );

    let colour = assess(&r, &["--color", "always", "--no-history"]).ok();
    assert!(
        colour.stdout.contains("\x1b[1;31mCRITICAL\x1b[0m"),
        "{}",
        colour.stdout
    );
    let never = assess_env(
        &r,
        &["--color", "auto", "--no-history"],
        &[("NO_COLOR", "1")],
    );
    assert!(!never.stdout.contains('\x1b'));
    assert_eq!(history_lines(&r).len(), 1, "--no-history appended a line");

    // JUnit: one test case per check, failures with evidence.
    let junit = assess(&r, &["--format", "junit", "--no-history"]).ok();
    // Well-formed XML (Python's parser; python3 is installed by .ci/run).
    if let Ok(mut child) = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,xml.dom.minidom as m; m.parseString(sys.stdin.buffer.read())",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(junit.stdout.as_bytes())
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "the JUnit XML is not well-formed"
        );
    }
    let checks = cryptobot(&["assess", "list"]).ok().stdout.lines().count();
    assert_eq!(junit.stdout.matches("<testcase ").count(), checks);
    assert!(
        junit
            .stdout
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    assert!(
        junit
            .stdout
            .contains("<failure type=\"critical\" message=\"pg_hba.conf accepts connections without a password (trust): /etc/postgresql/16/main/pg_hba.conf\">"),
        "{}",
        junit.stdout
    );
    assert!(
        junit
            .stdout
            .contains("/etc/postgresql/16/main/pg_hba.conf:1: host all all 0.0.0.0/0 trust")
    );
    assert!(junit.stdout.contains("&lt;b&gt;x&lt;/b&gt;.bak"));
    assert!(
        junit
            .stdout
            .contains("<skipped message=\"subject: dependency advisories")
    );

    // A malformed history line is skipped with a warning; HTML renders.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&hist)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{not json\n").unwrap();
    let html = assess(&r, &["--format", "html"]).ok();
    assert!(
        html.stderr
            .contains("assess-history.jsonl:2: not a history entry; skipped"),
        "{}",
        html.stderr
    );
    let page = &html.stdout;
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("<svg") && page.contains("<polyline"),
        "no chart"
    );
    assert_eq!(
        page.matches("<circle ").count(),
        2,
        "two good history entries"
    );
    assert!(page.contains("&lt;b&gt;x&lt;/b&gt;.bak"));
    assert!(!page.contains("<b>x</b>"), "host text not escaped");
    for external in ["<script", "src=", "href=\"http", "@import", "url("] {
        assert!(
            !page.contains(external),
            "{external} in a self-contained page"
        );
    }
    assert!(page.contains("CB-PG-001") && page.contains("Fix:"));
    assert_eq!(
        history_lines(&r).len(),
        3,
        "one line per run, the bad one kept"
    );
    assert!(
        !page.contains("Zx9pL2mQ8vR4tY7uK3wQ"),
        "a secret in the page"
    );

    // Other commands refuse the assessment formats.
    let bad = cryptobot(&["config", "check", "--format", "junit"]);
    assert_eq!(bad.status, 2);
    assert!(
        bad.stderr.contains("--format junit is only available"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_root_persisted_by_our_firewall_passes() {
    let (_dir, r) = root_with_accounts();
    let rs = r.to_str().unwrap();
    cryptobot(&["secure-config", "--root", rs, "--home", HOME, "-q"]).ok();
    let only = [
        "--only",
        "CB-NET-003,CB-NET-004",
        "--format",
        "json",
        "--no-history",
    ];
    let run = assess(&r, &only).ok();
    assert_eq!(ids(&run), ["CB-NET-003"], "no firewall yet");
    // Debian's default nftables.conf: present, but accepts everything.
    write(
        &r,
        "/etc/nftables.conf",
        "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n",
        0o755,
    );
    assert_eq!(ids(&assess(&r, &only).ok()), ["CB-NET-004"]);
    firewall_persist(&r);
    let run = assess(&r, &only).ok();
    assert_eq!(ids(&run), Vec::<String>::new(), "{}", run.stdout);
}

fn assess_env(r: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["assess", "--root", r.to_str().unwrap(), "--home", HOME];
    args.extend(extra);
    cryptobot_env(&args, env)
}

/// Validates a `--format json` document against docs/assess.schema.json
/// with Python's jsonschema (installed by .ci/run; a loud skip elsewhere).
fn validate_json(doc: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.json");
    std::fs::write(&file, doc).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/assess.schema.json");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys\ntry:\n import jsonschema\nexcept ImportError:\n print('NO-JSONSCHEMA'); sys.exit(0)\n\
             jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
            schema,
        ])
        .arg(&file)
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("NO-JSONSCHEMA") => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3-jsonschema is missing"
            );
            eprintln!("\n!!!!!!!! JSON SCHEMA VALIDATION SKIPPED: python3 jsonschema is missing\n");
        }
        Ok(o) => assert!(
            o.status.success(),
            "the JSON does not match docs/assess.schema.json:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "python3 is missing: {e}");
            eprintln!("\n!!!!!!!! JSON SCHEMA VALIDATION SKIPPED: python3 is missing\n");
        }
    }
}

/// `cmd` on a pseudo-terminal (util-linux `script`): stdout and stderr
/// are both the terminal, as for an operator. `None` without `script`.
fn on_terminal(cmd: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("\n!!!!!!!! TERMINAL TEST SKIPPED: /usr/bin/script (util-linux) is missing\n");
        return None;
    }
    let mut c = std::process::Command::new(script);
    c.args(["-qec", cmd, "/dev/null"]).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_gets_colour_and_progress_unless_no_color() {
    let (_dir, r) = vulnerable();
    let cmd = format!(
        "{} assess --root {} --home {HOME} --no-history",
        env!("CARGO_BIN_EXE_cryptobot"),
        r.display()
    );
    let Some(tty) = on_terminal(&cmd, &[]) else {
        return;
    };
    assert!(
        tty.contains("\r\x1b[2Kassessing [  1/"),
        "no progress line:\n{tty}"
    );
    assert!(
        tty.contains("\x1b[1;31mCRITICAL\x1b[0m"),
        "not coloured:\n{tty}"
    );
    let plain = on_terminal(&cmd, &[("NO_COLOR", "1")]).unwrap();
    assert!(!plain.contains("\x1b[1;31m"), "coloured despite NO_COLOR");
    assert!(plain.contains("CRITICAL"));
    let never = on_terminal(&format!("{cmd} --color never"), &[]).unwrap();
    assert!(!never.contains("\x1b[1;31m"));
    let quiet = on_terminal(&format!("{cmd} -q"), &[]).unwrap();
    assert!(!quiet.contains("assessing ["), "progress with -q");
}
