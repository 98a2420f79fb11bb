//! Regression tests for what fuzzing the host readers found (the inputs
//! are also kept in `fuzz/corpus/<target>/`).

#![allow(clippy::unwrap_used)]

use cryptobot_assess::pep440::normalize_name;
use cryptobot_assess::{Snapshot, assess, select};
use cryptobot_config::Layout;
use cryptobot_plan::Root;

fn report_text(files: &[(&str, &[u8])], only: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (host, bytes) in files {
        let real = dir.path().join(host.trim_start_matches('/'));
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(real, bytes).unwrap();
    }
    let snapshot = Snapshot::new(
        Root::new(dir.path()).unwrap(),
        Layout::new("/opt/cryptobot"),
        None,
        1_800_000_000,
    );
    let checks = select(&[only.to_owned()], &[]).unwrap();
    assess(&snapshot, &checks).to_text_styled("fuzz", false)
}

/// assess_pg, assess_redis: a line of a host file with an escape sequence
/// (here: set the terminal's title, then red text) was copied into the
/// text report as it was, straight to the operator's terminal.
#[test]
fn fuzz_regression_text_report_escapes_control_characters() {
    let hba: &[u8] = b"host all all 0.0.0.0/0 trust \x1b]0;owned\x07\x1b[31m\0\r\n";
    let redis: &[u8] = b"bind 0.0.0.0 \x1b[2J\x04\nprotected-mode no\n";
    for (files, only) in [
        (
            vec![("/etc/postgresql/16/main/pg_hba.conf", hba)],
            "CB-PG-*",
        ),
        (vec![("/etc/redis/redis.conf", redis)], "CB-REDIS-*"),
    ] {
        let text = report_text(&files, only);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}"), "the escape is shown: {text}");
    }
    // Nothing changes for ordinary text.
    let text = report_text(
        &[(
            "/etc/redis/redis.conf",
            b"bind 0.0.0.0\nprotected-mode no\n",
        )],
        "CB-REDIS-*",
    );
    assert!(text.contains("bind 0.0.0.0"), "{text}");
}

/// pep440: a name with whitespace inside and separators at its end
/// normalised to a name that normalised differently again.
#[test]
fn fuzz_regression_normalize_name_is_idempotent_with_whitespace() {
    for name in ["\u{17}.0+ab\n--", "a.\n-", "Python Jose", " requests \t"] {
        let once = normalize_name(name);
        assert_eq!(normalize_name(&once), once, "{name:?}");
    }
    assert_eq!(normalize_name("Python Jose"), "python-jose");
    assert_eq!(normalize_name(" requests \t"), "requests");
    assert_eq!(normalize_name("A__b-.-C"), "a-b-c");
}

/// assess_nftables: an nftables.conf including itself on six lines was
/// read 6^8 times (the fuzz target timed out; this test did not finish).
#[test]
fn fuzz_regression_nftables_self_include_is_bounded() {
    let mut conf = String::from(
        "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n",
    );
    for _ in 0..6 {
        conf.push_str("include \"/etc/nftables.conf\"\n");
    }
    let text = report_text(&[("/etc/nftables.conf", conf.as_bytes())], "CB-NET-00*");
    assert!(text.contains("the rest was not read"), "{text}");
    // The chain that was read still counts: no "firewall accepts" finding.
    assert!(!text.contains("CB-NET-004"), "{text}");
}
