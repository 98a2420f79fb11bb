//! Bybit, OKX and KuCoin signatures, checked against an independent
//! implementation of each exchange's documented formula (Python's `hmac`
//! and `base64`, written from the exchanges' API documentation), since
//! these exchanges publish no fixed example signatures.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use cryptobot_vault::{Credentials, Exchange, SignRequest, sign};
use zeroize::Zeroizing;

const KEY: &str = "XXXXXXXXXXpublicKEY01";
const SECRET: &str = "sEcReT0123456789abcdefABCDEF0123";
const PASS: &str = "my passphrase: ünïcode";

fn creds(passphrase: Option<&str>) -> Credentials {
    Credentials {
        api_key: Zeroizing::new(KEY.into()),
        secret: Zeroizing::new(SECRET.into()),
        passphrase: passphrase.map(|p| Zeroizing::new(p.into())),
    }
}

/// Runs `script` with python3 (arguments after `--`); `None` when python3
/// is missing outside CI.
fn python(script: &str, args: &[&str]) -> Option<String> {
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "python3 is needed: {e}");
            eprintln!("SKIPPED: python3 is missing ({e})");
            return None;
        }
    };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// `hmac_sha256(secret, message)` in the encoding given ("hex" or "b64").
fn reference(encoding: &str, secret: &str, message: &str) -> Option<String> {
    python(
        "import sys, hmac, hashlib, base64\n\
         enc, secret, msg = sys.argv[1], sys.argv[2], sys.argv[3]\n\
         d = hmac.new(secret.encode(), msg.encode(), hashlib.sha256)\n\
         print(d.hexdigest() if enc == 'hex' else base64.b64encode(d.digest()).decode())",
        &[encoding, secret, message],
    )
}

fn header<'a>(s: &'a cryptobot_vault::Signed, name: &str) -> &'a str {
    s.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn bybit_signs_timestamp_key_window_and_payload() {
    // GET: the query string is signed.
    let get = SignRequest {
        method: "GET".into(),
        path: "/v5/order/realtime".into(),
        query: Some("category=option&symbol=BTC-29JUL22-25000-C".into()),
        timestamp: Some(1_658_385_579_423),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Bybit, &creds(None), &get).unwrap();
    let Some(want) = reference(
        "hex",
        SECRET,
        &format!("1658385579423{KEY}5000category=option&symbol=BTC-29JUL22-25000-C"),
    ) else {
        return;
    };
    assert_eq!(s.signature, want);
    assert_eq!(header(&s, "X-BAPI-SIGN"), want);
    assert_eq!(header(&s, "X-BAPI-API-KEY"), KEY);
    assert_eq!(header(&s, "X-BAPI-TIMESTAMP"), "1658385579423");
    assert_eq!(header(&s, "X-BAPI-RECV-WINDOW"), "5000");

    // POST: the JSON body is signed, with the receive window given.
    let body = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.1","price":"15600"}"#;
    let post = SignRequest {
        method: "POST".into(),
        path: "/v5/order/create".into(),
        body: Some(body.into()),
        timestamp: Some(1_672_211_928_338),
        recv_window: Some(20_000),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Bybit, &creds(None), &post).unwrap();
    let want = reference("hex", SECRET, &format!("1672211928338{KEY}20000{body}")).unwrap();
    assert_eq!(s.signature, want);
    assert_eq!(header(&s, "X-BAPI-RECV-WINDOW"), "20000");
}

#[test]
fn okx_signs_iso_time_method_target_and_body() {
    // The request of OKX's documentation: GET /api/v5/account/balance?ccy=BTC
    // at 2020-12-08T09:08:57.715Z.
    let get = SignRequest {
        method: "GET".into(),
        path: "/api/v5/account/balance".into(),
        query: Some("ccy=BTC".into()),
        timestamp: Some(1_607_418_537_715),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Okx, &creds(Some(PASS)), &get).unwrap();
    let Some(want) = reference(
        "b64",
        SECRET,
        "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC",
    ) else {
        return;
    };
    assert_eq!(s.signature, want);
    assert_eq!(
        header(&s, "OK-ACCESS-TIMESTAMP"),
        "2020-12-08T09:08:57.715Z"
    );
    assert_eq!(header(&s, "OK-ACCESS-KEY"), KEY);
    assert_eq!(header(&s, "OK-ACCESS-PASSPHRASE"), PASS);

    let body = r#"{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}"#;
    let post = SignRequest {
        method: "POST".into(),
        path: "/api/v5/account/set-leverage".into(),
        body: Some(body.into()),
        timestamp: Some(1_607_418_537_005),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Okx, &creds(Some(PASS)), &post).unwrap();
    let want = reference(
        "b64",
        SECRET,
        &format!("2020-12-08T09:08:57.005ZPOST/api/v5/account/set-leverage{body}"),
    )
    .unwrap();
    assert_eq!(s.signature, want);
}

