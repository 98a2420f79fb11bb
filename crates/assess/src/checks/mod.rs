//! The catalogue: every check as data.

pub mod deps;
pub(crate) mod firewall;
pub(crate) mod install;
pub mod secrets;
pub(crate) mod services;
pub(crate) mod system;
pub mod updates;

use crate::model::{Check, Severity};
use firewall as fw;
use install as app;
use services as svc;
use system as sys;
use updates as upd;

const PG: &str = "Secure Configuration: PostgreSQL";
const REDIS: &str = "Secure Configuration: Redis";
const SSH: &str = "Vulnerability Assessment: SSH";
const KERNEL: &str = "Vulnerability Assessment: kernel";
const NETWORK: &str = "Firewall Configuration: exposed services";
const SECRETS: &str = "Secure Configuration: secrets";
const CONFIG: &str = "API security: configuration";
const TLS: &str = "SSL/TLS Configuration";
const PERMS: &str = "User Permissions";
const FILES: &str = "Vulnerability Assessment: files";
const FIREWALL: &str = "Firewall Configuration: default deny";
const UPDATES: &str = "Maintenance: security updates";
const DEPS: &str = "Maintenance: dependency vulnerabilities";

macro_rules! check {
    ($id:literal, $sev:ident, $section:expr, $fix:literal, $run:expr, $title:literal, $why:literal, $how:literal $(,)?) => {
        Check {
            id: $id,
            title: $title,
            severity: Severity::$sev,
            guide_section: $section,
            rationale: $why,
            remediation: $how,
            fixable: $fix,
            run: $run,
        }
    };
}

