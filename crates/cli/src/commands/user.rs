//! `cryptobot user …`: account administration from the shell. The same
//! rules and audit records as the HTTP API (see `cryptobot_service::accounts`).

use std::io::{BufRead, Write};

use cryptobot_auth::PasswordHasher;
use cryptobot_service::accounts::{
    AccountError, Accounts, Contained, UserView, load_reset_key, peppered_hasher, policy_from,
};
use cryptobot_service::audit::Who;
use cryptobot_service::clock::now;
use cryptobot_service::store::open_store;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::UserCommand;
use crate::commands::secure_config::prepare_if_needed;
use crate::commands::serve::runtime;
use crate::context::{Context, Failure};

impl From<AccountError> for Failure {
    fn from(e: AccountError) -> Self {
        let hint = match &e {
            AccountError::LastAdmin(_) => Some(
                "`cryptobot user add NAME --role admin` or `cryptobot user set-role NAME admin` first"
                    .to_string(),
            ),
            AccountError::BadUsername => Some("e.g. alice, bob.smith, ops-1".to_string()),
            AccountError::BadRole(_) => None,
            AccountError::NoSuchUser(_) => {
                Some("`cryptobot user list` shows the accounts".to_string())
            }
            AccountError::Exists(_) => {
                Some("choose another name, or manage the existing account".to_string())
            }
            AccountError::Policy(_) | AccountError::Reused(_) => Some(
                "use a long passphrase: several unrelated words with a digit and a symbol"
                    .to_string(),
            ),
            _ => None,
        };
        match e {
            AccountError::Store(_) | AccountError::Hash(_) => Failure::runtime(e.to_string(), hint),
            _ => Failure::input(e.to_string(), hint),
        }
    }
}

/// The audit actor for shell commands: `cli:<login name>`.
pub(crate) fn cli_actor() -> Who {
    let name = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| format!("uid{}", rustix::process::getuid().as_raw()));
    Who {
        actor: Some(format!("cli:{name}")),
        client: None,
    }
}

/// Reads one line from standard input (the password), without the newline.
fn password_from_stdin() -> Result<SecretString, Failure> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::input(
            format!("cannot read the password from standard input: {e}"),
            None,
        )
    })?;
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(Failure::input(
            "no password on standard input",
            Some("pipe the password in, e.g. `printf '%s\\n' \"$PW\" | cryptobot user add NAME --role ROLE --password-stdin`".to_string()),
        ));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Asks on the terminal with echo off.
/// `stdin_flag` names the option that reads the value from stdin instead.
pub(crate) fn prompt_hidden(prompt: &str, stdin_flag: &str) -> Result<SecretString, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            Failure::input(
                format!(
                    "no terminal to ask for it ({})",
                    prompt.trim_end_matches([':', ' '])
                ),
                Some(format!("use {stdin_flag} and pipe the value in")),
            )
        })?;
    let saved = tcgetattr(&tty)
        .map_err(|e| Failure::runtime(format!("cannot read terminal settings: {e}"), None))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    // Echo goes off before the prompt shows, so nothing typed after the
    // prompt can be echoed.
    tcsetattr(&tty, OptionalActions::Now, &quiet)
        .map_err(|e| Failure::runtime(format!("cannot turn off echo: {e}"), None))?;
    let mut out = &tty;
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    let mut line = Zeroizing::new(String::new());
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    let _ = tcsetattr(&tty, OptionalActions::Now, &saved);
    read.map_err(|e| Failure::input(format!("cannot read the password: {e}"), None))?;
    Ok(SecretString::from(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

fn password_twice() -> Result<SecretString, Failure> {
    let first = prompt_hidden("New password: ", "--password-stdin")?;
    let second = prompt_hidden("Repeat it: ", "--password-stdin")?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Failure::input(
            "the two passwords differ; nothing was changed",
            None,
        ));
    }
    if first.expose_secret().is_empty() {
        return Err(Failure::input(
            "the password is empty; nothing was changed",
            None,
        ));
    }
    Ok(first)
}

