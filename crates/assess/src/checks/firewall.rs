//! Firewall present and default-deny, from the configuration that is
//! loaded at boot (read under `--root`): nftables (`/etc/nftables.conf` and
//! its includes, including what `cryptobot firewall persist` writes),
//! iptables-persistent (`/etc/iptables/rules.v4|v6`), ufw and firewalld.
//!
//! Every base chain on the input hook must accept a packet for it to get
//! through, so inbound traffic is denied by default when *any* configured
//! firewall denies it by default.

use std::path::{Path, PathBuf};

use crate::model::{Evidence, Finding};
use crate::snapshot::Snapshot;

const NFT_CONF: &str = "/etc/nftables.conf";
const IPT_V4: &str = "/etc/iptables/rules.v4";
const IPT_V6: &str = "/etc/iptables/rules.v6";
const UFW_CONF: &str = "/etc/ufw/ufw.conf";
const UFW_DEFAULT: &str = "/etc/default/ufw";
const FIREWALLD_CONF: &str = "/etc/firewalld/firewalld.conf";
/// Include levels followed in nftables files.
const MAX_INCLUDE_DEPTH: usize = 8;
/// nftables files read for one assessment, includes counted each time:
/// without a bound, a file that includes itself on a few lines is read
/// (lines)^depth times.
const MAX_INCLUDED_FILES: usize = 256;

/// What one firewall's configuration says about inbound traffic.
#[derive(Debug)]
struct Verdict {
    name: &'static str,
    /// Denies by default, with the evidence.
    deny: bool,
    evidence: Evidence,
}

fn strip_comment(l: &str) -> &str {
    match l.find('#') {
        Some(at) => &l[..at],
        None => l,
    }
}

// ------------------------------------------------------------------ nftables

/// The nftables text of `file` with its includes expanded, as
/// `(file, line, text)` triples. `budget` is the number of files that may
/// still be read; when it runs out, a note says so.
fn nft_lines(
    s: &Snapshot,
    file: &Path,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(PathBuf, usize, String)>,
) {
    let Some(text) = s.read(file) else { return };
    *budget = budget.saturating_sub(1);
    for (i, raw) in text.lines().enumerate() {
        let l = strip_comment(raw).trim();
        if let Some(rest) = l.strip_prefix("include") {
            let pattern = rest.trim().trim_matches('"');
            if depth < MAX_INCLUDE_DEPTH {
                for inc in glob(s, pattern, file) {
                    if *budget == 0 {
                        s.note(format!(
                            "{NFT_CONF}: its includes read more than {MAX_INCLUDED_FILES} files; the rest was not read"
                        ));
                        return;
                    }
                    nft_lines(s, &inc, depth + 1, budget, out);
                }
            }
            continue;
        }
        out.push((file.to_path_buf(), i + 1, l.to_owned()));
    }
}

/// Files matching an include pattern: a literal path, or `*` in the last
/// component. Relative patterns are relative to `/etc` (nft's include path).
fn glob(s: &Snapshot, pattern: &str, _from: &Path) -> Vec<PathBuf> {
    let p = if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        Path::new("/etc").join(pattern)
    };
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    if !name.contains('*') {
        return vec![p.clone()];
    }
    let (pre, post) = name.split_once('*').unwrap_or((name, ""));
    s.list(dir)
        .into_iter()
        .filter(|n| n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len())
        .map(|n| dir.join(n))
        .collect()
}

