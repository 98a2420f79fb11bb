//! The firewalld test sandbox (`common::firewalld`) itself: a real firewalld
//! answers `firewall-cmd` and writes its nftables rules in a throwaway
//! network namespace, reads its configuration from the sandbox's private
//! `/etc/firewalld` — and this machine's own rules, `/etc/firewalld` and
//! `/run/firewalld` are exactly as before. firewalld comes unpacked (never
//! installed) from `.ci/firewalld-sandbox`. A test that needs a missing tool
//! (or root) fails when `CI` is set and is skipped loudly otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::firewalld::{FirewalldSandbox, GUARD_REFUSED};
use common::{Entry, snapshot};

/// Everything of this machine a sandbox must leave alone.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    nft: String,
    iptables: String,
    ip6tables: String,
    etc_firewalld: Option<BTreeMap<PathBuf, Entry>>,
    run_firewalld: bool,
    usr_firewalld: [bool; 3],
}

fn stdout_of(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        // Comment lines of iptables-save carry a timestamp.
        Ok(o) => {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                + &format!("status {}", o.status)
        }
        Err(e) => format!("cannot run {program}: {e}"),
    }
}

fn host_state() -> HostState {
    let etc = Path::new("/etc/firewalld");
    HostState {
        nft: stdout_of("nft", &["list", "ruleset"]),
        iptables: stdout_of("iptables-save", &[]),
        ip6tables: stdout_of("ip6tables-save", &[]),
        etc_firewalld: etc.exists().then(|| snapshot(etc)),
        run_firewalld: Path::new("/run/firewalld").exists(),
        usr_firewalld: [
            Path::new("/usr/sbin/firewalld").exists(),
            Path::new("/usr/bin/firewall-cmd").exists(),
            Path::new("/usr/lib/firewalld").exists(),
        ],
    }
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

const ZONE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>cbsandbox</short>
  <description>written by the firewalld sandbox test</description>
  <service name="ssh"/>
</zone>
"#;

#[test]
fn firewalld_runs_in_the_sandbox_and_leaves_the_machine_alone() {
    let before = host_state();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let dir = fw.etc_firewalld().parent().unwrap().to_path_buf();
    let netns = fw.netns().to_string();

    // In the sandbox's namespaces, not ours.
    let ns = fw
        .run(
            "/bin/sh",
            ["-c", "readlink /proc/$$/ns/net /proc/$$/ns/mnt"],
        )
        .unwrap();
    let own = |k: &str| {
        std::fs::read_link(format!("/proc/self/ns/{k}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert!(!ns.contains(&own("net")), "{ns}");
    assert!(!ns.contains(&own("mnt")), "{ns}");

    assert_eq!(fw.firewall_cmd(&["--state"]).unwrap().trim(), "running");
    assert_eq!(
        fw.firewall_cmd(&["--get-default-zone"]).unwrap().trim(),
        "public"
    );

    // A zone written from outside, loaded by a reload, made the default.
    std::fs::write(fw.etc_firewalld().join("zones/cbsandbox.xml"), ZONE).unwrap();
    assert_eq!(
        fw.run("/bin/ls", ["/etc/firewalld/zones"]).unwrap().trim(),
        "cbsandbox.xml",
        "the sandbox's /etc/firewalld is the test's directory"
    );
    assert_eq!(fw.firewall_cmd(&["--reload"]).unwrap().trim(), "success");
    assert!(
        fw.firewall_cmd(&["--get-zones"])
            .unwrap()
            .split_whitespace()
            .any(|z| z == "cbsandbox")
    );
    assert_eq!(
        fw.firewall_cmd(&["--set-default-zone=cbsandbox"])
            .unwrap()
            .trim(),
        "success"
    );
    assert_eq!(
        fw.firewall_cmd(&["--get-default-zone"]).unwrap().trim(),
        "cbsandbox"
    );
    let conf = std::fs::read_to_string(fw.etc_firewalld().join("firewalld.conf")).unwrap();
    assert!(
        conf.lines().any(|l| l == "DefaultZone=cbsandbox"),
        "firewalld wrote its default zone into the sandbox's firewalld.conf:\n{conf}"
    );
    let services = fw.firewall_cmd(&["--list-services"]).unwrap();
    assert_eq!(services.trim(), "ssh");

    // firewalld's rules, in the namespace's nftables only.
    let rules = fw.run("nft", ["list", "ruleset"]).unwrap();
    assert!(rules.contains("table inet firewalld"), "{rules}");
    assert!(rules.contains("filter_IN_cbsandbox"), "{rules}");
    assert!(
        !before.nft.contains("filter_IN_cbsandbox"),
        "the machine's own ruleset must not hold the sandbox's zone"
    );
    assert_eq!(host_state().nft, before.nft, "the machine's rules changed");

    // The guard refuses a command that is not in the sandbox's namespaces:
    // the same command without `nsenter`, in this machine's namespaces.
    let mut escaped = fw.exec("/bin/true", [] as [&str; 0]);
    let args: Vec<_> = escaped
        .get_args()
        .skip_while(|a| *a != "--")
        .skip(1)
        .map(|a| a.to_os_string())
        .collect();
    let refused = Command::new(&args[0])
        .args(&args[1..])
        .envs(escaped.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .status()
        .unwrap();
    assert_eq!(refused.code(), Some(GUARD_REFUSED));
    assert!(escaped.status().unwrap().success());

    drop(fw);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(processes_with(&dir.to_string_lossy()), Vec::<String>::new());
    assert!(!stdout_of("ip", &["netns", "list"]).contains(&netns));
    assert_eq!(host_state(), before, "the machine's own state changed");
}

#[test]
fn two_sandboxes_are_independent() {
    let before = host_state();
    let Some(a) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let b = FirewalldSandbox::start().unwrap();
    std::fs::write(a.etc_firewalld().join("zones/cbsandbox.xml"), ZONE).unwrap();
    a.firewall_cmd(&["--reload"]).unwrap();
    a.firewall_cmd(&["--set-default-zone=cbsandbox"]).unwrap();
    assert_eq!(
        b.firewall_cmd(&["--get-default-zone"]).unwrap().trim(),
        "public"
    );
    assert!(!b.etc_firewalld().join("zones/cbsandbox.xml").exists());
    let rules = b.run("nft", ["list", "ruleset"]).unwrap();
    assert!(rules.contains("table inet firewalld"), "{rules}");
    assert!(!rules.contains("cbsandbox"), "{rules}");
    drop(a);
    // b still answers once a is gone.
    assert_eq!(b.firewall_cmd(&["--state"]).unwrap().trim(), "running");
    drop(b);
    assert_eq!(host_state(), before, "the machine's own state changed");
}

/// What `cryptobot firewall render --backend firewalld` writes is accepted
/// by the real daemon: loaded by a reload, made the default zone, and turned
/// into nftables rules for exactly the rendered ports.
#[test]
fn the_rendered_zone_and_policy_load_in_real_firewalld() {
    let before = host_state();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/ssh")).unwrap();
    std::fs::write(root.join("etc/ssh/sshd_config"), "Port 2222\n").unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    common::cryptobot(&[
        "firewall",
        "render",
        "--backend",
        "firewalld",
        "--root",
        root.to_str().unwrap(),
        "--home",
        "/opt/cryptobot",
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    for f in ["zones/cryptobot.xml", "policies/cryptobot-egress.xml"] {
        std::fs::copy(out.join(f), fw.etc_firewalld().join(f)).unwrap();
    }

    assert_eq!(
        fw.firewall_cmd(&["--check-config"]).unwrap().trim(),
        "success"
    );
    assert_eq!(fw.firewall_cmd(&["--reload"]).unwrap().trim(), "success");
    fw.firewall_cmd(&["--set-default-zone=cryptobot"]).unwrap();
    assert_eq!(
        fw.firewall_cmd(&["--get-default-zone"]).unwrap().trim(),
        "cryptobot"
    );
    assert_eq!(
        fw.firewall_cmd(&["--permanent", "--zone=cryptobot", "--get-target"])
            .unwrap()
            .trim(),
        "DROP"
    );
    let mut ports: Vec<String> = fw
        .firewall_cmd(&["--zone=cryptobot", "--list-ports"])
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    ports.sort();
    assert_eq!(ports, ["2222/tcp", "3000/tcp", "8000/tcp"]);
    assert!(
        fw.firewall_cmd(&["--get-policies"])
            .unwrap()
            .split_whitespace()
            .any(|p| p == "cryptobot-egress")
    );
    let rules = fw.run("nft", ["list", "ruleset"]).unwrap();
    assert!(rules.contains("chain filter_IN_cryptobot"), "{rules}");
    assert!(rules.contains("tcp dport 2222 accept"), "{rules}");
    assert!(rules.contains("cryptobot-drop"), "{rules}");

    drop(fw);
    assert_eq!(host_state(), before, "the machine's own state changed");
}
