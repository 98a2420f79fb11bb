//! `cryptobot ssl`: the local CA, the server certificate `serve` uses, the
//! pairs PostgreSQL and Redis serve, client certificates, status, renewal
//! and import. The plans come from [`cryptobot_harden::ssl`]; this module
//! parses, applies through the plan engine (journal, rollback) and prints.

use std::path::Path;

use cryptobot_harden::ssl::{Ssl, SslError, StatusRow};
use cryptobot_plan::Plan;
use cryptobot_tls::check::RENEW_DAYS;
use cryptobot_tls::days_left;
use serde_json::json;

use crate::cli::{SslArgs, SslCommand};
use crate::context::{Context, Failure};

impl From<SslError> for Failure {
    fn from(e: SslError) -> Self {
        let hint = e.hint();
        if e.is_input() {
            Failure::input(e.to_string(), hint)
        } else {
            Failure::runtime(e.to_string(), hint)
        }
    }
}

/// Runs `f` with the certificate planner of this installation, now.
fn with_ssl<T>(
    ctx: &Context,
    f: impl FnOnce(&Ssl<'_>) -> Result<T, SslError>,
) -> Result<T, Failure> {
    let (config, _) = ctx.load_config()?;
    let ssl = Ssl {
        root: &ctx.root,
        layout: &ctx.layout,
        config: &config,
        now: cryptobot_service::clock::now(),
    };
    Ok(f(&ssl)?)
}

/// Applies (or, with `dry_run`, shows) a plan and reports it.
fn finish(ctx: &Context, plan: &Plan, dry_run: bool, what: &str) -> Result<(), Failure> {
    let out = ctx.out;
    if dry_run {
        if out.json() {
            println!(
                "{:#}",
                json!({"command": "ssl", "dry_run": true, "changes": plan.to_json(), "notes": plan.notes()})
            );
        } else if !out.quiet {
            println!("dry run: nothing is written.\n");
            if plan.is_empty() {
                println!("nothing to do");
            } else {
                print!("{}", plan.render_text());
            }
            for n in plan.notes() {
                println!("note: {n}");
            }
        }
        return Ok(());
    }
    let report = ctx.apply(plan, what)?;
    if out.json() {
        println!(
            "{:#}",
            json!({"command": "ssl", "dry_run": false, "changes": plan.to_json(),
                   "applied": report.applied, "journal": report.journal, "notes": plan.notes()})
        );
    } else if !out.quiet {
        if plan.is_empty() {
            println!("nothing to do");
        } else {
            if out.verbose > 0 {
                print!("{}", plan.render_text());
            }
            println!(
                "applied {} change{}; `cryptobot rollback` undoes them",
                report.applied,
                if report.applied == 1 { "" } else { "s" }
            );
        }
        for n in plan.notes() {
            println!("note: {n}");
        }
    }
    Ok(())
}

pub fn run(ctx: &Context, args: &SslArgs) -> Result<(), Failure> {
    match &args.action {
        None => setup(ctx, args),
        Some(SslCommand::Status) => status(ctx),
        Some(SslCommand::Renew {
            force,
            dry_run,
            ca_key,
        }) => renew(ctx, *force, *dry_run, ca_key.as_deref()),
        Some(SslCommand::Client {
            name,
            dry_run,
            ca_key,
        }) => client(ctx, name, *dry_run, ca_key.as_deref()),
        Some(SslCommand::Revoke {
            name,
            dry_run,
            ca_key,
        }) => revoke(ctx, name, *dry_run, ca_key.as_deref()),
        Some(SslCommand::Import {
            cert,
            key,
            chain,
            dry_run,
        }) => import(ctx, cert, key, chain.as_deref(), *dry_run),
    }
}

/// `cryptobot ssl`: the CA if there is none, and the server certificate
/// when it is needed (see [`Ssl::setup`]).
fn setup(ctx: &Context, args: &SslArgs) -> Result<(), Failure> {
    if let Some(dir) = &args.ca_out {
        crate::outfile::existing_dir(dir, "--ca-out")?;
    }
    let setup = with_ssl(ctx, |ssl| {
        ssl.setup(args.force, args.ca_key.as_deref(), args.ca_out.as_deref())
    })?;
    if !args.dry_run
        && let (Some(dir), Some(key)) = (&args.ca_out, &setup.ca_key_out)
    {
        // Written before the plan, so a failure leaves no CA without its key.
        crate::outfile::write_atomic(dir, "ca.key", key.as_bytes(), 0o600)?;
    }
    finish(ctx, &setup.plan, args.dry_run, "ssl")?;
    if !args.dry_run && !ctx.out.quiet && !ctx.out.json() {
        println!(
            "clients trust the local CA with: {}",
            ctx.layout.tls_dir().join("ca/ca.crt").display()
        );
    }
    Ok(())
}

fn renew(ctx: &Context, force: bool, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    let plan = with_ssl(ctx, |ssl| ssl.renew(force, ca_key))?;
    finish(ctx, &plan, dry_run, "ssl renew")
}

fn client(ctx: &Context, name: &str, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    let plan = with_ssl(ctx, |ssl| ssl.client(name, ca_key))?;
    finish(ctx, &plan, dry_run, "ssl client")
}

fn revoke(ctx: &Context, name: &str, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    let plan = with_ssl(ctx, |ssl| ssl.revoke(name, ca_key))?;
    finish(ctx, &plan, dry_run, "ssl revoke")
}

fn import(
    ctx: &Context,
    cert: &Path,
    key: &Path,
    chain: Option<&Path>,
    dry_run: bool,
) -> Result<(), Failure> {
    let plan = with_ssl(ctx, |ssl| ssl.import(cert, key, chain))?;
    finish(ctx, &plan, dry_run, "ssl import")
}

fn status(ctx: &Context) -> Result<(), Failure> {
    let (rows, t) = with_ssl(ctx, |ssl| Ok((ssl.status()?, ssl.now)))?;
    if ctx.out.json() {
        let list: Vec<_> = rows
            .iter()
            .map(|StatusRow { role, path, info }| match info {
                Ok(i) => json!({
                    "role": role, "path": path, "subject": i.subject, "issuer": i.issuer,
                    "sans": i.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "key": i.key.to_string(), "strong_key": i.key.is_strong(),
                    "not_before": i.not_before, "not_after": i.not_after,
                    "days_left": days_left(i.not_after, t), "fingerprint_sha256": i.fingerprint,
                }),
                Err(e) => json!({"role": role, "path": path, "error": e}),
            })
            .collect();
        println!(
            "{:#}",
            json!({"command": "ssl status", "certificates": list})
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "no certificates yet: `cryptobot ssl` creates the local CA and the server certificate"
        );
        return Ok(());
    }
    for StatusRow { role, path, info } in &rows {
        println!("{role}: {}", path.display());
        match info {
            Err(e) => println!("  unreadable: {e}"),
            Ok(i) => {
                let left = days_left(i.not_after, t);
                println!("  subject:  {}", i.subject);
                if !i.sans.is_empty() {
                    println!(
                        "  names:    {}",
                        i.sans
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                println!(
                    "  key:      {}{}",
                    i.key,
                    if i.key.is_strong() { "" } else { " (too weak)" }
                );
                println!("  issuer:   {}", i.issuer);
                let warn = if left < 0 {
                    " EXPIRED"
                } else if left < RENEW_DAYS {
                    " (renew: `cryptobot ssl renew`)"
                } else {
                    ""
                };
                println!("  days left: {left}{warn}");
                println!("  sha256:   {}", i.fingerprint);
            }
        }
    }
    Ok(())
}
