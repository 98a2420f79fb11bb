//! `cryptobot firewall apply | confirm | rollback` through a real ufw.
//!
//! ufw never runs in this machine's own namespaces, and this machine's
//! `/etc` is never written: every command that may run ufw goes through
//! [`SANDBOX`], under `ip netns exec` in a network namespace this test
//! created (`cbufw-<pid>-<n>`, deleted on drop) and in a private mount
//! namespace where `/etc` is an overlay whose writes go to a tmpfs,
//! `/etc/ufw` and `/etc/default` are bind mounts of directories of the
//! test (seeded with the package's pristine files, `IPT_SYSCTL` emptied so
//! enabling ufw changes no sysctl), and `/run` is a tmpfs (ufw's lock). The
//! script refuses to run anything (exit 97) when its network or mount
//! namespace is this test's own. The watchdog `apply` starts inherits
//! those namespaces. A missing tool (or root) fails the test when `CI` is
//! set and skips it loudly otherwise.

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

/// One test at a time: a 3 s confirmation window must not be eaten by the
/// other tests' processes on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `NAME:[inode]` of one of this process's namespaces.
fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Runs `"$@"` in the sandbox (see the module comment). Arguments: the
/// sandbox directory, this test's network and mount namespace ids, then the
/// command.
const SANDBOX: &str = r#"
set -eu
box="$1"; net="$2"; mnt="$3"; shift 3
[ "$(readlink /proc/self/ns/net)" != "$net" ] || { echo "refused: the test's own network namespace" >&2; exit 97; }
[ "$(readlink /proc/self/ns/mnt)" != "$mnt" ] || { echo "refused: the test's own mount namespace" >&2; exit 97; }
mount -t tmpfs cbufw-etc "$box/overlay"
mkdir "$box/overlay/u" "$box/overlay/w"
mount -t overlay cbufw-etc -o lowerdir=/etc,upperdir="$box/overlay/u",workdir="$box/overlay/w" /etc
mount --bind "$box/ufw" /etc/ufw
mount --bind "$box/default" /etc/default
mount -t tmpfs cbufw-run /run
findmnt -n /etc/ufw >/dev/null || exit 96
findmnt -n /etc/default >/dev/null || exit 96
exec "$@"
"#;

/// A network namespace with its own `/etc/ufw` and `/etc/default`.
struct Sandbox {
    name: String,
    t: BTreeMap<String, PathBuf>,
    dir: tempfile::TempDir,
}

/// The ufw files the tests compare, below the sandbox directory.
const STATE: [&str; 6] = [
    "ufw/user.rules",
    "ufw/user6.rules",
    "ufw/after.rules",
    "ufw/after6.rules",
    "ufw/ufw.conf",
    "default/ufw",
];

