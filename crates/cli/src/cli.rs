//! Command-line definitions. Completions and the man page are generated from
//! these, so help text here is the user documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

#[derive(Debug, Parser)]
#[command(
    name = "cryptobot",
    version,
    about = "Security hardening and the security service for a self-hosted Cryptobot installation",
    long_about = "Security hardening and the security service for a self-hosted Cryptobot installation.\n\n\
                  Every hardening command computes a plan first: --dry-run shows it and changes nothing, \
                  a run applies it atomically and records it so `cryptobot rollback` can undo it.",
    propagate_version = true
)]
pub struct Cli {
    /// Installation directory [default: /opt/cryptobot as root, else ~/.local/share/cryptobot]
    #[arg(long, global = true, env = "CRYPTOBOT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Filesystem prefix under which every host path is read and written (image builds, tests)
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Configuration file [default: <home>/config/cryptobot.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output for people (text) or for programs (json)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Show more detail (repeat for even more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0 (`cryptobot assess` only)
    Sarif,
    /// JUnit XML, one test case per check (`cryptobot assess` only)
    Junit,
    /// One self-contained HTML page with a score-over-time chart (`cryptobot assess` only)
    Html,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate missing or weak secrets and write hardened Cryptobot, Redis and PostgreSQL configuration
    SecureConfig(SecureConfigArgs),
    /// Check or show the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the HTTPS security service (prepares the home and a self-signed certificate on first start)
    Serve,
    /// Manage accounts of the security service
    #[command(subcommand)]
    User(UserCommand),
    /// Manage access-token signing keys
    #[command(subcommand)]
    Token(TokenCommand),
    /// Exchange API keys in the vault: add, list, rotate, revoke (secrets are never shown again)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The vault's master key: status, verify every sealed secret, rotate
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Service-to-service API keys (`Authorization: ApiKey cbk_…`): create, list, rotate, revoke
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Print the service's OpenAPI document (what GET /openapi.json serves)
    Openapi,
    /// Undo the most recent hardening run
    Rollback(RollbackArgs),
    /// Create the service account, fix owners and modes of the installation, and install the hardened systemd unit
    Permissions(PermissionsArgs),
    /// Local CA and certificates: issue, renew, import, show
    Ssl(SslArgs),
    /// Firewall rules for nftables, iptables, ufw, firewalld, pf or Windows, and fail2ban jails
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// Vulnerability assessment: findings with evidence and fixes, a 0-100 score, text/JSON/SARIF
    Assess(AssessArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (or write one page per command into a directory)
    Man {
        /// Write cryptobot.1 and one page per subcommand into DIR
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SecureConfigArgs {
    /// Show what would change, as a diff, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Replace this secret even though it is strong (repeatable): jwt_signing.key,
    /// reset_token.key, redis_password, postgres_password
    #[arg(long, value_name = "NAME")]
    pub rotate: Vec<String>,

    /// Then set the Cryptobot role's password in this PostgreSQL (superuser URL,
    /// e.g. 'postgresql://postgres@localhost/postgres?host=/var/run/postgresql');
    /// the password is sent only as a SCRAM-SHA-256 verifier
    #[arg(long, value_name = "URL")]
    pub apply_db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; exit status 2 when it is invalid
    Check,
    /// Print every effective setting with where it came from (secrets are never shown)
    Show,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PermissionsArgs {
    #[command(subcommand)]
    pub action: Option<PermissionsCommand>,

    /// Show what would change, as a diff, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// List every deviation and change nothing; exit status 3 when there is one
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,

    /// The cryptobot binary the unit runs (host path; skipped with a note when absent)
    #[arg(long, value_name = "PATH", default_value = "/usr/local/bin/cryptobot")]
    pub binary: std::path::PathBuf,

    /// Service account (user and group) that runs `cryptobot serve`
    #[arg(long, value_name = "NAME", default_value = "cryptobot")]
    pub user: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SslArgs {
    #[command(subcommand)]
    pub action: Option<SslCommand>,

    /// Show what would change and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Keep a new CA's private key in this existing directory instead of the server
    #[arg(long, value_name = "DIR")]
    pub ca_out: Option<PathBuf>,

    /// The CA key when it is not on the server (made with --ca-out)
    #[arg(long, value_name = "FILE")]
    pub ca_key: Option<PathBuf>,

    /// Re-issue the server certificate even when the current one is fine (replaces an imported one)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum SslCommand {
    /// Subject, names, key, issuer and days left of every certificate
    Status,
    /// Re-issue the server certificates from the local CA when fewer than 30 days are left
    Renew {
        /// Re-issue now, whatever the days left
        #[arg(long)]
        force: bool,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        /// The CA key when it is not on the server (made with --ca-out)
        #[arg(long, value_name = "FILE")]
        ca_key: Option<PathBuf>,
    },
    /// Issue a client certificate for mutual TLS between services
    Client {
        /// Name of the client (its certificate's common name)
        name: String,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        /// The CA key when it is not on the server (made with --ca-out)
        #[arg(long, value_name = "FILE")]
        ca_key: Option<PathBuf>,
    },
    /// Revoke a client certificate: it goes on the CA's revocation list and its files are removed
    Revoke {
        /// The NAME given to `ssl client`
        name: String,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        /// The CA key when it is not on the server (made with --ca-out)
        #[arg(long, value_name = "FILE")]
        ca_key: Option<PathBuf>,
    },
    /// Check and install your own certificate (e.g. from a public CA)
    Import {
        /// The certificate, PEM (may be followed by its intermediates)
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Its private key, PEM
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Intermediate (and root) certificates, PEM
        #[arg(long, value_name = "FILE")]
        chain: Option<PathBuf>,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PermissionsCommand {
    /// Print (or write to --out) the account, permissions and service files for a platform
    Render(RenderArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    /// The systemd unit (what `cryptobot permissions` installs)
    Linux,
    /// A dscl + chown/chmod + launchctl script and the launchd plist
    Macos,
    /// A PowerShell script: service under a virtual account, ACLs
    Windows,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Target platform
    #[arg(long, value_enum, default_value = "linux")]
    pub platform: PlatformArg,

    /// Write the files into this existing directory instead of printing them
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,

    /// The cryptobot binary the service runs (macOS and Linux)
    #[arg(long, value_name = "PATH", default_value = "/usr/local/bin/cryptobot")]
    pub binary: std::path::PathBuf,

    /// Service account (macOS and Linux; Windows uses NT SERVICE\cryptobot)
    #[arg(long, value_name = "NAME", default_value = "cryptobot")]
    pub user: String,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Show what would be restored and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (the password is asked twice without echo, or read from stdin)
    Add {
        /// Account name: a-z, 0-9, '.', '_', '-'
        name: String,
        /// admin, trader, viewer or auditor
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts for an access review: last use, password age, MFA, sessions, API keys
    List,
    /// Disable an account, end its sessions and suspend its API keys
    Disable { name: String },
    /// Enable a disabled account
    Enable { name: String },
    /// Change an account's role
    SetRole {
        name: String,
        /// admin, trader, viewer or auditor
        role: String,
    },
    /// Clear a lockout caused by failed sign-ins
    Unlock { name: String },
    /// Remove a user's MFA (lost authenticator), end their sessions and suspend their API keys; they can enroll again after signing in
    ResetMfa { name: String },
    /// Issue a single-use password-reset token (valid 15 minutes), shown once
    ResetPassword { name: String },
    /// End every session of a user (a suspected stolen session)
    EndSessions { name: String },
    /// Delete an account: credentials, sessions, MFA, API keys and grants go; the audit trail keeps a pseudonymous id
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it once (`cbk_<id>_<secret>`); only its hash is stored
    Create {
        /// Owner account; may be left out when the installation has exactly one admin
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// What the key is for, e.g. strategy
        #[arg(long)]
        name: String,
        /// Comma-separated scopes, each granted by the owner's role, e.g. trade:execute,trade:read
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Lifetime: <N>d or <N>h, from 1h to security.api_keys.max_lifetime_days (365d by default)
        #[arg(long, value_name = "DURATION", default_value = "90d")]
        expires: String,
    },
    /// List keys (never secrets): one account's, or everyone's
    List {
        /// Only this account's keys
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
    /// Give a key a new secret; the old one keeps working for security.api_keys.rotation_grace_hours
    Rotate {
        /// Key id (the <id> in cbk_<id>_<secret>)
        id: String,
        /// New lifetime from now (<N>d or <N>h); without it the expiry stays
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Revoke a key at once (both secrets, if it was rotated)
    Revoke {
        /// Key id
        id: String,
    },
    /// Make a key suspended by its owner's credential change work again
    Reactivate {
        /// Key id
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Store an exchange key; the secret is asked without echo, or read from stdin
    Add {
        /// binance, kraken, coinbase, bybit, okx or kucoin
        #[arg(long)]
        exchange: String,
        /// A name to tell keys apart, unique per exchange
        #[arg(long)]
        label: String,
        /// The API key (the exchange's public identifier of the key pair)
        #[arg(long, value_name = "KEY")]
        api_key: String,
        /// What the key may do on the exchange: read, trade, withdraw, account-admin (comma-separated); the vault signs only requests these cover
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        /// Where the key is IP-restricted on the exchange (a note for your records)
        #[arg(long, value_name = "TEXT")]
        ip_note: Option<String>,
        /// Read the secret from the first line of standard input
        #[arg(long)]
        secret_stdin: bool,
        /// The key has a passphrase: asked without echo, or the second line of stdin
        #[arg(long)]
        with_passphrase: bool,
        /// OKX only: allow the vault to hand the passphrase out in the signed headers (OKX's scheme needs it there); without it OKX requests are refused
        #[arg(long)]
        passphrase_in_headers: bool,
        /// This key's own signing limit (default: security.api_keys.max_signatures_per_minute)
        #[arg(long, value_name = "N")]
        max_signatures_per_minute: Option<u32>,
    },
    /// List keys: exchange, label, fingerprint, age, rotation due, permissions
    List {
        /// Include revoked keys
        #[arg(long)]
        all: bool,
    },
    /// Store new credentials; the previous ones keep signing for security.api_keys.rotation_grace_hours
    Rotate {
        /// Key id (from `keys list`)
        id: String,
        /// The new API key
        #[arg(long, value_name = "KEY")]
        api_key: String,
        /// Read the new secret from the first line of standard input
        #[arg(long)]
        secret_stdin: bool,
        /// The new key has a passphrase: asked without echo, or the second line of stdin
        #[arg(long)]
        with_passphrase: bool,
    },
    /// Revoke a key; every stored version is destroyed at once
    Revoke {
        /// Key id
        id: String,
    },
    /// Let a user or a service API key sign with a key (admins may use every key; service keys need a grant)
    Grant {
        /// Key id
        id: String,
        #[command(flatten)]
        target: GrantTargetArgs,
    },
    /// Withdraw a grant; the grantee's next signing request is refused
    RevokeGrant {
        /// Key id
        id: String,
        #[command(flatten)]
        target: GrantTargetArgs,
    },
    /// Show who may sign with a key
    Grants {
        /// Key id
        id: String,
    },
    /// Replace a key's declared permissions; adding withdraw waits for a second admin when there are two or more
    SetPermissions {
        /// Key id
        id: String,
        /// read, trade, withdraw, account-admin (comma-separated)
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
    },
    /// Set a key's own signing limit per minute, or go back to the default
    SetLimit {
        /// Key id
        id: String,
        /// Signatures per minute (1-1000000)
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "default",
            required_unless_present = "default"
        )]
        per_minute: Option<u32>,
        /// Use security.api_keys.max_signatures_per_minute
        #[arg(long)]
        default: bool,
    },
    /// A key's withdrawal address book: withdrawals are signed only to its addresses, after a delay
    #[command(subcommand)]
    Address(AddressCommand),
    /// List requests that wait for a second admin
    Approvals {
        /// Include approved and expired requests
        #[arg(long)]
        all: bool,
    },
    /// Approve a request as a second admin (their password, and a code when they have MFA, are asked)
    Approve {
        /// Request id (`apr_…`, from `keys approvals`)
        request: String,
        /// The approving admin's username (not the admin who asked)
        #[arg(long = "as", value_name = "NAME")]
        admin: String,
        /// Read the password (and then the code) from standard input, one per line
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Exactly one grantee.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct GrantTargetArgs {
    /// A username
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A service API key id (`ak_…`)
    #[arg(long, value_name = "ID")]
    pub api_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AddressCommand {
    /// Add an address (raises an alert; usable after security.api_keys.withdraw_address_delay_hours)
    Add {
        /// Key id
        id: String,
        /// The address (for Kraken: the name of the withdrawal key set up on Kraken)
        #[arg(long)]
        address: String,
        /// The network or chain, as the exchange names it (a withdrawal must name the same one)
        #[arg(long)]
        network: Option<String>,
        /// The memo or tag, if the destination needs one
        #[arg(long)]
        memo: Option<String>,
        /// A label for your records
        #[arg(long)]
        label: Option<String>,
    },
    /// List a key's addresses
    List {
        /// Key id
        id: String,
        /// Include removed addresses
        #[arg(long)]
        all: bool,
    },
    /// Remove an address (at once)
    Remove {
        /// Key id
        id: String,
        /// Entry id (`wa_…`)
        entry: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Show the master key versions and how many sealed secrets each one wraps
    Status,
    /// Open every sealed secret; exit 1 if any does not open
    Verify,
    /// Add a new master key version and rewrap every data key with it; resumable and crash-safe
    RotateMaster,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Start signing with a new key; the old one keeps verifying until its tokens expire
    RotateSigningKey,
}

#[derive(Debug, Subcommand)]
pub enum FirewallCommand {
    /// Print (or write to --out) the rules for a firewall backend, or the fail2ban jails
    Render(FirewallRenderArgs),
    /// Check that the configuration gives rules that keep SSH reachable; exit status 2 when not
    Check,
    /// Load the rules into the running kernel (nftables, iptables, ufw or firewalld); unless `confirm` follows
    /// within --confirm-within seconds, the previous rules are restored automatically
    Apply(FirewallApplyArgs),
    /// Keep the rules of a pending `apply` (run it from a new SSH session), then make them
    /// persistent unless `apply --no-persist` was given
    Confirm,
    /// Write the rules where the distribution loads them at boot, as a plan `cryptobot rollback`
    /// can undo; the running kernel is not touched (works with --root for images; ufw and
    /// firewalld load their own files, so there it only says so)
    Persist(FirewallPersistArgs),
    /// Restores the previous rules when an apply is not confirmed (started by `apply`)
    #[command(hide = true)]
    Watchdog(FirewallWatchdogArgs),
    /// Lists rules as the kernel would (run by `apply --dry-run` in a new network namespace)
    #[command(hide = true)]
    Normalize(FirewallNormalizeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FirewallLiveBackendArg {
    /// nftables: the table `inet cryptobot`, replaced atomically by `nft -f`
    Nftables,
    /// iptables/ip6tables: the CRYPTOBOT-* chains, replaced by `iptables-restore --noflush`
    Iptables,
    /// ufw: rules with the comment `cryptobot …`, replaced by `ufw` commands; /etc/ufw is
    /// written on `confirm`
    Ufw,
    /// firewalld: the zone `cryptobot` (made the default zone) and the policy
    /// `cryptobot-egress`, loaded by `firewall-cmd --reload`; /etc/firewalld is written on
    /// `confirm`
    Firewalld,
}

#[derive(Debug, Args)]
pub struct FirewallApplyArgs {
    /// Backend [default: firewall.backend; auto is ufw or firewalld when enabled, else nftables on Linux]
    #[arg(long, value_enum)]
    pub backend: Option<FirewallLiveBackendArg>,

    /// Seconds to run `cryptobot firewall confirm` before the previous rules come back
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub confirm_within: u64,

    /// Show the difference between the active rules and the new ones, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Do not write the boot files after `confirm` (the rules last until the next reboot)
    #[arg(long)]
    pub no_persist: bool,

    /// With egress = "allowlist": allow HTTPS to this address instead of resolving
    /// firewall.egress_hosts now (repeatable)
    #[arg(long = "egress-address", value_name = "IP")]
    pub egress_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Args)]
pub struct FirewallPersistArgs {
    /// Backend [default: firewall.backend; auto is ufw or firewalld when enabled, else nftables on Linux]
    #[arg(long, value_enum)]
    pub backend: Option<FirewallLiveBackendArg>,

    /// Show the changes as a diff and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// With egress = "allowlist": allow HTTPS to this address instead of resolving
    /// firewall.egress_hosts now (repeatable)
    #[arg(long = "egress-address", value_name = "IP")]
    pub egress_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Args)]
pub struct FirewallWatchdogArgs {
    #[arg(long, value_enum)]
    pub backend: FirewallLiveBackendArg,
    /// The apply this watchdog guards
    #[arg(long)]
    pub id: String,
    /// Milliseconds since the epoch (used when the marker cannot be read)
    #[arg(long)]
    pub deadline: u64,
}

#[derive(Debug, Args)]
pub struct FirewallNormalizeArgs {
    #[arg(long, value_enum)]
    pub backend: FirewallLiveBackendArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FirewallBackendArg {
    /// nftables: one `table inet cryptobot`, replaced atomically by `nft -f`
    Nftables,
    /// iptables-restore files for IPv4 and IPv6 (own CRYPTOBOT-* chains)
    Iptables,
    /// A shell script of ufw commands
    Ufw,
    /// A firewalld zone and outbound policy (XML)
    Firewalld,
    /// A macOS pf anchor
    Pf,
    /// A PowerShell script for Windows Defender Firewall
    Windows,
    /// fail2ban jails and filters: failed sign-ins and port scans
    Fail2ban,
}

#[derive(Debug, Args)]
pub struct FirewallRenderArgs {
    /// Backend [default: firewall.backend; auto is nftables on Linux]
    #[arg(long, value_enum)]
    pub backend: Option<FirewallBackendArg>,

    /// Write the files into this existing directory instead of printing them
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// With egress = "allowlist": allow HTTPS to this address instead of resolving
    /// firewall.egress_hosts now (repeatable)
    #[arg(long = "egress-address", value_name = "IP")]
    pub egress_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AssessArgs {
    #[command(subcommand)]
    pub action: Option<AssessCommand>,

    /// Run only these checks: IDs, comma-separated or repeated; `CB-PG-*` selects a group
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Skip these checks (IDs or groups, as for --only)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub skip: Vec<String>,

    /// Exit with status 3 when a finding is at or above this severity (for CI and timers)
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub fail_on: Option<SeverityArg>,

    /// Apply the safe fixes through the plan engine (journaled; `cryptobot rollback` undoes them), then assess again
    #[arg(long)]
    pub fix: bool,

    /// With --fix: show the fixes as a diff and change nothing
    #[arg(long, requires = "fix")]
    pub dry_run: bool,

    /// Colour the text report: auto (when stdout is a terminal and NO_COLOR is unset), always, never
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,

    /// Do not append this run to <home>/data/assess-history.jsonl
    #[arg(long)]
    pub no_history: bool,

    /// Directory of OSV advisories (JSON, one file per advisory, e.g. an unpacked OSV PyPI export) for the dependency check
    #[arg(long, value_name = "DIR")]
    pub advisory_db: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum AssessCommand {
    /// List every check: ID, severity, title
    List,
    /// Show one check: what it looks for, why, and how to fix it
    Explain {
        /// A check ID, e.g. CB-PG-001
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Critical,
    High,
    Medium,
    Low,
    Info,
}
