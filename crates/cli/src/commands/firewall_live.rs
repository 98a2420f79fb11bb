//! `cryptobot firewall apply | confirm | persist`, and the hidden
//! `watchdog` and `normalize`: the rules loaded into the running kernel the
//! way `iptables-apply` does it, so a rule set that cuts the operator off is
//! rolled back by itself.
//!
//! State lives in `<home>/data/firewall/` (0700): `applied-<id>.*` and
//! `previous-<id>.*` (the new rules and the script that restores what was
//! there before), `pending` (the deadline of the apply waiting for
//! `confirm`) and `last.json` (how the last apply ended). Every step is
//! logged to `<home>/logs/firewall.log`. The pure parts (restore scripts,
//! the marker, the watchdog's decision, boot files) are in
//! `cryptobot_harden::firewall::live`.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use cryptobot_config::Egress;
use cryptobot_harden::firewall::live::{
    self, IptState, LiveBackend, Marker, Outcome, Pending, WatchdogStep,
};
use cryptobot_harden::firewall::{self, Family, RuleSet, iptables, nftables};
use cryptobot_plan::{Change, Content, Planner, Root};
use serde_json::json;

use super::firewall::{failure, rule_set};
use crate::cli::{
    FirewallApplyArgs, FirewallLiveBackendArg, FirewallNormalizeArgs, FirewallPersistArgs,
    FirewallWatchdogArgs,
};
use crate::context::{Context, Failure};

/// What ufw and firewalld share: firewalls whose own tool keeps the rules
/// in files.
#[path = "firewall_managed.rs"]
mod managed_live;

/// ufw, through its own command.
#[path = "firewall_ufw.rs"]
mod ufw_live;

/// firewalld, through `firewall-cmd`.
#[path = "firewall_firewalld.rs"]
mod firewalld_live;

/// State files of this many applies are kept (as many as journal runs), so
/// `cryptobot rollback` still finds the previous rules of a confirmed apply.
const KEEP_STATES: usize = cryptobot_plan::KEEP_JOURNALS;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn backend_of(arg: FirewallLiveBackendArg) -> LiveBackend {
    match arg {
        FirewallLiveBackendArg::Nftables => LiveBackend::Nftables,
        FirewallLiveBackendArg::Iptables => LiveBackend::Iptables,
        FirewallLiveBackendArg::Ufw => LiveBackend::Ufw,
        FirewallLiveBackendArg::Firewalld => LiveBackend::Firewalld,
    }
}

/// The backends `firewall_live` loads itself (ufw and firewalld go to
/// [`ufw_live`] and [`firewalld_live`] before any of this is reached).
fn not_here(backend: LiveBackend) -> Failure {
    Failure::runtime(
        format!(
            "internal error: {} rules are not loaded this way",
            backend.as_str()
        ),
        None,
    )
}

// ------------------------------------------------------------ programs

/// The absolute path of a system tool: the sbin and bin directories, never
/// a `PATH` lookup (this runs as root).
fn tool(name: &str) -> Result<PathBuf, Failure> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let package = match name {
                "nft" => "nftables",
                "unshare" => "util-linux",
                _ => "iptables",
            };
            Failure::runtime(
                format!("`{name}` is not installed"),
                Some(format!("install it: apt-get install {package}")),
            )
        })
}

struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The last lines of standard error, for a message.
    fn error(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(6)..].join("\n");
        if tail.is_empty() {
            "it failed without a message".into()
        } else {
            tail.chars().take(2000).collect()
        }
    }
}

