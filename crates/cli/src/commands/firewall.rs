//! `cryptobot firewall`: render the rules for a backend, check that the
//! configuration keeps SSH reachable, and `apply`, `confirm`, `persist`
//! (plus the hidden `watchdog` and `normalize`). The work is done by
//! `cryptobot_firewall` (the rule model, the renderers and the live
//! engine, which returns reports); this module parses the arguments,
//! resolves the configuration and prints.

use std::path::Path;

use cryptobot_config::{Config, Egress};
use cryptobot_firewall::live::{
    self, ApplyOptions, ApplyReport, Armed, ArmedDetail, ConfirmReport, DryRun, LiveBackend,
    PersistReport,
};
use cryptobot_firewall::{self as firewall, FirewallError, RuleSet, Target};
use cryptobot_plan::Rendered;
use serde_json::json;

use crate::cli::{
    FirewallApplyArgs, FirewallBackendArg, FirewallCommand, FirewallLiveBackendArg,
    FirewallNormalizeArgs, FirewallPersistArgs, FirewallRenderArgs, FirewallWatchdogArgs,
};
use crate::context::{Context, Failure};

fn failure(e: FirewallError) -> Failure {
    let hint = e.hint();
    match e {
        // The resolver or the network, not the input.
        FirewallError::Resolve { .. } | FirewallError::NoAddress { .. } => {
            Failure::runtime(e.to_string(), hint)
        }
        _ => Failure::input(e.to_string(), hint),
    }
}

pub fn run(ctx: &Context, cmd: &FirewallCommand) -> Result<(), Failure> {
    match cmd {
        FirewallCommand::Check => check(ctx),
        FirewallCommand::Render(args) => render(ctx, args),
        FirewallCommand::Apply(args) => apply(ctx, args),
        FirewallCommand::Confirm => confirm(ctx),
        FirewallCommand::Persist(args) => persist(ctx, args),
        FirewallCommand::Watchdog(args) => watchdog(ctx, args),
        FirewallCommand::Normalize(args) => normalize(args),
    }
}

/// The configuration and the SSH ports; `resolved` are the HTTPS addresses
/// of the egress allow-list.
fn rule_set(
    ctx: &Context,
    resolved: impl FnOnce(&Config) -> Result<Vec<std::net::IpAddr>, Failure>,
) -> Result<(Config, RuleSet), Failure> {
    let (config, _) = ctx.load_config()?;
    let ssh = firewall::ssh_ports(&config, &ctx.root).map_err(failure)?;
    let addrs = resolved(&config)?;
    let rules = firewall::rules(&config, &ssh, &addrs).map_err(failure)?;
    Ok((config, rules))
}

/// The backend the configuration names; for `auto`, what this host (under
/// `--root`) already uses, and why.
fn configured(ctx: &Context, config: &Config) -> (Target, &'static str) {
    match config.firewall.backend {
        cryptobot_config::FirewallBackend::Auto => {
            firewall::auto_target(&firewall::HostFirewall::read(&ctx.root))
        }
        other => (
            Target::from_config(other, &firewall::HostFirewall::default()),
            "",
        ),
    }
}

fn check(ctx: &Context) -> Result<(), Failure> {
    // Offline: addresses are resolved when rendering, not needed to judge.
    let (config, rules) = rule_set(ctx, |_| Ok(Vec::new()))?;
    let ports = |v: &[firewall::Port]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|p| json!({"service": p.name, "port": p.port}))
            .collect()
    };
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall check",
            "ok": true,
            "ssh_ports": rules.ssh_ports,
            "ssh_source": rules.ssh_source.to_string(),
            "ssh_rate_limit_per_minute": rules.ssh_rate_per_minute,
            "public": ports(&rules.public),
            "loopback_only": ports(&rules.loopback_only),
            "egress": match config.firewall.egress { Egress::Open => "open", Egress::Allowlist => "allowlist" },
            "backend": configured(ctx, &config).0.as_str(),
            "backend_reason": configured(ctx, &config).1,
        });
        println!("{doc:#}");
        return Ok(());
    }
    if ctx.out.quiet {
        return Ok(());
    }
    let list = |v: &[firewall::Port]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|p| format!("{} {}", p.name, p.port))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!(
        "ok: SSH stays reachable on tcp {} (from {}), at most {} new connections per address and minute",
        rules
            .ssh_ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        rules.ssh_source,
        rules.ssh_rate_per_minute
    );
    println!("public (opened): {}", list(&rules.public));
    println!("loopback only: {}", list(&rules.loopback_only));
    match &config.firewall.egress {
        Egress::Open => println!("outbound: open"),
        Egress::Allowlist => println!(
            "outbound: allow-list (DNS {}, NTP {}, HTTPS to {})",
            config.firewall.egress_dns.join(", "),
            config.firewall.egress_ntp.join(", "),
            config.firewall.egress_hosts.join(", ")
        ),
    }
    let (target, why) = configured(ctx, &config);
    println!(
        "backend: {} (firewall.backend = {}{}{})",
        target.as_str(),
        config.firewall.backend.as_str(),
        if why.is_empty() { "" } else { ": " },
        why
    );
    Ok(())
}

