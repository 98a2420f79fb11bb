#![allow(clippy::unwrap_used)]
use std::path::Path;

use cryptobot_config::{Config, ConfigError, Exposure, Source};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/cb.toml"), &[])
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_toml(text, Path::new("/etc/cb.toml"), &env)
}

fn one_problem(text: &str) -> cryptobot_config::Problem {
    let err = load(text).expect_err("config should be refused");
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    problems[0].clone()
}

fn at_line(p: &cryptobot_config::Problem) -> usize {
    match &p.source {
        Source::File { line, .. } => *line,
        other => panic!("expected a file location, got {other:?}"),
    }
}

#[test]
fn empty_file_gives_the_guides_defaults() {
    let c = load("").unwrap();
    // Passwords and session lifetime follow OWASP ASVS 4.0.3 L2 (2.1.1,
    // 2.1.9, 2.1.10, 3.3.2) rather than the guide's composition rules and
    // 90-day expiry.
    assert_eq!(c.security.password_policy.min_length, 12);
    assert!(!c.security.password_policy.require_special);
    assert!(!c.security.password_policy.require_uppercase);
    assert_eq!(c.security.password_policy.max_age_days, 0);
    assert_eq!(c.security.password_policy.prevent_reuse, 0);
    assert_eq!(c.security.session.expiry_seconds, 3600);
    assert_eq!(c.security.session.refresh_expiry_seconds, 43_200);
    assert_eq!(c.security.session.idle_timeout_seconds, 1800);
    assert_eq!(c.security.session.max_sessions_per_user, 5);
    assert_eq!(c.security.rate_limiting.login_attempts_per_minute, 5);
    assert_eq!(c.security.rate_limiting.api_requests_per_minute, 60);
    assert_eq!(c.security.rate_limiting.api_key_requests_per_minute, 120);
    assert_eq!(c.security.rate_limiting.burst, 20);
    assert_eq!(c.security.rate_limiting.login_burst, 5);
    assert_eq!(c.redis.ca_file, None);
    assert!(c.security.mfa.required_for("admin"));
    assert!(c.security.mfa.required_for_api_key_creation);
    assert_eq!(c.security.mfa.totp_issuer, "Cryptobot");
    assert_eq!(c.security.api_keys.rotation_days, 90);
    assert_eq!(c.security.api_keys.max_keys_per_user, 5);
    let ports: Vec<u16> = c.services.iter().iter().map(|(_, s)| s.port).collect();
    assert_eq!(ports, [8000, 8001, 8010, 8020, 8030, 3000, 5432, 6379]);
    assert_eq!(c.server.cors_origins, ["https://localhost:3000"]);
    assert_eq!(
        c.source_of("security.session.expiry_seconds"),
        Source::Default
    );
}

#[test]
fn partial_tables_merge_onto_defaults_and_remember_lines() {
    let c = load("# comment\n[services.data]\nexposure = \"public\"\n\n[security.session]\nidle_timeout_seconds = 600\n").unwrap();
    assert_eq!(c.services.data.exposure, Exposure::Public);
    assert_eq!(c.services.data.port, 8001);
    assert_eq!(c.security.session.idle_timeout_seconds, 600);
    assert_eq!(
        c.source_of("security.session.idle_timeout_seconds"),
        Source::File {
            path: "/etc/cb.toml".into(),
            line: 6
        }
    );
    assert_eq!(c.source_of("services.data.port"), Source::Default);
}

#[test]
fn unknown_key_names_file_line_key_and_fix() {
    let p = one_problem("[server]\nbind = \"127.0.0.1:8000\"\ncors_origin = []\n");
    assert_eq!(p.key, "server.cors_origin");
    assert_eq!(at_line(&p), 3);
    assert!(p.message.contains("unknown key"));
    assert!(p.fix.contains("cors_origins"), "{}", p.fix);
    let shown = p.to_string();
    assert!(
        shown.starts_with("/etc/cb.toml:3: key `server.cors_origin`"),
        "{shown}"
    );
}

#[test]
fn unknown_section() {
    let p = one_problem("\n[securty]\nx = 1\n");
    assert_eq!(p.key, "securty");
    assert_eq!(at_line(&p), 2);
}

#[test]
fn wrong_type_does_not_echo_the_value() {
    let p = one_problem("[services.auth]\nport = \"s3cr3t-value\"\n");
    assert_eq!(p.key, "services.auth.port");
    assert_eq!(at_line(&p), 2);
    assert!(p.message.contains("wrong type"), "{}", p.message);
    assert!(!p.to_string().contains("s3cr3t-value"));
}

