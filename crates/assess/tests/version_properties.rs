//! Ordering laws of the two version schemes the assessment compares:
//! PEP 440 (Python dependencies) against a reference order written from
//! the specification, alternative spellings that must parse equal, and
//! the laws of a total order; Debian versions (`dpkg --compare-versions`)
//! reflexive, antisymmetric and transitive. (The parsers are fuzzed by
//! `fuzz/fuzz_targets/pep440.rs` and `assess_dpkg.rs`.)

use std::cmp::Ordering;

use cryptobot_assess::checks::updates::compare_debian;
use cryptobot_assess::pep440::{Version, normalize_name};
use proptest::prelude::*;

/// A version by its parts.
#[derive(Debug, Clone)]
struct Parts {
    epoch: u64,
    release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, n)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    /// Local segments: numbers or lower-case words.
    local: Vec<Result<u64, String>>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        prop_oneof![4 => Just(0u64), 1 => 1u64..3],
        proptest::collection::vec(0u64..12, 1..4),
        proptest::option::of((0u8..3, 0u64..4)),
        proptest::option::of(0u64..4),
        proptest::option::of(0u64..4),
        proptest::collection::vec(
            prop_oneof![(0u64..20).prop_map(Ok), "[a-z][a-z0-9]{0,3}".prop_map(Err)],
            0..3,
        ),
    )
        .prop_map(|(epoch, release, pre, post, dev, local)| Parts {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
}

/// The normalised spelling (PEP 440 "Normalization").
fn canonical(p: &Parts) -> String {
    let mut s = String::new();
    if p.epoch != 0 {
        s.push_str(&format!("{}!", p.epoch));
    }
    let release: Vec<String> = p.release.iter().map(u64::to_string).collect();
    s.push_str(&release.join("."));
    if let Some((k, n)) = p.pre {
        s.push_str(&format!("{}{n}", ["a", "b", "rc"][usize::from(k)]));
    }
    if let Some(n) = p.post {
        s.push_str(&format!(".post{n}"));
    }
    if let Some(n) = p.dev {
        s.push_str(&format!(".dev{n}"));
    }
    if !p.local.is_empty() {
        let local: Vec<String> = p
            .local
            .iter()
            .map(|l| match l {
                Ok(n) => n.to_string(),
                Err(w) => w.clone(),
            })
            .collect();
        s.push('+');
        s.push_str(&local.join("."));
    }
    s
}

/// Another spelling PEP 440 says means the same version: `v` prefix, upper
/// case, long pre-release names, other separators, implicit numbers.
fn variant(p: &Parts) -> String {
    let mut s = String::from("V");
    if p.epoch != 0 {
        s.push_str(&format!("{}!", p.epoch));
    }
    let release: Vec<String> = p.release.iter().map(u64::to_string).collect();
    s.push_str(&release.join("."));
    if let Some((k, n)) = p.pre {
        let word = ["-ALPHA", "_Beta", ".pre"][usize::from(k)];
        s.push_str(word);
        if n != 0 {
            s.push_str(&format!(".{n}"));
        }
    }
    if let Some(n) = p.post {
        if n != 0 && p.pre.is_none() {
            s.push_str(&format!("-{n}"));
        } else {
            s.push_str(&format!("_rev{n}"));
        }
    }
    if let Some(n) = p.dev {
        if n == 0 {
            s.push_str("-DEV");
        } else {
            s.push_str(&format!("dev{n}"));
        }
    }
    if !p.local.is_empty() {
        let local: Vec<String> = p
            .local
            .iter()
            .map(|l| match l {
                Ok(n) => n.to_string(),
                Err(w) => w.to_ascii_uppercase(),
            })
            .collect();
        s.push('+');
        s.push_str(&local.join("_"));
    }
    format!("  {s} ")
}

/// PEP 440's order, from the specification's sort rules.
fn reference_cmp(a: &Parts, b: &Parts) -> Ordering {
    fn release(p: &Parts) -> Vec<u64> {
        let mut r = p.release.clone();
        while r.len() > 1 && r.last() == Some(&0) {
            r.pop();
        }
        r
    }
    // Pre-release: a dev release without pre or post sorts before every
    // pre-release; a final release (no pre) after them.
    fn pre(p: &Parts) -> (u8, u8, u64) {
        match (p.pre, p.post, p.dev) {
            (None, None, Some(_)) => (0, 0, 0),
            (None, _, _) => (2, 0, 0),
            (Some((k, n)), _, _) => (1, k, n),
        }
    }
    fn post(p: &Parts) -> (u8, u64) {
        p.post.map_or((0, 0), |n| (1, n))
    }
    fn dev(p: &Parts) -> (u8, u64) {
        p.dev.map_or((1, 0), |n| (0, n))
    }
    fn local(p: &Parts) -> Vec<(u8, u64, String)> {
        p.local
            .iter()
            .map(|l| match l {
                Ok(n) => (1, *n, String::new()),
                Err(w) => (0, 0, w.clone()),
            })
            .collect()
    }
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| release(a).cmp(&release(b)))
        .then_with(|| pre(a).cmp(&pre(b)))
        .then_with(|| post(a).cmp(&post(b)))
        .then_with(|| dev(a).cmp(&dev(b)))
        .then_with(|| local(a).cmp(&local(b)))
}

