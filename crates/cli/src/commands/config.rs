//! `cryptobot config check` and `cryptobot config show`.

use std::os::unix::fs::PermissionsExt;

use cryptobot_config::Source;
use cryptobot_harden::SecretName;
use serde_json::json;

use crate::context::{Context, Failure};

pub fn check(ctx: &Context) -> Result<(), Failure> {
    let (config, exists) = ctx.load_config()?;
    let path = ctx.config_path.display().to_string();
    if ctx.out.json() {
        println!(
            "{:#}",
            json!({"valid": true, "file": if exists { Some(&path) } else { None }})
        );
    } else if !ctx.out.quiet {
        match config.file() {
            Some(_) => println!("configuration is valid: {path}"),
            None => println!(
                "no configuration file at {path}; the built-in defaults apply and are valid"
            ),
        }
    }
    Ok(())
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Default => "default".into(),
        other => other.to_string(),
    }
}

pub fn show(ctx: &Context) -> Result<(), Failure> {
    let (config, _) = ctx.load_config()?;
    let entries = config.entries();
    let secrets: Vec<_> = SecretName::ALL
        .iter()
        .map(|name| {
            let path = ctx.layout.secret(name.file_name());
            let meta = ctx
                .root
                .host(&path)
                .ok()
                .and_then(|p| std::fs::symlink_metadata(p).ok());
            let mode = meta.as_ref().map(|m| m.permissions().mode() & 0o7777);
            (name, path, mode)
        })
        .collect();

    if ctx.out.json() {
        let settings: Vec<_> = entries
            .iter()
            .map(|(k, v, s)| json!({"key": k, "value": v, "source": source_text(s)}))
            .collect();
        let secrets: Vec<_> = secrets
            .iter()
            .map(|(name, path, mode)| {
                json!({
                    "name": name.file_name(), "path": path, "present": mode.is_some(),
                    "mode": mode.map(|m| format!("{m:04o}")), "value": "[redacted]",
                })
            })
            .collect();
        println!(
            "{:#}",
            json!({"file": config.file(), "settings": settings, "secrets": secrets})
        );
        return Ok(());
    }
    let width = entries
        .iter()
        .map(|(k, v, _)| k.len() + v.to_string().len())
        .max()
        .unwrap_or(0)
        + 3;
    match config.file() {
        Some(f) => println!("# configuration: {}", f.display()),
        None => println!(
            "# configuration: built-in defaults ({} does not exist)",
            ctx.config_path.display()
        ),
    }
    for (key, value, source) in &entries {
        let line = format!("{key} = {value}");
        println!("{line:<width$} # {}", source_text(source));
    }
    println!("\n# secrets (values are never shown)");
    for (name, path, mode) in &secrets {
        let state = match mode {
            Some(m) if *m == 0o600 => format!("{}, mode 0600", path.display()),
            Some(m) => format!(
                "{}, mode {m:04o}: should be 0600, run `cryptobot secure-config`",
                path.display()
            ),
            None => format!("{} missing: run `cryptobot secure-config`", path.display()),
        };
        let value = if mode.is_some() {
            "[redacted]"
        } else {
            "(missing)"
        };
        let line = format!("secrets.{} = {value}", name.file_name());
        println!("{line:<width$} # {state}");
    }
    Ok(())
}