#[test]
fn duplicated_port() {
    let p = one_problem("[services.trade]\nport = 8000\n");
    assert_eq!(p.key, "services.trade.port");
    assert_eq!(at_line(&p), 2);
    assert!(p.message.contains("services.auth"), "{}", p.message);
}

#[test]
fn port_zero_and_out_of_range() {
    let p = one_problem("[services.web]\nport = 0\n");
    assert_eq!(p.key, "services.web.port");
    let p = one_problem("[services.web]\nport = 70000\n");
    assert_eq!(p.key, "services.web.port");
}

#[test]
fn cors_star_is_refused() {
    let p = one_problem("[server]\ncors_origins = [\"*\"]\n");
    assert_eq!(p.key, "server.cors_origins[0]");
    assert_eq!(at_line(&p), 2);
    assert!(p.fix.contains("https://"), "{}", p.fix);
}

#[test]
fn min_length_below_8_is_refused() {
    let p = one_problem("[security.password_policy]\nmin_length = 6\n");
    assert_eq!(p.key, "security.password_policy.min_length");
    assert_eq!(at_line(&p), 2);
}

#[test]
fn public_database_is_refused() {
    let p = one_problem("[services.postgres]\nexposure = \"public\"\n");
    assert_eq!(p.key, "services.postgres.exposure");
}

#[test]
fn inline_secrets_are_refused_without_being_repeated() {
    let p = one_problem(
        "[database]\nurl = \"postgresql://cryptobot:Hunter2Hunter2@127.0.0.1/cryptobot\"\n",
    );
    assert_eq!(p.key, "database.url");
    assert!(!p.to_string().contains("Hunter2"));
    let p = one_problem("[redis]\npassword = \"Hunter2Hunter2\"\n");
    assert_eq!(p.key, "redis.password");
    assert!(p.message.contains("secret"), "{}", p.message);
    assert!(!p.to_string().contains("Hunter2"));
    let p = one_problem("jwt_secret = \"Hunter2Hunter2\"\n");
    assert_eq!(p.key, "jwt_secret");
    assert!(!p.to_string().contains("Hunter2"));
}

#[test]
fn syntax_error_has_a_line() {
    let p = one_problem("[server]\nbind = \n");
    assert_eq!(at_line(&p), 2);
    assert!(p.message.contains("TOML"));
}

#[test]
fn several_semantic_problems_are_reported_together() {
    let err =
        load("[security.password_policy]\nmin_length = 4\n[server]\ncors_origins = [\"*\"]\n")
            .unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
}

#[test]
fn environment_overrides_keys_with_their_types() {
    let c = load_env(
        "[security.mfa]\nrequired_for_admins = true\n",
        &[
            ("CRYPTOBOT_SECURITY__MFA__REQUIRED_FOR_ADMINS", "false"),
            ("CRYPTOBOT_SERVICES__AUTH__PORT", "9000"),
            (
                "CRYPTOBOT_SERVER__CORS_ORIGINS",
                "https://a.example, https://b.example",
            ),
            ("CRYPTOBOT_DATABASE__NAME", "cb1"),
            ("CRYPTOBOT_HOME", "/ignored"),
            ("OTHER", "x"),
        ],
    )
    .unwrap();
    assert!(!c.security.mfa.required_for("admin"));
    assert_eq!(c.services.auth.port, 9000);
    assert_eq!(
        c.server.cors_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(c.database.name, "cb1");
    assert_eq!(
        c.source_of("security.mfa.required_for_admins"),
        Source::Env {
            var: "CRYPTOBOT_SECURITY__MFA__REQUIRED_FOR_ADMINS".into()
        }
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let err = load_env("", &[("CRYPTOBOT_SERVICES__AUTH__PORT", "80x")]).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        p.source,
        Source::Env {
            var: "CRYPTOBOT_SERVICES__AUTH__PORT".into()
        }
    );
    assert!(!p.to_string().contains("80x"));

    let err = load_env("", &[("CRYPTOBOT_SECURITY__NOPE", "1")]).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.key, "security.nope");
    assert_eq!(
        p.source,
        Source::Env {
            var: "CRYPTOBOT_SECURITY__NOPE".into()
        }
    );

    let err = load_env("", &[("CRYPTOBOT_SERVER__CORS_ORIGINS", "*")]).unwrap_err();
    assert_eq!(
        err.problems()[0].source,
        Source::Env {
            var: "CRYPTOBOT_SERVER__CORS_ORIGINS".into()
        }
    );
}

#[test]
fn entries_list_every_leaf_once() {
    let c = load("").unwrap();
    let entries = c.entries();
    let keys: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(keys.contains(&"security.password_policy.min_length"));
    assert!(keys.contains(&"services.auth.exposure"));
    let mut dedup = keys.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), keys.len());
}

