//! `cargo bench -p cryptobot-assess`: the whole catalogue against this
//! machine's root (read-only, as `cryptobot assess --root /` runs it), and
//! the version comparisons the update and dependency checks do per package.
#![allow(clippy::unwrap_used)]

use cryptobot_assess::checks::updates::compare_debian;
use cryptobot_assess::pep440::Version;
use cryptobot_assess::{CATALOGUE, Snapshot, assess};
use cryptobot_config::Layout;
use cryptobot_plan::Root;

fn main() {
    divan::main();
}

/// Every check over `/` (the installation is wherever `/opt/cryptobot` is).
#[divan::bench(sample_count = 10)]
fn catalogue_on_the_live_root() -> usize {
    let snapshot = Snapshot::new(
        Root::new("/").unwrap(),
        Layout::new("/opt/cryptobot"),
        None,
        1_800_000_000,
    );
    let all: Vec<_> = CATALOGUE.iter().collect();
    assess(&snapshot, &all).findings.len()
}

#[divan::bench]
fn dpkg_compare() -> std::cmp::Ordering {
    compare_debian(
        divan::black_box("1:3.0.11-1~deb12u2"),
        divan::black_box("1:3.0.13-1~deb12u1"),
    )
}

#[divan::bench]
fn pep440_parse_and_compare() -> bool {
    let a = Version::parse(divan::black_box("2.31.0")).unwrap();
    let b = Version::parse(divan::black_box("2.31.0rc1.post2.dev3+local.7")).unwrap();
    a > b
}
