//! Loading the rules into the running kernel without locking anyone out,
//! like `iptables-apply`: the pure parts (no process is run and no file is
//! touched here; the other modules of [`crate::live`] do the I/O).
//!
//! 1. The state of our own rules is saved (`nft list table inet cryptobot`,
//!    or the `CRYPTOBOT-*` chains of `iptables-save`) as a restore script
//!    ([`nft_restore_script`], [`IptState::restore_script`]) that puts back
//!    exactly that state — or removes our rules when there were none.
//! 2. A [`Pending`] marker with a deadline is written, a watchdog is started
//!    and the new rules are loaded in one transaction per family.
//! 3. `cryptobot firewall confirm` replaces the marker before the deadline;
//!    otherwise the watchdog ([`watchdog_step`]) loads the restore script.
//! 4. After the confirmation the rules are written where the distribution
//!    loads them at boot ([`nft_conf_with_include`], [`ipt_boot_file`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::render::iptables;
use crate::rules::{Family, Target};

/// Directory of the apply state, below `<home>/data/`.
pub const STATE_DIR: &str = "firewall";
/// The marker of an apply that waits for `confirm`.
pub const PENDING_FILE: &str = "pending";
/// The outcome of the last apply (confirmed or rolled back).
pub const LAST_FILE: &str = "last.json";
/// Log file below `<home>/logs/`.
pub const LOG_FILE: &str = "firewall.log";
/// `format` of [`Pending`].
pub const PENDING_FORMAT: &str = "cryptobot-firewall-pending/1";

/// Where Debian loads nftables rules at boot (`nftables.service`).
pub const NFT_CONF: &str = "/etc/nftables.conf";
/// Directory of the file [`NFT_CONF`] includes.
pub const NFT_BOOT_DIR: &str = "/etc/nftables.d";
/// The persisted table.
pub const NFT_BOOT_FILE: &str = "/etc/nftables.d/cryptobot.nft";
/// Directory of the `iptables-persistent` files.
pub const IPTABLES_BOOT_DIR: &str = "/etc/iptables";
/// `iptables-persistent`'s IPv4 file (a whole `filter` table).
pub const IPTABLES_BOOT_V4: &str = "/etc/iptables/rules.v4";
/// `iptables-persistent`'s IPv6 file.
pub const IPTABLES_BOOT_V6: &str = "/etc/iptables/rules.v6";

/// A firewall `cryptobot firewall apply` can load into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveBackend {
    Nftables,
    Iptables,
    /// Through the `ufw` command; its files are [`crate::render::ufw::MANAGED`].
    Ufw,
    /// Through `firewall-cmd`; its files are [`crate::render::firewalld::MANAGED`].
    Firewalld,
}

impl LiveBackend {
    /// The live backend of a render target; `None` for render-only ones.
    pub fn from_target(target: Target) -> Option<LiveBackend> {
        match target {
            Target::Nftables => Some(LiveBackend::Nftables),
            Target::Iptables => Some(LiveBackend::Iptables),
            Target::Ufw => Some(LiveBackend::Ufw),
            Target::Firewalld => Some(LiveBackend::Firewalld),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LiveBackend::Nftables => "nftables",
            LiveBackend::Iptables => "iptables",
            LiveBackend::Ufw => "ufw",
            LiveBackend::Firewalld => "firewalld",
        }
    }

    /// The state files of apply `id`: `(applied, previous)` per family
    /// (one pair for nftables, IPv4 then IPv6 for iptables), or per file
    /// ufw or firewalld keeps its state in.
    pub fn state_files(self, id: &str) -> Vec<(String, String)> {
        match self {
            LiveBackend::Nftables => {
                vec![(format!("applied-{id}.nft"), format!("previous-{id}.nft"))]
            }
            LiveBackend::Iptables => ["v4", "v6"]
                .iter()
                .map(|f| (format!("applied-{id}.{f}"), format!("previous-{id}.{f}")))
                .collect(),
            LiveBackend::Ufw => crate::render::ufw::MANAGED.state_files(id),
            LiveBackend::Firewalld => crate::render::firewalld::MANAGED.state_files(id),
        }
    }

