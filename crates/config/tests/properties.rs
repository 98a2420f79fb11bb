//! Round-trip properties of loading: a valid configuration, rendered as
//! TOML, loads back to the same settings; and its effective values, given
//! back as `CRYPTOBOT_*` environment variables over the defaults, do too.
//! (The parser itself is fuzzed by `fuzz/fuzz_targets/config_load.rs`.)

use std::path::Path;

use cryptobot_config::{Config, ENV_PREFIX};
use proptest::prelude::*;
use toml::Value;

const FILE: &str = "/opt/cryptobot/config/cryptobot.toml";

/// Environment overrides of a varied but mostly valid configuration.
fn overrides() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = [
        "AUTH", "DATA", "STRATEGY", "BACKTEST", "TRADE", "WEB", "POSTGRES", "REDIS",
    ];
    (
        proptest::collection::vec(1024u16..=65_000, 8),
        any::<[bool; 3]>(),
        12u32..=64,
        "[a-z_][a-z0-9_]{0,20}",
        // Printable text, quotes and backslashes included: TOML escaping.
        "[ -9;-~]{0,20}[!-9;-~]",
        proptest::collection::vec("[a-z]{1,10}", 0..4),
        proptest::option::of(1u16..=65_535),
    )
        .prop_map(
            move |(ports, flags, min_length, db_name, issuer, hosts, ssh_port)| {
                let mut env: Vec<(String, String)> = names
                    .iter()
                    .zip(&ports)
                    .map(|(n, p)| (format!("SERVICES__{n}__PORT"), p.to_string()))
                    .collect();
                env.push((
                    "SECURITY__MFA__REQUIRED_FOR_API_KEY_CREATION".into(),
                    flags[0].to_string(),
                ));
                env.push((
                    "SECURITY__PASSWORD_POLICY__REQUIRE_SPECIAL".into(),
                    flags[1].to_string(),
                ));
                env.push((
                    "SECURITY__PASSWORD_POLICY__MIN_LENGTH".into(),
                    min_length.to_string(),
                ));
                env.push(("DATABASE__NAME".into(), db_name));
                env.push(("SECURITY__MFA__TOTP_ISSUER".into(), issuer));
                if flags[2] {
                    let origins: Vec<String> = hosts
                        .iter()
                        .map(|h| format!("https://{h}.example:3000"))
                        .collect();
                    env.push(("SERVER__CORS_ORIGINS".into(), origins.join(",")));
                }
                if let Some(port) = ssh_port {
                    env.push(("FIREWALL__SSH_PORT".into(), port.to_string()));
                }
                env.into_iter()
                    .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), v))
                    .collect()
            },
        )
}

/// The text an operator would set a variable to for this TOML value.
fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

proptest! {
    #[test]
    fn rendered_settings_load_back(env in overrides()) {
        // Duplicate ports, or an SSH port that is a service's, are refused,
        // which is not what this property is about (too many such cases and
        // proptest fails the property).
        let config = Config::defaults(&env);
        prop_assume!(config.is_ok());
        let Ok(config) = config else { unreachable!() };
        let text = toml::to_string(config.settings()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Config::from_toml(&text, Path::new(FILE), &[])
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(again.settings(), config.settings());
    }

    #[test]
    fn effective_values_as_environment_load_back(env in overrides()) {
        let config = Config::defaults(&env);
        prop_assume!(config.is_ok());
        let Ok(config) = config else { unreachable!() };
        let again_env: Vec<(String, String)> = config
            .entries()
            .iter()
            .map(|(key, value, _)| {
                let var = key.split('.').map(str::to_ascii_uppercase).collect::<Vec<_>>().join("__");
                (format!("{ENV_PREFIX}{var}"), env_text(value))
            })
            .collect();
        let again = Config::defaults(&again_env)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.settings(), config.settings());
    }
}
