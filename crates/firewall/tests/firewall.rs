//! The firewall renderers: snapshots of every backend for a representative
//! configuration (reviewed by hand), and the real tools on the output —
//! `nft -c`, `iptables-restore --test`, rules really loaded into throwaway
//! network namespaces joined by a veth pair, `fail2ban-regex`, an XML
//! parser, and the ufw script against a recording stand-in.
//!
//! Nothing is ever applied to this machine's own network namespace: every
//! tool that talks to the kernel runs under `unshare --net` or
//! `ip netns exec` in a namespace this test created (and deletes).
//! A test that needs a missing tool (or root) fails when `CI` is set and
//! is skipped loudly otherwise.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use cryptobot_config::Config;
use cryptobot_firewall::{
    self as firewall, Family, RuleSet, SshPorts, Target, firewalld, iptables, nftables,
};
use cryptobot_plan::Root;

// ---------------------------------------------------------------- helpers

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("cryptobot.toml"), &[]).expect("valid")
}

/// Allow-list egress, a custom SSH port, a trusted proxy: every branch of
/// every renderer.
const REPRESENTATIVE: &str = r#"
[server]
trusted_proxies = ["10.0.0.5", "fd00:5::/64"]

[firewall]
ssh_port = 2222
ssh_rate_limit_per_minute = 6
egress = "allowlist"
egress_hosts = ["api.binance.com", "api.kraken.com"]
egress_dns = ["192.0.2.53", "2001:db8::53"]
egress_ntp = ["192.0.2.123"]
"#;

fn resolved() -> Vec<IpAddr> {
    ["198.51.100.10", "198.51.100.11", "2001:db8:1::10"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn representative() -> (Config, RuleSet) {
    let c = config(REPRESENTATIVE);
    let ssh = SshPorts::configured(2222);
    let r = firewall::rules(&c, &ssh, &resolved()).unwrap();
    (c, r)
}

fn defaults() -> (Config, RuleSet) {
    let c = config("");
    let r = firewall::rules(&c, &SshPorts::configured(22), &[]).unwrap();
    (c, r)
}

fn file(target: Target, name: &str, c: &Config, r: &RuleSet) -> String {
    firewall::render(target, r, c)
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} not rendered"))
        .content
}

/// `name` on PATH or in the sbin directories (where root's tools live).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The tools (and root, when `root`) or `None` after a loud skip; on CI a
/// missing tool fails the test.
fn require(tools: &[&str], root: bool) -> Option<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for t in tools {
        match find_tool(t) {
            Some(p) => {
                found.insert((*t).to_string(), p);
            }
            None => missing.push((*t).to_string()),
        }
    }
    if root && !is_root() {
        missing.push("root (network namespaces)".into());
    }
    if missing.is_empty() {
        return Some(found);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "missing on CI: {} (.ci/run installs them)",
        missing.join(", ")
    );
    eprintln!("SKIPPED: missing {}", missing.join(", "));
    None
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn run_ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let (ok, text) = run(cmd);
    assert!(ok, "{shown} failed:\n{text}");
    text
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

// -------------------------------------------------------------- snapshots

#[test]
fn snapshot_nftables() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Nftables, "cryptobot.nft", &c, &r));
}

#[test]
fn snapshot_nftables_defaults() {
    let (c, r) = defaults();
    insta::assert_snapshot!(file(Target::Nftables, "cryptobot.nft", &c, &r));
}

#[test]
fn snapshot_iptables_v4() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Iptables, "cryptobot-iptables.rules", &c, &r));
}

#[test]
fn snapshot_iptables_v6() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Iptables, "cryptobot-ip6tables.rules", &c, &r));
}

#[test]
fn snapshot_ufw() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Ufw, "cryptobot-ufw.sh", &c, &r));
}

#[test]
fn snapshot_firewalld_zone() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Firewalld, "zones/cryptobot.xml", &c, &r));
}

#[test]
fn snapshot_firewalld_policy() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(
        Target::Firewalld,
        "policies/cryptobot-egress.xml",
        &c,
        &r
    ));
}

#[test]
fn snapshot_pf() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Pf, "cryptobot.pf", &c, &r));
}