    /// The description of a backend whose own tool keeps its rules in
    /// files; `None` for nftables and iptables.
    pub fn managed(self) -> Option<&'static crate::managed::Managed> {
        match self {
            LiveBackend::Ufw => Some(&crate::render::ufw::MANAGED),
            LiveBackend::Firewalld => Some(&crate::render::firewalld::MANAGED),
            LiveBackend::Nftables | LiveBackend::Iptables => None,
        }
    }
}

/// What is wrong with a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("{file}: {reason}")]
    State { file: String, reason: String },
}

/// An apply waiting for `cryptobot firewall confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// [`PENDING_FORMAT`].
    pub format: String,
    /// Names the state files and the watchdog of this apply ([`new_id`]).
    pub id: String,
    pub backend: LiveBackend,
    /// When the rules were loaded (milliseconds since the epoch).
    pub applied_unix_ms: u64,
    /// When the watchdog restores the previous state unless confirmed.
    pub deadline_unix_ms: u64,
    /// Write the boot files once confirmed (`--no-persist` turns it off).
    pub persist: bool,
    /// Whether our rules existed before (otherwise the rollback removes
    /// them); for ufw, whether ufw was enabled; for firewalld, whether it
    /// was running (always: apply refuses otherwise).
    pub previous_present: bool,
}

impl Pending {
    /// The marker as written to [`PENDING_FILE`].
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a marker; refuses another format and an unsafe id.
    pub fn parse(text: &str) -> Result<Pending, StateFileError> {
        let bad = |reason: String| StateFileError::State {
            file: PENDING_FILE.into(),
            reason,
        };
        let p: Pending = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if p.format != PENDING_FORMAT {
            return Err(bad(format!("unknown format {:?}", p.format)));
        }
        if !valid_id(&p.id) {
            return Err(bad("invalid id".into()));
        }
        Ok(p)
    }

    /// Seconds left until the deadline (0 when it has passed).
    pub fn seconds_left(&self, now_ms: u64) -> u64 {
        self.deadline_unix_ms.saturating_sub(now_ms).div_ceil(1000)
    }
}

/// How an apply ended, kept in [`LAST_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub pending: Pending,
    /// `confirmed`, `rolled back` or `restore failed`.
    pub outcome: String,
    pub at_unix_ms: u64,
    /// What was done, for the operator.
    #[serde(default)]
    pub detail: String,
}

impl Outcome {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// `None` for anything unreadable (it is informational only).
    pub fn parse(text: &str) -> Option<Outcome> {
        serde_json::from_str(text).ok()
    }
}

/// An apply id: UTC time and process id, e.g. `20260110T100000Z-4242`
/// (sorts by time, safe as part of a file name).
pub fn new_id(unix_ms: u64, pid: u32) -> String {
    let (stamp, _) = utc(unix_ms / 1000);
    format!("{stamp}-{pid}")
}

/// Only what [`new_id`] makes: letters, digits and `-`, at most 64.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// RFC 3339 UTC time of `unix_ms`, to the second.
pub fn rfc3339(unix_ms: u64) -> String {
    utc(unix_ms / 1000).1
}

fn utc(secs: u64) -> (String, String) {
    cryptobot_plan::utc_stamps(secs)
}

/// What the watchdog finds in [`PENDING_FILE`].
#[derive(Debug, Clone, Copy)]
pub enum Marker<'a> {
    Absent,
    /// Present but unreadable: treated as still pending, with the deadline
    /// the watchdog was started with (a lock-out is worse than a rollback).
    Corrupt,
    Present(&'a Pending),
}

/// What the watchdog does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchdogStep {
    /// Nothing left to watch (confirmed, or another apply's marker).
    Exit(String),
    /// Check again after this long.
    Wait(Duration),
    /// The deadline has passed: restore the previous state now.
    Restore,
}

/// Longest sleep between two looks at the marker, so a confirmed watchdog
/// ends soon after the confirmation.
pub const WATCHDOG_POLL: Duration = Duration::from_millis(500);

/// The watchdog of apply `id`, started with `deadline_ms`, at `now_ms`.
pub fn watchdog_step(marker: Marker<'_>, id: &str, deadline_ms: u64, now_ms: u64) -> WatchdogStep {
    let deadline = match marker {
        Marker::Absent => return WatchdogStep::Exit("confirmed or cancelled".into()),
        Marker::Present(p) if p.id != id => {
            return WatchdogStep::Exit(format!("the pending apply is {}, not {id}", p.id));
        }
        Marker::Present(p) => p.deadline_unix_ms,
        Marker::Corrupt => deadline_ms,
    };
    if now_ms >= deadline {
        WatchdogStep::Restore
    } else {
        WatchdogStep::Wait(Duration::from_millis(deadline - now_ms).min(WATCHDOG_POLL))
    }
}

