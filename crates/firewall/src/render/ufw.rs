//! ufw: a shell script of `ufw` commands, and the same commands as argument
//! vectors for `cryptobot firewall apply` ([`commands`]), so the script and
//! the live apply cannot disagree.
//!
//! Every rule it adds carries the comment `cryptobot …`; a run first
//! deletes the rules an earlier run added ([`own_rules`] reads them from
//! `ufw show added`, which lists them whether or not ufw is active), so
//! rules of ports that are no longer public disappear. ufw's own
//! `before.rules` already accept established traffic, loopback, DHCP
//! replies and the ICMP/ICMPv6 messages IPv4 and IPv6 need, so the script
//! only sets the defaults and adds the ports. Every value written into the
//! script is a number or an address, never configured text.

use std::fmt::Write as _;

use cryptobot_plan::Rendered;

use super::header::header;
use crate::managed::{Managed, ManagedFile};
use crate::rules::{RuleSet, Target};

/// The comment every rule carries; the cleanup matches on it.
pub const COMMENT: &str = "cryptobot";

/// The files ufw's commands write, and how ufw loads them again.
pub const MANAGED: Managed = Managed {
    name: "ufw",
    tool: "ufw",
    package: "ufw",
    files: &[
        ManagedFile {
            key: "user.rules",
            path: "/etc/ufw/user.rules",
            mode: 0o640,
            required: true,
        },
        ManagedFile {
            key: "user6.rules",
            path: "/etc/ufw/user6.rules",
            mode: 0o640,
            required: true,
        },
        // `ufw default` switches the log prefix of the catch-all rules here.
        ManagedFile {
            key: "after.rules",
            path: "/etc/ufw/after.rules",
            mode: 0o640,
            required: true,
        },
        ManagedFile {
            key: "after6.rules",
            path: "/etc/ufw/after6.rules",
            mode: 0o640,
            required: true,
        },
        ManagedFile {
            key: "ufw.conf",
            path: "/etc/ufw/ufw.conf",
            mode: 0o644,
            required: true,
        },
        ManagedFile {
            key: "default",
            path: "/etc/default/ufw",
            mode: 0o644,
            required: true,
        },
    ],
    reload: &["reload"],
    disable: &["--force", "disable"],
};

/// Whether ufw.conf text enables ufw (`ENABLED=yes`).
pub fn enabled(conf: &str) -> bool {
    crate::detect::ufw_enabled(conf)
}

/// `cryptobot-ufw.sh`.
pub fn rendered(rules: &RuleSet) -> Rendered {
    Rendered {
        name: "cryptobot-ufw.sh",
        purpose: "run as root: sh cryptobot-ufw.sh (sets ufw's defaults, replaces the rules it added before, enables ufw)".into(),
        content: render(rules),
        executable: true,
    }
}