#[test]
fn kucoin_signs_and_never_sends_the_passphrase_itself() {
    let body = r#"{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"BTC-USDT","type":"limit","price":"10000","size":"0.01"}"#;
    let post = SignRequest {
        method: "POST".into(),
        path: "/api/v1/orders".into(),
        body: Some(body.into()),
        timestamp: Some(1_547_015_186_532),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Kucoin, &creds(Some(PASS)), &post).unwrap();
    let Some(want) = reference(
        "b64",
        SECRET,
        &format!("1547015186532POST/api/v1/orders{body}"),
    ) else {
        return;
    };
    assert_eq!(s.signature, want);
    assert_eq!(
        header(&s, "KC-API-PASSPHRASE"),
        reference("b64", SECRET, PASS).unwrap()
    );
    assert_eq!(header(&s, "KC-API-KEY-VERSION"), "2");
    assert!(s.headers.iter().all(|(_, v)| !v.contains(PASS)));

    let get = SignRequest {
        method: "GET".into(),
        path: "/api/v1/accounts".into(),
        query: Some("currency=BTC&type=trade".into()),
        timestamp: Some(1_547_015_186_532),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Kucoin, &creds(Some(PASS)), &get).unwrap();
    let want = reference(
        "b64",
        SECRET,
        "1547015186532GET/api/v1/accounts?currency=BTC&type=trade",
    )
    .unwrap();
    assert_eq!(s.signature, want);
}