/// Runs `program args`, feeding `input` on standard input.
fn run(program: &Path, args: &[&str], input: Option<&str>) -> Result<Ran, Failure> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let cannot = |e: std::io::Error| Failure::runtime(format!("cannot run {shown}: {e}"), None);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(cannot)?;
    let stdin = child.stdin.take();
    let output = std::thread::scope(|s| {
        if let (Some(mut pipe), Some(text)) = (stdin, input) {
            s.spawn(move || {
                // A program that stops reading early reports its own error.
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child.wait_with_output()
    })
    .map_err(cannot)?;
    Ok(Ran {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn tool_failure(what: &str, ran: &Ran) -> Failure {
    let hint = if ran.stderr.contains("Operation not permitted")
        || ran.stderr.contains("ermission denied")
    {
        "run as root (changing the firewall needs CAP_NET_ADMIN)".to_string()
    } else {
        "nothing was changed; the quoted message is the tool's own".to_string()
    };
    Failure::runtime(format!("{what} failed: {}", ran.error()), Some(hint))
}

const IPT: [(Family, &str, &str, &str); 2] = [
    (Family::V4, "iptables-restore", "iptables-save", "iptables"),
    (
        Family::V6,
        "ip6tables-restore",
        "ip6tables-save",
        "ip6tables",
    ),
];

// ----------------------------------------------------- the kernel's rules

/// Our rules as the kernel has them now.
enum Current {
    /// `nft -s list table inet cryptobot`, dynamic set members removed;
    /// `None` when the table does not exist.
    Nft(Option<String>),
    /// IPv4, IPv6.
    Ipt(Vec<IptState>),
}

impl Current {
    fn read(backend: LiveBackend) -> Result<Current, Failure> {
        match backend {
            LiveBackend::Nftables => {
                let nft = tool("nft")?;
                let ran = run(&nft, &["-s", "list", "table", "inet", "cryptobot"], None)?;
                if ran.ok {
                    Ok(Current::Nft(Some(live::strip_dynamic_elements(
                        &ran.stdout,
                    ))))
                } else if ran.stderr.contains("No such file or directory") {
                    Ok(Current::Nft(None))
                } else {
                    Err(tool_failure("nft list table inet cryptobot", &ran))
                }
            }
            LiveBackend::Iptables => {
                let mut states = Vec::new();
                for (_, _, save, _) in IPT {
                    let ran = run(&tool(save)?, &["-t", "filter"], None)?;
                    if !ran.ok {
                        return Err(tool_failure(&format!("{save} -t filter"), &ran));
                    }
                    states.push(IptState::parse(&ran.stdout));
                }
                Ok(Current::Ipt(states))
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => Err(not_here(backend)),
        }
    }

    fn present(&self) -> bool {
        match self {
            Current::Nft(t) => t.is_some(),
            Current::Ipt(s) => s.iter().any(IptState::is_present),
        }
    }

    /// For the diff.
    fn listing(&self) -> String {
        match self {
            Current::Nft(t) => t.clone().unwrap_or_default(),
            Current::Ipt(s) => ipt_listing(s),
        }
    }
}

fn ipt_listing(states: &[IptState]) -> String {
    let mut o = String::new();
    for (st, name) in states.iter().zip(["IPv4", "IPv6"]) {
        o.push_str(&format!("# {name}\n"));
        o.push_str(&st.listing());
    }
    o
}

/// The rendered rules of `backend`: one file for nftables, IPv4 and IPv6
/// for iptables.
fn rendered(backend: LiveBackend, rules: &RuleSet) -> Vec<String> {
    match backend {
        LiveBackend::Nftables => vec![nftables::render(rules)],
        LiveBackend::Iptables => vec![
            iptables::render(rules, Family::V4),
            iptables::render(rules, Family::V6),
        ],
        LiveBackend::Ufw => vec![firewall::ufw::render(rules)],
        LiveBackend::Firewalld => vec![
            firewall::firewalld::zone(rules),
            firewall::firewalld::policy(rules),
        ],
    }
}

/// `(load script, restore script)` per family.
fn scripts(files: &[String], current: &Current, id: &str) -> Vec<(String, String)> {
    match current {
        Current::Nft(prev) => files
            .iter()
            .map(|f| (f.clone(), live::nft_restore_script(prev.as_deref(), id)))
            .collect(),
        Current::Ipt(states) => files
            .iter()
            .zip(states)
            .zip([Family::V4, Family::V6])
            .map(|((f, st), family)| (live::ipt_load_script(f, st), st.restore_script(family, id)))
            .collect(),
    }
}

/// `nft -c` / `iptables-restore --test` on each script.
fn check(backend: LiveBackend, texts: &[&str], what: &str) -> Result<(), Failure> {
    for (i, text) in texts.iter().enumerate() {
        let (program, args, shown): (PathBuf, &[&str], &str) = match backend {
            LiveBackend::Nftables => (tool("nft")?, &["-c", "-f", "/dev/stdin"], "nft -c -f"),
            LiveBackend::Iptables => {
                let (_, restore, _, _) = IPT[i.min(1)];
                (
                    tool(restore)?,
                    &["--test", "--noflush"],
                    if i == 0 {
                        "iptables-restore --test"
                    } else {
                        "ip6tables-restore --test"
                    },
                )
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => return Ok(()),
        };
        let ran = run(&program, args, Some(text))?;
        if !ran.ok {
            return Err(tool_failure(&format!("{shown} on {what}"), &ran));
        }
    }
    Ok(())
}

/// Loads the files (one transaction per family). When IPv6 fails after
/// IPv4 was loaded, IPv4 is restored from `undo`.
fn load(backend: LiveBackend, files: &[PathBuf], undo: &[PathBuf]) -> Result<(), Failure> {
    match backend {
        LiveBackend::Nftables => {
            let nft = tool("nft")?;
            for f in files {
                let ran = run(&nft, &["-f", &f.to_string_lossy()], None)?;
                if !ran.ok {
                    return Err(tool_failure("nft -f", &ran));
                }
            }
            Ok(())
        }
        LiveBackend::Iptables => {
            for (i, f) in files.iter().enumerate() {
                let (_, restore, _, _) = IPT[i.min(1)];
                let ran = run(&tool(restore)?, &["--noflush", &f.to_string_lossy()], None)?;
                if !ran.ok {
                    for (j, u) in undo.iter().enumerate().take(i) {
                        let (_, restore, _, _) = IPT[j.min(1)];
                        let _ = run(&tool(restore)?, &["--noflush", &u.to_string_lossy()], None);
                    }
                    return Err(tool_failure(&format!("{restore} --noflush"), &ran));
                }
            }
            Ok(())
        }
        LiveBackend::Ufw | LiveBackend::Firewalld => Err(not_here(backend)),
    }
}

/// Puts back the state saved before apply `id`. `Ok(what was done)`, or
/// `Err(what went wrong)`. When the saved state cannot be loaded, our rules
/// are removed instead: an open host is better than a locked-out one.
fn restore(backend: LiveBackend, state: &State, id: &str) -> Result<String, String> {
    let fail = |f: Failure| f.message;
    match backend {
        LiveBackend::Nftables => {
            let nft = tool("nft").map_err(fail)?;
            let (_, previous) = &backend.state_files(id)[0];
            let path = state.path(previous);
            let ran = run(&nft, &["-f", &path.to_string_lossy()], None).map_err(fail)?;
            if ran.ok {
                return Ok(format!("loaded {}", path.display()));
            }
            let removed =
                run(&nft, &["delete", "table", "inet", "cryptobot"], None).map_err(fail)?;
            if removed.ok {
                Ok(format!(
                    "could not load {} ({}); deleted table inet cryptobot instead",
                    path.display(),
                    ran.error()
                ))
            } else {
                Err(format!(
                    "could not load {} ({}) nor delete table inet cryptobot ({})",
                    path.display(),
                    ran.error(),
                    removed.error()
                ))
            }
        }
        LiveBackend::Iptables => {
            let mut done = Vec::new();
            let mut errors = Vec::new();
            for ((_, previous), (_, restore, save, cmd)) in backend.state_files(id).iter().zip(IPT)
            {
                let path = state.path(previous);
                let program = tool(restore).map_err(fail)?;
                let ran =
                    run(&program, &["--noflush", &path.to_string_lossy()], None).map_err(fail)?;
                if ran.ok {
                    done.push(format!("loaded {}", path.display()));
                    continue;
                }
                // Unhook and remove our chains one by one.
                let cmd = tool(cmd).map_err(fail)?;
                let mut steps: Vec<Vec<&str>> = vec![
                    vec!["-D", "INPUT", "-j", "CRYPTOBOT-INPUT"],
                    vec!["-D", "OUTPUT", "-j", "CRYPTOBOT-OUTPUT"],
                ];
                for c in iptables::CHAINS {
                    steps.push(vec!["-F", c]);
                }
                for c in iptables::CHAINS {
                    steps.push(vec!["-X", c]);
                }
                for s in &steps {
                    let _ = run(&cmd, s, None);
                }
                let left = match tool(save) {
                    Ok(save) => run(&save, &["-t", "filter"], None)
                        .map(|r| !r.ok || IptState::parse(&r.stdout).is_present())
                        .unwrap_or(true),
                    Err(_) => true,
                };
                if left {
                    errors.push(format!(
                        "could not load {} ({}) nor remove the CRYPTOBOT-* chains",
                        path.display(),
                        ran.error()
                    ));
                } else {
                    done.push(format!(
                        "could not load {} ({}); removed the CRYPTOBOT-* chains instead",
                        path.display(),
                        ran.error()
                    ));
                }
            }
            if errors.is_empty() {
                Ok(done.join("; "))
            } else {
                Err(errors.join("; "))
            }
        }
        LiveBackend::Ufw => ufw_live::restore(state, id),
        LiveBackend::Firewalld => firewalld_live::restore(state, id),
    }
}

/// The new rules as the kernel lists them, from a throwaway network
/// namespace (`unshare --net cryptobot firewall normalize`), so the diff
/// compares like with like.
fn normalized(backend: LiveBackend, files: &[String]) -> Result<String, String> {
    let unshare = tool("unshare").map_err(|f| f.message)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let exe = exe.to_string_lossy().into_owned();
    let inputs: Vec<String> = match backend {
        LiveBackend::Nftables => files.to_vec(),
        LiveBackend::Iptables => files
            .iter()
            .map(|f| live::ipt_load_script(f, &IptState::default()))
            .collect(),
        LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(backend).message),
    };
    let input = serde_json::to_string(&inputs).map_err(|e| e.to_string())?;
    let ran = run(
        &unshare,
        &[
            "--net",
            "--",
            &exe,
            "firewall",
            "normalize",
            "--backend",
            backend.as_str(),
        ],
        Some(&input),
    )
    .map_err(|f| f.message)?;
    if ran.ok {
        Ok(ran.stdout)
    } else {
        Err(ran.error())
    }
}

/// `cryptobot firewall normalize` (hidden): loads the rules given on
/// standard input (a JSON list, one text per family) and prints them as the
/// kernel lists them. Refuses to run anywhere but in a network namespace
/// that has only a loopback interface and no rules, i.e. the fresh one
/// `unshare --net` made for it.
pub fn normalize(args: &FirewallNormalizeArgs) -> Result<(), Failure> {
    if backend_of(args.backend).managed().is_some() {
        return Err(Failure::input(
            "`firewall normalize` handles nftables and iptables only",
            Some(
                "`cryptobot firewall apply --backend ufw|firewalld --dry-run` shows what would change"
                    .to_string(),
            ),
        ));
    }
    let only_lo = std::fs::read_to_string("/proc/self/net/dev")
        .map(|t| {
            t.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .all(|name| name.trim() == "lo")
        })
        .unwrap_or(false);
    let no_rules = || -> Result<bool, Failure> {
        Ok(match backend_of(args.backend) {
            LiveBackend::Nftables => {
                let ran = run(&tool("nft")?, &["list", "ruleset"], None)?;
                ran.ok && ran.stdout.trim().is_empty()
            }
            LiveBackend::Iptables => {
                let mut empty = true;
                for (_, _, save, _) in IPT {
                    let ran = run(&tool(save)?, &[], None)?;
                    empty &= ran.ok && !ran.stdout.lines().any(|l| l.starts_with("-A "));
                }
                empty
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => false,
        })
    };
    if !only_lo || !no_rules()? {
        return Err(Failure::input(
            "`firewall normalize` runs only in a new, empty network namespace",
            Some("it is used by `cryptobot firewall apply --dry-run`; use that".to_string()),
        ));
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Failure::runtime(format!("cannot read the rules: {e}"), None))?;
    let texts: Vec<String> = serde_json::from_str(&input)
        .map_err(|e| Failure::input(format!("cannot read the rules: {e}"), None))?;
    match backend_of(args.backend) {
        LiveBackend::Nftables => {
            let nft = tool("nft")?;
            for t in &texts {
                let ran = run(&nft, &["-f", "/dev/stdin"], Some(t))?;
                if !ran.ok {
                    return Err(tool_failure("nft -f", &ran));
                }
            }
            let ran = run(&nft, &["-s", "list", "table", "inet", "cryptobot"], None)?;
            if !ran.ok {
                return Err(tool_failure("nft list table inet cryptobot", &ran));
            }
            print!("{}", live::strip_dynamic_elements(&ran.stdout));
        }
        LiveBackend::Iptables => {
            let mut states = Vec::new();
            for (t, (_, restore, save, _)) in texts.iter().zip(IPT) {
                let ran = run(&tool(restore)?, &["--noflush"], Some(t))?;
                if !ran.ok {
                    return Err(tool_failure(restore, &ran));
                }
                let ran = run(&tool(save)?, &["-t", "filter"], None)?;
                if !ran.ok {
                    return Err(tool_failure(save, &ran));
                }
                states.push(IptState::parse(&ran.stdout));
            }
            print!("{}", ipt_listing(&states));
        }
        b @ (LiveBackend::Ufw | LiveBackend::Firewalld) => return Err(not_here(b)),
    }
    Ok(())
}

// ------------------------------------------------------------ the state

/// `<home>/data/firewall/`, owned by the user running cryptobot (root),
/// mode 0700: what the watchdog loads as root must not be writable by
/// anyone else.
struct State {
    dir: PathBuf,
    logs: PathBuf,
}

fn io_failure(what: String) -> impl Fn(std::io::Error) -> Failure {
    move |e| {
        Failure::runtime(
            format!("{what}: {e}"),
            Some("check the owner and mode of the installation's data directory".to_string()),
        )
    }
}

impl State {
    /// The state directory; created when `create` (the home must exist),
    /// `None` when it does not exist and `create` is false.
    fn open(ctx: &Context, create: bool) -> Result<Option<State>, Failure> {
        let home = ctx.layout.home();
        let data = ctx.layout.data_dir();
        let dir = data.join(live::STATE_DIR);
        let logs = ctx.layout.logs_dir();
        if create {
            if !home.is_dir() {
                return Err(Failure::input(
                    format!("the installation home {} does not exist", home.display()),
                    Some(
                        "give the right --home, or prepare it with `cryptobot secure-config`"
                            .to_string(),
                    ),
                ));
            }
            for d in [&data, &dir] {
                match std::fs::DirBuilder::new().mode(0o700).create(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_failure(format!("cannot create {}", d.display()))(e)),
                }
            }
        }
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) => return Err(io_failure(format!("cannot inspect {}", dir.display()))(e)),
        };
        let me = rustix::process::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != me {
            return Err(Failure::input(
                format!(
                    "{} is not a directory owned by this user (uid {me})",
                    dir.display()
                ),
                Some("remove it; cryptobot creates it again, mode 0700".to_string()),
            ));
        }
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_failure(format!("cannot chmod {}", dir.display())))?;
        }
        Ok(Some(State { dir, logs }))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// An exclusive lock held while the marker is read and changed, so
    /// `confirm` and the watchdog never both act.
    fn lock(&self) -> Result<File, Failure> {
        let path = self.path(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&path)
            .map_err(io_failure(format!("cannot open {}", path.display())))?;
        file.lock()
            .map_err(io_failure(format!("cannot lock {}", path.display())))?;
        Ok(file)
    }

    /// A state file's text; `None` when missing. Never follows a link.
    fn read(&self, name: &str) -> Result<Option<String>, Failure> {
        let path = self.path(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_failure(format!("cannot read {}", path.display()))(e)),
        };
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(io_failure(format!("cannot read {}", path.display())))?;
        Ok(Some(text))
    }

    fn write(&self, name: &str, text: &str) -> Result<(), Failure> {
        crate::outfile::write_atomic(&self.dir, name, text.as_bytes(), 0o600)
    }

    fn remove(&self, name: &str) -> Result<(), Failure> {
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_failure(format!(
                "cannot remove {}",
                self.path(name).display()
            ))(e)),
        }
    }

    /// The marker: `None` when nothing is pending, `Some(Err)` when it
    /// cannot be read.
    fn pending(&self) -> Result<Option<Result<Pending, String>>, Failure> {
        Ok(self
            .read(live::PENDING_FILE)?
            .map(|t| Pending::parse(&t).map_err(|e| e.to_string())))
    }

    fn last(&self) -> Option<Outcome> {
        self.read(live::LAST_FILE)
            .ok()
            .flatten()
            .and_then(|t| Outcome::parse(&t))
    }

    /// Ends the pending apply: `last.json` records how, then the marker goes.
    fn finish(&self, p: &Pending, outcome: &str, detail: &str) -> Result<(), Failure> {
        let o = Outcome {
            pending: p.clone(),
            outcome: outcome.into(),
            at_unix_ms: now_ms(),
            detail: detail.into(),
        };
        self.write(live::LAST_FILE, &o.to_json())?;
        self.remove(live::PENDING_FILE)
    }

    /// Appends a line to `<home>/logs/firewall.log` (best effort: a log
    /// that cannot be written never stops a rollback).
    fn log(&self, line: &str) {
        let _ = std::fs::DirBuilder::new().mode(0o750).create(&self.logs);
        let path = self.logs.join(live::LOG_FILE);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(path)
        {
            let _ = writeln!(f, "{} {line}", live::rfc3339(now_ms()));
        }
    }

    /// Deletes the state files nothing needs any more (see
    /// [`live::prunable`]): never the pending apply's, nor a confirmed
    /// apply's whose journal `cryptobot rollback` can still reach.
    fn prune(&self, pending: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in live::prunable(&names, Some(pending), KEEP_STATES) {
            let _ = std::fs::remove_file(self.path(&name));
        }
    }
}

