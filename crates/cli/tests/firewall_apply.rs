//! `cryptobot firewall apply | confirm | persist` as an operator runs them,
//! confirm-or-rollback included.
//!
//! Nothing is ever applied to this machine's own network namespace: every
//! command that touches the kernel's rules runs under `ip netns exec` in a
//! namespace this test created (`cbfw-<pid>-<n>`, deleted on drop), and
//! traffic goes only to the veth addresses created here (10.202.0.0/24,
//! fd00:202::/64). This machine's boot files are never written either: the
//! live commands get `--no-persist`, persistence is tested under `--root`,
//! and the one test of `confirm` with persistence runs in a private mount
//! namespace whose `/etc` is an overlay on a throwaway tmpfs. A test that
//! needs a missing tool (or root) fails when `CI` is set and is skipped
//! loudly otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::netns::*;
use common::*;

// ---------------------------------------------------------------- helpers

fn run_ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{shown} failed:\n{text}");
    text
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The tests run one at a time: a confirmation window of 3 s must not be
/// eaten by the other tests' processes on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A network namespace made with `ip netns add`, deleted on drop.
struct Netns {
    name: String,
    ip: PathBuf,
}

impl Netns {
    fn new(ip: &Path) -> Netns {
        let name = format!(
            "cbfw-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run_ok(Command::new(ip).args(["netns", "add", &name]));
        let ns = Netns {
            name,
            ip: ip.to_path_buf(),
        };
        ns.ip_cmd(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip_cmd(&self, args: &[&str]) -> String {
        run_ok(Command::new(&self.ip).args(["-n", &self.name]).args(args))
    }

    /// `program` run inside the namespace.
    fn exec(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `cryptobot ARGS` inside the namespace (never in the machine's own).
    fn cryptobot(&self, args: &[&str]) -> Run {
        let mut cmd = self.exec(Path::new(env!("CARGO_BIN_EXE_cryptobot")));
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("CRYPTOBOT_") {
                cmd.env_remove(k);
            }
        }
        let raw = cmd.output().expect("run cryptobot");
        Run {
            status: raw.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
            raw,
        }
    }

    fn nft(&self, t: &BTreeMap<String, PathBuf>, args: &[&str]) -> String {
        run_ok(self.exec(&t["nft"]).args(args))
    }

    /// `nft list tables` in this namespace.
    fn tables(&self, t: &BTreeMap<String, PathBuf>) -> String {
        self.nft(t, &["list", "tables"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// An installation prepared by `secure-config`, with SSH on 22, whose
/// watchdogs must all have ended when it is dropped.
struct Home {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Home {
    fn new(firewall: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        cryptobot(&["secure-config", "--home", path.to_str().unwrap(), "-q"]).ok();
        let toml = path.join("config/cryptobot.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap();
        text.push_str("\n[firewall]\n");
        text.push_str(firewall);
        std::fs::write(&toml, text).unwrap();
        Home { dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Waits up to `secs` for every watchdog of this home to end.
    fn watchdogs_gone(&self, secs: u64) -> bool {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if watchdogs(&self.path).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        watchdogs(&self.path).is_empty()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // A failed test may leave one waiting for its deadline (a few
        // seconds); it is ours, so end it by its pid.
        if !self.watchdogs_gone(8) {
            for pid in watchdogs(&self.path) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        let _ = &self.dir;
    }
}

const S4: &str = "10.202.0.1";
const C4: &str = "10.202.0.2";
const S6: &str = "fd00:202::1";
const C6: &str = "fd00:202::2";

/// A server and a client namespace joined by a veth pair; the server
/// listens on SSH (22), Redis (6379) and the auth service (8000).
struct Pair {
    server: Netns,
    client: Netns,
    python: PathBuf,
    scripts: tempfile::TempDir,
    _listener: Option<Running>,
}

impl Pair {
    fn new(t: &BTreeMap<String, PathBuf>) -> Pair {
        let ip = &t["ip"];
        let server = Netns::new(ip);
        let client = Netns::new(ip);
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
        std::fs::write(scripts.path().join("listener.py"), LISTENER).unwrap();
        std::fs::write(scripts.path().join("probe.py"), PROBE).unwrap();
        let mut pair = Pair {
            server,
            client,
            python: t["python3"].clone(),
            scripts,
            _listener: None,
        };
        pair._listener = Some(pair.listen(&[22, 6379, 8000]));
        pair
    }

    fn listen(&self, ports: &[u16]) -> Running {
        let mut cmd = self.server.exec(&self.python);
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

    /// From the client: which of the server's ports connect.
    fn probe(&self, wanted: &[(&str, u16, bool)]) {
        let targets: Vec<String> = wanted
            .iter()
            .map(|(h, p, _)| {
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            })
            .collect();
        let out = run_ok(
            self.client
                .exec(&self.python)
                .arg(self.scripts.path().join("probe.py"))
                .args(&targets),
        );
        let got: Vec<&str> = out.lines().collect();
        let mut wrong = Vec::new();
        for (t, (_, _, open)) in targets.iter().zip(wanted) {
            let want = format!("{t} {}", if *open { "open" } else { "closed" });
            if !got.contains(&want.as_str()) {
                wrong.push(want);
            }
        }
        assert!(wrong.is_empty(), "wanted {wrong:#?}\ngot {got:#?}");
    }

    /// SSH and the public port connect, Redis does not (IPv4 and IPv6).
    fn expect_rules_active(&self) {
        self.probe(&[
            (S4, 22, true),
            (S4, 8000, true),
            (S4, 6379, false),
            (S6, 22, true),
            (S6, 6379, false),
        ]);
    }

    /// No firewall: everything connects.
    fn expect_open(&self) {
        self.probe(&[(S4, 22, true), (S4, 6379, true), (S6, 6379, true)]);
    }
}

const SSH22: &str = "ssh_port = 22\n";

fn apply_args<'a>(home: &'a Home, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["firewall", "apply", "--home", home.arg(), "--no-persist"];
    v.extend_from_slice(extra);
    v
}

// ------------------------------------------------------------------ tests

#[test]
fn unconfirmed_rules_are_rolled_back_after_the_deadline() {
    let Some(t) = require(&["ip", "nft", "python3"]) else {
        return;
    };
    let _serial = serial();
    let pair = Pair::new(&t);
    let home = Home::new(SSH22);
    assert!(!pair.server.tables(&t).contains("cryptobot"));
    pair.expect_open();

    let run = pair
        .server
        .cryptobot(&apply_args(&home, &["--confirm-within", "3"]))
        .ok();
    let applied = Instant::now();
    assert!(
        run.stdout.contains(
            "new rules active; run `cryptobot firewall confirm` within 3 s from a NEW ssh session, or they are rolled back"
        ),
        "{}",
        run.stdout
    );
    // While the rules are active: SSH and the public port connect, Redis not.
    assert!(pair.server.tables(&t).contains("table inet cryptobot"));
    pair.expect_rules_active();
    assert_eq!(watchdogs(&home.path).len(), 1, "one watchdog");
    let state = home.path.join("data/firewall");
    assert_eq!(mode(&state), 0o700);
    assert!(state.join("pending").is_file());

    // A second apply while this one waits is refused.
    let again = pair
        .server
        .cryptobot(&apply_args(&home, &["--confirm-within", "3"]));
    assert_eq!(again.status, 2, "{}", again.both());
    assert!(
        again.stderr.contains("wait for confirmation"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("fix: "), "{}", again.stderr);

    // No confirm: the previous state (no cryptobot table) comes back.
    let gone = wait_for(8.0, || !pair.server.tables(&t).contains("cryptobot"));
    assert!(gone.is_some(), "the table is still there after 8 s");
    let after = applied.elapsed();
    assert!(
        after >= Duration::from_millis(2500),
        "rolled back too early: {after:?}"
    );
    pair.expect_open();
    assert!(home.watchdogs_gone(3), "the watchdog ended");
    assert!(!state.join("pending").exists());
    let log = std::fs::read_to_string(home.path.join("logs/firewall.log")).unwrap();
    assert!(log.contains("rolled back"), "{log}");

    // Nothing is pending any more.
    let run = pair
        .server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("nothing to confirm"), "{}", run.stderr);
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
    assert!(run.stderr.contains("fix: "), "{}", run.stderr);
}

#[test]
fn confirmed_rules_stay_and_rollback_restores_the_previous_ones() {
    let Some(t) = require(&["ip", "nft", "python3"]) else {
        return;
    };
    let _serial = serial();
    let pair = Pair::new(&t);
    let home = Home::new(SSH22);
    pair.server
        .cryptobot(&apply_args(&home, &["--confirm-within", "3"]))
        .ok();
    let applied = Instant::now();
    let run = pair
        .server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()])
        .ok();
    assert!(run.stdout.contains("confirmed"), "{}", run.stdout);
    assert!(run.stdout.contains("cryptobot rollback"), "{}", run.stdout);
    assert!(home.watchdogs_gone(3), "the watchdog ends once confirmed");

    // Past the deadline the rules are still there.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(applied.elapsed()));
    assert!(pair.server.tables(&t).contains("table inet cryptobot"));
    pair.expect_rules_active();

    let run = pair
        .server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("was confirmed"), "{}", run.stderr);

    // The dry run now sees nothing to change.
    let run = pair
        .server
        .cryptobot(&apply_args(&home, &["--dry-run"]))
        .ok();
    assert!(run.stdout.contains("no change"), "{}", run.stdout);

    // The confirmed apply is journaled: rollback restores the state before
    // it (no table).
    let run = pair
        .server
        .cryptobot(&["rollback", "--home", home.arg()])
        .ok();
    assert!(run.stdout.contains("firewall confirm"), "{}", run.stdout);
    assert!(!pair.server.tables(&t).contains("cryptobot"));
    pair.expect_open();
}

#[test]
fn a_rule_set_that_would_block_ssh_is_refused_and_nothing_changes() {
    let Some(t) = require(&["ip", "nft"]) else {
        return;
    };
    let _serial = serial();
    let ns = Netns::new(&t["ip"]);
    // Someone else's table, which must stay exactly as it is.
    let scratch = tempfile::tempdir().unwrap();
    let other = scratch.path().join("other.nft");
    std::fs::write(
        &other,
        "table inet other {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 9 drop\n\t}\n}\n",
    )
    .unwrap();
    ns.nft(&t, &["-f", other.to_str().unwrap()]);
    let before = ns.nft(&t, &["list", "ruleset"]);
    assert!(before.contains("table inet other"), "{before}");

    // SSH on Redis's port, which the firewall keeps loopback-only.
    let home = Home::new("ssh_port = 6379\n");
    for extra in [&["--confirm-within", "3"][..], &["--dry-run"][..]] {
        let run = ns.cryptobot(&apply_args(&home, extra));
        assert_eq!(run.status, 2, "{extra:?}: {}", run.both());
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains("would block SSH"), "{}", run.stderr);
        assert!(run.stderr.contains("fix: "), "{}", run.stderr);
    }
    assert_eq!(ns.nft(&t, &["list", "ruleset"]), before);
    assert!(!home.path.join("data/firewall").exists());
    assert!(watchdogs(&home.path).is_empty());

    // A render-only backend (pf; ufw is applied through `ufw`, which this
    // test must not run outside a sandbox: see tests/firewall_ufw.rs), and
    // --root, are refused the same way.
    let home = Home::new("ssh_port = 22\nbackend = \"pf\"\n");
    let run = ns.cryptobot(&apply_args(&home, &[]));
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("render-only"), "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["apply", "confirm"] {
        let run = ns.cryptobot(&[
            "firewall",
            cmd,
            "--root",
            dir.path().to_str().unwrap(),
            "--home",
            "/opt/cryptobot",
        ]);
        assert_eq!(run.status, 2, "{}", run.both());
        assert!(
            run.stderr.contains("firewall persist --root"),
            "{}",
            run.stderr
        );
    }
    // The hidden helper that loads rules for the dry run refuses to run
    // anywhere but in an empty namespace of its own: here there are rules.
    let run = ns.cryptobot(&["firewall", "normalize", "--backend", "nftables"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(
        run.stderr.contains("new, empty network namespace"),
        "{}",
        run.stderr
    );
    // ... and another interface.
    ns.ip_cmd(&[
        "link", "add", "cbx0", "type", "veth", "peer", "name", "cbx1",
    ]);
    let run = ns.cryptobot(&["firewall", "normalize", "--backend", "iptables"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(
        run.stderr.contains("new, empty network namespace"),
        "{}",
        run.stderr
    );
    assert_eq!(ns.nft(&t, &["list", "ruleset"]), before);
}

#[test]
fn dry_run_shows_a_diff_and_changes_nothing() {
    let Some(t) = require(&["ip", "nft", "unshare"]) else {
        return;
    };
    let _serial = serial();
    let ns = Netns::new(&t["ip"]);
    let home = Home::new(SSH22);

    // No table yet: everything is new.
    let run = ns.cryptobot(&apply_args(&home, &["--dry-run"])).ok();
    assert!(
        run.stdout.contains("dry run: nothing is changed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--- active (no table inet cryptobot)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+table inet cryptobot {"),
        "{}",
        run.stdout
    );
    assert!(!ns.tables(&t).contains("cryptobot"));

    // An older table, rendered for SSH on 2200: the diff shows the change
    // in the kernel's own listing format.
    let old_home = Home::new("ssh_port = 2200\n");
    let old = cryptobot(&[
        "firewall",
        "render",
        "--backend",
        "nftables",
        "--home",
        old_home.arg(),
    ])
    .ok()
    .stdout;
    let file = home.dir.path().join("old.nft");
    std::fs::write(&file, old).unwrap();
    ns.nft(&t, &["-f", file.to_str().unwrap()]);
    let before = ns.nft(&t, &["list", "ruleset"]);
    let run = ns.cryptobot(&apply_args(&home, &["--dry-run"])).ok();
    assert!(
        run.stdout
            .contains("--- active (table inet cryptobot)\n+++ new\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("-\t\ttcp dport 2200 ct state new accept\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+\t\ttcp dport 22 ct state new accept\n"),
        "{}",
        run.stdout
    );
    // Only the changed lines, not the whole table.
    assert!(
        !run.stdout.contains("-\t\tct state invalid drop"),
        "{}",
        run.stdout
    );
    let json = ns
        .cryptobot(&apply_args(&home, &["--dry-run", "--format", "json"]))
        .ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["changed"], true);
    assert_eq!(v["active"], true);

    assert_eq!(ns.nft(&t, &["list", "ruleset"]), before, "nothing changed");
    assert!(!home.path.join("data/firewall").exists());
    assert!(watchdogs(&home.path).is_empty());
}

#[test]
fn iptables_rules_are_rolled_back_or_kept_the_same_way() {
    let Some(t) = require(&["ip", "iptables", "ip6tables", "iptables-restore", "python3"]) else {
        return;
    };
    let _serial = serial();
    let pair = Pair::new(&t);
    let home = Home::new(SSH22);
    let chains = |ns: &Netns| {
        run_ok(ns.exec(&t["iptables"]).arg("-S")) + &run_ok(ns.exec(&t["ip6tables"]).arg("-S"))
    };
    let before = chains(&pair.server);
    assert!(!before.contains("CRYPTOBOT"), "{before}");

    pair.server
        .cryptobot(&apply_args(
            &home,
            &["--backend", "iptables", "--confirm-within", "3"],
        ))
        .ok();
    let active = chains(&pair.server);
    assert_eq!(
        active.matches("-A INPUT -j CRYPTOBOT-INPUT").count(),
        2,
        "{active}"
    );
    pair.expect_rules_active();
    let gone = wait_for(8.0, || !chains(&pair.server).contains("CRYPTOBOT"));
    assert!(gone.is_some(), "{}", chains(&pair.server));
    assert_eq!(chains(&pair.server), before);
    pair.expect_open();
    assert!(home.watchdogs_gone(3));

    // Confirmed: kept past the deadline; rollback takes them away.
    pair.server
        .cryptobot(&apply_args(
            &home,
            &["--backend", "iptables", "--confirm-within", "3"],
        ))
        .ok();
    pair.server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()])
        .ok();
    std::thread::sleep(Duration::from_secs(4));
    pair.expect_rules_active();
    let run = pair
        .server
        .cryptobot(&apply_args(&home, &["--backend", "iptables", "--dry-run"]))
        .ok();
    assert!(run.stdout.contains("no change"), "{}", run.stdout);
    pair.server
        .cryptobot(&["rollback", "--home", home.arg()])
        .ok();
    assert_eq!(chains(&pair.server), before);
}

const DEBIAN_NFTABLES_CONF: &str = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n";

#[test]
fn persist_under_a_root_writes_the_boot_files_and_rollback_removes_them() {
    let Some(t) = require(&["ip", "nft"]) else {
        return;
    };
    let _serial = serial();
    // `persist` asks `nft -c` (check only) about the rules: in a namespace
    // of our own all the same.
    let ns = Netns::new(&t["ip"]);
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("root");
    std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
    std::fs::write(r.join("etc/ssh/sshd_config"), "Port 2222\n").unwrap();
    std::fs::write(r.join("etc/nftables.conf"), DEBIAN_NFTABLES_CONF).unwrap();
    let rs = r.to_str().unwrap();
    const HOME: &str = "/opt/cryptobot";
    cryptobot(&["secure-config", "--root", rs, "--home", HOME, "-q"]).ok();
    let persist = |extra: &[&str]| {
        let mut args = vec!["firewall", "persist", "--root", rs, "--home", HOME];
        args.extend_from_slice(extra);
        ns.cryptobot(&args)
    };
    let etc = r.join("etc");
    let before = snapshot(&etc);

    let run = persist(&["--dry-run"]).ok();
    assert!(
        run.stdout
            .contains("create file /etc/nftables.d/cryptobot.nft"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+include \"/etc/nftables.d/cryptobot.nft\""),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&etc), before, "the dry run wrote nothing");

    let run = persist(&[]).ok();
    assert!(
        run.stdout
            .contains("persisted: /etc/nftables.d/cryptobot.nft"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cryptobot rollback --root"),
        "{}",
        run.stdout
    );
    let rendered = cryptobot(&[
        "firewall",
        "render",
        "--backend",
        "nftables",
        "--root",
        rs,
        "--home",
        HOME,
    ])
    .ok()
    .stdout;
    assert!(
        rendered.contains("tcp dport { 2222 }"),
        "the SSH port from the root's sshd_config"
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("nftables.d/cryptobot.nft")).unwrap(),
        rendered
    );
    let conf = std::fs::read_to_string(etc.join("nftables.conf")).unwrap();
    assert!(conf.starts_with(DEBIAN_NFTABLES_CONF), "{conf}");
    assert_eq!(
        conf.matches("include \"/etc/nftables.d/cryptobot.nft\"")
            .count(),
        1,
        "{conf}"
    );
    // What was written loads (checked in the namespace).
    run_ok(
        ns.exec(&t["nft"])
            .args(["-c", "-f"])
            .arg(etc.join("nftables.d/cryptobot.nft")),
    );

    // A second run changes nothing.
    let written = snapshot(&etc);
    let run = persist(&[]).ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert_eq!(snapshot(&etc), written);

    // Rollback removes the file and the include.
    let run = ns
        .cryptobot(&["rollback", "--root", rs, "--home", HOME])
        .ok();
    assert!(run.stdout.contains("firewall persist"), "{}", run.stdout);
    assert!(!etc.join("nftables.d").exists());
    assert_eq!(
        std::fs::read_to_string(etc.join("nftables.conf")).unwrap(),
        DEBIAN_NFTABLES_CONF
    );

    // iptables: rules.v4 is written (it did not exist), a rules.v6 of
    // someone else is a whole table and is left alone with a note.
    std::fs::create_dir_all(etc.join("iptables")).unwrap();
    let foreign = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 9 -j DROP\nCOMMIT\n";
    std::fs::write(etc.join("iptables/rules.v6"), foreign).unwrap();
    let run = persist(&["--backend", "iptables"]).ok();
    assert!(
        run.stdout.contains("persisted: /etc/iptables/rules.v4"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("left /etc/iptables/rules.v6 alone"),
        "{}",
        run.stdout
    );
    let v4 = std::fs::read_to_string(etc.join("iptables/rules.v4")).unwrap();
    assert!(v4.contains("-A INPUT -j CRYPTOBOT-INPUT\n"), "{v4}");
    assert_eq!(
        std::fs::read_to_string(etc.join("iptables/rules.v6")).unwrap(),
        foreign
    );
    let run = persist(&["--backend", "iptables"]).ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    ns.cryptobot(&["rollback", "--root", rs, "--home", HOME])
        .ok();
    assert!(!etc.join("iptables/rules.v4").exists());
    assert_eq!(
        std::fs::read_to_string(etc.join("iptables/rules.v6")).unwrap(),
        foreign
    );
}

#[test]
fn a_late_confirm_restores_the_previous_rules_when_the_watchdog_is_gone() {
    let Some(t) = require(&["ip", "nft"]) else {
        return;
    };
    let _serial = serial();
    let ns = Netns::new(&t["ip"]);
    let home = Home::new(SSH22);
    ns.cryptobot(&apply_args(&home, &["--confirm-within", "1"]))
        .ok();
    // The watchdog dies (killed by its pid: this test started it).
    for pid in watchdogs(&home.path) {
        run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
    }
    assert!(home.watchdogs_gone(3));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(ns.tables(&t).contains("cryptobot"), "nobody restored it");

    let run = ns.cryptobot(&apply_args(&home, &[]));
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(
        run.stderr.contains("were not confirmed by"),
        "{}",
        run.stderr
    );

    let run = ns.cryptobot(&["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(run.stderr.contains("too late"), "{}", run.stderr);
    assert!(
        run.stderr.contains("previous rules are restored"),
        "{}",
        run.stderr
    );
    assert!(!ns.tables(&t).contains("cryptobot"));
    let run = ns.cryptobot(&["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 2, "{}", run.both());
}

/// Runs in the namespace, in a private mount namespace whose `/etc` is an
/// overlay (writes go to a tmpfs that vanishes with it): `apply`, `confirm`
/// with persistence, then `rollback`, as on a real host — without ever
/// writing this machine's own `/etc`. Refuses to go on unless the overlay
/// is in place.
const OVERLAY_SCRIPT: &str = r#"
set -eu
work="$1"; cb="$2"; home="$3"
mount -t tmpfs cbfw "$work"
mkdir "$work/u" "$work/w"
mount -t overlay cbfw-etc -o lowerdir=/etc,upperdir="$work/u",workdir="$work/w" /etc
[ "$(findmnt -n -o FSTYPE /etc)" = overlay ] || exit 90
"$cb" firewall apply --home "$home" --confirm-within 30 -q
"$cb" firewall confirm --home "$home"
echo "== boot file"
cat /etc/nftables.d/cryptobot.nft
echo "== conf"
cat /etc/nftables.conf
echo "== rollback"
"$cb" rollback --home "$home"
echo "== after"
[ -e /etc/nftables.d ] && echo "nftables.d still there"
cat /etc/nftables.conf 2>/dev/null || echo "no nftables.conf"
echo "== tables"
nft list tables
"#;

#[test]
fn confirm_persists_the_rules_and_rollback_takes_rules_and_files_back() {
    let Some(t) = require(&["ip", "nft", "unshare", "findmnt"]) else {
        return;
    };
    let _serial = serial();
    let host_conf = std::fs::read("/etc/nftables.conf").ok();
    let host_dir = Path::new("/etc/nftables.d").exists();
    let ns = Netns::new(&t["ip"]);
    let home = Home::new(SSH22);
    let work = home.dir.path().join("overlay");
    std::fs::create_dir(&work).unwrap();
    let out = run_ok(
        ns.exec(&t["unshare"])
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(OVERLAY_SCRIPT)
            .arg("sh")
            .arg(&work)
            .arg(env!("CARGO_BIN_EXE_cryptobot"))
            .arg(&home.path),
    );
    let section = |name: &str| {
        out.split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|s| s.split("\n== ").next())
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .to_string()
    };
    assert!(
        out.contains("confirmed: the new nftables rules stay active"),
        "{out}"
    );
    assert!(
        out.contains("persisted: /etc/nftables.d/cryptobot.nft"),
        "{out}"
    );
    assert!(
        section("boot file").contains("table inet cryptobot {"),
        "{out}"
    );
    assert!(
        section("conf").contains("include \"/etc/nftables.d/cryptobot.nft\""),
        "{out}"
    );
    // Rollback: the table is gone, and so are the boot file and the include.
    assert!(section("rollback").contains("firewall confirm"), "{out}");
    let after = section("after");
    assert!(!after.contains("still there"), "{out}");
    assert!(!after.contains("cryptobot.nft"), "{out}");
    if let Some(conf) = &host_conf {
        assert_eq!(after.trim_end(), String::from_utf8_lossy(conf).trim_end());
    }
    assert!(!section("tables").contains("cryptobot"), "{out}");
    // This machine's /etc was never written.
    assert_eq!(std::fs::read("/etc/nftables.conf").ok(), host_conf);
    assert_eq!(Path::new("/etc/nftables.d").exists(), host_dir);
}
