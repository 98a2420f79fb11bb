//! A real firewalld daemon in a throwaway sandbox, for tests.
//!
//! firewalld is never installed nor started as this machine's service:
//! `.ci/firewalld-sandbox` installs only its libraries from apt and unpacks
//! the firewalld .deb (`dpkg-deb -x`) into
//! `$CRYPTOBOT_TEST_FIREWALLD_DIR/root`, by default
//! `/var/cache/cryptobot-test/firewalld/root`.
//!
//! [`FirewalldSandbox::start`] then builds, for one test:
//!
//! - a network namespace `cbfwd-<pid>-<n>` (`ip netns add`), so firewalld's
//!   nftables rules exist only there;
//! - a private mount namespace (held by a small shell process, entered with
//!   `nsenter`) in which
//!   - `/etc` is an overlay whose writes go to a tmpfs that vanishes with the
//!     namespace, and `/etc/firewalld` is a bind mount of
//!     [`FirewalldSandbox::etc_firewalld`] (a temporary directory the test can
//!     read and write from outside, seeded with the package's
//!     `/etc/firewalld`);
//!   - `/usr` is a read-only overlay of the unpacked package over this
//!     machine's `/usr`, so `/usr/sbin/firewalld`, `/usr/bin/firewall-cmd`
//!     and `/usr/lib/firewalld` exist as on a firewalld host;
//!   - `/run` is a bind mount of a temporary directory (`/run/firewalld`,
//!     `/run/xtables.lock`, the bus socket at `/run/dbus/system_bus_socket`):
//!     the machine's system bus is not even reachable in there;
//! - its own `dbus-daemon` (a system-type bus with no service activation —
//!   so no polkitd either — where only root may own firewalld's names) and
//!   `firewalld --nofork --nopid`, both inside those namespaces.
//!
//! Polkit: firewalld asks polkit only when `org.freedesktop.PolicyKit1` is
//! on the bus; otherwise it falls back to allowing callers whose uid is 0.
//! The private bus cannot start polkitd, so root's calls are allowed.
//!
//! Every command run in the sandbox (including firewalld and dbus-daemon)
//! goes through a guard that refuses to run it (exit 97) unless its network
//! and mount namespaces differ from this test process's own.
//!
//! ```ignore
//! let Some(fw) = FirewalldSandbox::start_or_skip() else { return };
//! let out = fw.exec("firewall-cmd", ["--state"]).output().unwrap();
//! std::fs::write(fw.etc_firewalld().join("zones/x.xml"), xml).unwrap();
//! fw.run("firewall-cmd", ["--reload"]).unwrap();
//! let rules = fw.run("nft", ["list", "ruleset"]).unwrap();
//! ```

use super::netns::find_tool;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where `.ci/firewalld-sandbox` unpacks firewalld by default.
pub const DEFAULT_DIR: &str = "/var/cache/cryptobot-test/firewalld";

/// How long [`FirewalldSandbox::start`] waits for `firewall-cmd --state`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status of a sandboxed command that found itself outside the sandbox.
pub const GUARD_REFUSED: i32 = 97;

const TOOLS: [&str; 7] = [
    "ip",
    "nsenter",
    "unshare",
    "dbus-daemon",
    "nft",
    "mount",
    "findmnt",
];

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Names of the network namespaces and temporary directories:
/// `cbfwd-<test pid>-<n>`.
const PREFIX: &str = "cbfwd-";