#[test]
fn missing_fields_are_named() {
    let req = SignRequest {
        method: "GET".into(),
        path: "/api/v5/account/balance".into(),
        timestamp: Some(1_607_418_537_715),
        ..SignRequest::default()
    };
    for ex in [Exchange::Okx, Exchange::Kucoin] {
        let e = sign(ex, &creds(None), &req).unwrap_err().to_string();
        assert!(e.contains("passphrase"), "{e}");
        let e = sign(
            ex,
            &creds(Some(PASS)),
            &SignRequest {
                timestamp: None,
                ..req.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("timestamp"), "{e}");
    }
    let bad = [
        SignRequest {
            body: Some("{}".into()),
            ..req.clone()
        },
        SignRequest {
            recv_window: Some(120_000),
            ..req.clone()
        },
        SignRequest {
            method: "POST".into(),
            query: Some("a=b".into()),
            ..req.clone()
        },
    ];
    for b in bad {
        assert!(sign(Exchange::Bybit, &creds(None), &b).is_err(), "{b:?}");
    }
    assert_eq!(req.signed_timestamp(Exchange::Okx), Some(1_607_418_537_715));
    assert_eq!(req.signed_timestamp(Exchange::Kraken), None);
}

/// Runs openssl with `args` in `dir`; `None` when openssl is missing outside CI.
fn openssl(dir: &std::path::Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(o) => o,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "openssl is needed: {e}");
            eprintln!("SKIPPED: openssl is missing ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// A DER SEQUENCE of two INTEGERs from a fixed-size `r ‖ s` signature.
fn der_signature(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.first().is_none_or(|x| *x & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(v.len()).unwrap()];
        out.extend(v);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
    out.extend(body);
    out
}

fn b64url(part: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

/// Signs a Coinbase request with `secret` and checks the JWT: its claims,
/// and its signature with openssl and the key's public half (`pub.pem`).
fn coinbase_jwt_verifies(dir: &std::path::Path, secret: &str, alg: &str) -> Option<()> {
    let name = "organizations/0f7e/apiKeys/5a1c";
    let c = Credentials {
        api_key: Zeroizing::new(name.into()),
        secret: Zeroizing::new(secret.into()),
        passphrase: None,
    };
    cryptobot_vault::check_secret_format(Exchange::Coinbase, secret).unwrap();
    let req = SignRequest {
        method: "POST".into(),
        path: "/api/v3/brokerage/orders".into(),
        body: Some(r#"{"product_id":"BTC-USD","side":"BUY"}"#.into()),
        timestamp: Some(1_764_400_000_123),
        ..SignRequest::default()
    };
    let s = sign(Exchange::Coinbase, &c, &req).unwrap();
    assert_eq!(
        header(&s, "Authorization"),
        format!("Bearer {}", s.signature)
    );
    let parts: Vec<&str> = s.signature.split('.').collect();
    assert_eq!(parts.len(), 3);
    let head: serde_json::Value = serde_json::from_slice(&b64url(parts[0])).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64url(parts[1])).unwrap();
    assert_eq!(head["alg"], alg);
    assert_eq!(head["kid"], name);
    assert_eq!(head["typ"], "JWT");
    assert_eq!(head["nonce"].as_str().unwrap().len(), 32);
    assert_eq!(claims["sub"], name);
    assert_eq!(claims["iss"], "cdp");
    assert_eq!(claims["nbf"], 1_764_400_000);
    assert_eq!(claims["exp"], 1_764_400_120);
    assert_eq!(
        claims["uri"],
        "POST api.coinbase.com/api/v3/brokerage/orders"
    );
    std::fs::write(dir.join("msg"), format!("{}.{}", parts[0], parts[1])).unwrap();
    let sig = b64url(parts[2]);
    let verify: &[&str] = if alg == "ES256" {
        assert_eq!(sig.len(), 64);
        std::fs::write(dir.join("sig"), der_signature(&sig)).unwrap();
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig",
            "msg",
        ]
    } else {
        std::fs::write(dir.join("sig"), &sig).unwrap();
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg",
            "-sigfile", "sig",
        ]
    };
    openssl(dir, verify)?;
    // A changed claim no longer verifies.
    std::fs::write(dir.join("msg"), format!("{}.{}x", parts[0], parts[1])).unwrap();
    let out = Command::new("openssl")
        .args(verify)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a tampered JWT verified");
    Some(())
}

#[test]
fn coinbase_es256_jwt_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pem) = openssl(
        dir.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ],
    ) else {
        return;
    };
    drop(pem);
    openssl(
        dir.path(),
        &["ec", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    )
    .unwrap();
    let pem = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
    assert!(pem.contains("BEGIN EC PRIVATE KEY"));
    // As pasted from Coinbase's key file: one line, newlines written `\n`.
    let one_line = pem.replace('\n', "\\n");
    coinbase_jwt_verifies(dir.path(), &one_line, "ES256");
    coinbase_jwt_verifies(dir.path(), &pem, "ES256");
}

#[test]
fn coinbase_eddsa_jwt_verifies_with_openssl() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    if openssl(
        dir.path(),
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
    )
    .is_none()
    {
        return;
    }
    openssl(
        dir.path(),
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    )
    .unwrap();
    // Coinbase's form: base64 of the 32-byte seed and the 32-byte public key
    // (the last 32 bytes of the PKCS#8 and SubjectPublicKeyInfo DER).
    let private = openssl(dir.path(), &["pkey", "-in", "key.pem", "-outform", "DER"]).unwrap();
    let public = openssl(
        dir.path(),
        &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"],
    )
    .unwrap();
    let raw = [&private[private.len() - 32..], &public[public.len() - 32..]].concat();
    let secret = base64::engine::general_purpose::STANDARD.encode(raw);
    coinbase_jwt_verifies(dir.path(), &secret, "EdDSA");
    // A seed with someone else's public half is refused when added.
    let mut wrong = base64::engine::general_purpose::STANDARD
        .decode(&secret)
        .unwrap();
    wrong[40] ^= 1;
    let wrong = base64::engine::general_purpose::STANDARD.encode(wrong);
    assert!(cryptobot_vault::check_secret_format(Exchange::Coinbase, &wrong).is_err());
    assert!(cryptobot_vault::check_secret_format(Exchange::Coinbase, "not a key at all").is_err());
}
