//! Helpers of the firewall tests that run real tools in network
//! namespaces: finding the tools, waiting, and the two Python scripts that
//! listen on ports and probe them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// A program on `PATH` or in the usual sbin/bin directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tools and root, or `None` after a loud skip; on CI a missing tool
/// fails the test.
pub fn require(tools: &[&str]) -> Option<BTreeMap<String, PathBuf>> {
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
    if !cryptobot_testkit::is_root() {
        missing.push("root (network and mount namespaces)".into());
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

/// Polls until `cond` holds, at most `secs`; returns how long it took.
pub fn wait_for(secs: f64, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Python: listens on the TCP ports given as arguments (IPv4 and IPv6),
/// prints `ready`, and serves until its stdin closes.
pub const LISTENER: &str = r#"
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

/// Python: `host:port open|closed` for each `host:port` argument, in
/// parallel, 1 s each (short, so probes fit in a 3 s confirmation window).
pub const PROBE: &str = r#"
import socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(t):
    host, port = t.rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
        return t + " open"
    except OSError:
        return t + " closed"
targets = sys.argv[1:]
with ThreadPoolExecutor(len(targets)) as ex:
    for r in ex.map(probe, targets):
        print(r)
"#;

/// The pids of `cryptobot firewall watchdog` processes for `home`.
pub fn watchdogs(home: &Path) -> Vec<u32> {
    let needle = format!("firewall\0watchdog\0--home\0{}\0", home.display());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(&needle)
        {
            pids.push(pid);
        }
    }
    pids
}

/// A child process killed on drop.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
