//! `cryptobot apikey …`: service API keys from the shell, on this
//! installation's database. The same rules and audit records as the HTTP
//! API (see `cryptobot_service::api_keys`); the operator acts as
//! `cli:<login>`. Whoever can run this can read the database anyway, so
//! the second-factor rule of the API does not apply here.
//!
//! Without `--user`, `create` gives the key to the installation's only
//! administrator; with several (or none) it asks for `--user`.

use cryptobot_service::api_keys::{
    IssuedKey, ServiceKeyError, ServiceKeyView, ServiceKeys, parse_scopes,
};
use cryptobot_service::clock::now;
use cryptobot_store::{Store, User};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::cli::ApikeyCommand;
use crate::commands::installation;
use crate::commands::user::cli_actor;
use crate::context::{Context, Failure};

impl From<ServiceKeyError> for Failure {
    fn from(e: ServiceKeyError) -> Self {
        let hint = match &e {
            ServiceKeyError::BadName => Some("e.g. --name strategy".to_string()),
            ServiceKeyError::NoScopes | ServiceKeyError::UnknownScope(_) => {
                Some("e.g. --scopes trade:execute,trade:read".to_string())
            }
            ServiceKeyError::ScopeBeyondRole { .. } => Some(
                "leave that scope out, or give the key to an account whose role has it"
                    .to_string(),
            ),
            ServiceKeyError::BadLifetime { .. } => Some("e.g. --expires 90d or --expires 12h".to_string()),
            ServiceKeyError::LimitReached { .. } => Some(
                "revoke an unused key (`cryptobot apikey list`, then `cryptobot apikey revoke ID`) or raise security.api_keys.max_keys_per_user"
                    .to_string(),
            ),
            ServiceKeyError::NoSuchKey(_) => {
                Some("`cryptobot apikey list` shows the key ids".to_string())
            }
            ServiceKeyError::Inactive(_) => {
                Some("create a new key with `cryptobot apikey create`".to_string())
            }
            ServiceKeyError::Random(_) | ServiceKeyError::Store(_) => None,
        };
        match e {
            ServiceKeyError::Store(_) | ServiceKeyError::Random(_) => {
                Failure::runtime(e.to_string(), hint)
            }
            _ => Failure::input(e.to_string(), hint),
        }
    }
}

