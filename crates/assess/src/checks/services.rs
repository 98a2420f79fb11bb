//! PostgreSQL and Redis configuration files.

use std::path::{Path, PathBuf};

use crate::model::{Evidence, Finding};
use crate::snapshot::Snapshot;

/// `(line number, line without comment, trimmed)` of every non-blank line.
pub(crate) fn conf_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let line = match raw.find('#') {
            Some(at) => &raw[..at],
            None => raw,
        }
        .trim();
        (!line.is_empty()).then_some((i + 1, line))
    })
}

// ---------------------------------------------------------------- PostgreSQL

/// Every existing file named `name` in `/etc/postgresql/*/main/` and in the
/// installation's `config/postgresql/`.
fn pg_files(s: &Snapshot, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for version in s.list(Path::new("/etc/postgresql")) {
        out.push(
            Path::new("/etc/postgresql")
                .join(version)
                .join("main")
                .join(name),
        );
    }
    out.push(s.layout().postgres_dir().join(name));
    out.retain(|p| s.lstat(p).is_some());
    out
}

/// The server configuration files: `postgresql.conf` and `conf.d/*.conf`
/// of each cluster, and the installation's rendered include files.
fn pg_conf_files(s: &Snapshot) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for version in s.list(Path::new("/etc/postgresql")) {
        let main = Path::new("/etc/postgresql").join(version).join("main");
        out.push(main.join("postgresql.conf"));
        let confd = main.join("conf.d");
        for f in s.list(&confd) {
            if f.ends_with(".conf") {
                out.push(confd.join(f));
            }
        }
    }
    let dir = s.layout().postgres_dir();
    for f in s.list(&dir) {
        if f.ends_with(".conf") && f != "pg_hba.conf" && f != "pg_ident.conf" {
            out.push(dir.join(f));
        }
    }
    out.retain(|p| s.lstat(p).is_some());
    out
}

/// One `pg_hba.conf` rule.
struct HbaRule {
    line: usize,
    text: String,
    address: Option<String>,
    method: String,
}

fn hba_rules(text: &str) -> Vec<HbaRule> {
    let mut out = Vec::new();
    for (line, l) in conf_lines(text) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (address, method) = match f.first().copied() {
            Some("local") => (None, f.get(3)),
            Some("host" | "hostssl" | "hostnossl" | "hostgssenc" | "hostnogssenc") => {
                let Some(addr) = f.get(3) else { continue };
                if !addr.contains('/') && addr.parse::<std::net::IpAddr>().is_ok() {
                    // `address mask` form.
                    let mask = f.get(4).copied().unwrap_or("");
                    (Some(format!("{addr}/{mask}")), f.get(5))
                } else {
                    (Some((*addr).to_owned()), f.get(4))
                }
            }
            _ => continue,
        };
        let Some(method) = method else { continue };
        out.push(HbaRule {
            line,
            text: f.join(" "),
            address,
            method: method.to_ascii_lowercase(),
        });
    }
    out
}

fn hba_findings(s: &Snapshot, id: &'static str, hit: fn(&HbaRule) -> bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in pg_files(s, "pg_hba.conf") {
        let Some(text) = s.read(&file) else { continue };
        for rule in hba_rules(&text) {
            if hit(&rule) {
                out.push(Finding::new(
                    id,
                    file.display().to_string(),
                    Evidence::at(&file, rule.line, rule.text),
                ));
            }
        }
    }
    out
}

pub fn pg_trust(s: &Snapshot) -> Vec<Finding> {
    hba_findings(s, "CB-PG-001", |r| r.method == "trust")
}

pub fn pg_password(s: &Snapshot) -> Vec<Finding> {
    hba_findings(s, "CB-PG-002", |r| r.method == "password")
}

pub fn pg_md5(s: &Snapshot) -> Vec<Finding> {
    hba_findings(s, "CB-PG-003", |r| r.method == "md5")
}

fn open_address(a: &str) -> bool {
    matches!(
        a.to_ascii_lowercase().as_str(),
        "all" | "0.0.0.0/0" | "::/0" | "::0/0" | "0::0/0" | "0.0.0.0/0.0.0.0" | "::/::"
    )
}

pub fn pg_open(s: &Snapshot) -> Vec<Finding> {
    hba_findings(s, "CB-PG-004", |r| {
        r.method != "reject" && r.address.as_deref().is_some_and(open_address)
    })
}

