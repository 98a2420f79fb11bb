//! A deliberately vulnerable root, built here: every planted problem must
//! be reported with the right ID and evidence, and no output may contain a
//! planted secret.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cryptobot_assess::{CATALOGUE, Finding, Report, Snapshot, assess};
use cryptobot_config::Layout;
use cryptobot_harden::SecretName;
use cryptobot_plan::Root;

const HOME: &str = "/opt/cryptobot";
const DAY: i64 = 86_400;
const NOW: i64 = 1_790_000_000;
const PLANTED_SECRET: &str = "Zx9pL2mQ8vR4tY7uK3wQ";
const PLANTED_AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn write(r: &Path, host: &str, text: &str, mode: u32) {
    let p = r.join(host.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
}

/// The vulnerable root, and the generated secret values (to search the
/// output for).
fn vulnerable() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("root");
    std::fs::create_dir_all(&r).unwrap();
    write(
        &r,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n",
        0o644,
    );
    write(&r, "/etc/group", "root:x:0:\n", 0o644);
    write(&r, "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640);

    // PostgreSQL.
    write(
        &r,
        "/etc/postgresql/16/main/pg_hba.conf",
        "# TYPE DATABASE USER ADDRESS METHOD\nlocal all postgres peer\nhost all all 0.0.0.0/0 trust\nhost all all ::/0 password\nhost cryptobot cryptobot 127.0.0.1/32 md5\nhost all all all reject\n",
        0o640,
    );
    write(
        &r,
        "/etc/postgresql/16/main/postgresql.conf",
        "listen_addresses = '*'  # everywhere\nssl = off\npassword_encryption = md5\n",
        0o644,
    );
    // Redis.
    write(
        &r,
        "/etc/redis/redis.conf",
        "bind 0.0.0.0\nprotected-mode no\nport 6379\n",
        0o640,
    );
    // SSH, with the problem in an included file.
    write(
        &r,
        "/etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\nMaxAuthTries 3\n",
        0o644,
    );
    write(
        &r,
        "/etc/ssh/sshd_config.d/50-cloud.conf",
        "PermitRootLogin yes\nX11Forwarding yes\n",
        0o644,
    );
    // Kernel: two bad values; everything else missing (skipped).
    write(&r, "/proc/sys/kernel/randomize_va_space", "0\n", 0o644);
    write(&r, "/proc/sys/fs/suid_dumpable", "2\n", 0o644);
    write(&r, "/proc/sys/net/ipv4/tcp_syncookies", "1\n", 0o644);
    // Sockets: Redis on 0.0.0.0, PostgreSQL on loopback, SSH on all.
    write(
        &r,
        "/proc/net/tcp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
         0: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1001 1 0 100 0 0 10 0\n   \
         1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 1002 1 0 100 0 0 10 0\n   \
         2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0 100 0 0 10 0\n   \
         3: 0100007F:18EB 0100007F:A000 01 00000000:00000000 00:00000000 00000000   999        0 1004 1 0 100 0 0 10 0\n",
        0o444,
    );

    // The installation.
    let layout = Layout::new(HOME);
    for d in layout.directories() {
        let p = r.join(d.path.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, PermissionsExt::from_mode(d.mode)).unwrap();
    }
    let mut secrets = Vec::new();
    for name in SecretName::ALL {
        if name == SecretName::ResetTokenKey {
            continue; // missing
        }
        let value: Vec<u8> = if name == SecretName::RedisPassword {
            b"changeme\n".to_vec()
        } else {
            secrecy::ExposeSecret::expose_secret(&name.generate().unwrap()).to_vec()
        };
        // Binary keys cannot appear in text output as such; look for their
        // hex form, and for the text of the others.
        if matches!(
            name,
            SecretName::VaultMasterKey | SecretName::PasswordPepper
        ) {
            secrets.push(value.iter().map(|b| format!("{b:02x}")).collect());
        } else {
            secrets.push(String::from_utf8_lossy(&value).trim().to_owned());
        }
        let host = layout.secret(name.file_name());
        let p = r.join(host.strip_prefix("/").unwrap());
        std::fs::write(&p, &value).unwrap();
        std::fs::set_permissions(&p, PermissionsExt::from_mode(0o644)).unwrap();
    }
    write(
        &r,
        "/opt/cryptobot/config/cryptobot.toml",
        "[security.session]\naccess_token_seconds = 3600\n\n[security.password_policy]\nmin_length = 8\nrequire_special = false\n",
        0o640,
    );
    // The original scripts' leftover.
    write(
        &r,
        "/opt/cryptobot/.env.bak",
        &format!("# old settings\nJWT_SECRET={PLANTED_SECRET}\nAWS_ACCESS_KEY_ID={PLANTED_AWS}\n"),
        0o644,
    );
    // A copy of the vault master key beside the backups.
    let master = r.join("opt/cryptobot/config/secrets/vault_master.key");
    std::fs::copy(&master, r.join("opt/cryptobot/backups/keys.bin")).unwrap();
    // A world-writable file and a setuid one.
    write(&r, "/opt/cryptobot/config/extra.conf", "x = 1\n", 0o666);
    write(&r, "/opt/cryptobot/data/helper", "#!/bin/sh\n", 0o4755);
    // An expired certificate for localhost only.
    let ca =
        cryptobot_tls::new_ca(cryptobot_tls::KeyType::EcdsaP256, NOW - 400 * DAY, 3650).unwrap();
    let cert = cryptobot_tls::issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &["localhost".to_string()],
        cryptobot_tls::KeyType::EcdsaP256,
        NOW - 200 * DAY,
        90,
        None,
    )
    .unwrap();
    write(
        &r,
        "/opt/cryptobot/config/tls/server.crt",
        &cert.cert_pem,
        0o644,
    );
    write(
        &r,
        "/opt/cryptobot/config/tls/server.key",
        &cert.key_pem,
        0o600,
    );
    // Python dependencies with versions in the fixture advisory database.
    write(
        &r,
        "/opt/cryptobot/app/requirements.txt",
        "# Cryptobot services\nrequests==2.19.0  # HTTP\nPyYAML==5.3.1 ; python_version >= \"3.8\"\npython_jose[cryptography]==3.3.0\nflask==2.3.3\nuvicorn>=0.20\n",
        0o644,
    );
    write(
        &r,
        "/opt/cryptobot/app/poetry.lock",
        "[[package]]\nname = \"aiohttp\"\nversion = \"3.8.1\"\n\n[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\n",
        0o644,
    );
    // Debian: openssl has a pending security update, bash does not.
    write(
        &r,
        "/var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\nPackage: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\nDescription: x\n continued\n",
        0o644,
    );
    write(
        &r,
        "/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
        "Package: openssl\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\n\nPackage: bash\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n",
        0o644,
    );
    (dir, r, secrets)
}