#[test]
fn snapshot_windows() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Windows, "cryptobot-firewall.ps1", &c, &r));
}

#[test]
fn snapshot_fail2ban_jail() {
    let (c, r) = representative();
    insta::assert_snapshot!(file(Target::Fail2ban, "jail.d/cryptobot.conf", &c, &r));
}

#[test]
fn snapshot_fail2ban_filters() {
    let (c, r) = representative();
    insta::assert_snapshot!(
        "fail2ban_auth_filter",
        file(Target::Fail2ban, "filter.d/cryptobot-auth.conf", &c, &r)
    );
    insta::assert_snapshot!(
        "fail2ban_portscan_filter",
        file(Target::Fail2ban, "filter.d/cryptobot-portscan.conf", &c, &r)
    );
}

// ------------------------------------------------------ model and headers

#[test]
fn model_opens_public_ports_only() {
    let (_, r) = defaults();
    assert_eq!(r.ssh_ports, [22]);
    assert_eq!(r.public_ports(), [8000, 3000]);
    let local: Vec<u16> = r.loopback_only.iter().map(|p| p.port).collect();
    assert_eq!(local, [8001, 8010, 8020, 8030, 5432, 6379]);
    assert!(r.egress.is_none());
    let (_, r) = representative();
    let e = r.egress.unwrap();
    assert_eq!(e.dns.len(), 2);
    assert_eq!(e.https, resolved());
}

#[test]
fn every_file_says_it_is_generated_and_how_to_regenerate() {
    for (c, r) in [representative(), defaults()] {
        for target in [
            Target::Nftables,
            Target::Iptables,
            Target::Ufw,
            Target::Firewalld,
            Target::Pf,
            Target::Windows,
            Target::Fail2ban,
        ] {
            for f in firewall::render(target, &r, &c) {
                let head: String = f.content.lines().take(4).collect::<Vec<_>>().join("\n");
                assert!(
                    head.contains("Generated by cryptobot"),
                    "{}: {head}",
                    f.name
                );
                assert!(
                    head.contains("cryptobot firewall render"),
                    "{}: {head}",
                    f.name
                );
                assert!(head.contains(target.as_str()), "{}: {head}", f.name);
            }
        }
    }
}

#[test]
fn ssh_port_of_a_loopback_service_would_block_ssh() {
    let c = config("");
    // As if sshd_config said `Port 6379`.
    let ssh = SshPorts {
        ports: vec![6379],
        source: firewall::SshSource::SshdConfig("/etc/ssh/sshd_config".into()),
    };
    let err = firewall::rules(&c, &ssh, &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("would block SSH"), "{text}");
    assert!(text.contains("services.redis"), "{text}");
    assert!(text.contains("/etc/ssh/sshd_config"), "{text}");
    let hint = err.hint().unwrap();
    assert!(hint.contains("`Port` in /etc/ssh/sshd_config"), "{hint}");
    let ssh = SshPorts::configured(3000);
    let err = firewall::rules(&c, &ssh, &[]).unwrap_err();
    assert!(err.to_string().contains("services.web"), "{err}");
    assert!(err.hint().unwrap().contains("firewall.ssh_port"), "{err}");
}

#[test]
fn public_ports_follow_exposure() {
    let c =
        config("[services.data]\nexposure = \"public\"\n[services.web]\nexposure = \"loopback\"\n");
    let r = firewall::rules(&c, &SshPorts::configured(22), &[]).unwrap();
    assert_eq!(r.public_ports(), [8000, 8001]);
    let nft = nftables::render(&r);
    assert!(
        nft.contains("tcp dport { 8000, 8001 } ct state new accept"),
        "{nft}"
    );
    assert!(!nft.contains("3000 }"), "{nft}");
}

#[test]
fn xml_comments_never_contain_two_dashes() {
    let c = config(
        "[firewall]\negress = \"allowlist\"\negress_hosts = [\"xn--bcher-kva.example\", \"a---b.example\"]\negress_dns = [\"192.0.2.53\"]\negress_ntp = [\"192.0.2.123\"]\n",
    );
    let r = firewall::rules(&c, &SshPorts::configured(22), &[]).unwrap();
    for text in [firewalld::zone(&r), firewalld::policy(&r)] {
        for comment in text.split("<!--").skip(1) {
            let body = comment.split("-->").next().unwrap();
            assert!(!body.contains("--"), "{body}");
        }
    }
}