fn target(arg: FirewallBackendArg) -> Target {
    match arg {
        FirewallBackendArg::Nftables => Target::Nftables,
        FirewallBackendArg::Iptables => Target::Iptables,
        FirewallBackendArg::Ufw => Target::Ufw,
        FirewallBackendArg::Firewalld => Target::Firewalld,
        FirewallBackendArg::Pf => Target::Pf,
        FirewallBackendArg::Windows => Target::Windows,
        FirewallBackendArg::Fail2ban => Target::Fail2ban,
    }
}

fn render(ctx: &Context, args: &FirewallRenderArgs) -> Result<(), Failure> {
    if let Some(out) = &args.out {
        crate::outfile::existing_dir(out, "--out")?;
    }
    let mut chosen = args.backend.map(target);
    let (config, rules) = rule_set(ctx, |config| {
        let t = *chosen.get_or_insert(configured(ctx, config).0);
        if config.firewall.egress != Egress::Allowlist || t == Target::Fail2ban {
            return Ok(Vec::new());
        }
        if !args.egress_addresses.is_empty() {
            return Ok(args.egress_addresses.clone());
        }
        firewall::resolve_hosts(&config.firewall.egress_hosts).map_err(failure)
    })?;
    let t = chosen.unwrap_or(configured(ctx, &config).0);
    let files = firewall::render(t, &rules, &config);

    let Some(out) = &args.out else {
        if ctx.out.json() {
            let docs: Vec<_> = files
                .iter()
                .map(|f| json!({"name": f.name, "purpose": f.purpose, "content": f.content}))
                .collect();
            let doc = json!({"command": "firewall render", "backend": t.as_str(), "files": docs});
            println!("{doc:#}");
            return Ok(());
        }
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
    for f in &files {
        write_into(out, f)?;
    }
    if ctx.out.json() {
        let docs: Vec<_> = files
            .iter()
            .map(|f| json!({"path": out.join(f.name), "purpose": f.purpose}))
            .collect();
        let doc = json!({"command": "firewall render", "backend": t.as_str(), "written": docs});
        println!("{doc:#}");
    } else if !ctx.out.quiet {
        for f in &files {
            println!("wrote {}: {}", out.join(f.name).display(), f.purpose);
        }
        println!("nothing was applied: load the files as their headers say");
    }
    Ok(())
}

/// Writes `f` into `dir`, atomically. A name with one directory
/// (`jail.d/cryptobot.conf`) goes into that subdirectory, which is created
/// (0755) when missing and must not be a symbolic link.
fn write_into(dir: &Path, f: &Rendered) -> Result<(), Failure> {
    let mode = if f.executable { 0o755 } else { 0o644 };
    let (sub, name) = match f.name.split_once('/') {
        Some((sub, name)) => (Some(sub), name),
        None => (None, f.name),
    };
    let target_dir = match sub {
        None => dir.to_path_buf(),
        Some(sub) => {
            let d = dir.join(sub);
            match std::fs::symlink_metadata(&d) {
                Ok(_) => crate::outfile::existing_dir(&d, "--out")?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
                    let io = |e: std::io::Error| {
                        Failure::runtime(
                            format!("cannot create {}: {e}", d.display()),
                            Some("check that the directory is writable".to_string()),
                        )
                    };
                    // 0755 like the directory it mirrors (/etc/fail2ban/jail.d),
                    // whatever the umask.
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&d)
                        .map_err(io)?;
                    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))
                        .map_err(io)?;
                }
                Err(e) => {
                    return Err(Failure::runtime(
                        format!("cannot inspect {}: {e}", d.display()),
                        None,
                    ));
                }
            }
            d
        }
    };
    crate::outfile::write_atomic(&target_dir, name, f.content.as_bytes(), mode)
}

// ------------------------------------------------------ the live engine

