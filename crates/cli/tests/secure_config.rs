//! `cryptobot secure-config` run as an operator would, on a temporary home.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;

fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("cb");
    (dir, home)
}

#[test]
fn creates_the_layout_with_the_right_modes() {
    let (_d, home) = fresh();
    let run = on_home(&home, &["secure-config"]).ok();
    for name in SECRETS {
        assert!(run.stdout.contains(name), "{}", run.stdout);
    }
    assert!(run.stdout.contains("generated"));
    let expect = [
        ("config", 0o755),
        ("config/cryptobot.toml", 0o640),
        ("config/secrets", 0o700),
        ("config/tls", 0o700),
        ("config/redis/redis.conf", 0o644),
        ("config/redis/tls.conf", 0o644),
        ("config/postgresql/pg_hba.conf", 0o644),
        ("config/postgresql/pg_ident.conf", 0o644),
        ("config/postgresql/cryptobot.conf", 0o644),
        ("data", 0o700),
        ("logs", 0o750),
        ("backups", 0o700),
    ];
    for (rel, m) in expect {
        assert_eq!(mode(&home.join(rel)), m, "{rel}");
    }
    for name in SECRETS {
        assert_eq!(
            mode(&home.join("config/secrets").join(name)),
            0o600,
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(home.join("config/secrets/vault_master.key"))
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        std::fs::read(home.join("config/secrets/reset_token.key"))
            .unwrap()
            .len(),
        32
    );
    // The generated configuration is valid and the CORS allow-list is set.
    let toml = std::fs::read_to_string(home.join("config/cryptobot.toml")).unwrap();
    assert!(toml.contains("cors_origins = [\"https://localhost:3000\"]"));
    on_home(&home, &["config", "check"]).ok();
}

#[test]
fn jwt_key_is_an_ed25519_pkcs8_key_openssl_reads() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(home.join("config/secrets/jwt_signing.key"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ED25519 Private-Key"));
}

#[test]
fn second_run_changes_nothing() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config"]).ok();
    let before = snapshot(&home);
    let run = on_home(&home, &["secure-config"]).ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert_eq!(
        snapshot(&home),
        before,
        "a second run changed bytes, modes or mtimes"
    );
}

#[test]
fn dry_run_on_an_empty_home_writes_nothing_and_lists_every_file() {
    let (d, home) = fresh();
    let run = on_home(&home, &["secure-config", "--dry-run"]).ok();
    assert!(!home.exists(), "dry run created the home");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    for rel in [
        "config/cryptobot.toml",
        "config/redis/redis.conf",
        "config/redis/tls.conf",
        "config/postgresql/pg_hba.conf",
        "config/postgresql/cryptobot.conf",
        "config/secrets",
        "data",
        "logs",
        "backups",
    ] {
        let p = home.join(rel);
        assert!(
            run.stdout.contains(p.to_str().unwrap()),
            "{rel} missing from:\n{}",
            run.stdout
        );
    }
    for name in SECRETS {
        assert!(run.stdout.contains(name), "{name} missing");
    }
    // JSON dry run too.
    let run = on_home(&home, &["secure-config", "--dry-run", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["dry_run"], true);
    assert!(!home.exists());
}

#[test]
fn weak_secret_is_replaced_strong_is_kept_rotate_replaces() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let pw = home.join("config/secrets/redis_password");

    std::fs::write(&pw, "changeme").unwrap();
    let run = on_home(&home, &["secure-config"]).ok();
    assert!(
        run.stdout.contains("redis_password") && run.stdout.contains("replaced"),
        "{}",
        run.stdout
    );
    let regenerated = std::fs::read(&pw).unwrap();
    assert_ne!(regenerated, b"changeme");
    assert_eq!(regenerated.len(), 32);
    assert_eq!(mode(&pw), 0o600);

    let strong = b"My-Own-Strong-Redis-Passw0rd-2026";
    std::fs::write(&pw, strong).unwrap();
    let run = on_home(&home, &["secure-config"]).ok();
    assert!(run.stdout.contains("kept"), "{}", run.stdout);
    assert_eq!(std::fs::read(&pw).unwrap(), strong);
    // The Redis configuration follows the kept password.
    let conf = std::fs::read_to_string(home.join("config/redis/redis.conf")).unwrap();
    let hash = sha256_hex(strong);
    assert!(conf.contains(&format!("#{hash}")), "{conf}");
    assert!(!conf.contains(std::str::from_utf8(strong).unwrap()));

    let run = on_home(&home, &["secure-config", "--rotate", "redis_password"]).ok();
    assert!(run.stdout.contains("rotated"), "{}", run.stdout);
    assert_ne!(std::fs::read(&pw).unwrap(), strong);
}

fn sha256_hex(data: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn loose_secret_mode_is_tightened() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let key = home.join("config/secrets/reset_token.key");
    let before = std::fs::read(&key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    on_home(&home, &["secure-config"]).ok();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn unknown_rotate_name_is_refused_and_changes_nothing() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let before = snapshot(&home);
    let run = on_home(&home, &["secure-config", "--rotate", "nope"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("--rotate nope") && run.stderr.contains("redis_password"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&home), before);
}

#[test]
fn the_vault_master_key_is_never_replaced() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let before = snapshot(&home);
    let run = on_home(&home, &["secure-config", "--rotate", "vault_master.key"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("unreadable"), "{}", run.stderr);
    std::fs::write(home.join("config/secrets/vault_master.key"), b"short").unwrap();
    let before_weak = snapshot(&home);
    let run = on_home(&home, &["secure-config"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert_eq!(snapshot(&home), before_weak);
    drop(before);
}

#[test]
fn no_secret_reaches_any_output() {
    let (_d, home) = fresh();
    let mut outputs = Vec::new();
    for args in [
        &["secure-config", "-vv"][..],
        &[
            "secure-config",
            "--dry-run",
            "-vv",
            "--rotate",
            "redis_password",
        ],
        &["secure-config", "--format", "json"],
        &[
            "secure-config",
            "-v",
            "--rotate",
            "postgres_password",
            "--rotate",
            "jwt_signing.key",
        ],
        &["config", "show"],
        &["config", "show", "--format", "json"],
        &["config", "check", "-vv"],
        &["rollback", "--dry-run", "-vv"],
        &["rollback", "--dry-run", "--format", "json"],
    ] {
        let run = on_home(&home, args);
        outputs.push((
            args.join(" "),
            run.raw.stdout.clone(),
            run.raw.stderr.clone(),
        ));
    }
    let needles = secret_needles(&home);
    assert!(needles.len() >= 5);
    for (args, stdout, stderr) in &outputs {
        for n in &needles {
            assert!(
                !contains(stdout, n),
                "a secret appeared in stdout of `{args}`"
            );
            assert!(
                !contains(stderr, n),
                "a secret appeared in stderr of `{args}`"
            );
        }
    }
    let show = on_home(&home, &["config", "show"]).ok();
    assert!(
        show.stdout.contains("secrets.redis_password = [redacted]"),
        "{}",
        show.stdout
    );
}

#[test]
fn secrets_directory_symlink_is_refused_and_nothing_is_written() {
    let (d, home) = fresh();
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(home.join("config")).unwrap();
    symlink(&elsewhere, home.join("config/secrets")).unwrap();
    let before = snapshot(d.path());
    let run = on_home(&home, &["secure-config"]);
    assert_ne!(run.status, 0);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(run.stderr.contains("config/secrets"), "{}", run.stderr);
    assert_eq!(snapshot(d.path()), before, "something was written");
}

#[test]
fn secret_file_symlink_is_refused_and_nothing_is_written() {
    let (d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let target = d.path().join("stolen");
    std::fs::write(&target, "changeme").unwrap();
    let pw = home.join("config/secrets/redis_password");
    std::fs::remove_file(&pw).unwrap();
    symlink(&target, &pw).unwrap();
    let before = snapshot(d.path());
    let run = on_home(&home, &["secure-config"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stderr.contains("symbolic link") && run.stderr.contains("redis_password"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(d.path()), before, "something was written");
    assert_eq!(std::fs::read(&target).unwrap(), b"changeme");
}

#[test]
fn rollback_restores_the_previous_state() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    let conf = home.join("config/cryptobot.toml");
    std::fs::write(&conf, "[security.session]\nidle_timeout_seconds = 600\n").unwrap();
    let redis = home.join("config/redis/redis.conf");
    std::fs::write(&redis, "# hand edited\n").unwrap();
    let before = std::fs::read(&redis).unwrap();
    let run = on_home(&home, &["secure-config"]).ok();
    assert!(!run.stdout.contains("nothing to do"));
    assert_ne!(std::fs::read(&redis).unwrap(), before);
    on_home(&home, &["rollback"]).ok();
    assert_eq!(std::fs::read(&redis).unwrap(), before);
    // The first run created the installation; rolling it back removes it.
    on_home(&home, &["rollback"]).ok();
    assert!(!home.join("config/secrets/redis_password").exists());
}

#[test]
fn works_under_a_root_prefix_with_host_paths_in_rendered_files() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let run = cryptobot(&[
        "secure-config",
        "--root",
        root.to_str().unwrap(),
        "--home",
        "/opt/cryptobot",
    ])
    .ok();
    assert!(run.stdout.contains("/opt/cryptobot"));
    let inc = std::fs::read_to_string(root.join("opt/cryptobot/config/postgresql/cryptobot.conf"))
        .unwrap();
    assert!(
        inc.contains("hba_file = '/opt/cryptobot/config/postgresql/pg_hba.conf'"),
        "{inc}"
    );
    assert!(!inc.contains(root.to_str().unwrap()));
    let run = cryptobot(&[
        "secure-config",
        "--root",
        root.to_str().unwrap(),
        "--home",
        "/opt/cryptobot",
    ])
    .ok();
    assert!(run.stdout.contains("nothing to do"));
    // A relative home makes no sense for another system.
    let run = cryptobot(&[
        "secure-config",
        "--root",
        root.to_str().unwrap(),
        "--home",
        "opt/cb",
    ]);
    assert_eq!(run.status, 2);
    // A root that does not exist is an input error and creates nothing.
    let missing = root.join("missing");
    let run = cryptobot(&[
        "secure-config",
        "--root",
        missing.to_str().unwrap(),
        "--home",
        "/opt/cb",
    ]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(!missing.exists());
}

#[test]
fn invalid_configuration_stops_secure_config_before_any_change() {
    let (_d, home) = fresh();
    on_home(&home, &["secure-config", "-q"]).ok();
    std::fs::write(
        home.join("config/cryptobot.toml"),
        "[server]\ncors_origins = [\"*\"]\n",
    )
    .unwrap();
    let before = snapshot(&home);
    let run = on_home(&home, &["secure-config"]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("cors_origins"), "{}", run.stderr);
    assert_eq!(snapshot(&home), before);
}

#[allow(dead_code)]
fn unused(_: &Path) {}