#[test]
fn tls_and_csp_settings_are_checked() {
    let c = load("").unwrap();
    assert_eq!(c.tls.san, ["localhost", "127.0.0.1", "::1"]);
    assert_eq!(c.tls.policy, "intermediate");
    assert!(
        c.server
            .content_security_policy
            .contains("frame-ancestors 'none'")
    );
    let c = load(
        "[server]\ncontent_security_policy = \"default-src 'self'; frame-ancestors 'self'\"\n",
    )
    .unwrap();
    assert_eq!(
        c.server.content_security_policy,
        "default-src 'self'; frame-ancestors 'self'"
    );

    let p = one_problem("[server]\ncontent_security_policy = \"default-src 'self'\"\n");
    assert_eq!(p.key, "server.content_security_policy");
    assert!(p.message.contains("frame-ancestors"), "{}", p.message);
    let p = one_problem("[server]\ncontent_security_policy = \"a\\nb\"\n");
    assert_eq!(p.key, "server.content_security_policy");

    let p = one_problem("[tls]\npolicy = \"old\"\n");
    assert_eq!(p.key, "tls.policy");
    let p = one_problem("[tls]\nsan = [\"bad name!\"]\n");
    assert_eq!(p.key, "tls.san");
    let p = one_problem("[tls]\nkey_type = \"rsa-1024\"\n");
    assert_eq!(p.key, "tls.key_type");
    let p = one_problem("[tls]\nvalidity_days = 3650\n");
    assert_eq!(p.key, "tls.validity_days");
    assert!(p.fix.contains("397"), "{}", p.fix);
}

