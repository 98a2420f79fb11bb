//! The ports sshd listens on, read from `sshd_config` under a root.
//!
//! Only what decides the listening ports is understood: `Port`,
//! `ListenAddress` (with an optional port), `Include` (with `*` and `?` in
//! the last path component) and `Match`, after which no `Port` may appear.
//! Keywords are case-insensitive and may be separated from their value by
//! whitespace or one `=`, as sshd accepts them.

use std::path::{Path, PathBuf};

use cryptobot_config::{Config, DEFAULT_SSH_PORT};
use cryptobot_plan::Root;

use crate::rules::{FirewallError, SshPorts, SshSource};

/// Host path of the OpenSSH server configuration.
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

const MAX_DEPTH: usize = 16;

#[derive(Default)]
struct Found {
    /// `Port` values, in order.
    ports: Vec<u16>,
    /// Whether a `ListenAddress` without a port exists (it uses `Port`).
    listen_without_port: bool,
    /// Whether any `ListenAddress` exists.
    listen_any: bool,
    /// Ports given in `ListenAddress host:port`.
    listen_ports: Vec<u16>,
}

/// The SSH ports to keep open: `firewall.ssh_port` when set, otherwise the
/// ports `<root>/etc/ssh/sshd_config` makes sshd listen on, otherwise 22.
pub fn ssh_ports(config: &Config, root: &Root) -> Result<SshPorts, FirewallError> {
    if let Some(port) = config.firewall.ssh_port {
        return Ok(SshPorts::configured(port));
    }
    let host = PathBuf::from(SSHD_CONFIG);
    let real = in_root(root, &host).map_err(|e| FirewallError::ReadSshd {
        path: host.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = match std::fs::read_to_string(&real) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SshPorts {
                ports: vec![DEFAULT_SSH_PORT],
                source: SshSource::Default,
            });
        }
        Err(source) => return Err(FirewallError::ReadSshd { path: host, source }),
    };
    let mut found = Found::default();
    parse(root, &host, &text, 0, &mut found)?;
    let mut ports = Vec::new();
    if !found.listen_any || found.listen_without_port {
        if found.ports.is_empty() {
            ports.push(DEFAULT_SSH_PORT);
        } else {
            ports.extend(&found.ports);
        }
    }
    ports.extend(&found.listen_ports);
    ports.sort_unstable();
    ports.dedup();
    Ok(SshPorts {
        ports,
        source: SshSource::SshdConfig(host),
    })
}

