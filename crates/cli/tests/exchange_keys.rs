//! `cryptobot keys` and `cryptobot vault` as an operator runs them: keys
//! added from stdin and listed without secrets, a master key rotation that
//! survives SIGKILL at random moments, and a wrong master key that fails
//! closed.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use cryptobot_config::{Config, Layout};
use cryptobot_service::exchange_keys::{NewCredentials, NewKeyMeta, Vault, VaultKeys};
use cryptobot_service::key_access::Access;
use cryptobot_service::{audit::Who, clock::now};
use serde_json::Value;
use zeroize::Zeroizing;

const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn home_arg(home: &Path) -> String {
    home.to_str().expect("utf-8").to_string()
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr))
}

#[test]
fn keys_from_stdin_listed_rotated_revoked_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_arg(dir.path());
    let add = cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "binance",
            "--label",
            "main",
            "--api-key",
            "api-key-for-tests-01",
            "--permissions",
            "read,trade",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{SECRET}\n"),
    )
    .ok();
    assert!(add.stdout.contains("added: xk_"), "{}", add.stdout);
    assert!(!add.both().contains(SECRET));

    let list = on_home(dir.path(), &["keys", "list", "--format", "json"]).ok();
    let keys = json_of(&list);
    let id = keys[0]["id"].as_str().expect("id").to_string();
    assert_eq!(keys[0]["exchange"], "binance");
    assert_eq!(keys[0]["permissions"], serde_json::json!(["read", "trade"]));
    assert!(!list.both().contains(SECRET) && !list.both().contains("api-key-for-tests-01"));
    let table = on_home(dir.path(), &["keys", "list"]).ok();
    assert!(table.stdout.contains("FINGERPRINT") && table.stdout.contains(&id));

    // Withdraw-enabled keys are refused with the setting that allows them.
    let refused = cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "binance",
            "--label",
            "w",
            "--api-key",
            "api-key-w-0001",
            "--permissions",
            "read,withdraw",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{SECRET}\n"),
    );
    assert_eq!(refused.status, 2, "{}", refused.both());
    assert!(
        refused.stderr.contains("allow_withdraw_keys"),
        "{}",
        refused.stderr
    );
    // `account-admin` is a declarable permission (the signing policy
    // refuses API-key and sub-account management to every other key).
    let admin = cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "binance",
            "--label",
            "admin",
            "--api-key",
            "api-key-admin-0001",
            "--permissions",
            "account-admin,read",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{SECRET}\n"),
    )
    .ok();
    assert!(
        admin.stdout.contains("permissions read,account-admin"),
        "{}",
        admin.stdout
    );
    let unknown = cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "binance",
            "--label",
            "admin2",
            "--api-key",
            "api-key-admin-0002",
            "--permissions",
            "admin",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{SECRET}\n"),
    );
    assert_eq!(unknown.status, 2, "{}", unknown.both());
    assert!(
        unknown.stderr.contains("account-admin"),
        "{}",
        unknown.stderr
    );
    // Nothing on stdin: one clear error, nothing stored.
    let empty = cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "kraken",
            "--label",
            "k",
            "--api-key",
            "api-key-k-0001",
            "--permissions",
            "read",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        "",
    );
    assert_eq!(empty.status, 2);
    assert!(
        empty.stderr.contains("no secret on standard input"),
        "{}",
        empty.stderr
    );
    assert_eq!(
        json_of(&on_home(dir.path(), &["keys", "list", "--format", "json"]))
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let rotated = cryptobot_io(
        &[
            "keys",
            "rotate",
            &id,
            "--api-key",
            "api-key-for-tests-02",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{}\n", SECRET.replace('N', "M")),
    )
    .ok();
    assert!(rotated.stdout.contains("version 2"), "{}", rotated.stdout);
    on_home(dir.path(), &["keys", "revoke", &id]).ok();
    let again = on_home(dir.path(), &["keys", "revoke", &id]);
    assert_eq!(again.status, 2);
    assert!(again.stderr.contains("revoked"), "{}", again.stderr);
    let unknown = on_home(dir.path(), &["keys", "revoke", "xk_missing"]);
    assert_eq!(unknown.status, 2);
    assert!(unknown.stderr.contains("keys list"), "{}", unknown.stderr);

    // The SQLite dump holds none of it.
    let dump = Command::new("sqlite3")
        .arg(dir.path().join("data/cryptobot.db"))
        .arg(".dump")
        .output()
        .expect("sqlite3 (Debian package sqlite3)");
    assert!(dump.status.success());
    for needle in [SECRET, "api-key-for-tests-01", "api-key-for-tests-02"] {
        assert!(
            !contains(&dump.stdout, needle.as_bytes()),
            "{needle} in the dump"
        );
    }
}

/// Stores `n` exchange keys through the library, as the service would.
fn populate(home: &Path, n: usize) {
    let layout = Layout::new(home);
    let config = Config::load(&layout.config_file(), &layout.config_file(), &[]).expect("config");
    let settings = config.settings().clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = cryptobot_service::store::open_store(&settings, &layout)
            .await
            .expect("store");
        let keys = VaultKeys::load_from(layout.secret("vault_master.key")).expect("keys");
        let vault = Vault {
            store: &store,
            keys: &keys,
            settings: &settings,
            batcher: None,
            budget: None,
        };
        for i in 0..n {
            let meta = NewKeyMeta {
                exchange: "binance".into(),
                label: format!("k{i:04}"),
                permissions: vec!["read".into()],
                ip_note: None,
                passphrase_in_headers: false,
                max_signatures_per_minute: None,
            };
            let creds = NewCredentials {
                api_key: Zeroizing::new(format!("api-key-{i:06}")),
                secret: Zeroizing::new(format!("{SECRET}{i:06}")),
                passphrase: None,
            };
            vault
                .add(&Who::default(), &Access::Host, &meta, &creds, now())
                .await
                .expect("add");
        }
        store.close().await;
    });
}