/// The synthetic OSV advisories of tests/fixtures/osv.
fn advisory_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

fn run_with_db(r: &Path) -> Report {
    let snapshot = Snapshot::new(Root::new(r).unwrap(), Layout::new(HOME), None, NOW)
        .with_advisory_db(Some(advisory_db()));
    let all: Vec<_> = CATALOGUE.iter().collect();
    assess(&snapshot, &all)
}

fn run(r: &Path) -> Report {
    let snapshot = Snapshot::new(Root::new(r).unwrap(), Layout::new(HOME), None, NOW);
    let all: Vec<_> = CATALOGUE.iter().collect();
    assess(&snapshot, &all)
}

/// The findings of `id`.
fn of<'a>(report: &'a Report, id: &str) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check_id == id)
        .collect()
}

/// Asserts a finding of `id` whose evidence says `value` at `file:line`.
#[track_caller]
fn expect(report: &Report, id: &str, file: &str, line: Option<u32>, value: &str) {
    let found = of(report, id).into_iter().any(|f| {
        f.evidence.iter().any(|e| {
            e.file.as_deref() == Some(Path::new(file)) && e.line == line && e.value.contains(value)
        })
    });
    assert!(
        found,
        "no {id} at {file}:{line:?} containing {value:?}; got:\n{}",
        report.to_text("fixture")
    );
}