/// `(keyword in lower case, value)` of one line, or `None` for a blank line
/// or a comment.
fn split(line: &str) -> Option<(String, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    Some((keyword.to_ascii_lowercase(), rest))
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

fn parse(
    root: &Root,
    path: &Path,
    text: &str,
    depth: usize,
    found: &mut Found,
) -> Result<(), FirewallError> {
    if depth > MAX_DEPTH {
        return Err(FirewallError::SshdIncludeDepth {
            path: path.to_path_buf(),
        });
    }
    for (i, raw) in text.lines().enumerate() {
        let Some((keyword, value)) = split(raw) else {
            continue;
        };
        let bad = || FirewallError::BadSshdPort {
            path: path.to_path_buf(),
            line: i + 1,
            keyword: raw.trim().chars().take(80).collect(),
        };
        match keyword.as_str() {
            // `Port` is not allowed in a Match block; nothing after it
            // changes the listening ports.
            "match" => return Ok(()),
            "port" => {
                let port: u16 = unquote(value).parse().map_err(|_| bad())?;
                if port == 0 {
                    return Err(bad());
                }
                found.ports.push(port);
            }
            "listenaddress" => {
                found.listen_any = true;
                // `host`, `host:port`, `[v6]:port`, `v6`, optionally
                // followed by `rdomain NAME`.
                let addr = unquote(value.split_whitespace().next().unwrap_or(""));
                match listen_port(addr) {
                    Some(Ok(port)) => found.listen_ports.push(port),
                    Some(Err(())) => return Err(bad()),
                    None => found.listen_without_port = true,
                }
            }
            "include" => {
                for pattern in value.split_whitespace().map(unquote) {
                    // A port missed in an unread file could lock SSH out:
                    // refuse what cannot be followed instead of guessing.
                    check_pattern(path, i + 1, pattern)?;
                    for (host, text) in include_texts(root, pattern)? {
                        parse(root, &host, &text, depth + 1, found)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The port of a `ListenAddress` value: `None` when it has none,
/// `Some(Err)` when it is not a valid port.
fn listen_port(addr: &str) -> Option<Result<u16, ()>> {
    let port = if let Some(rest) = addr.strip_prefix('[') {
        rest.split_once("]:")?.1
    } else if addr.matches(':').count() == 1 {
        addr.split_once(':')?.1
    } else {
        return None;
    };
    Some(port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(()))
}

/// Refuses an `Include` pattern this reader cannot follow (a wildcard
/// before the last component, `[` classes, `~`).
fn check_pattern(path: &Path, line: usize, pattern: &str) -> Result<(), FirewallError> {
    let dir = pattern.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    if dir.contains(['*', '?']) || pattern.contains(['[', '~']) {
        return Err(FirewallError::SshdInclude {
            path: path.to_path_buf(),
            line,
            pattern: pattern.chars().take(200).collect(),
        });
    }
    Ok(())
}

/// Where `host` really is under `root`: symbolic links are followed the
/// way a chroot would, so an absolute target starts again at the root and
/// `..` stops there. A link can never lead a `--root` read to this
/// machine's own files.
fn in_root(root: &Root, host: &Path) -> Result<PathBuf, cryptobot_plan::PlanError> {
    use std::path::Component;
    // Validates the path (UTF-8, no `..`).
    root.host(host)?;
    let base = root.path().to_path_buf();
    let mut todo: Vec<std::ffi::OsString> = host
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(x) => Some(x.to_os_string()),
            _ => None,
        })
        .collect();
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let here: PathBuf = done.iter().fold(base.clone(), |p, c| p.join(c)).join(&part);
        let target = match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&here).ok(),
            _ => None,
        };
        match target {
            Some(_) if links >= 16 => {
                return Err(cryptobot_plan::PlanError::InvalidPath {
                    path: host.to_path_buf(),
                    reason: "has too many levels of symbolic links",
                });
            }
            Some(t) => {
                links += 1;
                if t.is_absolute() {
                    done.clear();
                }
                for c in t.components().rev() {
                    match c {
                        Component::Normal(x) => todo.push(x.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            None => done.push(part),
        }
    }
    Ok(done.iter().fold(base, |p, c| p.join(c)))
}

/// The files an `Include` pattern names (relative to `/etc/ssh`) as
/// `(host path, text)`, in sorted order, as sshd's glob(3) does.
fn include_texts(root: &Root, pattern: &str) -> Result<Vec<(PathBuf, String)>, FirewallError> {
    let mut out = Vec::new();
    let pattern = if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        Path::new("/etc/ssh").join(pattern)
    };
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Ok(out);
    };
    let name = name.to_string_lossy();
    let read_err = |path: &Path, source: std::io::Error| FirewallError::ReadSshd {
        path: path.to_path_buf(),
        source,
    };
    let real_dir =
        in_root(root, dir).map_err(|e| read_err(dir, std::io::Error::other(e.to_string())))?;
    let mut files = Vec::new();
    if name.contains(['*', '?']) {
        let entries = match std::fs::read_dir(&real_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(read_err(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| read_err(dir, e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if glob_match(&name, &file) && !file.starts_with('.') {
                files.push(file);
            }
        }
        files.sort();
    } else {
        files.push(name.into_owned());
    }
    for file in files {
        let host = dir.join(&file);
        let real = in_root(root, &host)
            .map_err(|e| read_err(&host, std::io::Error::other(e.to_string())))?;
        match std::fs::read_to_string(&real) {
            Ok(text) => out.push((host, text)),
            // sshd ignores an Include that matches nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A directory matched by `*` is skipped as well.
            Err(_) if real.is_dir() => {}
            Err(e) => return Err(read_err(&host, e)),
        }
    }
    Ok(out)
}

/// One keyword line of `sshd_config` or of a file it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdDirective {
    /// Host path of the file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The keyword in lower case, e.g. `permitrootlogin`.
    pub keyword: String,
    /// The value, trimmed (quotes kept).
    pub value: String,
    /// Inside a `Match` block: it applies to matching connections only.
    pub in_match: bool,
}

/// Every directive of `<root>/etc/ssh/sshd_config` and the files it
/// includes, in the order sshd reads them (for `cryptobot assess`; sshd
/// uses the first value of most keywords). `Ok(None)` when the file does
/// not exist. `Include` and `Match` lines are followed, not returned.
pub fn sshd_directives(root: &Root) -> Result<Option<Vec<SshdDirective>>, FirewallError> {
    let host = PathBuf::from(SSHD_CONFIG);
    let real = in_root(root, &host).map_err(|e| FirewallError::ReadSshd {
        path: host.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = match std::fs::read_to_string(&real) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(FirewallError::ReadSshd { path: host, source }),
    };
    let mut out = Vec::new();
    collect(root, &host, &text, 0, false, &mut out)?;
    Ok(Some(out))
}

fn collect(
    root: &Root,
    path: &Path,
    text: &str,
    depth: usize,
    in_match: bool,
    out: &mut Vec<SshdDirective>,
) -> Result<(), FirewallError> {
    if depth > MAX_DEPTH {
        return Err(FirewallError::SshdIncludeDepth {
            path: path.to_path_buf(),
        });
    }
    let mut in_match = in_match;
    for (i, raw) in text.lines().enumerate() {
        let Some((keyword, value)) = split(raw) else {
            continue;
        };
        match keyword.as_str() {
            "match" => in_match = !unquote(value).eq_ignore_ascii_case("all"),
            "include" => {
                for pattern in value.split_whitespace().map(unquote) {
                    check_pattern(path, i + 1, pattern)?;
                    for (host, text) in include_texts(root, pattern)? {
                        collect(root, &host, &text, depth + 1, in_match, out)?;
                    }
                }
            }
            _ => out.push(SshdDirective {
                file: path.to_path_buf(),
                line: i + 1,
                keyword,
                value: value.to_owned(),
                in_match,
            }),
        }
    }
    Ok(())
}

/// `*` and `?` wildcards over bytes, in time proportional to the product
/// of the lengths: on a mismatch only the last `*` is retried one byte
/// further (trying every split for every `*` was exponential, and the
/// pattern comes from the file being read).
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // After the last `*`: where the pattern resumes, and the name byte the
    // `*` matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ni));
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((resume, matched)) => {
                    pi = resume;
                    ni = matched + 1;
                    star = Some((resume, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_root_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/ssh/sshd_config.d")).expect("mkdir");
        std::fs::create_dir_all(r.join("srv/ssh")).expect("mkdir");
        // An absolute link means the image's file, not this machine's.
        std::fs::write(
            r.join("srv/ssh/main"),
            "Include sshd_config.d/*.conf\nPort 2200\n",
        )
        .expect("write");
        std::os::unix::fs::symlink("/srv/ssh/main", r.join("etc/ssh/sshd_config")).expect("link");
        // `..` cannot climb out of the root.
        std::fs::write(r.join("srv/ssh/extra"), "Port 2201\n").expect("write");
        std::os::unix::fs::symlink(
            "../../../../../../../../srv/ssh/extra",
            r.join("etc/ssh/sshd_config.d/extra.conf"),
        )
        .expect("link");
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop.conf", r.join("etc/ssh/sshd_config.d/loop.conf"))
            .expect("link");
        let root = Root::new(r).expect("root");
        let config = cryptobot_config::Config::defaults(&[]).expect("defaults");
        assert!(
            ssh_ports(&config, &root).is_err(),
            "the link loop is reported"
        );
        std::fs::remove_file(r.join("etc/ssh/sshd_config.d/loop.conf")).expect("rm");
        let ports = ssh_ports(&config, &root).expect("ports");
        assert_eq!(ports.ports, vec![2200, 2201]);
    }

    /// Found with the assess_sshd fuzz target: `Include` with forty `*`
    /// in the file name hung the reader (exponential backtracking; this
    /// test did not finish with the old matcher).
    #[test]
    fn fuzz_regression_glob_with_many_stars_terminates() {
        let stars = format!("{}x", "*".repeat(40));
        let long = "a".repeat(255);
        assert!(!glob_match(&stars, &long));
        assert!(glob_match(&stars, &format!("{long}x")));
        assert!(!glob_match(&"*a".repeat(30), &"a".repeat(29)));
        assert!(glob_match(&"*a".repeat(30), &"a".repeat(30)));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(glob_match("*.conf", ".conf"));
        assert!(!glob_match("*.conf", "a.conf.bak"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("a*b", "ab"));
        assert!(glob_match("?*", "a"));
        assert!(!glob_match("*?", ""));
        assert!(glob_match("", ""));
        assert!(glob_match("**", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("*.conf", "x.conf.conf"));
    }

    #[test]
    fn lines() {
        assert_eq!(split("  Port 2222"), Some(("port".into(), "2222")));
        assert_eq!(split("port=2222"), Some(("port".into(), "2222")));
        assert_eq!(split("Port = 2222"), Some(("port".into(), "2222")));
        assert_eq!(split("# Port 1"), None);
        assert_eq!(split(""), None);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_port("0.0.0.0"), None);
        assert_eq!(listen_port("::"), None);
        assert_eq!(listen_port("0.0.0.0:2200"), Some(Ok(2200)));
        assert_eq!(listen_port("[::]:2201"), Some(Ok(2201)));
        assert_eq!(listen_port("[::1]"), None);
        assert_eq!(listen_port("host:0"), Some(Err(())));
        assert_eq!(listen_port("host:x"), Some(Err(())));
    }
}
