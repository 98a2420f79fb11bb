//! `cryptobot assess`: vulnerability assessment with evidence and a score.

use std::io::{IsTerminal, Write as _};

use cryptobot_assess::fix::{FixPlan, Fixed};
use cryptobot_assess::{CATALOGUE, Check, Report, Severity, Snapshot, history};
use serde_json::json;

use crate::cli::{AssessArgs, AssessCommand, ColorArg, Format, SeverityArg};
use crate::context::{Context, Failure};
use cryptobot_service::clock::now;

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
    if matches!(ctx.out.format, Format::Sarif | Format::Junit | Format::Html) {
        return Err(Failure::input(
            format!(
                "--format {} is for the assessment itself, not `assess {what}`",
                format!("{:?}", ctx.out.format).to_ascii_lowercase()
            ),
            Some("use --format text or --format json".to_string()),
        ));
    }
    Ok(())
}

fn snapshot(ctx: &Context, args: &AssessArgs, now: i64) -> Snapshot {
    let config = ctx.config_explicit.then(|| ctx.config_path.clone());
    Snapshot::new(ctx.root.clone(), ctx.layout.clone(), config, now)
        .with_advisory_db(args.advisory_db.clone())
}

/// Whether the text report is coloured: `--color`, else a terminal on
/// stdout and no `NO_COLOR` (<https://no-color.org>).
fn use_color(ctx: &Context, when: ColorArg) -> bool {
    match when {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            let no_color = ctx
                .env
                .iter()
                .any(|(k, v)| k == "NO_COLOR" && !v.is_empty());
            !no_color && std::io::stdout().is_terminal()
        }
    }
}

/// Runs the checks, with a progress line on stderr when it is a terminal.
fn run_checks(ctx: &Context, snapshot: &Snapshot, checks: &[&'static Check]) -> Report {
    let progress = !ctx.out.quiet && std::io::stderr().is_terminal();
    if !progress {
        return cryptobot_assess::assess(snapshot, checks);
    }
    let mut err = std::io::stderr();
    let report = cryptobot_assess::assess_with_progress(snapshot, checks, &mut |done, total, c| {
        let _ = write!(err, "\r\x1b[2Kassessing [{:>3}/{total}] {}", done + 1, c.id);
        let _ = err.flush();
    });
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
    report
}

fn fixed_json(f: &Fixed) -> serde_json::Value {
    json!({"id": f.check_id, "subject": f.subject, "how": f.how})
}

/// What `--fix` did (or would do).
struct FixOutcome {
    plan: FixPlan,
    dry_run: bool,
    applied: usize,
    journal: Option<std::path::PathBuf>,
}

impl FixOutcome {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "dry_run": self.dry_run,
            "changes": self.plan.plan.to_json(),
            "fixed": self.plan.fixed.iter().map(fixed_json).collect::<Vec<_>>(),
            "left": self.plan.left.iter().map(fixed_json).collect::<Vec<_>>(),
            "applied": self.applied,
            "journal": self.journal.as_ref().map(|p| p.display().to_string()),
        })
    }

    fn to_text(&self, target: &str) -> String {
        let mut o = String::new();
        let p = &self.plan;
        if self.dry_run {
            o.push_str("dry run: nothing is written.\n\n");
        }
        if p.plan.is_empty() {
            o.push_str("--fix: nothing to fix safely\n");
        } else {
            if self.dry_run {
                o.push_str(&p.plan.render_text());
                o.push('\n');
            }
            o.push_str(if self.dry_run {
                "would fix:\n"
            } else {
                "fixed:\n"
            });
            for f in &p.fixed {
                o.push_str(&format!("  {} {}: {}\n", f.check_id, f.subject, f.how));
            }
            if !self.dry_run {
                o.push_str(&format!(
                    "applied {} change{}; `cryptobot rollback{target}` undoes them.\n",
                    self.applied,
                    if self.applied == 1 { "" } else { "s" }
                ));
            }
        }
        if !p.left.is_empty() {
            o.push_str("left for you:\n");
            for f in &p.left {
                o.push_str(&format!("  {} {}: {}\n", f.check_id, f.subject, f.how));
            }
        }
        o
    }
}

