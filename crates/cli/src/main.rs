//! `cryptobot`: one binary for Cryptobot's hardening commands and security
//! service. This crate is deliberately thin: it parses arguments, resolves
//! the installation, calls the library crates and prints.

mod cli;
mod commands;
mod context;
mod outfile;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command, ConfigCommand, TokenCommand};
use context::{Context, Failure};

fn main() -> ExitCode {
    // Files this process creates outside the plan executor (which sets exact
    // modes) are never group-writable or world-readable.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o027));
    quiet_broken_pipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {}", f.message);
            if let Some(hint) = f.hint {
                let _ = writeln!(err, "  fix: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// `cryptobot ssl status | head` closes our stdout early; `println!` then
/// panics. That is not a failure of ours: exit quietly with the status a
/// shell reports for SIGPIPE (128 + 13) instead of printing a panic.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if matches!(
        cli.format,
        cli::Format::Sarif | cli::Format::Junit | cli::Format::Html
    ) && !matches!(cli.command, Command::Assess(_))
    {
        return Err(Failure::input(
            format!(
                "--format {} is only available for `cryptobot assess`",
                format!("{:?}", cli.format).to_ascii_lowercase()
            ),
            Some("use --format text or --format json".to_string()),
        ));
    }
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "cryptobot",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { out_dir } => man(out_dir.as_deref()),
        Command::SecureConfig(args) => commands::secure_config::run(&Context::new(cli)?, args),
        Command::Config(ConfigCommand::Check) => commands::config::check(&Context::new(cli)?),
        Command::Config(ConfigCommand::Show) => commands::config::show(&Context::new(cli)?),
        Command::Rollback(args) => commands::rollback::run(&Context::new(cli)?, args),
        Command::Permissions(args) => commands::permissions::run(&Context::new(cli)?, args),
        Command::Ssl(args) => commands::ssl::run(&Context::new(cli)?, args),
        Command::Assess(args) => commands::assess::run(&Context::new(cli)?, args),
        Command::Firewall(cmd) => commands::firewall::run(&Context::new(cli)?, cmd),
        Command::Openapi => {
            println!("{:#}", cryptobot_server::openapi::openapi_value());
            Ok(())
        }
        Command::Serve => commands::serve::run(&Context::new(cli)?),
        Command::User(cmd) => commands::user::run(&Context::new(cli)?, cmd),
        Command::Apikey(cmd) => commands::api_keys::run(&Context::new(cli)?, cmd),
        Command::Keys(cmd) => commands::exchange_keys::run(&Context::new(cli)?, cmd),
        Command::Vault(cmd) => commands::exchange_keys::vault(&Context::new(cli)?, cmd),
        Command::Token(TokenCommand::RotateSigningKey) => {
            commands::signing_keys::rotate_signing_key(&Context::new(cli)?)
        }
    }
}

fn man(out_dir: Option<&std::path::Path>) -> Result<(), Failure> {
    let cmd = Cli::command();
    let io = |e: std::io::Error| Failure::runtime(format!("cannot write the man page: {e}"), None);
    match out_dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(io),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io)?;
            clap_mangen::generate_to(cmd, dir).map_err(io)?;
            Ok(())
        }
    }
}
