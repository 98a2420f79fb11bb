//! `cryptobot keys …` (exchange API keys in the vault) and `cryptobot
//! vault …` (its master key). The same rules and audit records as the HTTP
//! API (see `cryptobot_service::exchange_keys`).

use std::io::BufRead;

use cryptobot_service::audit::record_audit;
use cryptobot_service::clock::now;
use cryptobot_service::exchange_keys::{
    ExchangeKeyView, NewCredentials, NewKeyMeta, Vault, VaultKeys, VaultOpError,
};
use cryptobot_store::Store;
use secrecy::ExposeSecret;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{KeysCommand, VaultCommand};
use crate::commands::installation;
use crate::commands::user::{cli_actor, prompt_hidden};
use crate::context::{Context, Failure};

impl From<VaultOpError> for Failure {
    fn from(e: VaultOpError) -> Self {
        let hint = e.hint();
        match e {
            VaultOpError::Invalid(_)
            | VaultOpError::NotFound(_)
            | VaultOpError::Revoked(_)
            | VaultOpError::Conflict(_) => Failure::input(e.to_string(), hint),
            _ => Failure::runtime(e.to_string(), hint),
        }
    }
}

/// Reads up to `n` lines from standard input (secret, then passphrase).
fn stdin_lines(n: usize) -> Result<Vec<Zeroizing<String>>, Failure> {
    let mut out = Vec::with_capacity(n);
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    for what in ["secret", "passphrase"].into_iter().take(n) {
        let mut line = Zeroizing::new(String::new());
        lock.read_line(&mut line).map_err(|e| {
            Failure::input(
                format!("cannot read the {what} from standard input: {e}"),
                None,
            )
        })?;
        let value = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
        if value.is_empty() {
            return Err(Failure::input(
                format!("no {what} on standard input; nothing was stored"),
                Some("pipe it in, one value per line: secret first, then the passphrase (with --with-passphrase)".to_string()),
            ));
        }
        out.push(value);
    }
    Ok(out)
}

fn prompted(prompt: &str) -> Result<Zeroizing<String>, Failure> {
    let value = prompt_hidden(prompt, "--secret-stdin")?;
    let value = Zeroizing::new(value.expose_secret().to_string());
    if value.is_empty() {
        return Err(Failure::input(
            "nothing was typed; nothing was stored",
            None,
        ));
    }
    Ok(value)
}

/// Secret and passphrase, from stdin or asked without echo.
fn read_credentials(
    api_key: &str,
    from_stdin: bool,
    with_passphrase: bool,
) -> Result<NewCredentials, Failure> {
    let (secret, passphrase) = if from_stdin {
        let mut lines = stdin_lines(if with_passphrase { 2 } else { 1 })?.into_iter();
        let secret = lines
            .next()
            .ok_or_else(|| Failure::input("no secret on standard input", None))?;
        (secret, lines.next())
    } else {
        let secret = prompted("Secret key: ")?;
        let passphrase = if with_passphrase {
            Some(prompted("Passphrase: ")?)
        } else {
            None
        };
        (secret, passphrase)
    };
    Ok(NewCredentials {
        api_key: Zeroizing::new(api_key.to_string()),
        secret,
        passphrase,
    })
}

/// `yyyy-mm-dd` of a unix time.
fn day(t: i64) -> String {
    let rfc3339 = cryptobot_plan::utc_stamps(u64::try_from(t).unwrap_or(0)).1;
    rfc3339.chars().take(10).collect()
}

fn print_key(ctx: &Context, verb: &str, k: &ExchangeKeyView) {
    if ctx.out.json() {
        println!("{}", json!({"result": verb, "key": k}));
    } else if !ctx.out.quiet {
        println!(
            "{verb}: {} ({} {}, {}, version {}, permissions {})",
            k.id,
            k.exchange,
            k.label,
            k.fingerprint,
            k.version,
            k.permissions.join(",")
        );
    }
}

fn print_list(ctx: &Context, keys: &[ExchangeKeyView]) {
    if ctx.out.json() {
        println!("{}", json!(keys));
        return;
    }
    if keys.is_empty() {
        println!("no exchange keys; add one with `cryptobot keys add`");
        return;
    }
    println!(
        "{:<19} {:<9} {:<16} {:<19} {:<11} {:>4} {:<15} PERMISSIONS",
        "ID", "EXCHANGE", "LABEL", "FINGERPRINT", "CREATED", "AGE", "ROTATION"
    );
    for k in keys {
        let rotation = if k.revoked_at.is_some() {
            "revoked".to_string()
        } else if k.rotation_due {
            "DUE".to_string()
        } else {
            format!("by {}", day(k.rotation_due_at))
        };
        println!(
            "{:<19} {:<9} {:<16} {:<19} {:<11} {:>3}d {:<15} {}",
            k.id,
            k.exchange,
            k.label,
            k.fingerprint,
            day(k.created_at),
            k.age_days,
            rotation,
            k.permissions.join(",")
        );
    }
    let due = keys.iter().filter(|k| k.rotation_due).count();
    if due > 0 {
        println!(
            "{due} key(s) are due for rotation: create new keys on the exchange, then `cryptobot keys rotate ID --api-key NEW`"
        );
    }
}

fn load_keys(ctx: &Context) -> Result<VaultKeys, Failure> {
    VaultKeys::load(&ctx.layout).map_err(|e| {
        let hint = e.hint().to_string();
        Failure::input(e.to_string(), Some(hint))
    })
}

