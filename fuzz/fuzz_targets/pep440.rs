//! PEP 440 versions and PEP 503 names (`assess::pep440`), as the
//! dependency check reads pinned requirements and advisories.
//!
//! Input: up to three version strings, NUL-separated.
//!
//! Oracles: no panic; a version equals itself and its own text parsed
//! again; the order is antisymmetric and transitive over the three;
//! normalising a name twice changes nothing.
#![no_main]

use std::cmp::Ordering;

use cryptobot_assess::pep440::{Version, normalize_name};
use cryptobot_fuzz::parts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let texts: Vec<String> = parts(data, 3)
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    for t in &texts {
        let once = normalize_name(t);
        assert_eq!(
            normalize_name(&once),
            once,
            "normalize_name is not idempotent"
        );
    }
    let versions: Vec<Version> = texts.iter().filter_map(|t| Version::parse(t)).collect();
    for a in &versions {
        assert_eq!(a.cmp(a), Ordering::Equal);
        match Version::parse(&a.to_string()) {
            Some(again) => assert_eq!(again.cmp(a), Ordering::Equal, "{a} parsed again differs"),
            None => panic!("{a} does not parse again"),
        }
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{a} vs {b}");
            assert_eq!(a == b, a.cmp(b) == Ordering::Equal);
            for c in &versions {
                if a <= b && b <= c {
                    assert!(a <= c, "{a} <= {b} <= {c} but not {a} <= {c}");
                }
            }
        }
    }
});