/// A small deterministic generator (xorshift64*), seeded per run and
/// printed, so a failing schedule can be replayed with `VAULT_CRASH_SEED`.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn verify_all_open(home: &Path, n: u64) {
    let run = on_home(home, &["vault", "verify", "--format", "json"]);
    let v = json_of(&run);
    assert_eq!(run.status, 0, "{}", run.both());
    assert_eq!(v["opened"], n, "{v}");
    assert_eq!(v["failed"], serde_json::json!([]));
}

#[test]
fn rotate_master_survives_sigkill_at_random_moments() {
    const SECRETS: u64 = 1000;
    const KILLS: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    on_home(dir.path(), &["vault", "status"]).ok();
    populate(dir.path(), SECRETS as usize);
    verify_all_open(dir.path(), SECRETS);

    // One undisturbed rotation measures how long a run takes.
    let started = Instant::now();
    let first = on_home(dir.path(), &["vault", "rotate-master", "--format", "json"]).ok();
    let full = started.elapsed();
    let report = json_of(&first);
    assert_eq!(report["rewrapped"], SECRETS, "{report}");
    assert_eq!(report["retired"], serde_json::json!([1]));

    let seed = std::env::var("VAULT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) << 20 | 0x9e37);
    eprintln!("VAULT_CRASH_SEED={seed} (one run: {full:?})");
    let mut rng = Rng(seed | 1);
    // Each kill lands at a random moment of a run's measured length; runs
    // that finish before the kill do not count, so the loop goes on until
    // KILLS runs died in flight.
    let mut window = full;
    let (mut attempts, mut killed, mut interrupted) = (0, 0, 0);
    while killed < KILLS {
        attempts += 1;
        assert!(
            attempts <= 100,
            "only {killed} of {attempts} kills landed in a run"
        );
        let delay = Duration::from_micros(rng.next() % (window.as_micros() as u64).max(1));
        let mut child = Command::new(env!("CARGO_BIN_EXE_cryptobot"))
            .args(["vault", "rotate-master", "--home", &home_arg(dir.path())])
            .env_remove("CRYPTOBOT_VAULT_KEY_FILE")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        let died = status.code().is_none();
        killed += usize::from(died);
        eprintln!("attempt {attempts}: SIGKILL after {delay:?} ({status})");
        // Whatever the moment, every secret still opens …
        verify_all_open(dir.path(), SECRETS);
        // … and a re-run completes and leaves one version.
        let started = Instant::now();
        let rerun =
            json_of(&on_home(dir.path(), &["vault", "rotate-master", "--format", "json"]).ok());
        window = started.elapsed();
        if rerun["resumed"] == true {
            interrupted += 1;
            assert!(rerun["rewrapped"].as_u64().expect("count") <= SECRETS);
        }
        assert_eq!(rerun["still_used"], serde_json::json!([]), "{rerun}");
        let status = json_of(&on_home(dir.path(), &["vault", "status", "--format", "json"]).ok());
        assert_eq!(
            status["versions"].as_array().map(Vec::len),
            Some(1),
            "{status}"
        );
        verify_all_open(dir.path(), SECRETS);
    }
    // No copy of the key ring is left behind by a killed run.
    let strays: Vec<String> = std::fs::read_dir(dir.path().join("config/secrets"))
        .expect("secrets dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new-"))
        .collect();
    assert!(strays.is_empty(), "left behind: {strays:?}");
    // Some kills must have hit a rotation after its new key was written
    // (the re-run resumed it), or the test proved little.
    eprintln!("{killed} kills in {attempts} attempts; {interrupted} left a rotation to resume");
    assert!(
        interrupted >= 3,
        "only {interrupted} kills landed inside a rotation"
    );
}