// --------------------------------------------------------- sshd_config

#[test]
fn ssh_ports_come_from_sshd_config_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path()).unwrap();
    let c = config("");
    // No sshd_config: 22.
    let p = firewall::ssh_ports(&c, &root).unwrap();
    assert_eq!(p.ports, [22]);
    assert_eq!(p.source, firewall::SshSource::Default);

    let ssh = dir.path().join("etc/ssh");
    std::fs::create_dir_all(ssh.join("sshd_config.d")).unwrap();
    std::fs::write(
        ssh.join("sshd_config"),
        "# Port 1\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 2200\nMatch User x\n  Port 9\n",
    )
    .unwrap();
    std::fs::write(ssh.join("sshd_config.d/10-extra.conf"), "port=2201\n").unwrap();
    std::fs::write(ssh.join("sshd_config.d/ignored.txt"), "Port 7\n").unwrap();
    let p = firewall::ssh_ports(&c, &root).unwrap();
    assert_eq!(p.ports, [2200, 2201]);

    // ListenAddress with its own port, and one without (which uses Port).
    std::fs::write(
        ssh.join("sshd_config"),
        "ListenAddress 10.0.0.1:2300\nListenAddress [::1]:2301\n",
    )
    .unwrap();
    assert_eq!(firewall::ssh_ports(&c, &root).unwrap().ports, [2300, 2301]);
    std::fs::write(
        ssh.join("sshd_config"),
        "ListenAddress 10.0.0.1:2300\nListenAddress ::\n",
    )
    .unwrap();
    assert_eq!(firewall::ssh_ports(&c, &root).unwrap().ports, [22, 2300]);

    // The configuration wins.
    let c2 = config("[firewall]\nssh_port = 2022\n");
    assert_eq!(firewall::ssh_ports(&c2, &root).unwrap().ports, [2022]);

    // An Include that cannot be followed is refused rather than skipped.
    std::fs::write(ssh.join("sshd_config"), "Include /etc/ssh/*/extra.conf\n").unwrap();
    let err = firewall::ssh_ports(&c, &root).unwrap_err();
    assert!(err.to_string().contains("sshd_config:1"), "{err}");
    assert!(err.hint().unwrap().contains("firewall.ssh_port"), "{err}");

    // A bad Port names the file and line.
    std::fs::write(ssh.join("sshd_config"), "\nPort ssh\n").unwrap();
    let err = firewall::ssh_ports(&c, &root).unwrap_err();
    assert!(err.to_string().contains("/etc/ssh/sshd_config:2"), "{err}");

    // sshd on a loopback-only service's port is refused by the model.
    std::fs::write(ssh.join("sshd_config"), "Port 5432\n").unwrap();
    let p = firewall::ssh_ports(&c, &root).unwrap();
    let err = firewall::rules(&c, &p, &[]).unwrap_err();
    assert!(err.to_string().contains("would block SSH"), "{err}");
}

// ----------------------------------------------------------- real tools

#[test]
fn nft_accepts_the_rules() {
    let Some(t) = require(&["nft", "unshare"], true) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, (c, r)) in [("rep.nft", representative()), ("def.nft", defaults())] {
        let path = write(
            dir.path(),
            name,
            &file(Target::Nftables, "cryptobot.nft", &c, &r),
        );
        run_ok(
            Command::new(&t["unshare"])
                .arg("--net")
                .arg(&t["nft"])
                .args(["-c", "-f"])
                .arg(&path),
        );
    }
}

#[test]
fn iptables_restore_accepts_the_rules() {
    let Some(t) = require(&["iptables-restore", "ip6tables-restore", "unshare"], true) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (tag, (c, r)) in [("rep", representative()), ("def", defaults())] {
        for (name, tool) in [
            ("cryptobot-iptables.rules", "iptables-restore"),
            ("cryptobot-ip6tables.rules", "ip6tables-restore"),
        ] {
            let path = write(
                dir.path(),
                &format!("{tag}-{name}"),
                &file(Target::Iptables, name, &c, &r),
            );
            run_ok(
                Command::new(&t["unshare"])
                    .arg("--net")
                    .arg(&t[tool])
                    .args(["--test", "--noflush"])
                    .arg(&path),
            );
        }
    }
}