fn print_contained(c: &Contained) {
    if c.sessions_ended > 0 {
        println!("ended {} session(s)", c.sessions_ended);
    }
    if !c.api_keys_suspended.is_empty() {
        println!(
            "suspended API key(s) {} (`cryptobot apikey reactivate ID` after review)",
            c.api_keys_suspended.join(", ")
        );
    }
}

/// A unix time as UTC text.
fn jiff_time(t: i64) -> String {
    cryptobot_plan::utc_stamps(u64::try_from(t).unwrap_or(0)).1
}

/// A unix time as UTC text, `-` for none.
fn jiff_time_opt(t: Option<i64>) -> String {
    t.map_or_else(|| "-".to_string(), jiff_time)
}

fn print_user(ctx: &Context, verb: &str, view: &UserView) {
    if ctx.out.json() {
        println!("{}", json!({"result": verb, "user": view}));
    } else if !ctx.out.quiet {
        println!(
            "{verb}: {} (role {}{}{})",
            view.username,
            view.role,
            if view.disabled { ", disabled" } else { "" },
            if view.locked { ", locked" } else { "" }
        );
    }
}

pub fn run(ctx: &Context, cmd: &UserCommand) -> Result<(), Failure> {
    if !ctx.root.is_live() {
        return Err(Failure::input(
            "user commands act on this machine's accounts database; --root cannot be used with them",
            Some("leave out --root".to_string()),
        ));
    }
    // A password is read before anything is prepared or opened, so a
    // mistyped password changes nothing.
    let password = match cmd {
        UserCommand::Add { password_stdin, .. } => Some(if *password_stdin {
            password_from_stdin()?
        } else {
            password_twice()?
        }),
        _ => None,
    };
    if let Some(n) = prepare_if_needed(ctx)?
        && !ctx.out.quiet
        && !ctx.out.json()
    {
        println!(
            "prepared {} with secure-config ({n} changes)",
            ctx.layout.home().display()
        );
    }
    let (config, _) = ctx.load_config()?;
    let settings = config.settings().clone();
    let rt = runtime()?;
    rt.block_on(async {
        let store = open_store(&settings, &ctx.layout)
            .await
            .map_err(|e| {
                let hint = e.hint();
                Failure::runtime(e.to_string(), hint)
            })?;
        let (hasher, _) = peppered_hasher(&ctx.layout, PasswordHasher::owasp())
            .map_err(|e| Failure::runtime(e.to_string(), Some(e.hint().to_string())))?;
        let policy = policy_from(&settings);
        let accounts = Accounts {
            store: &store,
            hasher: &hasher,
            policy: &policy,
            settings: &settings,
        };
        let who = cli_actor();
        let result = match cmd {
            UserCommand::Add { name, role, .. } => {
                let password = password.ok_or_else(|| Failure::runtime("no password", None))?;
                let u = accounts.create(&who, name, role, password).await?;
                print_user(ctx, "created", &UserView::of(u, now()));
                Ok(())
            }
            UserCommand::List => {
                let users = accounts.review().await?;
                if ctx.out.json() {
                    println!("{}", json!({"users": users}));
                } else if users.is_empty() {
                    println!("no accounts yet: `cryptobot user add NAME --role admin` creates one");
                } else {
                    println!(
                        "{:<20} {:<8} {:<4} {:<9} {:<20} {:>6} {:>8} {:>4} {:>9}",
                        "USER", "ROLE", "MFA", "STATE", "LAST USED", "PW AGE", "SESSIONS", "KEYS", "IDLE DAYS"
                    );
                    for u in users {
                        let state = match (u.disabled, u.locked) {
                            (true, _) => "disabled",
                            (false, true) => "locked",
                            _ => "active",
                        };
                        let mfa = if u.mfa_enabled { "on" } else { "off" };
                        println!(
                            "{:<20} {:<8} {mfa:<4} {state:<9} {:<20} {:>5}d {:>8} {:>4} {:>9}",
                            u.username,
                            u.role,
                            jiff_time_opt(u.last_used_at),
                            u.password_age_days,
                            u.active_sessions,
                            u.active_api_keys,
                            u.days_since_last_use
                        );
                    }
                }
                Ok(())
            }
            UserCommand::Delete { name } => {
                let (pseudonym, d) = accounts.delete(&who, name).await?;
                if ctx.out.json() {
                    println!("{}", json!({"result": "deleted", "user": name, "pseudonym": pseudonym, "sessions": d.sessions, "api_keys": d.api_keys, "grants": d.grants, "audit_records_pseudonymised": d.audit_records}));
                } else if !ctx.out.quiet {
                    println!(
                        "deleted {name}: {} session(s), {} API key(s), {} grant(s); {} audit record(s) now name {pseudonym}",
                        d.sessions, d.api_keys, d.grants, d.audit_records
                    );
                }
                Ok(())
            }
            UserCommand::Disable { name } => {
                let u = accounts.set_disabled(&who, name, true).await?;
                print_user(ctx, "disabled", &UserView::of(u, now()));
                if !ctx.out.quiet && !ctx.out.json() {
                    println!("their sessions ended and their API keys are suspended (`cryptobot apikey reactivate ID` after review)");
                }
                Ok(())
            }
            UserCommand::Enable { name } => {
                let u = accounts.set_disabled(&who, name, false).await?;
                print_user(ctx, "enabled", &UserView::of(u, now()));
                Ok(())
            }
            UserCommand::SetRole { name, role } => {
                let u = accounts.set_role(&who, name, role).await?;
                print_user(ctx, "role changed", &UserView::of(u, now()));
                Ok(())
            }
            UserCommand::ResetMfa { name } => {
                let (had, c) = accounts.reset_mfa(&who, name).await?;
                if ctx.out.json() {
                    println!("{}", json!({"result": "mfa_reset", "user": name, "was_enabled": had, "sessions_ended": c.sessions_ended, "api_keys_suspended": c.api_keys_suspended}));
                } else if !ctx.out.quiet {
                    if had {
                        println!("removed the MFA of {name}; they sign in with the password and can enroll again");
                    } else {
                        println!("{name} had no MFA; nothing to remove");
                    }
                    print_contained(&c);
                }
                Ok(())
            }
            UserCommand::ResetPassword { name } => {
                let key = load_reset_key(&ctx.layout).map_err(|e| {
                    Failure::runtime(e.to_string(), Some(e.hint().to_string()))
                })?;
                let issued = accounts.issue_reset(&who, name, &key).await?;
                let until = jiff_time(issued.expires_at);
                if ctx.out.json() {
                    println!("{}", json!({"result": "reset_issued", "user": issued.username, "reset_token": issued.token.expose_secret(), "expires_at": issued.expires_at}));
                } else {
                    println!("password-reset token for {} (works once, until {until}):", issued.username);
                    println!("{}", issued.token.expose_secret());
                    println!("give it to them over a trusted channel; they set a new password with POST /api/v1/auth/password-reset");
                }
                Ok(())
            }
            UserCommand::EndSessions { name } => {
                let ended = accounts.end_sessions(&who, name, None, "ended_by_admin").await?;
                if ctx.out.json() {
                    println!("{}", json!({"result": "sessions_ended", "user": name, "sessions_ended": ended.len()}));
                } else if !ctx.out.quiet {
                    println!("ended {} session(s) of {name}; their refresh tokens no longer work", ended.len());
                }
                Ok(())
            }
            UserCommand::Unlock { name } => {
                let u = accounts.unlock(&who, name).await?;
                print_user(ctx, "unlocked", &UserView::of(u, now()));
                Ok(())
            }
        };
        store.close().await;
        result
    })
}