/// Run in the new mount namespace (made by `unshare` inside the network
/// namespace): builds the sandbox's view of the file system, reports its pid
/// and stays alive to hold the namespace until the test closes its standard
/// input (on drop, or when the test process dies); then ends whatever still
/// runs in this mount namespace — only the sandbox's own processes are in it.
const HOLDER_SCRIPT: &str = r#"
set -eu
dir="$1"; pkg="$2"
mount -t tmpfs cbfwd "$dir/ovl"
mkdir "$dir/ovl/upper" "$dir/ovl/work"
mount -t overlay cbfwd-etc -o lowerdir=/etc,upperdir="$dir/ovl/upper",workdir="$dir/ovl/work" /etc
mkdir -p /etc/firewalld
mount --bind "$dir/etc-firewalld" /etc/firewalld
mount -t overlay cbfwd-usr -o ro,lowerdir="$pkg/usr:/usr" /usr
mount --bind "$dir/run" /run
[ -x /usr/sbin/firewalld ] || { echo "no /usr/sbin/firewalld in the sandbox" >&2; exit 1; }
echo "ready $$"
cat >/dev/null || true
for p in /proc/[0-9]*; do
    [ "${p#/proc/}" != "$$" ] && [ "$p/ns/mnt" -ef "/proc/$$/ns/mnt" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
done
"#;

/// Wraps every command run in the sandbox: refuses (exit 97) unless both the
/// network and the mount namespace differ from the test's own.
const GUARD_SCRIPT: &str = r#"
[ "$(readlink /proc/$$/ns/net)" != "$1" ] && [ "$(readlink /proc/$$/ns/mnt)" != "$2" ] || {
    echo "firewalld sandbox: refusing to run $3 outside the sandbox's namespaces" >&2
    exit 97
}
shift 2
exec "$@"
"#;

/// Only root may own firewalld's names; anyone may call it (firewalld then
/// checks the caller's uid, polkit being absent). No `<servicedir>`: nothing
/// can be activated on this bus.
const DBUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=@SOCKET@</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.fedoraproject.FirewallD1"/>
    <allow send_destination="org.fedoraproject.FirewallD1.config"/>
  </policy>
  <policy user="root">
    <allow own="org.fedoraproject.FirewallD1"/>
    <allow own="org.fedoraproject.FirewallD1.config"/>
  </policy>
</busconfig>
"#;

/// The directory `.ci/firewalld-sandbox` prepares.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CRYPTOBOT_TEST_FIREWALLD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// The unpacked firewalld package (`…/root`), if it is there.
pub fn package_root() -> Option<PathBuf> {
    let root = cache_dir().join("root");
    root.join("usr/sbin/firewalld").is_file().then_some(root)
}

fn python_has(module: &str) -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What this machine lacks to run the sandbox (empty when nothing).
pub fn missing() -> Vec<String> {
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|t| find_tool(t).is_none())
        .map(|t| (*t).to_string())
        .collect();
    if !Path::new("/usr/bin/python3").is_file() {
        missing.push("/usr/bin/python3".into());
    } else {
        for (module, package) in [
            ("firewall.config", "python3-firewall"),
            ("nftables", "python3-nftables"),
            ("dbus", "python3-dbus"),
            ("gi", "python3-gi"),
        ] {
            if !python_has(module) {
                missing.push(package.into());
            }
        }
    }
    if package_root().is_none() {
        missing.push(format!(
            "firewalld unpacked in {} (run .ci/firewalld-sandbox)",
            cache_dir().display()
        ));
    }
    if !cryptobot_testkit::is_root() {
        missing.push("root (namespaces)".into());
    }
    missing
}

