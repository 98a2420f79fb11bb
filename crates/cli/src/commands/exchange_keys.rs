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

use cryptobot_service::key_access::Access;
use cryptobot_service::key_controls::{
    AddressView, ApprovalView, GrantTarget, GrantView, NewAddress, approver_by_credentials,
};

use crate::cli::{AddressCommand, GrantTargetArgs, KeysCommand, VaultCommand};
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
            | VaultOpError::Conflict(_)
            | VaultOpError::NoGrant { .. }
            | VaultOpError::Forbidden(_) => Failure::input(e.to_string(), hint),
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

fn target(t: &GrantTargetArgs) -> GrantTarget {
    match (&t.user, &t.api_key) {
        (Some(u), _) => GrantTarget::User(u.clone()),
        (None, Some(k)) => GrantTarget::ApiKey(k.clone()),
        // clap requires exactly one.
        (None, None) => GrantTarget::User(String::new()),
    }
}

fn print_grants(ctx: &Context, key: &str, grants: &[GrantView]) {
    if ctx.out.json() {
        println!("{}", json!({"key": key, "grants": grants}));
        return;
    }
    if ctx.out.quiet {
        return;
    }
    println!("{key}: admins and this host's commands may use it; besides them:");
    if grants.is_empty() {
        println!("  nobody (grant with `cryptobot keys grant {key} --user NAME`)");
    }
    for g in grants {
        println!(
            "  {:<8} {:<24} granted {} by {}",
            g.kind,
            g.name.as_deref().unwrap_or(&g.id),
            day(g.granted_at),
            g.granted_by.as_deref().unwrap_or("-")
        );
    }
}

fn print_addresses(ctx: &Context, key: &str, list: &[AddressView]) {
    if ctx.out.json() {
        println!("{}", json!({"key": key, "addresses": list}));
        return;
    }
    if list.is_empty() {
        println!("no withdrawal addresses for {key}; withdrawals are refused");
        return;
    }
    println!(
        "{:<19} {:<44} {:<10} {:<20} LABEL",
        "ID", "ADDRESS", "NETWORK", "USABLE FROM"
    );
    for a in list {
        let usable = match (a.removed_at, a.usable_from) {
            (Some(_), _) => "removed".to_string(),
            (None, Some(t)) => cryptobot_plan::utc_stamps(u64::try_from(t).unwrap_or(0)).1,
            (None, None) => "waits for approval".to_string(),
        };
        println!(
            "{:<19} {:<44} {:<10} {:<20} {}",
            a.id,
            a.address,
            a.network.as_deref().unwrap_or("-"),
            usable,
            a.label.as_deref().unwrap_or("")
        );
    }
}

fn print_approvals(ctx: &Context, list: &[ApprovalView]) {
    if ctx.out.json() {
        println!("{}", json!({"approvals": list}));
        return;
    }
    if list.is_empty() {
        println!("no requests wait for approval");
        return;
    }
    for a in list {
        println!(
            "{}  {:<8} {:<16} {:<19} {} (asked by {}, until {})",
            a.id,
            a.status,
            a.kind,
            a.key,
            a.detail,
            a.requested_by,
            cryptobot_plan::utc_stamps(u64::try_from(a.expires_at).unwrap_or(0)).1
        );
    }
}