/// Every check, in identifier order within each area.
pub static CATALOGUE: &[Check] = &[
    // PostgreSQL
    check!(
        "CB-PG-001",
        Critical,
        PG,
        false,
        svc::pg_trust,
        "pg_hba.conf accepts connections without a password (trust)",
        "A `trust` rule lets anyone who can reach the server connect as any role the rule names, with no password at all.",
        "Replace `trust` with `scram-sha-256` (or `peer` for local superuser access) and reload PostgreSQL; `cryptobot secure-config` renders such a pg_hba.conf."
    ),
    check!(
        "CB-PG-002",
        High,
        PG,
        false,
        svc::pg_password,
        "pg_hba.conf sends passwords in clear text (password)",
        "The `password` method sends the password unencrypted; anyone on the path can read it.",
        "Use `scram-sha-256` instead of `password`, and set the role's password again as a SCRAM verifier (`cryptobot secure-config --apply-db`)."
    ),
    check!(
        "CB-PG-003",
        Medium,
        PG,
        false,
        svc::pg_md5,
        "pg_hba.conf uses the md5 password method",
        "MD5 verifiers are weak (a stolen verifier is as good as the password for logging in) and md5 is deprecated in PostgreSQL 18.",
        "Set `password_encryption = 'scram-sha-256'`, reset the passwords, and change `md5` to `scram-sha-256` in pg_hba.conf."
    ),
    check!(
        "CB-PG-004",
        High,
        PG,
        false,
        svc::pg_open,
        "pg_hba.conf allows connections from any address",
        "A rule for `0.0.0.0/0`, `::/0` or `all` accepts connections from the whole Internet; only a password stands between an attacker and the database.",
        "Limit the address to `127.0.0.1/32` and `::1/128` (or the application hosts' addresses) and keep a final `reject` rule."
    ),
    check!(
        "CB-PG-005",
        High,
        PG,
        false,
        svc::pg_ssl_off,
        "PostgreSQL has TLS switched off (ssl = off)",
        "Without TLS, passwords exchanges and query data cross the network in clear text.",
        "Run `cryptobot ssl` (it installs PostgreSQL's certificate) and set `ssl = on` with `ssl_cert_file` and `ssl_key_file`."
    ),
    check!(
        "CB-PG-006",
        Medium,
        PG,
        false,
        svc::pg_password_encryption,
        "PostgreSQL stores new passwords as MD5 (password_encryption not scram-sha-256)",
        "Passwords set while `password_encryption` is `md5` get weak MD5 verifiers.",
        "Set `password_encryption = 'scram-sha-256'` and set the passwords again."
    ),
    check!(
        "CB-PG-007",
        Medium,
        PG,
        false,
        svc::pg_listen_all,
        "PostgreSQL listens on every interface (listen_addresses = '*')",
        "Cryptobot reaches PostgreSQL over loopback; listening everywhere exposes it to the network for no benefit.",
        "Set `listen_addresses = 'localhost'` (the rendered cryptobot.conf does) and restart PostgreSQL."
    ),
    // Redis
    check!(
        "CB-REDIS-001",
        Critical,
        REDIS,
        false,
        svc::redis_no_auth,
        "Redis accepts clients without a password",
        "Without `requirepass` or ACL users with passwords, anyone who reaches Redis can read and change every key, and often write files through CONFIG.",
        "Disable the default user (`user default off`) and give each client an ACL user with a password, as the redis.conf rendered by `cryptobot secure-config` does."
    ),
    check!(
        "CB-REDIS-002",
        High,
        REDIS,
        false,
        svc::redis_protected_mode,
        "Redis protected mode is off",
        "Protected mode refuses outside clients while no password is set; switching it off removes the last guard of a default installation.",
        "Set `protected-mode yes`."
    ),
    check!(
        "CB-REDIS-003",
        High,
        REDIS,
        false,
        svc::redis_bind,
        "Redis is bound beyond loopback",
        "The guide restricts Redis to localhost. Bound to all interfaces (or with no `bind` at all) it is one firewall mistake away from the Internet.",
        "Set `bind 127.0.0.1 -::1` and restart Redis."
    ),
    check!(
        "CB-REDIS-004",
        Medium,
        REDIS,
        false,
        svc::redis_dangerous,
        "Redis allows dangerous commands (FLUSHALL, CONFIG, DEBUG, ...)",
        "A client that can run CONFIG, DEBUG, MODULE, FLUSHALL or SHUTDOWN can wipe data, stop the server or turn it into a file writer.",
        "Remove `@dangerous` and `@admin` from the application's ACL user (`-@dangerous -@admin`), switch the default user off, or `rename-command` them to \"\"."
    ),
    // SSH
    check!(
        "CB-SSH-001",
        High,
        SSH,
        false,
        sys::ssh_root_password,
        "SSH allows root to log in with a password (PermitRootLogin yes)",
        "Root is the first account every password-guessing bot tries.",
        "Set `PermitRootLogin no` (log in as a user and use sudo) and reload sshd; `sshd -t` checks the file first."
    ),
    check!(
        "CB-SSH-002",
        Low,
        SSH,
        false,
        sys::ssh_root_key,
        "SSH allows root to log in with a key (PermitRootLogin prohibit-password)",
        "Direct root logins leave no trace of which person acted, and one stolen key gives full control.",
        "Set `PermitRootLogin no` and use personal accounts with sudo."
    ),
    check!(
        "CB-SSH-003",
        Medium,
        SSH,
        false,
        sys::ssh_password_auth,
        "SSH accepts passwords (PasswordAuthentication yes)",
        "Passwords can be guessed; keys cannot. sshd's default is `yes` when the keyword is absent.",
        "Install your public key, then set `PasswordAuthentication no` and reload sshd."
    ),
    check!(
        "CB-SSH-004",
        Critical,
        SSH,
        true,
        sys::ssh_empty_passwords,
        "SSH accepts empty passwords (PermitEmptyPasswords yes)",
        "An account without a password can be logged into by anyone.",
        "Set `PermitEmptyPasswords no` and give every account a password or lock it. `assess --fix` writes it to /etc/ssh/sshd_config.d/ when sshd_config includes that directory before the offending line."
    ),
    check!(
        "CB-SSH-005",
        Low,
        SSH,
        true,
        sys::ssh_max_auth_tries,
        "SSH allows more than 4 authentication attempts per connection (MaxAuthTries)",
        "More attempts per connection make guessing cheaper; sshd's default is 6.",
        "Set `MaxAuthTries 3` (or 4). `assess --fix` writes `MaxAuthTries 4` to /etc/ssh/sshd_config.d/ when sshd_config includes that directory before the offending line."
    ),
    check!(
        "CB-SSH-006",
        Low,
        SSH,
        true,
        sys::ssh_x11,
        "SSH forwards X11 (X11Forwarding yes)",
        "A server does not need X11; forwarding exposes the client's display to the server.",
        "Set `X11Forwarding no`. `assess --fix` writes it to /etc/ssh/sshd_config.d/ when sshd_config includes that directory before the offending line."
    ),
    // Kernel
    check!(
        "CB-KERN-001",
        Medium,
        KERNEL,
        true,
        sys::kernel::<0>,
        "Address space layout randomisation is not full (kernel.randomize_va_space != 2)",
        "ASLR makes memory-corruption exploits unreliable; 2 randomises the heap as well.",
        "Set `kernel.randomize_va_space = 2` in /etc/sysctl.d/ and run `sysctl --system`."
    ),
    check!(
        "CB-KERN-002",
        Medium,
        KERNEL,
        true,
        sys::kernel::<1>,
        "TCP SYN cookies are off (net.ipv4.tcp_syncookies != 1)",
        "SYN cookies keep the server reachable during a SYN flood.",
        "Set `net.ipv4.tcp_syncookies = 1` in /etc/sysctl.d/."
    ),
    check!(
        "CB-KERN-003",
        Low,
        KERNEL,
        true,
        sys::kernel::<2>,
        "Reverse-path filtering is off (rp_filter = 0)",
        "Without it the host accepts packets with spoofed source addresses.",
        "Set `net.ipv4.conf.all.rp_filter = 1` and `net.ipv4.conf.default.rp_filter = 1` (2 on multi-homed hosts)."
    ),
    check!(
        "CB-KERN-004",
        Medium,
        KERNEL,
        true,
        sys::kernel::<3>,
        "ICMP redirects are accepted (accept_redirects != 0)",
        "A redirect from the local network can reroute the host's traffic through an attacker.",
        "Set `net.ipv4.conf.all.accept_redirects = 0`, `...default.accept_redirects = 0` and the same for net.ipv6."
    ),
    check!(
        "CB-KERN-005",
        Low,
        KERNEL,
        true,
        sys::kernel::<4>,
        "ICMP redirects are sent (send_redirects != 0)",
        "Only routers send redirects; a server that does can be used to mislead its neighbours.",
        "Set `net.ipv4.conf.all.send_redirects = 0` and `net.ipv4.conf.default.send_redirects = 0`."
    ),
    check!(
        "CB-KERN-006",
        Low,
        KERNEL,
        true,
        sys::kernel::<5>,
        "Kernel addresses are visible (kernel.kptr_restrict = 0)",
        "Kernel pointers in /proc help an attacker defeat kernel ASLR.",
        "Set `kernel.kptr_restrict = 1` (or 2)."
    ),
    check!(
        "CB-KERN-007",
        Low,
        KERNEL,
        true,
        sys::kernel::<6>,
        "Unprivileged users can read the kernel log (kernel.dmesg_restrict = 0)",
        "The kernel log leaks addresses and hardware details.",
        "Set `kernel.dmesg_restrict = 1`."
    ),
    check!(
        "CB-KERN-008",
        Low,
        KERNEL,
        true,
        sys::kernel::<7>,
        "Any process may trace another of the same user (kernel.yama.ptrace_scope = 0)",
        "With ptrace open, one compromised process of the service account can read the secrets in memory of every other.",
        "Set `kernel.yama.ptrace_scope = 1` (2 allows tracing by root only)."
    ),
    check!(
        "CB-KERN-009",
        Medium,
        KERNEL,
        true,
        sys::kernel::<8>,
        "Set-id programs may dump core (fs.suid_dumpable != 0)",
        "Core dumps of privileged programs can contain password hashes and keys.",
        "Set `fs.suid_dumpable = 0`."
    ),
    check!(
        "CB-KERN-010",
        Medium,
        KERNEL,
        true,
        sys::kernel::<9>,
        "Link protections are off (fs.protected_symlinks / fs.protected_hardlinks != 1)",
        "They stop the classic /tmp link attacks against programs run by root.",
        "Set `fs.protected_symlinks = 1` and `fs.protected_hardlinks = 1`."
    ),
    // Network
    check!(
        "CB-NET-001",
        High,
        NETWORK,
        false,
        sys::net_database_exposed,
        "PostgreSQL or Redis listens beyond loopback",
        "The databases hold sessions, accounts and trading data; the guide keeps them on localhost.",
        "Bind them to 127.0.0.1/::1 (`listen_addresses = 'localhost'`, `bind 127.0.0.1 -::1`) and keep the firewall's default deny."
    ),
    check!(
        "CB-NET-002",
        Info,
        NETWORK,
        false,
        sys::net_listeners,
        "A service listens beyond loopback",
        "Every listening socket is attack surface; each should be one you mean to offer.",
        "Stop services you do not need, bind internal ones to loopback, and let the firewall (`cryptobot firewall`) open only the public ports."
    ),
    check!(
        "CB-NET-003",
        High,
        FIREWALL,
        false,
        fw::firewall_missing,
        "No firewall is configured to load at boot",
        "Without a host firewall every service that listens beyond loopback is reachable, and one configuration mistake exposes the databases; the guide sets up a default-deny firewall.",
        "Run `cryptobot firewall apply` (then `confirm`), or `cryptobot firewall persist`; with ufw or firewalld, enable it with a deny-by-default input policy."
    ),
    check!(
        "CB-NET-004",
        High,
        FIREWALL,
        false,
        fw::firewall_accepts,
        "The firewall accepts inbound traffic by default (input policy accept)",
        "A firewall whose input policy is accept only blocks what someone remembered to list; everything new is open.",
        "Make the input chain drop by default (`cryptobot firewall persist` writes such a table; ufw: `ufw default deny incoming`; firewalld: a zone whose target is not ACCEPT)."
    ),
    // Updates and dependencies
    check!(
        "CB-UPD-001",
        High,
        UPDATES,
        false,
        upd::security_updates,
        "A security update is pending for an installed package",
        "The security repository has a newer version of a package that is installed: a published vulnerability is waiting to be fixed on this host.",
        "Run `apt-get update && apt-get upgrade` (or `unattended-upgrades`), then restart the affected services. The weekly maintenance checklist includes this."
    ),
    check!(
        "CB-DEP-001",
        High,
        DEPS,
        false,
        deps::vulnerable_dependencies,
        "A pinned Python dependency has a known vulnerability (OSV advisory)",
        "Cryptobot's services run this code with the exchange keys in reach; a version with a published advisory is the easiest way in.",
        "Upgrade the package to the fixed version the evidence names (or later) in the requirements or lock file, reinstall, and restart the services."
    ),
    check!(
        "CB-DEP-002",
        Info,
        DEPS,
        false,
        deps::dependencies_not_checked,
        "The dependency check was skipped (no advisory database)",
        "Dependencies can only be checked against an advisory database, which the operator provides; a skipped check is not a pass.",
        "Download the PyPI advisories of the OSV database (an OSV bulk export, unpacked) and give the directory with `--advisory-db DIR`; refresh it before each run."
    ),
    // Cryptobot: secrets
    check!(
        "CB-APP-001",
        High,
        SECRETS,
        false,
        app::secret_missing,
        "A Cryptobot secret is missing",
        "Without its secret a component cannot start, or starts with something weaker.",
        "Run `cryptobot secure-config`: it generates the missing secrets (mode 0600)."
    ),
    check!(
        "CB-APP-002",
        High,
        SECRETS,
        false,
        app::secret_weak,
        "A Cryptobot secret is weak",
        "A short, default or malformed secret can be guessed; tokens signed or passwords protected with it are forgeable.",
        "Run `cryptobot secure-config` (weak secrets are replaced; the vault master key only with `--rotate` and a re-encryption)."
    ),
    check!(
        "CB-APP-003",
        Critical,
        SECRETS,
        true,
        app::secret_readable,
        "A secret or private key is readable by other accounts",
        "Anyone who can read it can sign tokens, decrypt exchange keys or impersonate the server.",
        "Run `cryptobot permissions` (secrets and keys become 0600, owned by the service account), then rotate what may have been read."
    ),
    check!(
        "CB-APP-008",
        High,
        SECRETS,
        false,
        app::master_key_in_backups,
        "The vault master key is stored beside the backups",
        "Backups hold the encrypted exchange keys; a copy of the master key next to them makes the encryption pointless for anyone who gets the backups.",
        "Keep the master key out of backups/ (store it offline or in a separate secret store) and delete the copy; rotate it if the backups left the host."
    ),
    // Cryptobot: configuration
    check!(
        "CB-APP-004",
        High,
        CONFIG,
        false,
        app::config_invalid,
        "The Cryptobot configuration is invalid",
        "`cryptobot serve` refuses to start with it, and other commands fall back to nothing.",
        "Correct each key named in the evidence; `cryptobot config check` shows the same messages."
    ),
    check!(
        "CB-APP-005",
        High,
        CONFIG,
        false,
        app::cors_wildcard,
        "CORS allows every origin (cors_origins contains \"*\")",
        "Any web page could call the API from a signed-in operator's browser.",
        "List the exact origins of your web console in server.cors_origins."
    ),
    check!(
        "CB-APP-006",
        Medium,
        CONFIG,
        false,
        app::session_lifetimes,
        "Token or session lifetimes exceed the policy",
        "Long-lived tokens and sessions give a stolen credential more time to be used.",
        "Lower the value under [security.session] to the default (access 900 s, session 3600 s, refresh 43200 s, idle 1800 s) or below."
    ),
    check!(
        "CB-APP-007",
        Medium,
        CONFIG,
        false,
        app::password_policy,
        "The password policy is weaker than the defaults",
        "Shorter passwords are easier to guess (OWASP ASVS 2.1.1 asks for at least 12 characters; common and breached passwords are refused whatever the policy).",
        "Restore the defaults under [security.password_policy]: min_length 12 or more (character-class rules and password history are off by default, as ASVS 2.1.9 and 2.1.10 advise, and may be turned on)."
    ),
    // TLS
    check!(
        "CB-TLS-001",
        Critical,
        TLS,
        false,
        app::cert_expired,
        "A certificate has expired",
        "Clients refuse an expired certificate or, worse, are taught to click through warnings.",
        "Run `cryptobot ssl renew` (local CA) or import a renewed certificate with `cryptobot ssl import`."
    ),
    check!(
        "CB-TLS-002",
        Medium,
        TLS,
        false,
        app::cert_expiring,
        "A certificate expires within 30 days",
        "Renewing late risks an outage.",
        "Run `cryptobot ssl renew` or import the renewed certificate."
    ),
    check!(
        "CB-TLS-003",
        High,
        TLS,
        false,
        app::cert_weak_key,
        "A certificate has a weak key",
        "RSA below 2048 bits and unusual curves can be broken or are refused by clients.",
        "Issue a new certificate with an ECDSA P-256 or RSA 3072 key (`cryptobot ssl --force`)."
    ),
    check!(
        "CB-TLS-004",
        Medium,
        TLS,
        false,
        app::cert_names,
        "The server certificate does not cover every configured name (tls.san)",
        "Clients that connect by a missing name get a certificate error.",
        "Re-issue with `cryptobot ssl --force`, or correct [tls].san."
    ),
    check!(
        "CB-TLS-005",
        Medium,
        TLS,
        false,
        app::cert_unreadable,
        "A certificate file cannot be parsed",
        "The server cannot serve TLS with it.",
        "Replace it: `cryptobot ssl --force` or `cryptobot ssl import`."
    ),
    // Permissions (from `cryptobot permissions --check`)
    check!(
        "CB-PERM-001",
        High,
        PERMS,
        true,
        app::perm::<0>,
        "A file in the installation is world-writable (PERM-001)",
        "Anyone on the host can change what the service reads or runs.",
        "Run `cryptobot permissions`."
    ),
    check!(
        "CB-PERM-002",
        High,
        PERMS,
        true,
        app::perm::<1>,
        "A file in the installation is setuid or setgid (PERM-002)",
        "A set-id program in the installation is a privilege-escalation path.",
        "Run `cryptobot permissions` (set-id bits are cleared)."
    ),
    check!(
        "CB-PERM-003",
        Medium,
        PERMS,
        true,
        app::perm::<2>,
        "A path in the installation has the wrong owner (PERM-003)",
        "The wrong owner can change files the service trusts, or the service cannot read them.",
        "Run `cryptobot permissions`."
    ),
    check!(
        "CB-PERM-004",
        Medium,
        PERMS,
        true,
        app::perm::<3>,
        "A path in the installation has the wrong mode (PERM-004)",
        "Modes wider than the table in docs/permissions.md let other accounts read or change the files.",
        "Run `cryptobot permissions`."
    ),
    check!(
        "CB-PERM-005",
        Medium,
        PERMS,
        false,
        app::perm::<4>,
        "A symbolic link in the installation points outside it (PERM-005)",
        "A link out of the installation can make the service read or write files it should not.",
        "Replace the link with the file itself, or remove it."
    ),
    check!(
        "CB-PERM-006",
        Low,
        PERMS,
        true,
        app::perm::<5>,
        "The hardened systemd unit is missing or differs (PERM-006)",
        "Without the sandboxed unit the service runs with far more access than it needs.",
        "Run `cryptobot permissions` (it installs /etc/systemd/system/cryptobot.service)."
    ),
    check!(
        "CB-PERM-007",
        Medium,
        PERMS,
        true,
        app::perm::<6>,
        "The service account is missing (PERM-007)",
        "Without its own account the service runs as root or shares an account with others.",
        "Run `cryptobot permissions` (it creates the system user and group)."
    ),
    check!(
        "CB-PERM-008",
        Medium,
        PERMS,
        true,
        app::perm::<7>,
        "A file in the installation is group-writable (PERM-008)",
        "Every member of the group can change what the service reads.",
        "Run `cryptobot permissions`."
    ),
    // Files
    check!(
        "CB-FILE-001",
        High,
        FILES,
        true,
        app::leftover_copies,
        "A leftover copy (.env, *.bak, *.orig, *~, swap file) is in the installation",
        "The guide's original scripts left `.env.bak` files full of secrets; copies escape rotation and permission fixes.",
        "Delete the copy after checking it holds nothing you need; rotate any secret it contains (`cryptobot secure-config --rotate NAME`). `assess --fix` removes backup copies (not `.env` itself) through the journal, so `cryptobot rollback` can restore them."
    ),
    check!(
        "CB-FILE-002",
        High,
        FILES,
        false,
        app::hardcoded_secrets,
        "A secret is hard-coded in a configuration file or script",
        "Secrets in configuration and scripts end up in backups, repositories and logs; the guide keeps them in config/secrets/ only.",
        "Move the value to a file in config/secrets/ (mode 0600) or the service's credentials, remove it from the file, and rotate it."
    ),
];

/// The check with this identifier (case-insensitive).
pub fn find(id: &str) -> Option<&'static Check> {
    CATALOGUE
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id.trim()))
}