/// The input-hook base chains: their policy (`drop` when they end in an
/// unconditional drop/reject) and where it is said.
fn nftables(s: &Snapshot) -> Option<Verdict> {
    s.lstat(Path::new(NFT_CONF))?;
    let mut lines = Vec::new();
    let mut budget = MAX_INCLUDED_FILES;
    nft_lines(s, Path::new(NFT_CONF), 0, &mut budget, &mut lines);
    // Tokens: statements (split at `;`, `{`, `}` and line ends), braces.
    enum Tok {
        Stmt(String, PathBuf, usize),
        Open,
        Close,
    }
    let mut toks = Vec::new();
    for (file, line, l) in &lines {
        let mut cur = String::new();
        for c in l.chars() {
            match c {
                ';' | '{' | '}' => {
                    let t = cur.trim();
                    if !t.is_empty() {
                        toks.push(Tok::Stmt(t.to_owned(), file.clone(), *line));
                    }
                    cur.clear();
                    match c {
                        '{' => toks.push(Tok::Open),
                        '}' => toks.push(Tok::Close),
                        _ => {}
                    }
                }
                c => cur.push(c),
            }
        }
        let t = cur.trim();
        if !t.is_empty() {
            toks.push(Tok::Stmt(t.to_owned(), file.clone(), *line));
        }
    }
    struct Chain {
        depth: usize,
        hook: Option<(PathBuf, usize)>,
        policy: Option<(String, PathBuf, usize)>,
        last: Option<(String, PathBuf, usize)>,
    }
    let mut depth = 0usize;
    let mut pending_chain = false;
    let mut chain: Option<Chain> = None;
    let mut chains: Vec<(PathBuf, usize, bool, String)> = Vec::new();
    for t in toks {
        match t {
            Tok::Open => {
                depth += 1;
                if pending_chain {
                    chain = Some(Chain {
                        depth,
                        hook: None,
                        policy: None,
                        last: None,
                    });
                }
                pending_chain = false;
            }
            Tok::Close => {
                if let Some(c) = chain.take_if(|c| c.depth == depth)
                    && let Some((hf, hl)) = c.hook
                {
                    let ends = c
                        .last
                        .filter(|(b, _, _)| b == "drop" || b.starts_with("reject"));
                    let v = match (c.policy, ends) {
                        (Some((p, f, ln)), _) if p == "drop" => {
                            (f, ln, true, "policy drop".to_owned())
                        }
                        (_, Some((b, f, ln))) => (f, ln, true, format!("ends in {b}")),
                        (Some((p, f, ln)), None) => (f, ln, false, format!("policy {p}")),
                        (None, None) => (hf, hl, false, "no policy (accept)".to_owned()),
                    };
                    chains.push(v);
                }
                depth = depth.saturating_sub(1);
                pending_chain = false;
            }
            Tok::Stmt(text, file, line) => {
                pending_chain = text.starts_with("chain ");
                if let Some(c) = chain.as_mut().filter(|c| c.depth == depth) {
                    if text.starts_with("type ") {
                        if text.contains(" hook input ") || text.ends_with(" hook input") {
                            c.hook = Some((file, line));
                        }
                    } else if let Some(p) = text.strip_prefix("policy ") {
                        c.policy = Some((p.trim().to_owned(), file, line));
                    } else {
                        c.last = Some((text, file, line));
                    }
                }
            }
        }
    }
    if chains.is_empty() {
        return Some(Verdict {
            name: "nftables",
            deny: false,
            evidence: Evidence::file(NFT_CONF, "nftables: no base chain on the input hook"),
        });
    }
    let pick = chains
        .iter()
        .find(|c| c.2)
        .or_else(|| chains.first())
        .cloned()
        .unwrap_or_default();
    Some(Verdict {
        name: "nftables",
        deny: pick.2,
        evidence: Evidence::at(&pick.0, pick.1, format!("nftables input chain: {}", pick.3)),
    })
}

// ------------------------------------------------------------------ iptables

/// `iptables-restore` file: the `filter` table's INPUT policy, or an
/// unconditional jump from INPUT to a chain that ends in an unconditional
/// DROP/REJECT (what `cryptobot firewall` writes).
fn iptables_file(s: &Snapshot, path: &str) -> Option<Verdict> {
    let text = s.read(Path::new(path))?;
    let mut table = "";
    let mut policy: Option<(String, usize)> = None;
    let mut rules: Vec<(String, Vec<String>, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = strip_comment(raw).trim();
        if let Some(t) = l.strip_prefix('*') {
            table = if t.trim() == "filter" {
                "filter"
            } else {
                "other"
            };
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(rest) = l.strip_prefix(":INPUT ") {
            policy = rest
                .split_whitespace()
                .next()
                .map(|p| (p.to_ascii_uppercase(), i + 1));
        } else if let Some(rest) = l.strip_prefix("-A ") {
            let f: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
            if let Some((chain, args)) = f.split_first() {
                rules.push((chain.clone(), args.to_vec(), i + 1));
            }
        }
    }
    if policy.is_none() && rules.is_empty() {
        return None;
    }
    let unconditional_target = |args: &[String]| -> Option<String> {
        (args.len() == 2 && args[0] == "-j").then(|| args[1].clone())
    };
    // Whether a chain ends in an unconditional deny (or jumps
    // unconditionally into one), depth-limited.
    fn denies(
        chain: &str,
        rules: &[(String, Vec<String>, usize)],
        target: &dyn Fn(&[String]) -> Option<String>,
        depth: usize,
    ) -> Option<usize> {
        if depth > 8 {
            return None;
        }
        for (_, args, line) in rules.iter().filter(|r| r.0 == chain) {
            match target(args).as_deref() {
                Some("DROP" | "REJECT") => return Some(*line),
                Some("ACCEPT" | "RETURN") => return None,
                Some(other) if denies(other, rules, target, depth + 1).is_some() => {
                    return Some(*line);
                }
                _ => {}
            }
        }
        None
    }
    let name = "iptables";
    if let Some((p, line)) = &policy
        && (p == "DROP" || p == "REJECT")
    {
        return Some(Verdict {
            name,
            deny: true,
            evidence: Evidence::at(path, *line, format!(":INPUT {p}")),
        });
    }
    if let Some(line) = denies("INPUT", &rules, &unconditional_target, 0) {
        return Some(Verdict {
            name,
            deny: true,
            evidence: Evidence::at(path, line, "INPUT ends in an unconditional DROP"),
        });
    }
    let (p, line) = policy.unwrap_or_else(|| ("ACCEPT".into(), 0));
    Some(Verdict {
        name,
        deny: false,
        evidence: if line > 0 {
            Evidence::at(
                path,
                line,
                format!(":INPUT {p}, and no rule drops the rest"),
            )
        } else {
            Evidence::file(path, "no INPUT policy, and no rule drops the rest")
        },
    })
}

// ----------------------------------------------------------- ufw, firewalld

/// `KEY=value` (quotes removed) with its line.
fn kv(text: &str, key: &str) -> Option<(String, usize)> {
    text.lines().enumerate().find_map(|(i, raw)| {
        let l = strip_comment(raw).trim();
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| (v.trim().trim_matches('"').to_owned(), i + 1))
    })
}