fn own_ns(kind: &str) -> Result<String, String> {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("cannot read /proc/self/ns/{kind}: {e}"))
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Runs `cmd` and returns its standard output, or an error holding both
/// streams.
fn output_of(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A child killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// firewalld running in its own network and mount namespace with its own
/// D-Bus; everything is torn down on drop.
pub struct FirewalldSandbox {
    // Drop order (declaration order): processes first, then the mount
    // namespace handle, the network namespace, and the directory.
    firewalld: Option<Killed>,
    dbus: Option<Killed>,
    holder: Option<Holder>,
    mnt_ns: Option<File>,
    netns: Option<NetnsName>,
    dir: tempfile::TempDir,
    host_net: String,
    host_mnt: String,
    bus: String,
    mnt_path: String,
}

/// The process holding the mount namespace: told to end (and to end
/// anything left in the sandbox) by closing its standard input, killed if it
/// has not within 5 s.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ip netns add NAME`, deleted on drop.
struct NetnsName(String);

impl Drop for NetnsName {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl FirewalldSandbox {
    /// The sandbox, or `None` after a loud skip when something it needs is
    /// missing; on CI (`CI` set) a missing piece fails the test, and so does
    /// a sandbox that cannot start anywhere.
    pub fn start_or_skip() -> Option<FirewalldSandbox> {
        let missing = missing();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("CI").is_none(),
                "missing on CI: {} (.ci/run prepares them)",
                missing.join(", ")
            );
            eprintln!("SKIPPED: missing {}", missing.join(", "));
            return None;
        }
        match FirewalldSandbox::start() {
            Ok(s) => Some(s),
            Err(e) => panic!("firewalld sandbox: {e}"),
        }
    }

    /// Starts the namespaces, the bus and firewalld, and waits (up to
    /// [`START_TIMEOUT`]) until `firewall-cmd --state` says `running`.
    pub fn start() -> Result<FirewalldSandbox, String> {
        let pkg = package_root().ok_or_else(|| {
            format!(
                "firewalld is not unpacked in {} (run .ci/firewalld-sandbox)",
                cache_dir().display()
            )
        })?;
        remove_stale();
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let d = dir.path();
        for sub in ["ovl", "run/dbus", "etc-firewalld"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
        }
        // The package's /etc/firewalld (firewalld.conf with
        // FirewallBackend=nftables, empty zones/, policies/, …).
        output_of(
            Command::new("cp")
                .arg("-a")
                .arg(pkg.join("etc/firewalld/."))
                .arg(d.join("etc-firewalld")),
        )?;
        let socket = d.join("run/dbus/system_bus_socket");
        let socket = socket
            .to_str()
            .ok_or("temporary directory is not UTF-8")?
            .to_string();
        std::fs::write(
            d.join("dbus.conf"),
            DBUS_CONFIG.replace("@SOCKET@", &socket),
        )
        .map_err(|e| format!("write dbus.conf: {e}"))?;

        output_of(Command::new("ip").args(["netns", "add", &name]))?;
        let mut sb = FirewalldSandbox {
            firewalld: None,
            dbus: None,
            holder: None,
            mnt_ns: None,
            netns: Some(NetnsName(name.clone())),
            dir,
            host_net: own_ns("net")?,
            host_mnt: own_ns("mnt")?,
            bus: format!("unix:path={socket}"),
            mnt_path: String::new(),
        };
        output_of(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]))?;

        // The mount namespace, held by the holder (blocked on its stdin).
        let d = sb.dir.path().to_path_buf();
        let mut holder = Command::new("ip")
            .args(["netns", "exec", &name, "unshare", "--mount"])
            .args(["--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(HOLDER_SCRIPT)
            .arg("sh")
            .arg(&d)
            .arg(&pkg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file_for(&d.join("holder.log"))?)
            .spawn()
            .map_err(|e| format!("cannot start the namespace holder: {e}"))?;
        let stdout = holder.stdout.take();
        sb.holder = Some(Holder(holder));
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let pid: u32 = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "the mount namespace could not be set up:\n{}",
                    read_or_empty(&d.join("holder.log"))
                )
            })?;
        let mnt = File::open(format!("/proc/{pid}/ns/mnt"))
            .map_err(|e| format!("open /proc/{pid}/ns/mnt: {e}"))?;
        // The namespace stays reachable through this descriptor even if the
        // holder dies, and a recycled pid can never redirect us elsewhere.
        sb.mnt_path = format!("/proc/{}/fd/{}", std::process::id(), mnt.as_raw_fd());
        sb.mnt_ns = Some(mnt);

        // Prove the view before starting anything in it: other namespaces,
        // the sandbox's directories at /etc/firewalld and /run, overlays on
        // /etc and /usr.
        let seen = sb.run(
            "/bin/sh",
            [
                "-c",
                "readlink /proc/$$/ns/net /proc/$$/ns/mnt; \
                 stat -c %d:%i /etc/firewalld /run; \
                 findmnt -n -o FSTYPE --mountpoint /etc; \
                 findmnt -n -o FSTYPE --mountpoint /usr",
            ],
        )?;
        let id = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| format!("{}:{}", m.dev(), m.ino()))
                .unwrap_or_default()
        };
        let want = [
            "",
            "",
            &id(&d.join("etc-firewalld")),
            &id(&d.join("run")),
            "overlay",
            "overlay",
        ];
        let seen: Vec<&str> = seen.lines().map(str::trim).collect();
        let ok = seen.len() == want.len()
            && seen[0] != sb.host_net
            && seen[1] != sb.host_mnt
            && seen[2..] == want[2..];
        if !ok {
            return Err(format!(
                "the sandbox's namespaces are not in place: {seen:?}, want {want:?}"
            ));
        }

        // The bus: prints its address once it listens.
        let mut dbus = sb
            .exec(
                "dbus-daemon",
                [
                    format!("--config-file={}", d.join("dbus.conf").display()),
                    "--nofork".into(),
                    "--print-address=1".into(),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file_for(&d.join("dbus.log"))?)
            .spawn()
            .map_err(|e| format!("cannot start dbus-daemon: {e}"))?;
        let stdout = dbus.stdout.take();
        sb.dbus = Some(Killed(dbus));
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if !line.starts_with(&sb.bus) {
            return Err(format!(
                "dbus-daemon did not start:\n{}",
                read_or_empty(&d.join("dbus.log"))
            ));
        }

        // firewalld (shebang /usr/bin/python3, the packaged python3-firewall).
        let log = d.join("firewalld.log");
        let firewalld = sb
            .exec(
                "/usr/sbin/firewalld",
                [
                    "--nofork",
                    "--nopid",
                    "--log-target",
                    "file",
                    "--log-file",
                    log.to_str().ok_or("temporary directory is not UTF-8")?,
                ],
            )
            .stdin(Stdio::null())
            .stdout(file_for(&d.join("firewalld.out"))?)
            .stderr(file_for(&d.join("firewalld.out"))?)
            .spawn()
            .map_err(|e| format!("cannot start firewalld: {e}"))?;
        sb.firewalld = Some(Killed(firewalld));
        sb.wait_running(START_TIMEOUT)?;
        Ok(sb)
    }

    /// Polls `firewall-cmd --state` until it says `running`; the error holds
    /// firewalld's log.
    pub fn wait_running(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(fw) = self.firewalld.as_mut()
                && let Ok(Some(status)) = fw.0.try_wait()
            {
                return Err(format!("firewalld exited ({status}):\n{}", self.log()));
            }
            let last = match self.run("firewall-cmd", ["--state"]) {
                Ok(out) if out.trim() == "running" => return Ok(()),
                Ok(out) => out,
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "firewalld not running after {timeout:?} (last: {last}):\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the sandbox's firewalld (SIGKILL, as a crash would) and waits
    /// until `firewall-cmd --state` no longer says `running`. Its nftables
    /// rules stay in the sandbox's network namespace.
    pub fn stop_firewalld(&mut self) -> Result<(), String> {
        self.firewalld.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.run("firewall-cmd", ["--state"]) {
                Ok(out) if out.trim() == "running" => {}
                _ => return Ok(()),
            }
            if Instant::now() > deadline {
                return Err("firewalld still answers after it was killed".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `program args…` in the sandbox: its network namespace, its mount view
    /// (`/etc/firewalld`, `/usr`, `/run` as described above), with
    /// `DBUS_SYSTEM_BUS_ADDRESS` naming the private bus, and the test's
    /// working directory. The command refuses to run (exit
    /// [`GUARD_REFUSED`]) if it is not in the sandbox's namespaces.
    pub fn exec<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let netns = self.netns.as_ref().map(|n| n.0.as_str()).unwrap_or("");
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{netns}"))
            .arg(format!("--mount={}", self.mnt_path));
        if let Ok(cwd) = std::env::current_dir() {
            c.arg(format!("--wd={}", cwd.display()));
        }
        let program = program.as_ref();
        c.args(["--", "/bin/sh", "-c", GUARD_SCRIPT, "sh"])
            .arg(&self.host_net)
            .arg(&self.host_mnt)
            .arg(program)
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME");
        c
    }

    /// [`Self::exec`], run to completion: its standard output, or an error
    /// with both streams when it fails.
    pub fn run<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Result<String, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output_of(self.exec(program, args).stdin(Stdio::null()))
    }

    /// `firewall-cmd args…` in the sandbox, run to completion.
    pub fn firewall_cmd(&self, args: &[&str]) -> Result<String, String> {
        self.run("firewall-cmd", args)
    }

    /// The host path of the sandbox's `/etc/firewalld` (read and write it
    /// from the test directly).
    pub fn etc_firewalld(&self) -> PathBuf {
        self.dir.path().join("etc-firewalld")
    }

    /// The host path of the sandbox's `/run`.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The network namespace's name (`ip -n NAME …`).
    pub fn netns(&self) -> &str {
        self.netns.as_ref().map(|n| n.0.as_str()).unwrap_or("")
    }

    /// The private bus's address (`DBUS_SYSTEM_BUS_ADDRESS`).
    pub fn bus_address(&self) -> &str {
        &self.bus
    }

    /// firewalld's log and its standard output and error.
    pub fn log(&self) -> String {
        let d = self.dir.path();
        format!(
            "== firewalld.log\n{}== firewalld stdout/stderr\n{}== dbus-daemon\n{}",
            read_or_empty(&d.join("firewalld.log")),
            read_or_empty(&d.join("firewalld.out")),
            read_or_empty(&d.join("dbus.log")),
        )
    }
}

impl Drop for FirewalldSandbox {
    fn drop(&mut self) {
        // Explicit order: firewalld, the bus, the holder, the namespace
        // handle, the network namespace; the directory goes last (field).
        self.firewalld.take();
        self.dbus.take();
        self.holder.take();
        self.mnt_ns.take();
        self.netns.take();
    }
}

/// Removes the network namespaces and temporary directories that sandboxes
/// of test processes no longer alive left behind (a test killed with
/// SIGKILL cannot drop its sandbox; its processes ended with it, as the
/// holder's standard input closed).
fn remove_stale() {
    let dead = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                drop(NetnsName(name));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            if dead(&e.file_name().to_string_lossy()) && e.path().is_dir() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A file (appended to) for a child's output.
fn file_for(p: &Path) -> Result<File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| format!("open {}: {e}", p.display()))
}