pub fn run(ctx: &Context, cmd: &KeysCommand) -> Result<(), Failure> {
    installation::require_live(ctx, "keys")?;
    // Secrets are read before anything is prepared or opened, so a typo
    // in them changes nothing.
    let creds = match cmd {
        KeysCommand::Add {
            api_key,
            secret_stdin,
            with_passphrase,
            ..
        }
        | KeysCommand::Rotate {
            api_key,
            secret_stdin,
            with_passphrase,
            ..
        } => Some(read_credentials(api_key, *secret_stdin, *with_passphrase)?),
        _ => None,
    };
    let (settings, rt) = installation::prepare(ctx)?;
    let keys = load_keys(ctx)?;
    rt.block_on(async {
        let store = installation::open_store(ctx, &settings).await?;
        cryptobot_service::exchange_keys::check_ring(&store, &keys)
            .await
            .map_err(|e| {
                let hint = e.hint().to_string();
                Failure::input(e.to_string(), Some(hint))
            })?;
        let vault = Vault {
            store: &store,
            keys: &keys,
            settings: &settings,
            batcher: None,
        };
        let who = cli_actor();
        let missing = || Failure::runtime("no credentials were read", None);
        let result = match cmd {
            KeysCommand::Add {
                exchange,
                label,
                permissions,
                ip_note,
                ..
            } => {
                let meta = NewKeyMeta {
                    exchange: exchange.clone(),
                    label: label.clone(),
                    permissions: permissions.clone(),
                    ip_note: ip_note.clone(),
                };
                let creds = creds.as_ref().ok_or_else(missing)?;
                vault
                    .add(&who, &meta, creds, now())
                    .await
                    .map(|k| print_key(ctx, "added", &k))
            }
            KeysCommand::List { all } => vault
                .list(*all, now())
                .await
                .map(|keys| print_list(ctx, &keys)),
            KeysCommand::Rotate { id, .. } => {
                let creds = creds.as_ref().ok_or_else(missing)?;
                vault.rotate(&who, id, creds, now()).await.map(|k| {
                    print_key(ctx, "rotated", &k);
                    if !ctx.out.json() && !ctx.out.quiet {
                        println!(
                            "the previous credentials keep signing for {} h, then are destroyed; revoke the old key on the exchange after that",
                            settings.security.api_keys.rotation_grace_hours
                        );
                    }
                })
            }
            KeysCommand::Revoke { id } => vault
                .revoke(&who, id, now())
                .await
                .map(|k| print_key(ctx, "revoked", &k)),
        };
        store.close().await;
        result.map_err(Failure::from)
    })
}

pub fn vault(ctx: &Context, cmd: &VaultCommand) -> Result<(), Failure> {
    installation::require_live(ctx, "vault")?;
    let (settings, rt) = installation::prepare(ctx)?;
    let keys = load_keys(ctx)?;
    rt.block_on(async {
        let store = installation::open_store(ctx, &settings).await?;
        let result = vault_with(ctx, cmd, &store, &keys).await;
        store.close().await;
        result
    })
}

async fn vault_with(
    ctx: &Context,
    cmd: &VaultCommand,
    store: &Store,
    keys: &VaultKeys,
) -> Result<(), Failure> {
    let who = cli_actor();
    match cmd {
        VaultCommand::Status => {
            let usage = store
                .vault_master_usage()
                .await
                .map_err(VaultOpError::from)?;
            let ring = keys.ring();
            if ctx.out.json() {
                println!(
                    "{}",
                    json!({
                        "key_file": keys.path(),
                        "versions": ring.versions(),
                        "current": ring.current(),
                        "records_by_master_version": usage.iter().map(|(v, n)| json!({"version": v, "records": n})).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!("key file: {}", keys.path().display());
                println!(
                    "master key versions: {:?} (current {})",
                    ring.versions(),
                    ring.current()
                );
                for (v, n) in &usage {
                    println!("  version {v}: {n} sealed secret(s)");
                }
                if usage.is_empty() {
                    println!("  no sealed secrets yet");
                }
            }
            Ok(())
        }
        VaultCommand::Verify => {
            let (ok, bad) = cryptobot_service::exchange_keys::verify_all(store, keys).await?;
            if ctx.out.json() {
                println!("{}", json!({"opened": ok, "failed": bad}));
            } else if !ctx.out.quiet {
                println!("{ok} sealed secret(s) open with {}", keys.path().display());
                for id in &bad {
                    println!("does not open: {id}");
                }
            }
            if bad.is_empty() {
                Ok(())
            } else {
                Err(Failure::runtime(
                    format!("{} sealed secret(s) do not open", bad.len()),
                    Some("restore the vault_master.key that belongs to this database from your backup".to_string()),
                ))
            }
        }
        VaultCommand::RotateMaster => {
            let report =
                cryptobot_service::exchange_keys::rotate_master(store, keys.path()).await?;
            record_audit(
                store,
                "vault_master_rotated",
                &who,
                None,
                if report.still_used.is_empty() { "success" } else { "partial" },
                json!({"current": report.current, "rewrapped": report.rewrapped, "retired": report.retired, "resumed": report.resumed}),
            )
            .await;
            if ctx.out.json() {
                println!("{}", json!(report));
            } else if !ctx.out.quiet {
                if report.resumed {
                    println!("resumed an interrupted rotation");
                }
                println!(
                    "master key version {} now wraps every secret ({} rewrapped)",
                    report.current, report.rewrapped
                );
                if !report.retired.is_empty() {
                    println!("retired versions: {:?}", report.retired);
                }
                for (v, n) in &report.still_used {
                    println!(
                        "version {v} is still used by {n} secret(s) written meanwhile: run `cryptobot vault rotate-master` again"
                    );
                }
                println!(
                    "back up {} now, together with the database; restart `cryptobot serve` if it reads the key as a systemd credential",
                    keys.path().display()
                );
            }
            Ok(())
        }
    }
}