fn require_live(ctx: &Context, command: &str) -> Result<(), Failure> {
    if ctx.root.is_live() {
        return Ok(());
    }
    Err(Failure::input(
        format!(
            "`cryptobot firewall {command}` acts on the running kernel and cannot be used with --root {}",
            ctx.root.path().display()
        ),
        Some(format!(
            "to write the boot files into an image, run `cryptobot firewall persist --root {}`",
            ctx.root.path().display()
        )),
    ))
}

// ------------------------------------------------------------ the rules

/// The backend and the configuration's rule set (SSH lock-outs refused).
fn live_rule_set(
    ctx: &Context,
    arg: Option<FirewallLiveBackendArg>,
    egress: &[std::net::IpAddr],
) -> Result<(LiveBackend, RuleSet), Failure> {
    let mut chosen = arg.map(backend_of);
    let (_, rules) = rule_set(ctx, |config| {
        if chosen.is_none() {
            let target = crate::commands::firewall::configured(ctx, config).0;
            chosen = Some(LiveBackend::from_target(target).ok_or_else(|| {
                Failure::input(
                    format!(
                        "firewall.backend = \"{}\": cryptobot loads only nftables, iptables, ufw and firewalld rules itself; {} is render-only",
                        config.firewall.backend.as_str(),
                        target.as_str()
                    ),
                    Some(format!(
                        "load `cryptobot firewall render --backend {}` as its header says, or pass --backend nftables",
                        target.as_str()
                    )),
                )
            })?);
        }
        if config.firewall.egress != Egress::Allowlist {
            return Ok(Vec::new());
        }
        if !egress.is_empty() {
            return Ok(egress.to_vec());
        }
        firewall::resolve_hosts(&config.firewall.egress_hosts).map_err(failure)
    })?;
    let backend = chosen.unwrap_or(LiveBackend::Nftables);
    Ok((backend, rules))
}