fn backend_of(arg: FirewallLiveBackendArg) -> LiveBackend {
    match arg {
        FirewallLiveBackendArg::Nftables => LiveBackend::Nftables,
        FirewallLiveBackendArg::Iptables => LiveBackend::Iptables,
        FirewallLiveBackendArg::Ufw => LiveBackend::Ufw,
        FirewallLiveBackendArg::Firewalld => LiveBackend::Firewalld,
    }
}

fn require_live(ctx: &Context, command: &str) -> Result<(), Failure> {
    if ctx.root.is_live() {
        return Ok(());
    }
    Err(Failure::input(
        format!(
            "`cryptobot firewall {command}` acts on the running kernel and cannot be used with --root {}",
            ctx.root.path().display()
        ),
        Some(format!(
            "to write the boot files into an image, run `cryptobot firewall persist --root {}`",
            ctx.root.path().display()
        )),
    ))
}

/// The backend and the configuration's rule set (SSH lock-outs refused).
fn live_rule_set(
    ctx: &Context,
    arg: Option<FirewallLiveBackendArg>,
    egress: &[std::net::IpAddr],
) -> Result<(LiveBackend, RuleSet), Failure> {
    let mut chosen = arg.map(backend_of);
    let (_, rules) = rule_set(ctx, |config| {
        if chosen.is_none() {
            let target = configured(ctx, config).0;
            chosen = Some(LiveBackend::from_target(target).ok_or_else(|| {
                Failure::input(
                    format!(
                        "firewall.backend = \"{}\": cryptobot loads only nftables, iptables, ufw and firewalld rules itself; {} is render-only",
                        config.firewall.backend.as_str(),
                        target.as_str()
                    ),
                    Some(format!(
                        "load `cryptobot firewall render --backend {}` as its header says, or pass --backend nftables",
                        target.as_str()
                    )),
                )
            })?);
        }
        if config.firewall.egress != Egress::Allowlist {
            return Ok(Vec::new());
        }
        if !egress.is_empty() {
            return Ok(egress.to_vec());
        }
        firewall::resolve_hosts(&config.firewall.egress_hosts).map_err(failure)
    })?;
    let backend = chosen.unwrap_or(LiveBackend::Nftables);
    Ok((backend, rules))
}

fn apply(ctx: &Context, args: &FirewallApplyArgs) -> Result<(), Failure> {
    require_live(ctx, "apply")?;
    let (backend, rules) = live_rule_set(ctx, args.backend, &args.egress_addresses)?;
    let opts = ApplyOptions {
        dry_run: args.dry_run,
        confirm_within: args.confirm_within,
        no_persist: args.no_persist,
    };
    match live::apply(&ctx.layout, backend, &rules, &opts)? {
        ApplyReport::DryRun(d) => print_dry_run(ctx, d),
        ApplyReport::Armed(a) => {
            print_armed(ctx, &a);
            Ok(())
        }
    }
}

/// What every backend's apply says once its rules are active: confirm in
/// time, or at the deadline the rollback does what the backend's lines say.
fn print_armed(ctx: &Context, a: &Armed) {
    let secs = a.confirm_within;
    let deadline = live::rfc3339(a.deadline_unix_ms);
    if ctx.out.json() {
        let doc = match &a.detail {
            ArmedDetail::Kernel => json!({
                "command": "firewall apply", "backend": a.backend.as_str(), "id": a.id,
                "confirm_within": secs, "deadline": deadline,
                "persist": a.persist, "previous": a.previous,
            }),
            ArmedDetail::Ufw {
                was_enabled,
                deleted,
                commands,
                ..
            } => json!({
                "command": "firewall apply", "backend": "ufw", "id": a.id,
                "confirm_within": secs, "deadline": deadline,
                "persist": a.persist, "previous": a.previous,
                "was_enabled": was_enabled, "deleted": deleted, "commands": commands,
            }),
            ArmedDetail::Firewalld {
                default_zone,
                previous_default_zone,
                check_note,
                warnings,
            } => json!({
                "command": "firewall apply", "backend": "firewalld", "id": a.id,
                "confirm_within": secs, "deadline": deadline,
                "persist": a.persist, "previous": a.previous,
                "default_zone": default_zone, "previous_default_zone": previous_default_zone,
                "checked": check_note.is_none(), "warnings": warnings,
            }),
        };
        println!("{doc:#}");
        return;
    }
    if ctx.out.quiet {
        return;
    }
    let what = match &a.detail {
        ArmedDetail::Kernel => format!("restores {}", a.previous.display()),
        ArmedDetail::Ufw { settle, .. } => format!(
            "puts ufw's previous files back (saved in {}) and runs `{settle}`",
            a.previous.display()
        ),
        ArmedDetail::Firewalld {
            previous_default_zone,
            ..
        } => format!(
            "puts firewalld's previous files back (saved in {}) and runs `firewall-cmd --reload`: default zone {previous_default_zone} again",
            a.previous.display()
        ),
    };
    println!(
        "new rules active; run `cryptobot firewall confirm` within {secs} s from a NEW ssh session, or they are rolled back"
    );
    println!("  rollback at {deadline} {what} (log: {})", a.log.display());
    match &a.detail {
        ArmedDetail::Kernel => {
            if !a.persist {
                println!("  --no-persist: after confirm the rules last until the next reboot");
            }
        }
        ArmedDetail::Ufw { .. } => {
            println!(
                "  until confirmed, /etc/ufw (and so `ufw status`) holds the previous rules; a reboot or `ufw reload` goes back to them"
            );
            if !a.persist {
                println!(
                    "  --no-persist: after confirm the rules last until the next reboot or `ufw reload`"
                );
            }
        }
        ArmedDetail::Firewalld {
            check_note,
            warnings,
            ..
        } => {
            println!(
                "  until confirmed, /etc/firewalld holds the previous configuration; a reboot or `firewall-cmd --reload` goes back to it"
            );
            if !a.persist {
                println!(
                    "  --no-persist: after confirm the rules last until the next reboot or `firewall-cmd --reload`"
                );
            }
            if let Some(n) = check_note {
                println!("note: {n}");
            }
            for w in warnings {
                println!("warning: {w}");
            }
        }
    }
}

