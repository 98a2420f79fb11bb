//! `cryptobot firewall apply | confirm | rollback` through a real firewalld.
//!
//! firewalld never runs in this machine's own namespaces, and this
//! machine's `/etc` is never written: every `firewall-cmd` and every
//! `cryptobot firewall apply/confirm/rollback` with firewalld runs in a
//! [`FirewalldSandbox`] (its own network namespace, a private mount
//! namespace with `/etc` an overlay on a tmpfs and `/etc/firewalld` the
//! test's directory, its own D-Bus), through `exec`, whose guard refuses
//! to run in this test's namespaces. The watchdog `apply` starts inherits
//! the sandbox's namespaces. A missing tool (or root) fails the test when
//! `CI` is set and skips it loudly otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::firewalld::FirewalldSandbox;
use common::netns::{LISTENER, PROBE, Running, wait_for, watchdogs};
use common::{Run, cryptobot};

// ---------------------------------------------------------------- helpers

/// One test at a time: a 3 s confirmation window must not be eaten by the
/// other tests' daemons on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `cryptobot ARGS` in the sandbox.
fn cb(fw: &FirewalldSandbox, args: &[&str]) -> Run {
    let mut cmd = fw.exec(env!("CARGO_BIN_EXE_cryptobot"), args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CRYPTOBOT_") {
            cmd.env_remove(k);
        }
    }
    let raw = cmd.stdin(Stdio::null()).output().expect("run cryptobot");
    Run {
        status: raw.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        raw,
    }
}

fn fwcmd(fw: &FirewalldSandbox, args: &[&str]) -> String {
    fw.firewall_cmd(args)
        .unwrap_or_else(|e| panic!("{e}\n{}", fw.log()))
        .trim()
        .to_string()
}

/// Every file below the sandbox's /etc/firewalld with its content (mtimes
/// left out: firewalld.conf is rewritten, with the same bytes).
fn etc_files(fw: &FirewalldSandbox) -> BTreeMap<PathBuf, Option<String>> {
    common::snapshot(&fw.etc_firewalld())
        .into_iter()
        .map(|(p, e)| {
            let text = e.content.map(|c| String::from_utf8_lossy(&c).into_owned());
            (p, text)
        })
        .collect()
}

