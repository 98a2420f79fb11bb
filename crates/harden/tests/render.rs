//! Snapshot tests of the rendered server configuration (reviewed by hand;
//! the real-server tests in crates/cli/tests/servers.rs prove they work).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cryptobot_config::{Config, Layout};
use cryptobot_harden::render;

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("cryptobot.toml"), &[]).expect("valid")
}

const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[test]
fn redis_conf() {
    let layout = Layout::new("/opt/cryptobot");
    insta::assert_snapshot!(render::redis_conf(&config(""), &layout, HASH).unwrap());
}

#[test]
fn redis_conf_follows_port_and_user() {
    let layout = Layout::new("/opt/cryptobot");
    let c = config("[services.redis]\nport = 6380\n[redis]\nuser = \"bot\"\n");
    let text = render::redis_conf(&c, &layout, HASH).unwrap();
    assert!(text.contains("\nport 6380\n"));
    assert!(text.contains(&format!("\nuser bot on #{HASH} ")));
}

#[test]
fn pg_hba() {
    insta::assert_snapshot!(render::pg_hba(&config("")));
}

#[test]
fn pg_ident() {
    insta::assert_snapshot!(render::pg_ident());
}

#[test]
fn pg_include_without_and_with_tls() {
    let layout = Layout::new("/opt/cryptobot");
    insta::assert_snapshot!(
        "pg_include_no_tls",
        render::pg_include(&layout, false).unwrap()
    );
    let with = render::pg_include(&layout, true).unwrap();
    assert!(with.contains("\nssl = on\nssl_cert_file = '/opt/cryptobot/config/postgresql/server.crt'\nssl_key_file = '/opt/cryptobot/config/postgresql/server.key'\n"), "{with}");
}

#[test]
fn redis_include_without_and_with_tls() {
    let layout = Layout::new("/opt/cryptobot");
    let c = config("[services.redis]\nport = 6380\n");
    insta::assert_snapshot!(
        "redis_include_no_tls",
        render::redis_include(&c, &layout, false).unwrap()
    );
    let without = render::redis_include(&c, &layout, false).unwrap();
    assert!(
        !without
            .lines()
            .any(|l| !l.is_empty() && !l.starts_with('#')),
        "{without}"
    );
    // The pair alone does not turn TLS on: `redis.server_tls` does.
    let pair_only = render::redis_include(&c, &layout, true).unwrap();
    assert!(
        !pair_only
            .lines()
            .any(|l| !l.is_empty() && !l.starts_with('#')),
        "{pair_only}"
    );
    assert!(pair_only.contains("server_tls = true"), "{pair_only}");
    let c = config("[services.redis]\nport = 6380\n[redis]\nserver_tls = true\n");
    let with = render::redis_include(&c, &layout, true).unwrap();
    let d = "/opt/cryptobot/config/redis";
    assert!(
        with.contains(&format!(
            "\nport 0\ntls-port 6380\ntls-cert-file \"{d}/redis.crt\"\ntls-key-file \"{d}/redis.key\"\ntls-ca-cert-file \"{d}/ca.crt\"\n"
        )),
        "{with}"
    );
    assert!(with.contains("\ntls-auth-clients optional\n"), "{with}");
    assert!(
        with.contains("\ntls-protocols \"TLSv1.2 TLSv1.3\"\n"),
        "{with}"
    );
    // redis.conf includes it last, so its `port 0` wins.
    let conf = render::redis_conf(&c, &layout, HASH).unwrap();
    let last = conf.lines().rfind(|l| !l.is_empty()).unwrap();
    assert_eq!(last, format!("include \"{d}/tls.conf\""));
}

#[test]
fn quotes_in_paths_are_refused() {
    let layout = Layout::new("/opt/it's");
    assert!(render::pg_include(&layout, false).is_err());
    let quote = Layout::new("/opt/re\"dis");
    let tls_on = config("[redis]\nserver_tls = true\n");
    assert!(render::redis_include(&tls_on, &quote, true).is_err());
    assert!(render::redis_conf(&config(""), &quote, HASH).is_err());
    let c = config("[redis]\nserver_dir = \"/var/lib/re\\\"dis\"\n");
    assert!(render::redis_conf(&c, &Layout::new("/opt/cb"), HASH).is_err());
}