#[test]
fn a_wrong_master_key_fails_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_arg(dir.path());
    cryptobot_io(
        &[
            "keys",
            "add",
            "--exchange",
            "binance",
            "--label",
            "main",
            "--api-key",
            "api-key-for-tests-01",
            "--permissions",
            "read",
            "--secret-stdin",
            "--home",
            &home,
        ],
        &[],
        &format!("{SECRET}\n"),
    )
    .ok();
    let other = dir.path().join("other.key");
    std::fs::write(&other, [0x42u8, 0x17].repeat(16)).expect("write");
    let other = other.to_str().expect("utf-8");
    let list = cryptobot_env(
        &["keys", "list", "--home", &home],
        &[("CRYPTOBOT_VAULT_KEY_FILE", other)],
    );
    assert_eq!(list.status, 2, "{}", list.both());
    assert!(
        list.stderr.contains(other) && list.stderr.contains("restore"),
        "{}",
        list.stderr
    );
    let verify = cryptobot_env(
        &["vault", "verify", "--home", &home],
        &[("CRYPTOBOT_VAULT_KEY_FILE", other)],
    );
    assert_eq!(verify.status, 1, "{}", verify.both());
    assert!(verify.both().contains("do not open"), "{}", verify.both());
    // A damaged key file is named, with what is wrong.
    std::fs::write(dir.path().join("bad.key"), b"short").expect("write");
    let bad = cryptobot_env(
        &["vault", "status", "--home", &home],
        &[(
            "CRYPTOBOT_VAULT_KEY_FILE",
            dir.path().join("bad.key").to_str().expect("utf-8"),
        )],
    );
    assert_eq!(bad.status, 2, "{}", bad.both());
    assert!(
        bad.stderr.contains("bad.key") && bad.stderr.contains("5 bytes"),
        "{}",
        bad.stderr
    );
}

const PW: &str = "Sturdy-Lantern-Quartz-81";
const WITHDRAW_ON: (&str, &str) = ("CRYPTOBOT_SECURITY__API_KEYS__ALLOW_WITHDRAW_KEYS", "true");

fn keys(home: &str, args: &[&str], input: &str) -> Run {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend(["--home", home]);
    cryptobot_io(&all, &[WITHDRAW_ON], input)
}