/// The last `key = value` of `key` in a postgresql.conf text, unquoted and
/// lower-cased, with its line.
fn pg_setting(text: &str, key: &str) -> Option<(usize, String, String)> {
    let mut found = None;
    for (line, l) in pg_setting_lines(text) {
        let (k, v) = match l.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => match l.split_once(char::is_whitespace) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => continue,
            },
        };
        if k.eq_ignore_ascii_case(key) {
            let value = v.trim_matches('\'').trim().to_ascii_lowercase();
            found = Some((line, value, l.to_owned()));
        }
    }
    found
}

/// Like [`conf_lines`], but a `#` inside single quotes is kept.
fn pg_setting_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut quoted = false;
        let mut end = raw.len();
        for (at, c) in raw.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '#' if !quoted => {
                    end = at;
                    break;
                }
                _ => {}
            }
        }
        let l = raw[..end].trim();
        if !l.is_empty() {
            out.push((i + 1, l));
        }
    }
    out
}

fn pg_conf_findings(
    s: &Snapshot,
    id: &'static str,
    key: &str,
    bad: fn(&str) -> bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in pg_conf_files(s) {
        let Some(text) = s.read(&file) else { continue };
        if let Some((line, value, raw)) = pg_setting(&text, key)
            && bad(&value)
        {
            out.push(Finding::new(
                id,
                file.display().to_string(),
                Evidence::at(&file, line, raw),
            ));
        }
    }
    out
}

pub fn pg_ssl_off(s: &Snapshot) -> Vec<Finding> {
    pg_conf_findings(s, "CB-PG-005", "ssl", |v| {
        matches!(v, "off" | "false" | "no" | "0")
    })
}

pub fn pg_password_encryption(s: &Snapshot) -> Vec<Finding> {
    pg_conf_findings(s, "CB-PG-006", "password_encryption", |v| {
        v != "scram-sha-256"
    })
}

pub fn pg_listen_all(s: &Snapshot) -> Vec<Finding> {
    pg_conf_findings(s, "CB-PG-007", "listen_addresses", |v| {
        v.split(',')
            .map(str::trim)
            .any(|a| matches!(a, "*" | "0.0.0.0" | "::"))
    })
}

// --------------------------------------------------------------------- Redis

fn redis_files(s: &Snapshot) -> Vec<PathBuf> {
    let mut out = vec![
        PathBuf::from("/etc/redis/redis.conf"),
        s.layout().redis_conf(),
    ];
    out.retain(|p| s.lstat(p).is_some());
    out
}

/// A directive of redis.conf: keyword in lower case and its arguments
/// (double or single quotes removed).
struct RedisLine {
    line: usize,
    keyword: String,
    args: Vec<String>,
    text: String,
}

fn redis_lines(text: &str) -> Vec<RedisLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut words = l
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned());
        let Some(keyword) = words.next() else {
            continue;
        };
        out.push(RedisLine {
            line: i + 1,
            keyword: keyword.to_ascii_lowercase(),
            args: words.collect(),
            text: l.to_owned(),
        });
    }
    out
}

/// A parsed redis.conf (and the ACL file it names).
struct RedisConf {
    file: PathBuf,
    lines: Vec<RedisLine>,
    /// `user` lines from `aclfile`, with that file's path.
    acl: Vec<(PathBuf, RedisLine)>,
}

fn redis_confs(s: &Snapshot) -> Vec<RedisConf> {
    let mut out = Vec::new();
    for file in redis_files(s) {
        let Some(text) = s.read(&file) else { continue };
        let lines = redis_lines(&text);
        let mut acl = Vec::new();
        for l in lines.iter().filter(|l| l.keyword == "aclfile") {
            if let Some(path) = l.args.first().map(PathBuf::from)
                && path.is_absolute()
            {
                match s.read(&path) {
                    Some(t) => acl.extend(redis_lines(&t).into_iter().map(|l| (path.clone(), l))),
                    None => s.note(format!(
                        "{}:{}: the ACL file {} could not be read; its users were not checked",
                        file.display(),
                        l.line,
                        path.display()
                    )),
                }
            }
        }
        out.push(RedisConf { file, lines, acl });
    }
    out
}

impl RedisConf {
    fn last(&self, keyword: &str) -> Option<&RedisLine> {
        self.lines.iter().rev().find(|l| l.keyword == keyword)
    }

    /// Every `user` line, with its file.
    fn users(&self) -> Vec<(&Path, &RedisLine)> {
        let mut out: Vec<(&Path, &RedisLine)> = self
            .lines
            .iter()
            .filter(|l| l.keyword == "user")
            .map(|l| (self.file.as_path(), l))
            .collect();
        out.extend(
            self.acl
                .iter()
                .filter(|(_, l)| l.keyword == "user")
                .map(|(p, l)| (p.as_path(), l)),
        );
        out
    }
}

