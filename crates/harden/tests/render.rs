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
fn quotes_in_paths_are_refused() {
    let layout = Layout::new("/opt/it's");
    assert!(render::pg_include(&layout, false).is_err());
    let c = config("[redis]\nserver_dir = \"/var/lib/re\\\"dis\"\n");
    assert!(render::redis_conf(&c, &Layout::new("/opt/cb"), HASH).is_err());
}
