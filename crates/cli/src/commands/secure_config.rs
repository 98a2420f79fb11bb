//! `cryptobot secure-config`.

use cryptobot_harden::apply_db::{self, DbReport, RoleChange};
use cryptobot_harden::secure_config::{self, Options, SecretAction};
use cryptobot_harden::{SecretBytes, SecretName};

use secrecy::SecretBox;
use serde_json::json;

use crate::cli::SecureConfigArgs;
use crate::context::{Context, Failure};

fn parse_rotate(names: &[String]) -> Result<Vec<SecretName>, Failure> {
    names
        .iter()
        .map(|n| {
            SecretName::parse(n).ok_or_else(|| {
                let known: Vec<&str> = SecretName::ALL.iter().map(|s| s.file_name()).collect();
                Failure::input(
                    format!("--rotate {n}: no such secret"),
                    Some(format!("use one of: {}", known.join(", "))),
                )
            })
        })
        .collect()
}

/// Runs secure-config with default options when the home has not been
/// prepared yet (no configuration file or no signing key), so `serve` and
/// `user add` work from nothing. Returns how many changes were applied.
pub fn prepare_if_needed(ctx: &Context) -> Result<Option<usize>, Failure> {
    let key = ctx
        .root
        .host(&ctx.layout.secret(SecretName::JwtSigningKey.file_name()))?;
    let config = ctx.root.host(&ctx.config_path)?;
    if key.exists() && (config.exists() || ctx.config_explicit) {
        return Ok(None);
    }
    let (loaded, file_exists) = ctx.load_config()?;
    let opts = Options {
        rotate: Vec::new(),
        write_default_config: !file_exists,
    };
    let planned = secure_config::plan(&ctx.root, &ctx.layout, &loaded, &opts)?;
    if planned.plan.is_empty() {
        return Ok(None);
    }
    let report = ctx.apply(&planned.plan, "secure-config")?;
    Ok(Some(report.applied))
}

pub fn run(ctx: &Context, args: &SecureConfigArgs) -> Result<(), Failure> {
    let rotate = parse_rotate(&args.rotate)?;
    let (config, file_exists) = ctx.load_config()?;
    let opts = Options {
        rotate,
        write_default_config: !file_exists,
    };
    let planned = secure_config::plan(&ctx.root, &ctx.layout, &config, &opts)?;
    let out = ctx.out;
    let home = ctx.layout.home().display().to_string();

    let secrets_json: Vec<_> = planned
        .secrets
        .iter()
        .map(|s| {
            let reason = match s.action {
                SecretAction::Replaced(w) => Some(w.to_string()),
                _ => None,
            };
            json!({"name": s.name.file_name(), "path": s.path, "action": s.action.verb(), "reason": reason})
        })
        .collect();

    let print_secrets = |prefix: &str| {
        println!("secrets in {}:", ctx.layout.secrets_dir().display());
        for s in &planned.secrets {
            let reason = match s.action {
                SecretAction::Replaced(w) => format!(" ({w})"),
                _ => String::new(),
            };
            println!(
                "  {:<18} {prefix}{}{reason}",
                s.name.file_name(),
                s.action.verb()
            );
        }
    };

    if args.dry_run {
        if out.json() {
            let doc = json!({
                "command": "secure-config", "home": home, "dry_run": true,
                "secrets": secrets_json, "changes": planned.plan.to_json(),
                "apply_db": args.apply_db.is_some(),
            });
            println!("{doc:#}");
        } else if !out.quiet {
            println!("dry run: nothing is written.\n");
            if planned.plan.is_empty() {
                println!("nothing to do: {home} already matches the hardened configuration");
            } else {
                print!("{}", planned.plan.render_text());
                println!();
                print_secrets("would be ");
            }
            if args.apply_db.is_some() {
                println!(
                    "\nwould then set the password of PostgreSQL role `{}` (sent as a SCRAM-SHA-256 verifier)",
                    config.database.user
                );
            }
        }
        return Ok(());
    }

    let report = ctx.apply(&planned.plan, "secure-config")?;

    let db = match &args.apply_db {
        Some(url) => Some(run_apply_db(
            ctx,
            url,
            &config.database.user,
            &config.database.name,
        )?),
        None => None,
    };

    if out.json() {
        let doc = json!({
            "command": "secure-config", "home": home, "dry_run": false,
            "secrets": secrets_json, "changes": planned.plan.to_json(),
            "applied": report.applied, "journal": report.journal,
            "database": db.map(|d| json!({
                "role": config.database.user,
                "role_change": match d.role { RoleChange::Created => "created", RoleChange::PasswordSet => "password_set", RoleChange::AlreadyCurrent => "unchanged" },
                "database_created": d.database_created,
            })),
        });
        println!("{doc:#}");
        return Ok(());
    }
    if out.quiet {
        return Ok(());
    }
    if planned.plan.is_empty() {
        println!("nothing to do: {home} already matches the hardened configuration");
    } else {
        if out.verbose > 0 {
            print!("{}", planned.plan.render_text());
            println!();
        }
        print_secrets("");
        println!(
            "\napplied {} change{} to {home}; `cryptobot rollback --home {home}` undoes them",
            report.applied,
            if report.applied == 1 { "" } else { "s" }
        );
    }
    if let Some(d) = db {
        let role = &config.database.user;
        match d.role {
            RoleChange::Created => println!(
                "PostgreSQL: created role `{role}` with the password from postgres_password"
            ),
            RoleChange::PasswordSet => {
                println!("PostgreSQL: set the password of role `{role}` from postgres_password")
            }
            RoleChange::AlreadyCurrent => {
                println!("PostgreSQL: role `{role}` already has the current password")
            }
        }
        if d.database_created {
            println!(
                "PostgreSQL: created database `{}` owned by `{role}`",
                config.database.name
            );
        }
    }
    Ok(())
}

fn run_apply_db(ctx: &Context, url: &str, role: &str, database: &str) -> Result<DbReport, Failure> {
    let path = ctx.layout.secret(SecretName::PostgresPassword.file_name());
    let real = ctx.root.host(&path)?;
    let bytes = std::fs::read(&real)
        .map_err(|e| Failure::runtime(format!("cannot read {}: {e}", path.display()), None))?;
    let password: SecretBytes = SecretBox::new(bytes.into_boxed_slice());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}"), None))?;
    Ok(runtime.block_on(apply_db::apply_db(url, role, database, &password))?)
}
