//! `cryptobot assess`: vulnerability assessment with evidence and a score.

use cryptobot_assess::{CATALOGUE, Check, Severity, Snapshot};
use serde_json::json;

use crate::cli::{AssessArgs, AssessCommand, Format, SeverityArg};
use crate::context::{Context, Failure};

/// Exit status when `--fail-on` is reached.
pub const EXIT_FINDINGS: u8 = 3;

fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Critical => Severity::Critical,
        SeverityArg::High => Severity::High,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::Low => Severity::Low,
        SeverityArg::Info => Severity::Info,
    }
}

fn list_hint() -> String {
    format!(
        "run `cryptobot assess list` for the {} check IDs; a prefix such as CB-PG-* selects a group",
        CATALOGUE.len()
    )
}

fn check_json(c: &Check) -> serde_json::Value {
    json!({
        "id": c.id,
        "title": c.title,
        "severity": c.severity.as_str(),
        "guide_section": c.guide_section,
        "rationale": c.rationale,
        "remediation": c.remediation,
        "fixable": c.fixable,
    })
}

fn not_sarif(ctx: &Context, what: &str) -> Result<(), Failure> {
    if ctx.out.format == Format::Sarif {
        return Err(Failure::input(
            format!("--format sarif is for the assessment itself, not `assess {what}`"),
            Some("use --format text or --format json".to_string()),
        ));
    }
    Ok(())
}

pub fn run(ctx: &Context, args: &AssessArgs) -> Result<(), Failure> {
    match &args.action {
        Some(AssessCommand::List) => return list(ctx),
        Some(AssessCommand::Explain { id }) => return explain(ctx, id),
        None => {}
    }
    let checks = cryptobot_assess::select(&args.only, &args.skip)
        .map_err(|e| Failure::input(e.to_string(), Some(list_hint())))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let config = ctx.config_explicit.then(|| ctx.config_path.clone());
    let snapshot = Snapshot::new(ctx.root.clone(), ctx.layout.clone(), config, now);
    let report = cryptobot_assess::assess(&snapshot, &checks);

    let home = ctx.layout.home();
    match ctx.out.format {
        Format::Json => println!("{:#}", report.to_json(ctx.root.path(), home)),
        Format::Sarif => println!("{:#}", report.to_sarif()),
        Format::Text if !ctx.out.quiet => {
            let target = if ctx.root.is_live() {
                format!("home {}", home.display())
            } else {
                format!(
                    "root {}, home {}",
                    ctx.root.path().display(),
                    home.display()
                )
            };
            print!("{}", report.to_text(&target));
        }
        Format::Text => {}
    }

    if let Some(level) = args.fail_on.map(severity) {
        let n = report.at_or_above(level);
        if n > 0 {
            return Err(Failure {
                message: format!(
                    "{n} finding{} at or above {level} (score {}/100)",
                    if n == 1 { "" } else { "s" },
                    report.score()
                ),
                hint: Some(
                    "fix them as each finding says; `cryptobot assess explain ID` tells more"
                        .into(),
                ),
                code: EXIT_FINDINGS,
            });
        }
    }
    Ok(())
}

fn list(ctx: &Context) -> Result<(), Failure> {
    not_sarif(ctx, "list")?;
    if ctx.out.json() {
        let all: Vec<_> = CATALOGUE.iter().map(check_json).collect();
        println!("{:#}", json!({ "checks": all }));
        return Ok(());
    }
    for c in CATALOGUE {
        println!("{:<12} {:<8} {}", c.id, c.severity, c.title);
    }
    Ok(())
}

fn explain(ctx: &Context, id: &str) -> Result<(), Failure> {
    not_sarif(ctx, "explain")?;
    let Some(c) = cryptobot_assess::find(id) else {
        return Err(Failure::input(
            format!("unknown check ID {id:?}"),
            Some(list_hint()),
        ));
    };
    if ctx.out.json() {
        println!("{:#}", check_json(c));
        return Ok(());
    }
    println!("{} {}", c.id, c.title);
    println!("severity: {}", c.severity);
    println!("guide section: {}", c.guide_section);
    println!(
        "fixable by a future --fix: {}",
        if c.fixable { "yes" } else { "no" }
    );
    println!("\nwhy: {}", c.rationale);
    println!("\nfix: {}", c.remediation);
    Ok(())
}