/// Commands with the comment lines the script prints before them.
struct Section {
    note: String,
    commands: Vec<Vec<String>>,
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

fn with_comment(mut words: Vec<String>, what: &str) -> Vec<String> {
    words.push("comment".into());
    words.push(format!("{COMMENT} {what}"));
    words
}

fn sections(rules: &RuleSet) -> Vec<Section> {
    let mut out = Vec::new();
    let outgoing = if rules.egress.is_some() {
        "deny"
    } else {
        "allow"
    };
    out.push(Section {
        note: String::new(),
        commands: vec![
            cmd(&["default", "deny", "incoming"]),
            cmd(&["default", outgoing, "outgoing"]),
            cmd(&["logging", "low"]),
        ],
    });
    out.push(Section {
        note: format!(
            "\n# SSH: `ufw limit` refuses an address's 7th new connection within 30 seconds\n\
             # (ufw's fixed rate; firewall.ssh_rate_limit_per_minute = {} applies to the other backends).\n",
            rules.ssh_rate_per_minute
        ),
        commands: rules
            .ssh_ports
            .iter()
            .map(|port| with_comment(cmd(&["limit", &format!("{port}/tcp")]), "ssh"))
            .collect(),
    });
    if !rules.public.is_empty() {
        out.push(Section {
            note: "\n# Public services.\n".into(),
            commands: rules
                .public
                .iter()
                .map(|p| with_comment(cmd(&["allow", &format!("{}/tcp", p.port)]), p.name))
                .collect(),
        });
    }
    out.push(Section {
        note: "\n# Loopback only: refused from the network even if another rule allows the port\n\
               # (loopback traffic is accepted by before.rules and never reaches these).\n"
            .into(),
        commands: rules
            .loopback_only
            .iter()
            .map(|p| {
                with_comment(
                    cmd(&["prepend", "deny", &format!("{}/tcp", p.port)]),
                    &format!("{} loopback only", p.name),
                )
            })
            .collect(),
    });
    if let Some(e) = &rules.egress {
        let out_to = |ip: &std::net::IpAddr, port: &str, proto: &str, what: &str| {
            with_comment(
                cmd(&[
                    "allow",
                    "out",
                    "to",
                    &ip.to_string(),
                    "port",
                    port,
                    "proto",
                    proto,
                ]),
                what,
            )
        };
        let mut commands = vec![
            with_comment(cmd(&["allow", "out", "67/udp"]), "dhcp"),
            with_comment(cmd(&["allow", "out", "547/udp"]), "dhcpv6"),
        ];
        for ip in &e.dns {
            for proto in ["udp", "tcp"] {
                commands.push(out_to(ip, "53", proto, "dns"));
            }
        }
        for ip in &e.ntp {
            commands.push(out_to(ip, "123", "udp", "ntp"));
        }
        out.push(Section {
            note: "\n# Outbound allow-list. DHCP requests, then DNS, NTP and HTTPS to the listed addresses.\n"
                .into(),
            commands,
        });
        out.push(Section {
            note: if e.hosts.is_empty() {
                String::new()
            } else {
                format!("# HTTPS: {}.\n", e.hosts.join(", "))
            },
            commands: e
                .https
                .iter()
                .map(|ip| out_to(ip, "443", "tcp", "https"))
                .collect(),
        });
    }
    out.push(Section {
        note: "\n".into(),
        commands: vec![cmd(&["--force", "enable"])],
    });
    out
}

/// The `ufw` argument vectors that set the defaults, add the rules and
/// enable ufw, in order (after the rules of an earlier run are deleted,
/// see [`own_rules`]). The script runs exactly these.
pub fn commands(rules: &RuleSet) -> Vec<Vec<String>> {
    sections(rules)
        .into_iter()
        .flat_map(|s| s.commands)
        .collect()
}

/// A word as the shell reads it: as is when it is plain, else in single
/// quotes.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._:,=+-@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `ufw ARGS` as a shell command line.
pub fn command_line(args: &[String]) -> String {
    let mut s = String::from("ufw");
    for a in args {
        s.push(' ');
        s.push_str(&shell_word(a));
    }
    s
}

/// The script.
pub fn render(rules: &RuleSet) -> String {
    let mut o = String::from("#!/bin/sh\n");
    o.push_str(&header("#", Target::Ufw, rules));
    o.push_str(
        "#\n\
         # Run as root: sh cryptobot-ufw.sh\n\
         # ufw's before.rules already accept established traffic, loopback, DHCP replies\n\
         # and the ICMP/ICMPv6 messages IPv4 and IPv6 need (neighbour discovery).\n\
         # Dropped packets are logged by ufw itself (`ufw logging low`, prefix \"[UFW BLOCK]\").\n\
         set -eu\n\
         \n\
         if ! command -v ufw >/dev/null 2>&1; then\n\
         \techo \"cryptobot-ufw.sh: ufw is not installed\" >&2\n\
         \texit 1\n\
         fi\n\
         \n\
         # Delete the rules an earlier run added (comment \"cryptobot ...\"). `ufw show added`\n\
         # lists them whether or not ufw is active; deleting by rule removes IPv4 and IPv6 alike.\n\
         ufw show added \\\n\
         \t| sed -n \"s/^ufw \\(.*\\) comment 'cryptobot\\( [^']*\\)\\{0,1\\}'\\$/\\1/p\" \\\n\
         \t| while read -r rule; do ufw delete $rule >/dev/null; done\n\
         \n",
    );
    for s in sections(rules) {
        o.push_str(&s.note);
        for c in &s.commands {
            let _ = writeln!(o, "{}", command_line(c));
        }
    }
    o.push_str("ufw status verbose\n");
    o
}

/// A rule an earlier run added, from `ufw show added`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRule {
    /// The rule without its comment, e.g. `["allow", "8000/tcp"]`.
    pub spec: Vec<String>,
    /// Its comment: `cryptobot` or `cryptobot …`.
    pub comment: String,
}

impl OwnRule {
    /// `ufw delete SPEC`: removes the IPv4 and the IPv6 rule alike.
    pub fn delete_args(&self) -> Vec<String> {
        std::iter::once("delete".to_string())
            .chain(self.spec.iter().cloned())
            .collect()
    }
}

/// Whether a rule's comment is one of ours: `cryptobot` or `cryptobot …`
/// (not `cryptobotanical`).
pub fn is_own_comment(comment: &str) -> bool {
    comment == COMMENT
        || comment
            .strip_prefix(COMMENT)
            .is_some_and(|rest| rest.starts_with(' '))
}

