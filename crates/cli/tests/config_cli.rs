//! `cryptobot config check|show`, completions and man page, as run by a user.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn home_with_config(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("cb");
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config/cryptobot.toml"), text).unwrap();
    (d, home)
}

fn check_fails(text: &str, line: usize, key: &str) -> String {
    let (_d, home) = home_with_config(text);
    let run = on_home(&home, &["config", "check"]);
    assert_eq!(run.status, 2, "{}", run.both());
    let file = home.join("config/cryptobot.toml");
    let at = format!("{}:{line}:", file.display());
    assert!(run.stderr.contains(&at), "no {at} in:\n{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("`{key}`")),
        "no key {key} in:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix:"), "no fix in:\n{}", run.stderr);
    assert!(run.stdout.is_empty());
    run.stderr
}

#[test]
fn unknown_key() {
    let err = check_fails(
        "[security.session]\nidle_timeout = 10\n",
        2,
        "security.session.idle_timeout",
    );
    assert!(err.contains("idle_timeout_seconds"), "{err}");
}

#[test]
fn wrong_type() {
    check_fails(
        "[security.password_policy]\nmin_length = \"twelve\"\n",
        2,
        "security.password_policy.min_length",
    );
}

#[test]
fn duplicated_port() {
    let err = check_fails(
        "[services.web]\nport = 3000\n[services.data]\nport = 3000\n",
        2,
        "services.web.port",
    );
    assert!(err.contains("services.data"), "{err}");
}

#[test]
fn cors_wildcard() {
    check_fails(
        "[server]\ncors_origins = [\"*\"]\n",
        2,
        "server.cors_origins[0]",
    );
}

#[test]
fn inline_secret() {
    let err = check_fails(
        "[redis]\nurl = \"redis://cryptobot:S3cretValue-xyz@127.0.0.1:6379\"\n",
        2,
        "redis.url",
    );
    assert!(!err.contains("S3cretValue"), "{err}");
}

#[test]
fn environment_override_errors_name_the_variable() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("cb");
    let run = cryptobot_env(
        &["config", "check", "--home", home.to_str().unwrap()],
        &[("CRYPTOBOT_SERVICES__AUTH__PORT", "80x")],
    );
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("CRYPTOBOT_SERVICES__AUTH__PORT"),
        "{}",
        run.stderr
    );
}

#[test]
fn valid_config_and_show_with_sources() {
    let (_d, home) = home_with_config("[security.session]\nidle_timeout_seconds = 600\n");
    let run = on_home(&home, &["config", "check"]).ok();
    assert!(run.stdout.contains("valid"));
    let run = cryptobot_env(
        &["config", "show", "--home", home.to_str().unwrap()],
        &[(
            "CRYPTOBOT_SECURITY__MFA__REQUIRED_FOR_API_KEY_CREATION",
            "false",
        )],
    )
    .ok();
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} not shown:\n{}", run.stdout))
            .to_string()
    };
    assert!(line("security.session.idle_timeout_seconds").contains("cryptobot.toml:2"));
    assert!(
        line("security.mfa.required_for_api_key_creation")
            .contains("CRYPTOBOT_SECURITY__MFA__REQUIRED_FOR_API_KEY_CREATION")
    );
    assert!(line("security.mfa.required_for_api_key_creation").contains("= false"));
    assert!(line("security.password_policy.min_length").ends_with("# default"));
    let json = cryptobot(&[
        "config",
        "show",
        "--format",
        "json",
        "--home",
        home.to_str().unwrap(),
    ])
    .ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(v["settings"].as_array().unwrap().len() > 30);
}

#[test]
fn explicit_missing_config_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.toml");
    let run = cryptobot(&[
        "config",
        "check",
        "--config",
        missing.to_str().unwrap(),
        "--home",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("does not exist"));
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = cryptobot(&["completions", shell]).ok();
        assert!(run.stdout.contains("secure-config"), "{shell}");
    }
    let run = cryptobot(&["man"]).ok();
    assert!(
        run.stdout.contains(".TH cryptobot"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    let d = tempfile::tempdir().unwrap();
    cryptobot(&["man", "--out-dir", d.path().to_str().unwrap()]).ok();
    assert!(d.path().join("cryptobot.1").exists());
    assert!(d.path().join("cryptobot-secure-config.1").exists());
}

#[test]
fn bad_flags_are_usage_errors() {
    let run = cryptobot(&["secure-config", "--format", "yaml"]);
    assert_eq!(run.status, 2);
    let run = cryptobot(&["frobnicate"]);
    assert_eq!(run.status, 2);
}