fn zones(fw: &FirewalldSandbox) -> Vec<String> {
    fwcmd(fw, &["--get-zones"])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn ports(fw: &FirewalldSandbox) -> Vec<String> {
    let mut p: Vec<String> = fwcmd(fw, &["--zone=cryptobot", "--list-ports"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    p.sort();
    p
}

/// An installation prepared by `secure-config`, SSH on 22; its watchdogs
/// must all have ended when it is dropped (declare it after the sandbox,
/// so it is dropped first).
struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        cryptobot(&["secure-config", "--home", path.to_str().unwrap(), "-q"]).ok();
        let toml = path.join("config/cryptobot.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap();
        text.push_str("\n[firewall]\nssh_port = 22\n");
        std::fs::write(&toml, text).unwrap();
        Home { _dir: dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn watchdogs_gone(&self, secs: u64) -> bool {
        wait_for(secs as f64, || watchdogs(&self.path).is_empty()).is_some()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("logs/firewall.log")).unwrap_or_default()
    }

    fn pending(&self) -> PathBuf {
        self.path.join("data/firewall/pending")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // A failed test may leave one waiting for its deadline; it is ours,
        // so end it by its pid.
        if !self.watchdogs_gone(15) {
            for pid in watchdogs(&self.path) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

fn apply<'a>(home: &'a Home, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "firewall",
        "apply",
        "--home",
        home.arg(),
        "--backend",
        "firewalld",
    ];
    v.extend_from_slice(extra);
    v
}

/// This machine's rules and firewall files.
fn host_state() -> String {
    let mut out = String::new();
    for (program, args) in [
        ("nft", &["list", "ruleset"][..]),
        ("iptables-save", &[][..]),
        ("ip6tables-save", &[][..]),
        (
            "sh",
            &[
                "-c",
                "ls -la --time-style=full-iso /etc/firewalld /etc/nftables.conf; md5sum /etc/nftables.conf",
            ][..],
        ),
    ] {
        match Command::new(program).args(args).output() {
            Ok(o) => {
                out.push_str(&format!("== {program} {}\n", o.status));
                for l in String::from_utf8_lossy(&o.stdout).lines() {
                    // iptables-save's comment lines carry a timestamp.
                    if !l.starts_with('#') {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
                out.push_str(&String::from_utf8_lossy(&o.stderr));
            }
            Err(e) => out.push_str(&format!("== {program}: {e}\n")),
        }
    }
    out
}

// ---------------------------------------------------------- connectivity

const S4: &str = "10.204.0.1";
const C4: &str = "10.204.0.2";

/// A client network namespace joined to the sandbox's by a veth pair; the
/// sandbox listens on SSH (22), auth (8000), web (3000), PostgreSQL (5432)
/// and Redis (6379). The sandbox's end is bound to no zone, so firewalld's
/// default zone decides.
struct Client {
    name: String,
    scripts: tempfile::TempDir,
    _listener: Running,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Client {
    fn new(fw: &FirewalldSandbox) -> Client {
        let name = format!("cbfwdc-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let server = fw.netns();
        ip(&[
            "-n", server, "link", "add", "cbv0", "type", "veth", "peer", "name", "cbv1", "netns",
            &name,
        ]);
        ip(&[
            "-n",
            server,
            "addr",
            "add",
            &format!("{S4}/24"),
            "dev",
            "cbv0",
        ]);
        ip(&["-n", server, "link", "set", "cbv0", "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{C4}/24"),
            "dev",
            "cbv1",
        ]);
        ip(&["-n", &name, "link", "set", "cbv1", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        let scripts = tempfile::tempdir().unwrap();
        std::fs::write(scripts.path().join("listener.py"), LISTENER).unwrap();
        std::fs::write(scripts.path().join("probe.py"), PROBE).unwrap();
        let mut child = Running(
            fw.exec("python3", [scripts.path().join("listener.py")])
                .args(["22", "8000", "3000", "5432", "6379"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        let stdout = child.0.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "listener did not start");
        Client {
            name,
            scripts,
            _listener: child,
        }
    }

    /// Which of the sandbox's ports connect from the client.
    fn probe(&self, wanted: &[(u16, bool)]) {
        let targets: Vec<String> = wanted.iter().map(|(p, _)| format!("{S4}:{p}")).collect();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "python3"])
            .arg(self.scripts.path().join("probe.py"))
            .args(&targets)
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        let got: Vec<&str> = got.lines().collect();
        let mut wrong = Vec::new();
        for (t, (_, open)) in targets.iter().zip(wanted) {
            let want = format!("{t} {}", if *open { "open" } else { "closed" });
            if !got.contains(&want.as_str()) {
                wrong.push(want);
            }
        }
        assert!(wrong.is_empty(), "wanted {wrong:#?}\ngot {got:#?}");
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn an_unconfirmed_apply_goes_back_to_the_previous_zone() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    let client = Client::new(&fw);
    let before = etc_files(&fw);
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    // public: SSH only.
    client.probe(&[(22, true), (8000, false), (5432, false)]);

    let run = cb(&fw, &apply(&home, &["--confirm-within", "3"])).ok();
    let applied = Instant::now();
    assert!(
        run.stdout
            .contains("new rules active; run `cryptobot firewall confirm` within 3 s"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("`firewall-cmd --reload`: default zone public again"),
        "{}",
        run.stdout
    );
    // The runtime has the new zone; the files on disk are the previous
    // ones (no zone file), so a reload or a reboot would not keep it.
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "cryptobot");
    assert_eq!(ports(&fw), ["22/tcp", "3000/tcp", "8000/tcp"]);
    assert!(
        fwcmd(&fw, &["--get-policies"])
            .split_whitespace()
            .any(|p| p == "cryptobot-egress")
    );
    assert_eq!(etc_files(&fw), before, "the files on disk are as before");
    assert!(!fw.etc_firewalld().join("zones/cryptobot.xml").exists());
    client.probe(&[
        (22, true),
        (8000, true),
        (3000, true),
        (5432, false),
        (6379, false),
    ]);
    assert_eq!(watchdogs(&home.path).len(), 1, "one watchdog");
    assert!(home.pending().is_file());

    // No confirm: firewalld is back to its previous configuration.
    let gone = wait_for(20.0, || !home.pending().exists());
    assert!(
        gone.is_some(),
        "not rolled back after 20 s:\n{}",
        home.log()
    );
    assert!(
        applied.elapsed() >= Duration::from_millis(2500),
        "rolled back too early"
    );
    assert!(home.watchdogs_gone(5), "the watchdog ended");
    let log = home.log();
    assert!(log.contains("rolled back"), "{log}");
    assert!(log.contains("firewall-cmd --reload"), "{log}");
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!zones(&fw).contains(&"cryptobot".to_string()));
    assert_eq!(
        etc_files(&fw),
        before,
        "the files are byte for byte as before"
    );
    client.probe(&[(22, true), (8000, false), (5432, false)]);

    let run = cb(&fw, &["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
}

#[test]
fn confirmed_rules_stay_and_rollback_restores_the_previous_state() {
    let _serial = serial();
    let host_before = host_state();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    let pristine = etc_files(&fw);

    cb(&fw, &apply(&home, &["--confirm-within", "4", "-q"])).ok();
    let applied = Instant::now();
    let run = cb(&fw, &["firewall", "confirm", "--home", home.arg()]).ok();
    assert!(
        run.stdout
            .contains("confirmed: the new firewalld rules stay active"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("persisted: /etc/firewalld/zones/cryptobot.xml"),
        "{}",
        run.stdout
    );
    assert!(home.watchdogs_gone(5), "the watchdog ends once confirmed");
    // Past the deadline, the rules are still there, and on disk.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(applied.elapsed()));
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "cryptobot");
    assert_eq!(ports(&fw), ["22/tcp", "3000/tcp", "8000/tcp"]);
    let etc = fw.etc_firewalld();
    let zone = std::fs::read_to_string(etc.join("zones/cryptobot.xml")).unwrap();
    assert!(zone.contains("<zone target=\"DROP\">"), "{zone}");
    assert!(etc.join("policies/cryptobot-egress.xml").is_file());
    let conf = std::fs::read_to_string(etc.join("firewalld.conf")).unwrap();
    assert!(conf.lines().any(|l| l == "DefaultZone=cryptobot"), "{conf}");
    assert_eq!(common::mode(&etc.join("zones/cryptobot.xml")), 0o644);
    // firewalld's own reload keeps them: they are its permanent config.
    assert_eq!(fwcmd(&fw, &["--reload"]), "success");
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "cryptobot");
    assert_eq!(ports(&fw), ["22/tcp", "3000/tcp", "8000/tcp"]);
    let confirmed = etc_files(&fw);

    // `cryptobot rollback` takes the confirmed apply back: files and runtime.
    let run = cb(&fw, &["rollback", "--home", home.arg()]).ok();
    assert!(run.stdout.contains("firewall confirm"), "{}", run.stdout);
    assert_ne!(etc_files(&fw), confirmed);
    assert_eq!(etc_files(&fw), pristine, "the package's files again");
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!zones(&fw).contains(&"cryptobot".to_string()));

    drop(home);
    drop(fw);
    assert_eq!(
        host_state(),
        host_before,
        "this machine's rules or files changed"
    );
}

#[test]
fn auto_applies_through_a_running_firewalld_and_warns_about_other_zones() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    // The sandbox is a firewalld host: enabled at boot (systemd's link, in
    // the sandbox's /etc overlay), so `auto` picks firewalld.
    fw.run(
        "/bin/sh",
        [
            "-c",
            "mkdir -p /etc/systemd/system/multi-user.target.wants && \
             ln -sf /lib/systemd/system/firewalld.service /etc/systemd/system/multi-user.target.wants/firewalld.service",
        ],
    )
    .unwrap();
    let check = cb(&fw, &["firewall", "check", "--home", home.arg()]).ok();
    assert!(check.stdout.contains("firewalld"), "{}", check.stdout);
    // An interface bound to another zone is not covered by the default zone.
    assert_eq!(
        fwcmd(
            &fw,
            &["--permanent", "--zone=trusted", "--add-interface=cbtest0"]
        ),
        "success"
    );
    assert_eq!(fwcmd(&fw, &["--reload"]), "success");

    let run = cb(
        &fw,
        &[
            "firewall",
            "apply",
            "--home",
            home.arg(),
            "--confirm-within",
            "30",
            "--format",
            "json",
        ],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["backend"], "firewalld", "{doc:#}");
    assert_eq!(doc["previous_default_zone"], "public", "{doc:#}");
    assert_eq!(doc["checked"], true, "{doc:#}");
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{doc:#}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.starts_with("interfaces cbtest0 is bound to zone trusted"),
        "{w}"
    );
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "cryptobot");
    let pending = std::fs::read_to_string(home.pending()).unwrap();
    assert!(pending.contains("\"backend\": \"firewalld\""), "{pending}");
    cb(&fw, &["firewall", "confirm", "--home", home.arg(), "-q"]).ok();
    assert!(home.watchdogs_gone(5));
    assert!(fw.etc_firewalld().join("zones/cryptobot.xml").is_file());
}

#[test]
fn dry_run_shows_the_files_and_commands_and_changes_nothing() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    let before = etc_files(&fw);
    let run = cb(&fw, &apply(&home, &["--dry-run"])).ok();
    let out = &run.stdout;
    assert!(out.contains("dry run: nothing is changed."), "{out}");
    assert!(
        out.contains("firewalld is running; its default zone is public"),
        "{out}"
    );
    assert!(
        out.contains("--- /etc/firewalld/zones/cryptobot.xml (absent)"),
        "{out}"
    );
    assert!(
        out.contains("+++ /etc/firewalld/zones/cryptobot.xml (new)"),
        "{out}"
    );
    assert!(out.contains("+<zone target=\"DROP\">"), "{out}");
    assert!(out.contains("-DefaultZone=public"), "{out}");
    assert!(out.contains("+DefaultZone=cryptobot"), "{out}");
    assert!(out.contains("\nfirewall-cmd --reload\n"), "{out}");
    assert!(
        out.contains("\nfirewall-cmd --set-default-zone=cryptobot\n"),
        "{out}"
    );
    assert!(
        out.contains("check with firewall-offline-cmd: passed"),
        "{out}"
    );
    assert_eq!(etc_files(&fw), before);
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!zones(&fw).contains(&"cryptobot".to_string()));
    assert!(!home.path.join("data/firewall").exists());
}

#[test]
fn a_configuration_firewalld_refuses_is_not_applied() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    // A broken zone of the operator's: firewalld's check of the new
    // configuration fails, and nothing is touched.
    std::fs::write(
        fw.etc_firewalld().join("zones/broken.xml"),
        "<?xml version=\"1.0\"?>\n<zone><port port=\"x\" protocol=\"tcp\"/></zone>\n",
    )
    .unwrap();
    let before = etc_files(&fw);
    let run = cb(&fw, &apply(&home, &["--confirm-within", "30"]));
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(
        run.stderr
            .contains("firewalld refuses the new configuration"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("INVALID_PORT"), "{}", run.stderr);
    assert!(
        run.stderr.contains("  fix: nothing was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(etc_files(&fw), before);
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!home.pending().exists());
    assert!(watchdogs(&home.path).is_empty());
}

#[test]
fn a_late_confirm_restores_the_previous_zone_when_the_watchdog_is_gone() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    let before = etc_files(&fw);
    cb(&fw, &apply(&home, &["--confirm-within", "2", "-q"])).ok();
    // The watchdog is ours (found by its --home): end it by its pid.
    for pid in watchdogs(&home.path) {
        assert!(
            Command::new("kill")
                .arg(pid.to_string())
                .status()
                .unwrap()
                .success()
        );
    }
    assert!(home.watchdogs_gone(5));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "cryptobot");
    let run = cb(&fw, &["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(run.stderr.contains("too late"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the previous rules are restored"),
        "{}",
        run.stderr
    );
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!zones(&fw).contains(&"cryptobot".to_string()));
    assert_eq!(etc_files(&fw), before);
}

#[test]
fn a_firewall_cmd_that_fails_midway_rolls_back_at_once() {
    let _serial = serial();
    let Some(fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    // Lockdown without root in the whitelist: `--reload` is still allowed,
    // `--set-default-zone` is not — the apply fails after the new zone was
    // loaded.
    std::fs::write(
        fw.etc_firewalld().join("lockdown-whitelist.xml"),
        "<?xml version=\"1.0\"?>\n<whitelist>\n  <user id=\"4242\"/>\n</whitelist>\n",
    )
    .unwrap();
    assert_eq!(fwcmd(&fw, &["--lockdown-on"]), "success");
    let before = etc_files(&fw);
    let run = cb(&fw, &apply(&home, &["--confirm-within", "30"]));
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(
        run.stderr.contains(
            "error: `firewall-cmd --set-default-zone=cryptobot` failed: Error: ACCESS_DENIED"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("fix: the previous firewalld configuration was restored and reloaded; firewalld's lockdown"),
        "{}",
        run.stderr
    );
    assert!(home.watchdogs_gone(5), "the watchdog ended");
    assert!(!home.pending().exists());
    assert!(home.log().contains("rolled back at once"), "{}", home.log());
    assert_eq!(etc_files(&fw), before, "the files are as before");
    assert_eq!(fwcmd(&fw, &["--get-default-zone"]), "public");
    assert!(!zones(&fw).contains(&"cryptobot".to_string()));
}

#[test]
fn a_stopped_firewalld_is_refused_and_nothing_changes() {
    let _serial = serial();
    let Some(mut fw) = FirewalldSandbox::start_or_skip() else {
        return;
    };
    let home = Home::new();
    let before = etc_files(&fw);
    let rules = fw.run("nft", ["list", "ruleset"]).unwrap();
    fw.stop_firewalld().unwrap();
    let run = cb(&fw, &apply(&home, &["--confirm-within", "30"]));
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(
        run.stderr.contains("error: firewalld is not running"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("  fix: start firewalld") && run.stderr.contains("--backend nftables"),
        "{}",
        run.stderr
    );
    assert_eq!(etc_files(&fw), before);
    assert_eq!(fw.run("nft", ["list", "ruleset"]).unwrap(), rules);
    assert!(!home.path.join("data/firewall").exists());
    assert!(watchdogs(&home.path).is_empty());
}

#[test]
fn persist_with_firewalld_says_there_is_nothing_to_write() {
    let home = Home::new();
    let run = cryptobot(&[
        "firewall",
        "persist",
        "--home",
        home.arg(),
        "--backend",
        "firewalld",
    ]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(
        run.stderr.contains("nothing to write for firewalld"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix: "), "{}", run.stderr);
}
