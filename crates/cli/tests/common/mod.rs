//! Helpers shared by the CLI's integration tests: run the real binary, and
//! snapshot a directory tree (contents, modes, mtimes) to prove a command
//! changed nothing.
#![allow(dead_code)]

pub mod firewalld;
pub mod netns;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SECRETS: [&str; 6] = [
    "jwt_signing.key",
    "reset_token.key",
    "vault_master.key",
    "redis_password",
    "postgres_password",
    "password_pepper.key",
];

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw: Output,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.status, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn cryptobot(args: &[&str]) -> Run {
    cryptobot_env(args, &[])
}

pub fn cryptobot_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cryptobot"));
    cmd.args(args).env_remove("CRYPTOBOT_HOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("CRYPTOBOT_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let raw = cmd.output().expect("run cryptobot");
    Run {
        status: raw.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        raw,
    }
}

/// Runs `cryptobot <args> --home <home>`.
pub fn on_home(home: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    let h = home.to_str().expect("utf-8 path");
    all.extend(["--home", h]);
    cryptobot(&all)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub mtime_ns: i128,
    pub content: Option<Vec<u8>>,
    pub link: Option<PathBuf>,
}

/// Every path below `dir` (not following links) with its mode, mtime and content.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let rel = p.strip_prefix(base).expect("below base").to_path_buf();
        let entry = Entry {
            mode: m.permissions().mode() & 0o7777,
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            content: if m.is_file() {
                Some(std::fs::read(&p).expect("read"))
            } else {
                None
            },
            link: if m.file_type().is_symlink() {
                std::fs::read_link(&p).ok()
            } else {
                None
            },
        };
        out.insert(rel, entry);
        if m.is_dir() {
            walk(base, &p, out);
        }
    }
}

pub fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .expect("lstat")
        .permissions()
        .mode()
        & 0o7777
}

/// Every secret value of an installation, as byte strings to search for in
/// output (raw, and the forms a careless program might print).
pub fn secret_needles(home: &Path) -> Vec<Vec<u8>> {
    let mut needles = Vec::new();
    for name in SECRETS {
        let v = std::fs::read(home.join("config/secrets").join(name)).expect("secret exists");
        let v = v.strip_suffix(b"\n").unwrap_or(&v).to_vec();
        if name.ends_with(".key") && !name.starts_with("jwt") {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            needles.push(hex.into_bytes());
            needles.push(v.clone());
        } else if name.starts_with("jwt") {
            // The base64 body line of the PEM.
            let text = String::from_utf8(v.clone()).expect("pem is text");
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                needles.push(line.as_bytes().to_vec());
            }
        } else {
            needles.push(v.clone());
        }
    }
    needles
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs the binary with extra environment and `input` on stdin.
pub fn cryptobot_io(args: &[&str], env: &[(&str, &str)], input: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cryptobot"));
    cmd.args(args).env_remove("CRYPTOBOT_HOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("CRYPTOBOT_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run cryptobot");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let raw = child.wait_with_output().expect("wait for cryptobot");
    Run {
        status: raw.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        raw,
    }
}

/// Reads `cryptobot serve`'s standard output up to its `listening on
/// https://…` line and returns what it printed; panics if it exits first.
pub fn wait_listening(out: &mut impl std::io::BufRead) -> String {
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("serve's output") > 0,
            "serve exited early: {printed}"
        );
        printed.push_str(&line);
        if line.starts_with("listening on https://") {
            return printed;
        }
    }
}

/// A temporary `--root` (`DIR/root`) holding only a minimal account
/// database: `etc/passwd`, `etc/group` and `etc/shadow` (0640) with root.
pub fn root_with_accounts() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("root");
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\nshadow:x:42:\n").unwrap();
    std::fs::write(r.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(r.join("etc/shadow"), std::fs::Permissions::from_mode(0o640)).unwrap();
    (dir, r)
}

/// `cryptobot user add NAME --role ROLE --password-stdin --home HOME` with
/// `password` on standard input; panics unless it works.
pub fn add_user(home: &str, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cryptobot"))
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--home",
            home,
        ])
        .env_remove("CRYPTOBOT_HOME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
