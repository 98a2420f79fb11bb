//! The signing-request normaliser and policy (`vault::policy`): method
//! and path canonicalisation, parameter names of query and body, the
//! clock window, the decision, and then the signature itself.
//!
//! Input: NUL-separated fields: exchange, method, path, query, body,
//! timestamp (ms), nonce, recv_window, permissions (`read,trade`), flags
//! (`w`: allow_withdraw_keys, `s`: fresh step-up, `p`: the OKX passphrase may be
//! handed out), extra paths (one per
//! line: `METHOD PATH CLASS [name,name]`). An empty field is absent.
//!
//! Oracles: no panic; an accepted path is canonical; normalising a method
//! twice changes nothing; an accepted request passes each step again on
//! its own and is allowed only by the permissions the rules name; no
//! refusal message carries a control character.
#![no_main]

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cryptobot_fuzz::parts;
use cryptobot_vault::policy::{
    self, Class, ExtraPath, KeyPolicy, Permissions, Settings, check, check_freshness, check_path,
    normalize_method, parameter_names,
};
use cryptobot_vault::{Credentials, Exchange, SignRequest, sign};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// The vault's clock in every run: 2025-12-06T05:46:40Z.
const NOW: i64 = 1_765_000_000_000;

fn field(p: &[&[u8]], i: usize) -> Option<String> {
    p.get(i)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .filter(|s| !s.is_empty())
}

fn credentials(exchange: Exchange) -> Credentials {
    let secret = match exchange {
        Exchange::Kraken => STANDARD.encode([7u8; 64]),
        Exchange::Coinbase => {
            let seed = [0x2a; 32];
            let public = match Ed25519KeyPair::from_seed_unchecked(&seed) {
                Ok(p) => p.public_key().as_ref().to_vec(),
                Err(e) => panic!("the test seed does not load: {e}"),
            };
            STANDARD.encode([&seed[..], &public].concat())
        }
        _ => "0123456789abcdef0123456789abcdef".to_owned(),
    };
    Credentials {
        api_key: Zeroizing::new("fuzz-api-key".to_owned()),
        secret: Zeroizing::new(secret),
        passphrase: exchange
            .needs_passphrase()
            .then(|| Zeroizing::new("fuzz-passphrase".to_owned())),
    }
}

/// What `check_path` promises for a path it accepts.
fn canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        })
}

fn no_controls(text: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        panic!(
            "a message carries the control character U+{:04X}",
            u32::from(c)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 11);
    let Some(exchange) = field(&p, 0).and_then(|e| Exchange::parse(&e).ok()) else {
        return;
    };
    let req = SignRequest {
        method: field(&p, 1).unwrap_or_default(),
        path: field(&p, 2).unwrap_or_default(),
        query: field(&p, 3),
        body: field(&p, 4),
        timestamp: field(&p, 5).and_then(|t| t.parse().ok()),
        nonce: field(&p, 6),
        recv_window: field(&p, 7).and_then(|t| t.parse().ok()),
    };
    let permissions = match Permissions::parse(&field(&p, 8).unwrap_or_default()) {
        Ok(perms) => perms,
        Err(e) => {
            no_controls(&e.to_string());
            return;
        }
    };
    let flags = field(&p, 9).unwrap_or_default();
    let settings = Settings {
        allow_withdraw_keys: flags.contains('w'),
        ..Settings::default()
    };
    let step_up = flags.contains('s');
    let mut extra_paths = Vec::new();
    for line in field(&p, 10).unwrap_or_default().lines() {
        let mut words = line.split(' ');
        let (Some(method), Some(path), Some(class)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let class = Class::parse(class).unwrap_or(Class::Unknown);
        let params = words
            .next()
            .map(|l| l.split(',').map(str::to_owned).collect());
        match ExtraPath::new(method, path, class, params) {
            Ok(x) => {
                assert!(
                    canonical(&x.path),
                    "extra path {:?} is not canonical",
                    x.path
                );
                extra_paths.push(x);
            }
            Err(reason) => no_controls(&reason.to_string()),
        }
    }
    let key = KeyPolicy {
        permissions,
        extra_paths,
        passphrase_in_headers: flags.contains('p'),
    };

    // Each normaliser on its own.
    match normalize_method(&req.method) {
        Ok(m) => assert_eq!(normalize_method(&m).as_deref(), Ok(m.as_str())),
        Err(reason) => no_controls(&reason.to_string()),
    }
    match check_path(&req.path) {
        Ok(()) => assert!(canonical(&req.path), "{:?} passed check_path", req.path),
        Err(reason) => no_controls(&reason.to_string()),
    }
    let names = parameter_names(exchange, &req);
    if let Err(reason) = &names {
        no_controls(&reason.to_string());
    }
    let _ = policy::payload_sha256(exchange, &req);
    let _ = policy::destination(exchange, &req);

    match check(exchange, &req, &key, NOW, step_up, &settings) {
        Ok(checked) => {
            assert!(canonical(&req.path));
            assert!(normalize_method(&req.method).is_ok());
            assert_eq!(names.as_ref().ok(), Some(&checked.params));
            assert_eq!(
                check_freshness(exchange, &req, NOW, settings.window_ms),
                Ok(())
            );
            let allowed = match checked.class {
                Class::Read => permissions.read || permissions.trade,
                Class::Trade => permissions.trade,
                Class::Withdraw => permissions.withdraw && settings.allow_withdraw_keys && step_up,
                Class::AccountAdmin => permissions.account_admin,
                Class::Unknown => false,
            };
            assert!(allowed, "{:?} allowed with {permissions}", checked.class);
            assert!(
                exchange != Exchange::Okx || key.passphrase_in_headers,
                "an OKX request was accepted for a key that may not hand out its passphrase"
            );
            if let Err(e) = sign(exchange, &credentials(exchange), &req) {
                no_controls(&e.to_string());
            }
        }
        Err(refusal) => no_controls(&refusal.to_string()),
    }
});