// ------------------------------------------------------------- apply

pub fn apply(ctx: &Context, args: &FirewallApplyArgs) -> Result<(), Failure> {
    require_live(ctx, "apply")?;
    let (backend, rules) = live_rule_set(ctx, args.backend, &args.egress_addresses)?;
    match backend {
        LiveBackend::Ufw => return ufw_live::apply(ctx, args, &rules),
        LiveBackend::Firewalld => return firewalld_live::apply(ctx, args, &rules),
        LiveBackend::Nftables | LiveBackend::Iptables => {}
    }
    let files = rendered(backend, &rules);
    let texts: Vec<&str> = files.iter().map(String::as_str).collect();
    check(backend, &texts, "the new rules")?;
    let current = Current::read(backend)?;

    if args.dry_run {
        return dry_run(ctx, backend, &files, &current);
    }

    let (state, _lock) = open_for_apply(ctx)?;
    let now = now_ms();
    let id = live::new_id(now, std::process::id());
    let pairs = scripts(&files, &current, &id);
    let previous: Vec<&str> = pairs.iter().map(|(_, p)| p.as_str()).collect();
    check(backend, &previous, "the saved previous rules").map_err(|f| Failure {
        hint: Some("the active rules could not be saved in a form that loads again, so they could not be rolled back; nothing was changed".to_string()),
        ..f
    })?;
    let names = backend.state_files(&id);
    let mut applied_paths = Vec::new();
    let mut previous_paths = Vec::new();
    for ((applied, prev), (a_name, p_name)) in pairs.iter().zip(&names) {
        state.write(p_name, prev)?;
        state.write(a_name, applied)?;
        applied_paths.push(state.path(a_name));
        previous_paths.push(state.path(p_name));
    }
    let deadline = now + args.confirm_within * 1000;
    let pending = Pending {
        format: live::PENDING_FORMAT.into(),
        id: id.clone(),
        backend,
        applied_unix_ms: now,
        deadline_unix_ms: deadline,
        persist: !args.no_persist,
        previous_present: current.present(),
    };
    arm(ctx, &state, &pending)?;
    if let Err(f) = load(backend, &applied_paths, &previous_paths) {
        // The watchdog sees the marker gone and ends.
        let _ = state.remove(live::PENDING_FILE);
        state.log(&format!(
            "apply {id}: loading the new rules failed: {}",
            f.message
        ));
        return Err(f);
    }
    state.log(&format!(
        "apply {id}: new {} rules active; the previous state comes back at {} unless confirmed",
        backend.as_str(),
        live::rfc3339(deadline)
    ));
    state.prune(&id);

    let secs = args.confirm_within;
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall apply", "backend": backend.as_str(), "id": id,
            "confirm_within": secs, "deadline": live::rfc3339(deadline),
            "persist": !args.no_persist, "previous": state.path(&names[0].1),
        });
        println!("{doc:#}");
    } else if !ctx.out.quiet {
        let what = format!("restores {}", state.path(&names[0].1).display());
        print_armed(&state, secs, deadline, &what);
        if args.no_persist {
            println!("  --no-persist: after confirm the rules last until the next reboot");
        }
    }
    Ok(())
}