impl Sandbox {
    fn new(t: &BTreeMap<String, PathBuf>) -> Sandbox {
        let name = format!(
            "cbufw-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run_ok(Command::new(&t["ip"]).args(["netns", "add", &name]));
        let dir = tempfile::tempdir().unwrap();
        let sb = Sandbox {
            name,
            t: t.clone(),
            dir,
        };
        sb.ip(&["link", "set", "lo", "up"]);
        // Copies (reading only) of the package's files: ufw inactive, no
        // user rules, no sysctl file.
        let d = sb.dir.path();
        std::fs::create_dir(d.join("overlay")).unwrap();
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg("/etc/ufw")
                .arg(d.join("ufw")),
        );
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg("/etc/default")
                .arg(d.join("default")),
        );
        for f in ["user.rules", "user6.rules", "ufw.conf"] {
            let pristine = Path::new("/usr/share/ufw").join(f);
            if pristine.exists() {
                std::fs::write(d.join("ufw").join(f), std::fs::read(&pristine).unwrap()).unwrap();
            }
        }
        let conf = std::fs::read_to_string(d.join("ufw/ufw.conf")).unwrap();
        std::fs::write(
            d.join("ufw/ufw.conf"),
            conf.replace("ENABLED=yes", "ENABLED=no"),
        )
        .unwrap();
        let default = std::fs::read_to_string(d.join("default/ufw")).unwrap();
        let default: String = default
            .lines()
            .map(|l| {
                if l.starts_with("IPT_SYSCTL=") {
                    "IPT_SYSCTL=\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(d.join("default/ufw"), default).unwrap();
        sb
    }

    fn ip(&self, args: &[&str]) -> String {
        run_ok(
            Command::new(&self.t["ip"])
                .args(["-n", &self.name])
                .args(args),
        )
    }

    /// `program` in this network namespace only (for probes and listeners).
    fn net(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.t["ip"]);
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `program` in this network namespace and a private mount namespace
    /// with the sandbox's /etc.
    fn exec(&self, program: &Path) -> Command {
        let mut c = self.net(&self.t["unshare"]);
        c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(SANDBOX)
            .arg("sh")
            .arg(self.dir.path())
            .arg(own_ns("net"))
            .arg(own_ns("mnt"))
            .arg(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("CRYPTOBOT_") {
                c.env_remove(k);
            }
        }
        c
    }

    fn cryptobot(&self, args: &[&str]) -> Run {
        let raw = self
            .exec(Path::new(env!("CARGO_BIN_EXE_cryptobot")))
            .args(args)
            .output()
            .expect("run cryptobot");
        Run {
            status: raw.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
            raw,
        }
    }

    fn ufw(&self, args: &[&str]) -> String {
        run_ok(self.exec(&self.t["ufw"]).args(args))
    }

    /// `iptables-save` and `ip6tables-save` of this namespace.
    fn kernel(&self) -> String {
        run_ok(&mut self.net(&self.t["iptables-save"]))
            + &run_ok(&mut self.net(&self.t["ip6tables-save"]))
    }

    /// The rules ufw added for the user (not its fixed chains).
    fn user_rules(&self) -> Vec<String> {
        self.kernel()
            .lines()
            .filter(|l| l.starts_with("-A ufw") && l.contains("-user-") && l.contains("--dport"))
            .map(str::to_string)
            .collect()
    }

    fn files(&self) -> Vec<Vec<u8>> {
        STATE
            .iter()
            .map(|f| std::fs::read(self.dir.path().join(f)).unwrap())
            .collect()
    }

    fn file(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(f)).unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(&self.t["ip"])
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// An installation prepared by `secure-config`, SSH on 22; its watchdogs
/// must all have ended when it is dropped.
struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        cryptobot(&["secure-config", "--home", path.to_str().unwrap(), "-q"]).ok();
        let home = Home { _dir: dir, path };
        home.firewall("");
        home
    }

    fn toml(&self) -> PathBuf {
        self.path.join("config/cryptobot.toml")
    }

    /// Appends `[firewall] ssh_port = 22` plus `extra` to the generated
    /// configuration (as generated, so each call replaces the last).
    fn firewall(&self, extra: &str) {
        let original = self.path.join("config/cryptobot.toml.orig");
        if !original.exists() {
            std::fs::copy(self.toml(), &original).unwrap();
        }
        let mut text = std::fs::read_to_string(&original).unwrap();
        text.push_str("\n[firewall]\nssh_port = 22\n");
        text.push_str(extra);
        std::fs::write(self.toml(), text).unwrap();
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

const S4: &str = "10.203.0.1";
const C4: &str = "10.203.0.2";
const S6: &str = "fd00:203::1";
const C6: &str = "fd00:203::2";

/// The ufw sandbox as a server, joined by a veth pair to a client
/// namespace; the server listens on SSH (22), the auth service (8000), the
/// web front end (3000), PostgreSQL (5432) and Redis (6379).
struct Pair {
    server: Sandbox,
    client: Sandbox,
    scripts: tempfile::TempDir,
    _listener: Option<Running>,
}

impl Pair {
    fn new(t: &BTreeMap<String, PathBuf>) -> Pair {
        let server = Sandbox::new(t);
        let client = Sandbox::new(t);
        server.ip(&[
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
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        let scripts = tempfile::tempdir().unwrap();
        std::fs::write(scripts.path().join("listener.py"), LISTENER).unwrap();
        std::fs::write(scripts.path().join("probe.py"), PROBE).unwrap();
        let mut pair = Pair {
            server,
            client,
            scripts,
            _listener: None,
        };
        let mut cmd = pair.server.net(&t["python3"]);
        cmd.arg(pair.scripts.path().join("listener.py"))
            .args(["22", "8000", "3000", "5432", "6379"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Running(cmd.spawn().unwrap());
        let mut line = String::new();
        let stdout = child.0.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "listener did not start");
        pair._listener = Some(child);
        pair
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
                .net(&self.client.t["python3"])
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

    /// SSH and the public ports connect; PostgreSQL and Redis do not
    /// (SSH probed once per family: `ufw limit` counts connections).
    fn expect_rules_active(&self, web_public: bool) {
        self.probe(&[
            (S4, 22, true),
            (S4, 8000, true),
            (S4, 3000, web_public),
            (S4, 5432, false),
            (S4, 6379, false),
            (S6, 22, true),
            (S6, 8000, true),
            (S6, 6379, false),
        ]);
    }

    /// No firewall: everything connects.
    fn expect_open(&self) {
        self.probe(&[(S4, 5432, true), (S4, 6379, true), (S6, 6379, true)]);
    }
}

const TOOLS: [&str; 7] = [
    "ip",
    "unshare",
    "findmnt",
    "ufw",
    "iptables-save",
    "ip6tables-save",
    "python3",
];

fn apply<'a>(home: &'a Home, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "firewall",
        "apply",
        "--home",
        home.arg(),
        "--backend",
        "ufw",
    ];
    v.extend_from_slice(extra);
    v
}

// ------------------------------------------------------------------ tests

#[test]
fn the_sandbox_never_touches_this_machine() {
    let Some(t) = require(&TOOLS) else {
        return;
    };
    let _serial = serial();
    let etc_before = run_ok(Command::new("sh").args([
        "-c",
        "md5sum /etc/ufw/*.rules /etc/ufw/ufw.conf /etc/default/ufw",
    ]));
    let kernel_before = run_ok(&mut Command::new(&t["iptables-save"]));
    let sb = Sandbox::new(&t);
    // In the sandbox, /etc/ufw is the test's copy, and ufw can be enabled.
    let out = run_ok(sb.exec(Path::new("/bin/sh")).args([
        "-c",
        "findmnt -n -o FSTYPE /etc; ufw --force enable; grep IPT_SYSCTL= /etc/default/ufw",
    ]));
    assert!(out.contains("overlay"), "{out}");
    assert!(out.contains("IPT_SYSCTL=\n"), "{out}");
    assert!(sb.file("ufw/ufw.conf").contains("ENABLED=yes"));
    assert!(sb.kernel().contains("ufw-user-input"));
    // This machine's files and rules are as they were.
    let etc_after = run_ok(Command::new("sh").args([
        "-c",
        "md5sum /etc/ufw/*.rules /etc/ufw/ufw.conf /etc/default/ufw",
    ]));
    assert_eq!(etc_before, etc_after);
    assert_eq!(
        kernel_before
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        run_ok(&mut Command::new(&t["iptables-save"]))
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
    );
    // The guard refuses this test's own namespaces.
    let refused = Command::new("/bin/sh")
        .args(["-c", SANDBOX, "sh"])
        .arg(sb.dir.path())
        .arg(own_ns("net"))
        .arg(own_ns("mnt"))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(97));
}

#[test]
fn an_unconfirmed_ufw_apply_goes_back_to_inactive_ufw() {
    let Some(t) = require(&TOOLS) else {
        return;
    };
    let _serial = serial();
    let pair = Pair::new(&t);
    let home = Home::new();
    let before = pair.server.files();
    assert!(pair.server.user_rules().is_empty());
    pair.expect_open();

    let run = pair
        .server
        .cryptobot(&apply(&home, &["--confirm-within", "3"]))
        .ok();
    let applied = Instant::now();
    assert!(
        run.stdout
            .contains("new rules active; run `cryptobot firewall confirm` within 3 s"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ufw --force disable"), "{}", run.stdout);
    // While the rules are active: SSH and the public ports connect, the
    // loopback services do not. The files on disk are the previous ones
    // already, so a reboot would not bring these rules back.
    pair.expect_rules_active(true);
    assert_eq!(pair.server.files(), before);
    assert!(!pair.server.user_rules().is_empty());
    assert_eq!(watchdogs(&home.path).len(), 1, "one watchdog");
    let state = home.path.join("data/firewall");
    assert_eq!(mode(&state), 0o700);
    assert!(state.join("pending").is_file());

    // No confirm: ufw is inactive again.
    let gone = wait_for(20.0, || !state.join("pending").exists());
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
    assert!(home.log().contains("rolled back"), "{}", home.log());
    assert!(
        pair.server.user_rules().is_empty(),
        "{}",
        pair.server.kernel()
    );
    assert_eq!(pair.server.files(), before, "the files are as before");
    assert!(pair.server.ufw(&["status"]).contains("Status: inactive"));
    pair.expect_open();

    let run = pair
        .server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
}

#[test]
fn confirmed_ufw_rules_stay_and_a_later_apply_replaces_them() {
    let Some(t) = require(&TOOLS) else {
        return;
    };
    let _serial = serial();
    let pair = Pair::new(&t);
    let home = Home::new();
    let pristine = pair.server.files();

    // Apply and confirm (with persistence): the rules stay, and ufw's
    // files hold them.
    pair.server
        .cryptobot(&apply(&home, &["--confirm-within", "30", "-q"]))
        .ok();
    let run = pair
        .server
        .cryptobot(&["firewall", "confirm", "--home", home.arg()])
        .ok();
    assert!(
        run.stdout
            .contains("confirmed: the new ufw rules stay active"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("persisted: /etc/ufw/user.rules"),
        "{}",
        run.stdout
    );
    assert!(home.watchdogs_gone(5), "the watchdog ends once confirmed");
    let status = pair.server.ufw(&["status"]);
    assert!(status.contains("Status: active"), "{status}");
    for rule in ["# cryptobot ssh", "# cryptobot auth", "# cryptobot web"] {
        assert!(status.contains(rule), "{rule} missing:\n{status}");
    }
    assert!(pair.server.file("ufw/ufw.conf").contains("ENABLED=yes"));
    let added = pair.server.ufw(&["show", "added"]);
    assert!(
        added.contains("ufw allow 3000/tcp comment 'cryptobot web'"),
        "{added}"
    );
    assert!(pair.server.file("ufw/user.rules").contains("tcp 8000"));
    assert!(pair.server.file("ufw/user6.rules").contains("tcp 8000"));
    pair.expect_rules_active(true);

    // `auto` on a host whose ufw is enabled goes through ufw; the dry run
    // lists what it would delete and run, and changes nothing.
    home.firewall("[services.web]\nexposure = \"loopback\"\n");
    let confirmed = pair.server.files();
    let run = pair
        .server
        .cryptobot(&["firewall", "apply", "--home", home.arg(), "--dry-run"])
        .ok();
    assert!(run.stdout.contains("ufw is enabled"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ufw delete allow 3000/tcp"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("ufw prepend deny 3000/tcp comment 'cryptobot web loopback only'"),
        "{}",
        run.stdout
    );
    assert_eq!(pair.server.files(), confirmed);

    // Web is no longer public. Unconfirmed, the rollback reloads the
    // confirmed rules (ufw was enabled).
    let run = pair
        .server
        .cryptobot(&apply(&home, &["--confirm-within", "3"]))
        .ok();
    assert!(run.stdout.contains("`ufw reload`"), "{}", run.stdout);
    pair.probe(&[(S4, 3000, false), (S6, 3000, false), (S4, 8000, true)]);
    let state = home.path.join("data/firewall");
    let gone = wait_for(25.0, || !state.join("pending").exists());
    assert!(
        gone.is_some(),
        "not rolled back after 25 s:\n{}",
        home.log()
    );
    assert!(home.watchdogs_gone(5));
    assert!(home.log().contains("`ufw reload`"), "{}", home.log());
    assert_eq!(pair.server.files(), confirmed);
    pair.expect_rules_active(true);

    // Applied and confirmed: the old rule of port 3000 is gone, from the
    // kernel and from the files.
    pair.server
        .cryptobot(&apply(&home, &["--confirm-within", "5", "-q"]))
        .ok();
    let applied = Instant::now();
    pair.server
        .cryptobot(&["firewall", "confirm", "--home", home.arg(), "-q"])
        .ok();
    let added = pair.server.ufw(&["show", "added"]);
    assert!(!added.contains("ufw allow 3000/tcp"), "{added}");
    assert!(
        added.contains("ufw deny 3000/tcp comment 'cryptobot web loopback only'"),
        "{added}"
    );
    assert_eq!(
        added.matches("comment 'cryptobot ssh'").count(),
        1,
        "{added}"
    );
    assert!(
        !pair
            .server
            .user_rules()
            .iter()
            .any(|r| r.contains("--dport 3000") && r.contains("ACCEPT")),
        "{}",
        pair.server.kernel()
    );
    // Past the deadline the rules are still there.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(applied.elapsed()));
    pair.expect_rules_active(false);

    // `cryptobot rollback` takes the last confirmed apply back: the files
    // and rules of the first one.
    let run = pair
        .server
        .cryptobot(&["rollback", "--home", home.arg()])
        .ok();
    assert!(run.stdout.contains("firewall confirm"), "{}", run.stdout);
    assert_eq!(pair.server.files(), confirmed);
    assert!(
        pair.server
            .user_rules()
            .iter()
            .any(|r| r.contains("--dport 3000") && r.contains("ACCEPT")),
        "{}",
        pair.server.kernel()
    );
    // And once more: back to inactive ufw with the package's files.
    pair.server
        .cryptobot(&["rollback", "--home", home.arg()])
        .ok();
    assert!(
        pair.server.user_rules().is_empty(),
        "{}",
        pair.server.kernel()
    );
    assert_eq!(pair.server.files(), pristine);
    assert!(pair.server.ufw(&["status"]).contains("Status: inactive"));
}

#[test]
fn persist_with_ufw_says_there_is_nothing_to_write() {
    let home = Home::new();
    let run = cryptobot(&[
        "firewall",
        "persist",
        "--home",
        home.arg(),
        "--backend",
        "ufw",
    ]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(
        run.stderr.contains("nothing to write for ufw"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix: "), "{}", run.stderr);
}

#[test]
fn a_ufw_command_that_fails_rolls_back_at_once() {
    let Some(t) = require(&TOOLS) else {
        return;
    };
    let _serial = serial();
    let sb = Sandbox::new(&t);
    // ufw without IPv6 refuses an IPv6 rule: the HTTPS rule to the IPv6
    // address fails after the others were added.
    let default = sb.file("default/ufw").replace("IPV6=yes", "IPV6=no");
    std::fs::write(sb.dir.path().join("default/ufw"), default).unwrap();
    let home = Home::new();
    home.firewall(
        "egress = \"allowlist\"\negress_dns = [\"192.0.2.53\"]\negress_ntp = [\"192.0.2.123\"]\n",
    );
    let before = sb.files();
    let run = sb.cryptobot(&apply(
        &home,
        &["--confirm-within", "30", "--egress-address", "2001:db8::10"],
    ));
    assert_eq!(run.status, 1, "{}", run.both());
    assert!(
        run.stderr.contains(
            "`ufw allow out to 2001:db8::10 port 443 proto tcp comment 'cryptobot https'` failed:"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fix: the previous ufw rules"),
        "{}",
        run.stderr
    );
    assert!(home.watchdogs_gone(5), "the watchdog ended");
    assert!(!home.path.join("data/firewall/pending").exists());
    assert!(home.log().contains("rolled back at once"), "{}", home.log());
    assert_eq!(sb.files(), before);
    assert!(sb.user_rules().is_empty(), "{}", sb.kernel());
    assert!(sb.ufw(&["status"]).contains("Status: inactive"));
}

#[test]
fn the_rendered_script_replaces_its_own_rules_on_a_real_ufw() {
    let Some(t) = require(&TOOLS) else {
        return;
    };
    let _serial = serial();
    let sb = Sandbox::new(&t);
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let render = |extra: &str| {
        home.firewall(extra);
        cryptobot(&[
            "firewall",
            "render",
            "--backend",
            "ufw",
            "--home",
            home.arg(),
            "--out",
            out.path().to_str().unwrap(),
        ])
        .ok();
        out.path().join("cryptobot-ufw.sh")
    };
    let script = render("");
    run_ok(sb.exec(Path::new("/bin/sh")).arg(&script));
    let added = sb.ufw(&["show", "added"]);
    assert!(
        added.contains("ufw allow 3000/tcp comment 'cryptobot web'"),
        "{added}"
    );
    // A foreign rule stays; ours are replaced, not added twice.
    sb.ufw(&["allow", "9999/tcp", "comment", "not ours"]);
    let script = render("[services.web]\nexposure = \"loopback\"\n");
    let out = run_ok(sb.exec(Path::new("/bin/sh")).arg(&script));
    assert!(out.contains("Status: active"), "{out}");
    let added = sb.ufw(&["show", "added"]);
    assert!(!added.contains("ufw allow 3000/tcp"), "{added}");
    assert!(
        added.contains("ufw allow 9999/tcp comment 'not ours'"),
        "{added}"
    );
    assert_eq!(
        added.matches("comment 'cryptobot ssh'").count(),
        1,
        "{added}"
    );
    assert_eq!(
        added
            .matches("comment 'cryptobot web loopback only'")
            .count(),
        1,
        "{added}"
    );
}