fn ufw(s: &Snapshot) -> Option<Verdict> {
    let conf = s.read(Path::new(UFW_CONF))?;
    let enabled = kv(&conf, "ENABLED").is_some_and(|(v, _)| v.eq_ignore_ascii_case("yes"));
    if !enabled {
        return None;
    }
    let default = s.read(Path::new(UFW_DEFAULT)).unwrap_or_default();
    let (policy, line) = kv(&default, "DEFAULT_INPUT_POLICY").unwrap_or_else(|| ("DROP".into(), 0));
    let deny = !policy.eq_ignore_ascii_case("ACCEPT");
    let value = format!("ufw enabled, DEFAULT_INPUT_POLICY={policy}");
    Some(Verdict {
        name: "ufw",
        deny,
        evidence: if line > 0 {
            Evidence::at(UFW_DEFAULT, line, value)
        } else {
            Evidence::file(UFW_CONF, value)
        },
    })
}

fn unit_enabled(s: &Snapshot, unit: &str) -> bool {
    [
        "multi-user.target.wants",
        "sysinit.target.wants",
        "basic.target.wants",
    ]
    .iter()
    .any(|w| {
        s.lstat(&Path::new("/etc/systemd/system").join(w).join(unit))
            .is_some()
    })
}

fn firewalld(s: &Snapshot) -> Option<Verdict> {
    let conf = s.read(Path::new(FIREWALLD_CONF))?;
    if !unit_enabled(s, "firewalld.service") {
        return None;
    }
    let zone = kv(&conf, "DefaultZone").map_or_else(|| "public".to_owned(), |(z, _)| z);
    let mut target = None;
    for dir in ["/etc/firewalld/zones", "/usr/lib/firewalld/zones"] {
        let path = Path::new(dir).join(format!("{zone}.xml"));
        if let Some(xml) = s.read(&path) {
            let t = xml
                .split("target=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("default")
                .to_owned();
            target = Some((t, path));
            break;
        }
    }
    let accept = zone == "trusted" || target.as_ref().is_some_and(|(t, _)| t == "ACCEPT");
    let value = format!(
        "firewalld enabled, default zone {zone}, target {}",
        target.as_ref().map_or("default", |(t, _)| t.as_str())
    );
    Some(Verdict {
        name: "firewalld",
        deny: !accept,
        evidence: match target {
            Some((_, p)) => Evidence::file(p, value),
            None => Evidence::file(FIREWALLD_CONF, value),
        },
    })
}

fn verdicts(s: &Snapshot) -> Vec<Verdict> {
    let mut out = Vec::new();
    out.extend(nftables(s));
    out.extend(iptables_file(s, IPT_V4));
    out.extend(iptables_file(s, IPT_V6));
    out.extend(ufw(s));
    out.extend(firewalld(s));
    out
}

/// Whether the root looks like a host at all (an `/etc`): an image or a
/// bare installation tree is not judged.
fn is_host(s: &Snapshot) -> bool {
    s.lstat(Path::new("/etc")).is_some_and(|m| m.is_dir())
}

pub fn firewall_missing(s: &Snapshot) -> Vec<Finding> {
    if !is_host(s) || !verdicts(s).is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "CB-NET-003",
        "firewall",
        Evidence::value(format!(
            "no firewall configuration loaded at boot: none of {NFT_CONF}, {IPT_V4}, {IPT_V6}, {UFW_CONF} (ENABLED=yes), {FIREWALLD_CONF} (with firewalld.service enabled)"
        )),
    )]
}