/// What every backend's apply says once its rules are active: confirm in
/// time, or at the deadline the rollback does `what`.
fn print_armed(state: &State, secs: u64, deadline: u64, what: &str) {
    println!(
        "new rules active; run `cryptobot firewall confirm` within {secs} s from a NEW ssh session, or they are rolled back"
    );
    println!(
        "  rollback at {} {what} (log: {})",
        live::rfc3339(deadline),
        state.logs.join(live::LOG_FILE).display()
    );
}

fn already_pending(p: Result<Pending, String>) -> Failure {
    match p {
        Ok(p) if p.deadline_unix_ms > now_ms() => Failure::input(
            format!(
                "the rules of an earlier apply ({}) wait for confirmation until {}",
                p.id,
                live::rfc3339(p.deadline_unix_ms)
            ),
            Some("run `cryptobot firewall confirm` from a new SSH session, or wait for the rollback; then apply again".to_string()),
        ),
        Ok(p) => Failure::input(
            format!(
                "the rules of an earlier apply ({}) were not confirmed by {} and have not been rolled back (was the watchdog stopped?)",
                p.id,
                live::rfc3339(p.deadline_unix_ms)
            ),
            Some("run `cryptobot firewall confirm`: past the deadline it restores the previous rules; then apply again".to_string()),
        ),
        Err(e) => Failure::input(
            format!("an earlier apply is pending, but its marker cannot be read: {e}"),
            Some("its watchdog restores the previous rules at the deadline; run `cryptobot firewall confirm` to restore them now".to_string()),
        ),
    }
}

/// The state directory, locked, for a new apply: refused while an earlier
/// apply waits for confirmation. Keep the lock while applying.
fn open_for_apply(ctx: &Context) -> Result<(State, File), Failure> {
    let state =
        State::open(ctx, true)?.ok_or_else(|| Failure::runtime("no state directory", None))?;
    let lock = state.lock()?;
    if let Some(p) = state.pending()? {
        return Err(already_pending(p));
    }
    Ok((state, lock))
}

/// Writes the marker, then starts the watchdog — before any rule changes,
/// so there is never a moment with new rules and nobody to take them back.
fn arm(ctx: &Context, state: &State, pending: &Pending) -> Result<(), Failure> {
    state.write(live::PENDING_FILE, &pending.to_json())?;
    if let Err(e) = spawn_watchdog(ctx, pending.backend, &pending.id, pending.deadline_unix_ms) {
        let _ = state.remove(live::PENDING_FILE);
        return Err(Failure::runtime(
            format!("cannot start the rollback watchdog: {e}; nothing was changed"),
            Some("check that the cryptobot binary is still in place".to_string()),
        ));
    }
    Ok(())
}

fn spawn_watchdog(
    ctx: &Context,
    backend: LiveBackend,
    id: &str,
    deadline: u64,
) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("firewall")
        .arg("watchdog")
        .arg("--home")
        .arg(ctx.layout.home())
        .args(["--backend", backend.as_str(), "--id", id])
        .arg("--deadline")
        .arg(deadline.to_string())
        .env_remove("CRYPTOBOT_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a hangup or Ctrl-C of the session that ran
        // `apply` does not reach it.
        .process_group(0)
        .spawn()
        .map(|_| ())
}

