//! `cryptobot ssl`: the local CA, the server certificate `serve` uses, the
//! pairs PostgreSQL and Redis serve, client certificates, status, renewal
//! and import.
//! Every file is written through the plan engine (journal, rollback).

use std::path::{Path, PathBuf};

use cryptobot_config::{Config, PUBLIC_FILE_MODE, SECRET_FILE_MODE};
use cryptobot_harden::render;
use cryptobot_plan::{Content, Owner, Plan, Planner};
use cryptobot_tls::check::RENEW_DAYS;
use cryptobot_tls::{CertInfo, KeyType, days_left, inspect_pem};
use serde_json::json;

use crate::cli::{SslArgs, SslCommand};
use crate::context::{Context, Failure};

/// Lifetime of a new local CA.
const CA_DAYS: u32 = 3650;
/// Lifetime of the CA's revocation list; re-signed by `ssl` and `ssl renew`
/// when fewer than [`RENEW_DAYS`] are left.
const CRL_DAYS: u32 = 90;
/// Marker of the certificate `serve` makes on its first start.
const SERVE_SELF_SIGNED: &str = "Cryptobot self-signed";

fn now() -> i64 {
    cryptobot_service::clock::now()
}

/// Files of the installation's TLS material (host paths).
struct Paths {
    cert: PathBuf,
    key: PathBuf,
    ca_dir: PathBuf,
    ca_cert: PathBuf,
    ca_key: PathBuf,
    clients: PathBuf,
    pg_cert: PathBuf,
    pg_key: PathBuf,
    redis_cert: PathBuf,
    redis_key: PathBuf,
    redis_ca: PathBuf,
}

fn paths(ctx: &Context, config: &Config) -> Paths {
    let server = &config.settings().server;
    let ca_dir = ctx.layout.tls_dir().join("ca");
    let (pg_cert, pg_key) = render::pg_tls_files(&ctx.layout);
    let (redis_cert, redis_key, redis_ca) = render::redis_tls_files(&ctx.layout);
    Paths {
        cert: ctx.layout.resolve(&server.tls_cert),
        key: ctx.layout.resolve(&server.tls_key),
        ca_cert: ca_dir.join("ca.crt"),
        ca_key: ca_dir.join("ca.key"),
        ca_dir,
        clients: ctx.layout.tls_dir().join("clients"),
        pg_cert,
        pg_key,
        redis_cert,
        redis_key,
        redis_ca,
    }
}

/// Reads a host file under the root; `None` when it does not exist. A
/// symbolic link is refused.
fn read_host(ctx: &Context, path: &Path) -> Result<Option<Vec<u8>>, Failure> {
    let real = ctx.root.host(path)?;
    match std::fs::symlink_metadata(&real) {
        Ok(m) if m.file_type().is_symlink() => Err(Failure::input(
            format!("refusing to read {}: it is a symbolic link", path.display()),
            Some("replace the link with the file itself".to_string()),
        )),
        Ok(_) => std::fs::read(&real).map(Some).map_err(|e| {
            Failure::runtime(
                format!("cannot read {}: {e}", path.display()),
                Some("run the command as root".to_string()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::runtime(
            format!("cannot read {}: {e}", path.display()),
            Some("run the command as root".to_string()),
        )),
    }
}

/// Reads a file the operator named on the command line.
fn read_arg(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::input(
            format!("{flag} {}: {e}", path.display()),
            Some(format!("check the {flag} path")),
        )
    })
}

fn key_type(config: &Config) -> KeyType {
    KeyType::parse(&config.settings().tls.key_type).unwrap_or(KeyType::EcdsaP256)
}

fn tls_failure(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string(), None)
}

/// The local CA: certificate and key, as PEM text.
struct Ca {
    cert: String,
    key: zeroize::Zeroizing<String>,
    info: CertInfo,
}

fn to_text(bytes: Vec<u8>, path: &Path) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|_| {
        Failure::input(
            format!("{} is not PEM text", path.display()),
            Some("give the PEM file (-----BEGIN ...)".to_string()),
        )
    })
}