pub fn firewall_accepts(s: &Snapshot) -> Vec<Finding> {
    let v = verdicts(s);
    if v.is_empty() || v.iter().any(|x| x.deny) {
        return Vec::new();
    }
    v.into_iter()
        .map(|x| Finding::new("CB-NET-004", format!("{} input policy", x.name), x.evidence))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptobot_config::Layout;
    use cryptobot_plan::Root;

    fn root(files: &[(&str, &str)]) -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (p, t) in files {
            let real = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(real.parent().unwrap_or(dir.path())).ok();
            std::fs::write(real, t).ok();
        }
        std::fs::create_dir_all(dir.path().join("etc")).ok();
        let snap = Snapshot::new(
            Root::new(dir.path()).unwrap_or_else(|e| panic!("{e}")),
            Layout::new("/opt/cryptobot"),
            None,
            0,
        );
        (dir, snap)
    }

    fn ids(s: &Snapshot) -> (usize, usize) {
        (firewall_missing(s).len(), firewall_accepts(s).len())
    }

    #[test]
    fn nothing_debian_default_and_ours() {
        let (_d, s) = root(&[]);
        assert_eq!(ids(&s), (1, 0));
        let debian = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n}\n";
        let (_d, s) = root(&[(NFT_CONF, debian)]);
        assert_eq!(ids(&s), (0, 1));
        let f = firewall_accepts(&s);
        assert_eq!(f[0].evidence[0].line, Some(7), "{f:?}");
        let with_include = format!("{debian}\ninclude \"/etc/nftables.d/*.nft\"\n");
        let ours = "table inet cryptobot {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t}\n}\n";
        let (_d, s) = root(&[
            (NFT_CONF, &with_include),
            ("/etc/nftables.d/cryptobot.nft", ours),
        ]);
        assert_eq!(ids(&s), (0, 0));
        let one_line =
            "table inet f { chain input { type filter hook input priority 0; policy accept; } }\n";
        let (_d, s) = root(&[(NFT_CONF, one_line)]);
        assert_eq!(ids(&s), (0, 1));
        let ends_in_drop = "table inet f {\n chain input {\n  type filter hook input priority 0;\n  tcp dport 22 accept\n  drop\n }\n}\n";
        let (_d, s) = root(&[(NFT_CONF, ends_in_drop)]);
        assert_eq!(ids(&s), (0, 0));
    }

    #[test]
    fn iptables_ufw_firewalld() {
        let accept = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        let (_d, s) = root(&[(IPT_V4, accept)]);
        assert_eq!(ids(&s), (0, 1));
        let drop = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n";
        let (_d, s) = root(&[(IPT_V4, drop)]);
        assert_eq!(ids(&s), (0, 0));
        let chained = "*filter\n:INPUT ACCEPT [0:0]\n:CRYPTOBOT-INPUT - [0:0]\n-A CRYPTOBOT-INPUT -i lo -j ACCEPT\n-A CRYPTOBOT-INPUT -j DROP\n-A INPUT -j CRYPTOBOT-INPUT\nCOMMIT\n";
        let (_d, s) = root(&[(IPT_V4, chained)]);
        assert_eq!(ids(&s), (0, 0));
        let (_d, s) = root(&[(UFW_CONF, "ENABLED=no\n")]);
        assert_eq!(ids(&s), (1, 0), "disabled ufw is no firewall");
        let (_d, s) = root(&[
            (UFW_CONF, "ENABLED=yes\n"),
            (UFW_DEFAULT, "DEFAULT_INPUT_POLICY=\"ACCEPT\"\n"),
        ]);
        assert_eq!(ids(&s), (0, 1));
        let (_d, s) = root(&[
            (UFW_CONF, "ENABLED=yes\n"),
            (UFW_DEFAULT, "DEFAULT_INPUT_POLICY=\"DROP\"\n"),
        ]);
        assert_eq!(ids(&s), (0, 0));
        let (_d, s) = root(&[
            (FIREWALLD_CONF, "DefaultZone=trusted\n"),
            (
                "/etc/systemd/system/multi-user.target.wants/firewalld.service",
                "",
            ),
        ]);
        assert_eq!(ids(&s), (0, 1));
        let (_d, s) = root(&[
            (FIREWALLD_CONF, "DefaultZone=public\n"),
            (
                "/etc/systemd/system/multi-user.target.wants/firewalld.service",
                "",
            ),
        ]);
        assert_eq!(ids(&s), (0, 0));
    }
}