/// The state of one ACL user after its rules.
struct User {
    enabled: bool,
    nopass: bool,
    has_password: bool,
    /// Dangerous commands it may run.
    commands: Vec<&'static str>,
}

/// Commands that reconfigure, wipe or stop the server, or scan every key.
const DANGEROUS: [(&str, &[&str]); 7] = [
    ("FLUSHALL", &["dangerous", "keyspace", "write"]),
    ("FLUSHDB", &["dangerous", "keyspace", "write"]),
    ("CONFIG", &["dangerous", "admin"]),
    ("DEBUG", &["dangerous", "admin"]),
    ("MODULE", &["dangerous", "admin"]),
    ("SHUTDOWN", &["dangerous", "admin"]),
    ("KEYS", &["dangerous", "keyspace", "read"]),
];

fn apply_rules(user: &mut User, rules: &[String]) {
    for rule in rules {
        let r = rule.to_ascii_lowercase();
        match r.as_str() {
            "on" => user.enabled = true,
            "off" => user.enabled = false,
            "nopass" => {
                user.nopass = true;
                user.has_password = false;
            }
            "resetpass" => {
                user.nopass = false;
                user.has_password = false;
            }
            "reset" => {
                *user = User {
                    enabled: false,
                    nopass: false,
                    has_password: false,
                    commands: Vec::new(),
                }
            }
            "allcommands" | "+@all" => user.commands = DANGEROUS.iter().map(|d| d.0).collect(),
            "nocommands" | "-@all" => user.commands.clear(),
            _ if r.starts_with('>') || r.starts_with('#') => {
                user.has_password = true;
                user.nopass = false;
            }
            _ => {
                let (add, what) = match r.split_at_checked(1) {
                    Some(("+", w)) => (true, w),
                    Some(("-", w)) => (false, w),
                    _ => continue,
                };
                for (cmd, cats) in DANGEROUS {
                    let hit = match what.strip_prefix('@') {
                        Some(cat) => cats.contains(&cat),
                        None => what.split('|').next() == Some(&cmd.to_ascii_lowercase()),
                    };
                    if hit {
                        user.commands.retain(|c| *c != cmd);
                        if add {
                            user.commands.push(cmd);
                        }
                    }
                }
            }
        }
    }
}

/// Every user of a configuration after its rules; the built-in `default`
/// user starts enabled with every command, and without a password unless
/// `requirepass` is set.
/// A user's name, state, and the file and line of its last `user` line.
type NamedUser = (String, User, Option<(PathBuf, usize)>);

fn redis_users(conf: &RedisConf) -> Vec<NamedUser> {
    let requirepass = conf
        .last("requirepass")
        .is_some_and(|l| l.args.first().is_some_and(|p| !p.is_empty()));
    let mut users: Vec<NamedUser> = vec![(
        "default".into(),
        User {
            enabled: true,
            nopass: !requirepass,
            has_password: requirepass,
            commands: DANGEROUS.iter().map(|d| d.0).collect(),
        },
        None,
    )];
    for (file, l) in conf.users() {
        let Some(name) = l.args.first() else { continue };
        let at = Some((file.to_path_buf(), l.line));
        let idx = match users.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                users.push((
                    name.clone(),
                    User {
                        enabled: false,
                        nopass: false,
                        has_password: false,
                        commands: Vec::new(),
                    },
                    None,
                ));
                users.len() - 1
            }
        };
        let entry = &mut users[idx];
        apply_rules(&mut entry.1, &l.args[1..]);
        entry.2 = at;
    }
    users
}

pub fn redis_no_auth(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for conf in redis_confs(s) {
        for (name, user, at) in redis_users(&conf) {
            if !user.enabled || (user.has_password && !user.nopass) {
                continue;
            }
            let why = if user.nopass {
                "enabled with nopass: any client is this user without a password"
            } else {
                "enabled without a password"
            };
            let evidence = match &at {
                Some((file, line)) => Evidence::at(file, *line, format!("user {name}: {why}")),
                None => Evidence::file(
                    &conf.file,
                    format!("no requirepass and no `user default off`: the default user is {why}"),
                ),
            };
            out.push(Finding::new(
                "CB-REDIS-001",
                format!("{} (user {name})", conf.file.display()),
                evidence,
            ));
        }
    }
    out
}