/// Parses a lifetime: `<N>d` (days) or `<N>h` (hours), in seconds.
pub fn parse_duration(text: &str) -> Result<i64, Failure> {
    let bad = || {
        Failure::input(
            format!(
                "invalid duration `{}`: use <N>d or <N>h",
                text.chars().take(32).collect::<String>()
            ),
            Some("e.g. --expires 90d or --expires 12h".to_string()),
        )
    };
    let t = text.trim();
    let Some((at, unit)) = t.char_indices().last() else {
        return Err(bad());
    };
    let digits = &t[..at];
    let per = match unit {
        'd' | 'D' => 86_400,
        'h' | 'H' => 3_600,
        _ => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 7 {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    Ok(n * per)
}

fn store_failure(e: cryptobot_store::StoreError) -> Failure {
    Failure::runtime(e.to_string(), None)
}

async fn user_named(store: &Store, name: &str) -> Result<User, Failure> {
    store
        .user_by_name(name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            Failure::input(
                format!(
                    "no user named `{}`",
                    name.chars().take(64).collect::<String>()
                ),
                Some("`cryptobot user list` shows the accounts".to_string()),
            )
        })
}

/// The owner of a new key: `--user`, or the only administrator.
async fn owner(store: &Store, user: Option<&str>) -> Result<User, Failure> {
    if let Some(name) = user {
        return user_named(store, name).await;
    }
    let admins: Vec<User> = store
        .list_users()
        .await
        .map_err(store_failure)?
        .into_iter()
        .filter(|u| u.role == "admin" && !u.disabled)
        .collect();
    match <[User; 1]>::try_from(admins) {
        Ok([only]) => Ok(only),
        Err(admins) => Err(Failure::input(
            format!(
                "say whose key this is: the installation has {} enabled administrators",
                admins.len()
            ),
            Some("add --user NAME (`cryptobot user list` shows the accounts)".to_string()),
        )),
    }
}

fn when(t: Option<i64>) -> String {
    match t {
        Some(t) => cryptobot_plan::utc_stamps(u64::try_from(t).unwrap_or(0)).1,
        None => "-".to_string(),
    }
}

fn print_issued(ctx: &Context, verb: &str, k: &IssuedKey) {
    let view = ServiceKeyView::of(&k.record, now());
    if ctx.out.json() {
        println!(
            "{}",
            json!({"result": verb, "key": k.key.expose_secret(), "api_key": view})
        );
        return;
    }
    // The key alone on stdout, so `KEY=$(cryptobot apikey create …)` works;
    // the rest goes to stderr.
    println!("{}", k.key.expose_secret());
    if !ctx.out.quiet {
        eprintln!(
            "{verb} API key {} ({}) for {}: scopes {}, expires {}",
            view.id,
            view.name,
            view.owner,
            view.scopes.join(","),
            when(view.expires_at)
        );
        if let Some(until) = view.previous_valid_until {
            eprintln!(
                "the previous secret keeps working until {}",
                when(Some(until))
            );
        }
        eprintln!(
            "this is the only time the key is shown; send it as `Authorization: ApiKey <key>`"
        );
    }
}

pub fn run(ctx: &Context, cmd: &ApikeyCommand) -> Result<(), Failure> {
    installation::require_live(ctx, "apikey")?;
    // Arguments are checked before anything is prepared or opened.
    let lifetime = match cmd {
        ApikeyCommand::Create { expires, .. } => Some(parse_duration(expires)?),
        ApikeyCommand::Rotate {
            expires: Some(e), ..
        } => Some(parse_duration(e)?),
        _ => None,
    };
    let scopes = match cmd {
        ApikeyCommand::Create { scopes, .. } => Some(parse_scopes(scopes)?),
        _ => None,
    };
    let (settings, rt) = installation::prepare(ctx)?;
    rt.block_on(async {
        let store = installation::open_store(ctx, &settings).await?;
        let result = run_with(ctx, cmd, &store, &settings, lifetime, scopes).await;
        store.close().await;
        result
    })
}

async fn run_with(
    ctx: &Context,
    cmd: &ApikeyCommand,
    store: &Store,
    settings: &cryptobot_config::Settings,
    lifetime: Option<i64>,
    scopes: Option<cryptobot_auth::ScopeSet>,
) -> Result<(), Failure> {
    let ops = ServiceKeys { store, settings };
    let who = cli_actor();
    match cmd {
        ApikeyCommand::Create { user, name, .. } => {
            let owner = owner(store, user.as_deref()).await?;
            let scopes = scopes.ok_or_else(|| Failure::runtime("no scopes", None))?;
            let lifetime = lifetime.ok_or_else(|| Failure::runtime("no lifetime", None))?;
            let k = ops
                .create(&who, &owner, name, scopes, lifetime, now())
                .await?;
            print_issued(ctx, "created", &k);
        }
        ApikeyCommand::List { user } => {
            let owner = match user {
                Some(name) => Some(user_named(store, name).await?.id),
                None => None,
            };
            let now = now();
            let keys: Vec<ServiceKeyView> = store
                .list_service_keys(owner.as_deref())
                .await
                .map_err(store_failure)?
                .iter()
                .map(|k| ServiceKeyView::of(k, now))
                .collect();
            if ctx.out.json() {
                println!("{}", json!({"api_keys": keys}));
            } else if keys.is_empty() {
                println!(
                    "no API keys yet: `cryptobot apikey create --user NAME --name NAME --scopes SCOPES` makes one"
                );
            } else {
                println!(
                    "{:<12} {:<16} {:<12} {:<9} {:<20} {:<20} SCOPES",
                    "ID", "NAME", "OWNER", "STATUS", "EXPIRES", "LAST USED"
                );
                for k in keys {
                    println!(
                        "{:<12} {:<16} {:<12} {:<9} {:<20} {:<20} {}",
                        k.id,
                        k.name,
                        k.owner,
                        k.status,
                        when(k.expires_at),
                        when(k.last_used_at),
                        k.scopes.join(",")
                    );
                }
            }
        }
        ApikeyCommand::Rotate { id, .. } => {
            let key = ops.get(id).await?;
            let k = ops.rotate(&who, &key, lifetime, now()).await?;
            print_issued(ctx, "rotated", &k);
        }
        ApikeyCommand::Reactivate { id } => {
            let key = ops.get(id).await?;
            let done = ops.reactivate(&who, &key, now()).await?;
            if !done {
                return Err(Failure::input(
                    format!(
                        "API key {} is not suspended (or it is revoked or expired); nothing was changed",
                        key.id
                    ),
                    Some("`cryptobot apikey list` shows each key's status".to_string()),
                ));
            }
            if ctx.out.json() {
                println!("{}", json!({"result": "reactivated", "id": key.id}));
            } else if !ctx.out.quiet {
                println!(
                    "reactivated API key {} ({} of {})",
                    key.id, key.name, key.username
                );
            }
        }
        ApikeyCommand::Revoke { id } => {
            let key = ops.get(id).await?;
            let done = ops.revoke(&who, &key, now()).await?;
            if ctx.out.json() {
                println!(
                    "{}",
                    json!({"result": if done { "revoked" } else { "already_revoked" }, "id": key.id})
                );
            } else if !ctx.out.quiet {
                if done {
                    println!(
                        "revoked API key {} ({} of {})",
                        key.id, key.name, key.username
                    );
                } else {
                    println!("API key {} was already revoked", key.id);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").ok(), Some(90 * 86_400));
        assert_eq!(parse_duration("12h").ok(), Some(12 * 3_600));
        assert_eq!(parse_duration(" 1H ").ok(), Some(3_600));
        for bad in [
            "",
            "d",
            "90",
            "-1d",
            "1.5d",
            "90m",
            "9999999999d",
            "1dd",
            "é",
            "1é",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