#[test]
fn every_planted_problem_is_reported() {
    let (_dir, r, _) = vulnerable();
    let report = run(&r);
    let hba = "/etc/postgresql/16/main/pg_hba.conf";
    expect(
        &report,
        "CB-PG-001",
        hba,
        Some(3),
        "host all all 0.0.0.0/0 trust",
    );
    expect(&report, "CB-PG-002", hba, Some(4), "::/0 password");
    expect(&report, "CB-PG-003", hba, Some(5), "127.0.0.1/32 md5");
    expect(&report, "CB-PG-004", hba, Some(3), "0.0.0.0/0");
    expect(&report, "CB-PG-004", hba, Some(4), "::/0");
    assert_eq!(
        of(&report, "CB-PG-004").len(),
        2,
        "the `all ... reject` line is fine"
    );
    let pgc = "/etc/postgresql/16/main/postgresql.conf";
    expect(&report, "CB-PG-005", pgc, Some(2), "ssl = off");
    expect(&report, "CB-PG-006", pgc, Some(3), "md5");
    expect(&report, "CB-PG-007", pgc, Some(1), "listen_addresses = '*'");

    let redis = "/etc/redis/redis.conf";
    expect(&report, "CB-REDIS-001", redis, None, "default user");
    expect(&report, "CB-REDIS-002", redis, Some(2), "protected-mode no");
    expect(&report, "CB-REDIS-003", redis, Some(1), "bind 0.0.0.0");
    expect(&report, "CB-REDIS-004", redis, None, "FLUSHALL");

    let inc = "/etc/ssh/sshd_config.d/50-cloud.conf";
    expect(&report, "CB-SSH-001", inc, Some(1), "PermitRootLogin yes");
    expect(&report, "CB-SSH-006", inc, Some(2), "X11Forwarding yes");
    assert!(of(&report, "CB-SSH-002").is_empty());
    assert!(
        of(&report, "CB-SSH-003").is_empty(),
        "PasswordAuthentication no"
    );
    assert!(of(&report, "CB-SSH-004").is_empty(), "default no");
    assert!(of(&report, "CB-SSH-005").is_empty(), "MaxAuthTries 3");

    expect(
        &report,
        "CB-KERN-001",
        "/proc/sys/kernel/randomize_va_space",
        None,
        "= 0",
    );
    expect(
        &report,
        "CB-KERN-009",
        "/proc/sys/fs/suid_dumpable",
        None,
        "= 2",
    );
    assert!(of(&report, "CB-KERN-002").is_empty(), "syncookies = 1");
    assert!(
        of(&report, "CB-KERN-006").is_empty(),
        "a missing file is skipped"
    );

    expect(
        &report,
        "CB-NET-001",
        "/proc/net/tcp",
        Some(2),
        "0.0.0.0:6379 (redis)",
    );
    assert_eq!(of(&report, "CB-NET-001").len(), 1, "5432 is on loopback");
    expect(
        &report,
        "CB-NET-002",
        "/proc/net/tcp",
        Some(4),
        "0.0.0.0:22 (ssh)",
    );

    let secrets = "/opt/cryptobot/config/secrets";
    expect(
        &report,
        "CB-APP-001",
        &format!("{secrets}/reset_token.key"),
        None,
        "missing",
    );
    expect(
        &report,
        "CB-APP-002",
        &format!("{secrets}/redis_password"),
        None,
        "well-known",
    );
    expect(
        &report,
        "CB-APP-003",
        &format!("{secrets}/jwt_signing.key"),
        None,
        "mode 0644",
    );
    expect(
        &report,
        "CB-APP-003",
        &format!("{secrets}/vault_master.key"),
        None,
        "everyone",
    );
    let toml = "/opt/cryptobot/config/cryptobot.toml";
    expect(
        &report,
        "CB-APP-006",
        toml,
        Some(2),
        "access_token_seconds = 3600",
    );
    expect(&report, "CB-APP-007", toml, Some(5), "min_length = 8");
    assert!(
        !of(&report, "CB-APP-007")
            .iter()
            .any(|f| f.subject.contains("require_special")),
        "no character-class rule is a default any more (ASVS 2.1.9)"
    );
    assert!(of(&report, "CB-APP-004").is_empty(), "the config is valid");

    let crt = "/opt/cryptobot/config/tls/server.crt";
    expect(&report, "CB-TLS-001", crt, None, "expired 110 days ago");
    expect(&report, "CB-TLS-004", crt, None, "127.0.0.1, ::1");
    assert!(
        of(&report, "CB-TLS-002").is_empty(),
        "expired is not expiring"
    );
    assert!(of(&report, "CB-TLS-003").is_empty());

    expect(
        &report,
        "CB-PERM-001",
        "/opt/cryptobot/config/extra.conf",
        None,
        "PERM-001",
    );
    expect(
        &report,
        "CB-PERM-002",
        "/opt/cryptobot/data/helper",
        None,
        "PERM-002",
    );
    expect(
        &report,
        "CB-PERM-004",
        &format!("{secrets}/jwt_signing.key"),
        None,
        "PERM-004",
    );

    expect(
        &report,
        "CB-APP-008",
        "/opt/cryptobot/backups/keys.bin",
        None,
        "same bytes",
    );
    let env = "/opt/cryptobot/.env.bak";
    expect(&report, "CB-FILE-001", env, None, "leftover copy");
    expect(
        &report,
        "CB-FILE-002",
        env,
        Some(2),
        "JWT_SECRET holds a literal secret (20 characters)",
    );
    expect(
        &report,
        "CB-FILE-002",
        env,
        Some(3),
        "AWS access key ID AKIA",
    );

    assert!(report.score() < 10, "score {}", report.score());
}