// ------------------------------------------------------------- nftables

/// `nft list table inet cryptobot` without the members of dynamic sets
/// (the per-address SSH counters): they are state, not rules, and would
/// only add noise to a diff and a restore.
pub fn strip_dynamic_elements(listing: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = listing.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with("set ") && t.ends_with('{') {
            // The set's block, up to its closing brace.
            let mut end = i + 1;
            let mut depth = 1i32;
            while end < lines.len() {
                depth += brace_delta(lines[end]);
                if depth <= 0 {
                    break;
                }
                end += 1;
            }
            let block = &lines[i..=end.min(lines.len() - 1)];
            let dynamic = block.iter().any(|l| {
                let l = l.trim();
                l.starts_with("flags ") && l.contains("dynamic")
            });
            let mut j = 0;
            while j < block.len() {
                let l = block[j];
                if dynamic && j > 0 && l.trim().starts_with("elements = ") {
                    // Skip to the line that closes the element list.
                    let mut d = brace_delta(l);
                    while d > 0 && j + 1 < block.len() {
                        j += 1;
                        d += brace_delta(block[j]);
                    }
                    j += 1;
                    continue;
                }
                out.push_str(l);
                out.push('\n');
                j += 1;
            }
            i = end + 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

fn brace_delta(line: &str) -> i32 {
    let mut d = 0;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => d += 1,
            '}' if !quoted => d -= 1,
            _ => {}
        }
    }
    d
}

/// The script that puts `table inet cryptobot` back as it was: the listing
/// of the table, or nothing when it did not exist. It starts with the
/// create-then-delete idiom, so it replaces whatever table is there in one
/// transaction and never touches another table.
pub fn nft_restore_script(previous: Option<&str>, id: &str) -> String {
    let mut o = format!(
        "#!/usr/sbin/nft -f\n\
         # Written by `cryptobot firewall apply` ({id}): the state of table inet\n\
         # cryptobot before that apply. Load with `nft -f` to go back to it.\n"
    );
    match previous {
        None => o.push_str("# The table did not exist: loading this removes it.\n"),
        Some(_) => o.push_str("# The rules as `nft list table inet cryptobot` showed them.\n"),
    }
    o.push_str("table inet cryptobot {}\ndelete table inet cryptobot\n");
    if let Some(listing) = previous {
        o.push('\n');
        o.push_str(listing.trim_end());
        o.push('\n');
    }
    o
}

/// The `include` line [`NFT_CONF`] needs.
pub fn nft_include_line() -> String {
    format!("include \"{NFT_BOOT_FILE}\"")
}

/// [`NFT_CONF`] with an `include` of [`NFT_BOOT_FILE`] appended, or `None`
/// when an `include` already covers it (the exact path, or a pattern such as
/// `/etc/nftables.d/*.nft`). A missing file is created with just the line.
pub fn nft_conf_with_include(conf: Option<&str>) -> Option<String> {
    let line = nft_include_line();
    let Some(text) = conf else {
        return Some(format!(
            "#!/usr/sbin/nft -f\n\n# cryptobot firewall: the table inet cryptobot.\n{line}\n"
        ));
    };
    let covered = text.lines().any(|l| {
        let l = l.trim();
        let Some(rest) = l.strip_prefix("include") else {
            return false;
        };
        let rest = rest.trim();
        let pattern = rest
            .strip_prefix('"')
            .and_then(|r| r.split_once('"'))
            .map(|(p, _)| p)
            .unwrap_or(rest);
        glob_match(pattern, NFT_BOOT_FILE)
    });
    if covered {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "\n# cryptobot firewall: the table inet cryptobot.\n{line}\n"
    ));
    Some(out)
}

/// `*` and `?` within one path component, as nft's include globbing.
fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    fn go(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], s) || (!s.is_empty() && s[0] != '/' && go(p, &s[1..])),
            (Some('?'), Some(c)) if *c != '/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(&p, &s)
}