#[test]
fn grants_addresses_and_a_second_admins_approval_from_the_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_arg(dir.path());
    for (name, role) in [("ada", "admin"), ("bob", "admin"), ("tina", "trader")] {
        cryptobot_io(
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--password-stdin",
                "--home",
                &home,
            ],
            &[],
            &format!("{PW}\n"),
        )
        .ok();
    }
    let add = keys(
        &home,
        &[
            "add",
            "--exchange",
            "binance",
            "--label",
            "funds",
            "--api-key",
            "api-key-for-tests-01",
            "--permissions",
            "read,withdraw",
            "--secret-stdin",
            "--format",
            "json",
        ],
        &format!("{SECRET}\n"),
    )
    .ok();
    let key = &json_of(&add)["key"];
    let id = key["id"].as_str().expect("id").to_string();
    // Two admins: withdraw waits for one of them.
    assert_eq!(key["permissions"], serde_json::json!(["read"]));
    let request = key["pending_approvals"][0]
        .as_str()
        .expect("request")
        .to_string();
    let pending = keys(&home, &["approvals"], "").ok();
    assert!(
        pending.stdout.contains(&request) && pending.stdout.contains("permissions read,withdraw"),
        "{}",
        pending.stdout
    );

    // A wrong password approves nothing.
    let wrong = keys(
        &home,
        &["approve", &request, "--as", "bob", "--password-stdin"],
        "not-the-password\n\n",
    );
    assert_eq!(wrong.status, 2, "{}", wrong.both());
    assert!(!wrong.both().contains("not-the-password"));
    // A trader cannot approve.
    let trader = keys(
        &home,
        &["approve", &request, "--as", "tina", "--password-stdin"],
        &format!("{PW}\n\n"),
    );
    assert_eq!(trader.status, 2, "{}", trader.both());
    let ok = keys(
        &home,
        &["approve", &request, "--as", "bob", "--password-stdin"],
        &format!("{PW}\n\n"),
    )
    .ok();
    assert!(ok.stdout.contains("approved and applied"), "{}", ok.stdout);
    assert!(!ok.both().contains(PW));
    let list = keys(&home, &["list", "--format", "json"], "").ok();
    assert_eq!(
        json_of(&list)[0]["permissions"],
        serde_json::json!(["read", "withdraw"])
    );

    // Grants: by name, listed, withdrawn; an unknown user is one clear error.
    let g = keys(&home, &["grant", &id, "--user", "tina"], "").ok();
    assert!(g.stdout.contains("tina"), "{}", g.stdout);
    let unknown = keys(&home, &["grant", &id, "--user", "nobody"], "");
    assert_eq!(unknown.status, 2);
    assert!(
        unknown.stderr.contains("no such user"),
        "{}",
        unknown.stderr
    );
    let both = keys(
        &home,
        &["grant", &id, "--user", "tina", "--api-key", "ak_1"],
        "",
    );
    assert_eq!(both.status, 2, "exactly one grantee: {}", both.both());
    keys(&home, &["revoke-grant", &id, "--user", "tina"], "").ok();
    let g = keys(&home, &["grants", &id, "--format", "json"], "").ok();
    assert_eq!(json_of(&g)["grants"], serde_json::json!([]));

    // An address waits for approval, then for the delay.
    let a = keys(
        &home,
        &[
            "address",
            "add",
            &id,
            "--address",
            "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
            "--network",
            "BTC",
        ],
        "",
    )
    .ok();
    assert!(
        a.stdout.contains("waits for a second admin"),
        "{}",
        a.stdout
    );
    let listed = keys(&home, &["address", "list", &id], "").ok();
    assert!(
        listed.stdout.contains("waits for approval"),
        "{}",
        listed.stdout
    );
    let pending = keys(&home, &["approvals", "--format", "json"], "").ok();
    let request = json_of(&pending)["approvals"][0]["id"]
        .as_str()
        .expect("request")
        .to_string();
    keys(
        &home,
        &["approve", &request, "--as", "ada", "--password-stdin"],
        &format!("{PW}\n\n"),
    )
    .ok();
    let listed = keys(&home, &["address", "list", &id, "--format", "json"], "").ok();
    let book = json_of(&listed);
    assert!(
        book["addresses"][0]["usable_from"].as_i64().is_some(),
        "{book}"
    );
    // A limit out of range changes nothing.
    let bad = keys(&home, &["set-limit", &id, "--per-minute", "0"], "");
    assert_eq!(bad.status, 2, "{}", bad.both());
    keys(&home, &["set-limit", &id, "--per-minute", "1200"], "").ok();
}
