//! Snapshot tests of the rendered systemd unit (reviewed by hand; the CLI
//! test runs `systemd-analyze` on it when available).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cryptobot_config::{Config, Layout};
use cryptobot_harden::systemd;

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("cryptobot.toml"), &[]).expect("valid")
}

const BINARY: &str = "/usr/local/bin/cryptobot";

#[test]
fn systemd_unit() {
    let layout = Layout::new("/opt/cryptobot");
    insta::assert_snapshot!(
        systemd::systemd_unit(&config(""), &layout, Path::new(BINARY), "cryptobot").unwrap()
    );
}

#[test]
fn descriptor_limit_follows_max_connections() {
    let layout = Layout::new("/opt/cryptobot");
    // The default cap (16384) gets the floor of 65536, far above the
    // 1024 a unit has by default.
    let text = systemd::systemd_unit(&config(""), &layout, Path::new(BINARY), "cryptobot").unwrap();
    assert!(text.contains("\nLimitNOFILE=65536\n"), "{text}");
    let c = config("[server]\nmax_connections = 100000\n");
    let text = systemd::systemd_unit(&c, &layout, Path::new(BINARY), "cryptobot").unwrap();
    assert!(text.contains("\nLimitNOFILE=204096\n"), "{text}");
}

#[test]
fn privileged_port_keeps_only_net_bind_service() {
    let layout = Layout::new("/opt/cryptobot");
    let c = config("[server]\nbind = \"0.0.0.0:443\"\n");
    let text = systemd::systemd_unit(&c, &layout, Path::new(BINARY), "cryptobot").unwrap();
    assert!(text.contains("\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"));
    assert!(text.contains("\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"));
    assert!(!text.contains("PrivateUsers="));
    // Listening beyond loopback: no address filter that would cut clients off.
    assert!(!text.contains("IPAddressDeny="));
}

#[test]
fn unprivileged_loopback_has_no_capabilities_and_an_address_filter() {
    let layout = Layout::new("/srv/cb");
    let text = systemd::systemd_unit(&config(""), &layout, Path::new(BINARY), "svc").unwrap();
    assert!(text.contains("\nCapabilityBoundingSet=\n"));
    assert!(text.contains("\nPrivateUsers=yes\n"));
    assert!(text.contains("\nIPAddressAllow=localhost\nIPAddressDeny=any\n"));
    assert!(text.contains("\nExecStart=/usr/local/bin/cryptobot serve --home /srv/cb\n"));
    assert!(text.contains("\nUser=svc\nGroup=svc\n"));
    assert!(text.contains("\nReadWritePaths=/srv/cb/data /srv/cb/logs\n"));
    assert!(
        text.contains(
            "\nLoadCredential=vault_master.key:/srv/cb/config/secrets/vault_master.key\n"
        )
    );
}

#[test]
fn remote_database_drops_the_address_filter() {
    let layout = Layout::new("/opt/cryptobot");
    let c = config("[database]\nurl = \"postgresql://cryptobot@db.example/cryptobot\"\n");
    let text = systemd::systemd_unit(&c, &layout, Path::new(BINARY), "cryptobot").unwrap();
    assert!(!text.contains("IPAddressDeny="));
}

#[test]
fn paths_that_need_quoting_are_refused() {
    for home in ["/opt/my cryptobot", "/opt/cb%i", "/opt/cb\"x", "/opt/cb\\x"] {
        let layout = Layout::new(home);
        assert!(
            systemd::systemd_unit(&config(""), &layout, Path::new(BINARY), "cryptobot").is_err(),
            "{home}"
        );
    }
    let layout = Layout::new("/opt/cryptobot");
    assert!(
        systemd::systemd_unit(&config(""), &layout, Path::new("cryptobot"), "cryptobot").is_err()
    );
}

#[test]
fn macos_files() {
    use cryptobot_harden::platforms::{Platform, render};
    let layout = Layout::new("/opt/cryptobot");
    let files = render(
        Platform::Macos,
        &config(""),
        &layout,
        Path::new(BINARY),
        "_cryptobot",
    )
    .unwrap();
    let names: Vec<_> = files.iter().map(|f| f.name).collect();
    assert_eq!(names, ["cryptobot-macos.sh", "org.cryptobot.serve.plist"]);
    insta::assert_snapshot!("macos_script", files[0].content);
    insta::assert_snapshot!("launchd_plist", files[1].content);
}

#[test]
fn windows_script() {
    let layout = Layout::new("/opt/cryptobot");
    let text = cryptobot_harden::platforms::windows_script(&layout);
    // No broad principal is ever granted anything.
    for broad in ["Everyone", "*S-1-1-0:", "*S-1-5-11:"] {
        assert!(!text.contains(&format!("/grant:r '{broad}")), "{broad}");
    }
    insta::assert_snapshot!("windows_script", text);
}