/// `apply --dry-run`; firewalld's refused check is the command's error
/// after the report.
fn print_dry_run(ctx: &Context, d: DryRun) -> Result<(), Failure> {
    match d {
        DryRun::Kernel {
            backend,
            present,
            what,
            have,
            diff,
            note,
        } => {
            if ctx.out.json() {
                let doc = json!({
                    "command": "firewall apply", "dry_run": true, "backend": backend.as_str(),
                    "active": present, "changed": !diff.is_empty(), "diff": diff, "note": note,
                });
                println!("{doc:#}");
                return Ok(());
            }
            if ctx.out.quiet {
                return Ok(());
            }
            println!("dry run: nothing is changed.");
            if let Some(n) = note {
                println!("note: {n}");
            }
            if diff.is_empty() {
                println!("no change: the active {what} already {have} these rules");
            } else {
                println!();
                print!("{diff}");
            }
            Ok(())
        }
        DryRun::Ufw {
            enabled,
            deletes,
            commands,
        } => {
            if ctx.out.json() {
                let delete: Vec<&String> = deletes.iter().map(|(d, _)| d).collect();
                let doc = json!({
                    "command": "firewall apply", "dry_run": true, "backend": "ufw",
                    "enabled": enabled, "delete": delete, "commands": commands,
                });
                println!("{doc:#}");
                return Ok(());
            }
            if ctx.out.quiet {
                return Ok(());
            }
            println!("dry run: nothing is changed.");
            println!(
                "ufw is {}; `cryptobot firewall apply` would run:",
                if enabled { "enabled" } else { "not enabled" }
            );
            if deletes.is_empty() {
                println!("\n# no rules of an earlier run to delete");
            } else {
                println!("\n# delete the rules an earlier run added");
                for (d, comment) in &deletes {
                    println!("{d}    # was: {comment}");
                }
            }
            println!("\n# the rules");
            for r in &commands {
                println!("{r}");
            }
            Ok(())
        }
        DryRun::Firewalld {
            running,
            default_zone,
            diffs,
            commands,
            check,
            warnings,
        } => {
            if ctx.out.json() {
                let files: Vec<_> = diffs
                    .iter()
                    .map(|(p, d)| json!({"path": p, "changed": !d.is_empty(), "diff": d}))
                    .collect();
                let doc = json!({
                    "command": "firewall apply", "dry_run": true, "backend": "firewalld",
                    "running": running.is_ok(), "default_zone": default_zone,
                    "files": files, "commands": commands,
                    "check": check.as_ref().map_err(|e| e.to_string()).err(),
                    "warnings": warnings,
                });
                println!("{doc:#}");
            } else if !ctx.out.quiet {
                println!("dry run: nothing is changed.");
                match &running {
                    Ok(()) => println!("firewalld is running; its default zone is {default_zone}"),
                    Err(said) => println!(
                        "note: firewalld is not running ({said}): `cryptobot firewall apply` would refuse"
                    ),
                }
                for (path, diff) in &diffs {
                    if diff.is_empty() {
                        println!("\n# {path}: no change");
                    } else {
                        println!();
                        print!("{diff}");
                    }
                }
                println!("\n# then `cryptobot firewall apply` would run");
                for c in &commands {
                    println!("{c}");
                }
                println!(
                    "# and put the previous files back on disk until `cryptobot firewall confirm`"
                );
                if let Ok(c) = &check {
                    println!("\ncheck with firewall-offline-cmd: {c}");
                }
                for w in &warnings {
                    println!("warning: {w}");
                }
            }
            check.map(|_| ()).map_err(Failure::from)
        }
    }
}

