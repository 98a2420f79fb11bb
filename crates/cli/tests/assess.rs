//! `cryptobot assess` through the binary: a root prepared by this
//! product's own hardening commands reports nothing; options, exit codes
//! and formats.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

const HOME: &str = "/opt/cryptobot";

/// A root with a minimal account database, hardened by `secure-config`,
/// `ssl` and `permissions`; the rendered Redis and PostgreSQL files are
/// also installed where the system's servers read them.
fn hardened() -> (tempfile::TempDir, PathBuf) {
    let (dir, r) = root_with_accounts();
    let rs = r.to_str().unwrap();
    for cmd in ["secure-config", "ssl", "permissions"] {
        cryptobot(&[cmd, "--root", rs, "--home", HOME, "-q"]).ok();
    }
    // What an operator does with the rendered files.
    let config = r.join("opt/cryptobot/config");
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
    let run = assess(&r, &["--format", "json", "--fail-on", "info"]);
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
    let text = assess(&r, &[]).ok();
    assert!(
        text.stdout.contains("score 100/100, 0 findings"),
        "{}",
        text.stdout
    );
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
    let only = assess(&r, &["--only", "CB-NET-*", "--format", "json"]).ok();
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