#[test]
fn redis_tls_settings_are_checked() {
    // A private CA for a rediss:// URL; relative paths stay relative here
    // (the service resolves them below the installation home).
    let c = load(
        "[redis]\nurl = \"rediss://redis.internal:6380\"\nca_file = \"config/tls/redis-ca.pem\"\n",
    )
    .unwrap();
    assert_eq!(
        c.redis.ca_file.as_deref(),
        Some(Path::new("config/tls/redis-ca.pem"))
    );
    assert_eq!(
        c.source_of("redis.ca_file"),
        Source::File {
            path: "/etc/cb.toml".into(),
            line: 3
        }
    );
    let c = load_env(
        "",
        &[
            ("CRYPTOBOT_REDIS__URL", "rediss://127.0.0.1:6380"),
            ("CRYPTOBOT_REDIS__CA_FILE", "/etc/cryptobot/redis-ca.pem"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.redis.ca_file.as_deref(),
        Some(Path::new("/etc/cryptobot/redis-ca.pem"))
    );
    // rediss:// without a CA file uses the system's roots.
    load("[redis]\nurl = \"rediss://redis.internal:6380\"\n").unwrap();

    // A CA file only means something for TLS.
    for text in [
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\nca_file = \"/etc/ca.pem\"\n",
        "[redis]\nca_file = \"/etc/ca.pem\"\n",
    ] {
        let p = one_problem(text);
        assert_eq!(p.key, "redis.ca_file", "{text}");
        assert!(
            p.message.contains("ca_file needs a rediss:// URL"),
            "{}",
            p.message
        );
        assert!(p.fix.contains("rediss://"), "{}", p.fix);
    }
    let p = one_problem("[redis]\nurl = \"rediss://h:6380\"\nca_file = \"\"\n");
    assert_eq!(p.key, "redis.ca_file");
    assert!(p.message.contains("empty"), "{}", p.message);

    // Mutual TLS: certificate and key together, rediss:// only.
    let c = load(
        "[redis]\nurl = \"rediss://h:6380\"\nclient_cert = \"config/tls/redis-client.crt\"\nclient_key = \"config/secrets/redis-client.key\"\n",
    )
    .unwrap();
    assert_eq!(
        c.redis.client_key.as_deref(),
        Some(Path::new("config/secrets/redis-client.key"))
    );
    let p = one_problem("[redis]\nurl = \"rediss://h:6380\"\nclient_cert = \"/c.pem\"\n");
    assert_eq!(p.key, "redis.client_key");
    assert!(p.message.contains("go together"), "{}", p.message);
    let p = one_problem("[redis]\nurl = \"rediss://h:6380\"\nclient_key = \"/k.pem\"\n");
    assert_eq!(p.key, "redis.client_cert");
    let err = load(
        "[redis]\nurl = \"redis://h:6379\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n",
    )
    .unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["redis.client_cert", "redis.client_key"], "{err}");
    assert!(
        err.problems()[0]
            .message
            .contains("client_cert needs a rediss:// URL")
    );

    // Certificate verification is never turned off.
    for url in ["rediss://h:6380/#insecure", "rediss://h:6380#insecure"] {
        let p = one_problem(&format!("[redis]\nurl = \"{url}\"\n"));
        assert_eq!(p.key, "redis.url");
        assert!(p.message.contains("#insecure"), "{}", p.message);
        assert!(p.fix.contains("redis.ca_file"), "{}", p.fix);
    }
}

#[test]
fn login_burst_is_checked() {
    let c = load("[security.rate_limiting]\nlogin_burst = 10\n").unwrap();
    assert_eq!(c.security.rate_limiting.login_burst, 10);
    assert_eq!(c.security.rate_limiting.burst, 20, "independent of burst");
    for bad in ["0", "101"] {
        let p = one_problem(&format!("[security.rate_limiting]\nlogin_burst = {bad}\n"));
        assert_eq!(p.key, "security.rate_limiting.login_burst");
        assert!(p.message.contains("1..=100"), "{}", p.message);
        assert_eq!(at_line(&p), 2);
    }
}

#[test]
fn connection_limits_have_safe_defaults_and_bounded_ranges() {
    let c = load("").unwrap();
    let s = &c.server;
    assert_eq!(s.max_connections, 16_384);
    assert_eq!(s.max_connections_per_address, 256);
    assert_eq!(s.tls_handshake_timeout_seconds, 10);
    assert_eq!(s.header_read_timeout_seconds, 10);
    assert_eq!(s.idle_timeout_seconds, 60);
    assert_eq!(s.max_header_bytes, 16 * 1024);

    for (key, bad) in [
        ("max_connections", "0"),
        ("max_connections", "100000000"),
        ("max_connections_per_address", "0"),
        ("tls_handshake_timeout_seconds", "0"),
        ("tls_handshake_timeout_seconds", "3600"),
        ("header_read_timeout_seconds", "0"),
        ("header_read_timeout_seconds", "86400"),
        ("idle_timeout_seconds", "0"),
        ("idle_timeout_seconds", "864000"),
        ("max_header_bytes", "4096"),
        ("max_header_bytes", "104857600"),
    ] {
        let p = one_problem(&format!("[server]\n{key} = {bad}\n"));
        assert_eq!(p.key, format!("server.{key}"), "{key} = {bad}");
        assert!(p.fix.starts_with("use a value from"), "{}", p.fix);
        assert_eq!(at_line(&p), 2, "{key} = {bad}");
    }

    // One address may not hold more than the whole server.
    let p = one_problem("[server]\nmax_connections = 100\nmax_connections_per_address = 101\n");
    assert_eq!(p.key, "server.max_connections_per_address");
    assert!(
        p.message.contains("server.max_connections"),
        "{}",
        p.message
    );

    // An environment override raises the per-address cap for one run.
    let c = load_env(
        "",
        &[("CRYPTOBOT_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "8000")],
    )
    .unwrap();
    assert_eq!(c.server.max_connections_per_address, 8000);
}

#[test]
fn vault_extra_paths_load_and_are_checked() {
    let ok = load(
        "[[vault.extra_paths]]\nkey = \"xk_0123456789abcdef\"\nmethod = \"GET\"\npath = \"/api/v3/myPreventedMatches\"\nclass = \"read\"\nparams = [\"symbol\"]\n",
    )
    .unwrap();
    assert_eq!(ok.vault.extra_paths.len(), 1);
    assert_eq!(ok.vault.extra_paths[0].params, Some(vec!["symbol".into()]));
    assert!(load("").unwrap().vault.extra_paths.is_empty());
    assert_eq!(
        load("").unwrap().security.api_keys.withdraw_step_up_seconds,
        300
    );

    let p = one_problem(
        "[[vault.extra_paths]]\nkey = \"xk_0123456789abcdef\"\nmethod = \"POST\"\npath = \"/sapi/v1/capital//withdraw/apply\"\nclass = \"read\"\n",
    );
    assert_eq!(p.key, "vault.extra_paths[0].path");
    assert!(p.message.contains("`//`"), "{p}");
    let p = one_problem(
        "[[vault.extra_paths]]\nkey = \"xk_0123456789abcdef\"\nmethod = \"GET\"\npath = \"/x\"\nclass = \"admin\"\n",
    );
    assert_eq!(p.key, "vault.extra_paths[0].class");
    assert!(p.fix.contains("account-admin"), "{p}");
    let p = one_problem("[security.api_keys]\nwithdraw_step_up_seconds = 86400\n");
    assert_eq!(p.key, "security.api_keys.withdraw_step_up_seconds");
}