fn dry_run(
    ctx: &Context,
    backend: LiveBackend,
    files: &[String],
    current: &Current,
) -> Result<(), Failure> {
    let old = current.listing();
    let (new, note) = match normalized(backend, files) {
        Ok(listing) => (listing, None),
        Err(e) => (
            files.join("\n"),
            Some(format!(
                "the new rules are shown as rendered, not as the kernel lists them ({e})"
            )),
        ),
    };
    let (what, have) = match backend {
        LiveBackend::Nftables => ("table inet cryptobot", "has"),
        LiveBackend::Iptables => ("CRYPTOBOT-* chains", "have"),
        LiveBackend::Ufw | LiveBackend::Firewalld => ("rules", "have"),
    };
    let old_name = if current.present() {
        format!("active ({what})")
    } else {
        format!("active (no {what})")
    };
    let diff = live::unified_diff(&old, &new, &old_name, "new");
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall apply", "dry_run": true, "backend": backend.as_str(),
            "active": current.present(), "changed": !diff.is_empty(), "diff": diff, "note": note,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if ctx.out.quiet {
        return Ok(());
    }
    println!("dry run: nothing is changed.");
    if let Some(n) = note {
        println!("note: {n}");
    }
    if diff.is_empty() {
        println!("no change: the active {what} already {have} these rules");
    } else {
        println!();
        print!("{diff}");
    }
    Ok(())
}

// ------------------------------------------------------------ watchdog

pub fn watchdog(ctx: &Context, args: &FirewallWatchdogArgs) -> Result<(), Failure> {
    require_live(ctx, "watchdog")?;
    if !live::valid_id(&args.id) {
        return Err(Failure::input("invalid --id", None));
    }
    let backend = backend_of(args.backend);
    let Some(state) = State::open(ctx, false)? else {
        return Ok(());
    };
    loop {
        // A lock or a read that fails counts as "still pending": at the
        // deadline the previous state comes back all the same.
        let lock = state.lock().ok();
        let marker = state.pending().unwrap_or_else(|f| Some(Err(f.message)));
        let m = match &marker {
            None => Marker::Absent,
            Some(Err(_)) => Marker::Corrupt,
            Some(Ok(p)) => Marker::Present(p),
        };
        match live::watchdog_step(m, &args.id, args.deadline, now_ms()) {
            WatchdogStep::Exit(_) => return Ok(()),
            WatchdogStep::Wait(d) => {
                drop(lock);
                std::thread::sleep(d);
            }
            WatchdogStep::Restore => {
                let p = match marker {
                    Some(Ok(p)) => p,
                    _ => Pending {
                        format: live::PENDING_FORMAT.into(),
                        id: args.id.clone(),
                        backend,
                        applied_unix_ms: 0,
                        deadline_unix_ms: args.deadline,
                        persist: false,
                        previous_present: false,
                    },
                };
                let (outcome, detail) = match restore(p.backend, &state, &p.id) {
                    Ok(d) => ("rolled back", d),
                    Err(d) => ("restore failed", d),
                };
                state.log(&format!(
                    "watchdog {}: not confirmed by {}: {outcome}: {detail}",
                    p.id,
                    live::rfc3339(p.deadline_unix_ms)
                ));
                state.finish(&p, outcome, &detail)?;
                return Ok(());
            }
        }
    }
}

// ------------------------------------------------------------- confirm

pub fn confirm(ctx: &Context) -> Result<(), Failure> {
    require_live(ctx, "confirm")?;
    let nothing = |state: Option<&State>| {
        let last = state.and_then(State::last).map(|o| {
            format!(
                " (the last apply, {}, was {} at {})",
                o.pending.id,
                o.outcome,
                live::rfc3339(o.at_unix_ms)
            )
        });
        Failure::input(
            format!(
                "nothing to confirm: no firewall apply is waiting{}",
                last.unwrap_or_default()
            ),
            Some("run `cryptobot firewall apply` first".to_string()),
        )
    };
    let Some(state) = State::open(ctx, false)? else {
        return Err(nothing(None));
    };
    let lock = state.lock()?;
    let p = match state.pending()? {
        None => return Err(nothing(Some(&state))),
        Some(Err(e)) => {
            return Err(Failure::runtime(
                format!("the pending apply's marker cannot be read: {e}"),
                Some("its watchdog restores the previous rules at the deadline; apply again afterwards".to_string()),
            ));
        }
        Some(Ok(p)) => p,
    };
    if now_ms() >= p.deadline_unix_ms {
        // Too late: do what the watchdog was to do.
        let result = restore(p.backend, &state, &p.id);
        let (outcome, detail) = match &result {
            Ok(d) => ("rolled back", d.clone()),
            Err(d) => ("restore failed", d.clone()),
        };
        state.log(&format!("confirm {}: too late: {outcome}: {detail}", p.id));
        state.finish(&p, outcome, &detail)?;
        return Err(Failure::runtime(
            format!(
                "too late: the confirmation window of apply {} closed at {}; {}",
                p.id,
                live::rfc3339(p.deadline_unix_ms),
                match result {
                    Ok(_) => "the previous rules are restored".to_string(),
                    Err(d) => format!("restoring the previous rules failed: {d}"),
                }
            ),
            Some(
                "run `cryptobot firewall apply` again and confirm within --confirm-within seconds"
                    .to_string(),
            ),
        ));
    }
    state.finish(&p, "confirmed", "")?;
    // Keeps this apply's previous rules for the journal's undo (pruning).
    state.write(&format!("{}{}", live::CONFIRMED_PREFIX, p.id), "")?;
    drop(lock);
    state.log(&format!("confirm {}: the new rules stay", p.id));

    // Journal it, so `cryptobot rollback` can bring the previous rules (and
    // boot files) back; the boot files too, unless --no-persist. The rules
    // stay whatever happens from here on.
    // ufw's and firewalld's undo (`ufw reload`, `firewall-cmd --reload`)
    // must run after the journal has put the previous files back, so their
    // run is planned first (undone last).
    let runs = rollback_changes(&state, &p);
    let runs_first = p.backend.managed().is_some();
    let start = || {
        let mut planner = Planner::new(&ctx.root);
        if let (true, Ok(changes)) = (runs_first, rollback_changes(&state, &p)) {
            for c in changes {
                planner.push(c);
            }
        }
        planner
    };
    let mut planner = start();
    let persisted = if !p.persist {
        Ok(Vec::new())
    } else if let Some(m) = p.backend.managed() {
        managed_live::load(&state, m, &p.id, managed_live::Saved::Applied)
            .map_err(|problems| Failure::runtime(problems.join("; "), None))
            .and_then(|files| managed_live::plan_persist(m, &mut planner, &ctx.root, &files))
    } else {
        persisted_files(&state, &p)
            .and_then(|boot| plan_persist(&mut planner, &ctx.root, p.backend, &boot))
    };
    if persisted.is_err() {
        // Not half of the boot files: only the journal entry.
        planner = start();
    }
    let report = runs.and_then(|changes| {
        if !runs_first {
            for c in changes {
                planner.push(c);
            }
        }
        ctx.apply(planner.plan(), "firewall confirm")
    });
    let plan = planner.finish();
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall confirm", "id": p.id, "confirmed": true,
            "persisted": persisted.as_ref().ok(),
            "journal": report.as_ref().ok().and_then(|r| r.journal.clone()),
        });
        println!("{doc:#}");
    } else if !ctx.out.quiet {
        println!(
            "confirmed: the new {} rules stay active (apply {})",
            p.backend.as_str(),
            p.id
        );
        if let (Ok(paths), Ok(_)) = (&persisted, &report) {
            for path in paths {
                println!("  persisted: {path}");
            }
            if !p.persist {
                println!("  not persisted (--no-persist): they last until the next reboot");
            }
            for note in plan.notes() {
                println!("note: {note}");
            }
            println!(
                "`cryptobot rollback` restores the rules before this apply{}",
                if paths.is_empty() {
                    ""
                } else {
                    " and the boot files"
                }
            );
        }
    }
    persisted.map_err(|f| Failure {
        message: format!(
            "confirmed, but the rules could not be made persistent: {}",
            f.message
        ),
        hint: Some("fix that, then run `cryptobot firewall persist`".to_string()),
        code: f.code,
    })?;
    report.map_err(|f| Failure {
        message: format!(
            "confirmed, but the boot files and the journal could not be written: {}",
            f.message
        ),
        ..f
    })?;
    Ok(())
}