/// The rules an earlier run added, from the output of `ufw show added`
/// (`ufw allow 8000/tcp comment 'cryptobot auth'`, one per line). A line
/// whose rule part holds a quote (an application profile with a space in
/// its name, say) is never ours and is skipped.
pub fn own_rules(show_added: &str) -> Vec<OwnRule> {
    let mut out = Vec::new();
    for line in show_added.lines() {
        let Some(rule) = line.trim().strip_prefix("ufw ") else {
            continue;
        };
        let Some((spec, quoted)) = rule.rsplit_once(" comment '") else {
            continue;
        };
        let Some(comment) = quoted.strip_suffix('\'') else {
            continue;
        };
        if !is_own_comment(comment) || spec.contains(['\'', '"']) {
            continue;
        }
        let spec: Vec<String> = spec.split_whitespace().map(str::to_string).collect();
        if spec.is_empty() {
            continue;
        }
        out.push(OwnRule {
            spec,
            comment: comment.to_string(),
        });
    }
    out
}

/// The earlier run's rules that the new commands do not add again, to be
/// deleted. A rule the new set holds too stays in place (ufw skips adding
/// an existing rule), so re-applying never takes SSH's rule away, not even
/// for a moment. A rule is compared by what ufw lists for it: the words
/// before `comment`, without a leading `prepend`. Should ufw list a rule
/// differently, it only counts as stale: deleted, then added again.
pub fn stale(old: &[OwnRule], commands: &[Vec<String>]) -> Vec<OwnRule> {
    let specs: Vec<&[String]> = commands
        .iter()
        .map(|c| {
            let end = c.iter().position(|w| w == "comment").unwrap_or(c.len());
            let words = &c[..end];
            words
                .strip_prefix(&["prepend".to_string()])
                .unwrap_or(words)
        })
        .collect();
    old.iter()
        .filter(|r| !specs.contains(&r.spec.as_slice()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_ADDED: &str = "Added user rules (see 'ufw status' for running firewall):\n\
ufw deny 6379/tcp comment 'cryptobot redis loopback only'\n\
ufw limit 22/tcp comment 'cryptobot ssh'\n\
ufw allow 8000/tcp comment 'cryptobot auth'\n\
ufw allow 80/tcp comment 'web server'\n\
ufw allow 8080/tcp comment 'cryptobotanical'\n\
ufw allow 9999/tcp\n\
ufw allow 'Apache Full' comment 'cryptobot x'\n\
ufw allow out 67/udp comment 'cryptobot dhcp'\n\
ufw allow out to 2001:db8::53 port 53 proto tcp comment 'cryptobot dns'\n\
ufw allow 7000/tcp comment 'cryptobot'\n";

    #[test]
    fn own_rules_are_the_cryptobot_comments_only() {
        let own = own_rules(SHOW_ADDED);
        let deletes: Vec<String> = own.iter().map(|r| r.delete_args().join(" ")).collect();
        assert_eq!(
            deletes,
            [
                "delete deny 6379/tcp",
                "delete limit 22/tcp",
                "delete allow 8000/tcp",
                "delete allow out 67/udp",
                "delete allow out to 2001:db8::53 port 53 proto tcp",
                "delete allow 7000/tcp",
            ]
        );
        assert_eq!(own[1].comment, "cryptobot ssh");
        assert!(
            own_rules("Added user rules (see 'ufw status' for running firewall):\n").is_empty()
        );
        assert!(own_rules("").is_empty());
    }

    #[test]
    fn comments_match_exactly_cryptobot_or_a_cryptobot_prefix() {
        assert!(is_own_comment("cryptobot"));
        assert!(is_own_comment("cryptobot ssh"));
        assert!(!is_own_comment("cryptobotanical"));
        assert!(!is_own_comment("my cryptobot"));
        assert!(!is_own_comment(""));
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("8000/tcp"), "8000/tcp");
        assert_eq!(shell_word("2001:db8::53"), "2001:db8::53");
        assert_eq!(shell_word("--force"), "--force");
        assert_eq!(shell_word("cryptobot ssh"), "'cryptobot ssh'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn ufw_conf_enabled() {
        assert!(enabled("ENABLED=yes\n"));
        assert!(!enabled("ENABLED=no\n"));
    }

    #[test]
    fn only_rules_the_new_set_lacks_are_stale() {
        let old = own_rules(SHOW_ADDED);
        let dns = cmd(&[
            "allow",
            "out",
            "to",
            "2001:db8::53",
            "port",
            "53",
            "proto",
            "tcp",
        ]);
        let new = vec![
            cmd(&["default", "deny", "incoming"]),
            with_comment(cmd(&["limit", "22/tcp"]), "ssh"),
            with_comment(cmd(&["prepend", "deny", "6379/tcp"]), "redis loopback only"),
            with_comment(dns.clone(), "dns"),
        ];
        let gone: Vec<Vec<String>> = stale(&old, &new).into_iter().map(|r| r.spec).collect();
        assert!(gone.contains(&cmd(&["allow", "8000/tcp"])), "{gone:?}");
        assert!(gone.contains(&cmd(&["allow", "out", "67/udp"])), "{gone:?}");
        for kept in [cmd(&["limit", "22/tcp"]), cmd(&["deny", "6379/tcp"]), dns] {
            assert!(!gone.contains(&kept), "{kept:?} must stay: {gone:?}");
        }
    }
}
