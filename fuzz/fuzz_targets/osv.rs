//! An OSV advisory document (`osv::Database::add`) and the version
//! matching of `lookup`, as the dependency check of `cryptobot assess`
//! uses them.
//!
//! Input: one advisory as JSON.
//!
//! Oracles: no panic; every version the document names is looked up; a
//! match's `fixed` version parses and is above the matched version.
#![no_main]

use cryptobot_assess::osv::Database;
use cryptobot_assess::pep440::Version;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Every string in `v`, depth first (advisories are small).
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut db = Database::default();
    if db.add(&doc).is_none() {
        return;
    }
    let mut texts = Vec::new();
    strings(&doc, &mut texts);
    let versions: Vec<Version> = texts
        .iter()
        .filter_map(|t| Version::parse(t))
        .take(16)
        .collect();
    let names: Vec<&str> = texts.iter().copied().take(16).collect();
    for name in &names {
        for version in &versions {
            for hit in db.lookup(name, version) {
                if let Some(fixed) = &hit.fixed {
                    let Some(fixed) = Version::parse(fixed) else {
                        panic!("fixed version {fixed:?} does not parse");
                    };
                    assert!(fixed > *version, "fixed {fixed} is not above {version}");
                }
            }
        }
    }
});