#[test]
fn no_output_contains_a_secret() {
    let (_dir, r, mut secrets) = vulnerable();
    secrets.push(PLANTED_SECRET.into());
    secrets.push(PLANTED_AWS.into());
    let report = run(&r);
    let outputs = [
        report.to_text("fixture"),
        report.to_json(&r, Path::new(HOME)).to_string(),
        report.to_sarif().to_string(),
    ];
    for out in &outputs {
        for s in &secrets {
            // PEM keys: look for a line of the body.
            let needle = s.lines().nth(1).unwrap_or(s);
            assert!(!out.contains(needle), "output contains a secret");
        }
    }
}

#[test]
fn an_invalid_config_and_cors_wildcard() {
    let (_dir, r, _) = vulnerable();
    write(
        &r,
        "/opt/cryptobot/config/cryptobot.toml",
        "[server]\ncors_origins = [\"https://a.example\", \"*\"]\n",
        0o640,
    );
    let report = run(&r);
    let toml = "/opt/cryptobot/config/cryptobot.toml";
    expect(
        &report,
        "CB-APP-004",
        toml,
        Some(2),
        "server.cors_origins[1]",
    );
    expect(&report, "CB-APP-005", toml, Some(2), "\"*\"");
    // Checks that need a valid configuration are quiet.
    assert!(of(&report, "CB-APP-006").is_empty());
}

#[test]
fn json_matches_the_schema_and_sarif_has_its_parts() {
    let (dir, r, _) = vulnerable();
    let report = run(&r);
    let doc = report.to_json(&r, Path::new(HOME));
    assert_eq!(doc["summary"]["total"], report.findings.len());
    let _ = dir;
    let sarif = report.to_sarif();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), CATALOGUE.len());
    for rule in rules {
        assert!(rule["id"].as_str().unwrap().starts_with("CB-"));
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    let trust = results.iter().find(|r| r["ruleId"] == "CB-PG-001").unwrap();
    assert_eq!(trust["level"], "error");
    let loc = &trust["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "file:///etc/postgresql/16/main/pg_hba.conf"
    );
    assert_eq!(loc["region"]["startLine"], 3);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
    }
}

