//! Opening this machine's installation for the commands that act on its
//! database (`apikey`, `keys`, `vault`): refuse `--root`, prepare the
//! installation with secure-config if needed, load the configuration, and
//! open the store.

use cryptobot_config::Settings;
use cryptobot_store::Store;

use crate::commands::secure_config::prepare_if_needed;
use crate::commands::serve::runtime;
use crate::context::{Context, Failure};

/// Refuses `--root`: these commands act on this machine's database.
pub(crate) fn require_live(ctx: &Context, what: &str) -> Result<(), Failure> {
    if ctx.root.is_live() {
        return Ok(());
    }
    Err(Failure::input(
        format!("{what} commands act on this machine's database; --root cannot be used with them"),
        Some("leave out --root".to_string()),
    ))
}

/// Prepares the installation if needed (saying so on stderr), then loads
/// the configuration and makes a runtime.
pub(crate) fn prepare(ctx: &Context) -> Result<(Settings, tokio::runtime::Runtime), Failure> {
    if let Some(n) = prepare_if_needed(ctx)?
        && !ctx.out.quiet
        && !ctx.out.json()
    {
        eprintln!(
            "prepared {} with secure-config ({n} changes)",
            ctx.layout.home().display()
        );
    }
    let (config, _) = ctx.load_config()?;
    Ok((config.settings().clone(), runtime()?))
}

/// Opens the configured database.
pub(crate) async fn open_store(ctx: &Context, settings: &Settings) -> Result<Store, Failure> {
    cryptobot_service::store::open_store(settings, &ctx.layout)
        .await
        .map_err(|e| {
            let hint = e.hint();
            Failure::runtime(e.to_string(), hint)
        })
}
