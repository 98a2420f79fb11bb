//! `cryptobot token rotate-signing-key`: a new signing key, with the old
//! one kept for verification until every token it signed has expired.

use cryptobot_auth::SigningKey;
use cryptobot_config::SECRET_FILE_MODE;
use cryptobot_plan::{Content, Planner};
use cryptobot_service::clock::now;
use cryptobot_service::signing_keys;
use secrecy::SecretBox;
use serde_json::json;

use crate::commands::secure_config::prepare_if_needed;
use crate::context::{Context, Failure};

fn key_failure(e: signing_keys::KeyError) -> Failure {
    let hint = e.hint().to_string();
    Failure::input(e.to_string(), Some(hint))
}

pub fn rotate_signing_key(ctx: &Context) -> Result<(), Failure> {
    prepare_if_needed(ctx)?;
    let (config, _) = ctx.load_config()?;
    let now = now();
    let key_path = signing_keys::signing_path(&ctx.layout);
    let current =
        signing_keys::read_signing_key(&ctx.root.host(&key_path)?).map_err(key_failure)?;
    let host_layout = cryptobot_config::Layout::new(ctx.root.host(ctx.layout.home())?);
    let retired = signing_keys::read_retired(&host_layout).map_err(key_failure)?;
    let lifetime = i64::from(config.security.session.access_token_seconds);
    let list = signing_keys::retire(retired, &current, now, lifetime);
    let (new_key, pem) = SigningKey::generate()
        .map_err(|e| Failure::runtime(format!("cannot generate a key: {e}"), None))?;
    let list_text =
        serde_json::to_string_pretty(&list).map_err(|e| Failure::runtime(e.to_string(), None))?;

    let mut planner = Planner::new(&ctx.root);
    planner.ensure_file(
        &key_path,
        Content::Secret(SecretBox::new(pem.as_bytes().to_vec().into_boxed_slice())),
        SECRET_FILE_MODE,
        None,
    )?;
    planner.ensure_file(
        &signing_keys::retired_path(&ctx.layout),
        Content::Text(list_text + "\n"),
        SECRET_FILE_MODE,
        None,
    )?;
    ctx.apply(&planner.finish(), "token rotate-signing-key")?;
    let until = now + lifetime + 60;
    if ctx.out.json() {
        println!(
            "{}",
            json!({"new_kid": new_key.kid(), "retired_kid": current.kid(), "old_tokens_valid_until": until})
        );
    } else if !ctx.out.quiet {
        println!("new signing key: kid {}", new_key.kid());
        println!(
            "previous key {} still verifies tokens for {}s (until unix time {until})",
            current.kid(),
            lifetime + 60
        );
        println!("running servers pick up the new key within a few seconds");
    }
    Ok(())
}