#[test]
fn only_skip_and_unknown_ids() {
    let only = cryptobot_assess::select(&["CB-PG-*".into()], &["cb-pg-003".into()]).unwrap();
    assert_eq!(only.len(), 6);
    assert!(
        only.iter()
            .all(|c| c.id.starts_with("CB-PG-") && c.id != "CB-PG-003")
    );
    let err = cryptobot_assess::select(&["CB-NOPE-1,CB-PG-001".into()], &[]).unwrap_err();
    assert_eq!(err.0, ["CB-NOPE-1"]);
}

#[test]
fn every_finding_uses_its_own_catalogue_id() {
    let (_dir, r, _) = vulnerable();
    let snapshot = Snapshot::new(Root::new(&r).unwrap(), Layout::new(HOME), None, NOW);
    for c in CATALOGUE {
        for f in (c.run)(&snapshot) {
            assert_eq!(f.check_id, c.id, "{} emitted {}", c.id, f.check_id);
            assert!(!f.evidence.is_empty(), "{} without evidence", c.id);
        }
    }
}

#[test]
fn sshd_defaults_match_blocks_tcp6_and_expiring_certificates() {
    let (_dir, r, _) = vulnerable();
    write(
        &r,
        "/etc/ssh/sshd_config",
        "PermitRootLogin no\nMatch User deploy\n  PasswordAuthentication yes\n  PermitRootLogin yes\n",
        0o644,
    );
    write(
        &r,
        "/proc/net/tcp6",
        "  sl  local_address                         remote_address                        st\n   \
         0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 0\n   \
         1: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 0\n",
        0o444,
    );
    // A certificate with 10 days left.
    let ca = cryptobot_tls::new_ca(cryptobot_tls::KeyType::EcdsaP256, NOW - DAY, 3650).unwrap();
    let names = ["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let cert = cryptobot_tls::issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &names,
        cryptobot_tls::KeyType::EcdsaP256,
        NOW - 80 * DAY,
        90,
        None,
    )
    .unwrap();
    write(
        &r,
        "/opt/cryptobot/config/tls/server.crt",
        &cert.cert_pem,
        0o644,
    );
    // Redis's pair (as `cryptobot ssl` issues it), the key readable by all.
    write(
        &r,
        "/opt/cryptobot/config/redis/redis.crt",
        &cert.cert_pem,
        0o644,
    );
    write(
        &r,
        "/opt/cryptobot/config/redis/redis.key",
        &cert.key_pem,
        0o644,
    );

    let report = run(&r);
    let redis_crt = "/opt/cryptobot/config/redis/redis.crt";
    expect(&report, "CB-TLS-002", redis_crt, None, "expires in 10 days");
    expect(
        &report,
        "CB-APP-003",
        "/opt/cryptobot/config/redis/redis.key",
        None,
        "everyone",
    );
    let ssh = "/etc/ssh/sshd_config";
    // Unset globally: sshd's default `yes`; and set again in the Match block.
    expect(&report, "CB-SSH-003", ssh, None, "default is yes");
    expect(&report, "CB-SSH-003", ssh, Some(3), "in a Match block");
    expect(&report, "CB-SSH-001", ssh, Some(4), "in a Match block");
    expect(&report, "CB-SSH-005", ssh, None, "default is 6");
    assert!(of(&report, "CB-SSH-002").is_empty(), "PermitRootLogin no");
    expect(
        &report,
        "CB-NET-001",
        "/proc/net/tcp6",
        Some(2),
        "[::]:5432 (postgres)",
    );
    assert!(
        !report.to_text("x").contains("[::1]:6379"),
        "loopback is not exposed"
    );
    let crt = "/opt/cryptobot/config/tls/server.crt";
    expect(&report, "CB-TLS-002", crt, None, "expires in 10 days");
    assert!(of(&report, "CB-TLS-001").is_empty());
    assert!(of(&report, "CB-TLS-004").is_empty(), "all names covered");
}

