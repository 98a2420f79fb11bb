//! The local CA and its certificates, checked by OpenSSL; the import rules.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use cryptobot_tls::check::CheckError;
use cryptobot_tls::{KeyType, check_pair, inspect_pem, issue_client, issue_server, new_ca};

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn names() -> Vec<String> {
    ["cryptobot.example", "localhost", "127.0.0.1", "::1"]
        .map(String::from)
        .to_vec()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args:?}:\n{text}");
    text
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn openssl_accepts_the_chain_and_sees_names_and_usages() {
    for key_type in [KeyType::EcdsaP256, KeyType::Rsa3072] {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca(key_type, now(), 3650).unwrap();
        let server = issue_server(
            &ca.cert_pem,
            &ca.key_pem,
            &names(),
            key_type,
            now(),
            90,
            None,
        )
        .unwrap();
        let ca_file = write(dir.path(), "ca.crt", &ca.cert_pem);
        let crt = write(dir.path(), "server.crt", &server.cert_pem);
        let out = openssl(&["verify", "-CAfile", &ca_file, &crt]);
        assert!(out.contains("server.crt: OK"), "{out}");
        let text = openssl(&["x509", "-in", &crt, "-noout", "-text"]);
        for needle in [
            "DNS:cryptobot.example",
            "DNS:localhost",
            "IP Address:127.0.0.1",
            "IP Address:0:0:0:0:0:0:0:1",
            "TLS Web Server Authentication",
            "Digital Signature",
            "CA:FALSE",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(
            !text.contains("DNS:127.0.0.1"),
            "an address as a DNS name:\n{text}"
        );
        let ca_text = openssl(&["x509", "-in", &ca_file, "-noout", "-text"]);
        assert!(ca_text.contains("CA:TRUE, pathlen:0"), "{ca_text}");
        assert!(ca_text.contains("Certificate Sign"), "{ca_text}");
        // The key pair matches and passes every import rule.
        let info = check_pair(
            server.cert_pem.as_bytes(),
            server.key_pem.as_bytes(),
            Some(ca.cert_pem.as_bytes()),
            None,
            &names(),
            now(),
        )
        .unwrap();
        let left = cryptobot_tls::days_left(info.not_after, now());
        assert!((89..=90).contains(&left), "{left}");
        // A client certificate for mutual TLS.
        let client = issue_client(
            &ca.cert_pem,
            &ca.key_pem,
            "strategy-1",
            key_type,
            now(),
            90,
            None,
        )
        .unwrap();
        let c = write(dir.path(), "client.crt", &client.cert_pem);
        openssl(&["verify", "-CAfile", &ca_file, "-purpose", "sslclient", &c]);
    }
}

fn refused(cert: &str, key: &str, chain: Option<&str>, names: &[String], at: i64) -> CheckError {
    check_pair(
        cert.as_bytes(),
        key.as_bytes(),
        chain.map(str::as_bytes),
        None,
        names,
        at,
    )
    .unwrap_err()
}

#[test]
fn import_rules_refuse_each_bad_certificate() {
    let ca = new_ca(KeyType::EcdsaP256, now(), 3650).unwrap();
    let good = issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &names(),
        KeyType::EcdsaP256,
        now(),
        90,
        None,
    )
    .unwrap();
    let other = issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &names(),
        KeyType::EcdsaP256,
        now(),
        90,
        None,
    )
    .unwrap();

    // A key that does not match.
    let e = refused(
        &good.cert_pem,
        &other.key_pem,
        Some(&ca.cert_pem),
        &names(),
        now(),
    );
    assert!(matches!(e, CheckError::KeyMismatch), "{e}");

    // Expired: issued 100 days ago for 10 days.
    let old = issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &names(),
        KeyType::EcdsaP256,
        now() - 100 * DAY,
        10,
        None,
    )
    .unwrap();
    let e = refused(
        &old.cert_pem,
        &old.key_pem,
        Some(&ca.cert_pem),
        &names(),
        now(),
    );
    assert!(matches!(e, CheckError::Expired { days: 90, .. }), "{e}");
    assert!(e.to_string().contains("expired 90 days ago"), "{e}");

    // Within 30 days of expiry.
    let soon = issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &names(),
        KeyType::EcdsaP256,
        now(),
        20,
        None,
    )
    .unwrap();
    let e = refused(
        &soon.cert_pem,
        &soon.key_pem,
        Some(&ca.cert_pem),
        &names(),
        now(),
    );
    assert!(matches!(e, CheckError::ExpiresSoon { .. }), "{e}");

    // SANs that miss a configured name.
    let mut more = names();
    more.push("trade.example".into());
    let e = refused(
        &good.cert_pem,
        &good.key_pem,
        Some(&ca.cert_pem),
        &more,
        now(),
    );
    assert!(
        e.to_string().contains("does not cover trade.example"),
        "{e}"
    );

    // The chain does not build without the CA.
    let e = refused(&good.cert_pem, &good.key_pem, None, &names(), now());
    assert!(matches!(e, CheckError::Chain(_)), "{e}");

    // A 1024-bit RSA key (made by OpenSSL).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-days",
        "90",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
        &format!("{d}/weak.key"),
        "-out",
        &format!("{d}/weak.crt"),
    ]);
    let cert = std::fs::read_to_string(dir.path().join("weak.crt")).unwrap();
    let key = std::fs::read_to_string(dir.path().join("weak.key")).unwrap();
    let e = refused(&cert, &key, None, &["localhost".into()], now());
    assert!(matches!(e, CheckError::WeakKey { .. }), "{e}");
    assert!(e.to_string().contains("RSA 1024 bits"), "{e}");
    assert!(!e.hint().is_empty());

    // OpenSSL's default self-signed certificate is a CA certificate.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "90",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
        &format!("{d}/ca.key"),
        "-out",
        &format!("{d}/ca.crt"),
    ]);
    let cert = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    let key = std::fs::read_to_string(dir.path().join("ca.key")).unwrap();
    let e = refused(&cert, &key, None, &["localhost".into()], now());
    assert!(matches!(e, CheckError::IsCa), "{e}");

    // Garbage.
    let e = refused("not pem", &good.key_pem, None, &names(), now());
    assert!(matches!(e, CheckError::BadCertificate(_)), "{e}");
}

#[test]
fn a_certificate_made_by_openssl_is_inspected_like_openssl_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-nodes",
        "-days",
        "120",
        "-subj",
        "/CN=api.example",
        "-addext",
        "subjectAltName=DNS:api.example,DNS:*.svc.example,IP:10.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        &format!("{d}/k.pem"),
        "-out",
        &format!("{d}/c.pem"),
    ]);
    let cert = std::fs::read_to_string(dir.path().join("c.pem")).unwrap();
    let key = std::fs::read_to_string(dir.path().join("k.pem")).unwrap();
    let info = inspect_pem(cert.as_bytes()).unwrap();
    assert_eq!(info.key.to_string(), "ECDSA P-384");
    assert!(info.self_signed);
    let names: Vec<String> = ["api.example", "x.svc.example", "10.0.0.1"]
        .map(String::from)
        .to_vec();
    check_pair(cert.as_bytes(), key.as_bytes(), None, None, &names, now()).unwrap();
}