// ------------------------------------------------------------- iptables

const HOOKS: [(&str, &str); 2] = [("INPUT", "CRYPTOBOT-INPUT"), ("OUTPUT", "CRYPTOBOT-OUTPUT")];

/// Our part of one family's `filter` table, read from `iptables-save`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IptState {
    /// The `CRYPTOBOT-*` chains that exist, in save order.
    pub chains: Vec<String>,
    /// Their rules (`-A CRYPTOBOT-… …`), in order.
    pub rules: Vec<String>,
    /// `-A INPUT -j CRYPTOBOT-INPUT` is there.
    pub hooked_input: bool,
    /// `-A OUTPUT -j CRYPTOBOT-OUTPUT` is there.
    pub hooked_output: bool,
}

impl IptState {
    /// Parses `iptables-save -t filter` (other tables are ignored).
    pub fn parse(save: &str) -> IptState {
        let mut st = IptState::default();
        let mut in_filter = false;
        for line in save.lines() {
            let line = line.trim_end();
            if let Some(table) = line.strip_prefix('*') {
                in_filter = table == "filter";
                continue;
            }
            if !in_filter {
                continue;
            }
            if let Some(decl) = line.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or("");
                if iptables::CHAINS.contains(&name) {
                    st.chains.push(name.to_string());
                }
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let chain = rule.split_whitespace().next().unwrap_or("");
                if iptables::CHAINS.contains(&chain) {
                    st.rules.push(line.to_string());
                } else if line == "-A INPUT -j CRYPTOBOT-INPUT" {
                    st.hooked_input = true;
                } else if line == "-A OUTPUT -j CRYPTOBOT-OUTPUT" {
                    st.hooked_output = true;
                }
            }
        }
        st
    }

    /// Whether any of our chains exists.
    pub fn is_present(&self) -> bool {
        !self.chains.is_empty()
    }

    fn hooked(&self, builtin: &str) -> bool {
        match builtin {
            "INPUT" => self.hooked_input,
            _ => self.hooked_output,
        }
    }

    /// The state as lines for a diff: chains, hooks, rules.
    pub fn listing(&self) -> String {
        let mut o = String::new();
        let mut chains = self.chains.clone();
        chains.sort();
        for c in &chains {
            o.push_str(&format!(":{c}\n"));
        }
        for (builtin, chain) in HOOKS {
            if self.hooked(builtin) {
                o.push_str(&format!("-A {builtin} -j {chain}\n"));
            }
        }
        for r in &self.rules {
            o.push_str(r);
            o.push('\n');
        }
        o
    }

    /// The `iptables-restore --noflush` script that brings this state back
    /// after our full rule set (all chains, both hooks) has been loaded:
    /// every chain is emptied, its old rules put back, hooks and chains
    /// that did not exist removed. One transaction.
    pub fn restore_script(&self, family: Family, id: &str) -> String {
        let mut o = format!(
            "# Written by `cryptobot firewall apply` ({id}): the CRYPTOBOT-* chains of the\n\
             # {} filter table before that apply. Load with `{}-restore --noflush`.\n\
             *filter\n",
            if family == Family::V4 { "IPv4" } else { "IPv6" },
            if family == Family::V4 {
                "iptables"
            } else {
                "ip6tables"
            },
        );
        for chain in iptables::CHAINS {
            o.push_str(&format!(":{chain} - [0:0]\n"));
        }
        for r in &self.rules {
            o.push_str(r);
            o.push('\n');
        }
        for (builtin, chain) in HOOKS {
            if !self.hooked(builtin) {
                o.push_str(&format!("-D {builtin} -j {chain}\n"));
            }
        }
        for chain in iptables::CHAINS {
            if !self.chains.iter().any(|c| c == chain) {
                o.push_str(&format!("-X {chain}\n"));
            }
        }
        o.push_str("COMMIT\n");
        o
    }
}

