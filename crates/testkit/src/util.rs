//! Small helpers shared by the PostgreSQL and Redis harnesses.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The OS account PostgreSQL runs as when the tests run as root.
pub(crate) const SERVER_ACCOUNT: &str = "postgres";

/// Number of log lines quoted in start-up errors.
pub(crate) const LOG_TAIL_LINES: usize = 40;

/// Environment variables that would let the caller's environment redirect or
/// reconfigure libpq / the PostgreSQL tools.
const PG_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
    "PGDATA",
    "PGCLIENTENCODING",
    "PSQLRC",
];

/// Builds commands that run as the server account: through `runuser` when
/// root, directly otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    runuser: Option<PathBuf>,
}

impl Runner {
    pub(crate) fn detect_lenient() -> Runner {
        if crate::is_root() {
            let runuser = which("runuser")
                .or_else(|| {
                    ["/usr/sbin/runuser", "/sbin/runuser"]
                        .iter()
                        .map(PathBuf::from)
                        .find(|p| p.is_file())
                })
                .unwrap_or_else(|| PathBuf::from("runuser"));
            Runner {
                runuser: Some(runuser),
            }
        } else {
            Runner { runuser: None }
        }
    }

    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.runuser {
            Some(runuser) => {
                let mut cmd = Command::new(runuser);
                cmd.args(["-u", SERVER_ACCOUNT, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        cmd
    }
}

/// Searches `PATH` for an executable file called `name`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// `uid` and `gid` of an account, parsed from `/etc/passwd`.
pub(crate) fn lookup_account(name: &str) -> Result<(u32, u32), Error> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(|e| Error::io("reading /etc/passwd", e))?;
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let user = fields.next()?;
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            (user == name).then_some((uid, gid))
        })
        .next()
        .ok_or_else(|| Error::UserNotFound {
            user: name.to_owned(),
        })
}

/// Changes the owner of `path` (not recursive).
pub(crate) fn chown(path: &Path, owner: (u32, u32)) -> Result<(), Error> {
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1))
        .map_err(|e| Error::io(format!("chown {} to uid {}", path.display(), owner.0), e))
}

/// Sets the permission bits of `path`.
pub(crate) fn chmod(path: &Path, mode: u32) -> Result<(), Error> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {mode:o} {}", path.display()), e))
}

/// Shell-quotes one argument for display purposes.
fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:@%+,-".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line of `cmd`, for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion, capturing stdout and stderr and optionally
/// feeding `stdin`. Fails only if the command cannot be spawned.
pub(crate) fn run(cmd: &mut Command, stdin: Option<Vec<u8>>) -> Result<Output, Error> {
    let described = describe(cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("failed to run `{described}`"), e))?;
    // Feed stdin from a thread so a child that writes a lot of output before
    // reading all its input cannot deadlock against us.
    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => Some(std::thread::spawn(move || {
            // A child that exits early closes the pipe; that is not our error
            // to report — its exit status and stderr will tell.
            let _ = pipe.write_all(&data);
        })),
        _ => None,
    };
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for `{described}`"), e));
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    output
}

/// Like [`run`], but a non-zero exit status is an [`Error::CommandFailed`].
pub(crate) fn run_checked(cmd: &mut Command, stdin: Option<Vec<u8>>) -> Result<Output, Error> {
    let output = run(cmd, stdin)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(cmd, &output))
    }
}

pub(crate) fn command_failed(cmd: &Command, output: &Output) -> Error {
    Error::CommandFailed {
        command: describe(cmd),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The whole file as (lossy) UTF-8; empty if it cannot be read.
pub(crate) fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `LOG_TAIL_LINES` lines of a text.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    let tail = lines[start..].join("\n");
    if tail.is_empty() {
        "(log is empty)".to_owned()
    } else {
        tail
    }
}

/// Whether a process with this pid exists and is not a zombie.
pub(crate) fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself
        // contain spaces and parentheses.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// Waits until the process is gone (or a zombie), up to `timeout`.
pub(crate) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !process_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGKILL to a process that is not our child (the postmaster is
/// daemonised by `pg_ctl`, so it is reaped by init, not by us).
pub(crate) fn kill9(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Whether every directory from `/` down to `dir` grants search permission
/// to "others".
fn traversable_by_others(dir: &Path) -> bool {
    dir.is_absolute()
        && dir.ancestors().all(|d| {
            d.metadata()
                .map(|m| m.is_dir() && m.mode() & 0o001 != 0)
                .unwrap_or(false)
        })
}

/// Where to put temporary directories the server account must reach. With
/// `short`, also require a short path so unix socket paths stay well below
/// the 107-byte `sun_path` limit.
pub(crate) fn shared_temp_base(short: bool) -> PathBuf {
    let base = std::env::temp_dir();
    let short_enough = !short || base.as_os_str().len() <= 48;
    if short_enough && traversable_by_others(&base) {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

/// Creates a `0755` temporary directory for a server.
pub(crate) fn server_tempdir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    let base = shared_temp_base(true);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .map_err(|e| {
            Error::io(
                format!("creating a temporary directory in {}", base.display()),
                e,
            )
        })?;
    chmod(dir.path(), 0o755)?;
    Ok(dir)
}