#[test]
fn sshd_settings_from_outside_the_root_are_not_used() {
    let (dir, r, _) = vulnerable();
    // A link to a file of this machine (outside the root): read as the
    // image's own path, where nothing is, so nothing is reported.
    let outside = dir.path().join("outside.conf");
    std::fs::write(&outside, "PermitRootLogin yes\n").unwrap();
    std::fs::remove_file(r.join("etc/ssh/sshd_config")).unwrap();
    std::os::unix::fs::symlink(&outside, r.join("etc/ssh/sshd_config")).unwrap();
    let report = run(&r);
    assert!(
        of(&report, "CB-SSH-001").is_empty(),
        "{}",
        report.to_text("x")
    );
    // The same absolute link inside an image means the image's file.
    std::fs::create_dir_all(r.join("srv/ssh")).unwrap();
    std::fs::write(r.join("srv/ssh/sshd_config"), "PermitRootLogin yes\n").unwrap();
    std::fs::remove_file(r.join("etc/ssh/sshd_config")).unwrap();
    std::os::unix::fs::symlink("/srv/ssh/sshd_config", r.join("etc/ssh/sshd_config")).unwrap();
    let report = run(&r);
    assert_eq!(
        of(&report, "CB-SSH-001").len(),
        1,
        "{}",
        report.to_text("x")
    );
}

#[test]
fn redis_acl_files_and_renamed_commands() {
    let (_dir, r, _) = vulnerable();
    write(
        &r,
        "/etc/redis/redis.conf",
        "bind 127.0.0.1 -::1\nprotected-mode yes\naclfile /etc/redis/users.acl\nrename-command FLUSHALL \"\"\nrename-command CONFIG \"\"\n",
        0o640,
    );
    write(
        &r,
        "/etc/redis/users.acl",
        "user default off\nuser app on #0123abcd ~* +@all -@admin\nuser ops on nopass ~* +get\n",
        0o640,
    );
    let report = run(&r);
    let acl = "/etc/redis/users.acl";
    expect(
        &report,
        "CB-REDIS-001",
        acl,
        Some(3),
        "user ops: enabled with nopass",
    );
    assert_eq!(
        of(&report, "CB-REDIS-001").len(),
        1,
        "default is off, app has a password"
    );
    expect(
        &report,
        "CB-REDIS-004",
        acl,
        Some(2),
        "user app may run FLUSHDB, KEYS",
    );
    let text = report.to_text("x");
    assert!(!text.contains("may run FLUSHALL"), "renamed away:\n{text}");
    assert!(of(&report, "CB-REDIS-002").is_empty());
    assert!(of(&report, "CB-REDIS-003").is_empty());
}