/// The boot files of a confirmed apply, from the rules it loaded.
fn persisted_files(state: &State, p: &Pending) -> Result<Vec<String>, Failure> {
    let files = p
        .backend
        .state_files(&p.id)
        .iter()
        .map(|(a, _)| {
            state.read(a)?.ok_or_else(|| {
                Failure::runtime(format!("{} is missing", state.path(a).display()), None)
            })
        })
        .collect::<Result<Vec<String>, Failure>>()?;
    Ok(boot_contents(p.backend, &files))
}

/// One journaled `run` per family: it checks the loaded rules (nothing
/// changes), and its undo loads the state before the apply, which is how
/// `cryptobot rollback` takes a confirmed apply back.
fn rollback_changes(state: &State, p: &Pending) -> Result<Vec<Change>, Failure> {
    match p.backend {
        LiveBackend::Ufw => return ufw_live::rollback_changes(p),
        LiveBackend::Firewalld => return firewalld_live::rollback_changes(p),
        LiveBackend::Nftables | LiveBackend::Iptables => {}
    }
    let mut changes = Vec::new();
    for ((applied, previous), (_, restore_tool, _, _)) in
        p.backend.state_files(&p.id).iter().zip(IPT)
    {
        let applied = state.path(applied).to_string_lossy().into_owned();
        let previous = state.path(previous).to_string_lossy().into_owned();
        let (program, check, undo): (PathBuf, &[&str], &[&str]) = match p.backend {
            LiveBackend::Nftables => (tool("nft")?, &["-c", "-f"], &["-f"]),
            LiveBackend::Iptables => (
                tool(restore_tool)?,
                &["--test", "--noflush"],
                &["--noflush"],
            ),
            LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(p.backend)),
        };
        let with = |flags: &[&str], file: &str| -> Vec<String> {
            flags
                .iter()
                .map(|f| (*f).to_string())
                .chain([file.to_string()])
                .collect()
        };
        changes.push(Change::Run {
            program: program.clone(),
            args: with(check, &applied),
            why: format!(
                "confirmed firewall apply {} (rollback restores the rules before it)",
                p.id
            ),
            undo: Some((program, with(undo, &previous))),
        });
    }
    Ok(changes)
}

// ------------------------------------------------------------- persist

/// The boot files' contents from the rendered files.
fn boot_contents(backend: LiveBackend, files: &[String]) -> Vec<String> {
    match backend {
        LiveBackend::Nftables => files.to_vec(),
        LiveBackend::Iptables => files
            .iter()
            .zip([Family::V4, Family::V6])
            .map(|(f, family)| live::ipt_boot_file(f, family))
            .collect(),
        // Not used: the managed files are written as the tool left them.
        LiveBackend::Ufw | LiveBackend::Firewalld => files.to_vec(),
    }
}

