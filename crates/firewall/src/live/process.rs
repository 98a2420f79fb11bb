//! Running the system's firewall tools: absolute paths only, argument
//! vectors, no shell.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::LiveError;
use super::model::LiveBackend;
use crate::rules::Family;

/// The backends the nftables/iptables code loads itself (ufw and firewalld
/// go their own way before any of it is reached).
pub(crate) fn not_here(backend: LiveBackend) -> LiveError {
    LiveError::runtime(
        format!(
            "internal error: {} rules are not loaded this way",
            backend.as_str()
        ),
        None,
    )
}

/// The absolute path of a system tool: the sbin and bin directories, never
/// a `PATH` lookup (this runs as root).
pub(crate) fn tool(name: &str) -> Result<PathBuf, LiveError> {
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
            LiveError::runtime(
                format!("`{name}` is not installed"),
                Some(format!("install it: apt-get install {package}")),
            )
        })
}

pub(crate) struct Ran {
    pub(crate) ok: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    /// The last lines of standard error, for a message.
    pub(crate) fn error(&self) -> String {
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
pub(crate) fn run(program: &Path, args: &[&str], input: Option<&str>) -> Result<Ran, LiveError> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let cannot = |e: std::io::Error| LiveError::runtime(format!("cannot run {shown}: {e}"), None);
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

pub(crate) fn tool_failure(what: &str, ran: &Ran) -> LiveError {
    let hint = if ran.stderr.contains("Operation not permitted")
        || ran.stderr.contains("ermission denied")
    {
        "run as root (changing the firewall needs CAP_NET_ADMIN)".to_string()
    } else {
        "nothing was changed; the quoted message is the tool's own".to_string()
    };
    LiveError::runtime(format!("{what} failed: {}", ran.error()), Some(hint))
}

pub(crate) const IPT: [(Family, &str, &str, &str); 2] = [
    (Family::V4, "iptables-restore", "iptables-save", "iptables"),
    (
        Family::V6,
        "ip6tables-restore",
        "ip6tables-save",
        "ip6tables",
    ),
];