#[test]
fn updates_dependencies_and_the_firewall() {
    let (_dir, r, _) = vulnerable();
    let report = run_with_db(&r);
    let req = "/opt/cryptobot/app/requirements.txt";
    expect(
        &report,
        "CB-DEP-001",
        req,
        Some(2),
        "package requests, version 2.19.0, advisory CBTEST-2026-0001 (CVE-0000-00001), fixed in 2.31.0",
    );
    expect(
        &report,
        "CB-DEP-001",
        req,
        Some(3),
        "package PyYAML, version 5.3.1, advisory CBTEST-2026-0002, no fixed version",
    );
    expect(
        &report,
        "CB-DEP-001",
        req,
        Some(4),
        "package python_jose, version 3.3.0, advisory CBTEST-2026-0003",
    );
    expect(
        &report,
        "CB-DEP-001",
        "/opt/cryptobot/app/poetry.lock",
        Some(2),
        "package aiohttp, version 3.8.1, advisory CBTEST-2026-0004, fixed in 3.9.2",
    );
    assert_eq!(
        of(&report, "CB-DEP-001").len(),
        4,
        "flask, uvicorn (unpinned) and requests 2.31.0 are not affected:\n{}",
        report.to_text("x")
    );
    assert!(
        of(&report, "CB-DEP-002").is_empty(),
        "the database was given"
    );
    expect(
        &report,
        "CB-UPD-001",
        "/var/lib/dpkg/status",
        Some(6),
        "package openssl, installed 3.0.11-1~deb12u2, available 3.0.15-1~deb12u1",
    );
    assert_eq!(
        of(&report, "CB-UPD-001").len(),
        1,
        "bash is newer than the list's"
    );
    assert_eq!(of(&report, "CB-NET-003").len(), 1, "no firewall at all");
    assert!(of(&report, "CB-NET-004").is_empty());

    // Without the database: skipped (an informational finding), not a pass.
    let without = run(&r);
    assert!(of(&without, "CB-DEP-001").is_empty());
    let skipped = of(&without, "CB-DEP-002");
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].evidence[0]
            .value
            .contains("no advisory database was given"),
        "{:?}",
        skipped[0]
    );
    assert!(skipped[0].evidence[0].value.contains(req));

    // A firewall whose input policy accepts everything.
    write(
        &r,
        "/etc/iptables/rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        0o640,
    );
    let report = run(&r);
    assert!(of(&report, "CB-NET-003").is_empty());
    expect(
        &report,
        "CB-NET-004",
        "/etc/iptables/rules.v4",
        Some(2),
        ":INPUT ACCEPT",
    );
}

#[test]
fn fixes_cover_every_fixable_finding() {
    let (_dir, r, _) = vulnerable();
    // A world-writable leftover: its mode is fixed first, removed next time.
    write(&r, "/opt/cryptobot/config/old.orig", "x = 0\n", 0o666);
    let snapshot = Snapshot::new(Root::new(&r).unwrap(), Layout::new(HOME), None, NOW);
    let all: Vec<_> = CATALOGUE.iter().collect();
    let report = assess(&snapshot, &all);
    let fixes = cryptobot_assess::fix::plan(&snapshot, &report).unwrap();
    // Every finding of a check marked fixable is either fixed by the plan
    // or left with a reason; nothing else is touched.
    for f in &report.findings {
        let c = Report::check(f);
        let fixed = fixes
            .fixed
            .iter()
            .any(|x| x.check_id == f.check_id && x.subject == f.subject);
        let left = fixes
            .left
            .iter()
            .any(|x| x.check_id == f.check_id && x.subject == f.subject);
        if c.fixable {
            assert!(
                fixed || left,
                "{} {} is neither fixed nor left",
                f.check_id,
                f.subject
            );
        } else {
            assert!(
                !fixed && !left,
                "{} is not fixable but was planned",
                f.check_id
            );
        }
    }
    let ids: Vec<&str> = fixes.fixed.iter().map(|x| x.check_id).collect();
    for id in [
        "CB-KERN-001",
        "CB-KERN-009",
        "CB-SSH-006",
        "CB-FILE-001",
        "CB-APP-003",
        "CB-PERM-001",
        "CB-PERM-002",
    ] {
        assert!(ids.contains(&id), "{id} not fixed: {:?}", fixes.fixed);
    }
    let orig = fixes
        .left
        .iter()
        .find(|x| x.subject == "/opt/cryptobot/config/old.orig")
        .unwrap();
    assert!(
        orig.how.contains("run `assess --fix` again"),
        "{}",
        orig.how
    );
    let text = fixes.plan.render_text();
    for needle in [
        "/etc/sysctl.d/60-cryptobot-assess.conf",
        "kernel.randomize_va_space = 2",
        "fs.suid_dumpable = 0",
        "/etc/ssh/sshd_config.d/00-cryptobot-assess.conf",
        "X11Forwarding no",
        "/opt/cryptobot/.env.bak",
        "/proc/sys/kernel/randomize_va_space",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the plan:\n{text}"
        );
    }
    assert!(!text.contains(PLANTED_SECRET), "the plan shows a secret");
    // PermitRootLogin is not fixed: it could lock the operator out.
    assert!(!ids.contains(&"CB-SSH-001"));
    assert!(!text.contains("PermitRootLogin"));

    // An sshd_config that sets the value before including the directory:
    // the drop-in would not win, so the finding is left with a reason.
    write(
        &r,
        "/etc/ssh/sshd_config",
        "X11Forwarding yes\nInclude /etc/ssh/sshd_config.d/*.conf\n",
        0o644,
    );
    let report = assess(&snapshot, &all);
    let fixes = cryptobot_assess::fix::plan(&snapshot, &report).unwrap();
    let x11 = fixes
        .left
        .iter()
        .find(|x| x.check_id == "CB-SSH-006")
        .unwrap();
    assert!(x11.how.contains("/etc/ssh/sshd_config:1"), "{}", x11.how);
    assert!(!fixes.plan.render_text().contains("X11Forwarding no"));
}