/// Loads the existing CA, `None` when there is none yet.
fn load_ca(ctx: &Context, p: &Paths, ca_key: Option<&Path>) -> Result<Option<Ca>, Failure> {
    let Some(cert) = read_host(ctx, &p.ca_cert)? else {
        return Ok(None);
    };
    let cert = to_text(cert, &p.ca_cert)?;
    let info = inspect_pem(cert.as_bytes()).map_err(|e| {
        Failure::input(
            format!("{}: {e}", p.ca_cert.display()),
            Some("restore the CA certificate from your backup".to_string()),
        )
    })?;
    let key = match ca_key {
        Some(file) => to_text(read_arg(file, "--ca-key")?, file)?,
        None => match read_host(ctx, &p.ca_key)? {
            Some(k) => to_text(k, &p.ca_key)?,
            None => {
                return Err(Failure::input(
                    format!(
                        "the CA key is not on this server ({} does not exist)",
                        p.ca_key.display()
                    ),
                    Some(
                        "give it with --ca-key FILE (it was kept apart with --ca-out)".to_string(),
                    ),
                ));
            }
        },
    };
    Ok(Some(Ca {
        cert,
        key: zeroize::Zeroizing::new(key),
        info,
    }))
}

/// Whether a certificate was issued by this CA.
fn issued_by(cert: &CertInfo, ca: &CertInfo) -> bool {
    cert.issuer == ca.subject && !cert.self_signed
}

/// The owner new files in `dir` get: the directory's own owner (the service
/// account once `cryptobot permissions` ran), or none (the running user).
fn owner_in(planner: &mut Planner<'_>, dir: &Path) -> Result<Option<Owner>, Failure> {
    Ok(planner.owner_of(dir)?)
}

fn ensure_dir(planner: &mut Planner<'_>, dir: &Path, mode: u32) -> Result<(), Failure> {
    if planner.owner_of(dir)?.is_none() {
        planner.ensure_dir(dir, mode, None)?;
    }
    Ok(())
}

/// Where certificates of the local CA say its revocation list is: this
/// service, at the first host name of `[tls].san` (or its first address).
fn crl_url(config: &Config) -> String {
    let tls = &config.settings().tls;
    let host = tls
        .san
        .iter()
        .find(|n| n.parse::<std::net::IpAddr>().is_err())
        .cloned()
        .or_else(|| {
            tls.san
                .first()
                .map(|a| match a.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V6(_)) => format!("[{a}]"),
                    _ => a.clone(),
                })
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "https://{host}:{}/pki/ca.crl",
        config.settings().server.bind.port()
    )
}

/// Plans a freshly signed revocation list when there is none, it is due
/// within [`RENEW_DAYS`], `force`, or `revoke` adds a certificate. Entries
/// of the current list are carried over.
fn plan_crl(
    planner: &mut Planner<'_>,
    ctx: &Context,
    ca: &Ca,
    force: bool,
    revoke: Option<cryptobot_tls::Revoked>,
) -> Result<(), Failure> {
    let path = ctx.layout.tls_dir().join("ca.crl");
    let current = read_host(ctx, &path)?;
    let due = match &current {
        None => true,
        Some(der) => cryptobot_tls::inspect::crl_next_update(der)
            .is_none_or(|next| days_left(next, now()) < RENEW_DAYS),
    };
    if !(due || force || revoke.is_some()) {
        return Ok(());
    }
    let mut revoked = match &current {
        Some(der) => cryptobot_tls::inspect::crl_revoked(der).ok_or_else(|| {
            Failure::input(
                format!("{} cannot be read as a revocation list", path.display()),
                Some(
                    "restore it from your backup; deleting it forgets every revocation".to_string(),
                ),
            )
        })?,
        None => Vec::new(),
    };
    if let Some(r) = revoke
        && !revoked.iter().any(|e| e.serial == r.serial)
    {
        revoked.push(r);
    }
    let t = now();
    let der = cryptobot_tls::crl(
        &ca.cert,
        &ca.key,
        u64::try_from(t).unwrap_or(1),
        t,
        CRL_DAYS,
        &revoked,
    )
    .map_err(tls_failure)?;
    let owner = owner_in(planner, &ctx.layout.tls_dir())?;
    planner.ensure_file(&path, Content::Bytes(der), PUBLIC_FILE_MODE, owner)?;
    Ok(())
}

