//! fail2ban: two jails and their filters.
//!
//! - `cryptobot-auth` reads `cryptobot serve`'s log (JSON lines on stderr,
//!   in the journal of `cryptobot.service`) and counts its `login_failed`
//!   audit events per client address.
//! - `cryptobot-portscan` reads the kernel log and counts the packets the
//!   firewall dropped on the way in (lines starting with [`LOG_PREFIX`]).
//!
//! Both ban only from the public service ports, never from SSH: the source
//! of a dropped packet can be forged, and a ban must not cost an
//! administrator SSH. SSH has its own per-address rate limit in the
//! firewall (and fail2ban's stock `sshd` jail). Loopback and the
//! configured `server.trusted_proxies` are never banned.

use std::fmt::Write as _;

use cryptobot_config::Config;
use cryptobot_plan::Rendered;

use super::header::{header, joined};
use crate::rules::{LOG_PREFIX, RuleSet, Target};

/// What the jails need besides the rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail2banOptions {
    /// systemd unit whose journal carries `cryptobot serve`'s log.
    pub unit: String,
    /// Addresses and blocks never banned besides loopback (the reverse
    /// proxies the service trusts: banning one would ban every client).
    pub ignore: Vec<String>,
}

impl Fail2banOptions {
    /// The unit `cryptobot permissions` installs, and the trusted proxies.
    pub fn from_config(config: &Config) -> Fail2banOptions {
        Fail2banOptions {
            unit: "cryptobot.service".into(),
            ignore: config.server.trusted_proxies.clone(),
        }
    }
}

/// Failed sign-ins counted per address before a ban.
pub const AUTH_MAXRETRY: u32 = 10;
/// Dropped packets per address within a minute before a ban.
pub const PORTSCAN_MAXRETRY: u32 = 10;

/// `jail.d/cryptobot.conf`, `filter.d/cryptobot-auth.conf`,
/// `filter.d/cryptobot-portscan.conf`, relative to `/etc/fail2ban`.
pub fn rendered(rules: &RuleSet, opts: &Fail2banOptions) -> Vec<Rendered> {
    vec![
        Rendered {
            name: "jail.d/cryptobot.conf",
            purpose: "/etc/fail2ban/jail.d/cryptobot.conf; then `fail2ban-client -t` and `systemctl reload fail2ban`".into(),
            content: jail(rules, opts),
            executable: false,
        },
        Rendered {
            name: "filter.d/cryptobot-auth.conf",
            purpose: "/etc/fail2ban/filter.d/cryptobot-auth.conf (failed sign-ins in the service log)".into(),
            content: auth_filter(rules),
            executable: false,
        },
        Rendered {
            name: "filter.d/cryptobot-portscan.conf",
            purpose: "/etc/fail2ban/filter.d/cryptobot-portscan.conf (packets the firewall dropped)".into(),
            content: portscan_filter(rules),
            executable: false,
        },
    ]
}

fn head(rules: &RuleSet) -> String {
    header("#", Target::Fail2ban, rules)
}

/// Only characters fail2ban's `ignoreip` takes: hex digits, `.`, `:`, `/`.
/// The configuration has already parsed each entry as an address or block.
fn plain_net(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'/'))
}

