//! `cryptobot rollback`.

use cryptobot_plan::{rollback, rollback_plan};
use serde_json::json;

use crate::cli::RollbackArgs;
use crate::context::{Context, Failure};

pub fn run(ctx: &Context, args: &RollbackArgs) -> Result<(), Failure> {
    let journal_dir = ctx.layout.changes_dir();
    let (plan, target) = rollback_plan(&ctx.root, &journal_dir)?;
    if args.dry_run {
        if ctx.out.json() {
            println!(
                "{:#}",
                json!({"command": "rollback", "dry_run": true, "run": target.to_string(), "changes": plan.to_json()})
            );
        } else if !ctx.out.quiet {
            println!("dry run: nothing is written.\nrolling back {target} would:\n");
            print!("{}", plan.render_text());
        }
        return Ok(());
    }
    let report = rollback(&ctx.root, &journal_dir)?;
    if ctx.out.json() {
        println!(
            "{:#}",
            json!({"command": "rollback", "dry_run": false, "run": target.to_string(), "changes": plan.to_json(), "notes": report.notes})
        );
    } else if !ctx.out.quiet {
        if ctx.out.verbose > 0 {
            print!("{}", plan.render_text());
        }
        println!("rolled back {target}");
        for note in &report.notes {
            println!("  note: {note}");
        }
    }
    Ok(())
}