/// A server certificate for `[tls].san` from the local CA.
fn issue(config: &Config, ca: &Ca) -> Result<cryptobot_tls::Issued, Failure> {
    issue_for(config, ca, &config.settings().tls.san)
}

/// A server certificate for `names` from the local CA.
fn issue_for(config: &Config, ca: &Ca, names: &[String]) -> Result<cryptobot_tls::Issued, Failure> {
    let tls = &config.settings().tls;
    cryptobot_tls::issue_server(
        &ca.cert,
        &ca.key,
        names,
        key_type(config),
        now(),
        tls.validity_days,
        Some(&crl_url(config)),
    )
    .map_err(tls_failure)
}

/// Makes sure the server certificate's directories exist; returns the
/// owner its files get (that of the certificate's directory).
fn server_pair_owner(planner: &mut Planner<'_>, p: &Paths) -> Result<Option<Owner>, Failure> {
    for dir in [p.cert.parent(), p.key.parent()].into_iter().flatten() {
        ensure_dir(planner, dir, 0o700)?;
    }
    match p.cert.parent() {
        Some(d) => owner_in(planner, d),
        None => Ok(None),
    }
}

/// Plans a certificate (0644) and its key (0600, a secret).
fn plan_pair(
    planner: &mut Planner<'_>,
    (cert, cert_pem, cert_owner): (&Path, String, Option<Owner>),
    (key, key_pem, key_owner): (&Path, &[u8], Option<Owner>),
) -> Result<(), Failure> {
    planner.ensure_file(cert, Content::Text(cert_pem), PUBLIC_FILE_MODE, cert_owner)?;
    planner.ensure_file(
        key,
        Content::secret(key_pem.to_vec()),
        SECRET_FILE_MODE,
        key_owner,
    )?;
    Ok(())
}

/// Plans the server certificate and the pairs of PostgreSQL and Redis,
/// issued by `ca`.
fn plan_server(
    planner: &mut Planner<'_>,
    ctx: &Context,
    config: &Config,
    p: &Paths,
    ca: &Ca,
) -> Result<(), Failure> {
    let issued = issue(config, ca)?;
    let owner = server_pair_owner(planner, p)?;
    plan_pair(
        planner,
        (&p.cert, issued.cert_pem.clone(), owner.clone()),
        (&p.key, issued.key_pem.as_bytes(), owner),
    )?;
    plan_services(planner, ctx, config, p, ca, false)
}

/// A server that reads a key pair of the local CA from the directory
/// `secure-config` laid out for it.
struct Service<'a> {
    /// As operators know it: "PostgreSQL".
    name: &'static str,
    /// The account it runs as, which must own its key.
    account: &'static str,
    dir: PathBuf,
    cert: &'a Path,
    key: &'a Path,
    names: Vec<String>,
}

impl Service<'_> {
    /// Whether `secure-config` laid out its directory.
    fn laid_out(&self, planner: &mut Planner<'_>) -> Result<bool, Failure> {
        Ok(planner.owner_of(&self.dir)?.is_some())
    }

    /// Plans its pair: the certificate owned like its directory, the key by
    /// its account (0600; servers refuse a key readable by others), or by
    /// root with a note when that account does not exist.
    fn plan_pair(
        &self,
        planner: &mut Planner<'_>,
        config: &Config,
        ca: &Ca,
    ) -> Result<(), Failure> {
        let issued = issue_for(config, ca, &self.names)?;
        let dir_owner = owner_in(planner, &self.dir)?;
        let account = planner.existing_user(self.account)?;
        if account.is_none() {
            planner.note(format!(
                "there is no {} account: {} belongs to root; give it to the account {} runs as (mode 0600)",
                self.account,
                self.key.display(),
                self.name
            ));
        }
        plan_pair(
            planner,
            (self.cert, issued.cert_pem.clone(), dir_owner),
            (self.key, issued.key_pem.as_bytes(), account),
        )
    }
}