/// The jails.
pub fn jail(rules: &RuleSet, opts: &Fail2banOptions) -> String {
    let mut o = head(rules);
    let ports = joined(&rules.public_ports(), ",");
    let enabled = if rules.public.is_empty() {
        "false"
    } else {
        "true"
    };
    let mut ignore = vec!["127.0.0.1/8".to_string(), "::1".to_string()];
    ignore.extend(opts.ignore.iter().filter(|s| plain_net(s)).cloned());
    let ignore = ignore.join(" ");
    let unit = &opts.unit;
    o.push_str(
        "#\n\
         # Install: copy jail.d/ and filter.d/ into /etc/fail2ban/ (`--out /etc/fail2ban` does),\n\
         # then check and load: fail2ban-client -t && systemctl reload fail2ban\n\
         # Needs fail2ban 0.10 or later (IPv6) and python3-systemd (the journal backend).\n\
         # Bans apply to the public service ports only, never to SSH: the source address of a\n\
         # dropped packet can be forged, and a forged ban must not cost anyone SSH.\n",
    );
    if rules.public.is_empty() {
        o.push_str(
            "# No service is public, so there is nothing to ban from: both jails are off.\n",
        );
    }
    let _ = write!(
        o,
        "\n[cryptobot-auth]\n\
         # Failed sign-ins (`login_failed` audit events) in the log of `cryptobot serve`.\n\
         enabled      = {enabled}\n\
         filter       = cryptobot-auth\n\
         backend      = systemd\n\
         journalmatch = _SYSTEMD_UNIT={unit}\n\
         port         = {ports}\n\
         protocol     = tcp\n\
         maxretry     = {AUTH_MAXRETRY}\n\
         findtime     = 10m\n\
         bantime      = 1h\n\
         ignoreip     = {ignore}\n\
         \n\
         [cryptobot-portscan]\n\
         # Packets the firewall dropped on the way in (kernel log, prefix \"{LOG_PREFIX}\").\n\
         enabled      = {enabled}\n\
         filter       = cryptobot-portscan\n\
         backend      = systemd\n\
         journalmatch = _TRANSPORT=kernel\n\
         port         = {ports}\n\
         protocol     = tcp\n\
         maxretry     = {PORTSCAN_MAXRETRY}\n\
         findtime     = 1m\n\
         bantime      = 1h\n\
         ignoreip     = {ignore}\n"
    );
    o
}

/// The filter for failed sign-ins.
pub fn auth_filter(rules: &RuleSet) -> String {
    let mut o = head(rules);
    o.push_str(
        "#\n\
         # Matches the audit line `cryptobot serve` writes for each failed sign-in, e.g.\n\
         # {\"timestamp\":\"2026-01-01T12:00:00.000000Z\",\"level\":\"INFO\",\"event\":\"login_failed\",\"actor\":\"alice\",\"subject\":\"alice\",\"client\":\"203.0.113.7\",\"outcome\":\"denied\",\"details\":\"{\\\"failures\\\":1,\\\"reason\\\":\\\"wrong_password\\\"}\",\"target\":\"audit\"}\n\
         # Fields are matched in the fixed order the service writes them, and \"actor\" and\n\
         # \"subject\" as JSON strings (an escaped quote cannot end them), so nothing a client\n\
         # sends can move the address this filter takes. An IPv4 client of a dual-stack\n\
         # listener (\"::ffff:203.0.113.7\") is banned by its IPv4 address.\n\
         # Test: fail2ban-regex LOGFILE /etc/fail2ban/filter.d/cryptobot-auth.conf\n\
         \n\
         [Definition]\n\
         failregex = \"level\":\"INFO\",\"event\":\"login_failed\",\"actor\":\"(?:[^\"\\\\]|\\\\.)*\",\"subject\":\"(?:[^\"\\\\]|\\\\.)*\",\"client\":\"(?:::ffff:(?=\\d+\\.\\d+\\.\\d+\\.\\d+\"))?<ADDR>\",\"outcome\":\"denied\",\"details\":\"(?:[^\"\\\\]|\\\\.)*\",\"target\":\"audit\"\\}\\s*$\n\
         ignoreregex =\n\
         # The service's own UTC timestamp, when the log is read from a file.\n\
         datepattern = \"timestamp\":\"%%Y-%%m-%%dT%%H:%%M:%%S(?:\\.%%f)?%%z\"\n",
    );
    o
}

/// The filter for dropped packets.
pub fn portscan_filter(rules: &RuleSet) -> String {
    let mut o = head(rules);
    let _ = write!(
        o,
        "#\n\
         # Matches the kernel's log line for a packet the firewall dropped on the way in, e.g.\n\
         # {LOG_PREFIX}IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.9 DST=198.51.100.2 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=TCP SPT=40001 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n\
         # Outbound drops (`IN=` empty) never match: their source is this machine.\n\
         # Test: fail2ban-regex LOGFILE /etc/fail2ban/filter.d/cryptobot-portscan.conf\n\
         \n\
         [Definition]\n\
         failregex = {} IN=\\S+ OUT= (?:MAC=\\S* )?SRC=<ADDR> DST=\\S+\n\
         ignoreregex =\n",
        LOG_PREFIX.trim_end()
    );
    o
}
