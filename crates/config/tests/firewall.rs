//! `[firewall]`: defaults, overrides, and every refusal naming its key,
//! line and fix.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use cryptobot_config::{Config, ConfigError, Egress, FirewallBackend, Problem, Source};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/cb.toml"), &[])
}

fn one_problem(text: &str) -> Problem {
    let err = load(text).expect_err("config should be refused");
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    problems[0].clone()
}

fn line(p: &Problem) -> usize {
    match &p.source {
        Source::File { line, .. } => *line,
        other => panic!("expected a file location, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let c = load("").unwrap();
    let f = &c.firewall;
    assert_eq!(f.ssh_port, None);
    assert_eq!(f.ssh_rate_limit_per_minute, 6);
    assert_eq!(f.egress, Egress::Open);
    assert_eq!(f.backend, FirewallBackend::Auto);
    assert!(f.egress_hosts.contains(&"api.binance.com".to_string()));
    assert!(f.egress_hosts.contains(&"api.kraken.com".to_string()));
    assert!(f.egress_dns.is_empty() && f.egress_ntp.is_empty());
}

#[test]
fn a_full_section_loads() {
    let c = load(
        "[firewall]\nssh_port = 2222\nssh_rate_limit_per_minute = 10\negress = \"allowlist\"\n\
         egress_hosts = [\"api.kraken.com\"]\negress_dns = [\"192.0.2.53\", \"2001:db8::53\"]\n\
         egress_ntp = [\"192.0.2.123\"]\nbackend = \"nftables\"\n",
    )
    .unwrap();
    let f = &c.firewall;
    assert_eq!(f.ssh_port, Some(2222));
    assert_eq!(f.ssh_rate_limit_per_minute, 10);
    assert_eq!(f.egress, Egress::Allowlist);
    assert_eq!(f.backend, FirewallBackend::Nftables);
    assert_eq!(f.dns_addrs().len(), 2);
    assert_eq!(f.ntp_addrs().len(), 1);
    assert_eq!(
        c.source_of("firewall.ssh_port"),
        Source::File {
            path: "/etc/cb.toml".into(),
            line: 2
        }
    );
}

#[test]
fn environment_sets_the_optional_ssh_port() {
    let env = vec![
        (
            "CRYPTOBOT_FIREWALL__SSH_PORT".to_string(),
            "2200".to_string(),
        ),
        ("CRYPTOBOT_FIREWALL__BACKEND".to_string(), "pf".to_string()),
    ];
    let c = Config::from_toml("", Path::new("/etc/cb.toml"), &env).unwrap();
    assert_eq!(c.firewall.ssh_port, Some(2200));
    assert_eq!(c.firewall.backend, FirewallBackend::Pf);
    let env = vec![(
        "CRYPTOBOT_FIREWALL__SSH_PORT".to_string(),
        "ssh".to_string(),
    )];
    let err = Config::from_toml("", Path::new("/etc/cb.toml"), &env).unwrap_err();
    assert_eq!(err.problems()[0].key, "firewall.ssh_port", "{err}");
}

#[test]
fn ssh_on_a_loopback_service_port_would_block_ssh() {
    let p = one_problem("[firewall]\nssh_port = 5432\n");
    assert_eq!(p.key, "firewall.ssh_port");
    assert_eq!(line(&p), 2);
    assert!(p.message.contains("would block SSH"), "{}", p.message);
    assert!(p.message.contains("services.postgres"), "{}", p.message);
    assert!(p.fix.contains("firewall.ssh_port"), "{}", p.fix);

    // The same when the service was moved onto the SSH port.
    let p = one_problem("[services.data]\nport = 2222\n[firewall]\nssh_port = 2222\n");
    assert!(p.message.contains("would block SSH"), "{}", p.message);
}

#[test]
fn ssh_on_a_public_service_port_conflicts() {
    let p = one_problem("[firewall]\nssh_port = 8000\n");
    assert_eq!(p.key, "firewall.ssh_port");
    assert!(p.message.contains("services.auth"), "{}", p.message);
    assert!(p.message.contains("public"), "{}", p.message);
}

#[test]
fn ports_zero_and_out_of_range() {
    let p = one_problem("[firewall]\nssh_port = 0\n");
    assert_eq!(p.key, "firewall.ssh_port");
    assert!(p.message.contains("port 0"), "{}", p.message);
    let p = one_problem("[firewall]\nssh_port = 70000\n");
    assert_eq!(p.key, "firewall.ssh_port");
    assert!(p.message.contains("65535"), "{}", p.message);
    let p = one_problem("[firewall]\nssh_rate_limit_per_minute = 0\n");
    assert_eq!(p.key, "firewall.ssh_rate_limit_per_minute");
}

#[test]
fn unknown_backend_and_egress() {
    let p = one_problem("[firewall]\nbackend = \"shorewall\"\n");
    assert_eq!(p.key, "firewall.backend");
    assert_eq!(line(&p), 2);
    assert!(p.message.contains("\"nftables\""), "{}", p.message);
    assert!(!p.to_string().contains("shorewall"));
    let p = one_problem("[firewall]\negress = \"closed\"\n");
    assert_eq!(p.key, "firewall.egress");
    assert!(p.message.contains("\"allowlist\""), "{}", p.message);
}

#[test]
fn host_names_that_could_inject_are_refused() {
    for bad in [
        "api.binance.com; reboot",
        "$(id)",
        "API.BINANCE.COM",
        "https://api.kraken.com",
        "a\"b",
    ] {
        let text = format!("[firewall]\negress_hosts = [\"api.kraken.com\", {bad:?}]\n");
        let p = one_problem(&text);
        assert_eq!(p.key, "firewall.egress_hosts[1]", "{bad}");
        assert_eq!(line(&p), 2);
        assert!(!p.to_string().contains(bad), "{p}");
    }
}

#[test]
fn resolver_and_ntp_entries_must_be_addresses() {
    let p = one_problem("[firewall]\negress_dns = [\"dns.example\"]\n");
    assert_eq!(p.key, "firewall.egress_dns[0]");
    let p = one_problem("[firewall]\negress_ntp = [\"192.0.2.0/24\"]\n");
    assert_eq!(p.key, "firewall.egress_ntp[0]");
}

#[test]
fn an_allowlist_needs_dns_ntp_and_hosts() {
    let err = load("[firewall]\negress = \"allowlist\"\negress_hosts = []\n").unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "firewall.egress_dns",
            "firewall.egress_ntp",
            "firewall.egress_hosts"
        ],
        "{err}"
    );
    assert!(
        err.to_string().contains("would block name resolution"),
        "{err}"
    );
}

#[test]
fn unknown_key_in_the_section() {
    let p = one_problem("[firewall]\nssh_ports = [22]\n");
    assert_eq!(p.key, "firewall.ssh_ports");
    assert!(p.fix.contains("ssh_port"), "{}", p.fix);
}
