//! `cryptobot firewall`: render the rules for a backend, or check that the
//! configuration keeps SSH reachable. Nothing here changes the host's
//! firewall; `--out` only writes files. `apply`, `confirm`, `persist` and
//! the watchdog live in [`super::firewall_live`].

use std::path::Path;

use cryptobot_config::{Config, Egress};
use cryptobot_harden::firewall::{self, FirewallError, RuleSet, Target};
use cryptobot_harden::platforms::Rendered;
use serde_json::json;

use crate::cli::{FirewallBackendArg, FirewallCommand, FirewallRenderArgs};
use crate::context::{Context, Failure};

pub(crate) fn failure(e: FirewallError) -> Failure {
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
        FirewallCommand::Apply(args) => super::firewall_live::apply(ctx, args),
        FirewallCommand::Confirm => super::firewall_live::confirm(ctx),
        FirewallCommand::Persist(args) => super::firewall_live::persist(ctx, args),
        FirewallCommand::Watchdog(args) => super::firewall_live::watchdog(ctx, args),
        FirewallCommand::Normalize(args) => super::firewall_live::normalize(args),
    }
}

/// The configuration and the SSH ports; `resolved` are the HTTPS addresses
/// of the egress allow-list.
pub(crate) fn rule_set(
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
pub(crate) fn configured(ctx: &Context, config: &Config) -> (Target, &'static str) {
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