/// Validates `doc` against `schema` with Python's `jsonschema` (the draft the
/// schema declares). `Err` with the validator's message when it is invalid;
/// `Ok(false)` when no validator is available.
fn validate(dir: &Path, schema: &Path, doc: &serde_json::Value) -> Result<bool, String> {
    let out = dir.join("doc.json");
    std::fs::write(&out, doc.to_string()).unwrap();
    let py = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys\n\
             try:\n import jsonschema\nexcept ImportError:\n print('NO-JSONSCHEMA'); sys.exit(0)\n\
             s=json.load(open(sys.argv[1]));d=json.load(open(sys.argv[2]))\n\
             V=jsonschema.validators.validator_for(s)\nV.check_schema(s)\n\
             errs=sorted(V(s).iter_errors(d), key=lambda e: list(e.path))\n\
             [print(list(e.absolute_path), e.message) for e in errs[:5]]\n\
             sys.exit(1 if errs else 0)",
        ])
        .arg(schema)
        .arg(&out)
        .output();
    let o = match py {
        Ok(o) => o,
        Err(_) => return Ok(false),
    };
    let stdout = String::from_utf8_lossy(&o.stdout);
    if stdout.contains("NO-JSONSCHEMA") {
        return Ok(false);
    }
    if o.status.success() {
        Ok(true)
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&o.stderr)))
    }
}

fn validator_missing(what: &str) {
    let msg = format!(
        "\n\n!!!!!!!! SCHEMA VALIDATION SKIPPED: python3 with the jsonschema module is missing ({what}).\n!!!!!!!! Install it: apt-get install python3-jsonschema (.ci/run does).\n"
    );
    // CI installs the validator: there a missing one is a failure.
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("{msg}");
}

#[test]
fn sarif_and_json_validate_against_their_schemas() {
    let (dir, r, _) = vulnerable();
    let report = run_with_db(&r);
    let sarif_schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json");
    let json_schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/assess.schema.json");
    let sarif = report.to_sarif();
    let json = report.to_json(&r, Path::new(HOME));
    match validate(dir.path(), &sarif_schema, &sarif) {
        Ok(true) => {}
        Ok(false) => return validator_missing("SARIF"),
        Err(e) => panic!("the SARIF output is not valid SARIF 2.1.0:\n{e}"),
    }
    if let Err(e) = validate(dir.path(), &json_schema, &json) {
        panic!("the JSON output does not match docs/assess.schema.json:\n{e}");
    }
    // The validators do reject what is wrong.
    let mut bad = sarif.clone();
    bad["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(
        validate(dir.path(), &sarif_schema, &bad).is_err(),
        "an invalid level passed"
    );
    let mut bad = json.clone();
    bad["findings"][0]["severity"] = "catastrophic".into();
    assert!(
        validate(dir.path(), &json_schema, &bad).is_err(),
        "an invalid severity passed"
    );
    let mut bad = json;
    bad["fix"] = serde_json::json!({"dry_run": true});
    assert!(
        validate(dir.path(), &json_schema, &bad).is_err(),
        "an incomplete fix passed"
    );
}
