//! `cryptobot permissions`: service account, owners and modes, systemd unit.

use cryptobot_harden::permissions::{self, Finding, InitialCertificate, Options, PermissionsError};
use serde_json::json;

use cryptobot_harden::platforms::{self, Platform};

use crate::cli::{PermissionsArgs, PermissionsCommand, PlatformArg, RenderArgs};
use crate::context::{Context, Failure};

/// Exit status of `--check` when it found a deviation.
pub const EXIT_DEVIATIONS: u8 = 3;

fn failure(e: PermissionsError) -> Failure {
    let hint = e.hint();
    Failure::input(e.to_string(), hint)
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "id": f.check.id(),
        "check": f.check.name(),
        "subject": f.subject,
        "detail": f.detail,
        "fixable": f.check.fixable(),
    })
}

fn print_findings(findings: &[Finding], prefix_fixed: &str) {
    for f in findings {
        let prefix = if f.check.fixable() {
            prefix_fixed
        } else {
            "left alone: "
        };
        println!("  {prefix}{} {}: {}", f.check.id(), f.subject, f.detail);
    }
}

pub fn run(ctx: &Context, args: &PermissionsArgs) -> Result<(), Failure> {
    if let Some(PermissionsCommand::Render(r)) = &args.action {
        return render(ctx, r);
    }
    if !permissions::valid_user_name(&args.user) {
        return Err(failure(PermissionsError::InvalidUser {
            name: args.user.clone(),
        }));
    }
    let (config, _) = ctx.load_config()?;
    let certificate = if args.check {
        None
    } else {
        let made = cryptobot_tls::self_signed_localhost(cryptobot_service::clock::now())
            .map_err(|e| Failure::runtime(e.to_string(), None))?;
        Some(InitialCertificate {
            cert_pem: made.cert_pem,
            key_pem: made.key_pem,
        })
    };
    let opts = Options {
        user: args.user.clone(),
        binary: args.binary.clone(),
        certificate,
    };
    let planned = permissions::plan(&ctx.root, &ctx.layout, &config, &opts).map_err(failure)?;
    let out = ctx.out;
    let home = ctx.layout.home().display().to_string();
    let target = if ctx.root.is_live() {
        format!("--home {home}")
    } else {
        format!("--root {} --home {home}", ctx.root.path().display())
    };
    let findings_json: Vec<_> = planned.findings.iter().map(finding_json).collect();
    let notes = planned.plan.notes();

    if args.check {
        let n = planned.findings.len();
        if out.json() {
            let doc = json!({
                "command": "permissions", "home": home, "check": true,
                "clean": n == 0, "findings": findings_json, "notes": notes,
            });
            println!("{doc:#}");
        } else if !out.quiet {
            if n == 0 {
                println!("no deviations: {home} matches the hardened permissions");
            } else {
                for f in &planned.findings {
                    println!("{f}");
                }
            }
            for note in notes {
                println!("note: {note}");
            }
        }
        if n == 0 {
            return Ok(());
        }
        return Err(Failure {
            message: format!(
                "{n} permission deviation{} found",
                if n == 1 { "" } else { "s" }
            ),
            hint: Some(format!(
                "run `cryptobot permissions {target}` to fix them (--dry-run shows how)"
            )),
            code: EXIT_DEVIATIONS,
        });
    }

    if args.dry_run {
        if out.json() {
            let doc = json!({
                "command": "permissions", "home": home, "dry_run": true,
                "findings": findings_json, "changes": planned.plan.to_json(),
            });
            println!("{doc:#}");
        } else if !out.quiet {
            println!("dry run: nothing is written.\n");
            if planned.plan.is_empty() {
                println!("nothing to do: {home} already has the hardened permissions");
                print_findings(&planned.findings, "");
            } else {
                print!("{}", planned.plan.render_text());
                println!();
                println!("would fix:");
                print_findings(&planned.findings, "");
            }
            for note in notes {
                println!("note: {note}");
            }
        }
        return Ok(());
    }

    let report = ctx.apply(&planned.plan, "permissions")?;
    if out.json() {
        let doc = json!({
            "command": "permissions", "home": home, "dry_run": false,
            "findings": findings_json, "changes": planned.plan.to_json(),
            "applied": report.applied, "journal": report.journal,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if out.quiet {
        return Ok(());
    }
    if planned.plan.is_empty() {
        println!("nothing to do: {home} already has the hardened permissions");
        print_findings(&planned.findings, "");
    } else {
        if out.verbose > 0 {
            print!("{}", planned.plan.render_text());
            println!();
        }
        println!("fixed:");
        print_findings(&planned.findings, "");
        println!(
            "\napplied {} change{} to {home}; `cryptobot rollback {target}` undoes them",
            report.applied,
            if report.applied == 1 { "" } else { "s" }
        );
    }
    for note in notes {
        println!("note: {note}");
    }
    Ok(())
}

fn render(ctx: &Context, args: &RenderArgs) -> Result<(), Failure> {
    if !permissions::valid_user_name(&args.user) {
        return Err(failure(PermissionsError::InvalidUser {
            name: args.user.clone(),
        }));
    }
    let platform = match args.platform {
        PlatformArg::Linux => Platform::Linux,
        PlatformArg::Macos => Platform::Macos,
        PlatformArg::Windows => Platform::Windows,
    };
    if platform != Platform::Windows {
        permissions::check_binary(&args.binary).map_err(failure)?;
    }
    let (config, _) = ctx.load_config()?;
    let files = platforms::render(platform, &config, &ctx.layout, &args.binary, &args.user)
        .map_err(|e| failure(e.into()))?;
    let Some(out) = &args.out else {
        for (i, f) in files.iter().enumerate() {
            if files.len() > 1 {
                if i > 0 {
                    println!();
                }
                println!("==> {} ({}) <==", f.name, f.purpose);
            }
            print!("{}", f.content);
        }
        return Ok(());
    };
    crate::outfile::existing_dir(out, "--out")?;
    for f in &files {
        let mode = if f.executable { 0o755 } else { 0o644 };
        crate::outfile::write_atomic(out, f.name, f.content.as_bytes(), mode)?;
    }
    if !ctx.out.quiet {
        for f in &files {
            println!("wrote {}: {}", out.join(f.name).display(), f.purpose);
        }
    }
    Ok(())
}