pub fn redis_protected_mode(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for conf in redis_confs(s) {
        if let Some(l) = conf.last("protected-mode")
            && l.args.first().is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            out.push(Finding::new(
                "CB-REDIS-002",
                conf.file.display().to_string(),
                Evidence::at(&conf.file, l.line, &l.text),
            ));
        }
    }
    out
}

fn loopback_name(a: &str) -> bool {
    let a = a.trim_start_matches('-');
    a.eq_ignore_ascii_case("localhost")
        || a.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn redis_bind(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for conf in redis_confs(s) {
        match conf.last("bind") {
            None => out.push(Finding::new(
                "CB-REDIS-003",
                conf.file.display().to_string(),
                Evidence::file(
                    &conf.file,
                    "no `bind` directive: Redis listens on every interface",
                ),
            )),
            Some(l) if l.args.iter().any(|a| !loopback_name(a)) => out.push(Finding::new(
                "CB-REDIS-003",
                conf.file.display().to_string(),
                Evidence::at(&conf.file, l.line, &l.text),
            )),
            Some(_) => {}
        }
    }
    out
}

pub fn redis_dangerous(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for conf in redis_confs(s) {
        // Renamed or disabled at the source.
        let mut closed: Vec<String> = conf
            .lines
            .iter()
            .filter(|l| l.keyword == "rename-command")
            .filter_map(|l| l.args.first().map(|c| c.to_ascii_uppercase()))
            .collect();
        for (keyword, cmd) in [
            ("enable-debug-command", "DEBUG"),
            ("enable-module-command", "MODULE"),
        ] {
            // The default of both is `no`.
            let open = conf.last(keyword).is_some_and(|l| {
                l.args
                    .first()
                    .is_some_and(|v| !v.eq_ignore_ascii_case("no"))
            });
            if !open {
                closed.push(cmd.into());
            }
        }
        for (name, user, at) in redis_users(&conf) {
            if !user.enabled {
                continue;
            }
            let open: Vec<&str> = user
                .commands
                .iter()
                .copied()
                .filter(|c| !closed.iter().any(|x| x == c))
                .collect();
            if open.is_empty() {
                continue;
            }
            let value = format!("user {name} may run {}", open.join(", "));
            let evidence = match &at {
                Some((file, line)) => Evidence::at(file, *line, value),
                None => Evidence::file(&conf.file, value),
            };
            out.push(Finding::new(
                "CB-REDIS-004",
                format!("{} (user {name})", conf.file.display()),
                evidence,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hba_forms() {
        let rules = hba_rules(
            "local all all trust\nhost all all 0.0.0.0 0.0.0.0 md5 # x\nhost db u 10.0.0.0/8 scram-sha-256\n# host all all all trust\n",
        );
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].method, "trust");
        assert_eq!(rules[1].address.as_deref(), Some("0.0.0.0/0.0.0.0"));
        assert!(open_address("0.0.0.0/0.0.0.0"));
        assert_eq!(rules[1].method, "md5");
        assert_eq!(rules[2].line, 3);
    }

    #[test]
    fn pg_settings_take_the_last_value() {
        let t = "ssl = on\n#ssl = off\nssl off  # comment\nlisten_addresses = '*' # all\npassword_encryption = 'md5'\n";
        assert_eq!(pg_setting(t, "ssl").map(|x| x.1), Some("off".into()));
        assert_eq!(
            pg_setting(t, "listen_addresses").map(|x| x.1),
            Some("*".into())
        );
        assert_eq!(
            pg_setting(t, "password_encryption").map(|x| (x.0, x.1)),
            Some((5, "md5".into()))
        );
        assert_eq!(
            pg_setting("x = '#a'\n", "x").map(|x| x.1),
            Some("#a".into())
        );
    }

    #[test]
    fn redis_acl_rules() {
        let conf = RedisConf {
            file: PathBuf::from("/r.conf"),
            lines: redis_lines(
                "user default off resetkeys -@all\nuser app on #abc ~* +@all -@dangerous -@admin\nuser ops on nopass +@all -flushall\n",
            ),
            acl: Vec::new(),
        };
        let users = redis_users(&conf);
        let get = |n: &str| users.iter().find(|u| u.0 == n).map(|u| &u.1);
        let d = get("default").expect("default");
        assert!(!d.enabled);
        let app = get("app").expect("app");
        assert!(app.enabled && app.has_password && app.commands.is_empty());
        let ops = get("ops").expect("ops");
        assert!(ops.nopass);
        assert!(!ops.commands.contains(&"FLUSHALL"));
        assert!(ops.commands.contains(&"CONFIG"));
    }
}