fn confirm(ctx: &Context) -> Result<(), Failure> {
    require_live(ctx, "confirm")?;
    let report = live::confirm(&ctx.root, &ctx.layout)?;
    print_confirmed(ctx, &report);
    Ok(report.finish()?)
}

fn print_confirmed(ctx: &Context, r: &ConfirmReport) {
    if ctx.out.json() {
        let doc = json!({
            "command": "firewall confirm", "id": r.id, "confirmed": true,
            "persisted": r.persisted.as_ref().ok(),
            "journal": r.journal.as_ref().ok().and_then(|j| j.journal.clone()),
        });
        println!("{doc:#}");
    } else if !ctx.out.quiet {
        println!(
            "confirmed: the new {} rules stay active (apply {})",
            r.backend.as_str(),
            r.id
        );
        if let (Ok(paths), Ok(_)) = (&r.persisted, &r.journal) {
            for path in paths {
                println!("  persisted: {path}");
            }
            if !r.persist {
                println!("  not persisted (--no-persist): they last until the next reboot");
            }
            for note in &r.notes {
                println!("note: {note}");
            }
            println!(
                "`cryptobot rollback` restores the rules before this apply{}",
                if paths.is_empty() {
                    ""
                } else {
                    " and the boot files"
                }
            );
        }
    }
}

fn persist(ctx: &Context, args: &FirewallPersistArgs) -> Result<(), Failure> {
    let (backend, rules) = live_rule_set(ctx, args.backend, &args.egress_addresses)?;
    let target = if ctx.root.is_live() {
        String::new()
    } else {
        format!(" --root {}", ctx.root.path().display())
    };
    match live::persist(&ctx.root, &ctx.layout, backend, &rules, args.dry_run)? {
        PersistReport::DryRun {
            backend,
            plan,
            mut notes,
        } => {
            if ctx.out.json() {
                let all: Vec<&String> = notes.iter().chain(plan.notes()).collect();
                let doc = json!({"command": "firewall persist", "dry_run": true, "backend": backend.as_str(), "changes": plan.to_json(), "notes": all});
                println!("{doc:#}");
            } else if !ctx.out.quiet {
                println!("dry run: nothing is written.\n");
                if plan.is_empty() {
                    println!("nothing to do: the boot files already have these rules");
                    notes.extend(plan.notes().iter().cloned());
                } else {
                    // The plan's own notes are part of its text.
                    print!("{}", plan.render_text());
                }
                for n in &notes {
                    println!("note: {n}");
                }
            }
        }
        PersistReport::Applied {
            backend,
            plan,
            paths,
            report,
            notes,
        } => {
            if ctx.out.json() {
                let doc = json!({
                    "command": "firewall persist", "dry_run": false, "backend": backend.as_str(),
                    "files": paths, "applied": report.applied, "journal": report.journal, "notes": notes,
                });
                println!("{doc:#}");
                return Ok(());
            }
            if ctx.out.quiet {
                return Ok(());
            }
            if plan.is_empty() {
                println!("nothing to do: the boot files already have these rules");
            } else {
                if ctx.out.verbose > 0 {
                    print!("{}", plan.render_text());
                    println!();
                }
                for p in &paths {
                    println!("persisted: {p}");
                }
                println!(
                    "applied {} change{}; `cryptobot rollback{target}` undoes them. The running firewall was not changed.",
                    report.applied,
                    if report.applied == 1 { "" } else { "s" }
                );
            }
            for n in &notes {
                println!("note: {n}");
            }
        }
    }
    Ok(())
}

/// The hidden `firewall watchdog` that `apply` starts.
fn watchdog(ctx: &Context, args: &FirewallWatchdogArgs) -> Result<(), Failure> {
    require_live(ctx, "watchdog")?;
    Ok(live::watchdog(
        &ctx.layout,
        backend_of(args.backend),
        &args.id,
        args.deadline,
    )?)
}

/// The hidden `firewall normalize` of `apply --dry-run`.
fn normalize(args: &FirewallNormalizeArgs) -> Result<(), Failure> {
    print!("{}", live::normalize(backend_of(args.backend))?);
    Ok(())
}