fn parse(text: &str) -> Result<Version, TestCaseError> {
    Version::parse(text).ok_or_else(|| TestCaseError::fail(format!("{text:?} does not parse")))
}

/// Debian versions with the characters that order specially (`~`, `+`,
/// letters, leading zeros, epochs and revisions).
fn debian() -> impl Strategy<Value = String> {
    "([0-9]:)?[0-9][0-9a-z.+~]{0,5}(-[0-9a-z.+~]{1,4})?"
}

proptest! {
    #[test]
    fn pep440_order_is_the_specifications(a in parts(), b in parts()) {
        let (va, vb) = (parse(&canonical(&a))?, parse(&canonical(&b))?);
        prop_assert_eq!(va.cmp(&vb), reference_cmp(&a, &b), "{} vs {}", canonical(&a), canonical(&b));
    }

    #[test]
    fn pep440_spellings_parse_equal(p in parts()) {
        let (v, w) = (parse(&canonical(&p))?, parse(&variant(&p))?);
        prop_assert_eq!(v.cmp(&w), Ordering::Equal, "{} vs {:?}", canonical(&p), variant(&p));
    }

    #[test]
    fn pep440_is_a_total_order(a in parts(), b in parts(), c in parts()) {
        let (a, b, c) = (parse(&canonical(&a))?, parse(&canonical(&b))?, parse(&canonical(&c))?);
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        if a <= b && b <= c {
            prop_assert!(a <= c, "{} <= {} <= {}", a, b, c);
        }
    }

    #[test]
    fn pep503_names_normalise_once(name in "[A-Za-z0-9._-]{0,20}") {
        let once = normalize_name(&name);
        prop_assert_eq!(normalize_name(&once), once.clone());
        prop_assert_eq!(normalize_name(&name.replace('_', ".").to_ascii_uppercase()), once);
    }

    #[test]
    fn debian_order_is_a_total_order(a in debian(), b in debian(), c in debian()) {
        prop_assert_eq!(compare_debian(&a, &a), Ordering::Equal);
        prop_assert_eq!(compare_debian(&a, &b), compare_debian(&b, &a).reverse(), "{} vs {}", a, b);
        if compare_debian(&a, &b) != Ordering::Greater && compare_debian(&b, &c) != Ordering::Greater {
            prop_assert_ne!(compare_debian(&a, &c), Ordering::Greater, "{} <= {} <= {}", a, b, c);
        }
    }

    #[test]
    fn debian_tilde_sorts_before_the_release(v in "[0-9][0-9a-z.+]{0,5}") {
        prop_assert_eq!(compare_debian(&format!("{v}~rc1"), &v), Ordering::Less);
        prop_assert_eq!(compare_debian(&v, &format!("{v}+b1")), Ordering::Less);
    }
}