/// Inserts `lines` before the last `COMMIT` of a restore file.
fn before_commit(rendered: &str, lines: &[String]) -> String {
    let mut out: Vec<&str> = rendered.lines().collect();
    let at = out
        .iter()
        .rposition(|l| l.trim() == "COMMIT")
        .unwrap_or(out.len());
    let tail = out.split_off(at);
    let mut s = String::new();
    for l in out {
        s.push_str(l);
        s.push('\n');
    }
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    for l in tail {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The rendered `--noflush` file plus the hooks `current` lacks, so that
/// rules and hooks are loaded in one transaction.
pub fn ipt_load_script(rendered: &str, current: &IptState) -> String {
    let hooks: Vec<String> = HOOKS
        .iter()
        .filter(|(b, _)| !current.hooked(b))
        .map(|(b, c)| format!("-I {b} 1 -j {c}"))
        .collect();
    before_commit(rendered, &hooks)
}

/// `/etc/iptables/rules.v4|v6`: `iptables-persistent` restores it as the
/// whole `filter` table at boot, so the hooks are part of it.
pub fn ipt_boot_file(rendered: &str, family: Family) -> String {
    let path = match family {
        Family::V4 => IPTABLES_BOOT_V4,
        Family::V6 => IPTABLES_BOOT_V6,
    };
    let mut s = format!(
        "# {path}: written by `cryptobot firewall confirm` / `cryptobot firewall persist`.\n\
         # iptables-persistent (netfilter-persistent) loads it at boot as the whole filter table.\n"
    );
    let hooks: Vec<String> = HOOKS
        .iter()
        .map(|(b, c)| format!("-A {b} -j {c}"))
        .collect();
    s.push_str(&before_commit(rendered, &hooks));
    s
}

/// Whether a file was written by cryptobot (its first lines say so).
pub fn is_ours(text: &str) -> bool {
    text.lines().take(5).any(|l| {
        l.contains("Generated by cryptobot") || l.contains("written by `cryptobot firewall")
    })
}

/// A unified diff of two texts (empty when they are equal).
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

/// Prefix of the marker `confirm` leaves for an apply it confirmed: that
/// apply's `previous-*` files are what the journal's undo loads, so they
/// stay as long as `cryptobot rollback` can reach that journal.
pub const CONFIRMED_PREFIX: &str = "confirmed-";

/// The apply id a state file belongs to (`applied-<id>…`, `previous-<id>…`,
/// `confirmed-<id>`); ids never contain a dot.
fn state_file_id(name: &str) -> Option<&str> {
    let rest = ["applied-", "previous-", CONFIRMED_PREFIX]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let id = rest.split('.').next().unwrap_or(rest);
    valid_id(id).then_some(id)
}

/// The state files to delete, from the names in the state directory:
/// those of finished applies that were never confirmed (their rules are
/// gone and no journal refers to them), and those of confirmed applies
/// older than the newest `keep` (each confirm writes one journal, and only
/// the newest `keep` journals are kept). The pending apply's files always
/// stay; other names are never touched.
pub fn prunable(names: &[String], pending: Option<&str>, keep: usize) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by_id: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    let mut confirmed = BTreeSet::new();
    for name in names {
        if let Some(id) = state_file_id(name) {
            by_id.entry(id).or_default().push(name);
            if name.starts_with(CONFIRMED_PREFIX) {
                confirmed.insert(id);
            }
        }
    }
    // Ids sort by time: `new_id` starts with a UTC stamp.
    let kept_confirmed: BTreeSet<&str> = confirmed.iter().rev().take(keep).copied().collect();
    by_id
        .into_iter()
        .filter(|(id, _)| Some(*id) != pending && !kept_confirmed.contains(id))
        .flat_map(|(_, files)| files.into_iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pending(id: &str, deadline: u64) -> Pending {
        Pending {
            format: PENDING_FORMAT.into(),
            id: id.into(),
            backend: LiveBackend::Nftables,
            applied_unix_ms: 1_000,
            deadline_unix_ms: deadline,
            persist: true,
            previous_present: false,
        }
    }

    #[test]
    fn marker_round_trips_and_refuses_bad_ids() {
        let p = pending("20260110T100000Z-42", 61_000);
        assert_eq!(Pending::parse(&p.to_json()).unwrap(), p);
        let bad = p.to_json().replace("20260110T100000Z-42", "../../etc");
        assert!(Pending::parse(&bad).is_err());
        assert!(Pending::parse("{}").is_err());
        assert_eq!(p.seconds_left(1_000), 60);
        assert_eq!(p.seconds_left(60_500), 1);
        assert_eq!(p.seconds_left(70_000), 0);
    }

    #[test]
    fn ids_and_times() {
        assert_eq!(new_id(1_767_225_600_000, 7), "20260101T000000Z-7");
        assert_eq!(rfc3339(1_767_225_601_999), "2026-01-01T00:00:01Z");
        assert!(valid_id("20260101T000000Z-7"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(""));
    }

    #[test]
    fn watchdog_restores_only_its_own_unconfirmed_apply() {
        let p = pending("a-1", 10_000);
        assert_eq!(
            watchdog_step(Marker::Present(&p), "a-1", 10_000, 9_000),
            WatchdogStep::Wait(WATCHDOG_POLL)
        );
        assert_eq!(
            watchdog_step(Marker::Present(&p), "a-1", 10_000, 9_900),
            WatchdogStep::Wait(Duration::from_millis(100))
        );
        assert_eq!(
            watchdog_step(Marker::Present(&p), "a-1", 10_000, 10_000),
            WatchdogStep::Restore
        );
        assert!(matches!(
            watchdog_step(Marker::Present(&p), "b-2", 10_000, 20_000),
            WatchdogStep::Exit(_)
        ));
        assert!(matches!(
            watchdog_step(Marker::Absent, "a-1", 10_000, 20_000),
            WatchdogStep::Exit(_)
        ));
        assert_eq!(
            watchdog_step(Marker::Corrupt, "a-1", 10_000, 10_001),
            WatchdogStep::Restore
        );
    }

    #[test]
    fn dynamic_set_members_are_dropped() {
        let listing = "table inet cryptobot {\n\tset ssh_limit_v4 {\n\t\ttype ipv4_addr\n\t\tsize 65536\n\t\tflags dynamic,timeout\n\t\ttimeout 1m\n\t\telements = { 10.0.0.1 timeout 30s,\n\t\t\t     10.0.0.2 }\n\t}\n\n\tset egress_https_v4 {\n\t\ttype ipv4_addr\n\t\telements = { 198.51.100.7 }\n\t}\n\n\tchain input {\n\t\tlog prefix \"a { b\" drop\n\t}\n}\n";
        let out = strip_dynamic_elements(listing);
        assert!(!out.contains("10.0.0.1"), "{out}");
        assert!(!out.contains("10.0.0.2"), "{out}");
        assert!(out.contains("elements = { 198.51.100.7 }"), "{out}");
        assert!(out.contains("\t\ttimeout 1m\n\t}\n"), "{out}");
        assert!(
            out.contains("chain input {\n\t\tlog prefix \"a { b\" drop\n\t}\n}\n"),
            "{out}"
        );
    }

    #[test]
    fn restore_script_replaces_or_removes_the_table() {
        let absent = nft_restore_script(None, "x-1");
        assert!(absent.ends_with("table inet cryptobot {}\ndelete table inet cryptobot\n"));
        let present = nft_restore_script(Some("table inet cryptobot {\n}\n"), "x-1");
        assert!(present.ends_with("delete table inet cryptobot\n\ntable inet cryptobot {\n}\n"));
    }

    #[test]
    fn include_is_added_once() {
        let debian = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n";
        let with = nft_conf_with_include(Some(debian)).unwrap();
        assert!(with.starts_with(debian));
        assert!(with.ends_with("include \"/etc/nftables.d/cryptobot.nft\"\n"));
        assert_eq!(nft_conf_with_include(Some(&with)), None);
        assert_eq!(
            nft_conf_with_include(Some("include \"/etc/nftables.d/*.nft\"\n")),
            None
        );
        assert!(nft_conf_with_include(Some("include \"/etc/other/*.nft\"\n")).is_some());
        assert!(
            nft_conf_with_include(Some("no newline"))
                .unwrap()
                .starts_with("no newline\n")
        );
        assert!(nft_conf_with_include(None).unwrap().contains("include \""));
    }

    const SAVE: &str = "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CRYPTOBOT-INPUT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:CRYPTOBOT-INPUT - [0:0]\n:CRYPTOBOT-SSH - [0:0]\n:DOCKER - [0:0]\n-A INPUT -j CRYPTOBOT-INPUT\n-A INPUT -j DOCKER\n-A CRYPTOBOT-INPUT -i lo -j ACCEPT\n-A CRYPTOBOT-SSH -j ACCEPT\n-A DOCKER -j RETURN\nCOMMIT\n";

    #[test]
    fn iptables_state_and_restore() {
        let st = IptState::parse(SAVE);
        assert_eq!(st.chains, ["CRYPTOBOT-INPUT", "CRYPTOBOT-SSH"]);
        assert_eq!(
            st.rules,
            [
                "-A CRYPTOBOT-INPUT -i lo -j ACCEPT",
                "-A CRYPTOBOT-SSH -j ACCEPT"
            ]
        );
        assert!(st.hooked_input && !st.hooked_output);
        let r = st.restore_script(Family::V4, "x-1");
        assert!(r.contains("-A CRYPTOBOT-INPUT -i lo -j ACCEPT\n"), "{r}");
        assert!(r.contains("-D OUTPUT -j CRYPTOBOT-OUTPUT\n"), "{r}");
        assert!(!r.contains("-D INPUT"), "{r}");
        assert!(r.contains("-X CRYPTOBOT-OUTPUT\n"), "{r}");
        assert!(!r.contains("-X CRYPTOBOT-INPUT"), "{r}");
        assert!(r.ends_with("COMMIT\n"));

        let none = IptState::parse("");
        assert!(!none.is_present());
        let r = none.restore_script(Family::V6, "x-1");
        assert_eq!(r.matches("-X ").count(), 3, "{r}");
        assert_eq!(r.matches("-D ").count(), 2, "{r}");

        let load = ipt_load_script("*filter\n:CRYPTOBOT-INPUT - [0:0]\nCOMMIT\n", &st);
        assert_eq!(
            load,
            "*filter\n:CRYPTOBOT-INPUT - [0:0]\n-I OUTPUT 1 -j CRYPTOBOT-OUTPUT\nCOMMIT\n"
        );
        let boot = ipt_boot_file("# Generated by cryptobot.\n*filter\nCOMMIT\n", Family::V4);
        assert!(
            boot.contains("-A INPUT -j CRYPTOBOT-INPUT\n-A OUTPUT -j CRYPTOBOT-OUTPUT\nCOMMIT\n")
        );
        assert!(is_ours(&boot));
        assert!(!is_ours("*filter\nCOMMIT\n"));
    }

    #[test]
    fn diff_is_empty_for_equal_texts() {
        assert_eq!(unified_diff("a\n", "a\n", "x", "y"), "");
        let d = unified_diff("a\nb\n", "a\nc\n", "active", "new");
        assert!(d.contains("-b\n+c\n"), "{d}");
        assert!(d.starts_with("--- active\n+++ new\n"), "{d}");
    }

    #[test]
    fn pruning_keeps_what_a_journal_or_the_pending_apply_needs() {
        let names: Vec<String> = [
            "applied-20261101T000000Z-1.nft",
            "previous-20261101T000000Z-1.nft",
            "confirmed-20261101T000000Z-1",
            "applied-20261102T000000Z-2.v4",
            "previous-20261102T000000Z-2.v4",
            "previous-20261102T000000Z-2.v6",
            "applied-20261103T000000Z-3.nft",
            "previous-20261103T000000Z-3.ufw.user.rules",
            "confirmed-20261103T000000Z-3",
            "applied-20261104T000000Z-4.nft",
            "previous-20261104T000000Z-4.nft",
            "pending",
            "last.json",
            ".lock",
            "previous-../../x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut gone = prunable(&names, Some("20261104T000000Z-4"), 5);
        gone.sort();
        // Only the rolled-back apply 2: 1 and 3 were confirmed, 4 is pending.
        assert_eq!(
            gone,
            [
                "applied-20261102T000000Z-2.v4",
                "previous-20261102T000000Z-2.v4",
                "previous-20261102T000000Z-2.v6"
            ]
        );
        // Many rolled-back applies never push out a confirmed one; only
        // confirmed applies beyond `keep` go.
        let gone = prunable(&names, None, 1);
        assert!(gone.contains(&"confirmed-20261101T000000Z-1".to_string()));
        assert!(gone.contains(&"applied-20261104T000000Z-4.nft".to_string()));
        assert!(!gone.iter().any(|n| n.contains("20261103T000000Z-3")));
        assert!(!gone.iter().any(|n| n == "pending" || n.contains("..")));
    }
}
