//! `cryptobot permissions`: service account, owners and modes, systemd unit.

use cryptobot_harden::permissions::{self, Finding, Options, PermissionsError};
use serde_json::json;

use crate::cli::PermissionsArgs;
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
    if !permissions::valid_user_name(&args.user) {
        return Err(failure(PermissionsError::InvalidUser {
            name: args.user.clone(),
        }));
    }
    let (config, _) = ctx.load_config()?;
    let opts = Options {
        user: args.user.clone(),
        binary: args.binary.clone(),
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
