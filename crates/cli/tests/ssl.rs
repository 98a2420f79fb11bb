//! `cryptobot ssl` end to end: the local CA checked by OpenSSL, import
//! refusals, live certificate reload, and independent TLS scanners against
//! `cryptobot serve`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

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

/// A home made by secure-config, served on `port`.
fn home(port: u16, extra_toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    on_home(&home, &["secure-config", "-q"]).ok();
    let toml = home.join("config/cryptobot.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!("\n{extra_toml}\n"));
    text = text.replace(
        "# bind = \"127.0.0.1:8000\"",
        &format!("bind = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&toml, text).unwrap();
    (dir, home)
}

struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Path) -> Serve {
    let log = std::fs::File::create(home.join("logs/serve-test.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cryptobot"))
        .args(["serve", "--home", home.to_str().unwrap()])
        .env_remove("CRYPTOBOT_HOME")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_listening(&mut out);
    // Keep reading stdout so the service never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    Serve { child }
}

/// SHA-256 fingerprint of the certificate a new connection gets.
fn served_fingerprint(port: u16) -> String {
    let mut s = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let pem = String::from_utf8_lossy(&std::mem::take(&mut s.stdout)).into_owned();
    let start = pem
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = pem
        .find("-----END CERTIFICATE-----")
        .expect("a certificate")
        + 25;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&pem.as_bytes()[start..end])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn file_fingerprint(cert: &Path) -> String {
    openssl(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        cert.to_str().unwrap(),
    ])
    .trim()
    .to_owned()
}

#[test]
fn local_ca_chain_is_verified_by_openssl() {
    let port = cryptobot_testkit::free_port();
    let (_d, home) = home(
        port,
        "[tls]\nsan = [\"cryptobot.example\", \"localhost\", \"127.0.0.1\", \"::1\"]",
    );
    let run = on_home(&home, &["ssl"]).ok();
    assert!(
        run.stdout.contains("issued by the local CA"),
        "{}",
        run.stdout
    );
    let tls = home.join("config/tls");
    let s = |p: &str| tls.join(p).to_str().unwrap().to_owned();
    let out = openssl(&["verify", "-CAfile", &s("ca/ca.crt"), &s("server.crt")]);
    assert!(out.contains(": OK"), "{out}");
    let text = openssl(&["x509", "-in", &s("server.crt"), "-noout", "-text"]);
    for needle in [
        "DNS:cryptobot.example",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Server Authentication",
        "Digital Signature",
        &format!("URI:https://cryptobot.example:{port}/pki/ca.crl"),
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    for key in ["server.key", "ca/ca.key"] {
        assert_eq!(mode(&tls.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&tls.join("ca")), 0o700);
    // The CRL verifies against the CA.
    let crl = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &s("ca.crl"),
        "-CAfile",
        &s("ca/ca.crt"),
        "-noout",
    ]);
    assert!(crl.contains("verify OK"), "{crl}");
    // PostgreSQL's pair, and the include now switches TLS on.
    let pg = home.join("config/postgresql");
    openssl(&[
        "verify",
        "-CAfile",
        &s("ca/ca.crt"),
        pg.join("server.crt").to_str().unwrap(),
    ]);
    assert_eq!(mode(&pg.join("server.key")), 0o600);
    let include = std::fs::read_to_string(pg.join("cryptobot.conf")).unwrap();
    assert!(include.contains("\nssl = on\n"), "{include}");

    // A second run changes nothing; renew waits until 30 days are left.
    let before = snapshot(&home);
    let again = on_home(&home, &["ssl"]).ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    let renew = on_home(&home, &["ssl", "renew"]).ok();
    assert!(renew.stdout.contains("not renewed"), "{}", renew.stdout);
    assert_eq!(snapshot(&home), before);

    // Status, as data.
    let status = on_home(&home, &["ssl", "status", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let server = &v["certificates"][0];
    assert_eq!(server["role"], "server");
    assert_eq!(server["key"], "ECDSA P-256");
    let left = server["days_left"].as_i64().unwrap();
    assert!((89..=90).contains(&left), "{left}");

    // --force renews; a client certificate for mutual TLS.
    let old = file_fingerprint(&tls.join("server.crt"));
    on_home(&home, &["ssl", "renew", "--force"]).ok();
    assert_ne!(file_fingerprint(&tls.join("server.crt")), old);
    on_home(&home, &["ssl", "client", "strategy-1"]).ok();
    openssl(&[
        "verify",
        "-CAfile",
        &s("ca/ca.crt"),
        "-purpose",
        "sslclient",
        &s("clients/strategy-1.crt"),
    ]);
    let bad = on_home(&home, &["ssl", "client", "../etc"]);
    assert_eq!(bad.status, 2, "{}", bad.both());
}

#[test]
fn import_refuses_bad_pairs_and_changes_nothing() {
    let port = cryptobot_testkit::free_port();
    let (d, home) = home(port, "[tls]\nsan = [\"localhost\"]");
    on_home(&home, &["ssl", "-q"]).ok();
    let w = d.path();
    let p = |n: &str| w.join(n).to_str().unwrap().to_owned();
    let make = |name: &str, key: &str, san: &str, extra: &[&str]| {
        let mut args = vec![
            "req".to_string(),
            "-x509".into(),
            "-newkey".into(),
            key.into(),
            "-nodes".into(),
            "-subj".into(),
            "/CN=localhost".into(),
            "-addext".into(),
            format!("subjectAltName={san}"),
            "-addext".into(),
            "basicConstraints=critical,CA:FALSE".into(),
            "-keyout".into(),
            p(&format!("{name}.key")),
            "-out".into(),
            p(&format!("{name}.crt")),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(&refs);
    };
    make(
        "good",
        "ec",
        "DNS:localhost",
        &["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "120"],
    );
    make(
        "other",
        "ec",
        "DNS:localhost",
        &["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "120"],
    );
    make("weak", "rsa:1024", "DNS:localhost", &["-days", "120"]);
    make(
        "wrongname",
        "ec",
        "DNS:elsewhere.example",
        &["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "120"],
    );
    // Expired: issued 100 days ago for 10 days by a CA of its own (OpenSSL
    // 3.0 cannot backdate), imported with that CA as the chain.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ca =
        cryptobot_tls::new_ca(cryptobot_tls::KeyType::EcdsaP256, now - 200 * 86_400, 3650).unwrap();
    let old = cryptobot_tls::issue_server(
        &ca.cert_pem,
        &ca.key_pem,
        &["localhost".to_string()],
        cryptobot_tls::KeyType::EcdsaP256,
        now - 100 * 86_400,
        10,
        None,
    )
    .unwrap();
    std::fs::write(w.join("expired.crt"), &old.cert_pem).unwrap();
    std::fs::write(w.join("expired.key"), old.key_pem.as_bytes()).unwrap();
    std::fs::write(w.join("expired-ca.crt"), &ca.cert_pem).unwrap();

    let before = snapshot(&home);
    for (cert, key, needle) in [
        ("good", "other", "does not match"),
        ("expired", "expired", "expired"),
        ("weak", "weak", "RSA 1024 bits"),
        ("wrongname", "wrongname", "does not cover localhost"),
    ] {
        let run = on_home(
            &home,
            &[
                "ssl",
                "import",
                "--cert",
                &p(&format!("{cert}.crt")),
                "--key",
                &p(&format!("{key}.key")),
            ],
        );
        assert_eq!(run.status, 2, "{cert}: {}", run.both());
        assert!(run.stderr.contains(needle), "{cert}: {}", run.stderr);
        assert!(run.stderr.contains("fix:"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
        assert!(!run.both().contains("PRIVATE KEY"), "a key was printed");
        assert_eq!(
            snapshot(&home),
            before,
            "{cert}: a refused import changed something"
        );
    }

    // A good pair is installed.
    let run = on_home(
        &home,
        &[
            "ssl",
            "import",
            "--cert",
            &p("good.crt"),
            "--key",
            &p("good.key"),
        ],
    )
    .ok();
    assert!(run.stdout.contains("imported"), "{}", run.stdout);
    let tls = home.join("config/tls");
    assert_eq!(
        file_fingerprint(&tls.join("server.crt")),
        file_fingerprint(&w.join("good.crt"))
    );
    assert_eq!(mode(&tls.join("server.key")), 0o600);
    // `ssl` keeps an imported certificate; renew refuses it.
    let again = on_home(&home, &["ssl"]).ok();
    assert!(again.stdout.contains("kept"), "{}", again.stdout);
    let renew = on_home(&home, &["ssl", "renew"]);
    assert_eq!(renew.status, 2, "{}", renew.both());
    assert!(
        renew.stderr.contains("not issued by the local CA"),
        "{}",
        renew.stderr
    );
}

#[test]
fn new_certificate_files_are_served_without_a_restart() {
    let port = cryptobot_testkit::free_port();
    let (_d, home) = home(port, "");
    on_home(&home, &["ssl", "-q"]).ok();
    let _serve = serve(&home);
    let cert = home.join("config/tls/server.crt");
    assert_eq!(served_fingerprint(port), file_fingerprint(&cert));

    // A connection opened before the change.
    let mut old = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut old_in = old.stdin.take().unwrap();
    old_in
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut old_out = BufReader::new(old.stdout.take().unwrap());
    let mut status = String::new();
    old_out.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    on_home(&home, &["ssl", "renew", "--force", "-q"]).ok();
    let new = file_fingerprint(&cert);
    let changed = Instant::now();
    loop {
        if served_fingerprint(port) == new {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the new certificate was not served within 2 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("new certificate served after {:?}", changed.elapsed());

    // The connection opened before still works.
    old_in
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = String::new();
    old_out.read_to_string(&mut rest).unwrap();
    assert!(
        rest.matches("HTTP/1.1 200").count() == 1,
        "the old connection broke:\n{rest}"
    );
    let _ = old.kill();
    let _ = old.wait();
    let log = std::fs::read_to_string(home.join("logs/serve-test.log")).unwrap();
    assert!(log.contains("certificate reloaded"), "{log}");
    assert!(log.contains("\"certificate_reloaded\""), "{log}");
}

/// The scanners' verdicts on a running `cryptobot serve`: testssl.sh (CI
/// installs it) must rate nothing HIGH or CRITICAL, under both policies;
/// sslyze's Mozilla compliance check runs too when it is installed.
#[test]
fn tls_scanners_find_nothing_serious() {
    let Some(testssl) = ["/usr/bin/testssl", "/usr/bin/testssl.sh"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "testssl.sh is missing on CI"
        );
        eprintln!("testssl.sh is not installed: scan skipped");
        return;
    };
    for policy in ["intermediate", "modern"] {
        let port = cryptobot_testkit::free_port();
        let (d, home) = home(port, &format!("[tls]\npolicy = \"{policy}\""));
        on_home(&home, &["ssl", "-q"]).ok();
        let _serve = serve(&home);
        let ca = home.join("config/tls/ca/ca.crt");
        let json = d.path().join("testssl.json");
        let out = Command::new(testssl)
            .args(["--quiet", "--color", "0", "--warnings", "off", "--add-ca"])
            .arg(&ca)
            .arg("--jsonfile")
            .arg(&json)
            .arg(format!("127.0.0.1:{port}"))
            .output()
            .unwrap();
        let findings: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&json).unwrap_or_else(|_| {
                panic!(
                    "testssl wrote no JSON:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                )
            }))
            .unwrap();
        let serious: Vec<String> = findings
            .iter()
            .filter(|f| matches!(f["severity"].as_str(), Some("HIGH" | "CRITICAL")))
            .map(|f| format!("{} {}: {}", f["severity"], f["id"], f["finding"]))
            .collect();
        assert!(serious.is_empty(), "{policy}: {serious:#?}");
        let protocols: Vec<&str> = findings
            .iter()
            .filter(|f| {
                f["id"].as_str().is_some_and(|i| i.starts_with("TLS1"))
                    && f["finding"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("offered"))
            })
            .filter_map(|f| f["id"].as_str())
            .collect();
        let want: &[&str] = if policy == "modern" {
            &["TLS1_3"]
        } else {
            &["TLS1_2", "TLS1_3"]
        };
        assert_eq!(protocols, want, "{policy}");
        eprintln!(
            "testssl {policy}: {} findings, none HIGH or CRITICAL",
            findings.len()
        );

        if let Ok(out) = Command::new("sslyze")
            .arg(format!("--certinfo_ca_file={}", ca.display()))
            .arg(format!("--mozilla_config={policy}"))
            .arg(format!("127.0.0.1:{port}"))
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("OK - Compliant"), "sslyze {policy}:\n{text}");
            eprintln!("sslyze {policy}: compliant");
        }
    }
}

#[test]
fn ca_key_can_be_kept_off_the_server() {
    let port = cryptobot_testkit::free_port();
    let (d, home) = home(port, "");
    let offline = d.path().join("usb");
    std::fs::create_dir(&offline).unwrap();
    let o = offline.to_str().unwrap();
    let run = on_home(&home, &["ssl", "--ca-out", o]).ok();
    assert!(run.stdout.contains("keep it offline"), "{}", run.stdout);
    assert!(!home.join("config/tls/ca/ca.key").exists());
    assert_eq!(mode(&offline.join("ca.key")), 0o600);
    let tls = home.join("config/tls");
    openssl(&[
        "verify",
        "-CAfile",
        tls.join("ca/ca.crt").to_str().unwrap(),
        tls.join("server.crt").to_str().unwrap(),
    ]);
    // Without the key, issuing says where it is; with it, it works.
    let before = snapshot(&home);
    let run = on_home(&home, &["ssl", "client", "svc-a"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("--ca-key"), "{}", run.stderr);
    assert_eq!(snapshot(&home), before);
    let key = offline.join("ca.key");
    on_home(
        &home,
        &["ssl", "client", "svc-a", "--ca-key", key.to_str().unwrap()],
    )
    .ok();
    assert!(tls.join("clients/svc-a.crt").exists());
    // --ca-out to a missing directory changes nothing.
    let (_d2, home2) = crate::home(cryptobot_testkit::free_port(), "");
    let before = snapshot(&home2);
    let run = on_home(&home2, &["ssl", "--ca-out", "/nonexistent/dir"]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert_eq!(snapshot(&home2), before);
}

#[test]
fn an_expiring_certificate_raises_an_alert() {
    let port = cryptobot_testkit::free_port();
    let (_d, home) = home(port, "");
    on_home(&home, &["ssl", "-q"]).ok();
    // Replace the server pair with one that has 10 days left.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tls = home.join("config/tls");
    let ca_cert = std::fs::read_to_string(tls.join("ca/ca.crt")).unwrap();
    let ca_key = std::fs::read_to_string(tls.join("ca/ca.key")).unwrap();
    let old = cryptobot_tls::issue_server(
        &ca_cert,
        &ca_key,
        &["localhost".to_string()],
        cryptobot_tls::KeyType::EcdsaP256,
        now - 80 * 86_400,
        90,
        None,
    )
    .unwrap();
    std::fs::write(tls.join("server.crt"), &old.cert_pem).unwrap();
    std::fs::write(tls.join("server.key"), old.key_pem.as_bytes()).unwrap();
    let status = on_home(&home, &["ssl", "status"]).ok();
    assert!(
        status.stdout.contains("days left: 9") || status.stdout.contains("days left: 10"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("cryptobot ssl renew"),
        "{}",
        status.stdout
    );
    let serve = serve(&home);
    let log_path = home.join("logs/serve-test.log");
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("\"certificate_expiring\"") || start.elapsed() > Duration::from_secs(5) {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(serve);
    let line = log
        .lines()
        .find(|l| l.contains("expires soon"))
        .unwrap_or_else(|| panic!("no alert in:\n{log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["alert"], true);
    assert!(matches!(v["days_left"].as_i64(), Some(9 | 10)), "{line}");
    assert!(log.contains("\"certificate_expiring\""), "{log}");
    // Renewal fixes it.
    let renew = on_home(&home, &["ssl", "renew"]).ok();
    assert!(renew.stdout.contains("renewed"), "{}", renew.stdout);
}

#[test]
fn a_revoked_client_certificate_is_on_the_served_crl() {
    let port = cryptobot_testkit::free_port();
    let (_d, home) = home(port, "");
    on_home(&home, &["ssl", "-q"]).ok();
    on_home(&home, &["ssl", "client", "svc-b", "-q"]).ok();
    let tls = home.join("config/tls");
    let s = |p: &str| tls.join(p).to_str().unwrap().to_owned();
    let kept = std::env::temp_dir().join(format!("svc-b-{port}.crt"));
    std::fs::copy(tls.join("clients/svc-b.crt"), &kept).unwrap();
    let k = kept.to_str().unwrap();
    // Before: the client certificate passes a CRL check.
    openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        &s("ca.crl"),
        "-CAfile",
        &s("ca/ca.crt"),
        k,
    ]);

    let run = on_home(&home, &["ssl", "revoke", "svc-b"]).ok();
    assert!(run.stdout.contains("revoked svc-b"), "{}", run.stdout);
    assert!(!tls.join("clients/svc-b.crt").exists());
    // The served list revokes it.
    let _serve = serve(&home);
    let crl = home.join("served.crl");
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert", &s("ca/ca.crt"), "-o"])
        .arg(&crl)
        .arg(format!("https://localhost:{port}/pki/ca.crl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("openssl")
        .args(["verify", "-crl_check", "-CRLfile"])
        .arg(&crl)
        .args(["-CAfile", &s("ca/ca.crt"), k])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("certificate revoked"),
        "{text}"
    );
    // The server certificate is not revoked; renewing keeps the entry.
    openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        crl.to_str().unwrap(),
        "-CAfile",
        &s("ca/ca.crt"),
        &s("server.crt"),
    ]);
    on_home(&home, &["ssl", "renew", "--force", "-q"]).ok();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-crl_check",
            "-CRLfile",
            &s("ca.crl"),
            "-CAfile",
            &s("ca/ca.crt"),
            k,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a renewal dropped the revocation");
    let _ = std::fs::remove_file(&kept);
    // Unknown names are refused.
    let bad = on_home(&home, &["ssl", "revoke", "nobody"]);
    assert_eq!(bad.status, 2, "{}", bad.both());
}

/// `redis-cli` against 127.0.0.1:`port` as the ACL user `cryptobot`, over
/// TLS trusting `ca` when given; stdout and stderr together, and whether it
/// exited with success.
fn redis_cli(port: u16, ca: Option<&Path>, password: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(ca) = ca {
        cmd.arg("--tls").arg("--cacert").arg(ca);
    }
    cmd.args([
        "--user",
        "cryptobot",
        "--no-auth-warning",
        "--pass",
        password,
    ])
    .args(args)
    .stdin(Stdio::null());
    let out = cmd.output().expect("redis-cli is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text.trim().to_owned())
}

/// The uid of an account, if it exists.
fn uid_of(account: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", account]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// `cryptobot ssl` issues Redis's pair from the local CA into the directory
/// secure-config laid out, and turns TLS on in the `tls.conf` that
/// redis.conf includes. A real Redis started from the rendered redis.conf
/// (only its port and directory replaced by the harness) then speaks TLS
/// only: a client trusting the local CA signs in as `cryptobot`, plain text
/// and a client trusting another CA are refused. `ssl renew --force`
/// reissues the pair; Redis serves it after a restart.
#[test]
fn redis_serves_tls_with_a_pair_from_the_local_ca() {
    use std::os::unix::fs::MetadataExt;

    let serve_port = cryptobot_testkit::free_port();
    let (d, home) = home(serve_port, "[services.redis]\nport = 6390");
    let redis_dir = home.join("config/redis");
    let conf = redis_dir.join("redis.conf");
    let tls_conf = redis_dir.join("tls.conf");
    let include = format!("\ninclude \"{}\"\n", tls_conf.display());
    assert!(
        std::fs::read_to_string(&conf).unwrap().ends_with(&include),
        "redis.conf does not end by including tls.conf"
    );
    let before = std::fs::read_to_string(&tls_conf).unwrap();
    assert!(!before.contains("tls-port"), "{before}");

    // Without `redis.server_tls` the pair is issued, but Redis keeps plain
    // text: other clients of that Redis must move to TLS first.
    let first = on_home(&home, &["ssl"]).ok();
    assert!(
        first.stdout.contains("Redis's pair is ready"),
        "{}",
        first.stdout
    );
    let off = std::fs::read_to_string(&tls_conf).unwrap();
    assert!(
        !off.contains("tls-port") && !off.contains("port 0"),
        "{off}"
    );
    assert!(redis_dir.join("redis.key").exists());
    let toml = home.join("config/cryptobot.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[redis]\nserver_tls = true\n");
    std::fs::write(&toml, text).unwrap();

    // Turned on: the next `ssl` (nothing is due) rewrites the include.
    let run = on_home(&home, &["ssl"]).ok();
    let ca = redis_dir.join("ca.crt");
    for needle in [
        format!(
            "Redis serves TLS after a restart: {} now sets tls-port 6390",
            tls_conf.display()
        ),
        "  redis.url = \"rediss://127.0.0.1:6390\"\n".to_owned(),
        format!("  redis.ca_file = \"{}\"\n", ca.display()),
    ] {
        assert!(
            run.stdout.contains(&needle),
            "{needle} missing:\n{}",
            run.stdout
        );
    }
    let (cert, key) = (redis_dir.join("redis.crt"), redis_dir.join("redis.key"));
    let local_ca = home.join("config/tls/ca/ca.crt");
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(&local_ca).unwrap()
    );
    let out = openssl(&[
        "verify",
        "-CAfile",
        local_ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"), "{out}");
    let text = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"]);
    for needle in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Server Authentication",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    assert_eq!(mode(&ca), 0o644);
    let redis_uid = uid_of("redis");
    let key_uid = std::fs::metadata(&key).unwrap().uid();
    match redis_uid {
        Some(uid) => assert_eq!(key_uid, uid, "redis.key is not the redis account's"),
        None => assert!(
            run.stdout.contains("there is no redis account"),
            "{}",
            run.stdout
        ),
    }
    let tls = std::fs::read_to_string(&tls_conf).unwrap();
    for needle in [
        "\nport 0\n",
        "\ntls-port 6390\n",
        &format!("\ntls-cert-file \"{}\"\n", cert.display()),
        &format!("\ntls-key-file \"{}\"\n", key.display()),
        &format!("\ntls-ca-cert-file \"{}\"\n", ca.display()),
        "\ntls-auth-clients optional\n",
        "\ntls-protocols \"TLSv1.2 TLSv1.3\"\n",
    ] {
        assert!(tls.contains(needle), "{needle} missing:\n{tls}");
    }
    // secure-config again keeps TLS on (it renders tls.conf from the files).
    let again = on_home(&home, &["secure-config"]).ok();
    assert_eq!(
        std::fs::read_to_string(&tls_conf).unwrap(),
        tls,
        "{}",
        again.stdout
    );

    // Status lists it.
    let status = on_home(&home, &["ssl", "status", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let listed = v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "redis")
        .unwrap_or_else(|| panic!("no redis certificate in {v:#}"));
    assert_eq!(listed["path"], cert.to_str().unwrap());
    assert!(listed["sans"].as_array().unwrap().len() >= 3, "{listed}");

    // A real Redis from the rendered redis.conf (and, through its include,
    // tls.conf); the harness replaces the port and the directory.
    let password = std::fs::read_to_string(home.join("config/secrets/redis_password")).unwrap();
    let password = password.trim();
    let mut redis = cryptobot_testkit::RedisServer::start_tls_with_config(
        &conf,
        cryptobot_testkit::RedisTls {
            cert_file: cert.clone(),
            key_file: key.clone(),
            ca_file: ca.clone(),
            auth_clients: false,
        },
    )
    .expect("redis starts with the rendered TLS configuration");
    let port = redis.port();
    let (ok, out) = redis_cli(port, Some(&ca), password, &["ACL", "WHOAMI"]);
    assert!(ok && out == "cryptobot", "{out}\n{}", redis.log());
    let (ok, out) = redis_cli(port, Some(&ca), password, &["SET", "cryptobot:tls", "v"]);
    assert!(ok && out == "OK", "{out}");
    let (_, out) = redis_cli(
        port,
        Some(&ca),
        "wrong-password-123",
        &["GET", "cryptobot:tls"],
    );
    assert!(out.contains("WRONGPASS"), "{out}");
    // Plain text: refused.
    let (_, out) = redis_cli(port, None, password, &["GET", "cryptobot:tls"]);
    assert!(out.contains("I/O error"), "{out}");
    assert!(
        !out.lines().any(|l| l.trim() == "v"),
        "plain text was answered: {out}"
    );
    // A client trusting another CA: the certificate is not trusted.
    let other = cryptobot_tls::new_ca(cryptobot_tls::KeyType::EcdsaP256, now_secs(), 30).unwrap();
    let other_ca = d.path().join("other-ca.crt");
    std::fs::write(&other_ca, &other.cert_pem).unwrap();
    let (ok, out) = redis_cli(port, Some(&other_ca), password, &["GET", "cryptobot:tls"]);
    assert!(!ok && out.contains("certificate verify failed"), "{out}");

    // `serve` with the two lines ssl printed (the port is the harness's):
    // a sign-in decision goes through that Redis. With Redis unreachable
    // sign-in would be 503 (fail closed); 401 means Redis answered.
    let toml = home.join("config/cryptobot.toml");
    let settings = std::fs::read_to_string(&toml).unwrap().replace(
        "[redis]\nserver_tls = true\n",
        &format!(
            "[redis]\nserver_tls = true\nurl = \"rediss://127.0.0.1:{port}\"\nca_file = \"{}\"\n",
            ca.display()
        ),
    );
    assert!(settings.contains("rediss://"), "{settings}");
    std::fs::write(&toml, settings).unwrap();
    let serve = serve(&home);
    let login = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&local_ca)
        .args(["-H", "content-type: application/json", "-d"])
        .arg(r#"{"username":"nobody","password":"Wrong-password-9"}"#)
        .arg(format!("https://127.0.0.1:{serve_port}/api/v1/auth/login"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&login.stdout),
        "401",
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    drop(serve);
    let (ok, out) = redis_cli(port, Some(&ca), password, &["SCAN", "0", "COUNT", "1000"]);
    assert!(ok && out.contains("cryptobot:rl:"), "no limiter key: {out}");

    // Renewal reissues Redis's pair; Redis serves it after a restart.
    let old = file_fingerprint(&cert);
    on_home(&home, &["ssl", "renew", "--force", "-q"]).ok();
    assert_ne!(file_fingerprint(&cert), old);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(
        std::fs::metadata(&key).unwrap().uid(),
        redis_uid.unwrap_or(0)
    );
    redis.restart().unwrap();
    let (ok, out) = redis_cli(port, Some(&ca), password, &["GET", "cryptobot:tls"]);
    assert!(ok, "{out}");
    let served = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let served = String::from_utf8_lossy(&served.stdout).into_owned();
    let start = served.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = served.find("-----END CERTIFICATE-----").unwrap() + 25;
    std::fs::write(d.path().join("served.crt"), &served[start..end]).unwrap();
    assert_eq!(
        file_fingerprint(&d.path().join("served.crt")),
        file_fingerprint(&cert)
    );
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `cryptobot rollback` after `ssl` removes the pairs of PostgreSQL and
/// Redis and the CA copy, and puts both includes back as they were.
#[test]
fn rollback_after_ssl_takes_the_service_pairs_back() {
    let (_d, home) = home(cryptobot_testkit::free_port(), "");
    let redis_dir = home.join("config/redis");
    let pg_dir = home.join("config/postgresql");
    let tls_conf = std::fs::read_to_string(redis_dir.join("tls.conf")).unwrap();
    let pg_conf = std::fs::read_to_string(pg_dir.join("cryptobot.conf")).unwrap();
    on_home(&home, &["ssl", "-q"]).ok();
    for f in ["redis.crt", "redis.key", "ca.crt"] {
        assert!(redis_dir.join(f).exists(), "{f}");
    }
    assert_ne!(
        std::fs::read_to_string(redis_dir.join("tls.conf")).unwrap(),
        tls_conf
    );
    on_home(&home, &["rollback", "-q"]).ok();
    for f in ["redis.crt", "redis.key", "ca.crt"] {
        assert!(!redis_dir.join(f).exists(), "{f} is still there");
    }
    for f in ["server.crt", "server.key"] {
        assert!(!pg_dir.join(f).exists(), "{f} is still there");
    }
    assert_eq!(
        std::fs::read_to_string(redis_dir.join("tls.conf")).unwrap(),
        tls_conf
    );
    assert_eq!(
        std::fs::read_to_string(pg_dir.join("cryptobot.conf")).unwrap(),
        pg_conf
    );
}