#[test]
fn firewalld_files_are_well_formed_xml() {
    let Some(t) = require(&["python3"], false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (tag, (c, r)) in [("rep", representative()), ("def", defaults())] {
        for f in firewall::render(Target::Firewalld, &r, &c) {
            let path = write(
                dir.path(),
                &format!("{tag}-{}", f.name.replace('/', "-")),
                &f.content,
            );
            let out = run_ok(
                Command::new(&t["python3"])
                    .args([
                        "-c",
                        "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag, r.get('target'))",
                    ])
                    .arg(&path),
            );
            let expected = match (f.name, tag) {
                ("zones/cryptobot.xml", _) => "zone DROP",
                (_, "rep") => "policy DROP",
                _ => "policy CONTINUE",
            };
            assert_eq!(out.trim(), expected, "{}", f.name);
        }
    }
}

#[test]
fn ufw_script_replaces_its_own_rules_only() {
    let Some(t) = require(&["sh"], false) else {
        return;
    };
    let (c, r) = representative();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls");
    // A stand-in ufw that records its arguments and lists rules like
    // `ufw show added` does: three of ours, two foreign.
    let fake = format!(
        "#!/bin/sh\necho \"$*\" >> {log}\n\
         if [ \"$1 $2\" = \"show added\" ]; then\n\
         cat <<'EOF'\nAdded user rules (see 'ufw status' for running firewall):\n\
         ufw limit 2222/tcp comment 'cryptobot ssh'\n\
         ufw allow 80/tcp comment 'web server'\n\
         ufw allow 8000/tcp comment 'cryptobot auth'\n\
         ufw allow 8080/tcp comment 'cryptobotanical'\n\
         ufw allow out to 2001:db8::53 port 53 proto udp comment 'cryptobot dns'\n\
         EOF\nfi\n",
        log = log.display()
    );
    let fake_path = write(&bin, "ufw", &fake);
    std::fs::set_permissions(&fake_path, PermissionsExt::from_mode(0o755)).unwrap();
    let script = write(
        dir.path(),
        "cryptobot-ufw.sh",
        &file(Target::Ufw, "cryptobot-ufw.sh", &c, &r),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run_ok(Command::new(&t["sh"]).arg(&script).env("PATH", path));
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    let expected_start = [
        "show added",
        "delete limit 2222/tcp",
        "delete allow 8000/tcp",
        "delete allow out to 2001:db8::53 port 53 proto udp",
        "default deny incoming",
        "default deny outgoing",
        "logging low",
        "limit 2222/tcp comment cryptobot ssh",
        "allow 8000/tcp comment cryptobot auth",
        "allow 3000/tcp comment cryptobot web",
        "prepend deny 8001/tcp comment cryptobot data loopback only",
    ];
    assert_eq!(&calls[..expected_start.len()], expected_start, "{calls:#?}");
    // After the deletes, the script runs exactly what `firewall apply` runs.
    let applied: Vec<String> = cryptobot_firewall::ufw::commands(&r)
        .iter()
        .map(|c| c.join(" "))
        .collect();
    assert_eq!(calls[4..calls.len() - 1], applied, "{calls:#?}");
    assert!(calls.contains(&"allow out to 2001:db8::53 port 53 proto udp comment cryptobot dns"));
    assert!(
        calls.contains(&"allow out to 198.51.100.11 port 443 proto tcp comment cryptobot https")
    );
    assert_eq!(
        calls[calls.len() - 2..],
        ["--force enable", "status verbose"]
    );
}

#[test]
fn portscan_filter_matches_inbound_drops_only() {
    let Some(t) = require(&["fail2ban-regex"], false) else {
        return;
    };
    let (c, r) = representative();
    let dir = tempfile::tempdir().unwrap();
    let filter = write(
        dir.path(),
        "cryptobot-portscan.conf",
        &file(Target::Fail2ban, "filter.d/cryptobot-portscan.conf", &c, &r),
    );
    // The kernel's format (nf_log_syslog), as kern.log and the journal show it.
    let log = write(
        dir.path(),
        "kern.log",
        "2026-01-10T10:00:01.000000+00:00 host kernel: [ 1.1] cryptobot-drop IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.9 DST=198.51.100.2 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=TCP SPT=40001 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n\
         2026-01-10T10:00:02.000000+00:00 host kernel: [ 1.2] cryptobot-drop IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:86:dd SRC=2001:db8:bad::9 DST=2001:db8::2 LEN=80 TC=0 HOPLIMIT=52 FLOWLBL=0 PROTO=TCP SPT=40002 DPT=6379 WINDOW=64240 RES=0x00 SYN URGP=0\n\
         2026-01-10T10:00:03.000000+00:00 host kernel: [ 1.3] cryptobot-drop IN= OUT=eth0 SRC=198.51.100.2 DST=192.0.2.99 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40003 DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0\n\
         2026-01-10T10:00:04.000000+00:00 host kernel: [ 1.4] cryptobot-ssh-limit IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=192.0.2.44 DST=198.51.100.2 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=TCP SPT=40004 DPT=2222 WINDOW=64240 RES=0x00 SYN URGP=0\n\
",
    );
    let out = run_ok(
        Command::new(&t["fail2ban-regex"])
            .args(["--print-all-matched", "--print-all-missed"])
            .arg(&log)
            .arg(&filter),
    );
    assert!(out.contains("203.0.113.9"), "{out}");
    assert!(out.contains("2001:db8:bad::9"), "{out}");
    // The outbound drop (our own address) and the SSH-limit line never match.
    assert_eq!(matched_count(&out), 2, "{out}");
    let missed_section = out.split("Missed line(s)").nth(1).unwrap_or("");
    assert!(missed_section.contains("OUT=eth0"), "{out}");
    assert!(missed_section.contains("cryptobot-ssh-limit"), "{out}");
}

/// `Lines: N lines, I ignored, M matched, X missed` → M.
fn matched_count(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.starts_with("Lines:"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    line.split(',')
        .find(|p| p.contains("matched"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line}"))
}

// ---------------------------------------------------- network namespaces

/// A network namespace made with `ip netns add`, deleted on drop.
struct Netns {
    name: String,
    ip: PathBuf,
}

impl Netns {
    fn new(ip: &Path, name: String) -> Netns {
        run_ok(Command::new(ip).args(["netns", "add", &name]));
        let ns = Netns {
            name,
            ip: ip.to_path_buf(),
        };
        ns.ip_cmd(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME …`.
    fn ip_cmd(&self, args: &[&str]) -> String {
        run_ok(Command::new(&self.ip).args(["-n", &self.name]).args(args))
    }

    /// A command run inside the namespace.
    fn exec(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const LISTENER: &str = r#"
import socket, sys, threading
socks = []
for p in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", p))
    s.listen(128)
    socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept()
        c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"#;

const PROBE: &str = r#"
import socket, sys
from concurrent.futures import ThreadPoolExecutor
seq = sys.argv[1] == "seq"
def probe(t):
    host, port = t.rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        return t + " open"
    except OSError:
        return t + " closed"
targets = sys.argv[2:]
if seq:
    results = [probe(t) for t in targets]
else:
    with ThreadPoolExecutor(len(targets)) as ex:
        results = list(ex.map(probe, targets))
for r in results:
    print(r)
"#;

struct Pair {
    server: Netns,
    client: Netns,
    python: PathBuf,
    scripts: tempfile::TempDir,
}

const S4: &str = "10.201.0.1";
const C4: &str = "10.201.0.2";
const S6: &str = "fd00:201::1";
const C6: &str = "fd00:201::2";

impl Pair {
    /// Two fresh namespaces joined by a veth pair (10.201.0.0/24 and
    /// fd00:201::/64, on the veth only).
    fn new(t: &BTreeMap<String, PathBuf>, tag: &str) -> Pair {
        let ip = &t["ip"];
        let base = format!("cbtest-{}-{tag}", std::process::id());
        let server = Netns::new(ip, format!("{base}-s"));
        let client = Netns::new(ip, format!("{base}-c"));
        server.ip_cmd(&[
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth1",
            "netns",
            &client.name,
        ]);
        for (ns, dev, v4, v6) in [(&server, "veth0", S4, S6), (&client, "veth1", C4, C6)] {
            ns.ip_cmd(&["addr", "add", &format!("{v4}/24"), "dev", dev]);
            ns.ip_cmd(&["addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"]);
            ns.ip_cmd(&["link", "set", dev, "up"]);
        }
        let scripts = tempfile::tempdir().unwrap();
        write(scripts.path(), "listener.py", LISTENER);
        write(scripts.path(), "probe.py", PROBE);
        Pair {
            server,
            client,
            python: t["python3"].clone(),
            scripts,
        }
    }

    fn listen(&self, ns: &Netns, ports: &[u16]) -> Running {
        let mut cmd = ns.exec(&self.python);
        cmd.arg(self.scripts.path().join("listener.py"))
            .args(ports.iter().map(u16::to_string))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Running(cmd.spawn().unwrap());
        let mut line = String::new();
        let stdout = child.0.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "listener did not start");
        child
    }

    /// `target open|closed` for each `host:port`, tried from `ns`.
    fn probe(&self, ns: &Netns, sequential: bool, targets: &[String]) -> Vec<String> {
        let out = run_ok(
            ns.exec(&self.python)
                .arg(self.scripts.path().join("probe.py"))
                .arg(if sequential { "seq" } else { "par" })
                .args(targets),
        );
        out.lines().map(str::to_string).collect()
    }
}

fn target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Expects each `host:port` to be open or closed as listed.
fn expect(results: &[String], wanted: &[(String, bool)]) {
    let mut wrong = Vec::new();
    for (t, open) in wanted {
        let want = format!("{t} {}", if *open { "open" } else { "closed" });
        if !results.contains(&want) {
            wrong.push(format!("wanted {want}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}\ngot {results:#?}");
}

/// The configuration of the namespace tests: SSH on 2222 with 3 new
/// connections a minute, outbound allow-list towards the client namespace.
const NETNS_CONFIG: &str = r#"
[firewall]
ssh_port = 2222
ssh_rate_limit_per_minute = 3
egress = "allowlist"
egress_hosts = ["exchange.test"]
egress_dns = ["10.201.0.2"]
egress_ntp = ["10.201.0.2"]
"#;

fn netns_rules() -> RuleSet {
    let c = config(NETNS_CONFIG);
    let https: Vec<IpAddr> = [C4, C6].iter().map(|s| s.parse().unwrap()).collect();
    firewall::rules(&c, &SshPorts::configured(2222), &https).unwrap()
}

/// What every backend loaded into the server namespace must do.
fn check_behaviour(pair: &Pair) {
    let _server = pair.listen(&pair.server, &[2222, 8000, 3000, 8001, 5432, 6379]);
    let _client = pair.listen(&pair.client, &[443, 53, 8443]);

    // From the client: SSH and the public ports over IPv4 and IPv6 (IPv6
    // needs neighbour discovery through the firewall); loopback-only
    // services are dropped.
    let mut wanted = Vec::new();
    for host in [S4, S6] {
        for (port, open) in [
            (2222, true),
            (8000, true),
            (3000, true),
            (5432, false),
            (6379, false),
            (8001, false),
        ] {
            wanted.push((target(host, port), open));
        }
    }
    let targets: Vec<String> = wanted.iter().map(|(t, _)| t.clone()).collect();
    expect(&pair.probe(&pair.client, false, &targets), &wanted);

    // Inside the server: PostgreSQL and Redis over loopback.
    let mut wanted = Vec::new();
    for host in ["127.0.0.1", "::1"] {
        for port in [5432, 6379] {
            wanted.push((target(host, port), true));
        }
    }
    // Out of the server: HTTPS to the resolved addresses and DNS (TCP) to
    // the resolver are allowed, anything else is dropped.
    wanted.extend([
        (target(C4, 443), true),
        (target(C6, 443), true),
        (target(C4, 53), true),
        (target(C4, 8443), false),
        (target(C6, 8443), false),
        (target(C6, 53), false),
    ]);
    let targets: Vec<String> = wanted.iter().map(|(t, _)| t.clone()).collect();
    expect(&pair.probe(&pair.server, false, &targets), &wanted);

    // SSH rate limit: 3 new connections a minute per address, and one was
    // used above; the next two pass, then the address is refused. IPv6
    // counts separately.
    let ssh4 = vec![target(S4, 2222); 4];
    let got = pair.probe(&pair.client, true, &ssh4);
    let open = got.iter().filter(|l| l.ends_with(" open")).count();
    assert_eq!(open, 2, "{got:#?}");
    assert!(
        got[2].ends_with(" closed") && got[3].ends_with(" closed"),
        "{got:#?}"
    );
    expect(
        &pair.probe(&pair.client, false, &[target(S6, 2222)]),
        &[(target(S6, 2222), true)],
    );
}

#[test]
fn nftables_rules_work_in_a_namespace() {
    let Some(t) = require(&["ip", "nft", "python3"], true) else {
        return;
    };
    let r = netns_rules();
    let pair = Pair::new(&t, "nft");
    let path = write(pair.scripts.path(), "cryptobot.nft", &nftables::render(&r));
    // Loading twice replaces the table: the second load succeeds and gives
    // the same ruleset.
    run_ok(pair.server.exec(&t["nft"]).arg("-f").arg(&path));
    let first = run_ok(pair.server.exec(&t["nft"]).args(["list", "ruleset"]));
    run_ok(pair.server.exec(&t["nft"]).arg("-f").arg(&path));
    let second = run_ok(pair.server.exec(&t["nft"]).args(["list", "ruleset"]));
    assert_eq!(first, second);
    assert_eq!(first.matches("table inet cryptobot").count(), 1, "{first}");
    check_behaviour(&pair);
}

#[test]
fn iptables_rules_work_in_a_namespace() {
    let Some(t) = require(
        &[
            "ip",
            "iptables",
            "ip6tables",
            "iptables-restore",
            "ip6tables-restore",
            "python3",
        ],
        true,
    ) else {
        return;
    };
    let r = netns_rules();
    let pair = Pair::new(&t, "ipt");
    for (family, restore, cmd) in [
        (Family::V4, "iptables-restore", "iptables"),
        (Family::V6, "ip6tables-restore", "ip6tables"),
    ] {
        let path = write(
            pair.scripts.path(),
            &format!("{restore}.rules"),
            &iptables::render(&r, family),
        );
        // Twice, as an operator reloading would: the chains are replaced,
        // not doubled.
        for _ in 0..2 {
            run_ok(pair.server.exec(&t[restore]).arg("--noflush").arg(&path));
            for (builtin, chain) in [("INPUT", "CRYPTOBOT-INPUT"), ("OUTPUT", "CRYPTOBOT-OUTPUT")] {
                let (present, _) =
                    run(pair.server.exec(&t[cmd]).args(["-C", builtin, "-j", chain]));
                if !present {
                    run_ok(
                        pair.server
                            .exec(&t[cmd])
                            .args(["-I", builtin, "1", "-j", chain]),
                    );
                }
            }
        }
        let listed = run_ok(pair.server.exec(&t[cmd]).args(["-S", "CRYPTOBOT-INPUT"]));
        assert_eq!(
            listed.matches("-j DROP").count(),
            if family == Family::V4 { 5 } else { 4 },
            "{listed}"
        );
        let input = run_ok(pair.server.exec(&t[cmd]).args(["-S", "INPUT"]));
        assert_eq!(input.matches("-j CRYPTOBOT-INPUT").count(), 1, "{input}");
    }
    check_behaviour(&pair);
}

#[test]
fn rendered_text_contains_only_what_was_validated() {
    // Every rule line is built from numbers, addresses and fixed words; the
    // host names appear in comments only, and they are [a-z0-9.-].
    let (c, r) = representative();
    for target in [
        Target::Nftables,
        Target::Iptables,
        Target::Ufw,
        Target::Pf,
        Target::Windows,
    ] {
        for f in firewall::render(target, &r, &c) {
            for line in f.content.lines() {
                assert!(
                    !line.contains('`') || line.starts_with('#'),
                    "{}: {line}",
                    f.name
                );
                assert!(!line.contains("$("), "{}: {line}", f.name);
            }
        }
    }
}