/// The approving admin's password and, when given on stdin, their code.
fn approver_secrets(
    admin: &str,
    from_stdin: bool,
) -> Result<(secrecy::SecretString, Option<Zeroizing<String>>), Failure> {
    if from_stdin {
        let mut lines = Vec::new();
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        for _ in 0..2 {
            let mut line = Zeroizing::new(String::new());
            lock.read_line(&mut line)
                .map_err(|e| Failure::input(format!("cannot read standard input: {e}"), None))?;
            lines.push(Zeroizing::new(
                line.trim_end_matches(['\n', '\r']).to_string(),
            ));
        }
        let mut lines = lines.into_iter();
        let password = lines.next().filter(|p| !p.is_empty()).ok_or_else(|| {
            Failure::input(
                "no password on standard input; nothing was approved",
                Some(
                    "pipe the approving admin's password, then their current code on a second line"
                        .to_string(),
                ),
            )
        })?;
        let code = lines.next().filter(|c| !c.is_empty());
        Ok((secrecy::SecretString::from(password.to_string()), code))
    } else {
        let password = prompt_hidden(&format!("Password of {admin}: "), "--password-stdin")?;
        let code = prompted(&format!(
            "Current code of {admin} (authenticator or backup code; Enter if none): "
        ))
        .ok();
        Ok((password, code))
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
    let approver = match cmd {
        KeysCommand::Approve {
            admin,
            password_stdin,
            ..
        } => Some(approver_secrets(admin, *password_stdin)?),
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
            budget: None,
        };
        let who = cli_actor();
        let host = Access::Host;
        let now = now();
        let missing = || Failure::runtime("no credentials were read", None);
        let result = match cmd {
            KeysCommand::Add {
                exchange,
                label,
                permissions,
                ip_note,
                passphrase_in_headers,
                max_signatures_per_minute,
                ..
            } => {
                let meta = NewKeyMeta {
                    exchange: exchange.clone(),
                    label: label.clone(),
                    permissions: permissions.clone(),
                    ip_note: ip_note.clone(),
                    passphrase_in_headers: *passphrase_in_headers,
                    max_signatures_per_minute: *max_signatures_per_minute,
                };
                let creds = creds.as_ref().ok_or_else(missing)?;
                vault
                    .add(&who, &host, &meta, creds, now)
                    .await
                    .map(|k| print_key(ctx, "added", &k))
            }
            KeysCommand::List { all } => vault
                .list(&host, *all, now)
                .await
                .map(|keys| print_list(ctx, &keys)),
            KeysCommand::Rotate { id, .. } => {
                let creds = creds.as_ref().ok_or_else(missing)?;
                vault.rotate(&who, &host, id, creds, now).await.map(|k| {
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
                .revoke(&who, &host, id, now)
                .await
                .map(|k| print_key(ctx, "revoked", &k)),
            KeysCommand::Grant { id, target: t } => vault
                .grant(&who, &host, id, &target(t), now)
                .await
                .map(|g| print_grants(ctx, id, &g)),
            KeysCommand::RevokeGrant { id, target: t } => vault
                .revoke_grant(&who, &host, id, &target(t))
                .await
                .map(|g| print_grants(ctx, id, &g)),
            KeysCommand::Grants { id } => vault
                .grants(&who, &host, id)
                .await
                .map(|g| print_grants(ctx, id, &g)),
            KeysCommand::SetPermissions { id, permissions } => vault
                .set_permissions(&who, &host, id, permissions, now)
                .await
                .map(|k| {
                    print_key(ctx, "permissions set", &k);
                    for r in &k.pending_approvals {
                        if !ctx.out.json() && !ctx.out.quiet {
                            println!("withdraw waits for a second admin: `cryptobot keys approve {r} --as ADMIN`");
                        }
                    }
                }),
            KeysCommand::SetLimit {
                id, per_minute, ..
            } => vault
                .set_limit(&who, &host, id, *per_minute, now)
                .await
                .map(|k| print_key(ctx, "limit set", &k)),
            KeysCommand::Address(AddressCommand::Add {
                id,
                address,
                network,
                memo,
                label,
            }) => {
                let new = NewAddress {
                    address: address.clone(),
                    network: network.clone(),
                    memo: memo.clone(),
                    label: label.clone(),
                };
                vault
                    .add_address(&who, &host, id, &new, now)
                    .await
                    .map(|added| {
                        if ctx.out.json() {
                            println!("{}", json!({"result": "added", "address": added.address, "approval": added.approval}));
                        } else if !ctx.out.quiet {
                            println!("added: {} ({})", added.address.id, added.address.address);
                            match (&added.approval, added.address.usable_from) {
                                (Some(r), _) => println!("it waits for a second admin: `cryptobot keys approve {r} --as ADMIN`; then withdrawals to it are signed after {} h", settings.security.api_keys.withdraw_address_delay_hours),
                                (None, Some(t)) => println!("withdrawals to it are signed from {}", cryptobot_plan::utc_stamps(u64::try_from(t).unwrap_or(0)).1),
                                (None, None) => {}
                            }
                        }
                    })
            }
            KeysCommand::Address(AddressCommand::List { id, all }) => vault
                .addresses(&who, &host, id, *all)
                .await
                .map(|l| print_addresses(ctx, id, &l)),
            KeysCommand::Address(AddressCommand::Remove { id, entry }) => vault
                .remove_address(&who, &host, id, entry, now)
                .await
                .map(|()| {
                    if ctx.out.json() {
                        println!("{}", json!({"result": "removed", "entry": entry}));
                    } else if !ctx.out.quiet {
                        println!("removed: {entry}");
                    }
                }),
            KeysCommand::Approvals { all } => vault
                .approvals(*all, now)
                .await
                .map(|l| print_approvals(ctx, &l)),
            KeysCommand::Approve { request, admin, .. } => {
                let (password, code) = approver.ok_or_else(missing)?;
                let (hasher, _) = cryptobot_service::accounts::peppered_hasher(
                    &ctx.layout,
                    cryptobot_auth::PasswordHasher::owasp(),
                )
                .map_err(|e| Failure::runtime(e.to_string(), Some(e.hint().to_string())))?;
                match approver_by_credentials(
                    &vault,
                    &hasher,
                    &who,
                    admin,
                    password,
                    code.as_deref().map(String::as_str),
                    now,
                )
                .await
                {
                    Ok(access) => vault.approve(&who, &access, request, now).await.map(|a| {
                        if ctx.out.json() {
                            println!("{}", json!({"result": "approved", "approval": a}));
                        } else if !ctx.out.quiet {
                            println!("approved and applied: {} ({} on {}: {})", a.id, a.kind, a.key, a.detail);
                        }
                    }),
                    Err(e) => Err(e),
                }
            }
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