fn read_host(root: &Root, path: &str) -> Result<Option<(String, u32)>, Failure> {
    let real = root.host(Path::new(path))?;
    match std::fs::symlink_metadata(&real) {
        Ok(m) => {
            let text = std::fs::read_to_string(&real).map_err(|e| {
                Failure::input(
                    format!("cannot read {path}: {e}"),
                    Some("check the file".to_string()),
                )
            })?;
            Ok(Some((text, m.mode() & 0o7777)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::input(format!("cannot inspect {path}: {e}"), None)),
    }
}

fn exists(root: &Root, path: &str) -> Result<bool, Failure> {
    Ok(std::fs::symlink_metadata(root.host(Path::new(path))?).is_ok())
}

/// Adds the boot files to `planner`; returns the paths it manages.
fn plan_persist(
    planner: &mut Planner,
    root: &Root,
    backend: LiveBackend,
    boot: &[String],
) -> Result<Vec<String>, Failure> {
    let mut paths = Vec::new();
    match backend {
        LiveBackend::Nftables => {
            let content = boot.first().cloned().unwrap_or_default();
            if !exists(root, live::NFT_BOOT_DIR)? {
                planner.ensure_dir(Path::new(live::NFT_BOOT_DIR), 0o755, None)?;
            }
            planner.ensure_file(
                Path::new(live::NFT_BOOT_FILE),
                Content::Text(content),
                0o644,
                None,
            )?;
            paths.push(live::NFT_BOOT_FILE.to_string());
            let conf = read_host(root, live::NFT_CONF)?;
            let mode = conf.as_ref().map(|(_, m)| *m).unwrap_or(0o755);
            if let Some(new) = live::nft_conf_with_include(conf.as_ref().map(|(t, _)| t.as_str())) {
                planner.ensure_file(Path::new(live::NFT_CONF), Content::Text(new), mode, None)?;
            }
            paths.push(format!(
                "{} (include \"{}\")",
                live::NFT_CONF,
                live::NFT_BOOT_FILE
            ));
            let enabled = [
                "/etc/systemd/system/sysinit.target.wants/nftables.service",
                "/etc/systemd/system/multi-user.target.wants/nftables.service",
            ]
            .iter()
            .map(|p| exists(root, p))
            .collect::<Result<Vec<bool>, Failure>>()?
            .into_iter()
            .any(|b| b);
            if !enabled {
                planner.note(format!(
                    "nftables.service is not enabled: `systemctl enable nftables` makes it load {} at boot",
                    live::NFT_CONF
                ));
            }
        }
        LiveBackend::Iptables => {
            let mut dir_planned = exists(root, live::IPTABLES_BOOT_DIR)?;
            for (content, path) in boot
                .iter()
                .zip([live::IPTABLES_BOOT_V4, live::IPTABLES_BOOT_V6])
            {
                let current = read_host(root, path)?;
                match &current {
                    Some((text, _)) if !live::is_ours(text) => {
                        planner.note(format!(
                            "left {path} alone: it holds a whole filter table that cryptobot did not write; add the CRYPTOBOT-* chains from `cryptobot firewall render --backend iptables` to it yourself"
                        ));
                        continue;
                    }
                    _ => {}
                }
                if !dir_planned {
                    planner.ensure_dir(Path::new(live::IPTABLES_BOOT_DIR), 0o755, None)?;
                    dir_planned = true;
                }
                let mode = current.as_ref().map(|(_, m)| *m).unwrap_or(0o640);
                planner.ensure_file(Path::new(path), Content::Text(content.clone()), mode, None)?;
                paths.push(path.to_string());
            }
            if !exists(root, "/usr/sbin/netfilter-persistent")? {
                planner.note("iptables-persistent is not installed: `apt-get install iptables-persistent` loads /etc/iptables/rules.v4 and rules.v6 at boot");
            }
        }
        LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(backend)),
    }
    Ok(paths)
}

pub fn persist(ctx: &Context, args: &FirewallPersistArgs) -> Result<(), Failure> {
    let (backend, rules) = live_rule_set(ctx, args.backend, &args.egress_addresses)?;
    match backend {
        LiveBackend::Ufw => return ufw_live::persist(),
        LiveBackend::Firewalld => return firewalld_live::persist(),
        LiveBackend::Nftables | LiveBackend::Iptables => {}
    }
    let files = rendered(backend, &rules);
    let mut notes = Vec::new();
    // The kernel's own parser, in check mode (nothing is loaded), when it
    // can be asked.
    let texts: Vec<&str> = files.iter().map(String::as_str).collect();
    if rustix::process::geteuid().is_root()
        && tool(if backend == LiveBackend::Nftables {
            "nft"
        } else {
            "iptables-restore"
        })
        .is_ok()
    {
        check(backend, &texts, "the rules")?;
    } else {
        notes.push(format!(
            "the rules were not checked with {} (needs root and the tool)",
            if backend == LiveBackend::Nftables {
                "`nft -c`"
            } else {
                "`iptables-restore --test`"
            }
        ));
    }
    let boot = boot_contents(backend, &files);
    let mut planner = Planner::new(&ctx.root);
    let paths = plan_persist(&mut planner, &ctx.root, backend, &boot)?;
    let plan = planner.finish();
    let target = if ctx.root.is_live() {
        String::new()
    } else {
        format!(" --root {}", ctx.root.path().display())
    };
    if args.dry_run {
        if ctx.out.json() {
            let all: Vec<&String> = notes.iter().chain(plan.notes()).collect();
            let doc = json!({"command": "firewall persist", "dry_run": true, "backend": backend.as_str(), "changes": plan.to_json(), "notes": all});
            println!("{doc:#}");
        } else if !ctx.out.quiet {
            println!("dry run: nothing is written.\n");
            if plan.is_empty() {
                println!("nothing to do: the boot files already have these rules");
                notes.extend(plan.notes().iter().cloned());
            } else {
                // The plan's own notes are part of its text.
                print!("{}", plan.render_text());
            }
            for n in &notes {
                println!("note: {n}");
            }
        }
        return Ok(());
    }
    notes.extend(plan.notes().iter().cloned());
    let report = ctx.apply(&plan, "firewall persist")?;
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall persist", "dry_run": false, "backend": backend.as_str(),
            "files": paths, "applied": report.applied, "journal": report.journal, "notes": notes,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if ctx.out.quiet {
        return Ok(());
    }
    if plan.is_empty() {
        println!("nothing to do: the boot files already have these rules");
    } else {
        if ctx.out.verbose > 0 {
            print!("{}", plan.render_text());
            println!();
        }
        for p in &paths {
            println!("persisted: {p}");
        }
        println!(
            "applied {} change{}; `cryptobot rollback{target}` undoes them. The running firewall was not changed.",
            report.applied,
            if report.applied == 1 { "" } else { "s" }
        );
    }
    for n in &notes {
        println!("note: {n}");
    }
    Ok(())
}
