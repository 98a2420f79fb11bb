//! `cryptobot.toml` plus `CRYPTOBOT_<SECTION>__<KEY>` overrides, as
//! `Config::load` reads them. Input: the TOML text, then (after a NUL
//! byte) environment lines `SECTION__KEY=value` (the `CRYPTOBOT_` prefix
//! is added).
//!
//! Oracles: no panic; a valid configuration renders to TOML that loads
//! again to the same settings; every problem renders.
#![no_main]

use std::path::Path;

use cryptobot_config::Config;
use cryptobot_fuzz::parts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 2);
    let Ok(text) = std::str::from_utf8(p[0]) else {
        return;
    };
    let env: Vec<(String, String)> = p
        .get(1)
        .map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (format!("CRYPTOBOT_{k}"), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let origin = Path::new("/opt/cryptobot/config/cryptobot.toml");
    match Config::from_toml(text, origin, &env) {
        Ok(config) => {
            for (key, _, source) in config.entries() {
                assert_eq!(config.source_of(&key), source, "{key}");
                let _ = source.to_string();
            }
            let rendered = match toml::to_string(config.settings()) {
                Ok(r) => r,
                Err(e) => panic!("valid settings do not render as TOML: {e}"),
            };
            match Config::from_toml(&rendered, origin, &[]) {
                Ok(again) => assert_eq!(
                    again.settings(),
                    config.settings(),
                    "the rendered configuration loads differently"
                ),
                Err(e) => panic!("the rendered configuration does not load: {e}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
            for problem in e.problems() {
                let _ = problem.to_string();
            }
        }
    }
});