pub fn run(ctx: &Context, args: &AssessArgs) -> Result<(), Failure> {
    match &args.action {
        Some(AssessCommand::List) => return list(ctx),
        Some(AssessCommand::Explain { id }) => return explain(ctx, id),
        None => {}
    }
    let checks = cryptobot_assess::select(&args.only, &args.skip)
        .map_err(|e| Failure::input(e.to_string(), Some(list_hint())))?;
    if let Some(dir) = &args.advisory_db
        && !dir.is_dir()
    {
        return Err(Failure::input(
            format!("--advisory-db {}: not a directory", dir.display()),
            Some(
                "give the directory of an unpacked OSV export (one JSON file per advisory)".into(),
            ),
        ));
    }
    let now = now();
    let snap = snapshot(ctx, args, now);
    let mut report = run_checks(ctx, &snap, &checks);
    let mut snap = snap;

    let rollback_target = if ctx.root.is_live() {
        String::new()
    } else {
        format!(" --root {}", ctx.root.path().display())
    };
    let mut fix = None;
    if args.fix {
        let plan = cryptobot_assess::fix::plan(&snap, &report)
            .map_err(|e| Failure::input(e.to_string(), e.hint()))?;
        let mut outcome = FixOutcome {
            plan,
            dry_run: args.dry_run,
            applied: 0,
            journal: None,
        };
        if !args.dry_run && !outcome.plan.plan.is_empty() {
            let applied = ctx.apply(&outcome.plan.plan, "assess --fix")?;
            outcome.applied = applied.applied;
            outcome.journal = applied.journal;
            // Assess again: the report shows the host as it is now.
            snap = snapshot(ctx, args, now);
            report = run_checks(ctx, &snap, &checks);
        }
        fix = Some(outcome);
    }

    // The history: one line per run of an installation (not for a dry
    // run, which changes nothing).
    let line = history::line(&report, now);
    let mut recorded = false;
    if !args.no_history && !args.dry_run && snap.has_install() {
        match history::append(&snap, &line) {
            Ok(_) => recorded = true,
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    let home = ctx.layout.home();
    let target = if ctx.root.is_live() {
        format!("home {}", home.display())
    } else {
        format!(
            "root {}, home {}",
            ctx.root.path().display(),
            home.display()
        )
    };
    // A fix summary never goes into a machine document on stdout.
    let fix_text = fix.as_ref().map(|f| f.to_text(&rollback_target));
    match ctx.out.format {
        Format::Json => {
            let mut doc = report.to_json(ctx.root.path(), home);
            if let Some(f) = &fix {
                doc["fix"] = f.to_json();
            }
            println!("{doc:#}");
        }
        Format::Sarif | Format::Junit | Format::Html => {
            if let Some(t) = &fix_text
                && !ctx.out.quiet
            {
                eprint!("{t}");
            }
            match ctx.out.format {
                Format::Sarif => println!("{:#}", report.to_sarif()),
                Format::Junit => print!("{}", report.to_junit(&target)),
                _ => {
                    let (mut entries, warnings) = history::read(&snap);
                    for w in warnings {
                        eprintln!("warning: {w}");
                    }
                    if !recorded {
                        entries.extend(history::parse(&line));
                    }
                    let generated = cryptobot_plan::utc_stamps(u64::try_from(now).unwrap_or(0)).1;
                    print!("{}", report.to_html(&target, &generated, &entries));
                }
            }
        }
        Format::Text if !ctx.out.quiet => {
            if let Some(t) = &fix_text {
                println!("{t}");
            }
            print!(
                "{}",
                report.to_text_styled(&target, use_color(ctx, args.color))
            );
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
    println!("fixable by --fix: {}", if c.fixable { "yes" } else { "no" });
    println!("\nwhy: {}", c.rationale);
    println!("\nfix: {}", c.remediation);
    Ok(())
}