/// Plans the pairs of PostgreSQL and Redis (where `secure-config` laid
/// them out) and rewrites their includes to turn TLS on. With
/// `only_missing`, only a pair that does not exist yet is issued (the
/// server certificate is not due, but an older installation has no pair).
fn plan_services(
    planner: &mut Planner<'_>,
    ctx: &Context,
    config: &Config,
    p: &Paths,
    ca: &Ca,
    only_missing: bool,
) -> Result<(), Failure> {
    let wanted =
        |planner: &mut Planner<'_>, service: &Service<'_>| -> Result<bool, Failure> {
            Ok(service.laid_out(planner)?
                && (!only_missing || read_host(ctx, service.cert)?.is_none()))
        };

    // PostgreSQL's pair and its include, when secure-config laid them out.
    let pg = Service {
        name: "PostgreSQL",
        account: "postgres",
        dir: ctx.layout.postgres_dir(),
        cert: &p.pg_cert,
        key: &p.pg_key,
        names: config.settings().tls.san.clone(),
    };
    if wanted(planner, &pg)? {
        pg.plan_pair(planner, config, ca)?;
        let include = ctx.layout.pg_include();
        if planner.owner_of(&include)?.is_some() {
            let text = render::pg_include(&ctx.layout, true)
                .map_err(|e| Failure::input(e.to_string(), None))?;
            planner.ensure_file(&include, Content::Text(text), PUBLIC_FILE_MODE, None)?;
            planner.note(format!(
                "PostgreSQL serves TLS after a restart: {} now sets ssl = on",
                include.display()
            ));
        }
    }

    // Redis's pair, the CA next to it (Redis cannot read config/tls/), and
    // its include, when secure-config laid them out. Loopback names always:
    // clients reach it at 127.0.0.1.
    let mut names = config.settings().tls.san.clone();
    for n in ["127.0.0.1", "::1", "localhost"] {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_owned());
        }
    }
    let redis = Service {
        name: "Redis",
        account: "redis",
        dir: ctx.layout.redis_dir(),
        cert: &p.redis_cert,
        key: &p.redis_key,
        names,
    };
    let issued = wanted(planner, &redis)?;
    if issued {
        redis.plan_pair(planner, config, ca)?;
        let dir_owner = owner_in(planner, &redis.dir)?;
        planner.ensure_file(
            &p.redis_ca,
            Content::Text(ca.cert.clone()),
            PUBLIC_FILE_MODE,
            dir_owner,
        )?;
    }
    // The include follows `redis.server_tls` on every run, so turning it on
    // (or off) takes effect without waiting for a renewal.
    let has_pair = issued || (redis.laid_out(planner)? && read_host(ctx, &p.redis_cert)?.is_some());
    let include = ctx.layout.redis_include();
    if !has_pair {
        return Ok(());
    }
    if planner.owner_of(&include)?.is_none() {
        planner.note(format!(
            "{} does not exist: run `cryptobot secure-config`, which renders it and includes it from redis.conf",
            include.display()
        ));
        return Ok(());
    }
    let text = render::redis_include(config, &ctx.layout, true)
        .map_err(|e| Failure::input(e.to_string(), None))?;
    let changed = read_host(ctx, &include)?.as_deref() != Some(text.as_bytes());
    planner.ensure_file(&include, Content::Text(text), PUBLIC_FILE_MODE, None)?;
    let port = config.settings().services.redis.port;
    if !changed {
        return Ok(());
    }
    if config.settings().redis.server_tls {
        planner.note(format!(
            "Redis serves TLS after a restart: {} now sets tls-port {port} and port 0 (no plain text)",
            include.display()
        ));
        planner.note(format!(
            "the service connects to it with (cryptobot.toml):\n  redis.url = \"rediss://127.0.0.1:{port}\"\n  redis.ca_file = \"{}\"",
            p.redis_ca.display()
        ));
    } else {
        planner.note(
            "Redis's pair is ready; Redis keeps speaking plain text on loopback until `server_tls = true` is set in [redis] of cryptobot.toml and `cryptobot ssl` runs again (move every client of that Redis to TLS first)",
        );
    }
    Ok(())
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
/// when it is missing, `serve`'s first self-signed one, does not cover
/// `[tls].san`, is due for renewal, or `--force`.
fn setup(ctx: &Context, args: &SslArgs) -> Result<(), Failure> {
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    if let Some(dir) = &args.ca_out {
        crate::outfile::existing_dir(dir, "--ca-out")?;
    }
    let mut planner = Planner::new(&ctx.root);
    let ca = match load_ca(ctx, &p, args.ca_key.as_deref())? {
        Some(ca) => {
            if args.ca_out.is_some() {
                return Err(Failure::input(
                    format!("a CA already exists ({})", p.ca_cert.display()),
                    Some("--ca-out only applies when a new CA is created; move ca.key off the server by hand".to_string()),
                ));
            }
            ca
        }
        None => {
            let made =
                cryptobot_tls::new_ca(key_type(&config), now(), CA_DAYS).map_err(tls_failure)?;
            let info = inspect_pem(made.cert_pem.as_bytes()).map_err(tls_failure)?;
            ensure_dir(&mut planner, &ctx.layout.tls_dir(), 0o700)?;
            ensure_dir(&mut planner, &p.ca_dir, 0o700)?;
            planner.ensure_file(
                &p.ca_cert,
                Content::Text(made.cert_pem.clone()),
                PUBLIC_FILE_MODE,
                Some(Owner::root()),
            )?;
            match &args.ca_out {
                None => planner.ensure_file(
                    &p.ca_key,
                    Content::secret(made.key_pem.as_bytes().to_vec()),
                    SECRET_FILE_MODE,
                    Some(Owner::root()),
                )?,
                Some(dir) => planner.note(format!(
                    "the CA key is written to {} only: keep it offline, and give it with --ca-key to renew or issue",
                    dir.join("ca.key").display()
                )),
            }
            Ca {
                cert: made.cert_pem,
                key: made.key_pem,
                info,
            }
        }
    };

    let new_ca =
        planner.plan().changes().iter().any(
            |c| matches!(c, cryptobot_plan::Change::WriteFile { path, .. } if *path == p.ca_cert),
        );
    plan_crl(&mut planner, ctx, &ca, new_ca, None)?;
    let names = &config.settings().tls.san;
    let reason = match read_host(ctx, &p.cert)? {
        None => Some("there is none".to_string()),
        Some(pem) => match inspect_pem(&pem) {
            Err(_) => Some("the current file cannot be read".to_string()),
            Ok(cur)
                if cur.subject.contains(SERVE_SELF_SIGNED)
                    || cur.issuer.contains(SERVE_SELF_SIGNED) =>
            {
                Some("the current one is serve's first self-signed certificate".to_string())
            }
            Ok(cur) if !issued_by(&cur, &ca.info) => {
                if args.force {
                    Some("--force replaces a certificate the local CA did not issue".to_string())
                } else {
                    planner.note(format!(
                        "{} was not issued by the local CA (imported?): kept; --force replaces it",
                        p.cert.display()
                    ));
                    None
                }
            }
            Ok(cur) => {
                let missing: Vec<&String> = names
                    .iter()
                    .filter(|n| !cur.sans.iter().any(|s| s.covers(n)))
                    .collect();
                if !missing.is_empty() {
                    Some(format!(
                        "it does not cover {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else if days_left(cur.not_after, now()) < RENEW_DAYS {
                    Some(format!(
                        "it expires in {} days",
                        days_left(cur.not_after, now())
                    ))
                } else if args.force {
                    Some("--force".to_string())
                } else {
                    None
                }
            }
        },
    };
    if let Some(why) = &reason {
        plan_server(&mut planner, ctx, &config, &p, &ca)?;
        planner.note(format!(
            "server certificate for {} issued by the local CA ({why}); running servers pick it up within a second",
            names.join(", ")
        ));
    } else {
        plan_services(&mut planner, ctx, &config, &p, &ca, true)?;
    }
    let plan = planner.finish();
    if !args.dry_run
        && let Some(dir) = &args.ca_out
    {
        // Written before the plan, so a failure leaves no CA without its key.
        crate::outfile::write_atomic(dir, "ca.key", ca.key.as_bytes(), 0o600)?;
    }
    finish(ctx, &plan, args.dry_run, "ssl")?;
    if !args.dry_run && !ctx.out.quiet && !ctx.out.json() {
        println!(
            "clients trust the local CA with: {}",
            ctx.layout.tls_dir().join("ca/ca.crt").display()
        );
    }
    Ok(())
}

fn renew(ctx: &Context, force: bool, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    let Some(pem) = read_host(ctx, &p.cert)? else {
        return Err(Failure::input(
            format!("there is no server certificate ({})", p.cert.display()),
            Some("create one with `cryptobot ssl`".to_string()),
        ));
    };
    let cur = inspect_pem(&pem).map_err(|e| {
        Failure::input(
            format!("{}: {e}", p.cert.display()),
            Some("re-create it with `cryptobot ssl --force`".to_string()),
        )
    })?;
    let left = days_left(cur.not_after, now());
    let Some(ca) = load_ca(ctx, &p, ca_key)? else {
        return Err(Failure::input(
            "there is no local CA to renew from",
            Some("create it with `cryptobot ssl`, or import a renewed certificate with `cryptobot ssl import`".to_string()),
        ));
    };
    if !issued_by(&cur, &ca.info) {
        return Err(Failure::input(
            format!("{} was not issued by the local CA", p.cert.display()),
            Some("renew it with its own CA and install it with `cryptobot ssl import` (or replace it: `cryptobot ssl --force`)".to_string()),
        ));
    }
    let mut planner = Planner::new(&ctx.root);
    plan_crl(&mut planner, ctx, &ca, force, None)?;
    if left < RENEW_DAYS || force {
        plan_server(&mut planner, ctx, &config, &p, &ca)?;
        planner.note(format!(
            "renewed: the old certificate had {left} days left{}",
            if force && left >= RENEW_DAYS {
                " (--force)"
            } else {
                ""
            }
        ));
    } else {
        planner.note(format!(
            "not renewed: {left} days left (renewal starts at {RENEW_DAYS}; --force renews now)"
        ));
    }
    finish(ctx, &planner.finish(), dry_run, "ssl renew")
}

/// A client name: becomes a file name and a common name.
fn valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn client(ctx: &Context, name: &str, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    if !valid_client_name(name) {
        return Err(Failure::input(
            format!("{name:?} is not a valid client name"),
            Some("use 1-64 letters, digits, '.', '_' or '-', e.g. strategy-1".to_string()),
        ));
    }
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    let Some(ca) = load_ca(ctx, &p, ca_key)? else {
        return Err(Failure::input(
            "there is no local CA yet",
            Some("create it with `cryptobot ssl`".to_string()),
        ));
    };
    let issued = cryptobot_tls::issue_client(
        &ca.cert,
        &ca.key,
        name,
        key_type(&config),
        now(),
        config.settings().tls.validity_days,
        Some(&crl_url(&config)),
    )
    .map_err(tls_failure)?;
    let mut planner = Planner::new(&ctx.root);
    ensure_dir(&mut planner, &p.clients, 0o700)?;
    let crt = p.clients.join(format!("{name}.crt"));
    let key = p.clients.join(format!("{name}.key"));
    plan_pair(
        &mut planner,
        (&crt, issued.cert_pem.clone(), None),
        (&key, issued.key_pem.as_bytes(), None),
    )?;
    planner.note(format!(
        "client certificate {} and key {} (hand both to the client; it trusts the server with ca/ca.crt)",
        crt.display(),
        key.display()
    ));
    finish(ctx, &planner.finish(), dry_run, "ssl client")
}

/// `ssl revoke NAME`: the client certificate goes on the CRL (served at
/// `/pki/ca.crl` from the next request) and its files are removed, so the
/// name can be issued again.
fn revoke(ctx: &Context, name: &str, dry_run: bool, ca_key: Option<&Path>) -> Result<(), Failure> {
    if !valid_client_name(name) {
        return Err(Failure::input(
            format!("{name:?} is not a valid client name"),
            Some("use the NAME given to `cryptobot ssl client`".to_string()),
        ));
    }
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    let crt = p.clients.join(format!("{name}.crt"));
    let Some(pem) = read_host(ctx, &crt)? else {
        return Err(Failure::input(
            format!("there is no client certificate {}", crt.display()),
            Some("`cryptobot ssl status` lists the client certificates".to_string()),
        ));
    };
    let info = inspect_pem(&pem).map_err(tls_failure)?;
    let Some(ca) = load_ca(ctx, &p, ca_key)? else {
        return Err(Failure::input(
            "there is no local CA",
            Some("create it with `cryptobot ssl`".to_string()),
        ));
    };
    if !issued_by(&info, &ca.info) {
        return Err(Failure::input(
            format!("{} was not issued by the local CA", crt.display()),
            Some("only the CA that issued a certificate can revoke it".to_string()),
        ));
    }
    let mut planner = Planner::new(&ctx.root);
    let serial = info.serial.clone();
    plan_crl(
        &mut planner,
        ctx,
        &ca,
        false,
        Some(cryptobot_tls::Revoked {
            serial: serial.clone(),
            at: now(),
        }),
    )?;
    planner.ensure_absent(&crt)?;
    planner.ensure_absent(&p.clients.join(format!("{name}.key")))?;
    planner.note(format!(
        "revoked {name} (serial {}): it is on the revocation list /pki/ca.crl serves",
        serial
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    ));
    finish(ctx, &planner.finish(), dry_run, "ssl revoke")
}

fn import(
    ctx: &Context,
    cert: &Path,
    key: &Path,
    chain: Option<&Path>,
    dry_run: bool,
) -> Result<(), Failure> {
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    let cert_pem = read_arg(cert, "--cert")?;
    let key_pem = zeroize::Zeroizing::new(read_arg(key, "--key")?);
    let chain_pem = chain.map(|c| read_arg(c, "--chain")).transpose()?;
    let system_roots = read_host(ctx, Path::new("/etc/ssl/certs/ca-certificates.crt"))?;
    let names = &config.settings().tls.san;
    let info = cryptobot_tls::check_pair(
        &cert_pem,
        &key_pem,
        chain_pem.as_deref(),
        system_roots.as_deref(),
        names,
        now(),
    )
    .map_err(|e| {
        Failure::input(
            format!("refusing to import {}: {e}", cert.display()),
            Some(e.hint().to_string()),
        )
    })?;
    // Install the leaf followed by the intermediates (not self-signed roots).
    let mut full = Vec::new();
    let mut blocks = cryptobot_tls::inspect::pem_certificates(&cert_pem).map_err(tls_failure)?;
    if let Some(c) = &chain_pem {
        blocks.extend(cryptobot_tls::inspect::pem_certificates(c).map_err(tls_failure)?);
    }
    for (i, der) in blocks.iter().enumerate() {
        let self_signed = cryptobot_tls::inspect(der)
            .map(|c| c.self_signed)
            .unwrap_or(false);
        if i == 0 || !self_signed {
            full.push(cryptobot_tls::inspect::certificate_pem(der));
        }
    }
    let key_text = String::from_utf8(key_pem.to_vec()).map_err(|_| {
        Failure::input(
            format!("--key {} is not PEM text", key.display()),
            Some("give the PEM private key".to_string()),
        )
    })?;
    let key_text = zeroize::Zeroizing::new(key_text);
    let mut planner = Planner::new(&ctx.root);
    let owner = server_pair_owner(&mut planner, &p)?;
    plan_pair(
        &mut planner,
        (&p.cert, full.concat(), owner.clone()),
        (&p.key, key_text.as_bytes(), owner),
    )?;
    planner.note(format!(
        "imported {} ({}, {} days left, issued by {}); running servers pick it up within a second",
        info.subject,
        info.key,
        days_left(info.not_after, now()),
        info.issuer
    ));
    finish(ctx, &planner.finish(), dry_run, "ssl import")
}

fn status(ctx: &Context) -> Result<(), Failure> {
    let (config, _) = ctx.load_config()?;
    let p = paths(ctx, &config);
    let mut files = vec![
        ("server", p.cert.clone()),
        ("ca", p.ca_cert.clone()),
        ("postgresql", p.pg_cert.clone()),
        ("redis", p.redis_cert.clone()),
    ];
    if let Ok(entries) = std::fs::read_dir(ctx.root.host(&p.clients)?) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n.ends_with(".crt"))
            .collect();
        names.sort();
        for n in names {
            files.push(("client", p.clients.join(n)));
        }
    }
    let t = now();
    let mut rows = Vec::new();
    for (role, path) in files {
        let Some(pem) = read_host(ctx, &path)? else {
            continue;
        };
        match inspect_pem(&pem) {
            Ok(i) => rows.push((role, path, Ok(i))),
            Err(e) => rows.push((role, path, Err(e.to_string()))),
        }
    }
    if ctx.out.json() {
        let list: Vec<_> = rows
            .iter()
            .map(|(role, path, r)| match r {
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
    for (role, path, r) in &rows {
        println!("{role}: {}", path.display());
        match r {
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
